"""Smoke test of the fake Jitsi room double, driven by plain Playwright in real Chromium (not the bot)."""

from __future__ import annotations

import asyncio
import math
import re
import shutil
import struct
import time
import wave
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from bot.demo.room import FakeJitsiRoom
from bot.demo.senders import SENDER_MARKER
from bot.meeting.browser import LAUNCH_ARGS
from tests.conftest import TEST_BROWSER_ARGS

pytestmark = pytest.mark.e2e

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [*LAUNCH_ARGS, *TEST_BROWSER_ARGS]
# As the bot: skip the prejoin screen, which the app shows by default.
SKIP_PREJOIN = "#config.prejoinConfig.enabled=false"

# Installed before the page script runs: records every conference event of every JitsiConference the page
# makes (APP.conference._room is replaced on a breakout move or a visitor retry) with a summary of its
# arguments in window.__log, the index of the conference in window.__logRooms (the conferences in
# window.__rooms), the time in window.__logTimes, audio tracks in window.__tracks, and every entry in
# sessionStorage (window.__logAll()), which survives page reloads.
RECORDER = """
window.__log = [];
window.__logRooms = [];
window.__logTimes = [];
window.__tracks = [];
window.__rooms = [];
window.__logAll = () => JSON.parse(sessionStorage.getItem("__logAll") || "[]");
const hook = (conf) => {
  if (!conf || window.__rooms.includes(conf)) return;
  const index = window.__rooms.push(conf) - 1;
  for (const name of Object.values(window.JitsiMeetJS.events.conference)) {
    conf.on(name, (...args) => {
      const a = args.map((x) => (x && typeof x.getParticipantId === "function")
        ? {track: x.getTrack().id, owner: x.getParticipantId(), p2p: x.isP2P, type: x.getType(),
           known: !!(x.getParticipantId() && conf.getParticipantById(x.getParticipantId()))}
        : (x && typeof x.getId === "function")
        ? {participant: x.getId(), jigasi: x.getProperty ? x.getProperty("features_jigasi") ?? null : null}
        : x === undefined ? null : x);
      if (name === "conference.trackAdded" && args[0].getType() === "audio") window.__tracks.push(args[0]);
      const entry = [name, ...a];
      window.__log.push(entry);
      window.__logRooms.push(index);
      window.__logTimes.push(performance.now());
      sessionStorage.setItem("__logAll", JSON.stringify([...window.__logAll(), entry]));
    });
  }
};
document.addEventListener("DOMContentLoaded", () => hook(window.APP.conference._room));
setInterval(() => window.APP && hook(window.APP.conference._room), 20);
"""

# Attaches the newest remote track's stream to a muted element (needed for WebRTC audio to reach Web
# Audio) and measures it for `ms`: peak amplitude and the frequency of the strongest FFT bin.
MEASURE = """
async (ms) => {
  const track = window.__tracks[window.__tracks.length - 1];
  const stream = new MediaStream([track.getTrack()]);
  const el = new Audio();
  el.muted = true;
  el.srcObject = stream;
  el.play().catch(() => {});
  const ctx = new AudioContext();
  await ctx.resume();
  const analyser = ctx.createAnalyser();
  analyser.fftSize = 4096;
  ctx.createMediaStreamSource(stream).connect(analyser);
  const wave = new Float32Array(analyser.fftSize);
  const spectrum = new Float32Array(analyser.frequencyBinCount);
  let peak = 0, peakBin = 0;
  const end = performance.now() + ms;
  while (performance.now() < end) {
    await new Promise((r) => setTimeout(r, 50));
    analyser.getFloatTimeDomainData(wave);
    for (const v of wave) peak = Math.max(peak, Math.abs(v));
  }
  analyser.getFloatFrequencyData(spectrum);
  for (let i = 1; i < spectrum.length; i++) if (spectrum[i] > spectrum[peakBin]) peakBin = i;
  const hz = peakBin * ctx.sampleRate / analyser.fftSize;
  await ctx.close();
  el.srcObject = null;
  return {peak, hz};
}
"""


@pytest.fixture
async def room() -> AsyncIterator[FakeJitsiRoom]:
    """A started fake room."""
    async with FakeJitsiRoom() as fake:
        yield fake


@pytest.fixture
async def page() -> AsyncIterator[Any]:
    """A fresh page in headless Debian Chromium with the recorder init script."""
    if shutil.which(str(CHROMIUM)) is None:
        pytest.skip("/usr/bin/chromium is not installed")
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        context = await browser.new_context()
        await context.add_init_script(RECORDER)
        pg = await context.new_page()
        errors: list[str] = []
        pg.on("pageerror", lambda exc: errors.append(f"pageerror: {exc}"))
        pg.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
        try:
            yield pg
        finally:
            await browser.close()
        assert errors == [], errors


async def log_names(page: Any) -> list[str]:
    """Names of the conference events the page fired so far."""
    return [entry[0] for entry in await page.evaluate("window.__log")]


