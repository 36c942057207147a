"""The page: the layout names every handler, and a take slot shows or hides a take in its outputs' order."""

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
        "Bars (e.g. 5-8)",
        *(c.label for c in shared),
        "Tracks (names or numbers; empty: all)",
    ]
    assert infill.inputs[3:10] == shared and accompany.inputs[3:] == shared
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
