"""``jitsi-bot serve`` without a browser: the host policy, the store, and the real API, manager and local
launcher driving a stand-in bot (tests/doubles/serve_fake_bot.py) that writes the real status files."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import sqlite3
import stat
import sys
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from pydantic import SecretStr
from structlog.testing import capture_logs

from bot.config import ServeSettings, WebhookSettings
from bot.delivery.webhook import verify
from bot.serve.api import create_app, metrics_text
from bot.serve.local import LocalLauncher
from bot.serve.manager import LOST, BotManager
from bot.serve.model import BotStatus
from bot.serve.policy import HostPolicy, UrlRefused
from bot.serve.store import BotRecord, Store
from tests.conftest import until
from tests.doubles.hooks import hook_receiver
from tests.sse import read_events

TOKEN = "t" * 32
AUTH = {"Authorization": f"Bearer {TOKEN}"}
FAKE_BOT = Path(__file__).parent / "doubles" / "serve_fake_bot.py"
WEBHOOK_SECRET = "whsec_" + base64.b64encode(b"k" * 32).decode()
NAMES = {"meet.example.org": ["93.184.216.34", "2606:2800:220:1::1"],
         "mixed.example.org": ["93.184.216.34", "10.0.0.7"],
         "intranet.example.org": ["192.168.10.10"]}


async def fake_resolve(host: str, port: int) -> list[str]:
    """A resolver that knows a few names (tests send no DNS queries)."""
    if host == "hang.example.org":
        await asyncio.sleep(3600)  # a resolver that never answers
    if host not in NAMES:
        raise OSError(-2, "Name or service not known")
    return NAMES[host]


# ---------------------------------------------------------------- policy

@pytest.mark.parametrize("address", [
    "127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254", "0.0.0.0", "100.64.0.1",
    "224.0.0.1", "240.0.0.1", "255.255.255.255", "[::1]", "[::]", "[fe80::1]", "[fc00::1]", "[ff02::1]",
    "[::ffff:127.0.0.1]", "[::ffff:10.0.0.1]", "[::ffff:169.254.169.254]", "localhost.",
])
async def test_non_public_addresses_are_refused_unless_listed(address: str) -> None:
    url = f"https://{address}/room"
    with pytest.raises(UrlRefused):
        await HostPolicy([], resolve=fake_resolve).check_meeting_url(url)
    await HostPolicy([address], resolve=fake_resolve).check_meeting_url(url)  # listed: allowed


@pytest.mark.parametrize("url", ["https://93.184.216.34/room", "https://[2606:4700::1111]/room",
                                 "https://[::ffff:93.184.216.34]/x", "https://meet.example.org/Room?jwt=abc",
                                 "http://MEET.example.org.:8443/Room"])
async def test_public_hosts_are_allowed_when_no_list_is_set(url: str) -> None:
    await HostPolicy([], resolve=fake_resolve).check_meeting_url(url)


async def test_names_are_judged_by_every_address_and_a_list_admits_only_its_hosts() -> None:
    open_policy = HostPolicy([], resolve=fake_resolve)
    for host, why in (("mixed.example.org", "10.0.0.7"), ("intranet.example.org", "192.168.10.10"),
                      ("nowhere.example.org", "cannot be resolved")):
        with pytest.raises(UrlRefused, match=why):
            await open_policy.check_meeting_url(f"https://{host}/room")
    listed = HostPolicy(["intranet.example.org"], resolve=fake_resolve)
    await listed.check_meeting_url("https://intranet.example.org/room")
    with pytest.raises(UrlRefused, match="not in serve.allowed_hosts"):
        await listed.check_meeting_url("https://meet.example.org/room")  # public, but not listed
    await listed.check_webhook_url("https://meet.example.org/hook")  # webhooks: public, or listed
    with pytest.raises(UrlRefused):
        await listed.check_webhook_url("http://127.0.0.1:9/hook")


@pytest.mark.parametrize(("url", "why"), [
    ("ftp://meet.example.org/room", "http"), ("javascript:alert(1)", "http"), ("https:///room", "no host"),
    ("https://meet.example.org/ro om", "spaces"), ("https://meet.example.org/\r\nroom", "control"),
    ("https://meet.example.org:99999/room", "not a valid URL"), ("https://meet.example.org/" + "a" * 2100, "longer"),
])
async def test_malformed_urls_are_refused(url: str, why: str) -> None:
    with pytest.raises(UrlRefused, match=why):
        await HostPolicy(["meet.example.org"], resolve=fake_resolve).check_meeting_url(url)


# ---------------------------------------------------------------- store

async def test_store_round_trip_survives_a_reopen_and_is_private(tmp_path: Path) -> None:
    store = Store(tmp_path / "data")
    await store.open()
    a = await store.insert(BotRecord(id="a1", meeting_url="https://m.example/R?jwt=x", launcher="local",
                                     email=("x@example.org",), password="pw", max_duration_s=60.0))
    b = await store.insert(BotRecord(id="b2", meeting_url="https://m.example/S", launcher="local"))
    assert a.seq is not None and b.seq is not None and a.seq < b.seq
    await store.save(a.but(status=BotStatus.IN_CALL, ref="123", participants=3, stop_requested=True))
    await store.close()
    assert stat.S_IMODE(os.stat(store.path).st_mode) == 0o600

    again = Store(tmp_path / "data")
    await again.open()
    rows = await again.all()
    await again.close()
    assert [r.id for r in rows] == ["a1", "b2"]
    first = rows[0]
    assert (first.status, first.ref, first.participants, first.stop_requested) == (BotStatus.IN_CALL, "123", 3, True)
    assert (first.meeting_url, first.email, first.password, first.max_duration_s) == \
        ("https://m.example/R?jwt=x", ("x@example.org",), "pw", 60.0)


# ---------------------------------------------------------------- the API, the manager and the local launcher

@dataclass
class Serve:
    """A running API with its manager (the stand-in bot as the local launcher's interpreter)."""

    client: TestClient[Any, Any]
    manager: BotManager
    store: Store
    data_dir: Path

    async def post(self, body: dict[str, Any], status: int = 201) -> dict[str, Any]:
        resp = await self.client.post("/api/v1/bots", json=body, headers=AUTH)
        data: dict[str, Any] = await resp.json()
        assert resp.status == status, data
        return data

    async def get(self, bot_id: str) -> dict[str, Any]:
        resp = await self.client.get(f"/api/v1/bots/{bot_id}", headers=AUTH)
        assert resp.status == 200
        data: dict[str, Any] = await resp.json()
        return data

    async def until_status(self, bot_id: str, *statuses: str) -> dict[str, Any]:
        await until(lambda: str(self.manager.get(bot_id).status) in statuses, timeout=30)
        return await self.get(bot_id)

    def journal(self) -> list[tuple[float, str, str]]:
        path = self.data_dir / "fake-bots.log"
        lines = path.read_text().splitlines() if path.exists() else []
        return [(float(t), kind, bot) for t, kind, bot in (line.split() for line in lines)]


def _settings(data_dir: Path, **over: Any) -> ServeSettings:
    values: dict[str, Any] = {"api_token": TOKEN, "data_dir": data_dir, "allowed_hosts": ["127.0.0.1"],
                              "stop_grace_s": 10, "max_concurrent": 2}
    values.update(over)
    return ServeSettings.model_validate(values)


async def _start(data_dir: Path, *, webhook: WebhookSettings | None = None, store: Store | None = None,
                 launcher_class: type[LocalLauncher] = LocalLauncher, send_policy: HostPolicy | None = None,
                 **over: Any) -> Serve:
    settings = _settings(data_dir, **over)
    store = store or Store(data_dir)
    await store.open()
    launcher = launcher_class(data_dir / "bots", interpreter=(sys.executable, str(FAKE_BOT)))
    policy = HostPolicy(settings.allowed_hosts, resolve=fake_resolve)
    manager = BotManager(settings, store, launcher, webhook=webhook, policy=send_policy or policy, poll_s=0.05,
                         retry_s=0.1)
    await manager.start()
    app = create_app(settings, manager=manager, policy=policy)
    client = TestClient(TestServer(app))
    await client.start_server()
    return Serve(client, manager, store, data_dir)


async def _seed(data_dir: Path, *records: BotRecord) -> None:
    """Records left in the store by a server that is gone."""
    store = Store(data_dir)
    await store.open()
    for record in records:
        await store.insert(record)
    await store.close()


async def _crash(serve: Serve) -> None:
    """Stop watching without stopping the bots (as a killed server would)."""
    await serve.client.close()
    await serve.manager.aclose()
    await serve.store.close()


async def _stop(serve: Serve) -> None:
    await serve.manager.shutdown()
    await _crash(serve)


@pytest.fixture
async def serve(tmp_path: Path) -> AsyncIterator[Serve]:
    s = await _start(tmp_path / "data")
    yield s
    await _stop(s)


def url(**query: str) -> str:
    qs = "&".join(f"{k}={v}" for k, v in query.items())
    return f"http://127.0.0.1:9/room?{qs}"


async def test_api_needs_the_bearer_token_but_health_and_metrics_do_not(serve: Serve) -> None:
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {TOKEN}"},
                    {"Authorization": f"Bearer {TOKEN}x"}):
        for method, path in (("GET", "/api/v1/bots"), ("POST", "/api/v1/bots"), ("GET", "/api/v1/bots/nope"),
                             ("DELETE", "/api/v1/bots/nope"), ("GET", "/api/v1/nothing")):
            resp = await serve.client.request(method, path, headers=headers, json={"meeting_url": url()})
            assert resp.status == 401, (method, path, headers)
            assert resp.headers["WWW-Authenticate"].startswith("Bearer")
            assert "error" in await resp.json()
    assert serve.manager.bots() == []  # nothing was created
    assert (await serve.client.get("/healthz")).status == 200
    resp = await serve.client.get("/api/v1/bots/nope", headers=AUTH)
    assert resp.status == 404 and (await resp.json())["error"]


