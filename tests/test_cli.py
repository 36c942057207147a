import json
import subprocess
import sys

import pytest

from composer.cli import main
from composer.encoding import quantize
from composer.midi_io import read_midi
from composer.testing import smf
from composer.testing.smf import BAD


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


# ------------------------------------------------------------------------------- generate: file by file


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    import torch

    from composer import checkpoint
    from composer.model import ModelConfig, MusicLSTM

    torch.manual_seed(0)
    config = ModelConfig(hidden=32, layers=1, head_hidden=16)
    path = tmp_path_factory.mktemp("model") / "tiny.safetensors"
    checkpoint.save(path, checkpoint.model_tensors(MusicLSTM(config)), {"model": config.to_dict()})
    return path


def _generate(seeds, out, model):
    settings = ["--bars", "1", "--variations", "2", "--format", "mid,musicxml,wav", "--quiet"]
    return main(["generate", *map(str, seeds), "--out", str(out), "--model", str(model), *settings])


def test_a_format_that_fails_for_one_seed_stops_nothing_else(tmp_path, tiny_model, capsys, monkeypatch):
    import composer.studio.render

    real = composer.studio.render.render_wav

    def fails_for_b(piece, **kwargs):
        if piece.notes[0].pitch == 67:  # b.mid's first note
            raise RuntimeError("the synthesizer broke")
        return real(piece, **kwargs)

    monkeypatch.setattr(composer.studio.render, "render_wav", fails_for_b)
    a = write(tmp_path, "a.mid", smf.simple_file())
    b = write(tmp_path, "b.mid", smf.simple_file([67, 65, 64, 62, 60, 62, 64, 65]))
    c = write(tmp_path, "c.mid", b"not a MIDI file at all")

    assert _generate([a, b], tmp_path / "one", tiny_model) == 1  # every seed read, some file not written
    err = capsys.readouterr().err
    assert "Traceback" not in err and "RuntimeError" not in err
    failed = [line for line in err.splitlines() if line.startswith("failed: ")]
    assert failed == [
        f"failed: b.mid: the WAV audio take-0{i}.wav could not be made (a fault of composer's wav writer on this "
        "take); its other files were written."
        for i in (1, 2)
    ]
    manifest = json.loads((tmp_path / "one" / "manifest.json").read_text())
    a_record, b_record = manifest["seeds"]
    assert "failed" not in a_record and b_record["failed"] == [line[len("failed: ") :] for line in failed]
    assert [t["files"] for t in b_record["takes"]] == [
        ["take-01.mid", "take-01.musicxml"],
        ["take-02.mid", "take-02.musicxml"],
    ]
    assert sorted(p.name for p in (tmp_path / "one" / "b").iterdir()) == [
        "take-01.mid",
        "take-01.musicxml",
        "take-02.mid",
        "take-02.musicxml",
    ]
    assert len(list((tmp_path / "one" / "a").iterdir())) == 6
    assert read_midi(tmp_path / "one" / "b" / "take-02.mid").notes

    # A refused seed is bad input, and says so in the exit code, even beside a file that could not be written.
    assert _generate([c, a, b], tmp_path / "two", tiny_model) == 2
    err = capsys.readouterr().err
    assert err.splitlines()[0].startswith("refused: c.mid ")
    assert (tmp_path / "two" / "a" / "take-02.wav").exists() and (tmp_path / "two" / "b" / "take-02.mid").exists()


def test_generate_says_in_the_manifest_when_a_score_is_rounded(tmp_path, tiny_model, capsys):
    from composer.midi_io import piece_to_midi_bytes
    from composer.piece import Note, Piece, TimeSignature

    played = Piece(  # a melody played in, not quantized: its lengths have no notation
        notes=tuple(Note(i * 1.03 + 0.011 * (i % 3), 0.37 + 0.05 * (i % 4), 60 + 2 * (i % 5), 80) for i in range(12)),
        tempo=100,
        time_signature=TimeSignature(4, 4),
    )
    seed = write(tmp_path, "played.mid", piece_to_midi_bytes(played))
    assert _generate([seed], tmp_path / "out", tiny_model) == 0
    seed_record = json.loads((tmp_path / "out" / "manifest.json").read_text())["seeds"][0]
    takes = seed_record["takes"]
    assert all("the MIDI keeps them exact" in take["musicxml_rounded"] for take in takes)
    assert [(t["name"], t["program"], t["notes"]) for t in seed_record["tracks"]] == [("Acoustic Grand Piano", 0, 12)]
    assert read_midi(tmp_path / "out" / "played" / "take-01.mid").notes[1].start == pytest.approx(
        read_midi(seed).notes[1].start
    )  # the MIDI keeps the played times


