"""``serve.launcher = "local"``: each bot is a ``jitsi-bot join`` subprocess on this host."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import BinaryIO

from bot.serve.launcher import LOG_FILE, LaunchError
from bot.serve.model import JOIN_URL_ENV, Exited, LaunchSpec

ADOPTED_POLL_S = 0.5


def _cmdline(pid: int) -> list[str] | None:
    """The command line of one of this user's processes (anyone can forge a command line: never another's)."""
    try:
        if os.stat(f"/proc/{pid}").st_uid != os.getuid():
            return None
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None
    return [part.decode("utf-8", "replace") for part in raw.split(b"\0") if part] or None


def signal_name(number: int) -> str:
    """``SIGTERM``, ``SIGRTMIN+3``, or ``signal 99`` for a number ``signal.Signals`` does not name."""
    try:
        return signal.Signals(number).name
    except ValueError:
        if signal.SIGRTMIN < number <= signal.SIGRTMAX:
            return f"SIGRTMIN+{number - signal.SIGRTMIN}"
        return f"signal {number}"


def join_out_dir(argv: list[str]) -> Path | None:
    """The ``--out`` folder of a ``python -m bot join`` command line, or None if it is not one."""
    try:
        m = argv.index("-m")
    except ValueError:
        return None
    if argv[m + 1: m + 3] != ["bot", "join"]:
        return None
    for at, arg in enumerate(argv):
        if arg == "--out":
            return Path(argv[at + 1]) if at + 1 < len(argv) else None
        if arg.startswith("--out="):
            return Path(arg.removeprefix("--out="))
    return None


def _open_log(out_dir: Path) -> BinaryIO:
    out_dir.mkdir(parents=True, exist_ok=True)
    return (out_dir / LOG_FILE).open("ab")


class LocalLauncher:
    """Starts ``[python, -m, bot, join, ...]`` in a session of its own, its output in ``<out>/bot.log``.

    The environment is the server's minus ``BOT_SERVE__*`` (the API token stays with the server) plus the
    spec's (the password) and the meeting URL (``join -``: a ``?jwt=`` stays out of the process list). A bot
    started by an earlier server process is found by its command line (its ``--out`` is a folder under
    ``bots_dir``; only this user's processes count) and watched by polling ``/proc``; its exit code then comes
    from its status file.
    """

    name = "local"

    def __init__(self, bots_dir: Path, *, bot_config: Path | None = None,
                 env: Mapping[str, str] | None = None, interpreter: Sequence[str] = (sys.executable,)) -> None:
        """Prepare the launcher.

        Args:
            bots_dir: the folder holding each bot's ``<id>/``.
            bot_config: a config file given to every bot.
            env: the base environment (default: this process's).
            interpreter: the interpreter's command (tests put a stand-in script after it).
        """
        self._bots_dir = bots_dir.resolve()
        self._bot_config = bot_config.resolve() if bot_config is not None else None
        self._env = dict(os.environ if env is None else env)
        self._interpreter = list(interpreter)
        self._procs: dict[str, asyncio.subprocess.Process] = {}
        self._killers: set[asyncio.Task[None]] = set()

    def command(self, spec: LaunchSpec, out_dir: Path) -> list[str]:
        """The command line of one bot: the URL is ``-`` (it is given in the environment, see ``launch``)."""
        args = spec.join_args(str(out_dir.resolve()), url="-")
        cmd = [*self._interpreter, "-m", "bot", *args]
        if self._bot_config is not None:
            cmd += ["--config", str(self._bot_config)]
        return cmd

    async def launch(self, spec: LaunchSpec, out_dir: Path) -> str:
        """Start the bot; its ref is its pid."""
        env = {k: v for k, v in self._env.items() if not k.upper().startswith("BOT_SERVE__")}
        env.update(spec.join_env())
        env[JOIN_URL_ENV] = spec.meeting_url  # /proc/<pid>/environ is private to the user; cmdline is not
        try:
            log = await asyncio.to_thread(_open_log, out_dir)
            with log:
                proc = await asyncio.create_subprocess_exec(
                    *self.command(spec, out_dir), stdin=asyncio.subprocess.DEVNULL, stdout=log,
                    stderr=asyncio.subprocess.STDOUT, env=env, start_new_session=True)
        except OSError as exc:
            raise LaunchError(f"cannot start jitsi-bot join: {exc.strerror or exc}") from None
        self._procs[str(proc.pid)] = proc
        return str(proc.pid)

    async def wait(self, ref: str) -> Exited:
        """Wait for the process; a signal's death is reported as its reason."""
        proc = self._procs.get(ref)
        if proc is None:
            return await self._wait_adopted(int(ref))
        code = await proc.wait()
        self._procs.pop(ref, None)
        if code < 0:
            return Exited(None, f"killed by signal {signal_name(-code)}")
        return Exited(code)

    async def _wait_adopted(self, pid: int) -> Exited:
        while self._is_bot(pid):  # noqa: ASYNC110 (not our child: nothing to wait on but /proc)
            await asyncio.sleep(ADOPTED_POLL_S)
        return Exited(None)  # not our child: its code is in its status file, if it wrote one

    def _is_bot(self, pid: int) -> bool:
        argv = _cmdline(pid)
        out = join_out_dir(argv) if argv else None
        return out is not None and out.parent == self._bots_dir

    async def stop(self, ref: str, grace_s: float) -> None:
        """SIGTERM the bot (it leaves and writes its notes); SIGKILL its whole session after ``grace_s``."""
        pid = int(ref)
        if ref not in self._procs and not self._is_bot(pid):
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        task = asyncio.create_task(self._kill_later(ref, pid, grace_s), name=f"local.kill.{pid}")
        self._killers.add(task)
        task.add_done_callback(self._killers.discard)

    async def _kill_later(self, ref: str, pid: int, grace_s: float) -> None:
        await asyncio.sleep(grace_s)
        proc = self._procs.get(ref)
        if (proc is not None and proc.returncode is None) or (proc is None and self._is_bot(pid)):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)

    async def running(self) -> dict[str, str]:
        """Bots running here whose ``--out`` is under ``bots_dir``: bot id -> pid (from ``/proc``)."""
        return await asyncio.to_thread(self._scan)

    def _scan(self) -> dict[str, str]:
        found: dict[str, str] = {}
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            argv = _cmdline(int(entry.name))
            out = join_out_dir(argv) if argv else None
            if out is not None and out.parent == self._bots_dir:
                found[out.name] = entry.name
        return found

    async def aclose(self) -> None:
        """Forget pending kills (the bots keep their own shutdown deadline); running bots are left running."""
        for task in list(self._killers):
            task.cancel()
        await asyncio.gather(*self._killers, return_exceptions=True)
