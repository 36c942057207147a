"""Continuation: read the seed once, then one LSTM step per note, K variations as one batch.

:class:`Composer` is the API the CLI and the studio share::

    composer = Composer()                       # the shipped model
    takes = composer.continue_piece(seed, Settings(bars=8, variations=4, seed=1))
    takes[0].piece                              # the seed, unchanged, plus the continuation

The seed's events go through the model in one batched forward (``nn.LSTM``); generation then runs on
:class:`FastStepper`, a plain LSTM-cell stack over the same weights, its matrix products in int8 by default —
PyTorch's default CPU LSTM kernel is slow at batch 1 (bench/generation.py measures both, and what int8
costs in bits per note).  Every field is sampled in the model's order
(shift, duration, pitch, velocity) with temperature, top-k and top-p; key lock and pitch range mask
the pitch distribution.  Key lock keeps the key the seed's last bars are heard in (music21's analysis):
pitches outside its scale are masked, and the model's pitch distribution is multiplied by the key's
scale-degree profile (how long each degree sounds in the corpus's pieces in that mode) raised to
``Settings.key_strength`` — so a take keeps the seed's tonal centre as well as its scale.  The same
seed and settings give the same notes.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path
from time import monotonic

import numpy as np
import torch

from composer.checkpoint import load_model, resolve
from composer.dataset import song_from_events
from composer.encoding import (
    MAX_SHIFT,
    PITCH,
    PITCH_LOW,
    REST,
    STEPS_PER_BEAT,
    Events,
    bar_steps,
    decode,
    encode,
)
from composer.errors import InputError
from composer.model import MAX_BAR, MAX_POSITION, NO_KEY, SIZES, MusicLSTM
from composer.piece import Piece, key_name

SHIPPED_MODEL = Path(__file__).resolve().parent / "models" / "shipped"
MAX_VARIATIONS = 16
MAX_BARS = 64
MAX_NOTES = 2048
MAX_BEATS = 512  # a length in bars is capped in beats too: a 255/1 bar is 1,020 beats
CONTEXT_EVENTS = 512  # a longer seed is conditioned on its last bars that fit in this many events
LN2 = math.log(2)

MAJOR = (0, 2, 4, 5, 7, 9, 11)
MINOR = (0, 2, 3, 5, 7, 8, 9, 10, 11)  # natural minor with the raised 6th and 7th (melodic, harmonic)
# Share of sounding time on each scale degree (0 = tonic … 11 semitones up) in the pieces of the embedded
# corpus's training split, by their stated key: `composer.evaluate.scale_degree_profiles(midi_data)`
# (tests/test_generate.py checks these against the corpus).  Key lock's prior: the tonic, fifth and
# third weigh most, so a take stays centred where the seed is and does not drift to the relative key.
KEY_PROFILES = {
    "major": (0.2202, 0.002, 0.1486, 0.0144, 0.1589, 0.088, 0.0038, 0.2046, 0.0045, 0.0904, 0.0106, 0.054),
    "minor": (0.2092, 0.0105, 0.108, 0.1352, 0.015, 0.1281, 0.0036, 0.1755, 0.0602, 0.0159, 0.113, 0.0258),
}
KEY_STRENGTH = 2.0  # the best on the validation split (bench/key_lock.py); 0 = the scale mask alone
MAX_KEY_STRENGTH = 4.0
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
    key_strength: float = KEY_STRENGTH  # with key lock: the weight of the key's scale-degree profile
    pitch_range: tuple[int, int] | None = None  # inclusive MIDI pitches

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
        if self.top_k < 0:
            raise InputError(f"top-k must be 0 (off) or a positive number of choices; got {self.top_k}.")
        if self.pitch_range is not None:
            low, high = self.pitch_range
            if not 21 <= low <= high <= 108:
                raise InputError(f"The pitch range must lie within 21–108 (A0–C8), low ≤ high; got {low}–{high}.")
        return self


@dataclass
class Take:
    """One continuation: the whole piece (seed unchanged + new notes), the new part, and its metrics."""

    piece: Piece
    continuation: Piece
    metrics: dict[str, object] = field(default_factory=dict)


# ---------------------------------------------------------------------------------------- the fast step


class FastStepper:
    """One LSTM step for a batch, as plain matrix products on the model's own weights.

    Equal to ``nn.LSTM`` (tests check it) but several times faster at batch 1 on CPU, where the default
    oneDNN path pays a large fixed cost per call.  Few operations a step: the input and hidden weights are
    stacked into one matrix, and the gates reordered (input, forget, output | cell) so that one sigmoid
    covers three of them.  The state is kept per layer, as ``[(h, c), …]``.

    ``int8=True`` stores that matrix as int8 (one scale per gate row) and multiplies with FBGEMM's dynamic
    int8 kernel, which quantizes the step's input on the fly: the product — most of a step's time — takes
    about 40 % of the fp32 time.  Its cost in bits per note is measured on the test split by
    ``bench/generation.py`` (:func:`composer.evaluate.stepper_bits`); generation uses it by default.
    """

    def __init__(self, model: MusicLSTM, *, int8: bool = False) -> None:
        self.hidden = h = model.config.hidden
        self.int8 = int8 and "fbgemm" in torch.backends.quantized.supported_engines
        order = torch.cat([torch.arange(0, 2 * h), torch.arange(3 * h, 4 * h), torch.arange(2 * h, 3 * h)])
        self.layers: list[tuple[torch.Tensor, torch.Tensor]] = []
        self.packed: list[object] = []
        for layer in model.lstm:
            w = torch.cat([layer.weight_ih_l0, layer.weight_hh_l0], dim=1).detach().float()[order]  # (4H, 2H)
            b = (layer.bias_ih_l0 + layer.bias_hh_l0).detach().float()[order]
            self.layers.append((w.t().contiguous(), b))  # (2H, 4H), (4H,)
            if self.int8:
                self.packed.append(_int8_pack(w, b))
        if self.int8 and any(p is None for p in self.packed):  # a PyTorch without the quantized ops: stay in fp32
            self.int8, self.packed = False, []

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


def key_prior(key: int | None, strength: float) -> torch.Tensor:
    """(pitch ids,) log-weights added to the pitch logits under key lock: ``strength`` × log of the key's
    scale-degree profile (0 for the rest event and without a key)."""
    prior = torch.zeros(SIZES[PITCH])
    if key is None or key == NO_KEY or strength == 0:
        return prior
    profile = torch.tensor(KEY_PROFILES["minor" if key >= 12 else "major"], dtype=torch.float64)
    logs = strength * torch.log(profile / profile.sum())
    degrees = (torch.arange(REST) + PITCH_LOW - key % 12) % 12
    prior[:REST] = logs[degrees].float()
    return prior


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
        return events, start, note

    @torch.no_grad()
    def _prime(
        self, events: Events, start: int, k: int, key: int
    ) -> tuple[torch.Tensor, list[tuple[torch.Tensor, torch.Tensor]]]:
        """Run the seed (from event ``start``) through the model once; state repeated for k variations.

        The inputs are built exactly as for a training window (:meth:`Song.model_inputs`), up to the
        one that precedes the first new event.
        """
        song = song_from_events(events)
        inputs, in_pos, prev = (torch.from_numpy(a) for a in song.model_inputs(start, len(song) + 1))
        t = inputs.shape[0]
        out, state = self.model(
            inputs[None],
            in_pos[None],
            torch.full((1, t), min(song.bar, MAX_BAR - 1)),
            torch.full((1, t), key),
            prev[None],
        )
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
        settings.validate()
        events, start, context_note = self._seed_events(seed)
        k = settings.variations
        key = seed.key if seed.key is not None else key
        # A handful of notes says little about a key: there the file's stated key, where it has one, is kept.
        lock_key = seed.key if len(seed.notes) < MIN_HEARD_NOTES and seed.key is not None else heard_key(seed)
        if settings.key_lock and lock_key is not None:
            key = lock_key  # the model is told the key it is to keep
        key_id = NO_KEY if key is None else key
        bar = bar_steps(events.time_signature)
        if settings.bars and settings.bars * bar > MAX_BEATS * STEPS_PER_BEAT:
            beats = settings.bars * bar / STEPS_PER_BEAT
            raise InputError(
                f"{settings.bars} bar(s) of {seed.time_signature} is {beats:g} beats, above the "
                f"{MAX_BEATS} beats composer continues at a time; ask for fewer bars."
            )
        generator = torch.Generator().manual_seed(settings.seed)
        h, state = self._prime(events, start, k, key_id)

        onsets = events.onsets
        last_onset = int(onsets[-1])
        # Continue to the bar line after the seed's last onset, then N whole bars.
        first_line = last_onset + bar - ((last_onset - events.bar_start) % bar)
        limit = first_line + (settings.bars or 0) * bar if settings.bars else None
        # Rest events take steps too: leave room for them (the loop stops at the asked notes or bars).
        max_steps = 2 * settings.notes if settings.notes else (settings.bars or 1) * bar
        pitch_ok = torch.ones(SIZES[PITCH], dtype=torch.bool)
        prior: torch.Tensor | None = None  # key lock's scale-degree weights, added to the pitch logits
        if settings.key_lock and lock_key is not None:
            pitch_ok &= scale_mask(lock_key)
            prior = key_prior(lock_key, settings.key_strength)
        if settings.pitch_range:
            low, high = settings.pitch_range
            ids = torch.arange(SIZES[PITCH])
            pitch_ok &= ((ids + PITCH_LOW) >= low) & ((ids + PITCH_LOW) <= high) | (ids == REST)
            if not pitch_ok[:REST].any():
                raise InputError(
                    f"No pitch in {low}–{high} belongs to {key_name(lock_key)}, the key key lock "
                    "keeps; widen the pitch range or turn key lock off."
                )

        # A new note may not start a pitch that a seed note is still holding: the seed stays exactly as given.
        seed_end = torch.zeros(SIZES[PITCH], dtype=torch.float64)
        for n in seed.notes:
            if PITCH_LOW <= n.pitch < PITCH_LOW + REST:
                pid = n.pitch - PITCH_LOW
                seed_end[pid] = max(float(seed_end[pid]), n.end * STEPS_PER_BEAT - 1e-6)
        time = torch.full((k,), last_onset, dtype=torch.long)
        done = torch.zeros(k, dtype=torch.bool)
        steps: list[torch.Tensor] = []  # (k, 4) sampled events, one tensor a step
        active: list[torch.Tensor] = []  # (k,) which takes were still going at that step
        bar_t = torch.full((k, 1), min(bar, MAX_BAR - 1))
        logprob = torch.zeros(k, dtype=torch.float64)
        notes_made = torch.zeros(k, dtype=torch.long)
        key_t = torch.full((k,), key_id, dtype=torch.long)
        ref = torch.full((k,), int(events.ids[-1, PITCH]), dtype=torch.long)  # the last input event's pitch
        m = self.model
        for _ in range(max_steps):
            if deadline is not None and monotonic() > deadline:
                raise InputError("Generating took longer than this server allows; ask for fewer bars or takes.")
            zs, zd, zp, zv = m.head_inputs(h)
            raw = m.shift_logits(zs)
            shift = self._sample(raw, settings, generator)
            if limit is not None:
                done |= (time + shift) >= limit
            if bool(done.all()):
                break
            logprob += torch.log_softmax(raw.double(), -1).gather(1, shift[:, None]).squeeze(1) * ~done
            pos = ((time + shift - events.bar_start) % bar).clamp(max=MAX_POSITION - 1)
            raw = m.duration_logits(zd, shift, pos)
            dur = self._sample(raw, settings, generator)
            logprob += torch.log_softmax(raw.double(), -1).gather(1, dur[:, None]).squeeze(1) * ~done
            raw = m.pitch_logits(zp, shift, pos, dur, key_t, ref)
            allowed = pitch_ok.expand(k, -1) & (seed_end[None, :] <= (time + shift)[:, None].double())
            # A rest event only where the shift is the longest — or where nothing else may sound (a narrow
            # pitch range whose pitches a seed note still holds): the take then lets the time pass.
            allowed[:, REST] = (shift == MAX_SHIFT) | ~allowed[:, :REST].any(dim=1)
            logits = raw.masked_fill(~allowed, -math.inf)
            pitch = self._sample(logits if prior is None else logits + prior, settings, generator)
            logprob += torch.log_softmax(raw.double(), -1).gather(1, pitch[:, None]).squeeze(1) * ~done
            raw = m.velocity_logits(zv, shift, pos, dur, pitch)
            vel = self._sample(raw, settings, generator)
            logprob += torch.log_softmax(raw.double(), -1).gather(1, vel[:, None]).squeeze(1) * ~done
            is_rest = pitch == REST
            dur = torch.where(is_rest, torch.zeros_like(dur), dur)
            vel = torch.where(is_rest, torch.zeros_like(vel), vel)
            event = torch.stack([shift, pitch, dur, vel], dim=1)
            steps.append(event)
            active.append(~done)
            notes_made += (~done & ~is_rest).long()
            time = time + shift * ~done
            if settings.notes is not None:
                done |= notes_made >= settings.notes
                if bool(done.all()):
                    break
            x = m.embed_inputs(event[:, None], pos[:, None], bar_t, key_t[:, None], ref[:, None])[:, 0]
            ref = pitch
            h, state = self.stepper.step(x, state)
        sampled = torch.stack(steps, 1).numpy() if steps else np.zeros((k, 0, 4), dtype=np.int64)  # (k, S, 4)
        kept = torch.stack(active, 1).numpy() if active else np.zeros((k, 0), dtype=bool)
        return [
            self._take(seed, events, sampled[i][kept[i]], float(logprob[i]), lock_key, context_note) for i in range(k)
        ]

    @staticmethod
    def _sample(logits: torch.Tensor, settings: Settings, generator: torch.Generator) -> torch.Tensor:
        filtered = _filter(logits.float(), settings.temperature, settings.top_k, settings.top_p)
        probs = torch.softmax(filtered, dim=-1)
        return torch.multinomial(probs, 1, generator=generator).squeeze(1)

    def _take(
        self, seed: Piece, events: Events, ids: np.ndarray, logprob: float, key: int | None, context_note: str | None
    ) -> Take:
        last_onset = int(events.onsets[-1])
        program = seed.notes[-1].program if seed.notes else 0
        # Decode the new events as a piece of their own that starts at the seed's last onset.
        lead = Events(
            ids=ids,
            programs=np.full(len(ids), program),
            tempo=seed.tempo,
            time_signature=seed.time_signature,
            bar_start=events.bar_start,
            key=seed.key,
        )
        new = decode(lead)
        offset = last_onset / STEPS_PER_BEAT
        new_notes = tuple(replace(n, start=n.start + offset) for n in new.notes)
        # The seed exactly as given (sampling never starts a pitch a seed note still holds), then the new notes.
        whole = Piece(
            notes=tuple(sorted([*seed.notes, *new_notes], key=lambda n: (n.start, -n.pitch))),
            tempo=seed.tempo,
            time_signature=seed.time_signature,
            bar_start=seed.bar_start,
            key=seed.key,
            tracks=seed.tracks,
            remarks=seed.remarks,
        )
        continuation = Piece(
            notes=new_notes,
            tempo=seed.tempo,
            time_signature=seed.time_signature,
            bar_start=seed.bar_start,
            key=seed.key,
        )
        pitches = [n.pitch for n in new_notes]
        note_events = ids[ids[:, PITCH] != REST] if len(ids) else ids
        length, repeats = longest_repeat_run(note_events) if len(note_events) else (0, 1)
        share = in_key_share(pitches, key)
        metrics: dict[str, object] = {
            "notes": len(new_notes),
            "bars": continuation.bars,
            "key": key_name(key),  # the key heard in the seed's last bars: the one key lock keeps
            "share_in_key": None if share is None else round(share, 4),
            "pitch_range": [min(pitches), max(pitches)] if pitches else None,
            "longest_repeat": {"phrase_notes": length, "times_in_a_row": repeats},
            "bits_per_note": round(-logprob / LN2 / max(1, len(new_notes)), 4),
        }
        if context_note:
            metrics["context"] = context_note
        return Take(piece=whole, continuation=continuation, metrics=metrics)
