"""Telling takes from real music: features of an excerpt that do not look at its seed, and the classifiers.

An :class:`Excerpt` is some bars of notes read in a key (the seed's), with the meter they are counted in.
:func:`excerpt_stats` measures what the issue names — the melody's intervals, note lengths, scale degrees,
metrical positions, repetition inside the excerpt, rests, the ending, distinct pitches, the share of semitone
steps — and :meth:`ExcerptStats.vector` lays them out for a classifier.  None of them looks at the seed, so a
classifier that tells takes from real continuations with them says the takes *sound* different, not merely
that they are different continuations.  The one seed-dependent figure, :func:`restated_share` (how much of
the excerpt restates the seed), is reported beside the classifiers and never fed to them.

:func:`discriminate` runs a standardized logistic regression and a random forest under cross-validation
grouped by piece (no piece's material on both sides of a fold) with balanced sample weights; an accuracy of
0.5 and an AUC of 0.5 mean "cannot tell".

The *melody line* of an excerpt is the notes of its busiest track, the highest at each onset: intervals,
repetition, the ending and restatement are read on it; degrees, lengths, positions and rests on every note.
"""

from __future__ import annotations

import itertools
from collections import Counter
from dataclasses import dataclass

import numpy as np

from composer.encoding import STEPS_PER_BEAT
from composer.piece import Note

MAX_INTERVAL = 12  # melodic intervals beyond an octave share the octave's bin
# Upper edges (grid steps) of the note-length bins: ≤1/6, 1/4, 1/3, 1/2, 2/3, 3/4, 1, 1.5, 2, 3, 4 beats, longer.
LENGTH_EDGES = (2, 3, 4, 6, 8, 9, 12, 18, 24, 36, 48)
METRE_BINS = ("downbeat", "beat", "half beat", "third of a beat", "quarter beat", "off the grid")
MIN_REST_STEPS = 3  # a silence of at least a sixteenth counts as a rest (shorter gaps are articulation)
PATTERN_NOTES = 4  # "recurring interval patterns" and restatement are read on 4-note segments
SCALARS = (
    "longest_repeat",
    "recurring_patterns",
    "rests_per_bar",
    "silent_share",
    "has_rest",
    "tail_bars",
    "early_stop",
    "ends_on_tonic_chord",
    "distinct_pitches",
    "semitone_share",
)
FEATURE_NAMES = (
    *(f"interval {i:+d}" for i in range(-MAX_INTERVAL, MAX_INTERVAL + 1)),
    *(f"length ≤{e} steps" for e in LENGTH_EDGES),
    "length longer",
    *(f"degree {d}" for d in range(12)),
    *(f"onset on {m}" for m in METRE_BINS),
    *(f"last note degree {d}" for d in range(12)),
    *SCALARS,
)


@dataclass(frozen=True)
class Excerpt:
    """Some bars of music read in a key: ``notes`` with onsets in ``[start, start + bars × bar_beats)``."""

    notes: tuple[Note, ...]
    key: int  # 0–11 major on that tonic pitch class, 12–23 minor: the seed's key
    bar_beats: float
    bar_start: float  # the beat bars are counted from (a pickup), as Piece.bar_start
    start: float  # the excerpt's first beat (a bar line)
    bars: int  # the bars asked for

    @property
    def end(self) -> float:
        return self.start + self.bars * self.bar_beats

    def transposed(self, semitones: int, key: int) -> Excerpt:
        """The same music moved by ``semitones`` and read in ``key`` (the real-vs-real control)."""
        moved = tuple(Note(n.start, n.duration, n.pitch + semitones, n.velocity, n.track) for n in self.notes)
        return Excerpt(moved, key, self.bar_beats, self.bar_start, self.start, self.bars)


@dataclass(frozen=True)
class ExcerptStats:
    """What :func:`excerpt_stats` measures on one excerpt (histograms are shares that sum to 1, or all 0)."""

    notes: int
    intervals: np.ndarray  # (25,) melodic intervals −12…+12 semitones on the melody line
    lengths: np.ndarray  # (12,) note lengths, bins LENGTH_EDGES
    degrees: np.ndarray  # (12,) notes on each scale degree (semitones above the key's tonic), by count
    metre: np.ndarray  # (6,) onsets by metrical position, METRE_BINS
    last_degree: int | None  # the melody's last note's degree
    longest_repeat: int  # notes of the longest phrase (pitch and length) heard twice, not overlapping
    recurring_patterns: float  # share of 4-note interval patterns of the melody heard elsewhere in it
    rests: int  # silences of ≥ MIN_REST_STEPS between the first onset and the last sound
    silent_share: float  # … their share of the excerpt's length
    tail_bars: float  # bars of silence after the last sound, before the excerpt's end
    early_stop: bool  # nothing sounds in the last asked bar
    ends_on_tonic_chord: bool  # the melody's last note is the tonic, the third (of the mode) or the fifth
    distinct_pitches: int
    semitone_share: float  # share of the melody's intervals that are a semitone up or down

    bars: int  # the bars asked for

    @property
    def rests_per_bar(self) -> float:
        return self.rests / max(1, self.bars)

    def vector(self) -> np.ndarray:
        """The classifier's features, in FEATURE_NAMES's order."""
        last = np.zeros(12)
        if self.last_degree is not None:
            last[self.last_degree] = 1.0
        scalars = (
            self.longest_repeat,
            self.recurring_patterns,
            self.rests_per_bar,
            self.silent_share,
            float(self.rests > 0),
            self.tail_bars,
            float(self.early_stop),
            float(self.ends_on_tonic_chord),
            self.distinct_pitches,
            self.semitone_share,
        )
        return np.concatenate([self.intervals, self.lengths, self.degrees, self.metre, last, scalars])


def _share(counts: np.ndarray) -> np.ndarray:
    total = counts.sum()
    return counts / total if total else counts


def melody_line(notes: tuple[Note, ...] | list[Note]) -> list[Note]:
    """The notes of the busiest track, the highest at each onset, in time order."""
    if not notes:
        return []
    track = Counter(n.track for n in notes).most_common(1)[0][0]
    top: dict[float, Note] = {}
    for n in notes:
        if n.track == track and (n.start not in top or n.pitch > top[n.start].pitch):
            top[n.start] = n
    return [top[t] for t in sorted(top)]


def _steps(beats: float) -> int:
    return round(beats * STEPS_PER_BEAT)


def _position(excerpt: Excerpt, n: Note) -> int:
    """The note's onset in grid steps from its bar line."""
    return _steps(n.start - excerpt.bar_start) % max(1, _steps(excerpt.bar_beats))


