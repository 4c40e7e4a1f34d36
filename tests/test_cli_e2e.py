"""`jitsi-bot join` as a user runs it: a real process, real Chromium, the fake room's real WebRTC audio."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from bot.audio import read_wav
from bot.demo.room import FakeJitsiRoom
from bot.demo.speech import tone_wav
from bot.status import BotFiles
from tests.conftest import TEST_BROWSER_ARGS, active_windows, dominant_hz, until, wav_mono

pytestmark = pytest.mark.e2e

SPEAKERS = {"alice01": ("Alice", 330.0), "bob02": ("Bob", 550.0), "carol03": ("Carol", 770.0)}
TONE_S = 6.0


async def _start_bot(url: str, out: Path, **env_extra: str) -> asyncio.subprocess.Process:
    env = {
        **os.environ,
        "BOT_MEETING__EMPTY_GRACE_S": "2",
        "BOT_BROWSER__EXTRA_ARGS": json.dumps(TEST_BROWSER_ARGS),
        "BOT_LOG__FORMAT": "json",
        **env_extra,
    }
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "join", url, "--out", str(out), "--name", "Notetaker",
        env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, start_new_session=True,
    )


StartBot = Callable[..., Awaitable[asyncio.subprocess.Process]]


@pytest.fixture
async def start_bot() -> AsyncIterator[StartBot]:
    """Starts ``jitsi-bot join`` processes; one still running when the test ends (it failed) is stopped as a
    user would (SIGTERM, then SIGKILL after 30 s), with whatever it started, not left in the room."""
    started: list[asyncio.subprocess.Process] = []

    async def start(url: str, out: Path, **env_extra: str) -> asyncio.subprocess.Process:
        started.append(proc := await _start_bot(url, out, **env_extra))
        return proc

    yield start
    for proc in started:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.communicate(), 30)
            except TimeoutError:
                proc.kill()
                await proc.wait()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # its browser and driver, should the bot have died first


async def test_join_records_each_participant_and_leaves_when_the_room_empties(
    room: FakeJitsiRoom, media_dir: Path, tmp_path: Path, start_bot: StartBot
) -> None:
    for pid, (_, hz) in SPEAKERS.items():
        tone_wav(media_dir / f"{pid}.wav", hz, TONE_S)
    out = tmp_path / "meeting"
    # audio_elements=False: the page renders no <audio> of its own, so only the bot's muted element
    # makes Chromium deliver the samples to Web Audio.
    bot = await start_bot(room.url(audio_elements=False), out)
    await room.wait_event("bot_joined", timeout=30)
    await asyncio.gather(*(room.add_participant(pid, name, wav=f"{pid}.wav", loop=False)
                           for pid, (name, _) in SPEAKERS.items()))
    files_ = BotFiles(out)
    # What jitsi-bot serve reads: the bot's own status, live (a hang guard, not a speed limit)
    # Both at once: the roster can count the speakers before the session has written in_call (a busy machine).
    await until(lambda: ((st := files_.status() or {}).get("participants"), st.get("state")) == (3, "in_call"),
                timeout=TONE_S)
    live = files_.status()
    assert live is not None and live["state"] == "in_call" and live["pid"] == bot.pid
    assert live["exit_code"] is None and live["end_reason"] is None
    await asyncio.sleep(TONE_S + 1.5)
    for pid in SPEAKERS:
        await room.remove_participant(pid)
    stdout, stderr = await asyncio.wait_for(bot.communicate(), 300)  # a hang guard (a busy machine is slow)
    assert bot.returncode == 0, stderr.decode()[-3000:]
    assert "artifacts in" in stdout.decode()

    files = {p.name: p for p in (out / "audio").glob("*.wav")}
    assert sorted(files) == ["Alice-alice01.wav", "Bob-bob02.wav", "Carol-carol03.wav"]
    source_active = int(active_windows(wav_mono(media_dir / "alice01.wav")).sum())
    manifest = json.loads((out / "audio" / "participants.json").read_text())
    lost_ms = {p["participant_id"]: p["lost_ms"] for p in manifest["participants"]}
    for pid, (name, hz) in SPEAKERS.items():
        audio = wav_mono(files[f"{name}-{pid}.wav"])
        assert abs(dominant_hz(audio) - hz) < 10, name
        captured_active = int(active_windows(audio).sum())
        # Every 10 ms window of the tone arrived or is accounted for as lost (a starved audio thread on a busy
        # machine skips audio, and says so); none arrived twice: Opus blurs the tone's two edges by a few
        # windows (607 of 600 seen on a busy machine), a duplicated stretch would add hundreds.
        accounted = captured_active + lost_ms[pid] / 10
        assert 0.995 * source_active <= accounted and captured_active <= 1.02 * source_active, \
            (name, captured_active, lost_ms[pid])

    meeting = json.loads((out / "meeting.json").read_text())
    assert meeting["end_reason"] == "room_empty" and meeting["exit_code"] == 0
    final = files_.status()
    assert final is not None and (final["state"], final["participants"]) == ("done", 0)
    assert (final["end_reason"], final["exit_code"]) == ("room_empty", 0)
    assert meeting["capture"]["gaps"] == 0
    capture = meeting["capture"]
    assert capture["samples"] + capture["lost_ms"] * 16 >= 0.995 * capture["expected_samples"]
    assert meeting["worklet"] is True
    assert {p["name"] for p in meeting["participants"]} == {"Alice", "Bob", "Carol"}
    manifest = json.loads((out / "audio" / "participants.json").read_text())
    assert {p["participant_id"] for p in manifest["participants"]} == set(SPEAKERS)
    logs = stderr.decode()
    assert "Alice" not in logs and "token=" not in logs  # no names or bridge secret in logs


async def test_sigterm_mid_call_finalizes_valid_wavs(room: FakeJitsiRoom, tmp_path: Path, start_bot: StartBot) -> None:
    out = tmp_path / "meeting"
    bot = await start_bot(room.url(), out)
    await room.wait_event("bot_joined", timeout=30)
    await room.add_participant("dan04", "Dan", tone_hz=440)
    await asyncio.sleep(3)
    bot.send_signal(signal.SIGTERM)
    _, stderr = await asyncio.wait_for(bot.communicate(), 90)  # within the grace (20 s) and its backstop
    assert bot.returncode == 0, stderr.decode()[-3000:]
    wav = read_wav(out / "audio" / "Dan-dan04.wav")
    assert not wav.truncated
    assert len(wav.samples) > 2 * 16000
    assert abs(dominant_hz(wav.mono()) - 440) < 10
    meeting = json.loads((out / "meeting.json").read_text())
    assert meeting["end_reason"] == "stopped"
    await room.wait_event("bot_left", timeout=5)  # it left the conference politely


async def test_bad_url_and_bad_config_exit_2(tmp_path: Path) -> None:
    for args, env in ((["join", "not-a-url"], {}), (["join", "https://meet.example/Room"],
                                                   {"BOT_MEETING__EMPTY_GRACE_S": "soon"})):
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", *args, "--out", str(tmp_path / "o"),
            env={**os.environ, **env}, stderr=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        )
        _, err = await proc.communicate()
        assert proc.returncode == 2
        text = err.decode()
        assert "Traceback" not in text
        assert ("http(s)" in text) if not env else ("BOT_MEETING__EMPTY_GRACE_S" in text)




async def test_smtp_down_at_the_end_exits_4_and_keeps_the_email(
    room: FakeJitsiRoom, tmp_path: Path, unused_tcp_port: int, start_bot: StartBot
) -> None:
    out = tmp_path / "meeting"
    bot = await start_bot(room.url(), out, BOT_SMTP__HOST="127.0.0.1", BOT_SMTP__PORT=str(unused_tcp_port),
                           BOT_SMTP__SECURITY="none", BOT_EMAIL__TO='["team@example.org"]')
    await room.wait_event("bot_joined", timeout=30)
    await room.add_participant("ed05", "Ed", tone_hz=500)
    await asyncio.sleep(2)
    await room.remove_participant("ed05")
    _, stderr = await asyncio.wait_for(bot.communicate(), 300)
    assert bot.returncode == 4, stderr.decode()[-2000:]
    assert "jitsi-bot deliver" in stderr.decode()
    items = [p for p in (out / "outbox").iterdir() if p.is_dir()]
    assert len(items) == 1 and (items[0] / "message.eml").is_file()
    meta = json.loads((items[0] / "meta.json").read_text())
    assert meta["attempts"] == 1 and "SMTP" in meta["last_error"]
    assert (out / "report.json").is_file() and (out / "summary.html").is_file()
