"""The files a bot writes are its own (a compromised browser controls them): bot.status.BotFiles and the API's
artifact handler read only regular files, never through a symlink, a FIFO or a device, and never without a limit."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.config import ServeSettings
from bot.serve.api import create_app
from bot.serve.local import LocalLauncher
from bot.serve.manager import BotManager
from bot.serve.model import BotStatus
from bot.serve.policy import HostPolicy
from bot.serve.store import BotRecord, Store
from bot.status import LIVE_FILE, MAX_STATUS_BYTES, STATUS_FILE, BotFiles, StatusWriter

TOKEN = "t" * 32
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def test_symlinks_fifos_and_oversized_files_read_as_absent(tmp_path: Path) -> None:
    out = tmp_path / "bot"
    out.mkdir()
    secret = tmp_path / "bots.sqlite3"
    secret.write_text(json.dumps({"state": "in_call", "stolen": True}))
    (out / STATUS_FILE).symlink_to(secret)
    (out / LIVE_FILE).symlink_to(secret)
    files = BotFiles(out)
    assert files.status() is None and files.live_since(0) == ([], 0)
    assert files.read(STATUS_FILE, 1 << 20) is None and files.json_file(STATUS_FILE) is None

    (out / STATUS_FILE).unlink()
    os.mkfifo(out / STATUS_FILE)  # would block a plain open() for reading until a writer comes
    assert files.status() is None

    (out / STATUS_FILE).unlink()
    (out / STATUS_FILE).write_text(json.dumps({"state": "in_call", "pad": "x" * MAX_STATUS_BYTES}))
    assert files.status() is None
    StatusWriter(out, "m").update(state="in_call")
    status = files.status()
    assert status is not None and status["state"] == "in_call"

    link = tmp_path / "link"
    link.symlink_to(out, target_is_directory=True)  # the folder itself must not be a symlink either
    assert BotFiles(link).status() is None and BotFiles(link).read(STATUS_FILE, 1 << 20) is None

    (out / "report.json").write_text(json.dumps({"a": "x" * 100}))
    assert BotFiles(out).json_file("report.json", 1000) == {"a": "x" * 100}
    assert BotFiles(out).json_file("report.json", 50) is None


def test_live_lines_are_read_in_capped_steps_and_an_endless_line_is_skipped(tmp_path: Path) -> None:
    files = BotFiles(tmp_path)
    lines = [json.dumps({"text": str(i) * 300}) + "\n" for i in range(4)]
    (tmp_path / LIVE_FILE).write_text("".join(lines))
    limit = len(lines[0]) * 2 + 10  # two whole lines and part of the third fit
    got: list[str] = []
    offset = 0
    for _ in range(3):
        segs, offset = files.live_since(offset, limit)
        got += [s["text"][0] for s in segs]
    assert got == ["0", "1", "2", "3"] and offset == (tmp_path / LIVE_FILE).stat().st_size

    with (tmp_path / LIVE_FILE).open("a") as f:
        f.write(json.dumps({"text": "y" * (limit * 2)}) + "\n" + json.dumps({"text": "after"}) + "\n")
    texts: list[str] = []
    for _ in range(5):
        segs, offset = files.live_since(offset, limit)
        texts += [s["text"] for s in segs]
    assert texts == ["after"] and offset == (tmp_path / LIVE_FILE).stat().st_size


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[tuple[TestClient[object, object], Path]]:
    data = tmp_path / "data"
    settings = ServeSettings.model_validate({"api_token": TOKEN, "data_dir": data})
    store = Store(data)
    await store.open()
    for bot_id in ("good", "linked"):
        await store.insert(BotRecord(id=bot_id, meeting_url="https://m.example/R", launcher="local",
                                     status=BotStatus.DONE))
    manager = BotManager(settings, store, LocalLauncher(data / "bots", interpreter=(sys.executable,)))
    await manager.start()
    client: TestClient[object, object] = TestClient(TestServer(create_app(settings, manager=manager,
                                                                          policy=HostPolicy([]))))
    await client.start_server()
    yield client, data
    await client.close()
    await manager.shutdown()
    await manager.aclose()
    await store.close()


async def test_artifacts_that_are_symlinks_fifos_or_in_a_symlinked_folder_are_404(
        api: tuple[TestClient[object, object], Path]) -> None:
    client, data = api
    good = data / "bots" / "good"
    good.mkdir(parents=True)
    (good / "summary.html").write_text("<p>notes</p>")
    (good / "report.json").symlink_to(data / "bots.sqlite3")  # the server's database, full URLs and all
    (good / "transcript.txt").hardlink_to(good / "summary.html")  # a regular file still: served
    os.mkfifo(good / "transcript.vtt")
    (data / "bots" / "linked").symlink_to(good, target_is_directory=True)

    resp = await client.get("/api/v1/bots/good/summary.html", headers=AUTH)
    assert resp.status == 200 and await resp.text() == "<p>notes</p>"
    assert resp.headers["Content-Type"] == "text/html; charset=utf-8"
    assert "default-src 'none'" in resp.headers["Content-Security-Policy"]
    resp = await client.get("/api/v1/bots/good/transcript.txt", headers=AUTH)
    assert resp.status == 200
    for path in ("good/report.json", "good/transcript.vtt", "linked/summary.html"):
        resp = await client.get(f"/api/v1/bots/{path}", headers=AUTH)
        assert resp.status == 404, path
        assert "SQLite" not in await resp.text()