@pytest.mark.parametrize(("body", "field"), [
    ({"meeting_url": "not a url"}, "meeting_url"),
    ({"meeting_url": "ftp://127.0.0.1/room"}, "meeting_url"),
    ({"meeting_url": "http://10.0.0.1/room"}, "meeting_url"),  # private and not listed
    ({"meeting_url": "http://[::1]/room"}, "meeting_url"),  # loopback, not listed (127.0.0.1 is)
    ({"meeting_url": "https://intranet.example.org/room"}, "meeting_url"),
    ({"meeting_url": url(), "colour": "red"}, "colour"),
    ({"meeting_url": url(), "email": ["not-an-address"]}, "email"),
    ({"meeting_url": url(), "email": "a@example.org"}, "email"),
    ({"meeting_url": url(), "max_duration_s": -1}, "max_duration_s"),
    ({"meeting_url": url(), "backend": "other"}, "backend"),
    ({"meeting_url": url(), "bot_name": "a\nb"}, "bot_name"),
    ({"meeting_url": url(), "webhook": "https://meet.example.org/hook"}, "webhook"),  # no secret to sign with
    ({"bot_name": "x"}, "meeting_url"),
])
async def test_bad_requests_are_422_naming_the_field(serve: Serve, body: dict[str, Any], field: str) -> None:
    data = await serve.post(body, 422)
    assert data["field"] == field and data["error"]
    assert serve.manager.bots() == []


