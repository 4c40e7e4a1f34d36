"""The web page at ``/``: invite the bot to a meeting, watch the bots and their live transcripts.

The page is a server-rendered shell (Jinja2) with one small script and no build step. Everything it shows comes
from the REST API, called with the token the user gives once (kept in the browser's localStorage); the page
itself needs no token and holds no data. A strict Content-Security-Policy allows only this server's own script,
and a summary is shown in a sandboxed frame, so a hostile display name in a transcript or summary can neither
run script nor reach the token.
"""

from __future__ import annotations

from importlib import resources

import jinja2
from aiohttp import web

from bot import __version__

PAGE_KEY = web.AppKey("serve_page", str)
SCRIPT_KEY = web.AppKey("serve_script", bytes)
STYLE_KEY = web.AppKey("serve_style", bytes)

_CSP = ("default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
        "connect-src 'self'; frame-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
_HEADERS = {"Content-Security-Policy": _CSP, "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer",
            "X-Frame-Options": "DENY", "Cache-Control": "no-store"}


def setup_web(app: web.Application, *, title: str = "Jitsi notetaker") -> None:
    """Add ``GET /`` and its script and style to ``app`` (the page is rendered once, here)."""
    files = resources.files("bot.serve")
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    template = env.from_string(files.joinpath("templates/index.html.j2").read_text(encoding="utf-8"))
    app[PAGE_KEY] = template.render(title=title, version=__version__)
    app[SCRIPT_KEY] = files.joinpath("static/serve.js").read_bytes()
    app[STYLE_KEY] = files.joinpath("static/serve.css").read_bytes()
    app.router.add_get("/", _page)
    app.router.add_get("/static/serve.js", _script)
    app.router.add_get("/static/serve.css", _style)


async def _page(request: web.Request) -> web.Response:
    return web.Response(text=request.app[PAGE_KEY], content_type="text/html", charset="utf-8", headers=_HEADERS)


async def _script(request: web.Request) -> web.Response:
    return web.Response(body=request.app[SCRIPT_KEY], content_type="text/javascript", charset="utf-8",
                        headers=_HEADERS)


async def _style(request: web.Request) -> web.Response:
    return web.Response(body=request.app[STYLE_KEY], content_type="text/css", charset="utf-8", headers=_HEADERS)
