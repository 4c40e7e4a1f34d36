"""Joining a Jitsi Meet conference in a Playwright page, and leaving it.

Selectors and names follow the real client (see docs: JITSI.md): ``APP.conference._room.isJoined()`` as
Jibri polls it, the prejoin screen's ``#premeeting-name-input`` / ``prejoin.joinMeeting``, the lobby's
``#lobby-name-field`` / ``lobby.knockButton``, the password prompt's ``input[name="lockKey"]``, and the
waiting-for-host dialog's "Log-in" button.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import structlog
from playwright.async_api import Error as PlaywrightError
from playwright.async_api import Page

from bot.config import MeetingSettings
from bot.outcome import redact_urls

log = structlog.get_logger(__name__)

POLL_S = 0.25
PASSWORD_RETRY_S = 3.0  # the prompt still shown this long after submitting: the password was wrong
PASSWORD_INPUT = 'input[name="lockKey"]'
PREJOIN_BUTTON = '[data-testid="prejoin.joinMeeting"]'
KNOCK_BUTTON = '[data-testid="lobby.knockButton"]'
# Waiting for the host: jicofo's WaitForOwnerDialog and its "Log-in" button (shown over the lobby screen with
# mod_muc_wait_for_host too); newer lobby screens have a log-in button of their own.
HOST_LOGIN = '[aria-label="Log-in"], [data-testid="lobby.loginButton"]'



class JoinFailure(StrEnum):
    """Why the bot could not join; each maps to exit code 3 (2 for a bad URL)."""

    BAD_URL = "bad_url"
    PAGE_LOAD_FAILED = "page_load_failed"
    NOT_JITSI = "not_jitsi"
    PASSWORD_REQUIRED = "password_required"
    PASSWORD_WRONG = "password_wrong"
    LOBBY_DENIED = "lobby_denied"
    LOBBY_TIMEOUT = "lobby_timeout"
    WAITING_FOR_HOST = "waiting_for_host"
    CONFERENCE_FAILED = "conference_failed"
    ROOM_FULL = "room_full"
    KICKED = "kicked"
    JOIN_TIMEOUT = "join_timeout"


class JoinError(Exception):
    """The bot could not join; ``reason`` says why in a word, the message in a sentence."""

    def __init__(self, reason: JoinFailure, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(slots=True)
class ConferenceStatus:
    """Conference state reported by the capture script (updated by the session from bridge messages)."""

    joined: bool = False
    kicked: bool = False
    left: bool = False
    errors: list[str] = field(default_factory=list)
    waiting_for_host: bool = False  # the last lobby (membersOnly) failure said: waiting for a host
    room: str = ""  # the conference the bot is in (a breakout room has its own)
    breakout: bool = False
    visitor: bool = False

    def last_error(self) -> str | None:
        """The most recent ``conference.failed`` error name."""
        return self.errors[-1] if self.errors else None


# Jibri's overrides plus audio-only, auto-knock and no deep linking. Values are JSON (strings quoted).
# Only keys in jitsi-meet's configWhitelist take effect (others are dropped without a word, e.g.
# prejoinPageEnabled and startLowBandwidthMode). Never config.startSilent: it stops all incoming audio.
HASH_OVERRIDES: dict[str, Any] = {
    "config.prejoinConfig.enabled": False,
    "config.requireDisplayName": False,
    "config.startWithAudioMuted": True,
    "config.startWithVideoMuted": True,
    "config.disableInitialGUM": True,
    "config.startAudioOnly": True,
    "config.deeplinking.disabled": True,
    "config.disableDeepLinking": True,
    "config.analytics.disabled": True,
    "config.lobby.autoKnock": True,
}


def meeting_url(url: str, display_name: str, *, p2p: bool = True) -> str:
    """Validate a meeting URL and add the hash overrides the bot joins with.

    ``p2p=False`` adds ``config.p2p.enabled=false`` (Jibri does): every call then goes through the
    videobridge. With two people the deployment normally talks peer to peer, and where it has no bridge
    (or the bridge cannot be reached) that is the only way audio arrives, so by default the deployment's
    own P2P setting is left alone; the capture follows the P2P↔bridge switch either way.

    Raises:
        JoinError: BAD_URL when the URL is not an http(s) URL with a host and a room name.
    """
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise JoinError(JoinFailure.BAD_URL, f"not an http(s) meeting URL: {url!r}")
    if not parts.path.strip("/"):
        raise JoinError(JoinFailure.BAD_URL, f"the URL names no room (like https://host/RoomName): {url!r}")
    overrides = dict(HASH_OVERRIDES)
    if not p2p:
        overrides["config.p2p.enabled"] = False
    overrides["userInfo.displayName"] = display_name
    ours = "&".join(f"{k}={quote(json.dumps(v), safe='')}" for k, v in overrides.items())
    fragment = f"{parts.fragment}&{ours}" if parts.fragment else ours
    return urlunsplit((parts.scheme, parts.netloc, parts.path, parts.query, fragment))


def origin_of(url: str) -> str:
    """``scheme://host[:port]`` of a URL."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


