"""The README's own export command, run as a new user runs it: `composer generate … --format mid,musicxml,wav` on the
bundled example seeds and on a folk tune whose triplet pickup lies off the grid, with the shipped model; every file
it promises is written and reads back (MIDI through composer's reader, MusicXML through music21, WAV as audio)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import wave
from pathlib import Path

import composer
from composer.midi_io import read_midi, write_midi
from composer.score import piece_from_abc

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((Path(composer.__file__).parent / "examples").glob("*.mid"))
# A tune that opens on a triplet pickup (the kind of folk seed whose score export used to stop the whole run).
TRIPLET_PICKUP = "X:1\nT:Triplet pickup\nM:4/4\nL:1/8\nK:G\n(3ABc | d2 e2 f2 g2 | a2 g2 (3fed c2 | B8 |\n"


def readme_generate_formats() -> str:
    """The --format list of the README's generate command, as the README writes it."""
    text = (ROOT / "README.md").read_text()
    command = text[text.index("composer generate SEED") :].split("```")[0]
    found = re.search(r"--format ([a-z,]+)", command)
    assert found, "the README's generate command names no --format"
    return found.group(1)


def test_the_readme_generate_command_writes_every_format_for_every_seed(tmp_path):
    formats = readme_generate_formats()
    assert formats.split(",") == ["mid", "musicxml", "wav"]
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    for example in EXAMPLES:
        (seeds / example.name).write_bytes(example.read_bytes())
    write_midi(piece_from_abc(TRIPLET_PICKUP), seeds / "triplet-pickup.mid")
    out = tmp_path / "takes"
    command = ["generate", str(seeds), "--out", str(out), "--format", formats, "--bars", "2", "--variations", "1"]
    done = subprocess.run(
        [sys.executable, "-m", "composer.cli", *command, "--quiet"],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
    )
    assert "Traceback" not in done.stderr
    assert done.returncode == 0, done.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    assert [Path(s["file"]).name for s in manifest["seeds"]] == sorted(p.name for p in seeds.iterdir())
    for record in manifest["seeds"]:
        assert "refused" not in record and "failed" not in record, record
        folder = out / record["folder"]
        assert record["takes"][0]["files"] == ["take-01.mid", "take-01.musicxml", "take-01.wav"]
        take = read_midi(folder / "take-01.mid")
        seed = read_midi(seeds / Path(record["file"]).name)
        assert len(take.notes) > len(seed.notes)  # the seed and its continuation
        _assert_musicxml_reads(folder / "take-01.musicxml", len(take.notes))
        with wave.open(str(folder / "take-01.wav")) as audio:
            assert audio.getnframes() / audio.getframerate() > 1.0


def _assert_musicxml_reads(path: Path, notes: int) -> None:
    from music21 import converter

    xml = path.read_bytes()
    assert b'print-object="no"' not in xml  # every rest printed
    score = converter.parse(path).stripTies()
    assert sum(len(n.pitches) for n in score.flatten().notes) == notes


def test_the_triplet_pickup_seed_is_scored_with_tuplets(tmp_path):
    """The triplet pickup, read back from MIDI as a seed is, is written as a tuplet, not rounded."""
    from composer.score import musicxml_of_piece

    seed = tmp_path / "triplet-pickup.mid"
    write_midi(piece_from_abc(TRIPLET_PICKUP), seed)
    score = musicxml_of_piece(read_midi(seed))
    assert score.rounded is None and b"<time-modification>" in score.data
