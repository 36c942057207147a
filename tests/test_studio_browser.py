"""The studio in a real browser (headless chromium through Playwright): upload a seed, generate, look at
the takes, keep one, export the piece and download its MIDI, reload the page, undo; screenshots on the way.

Screenshots go to the test's temporary folder, and also to $COMPOSER_SCREENSHOTS when set (the README's
picture is made that way).
"""

import os
import shutil
from pathlib import Path
from typing import Any

from composer.midi_io import read_midi
from composer.studio import desk, ui
from composer.studio.store import Store
from composer.testing import smf

MIDI_INPUT = 'input[type=file][accept*=".mid"]'  # the seed's upload button's file input


def test_upload_generate_keep_and_download_in_chromium(page: Any, tmp_path: Path, free_port: int) -> None:
    from playwright.sync_api import expect

    store = Store(tmp_path / "studio.sqlite3")
    studio = desk.StudioApp(store, tmp_path / "files")
    demo = ui.build_ui(studio).queue(default_concurrency_limit=2)
    demo.launch(server_name="127.0.0.1", server_port=free_port, prevent_thread_lock=True, quiet=True, ssr_mode=False)
    shots = []
    try:
        seed = tmp_path / "my-tune.mid"
        seed.write_bytes(smf.simple_file([60, 62, 64, 65, 67, 69, 71, 72] * 2, bpm=100))
        page.goto(demo.local_url)
        status = page.locator("#status")
        expect(status).to_contain_text("Bring a seed", timeout=30_000)

        page.locator(MIDI_INPUT).set_input_files(str(seed))
        expect(status).to_contain_text("Read 16 notes from my-tune.mid", timeout=30_000)

        page.locator("#generate").click()
        expect(status).to_contain_text("4 takes ready", timeout=90_000)
        first = page.locator("#keep-1")
        expect(first).to_be_visible()
        expect(page.locator(".score svg").first).to_be_visible()  # sheet music engraved by verovio
        expect(page.locator("audio").first).to_be_attached()
        shots.append(tmp_path / "studio-takes.png")
        _screenshot(page, shots[-1])

        first.click()
        expect(status).to_contain_text("Kept take 1.1", timeout=30_000)
        page.locator("#export").click()
        expect(status).to_contain_text("Exported", timeout=60_000)
        link = page.locator('#exported a[download$=".mid"]').first
        with page.expect_download(timeout=30_000) as download:
            link.click()
        saved = tmp_path / "downloaded.mid"
        download.value.save_as(str(saved))
        shots.append(tmp_path / "studio-exported.png")
        _screenshot(page, shots[-1])

        # A reload keeps the piece (the browser holds its owner id), and undo steps back to the seed.
        page.reload()
        expect(status).to_contain_text("Welcome back", timeout=30_000)
        expect(page.locator("#summary")).to_contain_text("at take 1.1", timeout=30_000)
        page.locator("#undo").click()
        expect(status).to_contain_text("Undid take 1.1", timeout=30_000)
        expect(page.locator("#keep-4")).to_be_visible()  # the round's four takes are offered again
    finally:
        demo.close()

    owner = _owner(store)
    record = store.pieces(owner)[0]
    assert store.node(owner, record.current_id).label == "seed"  # after the undo
    tree = store.tree(owner, record.id)
    assert [n.label for n in tree if n.kept] == ["seed", "take 1.1"] and len(tree) == 5
    kept = next(n for n in tree if n.label == "take 1.1")
    downloaded = read_midi(str(saved))
    assert downloaded.notes == read_midi(kept.midi).notes and len(downloaded.notes) > 16
    assert downloaded.notes[:16] == read_midi(str(seed)).notes  # the seed, unchanged, then the kept take
    for shot in shots:
        assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000
        if os.environ.get("COMPOSER_SCREENSHOTS"):
            Path(os.environ["COMPOSER_SCREENSHOTS"]).mkdir(parents=True, exist_ok=True)
            shutil.copy(shot, Path(os.environ["COMPOSER_SCREENSHOTS"]) / shot.name)


