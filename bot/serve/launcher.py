"""The one interface the server starts bots through; ``local``, ``docker`` and ``kubernetes`` implement it."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Protocol

from bot.config import ServeSettings
from bot.serve.model import Exited, LaunchSpec

# Every container or Job the server starts carries these labels, so that a restarted server finds its own.
LABEL_APP = "app.kubernetes.io/managed-by"
LABEL_APP_VALUE = "jitsi-notetaker-serve"
LABEL_BOT = "jitsi-notetaker/bot-id"
# Which server started the container (docker: one engine may serve several servers, each adopts only its own).
LABEL_SERVER = "jitsi-notetaker/server"
# In the image: the artifact folder (Dockerfile: BOT_OUTPUT__DIR, VOLUME), and the names of containers and Jobs.
IMAGE_OUT = "/out"
UNIT_PREFIX = "notetaker-"
LOG_FILE = "bot.log"  # in the bot's folder: its output, as its launcher saw it (docker: the last part of it)


def server_id(settings: ServeSettings) -> str:
    """This server's ``LABEL_SERVER`` value: ``serve.instance``, else a hash of its absolute ``data_dir``."""
    if settings.instance:
        return settings.instance
    return hashlib.sha256(str(settings.data_dir.resolve()).encode()).hexdigest()[:16]


class LaunchError(Exception):
    """A bot could not be started (the engine refused, the image is missing ...); the message says why."""


class Launcher(Protocol):
    """Starts, watches and stops ``jitsi-bot join`` units; knows nothing of queues, HTTP or SQLite.

    A unit is named by the ``ref`` that ``launch`` returns (a pid, a container id, a Job name); the server
    stores it and hands it back after a restart.
    """

    name: str

    async def launch(self, spec: LaunchSpec, out_dir: Path) -> str:
        """Start the bot with its artifacts in ``out_dir`` (created); return the unit's ref.

        Raises:
            LaunchError: it could not be started.
        """
        ...

    async def wait(self, ref: str) -> Exited:
        """Wait until the unit has ended (however long the meeting lasts) and say how."""
        ...

    async def stop(self, ref: str, grace_s: float) -> None:
        """Ask the bot to leave gracefully (SIGTERM, ``docker stop``, Job deletion) and kill it after ``grace_s``.

        Returns at once; ``wait`` sees the end. Calling it again for the same unit is harmless. A stop that fails
        (the engine or API server unreachable, refused) is logged and the caller may call ``stop`` again; the
        docker and kubernetes launchers never raise. Should one raise anyway (``LaunchError``, or the local
        launcher's ``PermissionError``), the server answers the DELETE with 502 and tries again on the next.
        """
        ...

    async def running(self) -> dict[str, str]:
        """Units of this server still running (or ended and not yet collected): bot id -> ref, found by label.

        A launcher whose units cannot outlive the server's knowledge of them returns what it can prove.
        """
        ...

    async def aclose(self) -> None:
        """Release clients and connections (running units are left running)."""
        ...
