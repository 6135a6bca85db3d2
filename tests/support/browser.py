"""The browser tests' machinery: loket served over real HTTP on a free loopback port, and
Playwright driving the system's Chromium (Playwright's own browser download is not used).

Where no Chromium is installed the browser tests are skipped with a loud reason; set
``LOKET_CHROMIUM`` to use another binary.
"""

from __future__ import annotations

import os
import shutil
import socket
import socketserver
import threading
from pathlib import Path
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from axe_playwright_python.sync_playwright import Axe

from support import REPO

# The flags the machine's Chromium needs headless as root on a closed network.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}
SCREENSHOTS = REPO / "var" / "screenshots"


def chromium_path() -> str | None:
    """The Chromium binary to drive, or ``None`` when the machine has none."""
    configured = os.environ.get("LOKET_CHROMIUM")
    if configured:
        return configured if Path(configured).exists() else None
    for candidate in ("/usr/bin/chromium", "chromium", "chromium-browser"):
        found = shutil.which(candidate)
        if found:
            return found
    return None


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class _ThreadingServer(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True  # a page's parallel requests, and the sandbox's webhook back in


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - the stdlib's signature
        pass


class Server:
    """A WSGI app served on ``127.0.0.1:port`` in a background thread."""

    def __init__(self, app, port: int):
        self.httpd = make_server("127.0.0.1", port, app, server_class=_ThreadingServer,
                                 handler_class=_QuietHandler)
        self.url = f"http://127.0.0.1:{port}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> Server:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


SERIOUS = {"serious", "critical"}


def accessible(page) -> None:
    """axe-core finds no serious or critical violation on the page."""
    results = Axe().run(page)
    bad = [(v["id"], v["impact"], [n["target"] for n in v["nodes"]][:3])
           for v in results.response["violations"] if v["impact"] in SERIOUS]
    assert not bad, f"{page.url}: {bad}"


def open_page(chromium, viewport: dict, locale: str = "en-US"):
    """A new browser context at ``viewport`` in ``locale``, and its first page."""
    context = chromium.new_context(viewport=viewport, locale=locale)
    return context, context.new_page()


def sign_in(page, base: str, credential: str) -> None:
    """Sign in to the console with an API key or a consumer token."""
    page.goto(base + "/console/sign-in")
    accessible(page)
    page.get_by_label("API key or consumer token").fill(credential)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()
