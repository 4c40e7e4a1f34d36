"""The fake room against the real client: the same scenarios, the same conference events, as the bot's page sees them.

The real jitsi-meet client's events are recorded from a page joined with the bot's own URL overrides
(tests/jitsi_stack/events.py) and kept in tests/jitsi_stack/recordings/. One test checks that the web app
still emits what was recorded (a new web-app version shows up as a diff; ``JITSI_RECORD=1`` rewrites
the recording); the other puts the fake room through the same scenarios and checks that it emits the same
events, in the same order, with the same arguments.
"""

from __future__ import annotations

import asyncio
import difflib
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import pytest
from playwright.async_api import Page, async_playwright

from bot.demo.room import FakeJitsiRoom
from bot.meeting.browser import LAUNCH_ARGS
from bot.meeting.jitsi import meeting_url
from tests.conftest import TEST_BROWSER_ARGS
from tests.jitsi_stack.events import RECORDER, RECORDINGS, load, normalise, without_dominant_speaker
from tests.jitsi_stack.human import JOINED, Human
from tests.jitsi_stack.stack import TESTED_VERSION, JitsiStack, prosody_plugins

RECORDING = "jitsi-meet-566b3ba2d.json"
BOT_NAME = "Minutes Bot"


def _diff(expected: list[dict[str, Any]], got: list[dict[str, Any]]) -> str:
    lines = [[json.dumps(e, sort_keys=True) for e in x] for x in (expected, got)]
    return "\n".join(difflib.unified_diff(*lines, "expected", "got", lineterm=""))


async def _events(page: Page) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = await page.evaluate("() => window.__conferenceEvents.slice()")
    return result


async def _until(page: Page, predicate: Callable[[list[dict[str, Any]]], bool], timeout_s: float = 45) -> None:
    async with asyncio.timeout(timeout_s):
        while not predicate(await _events(page)):
            await asyncio.sleep(0.2)


def _has(name: str) -> Callable[[list[dict[str, Any]]], bool]:
    return lambda log: any(e["event"] == name for e in log)


PASSWORD = "s3cret!"
SCENARIOS = ("leave", "kick", "password", "lobby_denied", "waiting_for_host")


class Side(Protocol):
    """One implementation of the meeting (the real client or the fake room) with Alice already in it."""

    async def room(self, scenario: str) -> str:
        """Set the room up for the scenario (Alice in it; locked; lobby on) and return its URL."""

    async def rename(self) -> None: ...
    async def leave(self) -> None: ...
    async def kick(self, my_id: str) -> None: ...
    async def deny(self) -> None: ...
    async def host_arrives(self) -> None: ...


async def _run(page: Page, side: Side, scenario: str) -> list[dict[str, Any]]:
    """Join as the bot does (its URL overrides, the recorder installed), drive the scenario, return the events."""
    url = await side.room(scenario)
    await page.add_init_script(RECORDER)
    await page.goto(meeting_url(url, BOT_NAME))
    if scenario == "lobby_denied":
        await _until(page, _has("conference.failed"))
        await side.deny()
        await _until(page, lambda log: sum(e["event"] == "conference.failed" for e in log) >= 2)
        await asyncio.sleep(1.0)
        return normalise(await _events(page))
    if scenario == "waiting_for_host":
        await _until(page, _has("conference.failed"))
        await asyncio.sleep(1.0)
        await side.host_arrives()
    if scenario == "password":
        await _until(page, _has("conference.failed"))
        await page.locator('input[name="lockKey"]').fill(PASSWORD)
        await page.locator('input[name="lockKey"]').press("Enter")
    async with asyncio.timeout(45):
        while not await page.evaluate(JOINED):
            await asyncio.sleep(0.2)
    await _until(page, lambda log: sum(e["event"] == "conference.trackAdded" for e in log) >= 2)
    if scenario == "leave":
        await side.rename()
        await _until(page, _has("conference.displayNameChanged"))
        await side.leave()
        await _until(page, _has("conference.userLeft"))
        await asyncio.sleep(1.0)
        await page.evaluate("() => APP.conference._room.leave()")
        await _until(page, _has("conference.left"))
    elif scenario == "kick":
        await side.kick(await page.evaluate("() => APP.conference.getMyUserId()"))
        await _until(page, _has("conference.kicked"))
        await asyncio.sleep(1.5)
    else:
        await asyncio.sleep(1.0)
    return normalise(await _events(page))