async def wait_log(page: Any, name: str, count: int = 1, within: float = 10) -> list[list[Any]]:
    """Wait until the page fired `name` at least `count` times; return those entries."""
    deadline = time.monotonic() + within
    while True:
        entries = [e for e in await page.evaluate("window.__log") if e[0] == name]
        if len(entries) >= count:
            return entries
        if time.monotonic() > deadline:
            raise AssertionError(
                f"{name} fired {len(entries)} times, wanted {count}: {await log_names(page)}"
            )
        await page.wait_for_timeout(50)


async def test_participant_audio_rename_remove(room: FakeJitsiRoom, page: Any) -> None:
    """Join, a 440 Hz participant is heard, renamed, made dominant and removed, with the real events."""
    await page.goto(room.url("smoke") + SKIP_PREJOIN + "&userInfo.displayName=%22Notetaker%22&config.p2p.enabled=false")
    loaded = await room.wait_event("page_loaded")
    assert loaded["room"] == "smoke"
    joined = await room.wait_event("bot_joined")
    assert joined["display_name"] == "Notetaker"
    assert (
        await page.evaluate("APP.conference._room.isJoined() && APP.conference.getConnectionState()")
        == "connected"
    )
    assert await page.evaluate("window.config.p2p.enabled") is False

    await room.add_participant("alice", "Alice", tone_hz=440)
    assert await page.evaluate("APP.conference._room.getParticipants().map(p => p.getId())") == ["alice"]
    assert await page.evaluate("APP.conference.membersCount") == 2
    # An audio track, then the camera-off video track the real client also reports.
    assert await log_names(page) == [
        "conference.joined", "conference.userJoined", "conference.trackAdded", "conference.trackAdded"]
    info = await page.evaluate(
        """() => { const t = window.__tracks[0]; const p = APP.conference._room.getParticipantById("alice");
        return {owner: t.getParticipantId(), source: t.getSourceName(), type: t.getType(), local: t.isLocal(),
                kind: t.getTrack().kind, el: !!document.getElementById("remoteAudio_" + t.getStreamId()),
                muted: p.isAudioMuted(), tracks: p.getTracks().length, name: p.getDisplayName()}; }"""
    )
    assert info == {
        "owner": "alice",
        "source": "alice-a0",
        "type": "audio",
        "local": False,
        "kind": "audio",
        "el": True,
        "muted": False,
        "tracks": 2,
        "name": "Alice",
    }
    measured = await page.evaluate(MEASURE, 1000)
    assert measured["peak"] > 0.01, measured
    assert abs(measured["hz"] - 440) < 30, measured

    await room.rename("alice", "Alice B.")
    assert (await wait_log(page, "conference.displayNameChanged"))[0][1:] == ["alice", "Alice B."]
    await room.set_dominant_speaker("alice")
    assert (await wait_log(page, "conference.dominantSpeaker"))[0][1:] == ["alice", [], False]

    with pytest.raises(RuntimeError, match="unknown participant nobody"):
        await room.rename("nobody", "X")
    stream_id = await page.evaluate("window.__tracks[0].getStreamId()")
    await room.remove_participant("alice")
    names = await log_names(page)
    assert names[-3:] == ["conference.trackRemoved", "conference.trackRemoved", "conference.userLeft"]
    assert await page.evaluate(f"!!document.getElementById('remoteAudio_{stream_id}')") is False
    assert await page.evaluate("APP.conference._room.getParticipants().length") == 0
    state = await room.state()
    assert state["joined"] is True and state["participants"] == []

    await page.evaluate("APP.conference._room.leave()")
    await room.wait_event("bot_left")
    assert (await log_names(page))[-1] == "conference.left"


async def audio_log(page: Any) -> list[list[Any]]:
    """The page's event log without the events of video tracks."""
    log: list[list[Any]] = await page.evaluate("window.__log")
    return [e for e in log if not (len(e) > 1 and isinstance(e[1], dict) and e[1].get("type") == "video")]


