"""A stand-in Jitsi Meet room (the demo meeting, and the tests' fake room): an aiohttp server and its controller.

The page (``page/room.html``, ``room.js``) exposes the same globals, method names, event strings and
selectors as real Jitsi Meet (see shared/docs/JITSI.md) and produces real WebRTC audio: every participant's
source (a tone or a WAV file) is sent through an in-page ``RTCPeerConnection`` pair, and the received
``MediaStreamTrack`` is what the fake ``JitsiRemoteTrack`` wraps.

The controller talks to the page over a control WebSocket (``/control``): commands are JSON
``{id, cmd, args}`` answered by ``{id, ok, error?, result?}``; the page also sends unsolicited events
``{"event": name, ...}``. The latest page connection wins.

With ``remote_senders=True`` the sending half (the sources and each slot's sending peer connection) runs
in a sender page (``page/senders.html``) in a browser of its own (``bot.demo.senders.SenderBrowser``), so
the bot's browser only receives, as in a real meeting. The room page talks to it through this server:
``{"to_senders": msg}`` on ``/control`` goes to ``/senders`` as ``msg``, and whatever the sender page
sends comes back to the room page as ``{"from_senders": msg}``.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
from collections import deque
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Literal
from urllib.parse import quote, urlencode

from aiohttp import WSMsgType, web

from bot.config import Settings, load_settings
from bot.demo.senders import SenderBrowser

log = logging.getLogger(__name__)

PAGE_DIR = Path(__file__).resolve().parent / "page"
# The page's participants talk through in-page RTCPeerConnection pairs on 127.0.0.1: loopback ICE.
DEMO_BROWSER_ARGS = ["--allow-loopback-in-peer-connection"]
LOBBY_MODES = ("off", "admit", "deny", "never", "manual")
FULL_MODES = ("visitor", "refuse")


class FakeJitsiRoom:
    """Serves a fake Jitsi Meet page on 127.0.0.1:<ephemeral> and drives it over a control WebSocket.

    Use as ``async with FakeJitsiRoom() as room:``; open ``room.url(...)`` in a browser, then call the
    command methods. Commands sent while no page is connected wait up to ``connect_timeout`` seconds for
    one (then ``TimeoutError``); errors raised in the page come back as ``RuntimeError``.

    ``remote_senders=True`` also launches the sender browser (headless; the Chromium ``BrowserSettings``
    resolves unless ``sender_executable`` is given), which produces the participants' audio, and closes it
    on exit; ``url()`` then tells the page to use it. A page that asks for remote senders from a room without
    a sender page gets a clear error after ``connect_timeout`` seconds.

    The room keeps a roster of the participants added through it: a page that connects later (for example
    after ``reload_page()``) is given the same participants (each in the room it was last in, with the audio
    slot it last held, never a silenced one) and whether the host has arrived, before any other command, so a
    reloaded bot sees them again when it rejoins.

    As the real client, the page replaces ``APP.conference._room`` with a new JitsiConference when the bot
    moves to a breakout room or back (``getBreakoutRooms().isBreakoutRoom()``) and when it retries a full
    room as a visitor (``getRole() == "visitor"``); listeners on the old object hear nothing more.
    """

    def __init__(
        self,
        *,
        media_dir: Path | None = None,
        connect_timeout: float = 15.0,
        command_timeout: float = 20.0,
        remote_senders: bool = False,
        sender_executable: Path | None = None,
    ) -> None:
        self._media_dir = Path(media_dir) if media_dir is not None else None
        self._remote_senders = remote_senders
        self._sender_executable = sender_executable
        self._sender_browser: SenderBrowser | None = None
        self._senders_ws: web.WebSocketResponse | None = None
        self._senders_connected = asyncio.Event()
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
        self._host_present = False
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
        app.router.add_get("/senders", self._senders)
        app.router.add_get("/senders.html", self._senders_page)
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
        if self._remote_senders:
            self._sender_browser = SenderBrowser(f"{self.base_url}/senders.html", executable=self._sender_executable)
            try:
                await self._sender_browser.start()
            except BaseException:
                await self.aclose()
                raise

    async def aclose(self) -> None:
        """Close the page connections, the sender browser if any, and stop the server."""
        if self._sender_browser is not None:
            browser, self._sender_browser = self._sender_browser, None
            await browser.aclose()
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
    def sender_browser(self) -> SenderBrowser | None:
        """The browser that runs the senders (``remote_senders=True``), else None."""
        return self._sender_browser

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        return f"http://127.0.0.1:{self.port}"

    def url(
        self,
        room: str = "testroom",
        *,
        lobby: str = "off",
        password: str | None = None,
        waiting_for_host: bool | str = False,
        p2p: bool = False,
        audio_elements: bool = True,
        worklet: bool = True,
        ignored_hash_keys: Sequence[str] = (),
        full: str | None = None,
    ) -> str:
        """The meeting URL; the options go in the ``?query`` so a bot can append its own ``#hash``.

        As jitsi-meet, the page shows the prejoin screen unless the hash says
        ``config.prejoinConfig.enabled=false``, and applies ``config.*`` hash keys only along the paths of
        the app's config whitelist.

        Args:
            room: the room name (the URL path).
            lobby: ``"off"``, or who decides a knock: ``"admit"``, ``"deny"``, ``"never"``, ``"manual"``
                (``admit_bot``/``deny_bot``).
            password: the room is locked with it.
            waiting_for_host: True for jicofo's flow (authenticationRequired until a moderator logs in),
                ``"lobby"`` for mod_muc_wait_for_host's (guests wait in the lobby, membersOnly with
                waitingForHost); either way the app retries every 5 s until ``host_arrives()``.
            p2p: two people talk peer to peer (unless the bot sends ``config.p2p.enabled=false``).
            audio_elements: the app renders an ``<audio>`` element per remote audio track.
            worklet: the browser has AudioWorklet.
            ignored_hash_keys: hash keys the deployment ignores although the app would apply them (e.g.
                ``["config.prejoinConfig.enabled"]`` shows the prejoin screen to a bot that skips it).
            full: the room is at its occupant limit: ``"visitor"`` (the join fails with max_users, then
                the app joins as a visitor) or ``"refuse"`` (it fails, and the page says the meeting is full).
        """
        if lobby not in LOBBY_MODES:
            raise ValueError(f"lobby must be one of {LOBBY_MODES}, not {lobby!r}")
        if full is not None and full not in FULL_MODES:
            raise ValueError(f"full must be one of {FULL_MODES} or None, not {full!r}")
        if any("," in key for key in ignored_hash_keys):
            raise ValueError(f"hash keys cannot contain commas: {list(ignored_hash_keys)}")
        params: dict[str, str] = {
            "lobby": lobby,
            "waiting_for_host": waiting_for_host if isinstance(waiting_for_host, str) else str(int(waiting_for_host)),
            "p2p": str(int(p2p)),
            "audio_elements": str(int(audio_elements)),
            "worklet": str(int(worklet)),
        }
        if password is not None:
            params["password"] = password
        if ignored_hash_keys:
            params["ignored_hash_keys"] = ",".join(ignored_hash_keys)
        if full is not None:
            params["full"] = full
        if self._remote_senders:
            params["remote_senders"] = "1"
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
        hidden_from_recorder: bool = False,
        jigasi: bool = False,
        audio: bool = True,
        gain: float = 0.3,
        track_first: bool = False,
        moderator: bool = False,
    ) -> None:
        """Add a remote participant to the room the bot is in.

        Returns once its TRACK_ADDED fired (at once if the bot is not joined or ``audio=False``).

        Args:
            pid: its id (endpoint id).
            name: its display name.
            tone_hz: a sine source; ``wav``: a WAV file from ``media_dir`` (played once if ``loop`` is
                false); neither gives a silent source.
            wav: see ``tone_hz``.
            loop: see ``tone_hz``.
            hidden: ``isHidden()`` (a recorder or transcriber); its audio track is reported like anyone's.
            hidden_from_recorder: ``isHiddenFromRecorder()`` (not hidden).
            jigasi: a dial-in (SIP) participant: ``getProperty("features_jigasi")`` is undefined at
                USER_JOINED and becomes true ~0.5 s later with ``conference.participant_property_changed``
                ``(participant, "features_jigasi", undefined, true)``, as the library's features query.
            audio: False keeps the source but gives it no audio slot (see ``rewrite_ssrc``,
                ``forward_loudest``).
            gain: the source's gain.
            moderator: ``getRole()`` is "moderator".
            track_first: mid-call, TRACK_ADDED (audio, then video) comes first, while
                ``getParticipantById()`` is still undefined, and USER_JOINED ~0.3 s later (source signalling
                before presence).
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
            "hidden_from_recorder": hidden_from_recorder,
            "jigasi": jigasi,
            "audio": audio,
            "gain": gain,
            "moderator": moderator,
        }
        result = await self._command("add_participant", {**spec, "track_first": track_first})
        self._roster[pid] = {**spec, "room": result["room"]}

    async def send_chat(self, pid: str, text: str, *, private: bool = False) -> None:
        """``pid`` sends a chat message to the group (MESSAGE_RECEIVED) or to the bot alone (PRIVATE_...).

        The bot's own messages (``sendTextMessage``) arrive as page events ``{"event": "chat_sent", "text"}``.
        """
        await self._command("send_chat", {"pid": pid, "text": text, "private": private})

    async def rename(self, pid: str, name: str) -> None:
        """Change a participant's display name (DISPLAY_NAME_CHANGED)."""
        await self._command("rename", {"pid": pid, "name": name})
        if pid in self._roster:
            self._roster[pid]["name"] = name

    async def remove_participant(self, pid: str) -> None:
        """Stop the participant's source, fire TRACK_REMOVED for its tracks, then USER_LEFT.

        Over the bridge (not P2P) the audio track is left ownerless, as the library does with SSRC
        rewriting (see ``release_slot``), and ``forward_loudest`` may give it to someone else.
        """
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
        """The host is there (either ``waiting_for_host`` mode): the app's next retry (within 5 s) joins.

        The host stays: a page that connects later (a reload) joins without waiting.
        """
        self._host_present = True
        await self._command("host_arrives", {})

    async def switch_p2p_to_bridge(self) -> None:
        """Move the call from P2P to the bridge: every remote audio track is replaced.

        TRACK_REMOVED, then a new peer connection pair and a new JitsiRemoteTrack (``isP2P`` false) with
        TRACK_ADDED.
        """
        await self._command("switch_p2p_to_bridge", {})

    async def rewrite_ssrc(self, from_pid: str, to_pid: str, *, silent: bool = False) -> None:
        """Give ``from_pid``'s audio slot to ``to_pid`` (added with ``audio=False``), like SSRC rewriting.

        The same JitsiRemoteTrack and MediaStreamTrack fire TRACK_REMOVED, start carrying ``to_pid``'s
        source, report ``getParticipantId() == to_pid`` and fire TRACK_ADDED. ``silent``: the slot moves but
        receives no packet from then on (Chromium ≥ 148 when a bridge forwards the rewritten SSRC before
        renegotiation): a silent slot, live, bound, unmuted.
        """
        await self._command("rewrite_ssrc", {"from": from_pid, "to": to_pid, "silent": silent})
        self._slot_moved(from_pid, to_pid)

    async def forward_loudest(self, pids: Sequence[str]) -> list[tuple[str | None, str]]:
        """Model a bridge that forwards only a few audio slots: ``pids`` should hold them now.

        Each of ``pids`` without a slot gets an ownerless one (``release_slot``) or, failing that, one of a
        holder not in ``pids``, moved as ``rewrite_ssrc`` does; holders not needed keep theirs. Raises
        ``RuntimeError`` when there are fewer movable slots than ``pids`` lacking one. Returns the moves,
        ``(previous owner or None, new owner)``.
        """
        moves = await self._command("forward_loudest", {"pids": list(pids)})
        for from_pid, to_pid in moves:
            self._slot_moved(from_pid, to_pid)
        return [(m[0], m[1]) for m in moves]

    async def release_slot(self, pid: str) -> None:
        """The bridge stops forwarding ``pid`` on its audio slot (SSRC rewriting): an ownerless track.

        The track fires TRACK_REMOVED (still owned by ``pid`` during the event); then its
        ``getParticipantId()`` and ``getSourceName()`` are null, as the library leaves them, and its
        MediaStreamTrack stays live, carrying no packets, with no TRACK_ADDED until ``forward_loudest``
        gives it to someone. ``pid`` stays in the meeting.
        """
        await self._command("release_slot", {"pid": pid})
        self._slot_moved(pid, None)

    async def silence_slot(self, pid: str, *, silent: bool = True) -> None:
        """Stop (or with ``silent=False`` resume) the RTP of ``pid``'s audio slot, with no event at all.

        The track stays bound to ``pid``, live and unmuted (no TRACK_REMOVED, ``isMuted()`` false), but
        receives no packets, as when the bridge stops forwarding without signalling it, until the slot
        moves to another speaker. Not kept in the roster: a page that connects later (a reload, a rejoin)
        gets the audio again.
        """
        await self._command("silence_slot", {"pid": pid, "silent": silent})

    async def move_bot_to_breakout(self, name: str, participants: Sequence[str] = ()) -> str:
        """Move the bot, with ``participants``, into the breakout room ``name``, as the app's moveToRoom.

        The current conference fires TRACK_REMOVED for every remote track, USER_LEFT for every member and
        CONFERENCE_LEFT, and is dropped; a new JitsiConference becomes ``APP.conference._room`` (its
        ``getName()`` is the room's id, a uuid; ``getBreakoutRooms().isBreakoutRoom()`` is true and
        ``getMainRoomJid()`` the main room's JID; ``myUserId()`` unchanged). About 1 s later it fires
        USER_JOINED for ``participants``, CONFERENCE_JOINED, then their TRACK_ADDED (new tracks). Returns
        the breakout conference's name once joined.
        """
        for pid in participants:
            if pid not in self._roster:
                raise ValueError(f"unknown participant {pid}")
        result = await self._command("move_bot_to_breakout", {"name": name, "participants": list(participants)})
        for pid in participants:
            self._roster[pid]["room"] = name
        return str(result["conference"])

    async def send_to_breakout(self, name: str, participants: Sequence[str]) -> None:
        """A moderator sends ``participants`` into breakout room ``name``; the bot stays where it is.

        They leave the bot's conference (their slots lose their owner, USER_LEFT) and are listed in the main
        conference's ``getBreakoutRooms().getRooms()`` under that room.
        """
        await self._command("send_to_breakout", {"name": name, "participants": list(participants)})
        for pid in participants:
            self._roster[pid]["room"] = name

    async def return_from_breakout(self, participants: Sequence[str]) -> None:
        """``participants`` come back from their breakout room into the bot's conference (USER_JOINED, tracks)."""
        await self._command("return_from_breakout", {"participants": list(participants)})
        for pid in participants:
            self._roster[pid]["room"] = "main"

    async def return_to_main_room(self) -> None:
        """The breakout rooms close: everyone, the bot too, moves back to the main room.

        The same sequence as ``move_bot_to_breakout``, into a new main-room JitsiConference
        (``isBreakoutRoom()`` false); returns once joined.
        """
        await self._command("return_to_main_room", {})
        for spec in self._roster.values():
            spec["room"] = "main"

    async def ice_failure(
        self, recovery: Literal["reinvite", "reload"] = "reinvite", *, reload_after_s: float = 1.0
    ) -> None:
        """The bridge connection's ICE fails.

        ``"reinvite"`` (the library's default recovery): the session is terminated and jicofo invites the
        client again; every remote track fires TRACK_REMOVED and comes back as a new JitsiRemoteTrack with
        a new MediaStreamTrack (TRACK_ADDED, ``isP2P`` false). The conference stays joined: no
        CONFERENCE_FAILED, no CONFERENCE_LEFT. ``"reload"`` (ICE restarts exhausted): CONFERENCE_FAILED
        ``("conference.iceFailed")``, the app leaves the conference and reloads the page after
        ``reload_after_s`` (the real app counts down 10-30 s); returns once the reloaded page has connected.
        """
        if recovery not in ("reinvite", "reload"):
            raise ValueError(f"recovery must be 'reinvite' or 'reload', not {recovery!r}")
        if recovery == "reinvite":
            await self._command("ice_failure", {"recovery": recovery})
            return
        await self._reloading(
            "ice_failure", {"recovery": recovery, "reload_after_ms": int(reload_after_s * 1000)}, reload_after_s
        )

    async def focus_restart(self, *, reload_after_s: float = 1.0) -> None:
        """Jicofo leaves the room: CONFERENCE_FAILED ``("conference.focusLeft")``, then a page reload.

        The app leaves the failed conference (TRACK_REMOVED, USER_LEFT, CONFERENCE_LEFT), shows its reload
        dialog and reloads after ``reload_after_s`` (the real app counts down 10-30 s); returns once the
        reloaded page has connected.
        """
        await self._reloading("focus_restart", {"reload_after_ms": int(reload_after_s * 1000)}, reload_after_s)

    async def reload_page(self) -> None:
        """Make the page call ``location.reload()``; returns once the reloaded page has connected."""
        await self._reloading("reload_page", {}, 0.0)

    async def _reloading(self, cmd: str, args: dict[str, Any], delay_s: float) -> None:
        old = self._ws
        await self._command(cmd, args)
        deadline = asyncio.get_running_loop().time() + delay_s + self._connect_timeout
        while self._ws is None or self._ws is old:
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"{cmd}: no reloaded page connected within {delay_s + self._connect_timeout} s")
            await asyncio.sleep(0.02)

    def _slot_moved(self, from_pid: str | None, to_pid: str | None) -> None:
        if from_pid is not None and from_pid in self._roster:
            self._roster[from_pid]["audio"] = False
        if to_pid is not None and to_pid in self._roster:
            self._roster[to_pid]["audio"] = True

    async def stall_audio(self) -> int:
        """Suspend every AudioContext the page did not create itself (a bot's capture stalls).

        Returns how many were suspended.
        """
        return int(await self._command("stall_audio", {}))

    async def state(self) -> dict[str, Any]:
        """The page's state.

        ``{"joined", "participants", "password_tries", "knocked", "display_name", "finished", "room",
        "conference", "visitor"}``: ``room`` is ``"main"`` or the breakout room's name, ``conference`` the
        current JitsiConference's ``getName()``, ``finished`` whether this page will not join (again).
        """
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
        if self._remote_senders:
            await self._to_senders(ws, {"op": "reset"})  # before anything the new page asks for
        if self._roster or self._host_present:
            sync = self._send(
                ws, "sync", {"participants": list(self._roster.values()), "host_present": self._host_present}
            )
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
                if "to_senders" in data:
                    await self._to_senders(ws, data["to_senders"])
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

    async def _to_senders(self, page: web.WebSocketResponse, msg: dict[str, Any]) -> None:
        """Relay a room page's message to the sender page, waiting for one to connect if need be.

        Inline (the control loop waits), so the sender page gets the messages in the page's order.
        """
        if self._senders_ws is None or self._senders_ws.closed:
            try:
                await asyncio.wait_for(self._senders_connected.wait(), self._connect_timeout)
            except TimeoutError:
                error = (f"no sender page connected to {self.base_url}/senders within {self._connect_timeout} s"
                         + ("" if self._remote_senders else " (the room was made without remote_senders=True)"))
                log.warning("fake room: %s", error)
                if "rpc" in msg and not page.closed:
                    await page.send_str(json.dumps({"from_senders": {"rpc": msg["rpc"], "ok": False,
                                                                     "error": error}}))
                return
        assert self._senders_ws is not None
        await self._senders_ws.send_str(json.dumps(msg))

    async def _senders(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(max_msg_size=0)
        await ws.prepare(request)
        self._sockets.add(ws)
        self._senders_ws = ws
        self._senders_connected.set()
        try:
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                page = self._ws
                if page is not None and not page.closed:
                    await page.send_str(f'{{"from_senders": {msg.data}}}')
        finally:
            self._sockets.discard(ws)
            if self._senders_ws is ws:
                self._senders_ws = None
                self._senders_connected.clear()
        return ws

    async def _senders_page(self, request: web.Request) -> web.FileResponse:
        return web.FileResponse(PAGE_DIR / "senders.html", headers={"Cache-Control": "no-store"})

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


def demo_settings(sections: dict[str, Any] | None = None, **meeting: Any) -> Settings:
    """Settings for a bot in this room: short timeouts, loopback WebRTC allowed (tests and benchmarks).

    ``meeting`` overrides ``[meeting]`` keys; ``sections`` other sections (e.g. ``{"email": {...}}``).
    """
    values = {"empty_grace_s": 1.5, "no_one_joined_s": 60, "join_timeout_s": 20, **meeting}
    return load_settings(None, {**(sections or {}), "meeting": values,
                                "browser": {"extra_args": DEMO_BROWSER_ARGS}})
