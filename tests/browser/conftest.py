"""Debian's Chromium driven by Playwright, against a live API on 127.0.0.1.

No browser is ever downloaded: Playwright launches /usr/bin/chromium, which .ci/run
installs with apt-get. Without it the suite is skipped, saying so.
"""

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from backend.settings import PROJECT_ROOT, Settings
from tests.support.live_server import LiveServer, server_env, start_server

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# Screenshots for people to look at; git-ignored, kept by CI as artifacts.
ARTIFACTS = PROJECT_ROOT / "tests" / "artifacts"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.skip(f"no Chromium at {CHROMIUM}: install Debian's `chromium` (.ci/run does)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    opened = context.new_page()
    # Waits end when their condition holds; the bound is for a loaded 2-core CI machine,
    # where Swagger UI once took longer than 15 s to render beside the rest of the suite.
    opened.set_default_timeout(60_000)
    yield opened
    context.close()


@pytest.fixture
def live_api(settings: Settings, tmp_path: Path) -> Iterator[LiveServer]:
    server = start_server(server_env(settings, tmp_path / "var"), tmp_path / "api.log")
    yield server
    server.stop()


@pytest.fixture
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS
