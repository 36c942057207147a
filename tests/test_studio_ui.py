"""The page: the layout names every handler, and a take slot shows or hides a take in its outputs' order."""

import json

import pytest

from composer.studio import desk, ui
from composer.studio.store import Store


@pytest.fixture
def studio(tmp_path):
    with Store(tmp_path / "studio.sqlite3") as store:
        yield desk.StudioApp(store, tmp_path / "files")


def test_the_ui_builds_and_names_its_handlers(studio):
    demo = ui.build_ui(studio)
    names = {fn.api_name for fn in demo.fns.values() if fn.api_name}
    assert {
        "start",
        "upload",
        "example",
        "abc",
        "generate",
        "infill",
        "accompany",
        "keep",
        "undo",
        "jump",
        "switch",
        "export_piece",
        "export_session",
        "import_session",
        "cancel",
    } <= names
    generate = next(fn for fn in demo.fns.values() if fn.api_name == "generate")
    # inputs added since the first API go last, so that scripts sending the earlier ones get their defaults
    assert [c.label for c in generate.inputs[-3:]] == [
        "Lowest note (MIDI)",
        "Highest note (MIDI)",
        "Form (how the takes stand to the seed's last phrase)",
    ]
    assert generate.inputs[-1].value == "auto"


def test_fill_and_accompany_are_named_read_generates_settings_and_cancel_stops_them(studio):
    demo = ui.build_ui(studio)
    by_name = {fn.api_name: fn for fn in demo.fns.values() if fn.api_name}
    assert {"infill", "accompany"} <= set(by_name)
    generate, infill, accompany = by_name["generate"], by_name["infill"], by_name["accompany"]
    shared = generate.inputs[3:10]  # takes, temperature, top-p, seed, random, key lock, model: the same components
    assert [c.label for c in infill.inputs[2:]] == [
        "Bars (e.g. 5-8; to accompany, empty: all)",
        *(c.label for c in shared),
        "Tracks (names or numbers; empty: all)",
    ]
    assert infill.inputs[3:10] == shared and accompany.inputs[3:10] == shared
    assert accompany.inputs[10] is infill.inputs[2]  # the Bars box: a selection to accompany, or empty for all
    assert accompany.inputs[2].label == "Style" and accompany.inputs[2].value == "piano"
    assert [value for _, value in accompany.inputs[2].choices] == ["piano", "chorale"]
    for fn in (infill, accompany):  # wired as generate is: streamed, one queue with it, the page's outputs
        assert fn.outputs == generate.outputs and fn.concurrency_id == generate.concurrency_id
        assert fn.concurrency_limit == generate.concurrency_limit and fn.show_progress == generate.show_progress
    ids = {fn: i for i, fn in demo.fns.items()}
    cancel = next(fn for fn in demo.fns.values() if fn.is_cancel_function)
    assert cancel.targets == by_name["cancel"].targets  # the Cancel button …
    assert {ids[generate], ids[infill], ids[accompany]} <= set(cancel.cancels)  # … stops all three


def test_each_take_slot_shows_a_take_or_hides_in_the_order_of_its_outputs(studio):
    import gradio as gr

    with gr.Blocks():
        slot = ui.TakeSlot(
            gr.Column(), gr.Markdown(), gr.Audio(), gr.File(), gr.Image(), gr.HTML(), gr.Markdown(), gr.Button()
        )
    outputs = slot.outputs()
    assert slot.keep not in outputs and len(outputs) == len(slot.unchanged())
    take = desk.TakeView("n1", "take 1.1", "a.wav", "take.mid", "roll.png", "<svg width='1'></svg>", "8 notes")
    shown = dict(zip([type(c).__name__ + str(i) for i, c in enumerate(outputs)], slot.show(take), strict=True))
    assert shown["Column0"]["visible"] is True and shown["Markdown1"] == "### take 1.1"
    assert (shown["Audio2"], shown["File3"], shown["Image4"]) == ("a.wav", "take.mid", "roll.png")
    assert (
        shown["HTML5"].startswith('<div class="score"><svg style="max-width:100%') and shown["Markdown6"] == "8 notes"
    )
    hidden = slot.show(None)
    assert len(hidden) == len(outputs) and hidden[0]["visible"] is False
    assert all(value == {"__type__": "update"} for value in slot.unchanged())


