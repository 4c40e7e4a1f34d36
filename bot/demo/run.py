"""``jitsi-bot demo``: a local meeting that the bot records, transcribes and emails.

Three espeak-ng speakers talk in the stand-in Jitsi room; ``jitsi-bot join`` (a subprocess, exactly as a user
runs it) records them with the offline backend and emails the summary to a local SMTP sink (aiosmtpd). Works
from a wheel and in the container; needs espeak-ng and Chromium.
"""

from __future__ import annotations

import asyncio
import email
import json
import os
import shutil
import socket
import sys
import tempfile
from email import policy
from pathlib import Path
from typing import Any

from bot.demo.meeting import MEETING
from bot.demo.room import DEMO_BROWSER_ARGS, FakeJitsiRoom
from bot.demo.speech import render


class Sink:
    """An aiosmtpd handler that keeps every message the bot sends."""

    def __init__(self) -> None:
        self.messages: list[bytes] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 (aiosmtpd's name)
        """Accept and keep one message."""
        self.messages.append(bytes(envelope.content))
        return "250 accepted"


def save_email(raw: bytes, out: Path) -> tuple[Path, Path]:
    """The message as .eml and its HTML part as a file a browser opens."""
    eml = out / "received-email.eml"
    eml.write_bytes(raw)
    msg = email.message_from_bytes(raw, policy=policy.default)
    html = out / "received-email.html"
    body = msg.get_body(("html",))
    html.write_text(body.get_content() if body is not None else "", encoding="utf-8")
    return eml, html


def _free_port() -> int:
    with socket.socket() as probe:  # aiosmtpd's Controller needs a concrete port
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def run_demo(out: Path) -> int:
    """Run the demo meeting into ``out`` (emptied first); returns the bot's exit code."""
    from aiosmtpd.controller import Controller

    if shutil.which("espeak-ng") is None:
        print("demo: needs espeak-ng to speak the meeting (apt-get install espeak-ng)", file=sys.stderr)
        return 2
    shutil.rmtree(out, ignore_errors=True)  # the demo's own folder: start clean
    with tempfile.TemporaryDirectory() as tmp:
        media = Path(tmp)
        print("demo: speaking the meeting with espeak-ng…", flush=True)
        paths, spans = render(MEETING, media)
        sink = Sink()
        smtp_port = _free_port()
        smtp = Controller(sink, hostname="127.0.0.1", port=smtp_port)
        smtp.start()
        try:
            async with FakeJitsiRoom(media_dir=media) as room:
                print(f"demo: meeting room at {room.url()}; SMTP sink on 127.0.0.1:{smtp_port}", flush=True)
                env = {**os.environ, "BOT_MEETING__EMPTY_GRACE_S": "3",
                       "BOT_BROWSER__EXTRA_ARGS": json.dumps(DEMO_BROWSER_ARGS),
                       "BOT_EMAIL__TO": '["team@example.org"]',
                       "BOT_EMAIL__FROM": "Notetaker <notetaker@example.org>",
                       "BOT_SMTP__HOST": "127.0.0.1", "BOT_SMTP__PORT": str(smtp_port),
                       "BOT_SMTP__SECURITY": "none"}
                bot = await asyncio.create_subprocess_exec(
                    sys.executable, "-m", "bot", "join", room.url(), "--out", str(out), env=env)
                try:
                    await room.wait_event("bot_joined", timeout=60)
                    print(f"demo: the bot joined; {', '.join(MEETING.voices)} talk for {spans[-1][2]:.0f} s",
                          flush=True)
                    # Each file is one person's side of the meeting on a shared timeline: start them together.
                    await asyncio.gather(*(room.add_participant(p.stem.lower(), p.stem, wav=p.name, loop=False)
                                           for p in paths))
                    await asyncio.sleep(spans[-1][2] + 1.5)
                    for p in paths:
                        await room.remove_participant(p.stem.lower())
                    print("demo: everyone left; the bot leaves after its grace period and writes the report",
                          flush=True)
                    code = await bot.wait()
                finally:
                    if bot.returncode is None:
                        bot.terminate()
                        await bot.wait()
        finally:
            smtp.stop()
    _print_results(out, sink, code)
    return code


def _print_results(out: Path, sink: Sink, code: int) -> None:
    report_file = out / "report.json"
    if report_file.exists():
        report = json.loads(report_file.read_text())
        print(f"\ndemo: {len(report['transcript'])} utterances transcribed with {report['recognizer']}")
        for item in report["action_items"]:
            due = f" (due {item['due_date'] or item['due']})" if item["due"] else ""
            print(f"  action: {item['owner'] or 'team'}: {item['text']}{due}")
        for q in report["questions"]:
            print(f"  question from {q['speaker']}: {q['text']}")
    if sink.messages:
        eml, html = save_email(sink.messages[-1], out)
        print(f"\ndemo: the SMTP sink received the summary email: {eml} (open {html} in a browser)")
    else:
        print("\ndemo: no email reached the SMTP sink (see the outbox in the artifacts)")
    print(f"\ndemo: bot exited {code}; artifacts in {out}:")
    for f in sorted(out.rglob("*")):
        if f.is_file():
            print(f"  {f}")
