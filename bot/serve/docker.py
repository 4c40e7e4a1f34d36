"""The ``docker`` launcher: one container per bot through the Docker Engine API (aiodocker).

Each bot is a container named ``notetaker-<bot id>`` from ``serve.image`` running ``jitsi-bot join - --out
/out`` (the meeting URL in its environment: the host's process list and ``docker inspect``'s command show
``-``), its artifact folder bind-mounted at ``/out``, labelled with this server's id so that a restarted server
finds it and another server on the same engine leaves it alone. The container is not auto-removed: ``wait``
reads its exit code (and whether it was OOM-killed), saves the end of its output to ``bot.log`` in its folder,
then removes it.

Bind mounts name paths on the engine's host, so the server and the engine must share a filesystem (the usual
case: the local socket).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import re
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import aiodocker
import aiohttp
import structlog
from aiodocker.containers import DockerContainer
from aiodocker.exceptions import DockerError

from bot.config import ServeSettings
from bot.serve.launcher import (
    IMAGE_OUT,
    LABEL_APP,
    LABEL_APP_VALUE,
    LABEL_BOT,
    LABEL_SERVER,
    LOG_FILE,
    UNIT_PREFIX,
    LaunchError,
    server_id,
)
from bot.serve.model import JOIN_URL_ENV, Exited, LaunchSpec

log = structlog.get_logger(__name__)

CONFIG_PATH = "/etc/jitsi-bot/config.toml"  # where serve.bot_config is mounted, read-only
IMAGE_UID = 10001  # the Dockerfile's notetaker user, who must be able to write to /out
SHM_BYTES = 512 << 20  # Chromium keeps its renderer memory in /dev/shm; Docker's 64 MiB is too small
_NAME = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]*")  # Docker's rule for container names
_UNREACHABLE = 900  # aiodocker's status for a failed connection to the engine
_WAIT_RETRY_S = (1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 60.0, 60.0, 60.0, 60.0)  # the engine restarting: ~6 min
LOG_TAIL_LINES = 5000  # what wait() asks the engine for, of the container's output ...
LOG_TAIL_BYTES = 256 << 10  # ... and keeps of it in bot.log
INTERRUPTED = "the launch was interrupted"


class DockerLauncher:
    """Starts each bot as a container on a Docker engine.

    Args:
        settings: ``[serve]``: ``image``, ``bot_env``, ``bot_config``, ``stop_grace_s``, ``docker_network``.
        docker_url: the engine, e.g. ``unix:///var/run/docker.sock`` or ``tcp://host:2376``; None:
            ``DOCKER_HOST``, else the default socket.
        network_mode: the containers' network instead of ``serve.docker_network``. ``host`` reaches a meeting on
            this host and needs no Docker network, but the bots share the host's loopback: each bot's audio
            bridge then takes a free port (``BOT_BRIDGE__PORT=0``) and the image's health check, which probes the
            fixed port, is turned off. ``bridge`` (or a network's name) isolates the bots from the host's
            loopback services (the server's API among them).
        shm_bytes: size of ``/dev/shm`` (Chromium).
        image_uid: the image's user, who gets the artifact folder when the server runs as root (otherwise the
            folder is made writable for all: its parent, ``data_dir``, keeps other users out).
        environ: where the values of ``serve.bot_env`` come from (default: this process's environment).
        api_timeout_s: limit for one short Engine API call (create, start, inspect, list).
        instance: this server's ``LABEL_SERVER`` value, on its containers and required by ``running``; default
            ``server_id(serve)`` (``serve.instance``, else a hash of ``data_dir``), so that servers on one engine
            never adopt each other's bots.
    """

    name = "docker"

    def __init__(
        self,
        settings: ServeSettings,
        docker_url: str | None = None,
        *,
        network_mode: str | None = None,
        shm_bytes: int = SHM_BYTES,
        image_uid: int = IMAGE_UID,
        environ: Mapping[str, str] | None = None,
        api_timeout_s: float = 60,
        instance: str | None = None,
    ) -> None:
        self._settings = settings
        self._url = docker_url
        self._network_mode = network_mode or settings.docker_network
        self._shm_bytes = shm_bytes
        self._image_uid = image_uid
        self._environ = os.environ if environ is None else environ
        self._api_timeout_s = api_timeout_s
        self._instance = instance or server_id(settings)
        self._docker: aiodocker.Docker | None = None
        self._stops: dict[str, asyncio.Task[None]] = {}

    def _client(self) -> aiodocker.Docker:
        """The engine's client, made on first use (it needs the running loop)."""
        if self._docker is None:
            try:
                self._docker = aiodocker.Docker(url=self._url)
            except (AssertionError, ValueError, DockerError) as exc:  # aiodocker asserts when no socket is found
                raise LaunchError(f"no Docker engine at {self._where()}: {exc or 'no socket found'} "
                                  "(set DOCKER_HOST or start the engine)") from exc
        return self._docker

    def _where(self) -> str:
        return self._url or os.environ.get("DOCKER_HOST") or "the default socket"

    async def launch(self, spec: LaunchSpec, out_dir: Path) -> str:
        """Create and start the bot's container; return its id.

        Raises:
            LaunchError: the image is missing, the engine is unreachable or refused, a container of this bot
                exists already, or the bot's config file is missing.
        """
        name = UNIT_PREFIX + spec.bot_id
        if not _NAME.fullmatch(name):
            raise LaunchError(f"bot id {spec.bot_id!r} cannot name a container")
        config = self._container_config(spec, self._prepare_out(out_dir))
        docker = self._client()
        try:
            async with asyncio.timeout(self._api_timeout_s):
                container = await docker.containers.create(config, name=name)
        except TimeoutError as exc:
            raise LaunchError(f"the Docker engine at {self._where()} did not create {name} within "
                              f"{self._api_timeout_s:g} s") from exc
        except DockerError as exc:
            raise LaunchError(self._explain(exc, name)) from exc
        try:
            async with asyncio.timeout(self._api_timeout_s):
                await container.start()
        except (TimeoutError, DockerError) as exc:
            with contextlib.suppress(DockerError, TimeoutError):
                async with asyncio.timeout(self._api_timeout_s):
                    await container.delete(force=True, v=True)
            why = self._explain(exc, name) if isinstance(exc, DockerError) else "timed out"
            raise LaunchError(f"{name} was created but did not start: {why}") from exc
        log.info("serve.docker.launched", bot_id=spec.bot_id, container=container.id[:12], image=config["Image"])
        return container.id

    def _prepare_out(self, out_dir: Path) -> Path:
        """The artifact folder, created and writable by the image's user; absolute (a bind mount's source)."""
        out = out_dir.resolve()
        try:
            out.mkdir(parents=True, exist_ok=True)
            if os.geteuid() == 0:
                os.chown(out, self._image_uid, self._image_uid)
            else:
                out.chmod(0o777)
        except OSError as exc:
            raise LaunchError(f"cannot prepare the bot's folder {out}: {exc}") from exc
        return out

    def _container_config(self, spec: LaunchSpec, out: Path) -> dict[str, Any]:
        """The Engine API's ``ContainerCreate`` body (holds secrets in ``Env``: never log it)."""
        s = self._settings
        cmd = spec.join_args(IMAGE_OUT, url="-")
        mounts: list[dict[str, Any]] = [{"Type": "bind", "Source": str(out), "Target": IMAGE_OUT}]
        if s.bot_config is not None:
            source = s.bot_config.resolve()
            if not source.is_file():
                raise LaunchError(f"serve.bot_config {source} is not a file")
            mounts.append({"Type": "bind", "Source": str(source), "Target": CONFIG_PATH, "ReadOnly": True})
            cmd += ["--config", CONFIG_PATH]
        env: dict[str, str] = {}
        if self._network_mode == "host":
            env["BOT_BRIDGE__PORT"] = "0"
        missing = [n for n in s.bot_env if n not in self._environ]
        if missing:
            log.warning("serve.docker.bot_env_unset", names=missing)
        env |= {n: self._environ[n] for n in s.bot_env if n in self._environ}
        env |= spec.join_env()
        env[JOIN_URL_ENV] = spec.meeting_url
        config: dict[str, Any] = {
            "Image": s.image,
            "Cmd": cmd,
            "Env": [f"{k}={v}" for k, v in env.items()],
            "Labels": {**spec.labels, LABEL_APP: LABEL_APP_VALUE, LABEL_SERVER: self._instance,
                       LABEL_BOT: spec.bot_id},
            "StopTimeout": math.ceil(s.stop_grace_s),
            "HostConfig": {
                "NetworkMode": self._network_mode,
                "ShmSize": self._shm_bytes,
                "Mounts": mounts,
                "AutoRemove": False,
                "RestartPolicy": {"Name": "no"},
            },
        }
        if self._network_mode == "host":
            config["Healthcheck"] = {"Test": ["NONE"]}
        return config

    def _explain(self, exc: DockerError, name: str) -> str:
        if exc.status == _UNREACHABLE:
            return f"the Docker engine at {self._where()} is unreachable: {exc.message}"
        if exc.status == 404 and "image" in exc.message.lower():
            return (f"image {self._settings.image!r} is not on the Docker engine at {self._where()} "
                    f"(build or pull it first; serve.image names it): {exc.message}")
        if exc.status == 409:
            return f"a container named {name} exists already (this bot was started before): {exc.message}"
        return f"the Docker engine refused {name}: [{exc.status}] {exc.message}"

    async def wait(self, ref: str) -> Exited:
        """Wait for the container to end, read its exit code, keep the end of its output, then remove it.

        A container that is gone (removed by someone else) ends as ``Exited(None, ...)``; while the engine is
        unreachable (restarting) the wait is retried for a few minutes before it gives up the same way. A
        container that was created and never started (the server stopped between the two) is removed and ends
        as ``Exited(None, INTERRUPTED)``.
        """
        container = self._client().containers.container(ref)
        result = await self._wait(container)
        if isinstance(result, Exited):
            return result
        code = int(result["StatusCode"])
        facts: dict[str, Any] = {}
        try:
            async with asyncio.timeout(self._api_timeout_s):
                facts = await container.show()
        except (DockerError, TimeoutError) as exc:
            log.warning("serve.docker.inspect_failed", container=ref[:12], error=str(exc))
        reason = _reason(facts.get("State") or {}, code, (result.get("Error") or {}).get("Message"))
        await self._save_log(container, facts)
        await self._remove(container)
        log.info("serve.docker.exited", container=ref[:12], exit_code=code, reason=reason)
        return Exited(code, reason)

    async def _wait(self, container: DockerContainer) -> dict[str, Any] | Exited:
        """The engine's answer to ``wait`` (``StatusCode``, ``Error``), or how the container was lost."""
        for pause in (*_WAIT_RETRY_S, None):
            try:
                async with asyncio.timeout(self._api_timeout_s):
                    state = (await container.show()).get("State") or {}
                if state.get("Status") == "created":  # never started: the engine's wait would answer 0 at once
                    log.warning("serve.docker.never_started", container=container.id[:12])
                    await self._remove(container, force=True)
                    return Exited(None, INTERRUPTED)
                result: dict[str, Any] = await container.wait()
                return result
            except (DockerError, aiohttp.ClientError, TimeoutError) as exc:
                status = exc.status if isinstance(exc, DockerError) else _UNREACHABLE
                if status == 404:
                    return Exited(None, "the container is gone")
                if status != _UNREACHABLE or pause is None:
                    return Exited(None, f"lost the container: {exc or type(exc).__name__}")
                log.warning("serve.docker.wait_retry", container=container.id[:12],
                            error=str(exc) or type(exc).__name__, retry_s=pause)
                await asyncio.sleep(pause)
        raise AssertionError("unreachable")

    async def _remove(self, container: DockerContainer, *, force: bool = False) -> None:
        try:
            async with asyncio.timeout(self._api_timeout_s):
                await container.delete(force=force, v=True)
        except (DockerError, TimeoutError) as exc:
            log.warning("serve.docker.remove_failed", container=container.id[:12], error=str(exc))

    async def _save_log(self, container: DockerContainer, facts: Mapping[str, Any]) -> None:
        """The end of the container's output to ``bot.log`` in the folder mounted at ``/out``."""
        folder = next((Path(m["Source"]) for m in facts.get("Mounts") or []
                       if m.get("Type") == "bind" and m.get("Destination") == IMAGE_OUT and m.get("Source")), None)
        if folder is None:
            return
        try:
            async with asyncio.timeout(self._api_timeout_s):
                chunks = await container.log(stdout=True, stderr=True, tail=str(LOG_TAIL_LINES))
            data = "".join(chunks).encode("utf-8", "replace")[-LOG_TAIL_BYTES:]
            await asyncio.to_thread(_replace_file, folder / LOG_FILE, data)
        except (DockerError, aiohttp.ClientError, TimeoutError, OSError) as exc:
            log.warning("serve.docker.log_not_saved", container=container.id[:12],
                        error=str(exc) or type(exc).__name__)

    async def stop(self, ref: str, grace_s: float) -> None:
        """``docker stop`` in a task of its own: the image's stop signal (SIGTERM), SIGKILL after ``grace_s``.

        Returns at once; ``wait`` sees the end. A second stop of the same container while one is under way
        is ignored.
        """
        task = self._stops.get(ref)
        if task is not None and not task.done():
            return
        self._stops[ref] = asyncio.create_task(self._stop(ref, grace_s), name=f"serve.docker.stop.{ref[:12]}")

    async def _stop(self, ref: str, grace_s: float) -> None:
        # Nobody awaits this task: every failure is logged here (Launcher.stop never raises).
        t = max(1, math.ceil(grace_s))
        try:
            container = self._client().containers.container(ref)
            async with asyncio.timeout(t + self._api_timeout_s):
                await container.stop(t=t)
        except DockerError as exc:
            if exc.status not in (304, 404):  # already stopped, or gone
                log.warning("serve.docker.stop_failed", container=ref[:12], error=str(exc))
        except (aiohttp.ClientError, TimeoutError, LaunchError) as exc:  # the engine went away or did not answer
            log.warning("serve.docker.stop_failed", container=ref[:12], error=str(exc) or type(exc).__name__)
        finally:
            self._stops.pop(ref, None)

    async def running(self) -> dict[str, str]:
        """This server's containers (by ``LABEL_SERVER``), running or ended and not removed: bot id -> id.

        Raises:
            LaunchError: the engine is unreachable.
        """
        docker = self._client()
        try:
            async with asyncio.timeout(self._api_timeout_s):
                found = await docker.containers.list(
                    all=True, filters=json.dumps({"label": [f"{LABEL_APP}={LABEL_APP_VALUE}",
                                                            f"{LABEL_SERVER}={self._instance}"]}))
        except (DockerError, TimeoutError) as exc:
            raise LaunchError(f"cannot list the containers on the Docker engine at {self._where()}: {exc}") from exc
        units: dict[str, str] = {}
        for c in found:
            bot_id = (c["Labels"] or {}).get(LABEL_BOT)
            if bot_id:
                units[bot_id] = c.id
        return units

    async def aclose(self) -> None:
        """Cancel the stop requests in flight (the engine finishes them) and close the client."""
        tasks = list(self._stops.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._stops.clear()
        if self._docker is not None:
            await self._docker.close()
            self._docker = None


def _reason(state: Mapping[str, Any], code: int, error: str | None) -> str | None:
    """Why the container ended when it was not the bot's own choice: OOM-killed, killed, an engine error."""
    if state.get("OOMKilled"):
        return "OOMKilled"
    if error or state.get("Error"):
        return str(error or state["Error"])
    if code == 137:  # 128 + SIGKILL: `docker stop` ran out of grace, or someone killed it
        return "killed"
    return None


def _replace_file(path: Path, data: bytes) -> None:
    # The bot owns its folder and may have left anything at ``path`` (a symlink to the server's database ...):
    # write a new file of our own and rename it over whatever is there.
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
