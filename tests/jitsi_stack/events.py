"""Record the conference events a bot's page sees, to compare the real client with the fake room.

``RECORDER`` is an init script (tests only) that subscribes to the same lib-jitsi-meet events as the bot's
capture script, on the same object (``APP.conference._room``), and describes each call's arguments the way
the bot reads them: participants by id, name, hidden and jigasi flags; tracks by type, owner, locality,
P2P flag and source name. ``normalise`` replaces ids by labels in order of appearance (``me``, ``p1``, …),
so two runs, or two implementations, compare as lists.

``SCENARIOS`` are what both sides are put through; the real client's recording is kept in
``recordings/`` so that the next web-app version can be diffed against it.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

RECORDINGS = Path(__file__).with_name("recordings")

# Every event bot/meeting/capture.js subscribes to. (Mute changes are left out: the real client reports a
# remote track's initial mute state in a race between presence and signalling, so it is not repeatable.)
EVENTS = [
    "conference.joined", "conference.left", "conference.failed", "conference.kicked",
    "conference.userJoined", "conference.userLeft", "conference.displayNameChanged",
    "conference.dominantSpeaker", "conference.trackAdded", "conference.trackRemoved",
]

RECORDER = Path(__file__).with_name("event_recorder.js").read_text(encoding="utf-8").replace(
    "__EVENTS__", json.dumps(EVENTS))



def normalise(log: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Ids to labels (``me`` for the page's own id, then ``p1``, ``p2`` … in order of appearance)."""
    labels: dict[str, str] = {}
    for entry in log:
        if entry.get("me"):
            labels.setdefault(str(entry["me"]), "me")

    def label(pid: str) -> str:
        if pid not in labels:
            labels[pid] = f"p{sum(1 for v in labels.values() if v != 'me') + 1}"
        return labels[pid]

    def walk(v: Any, key: str | None = None) -> Any:
        if isinstance(v, dict):
            return {k: walk(x, k) for k, x in v.items()}
        if isinstance(v, list):
            return [walk(x) for x in v]
        if isinstance(v, str) and key in ("id", "owner"):
            return label(v)
        if isinstance(v, str) and re.fullmatch(r"[^@/\s]+@lobby\.[^@/\s]+", v):
            return "<room>@lobby.<domain>"  # the lobby room's JID (membersOnly)
        if isinstance(v, str) and key == "source":
            # "<endpoint id>-a0": the id part is a participant id
            m = re.fullmatch(r"(.+)-([av]\d+)(.*)", v)
            return f"{label(m.group(1))}-{m.group(2)}{m.group(3)}" if m else v
        return v

    out = []
    for entry in log:
        args = entry["args"]
        # First arguments that are bare participant ids (userJoined, userLeft, displayNameChanged, …).
        if args and isinstance(args[0], str) and entry["event"] in (
            "conference.userJoined", "conference.userLeft", "conference.displayNameChanged",
            "conference.dominantSpeaker",
        ):
            args = [label(args[0]), *args[1:]]
        if entry["event"] == "conference.dominantSpeaker" and len(args) > 1 and isinstance(args[1], list):
            args = [args[0], [label(x) if isinstance(x, str) else x for x in args[1]], *args[2:]]
        out.append({"event": entry["event"], "args": walk(args)})
    return out


def without_dominant_speaker(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The events, less dominant-speaker changes.

    In a P2P call the real client detects the dominant speaker itself from audio levels, whenever the
    levels say so: when those events come is not repeatable, so sequences are compared without them (and
    their arguments on their own).
    """
    return [e for e in events if e["event"] != "conference.dominantSpeaker"]


def load(name: str) -> dict[str, Any]:
    """A kept recording: {"web_app": …, "scenarios": {name: [events]}}."""
    result: dict[str, Any] = json.loads((RECORDINGS / name).read_text(encoding="utf-8"))
    return result
