"""``jitsi-bot serve`` as a user runs it: a subprocess with the local launcher, each bot a real ``jitsi-bot join``
(real Chromium) in the fake room, driven through the REST API, the events stream and a status webhook.

The bots' statuses come from their status.json (bot.status); a join that does not write it fails here with a
message saying so.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from playwright.async_api import async_playwright, expect

from bot.delivery.webhook import verify
from bot.demo.room import DEMO_BROWSER_ARGS, FakeJitsiRoom
from bot.demo.speech import speak, tone_wav, write_wav
from tests.conftest import until
from tests.doubles.hooks import HookReceiver, hook_receiver
from tests.processes import stop_session
from tests.sse import read_events

pytestmark = pytest.mark.e2e

TOKEN = "e2e-" + "x" * 28
AUTH = {"Authorization": f"Bearer {TOKEN}"}
WEBHOOK_SECRET = "whsec_" + base64.b64encode(b"s" * 32).decode()
NO_STATUS_FILE = ("the bot joined but the API never said in_call: does `jitsi-bot join` write status.json "
                  "(bot.status.StatusWriter, called from bot/session.py)?")


@dataclass
class ServeProcess:
    """A ``jitsi-bot serve`` subprocess; ``restart()`` stops it (SIGTERM) and starts it on the same data."""

    data_dir: Path
    env: dict[str, str]
    proc: subprocess.Popen[bytes] | None = None
    base: str = ""
    exit_codes: list[int] = field(default_factory=list)

    def start(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log = (self.data_dir.parent / "serve.log").open("ab")
        self.proc = subprocess.Popen([sys.executable, "-m", "bot", "serve", "--host", "127.0.0.1", "--port", "0"],
                                     env=self.env, stdout=subprocess.PIPE, stderr=log, start_new_session=True)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().decode()  # "serving on http://127.0.0.1:PORT", or EOF if it failed
        assert line.startswith("serving on "), (line, self.log()[-3000:])
        self.base = line.split()[-1]

    def stop(self) -> int:
        assert self.proc is not None
        stop_session(self.proc, 90)
        code = self.proc.wait()
        self.exit_codes.append(code)
        return code

    def restart(self) -> None:
        self.stop()
        self.start()

    def log(self) -> str:
        path = self.data_dir.parent / "serve.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def url(self, path: str) -> str:
        return self.base + path


def _serve_env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BOT_")}
    env.update({
        "BOT_SERVE__API_TOKEN": TOKEN,
        "BOT_SERVE__DATA_DIR": str(data_dir),
        "BOT_SERVE__ALLOWED_HOSTS": '["127.0.0.1"]',
        "BOT_SERVE__MAX_CONCURRENT": "2",
        "BOT_SERVE__STOP_GRACE_S": "60",
        "BOT_WEBHOOK__SECRET": WEBHOOK_SECRET,
        "BOT_MEETING__EMPTY_GRACE_S": "2",
        "BOT_BROWSER__EXTRA_ARGS": json.dumps(DEMO_BROWSER_ARGS),
        "BOT_ASR__FINAL_PASS_BUDGET_S": "0",
        "BOT_LOG__FORMAT": "json",
        **extra,
    })
    return env


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    """One serve for the module's tests (CI budget): bots wait a minute for someone to join."""
    root = tmp_path_factory.mktemp("serve")
    s = ServeProcess(root / "data", _serve_env(root / "data", BOT_MEETING__NO_ONE_JOINED_S="60"))
    s.start()
    yield s
    if s.proc is not None and s.proc.poll() is None:
        s.stop()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None, sock_read=None)) as session:
        yield session


@pytest.fixture
async def hooks() -> AsyncIterator[HookReceiver]:
    """A status-webhook receiver on loopback."""
    async with hook_receiver() as receiver:
        yield receiver


async def _post(http: aiohttp.ClientSession, server: ServeProcess, body: dict[str, Any],
                status: int = 201) -> dict[str, Any]:
    async with http.post(server.url("/api/v1/bots"), json=body, headers=AUTH) as resp:
        data: dict[str, Any] = await resp.json()
        assert resp.status == status, data
        return data


async def _get(http: aiohttp.ClientSession, server: ServeProcess, bot_id: str) -> dict[str, Any]:
    async with http.get(server.url(f"/api/v1/bots/{bot_id}"), headers=AUTH) as resp:
        assert resp.status == 200
        data: dict[str, Any] = await resp.json()
        return data


