"""Runs a local Jitsi Meet deployment inside the network namespace this process was started in.

What runs: Debian's Prosody (anonymous login, MUC, websocket and BOSH; jitsi's lobby modules), the focus
stand-in (``focus.py``), the web app (``web.py``: static files, ``config.js``, XMPP proxied like nginx does)
and an SMTP sink that saves every message it is given. There is no videobridge and no jicofo: two
participants talk peer to peer.

Started by ``JitsiStack`` as ``unshare -n python -m tests.jitsi_stack.supervisor WORKDIR …`` (root): it
brings up loopback and a veth pair with ``10.77.0.1`` (WebRTC needs a non-loopback host candidate), so
nothing in the stack can reach, or be reached from, any other host. It prints one JSON line when everything
answers, and stops everything on SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import IO

from tests.jitsi_stack.focus import Focus
from tests.jitsi_stack.mail import start_smtp_sink
from tests.jitsi_stack.web import start_web

DOMAIN = "meet.test"
VETH_ADDR = "10.77.0.1"
FOCUS_SECRET = "focus-stand-in"
PORTS = {"c2s": 5222, "xmpp_http": 5280, "component": 5347, "http": 8000, "https": 8443, "smtp": 2525}
log = logging.getLogger("supervisor")


def setup_network() -> None:
    """Loopback up, plus a veth pair so that Chromium has a host candidate for WebRTC."""
    for cmd in ("ip link set lo up",
                "ip link add v0 type veth peer name v1",
                f"ip addr add {VETH_ADDR}/24 dev v0",
                "ip link set v0 up",
                "ip link set v1 up"):
        subprocess.run(cmd.split(), check=True)


def prosody_config(work: Path, plugins: Path | None, profile: str) -> str:
    """Prosody 0.12 configuration for one profile.

    ``open``: anyone may create a room (the first person in is its owner, as with jicofo's default), and
    jitsi's lobby is available when ``plugins`` is given. ``wait_for_host``: the main domain needs a login
    (any password: mod_auth_insecure), guests come in through ``guest.meet.test`` and wait in the lobby
    until a logged-in host arrives (jitsi's ``mod_muc_wait_for_host``).
    """
    data = work / "prosody-data"
    lobby = plugins is not None
    host_modules = ['"bosh"', '"websocket"', '"ping"']
    if lobby:
        host_modules += ['"muc_lobby_rooms"', '"persistent_lobby"']
    main_auth = "insecure" if profile == "wait_for_host" else "anonymous"
    muc_modules = ['"muc_wait_for_host"'] if profile == "wait_for_host" else []
    lines = [
        "run_as_root = true",
        "daemonize = false",
        f'pidfile = "{data}/prosody.pid"',
        f'data_path = "{data}"',
        f'log = {{ debug = "{data}/prosody.log"; info = "*console" }}',
        f'plugin_paths = {{ "{plugins}" }}' if plugins else "",
        'modules_enabled = { "saslauth"; "disco"; "ping"; "bosh"; "websocket"; "http" }',
        'modules_disabled = { "s2s"; "offline" }',
        f"c2s_ports = {{ {PORTS['c2s']} }}",
        'c2s_interfaces = { "127.0.0.1" }',
        "c2s_require_encryption = false",
        "allow_unencrypted_plain_auth = true",
        "consider_bosh_secure = true",
        "consider_websocket_secure = true",
        "cross_domain_bosh = true",
        "cross_domain_websocket = true",
        f"http_ports = {{ {PORTS['xmpp_http']} }}",
        'http_interfaces = { "127.0.0.1" }',
        "https_ports = { }",
        f'http_default_host = "{DOMAIN}"',
        f"component_ports = {{ {PORTS['component']} }}",
        'component_interfaces = { "127.0.0.1" }',
        f'muc_mapper_domain_base = "{DOMAIN}"',
        # The focus is what jicofo is on a deployment: an admin, which jitsi's modules let through.
        f'admins = {{ "focus.{DOMAIN}" }}',
        "",
        f'VirtualHost "{DOMAIN}"',
        f'    authentication = "{main_auth}"',
        # mod_auth_insecure accepts any password: the test's host logs in without an account.
        '    insecure_open_authentication = "Yes please, I know what I\'m doing!"'
        if profile == "wait_for_host" else "",
        f"    modules_enabled = {{ {'; '.join(host_modules)} }}",
        f'    main_muc = "conference.{DOMAIN}"',
        f'    lobby_muc = "lobby.{DOMAIN}"',
        "",
    ]
    if profile == "wait_for_host":
        lines += [f'VirtualHost "guest.{DOMAIN}"', '    authentication = "anonymous"',
                  '    modules_enabled = { "bosh"; "websocket"; "ping" }', ""]
    lines += [
        f'Component "conference.{DOMAIN}" "muc"',
        f"    modules_enabled = {{ {'; '.join(muc_modules)} }}",
        "    restrict_room_creation = false",
        "    muc_room_locking = false",
        # lib-jitsi-meet ignores occupants whose real JID is hidden: P2P never starts without this.
        "    muc_room_default_public_jids = true",
        '    storage = "memory"',
        "",
    ]
    if lobby:
        lines += [
            f'Component "lobby.{DOMAIN}" "muc"',
            '    storage = "memory"',
            "    restrict_room_creation = true",
            "    muc_room_locking = false",
            "    muc_room_default_public_jids = true",
            "",
        ]
    lines += [f'Component "focus.{DOMAIN}"', f'    component_secret = "{FOCUS_SECRET}"', ""]
    return "\n".join(lines)


def start_prosody(cfg: Path, log: IO[bytes]) -> subprocess.Popen[bytes]:
    """Debian's Prosody with ``cfg``, its console output to ``log``; it dies with this process."""
    return subprocess.Popen([shutil.which("prosody") or "prosody", "--config", str(cfg)],
                            stdout=log, stderr=subprocess.STDOUT, preexec_fn=_die_with_parent)


def _die_with_parent() -> None:
    """In the child before exec: SIGKILL it when the supervisor dies, however it dies (Linux prctl)."""
    import ctypes

    pr_set_pdeathsig = 1
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)


async def wait_port(port: int, timeout_s: float = 20.0) -> None:
    """Wait until something accepts connections on 127.0.0.1:port."""
    async with asyncio.timeout(timeout_s):
        while True:
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", port)
            except OSError:
                await asyncio.sleep(0.1)
                continue
            writer.close()
            return


async def run(args: argparse.Namespace) -> int:
    """Start everything, report readiness, wait for SIGTERM, stop everything."""
    work = Path(args.workdir)
    (work / "prosody-data").mkdir(parents=True, exist_ok=True)
    setup_network()
    cfg = work / "prosody.cfg.lua"
    plugins = Path(args.plugins) if args.plugins else None
    cfg.write_text(prosody_config(work, plugins, args.profile), encoding="utf-8")
    prosody_log = (work / "prosody.console.log").open("ab")
    prosody = start_prosody(cfg, prosody_log)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    web = smtp = None
    focus: Focus | None = None
    try:
        await wait_port(PORTS["component"])
        await wait_port(PORTS["xmpp_http"])
        focus = Focus(DOMAIN, FOCUS_SECRET, PORTS["component"])
        connected = asyncio.Event()
        focus.add_event_handler("session_start", lambda _: connected.set())
        focus.connect()
        async with asyncio.timeout(20):
            await connected.wait()
        web = await start_web(Path(args.webroot), work / "tls", http_port=PORTS["http"],
                              https_port=PORTS["https"], xmpp_port=PORTS["xmpp_http"], domain=DOMAIN,
                              anonymous_domain=f"guest.{DOMAIN}" if args.profile == "wait_for_host" else None)
        smtp = await start_smtp_sink(work / "mail", PORTS["smtp"])
        print(json.dumps({"ready": True, "pid": os.getpid(), "ports": PORTS, "domain": DOMAIN,
                          "veth": VETH_ADDR}), flush=True)
        while not stop.is_set():
            if prosody.poll() is not None:
                log.error("prosody exited with %s", prosody.returncode)
                return 1
            try:
                async with asyncio.timeout(0.5):
                    await stop.wait()
            except TimeoutError:
                pass
        return 0
    finally:
        if smtp is not None:
            smtp.close()
        if web is not None:
            await web.cleanup()
        if focus is not None:
            focus.disconnect()
        prosody.terminate()
        try:
            prosody.wait(5)
        except subprocess.TimeoutExpired:
            prosody.kill()
        prosody_log.close()


def main() -> None:
    """``python -m tests.jitsi_stack.supervisor WORKDIR --webroot DIR [--plugins DIR] [--profile P]``."""
    parser = argparse.ArgumentParser()
    parser.add_argument("workdir")
    parser.add_argument("--webroot", required=True)
    parser.add_argument("--plugins")
    parser.add_argument("--profile", choices=["open", "wait_for_host"], default="open")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s", stream=sys.stderr)
    sys.exit(asyncio.run(run(args)))


if __name__ == "__main__":
    main()
