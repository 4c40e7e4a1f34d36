"""Playing a scripted meeting through ``replay`` (its WAV files) and through ``join`` (the fake room)."""

from __future__ import annotations

import asyncio
import json
import wave
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from bot.backends.base import ConversationBackend
from bot.config import Settings
from bot.demo.room import FakeJitsiRoom
from bot.demo.speech import RATE, render, write_wav
from bot.replay import replay
from bot.session import MeetingSession
from tests.meetings.release import MEETING, NOISE_NAME, Presence, presences


@dataclass(frozen=True, slots=True)
class Prepared:
    """The meeting rendered: one WAV per person on one timeline, and one per stay in the room for ``join``."""

    full: list[Path]                  # replay input: <name>.wav, the room microphone included
    stays: list[tuple[Presence, str]]  # join input: each stay with its WAV's name in ``join_dir``
    join_dir: Path
    spans: list[tuple[str, float, float]]
    duration_s: float


def room_noise(seconds: float, seed: int = 7) -> np.ndarray:
    """Air-conditioning hum (100 Hz and harmonics) under fan noise: loud enough for webrtcvad to call it voice."""
    t = np.arange(int(seconds * RATE)) / RATE
    hum = sum(a * np.sin(2 * np.pi * f * t) for f, a in ((100, 0.2), (200, 0.1), (300, 0.05)))
    noise = np.random.default_rng(seed).normal(0, 0.08, len(t))
    noise = np.convolve(noise, np.ones(4) / 4, mode="same")  # a fan is not white: less top end
    return np.asarray(hum + noise, dtype=np.float32)


def _read(path: Path) -> np.ndarray:
    with wave.open(str(path), "rb") as w:
        return np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.float32) / 32768


def prepare(folder: Path) -> Prepared:
    """Render the meeting into ``folder`` (espeak-ng; a few seconds)."""
    full_dir, join_dir = folder / "full", folder / "join"
    join_dir.mkdir(parents=True, exist_ok=True)
    paths, spans = render(MEETING, full_dir)
    duration = max(len(_read(p)) for p in paths) / RATE
    paths.append(write_wav(full_dir / f"{NOISE_NAME}.wav", room_noise(duration)))
    tracks = {p.stem: _read(p) for p in paths}
    stays: list[tuple[Presence, str]] = []
    for k, stay in enumerate(presences(spans)):
        clip = tracks[stay.name][int(stay.joined_s * RATE): int(stay.left_s * RATE)]
        stays.append((stay, write_wav(join_dir / f"stay{k}.wav", clip).name))
    return Prepared(paths, stays, join_dir, spans, duration)


MEETING_START = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)  # MEETING.date, a Wednesday


async def run_replay(prepared: Prepared, backend: ConversationBackend, out: Path) -> dict[str, Any]:
    """``jitsi-bot replay`` of the rendered files; the report as a dict."""
    await replay(prepared.full, backend, out, title=MEETING.title, started_at=MEETING_START)
    return dict(json.loads((out / "report.json").read_text()))


@dataclass(frozen=True, slots=True)
class Joined:
    """What ``run_join`` saw."""

    report: dict[str, Any]
    after_empty_s: float  # from the last person leaving to the report written (the bot's empty_grace_s included)


async def run_join(prepared: Prepared, backend: ConversationBackend, out: Path, settings: Settings) -> Joined:
    """``jitsi-bot join`` of the fake room while the meeting is played into it: people come and go as scripted.

    Each stay is a new participant id (Jitsi gives a rejoining person a new one) with the person's name.
    """
    async with FakeJitsiRoom(media_dir=prepared.join_dir) as room:
        session = MeetingSession(settings, room.url(audio_elements=False), out, meeting_id="meeting",
                                 backend=backend)
        task = asyncio.create_task(session.run())
        try:
            async with asyncio.timeout(60):
                while session.state != "in_call":
                    if task.done():
                        task.result()
                    await asyncio.sleep(0.05)
            events: list[tuple[float, int, Callable[[], Awaitable[None]]]] = []
            for k, (stay, wav) in enumerate(prepared.stays):
                pid = f"p{k}"
                events.append((stay.joined_s, 1, _adder(room, pid, stay.name, wav)))
                events.append((stay.left_s, 0, _remover(room, pid)))
            loop = asyncio.get_running_loop()
            t0 = loop.time()
            for at, _, act in sorted(events, key=lambda e: (e[0], e[1])):
                await asyncio.sleep(max(0.0, t0 + at - loop.time()))
                await act()
            emptied = loop.time()
            await asyncio.wait_for(asyncio.shield(task), 900)  # a hang guard, not a speed limit
            after = loop.time() - emptied
        finally:
            if not task.done():
                task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    return Joined(dict(json.loads((out / "report.json").read_text())), after)


def _adder(room: FakeJitsiRoom, pid: str, name: str, wav: str) -> Callable[[], Awaitable[None]]:
    return lambda: room.add_participant(pid, name, wav=wav, loop=False)


def _remover(room: FakeJitsiRoom, pid: str) -> Callable[[], Awaitable[None]]:
    return lambda: room.remove_participant(pid)
