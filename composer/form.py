"""Form: how a continuation stands to the seed's last phrase — the model's own choice, a restatement, a
variation or a contrast — and how much of the seed a take restates.

**The phrase** (:func:`last_phrase`) is the seed's last 4 whole bars, ending at the bar line after the
seed's last onset (where every continuation's first whole bar begins); the last 2 bars where the seed holds
only 2 or 3 whole bars; the last bar where it holds fewer (a seed inside one bar: that bar, partly empty).
Four bars is the common phrase of the tunes and chorales composer learned from, two its half; counting whole
bars keeps a pickup out of the count.

**The forms** (``Settings.form``), each steering the generator's draw through :class:`Steer`:

* ``free`` — nothing is steered: the model's own choice, exactly the draw without forms.
* ``auto`` (the default) — each take's form is drawn from :data:`AUTO_MIX` (free, repeat, vary or echo, as
  often as real continuations restate their seed and repeat themselves, by how much the seed repeats itself;
  :func:`auto_forms`), then steered as that form is.  The takes of the steered forms are drawn in one batch:
  :class:`Steer` holds a form per take and steers each take's rows alone (a free take's are the model's own,
  untouched).
* ``repeat`` — the phrase's rhythm is forced: the phrase repeated from the continuation's first bar line to
  fill the asked length gives every new note its onset, track and duration (rest events where a gap is
  longer than one shift, as encoding writes them).  Each pitch is still drawn by the model, with
  :data:`RESTATE_BONUS` nats added to the phrase's pitch at that point: the model can bend a note to the
  harmony it hears, but mostly restates.  On the forced rhythm a new note never starts a pitch its track still
  holds, and a chord's notes go down from its top (the order encoding writes them in): so the durations stay
  the phrase's and no two notes of a chord merge.
* ``vary`` — the same forced rhythm; the pitches follow the phrase's **contour** instead of its notes.  For
  each candidate pitch, its step from the take's previous pitch on that track is compared with the phrase's
  step at that point (from the phrase's previous pitch on that track): the same direction (up, down, or the
  same note) earns :data:`CONTOUR_BONUS`, a step within :data:`NEAR_INTERVAL` semitones of the phrase's
  earns :data:`INTERVAL_BONUS` more, and the phrase's own pitch a smaller :data:`VARY_EXACT_BONUS`.  Once a
  take has moved off the phrase's pitches, the contour carries the shape at the new place.
* ``contrast`` — the rhythm is free; at each point where the phrase had a note on that track (the phrase
  taken as repeating from the continuation's first bar line), its pitch and the pitch that would repeat its
  interval from the take's previous pitch (a transposed restatement) lose :data:`CONTRAST_PENALTY` nats, so
  the take does not restate the phrase; and the generator weighs pitches by the key heard in the seed at a
  mild strength (:data:`CONTRAST_KEY_STRENGTH`, key lock's prior without its scale mask) even where key lock
  is off: a new section, in the same key and meter.
* ``echo`` — a phrase of the take's own, then that phrase restated: drawn in stages
  (:meth:`composer.generate.Composer._echoes`) — the seed's phrase length in bars free, the same length as
  repeat (the new phrase now the piece's last), the rest free.  Real music that repeats itself often does so
  without restating its seed (a B part heard twice); repeat cannot give that.

Key lock and the pitch range hold in every form: a bonus on a masked pitch stays masked.  The forced rhythm
is drawn through the same seeded generator (a draw among one allowed id), so the model's log-probability of
it counts in the take's bits per note and the same seed and settings give the same notes.

**Restatement** (:class:`SeedBars`, measured on every take in every form): the take's notes are laid bar by
bar over each window of the seed's whole bars as long as the phrase (the window repeating from the
continuation's first bar line); a note matches where a note of the window's bar has its position in the bar
and track and either its pitch or its interval from the previous pitch on the track.  The window matching the
largest share of the take's notes (the latest, on a tie) is the one the take restates — when that share is
at least :data:`RESTATED_SHARE`.
"""

