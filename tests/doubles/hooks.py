"""A webhook receiver on loopback for the tests: a real aiohttp server that keeps what it was sent."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from aiohttp import web
from aiohttp.test_utils import TestServer


@dataclass
class HookReceiver:
    """Where to POST (``url``, on ``port``) and what arrived, in order: ``(headers, body)``."""

    url: str = ""
    port: int = 0
    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)

    @property
    def bodies(self) -> list[bytes]:
        """The bodies alone."""
        return [body for _, body in self.received]


@asynccontextmanager
async def hook_receiver(*, slow_marker: bytes | None = None, slow_s: float = 0.3) -> AsyncIterator[HookReceiver]:
    """A receiver answering 204 to ``POST /hook``; one whose body holds ``slow_marker`` is answered ``slow_s`` late."""
    hooks = HookReceiver()

    async def hook(request: web.Request) -> web.Response:
        body = await request.read()
        if slow_marker is not None and slow_marker in body:
            await asyncio.sleep(slow_s)  # a receiver that takes its time
        hooks.received.append((dict(request.headers), body))
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/hook", hook)
    async with TestServer(app, host="127.0.0.1") as server:
        hooks.port = int(server.port or 0)
        hooks.url = f"http://127.0.0.1:{hooks.port}/hook"
        yield hooks
