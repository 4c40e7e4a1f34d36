"""Runs the bridge application on loopback with an ephemeral port."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from types import TracebackType

from aiohttp import web

from bot.bridge.app import STATE, BridgeCounters, ControlHandler, create_app
from bot.bridge.metrics import MetricsSource
from bot.bridge.recorder import MeetingRecorder


class BridgeServer:
    """The bridge as a running server; use ``async with``.

    Args:
        recorder: receives audio and track messages.
        on_control: receives every control message.
        host: loopback address to bind.
        port: 0 for an ephemeral port.
        max_frame_bytes: bound on one audio frame.
        max_text_bytes: bound on one text message (a roster must fit).
        metrics: extra figures for ``/metrics``.
    """

    def __init__(
        self,
        recorder: MeetingRecorder,
        on_control: ControlHandler,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        max_frame_bytes: int = 16384,
        max_text_bytes: int = 4 << 20,
        metrics: MetricsSource | None = None,
        health: Callable[[], str | None] | None = None,
    ) -> None:
        self._token = secrets.token_urlsafe(24)
        self._app = create_app(recorder, on_control, token=self._token, max_frame_bytes=max_frame_bytes,
                               max_text_bytes=max_text_bytes, metrics=metrics, health=health)
        self._host = host
        self._port = port
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def counters(self) -> BridgeCounters:
        """Refused clients and messages."""
        return self._app[STATE].counters

    @property
    def connections(self) -> int:
        """Page sockets open now."""
        return len(self._app[STATE].sockets)

    @property
    def audio_url(self) -> str:
        """The URL the page connects to, token included. Never log it."""
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"ws://{host}:{self.port}/audio?token={self._token}"

    @property
    def base_url(self) -> str:
        """``http://host:port`` without the token (safe to log)."""
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"http://{host}:{self.port}"

    async def start(self) -> None:
        """Bind and serve."""
        # Stopping waits this long at most for page connections to finish (aiohttp's default is 60 s).
        self._runner = web.AppRunner(self._app, access_log=None, handle_signals=False, shutdown_timeout=3.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._host, self._port)
        await site.start()
        self.port = int(self._runner.addresses[0][1])

    async def aclose(self) -> None:
        """Close page sockets (GOING_AWAY) and stop serving; safe to call twice."""
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    async def __aenter__(self) -> BridgeServer:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()
