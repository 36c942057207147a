"""Continuation: read the seed once, then one LSTM step per note, K variations as one batch.

:class:`Composer` is the API the CLI and the studio share::

    composer = Composer()                       # the shipped model
    takes = composer.continue_piece(seed, Settings(bars=8, variations=4, seed=1))
    takes[0].piece                              # the seed, unchanged, plus the continuation

The seed's events go through the model in one batched forward (``nn.LSTM``); generation then runs on
:class:`FastStepper`, a plain LSTM-cell stack over the same weights, its matrix products in int8 by default —
PyTorch's default CPU LSTM kernel is slow at batch 1 (bench/generation.py measures both, and what int8
costs in bits per note).  Every field is sampled in the model's order
(shift, track, duration, pitch, velocity) with temperature, top-k and top-p; new notes go only to the seed's
tracks, each continuing from its own last pitch and looking back at what it played one and two bars before;
a seed without dynamics continues at its one velocity, a seed with dynamics from its own level (the model's
velocities are relative to the recent notes' level).  Each track stays in its register (on by default,
:attr:`Settings.register_lock`): its new pitches lie within the track's range in the seed, widened by
:data:`REGISTER_MARGIN` semitones and to at least :data:`REGISTER_SPAN` semitones.  Each track also keeps about
its density (on by default, :attr:`Settings.density_lock`): the track draw leans towards a track that has
played fewer notes than its rate in the seed's last bars would give, and away from one that has played more.
Pitch range and register mask the pitch distribution.  Key lock keeps the key the seed's last bars are heard
in (music21's analysis).  By default (``Settings.key_prior`` "heard") it draws ``Settings.key_candidates``
candidates for each take, their pitch distribution multiplied by the key's scale-degree profile (how long
each degree sounds in the corpus's pieces in that mode) raised to ``Settings.key_strength`` — in full on a
take whose new notes do not point to the key (:class:`KeyWatch`), by half on the others — and keeps the
first candidate whose new notes music21's own key analysis hears in the key: the takes are the model's own
takes that stay in the key, chromatic passing notes included.  The other priors mask the pitches outside the
key's scale ("drift": the profile as above, no candidates; "profile": in full everywhere; "select" and
"accept": candidates read by :class:`KeyWatch`'s profiles).
``Settings.form`` says how a take stands to the seed's last phrase (:mod:`composer.form`): the model's own
choice (free), a restatement (repeat) or a variation (vary) on the phrase's forced rhythm, a contrast, or a
form drawn for each take (auto) — the takes of all forms drawn in one batch, each steered by its own; each
take's metrics say which of the seed's bars it restates, if any.  The same seed and settings give the same
notes.
"""

from __future__ import annotations

import copy
import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from time import monotonic

import numpy as np
import torch

from composer import features
from composer.checkpoint import SHIPPED_MODEL, load_model, resolve
from composer.context import ACCOMPANY, INFILL, notes_as_context
from composer.encoding import (
    DURATION,
    MAX_SHIFT,
    PITCH,
    PITCH_LOW,
    REST,
    SHIFT,
    STEPS_PER_BEAT,
    TRACK,
    VELOCITY,
    VELOCITY_UNKNOWN,
    Events,
    Loudness,
    bar_steps,
    decode,
    encode,
)
from composer.errors import InputError
from composer.features import LOOKBACK_NOTES, MAX_POSITION, NO_DURATION, NO_KEY, NO_PITCH, SIZES
from composer.fill import ContextSteps, Given, as_rests, assemble, gap_span
from composer.form import (
    CONTRAST_KEY_STRENGTH,
    FORMS,
    Restatement,
    SeedBars,
    Steer,
    auto_forms,
    next_bar_line,
    phrase_length,
    seed_repetition,
    steer,
)
from composer.memory import ShortTermMemory
from composer.model import MusicLSTM, bits
from composer.piece import PIANO_HIGH, PIANO_LOW, Note, Piece, Track, key_name

MAX_VARIATIONS = 16
MAX_BARS = 64
MAX_NOTES = 2048
MAX_BEATS = 512  # a length in bars is capped in beats too: a 255/1 bar is 1,020 beats
CONTEXT_EVENTS = 512  # a longer seed is conditioned on its last bars that fit in this many events
# Accompany's piano style: the accompaniment's pitch logits get CHORD_STRENGTH × log P(pitch class in the chord),
# that probability guessed beat by beat from the melody (composer.harmony) and averaged over the grid steps the new
# note will sound (ChordGuide: its duration is drawn before its pitch).  Chosen on 20 of POP909's validation songs
# with the pace (PACE_BASE) at its strength (python bench/infill.py --tune-chords 8,12,16,24,32 --out
# bench/results/accompaniment_tuning.json): the smallest strength whose takes' share of note time on the annotated
# chord is within 0.005 of the best (0.743, 0.746, 0.762, 0.765, 0.764).  Before the pace (the model before this
# one), 8 was chosen the same way from 6, 8 and 12 (0.717, 0.734, 0.737); with the chord read at the note's onset
# only, 6 from 5, 6 and 8.
CHORD_STRENGTH = 16.0
MAX_CHORD_STRENGTH = 32.0
# The accompaniment's durations lean the same way (drawn before the pitch, ChordGuide.duration_prior): each duration
# gets CHORD_DURATION_SHARE × the chord strength × the log of the best a single pitch class can do over its span
# (the likeliest pitch class's mean membership there), so that a note is rather not held across a change of the
# guessed chord, or into beats where the guess is unsure.  Chosen on POP909's 91 validation songs, three candidates
# a take (python bench/infill.py --tune-chord-durations 0,0.25,0.5,1 --songs 91 --out
# bench/results/accompaniment_durations.json): the smallest share whose takes' time on the chord is within 0.005 of
# the best (0.753, 0.765, 0.764, 0.766; the melody doubled 41 %, 43 %, 45 %, 46 % of the time).
CHORD_DURATION_SHARE = 0.25
# Accompany's piano style draws CHORD_CANDIDATES candidates for each take asked and keeps the one whose note time
# the chord guess itself expects most in the chord (chord_agreement); with key lock's selecting priors, key lock's
# own candidates are chosen among instead: of a take's candidates in the key, the one the guess expects most.  On
# the same songs, with the durations' share at 0.5 (--tune-chord-candidates 1,2,3 --out
# bench/results/accompaniment_candidates.json): 0.751, 0.754, 0.764; at 0.25 (3,4,6, the same command,
# accompaniment_candidates_more.json): 0.765, 0.760, 0.765 — more than three gain nothing the noise does not.
# Accompany's 8 bars × 4 takes cost 1.43–1.52× a continuation with three on POP909 001 (1.34× with one), a median
# 1.59× on 10 test songs, one of them over 2× (2.41×; bench/results/infill_speed.json).
CHORD_CANDIDATES = 3
CHORD_FLOOR = 0.02  # a pitch class's guessed probability is read as at least this (its log weighs the logits)
# A fill's new notes starting at one time on one track: at most this many (POP909's piano tracks start at most 6
# together in 99.94 % of their onsets).  Without it (and without keeping the canonical order, see _sample) a take of
# accompany stacked notes at one onset until its events ran out: a take of POP909 001's melody put 21 notes at its
# first onset and 22 at its second, and ended there, two beats into sixteen.
MAX_STACK = 6
# A fill of one track: how likely one more note is at one time, given n there already (n = 1 … 5), as POP909's piano
# tracks have it (their first 200 training songs: 1.84 notes an onset; composer.evaluate.piano_stacking, which
# python bench/infill.py --count-stacking prints and tests/test_generate.py checks);
# the log of it, weighed by STACK_STRENGTH, is added to the shift-0 logit.  The note model, sampling, stacks more
# than it read (a scratch run, not a benchmark: free continuations of POP909 001 put 1.8-2.7 piano notes an onset
# against the song's 1.3, accompaniments 4-5).  The weight was chosen on 20 of POP909's validation songs (python
# bench/infill.py --tune-stacking 2,3,4, accompaniments on the melody's onset grid, CHORD_STRENGTH 5): the one whose
# takes' notes an onset come nearest the real piano tracks' 1.87 (2.87, 1.95, 1.44; notes a bar 12.9, 8.4, 5.9
# against 5.4).
STACKING = (0.413, 0.677, 0.395, 0.285, 0.162)
STACK_STRENGTH = 3.0
MAX_STACK_STRENGTH = 8.0
# Accompany, piano style, with density lock (the default): the piano's notes a beat are pulled to what POP909's
# piano tracks play under a melody as busy, PACE_BASE + PACE_PER_ONSET × the given tracks' onsets a beat (a least-
# squares fit on 16 bars of each of POP909's 659 training songs, composer.evaluate.piano_pace, which python
# bench/infill.py --fit-pace prints and tests/test_generate.py checks: the piano plays 2.80 notes a beat on average,
# the melody 1.41 onsets; R² 0.14, so mostly the mean).  Each step, the shifts that would start a new note before
# the next given note (shift 0 included) get -PACE_STRENGTH × log((notes made + 1) / (notes due by now + 1)) on
# their logits; the shifts that wait for the given note get nothing.  The note model alone draws accompaniments
# much busier than the songs it learned from.  The strength was chosen on 20 of POP909's validation songs (python
# bench/infill.py --tune-pace 4,8,12,16,24; bench/results/accompaniment_pace.json): among the strengths whose
# takes' share of note time on the annotated chord is within 0.01 of the best, the one whose notes a bar come
# nearest the real piano's 5.44 (7.20, 6.39, 5.98, 5.74, 5.56 notes a bar; chord shares 0.725, 0.741, 0.740,
# 0.743, 0.731).
PACE_BASE = 1.725
PACE_PER_ONSET = 0.761
PACE_STRENGTH = 16.0
MAX_PACE_STRENGTH = 32.0
# A fill's join: a new note that leads into the next context note on its track (the first of its onset there, ending
# at most JOIN_REACH grid steps before that note) leans to the leaps real music makes between one onset and the
# next on a track, JOIN_STRENGTH × log P(|leap|) on its pitch logits.  P: the highest pitches of consecutive onsets
# on a track, |leap| 0–12 semitones, the rest (JOIN_TAIL) spread a twelfth a semitone above 12
# (composer.evaluate.join_leaps, which python bench/infill.py --fit-join prints and tests/test_generate.py checks:
# 194,228 leaps in 1,000 training pieces drawn at random).  The note model reads the next context note (a view)
# but, sampling, still leaps into it further than real music does.
JOIN_LEAPS = (0.1276, 0.1325, 0.305, 0.1026, 0.0554, 0.0882, 0.0021, 0.0615, 0.0178, 0.0178, 0.0064, 0.0016, 0.0378)
JOIN_TAIL = 0.0438
JOIN_REACH = STEPS_PER_BEAT // 2
# The strength: the one whose joins' mean leap comes nearest real music's on 80 validation pieces (python
# bench/infill.py --tune-join 0,0.5,1,2; bench/results/join_tuning.json): 1.247, 1.102, 0.946 and 0.847 × real.
JOIN_STRENGTH = 1.0
MAX_JOIN_STRENGTH = 8.0
# Accompaniment styles: the tracks each adds (name, GM program) — piano as POP909's PIANO tracks play under their
# melodies, chorale as the chorales' alto, tenor and bass (choir aahs, the corpus's program for them).
STYLES = {"piano": (("Piano accompaniment", 0),), "chorale": (("Alto", 52), ("Tenor", 52), ("Bass", 52))}

