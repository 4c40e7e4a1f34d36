"""Running ``jitsi-bot serve``: store, launcher, manager and HTTP site, started and stopped in order."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable, Sequence

import structlog
from aiohttp import web

from bot.config import Settings
from bot.serve.api import create_app
from bot.serve.launcher import Launcher, LaunchError
from bot.serve.local import LocalLauncher
from bot.serve.manager import BotManager
from bot.serve.policy import HostPolicy
from bot.serve.store import Store

log = structlog.get_logger(__name__)

AppSetup = Callable[[web.Application], None]


def make_launcher(settings: Settings) -> Launcher:
    """The launcher ``serve.launcher`` names."""
    serve = settings.serve
    try:
        if serve.launcher == "docker":
            from bot.serve.docker import DockerLauncher

            return DockerLauncher(serve)
        if serve.launcher == "kubernetes":
            from bot.serve.kubernetes import KubernetesLauncher

            return KubernetesLauncher(serve)
    except ImportError as exc:  # the [serve] extra is not installed
        raise LaunchError(f"serve.launcher = {serve.launcher!r} needs {exc.name or 'its client library'}: "
                          "pip install 'jitsi-notetaker[serve]'") from exc
    return LocalLauncher(serve.data_dir / "bots", bot_config=serve.bot_config)


async def serve(settings: Settings, host: str, port: int, *, setups: Sequence[AppSetup] = (),
                launcher: Launcher | None = None, ready: Callable[[int], None] | None = None) -> None:
    """Run the server until SIGTERM or SIGINT, then shut down in order.

    Args:
        settings: the whole settings tree (``serve``, and ``webhook`` for status webhooks).
        host: the address to listen on.
        port: the port (0: any free one).
        setups: called with the Application before it starts (the web page adds its routes).
        launcher: default: the one ``serve.launcher`` names.
        ready: called with the bound port once the server listens.
    """
    serve_settings = settings.serve
    store = Store(serve_settings.data_dir)
    await store.open()
    launcher = launcher or make_launcher(settings)
    policy = HostPolicy(serve_settings.allowed_hosts)
    manager = BotManager(serve_settings, store, launcher, webhook=settings.webhook, policy=policy)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    runner: web.AppRunner | None = None
    try:
        await manager.start()
        app = create_app(serve_settings, manager=manager, policy=policy)
        for setup in setups:
            setup(app)
        runner = web.AppRunner(app, shutdown_timeout=5, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, host, port)
        await site.start()
        bound = port
        server = site._server  # the bound port, for port 0
        if isinstance(server, asyncio.base_events.Server) and server.sockets:
            bound = server.sockets[0].getsockname()[1]
        log.info("serve.listening", host=host, port=bound, launcher=launcher.name,
                 max_concurrent=serve_settings.max_concurrent)
        if ready is not None:
            ready(bound)
        await stop.wait()
        log.info("serve.stopping")
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
        await manager.shutdown()
        if runner is not None:
            await runner.cleanup()
        await manager.aclose()
        await launcher.aclose()
        await store.close()
        log.info("serve.stopped")
