"""Faults and hostile input (issue 12): each test names the item it proves. Real parts throughout (files,
sockets, an SMTP server, the CLI); README's table "Faults and hostile input" lists them."""

from __future__ import annotations

import asyncio
import json
import math
import os
import signal
import struct
import subprocess
import sys
import wave
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiosmtpd.controller import Controller
from structlog.testing import capture_logs

from bot.audio import read_wav
from bot.backends.base import BackendEvent, EventChannel, EventKind, Participant
from bot.backends.symbl.stream import MAX_RESEND_S
from bot.bridge.protocol import Conference, Hello, ProtocolError, Roster, TrackStarted, decode_frame, encode_frame
from bot.bridge.recorder import MeetingRecorder
from bot.bridge.server import BridgeServer
from bot.config import load_settings
from bot.delivery.deliver import deliver_pending, deliver_report, enqueue, outbox_for
from bot.demo.room import FakeJitsiRoom, demo_settings
from bot.outcome import EndReason, ExitCode, redact_urls, safe_url
from bot.pipeline import Transcriber
from bot.report.files import write_report_files
from bot.session import MeetingSession
from tests.conftest import RunBot, dominant_hz, until
from tests.doubles.symbl import SymblDouble
from tests.test_email import Inbox, make_report
from tests.test_symbl_backend import _backend, _finals, _plain, _speech
from tests.test_symbl_double import ACTION_HZ, HELLO_HZ, PHRASES, QUESTION_HZ, ToneRecognizer, pcm, silence, tone

ROOT = Path(__file__).resolve().parent.parent
PCM = b"\x10\x00" * 320  # 20 ms


def _track(pid: str, name: str = "Ann", index: int = 0) -> TrackStarted:
    return TrackStarted(type="track", track=index, track_id=f"t-{pid}", participant_id=pid, display_name=name)


# ---- item 1: one long field or a big roster costs nothing

async def _bridge_session(tmp_path: Path, received: list[Any]) -> tuple[MeetingRecorder, BridgeServer]:
    rec = MeetingRecorder(tmp_path / "audio", origin_ms=1_000_000.0)
    return rec, BridgeServer(rec, lambda conn, msg: received.append(msg))


async def test_item1_a_600_character_name_keeps_its_owner_recorded_and_the_roster_moving(tmp_path: Path) -> None:
    received: list[Any] = []
    rec, bridge = await _bridge_session(tmp_path, received)
    long_name = "Ann " + "x" * 600
    async with bridge, aiohttp.ClientSession() as http, http.ws_connect(bridge.audio_url) as ws:
        await ws.send_str(json.dumps({"type": "track", "track": 0, "track_id": "t" * 300,
                                      "participant_id": "ann", "display_name": long_name}))
        await ws.send_str(json.dumps({"type": "roster", "participants": [
            {"id": "ann", "name": long_name}, {"id": "ben", "name": "Ben"}]}))
        await ws.send_bytes(encode_frame(0, 0, 1_000_000.0, PCM))
    rec.close()
    assert rec.captured_seconds() == {"ann": 0.02}
    roster = [m for m in received if isinstance(m, Roster)]
    assert [(p.id, p.name) for p in roster[0].participants] == [("ann", long_name[:512]), ("ben", "Ben")]
    assert bridge.counters.malformed_control == 0


async def test_item1_a_malformed_roster_entry_leaves_out_only_itself(tmp_path: Path) -> None:
    received: list[Any] = []
    _rec, bridge = await _bridge_session(tmp_path, received)
    async with bridge, aiohttp.ClientSession() as http, http.ws_connect(bridge.audio_url) as ws:
        await ws.send_str(json.dumps({"type": "roster", "participants": [
            {"id": "", "name": "no id"}, {"name": "nobody"}, {"id": "ben", "name": "Ben"}, 7]}))
    roster = [m for m in received if isinstance(m, Roster)]
    assert [p.id for p in roster[0].participants] == ["ben"]


async def test_item1_a_1000_person_roster_fits_one_message(tmp_path: Path) -> None:
    received: list[Any] = []
    rec, bridge = await _bridge_session(tmp_path, received)
    # The worst the page sends: 500-character names (it clips there) of 4-byte characters, ~2 MB of JSON.
    people = [{"id": f"p{i:04d}", "name": "\U0001d504" * 500, "moderator": i == 0} for i in range(1000)]
    text = json.dumps({"type": "roster", "participants": people}, ensure_ascii=False)
    assert len(text.encode()) > 2_000_000
    async with bridge, aiohttp.ClientSession() as http, http.ws_connect(bridge.audio_url) as ws:
        await ws.send_str(text)
        await ws.send_str(json.dumps({"type": "track", "track": 0, "track_id": "t", "participant_id": "p0001"}))
        await ws.send_bytes(encode_frame(0, 0, 1_000_000.0, PCM))  # the socket is still open
    rec.close()
    roster = [m for m in received if isinstance(m, Roster)]
    assert len(roster) == 1 and len(roster[0].participants) == 1000
    assert rec.captured_seconds() == {"p0001": 0.02}
    assert bridge.counters.connections == 1  # one connection all along: never closed and reopened


# ---- item 2: impossible capture times

@pytest.mark.parametrize("value", [math.inf, -math.inf, math.nan, -1.0])
def test_item2_non_finite_capture_times_are_refused_at_the_door(value: float) -> None:
    data = bytearray(encode_frame(0, 0, 1.0, PCM))
    struct.pack_into("<d", data, 8, value)  # the header's capture time
    with pytest.raises(ProtocolError, match="capture timestamp"):
        decode_frame(bytes(data))