async def _until_status(http: aiohttp.ClientSession, server: ServeProcess, bot_id: str, statuses: set[str],
                        timeout: float, why: str = "") -> dict[str, Any]:  # noqa: ASYNC109
    bot: dict[str, Any] = {}
    try:
        async with asyncio.timeout(timeout):
            while (bot := await _get(http, server, bot_id))["status"] not in statuses:
                await asyncio.sleep(0.3)
    except TimeoutError:
        pytest.fail(f"{why or 'status'}: still {bot.get('status')} (wanted {statuses}); {bot}")
    return bot


async def _events(http: aiohttp.ClientSession, url: str) -> list[tuple[str, Any]]:
    """Read a Server-Sent Events stream to its end."""
    async with http.get(url, headers=AUTH) as resp:
        assert resp.status == 200 and resp.headers["Content-Type"].startswith("text/event-stream")
        return await read_events(resp)


async def _artifact(http: aiohttp.ClientSession, server: ServeProcess, bot_id: str, name: str) -> str:
    async with http.get(server.url(f"/api/v1/bots/{bot_id}/{name}"), headers=AUTH) as resp:
        assert resp.status == 200, (name, await resp.text())
        return await resp.text()


@pytest.mark.asr
async def test_a_bot_goes_from_queued_to_done_with_live_transcript_and_files(
    server: ServeProcess, http: aiohttp.ClientSession, hooks: HookReceiver,
    tmp_path: Path,
) -> None:
    hook_url, received = hooks.url, hooks.received
    media = tmp_path / "media"
    media.mkdir()
    lines = {"alice": ("Alice", "en-us", "Good morning everyone. Let us review the budget for the new office."),
             "bob": ("Bob", "en-gb", "Thanks Alice. I will send the final numbers to the team by Friday.")}
    for pid, (_, voice, text) in lines.items():
        write_wav(media / f"{pid}.wav", speak(text, voice))
    async with FakeJitsiRoom(media_dir=media) as room:
        created = await _post(http, server, {"meeting_url": room.url("alpha") + "&jwt=SECRET-JWT",
                                             "bot_name": "Notetaker", "webhook": hook_url})
        bot_id = created["id"]
        assert created["status"] == "queued"
        assert "SECRET" not in json.dumps(created) and "?" not in created["meeting_url"]
        stream = asyncio.create_task(_events(http, created["links"]["events"]))
        try:
            await room.wait_event("bot_joined", timeout=90)
            await _until_status(http, server, bot_id, {"in_call"}, 30, NO_STATUS_FILE)
            await room.add_participant("alice", "Alice", wav="alice.wav", loop=False)
            await asyncio.sleep(6)
            await room.add_participant("bob", "Bob", wav="bob.wav", loop=False)
            await asyncio.sleep(7)
            for pid in lines:
                await room.remove_participant(pid)
            events = await asyncio.wait_for(stream, 300)  # a hang guard: it ends after the final status
        finally:
            stream.cancel()
    statuses = [data["status"] for kind, data in events if kind == "status"]
    assert statuses[-1] == "done" and "in_call" in statuses and "finalizing" in statuses, statuses
    assert events[-1][0] == "end"
    segments = [data for kind, data in events if kind == "segment"]
    assert segments and {s["name"] for s in segments} <= {"Alice", "Bob"}, segments
    assert all(s["text"] and s["end_s"] >= s["start_s"] for s in segments)

    bot = await _get(http, server, bot_id)
    assert (bot["status"], bot["exit_code"], bot["end_reason"]) == ("done", 0, "room_empty")
    assert datetime.fromisoformat(bot["created_at"]) <= datetime.fromisoformat(bot["started_at"]) \
        <= datetime.fromisoformat(bot["ended_at"])
    report = json.loads(await _artifact(http, server, bot_id, "report.json"))
    assert report["transcript"]
    assert "Alice" in await _artifact(http, server, bot_id, "summary.html")
    assert await _artifact(http, server, bot_id, "transcript.txt")
    assert (await _artifact(http, server, bot_id, "transcript.vtt")).startswith("WEBVTT")

    # the status webhook: signed, every status in order, the report at the end
    await until(lambda: any(b'"bot.done"' in body for _, body in received), timeout=30)
    assert all(verify(WEBHOOK_SECRET, headers, body) for headers, body in received)
    payloads = [json.loads(body) for _, body in received]
    hook_statuses = [p["data"]["status"] for p in payloads]
    assert hook_statuses[0] == "queued" and hook_statuses[1] == "starting" and "in_call" in hook_statuses
    assert payloads[-1]["type"] == "bot.done" and payloads[-1]["data"]["report"]["transcript"]
    assert not (Path(server.data_dir) / "bots" / bot_id / "outbox").exists()  # the bot itself posted nothing
    assert "SECRET-JWT" not in server.log()