async def test_a_bot_runs_streams_its_events_and_serves_its_files(serve: Serve) -> None:
    created = await serve.post({"meeting_url": url(release="1") + "&jwt=SECRET", "bot_name": "Notes",
                                "email": ["team@example.org"], "password": "hunter2"})
    bot_id = created["id"]
    assert created["status"] == "queued"
    assert "SECRET" not in json.dumps(created) and "hunter2" not in json.dumps(created)
    assert created["meeting_url"] == "http://127.0.0.1:9/room"
    assert created["links"]["events"].endswith(f"/api/v1/bots/{bot_id}/events")

    def release_once_in_call(kind: str, data: Any) -> None:
        if kind == "status" and data["status"] == "in_call":  # seen: the bot may leave now
            (serve.data_dir / "bots" / bot_id / "release").touch()

    async with serve.client.get(f"/api/v1/bots/{bot_id}/events", headers=AUTH) as resp:
        assert resp.headers["Content-Type"].startswith("text/event-stream")
        events = await read_events(resp, release_once_in_call)
    statuses = [d["status"] for k, d in events if k == "status"]
    assert statuses[-1] == "done" and "in_call" in statuses
    assert [d["text"] for k, d in events if k == "segment"] == ["hello from the fake room", "goodbye"]
    assert events[-1] == ("end", {"status": "done", "reason": "final"})

    bot = await serve.get(bot_id)
    assert (bot["status"], bot["exit_code"], bot["end_reason"]) == ("done", 0, "room_empty")
    assert bot["started_at"] and bot["ended_at"]
    stored = await serve.store.get(bot_id)
    assert stored is not None and stored.password is None  # not kept once launched
    report = await serve.client.get(f"/api/v1/bots/{bot_id}/report.json", headers=AUTH)
    assert report.status == 200 and (await report.json())["meeting"]["end_reason"] == "room_empty"
    summary = await serve.client.get(f"/api/v1/bots/{bot_id}/summary.html", headers=AUTH)
    assert summary.status == 200 and "<h1>Notes</h1>" in await summary.text()
    assert "default-src 'none'" in summary.headers["Content-Security-Policy"]
    missing = await serve.client.get(f"/api/v1/bots/{bot_id}/transcript.vtt", headers=AUTH)
    assert missing.status == 404  # the stand-in writes none
    for evil in ("..%2F..%2Fbots.sqlite3", "bot.log", "%2e%2e/bots.sqlite3"):
        resp = await serve.client.get(f"/api/v1/bots/{bot_id}/{evil}", headers=AUTH)
        assert resp.status == 404, evil
    # an ended bot's events: its status and segments, then the end
    async with serve.client.get(f"/api/v1/bots/{bot_id}/events", headers=AUTH) as resp:
        text = await resp.text()
    assert text.count("event: segment") == 2 and text.rstrip().splitlines()[-2] == "event: end"
    assert (await serve.client.delete(f"/api/v1/bots/{bot_id}", headers=AUTH)).status == 409
    log = (serve.data_dir / "bots" / bot_id / "bot.log").read_text()
    assert "hunter2" not in log


