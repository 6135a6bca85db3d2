"""Fixtures of the page tests: a person at the console on the API test app, and for the
browser tests loket over real HTTP with Playwright driving the system's Chromium."""

from __future__ import annotations

from pathlib import Path

import pytest
from support import api as api_support
from support.api import api, connected_api  # noqa: F401 - fixtures of these tests too
from support.browser import CHROMIUM_ARGS, SCREENSHOTS, Server, chromium_path, free_port
from support.console import Person
from support.db import BACKEND, build_ctx
from support.engine import seed

from loket.server.app import create_app

NO_CHROMIUM = ("!!!!! no Chromium found (install Debian's `chromium` or set LOKET_CHROMIUM): "
               "the browser tests are SKIPPED !!!!!")


@pytest.fixture
def person(api) -> Person:  # noqa: F811 - the api fixture
    """A browser on the console of the seeded tenant (not signed in)."""
    return Person(client=api.client)


@pytest.fixture(scope="session")
def chromium():
    """Playwright's Chromium, launched from the system's binary (skipped loudly if absent)."""
    path = chromium_path()
    if path is None:
        pytest.skip(NO_CHROMIUM)
    try:
        from playwright.sync_api import sync_playwright  # noqa: PLC0415 - only when present
    except ImportError:  # pragma: no cover - playwright is in the dev extra
        pytest.skip("!!!!! playwright is not installed: the browser tests are SKIPPED !!!!!")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=path, headless=True,
                                             args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def live(tmp_path, plugins, request):
    """loket over real HTTP on a free port with the seeded tenant (no gateway connected);
    yields ``(api, base_url)``."""
    port = free_port()
    ctx = build_ctx(tmp_path, plugins, BACKEND, request, base_url=f"http://127.0.0.1:{port}")
    client = api_support.make_api(ctx, seed(ctx))
    with Server(create_app(ctx), port) as server:
        yield client, server.url
    ctx.engine.dispose()


@pytest.fixture
def shots(request):
    """``shots(page, name)`` saves a full-page screenshot under var/screenshots/."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    taken: list = []

    def take(page, name: str) -> Path:
        path = SCREENSHOTS / f"{request.node.name}-{name}.png"
        page.screenshot(path=str(path), full_page=True)
        taken.append(page)
        return path

    request.node.loket_pages = taken
    return take


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Keep a screenshot of every open page of a browser test that failed."""
    outcome = yield
    report = outcome.get_result()
    if report.when == "call" and report.failed:
        for index, page in enumerate(getattr(item, "loket_pages", [])):
            try:
                page.screenshot(path=str(SCREENSHOTS / f"FAILED-{item.name}-{index}.png"),
                                full_page=True)
            except Exception:  # noqa: BLE001 - the page may be closed already
                pass
