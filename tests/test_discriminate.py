"""The discriminator of continuations: features on hand-made excerpts, the classifiers, the grouped folds."""

import numpy as np

from composer.discriminate import (
    FEATURE_NAMES,
    Excerpt,
    SeedCase,
    control_donors,
    discriminate,
    donors_for,
    excerpt_stats,
    grouped_folds,
    longest_repeat,
    restated_share,
)
from composer.piece import Note

C_MAJOR, A_MINOR = 0, 21


def excerpt(notes: list[tuple[float, float, int]], *, start: float = 0.0, bars: int = 2, key: int = C_MAJOR) -> Excerpt:
    """An excerpt in 4/4 from (onset, length, pitch) triples."""
    return Excerpt(tuple(Note(s, d, p, 80) for s, d, p in notes), key, 4.0, 0.0, start, bars)


def scale_run(start: float, pitches: list[int], length: float = 1.0) -> list[tuple[float, float, int]]:
    return [(start + i * length, length, p) for i, p in enumerate(pitches)]


def test_a_repeated_phrase_is_found_and_a_rest_counted():
    phrase = [60, 62, 64, 65, 67]
    notes = scale_run(0, phrase) + scale_run(5, [71, 72, 59]) + scale_run(8, phrase) + [(13, 1, 69)]
    stats = excerpt_stats(excerpt(notes, bars=4))
    assert stats.longest_repeat == 5
    assert stats.rests == 0 and not stats.early_stop
    assert len(FEATURE_NAMES) == len(stats.vector())

    with_rest = excerpt([(0, 1, 60), (1, 1, 62), (3, 1, 64), (4, 4, 60)], bars=2)  # a beat's silence at 2
    stats = excerpt_stats(with_rest)
    assert stats.rests == 1 and stats.rests_per_bar == 0.5
    assert stats.silent_share == 1 / 8
    assert stats.ends_on_tonic_chord and stats.last_degree == 0


def test_overlapping_copies_are_not_a_repeat():
    assert longest_repeat([(1,), (1,), (1,)]) == 1  # "1 1" twice would overlap
    assert longest_repeat([(1,), (2,), (1,), (2,)]) == 2
    assert longest_repeat([(1,), (2,), (3,)]) == 0


def test_an_early_stop_and_an_ending_off_the_tonic_chord():
    stats = excerpt_stats(excerpt(scale_run(0, [60, 62, 64, 62]), bars=2))  # one bar of four asked two
    assert stats.early_stop and stats.tail_bars == 1.0
    assert stats.last_degree == 2 and not stats.ends_on_tonic_chord
    # in A minor, C is the third of the tonic chord; the degrees are read from A
    minor = excerpt_stats(excerpt(scale_run(0, [69, 71, 72]), bars=1, key=A_MINOR))
    assert minor.ends_on_tonic_chord and minor.degrees[0] == 1 / 3 and minor.degrees[3] == 1 / 3


def test_semitones_distinct_pitches_and_recurring_patterns():
    stats = excerpt_stats(excerpt(scale_run(0, [64, 65, 64, 65, 64, 65, 64, 65]), bars=2))
    assert stats.semitone_share == 1.0 and stats.distinct_pitches == 2
    assert stats.recurring_patterns == 1.0  # (+1 −1 +1) and (−1 +1 −1) each recur
    leaps = excerpt_stats(excerpt(scale_run(0, [60, 62, 67, 59, 72, 65, 69, 60]), bars=2))
    assert leaps.recurring_patterns == 0.0 and leaps.semitone_share == 0.0


def test_restated_share_reads_one_for_a_restatement_and_zero_for_unrelated_notes():
    tune = scale_run(0, [60, 64, 67, 72, 71, 67, 62, 60])  # two bars of crotchets
    seed = excerpt(tune, bars=2)
    again = excerpt([(s + 8, d, p) for s, d, p in tune], start=8, bars=2)
    assert restated_share(again, seed) == 1.0
    sequence = excerpt([(s + 8, d, p + 2) for s, d, p in tune], start=8, bars=2)  # a step higher: same intervals
    assert restated_share(sequence, seed) == 1.0
    unrelated = excerpt([*scale_run(8.5, [65, 69, 62, 70, 63, 66, 61], 0.5), (12, 3, 68)], start=8, bars=2)
    assert restated_share(unrelated, seed) == 0.0
    half = excerpt([(s + 8, d, p) for s, d, p in tune[:4]] + scale_run(12, [66, 61, 70, 63]), start=8, bars=2)
    assert restated_share(half, seed) == 0.5


def test_the_classifiers_tell_separable_sets_apart_and_identical_ones_not():
    rng = np.random.default_rng(0)
    labels = np.array([0, 1, 1, 1, 1] * 40)  # 1 real and 4 takes per "seed", as in the check
    groups = np.repeat(np.arange(40), 5)
    noise = rng.normal(size=(len(labels), 6))
    separable = discriminate(noise + 3 * labels[:, None], labels, groups, trees=40)
    assert separable.logistic.accuracy > 0.95 and separable.forest.accuracy > 0.95
    assert separable.logistic.auc > 0.99 and separable.forest.auc > 0.99
    same = discriminate(noise, labels, groups, trees=40)
    for scores in (same.logistic, same.forest):
        assert 0.35 < scores.accuracy < 0.65 and 0.3 < scores.auc < 0.7
    assert same.rows == 200 and same.positives == 160 and same.folds == 5


def test_grouped_folds_never_split_a_piece():
    groups = np.repeat(np.arange(13), 5)
    folds = grouped_folds(groups, 5)
    tested = np.concatenate([test for _, test in folds])
    assert sorted(tested.tolist()) == list(range(len(groups)))  # every row tested once
    for train, test in folds:
        assert not set(groups[train]) & set(groups[test])


def test_the_control_pairs_pieces_of_one_mode_in_one_group():
    keys = [C_MAJOR, A_MINOR, 7, 2, 16, 9]  # majors: 0, 2, 3, 5 (C, G, D, A); minor: 1, 4 (A, E)
    cases = [SeedCase(excerpt([], key=k), excerpt([], key=k), ()) for k in keys]
    donor, group = control_donors(cases)
    for i, d in enumerate(donor):
        assert d != i and group[d] == group[i]
        assert (keys[i] >= 12) == (keys[d] >= 12)
    odd_donor, odd_group = control_donors(cases[:5])  # three majors make a ring, two minors a pair
    assert sorted(odd_donor) == list(range(5)) and all(d != i for i, d in enumerate(odd_donor))
    assert len(set(odd_group)) == 2


def test_control_donors_from_other_pieces_match_the_mode_and_the_key():
    cases = [SeedCase(excerpt([], key=k), excerpt([], key=k), ()) for k in (C_MAJOR, A_MINOR, 7)]
    donors = [excerpt([(0, 1, 62)], key=2), excerpt([(0, 1, 64)], key=16), excerpt([(0, 1, 65)], key=5)]
    chosen = donors_for(cases, donors)
    assert [d.key for d in chosen] == [C_MAJOR, A_MINOR, 7]  # read in the seed's key …
    # … D major's D moved to C; E minor's E to A (up 5); F major's second donor, F, moved to G
    assert [d.notes[0].pitch for d in chosen] == [60, 69, 67]