async def test_delete_stops_a_running_bot_gracefully_and_a_queued_one_before_it_starts(tmp_path: Path) -> None:
    serve = await _start(tmp_path / "data", max_concurrent=1)
    try:
        running = (await serve.post({"meeting_url": url(hold="1") + "&jwt=SECRET"}))["id"]
        queued = (await serve.post({"meeting_url": url(hold="1")}))["id"]
        await serve.until_status(running, "in_call")  # it read hold=1 from the URL in its environment
        ref = serve.manager.get(running).ref
        assert ref is not None
        argv = Path(f"/proc/{ref}/cmdline").read_bytes().split(b"\0")  # noqa: ASYNC240
        assert b"-" in argv and b"--out" in argv and not any(b"SECRET" in a for a in argv)
        assert (await serve.get(queued))["status"] == "queued"
        resp = await serve.client.delete(f"/api/v1/bots/{queued}", headers=AUTH)
        assert resp.status == 202 and (await resp.json())["status"] == "stopped"
        resp = await serve.client.delete(f"/api/v1/bots/{running}", headers=AUTH)
        assert resp.status == 202
        bot = await serve.until_status(running, "stopped")
        assert (bot["exit_code"], bot["end_reason"]) == (0, "stopped")  # it left and wrote its notes
        assert (serve.data_dir / "bots" / running / "report.json").is_file()
        assert not (serve.data_dir / "bots" / queued).exists()  # never launched
        metrics = metrics_text(serve.manager)
        assert 'jitsi_bot_serve_bots{status="stopped"} 2' in metrics and "jitsi_bot_serve_launches_total 1" in metrics
        assert "127.0.0.1" not in (await (await serve.client.get("/metrics")).text())
    finally:
        await _stop(serve)


async def test_the_queue_runs_at_most_max_concurrent_and_starts_each_bot_once(serve: Serve) -> None:
    created = await asyncio.gather(*(serve.post({"meeting_url": url(stay="0.4")}) for _ in range(6)))
    assert [c["status"] for c in created] == ["queued"] * 6  # the scheduler launches them, two at a time
    ids = [c["id"] for c in created]
    await until(lambda: all(serve.manager.get(i).status.final for i in ids), timeout=60)
    assert {str(serve.manager.get(i).status) for i in ids} == {"done"}
    journal = serve.journal()
    assert sorted(b for _, k, b in journal if k == "start") == sorted(ids)  # each started exactly once
    assert _most_at_once(journal) <= 2


def _most_at_once(journal: Sequence[tuple[float, str, str]]) -> int:
    running, most = 0, 0
    for _, kind, _ in sorted(journal, key=lambda e: (e[0], e[1] == "start")):  # an end before a start at a tie
        running += 1 if kind == "start" else -1
        most = max(most, running)
    return most


async def test_a_restarted_server_reattaches_keeps_the_queue_and_fails_the_lost(tmp_path: Path) -> None:
    data = tmp_path / "data"
    first = await _start(data, max_concurrent=1)
    running = (await first.post({"meeting_url": url(hold="1")}))["id"]
    queued = (await first.post({"meeting_url": url(stay="0.2"), "password": "pw"}))["id"]
    await first.until_status(running, "in_call")
    await _crash(first)  # the bot keeps running, nobody watches it
    lost = BotRecord(id="lost1", meeting_url=url(), launcher="local", status=BotStatus.IN_CALL, ref="999999999")
    ended = BotRecord(id="ended1", meeting_url=url(), launcher="local", status=BotStatus.FINALIZING, ref="999999998")
    (data / "bots" / "ended1").mkdir(parents=True)
    (data / "bots" / "ended1" / "status.json").write_text(json.dumps(  # it ended while no server watched
        {"state": "done", "participants": 0, "end_reason": "room_empty", "exit_code": 4}))
    await _seed(data, lost, ended)

    second = await _start(data, max_concurrent=1)
    try:
        assert (await second.get("lost1"))["status"] == "failed"
        assert (await second.get("lost1"))["detail"] == LOST
        taken = await second.get("ended1")
        assert (taken["status"], taken["exit_code"], taken["end_reason"]) == ("done", 4, "room_empty")
        assert "pending" in taken["detail"]
        assert (await second.get(running))["status"] == "in_call"  # re-attached through /proc
        assert (await second.get(queued))["status"] == "queued"
        assert (await second.client.delete(f"/api/v1/bots/{running}", headers=AUTH)).status == 202
        bot = await second.until_status(running, "stopped")
        assert bot["exit_code"] == 0  # from its status file: it is not the new server's child
        await second.until_status(queued, "done")
        assert sorted(b for _, k, b in second.journal() if k == "start") == sorted([running, queued])
    finally:
        await _stop(second)


