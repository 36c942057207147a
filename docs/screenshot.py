"""The README's pictures of the studio: a chorale melody from the examples, accompanied in the chorale style (alto,
tenor, bass), the first take kept and four takes of a continuation generated; the page in headless chromium
(Debian's, through Playwright), written to docs/studio.png, and the roll alone to docs/studio-roll.png.

    python docs/screenshot.py [--out docs]
"""

from __future__ import annotations

import argparse
import shutil
import socket
import tempfile
from pathlib import Path

from playwright.sync_api import expect, sync_playwright

from composer.studio import desk, ui
from composer.studio.store import Store


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent)
    args = parser.parse_args()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as pw:
        studio = desk.StudioApp(Store(Path(tmp) / "studio.sqlite3"), Path(tmp) / "files")
        demo = ui.build_ui(studio).queue(default_concurrency_limit=2)
        demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True, ssr_mode=False)
        browser = pw.chromium.launch(executable_path=shutil.which("chromium"))
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        try:
            page.goto(demo.local_url)
            status = page.locator("#status")
            expect(status).to_contain_text("Bring a seed", timeout=30_000)
            page.get_by_role("tab", name="Examples").click()
            page.get_by_label("Example seed").click()
            page.get_by_role("option", name="Bach chorale melody").click()
            page.get_by_role("button", name="Start from this example").click()
            expect(status).to_contain_text("Read", timeout=30_000)
            page.get_by_label("Style").click()  # alto, tenor and bass under the melody: a roll of four tracks
            page.get_by_role("option", name="chorale").click()
            page.locator("#accompany").click()
            expect(status).to_contain_text("4 takes ready", timeout=90_000)
            page.locator("#keep-1").click()
            expect(status).to_contain_text("Kept take 1.1", timeout=30_000)
            page.locator("#generate").click()
            expect(status).to_contain_text("4 takes ready", timeout=90_000)
            expect(page.locator(".score svg").first).to_be_visible(timeout=60_000)
            page.wait_for_timeout(3000)
            page.mouse.wheel(0, 20_000)
            page.wait_for_function("Array.from(document.images).every(i => i.complete && i.naturalWidth > 0)")
            page.screenshot(path=str(args.out / "studio.png"), full_page=True)
            page.locator("#roll").screenshot(path=str(args.out / "studio-roll.png"))
        finally:
            browser.close()
            demo.close()
    print(f"wrote {args.out / 'studio.png'} and {args.out / 'studio-roll.png'}")


if __name__ == "__main__":
    main()