MAJOR = (0, 2, 4, 5, 7, 9, 11)
MINOR = (0, 2, 3, 5, 7, 8, 9, 10, 11)  # natural minor with the raised 6th and 7th (melodic, harmonic)
# Share of sounding time on each scale degree (0 = tonic … 11 semitones up) in the pieces of the embedded
# corpus's training split, by their stated key: `composer.evaluate.scale_degree_profiles(midi_data)`
# (tests/test_generate.py checks these against the corpus).  Key lock's prior: the tonic, fifth and
# third weigh most, so a take stays centred where the seed is and does not drift to the relative key.
KEY_PROFILES: dict[str, tuple[float, ...]] = {
    "major": (0.2202, 0.002, 0.1486, 0.0144, 0.1589, 0.088, 0.0038, 0.2046, 0.0045, 0.0904, 0.0106, 0.054),
    "minor": (0.2092, 0.0105, 0.108, 0.1352, 0.015, 0.1281, 0.0036, 0.1755, 0.0602, 0.0159, 0.113, 0.0258),
}
# Chosen on the validation split (bench/key_lock.py, issue 16; 50 seeds × 4 takes; bench/results/key_lock.json):
# key agreement / the takes' scale-degree overlap with real continuations as a share of real-vs-real (split
# halves; target ≥ 0.9 each) / the logistic regression's accuracy on takes vs real continuations (issue 16:
# ≤ 0.65).  Each take's form drawn first, one of its own candidates kept: heard 0 ×6 0.885 / 1.016 / 0.53,
# heard 0.25 ×6 0.915 / 1.013 / 0.57, heard 0.5 ×6 0.945 / 0.997 / 0.63, heard 0 ×8 0.89 / 1.011 / 0.55,
# heard 0.25 ×8 0.925 / 1.006 / 0.64, heard 0.5 ×8 0.94 / 1.003 / 0.58; accept 0.5 ×6 0.895 / 0.970 / 0.60,
# accept 0.5 ×8 0.91 / 0.981 / 0.69 (the default before), accept 1 ×8 0.925 / 0.960 / 0.71, select 0.5 ×6
# 0.91 / 0.968 / 0.64; no key lock 0.455 / 1.03 / 0.58.  Heard 0.25 with 6 candidates, of those meeting both
# targets the one the classifier tells from real least, is the default (test split 0.945 / 0.991 / 0.54; accept
# 0.5 ×8 there 0.94 / 0.953 / 0.68).  The round before drew the candidates from one pool of every form and kept
# the first in the key (accept 0.5 ×6): free takes won over restating ones, and the key-locked takes restated the
# seed 0.67× as much as real continuations (now 0.87×).  Rounds before that: select 1 with 3 candidates; no
# prior alone meets both (drift 2.5 0.91 / 0.861, profile 2 0.905 / 0.833, the mask alone 0.525 / 1.01).
KEY_STRENGTH = 0.25  # 0 = the scale mask alone (with "heard": the choice of candidates alone)
MAX_KEY_STRENGTH = 4.0
# Key lock's prior: "profile" weighs each degree by the key's profile (the tonic most: it also flattens the
# takes' degrees towards the tonic), "contrast" by the profile's ratio to its neighbours' (relative, dominant,
# subdominant: the keys the scale mask alone lets a take drift to) — only what tells the key from them.
# "drift" is the profile's prior at full strength only on a take whose own new notes do not (yet) point to the
# key (:class:`KeyWatch`), at DRIFT_BASE of it on a take in the key: the drifting ones are pulled back.
# "select" draws SELECT_CANDIDATES takes (Settings.key_candidates) for each one asked for (all of the form
# drawn for it), under the drift prior at the strength given, and keeps the one whose new notes point to the key
# most clearly (:func:`key_margins`): a take is not bent note by note towards the tonic, the ones that stayed in
# the key are chosen.  "accept" draws the same candidates and keeps the first that points to the key by
# DRIFT_MARGIN (the clearest where none does): the takes in the key as the model draws them, not the clearest.
# "heard" draws the same candidates without the scale mask (a take may pass through a chromatic note, as real
# music does) and keeps the first that music21's own key analysis — the one the seed's key is heard with and
# key agreement is measured by (:func:`heard_margins`) — hears in the key (the clearest where none is): kept
# that way, the takes are the model's own takes that stay in the key, not takes bent towards its tonic.
KEY_PRIORS = ("profile", "contrast", "drift", "select", "accept", "heard")
OPEN_DRIFT = "drift without the scale mask"  # the candidates' prior under "heard" (not a setting)
# music21's key profiles (``analyze("key")``'s default, Aarden–Essen; music21.analysis.discrete.AardenEssen):
# :func:`heard_margins` reads a take's key as music21 does, without its ~30 ms a call.
# fmt: off
HEARD_PROFILES: dict[str, tuple[float, ...]] = {
    "major": (17.7661, 0.145624, 14.9265, 0.160186, 19.8049, 11.3587, 0.291248, 22.062, 0.145624, 8.15494, 0.232998,
              4.95122),
    "minor": (18.2648, 0.737619, 14.0499, 16.8599, 0.702494, 14.4362, 0.702494, 18.6161, 4.56621, 1.93186, 7.37619,
              1.75623),
}
# fmt: on
SELECT_CANDIDATES = 6  # a take's candidates, in continuations and fills alike (Settings.key_candidates)
MAX_KEY_CANDIDATES = 16
# Pearson's r by which the key must lead: without a margin (a first round) a take is pulled back only to the
# edge of the key, where music21 hears the neighbour as often as not (key agreement 0.71–0.73 on validation).
DRIFT_MARGIN = 0.15
# … and a take in the key keeps this share of the strength: alone (share 0) the drift prior reached 0.87 / 0.85 /
# 0.765 key agreement at strengths 2 / 3 / 4 (degree ratios 0.946 / 0.894 / 0.835).
DRIFT_BASE = 0.5
KEY_PRIOR = "heard"
CONTRAST_CAP = 4.0  # the contrast ratio is held within 1/4…4
# Register lock: a seed track's new pitches stay within its seed range widened by a whole tone each way (a line
# may step just past where the seed went, as melodies do at a cadence), and within at least a fifth (a pedal
# bass that held one note in the seed may still move).  A track whose window the other masks leave empty (key
# lock, the pitch range, held seed notes) falls back to them alone.  On the 50 multi-track test seeds
# (bench/multitrack.py) the share of tracks whose new median pitch lies in the seed's range went from 75 % to
# 97 %; margins of 0 / 2 / 4 with an octave at least gave 96 / 96 / 89 %, the margin alone (no minimum) 98 %.
REGISTER_MARGIN = 2
REGISTER_SPAN = 7
# Density lock: before the track is drawn, each track's logit gets DENSITY_STRENGTH × log((e + 1) / (n + 1)),
# e the notes it would have played by now at its rate in the seed's last DENSITY_BARS bars, n the notes it has
# played — a count-based pull towards the seed's texture (a voice that falls silent is called back, one that
# crowds the others is held).  On the 50 multi-track test seeds (bench/multitrack.py, with register lock) the
# share of (take, track) pairs within 0.6–1.6× of the seed's density went from 61 % to 70 / 76 / 80 % at
# strengths 1 / 2 / 4, the takes' bits per note under the model from 7.96 to 8.03 / 8.14 / 8.30.
DENSITY_STRENGTH = 2.0
DENSITY_BARS = 4
HEARD_KEY_BARS = 8  # key lock follows the key of the seed's last bars …
MIN_HEARD_NOTES = 8  # … heard in at least this many notes (else the stated key, if any)


@dataclass(frozen=True)
class Settings:
    """How to continue.  Exactly one of ``bars`` and ``notes`` sets the length."""

    bars: int | None = 8
    notes: int | None = None
    variations: int = 4
    temperature: float = 1.0
    top_k: int = 0  # 0: off
    top_p: float = 0.95  # 1.0: off
    seed: int = 0
    key_lock: bool = False
    key_strength: float = KEY_STRENGTH  # with key lock: the weight of the key's scale-degree prior
    key_prior: str = KEY_PRIOR  # with key lock: which prior that strength weighs (KEY_PRIORS)
    key_candidates: int = SELECT_CANDIDATES  # with key lock's "select", "accept" and "heard": candidates a take
    pitch_range: tuple[int, int] | None = None  # inclusive MIDI pitches
    form: str = "auto"  # how the take stands to the seed's last phrase: composer.form.FORMS
    register_lock: bool = True  # each seed track's new pitches within its seed register (register_windows)
    density_lock: bool = True  # each seed track pulled towards its notes per bar in the seed's last bars
    # accompany, piano style: the weight of composer.harmony's guess of the chord under the melody (0: off)
    chord_strength: float = CHORD_STRENGTH
    # a fill of one track: the weight of POP909's piano stacking (STACKING) on the shift-0 logit (0: off)
    stack_strength: float = STACK_STRENGTH
    # accompany, piano style, with density lock: the weight of the pull to POP909's piano's pace (PACE_BASE; 0: off)
    pace_strength: float = PACE_STRENGTH
    # a fill: the weight of real music's leaps on a new note leading into the next context note (JOIN_LEAPS; 0: off)
    join_strength: float = JOIN_STRENGTH
    # a continuation: the duration and the pitch drawn from the note model blended with the short-term memory
    # (composer.memory) of what the seed and the take have played on the track (not the echo form's takes, nor a
    # fill's); off: measured, it made takes repeat themselves far more than real music (README)
    memory: bool = False

    def validate(self) -> Settings:
        if (self.bars is None) == (self.notes is None):
            raise InputError("Give the length either in bars or in notes, not both.")
        if self.bars is not None and not 1 <= self.bars <= MAX_BARS:
            raise InputError(f"The length must be 1 to {MAX_BARS} bars; {self.bars} was asked for.")
        if self.notes is not None and not 1 <= self.notes <= MAX_NOTES:
            raise InputError(f"The length must be 1 to {MAX_NOTES} notes; {self.notes} was asked for.")
        if not 1 <= self.variations <= MAX_VARIATIONS:
            raise InputError(f"Ask for 1 to {MAX_VARIATIONS} variations; {self.variations} was asked for.")
        if not self.temperature > 0 or not math.isfinite(self.temperature):
            raise InputError(f"The temperature must be above 0 (1.0 is the model as trained); got {self.temperature}.")
        if not 0 < self.top_p <= 1:
            raise InputError(f"top-p must be in (0, 1] (1 turns it off); got {self.top_p}.")
        if not 0 <= self.key_strength <= MAX_KEY_STRENGTH:
            raise InputError(
                f"The key-lock strength must be 0 to {MAX_KEY_STRENGTH:g} (0: scale only); got {self.key_strength}."
            )
        strengths = (  # (value, its most, its name, what 0 means)
            (self.chord_strength, MAX_CHORD_STRENGTH, "chord strength", "the model's own harmony"),
            (self.stack_strength, MAX_STACK_STRENGTH, "stacking strength", "as the model stacks notes"),
            (self.join_strength, MAX_JOIN_STRENGTH, "join strength", "as the model joins"),
            (self.pace_strength, MAX_PACE_STRENGTH, "pace strength", "as busy as the model plays"),
        )
        for value, most, name, zero in strengths:
            if not 0 <= value <= most or not math.isfinite(value):
                raise InputError(f"The {name} must be 0 to {most:g} (0: {zero}); got {value}.")
        if self.form not in FORMS:
            raise InputError(
                f"The form must be auto (a form for each take, as real music chooses), free (the model's own "
                f"way), repeat (restate the last phrase), vary (its rhythm and contour, new notes) or contrast "
                f"(a new section); got {self.form!r}."
            )
        if self.key_prior not in KEY_PRIORS:
            raise InputError(f"The key-lock prior must be one of {', '.join(KEY_PRIORS)}; got {self.key_prior!r}.")
        if not 1 <= self.key_candidates <= MAX_KEY_CANDIDATES:
            raise InputError(
                f"Key lock draws 1 to {MAX_KEY_CANDIDATES} candidates for each take; "
                f"{self.key_candidates} was asked for."
            )
        for name in ("register_lock", "density_lock", "memory"):
            if not isinstance(getattr(self, name), bool):
                raise InputError(f"{name} is on (True) or off (False); got {getattr(self, name)!r}.")
        if self.top_k < 0:
            raise InputError(f"top-k must be 0 (off) or a positive number of choices; got {self.top_k}.")
        if self.pitch_range is not None:
            low, high = self.pitch_range
            if not PIANO_LOW <= low <= high <= PIANO_HIGH:
                raise InputError(
                    f"The pitch range must lie within {PIANO_LOW}–{PIANO_HIGH} (A0–C8), low ≤ high; got {low}–{high}."
                )
        return self


@dataclass(frozen=True)
class Repeat:
    """The most repeated phrase of a take, back to back: its length in notes and how often in a row."""

    phrase_notes: int = 0
    times_in_a_row: int = 1


@dataclass(frozen=True)
class TakeMetrics:
    """What a take is measured by; :meth:`to_dict` is its JSON form (the CLI's manifest, the studio's store)."""

    notes: int
    bars: int
    key: str | None  # the key heard in the seed's last bars: the one key lock keeps
    share_in_key: float | None  # share of the new notes in that key's scale (4 decimals)
    pitch_range: tuple[int, int] | None  # lowest and highest new pitch
    longest_repeat: Repeat
    bits_per_note: float  # how surprising the take is to the model (4 decimals)
    restates: Restatement | None = None  # the seed's bars it restates (composer.form.SeedBars), if any
    form: str = "free"  # the form the take was steered by (auto draws one for each take)
    context: str | None = None  # said when a long seed was cut to the model's context
    notes_per_track: tuple[int, ...] = ()  # new notes on each track of the seed's table, in table order

    def to_dict(self) -> dict[str, object]:
        out: dict[str, object] = {
            "notes": self.notes,
            "bars": self.bars,
            "key": self.key,
            "share_in_key": self.share_in_key,
            "pitch_range": list(self.pitch_range) if self.pitch_range else None,
            "longest_repeat": {
                "phrase_notes": self.longest_repeat.phrase_notes,
                "times_in_a_row": self.longest_repeat.times_in_a_row,
            },
            "restates": self.restates.to_dict() if self.restates else None,
            "form": self.form,
            "bits_per_note": self.bits_per_note,
            "notes_per_track": list(self.notes_per_track),
        }
        if self.context:
            out["context"] = self.context
        return out


@dataclass
class Take:
    """One continuation: the whole piece (seed unchanged + new notes), the new part, its metrics, and the
    new part's events as sampled (their onsets continue from the seed's last onset)."""

    piece: Piece
    continuation: Piece
    metrics: TakeMetrics
    events: np.ndarray  # (new events, 5) ids, rest events included
    logprob: float = 0.0  # nats of the drawn events under the model (metrics.bits_per_note per note)


# ---------------------------------------------------------------------------------------- the fast step