async def test_status_webhook_is_signed_ordered_and_ends_with_the_report(tmp_path: Path) -> None:
    async with hook_receiver() as hooks:
        serve = await _start(tmp_path / "data", webhook=WebhookSettings(secret=SecretStr(WEBHOOK_SECRET)))
        try:
            bot_id = (await serve.post({"meeting_url": url(), "webhook": hooks.url}))["id"]
            await until(lambda: any(b'"bot.done"' in body for _, body in hooks.received), timeout=30)
        finally:
            await _stop(serve)
    assert all(verify(WEBHOOK_SECRET, headers, body) for headers, body in hooks.received)
    ids = [headers["webhook-id"] for headers, _ in hooks.received]
    assert len(set(ids)) == len(ids)  # each event its own id (a receiver drops a repeated one)
    payloads = [json.loads(body) for _, body in hooks.received]
    assert [p["type"] for p in payloads][-1] == "bot.done"
    statuses = [p["data"]["status"] for p in payloads]
    assert statuses[0] == "queued" and "in_call" in statuses and statuses[-1] == "done"
    assert payloads[-1]["data"]["id"] == bot_id
    assert payloads[-1]["data"]["report"]["meeting"]["end_reason"] == "room_empty"


async def test_a_webhook_refused_at_send_time_is_not_posted(tmp_path: Path) -> None:
    # Accepted when the bot was requested; by the time its events are sent the address may no longer be
    # (a name re-pointed at a private address): the manager checks again with its own policy, here one that
    # lists nothing, so loopback is refused.
    async with hook_receiver() as hooks:
        serve = await _start(tmp_path / "data", webhook=WebhookSettings(secret=SecretStr(WEBHOOK_SECRET)),
                             send_policy=HostPolicy([]))
        try:
            with capture_logs() as logs:
                bot_id = (await serve.post({"meeting_url": url(),
                                            "webhook": hooks.url}))["id"]
                await serve.until_status(bot_id, "done")
                await until(lambda: any("webhook" in str(e.get("event")) for e in logs if e["log_level"] != "info"),
                            timeout=30)
        finally:
            await _stop(serve)
    assert hooks.bodies == []


async def test_the_bot_gets_the_canonical_meeting_url(serve: Serve) -> None:
    bot_id = (await serve.post({"meeting_url": "HTTP://127.0.0.1:80/Room?x=1#config.a=b"}))["id"]
    assert serve.manager.get(bot_id).meeting_url == "http://127.0.0.1/Room?x=1#config.a=b"
    assert (await serve.get(bot_id))["meeting_url"] == "http://127.0.0.1/Room"


async def test_post_after_shutdown_is_503(serve: Serve) -> None:
    await serve.manager.shutdown()
    await serve.post({"meeting_url": url()}, 503)



@pytest.mark.parametrize(("token", "says"), [(None, "serve.api_token"), ("short", "at least 24 characters")])
async def test_serve_without_a_good_token_exits_2(tmp_path: Path, token: str | None, says: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BOT_")}
    env["BOT_SERVE__DATA_DIR"] = str(tmp_path / "data")
    if token is not None:
        env["BOT_SERVE__API_TOKEN"] = token
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "bot", "serve", "--port", "0", env=env,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 2, out + err
    assert says in err.decode() and "Traceback" not in err.decode()
    assert not (tmp_path / "data").exists()


async def test_join_dash_needs_the_url_in_its_environment(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "JITSI_BOT_MEETING_URL"}
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "bot", "join", "-", "--out", str(tmp_path / "o"),
                                                env=env, stderr=asyncio.subprocess.PIPE)
    _, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 2 and "JITSI_BOT_MEETING_URL" in err.decode()


