"""A stand-in for ``python:3.11-slim`` built from Debian's packages, for engines that cannot pull images.

No image registry is reachable from these machines, so ``FROM python:3.11-slim`` cannot be pulled. The
stand-in: ``debootstrap --variant=minbase bookworm`` from the host's own Debian mirror, imported as
``local/debian:bookworm``; then Debian's python3 in a venv that is first on PATH (as ``python`` and ``pip``
are in the official image), the host's extra CA certificates (pip here goes through a TLS-intercepting
proxy) and ``PIP_CERT``. Tagged ``python:3.11-slim``, the project's Dockerfile builds on it unchanged.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from tests.container.engine import DockerEngine

BASE_TAG = "python:3.11-slim"
DEBIAN_TAG = "local/debian:bookworm"
HOST_CA_DIR = Path("/usr/local/share/ca-certificates")
BASE_DOCKERFILE = """\
FROM local/debian:bookworm
COPY ca/ /usr/local/share/ca-certificates/
RUN apt-get update \\
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3 python3-venv \\
       ca-certificates \\
    && update-ca-certificates \\
    && python3 -m venv /usr/local/python \\
    && apt-get clean && rm -rf /var/lib/apt/lists/*
LABEL org.jitsi-notetaker.base-stand-in=@HASH@
ENV PATH=/usr/local/python/bin:$PATH \\
    PIP_CERT=/etc/ssl/certs/ca-certificates.crt \\
    PIP_DISABLE_PIP_VERSION_CHECK=1 \\
    LANG=C.UTF-8
"""


def debian_mirror() -> str:
    """The Debian mirror the host's apt uses (deb822 or one-line sources)."""
    texts = [p.read_text(encoding="utf-8", errors="replace")
             for p in [Path("/etc/apt/sources.list"), *sorted(Path("/etc/apt/sources.list.d").glob("*"))]
             if p.is_file()]
    for text in texts:
        for uri in re.findall(r"^URIs:\s*(\S+)", text, re.M) + re.findall(r"^deb\s+(?:\[[^]]*\]\s+)?(\S+)", text, re.M):
            if "security" not in uri:
                return uri
    return "http://deb.debian.org/debian"


def _recipe() -> str:
    """The stand-in's Dockerfile, labelled with its own hash (a changed recipe is rebuilt)."""
    digest = hashlib.sha256(BASE_DOCKERFILE.encode()).hexdigest()[:16]
    return BASE_DOCKERFILE.replace("@HASH@", digest)


def ensure_base(engine: DockerEngine, log: Path) -> bool:
    """Build and tag the stand-in unless the engine has ``python:3.11-slim`` already (a real one, or this
    recipe's stand-in); True if it built."""
    found = engine.docker("image", "inspect", "--format",
                          '{{index .Config.Labels "org.jitsi-notetaker.base-stand-in"}}', BASE_TAG, check=False)
    label = found.stdout.strip()
    if found.returncode == 0 and (label in ("", "<no value>") or label in _recipe()):
        return False
    with tempfile.TemporaryDirectory(prefix="jnt-base-") as tmp:
        work = Path(tmp)
        if engine.docker("image", "inspect", DEBIAN_TAG, check=False).returncode != 0:
            rootfs = work / "rootfs"
            with log.open("ab") as out:
                subprocess.run(["debootstrap", "--variant=minbase", "bookworm", str(rootfs), debian_mirror()],
                               check=True, stdout=out, stderr=subprocess.STDOUT, timeout=900)
            for cache in ("var/cache/apt/archives", "var/lib/apt/lists"):  # the downloaded packages
                for item in (rootfs / cache).glob("*"):
                    if item.is_file():
                        item.unlink()
            tar = subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
            subprocess.run(["docker", "import", "-", DEBIAN_TAG], stdin=tar.stdout, env=engine.env, check=True,
                           capture_output=True, timeout=600)
            assert tar.stdout is not None
            tar.stdout.close()
            tar.wait()
            shutil.rmtree(rootfs, ignore_errors=True)
        context = work / "context"
        (context / "ca").mkdir(parents=True)
        for crt in HOST_CA_DIR.glob("*.crt"):
            shutil.copy(crt, context / "ca" / crt.name)
        (context / "Dockerfile").write_text(_recipe(), encoding="utf-8")
        with log.open("ab") as out:
            subprocess.run(["docker", "build", "--network", "host", "-t", BASE_TAG, str(context)],
                           env=engine.env, check=True, stdout=out, stderr=subprocess.STDOUT, timeout=900)
    return True