class FastStepper:
    """One LSTM step for a batch, as plain matrix products on the model's own weights.

    Equal to ``nn.LSTM`` (tests check it) but several times faster at batch 1 on CPU, where the default
    oneDNN path pays a large fixed cost per call.  Few operations a step: the input and hidden weights are
    stacked into one matrix, and the gates reordered (input, forget, output | cell) so that one sigmoid
    covers three of them.  The state is kept per layer, as ``[(h, c), …]``.

    ``int8=True`` stores that matrix as int8 (one scale per gate row) and multiplies with FBGEMM's dynamic
    int8 kernel, which quantizes the step's input on the fly: the product — most of a step's time — takes
    about 40 % of the fp32 time.  The heads' shared first projection (:meth:`head_inputs`) goes the same way.
    Their cost in bits per note is measured on the test split by ``bench/generation.py``
    (:func:`composer.evaluate.step_path_bits`); generation uses them by default.
    """

    def __init__(self, model: MusicLSTM, *, int8: bool = False) -> None:
        self.hidden = h = model.config.hidden
        self.int8 = int8 and "fbgemm" in torch.backends.quantized.supported_engines
        order = torch.cat([torch.arange(0, 2 * h), torch.arange(3 * h, 4 * h), torch.arange(2 * h, 3 * h)])
        self.layers: list[tuple[torch.Tensor, torch.Tensor]] = []
        self.packed: list[object] = []
        for layer in model.lstm:
            weight = layer.get_parameter  # nn.LSTM's weights by name, typed (attribute lookup is not)
            w = torch.cat([weight("weight_ih_l0"), weight("weight_hh_l0")], dim=1).detach().float()[order]  # (4H, 2H)
            b = (weight("bias_ih_l0") + weight("bias_hh_l0")).detach().float()[order]
            self.layers.append((w.t().contiguous(), b))  # (2H, 4H), (4H,)
            if self.int8:
                self.packed.append(_int8_pack(w, b))
        # The heads' shared first projection (H → 5 × head_hidden), the largest matrix a note meets after the
        # LSTM's: in int8 too, and kept whole plus without its last (velocity) chunk, which a seed without
        # dynamics never reads — a fifth of the product saved; rows are dot products of their own, so the
        # first four chunks are the same numbers either way.
        width = (len(model.HEADS) - 1) * model.config.head_hidden
        head_w, head_b = model.head_in.weight.detach().float(), model.head_in.bias.detach().float()
        self.head = {True: (head_w, head_b), False: (head_w[:width].contiguous(), head_b[:width].contiguous())}
        self.head_packed = {v: _int8_pack(*wb) for v, wb in self.head.items()} if self.int8 else {}
        self.chunk = model.config.head_hidden
        packs = [*self.packed, *self.head_packed.values()]
        if self.int8 and any(p is None for p in packs):  # a PyTorch without the quantized ops: stay in fp32
            self.int8, self.packed, self.head_packed = False, [], {}

    @staticmethod
    def split_state(state: tuple[torch.Tensor, torch.Tensor]) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """nn.LSTM's (h, c), each (L, B, H) → [(h, c) per layer]."""
        return list(zip(state[0].unbind(0), state[1].unbind(0), strict=True))

    @torch.no_grad()
    def step(
        self, x: torch.Tensor, state: list[tuple[torch.Tensor, torch.Tensor]]
    ) -> tuple[torch.Tensor, list[tuple[torch.Tensor, torch.Tensor]]]:
        """x (B, H) embedded input; state [(h, c) per layer], each (B, H) → output (B, H), new state."""
        h3 = 3 * self.hidden
        new_state = []
        for i, (h, c) in enumerate(state):
            xh = torch.cat([x, h], dim=1)
            if self.int8:
                gates = torch.ops.quantized.linear_dynamic(xh, self.packed[i], True)
            else:
                w, b = self.layers[i]
                gates = torch.addmm(b, xh, w)
            sig = gates[:, :h3].sigmoid()
            i_gate, f, o = sig.chunk(3, dim=1)
            c = torch.addcmul(f * c, i_gate, gates[:, h3:].tanh())
            x = o * c.tanh()
            new_state.append((x, c))
        return x, new_state

    def head_inputs(self, h: torch.Tensor, *, velocity: bool = True) -> tuple[torch.Tensor, ...]:
        """(…, H) → the heads' pre-activations, as :meth:`MusicLSTM.head_inputs` (in int8 where the step is):
        shift, track, duration, pitch and — with ``velocity`` — velocity."""
        if self.int8:
            flat = h.reshape(-1, h.shape[-1])
            z = torch.ops.quantized.linear_dynamic(flat, self.head_packed[velocity], True)
            z = z.reshape(*h.shape[:-1], -1)
        else:
            z = torch.nn.functional.linear(h, *self.head[velocity])
        return z.split(self.chunk, dim=-1)

    @torch.no_grad()
    def run(self, x: torch.Tensor, state: list[tuple[torch.Tensor, torch.Tensor]]) -> torch.Tensor:
        """Step through a whole sequence: x (B, T, H) → outputs (B, T, H) (for scoring the step path)."""
        out = []
        for t in range(x.shape[1]):
            y, state = self.step(x[:, t], state)
            out.append(y)
        return torch.stack(out, dim=1)


def _int8_pack(w: torch.Tensor, b: torch.Tensor) -> object | None:
    """(out, in) fp32 weight + bias → FBGEMM's packed int8 form (symmetric, one scale per output row), or None
    where this PyTorch lacks the quantized ops (they are marked deprecated upstream)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "quantized tensor creation … deprecated"
            scale = (w.abs().amax(dim=1) / 127).clamp(min=1e-8).double()
            wq = torch.quantize_per_channel(w, scale, torch.zeros(w.shape[0], dtype=torch.long), 0, torch.qint8)
            return torch.ops.quantized.linear_prepack(wq, b)
    except (AttributeError, RuntimeError):
        return None


# ---------------------------------------------------------------------------------------- sampling


def _filter(logits: torch.Tensor, temperature: float, top_k: int, top_p: float) -> torch.Tensor:
    """Temperature, then top-k, then nucleus (top-p) filtering; masked entries become -inf."""
    if temperature != 1.0:  # x / 1.0 is x: the division is skipped, not changed
        logits = logits / temperature
    if top_k and top_k < logits.shape[-1]:
        kth = torch.topk(logits, top_k, dim=-1).values[..., -1:]
        logits = logits.masked_fill(logits < kth, -math.inf)
    if top_p < 1.0:
        sorted_logits, order = torch.sort(logits, descending=True, dim=-1)
        probs = torch.softmax(sorted_logits, dim=-1)
        cumulative = probs.cumsum(dim=-1)
        drop = cumulative - probs > top_p  # keep the smallest prefix whose mass reaches top_p
        sorted_logits = sorted_logits.masked_fill(drop, -math.inf)
        logits = torch.full_like(logits, -math.inf).scatter(-1, order, sorted_logits)
    return logits


def draw_ids(probs: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """One id per row of (K, V) probabilities: argmax(p / q) with q ~ Exp(1) drawn per entry, which picks id
    i with probability p_i (the exponential form of the Gumbel-max trick).

    It is what ``torch.multinomial(probs, 1)`` itself computes (its one-sample path), drawn from the
    generator in the same order — the same ids for the same seed — without that function's argument checks,
    which cost ~3× the draw at batch 1 (probabilities from a softmax need none)."""
    q = torch.empty_like(probs).exponential_(1, generator=generator)
    return (probs / q).argmax(dim=-1)


def scale_pitch_classes(key: int) -> set[int]:
    tonic, degrees = key % 12, (MINOR if key >= 12 else MAJOR)
    return {(tonic + d) % 12 for d in degrees}


def scale_mask(key: int | None) -> torch.Tensor:
    """(pitch ids,) True where the pitch belongs to the key's scale (all True without a key)."""
    mask = torch.ones(SIZES[PITCH], dtype=torch.bool)
    if key is None or key == NO_KEY:
        return mask
    pcs = scale_pitch_classes(key)
    for pid in range(REST):
        mask[pid] = (pid + PITCH_LOW) % 12 in pcs
    return mask


def relative_key(key: int) -> int:
    """The key with the same signature and the other mode: C major ⇄ A minor."""
    return (key + 9) % 12 + 12 if key < 12 else (key + 3) % 12


def neighbour_keys(key: int) -> tuple[int, int, int]:
    """The keys a take most often drifts to under the scale mask: the relative key and the keys a fifth above
    and below in the same mode (C major: A minor, G major, F major)."""
    minor = 12 if key >= 12 else 0
    return relative_key(key), (key + 7) % 12 + minor, (key + 5) % 12 + minor


def degree_weights(key: int, kind: str = KEY_PRIOR) -> torch.Tensor:
    """(12,) weight of each pitch class (C = 0) under the key's prior ``kind`` (see KEY_PRIORS)."""

    def on_pitch_classes(k: int) -> torch.Tensor:
        profile = torch.tensor(KEY_PROFILES["minor" if k >= 12 else "major"], dtype=torch.float64)
        return (profile / profile.sum())[(torch.arange(12) - k % 12) % 12]

    if kind == "contrast":
        # How much more a pitch class says "this key" than "a neighbour": the key's profile over the
        # neighbours' geometric mean — each note's average log-likelihood ratio for the key.
        neighbours = torch.stack([on_pitch_classes(k) for k in neighbour_keys(key)])
        ratio = (on_pitch_classes(key) / neighbours.log().mean(0).exp()).clamp(1 / CONTRAST_CAP, CONTRAST_CAP)
        natural = {(key + d) % 12 for d in (MAJOR if key < 12 else (0, 2, 3, 5, 7, 8, 10))}
        # minor's raised 6th and 7th are left to the model: no neighbour uses them, the ratio says nothing
        return torch.where(torch.tensor([pc in natural for pc in range(12)]), ratio, torch.ones(12))
    return on_pitch_classes(key)


def key_prior(key: int | None, strength: float, kind: str = KEY_PRIOR) -> torch.Tensor:
    """(pitch ids,) log-weights added to the pitch logits under key lock: ``strength`` × log of the key's
    degree weights (:func:`degree_weights`; 0 for the rest event and without a key)."""
    prior = torch.zeros(SIZES[PITCH])
    if key is None or key == NO_KEY or strength == 0:
        return prior
    logs = strength * torch.log(degree_weights(key, kind))
    prior[:REST] = logs[(torch.arange(REST) + PITCH_LOW) % 12].float()
    return prior


LATTICES = (12, 6, 4, 3, 2)  # grid steps: a beat, half, a triplet's third, a quarter, a sixth of a beat
LATTICE_SHARE = 0.9  # the share of the given onsets a grid must hold


_PITCH_IDS = torch.arange(SIZES[PITCH])[None, :]
_JOIN_LOG = torch.log(
    torch.tensor(
        [*JOIN_LEAPS, *[JOIN_TAIL / 12] * (SIZES[PITCH] - len(JOIN_LEAPS))],
        dtype=torch.float32,
    )
)


def join_prior(
    next_pitch: torch.Tensor, next_steps: torch.Tensor, duration: torch.Tensor, stacked: torch.Tensor
) -> torch.Tensor | None:
    """(K, pitch ids) log P(|leap|) to the next context note on each take's track where the new note leads into
    it (ends at most JOIN_REACH grid steps before it, and is the first at its onset on the track), else 0; None
    where no take's does.  ``next_pitch`` (K,) ids (NO_PITCH: none), ``next_steps`` (K,) grid steps to it (-1:
    none), ``duration`` (K,) duration ids (grid steps - 1), ``stacked`` (K,) the note joins others at its onset."""
    leads = (next_steps >= 0) & (next_pitch < REST) & ~stacked & (next_steps - (duration + 1) <= JOIN_REACH)
    if not bool(leads.any()):
        return None
    leap = (_PITCH_IDS - next_pitch.clamp(max=REST - 1)[:, None]).abs()
    prior = _JOIN_LOG[leap.clamp(max=SIZES[PITCH] - 1)] * leads[:, None]
    prior[:, REST] = 0.0
    return prior


def accompaniment_pace(given_onsets: np.ndarray, span: int) -> float:
    """An accompaniment's target rate in new notes a grid step, over ``span`` grid steps whose given notes
    start at ``given_onsets`` (:data:`PACE_BASE`)."""
    beats = max(span, 1) / STEPS_PER_BEAT
    return (PACE_BASE + PACE_PER_ONSET * len(np.unique(given_onsets)) / beats) / STEPS_PER_BEAT


def onset_lattice(onsets: np.ndarray) -> tuple[int, int] | None:
    """The coarsest grid of :data:`LATTICES` (step, phase) that holds :data:`LATTICE_SHARE` of ``onsets`` (grid
    steps), in its best phase; None when none does (a played, unquantized melody): the accompaniment's onsets are
    then free.  An accompaniment plays on its melody's grid: over 16 bars of POP909's 91 validation songs, 95 % of
    the piano tracks' onsets lie on the grid this finds in the melody alone (90 songs; one has none), where the
    model put new notes anywhere on composer's 1/12-beat grid (a take of song 010: 1, 2, 3 and 5 steps apart)."""
    if len(onsets) == 0:
        return None
    values = np.asarray(onsets, dtype=np.int64)
    for every in LATTICES:
        shares = np.bincount(values % every, minlength=every) / len(values)
        if shares.max() >= LATTICE_SHARE:
            return every, int(shares.argmax())
    return None