async def test_shutdown_asks_local_bots_to_leave_and_waits_for_their_notes(tmp_path: Path) -> None:
    serve = await _start(tmp_path / "data")
    try:
        bot_id = (await serve.post({"meeting_url": url(hold="1")}))["id"]
        await serve.until_status(bot_id, "in_call")
        await serve.manager.shutdown()
        bot = serve.manager.get(bot_id)
        assert (bot.status, bot.exit_code, bot.end_reason, bot.detail) == \
            (BotStatus.STOPPED, 0, "stopped", "the server shut down")
        assert (serve.data_dir / "bots" / bot_id / "report.json").is_file()
        assert serve.journal()[-1][1:] == ("end", bot_id)
    finally:
        await _crash(serve)


# ---------------------------------------------------------------- failures around the manager (review 14)

class FlakyStore(Store):
    """A real store whose ``save`` fails for records ``failing`` picks, ``budget`` times."""

    def __init__(self, data_dir: Path) -> None:
        super().__init__(data_dir)
        self.failing: Any = None
        self.budget = 0

    async def save(self, record: BotRecord) -> None:
        if self.budget > 0 and self.failing is not None and self.failing(record):
            self.budget -= 1
            raise sqlite3.OperationalError("disk I/O error")
        await super().save(record)


class StopFailsOnce(LocalLauncher):
    """The local launcher whose first ``stop`` fails as a foreign process would make it fail."""

    failed = 0

    async def stop(self, ref: str, grace_s: float) -> None:
        if not StopFailsOnce.failed:
            StopFailsOnce.failed += 1
            raise PermissionError(1, "Operation not permitted")
        await super().stop(ref, grace_s)


class RunningFailsOnce(LocalLauncher):
    """The local launcher whose first ``running`` fails (an engine that is not up yet)."""

    calls = 0

    async def running(self) -> dict[str, str]:
        RunningFailsOnce.calls += 1
        if RunningFailsOnce.calls == 1:
            raise ConnectionRefusedError(111, "Connection refused")
        return await super().running()


async def _sse_events(serve: Serve, bot_id: str) -> list[tuple[str, Any]]:
    async with serve.client.get(f"/api/v1/bots/{bot_id}/events", headers=AUTH) as resp:
        return await read_events(resp)


async def test_a_body_sent_in_parts_is_read_whole(serve: Serve) -> None:
    body = json.dumps({"meeting_url": url(stay="0.1")}).encode()
    assert serve.client.port is not None
    reader, writer = await asyncio.open_connection("127.0.0.1", serve.client.port)
    try:
        writer.write(f"POST /api/v1/bots HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n"
                     f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
                     .encode() + body[:10])
        await writer.drain()
        await asyncio.sleep(0.2)  # the rest comes in a later packet
        writer.write(body[10:])
        await writer.drain()
        answer = await reader.read()
    finally:
        writer.close()
    assert answer.startswith(b"HTTP/1.1 201"), answer[:300]
    too_big = await serve.client.post("/api/v1/bots", data=b"{" + b" " * 70_000 + b"}", headers=AUTH)
    assert too_big.status == 413


async def test_a_queued_webhook_bot_gets_its_webhooks_after_a_restart(tmp_path: Path) -> None:
    data = tmp_path / "data"
    async with hook_receiver() as hooks:
        # queued by a server that stopped before launching it
        await _seed(data, BotRecord(id="waiting1", meeting_url=url(stay="0.1"), launcher="local", webhook=hooks.url))
        serve = await _start(data, webhook=WebhookSettings(secret=SecretStr(WEBHOOK_SECRET)))
        try:
            await until(lambda: any(b'"bot.done"' in body for body in hooks.bodies), timeout=30)
        finally:
            await _stop(serve)
    payloads = [json.loads(body) for body in hooks.bodies]
    assert payloads[-1]["data"]["id"] == "waiting1" and payloads[-1]["data"]["status"] == "done"
    assert "in_call" in [p["data"]["status"] for p in payloads]


async def test_a_failed_stop_is_502_and_a_repeated_delete_stops_the_bot(tmp_path: Path) -> None:
    StopFailsOnce.failed = 0
    serve = await _start(tmp_path / "data", launcher_class=StopFailsOnce)
    try:
        bot_id = (await serve.post({"meeting_url": url(hold="1")}))["id"]
        await serve.until_status(bot_id, "in_call")
        resp = await serve.client.delete(f"/api/v1/bots/{bot_id}", headers=AUTH)
        assert resp.status == 502 and "could not be asked to leave" in (await resp.json())["error"]
        resp = await serve.client.delete(f"/api/v1/bots/{bot_id}", headers=AUTH)
        assert resp.status == 202
        bot = await serve.until_status(bot_id, "stopped")
        assert bot["end_reason"] == "stopped"
    finally:
        await _stop(serve)