async def test_prejoin_rewrite_ssrc_and_p2p_switch(room: FakeJitsiRoom, page: Any) -> None:
    """Participants present before a prejoin join appear after it; SSRC rewriting and a P2P->bridge switch."""
    # A deployment that ignores the override shows the prejoin screen to a page that skips it.
    await page.goto(room.url(p2p=True, ignored_hash_keys=["config.prejoinConfig.enabled"]) + SKIP_PREJOIN)
    await room.wait_connected()
    await room.add_participant("bob", "Bob", tone_hz=440)
    await room.add_participant("carol", "Carol", tone_hz=880, audio=False)
    await room.add_participant("rec", "Recorder", hidden=True, jigasi=True, audio=False)
    assert (await room.state())["joined"] is False
    await page.fill("#premeeting-name-input", "Scribe")
    await page.click('[data-testid="prejoin.joinMeeting"]')
    assert (await room.wait_event("bot_joined"))["display_name"] == "Scribe"
    await wait_log(page, "conference.trackAdded", 2)
    # As the real client: the people already there first, then "joined", then their tracks.
    assert [n for n in await log_names(page) if n != "conference.participant_property_changed"] == [
        "conference.userJoined",
        "conference.userJoined",
        "conference.userJoined",
        "conference.joined",
        "conference.trackAdded",
        "conference.trackAdded",
    ]
    assert await page.evaluate(
        """APP.conference._room.getParticipants().filter(p => !(p.isHidden() || p.isHiddenFromRecorder()))
           .map(p => p.getId())"""
    ) == ["bob", "carol"]
    changed = await wait_log(page, "conference.participant_property_changed")
    assert changed[0][1:] == [{"participant": "rec", "jigasi": True}, "features_jigasi", None, True]
    first = await page.evaluate("({id: window.__tracks[0].getTrack().id, p2p: window.__tracks[0].isP2P})")
    assert first["p2p"] is True

    await room.rewrite_ssrc("bob", "carol")
    log = await audio_log(page)
    assert [e[0] for e in log[-2:]] == ["conference.trackRemoved", "conference.trackAdded"]
    assert log[-2][1]["track"] == log[-1][1]["track"] == first["id"]
    assert log[-1][1]["owner"] == "carol"
    assert await page.evaluate("window.__tracks[0] === window.__tracks[1]")
    measured = await page.evaluate(MEASURE, 700)
    assert abs(measured["hz"] - 880) < 30, measured

    await room.switch_p2p_to_bridge()
    log = await audio_log(page)
    assert [e[0] for e in log[-2:]] == ["conference.trackRemoved", "conference.trackAdded"]
    assert log[-1][1]["owner"] == "carol" and log[-1][1]["p2p"] is False
    assert log[-1][1]["track"] != first["id"]
    assert (await page.evaluate(MEASURE, 700))["peak"] > 0.01


async def test_password_dialog_and_jibri_override(room: FakeJitsiRoom, page: Any) -> None:
    """A wrong password keeps the dialog and asks again; the right one joins; Jibri's override skips it."""
    await page.goto(room.url(password="s3cret") + SKIP_PREJOIN)
    await wait_log(page, "conference.failed")
    assert (await page.evaluate("window.__log"))[0][1] == "conference.passwordRequired"
    await page.fill('input[name="lockKey"]', "wrong")
    await page.click("#modal-dialog-ok-button")
    assert (await room.wait_event("password_tried"))["password"] == "wrong"
    await wait_log(page, "conference.failed", 2)
    assert await page.input_value('input[name="lockKey"]') == ""
    await page.fill('input[name="lockKey"]', "s3cret")
    await page.press('input[name="lockKey"]', "Enter")
    assert (await room.wait_event("password_tried"))["password"] == "s3cret"
    await room.wait_event("bot_joined")
    assert (await room.state())["password_tries"] == ["wrong", "s3cret"]

    override = "%7B%22xmpp_conference_password_override%22%3A%22s3cret%22%7D"
    await page.goto(
        room.url("other", password="s3cret")
        + f"{SKIP_PREJOIN}&config.useHostPageLocalStorage=true&appData.localStorageContent={override}"
    )
    await room.wait_event("bot_joined")
    assert "conference.failed" not in await log_names(page)
    assert (await room.state())["password_tries"] == []


async def test_lobby_deny_manual_admit_and_kick(room: FakeJitsiRoom, page: Any) -> None:
    """Auto-knock then rejection; a manual admit after a clicked knock; then the bot is kicked."""
    await page.goto(room.url(lobby="deny") + SKIP_PREJOIN + "&config.lobby.autoKnock=true")
    await room.wait_event("knocked")
    failed = await wait_log(page, "conference.failed", 2)
    assert [e[1] for e in failed] == [
        "conference.connectionError.membersOnly",
        "conference.connectionError.accessDenied",
    ]
    await page.get_by_text("Your request to join was rejected").wait_for()
    assert (await room.state())["joined"] is False

    await page.goto(room.url(lobby="manual") + SKIP_PREJOIN)
    await page.locator('[data-testid="lobby.knockButton"]').click()
    await room.wait_event("knocked")
    await room.admit_bot()
    await room.wait_event("bot_joined")
    await room.kick_bot()
    assert (await room.wait_event("kicked"))["reason"] == "You have been kicked."
    # As the real client (tests/jitsi_stack/recordings): no conference.left after a kick.
    assert (await log_names(page))[-1] == "conference.kicked"
    assert await page.evaluate("APP.conference.isJoined()") is False
    await page.get_by_text("You have been kicked").wait_for()


