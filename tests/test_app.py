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


def test_the_ui_builds_without_launching():
    demo = app.build_ui()
    assert demo is not None