class ChordGuide:
    """The chord guessed under the given tracks, read over a new note's whole span: for each pitch,
    ``strength`` × the log of the mean, over the grid steps the note would sound, of how likely its pitch
    class is in the chord there (``likely``: :func:`composer.harmony.membership`'s (beats, 12) from beat 0, read
    as at least :data:`CHORD_FLOOR`).  A note held into a beat whose chord leaves its pitch class out weighs less
    than one that starts there.  ``durations``: the weight of :meth:`duration_prior` (0: none)."""

    def __init__(self, likely: np.ndarray, strength: float, durations: float = 0.0) -> None:
        guess = torch.from_numpy(np.maximum(likely, CHORD_FLOOR)).double()
        per_step = guess.repeat_interleave(STEPS_PER_BEAT, dim=0) if len(guess) else torch.ones(1, 12).double()
        self.steps = len(per_step)
        self.total = torch.cat([torch.zeros(1, 12, dtype=torch.float64), per_step.cumsum(0)])  # (steps + 1, 12)
        self.strength = strength
        self.classes = (torch.arange(REST) + PITCH_LOW) % 12
        # (steps, duration ids): durations × log of the likeliest class's mean over each span, once for the fill
        self.durations: torch.Tensor | None = None
        if durations:
            start = torch.arange(self.steps)[:, None]
            end = torch.maximum((start + torch.arange(SIZES[DURATION])[None, :] + 1).clamp(max=self.steps), start + 1)
            best = torch.full((self.steps, SIZES[DURATION]), -math.inf, dtype=torch.float64)
            for c in range(12):  # one pitch class at a time: (steps, duration ids) each, not (…, 12) at once
                column = self.total[:, c]
                best = torch.maximum(best, (column[end] - column[start]) / (end - start))
            self.durations = (durations * best.log()).float()

    def prior(self, onset: torch.Tensor, duration: torch.Tensor) -> torch.Tensor:
        """(K, pitch ids) the log-weights for notes starting at ``onset`` (grid steps) held ``duration`` ids (grid
        steps - 1); 0 for the rest event."""
        a = onset.clamp(0, self.steps - 1)
        b = torch.maximum((onset + duration + 1).clamp(max=self.steps), a + 1)
        mean = (self.total[b] - self.total[a]) / (b - a)[:, None]
        weights = (self.strength * mean.log()).float()[:, self.classes]  # (K, pitch ids less the rest)
        return torch.nn.functional.pad(weights, (0, SIZES[PITCH] - REST))

    def duration_prior(self, onset: torch.Tensor) -> torch.Tensor | None:
        """(K, duration ids) the log-weights for the durations of notes starting at ``onset``: ``durations`` ×
        the log of the likeliest pitch class's mean over each duration's span (None when ``durations`` is 0)."""
        return None if self.durations is None else self.durations[onset.clamp(0, self.steps - 1)]


def chord_agreement(takes: list[Piece], likely: np.ndarray) -> np.ndarray:
    """(takes,) the share of each take's new note time that the chord guess ``likely`` ((beats, 12), from beat 0)
    expects in the chord: its notes' time on each pitch class in each beat, weighed by the guess; -inf for a take
    without notes in those beats."""
    from composer.harmony import beat_weights

    out = np.full(len(takes), -np.inf)
    for i, take in enumerate(takes):
        w = beat_weights(take.notes, len(likely))
        if w.sum() > 0:
            out[i] = float((w * likely).sum() / w.sum())
    return out


class KeyWatch:
    """Which of K takes do not point to the locked key: each take's new notes, weighed by length, as a
    pitch-class histogram correlated (Krumhansl–Schmuckler) with the 24 keys' corpus profiles; a take whose
    key does not lead every other key by DRIFT_MARGIN (or that has no notes yet) is drifting."""

    def __init__(self, key: int, takes: int, modes: dict[str, tuple[float, ...]] = KEY_PROFILES) -> None:
        profiles = []
        for k in range(24):
            major = torch.tensor(modes["minor" if k >= 12 else "major"], dtype=torch.float64)
            profiles.append(major[(torch.arange(12) - k % 12) % 12])
        table = torch.stack(profiles)  # (24, 12)
        self.profiles = (table - table.mean(1, keepdim=True)) / table.std(1, keepdim=True)
        self.key = key
        self.heard = torch.zeros(takes, 12, dtype=torch.float64)  # (K, 12) grid steps on each pitch class

    def play(self, pitch: torch.Tensor, duration: torch.Tensor, sounding: torch.Tensor) -> None:
        """Add the (K,) notes just drawn (pitch and duration ids) of the takes where ``sounding``."""
        pc = (pitch.clamp(max=REST - 1) + PITCH_LOW) % 12
        self.heard[torch.arange(len(pc)), pc] += (duration + 1).double() * sounding

    def margins(self) -> torch.Tensor:
        """(K,) by how much the key leads every other key: Pearson's r of each take's histogram with the key's
        profile less the best other key's."""
        centred = self.heard - self.heard.mean(1, keepdim=True)
        centred = centred / centred.norm(dim=1, keepdim=True).clamp(min=1e-12)
        r = centred @ (self.profiles / self.profiles.norm(dim=1, keepdim=True)).T  # (K, 24) Pearson's r
        others = torch.cat([r[:, : self.key], r[:, self.key + 1 :]], dim=1).max(1).values
        return r[:, self.key] - others

    def drifting(self) -> torch.Tensor:
        """(K,) True where the take's notes so far do not point to the key by DRIFT_MARGIN."""
        return (self.margins() < DRIFT_MARGIN) | (self.heard.sum(1) == 0)


def key_margins(takes: list[Piece], key: int, modes: dict[str, tuple[float, ...]] = KEY_PROFILES) -> np.ndarray:
    """(takes,) how clearly each take's new notes point to ``key``: Pearson's r of their length-weighted
    pitch-class histogram with the key's profile less the best other key's (as :class:`KeyWatch` reads a take;
    ``modes``: the major and minor profiles, the corpus's by default); -inf for a take without notes."""
    watch = KeyWatch(key, len(takes), modes)
    for i, take in enumerate(takes):
        for n in take.notes:
            watch.heard[i, n.pitch % 12] += n.duration
    return np.where(watch.heard.sum(1).numpy() > 0, watch.margins().numpy(), -np.inf)


def heard_margins(takes: list[Piece], key: int) -> np.ndarray:
    """(takes,) by how much ``key`` leads every other key in music21's analysis of each take's new notes
    (:func:`composer.score.estimate_key`: Pearson's r of their length-weighted pitch-class histogram with
    music21's Aarden–Essen profiles, :data:`HEARD_PROFILES`); above 0 where music21 hears the take in ``key``;
    -inf for a take without notes."""
    return key_margins(takes, key, HEARD_PROFILES)


@dataclass(frozen=True)
class KeyChoice:
    """How a selecting key-lock prior (:data:`SELECTING`) chooses among its candidates."""

    read: Callable[[list[Piece], int], np.ndarray]  # (candidates, key) → how clearly each points to the key
    in_key: float | None  # the margin from which a candidate is in the key (the first such kept); None: clearest
    masked: bool  # its candidates are drawn under the scale mask


KEY_CHOICES = {
    "select": KeyChoice(key_margins, None, masked=True),
    "accept": KeyChoice(key_margins, DRIFT_MARGIN, masked=True),
    "heard": KeyChoice(heard_margins, 0.0, masked=False),
}
SELECTING = tuple(KEY_CHOICES)  # the priors that draw candidates and keep some
UNMASKED = tuple(prior for prior, choice in KEY_CHOICES.items() if not choice.masked)


def kept_candidates(margins: np.ndarray, asked: int, prior: str, preference: np.ndarray | None = None) -> list[int]:
    """Which of key lock's candidates are kept (their indices), by their margins (``KEY_CHOICES[prior].read``):
    the candidates come in ``asked`` runs of equal length, one run for each take asked (all of that take's form),
    and one is kept from each run — its first whose margin reaches ``KEY_CHOICES[prior].in_key`` ("accept":
    DRIFT_MARGIN; "heard": 0, where music21 hears it in the key), else its clearest ("select": always).  With a
    ``preference`` (one a candidate: accompany's :func:`chord_agreement`), of a run's candidates in the key the
    one it prefers most, not the first."""
    threshold = KEY_CHOICES[prior].in_key
    size = len(margins) // asked
    kept = []
    for start in range(0, size * asked, size):
        run = margins[start : start + size]
        in_key = np.flatnonzero(run >= threshold) if threshold is not None else np.zeros(0, dtype=np.int64)
        if len(in_key) and preference is not None:
            in_key = in_key[[int(np.argmax(preference[start + in_key]))]]
        kept.append(start + int(in_key[0] if len(in_key) else np.argmax(run)))
    return kept


def heard_key(piece: Piece, bars: int = HEARD_KEY_BARS) -> int | None:
    """The key music21 hears in the piece's last ``bars`` bars (the whole piece when they hold fewer than
    8 notes); None for a piece with no notes."""
    if not piece.notes:
        return None
    from composer.score import estimate_key

    last = max(n.start for n in piece.notes)
    window = tuple(n for n in piece.notes if n.start >= last - bars * piece.time_signature.bar_beats)
    return estimate_key(piece.with_notes(window if len(window) >= MIN_HEARD_NOTES else piece.notes))


def in_key_share(pitches: list[int], key: int | None) -> float | None:
    if key is None or not pitches:
        return None
    pcs = scale_pitch_classes(key)
    return sum(1 for p in pitches if p % 12 in pcs) / len(pitches)


