"""POST the report to a webhook, signed per Standard Webhooks (https://www.standardwebhooks.com/).

Each request carries ``webhook-id`` (the same on every attempt and every resend of one meeting's report to one
URL, so receivers can dedupe), ``webhook-timestamp`` (seconds, fresh per attempt) and ``webhook-signature``
(``v1,<base64 HMAC-SHA256>`` over ``"{id}.{timestamp}." + body``). Delivery is at-least-once.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import email.utils
import hashlib
import hmac
import json
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from types import TracebackType
from typing import Self
from urllib.parse import urlsplit, urlunsplit

import aiohttp
import structlog
from aiohttp.abc import AbstractResolver

from bot.config import WebhookSettings
from bot.delivery.errors import DeliveryError
from bot.report.model import Report

log = structlog.get_logger(__name__)

USER_AGENT = "jitsi-notetaker"
EVENT_TYPE = "meeting.report"
BACKOFF_BASE_S = 1.0
BACKOFF_CAP_S = 60.0
DEFAULT_TOLERANCE_S = 300
MAX_BODY_IN_ERROR = 300
RETRY_STATUSES = frozenset({408, 429})
_SECRET_PREFIX = "whsec_"


def webhook_id(meeting_id: str, url: str) -> str:
    """The deterministic ``webhook-id`` of one meeting's report sent to one URL: ``msg_`` + 24 hex digits."""
    digest = hashlib.sha256(f"{meeting_id}\n{url}".encode()).hexdigest()
    return f"msg_{digest[:24]}"


def public_target(url: str, *, path: bool = True) -> str:
    """``url`` without user info, query string and fragment: safe to log and to store as an outbox target.

    Args:
        url: the webhook URL.
        path: keep the path; False replaces it with ``/…`` (some receivers put a token in the path).
    """
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
    except ValueError:
        return "(invalid URL)"
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        port = None
    netloc = f"{host}:{port}" if port is not None else host
    return urlunsplit((parts.scheme, netloc, parts.path if path else "/…", "", ""))


def _is_http_url(url: str) -> bool:
    try:
        parts = urlsplit(url)
        return parts.scheme in ("http", "https") and bool(parts.hostname)
    except ValueError:
        return False