def test_the_drawn_history_goes_where_it_is_clicked_in_chromium(page: Any, tmp_path: Path, free_port: int) -> None:
    """Issue 13: the history drawn as a tree, a click (or Enter) on a take goes there; and what a new user hit
    on the page — a Cancel always shown, a large drop zone, a stretched Undo, a cut-off seed report, Keep
    buttons numbered by their slot."""
    from playwright.sync_api import expect

    store = Store(tmp_path / "studio.sqlite3")
    studio = desk.StudioApp(store, tmp_path / "files")
    demo = ui.build_ui(studio).queue(default_concurrency_limit=2)
    demo.launch(server_name="127.0.0.1", server_port=free_port, prevent_thread_lock=True, quiet=True, ssr_mode=False)
    try:
        seed = tmp_path / "played.mid"  # off the grid, so that the report's quantization line has figures
        seed.write_bytes(smf.smf([smf.track([b for i in range(16) for b in smf.note(60 + i % 8, 229, delta=11)])]))
        page.goto(demo.local_url)
        status, history = page.locator("#status"), page.locator("#history")
        expect(status).to_contain_text("Bring a seed", timeout=30_000)
        expect(page.locator("#cancel")).to_be_hidden()  # nothing to cancel yet
        assert page.locator("#upload").bounding_box()["height"] < 50  # a button, not a drop zone
        assert page.locator("#import-session").bounding_box()["height"] < 50

        page.locator(MIDI_INPUT).set_input_files(str(seed))
        expect(status).to_contain_text("Read 16 notes from played.mid", timeout=30_000)
        report = page.locator("#report pre").first
        expect(report).to_contain_text("long rests shortened")
        assert report.evaluate("e => e.scrollWidth <= e.clientWidth")  # no line runs out of the column
        expect(history.locator("g.node.current text")).to_have_text("seed")

        page.locator("#generate").click()
        expect(page.locator("#cancel")).to_be_visible(timeout=10_000)  # while the takes are made
        expect(status).to_contain_text("4 takes ready", timeout=90_000)
        expect(page.locator("#cancel")).to_be_hidden(timeout=10_000)
        for i in range(1, 5):
            expect(page.locator(f"#keep-{i}")).to_have_text(f"Keep take 1.{i}")
        undo = page.locator("#undo").bounding_box()
        assert undo["height"] < 50, undo  # a button's height, not the history's

        page.locator("#keep-2").click()
        expect(status).to_contain_text("Kept take 1.2", timeout=30_000)
        expect(history.locator("g.node.current text")).to_have_text("1.2")
        expect(history.locator("g.node")).to_have_count(5)  # the seed and its four takes

        _node(history, "1.3").click()  # a take never kept: a branch from it
        expect(status).to_contain_text("Now at take 1.3", timeout=30_000)
        expect(page.locator("#summary")).to_contain_text("at take 1.3 (seed → take 1.3)")
        expect(history.locator("g.node.current text")).to_have_text("1.3")
        expect(history.locator("g.node.on-path text")).to_have_text("seed")

        _node(history, "seed").focus()  # the keyboard goes there too
        page.keyboard.press("Enter")
        expect(status).to_contain_text("Now at seed", timeout=30_000)
        expect(page.locator("#keep-4")).to_have_text("Keep take 1.4")  # the round from the seed, by node

        page.reload()  # the same page back, buttons still by node
        expect(status).to_contain_text("Welcome back", timeout=30_000)
        expect(history.locator("g.node.current text")).to_have_text("seed")
        for i in range(1, 5):
            expect(page.locator(f"#keep-{i}")).to_have_text(f"Keep take 1.{i}")
        expect(page.locator("#cancel")).to_be_hidden()
        _screenshot(page, tmp_path / "studio-history.png")
    finally:
        demo.close()

    owner = _owner(store)
    record = store.pieces(owner)[0]
    assert store.node(owner, record.current_id).label == "seed"
    assert {n.label for n in store.tree(owner, record.id) if n.kept} == {"seed", "take 1.2", "take 1.3"}


def _node(history: Any, label: str) -> Any:
    """The drawn node whose box says ``label`` ("seed", "1.3")."""
    return history.locator(f'g.node:has(> text:text-is("{label}"))')


def _owner(store: Store) -> str:
    """The one browser's owner id (the test's browser context is the only visitor)."""
    return store._db.execute("SELECT owner FROM pieces").fetchone()[0]


def _screenshot(page: Any, path: Path) -> None:
    """A full-page picture once every image has loaded (Gradio loads images lazily, as they scroll into view)."""
    page.mouse.wheel(0, 20_000)
    page.wait_for_function("Array.from(document.images).every(i => i.complete && i.naturalWidth > 0)", timeout=15_000)
    page.screenshot(path=str(path), full_page=True)


