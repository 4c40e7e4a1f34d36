"""A local demo meeting: three espeak-ng speakers in the fake Jitsi room, recorded by `jitsi-bot join`."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.doubles.fake_room import FakeJitsiRoom  # noqa: E402

DIALOGUE = [
    ("alice", "Alice", "en-us+f3", "Good morning everyone. Can we review the launch plan today?"),
    ("bob", "Bob", "en-gb+m3", "Sure. I will send the budget to finance by Thursday."),
    ("carol", "Carol", "en-us+f4", "Great. Bob, can you also book the venue? Let's meet again next week."),
]


def speak(text: str, voice: str, path: Path) -> None:
    subprocess.run(["espeak-ng", "-v", voice, "-s", "150", "-w", str(path), text], check=True)


async def main() -> int:
    out = Path(os.environ.get("DEMO_OUT", ROOT / "out" / "demo"))
    with tempfile.TemporaryDirectory() as tmp:
        media = Path(tmp)
        for pid, _, voice, text in DIALOGUE:
            speak(text, voice, media / f"{pid}.wav")
        async with FakeJitsiRoom(media_dir=media) as room:
            print(f"demo: meeting room at {room.url()}", flush=True)
            env = {**os.environ, "BOT_MEETING__EMPTY_GRACE_S": "3",
                   "BOT_BROWSER__EXTRA_ARGS": '["--allow-loopback-in-peer-connection"]'}
            bot = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bot", "join", room.url(), "--out", str(out), env=env)
            await room.wait_event("bot_joined", timeout=60)
            print("demo: the bot joined; three people speak in turn", flush=True)
            for pid, name, _, _ in DIALOGUE:
                await room.add_participant(pid, name, wav=f"{pid}.wav", loop=False)
                await asyncio.sleep(5)
            for pid, _, _, _ in DIALOGUE:
                await room.remove_participant(pid)
            print("demo: everyone left; the bot leaves after its grace period", flush=True)
            code = await bot.wait()
    meeting = json.loads((out / "meeting.json").read_text())
    print(f"\ndemo: bot exited {code} ({meeting['end_reason']}), joined in {meeting['join_s']} s")
    for wav in sorted((out / "audio").glob("*.wav")):
        print(f"  {wav}")
    print(f"  {out / 'meeting.json'}")
    return code


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
