"""Smoke test of the fake Jitsi room double, driven by plain Playwright in real Chromium (not the bot)."""

from __future__ import annotations

import math
import shutil
import struct
import time
import wave
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bot.meeting.browser import LAUNCH_ARGS
from tests.conftest import TEST_BROWSER_ARGS
from tests.doubles.fake_room import FakeJitsiRoom

pytestmark = pytest.mark.e2e

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [*LAUNCH_ARGS, *TEST_BROWSER_ARGS]

# Installed before the page script runs: records every conference event the page fires, with a
# summary of its arguments, in window.__log (and tracks in window.__tracks).
RECORDER = """
window.__log = [];
window.__tracks = [];
document.addEventListener("DOMContentLoaded", () => {
  const conf = window.APP.conference._room;
  for (const name of Object.values(window.JitsiMeetJS.events.conference)) {
    conf.on(name, (...args) => {
      const a = args.map((x) => (x && typeof x.getParticipantId === "function")
        ? {track: x.getTrack().id, owner: x.getParticipantId(), p2p: x.isP2P, type: x.getType()}
        : (x && typeof x.getId === "function") ? {participant: x.getId()} : x);
      if (name === "conference.trackAdded" && args[0].getType() === "audio") window.__tracks.push(args[0]);
      window.__log.push([name, ...a]);
    });
  }
});
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
    await page.goto(room.url("smoke") + "#userInfo.displayName=%22Notetaker%22&config.p2p.enabled=false")
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
    await page.goto(room.url(prejoin=True, p2p=True) + "#config.prejoinConfig.enabled=false")
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
    assert await log_names(page) == [
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
    assert await page.evaluate(
        "APP.conference._room.getParticipantById('rec').getProperty('features_jigasi')"
    )
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
    await page.goto(room.url(password="s3cret"))
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
        + f"#config.useHostPageLocalStorage=true&appData.localStorageContent={override}"
    )
    await room.wait_event("bot_joined")
    assert "conference.failed" not in await log_names(page)
    assert (await room.state())["password_tries"] == []


async def test_lobby_deny_manual_admit_and_kick(room: FakeJitsiRoom, page: Any) -> None:
    """Auto-knock then rejection; a manual admit after a clicked knock; then the bot is kicked."""
    await page.goto(room.url(lobby="deny") + "#config.lobby.autoKnock=true")
    await room.wait_event("knocked")
    failed = await wait_log(page, "conference.failed", 2)
    assert [e[1] for e in failed] == [
        "conference.connectionError.membersOnly",
        "conference.connectionError.accessDenied",
    ]
    await page.get_by_text("Your request to join was rejected").wait_for()
    assert (await room.state())["joined"] is False

    await page.goto(room.url(lobby="manual"))
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
    """Waiting for the host until it arrives; the roster survives a reload; the meeting ends."""
    await page.goto(room.url(waiting_for_host=True))
    await page.locator('[aria-label="Log-in"]').wait_for()
    await room.add_participant("dan", "Dan", audio=False)
    await room.host_arrives()
    await room.wait_event("bot_joined")
    assert (await log_names(page))[-2:] == ["conference.userJoined", "conference.joined"]

    await room.reload_page()
    await room.wait_event("page_loaded")
    await page.locator('[aria-label="Log-in"]').wait_for()
    await room.host_arrives()
    await room.wait_event("bot_joined")
    assert await page.evaluate("APP.conference._room.getParticipants().map(p => p.getId())") == ["dan"]

    await room.end_conference()
    failed = await wait_log(page, "conference.failed", 2)
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
        await page.goto(room.url(audio_elements=False))
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