from __future__ import annotations

import itertools
import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from composer.discriminate import longest_repeat, melody_line
from composer.encoding import (
    DURATION,
    MAX_SHIFT,
    PITCH,
    REST,
    SHIFT,
    STEPS_PER_BEAT,
    TRACK,
    Events,
    bar_steps,
)
from composer.features import NO_PITCH, SIZES
from composer.piece import Piece

FORMS = ("auto", "free", "repeat", "vary", "contrast", "echo")
STEERED = FORMS[1:5]  # the forms steered in one batch (echo is drawn in stages of them)
FORM_MEANINGS = {  # one line each: the studio's dropdown says what a form does
    "auto": "a form for each take, as often as real music restates its last phrase and repeats itself",
    "free": "the model's own way, nothing steered",
    "repeat": "restate the seed's last phrase (its rhythm and notes, fitted to the harmony)",
    "vary": "keep the last phrase's rhythm and contour, change its notes",
    "contrast": "start a new section in the same key and meter",
    "echo": "a new phrase of its own, then that phrase again (fitted to the harmony)",
}
PHRASE_BARS = (4, 2, 1)  # the phrase: the longest of these the seed holds in whole bars
RESTATE_BONUS = 5.0  # repeat: nats added to the phrase's pitch at that point (the model still bends some notes)
CONTOUR_BONUS = 2.0  # vary: a step the way the phrase steps (up, down, the same note)
INTERVAL_BONUS = 1.0  # vary: … and by about as much
NEAR_INTERVAL = 2  # vary: "about as much": within this many semitones of the phrase's step
VARY_EXACT_BONUS = 1.0  # vary: the phrase's own pitch, less than its contour
CONTRAST_PENALTY = 3.0  # contrast: nats taken from the pitch the phrase had at that point
CONTRAST_KEY_STRENGTH = 1.0  # contrast: the heard key's scale-degree prior, milder than key lock's default
RESTATED_SHARE = 0.5  # a take restates a window of the seed when at least this share of its notes match it
# auto: the form of each take drawn with these weights.  Left alone (free) the model restates its seed far less
# than real continuations do, and repeats itself less — the giveaways issue 16 measured — so auto restates and
# repeats as much as the real ones.  A seed that repeats itself goes on repeating: over 300 validation pieces,
# the longest phrase repeated in the first 8 bars and in the next 8 correlate at r = 0.72 (seeds repeating
# under 3 notes: the next 8 bars 1.9 notes on average; 12 or more: 10.4; a scratch count).  So the weights are
# fitted for each band of the seed's own repetition (:func:`seed_repetition`) on 400 validation seeds
# (bench/form_mix.py, its result in bench/results/form_mix.json) to the real continuations' share of the melody
# restating the seed and longest phrase repeated inside the 8 bars, as composer.discriminate measures them.
# Where the seed repeats itself most, only echo (a new phrase, then that phrase again: free 0.07 and 4.3 notes,
# echo 0.08 and 21.2 in that band) repeats as much as the real continuations (0.24 and 9.3) without restating
# the seed more than they do (repeat: 0.93 and 16.4).  (a repetition below this many notes, the weights):
REPETITION_BARS = 8  # the seed's last bars that its repetition is read in
REPETITION_NOTES = 256  # … at most its melody's last this many notes there (8 bars of sixteenths: 128)
AUTO_MIX: tuple[tuple[float, dict[str, float]], ...] = (
    (3, {"free": 0.68, "repeat": 0.0, "vary": 0.32, "echo": 0.0}),
    (6, {"free": 0.48, "repeat": 0.0, "vary": 0.52, "echo": 0.0}),
    (10, {"free": 0.46, "repeat": 0.0, "vary": 0.43, "echo": 0.11}),
    (math.inf, {"free": 0.29, "repeat": 0.01, "vary": 0.46, "echo": 0.24}),
)