class RealSide:
    """The real web app: Alice is a second Chromium, the room's moderator (she was first).

    For ``waiting_for_host`` the deployment is one where guests wait for a logged-in host, and Alice is
    that host, arriving after the bot.
    """

    def __init__(self, stack: JitsiStack, humans: Callable[..., Human]) -> None:
        self._stack, self._humans = stack, humans
        self.alice: Human | None = None
        self._url = ""

    async def room(self, scenario: str) -> str:
        url = self._url = self._stack.url(f"events-{scenario.replace('_', '-')}")
        if scenario == "waiting_for_host":
            return url
        self.alice = self._humans("Alice", stack=self._stack)
        await self.alice.join(url, mic=True)
        if scenario == "password":
            await self.alice.lock(PASSWORD)
        elif scenario == "lobby_denied":
            await self.alice.enable_lobby()
        return url

    def _person(self) -> Human:
        assert self.alice is not None
        return self.alice

    async def rename(self) -> None:
        await self._person().rename("Alice Liddell")

    async def leave(self) -> None:
        await self._person().leave()

    async def kick(self, my_id: str) -> None:
        await self._person().kick(my_id)

    async def deny(self) -> None:
        async with asyncio.timeout(30):
            while not (knocking := await self._person().knocking()):
                await asyncio.sleep(0.2)
        await self._person().answer_knock(next(iter(knocking)), admit=False)

    async def host_arrives(self) -> None:
        self.alice = self._humans("Alice", stack=self._stack, login=("alice@meet.test", "any"))
        await self.alice.join(self._url, mic=True)


class FakeSide:
    """The fake room: Alice is one of its participants, there before the bot."""

    def __init__(self, room: FakeJitsiRoom) -> None:
        self._room = room
        self._added: asyncio.Task[None] | None = None

    async def room(self, scenario: str) -> str:
        # The page learns of Alice as it connects, before it joins (like people already in a real room).
        self._added = asyncio.create_task(self._room.add_participant("alice", "Alice", tone_hz=440))
        options: dict[str, Any] = {"p2p": True}  # two people: a P2P call, as on the real client
        if scenario == "password":
            options["password"] = PASSWORD
        elif scenario == "waiting_for_host":
            options["waiting_for_host"] = "lobby"
        elif scenario == "lobby_denied":
            options["lobby"] = "deny"  # the room's moderator rejects whoever knocks
        return self._room.url(**options)

    async def rename(self) -> None:
        await self._room.rename("alice", "Alice Liddell")

    async def leave(self) -> None:
        await self._room.remove_participant("alice")

    async def kick(self, my_id: str) -> None:
        await self._room.kick_bot()

    async def deny(self) -> None:
        pass  # lobby="deny" rejects on the knock

    async def host_arrives(self) -> None:
        await self._room.host_arrives()

    async def aclose(self) -> None:
        if self._added is not None:
            self._added.cancel()
            await asyncio.gather(self._added, return_exceptions=True)


@pytest.mark.jitsi
@pytest.mark.timeout(300)
async def test_real_client_emits_what_was_recorded(  # type: ignore[no-untyped-def]
    jitsi_stack: JitsiStack, humans, tmp_path: Path
) -> None:
    recorded: dict[str, Any] = {"web_app": TESTED_VERSION, "scenarios": {}}
    hosted = (JitsiStack(tmp_path / "hosted", jitsi_stack.webroot, profile="wait_for_host")
              if prosody_plugins() else None)
    try:
        for scenario in SCENARIOS:
            if scenario == "waiting_for_host":
                if hosted is None:
                    continue  # without jitsi's modules there is no such deployment: compared where there is
                hosted.start()
            side = RealSide(hosted if scenario == "waiting_for_host" and hosted else jitsi_stack, humans)
            observer: Human = humans(BOT_NAME, stack=hosted if scenario == "waiting_for_host" else None)
            recorded["scenarios"][scenario] = await _run(await observer.launch(), side, scenario)
            await observer.close()
            if side.alice is not None:
                await side.alice.close()
    finally:
        if hosted is not None:
            hosted.stop()
    if os.environ.get("JITSI_RECORD"):
        (RECORDINGS / RECORDING).write_text(json.dumps(recorded, indent=1) + "\n", encoding="utf-8")
    kept = load(RECORDING)
    for scenario, events in recorded["scenarios"].items():
        expected = without_dominant_speaker(kept["scenarios"][scenario])
        assert without_dominant_speaker(events) == expected, (
            f"the web app's {scenario!r} events differ from {RECORDING} (if the web app changed, record again "
            "with JITSI_RECORD=1 and fix the fake room):\n" + _diff(expected, without_dominant_speaker(events)))
        # P2P: the client's own detection names the speaker and nothing else (the bridge's adds more).
        for event in events:
            if event["event"] == "conference.dominantSpeaker":
                assert event["args"][1:] == [None, None] and event["args"][0].startswith("p"), event


@pytest.mark.e2e
@pytest.mark.timeout(120)
@pytest.mark.parametrize("scenario", SCENARIOS)
async def test_fake_room_emits_what_the_real_client_emits(scenario: str, tmp_path: Path) -> None:
    async with FakeJitsiRoom(media_dir=tmp_path) as room, async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path="/usr/bin/chromium",
                                           args=[*LAUNCH_ARGS, *TEST_BROWSER_ARGS])
        side = FakeSide(room)
        try:
            fake = await _run(await (await browser.new_context()).new_page(), side, scenario)
        finally:
            await side.aclose()
            await browser.close()
    real = without_dominant_speaker(load(RECORDING)["scenarios"][scenario])
    fake = without_dominant_speaker(fake)
    assert fake == real, "the fake room differs from the real client:\n" + _diff(real, fake)
