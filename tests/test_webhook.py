"""Standard Webhooks signing and the sender, against a real aiohttp receiver (no mocks of aiohttp)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from pydantic import SecretStr
from structlog.testing import capture_logs

from bot.config import WebhookSettings
from bot.delivery.errors import DeliveryError
from bot.delivery.webhook import (
    USER_AGENT,
    WebhookSender,
    public_target,
    sign,
    verify,
    webhook_body,
    webhook_id,
)
from bot.report.model import MeetingInfo, Report

KEY = b"0123456789abcdef0123456789abcdef"
SECRET = "whsec_" + base64.b64encode(KEY).decode()
BODY = b'{"type":"meeting.report","data":{"x":1}}'
MSG_ID = "msg_0123456789abcdef01234567"


# -- signing ---------------------------------------------------------------------------------------------------


def test_sign_matches_an_independent_hmac_for_a_whsec_secret() -> None:
    ts = 1_700_000_000
    mac = hmac.new(KEY, f"{MSG_ID}.{ts}.".encode() + BODY, hashlib.sha256).digest()
    assert sign(SECRET, MSG_ID, ts, BODY) == "v1," + base64.b64encode(mac).decode()


def test_sign_reproduces_the_published_standard_webhooks_vector() -> None:
    sig = sign("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330,
               b'{"test": 2432232314}')
    assert sig == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_a_raw_secret_is_used_as_utf8_bytes() -> None:
    mac = hmac.new("plain-sécret".encode(), f"{MSG_ID}.5.".encode() + BODY, hashlib.sha256).digest()
    assert sign("plain-sécret", MSG_ID, 5, BODY) == "v1," + base64.b64encode(mac).decode()


def test_a_malformed_whsec_secret_is_refused() -> None:
    with pytest.raises(ValueError, match="base64"):
        sign("whsec_not*base64", MSG_ID, 1, BODY)


def _headers(secret: str, ts: int, body: bytes = BODY, msg_id: str = MSG_ID) -> dict[str, str]:
    return {"webhook-id": msg_id, "webhook-timestamp": str(ts), "webhook-signature": sign(secret, msg_id, ts, body)}


def test_verify_round_trip_and_rejections() -> None:
    now = int(time.time())
    headers = _headers(SECRET, now)
    assert verify(SECRET, headers, BODY)
    assert verify(SECRET, {k.upper(): v for k, v in headers.items()}, BODY)  # header names are case-insensitive
    assert not verify("whsec_" + base64.b64encode(b"another key of 32 bytes........").decode(), headers, BODY)
    assert not verify("raw-secret", headers, BODY)
    assert not verify(SECRET, headers, BODY + b" ")  # tampered body
    assert not verify(SECRET, {**headers, "webhook-id": "msg_other"}, BODY)
    old = _headers(SECRET, now - 301)
    assert not verify(SECRET, old, BODY)  # too old for the default 300 s tolerance
    assert verify(SECRET, old, BODY, tolerance_s=600)
    assert not verify(SECRET, _headers(SECRET, now + 301), BODY)  # too far in the future
    assert verify(SECRET, headers, BODY, now=now + 299)
    for missing in ("webhook-id", "webhook-timestamp", "webhook-signature"):
        assert not verify(SECRET, {k: v for k, v in headers.items() if k != missing}, BODY)
    assert not verify(SECRET, {**headers, "webhook-timestamp": "soon"}, BODY)
    assert not verify("whsec_***", headers, BODY)


def test_verify_accepts_any_of_several_signatures() -> None:
    now = int(time.time())
    good = sign(SECRET, MSG_ID, now, BODY)
    other = sign("old-secret", MSG_ID, now, BODY)
    headers = {"webhook-id": MSG_ID, "webhook-timestamp": str(now)}
    assert verify(SECRET, {**headers, "webhook-signature": f"{other} {good}"}, BODY)
    assert verify(SECRET, {**headers, "webhook-signature": f"{good} {other}"}, BODY)
    assert not verify(SECRET, {**headers, "webhook-signature": other}, BODY)
    assert not verify(SECRET, {**headers, "webhook-signature": "v2," + good[3:]}, BODY)  # only v1 is known


def test_webhook_id_is_deterministic() -> None:
    a = webhook_id("room-2024-01-01T10-00", "https://example.com/hook")
    assert a == webhook_id("room-2024-01-01T10-00", "https://example.com/hook")
    assert a != webhook_id("room-2024-01-01T10-00", "https://example.com/other")
    assert a != webhook_id("room-2024-01-02T10-00", "https://example.com/hook")
    expected = hashlib.sha256(b"room-2024-01-01T10-00\nhttps://example.com/hook").hexdigest()[:24]
    assert a == "msg_" + expected


def test_public_target_drops_credentials_query_and_fragment() -> None:
    assert public_target("https://user:pw@example.com:8443/hook?token=abc#frag") == "https://example.com:8443/hook"
    assert public_target("http://[::1]:8080/h?x=1") == "http://[::1]:8080/h"
    assert public_target("https://example.com/hook") == "https://example.com/hook"
    assert public_target("https://example.com/services/T0/B0/token?x=1", path=False) == "https://example.com/…"


def _report() -> Report:
    t0 = datetime(2024, 5, 6, 10, 0, tzinfo=UTC)
    t1 = datetime(2024, 5, 6, 10, 30, tzinfo=UTC)
    meeting = MeetingInfo(id="m1", title="Launch review", started_at=t0, ended_at=t1, duration_s=1800)
    return Report(meeting=meeting, backend="local", summary=["Ship it — Thursday."])


def test_webhook_body_is_compact_json_with_the_report() -> None:
    report = _report()
    now = datetime(2024, 5, 6, 10, 31, tzinfo=UTC)
    body = webhook_body(report, now=now)
    payload = json.loads(body.decode("utf-8"))
    assert payload == {"type": "meeting.report", "timestamp": now.isoformat(), "data": report.model_dump(mode="json")}
    assert b", " not in body and b": " not in body
    assert "Ship it — Thursday." in body.decode("utf-8")  # utf-8, not \u escapes
    assert Report.model_validate(payload["data"]) == report


# -- the sender against a real receiver -------------------------------------------------------------------------


Step = tuple[int, dict[str, str], str, float]  # status, response headers, response text, delay before answering


@dataclass
class Receiver:
    """A scripted webhook receiver: answers each request with the next (status, headers, body, delay)."""

    script: list[Step]
    seen: list[dict[str, Any]] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.seen.append(
            {
                "headers": dict(request.headers),
                "body": body,
                "verified": verify(SECRET, request.headers, body),
            }
        )
        status, headers, text, delay = self.script[min(len(self.seen), len(self.script)) - 1]
        if delay:
            await asyncio.sleep(delay)
        return web.Response(status=status, headers=headers, text=text)


class RecordedSleep:
    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)


ServerFactory = Callable[..., Awaitable[Any]]


async def _serve(aiohttp_server: ServerFactory, *script: Step) -> tuple[Receiver, str]:
    receiver = Receiver(list(script))
    app = web.Application()
    app.router.add_post("/hook", receiver.handle)
    server = await aiohttp_server(app)
    return receiver, str(server.make_url("/hook"))


def _settings(url: str, *, timeout_s: float = 5, max_attempts: int = 5) -> WebhookSettings:
    return WebhookSettings(url=url, secret=SecretStr(SECRET), timeout_s=timeout_s, max_attempts=max_attempts)


def _ok(status: int = 200) -> Step:
    return (status, {}, "ok", 0.0)


async def test_500_then_200_is_delivered_in_two_attempts_with_the_same_id(aiohttp_server: ServerFactory) -> None:
    receiver, url = await _serve(aiohttp_server, (500, {}, "boom", 0.0), _ok())
    sleep = RecordedSleep()
    ticks = iter([time.time(), time.time() + 1])
    async with WebhookSender(_settings(url), sleep=sleep, clock=lambda: next(ticks), jitter=lambda: 0.0) as sender:
        with capture_logs() as logs:
            await sender.send(MSG_ID, BODY)
    assert len(receiver.seen) == 2
    first, second = (r["headers"] for r in receiver.seen)
    assert first["webhook-id"] == second["webhook-id"] == MSG_ID
    assert first["webhook-timestamp"] != second["webhook-timestamp"]  # a fresh timestamp per attempt ...
    assert first["webhook-signature"] != second["webhook-signature"]  # ... and so a fresh signature
    assert all(r["verified"] for r in receiver.seen)
    assert all(r["body"] == BODY for r in receiver.seen)
    assert first["Content-Type"] == "application/json"
    assert first["User-Agent"] == USER_AGENT
    assert sleep.delays == [0.5]  # base 1 s, jitter 0: half the first backoff step
    failed = [e for e in logs if e["event"] == "webhook.attempt_failed"]
    assert [(e["status"], e["attempt"], e["retryable"]) for e in failed] == [(500, 1, True)]
    assert [e["event"] for e in logs][-1] == "webhook.delivered"
    assert SECRET not in repr(logs) and BODY.decode() not in repr(logs)


async def test_400_is_not_retried(aiohttp_server: ServerFactory) -> None:
    receiver, url = await _serve(aiohttp_server, (400, {}, "bad payload: field x", 0.0), _ok())
    sleep = RecordedSleep()
    async with WebhookSender(_settings(url), sleep=sleep) as sender:
        with pytest.raises(DeliveryError) as err:
            await sender.send(MSG_ID, BODY)
    assert len(receiver.seen) == 1
    assert sleep.delays == []
    assert err.value.retryable is False
    assert err.value.status == 400
    assert "HTTP 400" in str(err.value) and "bad payload: field x" in str(err.value)
    assert SECRET not in str(err.value) and base64.b64encode(KEY).decode() not in str(err.value)


async def test_429_honours_retry_after(aiohttp_server: ServerFactory) -> None:
    receiver, url = await _serve(aiohttp_server, (429, {"Retry-After": "2"}, "slow down", 0.0), _ok())
    sleep = RecordedSleep()
    async with WebhookSender(_settings(url), sleep=sleep, jitter=lambda: 0.9) as sender:
        await sender.send(MSG_ID, BODY)
    assert len(receiver.seen) == 2
    assert sleep.delays == [2.0]


async def test_retry_after_is_capped(aiohttp_server: ServerFactory) -> None:
    receiver, url = await _serve(aiohttp_server, (503, {"Retry-After": "86400"}, "", 0.0), _ok(204))
    sleep = RecordedSleep()
    async with WebhookSender(_settings(url), sleep=sleep) as sender:
        await sender.send(MSG_ID, BODY)
    assert sleep.delays == [60.0]


async def test_408_is_retried(aiohttp_server: ServerFactory) -> None:
    receiver, url = await _serve(aiohttp_server, (408, {}, "timeout", 0.0), (408, {}, "timeout", 0.0), _ok(202))
    sleep = RecordedSleep()
    async with WebhookSender(_settings(url), sleep=sleep, jitter=lambda: 1.0) as sender:
        await sender.send(MSG_ID, BODY)
    assert len(receiver.seen) == 3
    assert sleep.delays == [1.0, 2.0]


async def test_5xx_gives_up_after_max_attempts_with_a_trimmed_body(aiohttp_server: ServerFactory) -> None:
    receiver, url = await _serve(aiohttp_server, (502, {}, "x" * 10_000, 0.0))
    sleep = RecordedSleep()
    async with WebhookSender(_settings(url, max_attempts=3), sleep=sleep) as sender:
        with pytest.raises(DeliveryError) as err:
            await sender.send(MSG_ID, BODY)
    assert len(receiver.seen) == 3
    assert len(sleep.delays) == 2
    assert err.value.retryable is True and err.value.status == 502
    assert "HTTP 502" in str(err.value) and "3 attempts" in str(err.value)
    assert len(str(err.value)) < 500


async def test_backoff_grows_exponentially_and_is_capped(unused_tcp_port: int) -> None:
    sleep = RecordedSleep()
    settings = _settings(f"http://127.0.0.1:{unused_tcp_port}/hook", max_attempts=9)
    async with WebhookSender(settings, sleep=sleep, jitter=lambda: 1.0) as sender:
        with pytest.raises(DeliveryError):
            await sender.send(MSG_ID, BODY)
    assert sleep.delays == [1, 2, 4, 8, 16, 32, 60, 60]


async def test_jitter_stays_within_half_and_all_of_the_step(unused_tcp_port: int) -> None:
    sleep = RecordedSleep()
    settings = _settings(f"http://127.0.0.1:{unused_tcp_port}/hook", max_attempts=6)
    async with WebhookSender(settings, sleep=sleep) as sender:  # the real random.random
        with pytest.raises(DeliveryError):
            await sender.send(MSG_ID, BODY)
    for step, delay in zip([1, 2, 4, 8, 16], sleep.delays, strict=True):
        assert step / 2 <= delay <= step


async def test_receiver_down_is_retryable_after_max_attempts(unused_tcp_port: int) -> None:
    sleep = RecordedSleep()
    url = f"http://user:pw@127.0.0.1:{unused_tcp_port}/hook/path-token?token=do-not-log"
    async with WebhookSender(_settings(url, max_attempts=4), sleep=sleep) as sender:
        with capture_logs() as logs, pytest.raises(DeliveryError) as err:
            await sender.send(MSG_ID, BODY)
    assert err.value.retryable is True and err.value.status is None
    assert len(sleep.delays) == 3
    failed = [e for e in logs if e["event"] == "webhook.attempt_failed"]
    assert [e["attempt"] for e in failed] == [1, 2, 3, 4]
    assert "4 attempts" in str(err.value)
    for private in ("do-not-log", "path-token", "pw@"):
        assert private not in str(err.value) and private not in repr(logs)
    assert f"http://127.0.0.1:{unused_tcp_port}/…" in str(err.value)


async def test_a_slow_receiver_times_out_and_that_is_retryable(aiohttp_server: ServerFactory) -> None:
    receiver, url = await _serve(aiohttp_server, (200, {}, "late", 1.0))
    sleep = RecordedSleep()
    started = time.monotonic()
    async with WebhookSender(_settings(url, timeout_s=0.2, max_attempts=2), sleep=sleep) as sender:
        with pytest.raises(DeliveryError) as err:
            await sender.send(MSG_ID, BODY)
    assert time.monotonic() - started < 1.5  # two attempts of ~0.2 s, not two of 1 s
    assert len(receiver.seen) == 2
    assert err.value.retryable is True
    assert "timed out" in str(err.value)


async def test_a_given_session_is_used_and_left_open(aiohttp_server: ServerFactory) -> None:
    receiver, url = await _serve(aiohttp_server, _ok())
    async with aiohttp.ClientSession() as session:
        sender = WebhookSender(_settings(url), session=session)
        await sender.send(MSG_ID, BODY)
        await sender.aclose()
        assert not session.closed
    assert len(receiver.seen) == 1


async def test_an_owned_session_is_closed(aiohttp_server: ServerFactory) -> None:
    _, url = await _serve(aiohttp_server, _ok())
    sender = WebhookSender(_settings(url))
    await sender.send(MSG_ID, BODY)
    session = sender._session
    assert session is not None
    await sender.aclose()
    assert session.closed


def test_the_sender_needs_a_valid_secret() -> None:
    with pytest.raises(ValueError, match="secret"):
        WebhookSender(WebhookSettings.model_validate({"url": "http://127.0.0.1/hook"}))
    # A malformed whsec_ secret is refused when the settings load, naming the key but not the secret.
    from bot.config import ConfigError, load_settings

    with pytest.raises(ConfigError, match="webhook.secret") as err:
        load_settings(None, {"webhook": {"url": "http://127.0.0.1/hook", "secret": "whsec_@@@@"}})
    assert "@@@@" not in str(err.value)


async def test_the_url_given_to_send_wins_over_the_settings(aiohttp_server: ServerFactory) -> None:
    receiver, url = await _serve(aiohttp_server, _ok())
    settings = WebhookSettings.model_validate({"secret": SECRET})  # no url configured any more
    async with WebhookSender(settings) as sender:
        with pytest.raises(DeliveryError) as err:
            await sender.send(MSG_ID, BODY)
        assert err.value.retryable is False
        await sender.send(MSG_ID, BODY, url=url)
    assert len(receiver.seen) == 1 and receiver.seen[0]["verified"]


@pytest.mark.parametrize("url", ["not a url", "ftp://127.0.0.1/hook", "http://[::1/hook"])
async def test_a_malformed_url_is_not_retryable(url: str) -> None:
    sleep = RecordedSleep()
    async with WebhookSender(_settings("http://127.0.0.1/unused"), sleep=sleep) as sender:
        with pytest.raises(DeliveryError) as err:
            await sender.send(MSG_ID, BODY, url=url)
    assert err.value.retryable is False
    assert sleep.delays == []
