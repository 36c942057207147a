"""The LSTM that continues music, and its heads that predict a note field by field.

One LSTM step per note.  The input at step t is the previous event (its five fields), its track's GM
program, the metrical position of its onset, the bar length, the stated key, the interval from the previous
pitch on its track and its scale degree (:mod:`composer.features`); the LSTM's output ``h_t`` then predicts
the next note's fields one after another, each head seeing the fields already chosen:

    shift    ~ p(shift | h)
    track    ~ p(track | h, shift, position, previous event's track)   position = where the new onset falls
    duration ~ p(duration | h, shift, position, track, duration of the track's note one bar back)
    pitch    ~ p(pitch | h, shift, position, duration, key, track, the track's program; ref, lookbacks)
    velocity ~ p(velocity | h, shift, position, duration, pitch, track)

The pitch head sums four views of one choice: the absolute pitch, the interval from ``ref`` (the last pitch on
the chosen track), the scale degree, and the lookback view — two learned scalars added to the logits of the
pitches the chosen track started exactly one and two bars earlier (Magenta's Lookback RNN).

so a note's log-probability is exact and splits into per-field bits, and the pitch head is exactly the
melody-prediction literature's p(pitch | earlier notes, this note's onset and duration, key).

With a context encoder (issue 12: infill and accompany, :mod:`composer.context`) the heads also read the
encoder's outputs at the context notes aligned with the step by grid time, and the context's views (the next
context note on the chosen track, the pitch classes sounding, the track's notes bars ahead); the LSTM itself
reads no context, so plain continuation runs — and scores — exactly as the model without it.

``forward(x, state) -> (out, state)`` serves training (whole sequences, ``nn.LSTM``) and generation
(one step at a time, state carried) alike.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from composer.context import (
    AHEAD_BARS,
    AHEAD_DURATION_BARS,
    CHROMA_VIEWS,
    COPY_ORDERS,
    DURATION_VIEWS,
    FAR_BARS,
    MATCH_WINDOW,
    MODES,
    N_DISTANCES,
    RECUR_BARS,
    SHIFT_BARS,
)
from composer.encoding import DURATION, FIELDS, PITCH, PITCH_LOW, SHIFT, TRACK, VELOCITY
from composer.features import MAX_BAR, MAX_POSITION, N_KEYS, N_PROGRAMS, NO_KEY, NO_PITCH, SIZES

# Which recurrence count (AHEAD_BARS) trusts each bars-ahead view of the shift head and of the duration head
SHIFT_AHEAD = [AHEAD_BARS.index(b) for b in SHIFT_BARS if b]
DURATION_AHEAD = [AHEAD_BARS.index(b) for b in AHEAD_DURATION_BARS]

__all__ = [  # the model's input vocabulary lives in composer.features; re-exported for its readers
    "LN2",
    "MAX_BAR",
    "MAX_POSITION",
    "NO_KEY",
    "NO_PITCH",
    "N_KEYS",
    "SIZES",
    "Batch",
    "ContextBatch",
    "ContextMemory",
    "ModelConfig",
    "MusicLSTM",
    "bits",
    "parameter_count",
]

LN2 = math.log(2)
N_FIELDS = len(FIELDS)
N_PITCHES = SIZES[PITCH] - 1  # real pitches; the last pitch id is the rest event
MAX_INTERVAL = 24  # input intervals are clipped to two octaves
N_INTERVALS = 2 * MAX_INTERVAL + 2  # -24..24, and "none"
N_DEGREES = 13  # pitch class relative to the key's tonic, and "no key / no pitch"


@dataclass(frozen=True)
class ModelConfig:
    """Everything needed to rebuild the network; stored as JSON beside the weights."""

    hidden: int = 384  # LSTM width
    layers: int = 2  # stacked LSTM layers
    head_hidden: int = 192  # width of each head's hidden layer
    dropout: float = 0.2
    context: int = 0  # the context encoder's width per direction (composer.context); 0: none, continuation only
    far: bool = False  # in an infill the heads also read the track 12-32 bars on, and recurring notes' velocities
    copy: bool = False  # … and what follows the track's last notes wherever they recur after the gap (CopyIndex)

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> ModelConfig:
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown model settings {sorted(unknown)}")
        return cls(**data)  # type: ignore[arg-type]

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass
class Batch:
    """A batch of event sequences, all tensors (B, T) int64 unless noted.

    ``inputs`` (B, T, 5) are the previous events (BOS at t=0), ``targets`` (B, T, 5) the events to
    predict; ``in_pos`` is the metrical position of each input event's onset, ``tgt_pos`` that of each
    target's onset; ``bar`` the bar length in steps; ``key`` the key id; ``mask`` (B, T) bool marks real
    targets; ``prev_pitch`` the previous pitch on the input event's track (``NO_PITCH`` when there is
    none), from which the input's melodic interval is read; ``in_program`` the input event's track's GM
    program, ``tgt_program`` the target's; ``ref`` the last pitch on the target's track; ``lookback1`` /
    ``lookback2`` (B, T, LOOKBACK_NOTES) the pitches on the target's track one / two bars before its onset,
    ``lookback_duration`` the duration id one bar back; ``velocity_mask`` (B, T) bool: the song has dynamics
    (velocity is learned only there); ``tracks`` the size of the song's track table.
    """

    inputs: torch.Tensor
    targets: torch.Tensor
    in_pos: torch.Tensor
    tgt_pos: torch.Tensor
    bar: torch.Tensor
    key: torch.Tensor
    mask: torch.Tensor
    prev_pitch: torch.Tensor
    in_program: torch.Tensor
    tgt_program: torch.Tensor
    ref: torch.Tensor
    lookback1: torch.Tensor
    lookback2: torch.Tensor
    lookback_duration: torch.Tensor
    velocity_mask: torch.Tensor
    tracks: torch.Tensor  # (B, T) how many tracks the song's table has: the track ids a note may take
    # The short-term memory (composer.memory), where the batch is scored with it: (B, T, 2) float, for the pitch
    # and the duration, the share of the distribution left to the model and the memory's mass on the target's own.
    memory_keep: torch.Tensor | None = None
    memory_hit: torch.Tensor | None = None

    def to(self, device: torch.device | str) -> Batch:
        moved: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            moved[f.name] = None if value is None else value.to(device, non_blocking=True)
        return Batch(**moved)


@dataclass
class ContextBatch:
    """The context of each sequence of a :class:`Batch` (:mod:`composer.context`), as tensors.

    ``ids`` (B, S, 5) the context notes, ``positions`` / ``programs`` (B, S) their metrical positions and
    programs, ``lengths`` (B,) how many each sequence has (0: none — plain continuation), ``modes`` (B,);
    per decoder step (B, T): ``index`` — the first context note at or after the step's current time (what
    the shift head reads) — and ``distance`` — the bucket of how far ahead it is; ``target_index`` /
    ``target_distance`` the same at the target's own onset (what the other heads read); the target's views
    (:class:`composer.context.Views`): ``next_pitch``, ``next_distance`` (B, T), ``chroma`` (B, T, 3, 12),
    ``ahead`` (B, T, 4, pitches), ``durations`` (B, T, 3, durations), ``far`` (B, T, 4, pitches),
    ``far_durations`` (B, T, 4, durations), ``velocities`` (B, T, 8, velocities): the velocity ids of the context
    notes that recur with the target (:func:`composer.context.echo_velocities`); ``shifts`` (B, T, 5, shifts): whether a
    context note starts at the step's current time plus each shift (plus 0, 1, 2, 4, 8 bars); ``matches`` (B, T,
    8): how many of the last two events before the step recur in the context 1, 2, 4, 8, 12, 16, 24 and 32 bars
    later (:func:`composer.context.match_counts`); ``given`` (B, T) bool: targets that are given (accompany's kept
    tracks), read but neither predicted nor scored; ``copy_pitch`` (B, T, 6, pitches) and ``copy_duration`` (B, T,
    6, durations) uint8: how often each pitch and duration follows the target's track's last 1, 2, 3, 4, 6 and 8
    pitches in the context (:class:`composer.context.CopyIndex`; an infill's).
    """

    ids: torch.Tensor
    positions: torch.Tensor
    programs: torch.Tensor
    lengths: torch.Tensor
    modes: torch.Tensor
    index: torch.Tensor
    distance: torch.Tensor
    target_index: torch.Tensor
    target_distance: torch.Tensor
    next_pitch: torch.Tensor
    next_distance: torch.Tensor
    chroma: torch.Tensor
    ahead: torch.Tensor
    durations: torch.Tensor
    shifts: torch.Tensor
    matches: torch.Tensor
    given: torch.Tensor
    far: torch.Tensor
    far_durations: torch.Tensor
    velocities: torch.Tensor
    copy_pitch: torch.Tensor
    copy_duration: torch.Tensor

    def to(self, device: torch.device | str) -> ContextBatch:
        return ContextBatch(*(getattr(self, f.name).to(device, non_blocking=True) for f in fields(self)))


@dataclass
class ContextMemory:
    """What the heads read from an encoded context: for each sequence, the encoder's output at each context
    note projected into the five heads' inputs (``following`` (B, S+1, 5·HH): row j for "the next note is j",
    the last row zero — none left; ``preceding`` (B, S+1, 5·HH): row j for "the last one before is j-1", row 0
    zero) and the mode's embedding (B, 5·HH); ``has`` (B,) whether there is any context."""

    following: torch.Tensor
    preceding: torch.Tensor
    mode: torch.Tensor
    has: torch.Tensor