def next_bar_line(events: Events) -> int:
    """The grid step of the bar line after the seed's last onset: where a continuation's first whole bar
    begins (its notes may start earlier, in the seed's last bar)."""
    bar = bar_steps(events.time_signature)
    last_onset = int(events.onsets[-1])
    return last_onset + bar - ((last_onset - events.bar_start) % bar)


def phrase_length(events: Events) -> int:
    """How many bars the seed's last phrase spans: 4, 2 or 1 (see the module's docstring)."""
    bar = bar_steps(events.time_signature)
    first = int(events.onsets[0])
    first_line = first + (-(first - events.bar_start)) % bar  # the first bar line at or after the first onset
    whole = (next_bar_line(events) - first_line) // bar
    return next((n for n in PHRASE_BARS if n <= whole), 1)


@dataclass(frozen=True)
class Phrase:
    """The seed's last phrase: its notes (rest events left out) with their onsets from its first bar line."""

    start: int  # grid step of its first bar line
    length: int  # grid steps (whole bars)
    events: np.ndarray  # (n, 5) the notes' event ids, in event order
    offsets: np.ndarray  # (n,) each note's onset from ``start``
    previous: np.ndarray  # (n,) the pitch id before each note on its track, the phrase taken as repeating


def last_phrase(events: Events) -> Phrase:
    """The seed's last phrase (:func:`phrase_length` bars before :func:`next_bar_line`)."""
    length = phrase_length(events) * bar_steps(events.time_signature)
    start = next_bar_line(events) - length
    onsets = events.onsets
    inside = (onsets >= start) & (events.ids[:, PITCH] != REST)
    notes, offsets = events.ids[inside], onsets[inside] - start
    # Each note's previous pitch on its track, cyclically: the first note on a track follows the phrase's
    # last on it, as it does when the phrase is restated (and, the first time, the seed's last note).
    last = {int(t): int(p) for p, t in notes[:, [PITCH, TRACK]].tolist()}
    previous = np.full(len(notes), NO_PITCH, dtype=np.int64)
    for i, (pitch, track) in enumerate(notes[:, [PITCH, TRACK]].tolist()):
        previous[i] = last[track]
        last[track] = pitch
    return Phrase(start=start, length=length, events=notes, offsets=offsets, previous=previous)


@dataclass(frozen=True)
class Rhythm:
    """The forced steps of repeat and vary, one row a step: the phrase repeated from the continuation's first
    bar line (a rest event where a gap is longer than one shift, on the previous note's track)."""

    shift: list[int]
    track: list[int]
    duration: list[int]
    pitch: list[int]  # the phrase's pitch id at that step (REST: a rest event)
    previous: list[int]  # the phrase's previous pitch on that track (NO_PITCH: none)

    def __len__(self) -> int:
        return len(self.shift)


def restated_rhythm(phrase: Phrase, last_onset: int, last_track: int, limit: int | None, notes: int | None) -> Rhythm:
    """The phrase's rhythm repeated after the seed's last onset: up to ``limit`` (no onset at or after it)
    or for ``notes`` notes."""
    rows: list[tuple[int, int, int, int, int]] = []
    time, track_before, made = last_onset, last_track, 0
    repeats = itertools.count(phrase.start + phrase.length, phrase.length) if len(phrase.events) else ()
    for start in repeats:
        for event, offset, previous in zip(
            phrase.events.tolist(), phrase.offsets.tolist(), phrase.previous.tolist(), strict=True
        ):
            onset = start + offset
            if (limit is not None and onset >= limit) or (notes is not None and made >= notes):
                return _rhythm(rows)
            while onset - time > MAX_SHIFT:  # a gap longer than one shift: rest events, as encoding writes them
                rows.append((MAX_SHIFT, track_before, 0, REST, NO_PITCH))
                time += MAX_SHIFT
            rows.append((onset - time, event[TRACK], event[DURATION], event[PITCH], previous))
            time, track_before, made = onset, event[TRACK], made + 1
    return _rhythm(rows)  # a phrase without notes (a seed always ends on one): nothing to restate


