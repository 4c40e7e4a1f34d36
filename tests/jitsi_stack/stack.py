"""JitsiStack: the real jitsi-meet web app with Prosody and a focus stand-in, in a network namespace of its own.

The stack runs in a private network namespace (``unshare -n``; root needed), so the tests' WebRTC and XMPP
traffic cannot reach any other host. Everything that talks to it runs in the same namespace through
``nsenter``: the bot (``ns_command``) and the "human" Chromium (``chromium_wrapper``, an executable that
Playwright launches; its control pipe is unaffected by the namespace).

Inputs, from the environment:
    JITSI_WEB_DIST: the built web app, a ``web-dist.tgz`` (default ``../shared/jitsi-meet/web-dist.tgz``
        beside this checkout; ``scripts/build-jitsi-web`` makes one).
    JITSI_PROSODY_PLUGINS: jitsi's Prosody modules folder (default ``../shared/jitsi-meet/prosody-plugins``);
        without it the lobby cases are skipped.
"""

from __future__ import annotations

import json
import os
import select
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path
from typing import Any

from tests.processes import stop_session

ROOT = Path(__file__).resolve().parents[2]
# Where the workplace keeps the built web app and jitsi's Prosody modules: beside this checkout, or (for a
# clone made elsewhere on the same machine) the workplace's own folder.
SHARED = next((p for p in (ROOT.parent / "shared" / "jitsi-meet", Path("/work/shared/jitsi-meet")) if p.is_dir()),
              ROOT.parent / "shared" / "jitsi-meet")
# The web app these tests were written against (README "Joining a real meeting" names it too).
TESTED_VERSION = "jitsi-meet 566b3ba2d (2025-09-22) with lib-jitsi-meet 518cec5f"
CHROMIUM = Path("/usr/bin/chromium")


def web_dist() -> Path:
    """Where the built web app is expected."""
    return Path(os.environ.get("JITSI_WEB_DIST", SHARED / "web-dist.tgz"))


def prosody_plugins() -> Path | None:
    """jitsi's Prosody modules, or None when they are not here."""
    path = Path(os.environ.get("JITSI_PROSODY_PLUGINS", SHARED / "prosody-plugins"))
    return path if (path / "mod_muc_lobby_rooms.lua").is_file() else None


def unavailable_reason() -> str | None:
    """Why the stack cannot run on this machine, or None when it can."""
    if not web_dist().is_file():
        return f"the jitsi-meet web app is not here: {web_dist()} (set JITSI_WEB_DIST; scripts/build-jitsi-web)"
    if os.geteuid() != 0:
        return "the real-client stack runs in a network namespace of its own: needs root (unshare -n)"
    for tool in ("prosody", "unshare", "nsenter", "ip"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (scripts/setup installs it)"
    if not CHROMIUM.exists():
        return "needs Debian's chromium (scripts/setup installs it)"
    try:
        import slixmpp  # noqa: F401
    except ImportError:
        return "slixmpp is not installed (pip install -e '.[test]')"
    return None


def unpack_web(target: Path, dist: Path | None = None) -> Path:
    """Unpack the built web app (``web_dist()`` by default) into ``target``; returns ``target``."""
    target.mkdir(parents=True, exist_ok=True)
    with tarfile.open(dist or web_dist()) as tar:
        tar.extractall(target, filter="data")
    return target


class JitsiStack:
    """One deployment: start it, point participants at ``url(room)``, stop it.

    Args:
        workdir: logs, Prosody's data, the TLS certificate and the SMTP sink's mail go here.
        webroot: the unpacked web app (``unpack_web``); several stacks may serve the same one.
        profile: ``open`` (anyone may start a meeting; lobby available) or ``wait_for_host`` (guests wait
            until a logged-in host arrives).
    """

    HTTP_ORIGIN = "http://localhost:8000"
    TLS_HOST = "meet.jitsi.test"
    TLS_ORIGIN = f"https://{TLS_HOST}:8443"

    def __init__(self, workdir: Path, webroot: Path, *, profile: str = "open") -> None:
        self.workdir = workdir
        self.webroot = webroot
        self.profile = profile
        self._proc: subprocess.Popen[bytes] | None = None
        self.info: dict[str, Any] = {}

    @property
    def netns(self) -> str:
        """The namespace's handle for ``nsenter --net=``."""
        assert self._proc is not None, "stack not started"
        return f"/proc/{self._proc.pid}/ns/net"

    @property
    def mail_dir(self) -> Path:
        """Where the SMTP sink (127.0.0.1:2525 in the namespace) saves messages."""
        return self.workdir / "mail"

    @property
    def smtp_port(self) -> int:
        """The sink's port inside the namespace."""
        return int(self.info["ports"]["smtp"])

    @property
    def veth_addr(self) -> str:
        """The namespace's one non-loopback address."""
        return str(self.info["veth"])

    def url(self, room: str, *, tls: bool = False) -> str:
        """A meeting URL: ``http://localhost:8000/<room>`` or the public-looking TLS origin."""
        return f"{self.TLS_ORIGIN if tls else self.HTTP_ORIGIN}/{room}"

    def start(self, timeout_s: float = 60.0) -> None:
        """Start prosody, the focus, the web app and the SMTP sink; return when all of them answer."""
        reason = unavailable_reason()
        if reason:
            raise RuntimeError(reason)
        self.workdir.mkdir(parents=True, exist_ok=True)
        cmd = ["unshare", "-n", sys.executable, "-m", "tests.jitsi_stack.supervisor", str(self.workdir),
               "--webroot", str(self.webroot), "--profile", self.profile]
        plugins = prosody_plugins()
        if plugins is not None:
            cmd += ["--plugins", str(plugins)]
        log = (self.workdir / "supervisor.log").open("ab")
        self._proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=log,
                                      env={**os.environ, "PYTHONPATH": str(ROOT)}, start_new_session=True)
        log.close()
        assert self._proc.stdout is not None
        deadline = time.monotonic() + timeout_s
        line = b""
        while time.monotonic() < deadline and self._proc.poll() is None:
            ready, _, _ = select.select([self._proc.stdout], [], [], 0.2)
            if ready:
                line = self._proc.stdout.readline()
                break
        if not line:
            self.stop()
            raise RuntimeError(f"the Jitsi stack did not start; see {self.workdir / 'supervisor.log'}:\n"
                               + self.logs()[-3000:])
        self.info = json.loads(line)
        self._write_chromium_wrapper()

    def logs(self) -> str:
        """Supervisor and Prosody console output so far (for failure messages)."""
        parts = []
        for name in ("supervisor.log", "prosody.console.log"):
            path = self.workdir / name
            if path.exists():
                parts.append(f"--- {name}\n" + path.read_text(errors="replace"))
        return "\n".join(parts)

    def ns_command(self, cmd: list[str]) -> list[str]:
        """``cmd`` run inside the stack's network namespace."""
        return ["nsenter", f"--net={self.netns}", "--", *cmd]

    @property
    def chromium_wrapper(self) -> Path:
        """An executable that runs Debian's Chromium inside the namespace (for Playwright and the bot)."""
        return self.workdir / "chromium-in-ns"

    def _write_chromium_wrapper(self) -> None:
        self.chromium_wrapper.write_text(
            f'#!/bin/sh\nexec nsenter --net={self.netns} -- {CHROMIUM} "$@"\n', encoding="utf-8"
        )
        self.chromium_wrapper.chmod(0o755)

    def stop(self) -> None:
        """Stop everything the stack started; safe to call twice."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        stop_session(proc, 15)
        if proc.stdout is not None:
            proc.stdout.close()

    def __enter__(self) -> JitsiStack:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