@dataclass
class HeadViews:
    """The context's views of the notes being predicted, as the pitch and duration heads read them (float
    masks; all zero where there is no context): ``next_pitch`` (…,) id, ``chroma`` (…, 3, 12), ``ahead`` (…, 4,
    pitches), ``durations`` (…, 3, durations); ``matches`` (…, 8) the step's recurrence counts (ints, at
    RECUR_BARS); ``far`` (…, 4, pitches) and ``far_durations`` (…, 4, durations): the track FAR_BARS ahead;
    ``copy_pitch`` (…, 6, pitches) and ``copy_duration`` (…, 6, durations): the copy views, as :func:`copy_strength`
    reads their counts (None: not read)."""

    next_pitch: torch.Tensor
    chroma: torch.Tensor
    ahead: torch.Tensor
    durations: torch.Tensor
    matches: torch.Tensor
    far: torch.Tensor
    far_durations: torch.Tensor
    copy_pitch: torch.Tensor | None = None
    copy_duration: torch.Tensor | None = None


def copy_strength(counts: torch.Tensor) -> torch.Tensor:
    """A copy view's counts (:class:`composer.context.CopyIndex`) as the heads read them: log(1 + count)."""
    return torch.log1p(counts.float())


def _offsets(sizes: tuple[int, ...]) -> torch.Tensor:
    """Where each input's ids start in a bag that concatenates their tables."""
    return torch.tensor([0, *itertools.accumulate(sizes[:-1])], dtype=torch.long)


