"""Webhook delivery through the outbox and `jitsi-bot deliver`: down, then up; refused; never twice."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

from aiohttp import web

from bot.config import load_settings
from bot.delivery.deliver import deliver_report, outbox_for
from bot.delivery.webhook import verify
from bot.report.files import write_report_files
from tests.test_email import make_report

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


class Receiver:
    """A webhook receiver that verifies signatures and answers with a chosen status."""

    def __init__(self, status: int = 200) -> None:
        self.status = status
        self.received: list[tuple[str, dict[str, object]]] = []

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        assert verify(SECRET, dict(request.headers), body)
        self.received.append((request.headers["webhook-id"], json.loads(body)))
        return web.Response(status=self.status, text="ok" if self.status < 300 else "no")


async def _serve(receiver: Receiver, port: int) -> web.AppRunner:
    app = web.Application()
    app.router.add_post("/hook", receiver.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner


def _settings(port: int):  # type: ignore[no-untyped-def]
    return load_settings(None, {"webhook": {"url": f"http://127.0.0.1:{port}/hook", "secret": SECRET,
                                            "max_attempts": 2, "timeout_s": 2}})


async def _deliver_cli(meeting: Path, port: int) -> int:
    env = {**os.environ, "BOT_WEBHOOK__URL": f"http://127.0.0.1:{port}/hook", "BOT_WEBHOOK__SECRET": SECRET,
           "BOT_WEBHOOK__MAX_ATTEMPTS": "1"}
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "bot", "deliver", str(meeting), env=env,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    _, err = await asyncio.wait_for(proc.communicate(), 60)
    assert SECRET not in err.decode()
    assert proc.returncode is not None
    return proc.returncode


async def test_receiver_down_then_up_delivers_exactly_once(tmp_path: Path, unused_tcp_port: int) -> None:
    meeting = tmp_path / "meeting"
    write_report_files(make_report(), meeting)
    pending = await deliver_report(make_report(), meeting, _settings(unused_tcp_port))
    assert [i.kind for i in pending] == ["webhook"] and pending[0].attempts == 1
    assert await _deliver_cli(meeting, unused_tcp_port) == 4  # still down: exit 4, still pending

    receiver = Receiver()
    runner = await _serve(receiver, unused_tcp_port)
    try:
        assert await _deliver_cli(meeting, unused_tcp_port) == 0
        assert await _deliver_cli(meeting, unused_tcp_port) == 0  # nothing pending, nothing resent
    finally:
        await runner.cleanup()
    assert len(receiver.received) == 1
    msg_id, payload = receiver.received[0]
    assert msg_id.startswith("msg_") and payload["type"] == "meeting.report"
    assert payload["data"]["meeting"]["id"] == "room-20261125T100000Z"  # type: ignore[index]
    assert outbox_for(meeting).pending() == []


async def test_refused_delivery_is_not_retried_and_stays_in_the_outbox(tmp_path: Path, unused_tcp_port: int) -> None:
    meeting = tmp_path / "meeting"
    write_report_files(make_report(), meeting)
    receiver = Receiver(status=400)
    runner = await _serve(receiver, unused_tcp_port)
    try:
        pending = await deliver_report(make_report(), meeting, _settings(unused_tcp_port))
    finally:
        await runner.cleanup()
    assert len(receiver.received) == 1  # one attempt: a 400 is final
    assert len(pending) == 1 and "400" in (pending[0].last_error or "")
    assert (pending[0].path / "body.json").is_file()
