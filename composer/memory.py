"""The short-term memory: what a piece has already played, blended into the note model's pitch and duration.

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
what :class:`ShortTermMemory` hands back.  The duration is blended the same way, after the track's last notes'
pitches and durations together.

ALPHA, BETA and the orders were chosen on the corpus's validation pieces of three melody collections
(Essen and O'Neill, 150 each, and the 32 chorale soprano lines; none an evaluation tune), scored with the shipped
note model, mean pitch bits a note over the three: 1.932 without the memory, 1.772 with these settings, the best
of 72 settings in two scratch grids (the second around the first's best; ``bench/memory.py`` runs a wider grid of
144, whose best, 1.766, is within 0.006).  The
duration takes the same settings, not tuned apart.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from composer.encoding import DURATION, PITCH, REST, TRACK

N_PITCHES = REST  # pitch ids below REST are notes
MIN_ORDER = 2
MAX_ORDER = 16
ALPHA = 4.0
BETA = 4.0


class ContextTable:
    """One kind of context on one track: ``counts[context][next]``, every order's context in one table."""

    __slots__ = ("counts", "seen")

    def __init__(self) -> None:
        self.seen: list[object] = []  # the track's contexts' items so far (a pitch, or a pitch and its duration)
        self.counts: defaultdict[tuple[object, ...], dict[int, int]] = defaultdict(dict)

    def play(self, item: object, value: int, lowest: int, highest: int) -> None:
        seq = self.seen
        for k in range(lowest, min(highest, len(seq)) + 1):
            after = self.counts[tuple(seq[-k:])]
            after[value] = after.get(value, 0) + 1
        seq.append(item)

    def blend(self, lowest: int, highest: int, alpha: float, beta: float) -> tuple[float, dict[int, float]]:
        keep, mass = 1.0, dict[int, float]()
        seq = self.seen
        for k in range(lowest, min(highest, len(seq)) + 1):
            after = self.counts.get(tuple(seq[-k:]))
            if not after:
                break  # no longer context can have come before either
            n = sum(after.values())
            weight = n / (n + alpha * len(after) + beta)
            mass = {v: m * (1 - weight) for v, m in mass.items()}
            for v, c in after.items():
                mass[v] = mass.get(v, 0.0) + weight * c / n
            keep *= 1 - weight
        return keep, mass


class ShortTermMemory:
    """One piece's memory, note by note: :meth:`blend` (the pitch) and :meth:`blend_duration` before a note on a
    track, :meth:`play` once it is known.  The pitch is remembered after the track's last pitches; the duration
    after its last notes' pitches and durations together (a rhythm returns with its tune: in a scratch check on
    the same validation pieces, counting durations after durations alone made the Essen and O'Neill tunes' durations
    worse than the model alone, and after (pitch, duration) pairs better; ``bench/memory.py`` measures both)."""

    def __init__(
        self, *, min_order: int = MIN_ORDER, max_order: int = MAX_ORDER, alpha: float = ALPHA, beta: float = BETA
    ) -> None:
        self.min_order, self.max_order, self.alpha, self.beta = min_order, max_order, alpha, beta
        self._pitches: dict[int, ContextTable] = {}
        self._durations: dict[int, ContextTable] = {}

    def play(self, track: int, pitch: int, duration: int) -> None:
        """A note (a pitch id below REST, its duration id) on ``track``: counted after each of its contexts."""
        orders = self.min_order, self.max_order
        self._pitches.setdefault(track, ContextTable()).play(pitch, pitch, *orders)
        self._durations.setdefault(track, ContextTable()).play((pitch, duration), duration, *orders)

    def blend(self, track: int) -> tuple[float, dict[int, float]]:
        """(keep, mass) for the next note's pitch on ``track``: its distribution is keep × the model's + mass."""
        table = self._pitches.get(track)
        return (1.0, {}) if table is None else table.blend(self.min_order, self.max_order, self.alpha, self.beta)

    def blend_duration(self, track: int) -> tuple[float, dict[int, float]]:
        """(keep, mass) for the next note's duration id on ``track``, as :meth:`blend` for the pitch."""
        table = self._durations.get(track)
        return (1.0, {}) if table is None else table.blend(self.min_order, self.max_order, self.alpha, self.beta)


def memory_of(ids: np.ndarray, memory: ShortTermMemory | None = None) -> tuple[np.ndarray, np.ndarray]:
    """For each event of a piece's (N, 5) ids, before it on its track: the memory's ``keep`` and its mass on the
    event's own value, for the pitch (column 0; no mass on a rest) and the duration (column 1) → two (N, 2)
    float32 arrays. Scoring a pitch is then −log(keep × p_model(pitch) + mass), a duration likewise:
    :meth:`composer.model.MusicLSTM.field_nll` with a batch that carries them.  (The duration is drawn before
    the pitch, so a rest's duration is blended as a note's would be: the model does not know it is a rest yet.)"""
    memory = memory or ShortTermMemory()
    keep = np.ones((len(ids), 2), dtype=np.float32)
    hit = np.zeros((len(ids), 2), dtype=np.float32)
    columns = ids[:, PITCH].tolist(), ids[:, DURATION].tolist(), ids[:, TRACK].tolist()
    for j, (pitch, duration, track) in enumerate(zip(*columns, strict=True)):
        keep[j, 0], mass = memory.blend(track)
        hit[j, 0] = mass.get(pitch, 0.0)  # a rest's id is no note's: 0
        keep[j, 1], mass = memory.blend_duration(track)
        hit[j, 1] = mass.get(duration, 0.0)
        if pitch < N_PITCHES:
            memory.play(track, pitch, duration)
    return keep, hit
