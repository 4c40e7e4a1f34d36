"""Stopping a helper process the tests started in a session of its own, and everything it started."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess


def stop_session(proc: subprocess.Popen[bytes], grace_s: float) -> None:
    """SIGTERM ``proc`` (started with ``start_new_session=True``), SIGKILL it after ``grace_s``, then SIGKILL
    whatever else is left in its session (children it did not stop: a containerd, a Prosody)."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(grace_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
