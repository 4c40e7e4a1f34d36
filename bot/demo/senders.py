"""The fake room's sender browser: a headless Chromium of its own that produces the participants' audio.

``FakeJitsiRoom(remote_senders=True)`` starts one: its page (``page/senders.html``) makes every source and
the sending peer connection of every audio slot, so the bot's browser only receives (decodes), as in a real
meeting, and a benchmark measuring the bot's Chromium does not count the senders' rendering and encoding.
"""

from __future__ import annotations

import logging
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

from playwright.async_api import Page

from bot.config import BrowserSettings
from bot.meeting.browser import BrowserSession

log = logging.getLogger(__name__)

# On the sender browser's root process only (Chromium ignores it): how a resource sampler tells the sender
# browser's process tree (this process's children, with its Playwright driver as parent) from the bot's.
SENDER_MARKER = "--fake-room-senders"
# Loopback ICE; and real host addresses rather than mDNS names in the sender's offer, which the bot's
# browser, another process, could not resolve (it learns its own side as peer-reflexive).
SENDER_ARGS = ("--allow-loopback-in-peer-connection", "--disable-features=WebRtcHideLocalIpsWithMdns", SENDER_MARKER)


class SenderBrowser:
    """One headless Chromium (the bot's own ``BrowserSession``) showing the room's sender page; use ``async with``.

    Args:
        url: the room's sender page (``FakeJitsiRoom.base_url + "/senders.html"``).
        executable: the Chromium binary; None: the one ``BrowserSettings`` resolves (as the bot's).
    """

    def __init__(self, url: str, *, executable: Path | None = None) -> None:
        self._url = url
        self._executable = executable
        self._session: BrowserSession | None = None
        self._page: Page | None = None

    async def __aenter__(self) -> SenderBrowser:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def start(self) -> None:
        """Launch the browser and open the sender page (it connects to the room's ``/senders`` socket)."""
        settings = BrowserSettings.model_validate(
            {"executable_path": self._executable, "extra_args": list(SENDER_ARGS)})
        origin = "{0.scheme}://{0.netloc}".format(urlsplit(self._url))
        self._session = BrowserSession(settings, meeting_origin=origin, init_script="")
        try:
            self._page = page = await self._session.start()
            page.on("pageerror", lambda exc: log.warning("fake room senders: page error: %s", exc))
            page.on("console", _log_console)
            await page.goto(self._url, wait_until="load")
        except BaseException:
            await self.aclose()
            raise

    @property
    def page(self) -> Page:
        """The sender page (``window.__senders()``: how many sources and slots it holds)."""
        if self._page is None:
            raise RuntimeError("SenderBrowser is not started")
        return self._page

    async def aclose(self) -> None:
        """Close the browser and stop the driver (safe to call twice)."""
        session, self._session, self._page = self._session, None, None
        if session is not None:
            await session.aclose()


def _log_console(msg: Any) -> None:
    if msg.type in ("error", "warning"):
        log.warning("fake room senders: console %s: %s", msg.type, msg.text)
