"""The live path: a spoken meeting in the fake room, transcribed while it runs, reported at the end."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import pytest

from bot.backends.local.models import AsrChoice
from bot.backends.local.stt import LocalBackend
from bot.demo.meeting import MEETING
from bot.demo.room import FakeJitsiRoom
from bot.demo.speech import render, wer, words
from bot.outcome import EndReason
from bot.session import MeetingSession
from tests.conftest import bot_settings

pytestmark = [pytest.mark.e2e, pytest.mark.asr]


async def test_join_transcribes_live_and_writes_the_report(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    media = tmp_path / "media"
    paths, spans = render(MEETING, media)
    cache = Path(os.environ.get("BOT_ASR__CACHE_DIR", tmp_path_factory.getbasetemp() / "asr-cache"))
    backend = LocalBackend(AsrChoice(cache_dir=cache, allow_download=False))
    out = tmp_path / "out"
    async with FakeJitsiRoom(media_dir=media) as room:
        session = MeetingSession(bot_settings(empty_grace_s=2), room.url(audio_elements=False), out,
                                 meeting_id="live-test", backend=backend)
        task = asyncio.create_task(session.run())
        async with asyncio.timeout(30):
            while session.state != "in_call":
                await asyncio.sleep(0.05)
        ids = {"Alice": "al01", "Bob": "bo02", "Priya": "pr03"}
        # Each file is that person's side of the meeting on one timeline: start them together.
        await asyncio.gather(*(room.add_participant(ids[p.stem], p.stem, wav=p.name, loop=False) for p in paths))
        await asyncio.sleep(spans[-1][2] + 1.5)
        for pid in ids.values():
            await room.remove_participant(pid)
        result = await asyncio.wait_for(task, 120)
    assert result.reason is EndReason.ROOM_EMPTY
    report = json.loads((out / "report.json").read_text())
    assert report["backend"] == "local" and "faster-whisper" in report["recognizer"]
    reference = [w for line in MEETING.lines for w in words(line.text)]
    hypothesis = [w for seg in report["transcript"] for w in words(seg["text"])]
    assert wer(reference, hypothesis) <= 0.2  # through WebRTC/Opus and live VAD, not the files
    assert {seg["name"] for seg in report["transcript"]} == set(ids)
    for seg in report["transcript"]:  # each utterance is attributed to whoever said the closest line
        closest = min(MEETING.lines, key=lambda line: wer(words(line.text), words(seg["text"])))
        assert seg["name"] == closest.speaker, seg
    owners = {(a["owner"] or "") for a in report["action_items"]}
    assert {"Alice", "Priya", "Bob"} <= owners
    assert report["follow_ups"] and report["questions"]
    assert (out / "transcript.vtt").read_text().startswith("WEBVTT")
    assert "<v Alice>" in (out / "transcript.vtt").read_text()