def test_item2_a_clock_gone_wrong_writes_no_hours_of_silence(tmp_path: Path) -> None:
    now = 1_800_000_000_000.0
    rec = MeetingRecorder(tmp_path / "audio", origin_ms=now, clock_ms=lambda: now)
    rec.track_started(1, _track("a"))
    rec.frame(1, decode_frame(encode_frame(0, 0, now, PCM)))
    rec.frame(1, decode_frame(encode_frame(0, 1, now + 365 * 86_400_000, PCM)))  # a year ahead
    rec.frame(1, decode_frame(encode_frame(0, 2, now - 86_400_000, PCM)))  # a day before the meeting
    rec.close()
    audio = read_wav(tmp_path / "audio" / "Ann-a.wav")
    assert audio.samples.shape[0] == 3 * 320  # all three frames kept, no silence invented
    assert rec.clamped_frames == 2
    json.loads((tmp_path / "audio" / "participants.json").read_text())
    assert rec.summary()["samples"] == 960


# ---- item 3: one spool failing does not keep the others open

def test_item3_every_spool_is_closed_whatever_another_one_raised(tmp_path: Path) -> None:
    rec = MeetingRecorder(tmp_path / "audio", origin_ms=0.0, clock_ms=lambda: 1000.0)
    for i, pid in enumerate(("a", "b", "c")):
        rec.track_started(1, _track(pid, pid.upper(), i))
        rec.frame(1, decode_frame(encode_frame(i, 0, 500.0, PCM)))

    def disk_full() -> None:
        raise OSError(28, "No space left on device")

    rec.participants["a"].spool.close = disk_full  # type: ignore[method-assign]
    rec.close()
    assert rec.close_failures == ["A-a.wav"]
    for name in ("B-b.wav", "C-c.wav"):  # flushed and closed: valid, with their audio
        assert read_wav(tmp_path / "audio" / name).samples.shape[0] >= 320


# ---- item 4: nothing is ever truncated

def test_item4_ids_that_make_the_same_file_name_get_a_file_each(tmp_path: Path) -> None:
    rec = MeetingRecorder(tmp_path / "audio", origin_ms=0.0, clock_ms=lambda: 1000.0)
    rec.track_started(1, _track("ab.cd", "Ann", 0))
    rec.frame(1, decode_frame(encode_frame(0, 0, 500.0, PCM)))
    rec.track_started(1, _track("abcd", "Ann", 1))
    rec.frame(1, decode_frame(encode_frame(1, 0, 500.0, PCM)))
    rec.close()
    files = sorted(p.name for p in (tmp_path / "audio").glob("*.wav"))
    assert files == ["Ann-abcd-2.wav", "Ann-abcd.wav"]
    for name in files:
        assert read_wav(tmp_path / "audio" / name).samples.shape[0] >= 320


