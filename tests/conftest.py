import os
import shutil
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from composer.testing.network import find_free_port

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")


# ------------------------------------------------------------------------------------ real browser
# Browser tests drive Debian's chromium through Playwright: `playwright install` cannot download its own
# browsers here, and run.sh installs the `chromium` package with apt-get when it may (as root).

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]


@pytest.fixture
def free_port() -> int:
    """A free TCP port on 127.0.0.1 (see :func:`find_free_port`)."""
    return find_free_port()


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Headless chromium (Debian's package) launched by Playwright once per session.

    Skips only where chromium is missing and cannot be installed (not root, or no apt-get); as root with
    apt-get a missing chromium is an error, because run.sh should have installed it.
    """
    executable = shutil.which("chromium")
    if executable is None:
        if hasattr(os, "geteuid") and os.geteuid() == 0 and shutil.which("apt-get"):
            pytest.fail(
                "chromium is not installed although this is root with apt-get; run the tests with "
                "./run.sh test (which installs it) or apt-get install chromium"
            )
        pytest.skip(
            "browser tests need Debian's chromium (apt-get install chromium, as root); it is not "
            "installed and this user cannot install it"
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS, headless=True)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh page in its own browser context (no cookies or storage shared between tests)."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        yield context.new_page()
    finally:
        context.close()


@pytest.fixture
def launch_blocks() -> Iterator[Callable[[Any], str]]:
    """Serve Gradio Blocks on a free local port in a background thread: ``url = launch_blocks(demo)``.

    Every app launched this way is closed when the test ends.
    """
    launched: list[Any] = []

    def launch(demo: Any) -> str:
        demo.launch(
            server_name="127.0.0.1",
            server_port=find_free_port(),
            prevent_thread_lock=True,
            quiet=True,
            share=False,
            inbrowser=False,
            ssr_mode=False,
        )
        launched.append(demo)
        return str(demo.local_url)

    try:
        yield launch
    finally:
        for demo in launched:
            demo.close()
