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

from playwright.async_api import Browser, Page, Playwright, async_playwright

from bot.config import BrowserSettings
from bot.meeting.browser import LAUNCH_ARGS

log = logging.getLogger(__name__)

# On the sender browser's root process only (Chromium ignores it): how a resource sampler tells the sender
# browser's process tree (this process's children, with its Playwright driver as parent) from the bot's.
SENDER_MARKER = "--fake-room-senders"
# Loopback ICE; and real host addresses rather than mDNS names in the sender's offer, which the bot's
# browser, another process, could not resolve (it learns its own side as peer-reflexive).
SENDER_ARGS = ("--allow-loopback-in-peer-connection", "--disable-features=WebRtcHideLocalIpsWithMdns", SENDER_MARKER)


class SenderBrowser:
    """One Playwright driver and one headless Chromium showing the room's sender page; use ``async with``.

    Args:
        url: the room's sender page (``FakeJitsiRoom.base_url + "/senders.html"``).
        executable: the Chromium binary; None: the one ``BrowserSettings`` resolves (as the bot's).
    """

    def __init__(self, url: str, *, executable: Path | None = None) -> None:
        self._url = url
        self._executable = executable
        self._pw: Playwright | None = None
        self._browser: Browser | None = None
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
        executable = self._executable or BrowserSettings.model_validate({}).resolved_executable()
        self._pw = await async_playwright().start()
        try:
            launch: dict[str, Any] = {"headless": True, "args": [*LAUNCH_ARGS, *SENDER_ARGS]}
            if executable is not None:
                launch["executable_path"] = str(executable)
            self._browser = await self._pw.chromium.launch(**launch)
            self._page = page = await self._browser.new_page()
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
        browser, self._browser, self._page = self._browser, None, None
        pw, self._pw = self._pw, None
        try:
            if browser is not None:
                await browser.close()
        finally:
            if pw is not None:
                await pw.stop()


def _log_console(msg: Any) -> None:
    if msg.type in ("error", "warning"):
        log.warning("fake room senders: console %s: %s", msg.type, msg.text)