def test_item4_an_out_folder_holding_a_meeting_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "meeting"
    out.mkdir()
    (out / "meeting.json").write_text('{"meeting_id": "earlier"}')
    proc = subprocess.run([sys.executable, "-m", "bot", "join", "https://meet.example.org/Room", "--out", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "already holds a meeting" in proc.stderr and "Traceback" not in proc.stderr
    assert json.loads((out / "meeting.json").read_text()) == {"meeting_id": "earlier"}


@pytest.mark.parametrize("command", ["join https://meet.example.org/Room", "replay /etc/hostname"])
def test_bad_input_an_out_folder_that_cannot_be_made_is_a_clear_error(tmp_path: Path, command: str) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    proc = subprocess.run([sys.executable, "-m", "bot", *command.split(), "--out", str(blocker / "meeting")],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    assert f"cannot use {blocker / 'meeting'} for the files" in proc.stderr


# ---- item 10: one damaged outbox item does not stop the pass

def _smtp_settings(port: int, **smtp: Any) -> Any:
    return load_settings(None, {
        "email": {"to": ["ops@example.org"], "from": "Notetaker <bot@example.org>"},
        "smtp": {"host": "127.0.0.1", "port": port, "security": "none", "timeout_s": 5, **smtp},
    })


async def test_item10_a_corrupt_item_is_reported_and_the_others_still_go(tmp_path: Path,
                                                                          unused_tcp_port: int) -> None:
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=unused_tcp_port)
    controller.start()
    try:
        report = make_report()
        settings = _smtp_settings(unused_tcp_port)
        outbox = enqueue(report, tmp_path, settings, added=["ann@example.org"])
        first, second = outbox.pending()
        (outbox.root / first.id / "envelope.json").write_text("{not json")
        pending = await deliver_pending(outbox_for(tmp_path), settings)
    finally:
        controller.stop()
    assert [p.id for p in pending] == [first.id]
    assert pending[0].last_error.startswith("unreadable outbox item: JSONDecodeError")
    assert pending[0].permanent  # resending the same damaged files cannot help
    assert len(inbox.messages) == 1  # the intact item was delivered


# ---- item 11: no STARTTLS on the server is a configuration error

async def test_item11_a_server_without_starttls_names_the_setting(tmp_path: Path, unused_tcp_port: int) -> None:
    controller = Controller(Inbox(), hostname="127.0.0.1", port=unused_tcp_port)  # no TLS: no STARTTLS offered
    controller.start()
    try:
        settings = _smtp_settings(unused_tcp_port, security="starttls")
        enqueue(make_report(), tmp_path, settings)
        (item,) = await deliver_pending(outbox_for(tmp_path), settings)
    finally:
        controller.stop()
    assert "does not offer STARTTLS" in item.last_error and "BOT_SMTP__SECURITY" in item.last_error
    assert "could not reach" not in item.last_error


class _CountingController(Controller):
    """An aiosmtpd controller that counts the connections it accepts (its own start-up probe included)."""

    connections = 0

    def factory(self) -> Any:
        self.connections += 1
        return super().factory()


async def _deliver_cli(meeting: Path, env: dict[str, str], *args: str) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "bot", "deliver", *args, str(meeting),
                                                cwd=ROOT, env={**os.environ, **env},
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    _, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, err.decode()


async def test_item11_no_starttls_is_permanent_and_not_retried_until_asked(tmp_path: Path,
                                                                          unused_tcp_port: int) -> None:
    inbox = Inbox()
    controller = _CountingController(inbox, hostname="127.0.0.1", port=unused_tcp_port)  # offers no STARTTLS
    controller.start()
    try:
        seen = controller.connections  # the controller's own probe
        settings = _smtp_settings(unused_tcp_port, security="starttls")
        write_report_files(make_report(), tmp_path)  # a finished meeting's folder, as `deliver` expects
        (item,) = await deliver_pending(enqueue(make_report(), tmp_path, settings), settings)
        assert item.permanent and "does not offer STARTTLS" in (item.last_error or "")
        assert controller.connections == seen + 1
        assert outbox_for(tmp_path).pending() == [] and outbox_for(tmp_path).permanently_failed() == [item]
        meta = json.loads((item.path / "meta.json").read_text())
        assert meta["permanent"] is True and meta["attempts"] == 1

        env = {"BOT_SMTP__HOST": "127.0.0.1", "BOT_SMTP__PORT": str(unused_tcp_port),
               "BOT_SMTP__SECURITY": "starttls", "BOT_SMTP__TIMEOUT_S": "5"}
        code, err = await _deliver_cli(tmp_path, env)  # a cron job: the refusing server is left alone
        assert code == 4 and controller.connections == seen + 1
        assert "does not offer STARTTLS" in err and f"jitsi-bot deliver --retry-failed {tmp_path}" in err

        code, err = await _deliver_cli(tmp_path, env, "--retry-failed")  # tried once more, still wrong
        assert code == 4 and controller.connections == seen + 2
        assert "--retry-failed" in err and json.loads((item.path / "meta.json").read_text())["attempts"] == 2

        code, err = await _deliver_cli(tmp_path, {**env, "BOT_SMTP__SECURITY": "none"}, "--retry-failed")
        assert code == 0, err
    finally:
        controller.stop()
    assert len(inbox.messages) == 1 and outbox_for(tmp_path).items() == []


async def _webhook_once(tmp_path: Path, port: int, status: int) -> tuple[list[str], Any]:
    from aiohttp import web

    seen: list[str] = []

    async def handle(request: web.Request) -> web.Response:
        seen.append(request.headers["webhook-id"])
        return web.Response(status=status, text="gone" if status == 410 else "busy")

    app = web.Application()
    app.router.add_post("/hook", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    settings = load_settings(None, {"webhook": {"url": f"http://127.0.0.1:{port}/hook", "max_attempts": 1,
                                                "secret": "whsec_" + "QUJD" * 8, "timeout_s": 5}})
    try:
        first = await deliver_report(make_report(), tmp_path, settings)
        again = await deliver_pending(outbox_for(tmp_path), settings)  # what a later `deliver` run does
    finally:
        await runner.cleanup()
    assert [i.id for i in first] == [i.id for i in again]
    return seen, again[0]


async def test_item11_a_webhook_answering_410_is_a_permanent_failure(tmp_path: Path, unused_tcp_port: int) -> None:
    seen, item = await _webhook_once(tmp_path, unused_tcp_port, 410)
    assert len(seen) == 1  # tried once, not again on the later pass
    assert item.permanent and "HTTP 410" in (item.last_error or "") and item.attempts == 1
    assert outbox_for(tmp_path).pending() == [] and outbox_for(tmp_path).permanently_failed() == [item]


async def test_item11_a_fixed_webhook_url_replaces_the_refused_one(tmp_path: Path, unused_tcp_port: int) -> None:
    from aiohttp import web

    seen: list[str] = []

    async def handle(request: web.Request) -> web.Response:
        seen.append(request.path)
        return web.Response(status=410 if request.path == "/old" else 200)

    app = web.Application()
    app.router.add_post("/{name}", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", unused_tcp_port).start()
    secret = "whsec_" + "QUJD" * 8
    base = f"http://127.0.0.1:{unused_tcp_port}"
    report = make_report()
    write_report_files(report, tmp_path)
    try:
        settings = load_settings(None, {"webhook": {"url": f"{base}/old", "secret": secret, "max_attempts": 1}})
        (refused,) = await deliver_report(report, tmp_path, settings)
        assert refused.permanent
        env = {**os.environ, "BOT_WEBHOOK__URL": f"{base}/new", "BOT_WEBHOOK__SECRET": secret}
        proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "bot", "deliver", str(tmp_path), env=env,
                                                    stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        _, err = await asyncio.wait_for(proc.communicate(), 60)
    finally:
        await runner.cleanup()
    assert proc.returncode == 0, err.decode()[-2000:]
    assert "dropped the failed webhook" in err.decode() and seen == ["/old", "/new"]
    assert outbox_for(tmp_path).items() == []


async def test_item11_a_webhook_answering_503_stays_pending(tmp_path: Path, unused_tcp_port: int) -> None:
    seen, item = await _webhook_once(tmp_path, unused_tcp_port, 503)
    assert len(seen) == 2  # retryable: the later pass tries again
    assert not item.permanent and "HTTP 503" in (item.last_error or "") and item.attempts == 2
    assert outbox_for(tmp_path).pending() == [item] and outbox_for(tmp_path).permanently_failed() == []


async def test_item11_a_webhook_without_a_secret_is_a_permanent_failure(tmp_path: Path) -> None:
    settings = load_settings(None, {"webhook": {"url": "http://127.0.0.1:9/hook"}})  # no webhook.secret
    (item,) = await deliver_report(make_report(), tmp_path, settings)
    assert item.permanent and "webhook.secret" in (item.last_error or "")
    assert outbox_for(tmp_path).pending() == []


# ---- item 12: credentials in URLs never leave the process

def test_item12_urls_lose_their_credentials() -> None:
    assert safe_url("https://bot:s3cret@hooks.example.org/x?token=abc#f") == "https://hooks.example.org/x"
    text = ("page.goto: net::ERR_CONNECTION_REFUSED at https://meet.example.org/Room?jwt=eyJhbGciOi.x.y#config.a=1"
            " and wss://u:p@host:8443/xmpp-websocket?room=r")
    safe = redact_urls(text)
    assert "eyJ" not in safe and "u:p" not in safe and "room=r" not in safe
    assert "https://meet.example.org/Room" in safe and "wss://host:8443/xmpp-websocket" in safe


def test_item12_a_jwt_in_an_unreachable_meeting_url_reaches_no_artifact(tmp_path: Path,
                                                                        unused_tcp_port: int) -> None:
    out = tmp_path / "m"
    url = f"http://127.0.0.1:{unused_tcp_port}/Room?jwt=SECRET-JWT-VALUE"
    proc = subprocess.run([sys.executable, "-m", "bot", "join", url, "--out", str(out)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "BOT_MEETING__PAGE_LOAD_TIMEOUT_S": "5"})
    assert proc.returncode == 3, proc.stderr[-2000:]
    written = "".join(p.read_text(errors="replace") for p in out.rglob("*") if p.is_file())
    assert "SECRET-JWT-VALUE" not in proc.stdout + proc.stderr + written
    assert json.loads((out / "meeting.json").read_text())["join_failure"] == "page_load_failed"


async def test_item12_a_webhook_password_reaches_no_outbox_file(tmp_path: Path) -> None:
    settings = load_settings(None, {"webhook": {"url": "https://bot:hunter2@hooks.example.org/in?k=v",
                                                "secret": "whsec_" + "QUJD" * 8}})
    enqueue(make_report(), tmp_path, settings)
    meta = "".join(p.read_text() for p in (tmp_path / "outbox").rglob("meta.json"))
    assert "hunter2" not in meta and "k=v" not in meta and "hooks.example.org" in meta


# ---- item 6: the browser going away is noticed at once

def _kill_browsers() -> int:
    import psutil

    victims = [p for p in psutil.Process().children(recursive=True) if "chrom" in p.name().lower()]
    for p in victims:
        p.kill()
    return len(victims)


@pytest.mark.e2e
async def test_item6_a_killed_browser_ends_the_meeting_as_a_crash(room: FakeJitsiRoom, run_bot: RunBot,
                                                                   tmp_path: Path) -> None:
    session, task = await run_bot(room.url())
    await until(lambda: session.state == "in_call")
    await room.add_participant("ann", "Ann", tone_hz=500)
    await until(lambda: session.recorder and session.recorder.captured_seconds().get("ann", 0) > 1)
    assert _kill_browsers() > 0
    result = await asyncio.wait_for(task, 30)
    assert (result.exit_code, result.reason) == (ExitCode.FAILED, EndReason.BROWSER_CRASHED)
    doc = json.loads((tmp_path / "out" / "meeting.json").read_text())
    assert doc["end_reason"] == "browser_crashed" and doc["exit_code"] == 1
    assert read_wav(tmp_path / "out" / "audio" / "Ann-ann.wav").samples.shape[0] > 16000


async def test_item6_health_turns_unhealthy(tmp_path: Path) -> None:
    problem: list[str] = []
    rec = MeetingRecorder(tmp_path / "audio")
    bridge = BridgeServer(rec, lambda conn, msg: None, health=lambda: problem[0] if problem else None)
    async with bridge, aiohttp.ClientSession() as http:
        async with http.get(f"{bridge.base_url}/healthz") as resp:
            assert resp.status == 200
        problem.append("browser_crashed")
        async with http.get(f"{bridge.base_url}/healthz") as resp:
            assert resp.status == 503 and (await resp.json())["reason"] == "browser_crashed"


# ---- item 9: a report that cannot be built is a failure, said in meeting.json

class _NullStream:
    async def push_audio(self, pcm: bytes, position_s: float | None = None) -> None:
        return None

    async def end_input(self) -> None:
        return None

    async def aclose(self) -> None:
        return None

    async def events(self) -> AsyncIterator[Any]:
        return
        yield


class _BrokenBackend:
    """A backend double whose state is lost by the end of the meeting (the report cannot be built)."""

    name = "broken"

    async def open_stream(self, participant: Any) -> _NullStream:
        return _NullStream()

    def recognition(self) -> Any:
        raise RuntimeError("recognizer state lost")

    async def recover(self, audio: Any) -> list[Any]:
        return []

    async def post_call(self) -> None:
        return None

    async def aclose(self) -> None:
        return None


@pytest.mark.e2e
async def test_item9_a_failed_report_exits_1_and_says_why(room: FakeJitsiRoom, tmp_path: Path) -> None:
    out = tmp_path / "out"
    session = MeetingSession(demo_settings(), room.url(), out, meeting_id="t", backend=_BrokenBackend())
    task = asyncio.create_task(session.run())
    await room.wait_event("bot_joined", timeout=30)
    await room.add_participant("ann", "Ann", tone_hz=500)
    await asyncio.sleep(2)
    await room.remove_participant("ann")
    result = await asyncio.wait_for(task, 60)
    assert result.exit_code == ExitCode.FAILED and "report could not be built" in result.message
    doc = json.loads((out / "meeting.json").read_text())
    assert doc["exit_code"] == 1 and "recognizer state lost" in doc["message"]


# ---- item 14: rejoin races

def test_item14_late_messages_from_a_page_already_left_are_ignored(tmp_path: Path) -> None:
    session = MeetingSession(demo_settings(), "https://meet.example.org/Room", tmp_path, meeting_id="t")
    session.join_s = 1.0
    session.status.joined = True
    session._on_control(2, Hello(type="hello", version=1))  # the rejoined page
    session._on_control(2, Conference(type="conference", state="joined", room="Room"))
    session._on_control(1, Conference(type="conference", state="left", room="Room"))  # the old page, late
    session._on_control(1, Roster(type="roster", participants=[]))
    assert session.status.joined and not session.status.left


@pytest.mark.e2e
async def test_item14_a_failed_rejoin_is_a_failure_after_joining(room: FakeJitsiRoom, run_bot: RunBot) -> None:
    # Admitted from the lobby once; the media watchdog rejoins and nobody admits the bot again.
    session, task = await run_bot(room.url(lobby="manual"), lobby_timeout_s=2, media_timeout_s=2)
    await room.wait_event("knocked", timeout=30)
    await room.admit_bot()
    await until(lambda: session.state == "in_call")
    await room.add_participant("ann", "Ann", tone_hz=500)
    await asyncio.sleep(1)
    await room.stall_audio()
    result = await asyncio.wait_for(task, 60)
    assert (result.exit_code, result.reason) == (ExitCode.FAILED, EndReason.CONNECTION_LOST)
    assert result.join_failure == "lobby_timeout" and session.rejoins == 1


# ---- item 5: audio made while the bridge socket reconnects is kept

def _longest_silence_s(samples: Any) -> float:
    """The longest run of digital silence between the first and the last sound, in seconds."""
    import numpy as np

    loud = np.flatnonzero(np.abs(samples.astype(np.int32)) > 50)
    if len(loud) < 2:
        return math.inf
    return float(np.diff(loud).max()) / 16000


async def _socket_outage(room: FakeJitsiRoom, session: MeetingSession, seconds: float,
                         during: Any = None, then: str = "ann") -> None:
    """Ann speaks (a steady tone); the page's socket drops and the bridge refuses it for ``seconds`` (the page
    retries every 0.25 s, then backs off to 4 s), ``during()`` is awaited half-way; then ``then`` goes on until
    2 s more of theirs arrived, and everyone leaves."""
    from bot.bridge.app import STATE

    await until(lambda: session.state == "in_call")
    await room.add_participant("ann", "Ann", tone_hz=500)
    assert session.recorder is not None and session.bridge is not None
    await until(lambda: session.recorder.captured_seconds().get("ann", 0) >= 2)
    state = session.bridge._app[STATE]
    token, state.token = state.token, "not-now"
    for ws in set(state.sockets):
        await ws.close()
    await asyncio.sleep(seconds / 2)
    if during is not None:
        await during()
    await asyncio.sleep(seconds / 2)
    state.token = token
    await until(lambda: session.bridge.counters.connections >= 2 and session.recorder.active_tracks() >= 1)
    before = session.recorder.captured_seconds().get(then, 0)
    await until(lambda: session.recorder.captured_seconds().get(then, 0) >= before + 2)
    assert session.bridge.counters.refused_clients >= 1  # the outage happened
    for pid in list(session.roster.people):
        await room.remove_participant(pid)


@pytest.mark.e2e
async def test_item5_audio_made_while_the_bridge_socket_is_down_is_sent_after_it(room: FakeJitsiRoom,
                                                                                run_bot: RunBot,
                                                                                tmp_path: Path) -> None:
    session, task = await run_bot(room.url())
    await _socket_outage(room, session, 3)
    result = await asyncio.wait_for(task, 60)
    assert result.exit_code == ExitCode.OK and session.recorder is not None
    summary = session.recorder.summary()
    assert summary["gaps"] == 0  # nothing dropped, and the new connection does not count the old frames
    wav = read_wav(tmp_path / "out" / "audio" / "Ann-ann.wav").samples[:, 0]
    # A steady tone: the 3+ s the socket was down must not be a hole in it (a starved audio thread can make
    # a short one on a busy machine; the outage is far longer).
    assert _longest_silence_s(wav) < 1.0


@pytest.mark.e2e
async def test_item5_a_slot_that_changes_owner_while_the_socket_is_down_keeps_both_owners_audio(
        room: FakeJitsiRoom, run_bot: RunBot, tmp_path: Path) -> None:
    session, task = await run_bot(room.url())

    async def hand_over() -> None:  # SSRC rewriting moves Ann's slot to Eve while the page cannot send
        await room.add_participant("eve", "Eve", tone_hz=600, audio=False)
        await room.rewrite_ssrc("ann", "eve")

    await _socket_outage(room, session, 4, during=hand_over, then="eve")
    result = await asyncio.wait_for(task, 60)
    assert result.exit_code == ExitCode.OK and session.recorder is not None
    summary = session.recorder.summary()
    # Ann's audio from before the handover was announced as hers again: none of it unknown, none missing.
    assert summary["unknown_track_frames"] == 0 and summary["gaps"] == 0, summary
    ann = read_wav(tmp_path / "out" / "audio" / "Ann-ann.wav").samples[:, 0]
    eve = read_wav(tmp_path / "out" / "audio" / "Eve-eve.wav").samples[:, 0]
    assert _longest_silence_s(ann) < 1.0  # her tone right up to the handover, outage included
    assert abs(dominant_hz(eve.astype(float) / 32768) - 600) < 10 and _longest_silence_s(eve) < 1.0


@pytest.mark.e2e
async def test_item5_an_outage_longer_than_the_backlog_is_reported_per_participant(room: FakeJitsiRoom,
                                                                                   tmp_path: Path) -> None:
    from bot.backends.local.stt import LocalBackend

    instant = _HeldRecognizer()
    instant.release.set()
    out = tmp_path / "out"
    session = MeetingSession(demo_settings(), room.url(), out, meeting_id="t",
                             backend=LocalBackend(loader=lambda choice: (instant, [])))
    task = asyncio.create_task(session.run())
    try:
        await _socket_outage(room, session, 13)  # the page keeps 10 s
        result = await asyncio.wait_for(task, 60)
    finally:
        task.cancel()
    assert result.exit_code == ExitCode.OK
    warnings = json.loads((out / "report.json").read_text())["warnings"]
    (line,) = [w for w in warnings if "connection to the bot was down" in w]
    assert line.startswith("Ann: ")
    reported = float(line.split()[1])
    # What was reported lost is the hole in the recording: the loss is accounted for, not guessed.
    hole = _longest_silence_s(read_wav(out / "audio" / "Ann-ann.wav").samples[:, 0])
    assert reported >= 1.0 and abs(hole - reported) < 0.3, (hole, reported)


# ---- item 7: a stop request bounds the waiting, never the writing

async def _silent_smtp() -> tuple[asyncio.Server, int]:
    """An SMTP port that accepts connections and never says a word (a hung mail server)."""

    async def hang(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # until the client goes away
        writer.close()

    server = await asyncio.start_server(hang, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


async def _bot_until_recording(room: FakeJitsiRoom, out: Path, grace_s: float,
                               smtp_port: int) -> asyncio.subprocess.Process:
    from tests.conftest import TEST_BROWSER_ARGS

    env = {**os.environ, "BOT_BROWSER__EXTRA_ARGS": json.dumps(TEST_BROWSER_ARGS), "BOT_LOG__FORMAT": "json",
           "BOT_MEETING__SHUTDOWN_GRACE_S": str(grace_s), "BOT_EMAIL__TO": '["notes@example.org"]',
           "BOT_SMTP__HOST": "127.0.0.1", "BOT_SMTP__PORT": str(smtp_port), "BOT_SMTP__SECURITY": "none",
           "BOT_SMTP__TIMEOUT_S": "3600"}
    bot = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "join", room.url(), "--out", str(out), env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    await room.wait_event("bot_joined", timeout=60)
    await room.add_participant("ann", "Ann", tone_hz=500)
    wav = out / "audio" / "Ann-ann.wav"
    await until(lambda: wav.exists() and wav.stat().st_size > 3 * 32000, 60, every=0.2)
    return bot


def _assert_everything_written(out: Path) -> None:
    doc = json.loads((out / "meeting.json").read_text())
    assert (doc["end_reason"], doc["exit_code"]) == ("stopped", 4), doc["message"]
    assert "jitsi-bot deliver" in doc["message"]
    assert json.loads((out / "report.json").read_text())["meeting"]["id"]
    assert (out / "summary.html").is_file()
    pending = outbox_for(out).pending()
    assert [i.kind for i in pending] == ["email"]
    assert read_wav(out / "audio" / "Ann-ann.wav").samples.shape[0] > 3 * 16000


@pytest.mark.e2e
async def test_item7_sigterm_with_a_hung_mail_server_still_writes_everything(room: FakeJitsiRoom,
                                                                             tmp_path: Path) -> None:
    server, port = await _silent_smtp()
    async with server:
        out = tmp_path / "out"
        bot = await _bot_until_recording(room, out, 8, port)
        bot.send_signal(signal.SIGTERM)
        _stdout, stderr = await asyncio.wait_for(bot.communicate(), 90)
    # Whether the grace ran out while sending or before it: the deadline cut the waiting, not the writing.
    assert bot.returncode == ExitCode.DELIVERY_PENDING, stderr.decode()[-2000:]
    _assert_everything_written(out)


@pytest.mark.e2e
async def test_item7_a_second_sigterm_hurries_and_never_extends(room: FakeJitsiRoom, tmp_path: Path) -> None:
    server, port = await _silent_smtp()
    async with server:
        out = tmp_path / "out"
        bot = await _bot_until_recording(room, out, 3600, port)  # a grace nobody waits out
        bot.send_signal(signal.SIGTERM)
        await until(lambda: (out / "report.json").exists(), 60)  # finishing, now waiting on the mail server
        bot.send_signal(signal.SIGTERM)
        _stdout, stderr = await asyncio.wait_for(bot.communicate(), 90)
    assert bot.returncode == ExitCode.DELIVERY_PENDING, stderr.decode()[-2000:]
    _assert_everything_written(out)


# ---- item 8: finishing is bounded by the backlog live, not at all in a replay

class _HeldRecognizer:
    """Decodes only once released (a machine far too slow for the backlog), then like the scripted one."""

    name = "held"
    word_timestamps = False

    def __init__(self) -> None:
        import threading

        self.release = threading.Event()

    def decode(self, audio: Any, hints: str | None = None) -> Any:
        from bot.backends.local.models import Decoded

        self.release.wait(60)
        return Decoded(text="held words", words=())


def _speechlike(seconds: float) -> bytes:
    import numpy as np

    t = np.arange(int(seconds * 16000)) / 16000
    tone = 0.5 * np.sin(2 * np.pi * 300 * t) * (np.sin(2 * np.pi * 3 * t) > 0)  # 3 bursts a second
    quiet = np.zeros(32000)
    return (np.concatenate([tone, quiet]) * 32767).astype("<i2").tobytes()


async def _held_transcriber() -> tuple[Any, _HeldRecognizer]:
    from bot.backends.base import Participant
    from bot.backends.local.stt import LocalBackend
    from bot.pipeline import Transcriber

    held = _HeldRecognizer()
    backend = LocalBackend(loader=lambda choice: (held, []), gate=None)  # its "speech" is tone bursts
    transcriber = Transcriber(backend)
    await transcriber.push(Participant("ann", "Ann"), _speechlike(4.0), 0.0)
    return transcriber, held


async def test_item8_a_capped_finish_names_what_was_not_transcribed() -> None:
    transcriber, held = await _held_transcriber()
    try:
        await transcriber.finish(cap_s=0.2)
        assert len(transcriber.warnings) == 1
        assert transcriber.warnings[0].startswith("Ann: ") and "not transcribed" in transcriber.warnings[0]
        assert "jitsi-bot replay" in transcriber.warnings[0]
    finally:
        held.release.set()
        await transcriber.backend.aclose()


async def test_item8_a_deadline_brought_closer_applies_at_once() -> None:
    from bot.deadline import StopDeadline

    transcriber, held = await _held_transcriber()
    deadline = StopDeadline()
    deadline.set_in(3600)
    try:
        async def hurry() -> None:
            await asyncio.sleep(0.3)
            deadline.set_in(0)

        hurrying = asyncio.create_task(hurry())
        async with asyncio.timeout(60):  # not the hour
            await transcriber.finish(deadline=deadline)
        await hurrying
        assert "(the bot was stopped)" in transcriber.warnings[0]
    finally:
        held.release.set()
        await transcriber.backend.aclose()


async def test_item8_a_replay_waits_for_every_utterance(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import threading

    import bot.pipeline
    from bot.audio import WavSpool
    from bot.backends.local.stt import LocalBackend
    from bot.replay import replay

    # The live cap, made tiny: a replay must not be subject to it.
    monkeypatch.setattr(bot.pipeline, "FINISH_BASE_S", 0.01)
    monkeypatch.setattr(bot.pipeline, "FINISH_PER_AUDIO_S", 0.0)
    held = _HeldRecognizer()
    threading.Timer(1.0, held.release.set).start()  # decoding is slow, not stuck
    backend = LocalBackend(loader=lambda choice: (held, []), gate=None)  # its "speech" is tone bursts
    spool = WavSpool(tmp_path / "ann.wav")
    spool.write(_speechlike(4.0) * 3)
    spool.close()
    report = await replay([tmp_path / "ann.wav"], backend, tmp_path / "out", names=["Ann"])
    assert len(report.transcript) >= 3 and {s.text for s in report.transcript} == {"held words"}
    assert not any("not transcribed" in w for w in report.warnings)


# ---- item 9 (Symbl): a streaming socket failing under a send

def _wav(path: Path, pcm: bytes) -> Path:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(pcm)
    return path


@pytest.mark.parametrize("reconnect", [True, False], ids=["reconnects", "reconnect-refused"])
async def test_item9_a_symbl_send_on_a_closing_socket_costs_nobody_their_words(tmp_path: Path,
                                                                              reconnect: bool) -> None:
    ann, bob = Participant("ann1", "Ann"), Participant("bob2", "Bob")
    talk = {ann: _speech(HELLO_HZ, QUESTION_HZ), bob: _speech(ACTION_HZ)}
    audio = {p.id: _wav(tmp_path / f"{p.id}.wav", pcm) for p, pcm in talk.items()}
    step = 3200  # 0.1 s
    # Ann's socket gets a close frame after 4 frames and the close is never finished: her next write fails.
    async with SymblDouble(ToneRecognizer(), unfinished_close_after_frames=4, fault_user_id="ann1",
                           job_polls=1) as double:
        backend = _backend(double, max_retry=1)
        transcriber = Transcriber(backend)
        with capture_logs() as logs:
            for p, pcm in talk.items():
                await transcriber.push(p, pcm[:step], 0.0)
            await until(lambda: len(double.records) >= 2, every=0.01)
            if not reconnect:
                double.ws_fail_with = 500  # both sockets are up: only Ann's reconnects are refused
            for offset in range(step, max(map(len, talk.values())), step):
                for p, pcm in talk.items():
                    await transcriber.push(p, pcm[offset : offset + step], offset / 32000)  # never raises
                await asyncio.sleep(0.005)
            events = await transcriber.finish(audio, cap_s=60)  # never raises either
        warnings = backend.recognition().warnings
        await backend.aclose()
    (closed,) = [r for r in double.records if r.close_code == 1005]
    assert closed.start_requests[0]["speaker"]["userId"] == "ann1"
    assert any("ClientConnectionResetError" in str(e.get("error")) for e in logs if e["event"] == "symbl.reconnecting")
    assert _plain(PHRASES[ACTION_HZ]) in _finals(events, "bob2")  # Bob's stream never noticed
    said = _finals(events, "ann1")
    assert _plain(PHRASES[HELLO_HZ]) in said and _plain(PHRASES[QUESTION_HZ]) in said, said
    ann_stream, bob_stream = backend.streams
    assert bob_stream.error is None and transcriber.failed == []
    if reconnect:  # resumed on a new socket, the unanswered audio resent
        assert ann_stream.error is None and ann_stream.connections == 2 and warnings == []
    else:  # failed for good, recovered from her WAV
        assert ann_stream.error is not None
        assert any("failed for participant ann1" in w for w in warnings)
        assert any("ann1: streaming failed; transcribed with the Symbl Async API" in w for w in warnings)


class _StreamDyingAtTheEnd(_NullStream):
    def __init__(self) -> None:
        self.channel = EventChannel()

    async def end_input(self) -> None:
        self.channel.close()
        raise aiohttp.ClientConnectionResetError("Cannot write to closing transport")

    def events(self) -> AsyncIterator[BackendEvent]:
        return self.channel.__aiter__()


class _ReplayingStream(_StreamDyingAtTheEnd):
    async def end_input(self) -> None:
        self.channel.put(BackendEvent(EventKind.FINAL, "bob", "the budget is fine", 0.0, 1.0))
        self.channel.close()


class _HalfBrokenBackend(_BrokenBackend):
    """Ann's stream raises a transport error as it ends; Bob's delivers his words at the same moment."""

    async def open_stream(self, participant: Any) -> _NullStream:
        return _StreamDyingAtTheEnd() if participant.id == "ann" else _ReplayingStream()


async def test_item9_one_stream_raising_at_the_end_keeps_the_others_words() -> None:
    transcriber = Transcriber(_HalfBrokenBackend())
    await transcriber.push(Participant("ann", "Ann"), PCM)
    await transcriber.push(Participant("bob", "Bob"), PCM)
    events = await transcriber.finish()
    assert [e.text for e in events] == ["the budget is fine"]
    (failed,) = transcriber.failed
    assert "Ann" in failed and "ClientConnectionResetError" in failed


# ---- item 13: the Symbl stream's resend buffer does not grow with silence

@pytest.mark.parametrize("sound", ["silence", "hum"])
async def test_item13_ten_minutes_without_a_final_hold_at_most_the_resend_cap(sound: str) -> None:
    # Digital silence, or a hum above -50 dBFS that no final ever covers (below the double's speech threshold).
    second = pcm(silence(1.0) if sound == "silence" else tone(100.0, 1.0, amp=0.006))
    cap = int(MAX_RESEND_S * 32000)
    async with SymblDouble(ToneRecognizer()) as double:
        backend = _backend(double)
        stream = await backend.open_stream(Participant("ann1", "Ann"))
        held = []
        for s in range(600):
            await stream.push_audio(second, float(s))
            await asyncio.sleep(0)
            held.append(stream.resend_bytes)
        async with asyncio.timeout(120):  # every frame handed to the socket (no timing assumed, only an upper bound)
            while stream.frames_sent < 600 * 4:
                await asyncio.sleep(0.01)
        held.append(stream.resend_bytes)
        double.drop_after_frames = stream.frames_sent + 1  # the next frame drops the socket: a reconnect
        await stream.push_audio(second, 600.0)
        await stream.end_input()
        warnings = backend.recognition().warnings
        await backend.aclose()
    first, again = double.records
    assert first.dropped and stream.connections == 2 and stream.error is None
    assert sum(first.frame_sizes) >= 600 * 32000  # everything was sent once
    if sound == "silence":  # silence is released at once: nothing to resend, nothing lost
        assert max(held) <= 8192 and sum(again.frame_sizes) <= 32000
        assert stream.unresent_s == 0 and warnings == []
    else:  # the cap holds, only the bounded tail is resent, and the report says the rest was not
        assert cap - 8192 <= max(held) <= cap
        assert cap - 8192 <= sum(again.frame_sizes) <= cap + 32000
        assert 600 - MAX_RESEND_S - 1 <= stream.unresent_s <= 601 - MAX_RESEND_S
        (warning,) = warnings
        assert "ann1" in warning and "not resent" in warning and "WAV" in warning
