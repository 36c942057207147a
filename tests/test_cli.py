import json
import subprocess
import sys

import pytest
from test_midi_io import BAD

from composer.cli import main
from composer.encoding import quantize
from composer.midi_io import read_midi
from composer.testing import smf


def write(tmp_path, name, data):
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_inspect_text_report(tmp_path, capsys):
    path = write(tmp_path, "tune.mid", smf.simple_file(bpm=90))
    assert main(["inspect", str(path)]) == 0
    out = capsys.readouterr().out
    assert "notes 8, bars 2" in out and "tempo 90 BPM" in out and "key C major (stated)" in out


def test_inspect_json_estimates_a_key_when_none_is_stated(tmp_path, capsys):
    # G major scale, no key signature in the file
    data = smf.smf([smf.track([smf.tempo(120), *smf.melody([67, 69, 71, 72, 74, 76, 78, 79, 74, 71, 67])])])
    path = write(tmp_path, "g.mid", data)
    assert main(["inspect", "--json", str(path)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["key"] == "G major" and report["key_source"] == "estimated"
    assert report["notes"] == 11 and report["time_signature"] == "4/4"
    assert report["quantization"]["max_onset_shift_beats"] == 0


def test_inspect_several_files_names_each_refusal_and_reports_the_rest(tmp_path, capsys):
    good = write(tmp_path, "good.mid", smf.simple_file())
    wav = write(tmp_path, "song.mid", BAD["wav renamed"][0])
    drums = write(tmp_path, "beat.mid", BAD["only drums"][0])
    assert main(["inspect", "--json", str(wav), str(good), str(drums)]) == 2
    reports = json.loads(capsys.readouterr().out)
    assert [("refused" in r) for r in reports] == [True, False, True]
    assert "song.mid is not a MIDI file" in reports[0]["refused"]
    assert "beat.mid contains only drum tracks" in reports[2]["refused"]
    assert reports[1]["notes"] == 8


def test_inspect_roundtrip_writes_decode_encode(tmp_path, capsys):
    # a type-1 file with a tempo map, a pickup and off-grid timing, as another tool might write it
    events = [
        smf.tempo(100),
        smf.time_signature(1, 2),
        *smf.note(67, 470, delta=0),
        smf.time_signature(4, 2, delta=10),
        *smf.note(72, 400, delta=3),
        smf.tempo(80),
        *smf.melody([71, 69]),
    ]
    src = write(tmp_path, "odd.mid", smf.smf([smf.track(events), smf.track(smf.melody([48, 55], 960))]))
    out_dir = tmp_path / "rt"
    assert main(["inspect", str(src), "--roundtrip", str(out_dir), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["pickup_beats"] == 1.0 and report["quantization"]["max_onset_shift_beats"] > 0
    back = read_midi(out_dir / "odd.mid")
    assert quantize(back) == quantize(read_midi(src))


def test_bad_input_exit_code_2_and_one_sentence_without_traceback(tmp_path):
    paths = [write(tmp_path, f"{i}.mid", data) for i, (data, _) in enumerate(BAD.values())]
    done = subprocess.run(
        [sys.executable, "-m", "composer.cli", "inspect", *map(str, paths)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == len(BAD)
    for line, path, (_, expected) in zip(lines, paths, BAD.values(), strict=True):
        assert line.startswith(f"refused: {path.name} ") and expected in line


def test_missing_subcommand_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exit_:
        main([])
    assert exit_.value.code == 2
    assert "usage: composer" in capsys.readouterr().err
