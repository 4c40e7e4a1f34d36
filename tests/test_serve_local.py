"""bot.serve.local: a bot killed by a real-time signal is reported as such, and only this user's processes are
adopted as bots after a restart (a command line is world-readable and anyone can forge one)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from pathlib import Path

import pytest

from bot.serve.local import LocalLauncher, join_out_dir, signal_name
from bot.serve.model import LaunchSpec

SLEEPER = (sys.executable, "-c", "import time; time.sleep(60)")  # argv after it: -m bot join - --out DIR


def test_signal_names_cover_real_time_and_unknown_signals() -> None:
    assert signal_name(signal.SIGTERM) == "SIGTERM"
    assert signal_name(signal.SIGRTMIN + 3) == "SIGRTMIN+3"
    assert signal_name(200) == "signal 200"
    assert join_out_dir(["py", "-m", "bot", "join", "-", "--out=/x/b1"]) == Path("/x/b1")
    assert join_out_dir(["py", "-m", "bot", "join", "-", "--out", "/x/b2"]) == Path("/x/b2")
    assert join_out_dir(["py", "-m", "bot", "transcribe", "--out", "/x/b3"]) is None


async def test_a_bot_killed_by_a_real_time_signal_is_reported_not_lost(tmp_path: Path) -> None:
    launcher = LocalLauncher(tmp_path / "bots", interpreter=SLEEPER)
    ref = await launcher.launch(LaunchSpec("b1", "https://meet.example.org/R"), tmp_path / "bots" / "b1")
    try:
        assert (await launcher.running()) == {"b1": ref}
        os.kill(int(ref), signal.SIGRTMIN + 2)
        exited = await asyncio.wait_for(launcher.wait(ref), 30)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(int(ref), signal.SIGKILL)
        await launcher.aclose()
    assert exited.exit_code is None and exited.reason == "killed by signal SIGRTMIN+2"


@pytest.mark.skipif(os.getuid() != 0, reason="starting another user's process needs root")
async def test_another_users_process_with_a_bot_command_line_is_not_adopted(tmp_path: Path) -> None:
    bots = tmp_path / "bots"
    launcher = LocalLauncher(bots, interpreter=SLEEPER)
    argv = launcher.command(LaunchSpec("theirs", "https://meet.example.org/R"), bots / "theirs")
    # nobody cannot run this venv's python: a shell with the same arguments after its script
    forged = await asyncio.create_subprocess_exec(
        "/bin/sh", "-c", "while :; do sleep 1; done", *argv[len(SLEEPER):], user=65534, group=65534,
        stdin=asyncio.subprocess.DEVNULL, cwd="/", start_new_session=True)
    try:
        ours = await launcher.launch(LaunchSpec("ours", "https://meet.example.org/R"), bots / "ours")
        adopter = LocalLauncher(bots, interpreter=SLEEPER)  # a restarted server: neither is its child
        assert await adopter.running() == {"ours": ours}
        await adopter.stop(str(forged.pid), 0.1)  # not ours: not signalled
        await adopter.aclose()
        assert forged.returncode is None
        await launcher.stop(ours, 0.1)
        assert (await asyncio.wait_for(launcher.wait(ours), 30)).reason == "killed by signal SIGTERM"
    finally:
        os.killpg(forged.pid, signal.SIGKILL)
        await forged.wait()
        await launcher.aclose()
