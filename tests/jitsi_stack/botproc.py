"""`jitsi-bot join` as a user runs it, in the stack's network namespace: a real process, unchanged."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

from tests.jitsi_stack.stack import ROOT, JitsiStack


class BotProcess:
    """One ``jitsi-bot join`` process; its stdout and stderr go to files beside ``out``."""

    def __init__(self, proc: asyncio.subprocess.Process, out: Path) -> None:
        self.proc = proc
        self.out = out

    @property
    def stderr(self) -> str:
        """Everything the bot logged so far."""
        path = self.out.parent / f"{self.out.name}.stderr"
        return path.read_text(errors="replace") if path.exists() else ""

    @property
    def stdout(self) -> str:
        """What the bot printed for the user."""
        path = self.out.parent / f"{self.out.name}.stdout"
        return path.read_text(errors="replace") if path.exists() else ""

    async def wait(self, timeout_s: float = 90) -> int:
        """The exit code; kills the bot if it has not ended within ``timeout_s``."""
        try:
            async with asyncio.timeout(timeout_s):
                return await self.proc.wait()
        except TimeoutError:
            self.proc.kill()
            await self.proc.wait()
            raise AssertionError(f"the bot did not end within {timeout_s:g} s:\n{self.stderr[-3000:]}") from None

    def meeting(self) -> dict[str, Any]:
        """``meeting.json``."""
        result: dict[str, Any] = json.loads((self.out / "meeting.json").read_text())
        return result

    def report(self) -> dict[str, Any]:
        """``report.json``."""
        result: dict[str, Any] = json.loads((self.out / "report.json").read_text())
        return result

    def states(self) -> list[str]:
        """The lifecycle states the bot went through."""
        return [s["state"] for s in self.meeting()["states"]]

    async def wait_state(self, state: str, timeout_s: float = 60) -> None:
        """Wait until the bot logs that it entered ``state``."""
        async with asyncio.timeout(timeout_s):
            while f'"state": "{state}"' not in self.stderr:
                if self.proc.returncode is not None:
                    raise AssertionError(f"the bot ended before {state}:\n{self.stderr[-3000:]}")
                await asyncio.sleep(0.2)

    def kill(self) -> None:
        """Stop the bot at once if it is still running."""
        if self.proc.returncode is None:
            self.proc.kill()


async def start_bot(stack: JitsiStack, url: str, out: Path, *, name: str = "Minutes Bot",
                    env: dict[str, str] | None = None, email: bool = False) -> BotProcess:
    """Start ``jitsi-bot join URL --out OUT --name NAME`` inside the stack's namespace.

    ``env`` adds ``BOT_*`` settings; ``email`` sends the summary to the stack's SMTP sink.
    """
    out.parent.mkdir(parents=True, exist_ok=True)
    settings = {"BOT_MEETING__EMPTY_GRACE_S": "3", "BOT_MEETING__JOIN_TIMEOUT_S": "45", "BOT_LOG__FORMAT": "json"}
    if email:
        settings |= {"BOT_EMAIL__TO": '["team@example.org"]', "BOT_SMTP__HOST": "127.0.0.1",
                     "BOT_SMTP__PORT": str(stack.smtp_port), "BOT_SMTP__SECURITY": "none"}
    full_env = {**os.environ, **settings, **(env or {})}
    cmd = stack.ns_command([sys.executable, "-m", "bot", "join", url, "--out", str(out), "--name", name])
    with (out.parent / f"{out.name}.stdout").open("wb") as so, (out.parent / f"{out.name}.stderr").open("wb") as se:
        proc = await asyncio.create_subprocess_exec(*cmd, cwd=ROOT, env=full_env, stdout=so, stderr=se)
    return BotProcess(proc, out)
