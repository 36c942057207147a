"""Teach it your style: uploads checked and each file left out named, lessons in a background process (one at a
time, cancellable), a learned style in its owner's model picker only, loaded as safetensors and generating; and
in a real browser, a lesson started and stopped.  The lessons fine-tune a tiny model on tiny files."""

import json
import time
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from composer import checkpoint
from composer.model import MusicLSTM
from composer.studio import desk, style, ui
from composer.studio.store import Store
from composer.testing import smf
from composer.testing.training import TINY

# Tiny files make one-step epochs: validation after each step costs next to nothing.  A high patience keeps a
# lesson learning until its clock (or a cancel) stops it.
TINY_LESSON = style.FineTuning(batch_events=256, max_len=64, warmup_steps=2, patience=10_000, validate_seconds=0.5)


@pytest.fixture
def base(tmp_path: Path) -> Path:
    path = tmp_path / "base" / "model.safetensors"
    checkpoint.save(path, checkpoint.model_tensors(MusicLSTM(TINY)), {"model": TINY.to_dict()})
    return path


@pytest.fixture
def studio(tmp_path: Path, base: Path) -> Any:
    with Store(tmp_path / "studio.sqlite3") as store:
        app = desk.StudioApp(
            store, tmp_path / "files", styles=style.StyleStudio(tmp_path / "styles", base, TINY_LESSON)
        )
        yield app
        app.styles.close()


