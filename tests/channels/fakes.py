"""A fake HTTP API on 127.0.0.1 (aiohttp in a thread) that records every call and
answers ``{"ok": true, ...}``: it stands in for the Slack Web API and the
Telegram Bot API."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from typing import Any, Callable, Dict, List, Optional
from urllib.parse import parse_qsl

from aiohttp import web


class Call:
    """One request the fake received: the API method (last path part) and its parameters."""

    def __init__(self, path: str, params: Dict[str, Any], headers: Dict[str, str]) -> None:
        self.path = path
        self.method = path.rstrip("/").rsplit("/", 1)[-1]
        self.params = params
        self.headers = headers

    def __repr__(self) -> str:
        return f"Call({self.method}, {self.params})"


class FakeApi:
    """Records calls; ``result(method, params)`` gives the ``result`` part of the answer."""

    def __init__(self, port: int, extra: Optional[Callable[[Call], Dict[str, Any]]] = None) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.extra = extra or (lambda call: {})
        self.calls: List[Call] = []
        self._lock = threading.Lock()
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._runner: Optional[web.AppRunner] = None
        self._thread: Optional[threading.Thread] = None

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        if request.content_type == "application/json":
            params = json.loads(body or b"{}")
        else:
            params = dict(parse_qsl(body.decode()))
        call = Call(request.path, params, dict(request.headers))
        with self._lock:
            self.calls.append(call)
        return web.json_response({"ok": True, **self.extra(call)})

    def start(self) -> FakeApi:
        """Starts serving on ``port`` in a background thread."""
        ready = threading.Event()

        async def serve() -> None:
            app = web.Application()
            app.router.add_route("*", "/{tail:.*}", self._handle)
            self._runner = web.AppRunner(app)
            await self._runner.setup()
            await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

        def run() -> None:
            self._loop = asyncio.new_event_loop()
            self._loop.run_until_complete(serve())
            ready.set()
            self._loop.run_forever()

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError(f"fake API did not start on port {self.port}")
        return self

    def stop(self) -> None:
        """Stops serving."""
        if self._loop is None:
            return
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def find(self, method: str, **match: Any) -> List[Call]:
        """The calls of ``method`` whose parameters include ``match``."""
        with self._lock:
            calls = list(self.calls)
        return [
            c for c in calls if c.method == method and all(c.params.get(k) == v for k, v in match.items())
        ]

    def wait_for(self, method: str, count: int, timeout: float = 30, **match: Any) -> List[Call]:
        """Waits until at least ``count`` calls match, then a moment for any extra ones."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            calls = self.find(method, **match)
            if len(calls) >= count:
                time.sleep(0.3)
                return self.find(method, **match)
            time.sleep(0.1)
        raise AssertionError(
            f"expected {count} {method} calls matching {match}, got {self.find(method, **match)}"
        )
