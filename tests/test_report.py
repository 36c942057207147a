"""composer.report: the seed report — what composer understood of a file, before anything is generated."""

from pathlib import Path

import pytest

from composer.encoding import quantize
from composer.errors import InputError
from composer.midi_io import read_midi
from composer.piece import Note, Piece
from composer.report import inspect_file, seed_report
from composer.testing import smf


def test_a_plain_melody_is_reported_as_written() -> None:
    piece = read_midi(smf.simple_file([60, 62, 64, 65, 67, 65, 64, 62], bpm=90.0))
    report = seed_report(piece, "tune.mid")
    assert report.file == "tune.mid"
    assert (report.notes, report.bars, report.events) == (8, 2, 8)
    assert report.tempo == 90.0 and report.time_signature == "4/4" and report.pickup_beats == 0
    assert (report.key, report.key_number, report.key_source) == ("C major", 0, "stated")
    assert report.seconds == pytest.approx(8 * 60 / 90, abs=0.01)  # eight quarter notes at 90 BPM
    assert report.quantization["max_onset_shift_beats"] == 0
    assert report.quantization["notes_merged"] == 0
    assert report.tracks_dropped == [] and len(report.tracks_kept) == 1 and report.tracks_kept[0]["notes"] == 8


def test_a_file_without_a_key_gets_an_estimate_or_none() -> None:
    data = smf.smf([smf.track([smf.tempo(120), smf.time_signature(3, 2), *smf.melody([67, 71, 74, 71, 67, 62])])])
    piece = read_midi(data)
    assert piece.key is None
    estimated = seed_report(piece, "g.mid")
    assert estimated.key_source == "estimated" and estimated.key == "G major" and estimated.key_number == 7
    plain = seed_report(piece, "g.mid", estimate_key=False)
    assert (plain.key, plain.key_number, plain.key_source) == (None, None, "none")
    assert "key unknown" in plain.to_text()
    assert plain.time_signature == "3/4" and plain.bars == 2


def test_quantization_and_pickups_are_counted() -> None:
    notes = (
        Note(0.0, 1.0, 67, 80),  # a one-beat pickup
        Note(1.02, 1.0, 72, 80),  # off the grid by 0.02 beats
        Note(2.0, 1.0, 74, 80),
        Note(2.0, 0.5, 74, 70),  # the same pitch at the same time: merged into the longer note
        Note(3.0, 20.0, 76, 80),  # longer than the longest note the grid holds: capped
    )
    piece = Piece(notes=notes, bar_start=1.0, key=7)
    report = seed_report(piece, "pickup.mid", estimate_key=False)
    assert report.pickup_beats == 1.0
    assert report.notes == len(quantize(piece).notes) == 4
    q = report.quantization
    assert q["max_onset_shift_beats"] == pytest.approx(0.02, abs=1e-3)
    assert (q["notes_merged"], q["durations_capped"]) == (1, 1)
    text = report.to_text()
    assert "pickup of 1 beat(s)" in text and "merged 1" in text and "long notes capped 1" in text


def test_dropped_tracks_and_remarks_are_reported() -> None:
    melody = smf.track([smf.tempo(100), smf.time_signature(4, 2), *smf.melody([60, 64, 67, 72])])
    drums = smf.track([*smf.melody([36, 38, 36, 38], channel=9)])
    piece = read_midi(smf.smf([melody, drums]))
    report = seed_report(piece, "band.mid", estimate_key=False)
    assert report.notes == 4
    assert len(report.tracks_dropped) == 1 and report.tracks_dropped[0]["notes"] == 4
    assert report.tracks_dropped[0]["reason"]
    assert report.remarks == list(piece.remarks)
    assert "tracks dropped:" in report.to_text()
    assert report.to_dict()["tracks_dropped"] == report.tracks_dropped


def test_inspect_file_reads_reports_and_writes_the_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "seed.mid"
    path.write_bytes(smf.simple_file([60, 62, 64, 65]))
    (tmp_path / "roundtrip").mkdir()
    report = inspect_file(path, roundtrip_dir=tmp_path / "roundtrip", estimate_key=False)
    assert report.file == str(path) and report.notes == 4
    written = read_midi(tmp_path / "roundtrip" / "seed.mid")
    assert written.notes == quantize(read_midi(path)).notes  # what the model sees is what was written


def test_inspect_file_refuses_what_is_not_midi_in_one_sentence(tmp_path: Path) -> None:
    path = tmp_path / "letter.mid"
    path.write_text("Dear friend, this is not music.")
    with pytest.raises(InputError) as refused:
        inspect_file(path, roundtrip_dir=tmp_path / "out")
    assert "Traceback" not in str(refused.value) and str(refused.value).count("\n") == 0
    assert not (tmp_path / "out").exists()


def test_the_track_table_is_reported_with_notes_and_loudness_per_track() -> None:
    right = smf.track([smf.meta(3, b"Right"), *smf.note(72, 480, velocity=90), *smf.note(74, 480, velocity=60)])
    left = smf.track([smf.meta(3, b""), smf.program(42, 1), *smf.note(48, 960, channel=1, velocity=50)])
    report = seed_report(read_midi(smf.smf([right, left])), "hands.mid", estimate_key=False)
    assert report.has_dynamics
    assert [(t.name, t.instrument, t.channel, t.notes) for t in report.tracks] == [
        ("Right", "Acoustic Grand Piano", 0, 2),
        ("Cello", "Cello", 1, 1),
    ]
    assert [(t.velocity_low, t.velocity_high) for t in report.tracks] == [(60, 90), (50, 50)]
    text = report.to_text()
    assert (
        "tracks (2):" in text and "Right (Acoustic Grand Piano, program 0, channel 1): 2 notes, velocity 60–90" in text
    )
    tracks = report.to_dict()["tracks"]
    assert isinstance(tracks, list)
    assert tracks[1] == {
        "name": "Cello",
        "program": 42,
        "instrument": "Cello",
        "channel": 1,
        "notes": 1,
        "velocity_low": 50,
        "velocity_high": 50,
    }


def test_a_seed_at_one_velocity_is_reported_as_without_dynamics() -> None:
    report = seed_report(read_midi(smf.simple_file([60, 62, 64])), "flat.mid", estimate_key=False)
    assert not report.has_dynamics and "no dynamics (all 80)" in report.to_text()


def test_an_empty_conductor_track_is_not_reported_as_dropped() -> None:
    data = smf.smf([smf.track([smf.tempo(90)]), smf.track(smf.melody([60, 62, 64]))])
    report = seed_report(read_midi(data, name="two.mid"), "two.mid")
    assert report.tracks_dropped == [] and "tracks dropped" not in report.to_text()