class LockedDropout(nn.Module):
    """Dropout with one mask per sequence, shared across time steps (variational dropout for RNNs).

    Cheaper than per-step masks (one draw per sequence and unit) and the usual regularizer for LSTMs.
    """

    def __init__(self, p: float) -> None:
        super().__init__()
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, T, H)
        if not self.training or self.p == 0:
            return x
        mask = x.new_empty(x.shape[0], 1, x.shape[2]).bernoulli_(1 - self.p) / (1 - self.p)
        return x * mask


class MusicLSTM(nn.Module):
    """Embeddings → stacked LSTM → five heads (shift → track → duration → pitch → velocity).

    Every "concatenate these inputs and apply a linear layer" is written as the equivalent sum of
    per-input embeddings (a linear layer over one-hot inputs is an embedding lookup), computed with one
    ``EmbeddingBag`` per sum, so the inputs and the heads' conditioning cost lookups rather than matrix
    products: training runs near the bare LSTM's speed (bench/train_throughput.py).
    """

    # Index buffers (registered in __init__, not saved): typed here, as nn.Module's attribute lookup is not.
    in_offsets: torch.Tensor
    track_offsets: torch.Tensor
    dur_offsets: torch.Tensor
    pitch_offsets: torch.Tensor
    vel_offsets: torch.Tensor
    pitch_ids: torch.Tensor
    ctx_offsets: torch.Tensor

    # The input bag's tables, in order (warm start reads them by name: composer.checkpoint).
    IN_TABLES = (
        "shift",
        "pitch",
        "duration",
        "velocity",
        "track",
        "position",
        "bar",
        "key",
        "interval",
        "degree",
        "program",
    )
    IN_SIZES = (*(size + 1 for size in SIZES), MAX_POSITION, MAX_BAR, N_KEYS, N_INTERVALS, N_DEGREES, N_PROGRAMS)
    # Heads' conditioning tables: shift, position, then what each head adds.  The old (4-field) model's tables
    # are a prefix of the duration and pitch ones, so a warm start copies them and zeroes the new rows.
    TRACK_SIZES = (SIZES[SHIFT], MAX_POSITION, SIZES[TRACK] + 1)  # + previous event's track (BOS = none)
    DUR_SIZES = (SIZES[SHIFT], MAX_POSITION, SIZES[TRACK], SIZES[DURATION] + 1)  # + track, duration 1 bar back
    PITCH_SIZES = (SIZES[SHIFT], MAX_POSITION, SIZES[DURATION], N_KEYS, SIZES[TRACK], N_PROGRAMS)
    VEL_SIZES = (SIZES[SHIFT], MAX_POSITION, SIZES[DURATION], SIZES[PITCH], SIZES[TRACK])
    HEADS = ("shift", "track", "duration", "pitch", "velocity")  # the order of head_in's chunks

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        h, hh = config.hidden, config.head_hidden
        self.register_buffer("in_offsets", _offsets(self.IN_SIZES), persistent=False)
        self.in_embed = nn.EmbeddingBag(sum(self.IN_SIZES), h, mode="sum")
        self.drop = LockedDropout(config.dropout)
        # One single-layer LSTM per level, so that locked dropout can sit between them.
        self.lstm = nn.ModuleList(nn.LSTM(h, h, batch_first=True) for _ in range(config.layers))
        # Heads: one projection of h for all five, then per-head conditioning on the fields already chosen.
        self.head_in = nn.Linear(h, len(self.HEADS) * hh)
        for name, sizes in (
            ("track", self.TRACK_SIZES),
            ("dur", self.DUR_SIZES),
            ("pitch", self.PITCH_SIZES),
            ("vel", self.VEL_SIZES),
        ):
            self.register_buffer(f"{name}_offsets", _offsets(sizes), persistent=False)
        self.track_cond = nn.EmbeddingBag(sum(self.TRACK_SIZES), hh, mode="sum")
        self.dur_cond = nn.EmbeddingBag(sum(self.DUR_SIZES), hh, mode="sum")
        self.pitch_cond = nn.EmbeddingBag(sum(self.PITCH_SIZES), hh, mode="sum")
        self.vel_cond = nn.EmbeddingBag(sum(self.VEL_SIZES), hh, mode="sum")
        self.out_shift = nn.Linear(hh, SIZES[SHIFT])
        self.out_track = nn.Linear(hh, SIZES[TRACK])
        # Pitch logits are a sum of views of the same choice, as in multiple-viewpoint models: the absolute
        # pitch (register), the interval from the chosen track's last pitch (melody, transposition-free), the
        # pitch class relative to the key's tonic (tonality) and the lookback (form: what this track played
        # one and two bars ago).
        self.out_pitch = nn.Linear(hh, SIZES[PITCH])
        self.out_interval = nn.Linear(hh, 2 * N_PITCHES - 1)
        self.out_degree = nn.Linear(hh, 12)
        self.out_lookback = nn.Linear(hh, 2)
        self.register_buffer("pitch_ids", torch.arange(N_PITCHES), persistent=False)
        self.out_dur = nn.Linear(hh, SIZES[DURATION])
        self.out_vel = nn.Linear(hh, SIZES[VELOCITY])
        if config.context:
            self._build_context_encoder(config.context)

    CONTEXT_SIZES = (*SIZES, MAX_POSITION, N_PROGRAMS, len(MODES))  # a context note's tables: fields, place, mode

    def _build_context_encoder(self, width: int) -> None:
        """The bidirectional LSTM over the context notes, what feeds its outputs into the heads, and the heads'
        views of the context.  Everything the heads gain starts at zero: a model warm-started from a plain one
        starts as it, and a plain continuation never reads any of it."""
        hh = self.config.head_hidden
        heads = len(self.HEADS) * hh
        self.register_buffer("ctx_offsets", _offsets(self.CONTEXT_SIZES), persistent=False)
        self.ctx_embed = nn.EmbeddingBag(sum(self.CONTEXT_SIZES), width, mode="sum")
        self.ctx_lstm = nn.LSTM(width, width, batch_first=True, bidirectional=True)
        self.ctx_following = nn.Linear(2 * width, heads, bias=False)
        self.ctx_preceding = nn.Linear(2 * width, heads, bias=False)
        self.ctx_distance = nn.Embedding(N_DISTANCES, heads)
        self.ctx_mode = nn.Embedding(len(MODES), heads)
        # how far the next context note on the chosen track is: read by the duration, pitch and velocity heads
        self.ctx_track_distance = nn.Embedding(N_DISTANCES, 3 * hh)
        self.ctx_next_interval = nn.Linear(hh, 2 * N_PITCHES - 1)  # pitch: interval to that next note
        self.ctx_chroma = nn.Linear(hh, CHROMA_VIEWS * 12)  # pitch: a kernel over the sounding pitch classes
        self.ctx_ahead = nn.Linear(hh, len(AHEAD_BARS))  # pitch: the track's pitches bars ahead
        self.ctx_duration = nn.Linear(hh, DURATION_VIEWS)  # duration: bars ahead, up to the next note
        self.ctx_shift = nn.Linear(hh, len(SHIFT_BARS))  # shift: onsets of the context, now and bars ahead
        # How much to trust each view of the bars ahead, by how many of the last events recurred there: one
        # weight per view and count, added to the views' weights (pitch, duration and shift heads).
        self.ctx_match = nn.Embedding(len(AHEAD_BARS) * (MATCH_WINDOW + 1), 3)
        added: tuple[nn.Module, ...] = ()
        if self.config.far:
            # the far views (FAR_BARS): a weight for each in the pitch head and in the duration head, and what
            # each recurrence count adds to them
            self.ctx_far = nn.Linear(hh, len(FAR_BARS))
            self.ctx_far_duration = nn.Linear(hh, len(FAR_BARS))
            self.ctx_far_match = nn.Embedding(len(FAR_BARS) * (MATCH_WINDOW + 1), 2)
            # the velocity head: the velocities of the notes that recur with the new note's pitch (RECUR_BARS)
            self.ctx_far_velocity = nn.Linear(hh, len(RECUR_BARS))
            self.ctx_far_velocity_match = nn.Embedding(len(RECUR_BARS) * (MATCH_WINDOW + 1), 1)
            added = (
                self.ctx_far,
                self.ctx_far_duration,
                self.ctx_far_match,
                self.ctx_far_velocity,
                self.ctx_far_velocity_match,
            )
        if self.config.copy:
            # the copy views (COPY_ORDERS): a weight for each order in the pitch head and in the duration head
            self.ctx_copy = nn.Linear(hh, len(COPY_ORDERS))
            self.ctx_copy_duration = nn.Linear(hh, len(COPY_ORDERS))
            added = (*added, self.ctx_copy, self.ctx_copy_duration)
        for module in (
            self.ctx_following,
            self.ctx_preceding,
            self.ctx_distance,
            self.ctx_mode,
            self.ctx_track_distance,
            self.ctx_next_interval,
            self.ctx_chroma,
            self.ctx_ahead,
            self.ctx_duration,
            self.ctx_shift,
            self.ctx_match,
            *added,
        ):
            for parameter in module.parameters():
                nn.init.zeros_(parameter)

    @staticmethod
    def _bag(bag: nn.EmbeddingBag, offsets: torch.Tensor, ids: list[torch.Tensor]) -> torch.Tensor:
        """Sum of one embedding per id tensor (all (…,)), looked up in one bag: → (…, D)."""
        stacked = torch.stack(ids, dim=-1) + offsets  # (…, K)
        flat = stacked.reshape(-1, stacked.shape[-1])
        # The functional form of ``bag(flat)`` (same kernel and defaults): generation calls this a few times
        # a note at batch 1, where nn.Module's call machinery is a visible share of the time.
        return F.embedding_bag(flat, bag.weight, mode="sum").reshape(*stacked.shape[:-1], -1)

    # -------------------------------------------------------------------------------------- trunk
    def embed_inputs(
        self,
        inputs: torch.Tensor,
        in_pos: torch.Tensor,
        bar: torch.Tensor,
        key: torch.Tensor,
        prev_pitch: torch.Tensor,
        program: torch.Tensor,
    ) -> torch.Tensor:
        """(B, T, 5), then (B, T) each: position, bar, key, previous pitch on the track, program → (B, T, H)"""
        pitch = inputs[..., PITCH]
        real = pitch < N_PITCHES
        interval = torch.where(
            real & (prev_pitch < N_PITCHES),
            (pitch - prev_pitch).clamp(-MAX_INTERVAL, MAX_INTERVAL) + MAX_INTERVAL,
            N_INTERVALS - 1,
        )
        degree = torch.where(real & (key != NO_KEY), (pitch + PITCH_LOW - key) % 12, N_DEGREES - 1)
        ids = [inputs[..., i] for i in range(N_FIELDS)]
        ids += [in_pos.clamp(max=MAX_POSITION - 1), bar.clamp(max=MAX_BAR - 1), key, interval, degree, program]
        x = self._bag(self.in_embed, self.in_offsets, ids)
        return self.drop(x) if self.training else x  # (dropout is the identity in eval: not even called)

    def forward(
        self,
        inputs: torch.Tensor,
        in_pos: torch.Tensor,
        bar: torch.Tensor,
        key: torch.Tensor,
        prev_pitch: torch.Tensor,
        program: torch.Tensor,
        state: tuple[torch.Tensor, torch.Tensor] | None = None,
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        """Run the LSTM over (B, T) steps; returns hidden outputs (B, T, H) and the new state.

        ``state`` is (h, c), each (layers, B, H), as nn.LSTM keeps it.
        """
        x = self.embed_inputs(inputs, in_pos, bar, key, prev_pitch, program)
        return self.run_lstm(x, state)

    def run_lstm(
        self, x: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor] | None = None
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        """The stacked LSTM over embedded inputs (B, T, H)."""
        hs, cs = [], []
        for i, layer in enumerate(self.lstm):
            layer_state = None if state is None else (state[0][i : i + 1], state[1][i : i + 1])
            x, (h, c) = layer(x, layer_state)
            hs.append(h)
            cs.append(c)
            x = self.drop(x)
        return x, (torch.cat(hs), torch.cat(cs))

    # -------------------------------------------------------------------------------------- context
    def encode_context(self, ctx: ContextBatch) -> ContextMemory:
        """Run the bidirectional LSTM over each sequence's context notes (packed: each direction starts at
        its own sequence's ends) and project its outputs for the decoder (:class:`ContextMemory`)."""
        b, s = ctx.ids.shape[:2]
        h = len(self.HEADS) * self.config.head_hidden
        has = ctx.lengths > 0
        following = torch.zeros(b, s + 1, h, device=ctx.ids.device)
        preceding = torch.zeros(b, s + 1, h, device=ctx.ids.device)
        rows = torch.nonzero(has).flatten()
        if len(rows):
            ids = [ctx.ids[rows, :, i] for i in range(N_FIELDS)]
            ids += [
                ctx.positions[rows].clamp(max=MAX_POSITION - 1),
                ctx.programs[rows],
                ctx.modes[rows, None].expand(-1, s),
            ]
            x = self.drop(self._bag(self.ctx_embed, self.ctx_offsets, ids))
            packed = nn.utils.rnn.pack_padded_sequence(
                x, ctx.lengths[rows].cpu(), batch_first=True, enforce_sorted=False
            )
            out, _ = self.ctx_lstm(packed)
            out = nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=s)[0]  # zero past the end
            out = self.drop(out)
            following[rows, :s] = self.ctx_following(out)
            preceding[rows, 1:] = self.ctx_preceding(out)
        return ContextMemory(following, preceding, self.ctx_mode(ctx.modes), has)

    @staticmethod
    def _rows(table: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
        """(B, S+1, H) rows at (B, T) indices → (B, T, H)."""
        return table.gather(1, index[..., None].expand(-1, -1, table.shape[-1]))

    def context_heads(self, memory: ContextMemory, index: torch.Tensor, distance: torch.Tensor) -> torch.Tensor:
        """What the five heads' inputs gain (B, T, 5·HH) from the context at grid times aligned by ``index`` /
        ``distance`` (B, T): the encoder at the next context note and at the one before, how far ahead the next
        is, and the mode — nothing without a context."""
        rows = self._rows(memory.following, index) + self._rows(memory.preceding, index)
        return self.context_gain(rows, distance, memory.mode[:, None], memory.has[:, None, None])

    def context_gain(
        self, rows: torch.Tensor, distance: torch.Tensor, mode: torch.Tensor, has: torch.Tensor
    ) -> torch.Tensor:
        """:meth:`context_heads` from the encoder's two rows at the aligned note already gathered and summed
        (``rows``): plus how far ahead the next context note is, plus the mode, times whether there is a context
        (``mode`` and ``has`` broadcast to ``rows``).  Generation calls it one step at a time
        (:class:`composer.fill.ContextSteps`), with the rows summed once for the whole context."""
        return (rows + F.embedding(distance, self.ctx_distance.weight) + mode) * has

    def track_distance(self, distance: torch.Tensor, has: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """The duration, pitch and velocity heads' gain from how far the next context note on the chosen track
        is (bucket (…,)); ``has`` (…,) where there is a context at all."""
        return (F.embedding(distance, self.ctx_track_distance.weight) * has[..., None]).chunk(3, dim=-1)

    def head_views(self, ctx: ContextBatch) -> HeadViews:
        """The heads' views of a batch's contexts (the copy views only for a model that reads them)."""
        copy = self.config.copy
        return HeadViews(
            ctx.next_pitch,
            ctx.chroma.float(),
            ctx.ahead.float(),
            ctx.durations.float(),
            ctx.matches,
            ctx.far.float(),
            ctx.far_durations.float(),
            copy_strength(ctx.copy_pitch) if copy else None,
            copy_strength(ctx.copy_duration) if copy else None,
        )

    def match_weights(self, matches: torch.Tensor) -> torch.Tensor:
        """(…, 8) recurrence counts (RECUR_BARS) → (…, 4, 3): for each bars-ahead view, what its weight gains in
        the pitch, duration and shift heads."""
        return F.embedding(_count_rows(matches[..., : len(AHEAD_BARS)]), self.ctx_match.weight)

    def far_weights(self, g: torch.Tensor, matches: torch.Tensor, which: int) -> torch.Tensor:
        """(…, len(FAR_BARS)) the weight of each far view in the pitch (``which`` 0) or duration (1) head: from
        the head's state ``g``, plus what the recurrence count at that distance adds."""
        layer = (self.ctx_far, self.ctx_far_duration)[which]
        trust = F.embedding(_count_rows(matches[..., len(AHEAD_BARS) :]), self.ctx_far_match.weight)[..., which]
        return F.linear(g, layer.weight, layer.bias) + trust

    def initial_state(self, batch: int, device: torch.device | str = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
        shape = (self.config.layers, batch, self.config.hidden)
        return torch.zeros(shape, device=device), torch.zeros(shape, device=device)

    # -------------------------------------------------------------------------------------- heads
    def head_inputs(self, h: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """(…, H) → five (…, head_hidden) pre-activations: shift, track, duration, pitch, velocity."""
        return self.head_in(h).chunk(len(self.HEADS), dim=-1)

    def _out(self, layer: nn.Linear, z: torch.Tensor) -> torch.Tensor:
        # No dropout here: the LSTM output is already dropped, and sampling masks costs CPU time.  F.linear
        # rather than ``layer(…)``: the same product without nn.Module's per-call overhead (see _bag).
        return F.linear(F.gelu(z), layer.weight, layer.bias)

    def shift_logits(
        self, z: torch.Tensor, views: torch.Tensor | None = None, matches: torch.Tensor | None = None
    ) -> torch.Tensor:
        """``views`` (…, len(SHIFT_BARS), shift ids) float: the context's onsets at each shift (bars ahead);
        ``matches`` (…, 8) the step's recurrence counts."""
        if views is None:
            return self._out(self.out_shift, z)
        g = F.gelu(z)
        weight = F.linear(g, self.ctx_shift.weight, self.ctx_shift.bias)
        if matches is not None:
            trust = self.match_weights(matches)[..., SHIFT_AHEAD, 2]
            weight = torch.cat([weight[..., :1], weight[..., 1:] + trust], -1)
        return F.linear(g, self.out_shift.weight, self.out_shift.bias) + (weight[..., :, None] * views).sum(-2)

    def track_logits(
        self, z: torch.Tensor, shift: torch.Tensor, pos: torch.Tensor, prev_track: torch.Tensor
    ) -> torch.Tensor:
        """``prev_track``: the previous event's track id (the track field's BOS id before the first)."""
        cond = self._bag(self.track_cond, self.track_offsets, [shift, pos.clamp(max=MAX_POSITION - 1), prev_track])
        return self._out(self.out_track, z + cond)

    def duration_logits(
        self,
        z: torch.Tensor,
        shift: torch.Tensor,
        pos: torch.Tensor,
        track: torch.Tensor,
        back: torch.Tensor,
        views: HeadViews | None = None,
    ) -> torch.Tensor:
        """``back``: the duration id of the chosen track's note one bar back (NO_DURATION if none); ``views``:
        the context's (a model with a context encoder, in infill or accompany)."""
        cond = self._bag(self.dur_cond, self.dur_offsets, [shift, pos.clamp(max=MAX_POSITION - 1), track, back])
        if views is None:
            return self._out(self.out_dur, z + cond)
        g = F.gelu(z + cond)
        weight = F.linear(g, self.ctx_duration.weight, self.ctx_duration.bias)  # (…, DURATION_VIEWS)
        trust = self.match_weights(views.matches)[..., DURATION_AHEAD, 1]
        weight = torch.cat(
            [weight[..., : len(AHEAD_DURATION_BARS)] + trust, weight[..., len(AHEAD_DURATION_BARS) :]], -1
        )
        bonus = (weight[..., :, None] * views.durations).sum(-2)
        if self.config.far:
            bonus = bonus + (self.far_weights(g, views.matches, 1)[..., :, None] * views.far_durations).sum(-2)
        if self.config.copy and views.copy_duration is not None:
            weight = F.linear(g, self.ctx_copy_duration.weight, self.ctx_copy_duration.bias)
            bonus = bonus + (weight[..., :, None] * views.copy_duration).sum(-2)
        return F.linear(g, self.out_dur.weight, self.out_dur.bias) + bonus

    def pitch_logits(
        self,
        z: torch.Tensor,
        shift: torch.Tensor,
        pos: torch.Tensor,
        dur: torch.Tensor,
        key: torch.Tensor,
        track: torch.Tensor,
        program: torch.Tensor,
        ref: torch.Tensor,
        lookback1: torch.Tensor,
        lookback2: torch.Tensor,
        views: HeadViews | None = None,
    ) -> torch.Tensor:
        """Logits over pitch ids; ``ref`` is the chosen track's last pitch id (NO_PITCH for none);
        ``lookback1`` / ``lookback2`` (…, LOOKBACK_NOTES) the track's pitches one / two bars back (NO_PITCH pads);
        ``views``: the context's (infill, accompany), summed in as three more views — the interval to the next
        context note on the track, a kernel over the pitch classes the context sounds, the track bars ahead."""
        cond = self._bag(
            self.pitch_cond, self.pitch_offsets, [shift, pos.clamp(max=MAX_POSITION - 1), dur, key, track, program]
        )
        g = F.gelu(z + cond)
        logits = F.linear(g, self.out_pitch.weight, self.out_pitch.bias)  # (…, 89)
        candidates = self.pitch_ids  # (88,)
        has_ref = (ref < N_PITCHES).unsqueeze(-1)
        rel_index = candidates - ref.clamp(max=N_PITCHES - 1).unsqueeze(-1) + N_PITCHES - 1  # (…, 88)
        rel = F.linear(g, self.out_interval.weight, self.out_interval.bias).gather(-1, rel_index) * has_ref
        has_key = (key != NO_KEY).unsqueeze(-1)
        deg_index = (candidates + PITCH_LOW - key.unsqueeze(-1)) % 12
        deg = F.linear(g, self.out_degree.weight, self.out_degree.bias).gather(-1, deg_index) * has_key
        weight = F.linear(
            g, self.out_lookback.weight, self.out_lookback.bias
        )  # (…, 2): how much this step follows one / two bars back
        back = weight[..., :1] * _pitch_hot(lookback1, weight.dtype) + weight[..., 1:] * _pitch_hot(
            lookback2, weight.dtype
        )
        extra = rel + deg + back
        if views is not None:
            extra = extra + self._context_pitch(g, views)
        extra = torch.cat([extra, torch.zeros_like(rel[..., :1])], dim=-1)  # nothing added for REST
        return logits + extra

    def _context_pitch(self, g: torch.Tensor, views: HeadViews) -> torch.Tensor:
        """(…, 88) the context's views of the pitch: the interval to the next context note on the chosen track,
        a learned kernel over the pitch classes the context sounds (at the onset, in its beat, in its bar: for
        each sounding class j, a weight for each class j+i — transposition-free harmony), and the pitches on
        the track 1, 2, 4 and 8 bars ahead."""
        candidates = self.pitch_ids
        has_next = (views.next_pitch < N_PITCHES).unsqueeze(-1)
        index = candidates - views.next_pitch.clamp(max=N_PITCHES - 1).unsqueeze(-1) + N_PITCHES - 1
        nxt = F.linear(g, self.ctx_next_interval.weight, self.ctx_next_interval.bias).gather(-1, index) * has_next
        kernel = F.linear(g, self.ctx_chroma.weight, self.ctx_chroma.bias).unflatten(-1, (CHROMA_VIEWS, 12))
        # by_class[..., c] = sum over views v and sounding classes j of chroma[v, j] * kernel[v, (c - j) % 12]
        by_class = (kernel[..., _CIRCULANT] * views.chroma.unsqueeze(-2)).sum(dim=(-1, -3))  # (…, 12)
        harmony = by_class[..., _PITCH_CLASS]
        weight = F.linear(g, self.ctx_ahead.weight, self.ctx_ahead.bias) + self.match_weights(views.matches)[..., 0]
        ahead = (weight[..., :, None] * views.ahead).sum(-2)
        if self.config.far:
            ahead = ahead + (self.far_weights(g, views.matches, 0)[..., :, None] * views.far).sum(-2)
        if self.config.copy and views.copy_pitch is not None:
            weight = F.linear(g, self.ctx_copy.weight, self.ctx_copy.bias)
            ahead = ahead + (weight[..., :, None] * views.copy_pitch).sum(-2)
        return nxt + harmony + ahead

    def velocity_logits(
        self,
        z: torch.Tensor,
        shift: torch.Tensor,
        pos: torch.Tensor,
        dur: torch.Tensor,
        pitch: torch.Tensor,
        track: torch.Tensor,
        echo: torch.Tensor | None = None,
        matches: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """``echo`` (…, len(RECUR_BARS), velocity ids) float: the velocities of the context notes that recur with
        this note (:func:`composer.context.echo_velocities`; a model with far views), trusted by ``matches``
        (…, len(RECUR_BARS)), the step's recurrence counts."""
        cond = self._bag(self.vel_cond, self.vel_offsets, [shift, pos.clamp(max=MAX_POSITION - 1), dur, pitch, track])
        if echo is None or matches is None or not self.config.far:
            return self._out(self.out_vel, z + cond)
        g = F.gelu(z + cond)
        weight = F.linear(g, self.ctx_far_velocity.weight, self.ctx_far_velocity.bias)
        weight = weight + F.embedding(_count_rows(matches), self.ctx_far_velocity_match.weight)[..., 0]
        return F.linear(g, self.out_vel.weight, self.out_vel.bias) + (weight[..., :, None] * echo).sum(-2)

    def field_nll(
        self,
        batch: Batch,
        *,
        pitch_of_a_note: bool = False,
        trunk: Callable[[torch.Tensor], torch.Tensor] | None = None,
        head_in: Callable[[torch.Tensor], tuple[torch.Tensor, ...]] | None = None,
        context: ContextBatch | None = None,
    ) -> torch.Tensor:
        """Negative log-likelihood in nats of each target field: (B, T, 5) in storage order (shift, pitch,
        duration, velocity, track), zero where masked out — velocity also where the song has no dynamics
        (``batch.velocity_mask``) or the target's velocity is unknown (rest events): there is nothing to learn.

        ``pitch_of_a_note``: score a note's pitch knowing it is a note (the rest id left out of the pitch
        distribution), as the melody-prediction protocols do; rest events' pitch entries are then zero.
        ``trunk``: another way to run the LSTM over the embedded inputs, (B, T, H) → (B, T, H) — used to
        score the generator's step path (e.g. its int8 form) with exactly these heads.  ``head_in``: another
        way to compute :meth:`head_inputs` (the generator's int8 projection), scored likewise.  ``context``:
        what the encoder reads for each sequence (a model with a context encoder); its given targets score zero.
        """
        return self._field_nll(
            batch, pitch_of_a_note=pitch_of_a_note, trunk=trunk, head_in=head_in, context=context, both=False
        )[0]

    def field_nll_with_and_without_memory(
        self,
        batch: Batch,
        *,
        pitch_of_a_note: bool = False,
        context: ContextBatch | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """:meth:`field_nll` twice from one forward pass: with the short-term memory the batch carries (as
        ``field_nll`` scores it) and without it (the LSTM alone; both the same where the batch carries none)."""
        with_memory, alone = self._field_nll(batch, pitch_of_a_note=pitch_of_a_note, context=context, both=True)
        assert alone is not None
        return with_memory, alone

    def _field_nll(
        self,
        batch: Batch,
        *,
        pitch_of_a_note: bool,
        trunk: Callable[[torch.Tensor], torch.Tensor] | None = None,
        head_in: Callable[[torch.Tensor], tuple[torch.Tensor, ...]] | None = None,
        context: ContextBatch | None = None,
        both: bool,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        x = self.embed_inputs(batch.inputs, batch.in_pos, batch.bar, batch.key, batch.prev_pitch, batch.in_program)
        h = self.run_lstm(x)[0] if trunk is None else trunk(x)
        zs, zt, zd, zp, zv = (head_in or self.head_inputs)(h)
        views = None
        shift_views = None
        if context is not None:
            memory = self.encode_context(context)
            now = self.context_heads(memory, context.index, context.distance).chunk(len(self.HEADS), dim=-1)
            at = self.context_heads(memory, context.target_index, context.target_distance)
            _, at_t, at_d, at_p, at_v = at.chunk(len(self.HEADS), dim=-1)
            near_d, near_p, near_v = self.track_distance(context.next_distance, memory.has[:, None])
            zs, zt = zs + now[0], zt + at_t
            zd, zp, zv = zd + at_d + near_d, zp + at_p + near_p, zv + at_v + near_v
            views = self.head_views(context)
            shift_views = context.shifts.float()
        t = batch.targets
        shift, pitch, dur, track = t[..., SHIFT], t[..., PITCH], t[..., DURATION], t[..., TRACK]
        pos = batch.tgt_pos
        logits = (
            self.shift_logits(zs, shift_views, None if context is None else context.matches),
            self.pitch_logits(
                zp,
                shift,
                pos,
                dur,
                batch.key,
                track,
                batch.tgt_program,
                batch.ref,
                batch.lookback1,
                batch.lookback2,
                views,
            ),
            self.duration_logits(zd, shift, pos, track, batch.lookback_duration, views),
            self.velocity_logits(
                zv,
                shift,
                pos,
                dur,
                pitch,
                track,
                None if context is None else context.velocities.float(),
                None if context is None else context.matches,
            ),
            # The track table is part of the piece as given: a note goes to one of its tracks (generation masks
            # the others out too), so the track is scored among those.
            self.track_logits(zt, shift, pos, batch.inputs[..., TRACK]).masked_fill(
                torch.arange(SIZES[TRACK], device=shift.device) >= batch.tracks[..., None], -math.inf
            ),
        )
        velocity = t[..., VELOCITY]
        known = batch.velocity_mask & (velocity < SIZES[VELOCITY] - 1)  # the last velocity id is UNKNOWN
        if pitch_of_a_note:
            rest = N_PITCHES
            logits[PITCH][..., rest] = -math.inf
            pitch = pitch.masked_fill(pitch == rest, 0)  # rest events: any finite entry, masked below
        targets = (shift, pitch, dur, velocity.masked_fill(~known, 0), track)
        nll = torch.stack(
            [
                F.cross_entropy(lg.float().flatten(0, 1), targets[i].flatten(), reduction="none").view_as(shift)
                for i, lg in enumerate(logits)
            ],
            dim=-1,
        )
        alone = nll
        if batch.memory_keep is not None and batch.memory_hit is not None:  # the short-term memory: keep × p + mass
            nll = nll.clone()
            for i, f in enumerate((PITCH, DURATION)):
                keep, hit = batch.memory_keep[..., i], batch.memory_hit[..., i]
                nll[..., f] = -torch.logaddexp(keep.log() - nll[..., f], hit.log())
        mask = (batch.mask if context is None else batch.mask & ~context.given).unsqueeze(-1)
        scored = mask.expand_as(nll).clone()
        scored[..., VELOCITY] &= known
        if pitch_of_a_note:
            scored[..., PITCH] &= t[..., PITCH] != N_PITCHES
        zero = nll.new_zeros(())
        return torch.where(scored, nll, zero), torch.where(scored, alone, zero) if both else None


def _count_rows(counts: torch.Tensor) -> torch.Tensor:
    """(…, D) recurrence counts (0..MATCH_WINDOW) at D distances → the rows of a trust table laid out distance by
    distance, MATCH_WINDOW + 1 rows each (ctx_match, ctx_far_match, ctx_far_velocity_match)."""
    return counts + torch.arange(counts.shape[-1], device=counts.device) * (MATCH_WINDOW + 1)


_CIRCULANT = (torch.arange(12)[:, None] - torch.arange(12)[None, :]) % 12  # [c, j] → (c - j) mod 12
_PITCH_CLASS = (torch.arange(N_PITCHES) + PITCH_LOW) % 12  # each pitch id's class (C = 0)


def _pitch_hot(pitches: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """(…, K) pitch ids (NO_PITCH / REST for none) → (…, 88) 1.0 at each real pitch among them (one scatter:
    no (…, K, 90) one-hot in between)."""
    hot = torch.zeros(*pitches.shape[:-1], NO_PITCH + 1, dtype=dtype, device=pitches.device)
    return hot.scatter_(-1, pitches.clamp(max=NO_PITCH), 1.0)[..., :N_PITCHES]


def bits(nats: float) -> float:
    """Nats (natural-log units, what the losses are in) → bits."""
    return nats / LN2


def parameter_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