def tunes(folder: Path, n: int, seed: int = 0, prefix: str = "tune") -> list[str]:
    """``n`` short different melodies as MIDI files."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    paths = []
    for i in range(n):
        path = folder / f"{prefix}{i}.mid"
        path.write_bytes(smf.simple_file([int(p) for p in rng.integers(55, 80, 32)]))
        paths.append(str(path))
    return paths


def wait_until_ended(studio: Any, owner: str, seconds: float = 120) -> style.StyleView:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        view = studio.styles.status(owner)
        if not view.running:
            return view
        time.sleep(0.3)
    raise AssertionError(f"the lesson did not end within {seconds} s: {view.status}")


# ------------------------------------------------------------------------------------------- uploads


def test_each_file_left_out_is_named_and_fewer_than_five_good_ones_refuse_the_lesson(studio, tmp_path):
    good = tunes(tmp_path / "in", 2)
    text = tmp_path / "in" / "notes.mid"
    text.write_text("my lyrics, not music\n")
    huge = tmp_path / "in" / "concerto.mid"
    huge.write_bytes(smf.simple_file() + bytes(style.MAX_FILE_BYTES))
    type2 = tmp_path / "in" / "sequences.mid"
    type2.write_bytes(smf.smf([smf.track(smf.melody([60]))], fmt=2))
    copy = tmp_path / "in" / "copy of tune0.mid"
    copy.write_bytes(Path(good[0]).read_bytes())
    archive = tmp_path / "in" / "more.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for i, path in enumerate(tunes(tmp_path / "zipped", 2, seed=1)):
            z.write(path, f"songs/z{i}.mid")
        z.writestr("songs/readme.txt", "played by me")
        z.writestr("__MACOSX/songs/._z0.mid", "resource fork")  # not the musician's file: passed over silently
    broken = tmp_path / "in" / "broken.zip"
    broken.write_bytes(b"PK\x03\x04" + bytes(40))

    checked = style.check_uploads([*good, str(text), str(huge), str(type2), str(copy), str(archive), str(broken)])
    assert [f.name for f in checked.files] == [
        "tune0.mid",
        "tune1.mid",
        "more.zip: songs/z0.mid",
        "more.zip: songs/z1.mid",
    ]
    said = " ".join(checked.left_out)
    assert "Left out notes.mid and more.zip: songs/readme.txt: they are not MIDI files." in said
    assert "Left out concerto.mid: it is larger than 2 MB, the most one piece may be (split it into shorter" in said
    assert "Left out sequences.mid: it is a type-2 MIDI file" in said
    assert "Left out copy of tune0.mid: it is the same file as tune0.mid." in said
    assert "Left out broken.zip: it could not be opened." in said
    assert "MACOSX" not in said

    owner = studio.start(None).owner
    view = studio.styles.learn(owner, [*good, str(text), str(archive)], "mine", 1)
    assert not view.running and view.status.startswith(
        "Only 4 of your files are pieces the studio can learn from; a lesson needs at least 5"
    )
    assert "notes.mid" in view.status and studio.styles._lesson is None
    assert not (tmp_path / "styles" / "lessons").exists() or not any((tmp_path / "styles" / "lessons").iterdir())


def test_too_many_files_are_named_and_the_first_ones_kept(tmp_path, monkeypatch):
    monkeypatch.setattr(style, "MAX_FILES", 5)
    paths = tunes(tmp_path / "in", 8)
    checked = style.check_uploads(paths)
    assert [f.name for f in checked.files] == [f"tune{i}.mid" for i in range(5)]
    assert checked.left_out == [
        "Left out tune5.mid, tune6.mid and tune7.mid: a lesson learns from at most 5 pieces (64 MB) at a time, "
        "the first ones as given."
    ]


def test_bad_settings_and_names(studio, tmp_path):
    owner = studio.start(None).owner
    files = tunes(tmp_path / "in", 5)
    assert "at most 15 minutes; 40 was asked for" in studio.styles.learn(owner, files, "x", 40).status
    assert "Choose 5 to 200 MIDI files" in studio.styles.learn(owner, [], "x", 1).status
    assert "Open the studio's page first" in studio.styles.learn("", files, "x", 1).status
    assert style._style_name("  my\n\tfolk\x00 ", []) == "my folk"
    assert style._style_name("", []) == "my style"
    assert style._style_name("folk", ["folk (your style)", "folk 2 (your style)"]) == "folk 3"
    assert len(style._style_name("x" * 100, [])) == style.MAX_NAME


# ------------------------------------------------------------------------------------------- lessons


def test_a_lesson_learns_and_its_style_joins_only_its_owners_picker_and_generates(studio, tmp_path):
    owner = studio.start(None).owner
    other = studio.start(None).owner
    files = [*tunes(tmp_path / "in", 6), str(tmp_path / "in" / "notes.txt")]
    (tmp_path / "in" / "notes.txt").write_text("not music")
    view = studio.styles.learn(owner, files, "folk", 0.1)
    assert view.running and "Reading your 6 files for *folk (your style)*" in view.status
    assert "Left out notes.txt: it is not a MIDI file." in view.status

    view = wait_until_ended(studio, owner)
    assert view.phase == "done" and view.learned == "folk (your style)", view.status
    assert view.status.startswith("Learned *folk (your style)* from 5 pieces in ")
    assert "1 held-out piece went from" in view.status and "Left out notes.txt" in view.status
    assert view.before is not None and view.now is not None and view.now < view.before  # a random model learns
    assert studio.models(owner) == [desk.SHIPPED, "folk (your style)"]
    assert studio.models(other) == [desk.SHIPPED]
    assert studio.styles.status(owner).status == view.status  # said again until the next lesson
    assert not any((tmp_path / "styles" / "lessons").iterdir())  # the lesson's work folder is gone

    learned = studio.styles.styles(owner)[0]
    card = json.loads(learned.path.with_suffix(".json").read_text())
    assert card["style"]["held_out"] and len(card["style"]["pieces"]) == 5
    assert card["weights_dtype"] == "float16" and learned.after == pytest.approx(view.now)
    checkpoint.load_model(learned.path)  # a checkpoint like any other

    piece = studio.example(owner, None, "hicks-hornpipe").piece_id
    takes = list(studio.generate(owner, piece, 1, 2, 1.0, 0.95, 3, False, False, "folk (your style)"))[-1]
    assert "2 takes ready" in takes.status and "folk (your style)" in takes.takes[0].metrics
    theirs = studio.example(other, None, "hicks-hornpipe").piece_id
    refused = list(studio.generate(other, theirs, 1, 2, 1.0, 0.95, 3, False, False, "folk (your style)"))[-1]
    assert "There is no model called 'folk (your style)'" in refused.status and not refused.takes


def test_a_second_lesson_is_refused_and_cancel_stops_the_first_between_steps(studio, tmp_path):
    owner = studio.start(None).owner
    other = studio.start(None).owner
    files = tunes(tmp_path / "in", 6)
    assert studio.styles.learn(owner, files, "long", 10).running
    again = studio.styles.learn(owner, files, "again", 1)
    assert again.running and again.status.startswith(
        "Your lesson *long (your style)* is still running; wait for it to end or stop it before starting another."
    )
    theirs = studio.styles.learn(other, files, "theirs", 1)
    assert not theirs.running and theirs.status.startswith("Another musician's lesson is using the studio's time")
    assert studio.styles.cancel(other).status == "No lesson of yours is running."

    deadline = time.monotonic() + 120
    while studio.styles.status(owner).steps < 3:  # learning: the cancel lands between training steps
        assert time.monotonic() < deadline, studio.styles.status(owner).status
        time.sleep(0.2)
    process = studio.styles._lesson.process
    studio.styles.cancel(owner)
    view = wait_until_ended(studio, owner, 30)
    assert view.status == "Stopped the lesson of *long (your style)*; nothing it learned was kept."
    assert process.exitcode == 0  # it stopped itself (the flag), not killed
    assert studio.models(owner) == [desk.SHIPPED] and studio.styles.styles(owner) == []
    assert not any((tmp_path / "styles" / "lessons").iterdir())
    assert not any(p.name.endswith(".partial") for p in (tmp_path / "styles" / "owners").rglob("*"))


def test_a_learned_style_loads_as_safetensors_only_never_a_pickle(studio, tmp_path):
    owner = studio.start(None).owner
    folder = studio.styles.owner_folder(owner) / "planted"
    folder.mkdir(parents=True)
    torch.save({"model.x": torch.zeros(1)}, folder / "model.safetensors")  # a pickle under the right name
    card = {"learned": "2020-01-01T00:00:00", "before_bits_per_note": 9, "after_bits_per_note": 8, "pieces": []}
    (folder / "model.json").write_text(json.dumps({"style": {"name": "planted", **card}}))
    assert "planted (your style)" in studio.models(owner)
    piece = studio.example(owner, None, "hicks-hornpipe").piece_id
    view = list(studio.generate(owner, piece, 1, 1, 1.0, 0.95, 3, False, False, "planted (your style)"))[-1]
    assert "model.safetensors is not a safetensors model file" in view.status and not view.takes


# ------------------------------------------------------------------------------------------- in a browser


def test_start_and_stop_a_lesson_in_chromium(page: Any, studio, tmp_path: Path, free_port: int) -> None:
    from playwright.sync_api import expect

    demo = ui.build_ui(studio).queue(default_concurrency_limit=2)
    demo.launch(server_name="127.0.0.1", server_port=free_port, prevent_thread_lock=True, quiet=True, ssr_mode=False)
    try:
        page.goto(demo.local_url)
        expect(page.locator("#status")).to_contain_text("Bring a seed", timeout=30_000)
        page.get_by_text("Teach it your style").click()
        page.locator("#style-files input[type=file]").set_input_files(tunes(tmp_path / "in", 5))
        page.locator("#style-name input, #style-name textarea").first.fill("my tunes")
        status = page.locator("#style-status")
        cancel = page.locator("#style-cancel")
        expect(cancel).to_be_hidden()
        page.locator("#style-learn").click()
        expect(status).to_contain_text("my tunes (your style)", timeout=30_000)
        expect(cancel).to_be_visible()
        expect(status).to_contain_text("Learning", timeout=90_000)  # the page polls: reading, then learning
        expect(page.locator("#style-progress [role=progressbar]")).to_be_visible()
        page.screenshot(path=str(tmp_path / "style-lesson.png"), full_page=True)
        cancel.click()
        expect(status).to_contain_text("Stopped the lesson of my tunes (your style)", timeout=60_000)
        expect(cancel).to_be_hidden()
        expect(page.locator("#style-progress [role=progressbar]")).to_have_count(0)
    finally:
        demo.close()
    assert studio.styles._lesson is None and studio.styles.styles(next(iter(studio.styles._ended))) == []


def test_the_page_names_the_style_endpoints(studio):
    demo = ui.build_ui(studio)
    by_name = {fn.api_name: fn for fn in demo.fns.values() if fn.api_name}
    assert {"learn_style", "style_status", "cancel_style"} <= set(by_name)
    assert [c.label for c in by_name["learn_style"].inputs[1:]] == [
        "Your MIDI files (.mid, or a .zip)",
        "Name of the style",
        "At most (minutes)",
    ]