class JitsiPage:
    """Drives one meeting page: join (prejoin, lobby, password, waiting for host) and leave.

    Args:
        page: the Playwright page (the capture script is already installed on its context).
        settings: the bot's name, password and timeouts.
        status: conference events reported by the capture script.
        on_state: called with "lobby", "password" or "waiting_for_host" when the join enters that state.
        clock: monotonic seconds; injectable for tests.
    """

    def __init__(
        self,
        page: Page,
        settings: MeetingSettings,
        status: ConferenceStatus,
        *,
        on_state: Callable[[str], None] = lambda _: None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._page = page
        self._settings = settings
        self._status = status
        self._on_state = on_state
        self._clock = clock

    async def open(self, url: str) -> None:
        """Navigate to the meeting (a fresh document, also when rejoining) and check it is Jitsi Meet."""
        timeout_ms = self._settings.page_load_timeout_s * 1000
        try:
            if self._page.url != "about:blank":
                # Going to the same URL again would be a same-document (hash) navigation: no reload.
                await self._page.goto("about:blank", timeout=timeout_ms)
            response = await self._page.goto(url, wait_until="load", timeout=timeout_ms)
        except PlaywrightError as exc:
            raise JoinError(JoinFailure.PAGE_LOAD_FAILED, f"could not load the page: {_short(exc)}") from None
        if response is not None and response.status >= 400:
            raise JoinError(JoinFailure.PAGE_LOAD_FAILED, f"the meeting page answered HTTP {response.status}")
        # The app defines APP while loading; give a slow bundle a few seconds after the load event.
        deadline = self._clock() + min(10.0, self._settings.page_load_timeout_s)
        while not await self._eval("() => !!(window.APP && window.APP.conference)"):
            if self._clock() > deadline:
                raise JoinError(JoinFailure.NOT_JITSI, "not a Jitsi Meet meeting page (no APP.conference)")
            await asyncio.sleep(POLL_S)

    async def join(self) -> None:
        """Get into the conference, handling whatever screen the deployment shows.

        Raises:
            JoinError: with the reason the bot could not join.
        """
        m = self._settings
        started = self._clock()
        deadline = started + m.join_timeout_s
        lobby_deadline: float | None = None
        host_deadline: float | None = None
        full_deadline: float | None = None
        self._password_sent_at: float | None = None
        self._clicked: dict[str, float] = {}  # screen -> when last clicked; screens take a moment to react
        seen_errors = len(self._status.errors)
        self._errors_from = seen_errors  # earlier joins' errors say nothing about this one
        self._status.waiting_for_host = False
        while True:
            if self._status.kicked:
                raise JoinError(JoinFailure.KICKED, "removed from the meeting while joining")
            if await self.is_joined():
                log.info("jitsi.joined", seconds=round(self._clock() - started, 2))
                return
            now = self._clock()
            for error in self._status.errors[seen_errors:]:
                if error == "conference.max_users":
                    # The app may come back as a receive-only visitor (all a notetaker needs): give it time.
                    if full_deadline is None:
                        full_deadline = now + m.room_full_wait_s
                        self._on_state("room_full")
                        log.info("jitsi.room_full_waiting_for_visitor", timeout_s=m.room_full_wait_s)
                    continue
                _raise_for(error)
            seen_errors = len(self._status.errors)
            await self._handle_screens(now)
            if host_deadline is None and await self._waiting_for_host():
                host_deadline = now + m.host_timeout_s
                self._on_state("waiting_for_host")
                log.info("jitsi.waiting_for_host", timeout_s=m.host_timeout_s)
            elif host_deadline is None and lobby_deadline is None and await self._in_lobby():
                lobby_deadline = now + m.lobby_timeout_s
                self._on_state("lobby")
                log.info("jitsi.lobby_waiting", timeout_s=m.lobby_timeout_s)
            if full_deadline is not None and now > full_deadline:
                raise JoinError(JoinFailure.ROOM_FULL,
                                f"the meeting is full and the app did not rejoin as a visitor within "
                                f"{m.room_full_wait_s:g} s")
            if lobby_deadline is not None and now > lobby_deadline:
                raise JoinError(JoinFailure.LOBBY_TIMEOUT,
                                f"not admitted from the lobby within {m.lobby_timeout_s:g} s")
            if host_deadline is not None and now > host_deadline:
                raise JoinError(JoinFailure.WAITING_FOR_HOST,
                                f"no host started the meeting within {m.host_timeout_s:g} s")
            if lobby_deadline is None and host_deadline is None and full_deadline is None and now > deadline:
                raise JoinError(JoinFailure.JOIN_TIMEOUT, f"not joined within {m.join_timeout_s:g} s")
            await asyncio.sleep(POLL_S)

    async def _handle_screens(self, now: float) -> None:
        """Answer the password prompt, the prejoin screen or the lobby's knock button, if shown."""
        if await self._visible(PASSWORD_INPUT):
            password = self._settings.password
            if password is None:
                raise JoinError(JoinFailure.PASSWORD_REQUIRED,
                                "the meeting needs a password: set meeting.password "
                                "(or BOT_MEETING__PASSWORD)")
            if self._password_sent_at is None:
                self._on_state("password")
                await self._page.fill(PASSWORD_INPUT, password.get_secret_value())
                await self._page.press(PASSWORD_INPUT, "Enter")
                self._password_sent_at = now
            elif now - self._password_sent_at > PASSWORD_RETRY_S:
                raise JoinError(JoinFailure.PASSWORD_WRONG, "the meeting password was not accepted")
        elif await self._visible(PREJOIN_BUTTON):
            if now - self._clicked.get("prejoin", -1e9) > 3:
                await self._fill_if_empty("#premeeting-name-input")
                await self._click(PREJOIN_BUTTON)
                self._clicked["prejoin"] = now
        elif await self._visible(KNOCK_BUTTON) and now - self._clicked.get("knock", -1e9) > 10:
            await self._fill_if_empty("#lobby-name-field")
            await self._click(KNOCK_BUTTON)
            self._clicked["knock"] = now

    async def _in_lobby(self) -> bool:
        if any(e.endswith("membersOnly") for e in self._status.errors[self._errors_from:]):
            return True
        return await self._visible(f"{KNOCK_BUTTON}, .lobby-screen")

    async def _waiting_for_host(self) -> bool:
        # jicofo refuses the room until a moderator logs in (authenticationRequired); mod_muc_wait_for_host
        # puts guests in the lobby with waitingForHost=true. Either way the app retries every 5 s.
        recent = self._status.errors[self._errors_from:]
        if self._status.waiting_for_host or "conference.authenticationRequired" in recent:
            return True
        return await self._visible(HOST_LOGIN)

    async def is_joined(self) -> bool:
        """Whether the page says it is in the conference."""
        return bool(await self._eval("() => !!(APP.conference._room && APP.conference._room.isJoined())"))

    async def leave(self, timeout_s: float = 5.0) -> None:
        """Leave the conference politely, as Jibri does; bounded and never raising."""
        try:
            async with asyncio.timeout(timeout_s):
                await self._page.evaluate(
                    "() => { const r = window.APP && APP.conference && APP.conference._room;"
                    " return r && r.isJoined() ? Promise.resolve(r.leave()).then(() => true) : false; }"
                )
        except (TimeoutError, PlaywrightError) as exc:
            log.warning("jitsi.leave_failed", error=_short(exc))

    async def send_chat(self, text: str, *, to: str | None = None, timeout_s: float = 5.0) -> bool:
        """Post ``text`` to the meeting's chat, or privately to participant ``to``.

        Returns False when that was not possible (not in a conference, a page that does not answer); bounded
        and never raising.
        """
        try:
            async with asyncio.timeout(timeout_s):
                return bool(await self._page.evaluate(
                    "([text, to]) => { const r = window.APP && APP.conference && APP.conference._room;"
                    " if (!r || !r.isJoined()) return false;"
                    " if (to) { if (!r.sendPrivateTextMessage) return false; r.sendPrivateTextMessage(to, text); }"
                    " else { if (!r.sendTextMessage) return false; r.sendTextMessage(text); }"
                    " return true; }", [text, to]))
        except (TimeoutError, PlaywrightError) as exc:
            log.warning("jitsi.chat_failed", error=_short(exc))
            return False

    async def _eval(self, expression: str) -> Any:
        try:
            return await self._page.evaluate(expression)
        except PlaywrightError as exc:
            # Navigation destroys the execution context mid-call: treat as "not yet".
            log.debug("jitsi.evaluate_failed", error=_short(exc))
            return None

    async def _visible(self, selector: str) -> bool:
        try:
            return await self._page.locator(selector).first.is_visible()
        except PlaywrightError:
            return False

    async def _click(self, selector: str) -> None:
        try:
            await self._page.locator(selector).first.click(timeout=2000)
        except PlaywrightError as exc:
            log.debug("jitsi.click_failed", selector=selector, error=_short(exc))

    async def _fill_if_empty(self, selector: str) -> None:
        try:
            box = self._page.locator(selector).first
            if await box.is_visible() and not await box.input_value():
                await box.fill(self._settings.name)
        except PlaywrightError as exc:
            log.debug("jitsi.fill_failed", selector=selector, error=_short(exc))


def _raise_for(error: str) -> None:
    """Raise for ``conference.failed`` errors that end a join; screens the join loop handles pass."""
    if error.endswith("accessDenied"):
        raise JoinError(JoinFailure.LOBBY_DENIED, "a moderator rejected the bot from the lobby")
    if error == "conference.destroyed" or error.endswith("notAllowed"):
        raise JoinError(JoinFailure.CONFERENCE_FAILED, f"the conference failed: {error}")
    # membersOnly (lobby, or waiting for the host), passwordRequired, authenticationRequired (waiting for the
    # host) and max_users (visitor retry) are states the join loop handles.


def _short(exc: BaseException) -> str:
    # Playwright quotes the whole URL (a ?jwt= included) in its errors.
    return redact_urls(str(exc).splitlines()[0])[:300] if str(exc) else type(exc).__name__
