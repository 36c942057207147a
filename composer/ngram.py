"""The baseline: a variable-order n-gram over the same events, with PPM-style interpolated smoothing.

Each field of a note is predicted in the model's order (shift, track, duration, pitch, velocity) from a context
made of the fields already chosen for this note and the previous ``k`` events, for every order ``k``
from ``order`` down to 0, blended as in PPM with escape method C (Witten–Bell interpolation):

    p_k(x | c) = (n(c, x) + u(c) · p_{k-1}(x)) / (n(c) + u(c))

where ``n(c, x)`` counts x after context c, ``n(c)`` all counts there and ``u(c)`` the number of distinct
symbols seen there; below order 0 the field's own distribution, then uniform.  Pure Python and numpy.

Velocity is data that is sometimes missing: an event whose velocity is unknown (a piece without dynamics, a
rest event) is neither counted nor scored for velocity (0 bits), as in the LSTM.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable

import numpy as np

from composer.encoding import DURATION, FIELDS, PITCH, REST, SHIFT, TRACK, VELOCITY, VELOCITY_UNKNOWN

# Per field: the fields of the *current* event it may condition on (those predicted before it), and the
# fields of each previous event that make up the history.
ORDER_OF_PREDICTION = (SHIFT, TRACK, DURATION, PITCH, VELOCITY)
CURRENT = {
    SHIFT: (),
    TRACK: (SHIFT,),
    DURATION: (SHIFT, TRACK),
    PITCH: (SHIFT, DURATION, TRACK),
    VELOCITY: (SHIFT, DURATION, PITCH),
}
HISTORY = {
    SHIFT: (SHIFT, DURATION),
    TRACK: (TRACK,),
    DURATION: (SHIFT, DURATION),
    PITCH: (PITCH,),
    VELOCITY: (VELOCITY,),
}


def _known(seq: np.ndarray, i: int, field: int) -> bool:
    return field != VELOCITY or int(seq[i, VELOCITY]) != VELOCITY_UNKNOWN


class _Table:
    """Counts for one field: context tuple → {symbol: count}, plus totals and distinct counts."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.counts: dict[tuple, dict[int, int]] = defaultdict(dict)
        self.unigram = np.zeros(size, dtype=np.float64)

    def add(self, context: tuple, symbol: int) -> None:
        row = self.counts[context]
        row[symbol] = row.get(symbol, 0) + 1


class NGramModel:
    def __init__(self, order: int = 4) -> None:
        self.order = order
        self.tables = {f: _Table(FIELDS[f].size) for f in ORDER_OF_PREDICTION}
        self._totals: dict[int, dict[tuple, tuple[int, int]]] = {}
        self._base: dict[int, np.ndarray] = {}
        self._base_no_rest = np.zeros(0)

    def _contexts(self, seq: np.ndarray, i: int, field: int) -> list[tuple]:
        """Contexts of orders 0..order for event i's field (order 0: the current event's earlier fields)."""
        current = tuple(int(seq[i, f]) for f in CURRENT[field])
        history: list[tuple] = [current]
        context: tuple = current
        for k in range(1, self.order + 1):
            j = i - k
            prev = tuple(int(seq[j, f]) for f in HISTORY[field]) if j >= 0 else ("^",)
            context = (*context, prev)
            history.append(context)
            if j < 0:
                break
        return history

    def fit(self, sequences: Iterable[np.ndarray]) -> NGramModel:
        for seq in sequences:
            for i in range(len(seq)):
                for field in ORDER_OF_PREDICTION:
                    if not _known(seq, i, field):
                        continue
                    symbol = int(seq[i, field])
                    table = self.tables[field]
                    table.unigram[symbol] += 1
                    for context in self._contexts(seq, i, field):
                        table.add(context, symbol)
        self._totals = {
            f: {c: (sum(row.values()), len(row)) for c, row in t.counts.items()} for f, t in self.tables.items()
        }
        # Order -1, computed once: each field's unigram with add-one smoothing (never zero), and for the
        # pitch protocol the same without the rest symbol.
        self._base = {f: (t.unigram + 1.0) / (t.unigram + 1.0).sum() for f, t in self.tables.items()}
        no_rest = self.tables[PITCH].unigram + 1.0
        no_rest[REST] = 0.0
        self._base_no_rest = no_rest / no_rest.sum()
        return self

    def field_probability(self, seq: np.ndarray, i: int, field: int, exclude_rest: bool = False) -> float:
        """p(event i's field | context), blended over orders (optionally renormalized without REST pitch)."""
        table = self.tables[field]
        symbol = int(seq[i, field])
        totals = self._totals[field]
        no_rest = exclude_rest and field == PITCH
        p = float((self._base_no_rest if no_rest else self._base[field])[symbol])
        for context in self._contexts(seq, i, field):
            n, u = totals.get(context, (0, 0))
            if n == 0:
                break  # longer contexts extend this one: none of them was seen either
            row = table.counts[context]
            count = row.get(symbol, 0)
            if no_rest:
                rest = row.get(REST, 0)
                n -= rest
                u -= 1 if rest else 0
                if n <= 0:
                    break
            p = (count + u * p) / (n + u)
        return p

    def event_bits(self, seq: np.ndarray) -> np.ndarray:
        """(N, 5) bits of each field of each event, in field order (0 for an unknown velocity)."""
        out = np.zeros((len(seq), len(FIELDS)))
        for i in range(len(seq)):
            for field in ORDER_OF_PREDICTION:
                if _known(seq, i, field):
                    out[i, field] = -math.log2(self.field_probability(seq, i, field))
        return out

    def pitch_bits(self, seq: np.ndarray) -> np.ndarray:
        """Bits of each note's pitch given its onset, duration and the earlier notes (rest events skipped)."""
        return np.array(
            [
                -math.log2(self.field_probability(seq, i, PITCH, exclude_rest=True))
                for i in range(len(seq))
                if seq[i, PITCH] != REST
            ]
        )