def test_inspect_json_reports_the_track_table(tmp_path, capsys):
    right = smf.track([smf.meta(3, b"Right"), *smf.note(72, 480, velocity=90), *smf.note(74, 480, velocity=60)])
    left = smf.track([smf.meta(3, b"Left"), *smf.note(48, 960, velocity=50)])
    path = write(tmp_path, "hands.mid", smf.smf([right, left]))
    assert main(["inspect", "--json", "--no-key-estimate", str(path)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert [(t["name"], t["notes"], t["velocity_low"], t["velocity_high"]) for t in report["tracks"]] == [
        ("Right", 2, 60, 90),
        ("Left", 1, 50, 50),
    ]
    assert report["has_dynamics"] is True


def test_generate_form_is_in_the_manifest_with_each_takes_restatement_and_reruns_byte_identically(tmp_path, capsys):
    from composer import examples

    seed = examples.example_path("hicks-hornpipe")  # a pickup and 4 bars
    args = ["generate", str(seed), "--bars", "4", "--variations", "2", "--form", "repeat"]  # the shipped model
    assert main([*args, "--out", str(tmp_path / "one"), "--quiet"]) == 0
    assert main([*args, "--out", str(tmp_path / "two"), "--quiet"]) == 0
    for name in ("manifest.json", "hicks-hornpipe/take-01.mid", "hicks-hornpipe/take-02.mid"):
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "two" / name).read_bytes(), name
    manifest = json.loads((tmp_path / "one" / "manifest.json").read_text())
    assert manifest["settings"]["form"] == "repeat"
    takes = manifest["seeds"][0]["takes"]
    assert all("restates" in take for take in takes)
    assert all(take["restates"]["bars"] == "1-4" and take["restates"]["share"] >= 0.8 for take in takes)


def test_generate_key_candidates_are_a_setting_in_the_manifest_and_checked(tmp_path, tiny_model, capsys):
    from composer import examples

    seed = str(examples.example_path("hicks-hornpipe"))
    args = ["generate", seed, "--bars", "2", "--variations", "1", "--key-lock", "--model", str(tiny_model), "--quiet"]
    assert main([*args, "--key-candidates", "2", "--out", str(tmp_path / "two")]) == 0
    manifest = json.loads((tmp_path / "two" / "manifest.json").read_text())
    assert manifest["settings"]["key_candidates"] == 2
    assert main([*args, "--out", str(tmp_path / "default")]) == 0
    assert json.loads((tmp_path / "default" / "manifest.json").read_text())["settings"]["key_candidates"] == 6
    capsys.readouterr()
    assert main([*args, "--key-candidates", "17", "--out", str(tmp_path / "bad")]) == 2
    err = capsys.readouterr().err
    assert "Key lock draws 1 to 16 candidates for each take" in err and "Traceback" not in err
    assert not (tmp_path / "bad").exists()


def test_generate_refuses_a_bad_form_in_one_sentence(tmp_path, tiny_model, capsys):
    from composer import examples

    seed = examples.example_path("hicks-hornpipe")
    out = tmp_path / "out"
    assert main(["generate", str(seed), "--out", str(out), "--form", "sonata", "--model", str(tiny_model)]) == 2
    err = capsys.readouterr().err
    assert err.splitlines() == [
        "error: The form must be auto (a form for each take, as real music chooses), free (the model's own way), "
        "repeat (restate the last phrase), vary (its rhythm and contour, new notes) or contrast (a new section); "
        "got 'sonata'."
    ]
    assert not out.exists()
