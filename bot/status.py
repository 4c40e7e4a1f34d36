"""What a running ``join`` tells whoever started it, through two files in its artifact folder.

- ``status.json``: rewritten atomically on every change: ``{"meeting_id", "pid", "state", "participants",
  "updated_at", "end_reason", "exit_code"}``. ``state`` is the session's (``starting``, ``joining``, ``lobby``,
  ``password``, ``waiting_for_host``, ``room_full``, ``in_call``, ``reconnecting``, ``finalizing``, ``done``,
  ``failed``); ``end_reason`` and ``exit_code`` are set once the meeting has ended (the process exits right
  after ``done``/``failed`` is written).
- ``live.jsonl``: one line per final transcript segment, as it is decoded:
  ``{"start_s", "end_s", "participant_id", "name", "text"}``. Lines are only ever appended, each whole.

``jitsi-bot serve`` reads these (for docker through the bind mount, for Kubernetes through the volume), so the
server never guesses a bot's status from its logs.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

STATUS_FILE = "status.json"
LIVE_FILE = "live.jsonl"


class StatusWriter:
    """Writes ``status.json`` and appends to ``live.jsonl`` in ``out_dir``.

    Writing never raises: a full disk must not end a meeting whose recordings still fit in memory-mapped
    spools; the failure is remembered in ``error``.
    """

    def __init__(self, out_dir: Path, meeting_id: str) -> None:
        self._dir = out_dir
        self._fields: dict[str, Any] = {"meeting_id": meeting_id, "pid": os.getpid(), "state": "starting",
                                        "participants": 0, "updated_at": None, "end_reason": None,
                                        "exit_code": None}
        self.error: str | None = None

    def update(self, **fields: Any) -> None:
        """Change some fields and rewrite the file (only when something changed)."""
        changed = {k: v for k, v in fields.items() if self._fields.get(k) != v}
        if not changed and self._fields["updated_at"] is not None:
            return
        self._fields.update(changed)
        self._fields["updated_at"] = datetime.now(UTC).isoformat(timespec="milliseconds")
        tmp = self._dir / f".{STATUS_FILE}.tmp"
        try:
            tmp.write_text(json.dumps(self._fields), encoding="utf-8")
            tmp.replace(self._dir / STATUS_FILE)
        except OSError as exc:
            self.error = str(exc)

    def segment(self, *, start_s: float, end_s: float, participant_id: str, name: str, text: str) -> None:
        """Append one final segment to ``live.jsonl``."""
        line = json.dumps({"start_s": round(start_s, 2), "end_s": round(end_s, 2),
                           "participant_id": participant_id, "name": name, "text": text}, ensure_ascii=False)
        try:
            with (self._dir / LIVE_FILE).open("a", encoding="utf-8") as f:
                f.write(line + "\n")
        except OSError as exc:
            self.error = str(exc)


@dataclass(frozen=True, slots=True)
class BotFiles:
    """Reads a bot's ``status.json`` and new ``live.jsonl`` lines from its artifact folder."""

    out_dir: Path

    def status(self) -> dict[str, Any] | None:
        """The last status written, or None (not written yet, or unreadable)."""
        try:
            data = json.loads((self.out_dir / STATUS_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    def live_since(self, offset: int) -> tuple[list[dict[str, Any]], int]:
        """Whole segment lines after byte ``offset``, and the offset after the last whole line."""
        try:
            with (self.out_dir / LIVE_FILE).open("rb") as f:
                f.seek(offset)
                data = f.read()
        except OSError:
            return [], offset
        end = data.rfind(b"\n") + 1  # a line still being written is left for the next read
        out: list[dict[str, Any]] = []
        for raw in data[:end].splitlines():
            try:
                item = json.loads(raw)
            except ValueError:
                continue
            if isinstance(item, dict):
                out.append(item)
        return out, offset + end
