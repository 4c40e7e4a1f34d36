"""Launches headless Chromium through Playwright with the flags and permissions a meeting page needs."""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType
from typing import Any

import structlog
from playwright.async_api import Browser, BrowserContext, Page, Playwright, async_playwright

from bot.config import BrowserSettings

log = structlog.get_logger(__name__)

# --autoplay-policy: without it the AudioContext stays suspended (no user gesture in a bot).
# The background-networking flags stop Chromium from calling home, which fails on closed networks.
LAUNCH_ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--autoplay-policy=no-user-gesture-required",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--use-fake-ui-for-media-stream",
)


class BrowserSession:
    """One Playwright driver, one Chromium, one context for one meeting; use ``async with``.

    Args:
        settings: which Chromium and which extra flags.
        meeting_origin: the meeting page's origin, granted Local Network Access so that a public https
            page may open the bridge socket on 127.0.0.1.
        init_script: JavaScript run in every document before the page's own scripts.
    """

    def __init__(self, settings: BrowserSettings, *, meeting_origin: str, init_script: str) -> None:
        self._settings = settings
        self._origin = meeting_origin
        self._init_script = init_script
        self._pw: Playwright | None = None
        self._browser: Browser | None = None
        self.context: BrowserContext | None = None

    async def start(self) -> Page:
        """Launch Chromium and open the page the bot will use."""
        self._pw = await async_playwright().start()
        executable = self._settings.resolved_executable()
        launch: dict[str, Any] = {
            "headless": self._settings.headless,
            "args": [*LAUNCH_ARGS, *self._settings.extra_args],
        }
        if executable is not None:
            launch["executable_path"] = str(executable)
        self._browser = await self._pw.chromium.launch(**launch)
        log.info("browser.launched", version=self._browser.version, executable=str(executable or "bundled"))
        # bypass_csp: a site's CSP would otherwise block the bridge socket and the worklet's blob: module.
        self.context = await self._browser.new_context(
            bypass_csp=True,
            ignore_https_errors=self._settings.ignore_https_errors,
            viewport={"width": 1280, "height": 720},
        )
        try:
            await self.context.grant_permissions(["local-network-access"], origin=self._origin)
        except Exception as exc:  # an older Chromium without Local Network Access checks
            log.warning("browser.permission_not_granted", permission="local-network-access", error=str(exc))
        await self.context.add_init_script(script=self._init_script)
        return await self.context.new_page()

    def on_disconnected(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` when the browser process goes away (crashed, killed, closed)."""
        if self._browser is not None:
            self._browser.on("disconnected", lambda _: callback())

    async def aclose(self) -> None:
        """Close the browser and the driver; safe to call twice."""
        browser, self._browser = self._browser, None
        pw, self._pw = self._pw, None
        if browser is not None:
            try:
                await browser.close()
            except Exception as exc:  # already gone (crashed, killed)
                log.warning("browser.close_failed", error=str(exc))
        if pw is not None:
            await pw.stop()

    async def __aenter__(self) -> Page:
        return await self.start()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()