def _rhythm(rows: list[tuple[int, int, int, int, int]]) -> Rhythm:
    return Rhythm(*([list(column) for column in zip(*rows, strict=True)] if rows else [[] for _ in range(5)]))


def _one_hot(size: int, index: int) -> torch.Tensor:
    mask = torch.zeros(size, dtype=torch.bool)
    mask[index] = True
    return mask


class Steer:
    """What the takes' forms add to each step's draw, take by take: K takes, each with its own form (a (K,)
    form vector; built by :func:`steer`).  The forced rhythm (the same for every repeat and vary take: the
    phrase's) on the repeat and vary takes while it lasts, a bonus on their pitch logits, a penalty on the
    contrast takes'; a free take's rows are left exactly as the model and the plan give them (no forced id,
    no bonus), so takes of several forms are drawn in one batch."""

    def __init__(
        self, forms: Sequence[str], phrase: Phrase, rhythm: Rhythm | None, key: torch.Tensor | None = None
    ) -> None:
        if any(f not in STEERED for f in forms):
            raise ValueError(f"a take's form is one of {', '.join(STEERED)}; got {list(forms)}")
        self.forms = tuple(forms)
        self.phrase, self.rhythm = phrase, rhythm
        self.repeat = torch.tensor([f == "repeat" for f in forms])  # (K,)
        self.vary = torch.tensor([f == "vary" for f in forms])
        self.contrast = torch.tensor([f == "contrast" for f in forms])
        self.forced = self.repeat | self.vary  # (K,) the takes on the forced rhythm
        if bool(self.forced.any()) and rhythm is None:
            raise ValueError("repeat and vary takes need the phrase's rhythm")
        # contrast: the key heard in the seed at a mild strength (CONTRAST_KEY_STRENGTH), on the contrast takes
        self.key = key if bool(self.contrast.any()) else None
        self.held: torch.Tensor | None = None  # (K, tracks, pitches) where each take's new notes end (grid steps)
        # contrast: the phrase's (pitch, interval from the previous pitch on the track) by (track, grid step
        # within the phrase)
        self.at: dict[tuple[int, int], list[tuple[int, int | None]]] = defaultdict(list)
        for event, offset, previous in zip(
            phrase.events.tolist(), phrase.offsets.tolist(), phrase.previous.tolist(), strict=True
        ):
            interval = None if previous == NO_PITCH else event[PITCH] - previous
            self.at[(event[TRACK], offset)].append((event[PITCH], interval))

    def __len__(self) -> int:
        return len(self.forms)

    def steps(self, free_steps: int) -> torch.Tensor:
        """(K,) the steps each take may run: the forced rhythm's on a repeat or vary take (it ends with the
        rhythm), ``free_steps`` (the generator's own bound) on the others."""
        forced_steps = len(self.rhythm) if self.rhythm is not None else 0
        return torch.where(self.forced, torch.tensor(forced_steps), torch.tensor(free_steps))

    def _forced_at(self, step: int) -> torch.Tensor:
        """(K,) the takes whose step ``step`` is a row of the forced rhythm."""
        if self.rhythm is None or step >= len(self.rhythm):
            return torch.zeros(len(self.forms), dtype=torch.bool)
        return self.forced

    def play(self, event: torch.Tensor, onset: torch.Tensor, note: torch.Tensor) -> None:
        """Record (K, 5) events starting at (K,) onsets on the takes where ``note`` (a note, still going): how
        long each holds its pitch on its track (for the forced rhythm)."""
        note = note & self.forced
        if not bool(note.any()):
            return
        if self.held is None:
            self.held = torch.zeros((len(event), SIZES[TRACK], REST), dtype=torch.long)
        rows = torch.arange(len(event))[note]
        ev = event[note]
        self.held[rows, ev[:, TRACK], ev[:, PITCH]] = onset[note] + ev[:, DURATION] + 1  # duration id: steps - 1

    def only(self, field: int, step: int) -> torch.Tensor | None:
        """(K, ids) the ids each take may draw for ``field`` (shift, track, duration) at ``step``: the one id
        of the forced rhythm on a repeat or vary take, every id on the others; None where no take's rhythm is
        forced.  A rest step's duration is 0, as encoding writes rest events."""
        rows = self._forced_at(step)
        if not bool(rows.any()):
            return None
        assert self.rhythm is not None
        column = {SHIFT: self.rhythm.shift, TRACK: self.rhythm.track, DURATION: self.rhythm.duration}[field]
        return _one_hot(SIZES[field], column[step])[None, :] | ~rows[:, None]

    def pitch(
        self, step: int, allowed: torch.Tensor, onset: torch.Tensor, track: torch.Tensor, ref: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(K, pitch ids) allowed pitches and the forms' bonus on their logits, for the K takes at ``step``
        (``onset``, ``track`` and ``ref`` — the take's previous pitch on that track — each (K,)).  A free
        take's row of ``allowed`` is returned as given, its bonus 0."""
        bonus = torch.zeros(allowed.shape)
        if bool(self.contrast.any()):
            self._contrast(bonus, onset, track, ref)
        rows = self._forced_at(step)
        if not bool(rows.any()):
            return allowed, bonus
        assert self.rhythm is not None
        r = self.rhythm
        target = r.pitch[step]
        steered = allowed.clone()
        if target == REST:  # a rest step of the forced rhythm: only the rest event
            steered[:] = False
            steered[:, REST] = True
            return torch.where(rows[:, None], steered, allowed), bonus
        if self.held is not None:
            # Not a pitch the take still holds on this track: decoding would cut that note, and the forced
            # durations are the phrase's.
            everyone = torch.arange(len(track))
            _narrow(steered, self.held[everyone, track] <= onset[:, None])
        if step and r.shift[step] == 0 and r.track[step] == r.track[step - 1] and r.pitch[step - 1] != REST:
            # The next note of a chord on the track: below the one before, the order encoding writes a chord
            # in (so no two of its notes merge into one).
            _narrow(steered, torch.arange(REST)[None, :] < ref[:, None])
        # A note step: a note, not a rest event — unless no pitch may sound (a held seed note fills the range).
        steered[:, REST] = ~steered[:, :REST].any(dim=1)
        repeat, vary = self.repeat & rows, self.vary & rows
        bonus[repeat, target] += RESTATE_BONUS
        bonus[vary, target] += VARY_EXACT_BONUS
        previous = r.previous[step]
        if previous != NO_PITCH and bool(vary.any()):
            wanted = target - previous  # the phrase's step here
            steps = torch.arange(REST)[None, :] - ref[:, None]  # (K, pitches) each candidate's step
            contour = (torch.sign(steps) == int(np.sign(wanted))).float() * CONTOUR_BONUS
            near = ((steps - wanted).abs() <= NEAR_INTERVAL).float() * INTERVAL_BONUS
            has_ref = (ref != NO_PITCH)[:, None] & vary[:, None]
            bonus[:, :REST] += torch.where(has_ref, contour + near, torch.zeros(()))
        return torch.where(rows[:, None], steered, allowed), bonus

    def _contrast(self, bonus: torch.Tensor, onset: torch.Tensor, track: torch.Tensor, ref: torch.Tensor) -> None:
        """Add, on the contrast takes, the penalty on the phrase's pitch at this point and on its
        transposition, and the heard key's prior."""
        for k in torch.nonzero(self.contrast).flatten().tolist():
            t, at, before = int(track[k]), int(onset[k]), int(ref[k])
            for pid, interval in self.at.get((t, (at - self.phrase.start) % self.phrase.length), ()):
                bonus[k, pid] = -CONTRAST_PENALTY
                moved = None if interval is None or before == NO_PITCH else before + interval
                if moved is not None and 0 <= moved < REST:
                    bonus[k, moved] = -CONTRAST_PENALTY
        if self.key is not None:
            bonus += torch.where(self.contrast[:, None], self.key[None, :], torch.zeros(()))


def seed_repetition(seed: Piece) -> int:
    """How much the seed repeats itself: the notes of the longest phrase (pitches and lengths) that its melody
    plays twice, without overlap, in its last :data:`REPETITION_BARS` bars — the measure issue 16's
    discriminator reads on an excerpt (:func:`composer.discriminate.longest_repeat` on the melody line)."""
    if not seed.notes:
        return 0
    bar = seed.time_signature.bar_beats
    last = max(n.start for n in seed.notes)
    line_end = seed.bar_start + (math.floor((last - seed.bar_start) / bar + 1e-9) + 1) * bar
    window = [n for n in seed.notes if n.start >= line_end - REPETITION_BARS * bar]
    line = melody_line(window)[-REPETITION_NOTES:]  # the measure's time grows with the square of the notes
    return longest_repeat([(n.pitch, round(n.duration * STEPS_PER_BEAT)) for n in line])


def auto_mix(repetition: int) -> dict[str, float]:
    """Auto's weights for a seed that repeats a phrase of ``repetition`` notes (:func:`seed_repetition`)."""
    return next(mix for below, mix in AUTO_MIX if repetition < below)


def auto_forms(seed: int, takes: int, repetition: int = 0) -> list[str]:
    """The form of each of ``takes`` takes under auto, drawn from :func:`auto_mix` for the seed's own
    ``repetition`` with its own generator (the random seed's), so the same seed and settings give the same
    forms."""
    mix = auto_mix(repetition)
    names = list(mix)
    weights = np.array([mix[n] for n in names], dtype=np.float64)
    rng = np.random.default_rng([seed, 16])  # 16: the issue that asked for forms, apart from the notes' generator
    return [names[i] for i in rng.choice(len(names), size=takes, p=weights / weights.sum())]


def _narrow(allowed: torch.Tensor, keep: torch.Tensor) -> None:
    """Narrow (K, pitch ids) ``allowed`` to ``keep`` (K, pitches) in place, on the takes where some pitch is
    left: a forced note is never turned into silence (with register lock a track's window may hold no pitch
    below the chord's last or free of its held notes; the note then sounds, and decoding merges or cuts)."""
    narrowed = allowed[:, :REST] & keep
    some = narrowed.any(dim=1, keepdim=True)
    allowed[:, :REST] = torch.where(some, narrowed, allowed[:, :REST])


def steer(
    forms: Sequence[str], events: Events, limit: int | None, notes: int | None, key: torch.Tensor | None = None
) -> Steer | None:
    """The seed's :class:`Steer` for the takes' ``forms`` (one each: free, repeat, vary or contrast; auto is
    resolved before, take by take), None where every take is free.  ``key``: the contrast takes' key prior."""
    if all(f == "free" for f in forms):
        return None
    phrase = last_phrase(events)
    rhythm = None
    if any(f in ("repeat", "vary") for f in forms):
        rhythm = restated_rhythm(phrase, int(events.onsets[-1]), int(events.ids[-1, TRACK]), limit, notes)
    return Steer(forms, phrase, rhythm, key)


# ------------------------------------------------------------------------------------------ restatement


@dataclass(frozen=True)
class Restatement:
    """The window of the seed's bars a take restates most, and the share of its notes that match it."""

    bars: str  # the seed's bars, e.g. "5-8" (bar 1 is the first whole bar; a pickup is bar 0)
    share: float  # 4 decimals

    def to_dict(self) -> dict[str, object]:
        return {"bars": self.bars, "share": self.share}


class SeedBars:
    """The seed's notes indexed by (position in bar, track, pitch) and (position in bar, track, interval) →
    the bars they are in: what a take's notes are matched against (see the module's docstring)."""

    def __init__(self, events: Events) -> None:
        self.bar = bar = bar_steps(events.time_signature)
        self.bar_start = events.bar_start
        self.phrase_bars = phrase_length(events)
        self.last_onset = int(events.onsets[-1])
        self.first_bar = (next_bar_line(events) - self.bar_start) // bar  # the continuation's first whole bar
        first = int(events.onsets[0])
        whole = (first + (-(first - self.bar_start)) % bar - self.bar_start) // bar  # the seed's first whole bar
        self.windows = range(min(whole, self.first_bar - self.phrase_bars), self.first_bar - self.phrase_bars + 1)
        self.by_pitch: dict[tuple[int, int, int], set[int]] = defaultdict(set)
        self.by_interval: dict[tuple[int, int, int], set[int]] = defaultdict(set)
        self.last: dict[int, int] = {}  # each track's last pitch: a take's first interval on it starts there
        self._index(events.ids, events.onsets, self.last, record=True)

    def _index(
        self, ids: np.ndarray, onsets: np.ndarray, last: dict[int, int], *, record: bool
    ) -> list[tuple[int, tuple[int, int, int], tuple[int, int, int] | None]]:
        """(bar, pitch key, interval key) of each note of ``ids`` (onsets in grid steps), following ``last``
        (updated); with ``record``, the notes go into the index."""
        out = []
        for (pitch, track), onset in zip(ids[:, [PITCH, TRACK]].tolist(), onsets.tolist(), strict=True):
            if pitch == REST:
                continue
            bar, position = divmod(onset - self.bar_start, self.bar)
            by_pitch = (position, track, pitch)
            by_interval = (position, track, pitch - last[track]) if track in last else None
            last[track] = pitch
            if record:
                self.by_pitch[by_pitch].add(bar)
                if by_interval is not None:
                    self.by_interval[by_interval].add(bar)
            out.append((bar, by_pitch, by_interval))
        return out

    def restated(self, ids: np.ndarray, onsets: np.ndarray | None = None) -> Restatement | None:
        """The window of the seed a take's new events restate most, with its share of the take's notes,
        whatever the share; None for a take without notes.  ``onsets``: the events' onsets in grid steps (by
        default they continue from the seed's last onset, as a take's do).  (:meth:`restates` applies the
        threshold.)"""
        if onsets is None:
            onsets = self.last_onset + np.cumsum(ids[:, SHIFT]) if len(ids) else np.zeros(0, dtype=np.int64)
        notes = self._index(ids, onsets, dict(self.last), record=False)
        if not notes:
            return None
        low, n = self.windows.start, self.phrase_bars
        hits = np.zeros(len(self.windows), dtype=np.int64)
        for bar, by_pitch, by_interval in notes:
            phase = (bar - self.first_bar) % n  # the window's bar this take bar lies over
            bars = self.by_pitch.get(by_pitch, set())
            if by_interval is not None:
                bars = bars | self.by_interval.get(by_interval, set())
            for w in {b - phase for b in bars}:
                if w in self.windows:
                    hits[w - low] += 1
        best = len(hits) - 1 - int(np.argmax(hits[::-1]))  # the most matches; on a tie the latest window
        first = low + best + 1  # bar numbers: the seed's first whole bar is bar 1
        return Restatement(
            bars=f"{first}-{first + n - 1}" if n > 1 else str(first),
            share=round(float(hits[best]) / len(notes), 4),
        )

    def restates(self, ids: np.ndarray) -> Restatement | None:
        """The window a take restates (:meth:`restated`), or None where under :data:`RESTATED_SHARE` of its
        notes match any."""
        found = self.restated(ids)
        return found if found is not None and found.share >= RESTATED_SHARE else None