def _metre_bin(position: int) -> int:
    if position == 0:
        return 0
    for b, every in enumerate((STEPS_PER_BEAT, STEPS_PER_BEAT // 2, STEPS_PER_BEAT // 3, STEPS_PER_BEAT // 4), 1):
        if position % every == 0:
            return b
    return len(METRE_BINS) - 1


def longest_repeat(tokens: list[tuple[int, ...]]) -> int:
    """Length of the longest run of tokens that occurs twice without overlapping (0 if none)."""
    n = len(tokens)
    best = 0
    previous = [0] * (n + 1)
    for i in range(1, n + 1):
        row = [0] * (n + 1)
        for j in range(i + 1, n + 1):
            # run[i][j]: the common run ending at i and j, kept shorter than their distance (no overlap)
            if tokens[i - 1] == tokens[j - 1] and previous[j - 1] < j - i:
                row[j] = previous[j - 1] + 1
                best = max(best, row[j])
        previous = row
    return best


def recurring_share(pattern_of: list[tuple[int, ...]]) -> float:
    """Share of the patterns that occur at least once more in the list."""
    if not pattern_of:
        return 0.0
    counts = Counter(pattern_of)
    return sum(counts[p] > 1 for p in pattern_of) / len(pattern_of)


def _windows(values: list[int], size: int) -> list[tuple[int, ...]]:
    return [tuple(values[i : i + size]) for i in range(len(values) - size + 1)]


def tonic_chord(key: int) -> set[int]:
    """Scale degrees of the key's tonic triad: root, third of the mode, fifth."""
    return {0, 3 if key >= 12 else 4, 7}


def excerpt_stats(excerpt: Excerpt) -> ExcerptStats:
    """Measure one excerpt: only its own notes and the key and meter it is read in."""
    notes = tuple(n for n in excerpt.notes if excerpt.start <= n.start < excerpt.end)
    tonic = excerpt.key % 12
    line = melody_line(notes)
    pitches = [n.pitch for n in line]
    steps = [b - a for a, b in itertools.pairwise(pitches)]
    intervals = np.zeros(2 * MAX_INTERVAL + 1)
    for s in steps:
        intervals[max(-MAX_INTERVAL, min(MAX_INTERVAL, s)) + MAX_INTERVAL] += 1
    lengths = np.zeros(len(LENGTH_EDGES) + 1)
    degrees = np.zeros(12)
    metre = np.zeros(len(METRE_BINS))
    for n in notes:
        lengths[int(np.searchsorted(LENGTH_EDGES, _steps(n.duration)))] += 1
        degrees[(n.pitch - tonic) % 12] += 1
    for onset in sorted({n.start for n in notes}):
        metre[_metre_bin(_steps(onset - excerpt.bar_start) % max(1, _steps(excerpt.bar_beats)))] += 1
    # Rests: silences inside the sounding span, on the grid.
    rests, silent = 0, 0
    sounding_until = None
    for n in sorted(notes, key=lambda n: n.start):
        if sounding_until is not None and _steps(n.start - sounding_until) >= MIN_REST_STEPS:
            rests += 1
            silent += _steps(n.start - sounding_until)
        sounding_until = n.end if sounding_until is None else max(sounding_until, n.end)
    last_sound = sounding_until if sounding_until is not None else excerpt.start
    tail = max(0.0, excerpt.end - last_sound) / excerpt.bar_beats
    last_degree = (line[-1].pitch - tonic) % 12 if line else None
    return ExcerptStats(
        notes=len(notes),
        intervals=_share(intervals),
        lengths=_share(lengths),
        degrees=_share(degrees),
        metre=_share(metre),
        last_degree=last_degree,
        longest_repeat=longest_repeat([(n.pitch, _steps(n.duration)) for n in line]),
        recurring_patterns=recurring_share(_windows(steps, PATTERN_NOTES - 1)),
        rests=rests,
        silent_share=silent / max(1, _steps(excerpt.end - excerpt.start)),
        tail_bars=round(tail, 4),
        early_stop=last_sound <= excerpt.end - excerpt.bar_beats + 1e-9,
        ends_on_tonic_chord=last_degree is not None and last_degree in tonic_chord(excerpt.key),
        distinct_pitches=len({n.pitch for n in notes}),
        semitone_share=sum(abs(s) == 1 for s in steps) / len(steps) if steps else 0.0,
        bars=excerpt.bars,
    )


def restated_share(excerpt: Excerpt, seed: Excerpt) -> float:
    """Share of the excerpt's melody notes that restate the seed.

    The rule: a note is restated when it lies in a segment of 4 consecutive melody notes that the seed's
    melody also plays — the same positions in the bar (grid steps from the bar line) and the same lengths,
    and either the same pitches relative to the key (octaves aside) or the same three intervals (the
    segment transposed, as a sequence).  An exact restatement reads 1.0; unrelated music reads about 0.
    """
    line = melody_line(tuple(n for n in excerpt.notes if excerpt.start <= n.start < excerpt.end))
    seed_line = melody_line(seed.notes)
    if len(line) < PATTERN_NOTES or len(seed_line) < PATTERN_NOTES:
        return 0.0

    def segments(ex: Excerpt, notes: list[Note]) -> tuple[list[tuple], list[tuple]]:
        rhythm = [(_position(ex, n), _steps(n.duration)) for n in notes]
        degree = [(n.pitch - ex.key % 12) % 12 for n in notes]
        by_degree, by_interval = [], []
        for i in range(len(notes) - PATTERN_NOTES + 1):
            r = tuple(rhythm[i : i + PATTERN_NOTES])
            by_degree.append((r, tuple(degree[i : i + PATTERN_NOTES])))
            ps = [n.pitch for n in notes[i : i + PATTERN_NOTES]]
            by_interval.append((r, tuple(b - a for a, b in itertools.pairwise(ps))))
        return by_degree, by_interval

    seed_degree, seed_interval = (set(s) for s in segments(seed, seed_line))
    own_degree, own_interval = segments(excerpt, line)
    restated = [False] * len(line)
    for i, (d, v) in enumerate(zip(own_degree, own_interval, strict=True)):
        if d in seed_degree or v in seed_interval:
            restated[i : i + PATTERN_NOTES] = [True] * PATTERN_NOTES
    return sum(restated) / len(line)


# -------------------------------------------------------------------------------------------- classifiers


@dataclass(frozen=True)
class Scores:
    """Out-of-fold accuracy (balanced: each class weighs the same) and area under the ROC curve."""

    accuracy: float
    auc: float


@dataclass(frozen=True)
class Discrimination:
    """How well two classifiers tell label 1 from label 0 under grouped cross-validation."""

    logistic: Scores  # standardized features, L2-regularized logistic regression
    forest: Scores  # a random forest (300 trees unless told)
    rows: int
    positives: int
    folds: int

    def to_dict(self) -> dict[str, object]:
        return {
            "logistic_regression": {"accuracy": self.logistic.accuracy, "auc": self.logistic.auc},
            "random_forest": {"accuracy": self.forest.accuracy, "auc": self.forest.auc},
            "rows": self.rows,
            "positives": self.positives,
            "folds": self.folds,
        }


BALANCE = (
    "sample weights: each row weighs 1 / (rows of its class), in fitting and in scoring, so the 4 takes "
    "of a seed weigh as much as its one real continuation; accuracy is therefore balanced accuracy"
)


def balanced_weights(labels: np.ndarray) -> np.ndarray:
    """Per-row weights under which both classes weigh the same (each sums to half the rows)."""
    labels = np.asarray(labels)
    weights = np.zeros(len(labels))
    for value in (0, 1):
        mask = labels == value
        if mask.any():
            weights[mask] = len(labels) / (2 * mask.sum())
    return weights


def grouped_folds(groups: np.ndarray, folds: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """(train rows, test rows) of ``folds`` folds that never split a group (sklearn's GroupKFold)."""
    from sklearn.model_selection import GroupKFold

    groups = np.asarray(groups)
    folds = min(folds, len(set(groups.tolist())))
    return list(GroupKFold(n_splits=folds).split(np.zeros(len(groups)), groups=groups))


def discriminate(
    features: np.ndarray,
    labels: np.ndarray,
    groups: np.ndarray,
    *,
    folds: int = 5,
    trees: int = 300,
    seed: int = 0,
) -> Discrimination:
    """Cross-validated out-of-fold scores of both classifiers on (rows × features, labels 0/1, group per row)."""
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x = np.asarray(features, dtype=float)
    y = np.asarray(labels, dtype=int)
    weights = balanced_weights(y)
    splits = grouped_folds(groups, folds)
    out = {"logistic": np.zeros(len(y)), "forest": np.zeros(len(y))}
    for train_rows, test_rows in splits:
        fold_weights = balanced_weights(y[train_rows])
        if len(set(y[train_rows].tolist())) < 2:  # a fold with one class learns nothing: it guesses
            for p in out.values():
                p[test_rows] = 0.5
            continue
        logistic = make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000))
        logistic.fit(x[train_rows], y[train_rows], logisticregression__sample_weight=fold_weights)
        out["logistic"][test_rows] = logistic.predict_proba(x[test_rows])[:, 1]
        forest = RandomForestClassifier(n_estimators=trees, min_samples_leaf=2, random_state=seed, n_jobs=1)
        forest.fit(x[train_rows], y[train_rows], sample_weight=fold_weights)
        out["forest"][test_rows] = forest.predict_proba(x[test_rows])[:, 1]

    def scores(p: np.ndarray) -> Scores:
        accuracy = float(np.sum(weights * ((p >= 0.5) == y)) / weights.sum())
        auc = float(roc_auc_score(y, p, sample_weight=weights)) if len(set(y.tolist())) == 2 else float("nan")
        return Scores(round(accuracy, 4), round(auc, 4))

    return Discrimination(
        logistic=scores(out["logistic"]),
        forest=scores(out["forest"]),
        rows=len(y),
        positives=int(y.sum()),
        folds=len(splits),
    )


# ------------------------------------------------------------------------------------- takes against real

RESTATES = 0.5  # an excerpt "restates the seed" when at least half its melody notes do (restated_share)


@dataclass(frozen=True)
class SeedCase:
    """One seed, its real continuation and the takes generated from it, all read in the seed's key."""

    seed: Excerpt
    real: Excerpt
    takes: tuple[Excerpt, ...]


def control_donors(cases: list[SeedCase]) -> tuple[list[int], list[int]]:
    """(donor, group) per case for the real-vs-real control: each case is paired with another of the same
    mode where one exists (pairs swap their real continuations; an odd one out makes a ring of three), and a
    pair's cases share a group, so no piece's continuation sits on both sides of a fold."""
    by_mode: dict[bool, list[int]] = {False: [], True: []}
    for i, c in enumerate(cases):
        by_mode[c.seed.key >= 12].append(i)
    rings: list[list[int]] = []
    for mode in (False, True):  # a mode with one case joins the other mode (transposed tonic to tonic)
        if len(by_mode.get(mode, [])) == 1 and (not mode) in by_mode:
            by_mode[not mode].extend(by_mode.pop(mode))
    for members in by_mode.values():
        ring: list[list[int]] = [members[i : i + 2] for i in range(0, len(members), 2)]
        if len(ring) > 1 and len(ring[-1]) == 1:
            ring[-2].extend(ring.pop())
        rings.extend(r for r in ring if len(r) > 1)
    donor, group = list(range(len(cases))), list(range(len(cases)))
    for g, r in enumerate(rings):
        for a, b in zip(r, r[1:] + r[:1], strict=True):
            donor[a], group[a] = b, len(cases) + g
    return donor, group


def _transpose_into(excerpt: Excerpt, key: int) -> Excerpt:
    shift = (key - excerpt.key) % 12
    return excerpt.transposed(shift - 12 if shift > 6 else shift, key)


def _summary(stats: list[ExcerptStats], restated: list[float]) -> dict[str, float]:
    def mean(values: list[float]) -> float:
        return round(float(np.mean(values)), 4) if values else float("nan")

    return {
        "excerpts": len(stats),
        "notes": mean([s.notes for s in stats]),
        "longest_repeat_notes": mean([s.longest_repeat for s in stats]),
        "restated_share": mean(restated),
        "restating_excerpts": mean([r >= RESTATES for r in restated]),
        "recurring_4_note_patterns": mean([s.recurring_patterns for s in stats]),
        "rests_per_bar": mean([s.rests_per_bar for s in stats]),
        "excerpts_with_a_rest": mean([s.rests > 0 for s in stats]),
        "early_stops": mean([s.early_stop for s in stats]),
        "ends_on_tonic_chord": mean([s.ends_on_tonic_chord for s in stats]),
        "distinct_pitches": mean([s.distinct_pitches for s in stats]),
        "semitone_share": mean([s.semitone_share for s in stats]),
    }


def _pooled(stats: list[ExcerptStats]) -> np.ndarray:
    """Scale-degree shares of all the excerpts' notes together."""
    return _share(sum((s.degrees * s.notes for s in stats), np.zeros(12)))


def _overlap(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.minimum(a, b).sum())


def donors_for(cases: list[SeedCase], donors: list[Excerpt]) -> list[Excerpt]:
    """One donor per case for the real-vs-real control, each used once where there are enough: the next
    unused donor of the case's mode (else of the other mode), transposed into the case's key."""
    pools = {minor: [d for d in donors if (d.key >= 12) == minor] for minor in (False, True)}
    used = {False: 0, True: 0}
    chosen = []
    for c in cases:
        minor = c.seed.key >= 12
        if not pools[minor]:
            minor = not minor
        pool = pools[minor]
        chosen.append(_transpose_into(pool[used[minor] % len(pool)], c.seed.key))
        used[minor] += 1
    return chosen


def compare(cases: list[SeedCase], donors: list[Excerpt] | None = None, *, folds: int = 5) -> dict[str, object]:
    """The takes against the real continuations: both classifiers on seed-independent features (takes vs
    real, and the control: another piece's real continuation, transposed into the seed's key, vs real),
    form and ending figures side by side, and the scale-degree histograms with their overlaps.

    The control's other pieces are ``donors`` (real continuations of pieces outside ``cases``, read in their
    own seeds' keys), one per case and in the case's group; without donors the cases lend each other theirs
    (:func:`control_donors`), which makes the two classes the same set of excerpts: 0.5 by construction.

    ``scale_degrees.split_half_ratio`` is the degree criterion of key lock's choice: the seeds are split
    into halves (even and odd places); the takes of one half are compared with the real continuations of the
    other (pooled histograms, both ways, averaged), against the same comparison of real with real — so both
    sides see the same sampling noise and the same mix of modes.
    """
    if len(cases) < 2:
        return {}
    real = [excerpt_stats(c.real) for c in cases]
    takes = [[excerpt_stats(t) for t in c.takes] for c in cases]
    if donors:
        others, group = donors_for(cases, donors), list(range(len(cases)))
    else:
        donor, group = control_donors(cases)
        others = [_transpose_into(cases[d].real, c.seed.key) for c, d in zip(cases, donor, strict=True)]
    other_stats = [excerpt_stats(o) for o in others]

    rows, labels, groups = [], [], []
    for i, (r, ts) in enumerate(zip(real, takes, strict=True)):
        rows.append(r.vector())
        labels.append(0)
        groups.append(i)
        for t in ts:
            rows.append(t.vector())
            labels.append(1)
            groups.append(i)
    against_takes = discriminate(np.array(rows), np.array(labels), np.array(groups), folds=folds)
    control_rows = [r.vector() for r in real] + [o.vector() for o in other_stats]
    control = discriminate(
        np.array(control_rows), np.array([0] * len(real) + [1] * len(real)), np.array(group + group), folds=folds
    )

    flat_takes = [t for ts in takes for t in ts]
    take_restated = [restated_share(t, c.seed) for c in cases for t in c.takes]
    real_restated = [restated_share(c.real, c.seed) for c in cases]
    other_restated = [restated_share(o, c.seed) for c, o in zip(cases, others, strict=True)]

    halves = [list(range(0, len(cases), 2)), list(range(1, len(cases), 2))]
    takes_half = np.mean(
        [
            _overlap(_pooled([t for i in halves[h] for t in takes[i]]), _pooled([real[i] for i in halves[1 - h]]))
            for h in (0, 1)
        ]
    )
    real_half = _overlap(_pooled([real[i] for i in halves[0]]), _pooled([real[i] for i in halves[1]]))
    pair = float(np.mean([_overlap(t.degrees, r.degrees) for r, ts in zip(real, takes, strict=True) for t in ts]))
    reference_pair = float(np.mean([_overlap(o.degrees, r.degrees) for o, r in zip(other_stats, real, strict=True)]))
    return {
        "discriminator": {
            "takes_vs_real": against_takes.to_dict(),
            "real_vs_real_control": control.to_dict(),
            "features": len(FEATURE_NAMES),
            "balance": BALANCE,
            "folds_grouped_by": "piece (a seed's takes, its real continuation and its control donor together)",
            "control_donors": "pieces after the seeds" if donors else "the seeds' own continuations, swapped",
        },
        "form": {
            "takes": _summary(flat_takes, take_restated),
            "real": _summary(real, real_restated),
            # other pieces' real continuations (the control's), restatement of this seed by chance included
            "another_piece_real": _summary(other_stats, other_restated),
        },
        "scale_degrees": {
            "takes": [round(float(x), 4) for x in _pooled(flat_takes)],
            "real": [round(float(x), 4) for x in _pooled(real)],
            "overlap": round(_overlap(_pooled(flat_takes), _pooled(real)), 4),
            "split_half_overlap": round(float(takes_half), 4),
            "reference_split_half_overlap": round(real_half, 4),
            "split_half_ratio": round(float(takes_half) / real_half, 4),
            "pair_overlap": round(pair, 4),
            "reference_pair_overlap": round(reference_pair, 4),
            "pair_ratio": round(pair / reference_pair, 4),
        },
    }