async def test_store_failures_neither_end_the_watch_nor_lose_a_launched_bot(tmp_path: Path) -> None:
    data = tmp_path / "data"
    store = FlakyStore(data)
    serve = await _start(data, store=store, max_concurrent=1)
    try:
        # the write of the ref right after the launch fails: the bot is watched and holds its slot all the same
        store.failing, store.budget = (lambda r: r.ref is not None and r.status is BotStatus.STARTING), 1
        first = (await serve.post({"meeting_url": url(hold="1")}))["id"]
        second = (await serve.post({"meeting_url": url(stay="0.1")}))["id"]
        await serve.until_status(first, "in_call")
        assert store.budget == 0 and serve.manager.running_count == 1
        assert (await serve.get(second))["status"] == "queued"
        # the next writes of the watch fail: it goes on and settles the bot
        store.failing, store.budget = (lambda r: r.id == first), 2
        ref = serve.manager.get(first).ref
        assert ref is not None
        await serve.manager._launcher.stop(ref, 10)  # it leaves (not through the API)
        await serve.until_status(first, "done")
        await serve.until_status(second, "done")
        stored = await serve.store.get(first)
        assert stored is not None and stored.status is BotStatus.DONE and stored.ref == ref
        assert _most_at_once(serve.journal()) == 1
    finally:
        await _stop(serve)


async def test_an_unexpected_webhook_error_does_not_silence_later_events(tmp_path: Path) -> None:
    async with hook_receiver() as hooks:
        serve = await _start(tmp_path / "data", webhook=WebhookSettings(secret=SecretStr(WEBHOOK_SECRET)))
        sender = serve.manager._sender
        assert sender is not None
        real_send = sender.send
        calls = 0

        async def send(msg_id: str, body: bytes, *, url: str | None = None) -> None:
            nonlocal calls
            calls += 1
            if calls == 1:
                raise ValueError("a bug in the sender")
            await real_send(msg_id, body, url=url)

        sender.send = send  # type: ignore[method-assign]
        try:
            await serve.post({"meeting_url": url(), "webhook": hooks.url})
            await until(lambda: any(b'"bot.done"' in body for body in hooks.bodies), timeout=30)
        finally:
            await _stop(serve)
    assert calls == len(hooks.bodies) + 1


async def test_pending_webhooks_are_delivered_at_shutdown(tmp_path: Path) -> None:
    async with hook_receiver(slow_marker=b'"bot.done"') as hooks:
        serve = await _start(tmp_path / "data", webhook=WebhookSettings(secret=SecretStr(WEBHOOK_SECRET)))
        try:
            bot_id = (await serve.post({"meeting_url": url(hold="1"),
                                        "webhook": hooks.url}))["id"]
            await serve.until_status(bot_id, "in_call")
        finally:
            await _stop(serve)  # the local bot is stopped; its bot.done is still sent
    done = [json.loads(b) for b in hooks.bodies if b'"bot.done"' in b]
    assert len(done) == 1 and done[0]["data"]["status"] == "stopped"


async def test_bots_keep_their_slots_until_the_launcher_can_say_what_runs(tmp_path: Path) -> None:
    data = tmp_path / "data"
    first = await _start(data, max_concurrent=1)
    running = (await first.post({"meeting_url": url(hold="1")}))["id"]
    queued = (await first.post({"meeting_url": url(stay="0.1")}))["id"]
    await first.until_status(running, "in_call")
    await _crash(first)

    RunningFailsOnce.calls = 0
    second = await _start(data, max_concurrent=1, launcher_class=RunningFailsOnce)
    try:
        await until(lambda: running in second.manager._watchers, timeout=30)  # re-attached on a retry
        assert RunningFailsOnce.calls >= 2
        assert (await second.client.delete(f"/api/v1/bots/{running}", headers=AUTH)).status == 202
        await second.until_status(running, "stopped")
        await second.until_status(queued, "done")
        assert _most_at_once(second.journal()) == 1  # the queued bot waited for the slot
    finally:
        await _stop(second)


