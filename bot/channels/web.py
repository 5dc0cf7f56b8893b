"""Serves the website chat widget from the Rasa server (``/webhooks/web/``).

Named in ``credentials.yml`` as ``bot.channels.web.WebChatInput``. Rasa mounts
the blueprint under ``/webhooks/web/``:

========================  ===================================================
``/``                     the demo clinic page (``bot/web/demo.html``)
``/widget.js``            the widget: one ``<script>`` tag embeds it
``/widget.css``           its styles (loaded by ``widget.js``)
``/demo.css, /demo.js``   the demo page's own styles and script
``/config.json``          the clinic details the widget shows, from ``bot/clinic.yml``
``/vendor/<file>``        the socket.io browser client, from ``node_modules``
========================  ===================================================

With ``demo: true`` (the default) a browser that opens the server's own address
(``http://localhost:5005/``) is sent to the demo page; other clients asking for
``/`` still get Rasa's "Hello from Rasa" text. ``demo: false`` turns both off and
leaves only the widget's files and configuration.

This channel receives no messages: the widget talks to Rasa's socket.io channel
and falls back to the REST channel. Files are read when requested, never at
import time.
"""

from __future__ import annotations

import hashlib
import logging
import re
from pathlib import Path
from typing import Any, Awaitable, Callable, Dict, Optional

from rasa.core.channels.channel import InputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.channels import install_server_hooks
from bot.knowledge import KnowledgeError, get_knowledge
from bot.settings import SettingsError, get_settings

logger = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[2]
WEB_DIR = ROOT / "bot" / "web"
NODE_MODULES = ROOT / "node_modules"

# The only files served, by URL name: nothing else on disk is reachable.
ASSETS: Dict[str, str] = {
    "demo.html": "text/html; charset=utf-8",
    "widget.js": "text/javascript; charset=utf-8",
    "widget.css": "text/css; charset=utf-8",
    "demo.css": "text/css; charset=utf-8",
    "demo.js": "text/javascript; charset=utf-8",
}
VENDOR: Dict[str, str] = {
    "socket.io.min.js": "socket.io-client/dist/socket.io.min.js",
    "socket.io.min.js.map": "socket.io-client/dist/socket.io.min.js.map",
}
_SAFE_HOST = re.compile(r"^[A-Za-z0-9.\-]+(:[0-9]{1,5})?$|^\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?$")


def clinic_config() -> Dict[str, Any]:
    """The clinic details and disclaimer the widget and demo page show (``/config.json``).

    The disclaimer's wording comes from the knowledge file's messages, filled with
    the clinic settings, like every other message the assistant shows.
    """
    settings = get_settings()
    messages = get_knowledge().messages
    values = settings.template_values()
    return {
        "disclaimer": [messages[key].format(**values) for key in ("disclaimer", "disclaimer_emergency")],
        "emergency_line": messages["emergency_line"].format(**values),
        "name": settings.name,
        "phone": settings.phone,
        "hours": settings.hours,
        "booking_url": settings.booking_url,
        "emergency_number": settings.emergency_number,
        "crisis_line": settings.crisis_line,
    }


def demo_page_policy(host: Optional[str]) -> str:
    """The demo page's Content-Security-Policy: its own files only, no third parties."""
    sockets = ""
    if host and _SAFE_HOST.match(host):
        sockets = f" ws://{host} wss://{host}"
    return (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        f"connect-src 'self'{sockets}; base-uri 'none'; form-action 'self'; frame-ancestors 'self'"
    )


async def _send_file(request: Request, path: Path, content_type: str, extra: Dict[str, str]) -> HTTPResponse:
    try:
        stat = path.stat()
    except OSError:
        return response.text("Not found", status=404)
    etag = '"' + hashlib.sha1(f"{stat.st_mtime_ns}-{stat.st_size}".encode()).hexdigest()[:20] + '"'
    headers = {
        "Cache-Control": "no-cache",
        "ETag": etag,
        "X-Content-Type-Options": "nosniff",
        **extra,
    }
    if request.headers.get("if-none-match") == etag:
        return response.empty(status=304, headers=headers)
    return await response.file(path, mime_type=content_type, headers=headers)


class WebChatBlueprint(Blueprint):
    """The channel's blueprint; with the demo on, also sends browsers at ``/`` to it."""

    def __init__(self, demo: bool, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.ctx.demo = demo

    def register(self, app: Any, options: Dict[str, Any]) -> None:
        """Registers the routes, and the redirect from ``/`` for browsers."""
        super().register(app, options)
        if not self.ctx.demo:
            return
        demo_url = (options.get("url_prefix") or self.url_prefix or "").rstrip("/") + "/"

        async def open_demo_page(request: Request) -> Optional[HTTPResponse]:
            # Browsers ask for text/html; curl, health checks and Rasa clients do not.
            if (
                request.path == "/"
                and request.method == "GET"
                and "text/html" in request.headers.get("accept", "")
            ):
                return response.redirect(demo_url)
            return None

        app.register_middleware(open_demo_page, "request")


class WebChatInput(InputChannel):
    """Serves the chat widget, its configuration and the demo clinic page."""

    @classmethod
    def name(cls) -> str:
        """The URL name: everything is under ``/webhooks/web/``."""
        return "web"

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[str, Any]]) -> InputChannel:
        """``demo`` (default true): serve the demo clinic page and open it at ``/``."""
        install_server_hooks()
        credentials = credentials or {}
        return cls(demo=bool(credentials.get("demo", True)))

    def __init__(self, demo: bool = True) -> None:
        """Creates the channel; ``demo`` serves the demo page."""
        self.demo = demo

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        """The routes listed in the module's documentation."""
        web = WebChatBlueprint(self.demo, "web_chat_widget", __name__)

        @web.route("/", methods=["GET"])
        async def demo_page(request: Request) -> HTTPResponse:
            if not self.demo:
                return response.json({"status": "ok"})
            if not request.path.endswith("/"):
                # The page's relative links need the trailing slash.
                return response.redirect(request.path + "/")
            return await _send_file(
                request,
                WEB_DIR / "demo.html",
                ASSETS["demo.html"],
                {
                    "Content-Security-Policy": demo_page_policy(request.headers.get("host")),
                    "Referrer-Policy": "no-referrer",
                },
            )

        @web.route("/config.json", methods=["GET"])
        async def config(request: Request) -> HTTPResponse:
            try:
                values = clinic_config()
            except (SettingsError, KnowledgeError) as error:
                logger.error("Chat widget configuration unavailable: %s", error)
                return response.json({"error": "clinic settings unavailable"}, status=500)
            return response.json(values, headers={"Cache-Control": "no-cache"})

        @web.route("/<name:str>", methods=["GET"])
        async def asset(request: Request, name: str) -> HTTPResponse:
            if not name:  # Sanic routes ".../web/" here
                return await demo_page(request)
            if name not in ASSETS or name == "demo.html" or (name.startswith("demo.") and not self.demo):
                return response.text("Not found", status=404)
            return await _send_file(request, WEB_DIR / name, ASSETS[name], {})

        @web.route("/vendor/<name:str>", methods=["GET"])
        async def vendor(request: Request, name: str) -> HTTPResponse:
            if name not in VENDOR:
                return response.text("Not found", status=404)
            path = NODE_MODULES / VENDOR[name]
            if not path.exists():
                logger.warning("%s is missing: run `npm ci` (make install does it).", path)
            content_type = "application/json" if name.endswith(".map") else ASSETS["widget.js"]
            return await _send_file(request, path, content_type, {})

        return web


__all__ = ["WebChatInput", "clinic_config"]
