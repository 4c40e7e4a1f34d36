"""The bridge's aiohttp application: ``/audio`` (page WebSocket) and ``/healthz``."""

from __future__ import annotations

import asyncio
import itertools
import secrets
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field

import structlog
from aiohttp import WSCloseCode, WSMsgType, web

from bot.bridge.metrics import Metric, MetricsSource, render
from bot.bridge.protocol import (
    ControlMessage,
    ProtocolError,
    TrackEnded,
    TrackStarted,
    decode_frame,
    parse_control,
)
from bot.bridge.recorder import MeetingRecorder

log = structlog.get_logger(__name__)

ControlHandler = Callable[[int, ControlMessage], None]


@dataclass(slots=True)
class BridgeCounters:
    """Messages the bridge refused, by reason."""

    refused_clients: int = 0
    malformed_frames: int = 0
    malformed_control: int = 0
    connections: int = 0


@dataclass(slots=True)
class BridgeState:
    """What the handlers share; one per app."""

    token: str
    recorder: MeetingRecorder
    on_control: ControlHandler
    max_frame_bytes: int
    max_text_bytes: int
    metrics: MetricsSource | None = None
    health: Callable[[], str | None] | None = None  # a reason when the bot is not healthy
    counters: BridgeCounters = field(default_factory=BridgeCounters)
    sockets: weakref.WeakSet[web.WebSocketResponse] = field(default_factory=weakref.WeakSet)
    conn_ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))


STATE = web.AppKey("bridge_state", BridgeState)


def create_app(
    recorder: MeetingRecorder,
    on_control: ControlHandler,
    *,
    token: str | None = None,
    max_frame_bytes: int = 16384,
    max_text_bytes: int = 4 << 20,
    metrics: MetricsSource | None = None,
    health: Callable[[], str | None] | None = None,
) -> web.Application:
    """Build the bridge application.

    Args:
        recorder: receives track messages and audio frames.
        on_control: called with (connection number, message) for every valid control message.
        token: the secret a page must present as ``?token=``; random when omitted.
        max_frame_bytes: larger audio frames are refused (each on its own).
        max_text_bytes: larger text messages close the connection (1009) per aiohttp; a roster must fit.
        metrics: the session's figures for ``/metrics`` (the bridge adds its own).
        health: returns why the bot is unhealthy (``/healthz`` then answers 503), or None.
    """
    app = web.Application()
    app[STATE] = BridgeState(
        token=token or secrets.token_urlsafe(24),
        recorder=recorder,
        on_control=on_control,
        max_frame_bytes=max_frame_bytes,
        max_text_bytes=max_text_bytes,
        metrics=metrics,
        health=health,
    )
    app.router.add_get("/audio", _audio)
    app.router.add_get("/healthz", _healthz)
    app.router.add_get("/metrics", _metrics)
    app.on_shutdown.append(_close_sockets)
    return app


async def _healthz(request: web.Request) -> web.Response:
    state = request.app[STATE]
    problem = state.health() if state.health is not None else None
    if problem:
        return web.json_response({"status": "unhealthy", "reason": problem, "connections": len(state.sockets)},
                                 status=503)
    return web.json_response({"status": "ok", "connections": len(state.sockets)})


async def _metrics(request: web.Request) -> web.Response:
    state = request.app[STATE]
    summary = state.recorder.summary()
    c = state.counters
    own = [
        Metric("page_connections", "Page WebSocket connections now open", "gauge", len(state.sockets)),
        Metric("audio_samples_total", "Audio samples received", "counter", summary["samples"]),
        Metric("audio_gap_frames_total", "Audio frames missing by sequence number", "counter",
               summary["gaps"]),
        Metric("audio_lost_seconds_total", "Audio the browser never rendered", "counter",
               state.recorder.lost_ms() / 1000),
        Metric("tracks_active", "Remote audio tracks being captured", "gauge", state.recorder.active_tracks()),
        Metric("backend_dropped_frames_total", "Frames the backend could not take in time", "counter",
               state.recorder.consumer_dropped),
        Metric("refused_total", "Refused clients and messages", "counter", c.refused_clients, (("what", "client"),)),
        Metric("refused_total", "Refused clients and messages", "counter", c.malformed_frames, (("what", "frame"),)),
        Metric("refused_total", "Refused clients and messages", "counter", c.malformed_control,
               (("what", "control"),)),
    ]
    extra = state.metrics() if state.metrics is not None else []
    return web.Response(text=render([*own, *extra]), content_type="text/plain", charset="utf-8",
                        headers={"X-Content-Type-Options": "nosniff"})


async def _close_sockets(app: web.Application) -> None:
    for ws in set(app[STATE].sockets):
        await ws.close(code=WSCloseCode.GOING_AWAY, message=b"bot shutting down")


async def _audio(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    given = request.query.get("token", "")
    if not secrets.compare_digest(given.encode(), state.token.encode()):
        state.counters.refused_clients += 1
        log.warning("bridge.client_refused", reason="bad or missing token", remote=request.remote)
        raise web.HTTPForbidden(text="token required")
    ws = web.WebSocketResponse(max_msg_size=max(state.max_frame_bytes, state.max_text_bytes), heartbeat=15.0)
    await ws.prepare(request)
    conn = next(state.conn_ids)
    state.sockets.add(ws)
    state.counters.connections += 1
    log.info("bridge.page_connected", conn=conn)
    try:
        handled = 0
        async for msg in ws:
            handled += 1
            if handled % 50 == 0:
                # A page sending its backlog after a reconnect (10 s per track) arrives all at once: let the
                # consumers of the frame queue run, or the burst overflows it.
                await asyncio.sleep(0)
            if msg.type == WSMsgType.BINARY:
                _on_binary(state, conn, msg.data)
            elif msg.type == WSMsgType.TEXT:
                _on_text(state, conn, msg.data)
            elif msg.type == WSMsgType.ERROR:
                log.warning("bridge.socket_error", conn=conn, error=str(ws.exception()))
    finally:
        state.recorder.connection_closed(conn)
        log.info("bridge.page_disconnected", conn=conn, close_code=ws.close_code)
    return ws


def _on_binary(state: BridgeState, conn: int, data: bytes) -> None:
    try:
        frame = decode_frame(data, state.max_frame_bytes)
    except ProtocolError as exc:
        state.counters.malformed_frames += 1
        if state.counters.malformed_frames <= 10 or state.counters.malformed_frames % 1000 == 0:
            log.warning("bridge.frame_refused", conn=conn, error=str(exc),
                        count=state.counters.malformed_frames)
        return
    state.recorder.frame(conn, frame)


def _on_text(state: BridgeState, conn: int, data: str) -> None:
    try:
        msg = parse_control(data)
    except ProtocolError as exc:
        state.counters.malformed_control += 1
        if state.counters.malformed_control <= 10:
            log.warning("bridge.control_refused", conn=conn, error=str(exc))
        return
    if isinstance(msg, TrackStarted):
        state.recorder.track_started(conn, msg)
    elif isinstance(msg, TrackEnded):
        state.recorder.track_ended(conn, msg.track)
    state.on_control(conn, msg)