def _drag_bars(page: Any, first: str, last: str) -> None:
    """Drag along the roll's ruler from bar number ``first`` to ``last`` (a selection of whole bars)."""
    ruler = page.locator("#roll .roll-ruler")
    ruler.scroll_into_view_if_needed()  # the mouse works in the viewport's coordinates
    start = page.locator(f'#roll .roll-bar-no:text-is("{first}")').bounding_box()
    end = page.locator(f'#roll .roll-bar-no:text-is("{last}")').bounding_box()
    y = ruler.bounding_box()["y"] + 10
    page.mouse.move(start["x"] + 6, y)
    page.mouse.down()
    page.mouse.move(end["x"] + 12, y, steps=5)
    page.mouse.up()


def _studio_with_seed(page: Any, tmp_path: Path, free_port: int, notes: list[int]) -> tuple[Any, Store]:
    """A studio served on ``free_port``, open in ``page``, with a seed of ``notes`` (one beat each) uploaded."""
    from playwright.sync_api import expect

    store = Store(tmp_path / "studio.sqlite3")
    demo = ui.build_ui(desk.StudioApp(store, tmp_path / "files")).queue(default_concurrency_limit=2)
    demo.launch(server_name="127.0.0.1", server_port=free_port, prevent_thread_lock=True, quiet=True, ssr_mode=False)
    seed = tmp_path / "scale.mid"
    seed.write_bytes(smf.simple_file(notes, bpm=100))
    page.goto(demo.local_url)
    expect(page.locator("#status")).to_contain_text("Bring a seed", timeout=30_000)
    page.locator(MIDI_INPUT).set_input_files(str(seed))
    expect(page.locator("#status")).to_contain_text(f"Read {len(notes)} notes", timeout=30_000)
    expect(page.locator("#roll .roll-note")).to_have_count(len(notes), timeout=30_000)
    return demo, store


def test_bars_dragged_on_the_roll_are_filled_in_chromium(page: Any, tmp_path: Path, free_port: int) -> None:
    """Issue 13: click-drag along the roll's bar numbers selects bars 2-3, the Bars box says so, and "Fill these
    bars" makes takes of them."""
    from playwright.sync_api import expect

    demo, store = _studio_with_seed(page, tmp_path, free_port, [60, 62, 64, 65, 67, 69, 71, 72] * 2)  # 4 bars
    try:
        _drag_bars(page, "2", "3")
        expect(page.get_by_label("Bars (e.g. 5-8")).to_have_value("2-3", timeout=10_000)
        expect(page.locator("#roll .roll-selection")).to_be_visible()
        page.locator("#fill").click()
        expect(page.locator("#status")).to_contain_text("4 takes ready", timeout=90_000)
        expect(page.locator("#keep-4")).to_be_visible()
        _screenshot(page, tmp_path / "studio-roll-fill.png")
    finally:
        demo.close()
    owner = _owner(store)
    tree = store.tree(owner, store.pieces(owner)[0].id)
    assert [n.settings.get("bars") for n in tree if n.parent_id] == ["2-3"] * 4


def test_bars_dragged_on_the_roll_are_accompanied_in_chromium(page: Any, tmp_path: Path, free_port: int) -> None:
    """Issue 13: a selection of bars 2-3 on the roll, then "Accompany" (piano): takes whose new notes, on the
    added piano track, start in bars 2-3 alone, and whose title says so."""
    from playwright.sync_api import expect

    demo, store = _studio_with_seed(page, tmp_path, free_port, [60, 62, 64, 65, 67, 69, 71, 72] * 2)  # 4 bars
    try:
        _drag_bars(page, "2", "3")
        expect(page.get_by_label("Bars (e.g. 5-8")).to_have_value("2-3", timeout=10_000)
        page.locator("#accompany").click()
        expect(page.locator("#status")).to_contain_text("4 takes ready", timeout=90_000)
        expect(page.get_by_text("piano accompaniment in bars 2-3").first).to_be_visible()
        _screenshot(page, tmp_path / "studio-roll-accompany.png")
    finally:
        demo.close()
    owner = _owner(store)
    piece_id = store.pieces(owner)[0].id
    takes = [n for n in store.tree(owner, piece_id) if n.parent_id]
    assert [(n.settings.get("command"), n.settings.get("bars")) for n in takes] == [("accompany", "2-3")] * 4
    made = [n for node in takes for n in node.piece().notes if n.track == 1]  # the added piano track's notes
    assert made and all(4.0 <= n.start < 12.0 for n in made)
    assert all([t.name for t in node.piece().tracks][-1] == "Piano accompaniment" for node in takes)


