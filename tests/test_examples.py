"""The bundled example seeds: every file reads back as a short, sensible seed; unknown names are refused."""

import pytest

from composer.errors import InputError
from composer.examples import EXAMPLES, build_example, example_path, load_example
from composer.piece import TimeSignature

EXPECTED = {  # name: (meter, key, pickup in beats)
    "bach-bwv269": ((3, 4), "G major", 1.0),
    "bach-bwv252-soprano": ((4, 4), "G major", 1.0),
    "haste-to-the-wedding": ((6, 8), "D major", 0.5),
    "hicks-hornpipe": ((4, 4), "G major", 1.0),
    "take-back-the-virgin-page": ((3, 4), "F major", 0.0),
    "barbara-allen": ((4, 4), "D minor", 1.0),
    "ringel-ringel-rosenkranz": ((2, 4), "F major", 0.0),
}


def test_at_least_six_examples_with_unique_names_and_titles():
    names = [e.name for e in EXAMPLES]
    assert len(EXAMPLES) >= 6
    assert len(set(names)) == len(names)
    assert set(names) == set(EXPECTED)
    assert all(e.title and e.description and e.source for e in EXAMPLES)


@pytest.mark.parametrize("name", list(EXPECTED))
def test_example_reads_back_as_a_short_sensible_seed(name):
    meter, key, pickup = EXPECTED[name]
    path = example_path(name)
    assert path.is_file() and path.stat().st_size < 3_000
    p = load_example(name)
    assert p.time_signature == TimeSignature(*meter)
    assert p.key_name == key
    assert p.bar_start == pickup
    assert 40 <= p.tempo <= 200
    assert len(p.notes) >= 8
    assert 4 <= p.bars - (pickup > 0) <= 8  # 4-8 full bars after the pickup
    assert all(21 <= n.pitch <= 108 for n in p.notes)
    assert p.remarks == ()


def test_only_the_chorale_is_polyphonic():
    for e in EXAMPLES:
        p = load_example(e.name)
        onsets = [n.start for n in p.notes]
        assert (len(set(onsets)) < len(onsets)) == (e.name == "bach-bwv269"), e.name


def test_unknown_example_is_refused_with_the_choices():
    with pytest.raises(InputError, match=r"no example seed called 'nope'.*bach-bwv269"):
        load_example("nope")
    with pytest.raises(InputError):
        example_path("../pyproject")


@pytest.mark.slow
def test_committed_files_match_a_rebuild_from_the_music21_corpus():
    for e in EXAMPLES:
        built = build_example(e)
        committed = load_example(e.name)
        assert [(n.start, n.duration, n.pitch) for n in committed.notes] == [
            (n.start, n.duration, n.pitch) for n in built.notes
        ], e.name
        assert (committed.time_signature, committed.bar_start, committed.key) == (
            built.time_signature,
            built.bar_start,
            built.key,
        ), e.name
