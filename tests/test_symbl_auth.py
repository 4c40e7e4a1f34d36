"""Symbl TokenManager against a real aiohttp token endpoint (no mocks of aiohttp)."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from pydantic import SecretStr
from structlog.testing import capture_logs

from bot.backends.base import BackendError, ConnectOptions, with_retries
from bot.backends.symbl.auth import TokenManager

APP_ID = "app-id-123"
SECRET = "s3cr3t-VALUE-never-shown"

Reply = tuple[int, Any]  # status, JSON body (or raw str)


@dataclass
class FakeSymbl:
    """The token endpoint: answers from a queue of replies (the last one repeats) and records requests."""

    replies: list[Reply] = field(default_factory=lambda: [(200, {"accessToken": "tok-1", "expiresIn": 86400})])
    delay_s: float = 0.0
    requests: list[dict[str, Any]] = field(default_factory=list)
    started: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle(self, request: web.Request) -> web.Response:
        self.requests.append({"method": request.method, "path": request.path, "body": await request.json(),
                              "content_type": request.content_type})
        self.started.set()
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        status, body = self.replies.pop(0) if len(self.replies) > 1 else self.replies[0]
        text = body if isinstance(body, str) else json.dumps(body)
        return web.Response(status=status, text=text, content_type="application/json")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def fake() -> FakeSymbl:
    return FakeSymbl()


@pytest.fixture
async def server(aiohttp_server: Callable[[web.Application], Awaitable[TestServer]], fake: FakeSymbl) -> TestServer:
    app = web.Application()
    app.router.add_post("/oauth2/token:generate", fake.handle)
    return await aiohttp_server(app)


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def manager(server: TestServer, session: aiohttp.ClientSession, clock: Clock) -> TokenManager:
    return TokenManager(str(server.make_url("/")), APP_ID, SecretStr(SECRET), session=session, clock=clock)


async def test_generates_once_then_serves_the_cached_token(manager: TokenManager, fake: FakeSymbl) -> None:
    assert await manager.token() == "tok-1"
    assert await manager.token() == "tok-1"
    assert len(fake.requests) == 1
    req = fake.requests[0]
    assert req["method"] == "POST" and req["path"] == "/oauth2/token:generate"
    assert req["content_type"] == "application/json"
    assert req["body"] == {"type": "application", "appId": APP_ID, "appSecret": SECRET}
    assert manager.expires_in_s == pytest.approx(86400)


async def test_base_url_with_or_without_trailing_slash(server: TestServer, session: aiohttp.ClientSession,
                                                       fake: FakeSymbl) -> None:
    base = str(server.make_url("")).rstrip("/")
    for url in (base, base + "/"):
        assert await TokenManager(url, APP_ID, SecretStr(SECRET), session=session).token() == "tok-1"
    assert [r["path"] for r in fake.requests] == ["/oauth2/token:generate"] * 2


async def test_refreshes_refresh_before_s_ahead_of_expiry(manager: TokenManager, fake: FakeSymbl,
                                                          clock: Clock) -> None:
    fake.replies = [(200, {"accessToken": "tok-1", "expiresIn": 1000}), (200, {"accessToken": "tok-2",
                                                                               "expiresIn": 1000})]
    assert await manager.token() == "tok-1"
    clock.now += 699  # 301 s left: still fresh
    assert await manager.token() == "tok-1"
    assert len(fake.requests) == 1
    clock.now += 1  # 300 s left: within refresh_before_s
    assert await manager.token() == "tok-2"
    assert len(fake.requests) == 2
    assert manager.expires_in_s == pytest.approx(1000)


async def test_custom_refresh_margin(server: TestServer, session: aiohttp.ClientSession, fake: FakeSymbl,
                                     clock: Clock) -> None:
    fake.replies = [(200, {"accessToken": "tok-1", "expiresIn": 100})]
    mgr = TokenManager(str(server.make_url("/")), APP_ID, SecretStr(SECRET), session=session, clock=clock,
                       refresh_before_s=10)
    await mgr.token()
    clock.now += 89
    await mgr.token()
    assert len(fake.requests) == 1
    clock.now += 1
    await mgr.token()
    assert len(fake.requests) == 2


async def test_the_same_token_with_a_smaller_expires_in_is_honoured(manager: TokenManager, fake: FakeSymbl,
                                                                     clock: Clock) -> None:
    # The server caches tokens: asked again, it returns the same token with its *remaining* lifetime.
    fake.replies = [(200, {"accessToken": "tok-1", "expiresIn": 86400}),
                    (200, {"accessToken": "tok-1", "expiresIn": 600}),
                    (200, {"accessToken": "tok-2", "expiresIn": 86400})]
    assert await manager.token() == "tok-1"
    clock.now += 86400 - 300  # due for refresh
    assert await manager.token() == "tok-1"
    assert len(fake.requests) == 2
    assert manager.expires_in_s == pytest.approx(600)  # not 86400 from the first answer, not the old expiry
    clock.now += 299  # 301 s left of the 600
    assert await manager.token() == "tok-1"
    assert len(fake.requests) == 2
    clock.now += 1  # 300 s left of the 600
    assert await manager.token() == "tok-2"
    assert len(fake.requests) == 3


async def test_a_token_shorter_than_the_margin_is_still_returned(manager: TokenManager, fake: FakeSymbl) -> None:
    fake.replies = [(200, {"accessToken": "tok-1", "expiresIn": 120})]
    assert await manager.token() == "tok-1"  # usable now, refreshed on the next call
    assert await manager.token() == "tok-1"
    assert len(fake.requests) == 2


async def test_401_is_final_and_names_the_settings(manager: TokenManager, fake: FakeSymbl) -> None:
    fake.replies = [(401, {"message": f"Invalid appSecret {SECRET}"})]
    with pytest.raises(BackendError) as err:
        await manager.token()
    assert err.value.retryable is False
    text = str(err.value)
    for name in ("symbl.app_id", "symbl.app_secret", "BOT_SYMBL__APP_ID", "BOT_SYMBL__APP_SECRET", "401"):
        assert name in text
    assert SECRET not in text
    assert err.value.__cause__ is None


@pytest.mark.parametrize("status", [500, 502, 504, 429, 408])
async def test_5xx_429_and_408_are_retryable(manager: TokenManager, fake: FakeSymbl, status: int) -> None:
    fake.replies = [(status, {"statusCode": status, "message": "Maximum number of concurrent jobs reached"})]
    with pytest.raises(BackendError) as err:
        await manager.token()
    assert err.value.retryable is True
    assert f"HTTP {status}" in str(err.value)
    assert "Maximum number of concurrent jobs reached" in str(err.value)


@pytest.mark.parametrize("status", [400, 403, 404])
async def test_other_4xx_are_final(manager: TokenManager, fake: FakeSymbl, status: int) -> None:
    fake.replies = [(status, f"<html>nope, {SECRET} is wrong</html>")]
    with pytest.raises(BackendError) as err:
        await manager.token()
    assert err.value.retryable is False
    assert f"HTTP {status}" in str(err.value)
    assert SECRET not in str(err.value)  # an echoed secret is masked


async def test_with_retries_recovers_from_a_500(manager: TokenManager, fake: FakeSymbl) -> None:
    fake.replies = [(500, {"message": "oops"}), (200, {"accessToken": "tok-9", "expiresIn": 3600})]
    delays: list[float] = []

    async def no_sleep(s: float) -> None:
        delays.append(s)

    token = await with_retries(manager.token, ConnectOptions(max_retry=2, retry_interval_s=0.01),
                               what="symbl token", sleep=no_sleep)
    assert token == "tok-9"
    assert len(fake.requests) == 2 and len(delays) == 1


async def test_unusable_200_bodies_are_retryable_and_do_not_leak_the_token(manager: TokenManager,
                                                                          fake: FakeSymbl) -> None:
    for body in ({"accessToken": "tok-LEAK", "expiresIn": "soon"}, {"expiresIn": 10}, "not json",
                 {"accessToken": "tok-LEAK", "expiresIn": 0}):
        fake.replies = [(200, body)]
        with pytest.raises(BackendError) as err:
            await manager.token()
        assert err.value.retryable is True
        assert "not usable" in str(err.value)
        assert "tok-LEAK" not in str(err.value)


async def test_timeout_is_retryable(server: TestServer, session: aiohttp.ClientSession, fake: FakeSymbl) -> None:
    fake.delay_s = 2.0
    mgr = TokenManager(str(server.make_url("/")), APP_ID, SecretStr(SECRET), session=session, timeout_s=0.2)
    with pytest.raises(BackendError, match="timed out") as err:
        await mgr.token()
    assert err.value.retryable is True


async def test_connection_error_is_retryable(session: aiohttp.ClientSession) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    mgr = TokenManager(f"http://127.0.0.1:{port}", APP_ID, SecretStr(SECRET), session=session)
    with pytest.raises(BackendError, match="token request failed") as err:
        await mgr.token()
    assert err.value.retryable is True
    assert SECRET not in str(err.value)


async def test_concurrent_callers_share_one_request(manager: TokenManager, fake: FakeSymbl) -> None:
    fake.delay_s = 0.2
    tokens = await asyncio.gather(*(manager.token() for _ in range(10)))
    assert tokens == ["tok-1"] * 10
    assert len(fake.requests) == 1


async def test_concurrent_callers_share_one_failure(manager: TokenManager, fake: FakeSymbl) -> None:
    fake.delay_s = 0.2
    fake.replies = [(503, {"message": "down"}), (200, {"accessToken": "tok-2", "expiresIn": 3600})]
    results = await asyncio.gather(*(manager.token() for _ in range(5)), return_exceptions=True)
    assert len(fake.requests) == 1
    assert all(isinstance(r, BackendError) and r.retryable and "HTTP 503" in str(r) for r in results)
    assert await manager.token() == "tok-2"  # the next call tries again
    assert len(fake.requests) == 2


async def test_a_cancelled_generator_lets_a_waiter_try(manager: TokenManager, fake: FakeSymbl) -> None:
    fake.delay_s = 0.3
    first = asyncio.create_task(manager.token())
    await fake.started.wait()
    second = asyncio.create_task(manager.token())
    await asyncio.sleep(0.05)
    first.cancel()
    assert await second == "tok-1"
    with pytest.raises(asyncio.CancelledError):
        await first
    assert len(fake.requests) == 2


async def test_invalidate_forces_a_new_token(manager: TokenManager, fake: FakeSymbl) -> None:
    fake.replies = [(200, {"accessToken": "tok-1", "expiresIn": 86400}),
                    (200, {"accessToken": "tok-2", "expiresIn": 86400})]
    assert await manager.token() == "tok-1"
    manager.invalidate()
    assert manager.expires_in_s is None
    assert await manager.token() == "tok-2"
    assert len(fake.requests) == 2
    manager.invalidate(stale="tok-1")  # someone already refreshed: keep tok-2
    assert await manager.token() == "tok-2"
    assert len(fake.requests) == 2
    manager.invalidate(stale="tok-2")
    await manager.token()
    assert len(fake.requests) == 3


async def test_neither_secret_nor_token_in_logs_errors_or_repr(manager: TokenManager, fake: FakeSymbl,
                                                              clock: Clock) -> None:
    fake.replies = [
        (200, {"accessToken": "tok-SENSITIVE", "expiresIn": 600}),
        (401, {"message": f"bad secret {SECRET}"}),
        (500, f"internal: {SECRET}"),
        (400, {"message": f"appSecret {SECRET} malformed"}),
        (200, {"accessToken": "tok-SENSITIVE", "expiresIn": "x"}),
    ]
    errors: list[str] = []
    with capture_logs() as logs:
        assert await manager.token() == "tok-SENSITIVE"
        for _ in range(4):
            clock.now += 10_000
            try:
                await manager.token()
            except BackendError as exc:
                errors.append(str(exc))
                errors.append(repr(exc))
        manager.invalidate()
    assert len(errors) == 8
    assert any(e["event"] == "symbl.token.generated" for e in logs)
    assert sum(e["event"] == "symbl.token.failed" for e in logs) == 4
    assert any(e["event"] == "symbl.token.invalidated" for e in logs)
    dumped = json.dumps(logs, default=str) + "\n".join(errors) + repr(manager)
    assert SECRET not in dumped
    assert "tok-SENSITIVE" not in dumped