async def test_delete_makes_a_bot_leave_gracefully(server: ServeProcess, http: aiohttp.ClientSession,
                                                   tmp_path: Path) -> None:
    media = tmp_path / "media"
    media.mkdir()
    tone_wav(media / "tone.wav", 440, 30)
    async with FakeJitsiRoom(media_dir=media) as room:
        bot_id = (await _post(http, server, {"meeting_url": room.url("beta")}))["id"]
        await room.wait_event("bot_joined", timeout=90)
        await room.add_participant("dan", "Dan", tone_hz=440)  # someone stays: only DELETE ends it
        await _until_status(http, server, bot_id, {"in_call"}, 30, NO_STATUS_FILE)
        async with http.delete(server.url(f"/api/v1/bots/{bot_id}"), headers=AUTH) as resp:
            assert resp.status == 202
        bot = await _until_status(http, server, bot_id, {"stopped", "failed", "done"}, 120)
        await room.wait_event("bot_left", timeout=10)  # it left the conference politely
    assert (bot["status"], bot["exit_code"], bot["end_reason"]) == ("stopped", 0, "stopped"), bot
    assert json.loads(await _artifact(http, server, bot_id, "report.json"))
    async with http.delete(server.url(f"/api/v1/bots/{bot_id}"), headers=AUTH) as resp:
        assert resp.status == 409


async def test_auth_and_bad_urls_are_refused(server: ServeProcess, http: aiohttp.ClientSession) -> None:
    for headers in ({}, {"Authorization": "Bearer " + "y" * 32}):
        async with http.get(server.url("/api/v1/bots"), headers=headers) as resp:
            assert resp.status == 401
    async with http.post(server.url("/api/v1/bots"), json={"meeting_url": "https://meet.example.org/R"}) as resp:
        assert resp.status == 401
    for bad in ("not a url", "file:///etc/passwd", "http://localhost:9/room", "http://[::1]:9/room",
                "http://10.0.0.1/room"):
        data = await _post(http, server, {"meeting_url": bad}, 422)
        assert data["field"] == "meeting_url", data
    async with http.get(server.url("/metrics")) as resp:
        text = await resp.text()
    assert "jitsi_bot_serve_launch_failures_total 0" in text and TOKEN not in text


HOSTILE = '<img src=x onerror="window.pwned=1">Eve'
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"


@pytest.mark.asr
async def test_the_web_page_invites_shows_the_live_transcript_and_opens_the_summary(
    server: ServeProcess, tmp_path: Path
) -> None:
    media = tmp_path / "media"
    media.mkdir()
    write_wav(media / "eve.wav", speak("Good afternoon. The budget review is finished and the report is ready.",
                                       "en-us"))
    async with FakeJitsiRoom(media_dir=media) as room, async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path="/usr/bin/chromium",
                                           args=["--no-sandbox", "--disable-gpu"])
        try:
            page = await browser.new_page(viewport={"width": 1100, "height": 900})
            await page.goto(server.url("/"))
            # The token is asked for once: a wrong one is refused and forgotten, the right one kept
            await page.fill("#token", "z" * 32)
            await page.click("#token-form button")
            await expect(page.locator("#token-error")).to_have_text("The token was refused.")
            await page.fill("#token", TOKEN)
            await page.click("#token-form button")
            await expect(page.locator("#app")).to_be_visible()
            await page.reload()
            await expect(page.locator("#app")).to_be_visible()  # kept in this browser
            assert TOKEN not in await page.content()

            await page.fill("#meeting_url", room.url("gamma"))
            await page.fill("#email", "not-an-address")
            await page.click("#invite-button")
            await expect(page.locator("#invite-error")).to_contain_text("email")  # the field is named
            await page.fill("#email", "")
            await page.click("#invite-button")
            await expect(page.locator("#watch-status")).to_have_text("in_call", timeout=90_000)
            await room.add_participant("eve", HOSTILE, wav="eve.wav", loop=False)
            await expect(page.locator("#live li").first).to_be_visible(timeout=60_000)
            await room.remove_participant("eve")
            await expect(page.locator("#watch-status")).to_have_text("done", timeout=120_000)

            row = page.locator("#bots tbody tr", has_text="gamma")
            await expect(row.locator(".status")).to_have_text("done")
            await row.get_by_role("button", name="Summary").click()
            summary = page.frame_locator("#summary-frame")
            await expect(summary.locator("h1")).to_have_text("gamma", timeout=10_000)  # the meeting's notes
            await expect(summary.locator("body")).to_contain_text(HOSTILE)  # as text, not as markup
            ARTIFACTS.mkdir(exist_ok=True)
            await page.screenshot(path=str(ARTIFACTS / "serve-page.png"), full_page=True)

            # The hostile name is shown as text everywhere; nothing it carries ran
            assert HOSTILE in await page.locator("#live").inner_text()
            assert await page.locator("#live img, #bots img").count() == 0
            assert await page.evaluate("window.pwned") is None
            assert await page.get_attribute("#summary-frame", "sandbox") == ""
        finally:
            await browser.close()


