"""A fake Jitsi Meet room for tests: an aiohttp server plus a controller that drives the page.

The page (``fake_room_page/room.html``, ``room.js``) exposes the same globals, method names, event strings and
selectors as real Jitsi Meet (see shared/docs/JITSI.md) and produces real WebRTC audio: every participant's
source (a tone or a WAV file) is sent through an in-page ``RTCPeerConnection`` pair, and the received
``MediaStreamTrack`` is what the fake ``JitsiRemoteTrack`` wraps.

The controller talks to the page over a control WebSocket (``/control``): commands are JSON
``{id, cmd, args}`` answered by ``{id, ok, error?, result?}``; the page also sends unsolicited events
``{"event": name, ...}``. The latest page connection wins.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
from collections import deque
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import quote, urlencode

from aiohttp import WSMsgType, web

log = logging.getLogger(__name__)

PAGE_DIR = Path(__file__).resolve().parent / "fake_room_page"
LOBBY_MODES = ("off", "admit", "deny", "never", "manual")


class FakeJitsiRoom:
    """Serves a fake Jitsi Meet page on 127.0.0.1:<ephemeral> and drives it over a control WebSocket.

    Use as ``async with FakeJitsiRoom() as room:``; open ``room.url(...)`` in a browser, then call the
    command methods. Commands sent while no page is connected wait up to ``connect_timeout`` seconds for
    one (then ``TimeoutError``); errors raised in the page come back as ``RuntimeError``.

    The room keeps a roster of the participants added through it: a page that connects later (for example
    after ``reload_page()``) is given the same participants before any other command, so a reloaded bot
    sees them again when it rejoins.
    """

    def __init__(
        self,
        *,
        media_dir: Path | None = None,
        connect_timeout: float = 15.0,
        command_timeout: float = 20.0,
    ) -> None:
        self._media_dir = Path(media_dir) if media_dir is not None else None
        self._connect_timeout = connect_timeout
        self._command_timeout = command_timeout
        self._runner: web.AppRunner | None = None
        self._port: int | None = None
        self._ws: web.WebSocketResponse | None = None
        self._connected = asyncio.Event()
        self._ids = itertools.count(1)
        self._pending: dict[int, tuple[web.WebSocketResponse, asyncio.Future[Any]]] = {}
        self._queues: dict[str, deque[dict[str, Any]]] = {}
        self._new_event = asyncio.Condition()
        self._roster: dict[str, dict[str, Any]] = {}
        self._sockets: set[web.WebSocketResponse] = set()
        self._background: set[asyncio.Task[Any]] = set()
        self.events: list[dict[str, Any]] = []
        """Every unsolicited event the pages sent, in order (``{"event": name, ...}``)."""

    # ------------------------------------------------------------------ lifecycle

    async def __aenter__(self) -> FakeJitsiRoom:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def start(self) -> None:
        """Start the HTTP server on 127.0.0.1 with an ephemeral port."""
        if self._runner is not None:
            return
        app = web.Application()
        app.router.add_get("/control", self._control)
        app.router.add_get("/favicon.ico", self._no_content)
        app.router.add_static("/static", PAGE_DIR)
        if self._media_dir is not None:
            app.router.add_static("/media", self._media_dir)
        app.router.add_get("/", self._page)
        app.router.add_get("/{room:[^/]+}", self._page)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        self._runner = runner
        self._port = int(runner.addresses[0][1])

    async def aclose(self) -> None:
        """Close the page connections and stop the server."""
        for ws in list(self._sockets):
            with contextlib.suppress(Exception):
                await ws.close()
        for _, fut in self._pending.values():
            if not fut.done():
                fut.set_exception(RuntimeError("fake room closed"))
        self._pending.clear()
        for task in list(self._background):
            task.cancel()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # ------------------------------------------------------------------ addresses

    @property
    def port(self) -> int:
        """The TCP port the server listens on."""
        if self._port is None:
            raise RuntimeError("FakeJitsiRoom is not started")
        return self._port

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        return f"http://127.0.0.1:{self.port}"

    def url(
        self,
        room: str = "testroom",
        *,
        prejoin: bool = False,
        lobby: str = "off",
        password: str | None = None,
        waiting_for_host: bool | str = False,
        p2p: bool = False,
        audio_elements: bool = True,
        worklet: bool = True,
    ) -> str:
        """The meeting URL; the options go in the ``?query`` so a bot can append its own ``#hash``.

        ``waiting_for_host``: True for jicofo's flow (authenticationRequired until a moderator logs in),
        ``"lobby"`` for mod_muc_wait_for_host's (guests wait in the lobby, membersOnly with waitingForHost).
        """
        if lobby not in LOBBY_MODES:
            raise ValueError(f"lobby must be one of {LOBBY_MODES}, not {lobby!r}")
        params: dict[str, str] = {
            "prejoin": str(int(prejoin)),
            "lobby": lobby,
            "waiting_for_host": waiting_for_host if isinstance(waiting_for_host, str) else str(int(waiting_for_host)),
            "p2p": str(int(p2p)),
            "audio_elements": str(int(audio_elements)),
            "worklet": str(int(worklet)),
        }
        if password is not None:
            params["password"] = password
        return f"{self.base_url}/{quote(room, safe='')}?{urlencode(params)}"

    # ------------------------------------------------------------------ page events

    async def wait_connected(self, timeout: float = 15) -> None:  # noqa: ASYNC109 (spec API)
        """Wait until a page has the control socket open."""
        try:
            await asyncio.wait_for(self._connected.wait(), timeout)
        except TimeoutError:
            raise TimeoutError(
                f"no fake room page connected to {self.base_url}/control in {timeout} s"
            ) from None

    async def wait_event(self, name: str, timeout: float = 15) -> dict[str, Any]:  # noqa: ASYNC109
        """Return the oldest not yet awaited page event called ``name``, waiting for one if needed.

        Each event is returned by at most one ``wait_event`` call; all events stay in ``self.events``.
        A new page connection (e.g. after a reload) drops the previous page's events not yet awaited.
        """

        def ready() -> bool:
            return bool(self._queues.get(name))

        try:
            async with self._new_event:
                await asyncio.wait_for(self._new_event.wait_for(ready), timeout)
        except TimeoutError:
            seen = [e.get("event") for e in self.events]
            raise TimeoutError(f"no page event {name!r} within {timeout} s (events so far: {seen})") from None
        return self._queues[name].popleft()

    # ------------------------------------------------------------------ participants

    async def add_participant(
        self,
        pid: str,
        name: str,
        *,
        tone_hz: float | None = None,
        wav: str | None = None,
        loop: bool = True,
        hidden: bool = False,
        jigasi: bool = False,
        audio: bool = True,
        gain: float = 0.3,
    ) -> None:
        """Add a remote participant; returns once its TRACK_ADDED fired (at once if unjoined or audio=False).

        ``tone_hz`` makes a sine source, ``wav`` a WAV file from ``media_dir`` (played once if ``loop`` is
        false); neither gives a silent source. ``audio=False`` keeps the source but sends no track (see
        ``rewrite_ssrc``).
        """
        if tone_hz is not None and wav is not None:
            raise ValueError("give tone_hz or wav, not both")
        if wav is not None:
            if self._media_dir is None:
                raise ValueError("wav needs FakeJitsiRoom(media_dir=...)")
            if not (self._media_dir / wav).is_file():
                raise FileNotFoundError(self._media_dir / wav)
        spec = {
            "pid": pid,
            "name": name,
            "tone_hz": tone_hz,
            "wav": wav,
            "loop": loop,
            "hidden": hidden,
            "jigasi": jigasi,
            "audio": audio,
            "gain": gain,
        }
        await self._command("add_participant", spec)
        self._roster[pid] = spec

    async def rename(self, pid: str, name: str) -> None:
        """Change a participant's display name (DISPLAY_NAME_CHANGED)."""
        await self._command("rename", {"pid": pid, "name": name})
        if pid in self._roster:
            self._roster[pid]["name"] = name

    async def remove_participant(self, pid: str) -> None:
        """Stop the participant's source, fire TRACK_REMOVED for its tracks, then USER_LEFT."""
        await self._command("remove_participant", {"pid": pid})
        self._roster.pop(pid, None)

    async def set_dominant_speaker(self, pid: str) -> None:
        """Fire DOMINANT_SPEAKER_CHANGED ``(pid, previous, false)``."""
        await self._command("set_dominant_speaker", {"pid": pid})

    # ------------------------------------------------------------------ conference

    async def kick_bot(self, reason: str = "You have been kicked.") -> None:
        """Fire KICKED ``(actor, reason, false)``, then CONFERENCE_LEFT; the page shows the kick text."""
        await self._command("kick_bot", {"reason": reason})

    async def end_conference(self) -> None:
        """Fire CONFERENCE_FAILED ``('conference.destroyed', ...)``; the bot is no longer joined."""
        await self._command("end_conference", {})

    async def admit_bot(self) -> None:
        """Admit the bot from the lobby (``lobby='manual'``); applied when it knocks if it has not yet."""
        await self._command("admit_bot", {})

    async def deny_bot(self) -> None:
        """Reject the bot's lobby request (``lobby='manual'``); applied when it knocks if it has not yet."""
        await self._command("deny_bot", {})

    async def host_arrives(self) -> None:
        """End the waiting for the host (either ``waiting_for_host`` mode); the bot joins."""
        await self._command("host_arrives", {})

    async def switch_p2p_to_bridge(self) -> None:
        """Replace every remote audio track: TRACK_REMOVED, then a new peer connection pair and a new
        JitsiRemoteTrack (``isP2P`` false) with TRACK_ADDED."""
        await self._command("switch_p2p_to_bridge", {})

    async def rewrite_ssrc(self, from_pid: str, to_pid: str) -> None:
        """Give ``from_pid``'s audio slot to ``to_pid`` (added with ``audio=False``), like SSRC rewriting.

        The same JitsiRemoteTrack and MediaStreamTrack fire TRACK_REMOVED, start carrying ``to_pid``'s
        source, report ``getParticipantId() == to_pid`` and fire TRACK_ADDED.
        """
        await self._command("rewrite_ssrc", {"from": from_pid, "to": to_pid})
        if from_pid in self._roster:
            self._roster[from_pid]["audio"] = False
        if to_pid in self._roster:
            self._roster[to_pid]["audio"] = True

    async def reload_page(self) -> None:
        """Make the page call ``location.reload()``; returns once the reloaded page has connected."""
        old = self._ws
        await self._command("reload_page", {})
        deadline = asyncio.get_running_loop().time() + self._connect_timeout
        while self._ws is None or self._ws is old:
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(
                    f"reload_page: no reloaded page connected within {self._connect_timeout} s"
                )
            await asyncio.sleep(0.02)

    async def stall_audio(self) -> int:
        """Suspend every AudioContext the page did not create itself (a bot's capture stalls).

        Returns how many were suspended.
        """
        return int(await self._command("stall_audio", {}))

    async def state(self) -> dict[str, Any]:
        """``{"joined", "participants", "password_tries", "knocked", "display_name"}`` from the page."""
        result = await self._command("state", {})
        assert isinstance(result, dict)
        return result

    # ------------------------------------------------------------------ control socket

    async def _command(self, cmd: str, args: dict[str, Any]) -> Any:
        if self._runner is None:
            raise RuntimeError("FakeJitsiRoom is not started")
        if self._ws is None or self._ws.closed:
            try:
                await asyncio.wait_for(self._connected.wait(), self._connect_timeout)
            except TimeoutError:
                raise TimeoutError(
                    f"{cmd}: no fake room page connected to {self.base_url}/control "
                    f"within {self._connect_timeout} s (open room.url() in a browser first)"
                ) from None
        ws = self._ws
        assert ws is not None
        fut = self._send(ws, cmd, args)
        try:
            return await asyncio.wait_for(fut, self._command_timeout)
        except TimeoutError:
            raise TimeoutError(f"{cmd}: the page did not answer within {self._command_timeout} s") from None

    def _send(self, ws: web.WebSocketResponse, cmd: str, args: dict[str, Any]) -> asyncio.Future[Any]:
        msg_id = next(self._ids)
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[msg_id] = (ws, fut)
        task = asyncio.ensure_future(ws.send_str(json.dumps({"id": msg_id, "cmd": cmd, "args": args})))
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return fut

    async def _control(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(max_msg_size=0)
        await ws.prepare(request)
        self._sockets.add(ws)
        self._ws = ws
        # Events not yet awaited belong to the previous page: a new page starts fresh queues.
        self._queues.clear()
        # Give the new page the roster first; the page runs commands in order.
        if self._roster:
            sync = self._send(ws, "sync", {"participants": list(self._roster.values())})
            sync.add_done_callback(_log_failure)
        self._connected.set()
        try:
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                try:
                    data = json.loads(msg.data)
                except ValueError:
                    log.warning("fake room: bad control message %r", msg.data)
                    continue
                if "event" in data:
                    if ws is self._ws:
                        await self._record_event(data)
                    continue
                entry = self._pending.pop(data.get("id"), None)
                if entry is None or entry[1].done():
                    continue
                if data.get("ok"):
                    entry[1].set_result(data.get("result"))
                else:
                    entry[1].set_exception(RuntimeError(data.get("error") or "page command failed"))
        finally:
            self._sockets.discard(ws)
            if self._ws is ws:
                self._ws = None
                self._connected.clear()
            for msg_id, (owner, fut) in list(self._pending.items()):
                if owner is ws:
                    del self._pending[msg_id]
                    if not fut.done():
                        fut.set_exception(RuntimeError("the fake room page disconnected"))
        return ws

    async def _record_event(self, data: dict[str, Any]) -> None:
        self.events.append(data)
        self._queues.setdefault(str(data["event"]), deque()).append(data)
        async with self._new_event:
            self._new_event.notify_all()

    async def _page(self, request: web.Request) -> web.FileResponse:
        return web.FileResponse(PAGE_DIR / "room.html", headers={"Cache-Control": "no-store"})

    async def _no_content(self, request: web.Request) -> web.Response:
        return web.Response(status=204)


def _log_failure(fut: asyncio.Future[Any]) -> None:
    if not fut.cancelled() and fut.exception() is not None:
        log.warning("fake room: roster sync failed: %s", fut.exception())
