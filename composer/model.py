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

from dataclasses import asdict, dataclass, fields

import torch
from torch import nn
from torch.nn import functional as F

from composer.encoding import FIELDS

N_FIELDS = len(FIELDS)
SIZES = tuple(f.size for f in FIELDS)  # shift, pitch, duration, velocity
MAX_POSITION = 192  # metrical positions (grid steps from the downbeat) are clipped below this
MAX_BAR = 193  # bar lengths in grid steps, clipped below this
N_KEYS = 25  # 24 keys + "not stated"
NO_KEY = 24


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
    targets.
    """

    inputs: torch.Tensor
    targets: torch.Tensor
    in_pos: torch.Tensor
    tgt_pos: torch.Tensor
    bar: torch.Tensor
    key: torch.Tensor
    mask: torch.Tensor

    def to(self, device: torch.device | str) -> Batch:
        return Batch(*(getattr(self, f.name).to(device, non_blocking=True) for f in fields(self)))


class MusicLSTM(nn.Module):
    """Embeddings → stacked LSTM → four heads.

    Every "concatenate these embeddings and apply a linear layer" is written as the equivalent sum of
    per-input embeddings (a linear layer over one-hot inputs is an embedding lookup), so the inputs and
    the heads' conditioning cost lookups, not matrix products: training runs near the bare LSTM's speed.
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        h, hh = config.hidden, config.head_hidden
        # Input: the previous event's fields (each with one extra id for "beginning of sequence"),
        # the metrical position of its onset, the bar length and the key, summed.
        self.in_fields = nn.ModuleList(nn.Embedding(size + 1, h) for size in SIZES)
        self.in_pos = nn.Embedding(MAX_POSITION, h)
        self.in_bar = nn.Embedding(MAX_BAR, h)
        self.in_key = nn.Embedding(N_KEYS, h)
        self.drop = nn.Dropout(config.dropout)
        self.lstm = nn.LSTM(h, h, num_layers=config.layers, batch_first=True,
                            dropout=config.dropout if config.layers > 1 else 0.0)
        # Heads: one projection of h for all four, then per-head conditioning on the fields already chosen.
        self.head_in = nn.Linear(h, 4 * hh)
        self.dur_shift, self.dur_pos = nn.Embedding(SIZES[0], hh), nn.Embedding(MAX_POSITION, hh)
        self.pitch_shift, self.pitch_pos = nn.Embedding(SIZES[0], hh), nn.Embedding(MAX_POSITION, hh)
        self.pitch_dur, self.pitch_key = nn.Embedding(SIZES[2], hh), nn.Embedding(N_KEYS, hh)
        self.vel_shift, self.vel_pos = nn.Embedding(SIZES[0], hh), nn.Embedding(MAX_POSITION, hh)
        self.vel_dur, self.vel_pitch = nn.Embedding(SIZES[2], hh), nn.Embedding(SIZES[1], hh)
        self.out_shift = nn.Linear(hh, SIZES[0])
        self.out_pitch = nn.Linear(hh, SIZES[1])
        self.out_dur = nn.Linear(hh, SIZES[2])
        self.out_vel = nn.Linear(hh, SIZES[3])

    # -------------------------------------------------------------------------------------- trunk
    def embed_inputs(self, inputs: torch.Tensor, in_pos: torch.Tensor, bar: torch.Tensor,
                     key: torch.Tensor) -> torch.Tensor:
        """(B, T, 4), (B, T), (B, T), (B, T) → (B, T, H)"""
        x = self.in_pos(in_pos.clamp(max=MAX_POSITION - 1)) + self.in_bar(bar.clamp(max=MAX_BAR - 1)) + self.in_key(key)
        for i, emb in enumerate(self.in_fields):
            x = x + emb(inputs[..., i])
        return self.drop(x)

    def forward(self, inputs: torch.Tensor, in_pos: torch.Tensor, bar: torch.Tensor, key: torch.Tensor,
                state: tuple[torch.Tensor, torch.Tensor] | None = None
                ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        """Run the LSTM over (B, T) steps; returns hidden outputs (B, T, H) and the new state."""
        x = self.embed_inputs(inputs, in_pos, bar, key)
        out, state = self.lstm(x, state)
        return self.drop(out), state

    def initial_state(self, batch: int, device: torch.device | str = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
        shape = (self.config.layers, batch, self.config.hidden)
        return torch.zeros(shape, device=device), torch.zeros(shape, device=device)

    # -------------------------------------------------------------------------------------- heads
    def head_inputs(self, h: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """(…, H) → four (…, head_hidden) pre-activations: shift, duration, pitch, velocity."""
        return self.head_in(h).chunk(4, dim=-1)

    def _out(self, layer: nn.Linear, z: torch.Tensor) -> torch.Tensor:
        return layer(self.drop(F.gelu(z)))

    def shift_logits(self, z: torch.Tensor) -> torch.Tensor:
        return self._out(self.out_shift, z)

    def duration_logits(self, z: torch.Tensor, shift: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
        pos = pos.clamp(max=MAX_POSITION - 1)
        return self._out(self.out_dur, z + self.dur_shift(shift) + self.dur_pos(pos))

    def pitch_logits(self, z: torch.Tensor, shift: torch.Tensor, pos: torch.Tensor, dur: torch.Tensor,
                     key: torch.Tensor) -> torch.Tensor:
        pos = pos.clamp(max=MAX_POSITION - 1)
        return self._out(self.out_pitch, z + self.pitch_shift(shift) + self.pitch_pos(pos) + self.pitch_dur(dur)
                         + self.pitch_key(key))

    def velocity_logits(self, z: torch.Tensor, shift: torch.Tensor, pos: torch.Tensor, dur: torch.Tensor,
                        pitch: torch.Tensor) -> torch.Tensor:
        pos = pos.clamp(max=MAX_POSITION - 1)
        return self._out(self.out_vel, z + self.vel_shift(shift) + self.vel_pos(pos) + self.vel_dur(dur)
                         + self.vel_pitch(pitch))

    def field_nll(self, batch: Batch) -> torch.Tensor:
        """Negative log-likelihood in nats of each target field: (B, T, 4), zero where masked out."""
        h, _ = self(batch.inputs, batch.in_pos, batch.bar, batch.key)
        zs, zd, zp, zv = self.head_inputs(h)
        t = batch.targets
        shift, pitch, dur = t[..., 0], t[..., 1], t[..., 2]
        logits = (
            self.shift_logits(zs),
            self.pitch_logits(zp, shift, batch.tgt_pos, dur, batch.key),
            self.duration_logits(zd, shift, batch.tgt_pos),
            self.velocity_logits(zv, shift, batch.tgt_pos, dur, pitch),
        )
        nll = torch.stack([F.cross_entropy(lg.float().flatten(0, 1), t[..., i].flatten(), reduction="none")
                           .view_as(shift) for i, lg in enumerate(logits)], dim=-1)
        return nll * batch.mask.unsqueeze(-1)


def parameter_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
