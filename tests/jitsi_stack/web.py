"""The jitsi-meet web app as its nginx site serves it: static files, SSI includes, ``/<room>`` → index.html,
``/config.js``, and the XMPP websocket and BOSH endpoints proxied to Prosody.

``config.js`` is this harness's own (``config.js.tmpl``), filled in per request with the scheme and host the
page was loaded from, so the same deployment serves ``http://localhost:8000`` and
``https://meet.jitsi.test:8443`` (a public-looking TLS origin, self-signed certificate).
"""

from __future__ import annotations

import asyncio
import re
import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
from aiohttp import web

SSI = re.compile(r'<!--#include virtual="/?([^"]+)"\s*-->')
ROOM = re.compile(r"^/[^/?&:'\".]+$")
TLS_NAMES = ("meet.jitsi.test", "localhost", "10.77.0.1")
CONFIG_TEMPLATE = Path(__file__).with_name("config.js.tmpl")
HTTP = web.AppKey("http", aiohttp.ClientSession)  # to Prosody


def tls_files(tls_dir: Path) -> tuple[Path, Path]:
    """A self-signed certificate for ``meet.jitsi.test`` (made once per stack with trustme)."""
    cert, key = tls_dir / "cert.pem", tls_dir / "key.pem"
    if not cert.exists():
        import trustme

        tls_dir.mkdir(parents=True, exist_ok=True)
        ca = trustme.CA()
        issued = ca.issue_cert(*TLS_NAMES)
        issued.private_key_pem.write_to_path(str(key))
        issued.cert_chain_pems[0].write_to_path(str(cert))
        ca.cert_pem.write_to_path(str(tls_dir / "ca.pem"))
    return cert, key


def create_app(webroot: Path, *, xmpp_port: int, domain: str, anonymous_domain: str | None) -> web.Application:
    """The aiohttp app serving one unpacked web-dist folder."""
    template = CONFIG_TEMPLATE.read_text(encoding="utf-8")

    def read(rel: str, request: web.Request) -> str:
        if rel == "config.js":
            return config_js(request)
        path = (webroot / rel).resolve()
        if webroot.resolve() not in path.parents or not path.is_file():
            return ""
        return path.read_text(encoding="utf-8")

    def config_js(request: web.Request) -> str:
        ws_scheme = "wss" if request.scheme == "https" else "ws"
        anon = f"anonymousdomain: '{anonymous_domain}'," if anonymous_domain else ""
        return (template.replace("@DOMAIN@", domain).replace("@ANONYMOUS_DOMAIN@", anon)
                .replace("@HOST@", request.host).replace("@SCHEME@", request.scheme)
                .replace("@WS_SCHEME@", ws_scheme))

    async def config(request: web.Request) -> web.Response:
        return web.Response(text=config_js(request), content_type="application/javascript",
                            headers={"Cache-Control": "no-store"})

    async def index(request: web.Request) -> web.StreamResponse:
        path = request.path
        if path != "/" and not ROOM.match(path):
            raise web.HTTPNotFound()
        html = read("index.html", request)
        for _ in range(3):
            html = SSI.sub(lambda m: read(m.group(1), request), html)
        return web.Response(text=html, content_type="text/html", headers={"Cache-Control": "no-store"})

    async def xmpp_websocket(request: web.Request) -> web.StreamResponse:
        client = web.WebSocketResponse(protocols=("xmpp",), max_msg_size=0)
        await client.prepare(request)
        async with request.app[HTTP].ws_connect(
            f"http://127.0.0.1:{xmpp_port}/xmpp-websocket", protocols=("xmpp",), max_msg_size=0
        ) as upstream:
            async def pump(src: web.WebSocketResponse | aiohttp.ClientWebSocketResponse,
                           dst: web.WebSocketResponse | aiohttp.ClientWebSocketResponse) -> None:
                async for msg in src:
                    if msg.type == aiohttp.WSMsgType.TEXT:
                        await dst.send_str(msg.data)
                    elif msg.type == aiohttp.WSMsgType.BINARY:
                        await dst.send_bytes(msg.data)
                await dst.close()

            tasks = [asyncio.create_task(pump(client, upstream)), asyncio.create_task(pump(upstream, client))]
            try:
                await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for t in tasks:
                    t.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
        return client

    async def bosh(request: web.Request) -> web.Response:
        body = await request.read()
        async with request.app[HTTP].request(
            request.method, f"http://127.0.0.1:{xmpp_port}/http-bind", data=body,
            headers={"Content-Type": request.headers.get("Content-Type", "text/xml; charset=utf-8")},
        ) as resp:
            return web.Response(body=await resp.read(), status=resp.status,
                                content_type=resp.content_type or "text/xml")

    async def upstream(app: web.Application) -> AsyncIterator[None]:
        async with aiohttp.ClientSession() as http:
            app[HTTP] = http
            yield

    app = web.Application()
    app.cleanup_ctx.append(upstream)
    app.router.add_get("/config.js", config)
    app.router.add_get("/xmpp-websocket", xmpp_websocket)
    app.router.add_route("*", "/http-bind", bosh)
    app.router.add_get("/", index)
    app.router.add_get(r"/{room:[^/?&:'\".]+}", index)
    app.router.add_static("/", webroot, follow_symlinks=False)
    return app


async def start_web(webroot: Path, tls_dir: Path, *, http_port: int, https_port: int, xmpp_port: int,
                    domain: str, anonymous_domain: str | None) -> web.AppRunner:
    """Serve the web app on every address of the namespace: http and https (self-signed)."""
    app = create_app(webroot, xmpp_port=xmpp_port, domain=domain, anonymous_domain=anonymous_domain)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "0.0.0.0", http_port).start()
    cert, key = tls_files(tls_dir)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(cert), str(key))
    await web.TCPSite(runner, "0.0.0.0", https_port, ssl_context=context).start()
    return runner