async def test_waiting_for_host_end_and_reload(room: FakeJitsiRoom, page: Any) -> None:
    """Waiting for the host until it arrives; the host and the roster survive a reload; the meeting ends."""
    await page.goto(room.url(waiting_for_host=True) + SKIP_PREJOIN)
    await page.locator('[aria-label="Log-in"]').wait_for()
    await room.add_participant("dan", "Dan", audio=False)
    await room.host_arrives()
    await room.wait_event("bot_joined")  # at the app's next retry
    assert (await log_names(page))[-2:] == ["conference.userJoined", "conference.joined"]

    await room.reload_page()
    await room.wait_event("bot_joined")  # the host is still there: no waiting
    assert await log_names(page) == ["conference.userJoined", "conference.joined"]
    assert await page.evaluate("APP.conference._room.getParticipants().map(p => p.getId())") == ["dan"]

    await room.end_conference()
    failed = await wait_log(page, "conference.failed")
    assert failed[-1][1] == "conference.destroyed"
    assert await page.evaluate("APP.conference._room.isJoined()") is False


async def test_wav_once_without_audio_elements(tmp_path: Path, page: Any) -> None:
    """A WAV played once, then silence; audio_elements=0 renders no <audio>; getStats counts bytes."""
    rate = 48000
    samples = [int(12000 * math.sin(2 * math.pi * 660 * i / rate)) for i in range(rate * 6 // 10)]
    with wave.open(str(tmp_path / "beep.wav"), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(struct.pack(f"<{len(samples)}h", *samples))
    async with FakeJitsiRoom(media_dir=tmp_path) as room:
        await page.goto(room.url(audio_elements=False) + SKIP_PREJOIN)
        await room.wait_event("bot_joined")
        await room.add_participant("erin", "Erin", wav="beep.wav", loop=False, gain=1.0)
        assert await page.evaluate("document.querySelectorAll('audio').length") == 0
        heard = await page.evaluate(MEASURE, 400)
        assert heard["peak"] > 0.05 and abs(heard["hz"] - 660) < 30, heard
        # Played once: the slot falls silent (a looping source never would). Nothing pulled the received
        # audio before MEASURE attached an element, so playout may lag the source by a few hundred ms.
        peaks = [(await page.evaluate(MEASURE, 300))["peak"] for _ in range(8)]
        assert min(peaks) < 0.01, peaks
        deadline = time.monotonic() + 3
        while await page.evaluate("APP.conference.getStats().bitrate.download") <= 0:
            assert time.monotonic() < deadline, "getStats().bitrate.download stayed 0"
            await page.wait_for_timeout(100)


async def test_command_without_page_times_out() -> None:
    """A command with no page connected waits a bounded time, then raises a clear TimeoutError."""
    async with FakeJitsiRoom(connect_timeout=0.3) as room:
        assert room.url("a b", lobby="manual").startswith(f"http://127.0.0.1:{room.port}/a%20b?")
        with pytest.raises(TimeoutError, match="no fake room page connected"):
            await room.state()
        with pytest.raises(ValueError):
            room.url(lobby="sometimes")
        with pytest.raises(ValueError):
            room.url(full="maybe")
        assert "prejoin" not in room.url()


# ---------------------------------------------------------------------------- the app's URL handling


async def page_eval_until(page: Any, expression: str, within: float = 10) -> Any:
    """Poll a JS expression until it is truthy; return its value."""
    deadline = time.monotonic() + within
    while not (value := await page.evaluate(expression)):
        if time.monotonic() > deadline:
            raise AssertionError(f"{expression} stayed falsy for {within} s")
        await page.wait_for_timeout(50)
    return value


CONFIG_PROBE = """({low: config.startLowBandwidthMode ?? null, old: config.prejoinPageEnabled ?? null,
  p2p: config.p2p, lobby: config.lobby, analytics: config.analytics ?? null, audioOnly: config.startAudioOnly ?? null,
  prejoin: config.prejoinConfig.enabled, gum: config.disableInitialGUM ?? null})"""


async def test_hash_whitelist_and_prejoin_by_default(room: FakeJitsiRoom, page: Any) -> None:
    """Only whitelisted config paths apply; the prejoin screen shows unless the hash disables it."""
    await page.goto(
        room.url("whitelist")
        + "#config.prejoinPageEnabled=false&config.startLowBandwidthMode=true&config.p2p.enabled=false"
        "&config.p2p.useStunTurn=false&config.lobby.autoKnock=true&config.analytics.disabled=true"
        "&config.startAudioOnly=true&userInfo.displayName=%22Scribe%22"
    )
    await page.locator('[data-testid="prejoin.joinMeeting"]').wait_for()
    assert await page.evaluate(CONFIG_PROBE) == {
        "low": None, "old": None, "p2p": {"enabled": False}, "lobby": {"autoKnock": True},
        "analytics": {"disabled": True}, "audioOnly": True, "prejoin": True, "gum": None,
    }
    assert await page.input_value("#premeeting-name-input") == "Scribe"
    await page.click('[data-testid="prejoin.joinMeeting"]')
    assert (await room.wait_event("bot_joined"))["display_name"] == "Scribe"

    await page.goto(room.url("skipped") + SKIP_PREJOIN)
    await room.wait_event("bot_joined")
    probe = await page.evaluate(CONFIG_PROBE)
    assert probe["prejoin"] is False and probe["gum"] is True  # as the app: skipping prejoin skips media

    await page.goto(room.url("ignoring", ignored_hash_keys=["config.prejoinConfig.enabled"]) + SKIP_PREJOIN)
    await page.locator('[data-testid="prejoin.joinMeeting"]').wait_for()
    assert (await page.evaluate(CONFIG_PROBE))["prejoin"] is True
    assert await page.evaluate("APP.conference.isJoined()") is False


# ---------------------------------------------------------------------------- participants


async def test_track_before_presence_jigasi_and_hidden_audio(room: FakeJitsiRoom, page: Any) -> None:
    """TRACK_ADDED before USER_JOINED; features_jigasi set later; hidden participants' audio is reported."""
    await page.goto(room.url() + SKIP_PREJOIN)
    await room.wait_event("bot_joined")
    await room.add_participant("ann", "Ann", tone_hz=440, track_first=True)
    log = await page.evaluate("window.__log")
    assert [e[0] for e in log] == [
        "conference.joined", "conference.trackAdded", "conference.trackAdded", "conference.userJoined"]
    assert [(e[1]["type"], e[1]["owner"], e[1]["known"]) for e in log[1:3]] == [
        ("audio", "ann", False), ("video", "ann", False)]
    assert await page.evaluate(
        "APP.conference._room.getParticipantById('ann').getTracks().map(t => t.getType())") == ["audio", "video"]

    await room.add_participant("sip", "Phone", tone_hz=300, jigasi=True)
    joined = [e for e in await page.evaluate("window.__log") if e[0] == "conference.userJoined"]
    assert joined[-1][2] == {"participant": "sip", "jigasi": None}  # not known yet at USER_JOINED
    changed = await wait_log(page, "conference.participant_property_changed")
    assert changed[0][1:] == [{"participant": "sip", "jigasi": True}, "features_jigasi", None, True]
    added = [e[1] for e in await audio_log(page) if e[0] == "conference.trackAdded"]
    assert [t["owner"] for t in added] == ["ann", "sip"]  # a dial-in caller is heard like anyone

    await room.add_participant("rec", "Recorder", hidden=True, tone_hz=200)
    await room.add_participant("obs", "Observer", hidden_from_recorder=True, audio=False)
    added = [e[1] for e in await audio_log(page) if e[0] == "conference.trackAdded"]
    assert added[-1]["owner"] == "rec" and added[-1]["known"] is True
    flags = await page.evaluate(
        "APP.conference._room.getParticipants().map(p => [p.getId(), p.isHidden(), p.isHiddenFromRecorder()])")
    assert flags == [["ann", False, False], ["sip", False, False], ["rec", True, False], ["obs", False, True]]


# ---------------------------------------------------------------------------- waiting for the host


async def waits_for_host(page: Any, mode: bool | str) -> list[list[Any]]:
    """In its own room: two failed joins 5 s apart, the host arrives, the next retry joins."""
    async with FakeJitsiRoom() as room:
        await page.goto(room.url(waiting_for_host=mode) + SKIP_PREJOIN)
        await page.locator('[aria-label="Log-in"]').wait_for()
        failed = await wait_log(page, "conference.failed", 2, within=15)
        times = [t for e, t in zip(await page.evaluate("window.__log"), await page.evaluate("window.__logTimes"),
                                   strict=True) if e[0] == "conference.failed"]
        assert 4800 <= times[1] - times[0] < 9000, times
        await room.host_arrives()
        await room.wait_event("bot_joined", timeout=15)
        assert len([e for e in room.events if e["event"] == "knocked"]) == (1 if mode == "lobby" else 0)
        return failed


async def test_waiting_for_host_retries_every_5_s(page: Any) -> None:
    """Both flows: the app retries the join every 5 s and fails the same way until the host is there."""
    auth, lobby = await asyncio.gather(
        waits_for_host(page, True), waits_for_host(await page.context.new_page(), "lobby"))
    assert [e[1:] for e in auth] == [["conference.authenticationRequired"]] * 2
    assert [e[1:] for e in lobby] == [
        ["conference.connectionError.membersOnly", "testroom@lobby.meet.fake", True]] * 2


# ---------------------------------------------------------------------------- audio slots

PACKETS = """async (pid) => {
  const track = window.__tracks.filter((t) => t.getParticipantId() === pid).pop();
  let n = 0;
  (await track._slot.pcB.getStats()).forEach((r) => { if (r.type === "inbound-rtp") n += r.packetsReceived; });
  return n;
}"""


async def packets_flowing(page: Any, pid: str, within: float = 10) -> bool:
    """Whether pcB's inbound packet count for pid's newest track still grows (polled until it settles)."""
    deadline = time.monotonic() + within
    last = await page.evaluate(PACKETS, pid)
    while time.monotonic() < deadline:
        await page.wait_for_timeout(400)
        now = await page.evaluate(PACKETS, pid)
        if now == last:
            return False
        if now > last and last > 0:
            return True
        last = now
    raise AssertionError(f"the packet count of {pid} neither grew nor settled in {within} s")


async def test_silence_slot_does_not_survive_a_reload(room: FakeJitsiRoom, page: Any) -> None:
    """A silenced slot: live, bound, unmuted, no packets; the reloaded page gets the audio again."""
    await page.goto(room.url() + SKIP_PREJOIN)
    await room.wait_event("bot_joined")
    await room.add_participant("sam", "Sam", tone_hz=500)
    assert await packets_flowing(page, "sam")
    before = await log_names(page)
    await room.silence_slot("sam")
    deadline = time.monotonic() + 10
    while await packets_flowing(page, "sam"):
        assert time.monotonic() < deadline, "packets still arrive on a silenced slot"
    assert await log_names(page) == before  # no TRACK_REMOVED, nothing at all
    assert await page.evaluate("""(() => { const t = window.__tracks[0];
        const p = APP.conference._room.getParticipantById("sam");
        return [t.getTrack().readyState, t.isMuted(), t.getParticipantId(), p.isAudioMuted()]; })()""") == [
        "live", False, "sam", False]

    await room.reload_page()
    await room.wait_event("bot_joined")
    await wait_log(page, "conference.trackAdded")
    assert await packets_flowing(page, "sam")


async def test_forward_loudest_and_ownerless_slot(room: FakeJitsiRoom, page: Any) -> None:
    """Slots move to the loudest; a released slot loses its owner, stays live and is given out again."""
    await page.goto(room.url() + SKIP_PREJOIN)
    await room.wait_event("bot_joined")
    await room.add_participant("a", "A", tone_hz=300)
    await room.add_participant("b", "B", tone_hz=500)
    await room.add_participant("c", "C", tone_hz=700, audio=False)
    await room.add_participant("d", "D", tone_hz=900, audio=False)
    b_track = [e[1]["track"] for e in await audio_log(page) if e[0] == "conference.trackAdded"][1]

    assert await room.forward_loudest(["a", "c"]) == [("b", "c")]
    log = await audio_log(page)
    assert [(e[0], e[1]["owner"], e[1]["track"]) for e in log[-2:]] == [
        ("conference.trackRemoved", "b", b_track), ("conference.trackAdded", "c", b_track)]
    assert await room.forward_loudest(["c", "a"]) == []
    # As in the library, B's own track list still has the slot it lost; the active peer connection knows better.
    owners = await page.evaluate("""() => {
        const r = APP.conference._room, audio = (ts) => ts.filter((t) => t.getType() === "audio");
        return [audio(r.getParticipantById("b").getTracks()).map((t) => t.getParticipantId()),
                audio(r.getActivePeerConnection().getRemoteTracks()).map((t) => t.getParticipantId()).sort()]; }""")
    assert owners == [["c"], ["a", "c"]]
    with pytest.raises(RuntimeError, match="need an audio slot"):
        await room.forward_loudest(["a", "b", "c", "d"])

    await room.release_slot("a")
    log = await audio_log(page)
    a_track = log[-1][1]["track"]
    assert (log[-1][0], log[-1][1]["owner"]) == ("conference.trackRemoved", "a")
    assert await page.evaluate("""(id) => { const t = window.__tracks.find((x) => x.getTrack().id === id);
        return [t.getParticipantId(), t.getSourceName(), t.getTrack().readyState]; }""", a_track) == [
        None, None, "live"]

    assert await room.forward_loudest(["c", "d"]) == [(None, "d")]
    log = await audio_log(page)
    assert [(e[0], e[1]["owner"], e[1]["track"]) for e in log[-2:]] == [
        ("conference.trackRemoved", "a", a_track), ("conference.trackAdded", "d", a_track)]
    measured = await page.evaluate(MEASURE, 700)
    assert abs(measured["hz"] - 900) < 30, measured


# ---------------------------------------------------------------------------- conferences replaced

ROOMS = """window.__rooms.map((r) => ({name: r.getName(), joined: r.isJoined(), me: r.myUserId(), role: r.getRole(),
  breakout: r.getBreakoutRooms().isBreakoutRoom(), main: r.getBreakoutRooms().getMainRoomJid() ?? null}))"""


async def room_log(page: Any, index: int) -> list[list[Any]]:
    """The events of the index-th JitsiConference the page made, less video tracks' and property changes."""
    entries = zip(await page.evaluate("window.__log"), await page.evaluate("window.__logRooms"), strict=True)
    return [e for e, i in entries if i == index and e[0] != "conference.participant_property_changed"
            and not (len(e) > 1 and isinstance(e[1], dict) and e[1].get("type") == "video")]


def who(entry: list[Any]) -> str | None:
    """Whom an event is about: a track's owner, a participant id, or None."""
    arg = entry[1] if len(entry) > 1 else None
    if isinstance(arg, dict):
        return arg.get("owner") or arg.get("participant")
    return arg if isinstance(arg, str) else None


async def test_breakout_room_and_back(room: FakeJitsiRoom, page: Any) -> None:
    """moveToRoom: the old conference is left, a new one joins the breakout room; then back to the main room."""
    await page.goto(room.url() + SKIP_PREJOIN)
    await room.wait_event("bot_joined")
    await room.add_participant("amy", "Amy", tone_hz=440)
    await room.add_participant("ben", "Ben", tone_hz=660)

    breakout = await room.move_bot_to_breakout("Room 1", ["amy"])
    assert re.fullmatch(r"[0-9a-f-]{36}", breakout)
    rooms = await page.evaluate(ROOMS)
    me = rooms[0]["me"]
    assert rooms == [
        {"name": "testroom", "joined": False, "me": me, "role": "participant", "breakout": False, "main": None},
        {"name": breakout, "joined": True, "me": me, "role": "participant", "breakout": True,
         "main": "testroom@conference.meet.fake"},
    ]
    assert await page.evaluate("APP.conference._room === window.__rooms[1] && APP.conference.isJoined()")
    assert [(e[0], who(e)) for e in (await room_log(page, 0))[-5:]] == [
        ("conference.trackRemoved", "amy"), ("conference.trackRemoved", "ben"),
        ("conference.userLeft", "amy"), ("conference.userLeft", "ben"), ("conference.left", None)]
    assert [(e[0], who(e)) for e in await room_log(page, 1)] == [
        ("conference.userJoined", "amy"), ("conference.joined", None), ("conference.trackAdded", "amy")]
    assert await page.evaluate("APP.conference._room.getParticipants().map(p => p.getId())") == ["amy"]
    assert abs((await page.evaluate(MEASURE, 700))["hz"] - 440) < 30

    await room.return_to_main_room()
    rooms = await page.evaluate(ROOMS)
    assert [(r["name"], r["joined"], r["breakout"]) for r in rooms] == [
        ("testroom", False, False), (breakout, False, True), ("testroom", True, False)]
    assert [e[0] for e in (await room_log(page, 1))[-3:]] == [
        "conference.trackRemoved", "conference.userLeft", "conference.left"]
    assert [(e[0], who(e)) for e in await room_log(page, 2)] == [
        ("conference.userJoined", "amy"), ("conference.userJoined", "ben"), ("conference.joined", None),
        ("conference.trackAdded", "amy"), ("conference.trackAdded", "ben")]


async def test_room_full_visitor_retry_and_refusal(room: FakeJitsiRoom, page: Any) -> None:
    """max_users: the app retries as a visitor (a new conference, role "visitor"), or the page says it is full."""
    await page.goto(room.url(full="visitor") + SKIP_PREJOIN)
    assert (await room.wait_event("bot_joined"))["visitor"] is True
    rooms = await page.evaluate(ROOMS)
    assert [(r["role"], r["joined"]) for r in rooms] == [("participant", False), ("visitor", True)]
    assert rooms[0]["me"] != rooms[1]["me"]  # a new connection
    assert await room_log(page, 0) == [["conference.failed", "conference.max_users", {"visitorsSupported": "true"}]]
    await room.add_participant("host", "Host", tone_hz=350)
    log = await room_log(page, 1)
    assert [(e[0], who(e)) for e in log] == [
        ("conference.joined", None), ("conference.userJoined", "host"), ("conference.trackAdded", "host")]
    assert log[-1][1]["p2p"] is False

    await page.goto(room.url("full-room", full="refuse") + SKIP_PREJOIN)
    failed = await wait_log(page, "conference.failed")
    assert failed == [["conference.failed", "conference.max_users", {"visitorsSupported": "false"}]]
    await page.get_by_text("Maximum participants limit reached").wait_for()
    deadline = time.monotonic() + 10
    while (state := await room.state())["conference"] != "full-room":
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)
    assert state["finished"] is True and state["joined"] is False
    assert await page.evaluate("window.__rooms.length") == 1


# ---------------------------------------------------------------------------- failures and recovery

# Keeps the text of any dialog the page shows, across its reload.
DIALOG_WATCH = """new MutationObserver(() => {
  const d = document.querySelector('#screen [role="dialog"]');
  if (d) sessionStorage.setItem("__dialog", d.textContent);
}).observe(document.body, {subtree: true, childList: true})"""


async def test_ice_failure_reinvite_then_reload(room: FakeJitsiRoom, page: Any) -> None:
    """Re-invite: new tracks, still joined, no failure; reload: iceFailed, left, and the page joins again."""
    await page.goto(room.url() + SKIP_PREJOIN)
    await room.wait_event("bot_joined")
    await room.add_participant("ivy", "Ivy", tone_hz=520)
    first = (await audio_log(page))[-1][1]["track"]
    await room.ice_failure()
    log = await audio_log(page)
    assert [e[0] for e in log[-2:]] == ["conference.trackRemoved", "conference.trackAdded"]
    assert log[-2][1]["track"] == first and log[-1][1]["track"] != first and log[-1][1]["p2p"] is False
    names = await log_names(page)
    assert "conference.failed" not in names and "conference.left" not in names
    assert await page.evaluate("APP.conference._room.isJoined()")
    assert abs((await page.evaluate(MEASURE, 700))["hz"] - 520) < 30

    await page.evaluate(DIALOG_WATCH)
    await room.ice_failure("reload")
    await room.wait_event("bot_joined")
    await wait_log(page, "conference.trackAdded", 2)
    names = [e[0] for e in await page.evaluate("window.__logAll()")]
    failed = names.index("conference.failed")
    assert names[failed:] == [
        "conference.failed", "conference.trackRemoved", "conference.trackRemoved", "conference.userLeft",
        "conference.left", "conference.userJoined", "conference.joined", "conference.trackAdded",
        "conference.trackAdded"]
    assert (await page.evaluate("window.__logAll()"))[failed][1] == "conference.iceFailed"
    assert "something went wrong" in await page.evaluate("sessionStorage.getItem('__dialog')")


async def test_focus_restart_reloads_the_page(room: FakeJitsiRoom, page: Any) -> None:
    """Jicofo leaves: focusLeft, the conference is left, the page reloads and rejoins with the roster."""
    await page.goto(room.url() + SKIP_PREJOIN)
    await room.wait_event("bot_joined")
    await room.add_participant("fox", "Fox", audio=False)
    await page.evaluate(DIALOG_WATCH)
    await room.focus_restart()
    await room.wait_event("bot_joined")
    log = await page.evaluate("window.__logAll()")
    assert [e[0] for e in log] == [
        "conference.joined", "conference.userJoined", "conference.failed", "conference.userLeft",
        "conference.left", "conference.userJoined", "conference.joined"]
    assert log[2][1:] == ["conference.focusLeft"]
    assert "Reconnecting in 1 sec" in await page.evaluate("sessionStorage.getItem('__dialog')")


# ---------------------------------------------------------------------------- remote senders


def sender_processes() -> list[psutil.Process]:
    """This process's sender browser (the root marked with SENDER_MARKER, its children) and its driver."""
    procs: list[psutil.Process] = []
    for p in psutil.Process().children(recursive=True):
        try:
            if SENDER_MARKER in p.cmdline():
                procs += [p, *p.children(recursive=True)]
                parent = p.parent()
                if parent is not None and parent.pid != psutil.Process().pid:
                    procs.append(parent)
        except psutil.Error:
            continue
    return procs


async def test_remote_senders_audio_ssrc_rewriting_and_cleanup(page: Any) -> None:
    """Remote senders: audio from another browser, slots move between owners, the browser goes on close."""
    # A page asking for remote senders from a room that has none: a clear error, not a hang.
    async with FakeJitsiRoom(connect_timeout=0.5) as plain:
        await page.goto(plain.url().replace("?", "?remote_senders=1&", 1) + SKIP_PREJOIN)
        await plain.wait_event("bot_joined")
        with pytest.raises(RuntimeError, match="no sender page connected"):
            await plain.add_participant("x", "X", tone_hz=440)

    async with FakeJitsiRoom(remote_senders=True) as room:
        senders = sender_processes()
        assert senders, "no sender browser process found"
        assert "remote_senders=1" in room.url()
        await page.goto(room.url() + SKIP_PREJOIN)
        await room.wait_event("bot_joined")
        await room.add_participant("a", "A", tone_hz=300)
        await room.add_participant("b", "B", tone_hz=500)
        await room.add_participant("c", "C", tone_hz=700, audio=False)
        # The bot's page holds only the receiving side; the 300 Hz tone comes from the sender browser.
        assert await page.evaluate("(() => { const s = window.__tracks[0]._slot; return [!!s.pcB, 'pcA' in s,"
                                   " 'dest' in s]; })()") == [True, False, False]
        measured = await page.evaluate(MEASURE.replace("window.__tracks.length - 1", "0"), 700)
        assert measured["peak"] > 0.01 and abs(measured["hz"] - 300) < 30, measured

        assert await room.forward_loudest(["a", "c"]) == [("b", "c")]
        log = await audio_log(page)
        assert [(e[0], e[1]["owner"]) for e in log[-2:]] == [("conference.trackRemoved", "b"),
                                                             ("conference.trackAdded", "c")]
        measured = await page.evaluate(MEASURE, 700)
        assert abs(measured["hz"] - 700) < 30, measured  # the slot now carries C, not B
        await room.silence_slot("c")
        assert not await packets_flowing(page, "c")
        await room.silence_slot("c", silent=False)
        assert await packets_flowing(page, "c")
        # A reloaded page starts over: the sender page drops the old page's sources and slots.
        await room.reload_page()
        await room.wait_event("bot_joined")
        await wait_log(page, "conference.trackAdded", 4)  # a and c: audio, video
        assert room.sender_browser is not None
        assert await room.sender_browser.page.evaluate("window.__senders()") == {"sources": 3, "slots": 2}
    _, alive = psutil.wait_procs(senders, timeout=10)
    assert alive == [], alive
    assert sender_processes() == []
