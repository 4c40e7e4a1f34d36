"""Shared fixtures: the fake Jitsi room, a bot session runner, and audio helpers."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from playwright.async_api import async_playwright

from bot.audio import read_wav
from bot.demo.room import DEMO_BROWSER_ARGS, FakeJitsiRoom, demo_settings
from bot.outcome import SessionResult
from bot.session import MeetingSession
from tests.jitsi_stack.botproc import BotProcess, start_bot
from tests.jitsi_stack.human import Human
from tests.jitsi_stack.stack import JitsiStack, unavailable_reason, unpack_web

# In-page RTCPeerConnection pairs (the fake room's remote participants) need loopback ICE.
TEST_BROWSER_ARGS = DEMO_BROWSER_ARGS


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if shutil.which("chromium") or Path("/usr/bin/chromium").exists():
        return
    skip = pytest.mark.skip(reason="needs Debian's chromium (scripts/setup installs it)")
    for item in items:
        if "e2e" in item.keywords:
            item.add_marker(skip)


def active_windows(x: np.ndarray, threshold: float = 0.05, win: int = 160) -> np.ndarray:
    """Per 10 ms window: whether its RMS exceeds ``threshold``."""
    n = len(x) // win
    frames = x[: n * win].reshape(n, win)
    return np.sqrt((frames**2).mean(axis=1)) > threshold


def dominant_hz(x: np.ndarray) -> float:
    """Frequency of the strongest FFT bin over the active part of ``x``."""
    act = np.repeat(active_windows(x), 160)
    seg = x[: len(act)][act]
    spectrum = np.abs(np.fft.rfft(seg * np.hanning(len(seg))))
    return float(np.argmax(spectrum) * 16000 / len(seg))


async def until(predicate: Callable[[], object], timeout: float = 30, every: float = 0.1) -> None:
    """Poll ``predicate`` until it holds; TimeoutError after ``timeout`` s (a hang guard, not a speed limit)."""
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(every)


def wav_mono(path: Path) -> np.ndarray:
    """A WAV's samples as float32 mono."""
    return read_wav(path).mono()


@pytest.fixture
def media_dir(tmp_path: Path) -> Path:
    d = tmp_path / "media"
    d.mkdir()
    return d


@pytest.fixture
async def room(media_dir: Path) -> AsyncIterator[FakeJitsiRoom]:
    async with FakeJitsiRoom(media_dir=media_dir) as r:
        yield r


bot_settings = demo_settings


RunBot = Callable[..., Awaitable[tuple[MeetingSession, "asyncio.Task[SessionResult]"]]]


@pytest.fixture
async def run_bot(tmp_path: Path) -> AsyncIterator[RunBot]:
    """Start a MeetingSession in this process; returns (session, task). Tasks are cancelled at the end."""
    tasks: list[asyncio.Task[SessionResult]] = []

    async def start(url: str, *, out: Path | None = None, extra_args: list[str] | None = None,
                    sections: dict[str, Any] | None = None,
                    **meeting: Any) -> tuple[MeetingSession, asyncio.Task[SessionResult]]:
        settings = bot_settings(sections, **meeting)
        if extra_args:
            settings.browser.extra_args.extend(extra_args)
        session = MeetingSession(settings, url, out or tmp_path / "out", meeting_id="test")
        task = asyncio.create_task(session.run(), name="test.session")
        tasks.append(task)
        return session, task

    yield start
    for t in tasks:
        if not t.done():
            t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


# ---- the real jitsi-meet web app (tests/jitsi_stack): marker "jitsi" ----


@pytest.fixture(scope="session")
def jitsi_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JitsiStack]:
    """The real web app with Prosody and the focus stand-in, in its own network namespace (one per session)."""
    reason = unavailable_reason()
    if reason:
        pytest.skip(reason)
    stack = JitsiStack(tmp_path_factory.mktemp("jitsi-stack"), unpack_web(tmp_path_factory.mktemp("jitsi-web")))
    stack.start()
    yield stack
    stack.stop()


@pytest.fixture
async def humans(jitsi_stack: JitsiStack) -> AsyncIterator[Callable[..., Human]]:
    """Makes "human" participants (a Chromium each, in the stack's namespace); all closed at the end."""
    made: list[Human] = []
    async with async_playwright() as pw:
        def make(name: str, *, wav: Path | None = None, stack: JitsiStack | None = None,
                 login: tuple[str, str] | None = None, extra_args: list[str] | None = None) -> Human:
            human = Human(pw, (stack or jitsi_stack).chromium_wrapper, name, wav=wav, login=login,
                          extra_args=extra_args)
            made.append(human)
            return human

        yield make
        for human in made:
            await human.close()


@pytest.fixture
async def bots() -> AsyncIterator[Callable[..., Awaitable[BotProcess]]]:
    """Starts ``jitsi-bot join`` processes in a stack's namespace (``start_bot``); any still running at the
    end of the test are killed."""
    started: list[BotProcess] = []

    async def start(*args: Any, **kwargs: Any) -> BotProcess:
        bot = await start_bot(*args, **kwargs)
        started.append(bot)
        return bot

    yield start
    for bot in started:
        bot.kill()
        await bot.proc.wait()
