"""Symbl access tokens: generated from the app id and secret, cached, and refreshed before they expire.

Protocol (SYMBL.md §1.1): ``POST {base}/oauth2/token:generate`` with ``{"type": "application", "appId",
"appSecret"}`` answers ``{"accessToken", "expiresIn"}``. The server caches tokens itself and may answer with the
*same* token and a *smaller* ``expiresIn``, so the expiry is taken from every response. A wrong id or secret
answers 401. Neither the secret nor a token is ever logged or put in an error message.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import aiohttp
import structlog
from pydantic import SecretStr, ValidationError

from bot.backends.base import BackendError, http_error
from bot.backends.symbl.models import ApiErrorBody, TokenResponse

log = structlog.get_logger(__name__)

TOKEN_PATH = "/oauth2/token:generate"
CREDENTIALS_HINT = (
    "check the settings symbl.app_id and symbl.app_secret "
    "(environment BOT_SYMBL__APP_ID and BOT_SYMBL__APP_SECRET)"
)
_MAX_ERROR_BODY = 4096


class TokenManager:
    """Hands out a valid Symbl access token, generating one only when needed.

    Concurrent callers of :meth:`token` share one request, and its failure: callers that waited for a request
    that failed get the same error instead of each sending their own.
    """

    def __init__(
        self,
        base_url: str,
        app_id: str,
        app_secret: SecretStr,
        *,
        session: aiohttp.ClientSession,
        clock: Callable[[], float] = time.monotonic,
        refresh_before_s: float = 300,
        timeout_s: float = 10.0,
    ) -> None:
        """Set up the manager; nothing is sent until the first :meth:`token` call.

        Args:
            base_url: API root, e.g. ``https://api.symbl.ai``.
            app_id: The Symbl app id (setting ``symbl.app_id``).
            app_secret: The Symbl app secret (setting ``symbl.app_secret``).
            session: The HTTP session to use; the caller owns and closes it.
            clock: Monotonic seconds, for expiry bookkeeping (injectable for tests).
            refresh_before_s: Generate a new token this long before the current one expires.
            timeout_s: Total time allowed for one token request.
        """
        self._url = base_url.rstrip("/") + TOKEN_PATH
        self._app_id = app_id
        self._app_secret = app_secret
        self._session = session
        self._clock = clock
        self._refresh_before_s = refresh_before_s
        self._timeout_s = timeout_s
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._lock = asyncio.Lock()
        self._token: str | None = None
        self._expires_at = 0.0
        self._attempts = 0  # token requests finished (either way), to detect one that ended while a caller waited
        self._last_error: BackendError | None = None

    def __repr__(self) -> str:
        return f"TokenManager(url={self._url!r}, cached={self._token is not None})"

    @property
    def expires_in_s(self) -> float | None:
        """Seconds until the cached token expires (negative once expired), or None without one."""
        return None if self._token is None else self._expires_at - self._clock()

    def _fresh(self) -> str | None:
        if self._token is not None and self._clock() < self._expires_at - self._refresh_before_s:
            return self._token
        return None

    async def token(self) -> str:
        """A valid access token: the cached one, or a newly generated one when none is cached or it is near expiry.

        Returns:
            The access token (a JWT) for ``Authorization: Bearer`` or the streaming ``X-API-KEY`` header.

        Raises:
            BackendError: Generating failed; ``retryable`` is False for rejected credentials (401) and other
                final 4xx answers, True for 408/429/5xx, timeouts, connection errors and unusable 2xx bodies.
        """
        cached = self._fresh()
        if cached is not None:
            return cached
        seen = self._attempts
        async with self._lock:
            cached = self._fresh()
            if cached is not None:
                return cached
            if self._attempts != seen and self._last_error is not None:
                # A request that finished while we waited for the lock failed: share its outcome.
                raise BackendError(str(self._last_error), retryable=self._last_error.retryable)
            try:
                token = await self._generate()
            except BackendError as exc:
                self._last_error = exc
                raise
            else:
                self._last_error = None
                return token
            finally:
                self._attempts += 1

    def invalidate(self, stale: str | None = None) -> None:
        """Forget the cached token so the next :meth:`token` call generates one (e.g. after a 401 elsewhere).

        Args:
            stale: The token that was rejected. If given and a different token is cached by now (someone already
                refreshed), nothing is forgotten.
        """
        if stale is not None and stale != self._token:
            return
        if self._token is not None:
            log.info("symbl.token.invalidated")
        self._token = None
        self._expires_at = 0.0

    async def _generate(self) -> str:
        secret = self._app_secret.get_secret_value()
        body = {"type": "application", "appId": self._app_id, "appSecret": secret}
        started = self._clock()
        try:
            async with self._session.post(self._url, json=body, timeout=self._timeout) as resp:
                status = resp.status
                # StreamReader.read(n) may return a partial body: fine for an error snippet, not for the token.
                raw = await resp.read() if 200 <= status < 300 else await resp.content.read(_MAX_ERROR_BODY)
        except TimeoutError:
            raise self._failed(f"token request timed out after {self._timeout_s:g} s", retryable=True) from None
        except aiohttp.ClientError as exc:
            detail = _scrub(str(exc), secret)
            raise self._failed(f"token request failed: {type(exc).__name__}: {detail}", retryable=True) from None

        if status == 401:
            raise self._failed(f"app credentials rejected (HTTP 401); {CREDENTIALS_HINT}", retryable=False, status=401)
        if not 200 <= status < 300:
            detail = _scrub(_error_detail(raw), secret)
            if status in (400, 403):
                detail += f"; {CREDENTIALS_HINT}"
            err = http_error(status, f"token request failed: {detail}")
            raise self._failed(str(err), retryable=err.retryable, status=status)
        try:
            parsed = TokenResponse.model_validate_json(raw)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or '(body)'}: {e['msg']}"
                for e in exc.errors(include_url=False, include_input=False)
            )
            raise self._failed(f"token response is not usable ({problems})", retryable=True, status=status) from None

        self._token = parsed.access_token
        self._expires_at = started + parsed.expires_in
        log.info(
            "symbl.token.generated",
            expires_in_s=parsed.expires_in,
            refresh_in_s=max(0.0, parsed.expires_in - self._refresh_before_s),
        )
        return parsed.access_token

    def _failed(self, message: str, *, retryable: bool, status: int | None = None) -> BackendError:
        fields: dict[str, Any] = {"retryable": retryable, "error": message}
        if status is not None:
            fields["status"] = status
        log.warning("symbl.token.failed", **fields)
        return BackendError(f"Symbl token: {message}", retryable=retryable)


def _error_detail(raw: bytes) -> str:
    """The ``message`` of a JSON error body, else the body's text, shortened."""
    text = raw.decode("utf-8", "replace").strip()
    try:
        message = ApiErrorBody.model_validate_json(raw).message
    except ValidationError:
        message = None
    detail = message or text or "(empty body)"
    detail = " ".join(detail.split())
    return detail if len(detail) <= 200 else detail[:200] + "…"


def _scrub(text: str, secret: str) -> str:
    """``text`` with every occurrence of the secret masked."""
    return text.replace(secret, "***") if secret else text
