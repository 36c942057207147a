"""The short-term memory: what a piece has already played, blended into the note model's pitch distribution.

IDyOM's short-term model (Pearce 2005) beside its long-term one, here beside the LSTM. A piece repeats itself —
a chorale's first two phrases, a folk tune's second strain, a pop song's chorus — and an LSTM reading note by note
remembers only so exactly what came 30 or 300 notes before. So for a new note on a track, the pitches that followed
the track's last k pitches earlier in the same piece, on the same track, are counted (k = :data:`MIN_ORDER` …
:data:`MAX_ORDER`) and blended in order by order, from the lowest, over the LSTM's distribution p₀:

    p_k = λ_k · q_k + (1 − λ_k) · p_{k−1},    λ_k = n / (n + ALPHA · d + BETA)

where q_k is the counts' distribution after the last k pitches, n how many notes followed them, d how many
different pitches (PPM's escape method C, damped by BETA so that one earlier occurrence is not trusted outright).
An order with no earlier occurrence ends the blend (no longer context can have one). The whole is
``keep`` × p₀ + ``mass``, with ``keep`` = Π(1 − λ_k) and ``mass`` a sparse distribution of weight 1 − ``keep``:
what :class:`ShortTermMemory` hands back.

ALPHA, BETA and the orders were chosen on the corpus's validation pieces of three melody collections
(Essen and O'Neill, 150 each, and the 32 chorale soprano lines; none an evaluation tune), scored with the shipped
note model, mean pitch bits an event over the three (``bench/memory.py --tune``; 1.932 without the memory, 1.772 with).
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from composer.encoding import PITCH, REST, TRACK

N_PITCHES = REST  # pitch ids below REST are notes
MIN_ORDER = 2
MAX_ORDER = 16
ALPHA = 4.0
BETA = 4.0


class _Track:
    __slots__ = ("counts", "pitches")

    def __init__(self) -> None:
        self.pitches: list[int] = []
        # counts[(p_{i-k}, …, p_{i-1})][p_i]: how often pitch p_i followed that context (every order in one table)
        self.counts: defaultdict[tuple[int, ...], dict[int, int]] = defaultdict(dict)


class ShortTermMemory:
    """One piece's memory, note by note: :meth:`blend` before a note on a track, :meth:`play` once it is known."""

    def __init__(
        self, *, min_order: int = MIN_ORDER, max_order: int = MAX_ORDER, alpha: float = ALPHA, beta: float = BETA
    ) -> None:
        self.min_order, self.max_order, self.alpha, self.beta = min_order, max_order, alpha, beta
        self._tracks: dict[int, _Track] = {}

    def play(self, track: int, pitch: int) -> None:
        """A note (a pitch id below REST) on ``track``: counted after each of its contexts, then remembered."""
        t = self._tracks.get(track)
        if t is None:
            t = self._tracks[track] = _Track()
        seq = t.pitches
        for k in range(self.min_order, min(self.max_order, len(seq)) + 1):
            after = t.counts[tuple(seq[-k:])]
            after[pitch] = after.get(pitch, 0) + 1
        seq.append(pitch)

    def blend(self, track: int) -> tuple[float, dict[int, float]]:
        """(keep, mass) for the next note on ``track``: its pitch distribution is keep × the model's + mass."""
        t = self._tracks.get(track)
        keep, mass = 1.0, dict[int, float]()
        if t is None:
            return keep, mass
        seq = t.pitches
        for k in range(self.min_order, min(self.max_order, len(seq)) + 1):
            after = t.counts.get(tuple(seq[-k:]))
            if not after:
                break
            n = sum(after.values())
            weight = n / (n + self.alpha * len(after) + self.beta)
            mass = {p: m * (1 - weight) for p, m in mass.items()}
            for p, c in after.items():
                mass[p] = mass.get(p, 0.0) + weight * c / n
            keep *= 1 - weight
        return keep, mass


def memory_of(ids: np.ndarray, memory: ShortTermMemory | None = None) -> tuple[np.ndarray, np.ndarray]:
    """For each event of a piece's (N, 5) ids: the memory's ``keep`` before it on its track, and the memory's
    mass on its own pitch (0 for a rest) → two (N,) float32 arrays. Scoring a pitch is then
    −log(keep × p_model(pitch) + mass): :meth:`composer.model.MusicLSTM.field_nll` with a batch that carries them."""
    memory = memory or ShortTermMemory()
    keep = np.ones(len(ids), dtype=np.float32)
    hit = np.zeros(len(ids), dtype=np.float32)
    for j, (pitch, track) in enumerate(zip(ids[:, PITCH].tolist(), ids[:, TRACK].tolist(), strict=True)):
        kept, mass = memory.blend(track)
        keep[j] = kept
        if pitch < N_PITCHES:
            hit[j] = mass.get(pitch, 0.0)
            memory.play(track, pitch)
    return keep, hit
