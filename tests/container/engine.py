"""A Docker engine of the tests' own: Debian's dockerd, started by hand, stopped by its pid.

There is no systemd on these machines and no image registry: ``DockerEngine`` starts ``dockerd`` with its
own data root, exec root, pid file and socket (so it cannot collide with a system daemon), with no bridge
network and no iptables rules; builds and runs use ``--network host``. ``stop`` ends the daemon and its
containerd and unmounts whatever they left mounted, so nothing is left behind but the image cache.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import subprocess
import time
from pathlib import Path

from tests.processes import stop_session

# Images survive between runs here (the base stand-in takes a minute to make); containers never do.
# CONTAINER_TEST_DOCKER_ROOT moves it.
DEFAULT_DATA_ROOT = Path("/var/tmp/jitsi-notetaker-docker")


def unavailable_reason() -> str | None:
    """Why a Docker engine cannot be started here, or None."""
    if os.geteuid() != 0:
        return "starting a Docker engine needs root"
    for tool in ("dockerd", "docker", "debootstrap"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (scripts/test-container installs docker.io and debootstrap)"
    return None


class DockerEngine:
    """One dockerd for the tests.

    Args:
        data_root: images and layers (kept between runs); default ``$CONTAINER_TEST_DOCKER_ROOT`` or
            ``DEFAULT_DATA_ROOT``.
        exec_root: the daemon's runtime state, socket and pid file (a fresh, short path).
    """

    def __init__(self, data_root: Path | None = None, exec_root: Path | None = None) -> None:
        self.data_root = data_root or Path(os.environ.get("CONTAINER_TEST_DOCKER_ROOT", DEFAULT_DATA_ROOT))
        self.exec_root = exec_root or Path(f"/run/jnt-docker-{os.getpid()}")
        self.socket = self.exec_root / "docker.sock"
        self.pidfile = self.exec_root / "dockerd.pid"
        self.log = self.data_root.parent / f"{self.data_root.name}-dockerd.log"
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def env(self) -> dict[str, str]:
        """Environment for the docker client: this engine, the classic builder (it uses local images as they
        are, where BuildKit would try to resolve ``FROM`` against a registry)."""
        return {**os.environ, "DOCKER_HOST": f"unix://{self.socket}", "DOCKER_BUILDKIT": "0"}

    def docker(self, *args: str, check: bool = True, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        """Run ``docker ARGS`` against this engine (output captured)."""
        return subprocess.run(["docker", *args], env=self.env, check=check, timeout=timeout, text=True,
                              capture_output=True)

    async def adocker(self, *args: str, timeout: float = 120) -> tuple[int, str, str]:
        """``docker ARGS`` without blocking the event loop (the tests' fake room runs in it): code, out, err."""
        proc = await asyncio.create_subprocess_exec("docker", *args, env=self.env, stdout=asyncio.subprocess.PIPE,
                                                    stderr=asyncio.subprocess.PIPE)
        try:
            async with asyncio.timeout(timeout):
                out, err = await proc.communicate()
        except BaseException:  # timed out or cancelled: the process and its pipes go too
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
            raise
        return int(proc.returncode or 0), out.decode(errors="replace"), err.decode(errors="replace")

    def start(self, timeout_s: float = 90) -> None:
        """Start dockerd and wait until it answers."""
        self.data_root.mkdir(parents=True, exist_ok=True)
        self.exec_root.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as log:
            self._proc = subprocess.Popen(
                ["dockerd", "--data-root", str(self.data_root), "--exec-root", str(self.exec_root),
                 "--pidfile", str(self.pidfile), "-H", f"unix://{self.socket}",
                 "--bridge=none", "--iptables=false", "--ip-masq=false", "--ip6tables=false"],
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(f"dockerd exited with {self._proc.returncode}; see {self.log}")
            if self.docker("info", check=False, timeout=10).returncode == 0:
                return
            time.sleep(0.5)
        self.stop()
        raise RuntimeError(f"dockerd did not answer within {timeout_s:g} s; see {self.log}")

    def stop(self) -> None:
        """Stop every container, then the daemon (by its pid), then unmount what it left; safe to call twice."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            ids = self.docker("ps", "-aq", check=False, timeout=30).stdout.split()
            if ids:
                self.docker("rm", "-f", *ids, check=False, timeout=60)
        stop_session(proc, 30)  # and its containerd and shims
        for mount in reversed(self._mounts()):
            subprocess.run(["umount", "-l", mount], check=False, capture_output=True)
        shutil.rmtree(self.exec_root, ignore_errors=True)

    def _mounts(self) -> list[str]:
        roots = (str(self.exec_root), str(self.data_root))
        with open("/proc/self/mounts", encoding="utf-8") as f:
            points = [line.split()[1] for line in f]
        return [p for p in points if p.startswith(roots)]

    def leftovers(self) -> list[str]:
        """What a stopped engine left behind: its processes and mounts (should be none)."""
        found = [f"mount {m}" for m in self._mounts()]
        for pid_dir in Path("/proc").glob("[0-9]*"):
            with contextlib.suppress(OSError):
                cmdline = (pid_dir / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                if str(self.exec_root) in cmdline or f"--data-root {self.data_root}" in cmdline:
                    found.append(f"process {pid_dir.name}: {cmdline[:120]}")
        return found
