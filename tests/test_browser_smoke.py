"""The real-browser test set-up works: a Gradio app served locally, clicked in headless chromium, photographed.

This proves the fixtures in conftest.py (browser, page, launch_blocks); the studio's own browser tests build on
them.
"""

from pathlib import Path
from typing import Any

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_a_click_in_chromium_updates_a_gradio_textbox(page: Any, launch_blocks: Any, tmp_path: Path) -> None:
    import gradio as gr
    from playwright.sync_api import expect

    with gr.Blocks(title="smoke") as demo:
        result = gr.Textbox(value="not clicked yet", label="Result", elem_id="result")
        button = gr.Button("Press me", elem_id="press")
        button.click(lambda: "clicked in a real browser", outputs=result)
    url = launch_blocks(demo)

    page.goto(url)
    box = page.locator("#result textarea")
    expect(box).to_have_value("not clicked yet", timeout=20_000)
    page.get_by_role("button", name="Press me").click()
    expect(box).to_have_value("clicked in a real browser", timeout=20_000)

    shot = tmp_path / "smoke.png"
    page.screenshot(path=str(shot), full_page=True)
    data = shot.read_bytes()
    assert data[:8] == PNG_MAGIC and len(data) > 1_000
