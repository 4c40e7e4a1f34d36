"""A stand-in for ``python -m bot join`` that honours the status-file contract (bot.status) in a blink.

Run as ``python serve_fake_bot.py -m bot join URL --out DIR [...]`` (the local launcher's command line with this
script as the interpreter's first argument). The URL's query says what to do: ``hold=1`` stays in the call until
SIGTERM; ``release=1`` stays until a file ``release`` appears in its folder (or SIGTERM); ``code=N`` exits
with N; ``stay=S`` seconds in the call (default 0.3). Every start and end is appended
to ``<DIR>/../../fake-bots.log`` as ``<monotonic time> start|end <bot id>`` (CLOCK_MONOTONIC is system-wide).
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bot.status import StatusWriter  # noqa: E402


def main() -> int:
    """Play one short meeting."""
    args = sys.argv[1:]
    url = args[3] if args[3] != "-" else os.environ["JITSI_BOT_MEETING_URL"]
    out = Path(args[args.index("--out") + 1])
    query = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
    journal = out.parent.parent / "fake-bots.log"
    with journal.open("a") as f:
        f.write(f"{time.monotonic()} start {out.name}\n")
    stopped = False

    def on_term(signum: int, frame: object) -> None:
        nonlocal stopped
        stopped = True

    signal.signal(signal.SIGTERM, on_term)
    writer = StatusWriter(out, out.name)
    writer.update(state="joining")
    time.sleep(0.1)
    writer.update(state="in_call", participants=2)
    writer.segment(start_s=0.0, end_s=1.5, participant_id="p1", name="Alice", text="hello from the fake room")
    deadline = time.monotonic() + float(query.get("stay", "0.3"))
    release = out / "release" if query.get("release") == "1" else None
    while not stopped and (query.get("hold") == "1" or time.monotonic() < deadline
                           or (release is not None and not release.exists())):
        time.sleep(0.05)
    writer.segment(start_s=2.0, end_s=3.0, participant_id="p2", name="Bob", text="goodbye")
    writer.update(state="finalizing", participants=0)
    code = int(query.get("code", "0"))
    reason = "stopped" if stopped else ("error" if code else "room_empty")
    (out / "report.json").write_text(json.dumps({"meeting": {"end_reason": reason}}))
    (out / "summary.html").write_text("<html><body><h1>Notes</h1></body></html>")
    writer.update(state="failed" if code not in (0, 4) else "done", end_reason=reason, exit_code=code)
    with journal.open("a") as f:
        f.write(f"{time.monotonic()} end {out.name}\n")
    return code


if __name__ == "__main__":
    sys.exit(main())
