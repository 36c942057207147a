import smf

import app


def test_inspect_seed_handler_reports_a_good_file(tmp_path):
    path = tmp_path / "tune.mid"
    path.write_bytes(smf.simple_file(bpm=96))
    report, status = app.inspect_seed(str(path))
    assert "Read 8 notes" in status
    assert "96 BPM" in report and "C major (stated)" in report


def test_inspect_seed_handler_refuses_a_renamed_text_file(tmp_path):
    path = tmp_path / "fake.mid"
    path.write_text("not music at all\n")
    report, status = app.inspect_seed(str(path))
    assert report == "" and "is not a MIDI file" in status


def test_the_ui_builds_without_launching_and_names_its_handlers():
    demo = app.build_ui()
    assert sorted(fn.api_name for fn in demo.fns.values()) == ["continue_seed", "inspect_seed"]


def test_continue_seed_handler_returns_a_take_per_request(tmp_path):
    path = tmp_path / "tune.mid"
    path.write_bytes(smf.simple_file([60, 62, 64, 65, 67, 69, 71, 72] * 2))
    status, midis, wavs = app.continue_seed(str(path), bars=2, takes=2, temperature=1.0, seed=3, key_lock=True)
    assert status.startswith("Generated take 1:") and len(midis) == len(wavs) == 2
    from composer.midi_io import read_midi

    take = read_midi(midis[0])
    assert take.notes[:16] == read_midi(str(path)).notes  # the seed, unchanged, comes first
    assert len(take.notes) > 16
    with open(wavs[0], "rb") as f:
        assert f.read(4) == b"RIFF"


def test_continue_seed_handler_refuses_bad_input_with_a_sentence(tmp_path):
    status, midis, wavs = app.continue_seed(None, 8, 4, 1.0, 0, False)
    assert "Choose a MIDI file" in status and midis == [] and wavs == []
    path = tmp_path / "tune.mid"
    path.write_bytes(smf.simple_file())
    status, midis, _ = app.continue_seed(str(path), 8, 4, 0.0, 0, False)
    assert "temperature must be above 0" in status and midis == []