def test_the_drawn_history_jumps_where_it_is_clicked_and_jump_stays_for_scripts(studio):
    import gradio as gr

    demo = ui.build_ui(studio)
    by_name = {fn.api_name: fn for fn in demo.fns.values() if fn.api_name}
    history = next(b for b in demo.blocks.values() if getattr(b, "elem_id", None) == "history")
    assert "trigger('click', {node:" in history.js_on_load  # the page's script sends the clicked node's id
    (clicked,) = [fn for fn in demo.fns.values() if (history._id, "click") in fn.targets]
    assert clicked.api_visibility == "private" and clicked.outputs == by_name["jump"].outputs
    # /jump, for scripts: a node id from the (hidden) history list, as before the drawing
    jump = by_name["jump"]
    assert [type(c).__name__ for c in jump.inputs] == ["BrowserState", "BrowserState", "Dropdown"]
    tree = jump.inputs[2]
    assert tree.visible is False and jump.outputs.index(tree) == 8  # where scripts read it (after 3 states)
    # the drawing, the Keep buttons' labels and the roll come after everything scripts read by position
    assert jump.outputs[-10] is history and all(type(c).__name__ == "Button" for c in jump.outputs[-9:-1])
    assert getattr(jump.outputs[-1], "elem_id", None) == "roll"

    owner = studio.start(None).owner
    seed = studio.example(owner, None, "hicks-hornpipe")
    midi = studio.store.node(owner, seed.current).midi
    (take,) = studio.store.add_takes(owner, seed.piece_id, seed.current, [(midi, 0.0, {"round": "1"}, {})])
    out = clicked.fn(owner, seed.piece_id, gr.EventData(None, {"node": take.id}))
    status = jump.outputs.index(next(c for c in jump.outputs if getattr(c, "elem_id", None) == "status"))
    assert out[status] == "Now at take 1.1." and studio.store.piece(owner, seed.piece_id).current_id == take.id
    assert 'data-node="' + take.id in out[-10] and out[-10].startswith("<p")  # the tree under its caption
    missing = clicked.fn(owner, seed.piece_id, gr.EventData(None, {}))  # a click that names no node: a sentence
    assert missing[status] == "Pick a point in the history first."


def test_uploads_are_compact_buttons_cancel_shows_only_while_making_takes_and_undo_is_not_stretched(studio):
    demo = ui.build_ui(studio)
    blocks = {getattr(b, "elem_id", None): b for b in demo.blocks.values()}
    assert type(blocks["upload"]).__name__ == "UploadButton"  # not a drop zone
    assert type(blocks["import-session"]).__name__ == "UploadButton"
    undo = blocks["undo"]
    row = next(p for p in demo.blocks.values() if undo in getattr(p, "children", []))
    assert undo.scale == 0 and row.equal_height is False  # its own height, not the history's beside it
    stop = blocks["cancel"]
    assert stop.visible is False  # hidden until takes are being made
    by_name = {fn.api_name: fn for fn in demo.fns.values() if fn.api_name}
    fns = demo.fns
    for name in ("generate", "infill", "accompany"):
        made = by_name[name]
        before = fns[made.trigger_after]  # the click shows Cancel, then the takes are made …
        assert before.outputs == [stop] and before.fn() == {"__type__": "update", "visible": True}
        (after,) = [fn for fn in fns.values() if fn.trigger_after == made._id]  # … then it hides again
        assert after.outputs == [stop] and after.fn() == {"__type__": "update", "visible": False}
        assert not after.trigger_only_on_success  # also after a refusal or an error
    cancel = by_name["cancel"]
    (hide,) = [fn for fn in fns.values() if fn.trigger_after == cancel._id]
    assert hide.outputs == [stop] and hide.fn() == {"__type__": "update", "visible": False}


def test_a_take_slots_keep_button_names_its_take():
    import gradio as gr

    with gr.Blocks():
        slot = ui.TakeSlot(
            gr.Column(), gr.Markdown(), gr.Audio(), gr.File(), gr.Image(), gr.HTML(), gr.Markdown(), gr.Button()
        )
    take = desk.TakeView("n1", "take 1.3", "a.wav", "take.mid", "roll.png", "<svg width='1'></svg>", "8 notes")
    assert slot.label(take) == {"__type__": "update", "value": "Keep take 1.3"}
    assert slot.label(None) == {"__type__": "update"}


def test_the_roll_selects_bars_for_fill_and_sends_edits_like_the_edit_api(studio):
    import gradio as gr

    demo = ui.build_ui(studio)
    by_name = {fn.api_name: fn for fn in demo.fns.values() if fn.api_name}
    roll = next(b for b in demo.blocks.values() if getattr(b, "elem_id", None) == "roll")
    assert "trigger('select', {bars:" in roll.js_on_load and "trigger('submit', {edits:" in roll.js_on_load
    (selected,) = [fn for fn in demo.fns.values() if (roll._id, "select") in fn.targets]
    (edited,) = [fn for fn in demo.fns.values() if (roll._id, "submit") in fn.targets]
    assert selected.outputs == [by_name["infill"].inputs[2]]  # the Bars box /infill reads
    assert selected.fn(gr.EventData(None, {"bars": "2-3"})) == "2-3"
    edit = by_name["edit"]
    assert edit.outputs == edited.outputs == by_name["jump"].outputs

    owner = studio.start(None).owner
    seed = studio.example(owner, None, "hicks-hornpipe")
    first = studio.store.node(owner, seed.current).piece().notes[0]
    ref = {"start": first.start, "pitch": first.pitch, "track": first.track}
    out = edited.fn(owner, seed.piece_id, gr.EventData(None, {"edits": json.dumps([{"op": "delete", "note": ref}])}))
    status = edit.outputs.index(next(c for c in edit.outputs if getattr(c, "elem_id", None) == "status"))
    assert out[status] == "Deleted 1 note (edit 1.1); Undo takes it back."
    assert out[-1].count('class="roll-note"') == len(studio.store.node(owner, seed.current).piece().notes) - 1
    again = edit.fn(owner, seed.piece_id, json.dumps([{"op": "delete", "note": ref}]))  # the note is gone now
    assert again[status].startswith("There is no ")
