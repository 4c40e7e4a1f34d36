"""A "human" participant: a second Chromium on the real jitsi-meet page, speaking a WAV file as its microphone.

It joins through the real prejoin screen and acts only through the web app's own objects (``APP.conference``
and the lib-jitsi-meet conference it holds), the same calls its buttons make: mute, rename, lock the room,
kick, turn the lobby on, admit or deny someone knocking, leave, reload.

The microphone is Chromium's fake capture device reading the WAV once (``%noloop``) from the moment the
app asks for it; the human joins with no microphone (``config.disableInitialGUM``) and ``start_speaking``
unmutes, so the speech starts when the test says so.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from pathlib import Path
from typing import Any
from urllib.parse import quote

from playwright.async_api import Browser, BrowserContext, Page, Playwright
from playwright.async_api import TimeoutError as PlaywrightTimeoutError

JOINED = "() => !!(window.APP && APP.conference && APP.conference._room && APP.conference._room.isJoined())"
PREJOIN_BUTTON = '[data-testid="prejoin.joinMeeting"]'
ARGS = [
    "--no-sandbox", "--disable-gpu", "--autoplay-policy=no-user-gesture-required",
    "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run",
    "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream", "--mute-audio",
]


class Human:
    """One person in the meeting, driven by the test.

    Args:
        pw: a started Playwright.
        chromium: the executable to launch (the stack's in-namespace wrapper).
        name: display name.
        wav: what the microphone says (16 kHz or 48 kHz mono WAV); None: a silent fake microphone.
        login: (user, password) to log in on the main domain first (a host, for the wait-for-host case).
    """

    def __init__(self, pw: Playwright, chromium: Path, name: str, *, wav: Path | None = None,
                 login: tuple[str, str] | None = None, extra_args: list[str] | None = None) -> None:
        self._pw = pw
        self._chromium = chromium
        self.name = name
        self._wav = wav
        self._login = login
        self._extra = extra_args or []
        self.browser: Browser | None = None
        self.context: BrowserContext | None = None
        self.page: Page | None = None
        self.console: list[str] = []
        self.url = ""

    async def launch(self) -> Page:
        """Start this person's browser (not yet in any meeting)."""
        args = list(ARGS) + self._extra
        if self._wav is not None:
            args.append(f"--use-file-for-fake-audio-capture={self._wav}%noloop")
        self.browser = await self._pw.chromium.launch(executable_path=str(self._chromium), headless=True,
                                                      args=args)
        self.context = await self.browser.new_context(ignore_https_errors=True)
        if self._login is not None:
            user, password = self._login
            # What jitsi-meet reads for credentials (Jibri's way): the app logs in on the main domain.
            await self.context.add_init_script(
                f"localStorage.setItem('xmpp_username_override', {json.dumps(user)});"
                f"localStorage.setItem('xmpp_password_override', {json.dumps(password)});"
            )
        self.page = await self.context.new_page()
        self.page.on("console", lambda m: self.console.append(f"{m.type}: {m.text}"))
        self.page.on("pageerror", lambda e: self.console.append(f"PAGEERROR {e}"))
        return self.page

    async def join(self, url: str, *, mic: bool = False, timeout_s: float = 45) -> None:
        """Open the meeting, pass the prejoin screen, and wait until the app says it joined.

        ``mic=False`` joins without a microphone (``start_speaking`` opens it); ``True`` opens it at once.
        """
        if self.page is None:
            await self.launch()
        assert self.page is not None
        hash_: dict[str, object] = {"userInfo.displayName": self.name}
        if not mic:
            hash_["config.disableInitialGUM"] = True
        self.url = url + "#" + "&".join(f"{k}={quote(json.dumps(v), safe='')}" for k, v in hash_.items())
        await self.page.goto(self.url)
        await self._pass_prejoin(timeout_s)

    async def _pass_prejoin(self, timeout_s: float) -> None:
        assert self.page is not None
        async with asyncio.timeout(timeout_s):
            while not await self.page.evaluate(JOINED):
                button = self.page.locator(PREJOIN_BUTTON)
                if await button.count() and await button.first.is_visible():
                    # Disabled while the prejoin screen sets up, or re-rendered mid-click: try again.
                    with contextlib.suppress(PlaywrightTimeoutError):
                        await button.first.click(timeout=2000)
                await asyncio.sleep(0.3)

    async def eval(self, script: str, arg: Any = None) -> Any:
        """Run ``script`` (a JS function of one argument) in the meeting page."""
        assert self.page is not None
        return await self.page.evaluate(script, arg)

    async def start_speaking(self) -> None:
        """Unmute: the app opens the microphone now, so the WAV plays from its start."""
        await self.eval("() => APP.conference.muteAudio(false)")

    async def mute(self, muted: bool = True) -> None:
        """Mute or unmute the microphone (the toolbar button's call)."""
        await self.eval("(m) => APP.conference.muteAudio(m)", muted)

    async def rename(self, name: str) -> None:
        """Change the display name: the action the app's display-name dialog dispatches (updateSettings)."""
        self.name = name
        await self.eval("(n) => APP.store.dispatch({type: 'SETTINGS_UPDATED', settings: {displayName: n}})", name)

    async def send_chat(self, text: str) -> None:
        """Send a group chat message: the action the chat panel's send button dispatches (SEND_MESSAGE).

        ``ignorePrivacy``: after a private message (the bot answers commands privately) the app would first ask
        whether to answer privately; this is the "send to everyone" answer.
        """
        await self.eval("(t) => APP.store.dispatch({type: 'SEND_MESSAGE', message: t, ignorePrivacy: true})", text)

    async def record_chat(self) -> None:
        """Start keeping the chat messages (group and private) this page receives (see ``chat``)."""
        await self.eval("() => { window.__chat = []; const keep = (id, text) => window.__chat.push(String(text));"
                        " APP.conference._room.on('conference.messageReceived', keep);"
                        " APP.conference._room.on('conference.privateMessageReceived', keep); }")

    async def chat(self) -> list[str]:
        """Chat messages received since ``record_chat``."""
        return list(await self.eval("() => window.__chat || []"))

    async def wait_for_chat(self, prefix: str, timeout_s: float = 30) -> str:
        """The first received chat message starting with ``prefix``, waiting for it."""
        async with asyncio.timeout(timeout_s):
            while True:
                for text in await self.chat():
                    if text.startswith(prefix):
                        return text
                await asyncio.sleep(0.25)

    async def others(self) -> dict[str, str]:
        """Everyone else this page shows: participant id -> display name."""
        result: dict[str, str] = await self.eval(
            "() => Object.fromEntries(APP.conference._room.getParticipants()"
            ".map(p => [p.getId(), p.getDisplayName() || '']))"
        )
        return result

    async def wait_for_other(self, name: str, *, present: bool = True, timeout_s: float = 30) -> str | None:
        """Wait until someone called ``name`` is (or is no longer) in the meeting; returns their id."""
        async with asyncio.timeout(timeout_s):
            while True:
                ids = [pid for pid, n in (await self.others()).items() if n == name]
                if present and ids:
                    return ids[0]
                if not present and not ids:
                    return None
                await asyncio.sleep(0.25)

    async def p2p_active(self) -> bool:
        """Whether the peer-to-peer media session is up."""
        return bool(await self.eval("() => APP.conference._room.isP2PActive()"))

    async def lock(self, password: str) -> None:
        """Set a room password (the security dialog's call)."""
        await self.eval("(p) => APP.conference._room.lock(p)", password)

    async def kick(self, participant_id: str) -> None:
        """Remove someone from the meeting (the participant menu's "Kick out")."""
        await self.eval("(id) => APP.conference._room.kickParticipant(id)", participant_id)

    async def enable_lobby(self) -> None:
        """Turn the lobby on (the security dialog's switch)."""
        await self.eval("() => APP.conference._room.enableLobby()")

    async def knocking(self) -> dict[str, str]:
        """People waiting in the lobby, as the moderator's page lists them: id -> name."""
        result: dict[str, str] = await self.eval(
            "() => Object.fromEntries((APP.store.getState()['features/lobby'].knockingParticipants || [])"
            ".map(p => [p.id, p.name || '']))"
        )
        return result

    async def answer_knock(self, participant_id: str, *, admit: bool) -> None:
        """Admit or reject someone from the lobby."""
        call = "lobbyApproveAccess" if admit else "lobbyDenyAccess"
        await self.eval(f"(id) => APP.conference._room.{call}(id)", participant_id)

    async def reload(self, *, timeout_s: float = 45) -> None:
        """Reload the page (a new participant id) and join again through the prejoin screen."""
        assert self.page is not None
        await self.page.reload()
        await self._pass_prejoin(timeout_s)

    async def leave(self) -> None:
        """Hang up (a graceful leave, as the red button does), then close the browser.

        Closing the tab alone also works, but then the others see either a graceful leave or a dropped
        connection ("Disconnected: closed"), whichever reaches Prosody first.
        """
        if self.page is not None and self.browser is not None:
            try:
                async with asyncio.timeout(5):
                    await self.page.evaluate("() => APP.conference._room && APP.conference._room.leave()")
            except Exception:  # the page is gone or stuck: closing the browser is the leave then
                pass
        await self.close()

    async def close(self) -> None:
        """Close the browser if still open."""
        if self.browser is not None:
            await self.browser.close()
            self.browser = None
