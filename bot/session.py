"""MeetingSession: the lifecycle of one meeting, from launch to the artifacts on disk.

States: ``starting → joining → (lobby | password | waiting_for_host | room_full) → in_call ⇄ reconnecting →
finalizing → done | failed``.
Each transition is logged once. Whatever happens, the audio spools are closed (valid WAVs) and
``meeting.json`` records how the meeting ended.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import structlog

from bot.backends.base import BackendEvent, ConversationBackend
from bot.bridge.metrics import Metric
from bot.bridge.protocol import (
    Chat,
    Conference,
    ControlMessage,
    DominantSpeaker,
    Hello,
    PageError,
    Roster,
    TrackStatsReport,
)
from bot.bridge.recorder import MeetingRecorder
from bot.bridge.server import BridgeServer
from bot.chat import HELP, MAX_ADDED_RECIPIENTS, mask_address, notice_text, parse_command, valid_address
from bot.config import Settings
from bot.deadline import StopDeadline
from bot.live import LiveTranscription
from bot.llm import LlmSummary
from bot.meeting.browser import BrowserSession
from bot.meeting.capture import capture_script
from bot.meeting.jitsi import ConferenceStatus, JitsiPage, JoinError, meeting_url, origin_of
from bot.outcome import EndReason, ExitCode, SessionResult, redact_urls, room_name, safe_url
from bot.pipeline import MeetingFacts
from bot.report.model import Report
from bot.roster import Roster as RosterTracker
from bot.status import StatusWriter

log = structlog.get_logger(__name__)

STRAY_PACKETS = 25  # half a second of 20 ms packets: in flight when the slot moved, not the new owner's audio
TICK_S = 0.5
CHAT_QUEUE = 20  # chat answers waiting to be sent, at most
CHAT_COOLDOWN_S = 2.0  # one command per participant per this long
# conference.failed errors after which there is no conference to go back to; any other failure (ICE, focus,
# bridge, a restart) is waited out for meeting.reconnect_timeout_s.
FATAL_ERRORS = ("conference.destroyed", "conference.connectionError.accessDenied",
                "conference.connectionError.notAllowed")


class MeetingSession:
    """Joins one meeting, records everyone's audio, and leaves by the rules in ``settings.meeting``.

    Args:
        settings: the whole Settings tree.
        url: the meeting URL as given by the user.
        out_dir: this meeting's artifact folder (created).
        meeting_id: bound to every log line.
        backend: transcribes the audio live and writes the report at the end; None records audio only.
        summary: an LLM that writes the report's summary (with a backend); None: the offline analysers' only.
        browser_factory: makes the BrowserSession (tests may pass flags through settings instead).
        clock: monotonic seconds.
    """

    def __init__(
        self,
        settings: Settings,
        url: str,
        out_dir: Path,
        *,
        meeting_id: str,
        backend: ConversationBackend | None = None,
        summary: LlmSummary | None = None,
        browser_factory: Callable[..., BrowserSession] = BrowserSession,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._settings = settings
        self._url = url
        self.out_dir = out_dir
        self.meeting_id = meeting_id
        self._browser_factory = browser_factory
        self._backend = backend
        self._summary = summary
        self.live: LiveTranscription | None = None
        self.report: Report | None = None
        self.delivery_pending = 0
        self._clock = clock
        self._stop = asyncio.Event()
        self.deadline = StopDeadline()  # set by a stop request: what finishing must be done by
        self._crashed = asyncio.Event()
        self.status = ConferenceStatus()
        self.roster = RosterTracker(settings.meeting.ignore_names)
        self.recorder: MeetingRecorder | None = None
        self.bridge: BridgeServer | None = None
        self.state = "starting"
        self.states: list[dict[str, Any]] = []
        self.status_file = StatusWriter(out_dir, meeting_id)  # for whoever started us (jitsi-bot serve)
        self._ended: dict[str, Any] = {}  # end_reason and exit_code, once known
        self.dominant: list[tuple[float, str]] = []
        self.rejoins = 0
        self.started_at = datetime.now(UTC)
        self._t0 = clock()
        self.join_s: float | None = None
        self.worklet: bool | None = None
        self.page_errors = 0
        self.rooms: list[dict[str, Any]] = []  # the conference the bot was in, from when (breakout rooms)
        self.silent_slots: list[dict[str, Any]] = []
        self.warnings: list[str] = []  # for the report, beyond what the recorder and roster know
        self.added_recipients: list[str] = []  # /notes email
        # (conn, track) -> packets since the binding, when first reported, muted
        self._rtp: dict[tuple[int, int], tuple[int, float, bool]] = {}
        self._dominant_since = 0.0
        self._silent_watch = True  # off once rejoins are used up: a silent slot never ends the meeting
        self._chat_out: list[tuple[str | None, str]] = []  # (private recipient or None, text)
        self._chat_last: dict[str, float] = {}  # participant id -> when their last command was taken
        self.elsewhere = 0  # people in the main room's breakout rooms
        self._latest_conn = 0  # the newest bridge connection (one per page load; numbers only grow)
        self._closing = False
        self._stop_reason: SessionResult | None = None

    def request_stop(self) -> None:
        """Leave gracefully as soon as possible (SIGTERM/SIGINT).

        Leaving, closing the browser, the transcription still pending, the backend's insights and sending get
        ``meeting.shutdown_grace_s`` together; the recordings, the report (from what is transcribed by then),
        ``meeting.json`` and the outbox are written whatever the time. A second request hurries: whatever waits
        is given up at once (the deadline only ever comes closer).
        """
        if self.deadline.at is None:
            grace = self._settings.meeting.shutdown_grace_s
            log.info("session.stop_requested", finish_within_s=grace)
            self.deadline.set_in(grace)
        else:
            log.warning("session.stop_hurried")
            self.deadline.set_in(0)
        self._stop.set()

    def abandon(self) -> SessionResult:
        """The run overran its stop deadline and was cancelled: close the files and write ``meeting.json`` now."""
        if self.recorder is not None:
            self.recorder.close()
        return self._finish(SessionResult(ExitCode.FAILED, EndReason.ERROR,
                                          "finishing overran the stop deadline and was cut short"))

    def _set_state(self, state: str) -> None:
        if state != self.state:
            self.state = state
            self.states.append({"state": state, "at_s": round(self._clock() - self._t0, 3)})
            log.info("session.state", state=state)
            self._publish()

    def _publish(self) -> None:
        """Bring ``status.json`` up to date (it is written only when something changed)."""
        if self.out_dir.exists():
            self.status_file.update(state=self.state, participants=self.roster.humans_present(), **self._ended)

    def _on_final(self, event: BackendEvent, name: str) -> None:
        self.status_file.segment(start_s=event.start_s, end_s=event.end_s, participant_id=event.participant_id,
                                 name=name, text=event.text.strip())

    def _on_control(self, conn: int, msg: ControlMessage) -> None:
        now = self._clock() - self._t0
        if conn < self._latest_conn and isinstance(msg, (Conference, Roster, Chat, DominantSpeaker)):
            # A late word from a page the bot has left (a rejoin, a reload): it says nothing about now.
            log.debug("session.stale_message", conn=conn, type=msg.type)
            return
        if isinstance(msg, Roster):
            self.roster.update(msg.participants, now)
            self.elsewhere = msg.elsewhere
            if self.recorder is not None:
                for pid, name in self.roster.renames:
                    self.recorder.rename(pid, name)
            self.roster.renames.clear()
            self._publish()
        elif isinstance(msg, Conference):
            self._on_conference(msg, now)
        elif isinstance(msg, DominantSpeaker):
            self.dominant.append((round(now, 3), msg.participant_id))
            self._dominant_since = now
        elif isinstance(msg, TrackStatsReport):
            for t in msg.tracks:
                old = self._rtp.get((conn, t.track))
                self._rtp[(conn, t.track)] = (t.packets, now if old is None else old[1], t.muted)
        elif isinstance(msg, Chat):
            self._on_chat(msg)
        elif isinstance(msg, Hello):
            if self.join_s is not None and conn > self._latest_conn:
                # A new page (the app reloaded itself): in the conference only once the page says so.
                self.status.joined = False
            self._latest_conn = max(self._latest_conn, conn)
            self.worklet = msg.worklet
            log.info("page.capture_ready", conn=conn, worklet=msg.worklet, sample_rate=msg.sample_rate)
            if not msg.worklet:
                log.warning("page.scriptprocessor_fallback")
        elif isinstance(msg, PageError):
            self.page_errors += 1
            log.warning("page.error", conn=conn, message=msg.message[:500])

    def _on_conference(self, msg: Conference, now: float) -> None:
        status = self.status
        if msg.state == "joined":
            status.joined, status.left, status.waiting_for_host = True, False, False
            status.breakout, status.visitor = msg.breakout, msg.visitor
            if msg.room and msg.room != status.room:
                status.room = msg.room
                self.rooms.append({"room": msg.room, "title": msg.title, "breakout": msg.breakout,
                                   "visitor": msg.visitor, "from_s": round(now, 3)})
        elif msg.state == "left":
            status.joined, status.left = False, True
        elif msg.state == "kicked":
            status.kicked = True
        elif msg.state == "failed" and msg.error:
            status.errors.append(msg.error)
            if msg.error.endswith("membersOnly"):
                status.waiting_for_host = msg.waiting_for_host
            if self.join_s is not None:
                status.joined = False  # until the page says otherwise (it may recover in place)
        log.info("page.conference", state=msg.state, error=msg.error, room=msg.room or None,
                 breakout=msg.breakout or None, visitor=msg.visitor or None)

    def _reply(self, to: str | None, text: str) -> None:
        if len(self._chat_out) < CHAT_QUEUE:  # a flood of commands gets a few answers, not a flood
            self._chat_out.append((to, text))

    def _on_chat(self, msg: Chat) -> None:
        if not self._settings.meeting.chat_commands or self.join_s is None:
            return
        command = parse_command(msg.text)
        if command is None:
            return
        now = self._clock()
        if now - self._chat_last.get(msg.participant_id, -1e9) < CHAT_COOLDOWN_S:
            return
        self._chat_last[msg.participant_id] = now
        who = _chat_name(msg.name)
        log.info("chat.command", command=command.kind, participant_id=msg.participant_id)
        reply_to = msg.participant_id  # answers go to the one who asked, privately
        if command.kind == "stop":
            if not msg.moderator:
                self._reply(reply_to, "Only a moderator can stop the notes.")
                return
            self._reply(None, f"Stopping the notes as {who} asked; they will be written and sent now.")
            self._stop_reason = SessionResult(ExitCode.OK, EndReason.STOPPED_IN_CHAT,
                                              f"{who} (moderator) typed /notes stop")
            self._stop.set()
        elif command.kind == "email":
            self._chat_email(reply_to, who, command.arg)
        else:
            self._reply(reply_to, HELP)

    def _chat_email(self, reply_to: str, who: str, arg: str) -> None:
        address = valid_address(arg)
        if not self._settings.email.to:
            self._reply(reply_to, "This notetaker does not send email.")
        elif address is None:
            self._reply(reply_to, "That is not an email address (/notes email you@example.org).")
        elif address.lower() in {a.lower() for a in [*self._settings.email.to, *self.added_recipients]}:
            # The same answer as for a new address: nobody learns who else gets the notes.
            self._reply(reply_to, f"The notes will also go to {mask_address(address)}.")
        elif len(self.added_recipients) >= MAX_ADDED_RECIPIENTS:
            self._reply(reply_to, "No more recipients can be added in this meeting.")
        else:
            self.added_recipients.append(address)
            self.warnings.append(f"{who} added a recipient in the meeting chat: {address}")
            self._reply(reply_to, f"The notes will also go to {mask_address(address)}.")

    async def run(self) -> SessionResult:
        """Run the meeting to its end and write ``meeting.json``; never raises for meeting-level failures."""
        self._set_state("starting")
        try:
            url = meeting_url(self._url, self._settings.meeting.name, p2p=self._settings.meeting.p2p)
        except JoinError as exc:
            return self._finish(SessionResult(ExitCode.BAD_INPUT, EndReason.BAD_URL, str(exc)))
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.recorder = MeetingRecorder(
            self.out_dir / "audio", origin_ms=self.started_at.timestamp() * 1000,
            consumer_queue_size=self._settings.bridge.queue_frames if self._backend else 0,
        )
        if self._backend is not None and self.recorder.frames is not None:
            self.live = LiveTranscription(self.recorder.frames, self._backend,
                                          final_pass_s=self._settings.asr.final_pass_budget_s, summary=self._summary,
                                          on_final=self._on_final)
            self.live.start()
        bridge = BridgeServer(
            self.recorder, self._on_control, host=self._settings.bridge.host, port=self._settings.bridge.port,
            max_frame_bytes=self._settings.bridge.max_frame_bytes,
            max_text_bytes=self._settings.bridge.max_text_bytes, metrics=self._metrics, health=self._health,
        )
        result = SessionResult(ExitCode.FAILED, EndReason.ERROR, "ended unexpectedly")
        try:
            async with bridge:
                self.bridge = bridge
                script = capture_script(bridge.audio_url, self._settings.bridge.chunk_ms)
                browser = self._browser_factory(
                    self._settings.browser, meeting_origin=origin_of(url), init_script=script
                )
                try:
                    result = await self._run_in_browser(browser, url)
                finally:
                    self._closing = True  # from here the page and the browser go away on purpose
                    try:
                        async with self.deadline.bound():
                            await browser.aclose()
                    except TimeoutError:  # the process goes with ours
                        log.error("session.browser_close_cut_short")
        except Exception as exc:
            log.exception("session.crashed")
            result = SessionResult(ExitCode.FAILED, EndReason.ERROR, redact_urls(f"{type(exc).__name__}: {exc}"))
        finally:
            self.recorder.close()
        if self.live is not None:
            try:
                await self._write_report(result)
            except Exception as exc:  # the recordings and meeting.json still stand; say why there is no report
                log.exception("session.report_failed")
                result = SessionResult(ExitCode.FAILED, EndReason.ERROR,
                                       redact_urls(f"the report could not be built: {type(exc).__name__}: {exc}"))
        if self.report is not None:
            result = await self._deliver(result)
        return self._finish(result)

    def _health(self) -> str | None:
        """Why the bot is unhealthy (a container health check sees it), or None."""
        return "browser_crashed" if self._crashed.is_set() else None

    def _metrics(self) -> list[Metric]:
        """Session figures for the bridge's /metrics."""
        out = [
            Metric("state", "Lifecycle state of the meeting (1 for the current one)", "gauge", 1,
                   (("state", self.state),)),
            Metric("participants", "People in the meeting (bots and hidden participants excluded)", "gauge",
                   self.roster.humans_present()),
            Metric("rejoins_total", "Media-watchdog rejoins", "counter", self.rejoins),
            Metric("delivery_pending", "Email/webhook deliveries still pending", "gauge", self.delivery_pending),
        ]
        latencies = getattr(self._backend, "latencies_s", None)
        if latencies:
            ordered = sorted(latencies[-500:])
            out.append(Metric("backend_final_latency_seconds_p95", "Utterance end to final transcript, p95 of the "
                              "last 500", "gauge", ordered[int(0.95 * (len(ordered) - 1))]))
        return out

    async def _deliver(self, result: SessionResult) -> SessionResult:
        from bot.delivery.deliver import deliver_report, outbox_for

        assert self.report is not None
        try:
            try:
                async with self.deadline.bound():
                    # Past the stop deadline the deliveries are only written down: `jitsi-bot deliver` sends them.
                    pending = await deliver_report(self.report, self.out_dir, self._settings, self.added_recipients,
                                                   send=not self.deadline.passed)
            except TimeoutError:
                log.error("session.delivery_cut_short")
                pending = outbox_for(self.out_dir).items()
        except Exception as exc:  # rendering or outbox trouble must not lose the meeting's artifacts
            log.exception("session.delivery_crashed")
            pending_msg = f"delivery failed: {type(exc).__name__}: {exc}"
            return SessionResult(ExitCode.DELIVERY_PENDING, result.reason, pending_msg) \
                if result.exit_code == ExitCode.OK else result
        self.delivery_pending = len(pending)
        if pending and result.exit_code == ExitCode.OK:
            what = ", ".join(f"{i.kind} ({'failed permanently: ' if i.permanent else ''}"
                             f"{i.last_error or 'not sent: the bot was stopped'})" for i in pending)
            retry = (f"fix the configuration, then: jitsi-bot deliver --retry-failed {self.out_dir}"
                     if any(i.permanent for i in pending) else f"retry with: jitsi-bot deliver {self.out_dir}")
            return SessionResult(ExitCode.DELIVERY_PENDING, result.reason, f"delivery pending: {what}; {retry}")
        return result

    async def _write_report(self, result: SessionResult) -> None:
        assert self.live is not None and self.recorder is not None
        if self.join_s is None:  # never in the call: nothing to report beyond meeting.json
            await self.live.aclose()
            return
        self._set_state("finalizing")
        facts = MeetingFacts(
            id=self.meeting_id, title=room_name(self._url), started_at=self.started_at,
            duration_s=self._clock() - self._t0, url=safe_url(self._url), room=room_name(self._url),
            presence={p.id: (round(p.joined_s, 3), None if p.left_s is None else round(p.left_s, 3))
                      for p in self.roster.people.values()},
            people={p.id: list(p.names) for p in self.roster.people.values() if p.counts},
            audio_s=self.recorder.captured_seconds(), trackers=self._settings.trackers,
            lost_s=self.recorder.missing_seconds_by_participant(),
        )
        if self.recorder.consumer_dropped:
            facts.warnings.append(f"{self.recorder.consumer_dropped} audio frames were not transcribed "
                                  "(the backend fell behind); the WAV files have them")
        for why, seconds in (("the browser's audio thread was starved", self.recorder.lost_seconds_by_participant()),
                             ("the page's connection to the bot was down too long",
                              self.recorder.undelivered_seconds_by_participant())):
            for pid, lost_s in seconds.items():
                if lost_s >= 0.05:  # below that it is a render quantum or two: not worth a reader's attention
                    part = self.recorder.participants.get(pid)  # absent only past MAX_PARTICIPANTS
                    facts.warnings.append(f"{part.name if part else pid}: {lost_s:.1f} s of audio lost ({why})")
        facts.warnings.extend(self._room_notes())
        facts.warnings.extend(self.warnings)
        if result.exit_code != ExitCode.OK:
            facts.errors.append(f"{result.reason.value}: {result.message}")
        audio = {pid: part.file for pid, part in self.recorder.participants.items()}
        self.report = await self.live.finish(facts, self.out_dir, audio, deadline=self.deadline)
        if self.report is None:  # finish() logged it; the meeting must not pass for a success
            raise RuntimeError(facts.errors[-1] if facts.errors else "no report")

    def _room_notes(self) -> list[str]:
        """Where the bot was, when it was not (only) in the meeting's main room."""
        notes = []
        for i, r in enumerate(self.rooms):
            until = self.rooms[i + 1]["from_s"] if i + 1 < len(self.rooms) else None
            span = f"from {_clock(r['from_s'])}" + (f" to {_clock(until)}" if until is not None else "")
            if r["breakout"]:
                notes.append(f"Breakout room {r['title'] or r['room']!r} {span}: the notes cover the room the bot "
                             "was in.")
            if r["visitor"]:
                notes.append(f"The meeting was full: the bot took part as a visitor (listening only) {span}.")
        return notes

    async def _run_in_browser(self, browser: BrowserSession, url: str) -> SessionResult:
        page = await browser.start()
        # The page's renderer crashing, the page closing, or the whole browser going away (killed, OOM).
        page.on("crash", lambda _: self._browser_gone("page crashed"))
        page.on("close", lambda _: self._browser_gone("page closed"))
        browser.on_disconnected(lambda: self._browser_gone("browser disconnected"))
        jitsi = JitsiPage(page, self._settings.meeting, self.status, on_state=self._set_state)
        self._set_state("joining")
        log.info("session.joining", url=safe_url(url))
        joined = await self._until_stopped(self._join(jitsi, url))
        if joined is not None:
            return joined
        self.join_s = round(self._clock() - self._t0, 3)
        self.status.joined = True
        self._set_state("in_call")
        result = await self._in_call(jitsi, url)
        self._set_state("finalizing")
        try:
            async with self.deadline.bound():
                await jitsi.leave()
        except TimeoutError:
            log.error("session.leave_cut_short")
        return result

    def _browser_gone(self, what: str) -> None:
        if not self._closing and not self._crashed.is_set():
            log.error("session.browser_gone", what=what)
            self._crashed.set()
            self._stop.set()  # wake the loop now, not at its next tick

    async def _join(self, jitsi: JitsiPage, url: str) -> SessionResult | None:
        try:
            await jitsi.open(url)
            await jitsi.join()
        except JoinError as exc:
            log.warning("session.join_failed", reason=exc.reason.value, detail=str(exc))
            return SessionResult(ExitCode.COULD_NOT_JOIN, EndReason.JOIN_FAILED, f"{exc.reason.value}: {exc}",
                                 join_failure=exc.reason.value)
        return None

    async def _until_stopped(self, coro: Any) -> SessionResult | None:
        """Run a join attempt unless a stop request comes first."""
        task = asyncio.create_task(coro, name="session.join")
        stop = asyncio.create_task(self._stop.wait(), name="session.stop_wait")
        try:
            await asyncio.wait({task, stop}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for t in (task, stop):
                if not t.done():
                    t.cancel()
            await asyncio.gather(task, stop, return_exceptions=True)
        if self._crashed.is_set():
            return SessionResult(ExitCode.FAILED, EndReason.BROWSER_CRASHED, "the browser crashed or was closed")
        if task.done() and not task.cancelled():
            result: SessionResult | None = task.result()
            return result
        return self._stop_reason or SessionResult(ExitCode.OK, EndReason.STOPPED, "stopped before joining")

    async def _in_call(self, jitsi: JitsiPage, url: str) -> SessionResult:
        m = self._settings.meeting
        assert self.recorder is not None
        in_call_at = self._clock()
        media_ok_at = time.time() * 1000
        empty_since: float | None = None
        lost_since: float | None = None  # out of the conference without a real end (breakout move, restart)
        seen_errors = len(self.status.errors)
        noticed_room: str | None = None  # the room the chat notice was posted in
        while True:
            try:
                async with asyncio.timeout(TICK_S):
                    await self._stop.wait()
            except TimeoutError:
                pass
            now = self._clock()
            if self._crashed.is_set():
                return SessionResult(ExitCode.FAILED, EndReason.BROWSER_CRASHED, "the browser crashed or was closed")
            if self._stop.is_set():
                if self._stop_reason is not None:  # /notes stop: answer before leaving
                    await self._flush_chat(jitsi)
                return self._stop_reason or SessionResult(ExitCode.OK, EndReason.STOPPED, "stopped by signal")
            if self.status.kicked:
                return SessionResult(ExitCode.OK, EndReason.KICKED, "removed from the meeting")
            # A breakout room closing is destroyed too; the app takes everyone back to the main room.
            fatal = [e for e in self.status.errors[seen_errors:]
                     if e in FATAL_ERRORS and not (e == "conference.destroyed" and self.status.breakout)]
            seen_errors = len(self.status.errors)
            if fatal:
                return SessionResult(ExitCode.OK, EndReason.CONFERENCE_ENDED, f"the conference ended ({fatal[-1]})")
            if now - in_call_at >= m.max_duration_s:
                return SessionResult(ExitCode.OK, EndReason.MAX_DURATION, f"reached {m.max_duration_s:g} s")
            if not self.status.joined and await jitsi.is_joined():
                self.status.joined = True  # recovered in place (an ICE or session restart)
            if not self.status.joined:
                # Out of the conference without a real end: the app is moving to a breakout room, restarting
                # the session or reloading itself. Wait for it (the roster of a conference being left says
                # nothing about the meeting), then rejoin ourselves.
                if lost_since is None:
                    lost_since = now
                    self._set_state("reconnecting")
                    log.warning("session.out_of_conference", errors=self.status.errors[-1:])
                elif now - lost_since >= m.reconnect_timeout_s:
                    if self.rejoins >= m.max_rejoins:
                        return SessionResult(ExitCode.FAILED, EndReason.CONNECTION_LOST,
                                             f"out of the conference for {m.reconnect_timeout_s:g} s after "
                                             f"{self.rejoins} rejoins")
                    failure = await self._rejoin(jitsi, url, "not back in the conference")
                    if failure is not None:
                        return failure
                    lost_since, media_ok_at = None, time.time() * 1000
                continue
            if lost_since is not None:
                log.info("session.back_in_conference", after_s=round(now - lost_since, 1), room=self.status.room)
                lost_since, empty_since, media_ok_at = None, None, time.time() * 1000
                self._set_state("in_call")
            if self.status.room != noticed_room:  # a new room hears the notice too (breakout rooms)
                notice = notice_text(self._settings)
                if not notice or await jitsi.send_chat(notice):
                    noticed_room = self.status.room
            await self._flush_chat(jitsi)
            humans = self.roster.humans_present()
            if self.roster.first_human_at is None:
                if now - in_call_at >= m.no_one_joined_s:
                    return SessionResult(ExitCode.OK, EndReason.NO_ONE_JOINED,
                                         f"nobody joined within {m.no_one_joined_s:g} s")
            elif humans == 0 and not self.elsewhere:
                empty_since = empty_since if empty_since is not None else now
                if now - empty_since >= m.empty_grace_s:
                    return SessionResult(ExitCode.OK, EndReason.ROOM_EMPTY, "everyone left")
            else:
                empty_since = None
            # Media watchdog: tracks exist but nothing arrives (a dead audio context, a stalled connection).
            epoch_ms = time.time() * 1000
            last = max(self.recorder.last_frame_at or 0.0, media_ok_at)
            reason = silent = None
            no_page = self.bridge is not None and self.bridge.connections == 0  # the page cannot even reach us
            if humans and (self.recorder.active_tracks() or no_page) and epoch_ms - last > m.media_timeout_s * 1000:
                reason = f"no audio for {m.media_timeout_s:g} s"
            elif self._silent_watch and (silent := self._silent_slot(now - self._t0)) is not None:
                reason = f"a silent slot ({m.silent_slot_s:g} s without packets while its owner spoke)"
            if reason is not None:
                if self.rejoins >= m.max_rejoins:
                    if silent is not None:  # the others are still heard: keep the notes going
                        self._silent_watch = False
                        log.warning("session.silent_slot_watch_off", rejoins=self.rejoins)
                        continue
                    return SessionResult(ExitCode.FAILED, EndReason.MEDIA_LOST, f"{reason} after {self.rejoins} "
                                         "rejoins")
                failure = await self._rejoin(jitsi, url, reason)
                if failure is not None:
                    return failure
                media_ok_at = time.time() * 1000

    async def _flush_chat(self, jitsi: JitsiPage) -> None:
        while self._chat_out:
            to, text = self._chat_out.pop(0)
            await jitsi.send_chat(text, to=to)

    def _silent_slot(self, now: float) -> str | None:
        """The id of the current speaker whose live, unmuted track has received no RTP since it was bound.

        With SSRC rewriting a bridge can forward a rewritten SSRC before renegotiation; Chromium then leaves
        the receiver permanently silent (frames of zeros, zero packets): only getStats() shows it. The
        dominant-speaker events come from the bridge, which hears them, so they say audio should be arriving.
        A few packets counted just after the binding are the previous owner's, still on their way (measured on a
        busy machine): they do not make a slot live.
        """
        assert self.recorder is not None
        if not self.dominant:
            return None
        speaker = self.dominant[-1][1]
        for key, (packets, seen, muted) in self._rtp.items():
            stats = self.recorder.tracks.get(key)
            if stats is None or stats.ended or muted or stats.participant_id != speaker or packets > STRAY_PACKETS:
                continue  # only a binding that never received audio: a speaker pausing is not a silent slot
            if now - max(seen, self._dominant_since) >= self._settings.meeting.silent_slot_s:
                person = self.roster.people.get(speaker)
                recover = self.rejoins < self._settings.meeting.max_rejoins
                self.silent_slots.append({"participant_id": speaker, "at_s": round(now, 3), "rejoined": recover})
                self.warnings.append(
                    f"{person.name if person else speaker}: their audio track went silent at {_clock(now)} (no "
                    "packets while they spoke); " + ("the bot rejoined to get it back" if recover else
                                                     "it could not be recovered (no rejoins left)"))
                log.warning("session.silent_slot", participant_id=speaker, track=key[1], rejoin=recover)
                return speaker
        return None

    async def _rejoin(self, jitsi: JitsiPage, url: str, reason: str) -> SessionResult | None:
        self.rejoins += 1
        log.warning("session.rejoin", attempt=self.rejoins, reason=reason)
        self._set_state("joining")
        self.status.joined = self.status.left = False
        self._rtp.clear()
        self._dominant_since = self._clock() - self._t0
        await jitsi.leave(timeout_s=3)
        self.status.left = False
        result = await self._until_stopped(self._join(jitsi, url))
        if result is None:
            self.status.joined = True
            self._set_state("in_call")
        elif result.exit_code == ExitCode.COULD_NOT_JOIN:  # in the meeting before: a failure after joining
            result = SessionResult(ExitCode.FAILED, EndReason.CONNECTION_LOST, f"could not rejoin: {result.message}",
                                   join_failure=result.join_failure)
        return result

    def _finish(self, result: SessionResult) -> SessionResult:
        now = self._clock() - self._t0
        self.roster.close(now)
        audio = self.recorder.captured_seconds() if self.recorder is not None else {}
        if self.join_s is not None:
            for p in self.roster.people.values():
                if p.counts and not audio.get(p.id):
                    log.warning("session.no_audio_received", participant_id=p.id,
                                present_s=round((p.left_s or now) - p.joined_s, 1))
        self._ended = {"end_reason": result.reason.value, "exit_code": int(result.exit_code)}
        self._set_state("done" if result.exit_code == ExitCode.OK else "failed")
        log.info("session.ended", reason=result.reason.value, exit_code=int(result.exit_code),
                 duration_s=round(now, 1), **(self.recorder.summary() if self.recorder else {}))
        if self.out_dir.exists():
            self._write_summary(result, now, audio)
        return result

    def _write_summary(self, result: SessionResult, duration_s: float, audio: dict[str, float]) -> None:
        rec = self.recorder
        doc = {
            "meeting_id": self.meeting_id,
            "url": safe_url(self._url),
            "started_at": self.started_at.isoformat(),
            "duration_s": round(duration_s, 3),
            "join_s": self.join_s,
            "end_reason": result.reason.value,
            "exit_code": int(result.exit_code),
            "message": redact_urls(result.message),
            "states": self.states,
            "rejoins": self.rejoins,
            "join_failure": result.join_failure,
            "rooms": self.rooms,
            "silent_slots": self.silent_slots,
            "added_recipients": len(self.added_recipients),
            "worklet": self.worklet,
            "page_errors": self.page_errors,
            "participants": [
                {"id": p.id, "name": p.name, "joined_s": round(p.joined_s, 3),
                 "left_s": None if p.left_s is None else round(p.left_s, 3), "bot": not p.counts,
                 "phone": p.phone, "audio_s": round(audio.get(p.id, 0.0), 3),
                 "no_audio_s": round(max(0.0, (p.left_s or duration_s) - p.joined_s - audio.get(p.id, 0.0)), 3)}
                for p in self.roster.people.values()
            ],
            "dominant_speaker_changes": len(self.dominant),
            "capture": rec.summary() if rec else {},
            "bridge": dataclasses.asdict(self.bridge.counters) if self.bridge else {},
        }
        text = json.dumps(doc, indent=2, ensure_ascii=False)
        (self.out_dir / "meeting.json").write_text(text, encoding="utf-8")


def _clock(seconds: float) -> str:
    """``H:MM:SS`` into the meeting."""
    whole = int(seconds)
    return f"{whole // 3600}:{whole // 60 % 60:02d}:{whole % 60:02d}"


def _chat_name(name: str) -> str:
    """A display name fit to repeat in the chat: one line, no control characters, short."""
    clean = "".join(c if c.isprintable() else " " for c in name).strip()
    return (clean[:40] + "…" if len(clean) > 40 else clean) or "someone"