def test_a_note_dragged_in_the_roll_is_a_point_that_undo_takes_back_in_chromium(
    page: Any, tmp_path: Path, free_port: int
) -> None:
    """Issue 13: drag a note one beat later in the roll → a new point in the history (drawn); Undo → back."""
    from playwright.sync_api import expect

    demo, store = _studio_with_seed(page, tmp_path, free_port, [60, 62, 64, 65, 67, 69, 71, 72])
    try:
        status, history = page.locator("#status"), page.locator("#history")
        page.locator("#roll .roll-notes").scroll_into_view_if_needed()  # the mouse works in the viewport's coordinates
        roll = page.locator("#roll .roll-notes").bounding_box()
        beats = float(page.locator("#roll .roll").evaluate("e => JSON.parse(e.dataset.facts).beats"))
        note = page.locator('#roll .roll-note[data-pitch="60"]').bounding_box()
        x, y = note["x"] + note["width"] / 2, note["y"] + note["height"] / 2
        page.mouse.move(x, y)
        page.mouse.down()
        page.mouse.move(x + roll["width"] / beats, y, steps=5)  # one beat later, the same pitch
        page.mouse.up()
        expect(status).to_contain_text("Moved 1 note (edit 1.1); Undo takes it back.", timeout=30_000)
        expect(page.locator('#roll .roll-note[data-pitch="60"]')).to_have_attribute("data-start", "1.0")
        expect(history.locator("g.node.current text")).to_have_text("✎1.1")
        expect(history.locator("g.node")).to_have_count(2)

        page.locator("#undo").click()
        expect(status).to_contain_text("Undid edit 1.1", timeout=30_000)
        expect(page.locator('#roll .roll-note[data-pitch="60"]')).to_have_attribute("data-start", "0.0")
        expect(history.locator("g.node.current text")).to_have_text("seed")
    finally:
        demo.close()
    owner = _owner(store)
    record = store.pieces(owner)[0]
    assert store.node(owner, record.current_id).label == "seed"
    edit = next(n for n in store.tree(owner, record.id) if n.is_edit)
    assert (1.0, 60) in {(n.start, n.pitch) for n in edit.piece().notes}  # C4 a beat later, beside the D4
    assert edit.settings["edits"][0]["op"] == "move"


def test_the_rolls_play_button_plays_the_piece_with_a_cursor_that_follows_in_chromium(
    page: Any, tmp_path: Path, free_port: int
) -> None:
    """Issue 13: Play in the roll plays the piece's audio (a file the page serves) and a cursor line follows the
    sound across the roll; Stop stops both."""
    from playwright.sync_api import expect

    demo, store = _studio_with_seed(page, tmp_path, free_port, [60, 62, 64, 65, 67, 69, 71, 72])
    try:
        play = page.locator("#roll .roll-play")
        expect(play).to_have_text("▶ Play")
        play.click()
        expect(play).to_have_text("■ Stop", timeout=10_000)
        cursor = page.locator("#roll .roll-cursor")
        expect(cursor).to_be_visible(timeout=10_000)
        page.wait_for_function(
            "() => parseFloat(document.querySelector('#roll .roll-cursor').dataset.beat || '0') > 0.5",
            timeout=15_000,
        )
        left = cursor.evaluate("e => e.getBoundingClientRect().left")
        page.wait_for_timeout(400)
        assert cursor.evaluate("e => e.getBoundingClientRect().left") > left  # it moves with the sound
        play.click()
        expect(play).to_have_text("▶ Play")
        expect(cursor).to_be_hidden()
    finally:
        demo.close()
        store.close()


