"""composer.testing: results stamped with commit, date and machine; reliability.md assembled from its parts;
the byte builders produce what a MIDI reader accepts."""

import json
import re
from pathlib import Path

import pytest

from composer.midi_io import read_midi
from composer.testing import benchmark, smf
from composer.testing.benchmark import (
    RELIABILITY_PARTS,
    UNSTAMPED_MACHINE,
    Machine,
    missing_parts,
    reliability_report,
    stamp,
    write_reliability,
    write_result,
)

RESULTS = Path(__file__).resolve().parent.parent / "bench" / "results"
HASH = re.compile(r"^[0-9a-f]{40}(-dirty)?$")
ISO_DATE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d$")


def test_a_stamp_names_the_commit_the_date_and_the_machine() -> None:
    made = stamp()
    assert HASH.match(made.commit), made.commit  # the tests run from a git checkout
    assert ISO_DATE.match(made.date)
    assert isinstance(made.machine, Machine)
    assert made.machine.cores >= made.machine.usable_cores >= 1
    assert made.machine.cpu and made.machine.python.count(".") == 2
    assert made.machine.torch != "not installed"
    as_json = made.to_dict()
    assert set(as_json) == {"commit", "date", "machine"}
    assert set(as_json["machine"]) == {"cpu", "cores", "usable_cores", "torch", "python", "platform"}


def test_write_result_puts_the_stamp_first_and_keeps_the_figures(tmp_path: Path) -> None:
    path = tmp_path / "result.json"
    written = write_result(path, {"notes_per_s": 1234.5, "name": "Fantasía"})
    loaded = json.loads(path.read_text(encoding="utf-8"))
    assert list(loaded) == ["stamp", "notes_per_s", "name"]
    assert loaded["stamp"] == written.to_dict()
    assert loaded["name"] == "Fantasía" and loaded["notes_per_s"] == 1234.5
    assert [p.name for p in tmp_path.iterdir()] == ["result.json"]  # no temporary file left behind
    with pytest.raises(ValueError, match="stamp"):
        write_result(path, {"stamp": "mine"})


@pytest.mark.parametrize("path", sorted(RESULTS.glob("*.json")), ids=lambda p: p.name)
def test_every_committed_result_is_stamped(path: Path) -> None:
    result = json.loads(path.read_text(encoding="utf-8"))
    stamp_ = result.get("stamp")
    assert isinstance(stamp_, dict), f"{path.name} has no stamp; write it with composer.testing.benchmark.write_result"
    assert {"commit", "date", "machine"} <= set(stamp_)
    assert HASH.match(stamp_["commit"])
    assert ISO_DATE.match(stamp_["date"])
    machine = stamp_["machine"]
    assert machine == UNSTAMPED_MACHINE or {"cpu", "cores", "torch", "python"} <= set(machine)


def test_committed_reliability_md_is_what_the_generator_builds_from_the_committed_parts() -> None:
    committed = (RESULTS / "reliability.md").read_text(encoding="utf-8")
    assert committed == reliability_report(RESULTS), "run python -m composer.testing.benchmark to rebuild it"


def test_reliability_md_holds_each_part_once_in_order_under_one_title(tmp_path: Path) -> None:
    for index, part in enumerate(RELIABILITY_PARTS):
        (tmp_path / part).write_text(f"## Section {index}\n\nbody {index}\n\n", encoding="utf-8")
    target = write_reliability(tmp_path)
    assert target == tmp_path / "reliability.md"
    text = target.read_text(encoding="utf-8")
    assert text.startswith("# Reliability\n")
    assert text.endswith("## Section 0\n\nbody 0\n\n## Section 1\n\nbody 1\n\n## Section 2\n\nbody 2\n")
    assert text.count("# Reliability") == 1


def test_reliability_md_is_kept_where_a_part_is_missing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "reliability-load.md").write_text("## Load\n", encoding="utf-8")
    assert missing_parts(tmp_path) == ["reliability-hostile.md", "reliability-training.md"]
    assert write_reliability(tmp_path) is None
    assert not (tmp_path / "reliability.md").exists()
    assert benchmark.main([str(tmp_path)]) == 2
    message = capsys.readouterr().err
    assert "reliability-hostile.md" in message and "Traceback" not in message


def test_the_byte_builders_make_a_file_the_reader_takes() -> None:
    piece = read_midi(smf.simple_file([60, 62, 64]))
    assert [note.pitch for note in piece.notes] == [60, 62, 64]
    assert smf.vlq(0) == b"\x00" and smf.vlq(0x7F) == b"\x7f" and smf.vlq(0x80) == b"\x81\x00"
    assert smf.header(fmt=0, ntracks=1, division=96) == b"MThd\x00\x00\x00\x06\x00\x00\x00\x01\x00\x60"