async def test_records_read_at_start(tmp_path: Path) -> None:
    """Another launcher's bot is left alone; end_reason from meeting.json; a stop during a natural end is done."""
    data = tmp_path / "data"
    await _seed(data,
                BotRecord(id="docker1", meeting_url=url(), launcher="docker", status=BotStatus.IN_CALL, ref="c0ffee"),
                BotRecord(id="ended2", meeting_url=url(), launcher="local", status=BotStatus.IN_CALL, ref="999999997"),
                BotRecord(id="natural", meeting_url=url(), launcher="local", status=BotStatus.FINALIZING,
                          ref="999999996", stop_requested=True, detail="stopped through the API"))
    for bot_id, status in (("ended2", {"state": "done", "exit_code": 0}),
                           ("natural", {"state": "done", "exit_code": 0, "end_reason": "room_empty"})):
        (data / "bots" / bot_id).mkdir(parents=True)
        (data / "bots" / bot_id / "status.json").write_text(json.dumps(status))
    (data / "bots" / "ended2" / "meeting.json").write_text(json.dumps({"end_reason": "no_one_joined"}))

    serve = await _start(data)
    try:
        other = await serve.get("docker1")
        assert other["status"] == "in_call" and "docker launcher" in other["detail"]
        resp = await serve.client.delete("/api/v1/bots/docker1", headers=AUTH)
        assert resp.status == 409 and "docker launcher" in (await resp.json())["error"]
        stored = await serve.store.get("docker1")
        assert stored is not None and stored.status is BotStatus.IN_CALL and stored.detail is None
        assert (await serve.get("ended2"))["end_reason"] == "no_one_joined"
        natural = await serve.get("natural")
        assert (natural["status"], natural["end_reason"]) == ("done", "room_empty")
        assert "meeting_url" not in repr(serve.manager.get("docker1")) and "9/room" not in repr(stored)
    finally:
        await _stop(serve)


async def test_the_list_filters_by_status_and_keeps_the_newest(tmp_path: Path) -> None:
    data = tmp_path / "data"
    await _seed(data, *(BotRecord(id=f"b{n}", meeting_url=url(), launcher="local", status=status)
                        for n, status in enumerate([BotStatus.DONE, BotStatus.FAILED, BotStatus.DONE,
                                                    BotStatus.STOPPED])))
    serve = await _start(data)
    try:
        async def ids(query: str, status: int = 200) -> list[str]:
            resp = await serve.client.get(f"/api/v1/bots{query}", headers=AUTH)
            answer = await resp.json()
            assert resp.status == status, answer
            return [b["id"] for b in answer["bots"]] if status == 200 else [answer["field"]]

        assert await ids("") == ["b0", "b1", "b2", "b3"]
        assert await ids("?limit=2") == ["b2", "b3"]
        assert await ids("?status=done") == ["b0", "b2"]
        assert await ids("?status=done,stopped&limit=2") == ["b2", "b3"]
        assert await ids("?status=failed&status=stopped") == ["b1", "b3"]
        assert await ids("?limit=0", 422) == ["limit"]
        assert await ids("?limit=x", 422) == ["limit"]
        assert await ids("?status=sleeping", 422) == ["status"]
    finally:
        await _stop(serve)


async def test_a_long_transcript_is_replayed_from_its_end(serve: Serve, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("bot.serve.manager.MAX_SEGMENTS", 1)
    bot_id = (await serve.post({"meeting_url": url(stay="0.1")}))["id"]
    await serve.until_status(bot_id, "done")
    events = await _sse_events(serve, bot_id)
    assert [k for k, _ in events] == ["status", "skipped", "segment", "end"]
    assert events[1][1]["segments"] == 1 and events[2][1]["text"] == "goodbye"


async def test_a_client_that_leaves_the_events_stream_is_unsubscribed(serve: Serve,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("bot.serve.api.HEARTBEAT_S", 0.05)
    bot_id = (await serve.post({"meeting_url": url(hold="1")}))["id"]
    await serve.until_status(bot_id, "in_call")
    resp = await serve.client.get(f"/api/v1/bots/{bot_id}/events", headers=AUTH)
    assert b"event: status" in await resp.content.readuntil(b"\n\n")
    assert len(serve.manager._subscribers[bot_id]) == 1
    resp.close()  # the client goes away
    await until(lambda: not serve.manager._subscribers.get(bot_id), timeout=30)
    assert (await serve.client.delete(f"/api/v1/bots/{bot_id}", headers=AUTH)).status == 202
    await serve.until_status(bot_id, "stopped")


async def test_a_resolver_that_does_not_answer_is_a_422(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("bot.serve.api.RESOLVE_TIMEOUT_S", 0.1)
    serve = await _start(tmp_path / "data", webhook=WebhookSettings(secret=SecretStr(WEBHOOK_SECRET)))
    try:
        data = await serve.post({"meeting_url": url(), "webhook": "https://hang.example.org/hook"}, 422)
        assert data["field"] == "webhook" and "in time" in data["error"]
    finally:
        await _stop(serve)