def _key(secret: str) -> bytes:
    if secret.startswith(_SECRET_PREFIX):
        try:
            return base64.b64decode(secret[len(_SECRET_PREFIX) :], validate=True)
        except (binascii.Error, ValueError):
            raise ValueError("webhook secret starts with whsec_ but the rest is not valid base64") from None
    return secret.encode("utf-8")


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` value: ``v1,`` + base64(HMAC-SHA256(key, f"{msg_id}.{timestamp}." + body)).

    Args:
        secret: ``whsec_<base64 key>``, or any other string whose UTF-8 bytes are the key.
        msg_id: the ``webhook-id``.
        timestamp: the ``webhook-timestamp``, Unix seconds.
        body: the exact request body.

    Raises:
        ValueError: a ``whsec_`` secret whose key part is not valid base64.
    """
    mac = hmac.new(_key(secret), f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256)
    return "v1," + base64.b64encode(mac.digest()).decode("ascii")


def verify(
    secret: str,
    headers: Mapping[str, str],
    body: bytes,
    tolerance_s: float = DEFAULT_TOLERANCE_S,
    *,
    now: float | None = None,
) -> bool:
    """Check a request's Standard Webhooks signature (for tests and receivers).

    Args:
        secret: the shared secret, as for ``sign``.
        headers: the request headers; names are matched case-insensitively.
        body: the raw request body.
        tolerance_s: how far ``webhook-timestamp`` may be from now, either way.
        now: the current Unix time; default ``time.time()``.

    Returns:
        True if the timestamp is within tolerance and any of the space-separated ``v1,`` signatures matches
        (compared in constant time).
    """
    lower = {k.lower(): v for k, v in headers.items()}
    msg_id = lower.get("webhook-id")
    ts_raw = lower.get("webhook-timestamp")
    signatures = lower.get("webhook-signature")
    if not msg_id or not ts_raw or not signatures:
        return False
    try:
        timestamp = int(ts_raw)
    except ValueError:
        return False
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance_s:
        return False
    try:
        expected = sign(secret, msg_id, timestamp, body).encode("ascii")
    except ValueError:
        return False
    ok = False
    for candidate in signatures.split():
        version, _, _sig = candidate.partition(",")
        if version == "v1" and hmac.compare_digest(candidate.encode("utf-8", "replace"), expected):
            ok = True  # no early exit: the time taken does not depend on which signature matched
    return ok


def webhook_body(report: Report, *, now: datetime | None = None) -> bytes:
    """The JSON payload: ``{"type": "meeting.report", "timestamp": <ISO UTC>, "data": <report>}``, compact UTF-8."""
    stamp = (now or datetime.now(UTC)).astimezone(UTC).isoformat()
    payload = {"type": EVENT_TYPE, "timestamp": stamp, "data": report.model_dump(mode="json")}
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _trim(text: str, limit: int = MAX_BODY_IN_ERROR) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


class WebhookSender:
    """Sends signed webhook requests with retries; usable as an async context manager."""

    def __init__(
        self,
        settings: WebhookSettings,
        *,
        session: aiohttp.ClientSession | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
        jitter: Callable[[], float] = random.random,
        resolver: AbstractResolver | None = None,
        check_url: Callable[[str], object] | None = None,
    ) -> None:
        """Prepare a sender for ``settings.url`` (or the URL given to each ``send``).

        Args:
            settings: url (the default destination), secret, per-attempt timeout and attempts per ``send``.
            session: an aiohttp session to use (the caller closes it); None: create one and own it.
            clock: current Unix time, for ``webhook-timestamp`` and Retry-After dates.
            sleep: awaited between attempts (injected by tests).
            jitter: a number in [0, 1) that scales the random part of the backoff.
            resolver: resolves host names for the session this sender creates (e.g. one that refuses non-public
                addresses; ``jitsi-bot serve`` passes ``HostPolicy.webhook_resolver()``). The caller closes it.
            check_url: called with the URL before each ``send``; a ValueError it raises refuses the send
                (not retryable). For what a resolver cannot see, e.g. IP literals.

        Raises:
            ValueError: no secret, or a malformed ``whsec_`` secret.
        """
        if settings.secret is None or not settings.secret.get_secret_value():
            raise ValueError("webhook.secret is not set: Standard Webhooks requests must be signed")
        _key(settings.secret.get_secret_value())  # fail early on a malformed whsec_ secret
        self._settings = settings
        self._session = session
        self._owns_session = session is None
        self._clock = clock
        self._sleep = sleep
        self._jitter = jitter
        self._resolver = resolver
        self._check_url = check_url

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the session if this sender created it."""
        if self._owns_session and self._session is not None:
            await self._session.close()
            self._session = None

    def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None:
            connector = aiohttp.TCPConnector(resolver=self._resolver) if self._resolver is not None else None
            self._session = aiohttp.ClientSession(connector=connector)
        return self._session

    def _backoff(self, attempt: int) -> float:
        """Exponential backoff with jitter: between half and all of min(cap, base * 2^(attempt-1))."""
        ceiling = min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2.0 ** (attempt - 1))
        return ceiling / 2 + ceiling / 2 * self._jitter()

    def _retry_after(self, value: str | None) -> float | None:
        """Seconds to wait from a Retry-After header (delta-seconds or HTTP date), capped; None if absent/bad."""
        if not value:
            return None
        value = value.strip()
        try:
            seconds = float(value)
        except ValueError:
            try:
                when = email.utils.parsedate_to_datetime(value)
            except (TypeError, ValueError):
                return None
            if when.tzinfo is None:
                when = when.replace(tzinfo=UTC)
            seconds = when.timestamp() - self._clock()
        if seconds != seconds:  # NaN
            return None
        return min(BACKOFF_CAP_S, max(0.0, seconds))

    async def send(self, msg_id: str, body: bytes, *, url: str | None = None) -> None:
        """POST ``body`` to the webhook URL, retrying transient failures.

        Retried (up to ``settings.max_attempts`` attempts in this call, exponential backoff with jitter, base
        1 s, cap 60 s): connection errors, timeouts (``settings.timeout_s`` per attempt), 5xx, 408 and 429
        (Retry-After honoured, capped at 60 s). Not retried: any other non-2xx status.

        Args:
            msg_id: the ``webhook-id``, the same on every attempt (see ``webhook_id``).
            body: the JSON body, sent as is.
            url: the destination; default ``settings.url`` (an outbox item keeps the URL it was queued for).

        Raises:
            DeliveryError: the receiver did not accept the request; ``retryable`` says whether a later resend
                may succeed. The message holds the status and a trimmed response body, never the secret.
                Also raised, not retryable, when there is no URL at all or it is malformed.
        """
        url = url or self._settings.url
        if not url:
            raise DeliveryError("webhook URL is not set", retryable=False)
        target = public_target(url, path=False)  # for logs and error messages
        if not _is_http_url(url):
            raise DeliveryError(f"webhook URL {target!r} is not an http(s) URL", retryable=False)
        if self._check_url is not None:
            try:
                self._check_url(url)
            except ValueError as exc:
                raise DeliveryError(f"webhook URL {target!r} refused: {exc}", retryable=False) from None
        assert self._settings.secret is not None  # checked in __init__
        secret = self._settings.secret.get_secret_value()
        max_attempts = self._settings.max_attempts
        timeout = aiohttp.ClientTimeout(total=self._settings.timeout_s)
        session = self._get_session()
        for attempt in range(1, max_attempts + 1):
            timestamp = int(self._clock())
            headers = {
                "content-type": "application/json",
                "user-agent": USER_AGENT,
                "webhook-id": msg_id,
                "webhook-timestamp": str(timestamp),
                "webhook-signature": sign(secret, msg_id, timestamp, body),
            }
            status: int | None = None
            retry_after: float | None = None
            try:
                async with session.post(
                    url, data=body, headers=headers, timeout=timeout, allow_redirects=False
                ) as resp:
                    status = resp.status
                    if 200 <= status < 300:
                        log.info("webhook.delivered", target=target, status=status, attempt=attempt)
                        return
                    raw = await resp.content.read(4096)
                    retry_after = self._retry_after(resp.headers.get("Retry-After"))
                text = raw.decode("utf-8", "replace")
                problem = f"HTTP {status}" + (f": {_trim(text)}" if text.strip() else "")
                retryable = status >= 500 or status in RETRY_STATUSES
            except aiohttp.InvalidURL:
                raise DeliveryError(f"webhook URL {target!r} is not valid", retryable=False) from None
            except TimeoutError:
                problem, retryable, status = f"timed out after {self._settings.timeout_s:g} s", True, None
            except aiohttp.ClientError as exc:
                detail = str(exc).replace(url, target)  # never a query string or user info
                problem, retryable, status = f"{type(exc).__name__}: {_trim(detail)}", True, None

            last = attempt >= max_attempts or not retryable
            delay = None if last else (retry_after if retry_after is not None else self._backoff(attempt))
            log.warning(
                "webhook.attempt_failed",
                target=target,
                status=status,
                attempt=attempt,
                max_attempts=max_attempts,
                retryable=retryable,
                retry_in_s=None if delay is None else round(delay, 3),
                error=problem if status is None else None,
            )
            if delay is None:
                tried = f"{attempt} attempt" + ("s" if attempt > 1 else "")
                raise DeliveryError(
                    f"webhook POST to {target} failed ({tried}): {problem}", retryable=retryable, status=status
                )
            await self._sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover
