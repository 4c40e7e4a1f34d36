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

import contextlib
import json
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

STATUS_FILE = "status.json"
LIVE_FILE = "live.jsonl"
MAX_STATUS_BYTES = 64 * 1024
MAX_LIVE_READ_BYTES = 1024 * 1024
MAX_JSON_BYTES = 16 * 1024 * 1024


class StatusWriter:
    """Writes ``status.json`` and appends to ``live.jsonl`` in ``out_dir``.

    Writing never raises: these files are for an observer, and failing to write them must not end the meeting;
    the failure is remembered in ``error``.
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
    """Reads what a bot wrote in its artifact folder, which the bot (a browser) controls: never trusted.

    Only regular files are read, never through a symlink (neither the folder nor the file may be one), never a
    FIFO or device, and never more than a limit; anything else reads as absent.
    """

    out_dir: Path

    def read(self, name: str, limit: int) -> bytes | None:
        """The whole of file ``name``, or None: absent, not a regular file, a symlink, or larger than ``limit``."""
        with self._open(name) as fd:
            if fd is None:
                return None
            try:
                data = _read_at(fd, 0, limit + 1)
            except OSError:
                return None
        return data if len(data) <= limit else None

    def json_file(self, name: str, limit: int = MAX_JSON_BYTES) -> Any:
        """File ``name`` parsed as JSON (e.g. ``report.json``), or None when ``read`` gives None or it is not JSON."""
        data = self.read(name, limit)
        if data is None:
            return None
        try:
            return json.loads(data)
        except ValueError:
            return None

    def status(self) -> dict[str, Any] | None:
        """The last status written, or None (not written yet, unreadable, or over ``MAX_STATUS_BYTES``)."""
        data = self.json_file(STATUS_FILE, MAX_STATUS_BYTES)
        return data if isinstance(data, dict) else None

    def live_since(self, offset: int, limit: int = MAX_LIVE_READ_BYTES) -> tuple[list[dict[str, Any]], int]:
        """Whole segment lines after byte ``offset`` (reading at most ``limit`` bytes), and the offset reached.

        Call again from the returned offset for the rest. A line longer than ``limit`` is skipped.
        """
        with self._open(LIVE_FILE) as fd:
            if fd is None:
                return [], offset
            try:
                data = _read_at(fd, offset, limit)
            except OSError:
                return [], offset
        end = data.rfind(b"\n") + 1  # a line still being written is left for the next read
        if end == 0 and len(data) >= limit:
            return [], offset + len(data)  # no line ends within the limit: skip it (its tail fails to parse)
        out: list[dict[str, Any]] = []
        for raw in data[:end].splitlines():
            try:
                item = json.loads(raw)
            except ValueError:
                continue
            if isinstance(item, dict):
                out.append(item)
        return out, offset + end

    @contextlib.contextmanager
    def _open(self, name: str) -> Iterator[int | None]:
        """A descriptor of regular file ``name`` in the folder (no symlink on the way), or None."""
        try:
            folder = os.open(self.out_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError:
            yield None
            return
        fd: int | None = None
        try:
            try:
                # lstat first: opening a device node or FIFO can itself have effects (or block)
                if stat.S_ISREG(os.stat(name, dir_fd=folder, follow_symlinks=False).st_mode):
                    fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=folder)
                    if not stat.S_ISREG(os.fstat(fd).st_mode):  # swapped since the lstat
                        os.close(fd)
                        fd = None
            except OSError:
                fd = None
            yield fd
        finally:
            if fd is not None:
                os.close(fd)
            os.close(folder)


def _read_at(fd: int, offset: int, limit: int) -> bytes:
    """Up to ``limit`` bytes from ``offset`` (fewer only at the end of the file)."""
    chunks: list[bytes] = []
    size = 0
    while size < limit:
        chunk = os.pread(fd, min(limit - size, 1 << 20), offset + size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)
