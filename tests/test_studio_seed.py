import pytest

from composer.errors import InputError
from composer.midi_io import read_midi
from composer.studio.seed import read_for_storing
from composer.testing import smf


def test_the_studio_stores_only_seeds_that_read_back():
    far = smf.smf([smf.track([*smf.note(60, 10, delta=0), *smf.note(62, 10, delta=9_000_000)])], division=96)
    with pytest.raises(InputError, match="cannot store it as a seed"):  # written at 480 ticks a beat: too far
        read_for_storing(far, "far.mid")
    piece, copy, data = read_for_storing(smf.simple_file(), "ok.mid")
    assert read_midi(data).notes == copy.notes == piece.notes
    with pytest.raises(InputError, match="more than 5 notes, more than a seed needs"):
        read_for_storing(smf.simple_file(), "long.mid", max_notes=5)


def test_a_refusal_names_the_file_once_and_says_what_to_do():
    far = smf.smf([smf.track([*smf.note(60, 10, delta=0), *smf.note(62, 10, delta=9_000_000)])], division=96)
    with pytest.raises(InputError) as refused:
        read_for_storing(far, "far.mid")
    sentence = str(refused.value)
    assert sentence.startswith("far.mid reads, but") and sentence.count("far.mid") == 1
    assert sentence.endswith("quantize or trim it in your program first.")
