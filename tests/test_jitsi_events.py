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
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Page, async_playwright

from bot.meeting.browser import LAUNCH_ARGS
from bot.meeting.jitsi import meeting_url
from tests.conftest import TEST_BROWSER_ARGS
from tests.doubles.fake_room import FakeJitsiRoom
from tests.jitsi_stack.events import JOINED, RECORDER, RECORDINGS, load, normalise
from tests.jitsi_stack.human import Human
from tests.jitsi_stack.stack import TESTED_VERSION, JitsiStack

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


async def _observe(page: Page, url: str) -> None:
    """Join as the bot does (its URL overrides), with the event recorder installed."""
    await page.add_init_script(RECORDER)
    await page.goto(meeting_url(url, BOT_NAME))
    async with asyncio.timeout(45):
        while not await page.evaluate(JOINED):
            await asyncio.sleep(0.2)


async def _scenario(page: Page, name: str, person: dict[str, Callable[[], Awaitable[None]]]) -> None:
    """Drive one scenario once the observer is in the call with the person's audio track."""
    await _until(page, _has("conference.trackAdded"))
    if name == "leave":
        await person["rename"]()
        await _until(page, _has("conference.displayNameChanged"))
        await person["leave"]()
        await _until(page, _has("conference.userLeft"))
        await asyncio.sleep(1.0)
        await page.evaluate("() => APP.conference._room.leave()")
        await _until(page, _has("conference.left"))
    elif name == "kick":
        await person["kick"]()
        await _until(page, _has("conference.kicked"))
        await asyncio.sleep(1.5)


SCENARIOS = ("leave", "kick")


@pytest.mark.jitsi
@pytest.mark.timeout(240)
async def test_real_client_emits_what_was_recorded(jitsi_stack: JitsiStack, humans) -> None:  # type: ignore[no-untyped-def]
    recorded: dict[str, Any] = {"web_app": TESTED_VERSION, "scenarios": {}}
    for scenario in SCENARIOS:
        room = jitsi_stack.url(f"events-{scenario}")
        alice: Human = humans("Alice")
        await alice.join(room, mic=True)
        observer: Human = humans(BOT_NAME)
        page = await observer.launch()
        await _observe(page, room)
        my_id = await page.evaluate("() => APP.conference.getMyUserId()")

        async def kick(alice: Human = alice, my_id: str = my_id) -> None:
            await alice.kick(my_id)

        async def rename(alice: Human = alice) -> None:
            await alice.rename("Alice Liddell")

        await _scenario(page, scenario, {"rename": rename, "leave": alice.leave, "kick": kick})
        recorded["scenarios"][scenario] = normalise(await _events(page))
        await observer.close()
        await alice.close()
    if os.environ.get("JITSI_RECORD"):
        (RECORDINGS / RECORDING).write_text(json.dumps(recorded, indent=1) + "\n", encoding="utf-8")
    kept = load(RECORDING)
    for scenario in SCENARIOS:
        assert recorded["scenarios"][scenario] == kept["scenarios"][scenario], (
            f"the web app's {scenario!r} events differ from {RECORDING} (if the web app changed, record again "
            "with JITSI_RECORD=1 and fix the fake room):\n"
            + _diff(kept["scenarios"][scenario], recorded["scenarios"][scenario]))


@pytest.mark.e2e
@pytest.mark.timeout(120)
@pytest.mark.parametrize("scenario", SCENARIOS)
async def test_fake_room_emits_what_the_real_client_emits(scenario: str, tmp_path: Path) -> None:
    async with FakeJitsiRoom(media_dir=tmp_path) as room, async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path="/usr/bin/chromium",
                                           args=[*LAUNCH_ARGS, *TEST_BROWSER_ARGS])
        try:
            page = await (await browser.new_context()).new_page()
            # Alice is in the room before the bot: the page learns of her as it connects, before joining.
            alice = asyncio.create_task(room.add_participant("alice", "Alice", tone_hz=440))
            await _observe(page, room.url(p2p=True))  # two people: a P2P call, as on the real client
            await alice

            async def rename() -> None:
                await room.rename("alice", "Alice Liddell")

            async def leave() -> None:
                await room.remove_participant("alice")

            async def kick() -> None:
                await room.kick_bot()

            await _scenario(page, scenario, {"rename": rename, "leave": leave, "kick": kick})
            fake = normalise(await _events(page))
        finally:
            await browser.close()
    real = load(RECORDING)["scenarios"][scenario]
    assert fake == real, "the fake room differs from the real client:\n" + _diff(real, fake)
