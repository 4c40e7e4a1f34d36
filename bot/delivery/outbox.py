"""A durable, on-disk outbox: every delivery is written down as a ready-to-send item before it is attempted.

Layout under ``root`` (``<out>/<meeting id>/outbox/``)::

    <item id>/meta.json       id, kind, target, created_at, attempts, last_error, last_attempt_at, permanent
    <item id>/<file>          the payload, exactly as it will be sent (e.g. body.json, message.eml)
    delivered.jsonl           one JSON line per delivered item: id, kind, target, delivered_at, detail
    .tmp-*, .del-*, .bad-*    work folders: ignored by ``pending()``

States. An item folder is either *pending* (``pending()``: to be tried) or *permanently failed*
(``permanently_failed()``: ``"permanent": true`` in its ``meta.json``, set by ``failed(..., permanent=True)`` for an
error that retrying cannot fix, such as a refused configuration). A permanently failed item keeps its payload and
is not tried again until ``retry()`` puts it back among the pending ones (``jitsi-bot deliver --retry-failed``).
A ``meta.json`` without ``permanent`` (written before the field existed) is pending.

Crash safety. An item appears under its id only by an atomic rename of a complete temp folder, so a pending item
is never half-written; ``meta.json`` (attempts, last error, state) is rewritten by write-temp-then-``os.replace``,
so an item is always wholly pending or wholly permanently failed. ``delivered()`` first appends (and fsyncs) the
record to ``delivered.jsonl``, then removes the folder; an item folder left behind by a crash after the record is
cleaned up by ``items()`` (and so ``pending()``). A crash between "sent" and "``delivered()`` recorded" leaves the
item pending, so it is sent again, at most once more per such crash: delivery is **at-least-once**. Webhook
receivers dedupe by the ``webhook-id`` header, which stays the same on every resend.

The outbox is meant for one process at a time (the bot, or a later ``jitsi-bot deliver`` run), not for
concurrent writers.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import structlog

log = structlog.get_logger(__name__)

META = "meta.json"
DELIVERED = "delivered.jsonl"
MAX_ERROR_CHARS = 500

_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_RESERVED = frozenset({META, DELIVERED})


@dataclass(slots=True)
class OutboxItem:
    """One undelivered item (pending or permanently failed), as described by its ``meta.json``."""

    id: str  # deterministic, given by the caller (e.g. "email-<16 hex>", "webhook-<16 hex>")
    kind: str  # "email" | "webhook"
    target: str  # human-readable destination, never a secret (recipients / URL without query)
    created_at: str  # ISO 8601, UTC
    attempts: int = 0
    last_error: str | None = None
    last_attempt_at: str | None = None
    permanent: bool = False  # failed in a way retrying cannot fix: not tried again until ``Outbox.retry``
    path: Path = field(kw_only=True)  # the item's folder

    def meta(self) -> dict[str, Any]:
        """The fields written to ``meta.json`` (everything but ``path``)."""
        return {
            "id": self.id,
            "kind": self.kind,
            "target": self.target,
            "created_at": self.created_at,
            "attempts": self.attempts,
            "last_error": self.last_error,
            "last_attempt_at": self.last_attempt_at,
            "permanent": self.permanent,
        }


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _iso(dt: datetime) -> str:
    return dt.astimezone(UTC).isoformat(timespec="microseconds")


def _check_name(name: str, what: str) -> str:
    if not _SAFE_NAME.fullmatch(name) or name in _RESERVED:
        raise ValueError(f"invalid outbox {what}: {name!r}")
    return name


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _write_file(path: Path, data: bytes) -> None:
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def _meta_bytes(item: OutboxItem) -> bytes:
    return (json.dumps(item.meta(), ensure_ascii=False, indent=2) + "\n").encode("utf-8")


def _opt_str(meta: dict[str, Any], key: str) -> str | None:
    value = meta.get(key)
    if value is not None and not isinstance(value, str):
        raise ValueError(f"{key} is not a string")
    return value


def _load_item(folder: Path) -> OutboxItem:
    """Read ``folder/meta.json``; raises OSError or ValueError when it is missing or malformed."""
    meta = json.loads((folder / META).read_text(encoding="utf-8"))
    if not isinstance(meta, dict):
        raise ValueError("meta.json is not an object")
    for key in ("id", "kind", "target", "created_at"):
        if not isinstance(meta.get(key), str):
            raise ValueError(f"{key} is missing or not a string")
    attempts = meta.get("attempts", 0)
    if not isinstance(attempts, int) or isinstance(attempts, bool) or attempts < 0:
        raise ValueError("attempts is not a non-negative integer")
    permanent = meta.get("permanent", False)  # absent in items written before the field existed
    if not isinstance(permanent, bool):
        raise ValueError("permanent is not a boolean")
    if meta["id"] != folder.name:
        raise ValueError("id does not match the folder name")
    return OutboxItem(
        id=meta["id"],
        kind=meta["kind"],
        target=meta["target"],
        created_at=meta["created_at"],
        attempts=attempts,
        last_error=_opt_str(meta, "last_error"),
        last_attempt_at=_opt_str(meta, "last_attempt_at"),
        permanent=permanent,
        path=folder,
    )


class Outbox:
    """Undelivered items of one meeting, kept in ``root`` until they are delivered."""

    def __init__(self, root: Path, *, clock: Callable[[], datetime] = _utcnow) -> None:
        """Use ``root`` (created on the first ``put``); ``clock`` gives the current UTC time."""
        self.root = root
        self._clock = clock

    # -- writing -------------------------------------------------------------------------------------------

    def put(self, item_id: str, kind: str, target: str, files: dict[str, bytes]) -> OutboxItem | None:
        """Write a ready-to-send item atomically (temp folder, then rename to ``root/<item_id>/``).

        Idempotent: returns None if ``item_id`` was already delivered, and the existing item unchanged if it is
        already in the outbox, pending or permanently failed (``files`` are then ignored).

        Args:
            item_id: deterministic id, a safe file name (letters, digits, ``._-``).
            kind: "email" or "webhook".
            target: human-readable destination; must not contain secrets.
            files: payload files by name (safe file names, not ``meta.json``).

        Raises:
            ValueError: an unsafe id or file name.
            OSError: the outbox cannot be written.
        """
        _check_name(item_id, "item id")
        for name in files:
            _check_name(name, "file name")
        if self.was_delivered(item_id):
            log.info("outbox.already_delivered", item_id=item_id, kind=kind)
            return None
        folder = self.root / item_id
        if folder.exists():
            try:
                return _load_item(folder)
            except (OSError, ValueError) as exc:
                log.warning("outbox.corrupt_meta_replaced", item_id=item_id, error=str(exc))
                self._discard(folder, ".bad-")

        self.root.mkdir(parents=True, exist_ok=True)
        tmp = self.root / f".tmp-{item_id}-{uuid.uuid4().hex[:8]}"
        item = OutboxItem(id=item_id, kind=kind, target=target, created_at=_iso(self._clock()), path=folder)
        try:
            tmp.mkdir()
            for name, data in files.items():
                _write_file(tmp / name, data)
            _write_file(tmp / META, _meta_bytes(item))
            _fsync_dir(tmp)
            os.rename(tmp, folder)
        except OSError:
            shutil.rmtree(tmp, ignore_errors=True)
            if folder.is_dir():  # lost a race to another writer of the same id
                return _load_item(folder)
            raise
        _fsync_dir(self.root)
        log.info("outbox.put", item_id=item_id, kind=kind, files=sorted(files))
        return item

    def failed(self, item: OutboxItem, error: str, *, permanent: bool = False) -> None:
        """Record a failed attempt: ``attempts`` + 1, ``last_error`` (trimmed), ``last_attempt_at``, the state.

        ``meta.json`` is rewritten atomically; ``item`` is updated in place.

        Args:
            item: an item of this outbox.
            error: what went wrong; the caller keeps secrets out of it. Trimmed to 500 characters.
            permanent: retrying cannot help (a configuration error, a refusal): the item leaves ``pending()``
                for ``permanently_failed()`` until ``retry()``. False: it stays pending.
        """
        self._rewrite(item, attempts=item.attempts + 1, last_error=error[:MAX_ERROR_CHARS],
                      last_attempt_at=_iso(self._clock()), permanent=permanent)
        log.info("outbox.failed", item_id=item.id, kind=item.kind, attempts=item.attempts, permanent=permanent)

    def retry(self, item: OutboxItem) -> None:
        """Put a permanently failed item back among the pending ones (attempts and last error are kept).

        ``meta.json`` is rewritten atomically; ``item`` is updated in place. Nothing happens to a pending item.
        """
        if not item.permanent:
            return
        self._rewrite(item, permanent=False)
        log.info("outbox.retry", item_id=item.id, kind=item.kind, attempts=item.attempts)

    def drop(self, item: OutboxItem) -> None:
        """Forget an undelivered item for good (a delivery the configuration no longer asks for)."""
        self._discard(item.path, ".del-")
        log.info("outbox.dropped", item_id=item.id, kind=item.kind)

    def delivered(self, item: OutboxItem, detail: str = "") -> None:
        """Record ``item`` as delivered in ``delivered.jsonl`` (fsynced), then remove its folder.

        Args:
            item: the item that was sent.
            detail: a short note, e.g. the HTTP status or the SMTP reply; no secrets.
        """
        record = {
            "id": item.id,
            "kind": item.kind,
            "target": item.target,
            "delivered_at": _iso(self._clock()),
            "detail": detail,
        }
        line = (json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8")
        self.root.mkdir(parents=True, exist_ok=True)
        path = self.root / DELIVERED
        existed = path.exists()
        with open(path, "ab+") as f:
            if f.tell() > 0:  # a crash may have left a torn last line: start on a fresh one
                f.seek(-1, os.SEEK_END)
                if f.read(1) != b"\n":
                    line = b"\n" + line
            f.write(line)
            f.flush()
            os.fsync(f.fileno())
        if not existed:
            _fsync_dir(self.root)
        self._discard(item.path, ".del-")
        log.info("outbox.delivered", item_id=item.id, kind=item.kind, attempts=item.attempts + 1)

    # -- reading -------------------------------------------------------------------------------------------

    def items(self) -> list[OutboxItem]:
        """Every undelivered item, pending or permanently failed, oldest first (by ``created_at``, then id).

        Work folders (``.tmp-*`` and the like) are ignored; an item with an unreadable ``meta.json`` is logged
        and skipped; a folder whose id is already in ``delivered.jsonl`` (a crash after the record) is removed.
        """
        if not self.root.is_dir():
            return []
        done = self._delivered_ids()
        items: list[OutboxItem] = []
        for folder in sorted(self.root.iterdir()):
            if folder.name.startswith(".") or not folder.is_dir():
                continue
            if folder.name in done:
                log.info("outbox.leftover_removed", item_id=folder.name)
                self._discard(folder, ".del-")
                continue
            try:
                items.append(_load_item(folder))
            except (OSError, ValueError) as exc:
                log.warning("outbox.corrupt_meta", item_id=folder.name, error=str(exc))
        items.sort(key=lambda it: (it.created_at, it.id))
        return items

    def pending(self) -> list[OutboxItem]:
        """Items waiting to be sent, oldest first: ``items()`` without the permanently failed ones."""
        return [it for it in self.items() if not it.permanent]

    def permanently_failed(self) -> list[OutboxItem]:
        """Items that failed in a way retrying cannot fix, oldest first; ``retry()`` puts one back."""
        return [it for it in self.items() if it.permanent]

    def read(self, item: OutboxItem, name: str) -> bytes:
        """The payload file ``name`` of ``item``.

        Raises:
            ValueError: an unsafe file name.
            FileNotFoundError: no such file.
        """
        return (item.path / _check_name(name, "file name")).read_bytes()

    def names(self, item: OutboxItem) -> list[str]:
        """The payload file names of ``item``, sorted (``meta.json`` and temp files left out)."""
        return sorted(
            p.name for p in item.path.iterdir() if p.is_file() and p.name != META and not p.name.startswith(".")
        )

    def was_delivered(self, item_id: str) -> bool:
        """Whether ``item_id`` is recorded in ``delivered.jsonl``."""
        return item_id in self._delivered_ids()

    # -- internals -----------------------------------------------------------------------------------------

    def _rewrite(self, item: OutboxItem, **changes: Any) -> None:
        """Replace ``item``'s ``meta.json`` atomically with ``changes`` applied, then update ``item`` in place."""
        tmp = item.path / f".{META}.tmp"
        _write_file(tmp, _meta_bytes(dataclasses.replace(item, **changes)))
        os.replace(tmp, item.path / META)
        _fsync_dir(item.path)
        for name, value in changes.items():
            setattr(item, name, value)

    def _delivered_ids(self) -> set[str]:
        try:
            raw = (self.root / DELIVERED).read_bytes()
        except FileNotFoundError:
            return set()
        ids: set[str] = set()
        for n, line in enumerate(raw.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                ids.add(record["id"])
            except (ValueError, TypeError, KeyError):
                log.warning("outbox.corrupt_delivered_line", line=n)
        return ids

    def _discard(self, folder: Path, prefix: str) -> None:
        """Rename ``folder`` out of the way first, so a half-removed folder is never taken for a pending item."""
        aside = self.root / f"{prefix}{folder.name}-{uuid.uuid4().hex[:8]}"
        try:
            os.rename(folder, aside)
        except FileNotFoundError:
            return
        shutil.rmtree(aside, ignore_errors=True)