async def test_a_restarted_server_keeps_every_record(server: ServeProcess, http: aiohttp.ClientSession) -> None:
    # Bots of its own, so that it tests something when run alone: one whose meeting cannot be reached (it ends
    # by itself) and one stopped through the API; with the module's server, those of the tests before it too.
    ended = (await _post(http, server, {"meeting_url": "http://127.0.0.1:9/unreachable"}))["id"]
    stopped = (await _post(http, server, {"meeting_url": "http://127.0.0.1:9/stopped"}))["id"]
    async with http.delete(server.url(f"/api/v1/bots/{stopped}"), headers=AUTH) as resp:
        assert resp.status == 202
    for bot_id in (ended, stopped):
        await _until_status(http, server, bot_id, {"done", "failed", "stopped"}, 180)
    async with http.get(server.url("/api/v1/bots"), headers=AUTH) as resp:
        before = {b["id"]: b for b in (await resp.json())["bots"]}
    assert {ended, stopped} <= before.keys() and before[stopped]["status"] == "stopped"
    assert server.stop() == 0
    server.start()
    async with http.get(server.url("/api/v1/bots"), headers=AUTH) as resp:
        after = {b["id"]: b for b in (await resp.json())["bots"]}
    assert list(after) == list(before)  # every record, in the same order
    for bot_id, bot in before.items():
        assert bot["status"] in ("done", "failed", "stopped")
        assert {k: v for k, v in after[bot_id].items() if k != "links"} == \
            {k: v for k, v in bot.items() if k != "links"}
        if bot_id not in (ended, stopped):  # the earlier tests' bots were in their meetings: their notes stay
            assert json.loads(await _artifact(http, server, bot_id, "report.json"))
    async with http.get(server.url("/metrics")) as resp:
        assert "jitsi_bot_serve_launches_total 0" in await resp.text()  # nothing started again


async def test_twenty_bots_two_at_a_time_all_finish(http: aiohttp.ClientSession, tmp_path: Path) -> None:
    server = ServeProcess(tmp_path / "data", _serve_env(tmp_path / "data", BOT_MEETING__NO_ONE_JOINED_S="1"))
    server.start()
    began = time.monotonic()
    try:
        async with FakeJitsiRoom() as room:
            created = await asyncio.gather(*(
                _post(http, server, {"meeting_url": room.url(f"load{n}")}) for n in range(20)))
            first = [c["status"] for c in created]
            ids = [c["id"] for c in created]
            async with asyncio.timeout(600):  # a hang guard
                while True:
                    async with http.get(server.url("/api/v1/bots"), headers=AUTH) as resp:
                        bots = {b["id"]: b for b in (await resp.json())["bots"]}
                    if all(bots[i]["status"] in ("done", "failed", "stopped") for i in ids):
                        break
                    await asyncio.sleep(1)
        elapsed = time.monotonic() - began
        print(f"20 bots, 2 at a time: {elapsed:.0f} s")
        assert first == ["queued"] * 20  # accepted at once; the scheduler starts them two at a time
        assert sorted(bots) == sorted(ids)  # none lost, none extra
        assert {bots[i]["status"] for i in ids} == {"done"}, [bots[i] for i in ids if bots[i]["status"] != "done"]
        assert {bots[i]["end_reason"] for i in ids} == {"no_one_joined"}
        spans = sorted((datetime.fromisoformat(b["started_at"]), 1) for b in bots.values()) + \
            sorted((datetime.fromisoformat(b["ended_at"]), -1) for b in bots.values())
        running = most = 0
        for _, step in sorted(spans):  # at a tie the end (-1) counts first
            running += step
            most = max(most, running)
        assert most == 2  # two ran at once, never more
        async with http.get(server.url("/metrics")) as resp:
            metrics = await resp.text()
        assert "jitsi_bot_serve_launches_total 20" in metrics  # each started once
        assert len(list((tmp_path / "data" / "bots").glob("*/meeting.json"))) == 20
    finally:
        if server.proc is not None and server.proc.poll() is None:
            server.stop()
