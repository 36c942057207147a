"""The LSTM that continues music, and its heads that predict a note field by field.

One LSTM step per note.  The input at step t is the previous event (its four fields), the metrical
position of its onset, the bar length and the stated key; the LSTM's output ``h_t`` then predicts the
next note's fields one after another, each head seeing the fields already chosen:

    shift    ~ p(shift | h)
    duration ~ p(duration | h, shift, position)          position = where the new onset falls in the bar
    pitch    ~ p(pitch | h, shift, position, duration)
    velocity ~ p(velocity | h, shift, position, duration, pitch)

so a note's log-probability is exact and splits into per-field bits, and the pitch head is exactly the
melody-prediction literature's p(pitch | earlier notes, this note's onset and duration, key).

``forward(x, state) -> (out, state)`` serves training (whole sequences, ``nn.LSTM``) and generation
(one step at a time, state carried) alike.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields

import torch
from torch import nn
from torch.nn import functional as F

from composer.encoding import FIELDS, PITCH_LOW
from composer.features import MAX_BAR, MAX_POSITION, N_KEYS, NO_KEY, NO_PITCH, SIZES

__all__ = [  # the model's input vocabulary lives in composer.features; re-exported for its readers
    "LN2",
    "MAX_BAR",
    "MAX_POSITION",
    "NO_KEY",
    "NO_PITCH",
    "N_KEYS",
    "SIZES",
    "Batch",
    "ModelConfig",
    "MusicLSTM",
    "bits",
    "parameter_count",
]

LN2 = math.log(2)
N_FIELDS = len(FIELDS)
N_PITCHES = SIZES[1] - 1  # real pitches; the last pitch id is the rest event
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

    ``inputs`` (B, T, 4) are the previous events (BOS at t=0), ``targets`` (B, T, 4) the events to
    predict; ``in_pos`` is the metrical position of each input event's onset, ``tgt_pos`` that of each
    target's onset; ``bar`` the bar length in steps; ``key`` the key id; ``mask`` (B, T) bool marks real
    targets; ``prev_pitch`` the pitch id of the event before each input event (``NO_PITCH`` when there is
    none), from which the input's melodic interval is read.
    """

    inputs: torch.Tensor
    targets: torch.Tensor
    in_pos: torch.Tensor
    tgt_pos: torch.Tensor
    bar: torch.Tensor
    key: torch.Tensor
    mask: torch.Tensor
    prev_pitch: torch.Tensor

    def to(self, device: torch.device | str) -> Batch:
        return Batch(*(getattr(self, f.name).to(device, non_blocking=True) for f in fields(self)))


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
    """Embeddings → stacked LSTM → four heads.

    Every "concatenate these inputs and apply a linear layer" is written as the equivalent sum of
    per-input embeddings (a linear layer over one-hot inputs is an embedding lookup), computed with one
    ``EmbeddingBag`` per sum, so the inputs and the heads' conditioning cost lookups rather than matrix
    products: training runs near the bare LSTM's speed (bench/train_throughput.py).
    """

    # Index buffers (registered in __init__, not saved): typed here, as nn.Module's attribute lookup is not.
    in_offsets: torch.Tensor
    dur_offsets: torch.Tensor
    pitch_offsets: torch.Tensor
    vel_offsets: torch.Tensor
    pitch_ids: torch.Tensor

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        h, hh = config.hidden, config.head_hidden
        # Input: the previous event's fields (each with one extra id for "beginning of sequence"),
        # the metrical position of its onset, the bar length and the key, summed.
        in_sizes = (*(size + 1 for size in SIZES), MAX_POSITION, MAX_BAR, N_KEYS, N_INTERVALS, N_DEGREES)
        self.register_buffer("in_offsets", _offsets(in_sizes), persistent=False)
        self.in_embed = nn.EmbeddingBag(sum(in_sizes), h, mode="sum")
        self.drop = LockedDropout(config.dropout)
        # One single-layer LSTM per level, so that locked dropout can sit between them.
        self.lstm = nn.ModuleList(nn.LSTM(h, h, batch_first=True) for _ in range(config.layers))
        # Heads: one projection of h for all four, then per-head conditioning on the fields already chosen.
        self.head_in = nn.Linear(h, 4 * hh)
        dur_sizes = (SIZES[0], MAX_POSITION)  # shift, position
        pitch_sizes = (SIZES[0], MAX_POSITION, SIZES[2], N_KEYS)  # shift, position, duration, key
        vel_sizes = (SIZES[0], MAX_POSITION, SIZES[2], SIZES[1])  # shift, position, duration, pitch
        self.register_buffer("dur_offsets", _offsets(dur_sizes), persistent=False)
        self.register_buffer("pitch_offsets", _offsets(pitch_sizes), persistent=False)
        self.register_buffer("vel_offsets", _offsets(vel_sizes), persistent=False)
        self.dur_cond = nn.EmbeddingBag(sum(dur_sizes), hh, mode="sum")
        self.pitch_cond = nn.EmbeddingBag(sum(pitch_sizes), hh, mode="sum")
        self.vel_cond = nn.EmbeddingBag(sum(vel_sizes), hh, mode="sum")
        self.out_shift = nn.Linear(hh, SIZES[0])
        # Pitch logits are a sum of three views of the same choice, as in multiple-viewpoint models:
        # the absolute pitch (register), the interval from the previous pitch (melody, transposition-free)
        # and the pitch class relative to the key's tonic (tonality).
        self.out_pitch = nn.Linear(hh, SIZES[1])
        self.out_interval = nn.Linear(hh, 2 * N_PITCHES - 1)
        self.out_degree = nn.Linear(hh, 12)
        self.register_buffer("pitch_ids", torch.arange(N_PITCHES), persistent=False)
        self.out_dur = nn.Linear(hh, SIZES[2])
        self.out_vel = nn.Linear(hh, SIZES[3])

    @staticmethod
    def _bag(bag: nn.EmbeddingBag, offsets: torch.Tensor, ids: list[torch.Tensor]) -> torch.Tensor:
        """Sum of one embedding per id tensor (all (…,)), looked up in one bag: → (…, D)."""
        stacked = torch.stack(ids, dim=-1) + offsets  # (…, K)
        flat = stacked.reshape(-1, stacked.shape[-1])
        return bag(flat).reshape(*stacked.shape[:-1], -1)

    # -------------------------------------------------------------------------------------- trunk
    def embed_inputs(
        self, inputs: torch.Tensor, in_pos: torch.Tensor, bar: torch.Tensor, key: torch.Tensor, prev_pitch: torch.Tensor
    ) -> torch.Tensor:
        """(B, T, 4), (B, T), (B, T), (B, T), (B, T) → (B, T, H)"""
        pitch = inputs[..., 1]
        real = pitch < N_PITCHES
        interval = torch.where(
            real & (prev_pitch < N_PITCHES),
            (pitch - prev_pitch).clamp(-MAX_INTERVAL, MAX_INTERVAL) + MAX_INTERVAL,
            N_INTERVALS - 1,
        )
        degree = torch.where(real & (key != NO_KEY), (pitch + PITCH_LOW - key) % 12, N_DEGREES - 1)
        ids = [inputs[..., i] for i in range(N_FIELDS)]
        ids += [in_pos.clamp(max=MAX_POSITION - 1), bar.clamp(max=MAX_BAR - 1), key, interval, degree]
        return self.drop(self._bag(self.in_embed, self.in_offsets, ids))

    def forward(
        self,
        inputs: torch.Tensor,
        in_pos: torch.Tensor,
        bar: torch.Tensor,
        key: torch.Tensor,
        prev_pitch: torch.Tensor,
        state: tuple[torch.Tensor, torch.Tensor] | None = None,
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        """Run the LSTM over (B, T) steps; returns hidden outputs (B, T, H) and the new state.

        ``state`` is (h, c), each (layers, B, H), as nn.LSTM keeps it.
        """
        x = self.embed_inputs(inputs, in_pos, bar, key, prev_pitch)
        hs, cs = [], []
        for i, layer in enumerate(self.lstm):
            layer_state = None if state is None else (state[0][i : i + 1], state[1][i : i + 1])
            x, (h, c) = layer(x, layer_state)
            hs.append(h)
            cs.append(c)
            x = self.drop(x)
        return x, (torch.cat(hs), torch.cat(cs))

    def initial_state(self, batch: int, device: torch.device | str = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
        shape = (self.config.layers, batch, self.config.hidden)
        return torch.zeros(shape, device=device), torch.zeros(shape, device=device)

    # -------------------------------------------------------------------------------------- heads
    def head_inputs(self, h: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """(…, H) → four (…, head_hidden) pre-activations: shift, duration, pitch, velocity."""
        return self.head_in(h).chunk(4, dim=-1)

    def _out(self, layer: nn.Linear, z: torch.Tensor) -> torch.Tensor:
        # No dropout here: the LSTM output is already dropped, and sampling masks costs CPU time.
        return layer(F.gelu(z))

    def shift_logits(self, z: torch.Tensor) -> torch.Tensor:
        return self._out(self.out_shift, z)

    def duration_logits(self, z: torch.Tensor, shift: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
        cond = self._bag(self.dur_cond, self.dur_offsets, [shift, pos.clamp(max=MAX_POSITION - 1)])
        return self._out(self.out_dur, z + cond)

    def pitch_logits(
        self,
        z: torch.Tensor,
        shift: torch.Tensor,
        pos: torch.Tensor,
        dur: torch.Tensor,
        key: torch.Tensor,
        ref: torch.Tensor,
    ) -> torch.Tensor:
        """Logits over pitch ids; ``ref`` is the previous event's pitch id (the input's), REST/BOS for none."""
        cond = self._bag(self.pitch_cond, self.pitch_offsets, [shift, pos.clamp(max=MAX_POSITION - 1), dur, key])
        g = F.gelu(z + cond)
        logits = self.out_pitch(g)  # (…, 89)
        candidates = self.pitch_ids  # (88,)
        has_ref = (ref < N_PITCHES).unsqueeze(-1)
        rel_index = candidates - ref.clamp(max=N_PITCHES - 1).unsqueeze(-1) + N_PITCHES - 1  # (…, 88)
        rel = self.out_interval(g).gather(-1, rel_index) * has_ref
        has_key = (key != NO_KEY).unsqueeze(-1)
        deg_index = (candidates + PITCH_LOW - key.unsqueeze(-1)) % 12
        deg = self.out_degree(g).gather(-1, deg_index) * has_key
        extra = torch.cat([rel + deg, torch.zeros_like(rel[..., :1])], dim=-1)  # nothing added for REST
        return logits + extra

    def velocity_logits(
        self, z: torch.Tensor, shift: torch.Tensor, pos: torch.Tensor, dur: torch.Tensor, pitch: torch.Tensor
    ) -> torch.Tensor:
        cond = self._bag(self.vel_cond, self.vel_offsets, [shift, pos.clamp(max=MAX_POSITION - 1), dur, pitch])
        return self._out(self.out_vel, z + cond)

    def field_nll(
        self,
        batch: Batch,
        *,
        pitch_of_a_note: bool = False,
        trunk: Callable[[torch.Tensor], torch.Tensor] | None = None,
    ) -> torch.Tensor:
        """Negative log-likelihood in nats of each target field: (B, T, 4), zero where masked out.

        ``pitch_of_a_note``: score a note's pitch knowing it is a note (the rest id left out of the pitch
        distribution), as the melody-prediction protocols do; rest events' pitch entries are then zero.
        ``trunk``: another way to run the LSTM over the embedded inputs, (B, T, H) → (B, T, H) — used to
        score the generator's step path (e.g. its int8 form) with exactly these heads.
        """
        if trunk is None:
            h, _ = self(batch.inputs, batch.in_pos, batch.bar, batch.key, batch.prev_pitch)
        else:
            h = trunk(self.embed_inputs(batch.inputs, batch.in_pos, batch.bar, batch.key, batch.prev_pitch))
        zs, zd, zp, zv = self.head_inputs(h)
        t = batch.targets
        shift, pitch, dur = t[..., 0], t[..., 1], t[..., 2]
        logits = (
            self.shift_logits(zs),
            self.pitch_logits(zp, shift, batch.tgt_pos, dur, batch.key, batch.inputs[..., 1]),
            self.duration_logits(zd, shift, batch.tgt_pos),
            self.velocity_logits(zv, shift, batch.tgt_pos, dur, pitch),
        )
        if pitch_of_a_note:
            rest = N_PITCHES
            logits[1][..., rest] = -math.inf
            pitch = pitch.masked_fill(pitch == rest, 0)  # rest events: any finite entry, masked below
        targets = (shift, pitch, dur, t[..., 3])
        nll = torch.stack(
            [
                F.cross_entropy(lg.float().flatten(0, 1), targets[i].flatten(), reduction="none").view_as(shift)
                for i, lg in enumerate(logits)
            ],
            dim=-1,
        )
        mask = batch.mask.unsqueeze(-1)
        if pitch_of_a_note:
            nll[..., 1] = nll[..., 1] * (t[..., 1] != N_PITCHES)
        return nll * mask


def bits(nats: float) -> float:
    """Nats (natural-log units, what the losses are in) → bits."""
    return nats / LN2


def parameter_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