def longest_repeat_run(events: np.ndarray, min_len: int = 8) -> tuple[int, int]:
    """(phrase length, times in a row) of the most repeated phrase of ≥ ``min_len`` notes, back to back."""
    tokens = [tuple(e) for e in events[:, :3].tolist()]
    best = (0, 1)
    n = len(tokens)
    for length in range(min_len, n // 2 + 1):
        for start in range(0, n - 2 * length + 1):
            count = 1
            while (
                start + (count + 1) * length <= n
                and tokens[start + count * length : start + (count + 1) * length] == tokens[start : start + length]
            ):
                count += 1
            if count > best[1] or (count == best[1] and count > 1 and length > best[0]):
                best = (length, count)
    return best if best[1] > 1 else (0, 1)


# ---------------------------------------------------------------------------------------- one step


class FieldDraw:
    """The draw of one field for the K takes, written once for all five: constraints, then temperature,
    top-k and top-p (:func:`_filter`), then a sample from the seeded generator; the chosen ids'
    log-probability under the model's unconstrained distribution is added to each take still going.

    That log-probability is settled when :attr:`logprob` is read, not a draw at a time: the draws' logits
    wait in a list and are scored in one batched ``log_softmax`` per field, then summed in the order they
    were drawn — the same numbers, for a handful of operations a continuation instead of five a draw.
    """

    def __init__(self, settings: Settings, generator: torch.Generator, takes: int) -> None:
        self.settings = settings
        self.generator = generator
        self._logprob = np.zeros(takes, dtype=np.float64)  # nats, per take, of the draws settled so far
        self._pending: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []  # (raw, chosen, going)

    @property
    def logprob(self) -> torch.Tensor:
        """(K,) float64: each take's log-probability (nats) of everything drawn for it while it was going."""
        pending, self._pending = self._pending, []
        if pending:
            by_size: dict[int, list[int]] = {}
            for i, (raw, _, _) in enumerate(pending):
                by_size.setdefault(raw.shape[-1], []).append(i)
            terms = np.zeros((len(pending) + 1, len(self._logprob)), dtype=np.float64)
            terms[0] = self._logprob
            for rows in by_size.values():
                raw = torch.stack([pending[i][0] for i in rows]).double()  # (n, K, V)
                chosen = torch.stack([pending[i][1] for i in rows])  # (n, K)
                going = torch.stack([pending[i][2] for i in rows])
                picked = torch.log_softmax(raw, -1).gather(2, chosen[..., None]).squeeze(2)
                terms[np.asarray(rows) + 1] = (picked * going).numpy()
            self._logprob = np.add.accumulate(terms, axis=0)[-1]  # in draw order, one addition at a time
        return torch.from_numpy(self._logprob.copy())

    def __call__(
        self,
        raw: torch.Tensor,
        going: torch.Tensor,
        *,
        allowed: torch.Tensor | None = None,
        prior: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """(K, V) logits → (K,) ids: ``allowed`` masks ids out, ``prior`` is added to the logits (key lock)."""
        chosen = self.pick(raw, allowed=allowed, prior=prior)
        self.count(raw, chosen, going)
        return chosen

    def pick(
        self, raw: torch.Tensor, *, allowed: torch.Tensor | None = None, prior: torch.Tensor | None = None
    ) -> torch.Tensor:
        logits = raw if allowed is None else torch.where(allowed, raw, -math.inf)  # one operation, not two
        if prior is not None:
            logits = logits + prior
        filtered = _filter(logits.float(), self.settings.temperature, self.settings.top_k, self.settings.top_p)
        return draw_ids(torch.softmax(filtered, dim=-1), self.generator)

    def count(self, raw: torch.Tensor, chosen: torch.Tensor, going: torch.Tensor) -> None:
        """Add log p(chosen) to the takes that are ``going`` (the shift counts only once its take is known
        to go on, so the continuation's length limit is checked between :meth:`pick` and this)."""
        self._pending.append((raw, chosen, going))


@dataclass(frozen=True)
class _Plan:
    """What a continuation settles before its first note: the keys, where it stops, and what it may play."""

    key_id: int  # the key the model is told
    lock_key: int | None  # the key heard in the seed: key lock keeps it, the takes' share in key is measured in it
    bar: int  # bar length in grid steps
    bar_start: int
    last_onset: int  # the seed's last onset (grid steps): the takes start here
    limit: int | None  # with a length in bars: no onset at or after this step
    max_steps: int  # events at most (rests take steps too)
    pitch_ok: torch.Tensor  # (pitch ids,) key lock's scale and the pitch range
    prior: torch.Tensor | None  # key lock's scale-degree weights, added to the pitch logits
    seed_end: torch.Tensor  # (pitch ids,) when a seed note on that pitch ends (grid steps), 0 if none
    steer: Steer | None = None  # the takes' forms: forced rhythm and pitch bonus, take by take (None: all free)
    take_steps: torch.Tensor | None = None  # (K,) each take's own bound on events, where they differ (forms)
    register: torch.Tensor | None = None  # (tracks, pitch ids) each track's register window; None: register off
    # Infill and accompany (composer.fill): the given notes played at their places, the tracks new notes may
    # take (None: the seed's), and the context the encoder read (None: plain continuation).
    given: Given | None = None
    tracks: torch.Tensor | None = None
    context: ContextSteps | None = None
    floor: int | None = None  # a fill's first grid step: no new note starts before it (the seed ends earlier)
    # accompany: under each onset of the given tracks where no new note sounds, the take's next event starts
    # there too (shift 0: the new tracks follow the given ones at an onset, as the encoding orders them)
    sound_under: bool = False
    # accompany, piano style: the chord guessed under the melody
    chords: ChordGuide | None = None
    # accompany: the grid the given tracks' onsets lie on, (step, phase) in grid steps; new notes start on it
    lattice: tuple[int, int] | None = None
    # accompany, piano style, density lock: the new notes' target rate in notes a grid step (PACE_BASE)
    pace: float | None = None

    def allowed_pitches(
        self, onset: torch.Tensor, shift: torch.Tensor, track: torch.Tensor, exempt: torch.Tensor | None = None
    ) -> torch.Tensor:
        """(K, pitch ids): the plan's pitches, less those a seed note still holds at ``onset``, within the
        register of each take's ``track`` — except on the takes ``exempt`` (K,) from it, or where that leaves
        the track nothing: there the register gives way.  A rest event only where the shift is the longest —
        or where nothing else may sound (a narrow pitch range whose pitches a seed note still holds): the take
        then lets the time pass."""
        allowed = self.pitch_ok.expand(len(onset), -1) & (self.seed_end[None, :] <= onset[:, None].double())
        if self.register is not None:
            windowed = allowed & self.register[track]
            keep = windowed[:, :REST].any(dim=1, keepdim=True)
            if exempt is not None:
                keep = keep & ~exempt[:, None]
            allowed = torch.where(keep, windowed, allowed)
        allowed[:, REST] = (shift == MAX_SHIFT) | ~allowed[:, :REST].any(dim=1)
        return allowed


def _lock_key(seed: Piece) -> int | None:
    """The key heard in the seed (music21's analysis: computed once a request).  A handful of notes says little
    about a key: there the file's stated key, where it has one, is kept."""
    return seed.key if len(seed.notes) < MIN_HEARD_NOTES and seed.key is not None else heard_key(seed)


def _keys(settings: Settings, seed: Piece, key: int | None, lock_key: int | None) -> tuple[int | None, int | None]:
    """(the key the model is told, the key heard in the seed: ``lock_key``)."""
    key = seed.key if seed.key is not None else key
    if settings.key_lock and lock_key is not None:
        key = lock_key  # the model is told the key it is to keep
    return key, lock_key


def _pitch_constraints(settings: Settings, lock_key: int | None) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(pitch ids allowed by key lock and the pitch range, key lock's prior or None)."""
    pitch_ok = torch.ones(SIZES[PITCH], dtype=torch.bool)
    prior: torch.Tensor | None = None
    if settings.key_lock and lock_key is not None:
        if settings.key_prior != OPEN_DRIFT:
            pitch_ok &= scale_mask(lock_key)
        prior = key_prior(lock_key, settings.key_strength, settings.key_prior)
    if settings.pitch_range:
        low, high = settings.pitch_range
        ids = torch.arange(SIZES[PITCH])
        pitch_ok &= ((ids + PITCH_LOW) >= low) & ((ids + PITCH_LOW) <= high) | (ids == REST)
        if not pitch_ok[:REST].any():
            raise InputError(
                f"No pitch in {low}–{high} belongs to {key_name(lock_key)}, the key key lock "
                "keeps; widen the pitch range or turn key lock off."
            )
    return pitch_ok, prior


def register_windows(seed: Piece) -> torch.Tensor:
    """(tracks, pitch ids) True where a pitch lies in a track's register: the range of its notes in the seed
    widened by :data:`REGISTER_MARGIN` semitones each way, then about its middle to at least
    :data:`REGISTER_SPAN` semitones, within the piano; a track without notes in the seed has no limit.  The
    rest event is always allowed (:meth:`_Plan.allowed_pitches` decides it)."""
    windows = torch.ones(SIZES[TRACK], SIZES[PITCH], dtype=torch.bool)
    pitches = torch.arange(SIZES[PITCH]) + PITCH_LOW
    ranges: dict[int, tuple[int, int]] = {}
    for n in seed.notes:
        low, high = ranges.get(n.track, (n.pitch, n.pitch))
        ranges[n.track] = min(low, n.pitch), max(high, n.pitch)
    for track, (low, high) in ranges.items():
        low, high = low - REGISTER_MARGIN, high + REGISTER_MARGIN
        short = REGISTER_SPAN - (high - low)
        if short > 0:  # widen about the middle; the odd semitone goes up
            low, high = low - short // 2, high + short - short // 2
        windows[track] = (pitches >= low) & (pitches <= high)
    windows[:, REST] = True
    return windows


def _seed_holds(seed: Piece) -> torch.Tensor:
    """(pitch ids,) the grid step where the seed's last note on each pitch ends: a new note may not start a
    pitch that a seed note is still holding, so the seed stays exactly as given."""
    seed_end = torch.zeros(SIZES[PITCH], dtype=torch.float64)
    for n in seed.notes:
        if PITCH_LOW <= n.pitch < PITCH_LOW + REST:
            pid = n.pitch - PITCH_LOW
            seed_end[pid] = max(float(seed_end[pid]), n.end * STEPS_PER_BEAT - 1e-6)
    return seed_end


# ---------------------------------------------------------------------------------------- the API


class Composer:
    """A loaded model and everything needed to continue pieces with it."""

    def __init__(self, model_path: str | Path | None = None, *, int8: bool = True) -> None:
        # Generation runs on the CPU: at batch 1-16 the fast step path beats a GPU round trip.  ``int8``: the
        # step's matrix products in int8 (measured cost on the test split: bench/results/generation.json).
        self.model_path = resolve(Path(model_path) if model_path else SHIPPED_MODEL)
        self.model, self.config = load_model(self.model_path)
        self.model.eval()
        self.stepper = FastStepper(self.model, int8=int8)

    # ---------------------------------------------------------------------------------- seed
    def _seed_events(self, piece: Piece) -> tuple[Events, int, str | None]:
        events = encode(piece)
        if len(events) == 0:
            raise InputError("The seed has no notes; give at least one note to continue from.")
        start, note = _context_cut(events)
        return events, start, note

    def _plan(
        self, seed: Piece, events: Events, settings: Settings, key: int | None, heard: int | None, forms: list[str]
    ) -> _Plan:
        """The continuation's plan, ``forms`` the takes' own (auto already drawn)."""
        key, lock_key = _keys(settings, seed, key, heard)
        bar = bar_steps(events.time_signature)
        if settings.bars and settings.bars * bar > MAX_BEATS * STEPS_PER_BEAT:
            beats = settings.bars * bar / STEPS_PER_BEAT
            raise InputError(
                f"{settings.bars} bar(s) of {seed.time_signature} is {beats:g} beats, above the "
                f"{MAX_BEATS} beats composer continues at a time; ask for fewer bars."
            )
        last_onset = int(events.onsets[-1])
        # Continue to the bar line after the seed's last onset, then N whole bars.
        limit = next_bar_line(events) + settings.bars * bar if settings.bars else None
        pitch_ok, prior = _pitch_constraints(settings, lock_key)
        # contrast: a new section, in the key heard in the seed (a prior on its takes alone, without key lock's)
        contrast_key = key_prior(lock_key, CONTRAST_KEY_STRENGTH) if prior is None and lock_key is not None else None
        form = steer(forms, events, limit, settings.notes, contrast_key)
        # Rest events take steps too: leave room for them (the loop stops at the asked notes or bars); a
        # forced rhythm takes exactly its steps, on its takes.
        max_steps = 2 * settings.notes if settings.notes else (settings.bars or 1) * bar
        take_steps = None
        if form is not None and form.rhythm is not None:
            take_steps = form.steps(max_steps)
            max_steps = int(take_steps.max())
            if bool((take_steps == max_steps).all()):
                take_steps = None  # one bound for all
        return _Plan(
            key_id=features.key_id(key),
            lock_key=lock_key,
            bar=bar,
            bar_start=events.bar_start,
            last_onset=last_onset,
            limit=limit,
            max_steps=max_steps,
            pitch_ok=pitch_ok,
            prior=prior,
            seed_end=_seed_holds(seed),
            steer=form,
            take_steps=take_steps,
            register=register_windows(seed) if settings.register_lock else None,
        )

    @torch.no_grad()
    def _prime(
        self, events: Events, start: int, k: int, key: int
    ) -> tuple[torch.Tensor, list[tuple[torch.Tensor, torch.Tensor]]]:
        """Run the seed (from event ``start``) through the model once; state repeated for k variations.

        The inputs are built exactly as for a training window (:func:`features.model_inputs`), up to the
        one that precedes the first new event.  An empty seed (a fill from the piece's start) reads the
        beginning-of-sequence input alone.
        """
        bar = bar_steps(events.time_signature)
        ref = features.song_features(events.ids, bar).ref
        programs = tuple(t.program for t in events.tracks)
        seen = features.model_inputs(events.ids, ref, programs, bar, events.bar_start, start, len(events) + 1)
        inputs, in_pos, prev, program = (torch.from_numpy(a) for a in seen)
        t = inputs.shape[0]
        full = torch.full((1, t), features.bar_id(bar)), torch.full((1, t), key)
        out, state = self.model(inputs[None], in_pos[None], *full, prev[None], program[None])
        h = out[:, -1].repeat(k, 1)
        return h, FastStepper.split_state((state[0].repeat(1, k, 1), state[1].repeat(1, k, 1)))

    # ---------------------------------------------------------------------------------- generation
    @torch.no_grad()
    def continue_piece(
        self, seed: Piece, settings: Settings, *, key: int | None = None, deadline: float | None = None
    ) -> list[Take]:
        """K continuations of ``seed``.  ``key`` (a key number) conditions the model when the seed states
        none (the caller estimates it); the seed's stated key wins, as in training.  Key lock and the takes'
        share in key use the key music21 hears in the seed's last bars (:func:`heard_key`): a stated
        signature often says less (a DAW's default C major, a modal tune's signature) — except for a seed
        of fewer than 8 notes that states one.  ``deadline`` (a
        ``time.monotonic()`` instant): past it, generation stops with an :class:`InputError` (a server's
        per-request time cap)."""
        return self._continue(seed, settings.validate(), key, _lock_key(seed), deadline)

    @torch.no_grad()
    def _continue(
        self,
        seed: Piece,
        settings: Settings,
        key: int | None,
        lock_key: int | None,
        deadline: float | None,
        forms: list[str] | None = None,
    ) -> list[Take]:
        """:meth:`continue_piece` on valid settings (key lock's selection asks for more takes than a caller may)
        and the key heard in the seed (``lock_key``, analysed once for all the candidates); ``forms``: the
        takes' own forms (else drawn from the settings' form)."""
        if settings.key_lock and settings.key_prior in SELECTING:
            # Each take's form is drawn first, and its candidates are all of that form: key lock chooses among
            # takes of the form auto chose, so it keeps auto's mix (choosing from a pool of every form, it
            # preferred free takes — whose key prior pulls them to the tonic — to the ones restating the seed).
            asked, runs = settings.variations, settings.key_candidates
            if forms is None:
                forms = self._forms(settings, seed, asked)
            candidates = self._continue(
                seed,
                replace(settings, variations=asked * runs, key_prior=_candidates_prior(settings.key_prior)),
                key,
                lock_key,
                deadline,
                [form for form in forms for _ in range(runs)],
            )
            if lock_key is None:
                return candidates[::runs]
            return _kept_in_key(candidates, asked, lock_key, settings.key_prior)
        # Each take's form: auto draws one for each take first (its own generator); the takes of every form
        # are then drawn together, one batch, each steered by its own form (a free take not at all).
        if forms is None:
            forms = self._forms(settings, seed, settings.variations)
        if "echo" in forms:
            return self._echoes(seed, settings, key, lock_key, deadline, forms)
        events, start, context_note = self._seed_events(seed)
        plan = self._plan(seed, events, settings, key, lock_key, forms)
        draw = FieldDraw(settings, torch.Generator().manual_seed(settings.seed), settings.variations)
        h, state = self._prime(events, start, settings.variations, plan.key_id)
        voices = _Voices.of_seed(events, plan.bar, settings.variations)
        memories = _seed_memories(events, settings.variations) if settings.memory else None
        sampled, kept = self._sample(plan, draw, h, state, settings, voices, deadline, memories)
        velocities = _seed_velocities(events)
        seed_bars = SeedBars(events)  # what each take's restatement is measured against
        return [
            self._take(
                seed,
                events,
                ids,
                velocities,
                float(draw.logprob[i]),
                plan.lock_key,
                context_note,
                seed_bars.restates(ids),
                forms[i],
            )
            for i, ids in enumerate(take[going] for take, going in zip(sampled, kept, strict=True))
        ]

    @staticmethod
    def _forms(settings: Settings, seed: Piece, takes: int) -> list[str]:
        """The form of each of ``takes`` takes: auto's draw for the seed (:func:`auto_forms`), else the one asked."""
        if settings.form == "auto":
            return auto_forms(settings.seed, takes, seed_repetition(seed))
        return [settings.form] * takes

    def _sample(
        self,
        plan: _Plan,
        draw: FieldDraw,
        h: torch.Tensor,
        state: list[tuple[torch.Tensor, torch.Tensor]],
        settings: Settings,
        voices: _Voices,
        deadline: float | None,
        memories: list[ShortTermMemory] | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """One event a step for the K takes, each field drawn in the model's order (shift, track, duration,
        pitch, velocity) → (K, S, 5) events and (K, S) whether each take was still going at that step.
        ``memories``: each take's short-term memory, whose blends the duration and the pitch are drawn from
        (:func:`remembered`)."""
        k, m = settings.variations, self.model
        time = torch.full((k,), plan.last_onset, dtype=torch.long)
        done = torch.zeros(k, dtype=torch.bool)
        steps: list[torch.Tensor] = []  # (k, 5) sampled events, one tensor a step
        active: list[torch.Tensor] = []  # (k,) which takes were still going at that step
        notes_made = torch.zeros(k, dtype=torch.long)
        bar_t = torch.full((k, 1), features.bar_id(plan.bar))
        key_t = torch.full((k,), plan.key_id, dtype=torch.long)
        tracks_ok = (torch.arange(SIZES[TRACK]) < voices.tracks).expand(k, -1)  # only the seed's tracks
        if plan.tracks is not None:  # a fill: only the tracks it regenerates
            tracks_ok = plan.tracks.expand(k, -1)
        density = settings.density_lock and voices.tracks > 1  # one track: nothing to balance
        given = plan.given
        use = torch.zeros(k, dtype=torch.bool)  # which takes play their next given note this step
        new_until = torch.zeros(k, dtype=torch.long)  # accompany: when the takes' new notes stop sounding
        under = torch.zeros(k, dtype=torch.bool)  # accompany: the takes whose next event starts now (shift 0)
        shift_ids = torch.arange(SIZES[SHIFT])[None, :]
        zero_shift = shift_ids == 0
        # A fill keeps the events in the encoding's canonical order, the only order the model ever read: at one
        # time, tracks in the table's order and on a track pitches from high to low.  Per take: the last event at
        # its current time (track, pitch id; -1 and past the highest id where none) and the new notes started there
        # on each track (at most MAX_STACK).
        prev_track = torch.full((k,), -1, dtype=torch.long)
        prev_pitch = torch.full((k,), SIZES[PITCH], dtype=torch.long)
        stack = torch.zeros(k, SIZES[TRACK], dtype=torch.long)
        rows = torch.arange(k)
        track_ids, pitch_ids = torch.arange(SIZES[TRACK])[None, :], torch.arange(SIZES[PITCH])[None, :]
        single = int(tracks_ok[0].sum()) == 1
        one = int(tracks_ok[0].int().argmax())
        stacking = torch.log(torch.tensor(STACKING))
        velocity_ok = (torch.arange(SIZES[VELOCITY]) != VELOCITY_UNKNOWN).expand(k, -1)
        unknown = torch.full((k,), VELOCITY_UNKNOWN, dtype=torch.long)
        form = plan.steer
        watch = (
            KeyWatch(plan.lock_key, k)
            if settings.key_prior in ("drift", OPEN_DRIFT) and settings.key_lock and plan.lock_key is not None
            else None
        )
        for step in range(plan.max_steps):
            if deadline is not None and monotonic() > deadline:
                raise InputError("Generating took longer than this server allows; ask for fewer bars or takes.")
            zs, zt, zd, zp, *zv = self.stepper.head_inputs(h, velocity=voices.dynamics)
            shift_views = None
            if plan.context is not None:
                gain_s, shift_views = plan.context.now(time)
                zs = zs + gain_s
            raw = m.shift_logits(zs, shift_views, None if plan.context is None else plan.context.matches())
            shift_ok = form.only(SHIFT, step) if form else None
            if plan.floor is not None and bool((time < plan.floor).any()):  # a fill reaches its first bar first
                need = (plan.floor - time).clamp(min=0, max=SIZES[SHIFT] - 1)
                floor_ok = torch.arange(SIZES[SHIFT])[None, :] >= need[:, None]
                shift_ok = floor_ok if shift_ok is None else shift_ok & floor_ok
            full = None
            if given is not None:  # a take whose every track has MAX_STACK new notes here moves on
                full = ((stack >= MAX_STACK) | ~tracks_ok).all(dim=1)
                if bool(full.any()):
                    moving = ~(full[:, None] & zero_shift)
                    shift_ok = moving if shift_ok is None else shift_ok & moving
            if given is not None and single and settings.stack_strength:  # one new track: stacking as POP909's
                n = stack[rows, one]
                if bool((n > 0).any()):
                    odds = torch.where(n > 0, stacking[(n - 1).clamp(0, len(STACKING) - 1)], 0.0)
                    raw = raw.clone()
                    raw[:, 0] += settings.stack_strength * odds
            if plan.lattice is not None:  # on the given tracks' grid (or at once, beside the notes there)
                every, phase = plan.lattice
                landing = time[:, None] + shift_ids
                on_grid = ((landing - phase) % every == 0) | (zero_shift & (prev_track >= 0)[:, None])
                if plan.limit is not None:
                    on_grid |= landing >= plan.limit
                shift_ok = on_grid if shift_ok is None else shift_ok & on_grid
            if plan.pace is not None and given is not None:  # new notes kept near the target rate
                due_now = plan.pace * (time - (plan.floor or 0)).clamp(min=0).float()
                ahead = torch.log((notes_made.float() + 1) / (due_now + 1))
                starts_new = (time[:, None] + shift_ids) < given.onsets[given.next][:, None]
                raw = raw - settings.pace_strength * ahead[:, None] * starts_new
            if plan.sound_under and bool(under.any()):
                forced = torch.where((under if full is None else under & ~full)[:, None], zero_shift, True)
                shift_ok = forced if shift_ok is None else shift_ok & forced
            shift = draw.pick(raw, allowed=shift_ok)
            if given is not None:  # a take whose drawn onset passes its next given note plays that note first
                use, due_at = given.due(time, shift)
                use &= ~done
                shift = torch.where(use, due_at - time, shift)
            if plan.limit is not None:
                done |= (time + shift) >= plan.limit
            if plan.take_steps is not None:  # a take on a forced rhythm ends with it
                done |= step >= plan.take_steps
            if bool(done.all()):
                break
            going = ~done
            drawn = going & ~use  # what the model chose (a given note is not drawn, nor counted)
            draw.count(raw, shift, drawn)
            onset = time + shift
            pos = features.metrical_position(onset, plan.bar_start, plan.bar).clamp(max=MAX_POSITION - 1)
            forced_track = form.only(TRACK, step) if form else None
            track_ok = tracks_ok if forced_track is None else tracks_ok & forced_track
            here = shift == 0  # the new note starts at the take's current time, beside the ones started there
            if given is not None:
                late = here[:, None] & ((stack >= MAX_STACK) | (track_ids < prev_track[:, None]))
                track_ok = torch.where((track_ok & ~late).any(dim=1, keepdim=True), track_ok & ~late, track_ok)
            # (on a take with a forced track the nudge changes nothing: one track is allowed)
            everyone_forced = forced_track is not None and bool(form is not None and form.forced.all())
            nudge = voices.density_prior(onset - plan.last_onset) if density and not everyone_forced else None
            if plan.context is not None:
                zt = zt + plan.context.onset(onset)
            track = draw(m.track_logits(zt, shift, pos, voices.previous), drawn, allowed=track_ok, prior=nudge)
            back1, back2, back_duration = voices.lookback(track, onset)
            views = None
            if plan.context is not None:
                (gain_d, gain_p, gain_v), views = plan.context.note(onset, track)
                zd, zp = zd + gain_d, zp + gain_p
                zv = [z + gain_v for z in zv]
            dur_raw = m.duration_logits(zd, shift, pos, track, back_duration, views)
            if memories is not None:
                dur_raw = remembered(dur_raw, memories, track, DURATION)
            dur_lean = plan.chords.duration_prior(onset) if plan.chords is not None else None
            dur = draw(dur_raw, drawn, allowed=form.only(DURATION, step) if form else None, prior=dur_lean)
            ref, program = voices.ref(track), voices.programs[track]
            # repeat restates the seed's own phrase, inside its registers already; a register window on top
            # would leave some of its chord notes nowhere to go.
            restating = form.repeat if form is not None else None
            allowed, prior = plan.allowed_pitches(onset, shift, track, restating), plan.prior
            if watch is not None and prior is not None:  # key prior "drift": only the takes drifting away
                prior = prior[None, :] * (DRIFT_BASE + (1 - DRIFT_BASE) * watch.drifting()[:, None].float())
            if form:
                allowed, bonus = form.pitch(step, allowed, onset, track, ref)
                prior = bonus if prior is None else prior + bonus
            if plan.chords is not None:  # the chord guessed under the melody over the note's span
                leaning = plan.chords.prior(onset, dur)
                prior = leaning if prior is None else prior + leaning
            stacked = here & (track == prev_track)  # another new note on this track at this onset came first
            if views is not None and plan.context is not None and settings.join_strength > 0:
                joining = join_prior(views.next_pitch, plan.context.next_steps, dur, stacked)
                if joining is not None:
                    joining = settings.join_strength * joining
                    prior = joining if prior is None else prior + joining
            if given is not None:  # not a pitch a given note on this track is sounding (it would be cut); below
                # the last one started here on this track (canonical order)
                above = stacked[:, None] & (pitch_ids >= prev_pitch[:, None])
                allowed = allowed & ~given.sounding(onset, track) & ~above
                if plan.sound_under:  # an accompaniment stays under its melody (where that leaves it a pitch)
                    under_it = allowed & ((pitch_ids < given.ceiling(onset)[:, None]) | (pitch_ids == REST))
                    allowed = torch.where(under_it[:, :REST].any(dim=1, keepdim=True), under_it, allowed)
                allowed[:, REST] |= ~allowed[:, :REST].any(dim=1)
            if plan.floor is not None and bool((onset < plan.floor).any()):  # still before the fill: rests only
                early = onset < plan.floor
                allowed = allowed & ~early[:, None]
                allowed[:, REST] |= early
            pitch_raw = m.pitch_logits(zp, shift, pos, dur, key_t, track, program, ref, back1, back2, views)
            if memories is not None:
                pitch_raw = remembered(pitch_raw, memories, track)
            pitch = draw(pitch_raw, drawn, allowed=allowed, prior=prior)
            is_rest = pitch == REST  # a rest event has no duration or velocity, and stays on the previous track
            if voices.dynamics:
                echo = matches = None
                if plan.context is not None and plan.context.far:  # a model with far views, in an infill
                    echo, matches = plan.context.velocities(onset, track, pitch), plan.context.matches()
                raw_v = m.velocity_logits(zv[0], shift, pos, dur, pitch, track, echo, matches)
                vel = draw(raw_v, drawn, allowed=velocity_ok)
                vel = vel.masked_fill(is_rest, VELOCITY_UNKNOWN)
            else:  # the seed says nothing about loudness: its one velocity goes on (decoding), nothing drawn
                vel = unknown
            track = torch.where(is_rest, voices.previous, track)
            event = torch.stack([shift, pitch, dur.masked_fill(is_rest, 0), vel, track], dim=1)
            if given is not None:
                played = given.play(use)
                event = torch.where(use[:, None], torch.cat([shift[:, None], played[:, 1:]], dim=1), event)
                is_rest = event[:, PITCH] == REST
                track = event[:, TRACK]
                ref, program = voices.ref(track), voices.programs[track]
                given.played.append(use.clone())
                stack = stack * here[:, None]
                new = drawn & ~is_rest
                stack[rows[new], track[new]] += 1
                # a rest drawn here: its track had no pitch left below the last (or none at all): it is full here
                stuck = drawn & is_rest & here
                stack[rows[stuck], track[stuck]] = MAX_STACK
                sounded = going & ~is_rest
                prev_track = torch.where(sounded, track, torch.where(here, prev_track, -1))
                prev_pitch = torch.where(sounded, event[:, PITCH], torch.where(here, prev_pitch, SIZES[PITCH]))
                if plan.sound_under:
                    made = drawn & ~is_rest
                    ends = onset + event[:, DURATION] + 1
                    new_until = torch.where(made, torch.maximum(new_until, ends), new_until)
                    # after the last given note at an onset, with nothing new sounding there: a new note next
                    last_here = given.onsets[given.next] > onset
                    # (the accompaniments' density is the model's: forcing this only on the beats, or nowhere, gave
                    # 5.68 and 5.68 notes a bar on 10 validation songs against 5.63; making a new note before the
                    # next melody note half as likely, 5.31, and less of it on the chord: 0.647 against 0.663)
                    under = use & last_here & (new_until <= onset) & ~done
            steps.append(event)
            active.append(going)
            notes_made += (drawn & ~is_rest).long()
            time = time + shift * going
            if settings.notes is not None:
                done |= notes_made >= settings.notes
                if bool(done.all()):
                    break
            x = m.embed_inputs(event[:, None], pos[:, None], bar_t, key_t[:, None], ref[:, None], program[:, None])
            voices.play(event, onset, going & ~is_rest)
            if memories is not None:
                for i in torch.nonzero(going & ~is_rest).flatten().tolist():
                    memories[i].play(int(track[i]), int(event[i, PITCH]), int(event[i, DURATION]))
            if plan.context is not None:
                plan.context.played(event, onset)
            if form:
                form.play(event, onset, going & ~is_rest)
            if watch is not None:
                watch.play(pitch, dur, drawn & ~is_rest)
            h, state = self.stepper.step(x[:, 0], state)
        sampled = torch.stack(steps, 1).numpy() if steps else np.zeros((k, 0, 5), dtype=np.int64)
        kept = torch.stack(active, 1).numpy() if active else np.zeros((k, 0), dtype=bool)
        return sampled, kept

    def _echoes(
        self,
        seed: Piece,
        settings: Settings,
        key: int | None,
        lock_key: int | None,
        deadline: float | None,
        forms: list[str],
    ) -> list[Take]:
        """Takes of which some are echoes (:data:`composer.form.FORMS`): the others drawn together as usual,
        each echo in stages — a phrase of its own (the seed's phrase length in bars, free), that phrase
        restated (repeat, the new phrase now the last one), then free to the asked length.  A take shorter than
        two phrases, or counted in notes, is free."""
        events, _, context_note = self._seed_events(seed)
        bar = bar_steps(events.time_signature)
        phrase = phrase_length(events)
        echo = [i for i, f in enumerate(forms) if f == "echo"]
        echoes = set(echo)
        asked = settings.bars or 0
        whole = settings.notes is None and asked >= 2 * phrase
        takes: list[Take | None] = [None] * len(forms)
        others = [i for i in range(len(forms)) if i not in echoes] if whole else list(range(len(forms)))
        if others:
            drawn = self._continue(
                seed,
                replace(settings, variations=len(others)),
                key,
                lock_key,
                deadline,
                [forms[i] if i not in echoes else "free" for i in others],
            )
            for i, take in zip(others, drawn, strict=True):
                takes[i] = take
        if whole:
            end = next_bar_line(events) + asked * bar  # where the asked bars end (grid steps)
            firsts = self._continue(
                seed,
                replace(settings, variations=len(echo), bars=phrase),
                key,
                lock_key,
                deadline,
                ["free"] * len(echo),
            )
            seed_bars = SeedBars(events)
            for j, (i, first) in enumerate(zip(echo, firsts, strict=True)):
                parts = [first]
                for form in ("repeat", "free"):
                    left = (end - next_bar_line(encode(parts[-1].piece))) // bar
                    bars = min(phrase, left) if form == "repeat" else left
                    if bars < 1:
                        continue
                    again = replace(settings, variations=1, bars=bars, seed=settings.seed + 1 + 2 * j + len(parts))
                    parts += self._continue(parts[-1].piece, again, key, lock_key, deadline, [form])
                # Each stage's events count from the last note before it: a stage's trailing rest events (time
                # drawn past its last note) are left out of the joined events, the draws' nats kept.
                ids = np.concatenate([_to_last_note(part.events) for part in parts[:-1]] + [parts[-1].events])
                logprob = sum(part.logprob for part in parts)
                notes = tuple(n for part in parts for n in part.continuation.notes)
                continuation = replace(seed, notes=notes, found=(), remarks=())
                metrics = take_metrics(continuation, ids, logprob, lock_key, context_note, seed_bars.restates(ids))
                takes[i] = Take(
                    piece=parts[-1].piece,
                    continuation=continuation,
                    metrics=replace(metrics, form="echo"),
                    events=ids,
                    logprob=logprob,
                )
        return [t for t in takes if t is not None]

    def _take(
        self,
        seed: Piece,
        events: Events,
        ids: np.ndarray,
        velocities: list[tuple[int, int]],
        logprob: float,
        key: int | None,
        context_note: str | None,
        restates: Restatement | None,
        form: str,
    ) -> Take:
        last_onset = int(events.onsets[-1])
        # Decode the new events as a piece of their own that starts at the seed's last onset, on the seed's
        # tracks, their velocities read against the level of the seed's last notes.
        lead = replace(events, ids=ids.reshape(-1, 5))
        new = decode(lead, before=velocities)
        offset = last_onset / STEPS_PER_BEAT
        new_notes = tuple(replace(n, start=n.start + offset) for n in new.notes)
        # The seed exactly as given (sampling never starts a pitch a seed note still holds), then the new notes.
        whole = seed.with_notes(tuple(sorted([*seed.notes, *new_notes], key=lambda n: (n.start, n.track, -n.pitch))))
        continuation = replace(seed, notes=new_notes, found=(), remarks=())  # the new notes on the seed's tracks
        metrics = replace(take_metrics(continuation, ids, logprob, key, context_note, restates), form=form)
        return Take(piece=whole, continuation=continuation, metrics=metrics, events=ids, logprob=logprob)

    # ---------------------------------------------------------------------------------- infill, accompany
    @torch.no_grad()
    def infill(
        self,
        piece: Piece,
        bars: tuple[int, int],
        settings: Settings,
        *,
        tracks: list[int] | None = None,
        key: int | None = None,
        deadline: float | None = None,
    ) -> list[Take]:
        """K takes of bars A–B (``bars``, as printed music counts them: a pickup is bar 0) of ``piece``, on
        ``tracks`` (indices; default all): every note starting outside those bars, or on another track, is
        kept exactly; the new notes start inside the bars, lead into the bar after them (the encoder reads
        what follows) and keep the piece's key with key lock.  ``settings``' length is the gap's; its form is
        free.  Each take's ``piece`` is the whole piece, its ``continuation`` the new notes alone."""
        if not piece.notes:
            raise InputError("The piece has no notes; give a piece with bars to keep around the gap.")
        events = encode(piece)
        bar = bar_steps(events.time_signature)
        start, end = gap_span(events, bar, *bars)
        chosen = list(range(len(piece.tracks))) if tracks is None else tracks
        settings = replace(settings, bars=bars[1] - bars[0] + 1, notes=None, form="free").validate()
        return self._fill(piece, events, start, end, chosen, INFILL, settings, key, deadline)

    @torch.no_grad()
    def accompany(
        self,
        piece: Piece,
        settings: Settings,
        *,
        style: str = "piano",
        bars: tuple[int, int] | None = None,
        key: int | None = None,
        deadline: float | None = None,
    ) -> list[Take]:
        """K takes of an accompaniment for ``piece``: its tracks kept exactly, new ones added (:data:`STYLES`:
        ``piano`` — one piano track; ``chorale`` — alto, tenor and bass under the piece's melody) and filled
        from its first bar to its last, the encoder reading the given tracks all through.

        ``bars`` (A, B), as printed music counts them: only those bars are accompanied.  Where the piece already
        has the style's tracks (an accompaniment made before), those tracks are the ones refilled in bars A–B and
        their notes elsewhere are kept, so that a piece is accompanied a selection at a time."""
        if style not in STYLES:
            raise InputError(f"The accompaniment style must be {' or '.join(STYLES)}; got {style!r}.")
        if not piece.notes:
            raise InputError("The piece has no notes; give a melody to accompany.")
        added = STYLES[style]
        names = [(t.name, t.program) for t in piece.tracks]
        existing = [names.index(a) for a in added if a in names]
        if bars is not None and len(existing) == len(added):
            grown, chosen = piece, existing
        else:
            if len(piece.tracks) + len(added) > SIZES[TRACK]:
                raise InputError(
                    f"The piece has {len(piece.tracks)} tracks; a {style} accompaniment adds {len(added)} and "
                    f"composer holds at most {SIZES[TRACK]}: drop some tracks first."
                )
            channels = [t.channel for t in piece.tracks]
            free = [c for c in range(16) if c != 9 and c not in channels]
            new_tracks = tuple(
                Track(name=name, program=program, channel=free[i] if i < len(free) else 0)
                for i, (name, program) in enumerate(added)
            )
            grown = replace(piece, tracks=(*piece.tracks, *new_tracks))
            chosen = list(range(len(piece.tracks), len(grown.tracks)))
        events = encode(grown)
        bar = bar_steps(events.time_signature)
        if bars is None:
            last_bar = int((int(events.onsets[-1]) - events.bar_start) // bar) + 1
            start, end, length = 0, events.bar_start + last_bar * bar, last_bar
        else:
            start, end = gap_span(events, bar, *bars)
            length = bars[1] - bars[0] + 1
        sounding = (n for n in grown.notes if n.start * STEPS_PER_BEAT < end and n.end * STEPS_PER_BEAT > start)
        if not any(n.track not in chosen for n in sounding):
            raise InputError(
                "Nothing sounds in those bars but the accompaniment itself; choose bars where the melody plays."
            )
        guide = style == "piano"  # the chord network learned POP909's harmony, not the chorales'
        paced = guide and settings.density_lock and settings.pace_strength > 0  # (POP909's piano's pace)
        settings = replace(settings, bars=max(1, min(MAX_BARS, length)), notes=None, form="free", density_lock=False)
        return self._fill(
            grown, events, start, end, chosen, ACCOMPANY, settings.validate(), key, deadline, guide, paced
        )

    def _fill(
        self,
        piece: Piece,
        events: Events,
        start: int,
        end: int,
        regenerated: list[int],
        mode: int,
        settings: Settings,
        key: int | None,
        deadline: float | None,
        chords: bool = False,
        paced: bool = False,
    ) -> list[Take]:
        """New notes on the ``regenerated`` tracks between grid steps ``start`` and ``end`` of ``piece``
        (:mod:`composer.fill`); key lock's selection as in :meth:`_continue`.  ``chords``: the new notes lean
        to the chord guessed under the other tracks (:class:`ChordGuide`), and each take is the one of
        :data:`CHORD_CANDIDATES` the guess expects most on the chords; ``paced``: their rate is pulled to
        POP909's piano under a melody as busy (:data:`PACE_BASE`)."""
        ids, onsets = events.ids, events.onsets
        first = int(np.searchsorted(onsets, start, side="left"))
        stop = int(np.searchsorted(onsets, end, side="left"))
        regen = np.isin(ids[:, TRACK], regenerated)
        index = np.arange(len(ids))
        given_rows = (index >= first) & (index < stop) & ~regen & (ids[:, PITCH] != REST)
        kept = replace(piece, notes=tuple(n for n in piece.notes if not _inside(n, regenerated, start, end)))
        lock_key = _lock_key(kept)
        likely = None  # accompany's piano: the chord guessed under the given tracks, guiding and choosing takes
        if chords and settings.chord_strength > 0:
            from composer.harmony import membership

            given = [n for n in piece.notes if n.track not in regenerated]
            beats = math.ceil(end / STEPS_PER_BEAT)
            likely = membership(given, beats, piece.bar_start, piece.time_signature.bar_beats)
        if settings.key_lock and settings.key_prior in SELECTING and lock_key is not None:
            asked = settings.variations
            wide = replace(settings, variations=asked * settings.key_candidates)  # a run of candidates a take
            candidates = self._fill_takes(
                kept,
                piece,
                events,
                (start, end, first, stop),
                regenerated,
                mode,
                replace(wide, key_prior=_candidates_prior(settings.key_prior)),
                key,
                lock_key,
                given_rows,
                deadline,
                likely,
                paced,
            )
            preference = None if likely is None else chord_agreement([t.continuation for t in candidates], likely)
            return _kept_in_key(candidates, asked, lock_key, settings.key_prior, preference)
        runs = 1 if likely is None else CHORD_CANDIDATES
        takes = self._fill_takes(
            kept,
            piece,
            events,
            (start, end, first, stop),
            regenerated,
            mode,
            replace(settings, variations=settings.variations * runs),
            key,
            lock_key,
            given_rows,
            deadline,
            likely,
            paced,
        )
        if likely is None:
            return takes
        # of each take's run of candidates, the one the chord guess expects most in the chord
        best = chord_agreement([t.continuation for t in takes], likely).reshape(-1, runs).argmax(axis=1)
        return [takes[r * runs + int(i)] for r, i in enumerate(best)]

    def _fill_takes(
        self,
        kept: Piece,
        piece: Piece,
        events: Events,
        span: tuple[int, int, int, int],
        regenerated: list[int],
        mode: int,
        settings: Settings,
        key: int | None,
        lock_key: int | None,
        given_rows: np.ndarray,
        deadline: float | None,
        likely: np.ndarray | None = None,
        paced: bool = False,
    ) -> list[Take]:
        """The takes of :meth:`_fill`: ``kept`` is the piece less the notes regenerated, ``span`` the fill's
        (start, end) grid steps and (first, stop) event indices, ``given_rows`` the events given inside it,
        ``likely`` the chord guessed under the other tracks (the new notes lean to it: :class:`ChordGuide`)."""
        start, end, first, stop = span
        ids, onsets = events.ids, events.onsets
        k = settings.variations
        bar = bar_steps(events.time_signature)
        seed = replace(events, ids=ids[:first])
        cut, context_note = _context_cut(seed) if len(seed) else (0, None)
        # The encoder's context: the notes after the gap (infill) or the given tracks all through (accompany).
        keep = (np.arange(len(ids)) >= stop) if mode == INFILL else ~np.isin(ids[:, TRACK], regenerated)
        programs = tuple(t.program for t in events.tracks)
        context = notes_as_context(ids, onsets, keep, programs, bar, events.bar_start, mode, limit=None)
        steps = (
            ContextSteps(self.model, context, bar, events.bar_start)
            if self.model.config.context and len(context)
            else None
        )
        if steps is not None:
            steps.begin(seed.ids, onsets[:first], k)
        told, lock_key = _keys(settings, piece, key, lock_key)
        pitch_ok, prior = _pitch_constraints(settings, lock_key)
        left = replace(piece, notes=tuple(n for n in piece.notes if n.start * STEPS_PER_BEAT < start - 1e-6))
        allowed_tracks = torch.zeros(SIZES[TRACK], dtype=torch.bool)
        allowed_tracks[regenerated] = True
        given = Given(ids[given_rows], onsets[given_rows], k)
        plan = _Plan(
            key_id=features.key_id(told),
            lock_key=lock_key,
            bar=bar,
            bar_start=events.bar_start,
            last_onset=int(onsets[first - 1]) if first else 0,
            limit=end,
            max_steps=(end - start) + len(given) + bar,
            pitch_ok=pitch_ok,
            prior=prior,
            seed_end=_seed_holds(left),
            register=register_windows(kept) if settings.register_lock else None,
            given=given,
            tracks=allowed_tracks,
            context=steps,
            floor=start,
            sound_under=mode == ACCOMPANY,
            chords=(
                None
                if likely is None
                else ChordGuide(likely, settings.chord_strength, CHORD_DURATION_SHARE * settings.chord_strength)
            ),
            # accompany's context is the given tracks: their onsets set the grid
            lattice=onset_lattice(onsets[keep & (ids[:, PITCH] != REST)]) if mode == ACCOMPANY else None,
            pace=accompaniment_pace(onsets[given_rows], end - start) if paced and given_rows.any() else None,
        )
        draw = FieldDraw(settings, torch.Generator().manual_seed(settings.seed), k)
        h, state = self._prime(seed, cut, k, plan.key_id)
        voices = _Voices.of_seed(seed, bar, k)
        sampled, going = self._sample(plan, draw, h, state, settings, voices, deadline)
        played = torch.stack(given.played, 1).numpy() if given.played else np.zeros_like(going)
        velocities = _seed_velocities(seed)
        logprob = draw.logprob
        offset = plan.last_onset / STEPS_PER_BEAT
        takes = []
        for i in range(k):
            rows = going[i]
            take_ids, was_given = sampled[i][rows], played[i][rows]
            new = decode(replace(events, ids=as_rests(take_ids, was_given)), before=velocities)
            new_notes = tuple(replace(n, start=n.start + offset) for n in new.notes)
            whole = assemble(piece, set(regenerated), start / STEPS_PER_BEAT, end / STEPS_PER_BEAT, new_notes)
            placed = tuple(n for n in whole.notes if _inside(n, regenerated, start, end))
            continuation = replace(piece, notes=placed, found=(), remarks=())
            drawn_ids = take_ids[~was_given]
            metrics = take_metrics(continuation, drawn_ids, float(logprob[i]), lock_key, context_note)
            takes.append(
                Take(
                    piece=whole,
                    continuation=continuation,
                    metrics=metrics,
                    events=drawn_ids,
                    logprob=float(logprob[i]),
                )
            )
        return takes


def _candidates_prior(prior: str) -> str:
    """The prior key lock's candidates are drawn under for a selecting ``prior``: the drift prior, without the
    scale mask for "heard"."""
    return "drift" if KEY_CHOICES[prior].masked else OPEN_DRIFT


def _kept_in_key(
    candidates: list[Take], asked: int, key: int, prior: str, preference: np.ndarray | None = None
) -> list[Take]:
    """Key lock's choice among its candidates (``asked`` runs, one for each take asked): :func:`kept_candidates`
    by how clearly their new notes point to ``key`` (and, of those in the key, by ``preference``)."""
    margins = KEY_CHOICES[prior].read([t.continuation for t in candidates], key)
    return [candidates[i] for i in kept_candidates(margins, asked, prior, preference)]


def _to_last_note(ids: np.ndarray) -> np.ndarray:
    """(N, 5) events up to and with their last note (none where there is no note)."""
    notes = np.flatnonzero(ids[:, PITCH] != REST)
    return ids[: int(notes[-1]) + 1] if len(notes) else ids[:0]


def _inside(note: Note, tracks: list[int], start: int, end: int) -> bool:
    """Whether a note is one a fill regenerates: on one of ``tracks``, starting in grid steps [start, end)."""
    return note.track in tracks and start <= note.start * STEPS_PER_BEAT + 1e-6 < end


def _context_cut(events: Events) -> tuple[int, str | None]:
    """Where a seed longer than the model's context starts being read (the first bar line that keeps the
    last CONTEXT_EVENTS events), and the sentence that says so; (0, None) for a seed that fits."""
    note = None
    start = 0
    if len(events) > CONTEXT_EVENTS:
        # Condition on the last bars that fit: cut at the first bar line inside the window.
        onsets = events.onsets
        bar = bar_steps(events.time_signature)
        first = len(events) - CONTEXT_EVENTS
        t0 = onsets[first]
        line = t0 + (-(t0 - events.bar_start)) % bar
        start = int(np.searchsorted(onsets, line))
        bars = int((onsets[-1] - line) // bar) + 1
        note = (
            f"The seed is longer than the model's context ({CONTEXT_EVENTS} events); it is conditioned "
            f"on its last {bars} bars."
        )
    return start, note


def _seed_memories(events: Events, takes: int) -> list[ShortTermMemory]:
    """Each take's short-term memory, holding the seed's notes (every track's)."""
    memory = ShortTermMemory()
    for pitch, duration, track in events.ids[:, [PITCH, DURATION, TRACK]].tolist():
        if pitch != REST:
            memory.play(track, pitch, duration)
    return [copy.deepcopy(memory) for _ in range(takes)]


def remembered(
    raw: torch.Tensor, memories: list[ShortTermMemory], track: torch.Tensor, field: int = PITCH
) -> torch.Tensor:
    """(K, ids) logits of the pitch (or the duration: ``field``) → the log of each take's blend: keep ×
    softmax(raw) + the memory's mass on what followed the take's last notes on ``track`` (as
    :meth:`MusicLSTM.field_nll` scores it)."""
    probs = torch.softmax(raw.float(), dim=-1)
    for i, memory in enumerate(memories):
        keep, mass = (memory.blend if field == PITCH else memory.blend_duration)(int(track[i]))
        if mass:
            probs[i] *= keep
            probs[i, list(mass)] += torch.tensor(list(mass.values()))
    return probs.log()


def _seed_velocities(events: Events) -> list[tuple[int, int]]:
    """(track, velocity) of the seed's notes as decoding reads them (rounded to the grid of levels), in event
    order: the levels a take's velocities continue from."""
    loudness = Loudness()
    out: list[tuple[int, int]] = []
    for pitch, vid, track in events.ids[:, [PITCH, VELOCITY, TRACK]].tolist():
        if pitch != REST:
            out.append((track, loudness.decode(track, vid, events.constant_velocity)))
    return out


class _Voices:
    """Per take and per track, what the next note on a track reads: its last pitch (the pitch head's
    ``ref``), the notes it started one and two bars before (the lookback view), and the tracks' programs.

    The onsets → notes index is a ring of ``width`` grid steps per track (slot = onset mod width, with the
    onset it holds, so a stale slot reads as empty).  ``width`` is 2 bars + 1, at most :data:`LOOKBACK_WIDTH`
    (bars longer than ~42 beats then lose some lookbacks: rare, and it bounds the memory).  The state is in
    NumPy arrays, read and written a take at a time with Python ints: a handful of scalar accesses per take
    and note, where vectorised torch indexing (with its ``bool(tensor)`` checks) cost ~100 µs a note at
    batch 1 — most of the generator's per-note bookkeeping.  Tensors come in and go out.
    """

    def __init__(self, k: int, bar: int, tracks: int, programs: torch.Tensor, dynamics: bool) -> None:
        self.bar, self.tracks, self.programs, self.dynamics = bar, tracks, programs, dynamics
        self.width = min(2 * bar + 1, LOOKBACK_WIDTH)
        n = SIZES[TRACK]
        self.rows = np.arange(k)
        self._previous = np.full(k, SIZES[TRACK], dtype=np.int64)  # the track field's BOS id
        self.last = np.full((k, n), NO_PITCH, dtype=np.int64)
        self.onset = np.full((k, n, self.width), -1, dtype=np.int64)
        self.pitches = np.full((k, n, self.width, LOOKBACK_NOTES), NO_PITCH, dtype=np.int64)
        self.count = np.zeros((k, n, self.width), dtype=np.int64)
        self.duration = np.full((k, n, self.width), NO_DURATION, dtype=np.int64)
        self.made = np.zeros((k, n))  # notes each track has played since the seed (density lock)
        self.rate = np.zeros(n)  # notes per grid step each track played in the seed's last DENSITY_BARS bars

    @classmethod
    def of_seed(cls, events: Events, bar: int, k: int) -> _Voices:
        programs = torch.tensor([t.program for t in events.tracks] + [0] * (SIZES[TRACK] - len(events.tracks)))
        voices = cls(k, bar, len(events.tracks), programs, events.has_dynamics)
        if not len(events):  # a fill from the piece's start: nothing played yet, no density to keep
            return voices
        ids = torch.from_numpy(events.ids)
        onsets = torch.from_numpy(events.onsets)
        recent = onsets > onsets[-1] - voices.width  # older notes are never looked up
        for event, onset in zip(ids[recent], onsets[recent], strict=True):  # the seed, once
            voices.play(event.expand(k, -1), onset.expand(k), torch.full((k,), bool(event[PITCH] != REST)))
        for event in ids.tolist():  # each track's last pitch, over the whole seed
            if event[PITCH] != REST:
                voices.last[:, event[TRACK]] = event[PITCH]
        voices._previous[:] = int(ids[-1, TRACK])
        # Density lock's reference: the seed's last DENSITY_BARS whole bars before the continuation's first bar
        # line (fewer in a shorter seed, from the bar line before its first note).
        first, last = int(events.onsets[0]), int(events.onsets[-1])
        end = last + bar - (last - events.bar_start) % bar
        start = max(end - DENSITY_BARS * bar, first - (first - events.bar_start) % bar)
        window = (events.onsets >= start) & (events.ids[:, PITCH] != REST)
        voices.rate = np.bincount(events.ids[window, TRACK], minlength=SIZES[TRACK]) / (end - start)
        voices.made[:] = 0  # the seed's own notes are the reference, not part of the count
        return voices

    @property
    def previous(self) -> torch.Tensor:
        """(K,) the track of each take's previous event (the track head reads it; a rest keeps its track)."""
        return torch.from_numpy(self._previous)  # play() replaces the array, never writes into it

    def density_prior(self, elapsed: torch.Tensor) -> torch.Tensor:
        """(K, tracks) density lock's log-weights for the track draw, ``elapsed`` (K,) grid steps into the
        continuation (see :data:`DENSITY_STRENGTH`)."""
        expected = self.rate[None, :] * elapsed.numpy()[:, None]
        return torch.from_numpy((DENSITY_STRENGTH * np.log((expected + 1) / (self.made + 1))).astype(np.float32))

    def ref(self, track: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(self.last[self.rows, track.numpy()])

    def lookback(self, track: torch.Tensor, onset: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(K, LOOKBACK_NOTES) pitches one and two bars back on each take's track, and (K,) the duration id
        of the first of those one bar back."""
        none = np.full(LOOKBACK_NOTES, NO_PITCH)
        back1: list[np.ndarray] = []
        back2: list[np.ndarray] = []
        duration: list[int] = []
        for row, (tr, on) in enumerate(zip(track.tolist(), onset.tolist(), strict=True)):
            for bars, back in ((1, back1), (2, back2)):
                then = on - bars * self.bar
                slot = then % self.width
                there = then >= 0 and self.onset[row, tr, slot] == then
                back.append(self.pitches[row, tr, slot] if there else none)
                if bars == 1:
                    duration.append(self.duration[row, tr, slot] if there else NO_DURATION)
        return torch.from_numpy(np.array(back1)), torch.from_numpy(np.array(back2)), torch.tensor(duration)

    def play(self, event: torch.Tensor, onset: torch.Tensor, note: torch.Tensor) -> None:
        """Record (K, 5) events starting at (K,) onsets on the takes where ``note`` (a note, still going)."""
        previous = self._previous.copy()  # a new array: tensors handed out by :attr:`previous` keep theirs
        for row, (ev, on, is_note) in enumerate(zip(event.tolist(), onset.tolist(), note.tolist(), strict=True)):
            track, pitch = ev[TRACK], ev[PITCH]
            if is_note or pitch == REST:
                previous[row] = track
            if not is_note:
                continue
            self.last[row, track] = pitch
            self.made[row, track] += 1
            at = row, track, on % self.width
            if self.onset[at] != on:  # a stale slot: the ring's first note at this onset
                self.onset[at], self.pitches[at], self.count[at], self.duration[at] = on, NO_PITCH, 0, ev[DURATION]
            count = self.count[at]
            if count < LOOKBACK_NOTES:
                self.pitches[row, track, at[2], count] = pitch
                self.count[at] = count + 1
        self._previous = previous


LOOKBACK_WIDTH = 1025  # grid steps of onsets kept per track for the lookbacks (2 bars of up to ~42 beats)


def take_metrics(
    continuation: Piece,
    ids: np.ndarray,
    logprob: float,
    key: int | None,
    context_note: str | None,
    restates: Restatement | None = None,
) -> TakeMetrics:
    """A take's metrics from its new notes, their events, their log-probability (nats) under the model and
    the seed's bars they restate."""
    pitches = [n.pitch for n in continuation.notes]
    per_track = [0] * len(continuation.tracks)
    for n in continuation.notes:
        per_track[n.track] += 1
    note_events = ids[ids[:, PITCH] != REST] if len(ids) else ids
    share = in_key_share(pitches, key)
    return TakeMetrics(
        notes=len(continuation.notes),
        bars=continuation.bars,
        key=key_name(key),
        share_in_key=None if share is None else round(share, 4),
        pitch_range=(min(pitches), max(pitches)) if pitches else None,
        longest_repeat=Repeat(*longest_repeat_run(note_events)) if len(note_events) else Repeat(),
        bits_per_note=round(bits(-logprob) / max(1, len(continuation.notes)), 4),
        restates=restates,
        context=context_note or None,
        notes_per_track=tuple(per_track),
    )