def test_a_tracks_instrument_and_its_mute_and_solo_in_chromium(page: Any, tmp_path: Path, free_port: int) -> None:
    """Issue 13: a track's instrument picked in the roll is a new point of the history, which Undo takes back;
    M and S beside a track's colour change how the piece is heard (the stems' gains, live while it plays), not
    the piece, and outlast a redraw of the roll."""
    from playwright.sync_api import expect

    store = Store(tmp_path / "studio.sqlite3")
    demo = ui.build_ui(desk.StudioApp(store, tmp_path / "files")).queue(default_concurrency_limit=2)
    demo.launch(server_name="127.0.0.1", server_port=free_port, prevent_thread_lock=True, quiet=True, ssr_mode=False)
    melody = [smf.tempo(100), smf.meta(3, b"Melody"), *smf.melody([72, 74, 76, 77, 79, 77, 76, 74], 480)]
    bass = [smf.program(32, channel=1), *smf.melody([48, 43, 45, 41], 960, channel=1)]  # no name: its instrument's
    seed = tmp_path / "duet.mid"
    seed.write_bytes(smf.smf([smf.track(melody), smf.track(bass)]))
    try:
        status, history, roll = page.locator("#status"), page.locator("#history"), page.locator("#roll .roll")
        page.goto(demo.local_url)
        expect(status).to_contain_text("Bring a seed", timeout=30_000)
        page.locator(MIDI_INPUT).set_input_files(str(seed))
        expect(page.locator("#roll .roll-note")).to_have_count(12, timeout=30_000)
        bass_list = page.locator('#roll .roll-program[data-track="1"]')
        expect(bass_list).to_have_value("32")
        expect(page.locator('#roll .roll-program[data-track="0"]')).to_have_value("0")

        # Mute and solo: a way of listening, kept by the page, nothing sent
        page.locator('#roll .roll-mute[data-track="0"]').click()
        expect(page.locator('#roll .roll-mute[data-track="0"]')).to_have_attribute("aria-pressed", "true")
        expect(roll).to_have_attribute("data-muted", "0")
        page.locator('#roll .roll-solo[data-track="1"]').click()
        expect(roll).to_have_attribute("data-soloed", "1")
        expect(history.locator("g.node")).to_have_count(1)  # no point of the history

        play = page.locator("#roll .roll-play")
        play.click()
        expect(play).to_have_text("■ Stop", timeout=10_000)
        expect(roll).to_have_attribute("data-gains", "0:0.00 1:1.00", timeout=15_000)  # the melody muted
        page.wait_for_function(
            "() => parseFloat(document.querySelector('#roll .roll-cursor').dataset.beat || '0') > 0.5",
            timeout=15_000,
        )
        page.locator('#roll .roll-mute[data-track="0"]').click()  # unmuted, but the bass is soloed: still silent
        expect(roll).to_have_attribute("data-gains", "0:0.00 1:1.00")
        page.locator('#roll .roll-solo[data-track="1"]').click()  # no solo: both sound, while it plays
        expect(roll).to_have_attribute("data-gains", "0:1.00 1:1.00", timeout=5_000)
        page.locator('#roll .roll-mute[data-track="1"]').click()
        expect(roll).to_have_attribute("data-gains", "0:1.00 1:0.00", timeout=5_000)
        play.click()
        expect(play).to_have_text("▶ Play")

        # The instrument: an edit, drawn in the history; the mute outlasts the redraw
        bass_list.select_option("40")
        expect(status).to_contain_text(
            "Track 2 (Acoustic Bass) now plays Violin (edit 1.1); Undo takes it back.", timeout=30_000
        )
        expect(history.locator("g.node.current text")).to_have_text("✎1.1")
        expect(bass_list).to_have_attribute("data-program", "40")
        expect(page.locator('#roll .roll-mute[data-track="1"]')).to_have_attribute("aria-pressed", "true")
        expect(roll).to_have_attribute("data-muted", "1")

        page.locator("#undo").click()
        expect(status).to_contain_text("Undid edit 1.1", timeout=30_000)
        expect(bass_list).to_have_attribute("data-program", "32")
        expect(bass_list).to_have_value("32")  # the list shows the piece's instrument again
        expect(history.locator("g.node.current text")).to_have_text("seed")
        _screenshot(page, tmp_path / "studio-roll-tracks.png")
    finally:
        demo.close()
    owner = _owner(store)
    record = store.pieces(owner)[0]
    assert [t.program for t in store.node(owner, record.current_id).piece().tracks] == [0, 32]
    edit = next(n for n in store.tree(owner, record.id) if n.is_edit)
    assert [t.program for t in edit.piece().tracks] == [0, 40]
    assert edit.settings["edits"] == [{"op": "program", "track": 1, "program": 40}]
