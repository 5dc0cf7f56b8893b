"""Browser tests of the chat widget: Debian's Chromium, driven by Playwright,
against the session's real Rasa server and action server (the ``bot`` fixture).

Playwright never downloads a browser here: it launches /usr/bin/chromium
(``scripts/setup.sh`` installs it).
"""

from __future__ import annotations

import os
import socket
import threading
from pathlib import Path
from typing import Dict, Iterator, List
from urllib.parse import urlparse

import pytest

from tests.servers import ROOT, Bot, free_port

CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
SCREENSHOTS = ROOT / "docs" / "screenshots"
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 375, "height": 740}


# Package scope, not session: Playwright's sync API keeps an asyncio event loop
# running in the main thread while it is open, and tests after these (which call
# asyncio.run) must not see it.
@pytest.fixture(scope="package")
def playwright_browser():
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing: run `make install` (scripts/setup.sh installs Debian's chromium)."
        )
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("Playwright is not installed: run `make install`.")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="session")
def axe_source() -> str:
    if not AXE.exists():
        pytest.fail(f"{AXE} is missing: run `make install` (it runs `npm ci`).")
    return AXE.read_text(encoding="utf-8")


@pytest.fixture(scope="session")
def demo_url(bot: Bot) -> str:
    return f"{bot.url}/webhooks/web/"


class Watch:
    """What a page did that a test should know about."""

    def __init__(self, allowed_hosts: List[str]) -> None:
        self.allowed_hosts = allowed_hosts
        self.errors: List[str] = []
        self.dialogs: List[str] = []
        self.third_party: List[str] = []

    def attach(self, page) -> None:
        page.on("pageerror", lambda error: self.errors.append(str(error)))
        page.on("dialog", self._dialog)
        page.on("request", self._request)

    def _dialog(self, dialog) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def _request(self, request) -> None:
        url = urlparse(request.url)
        if url.scheme in ("http", "https", "ws", "wss") and url.netloc not in self.allowed_hosts:
            self.third_party.append(request.url)


@pytest.fixture
def new_page(playwright_browser, bot: Bot):
    """Opens pages in fresh browser contexts; checks no script error, no dialog and
    no request to any other server happened."""
    contexts = []
    watches: List[Watch] = []

    def open_page(viewport: Dict[str, int] = DESKTOP, hosts: List[str] = (), **options):
        options = {"locale": "en-US", "timezone_id": "America/New_York", **options}
        context = playwright_browser.new_context(viewport=viewport, **options)
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(20_000)
        watch = Watch([urlparse(bot.url).netloc, *hosts])
        watch.attach(page)
        watches.append(watch)
        return page

    yield open_page
    for context in contexts:
        context.close()
    for watch in watches:
        assert not watch.errors, f"script errors: {watch.errors}"
        assert not watch.dialogs, f"a dialog opened (script injection?): {watch.dialogs}"
        assert not watch.third_party, f"requests to other servers: {watch.third_party}"


class TcpProxy:
    """A TCP proxy to the Rasa server that a test can take down and bring back,
    like a server or network going away (open connections are cut too)."""

    def __init__(self, target_port: int) -> None:
        self.port = free_port()
        self.target_port = target_port
        self._listener = None
        self._stop = threading.Event()
        self._connections: List[socket.socket] = []
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        listener.settimeout(0.2)
        self._listener = listener
        self._stop.clear()
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def stop(self) -> None:
        self._stop.set()
        if self._listener:
            self._listener.close()
            self._listener = None
        with self._lock:
            connections, self._connections = self._connections, []
        for connection in connections:
            _close(connection)

    def _accept(self, listener: socket.socket) -> None:
        while not self._stop.is_set():
            try:
                client, _ = listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            client.settimeout(None)
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port))
            except OSError:
                _close(client)
                continue
            with self._lock:
                self._connections += [client, upstream]
            for source, target in ((client, upstream), (upstream, client)):
                threading.Thread(target=_pump, args=(source, target), daemon=True).start()


def _pump(source: socket.socket, target: socket.socket) -> None:
    try:
        while True:
            data = source.recv(65536)
            if not data:
                break
            target.sendall(data)
    except OSError:
        pass
    finally:
        _close(source)
        _close(target)


def _close(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    sock.close()


@pytest.fixture
def proxy(bot: Bot) -> Iterator[TcpProxy]:
    server = TcpProxy(bot.port)
    server.start()
    yield server
    server.stop()
