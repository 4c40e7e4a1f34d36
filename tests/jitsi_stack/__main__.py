"""Run the real-client stack by hand: ``scripts/jitsi-stack [--room R] [--human NAME --wav FILE]`` (as root).

Starts the deployment in its own network namespace, optionally puts a "human" in the room speaking a WAV,
prints how to run the bot against it, and keeps everything up until Ctrl-C.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
import tempfile
from pathlib import Path

from playwright.async_api import async_playwright

from tests.jitsi_stack.human import Human
from tests.jitsi_stack.stack import TESTED_VERSION, JitsiStack, unavailable_reason, unpack_web


async def main() -> int:
    """Start, report, wait for Ctrl-C, stop."""
    parser = argparse.ArgumentParser(prog="scripts/jitsi-stack", description=__doc__)
    parser.add_argument("--room", default="demo-room")
    parser.add_argument("--profile", choices=["open", "wait_for_host"], default="open")
    parser.add_argument("--human", metavar="NAME", help="put a person in the room first")
    parser.add_argument("--wav", type=Path, help="what the person's microphone says (played once)")
    parser.add_argument("--workdir", type=Path, help="logs and mail (default: a temporary folder)")
    args = parser.parse_args()
    reason = unavailable_reason()
    if reason:
        print(f"jitsi-stack: cannot run here: {reason}", file=sys.stderr)
        return 2
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="jitsi-stack-"))
    stack = JitsiStack(workdir, unpack_web(workdir / "web"), profile=args.profile)
    stack.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        url = stack.url(args.room)
        print(f"{TESTED_VERSION} at {url} (and {stack.url(args.room, tls=True)}),\n"
              f"in the network namespace {stack.netns}; logs and mail in {workdir}.\n"
              "Run the bot in it with:\n"
              f"  nsenter --net={stack.netns} -- .venv/bin/jitsi-bot join {url} --out out/stack-demo\n"
              "Ctrl-C stops everything.", flush=True)
        async with async_playwright() as pw:
            human = None
            if args.human:
                human = Human(pw, stack.chromium_wrapper, args.human, wav=args.wav)
                await human.join(url, mic=args.wav is not None)
                print(f"{args.human} is in the room" + (f", speaking {args.wav}" if args.wav else ""), flush=True)
            await stop.wait()
            if human is not None:
                await human.leave()
    finally:
        stack.stop()
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
