"""The server's memory: one SQLite row per bot in ``data_dir/bots.sqlite3``.

The file holds full meeting URLs (a ``?jwt=`` is a credential) and meeting passwords, which a restarted server
needs to launch the bots still queued; so it is created with mode 0600 (SQLite gives its journal the same
mode) and with ``secure_delete`` on, so that overwritten values are zeroed in the file. A password is cleared
once its bot has been launched; the webhook URL is kept (a restarted server still posts ``bot.done`` to it).

Every statement runs on one dedicated thread, so a slow DNS lookup on the default executor never delays a
status write, and a cancelled caller never leaves a statement running while the next one starts.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from bot.serve.model import BotStatus

DB_FILE = "bots.sqlite3"
SCHEMA_VERSION = 1

_T = TypeVar("_T")

_SCHEMA = """
CREATE TABLE bots (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    meeting_url TEXT NOT NULL,
    bot_name TEXT,
    email TEXT NOT NULL DEFAULT '[]',
    backend TEXT,
    password TEXT,
    max_duration_s REAL,
    webhook TEXT,
    status TEXT NOT NULL,
    end_reason TEXT,
    exit_code INTEGER,
    detail TEXT,
    created_at TEXT NOT NULL,
    started_at TEXT,
    ended_at TEXT,
    participants INTEGER NOT NULL DEFAULT 0,
    launcher TEXT NOT NULL,
    ref TEXT,
    stop_requested INTEGER NOT NULL DEFAULT 0
)
"""


def utc_now() -> str:
    """Now, as UTC ISO 8601 with milliseconds."""
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def new_bot_id() -> str:
    """A short random URL-safe id (12 characters, 72 bits)."""
    return secrets.token_urlsafe(9)


@dataclass(frozen=True, slots=True)
class BotRecord:
    """One bot as stored: the request that made it and what became of it."""

    id: str
    meeting_url: str = field(repr=False)  # the whole URL (a ?jwt= is a credential): never shown as is
    launcher: str
    status: BotStatus = BotStatus.QUEUED
    bot_name: str | None = None
    email: tuple[str, ...] = ()
    backend: str | None = None
    password: str | None = field(default=None, repr=False)
    max_duration_s: float | None = None
    webhook: str | None = field(default=None, repr=False)
    end_reason: str | None = None
    exit_code: int | None = None
    detail: str | None = None  # why it failed or was stopped, or a note (delivery pending)
    created_at: str = field(default_factory=utc_now)
    started_at: str | None = None
    ended_at: str | None = None
    participants: int = 0
    ref: str | None = None
    stop_requested: bool = False
    seq: int | None = None  # the queue order, given by the store

    def but(self, **changes: Any) -> BotRecord:
        """A copy with some fields changed."""
        return replace(self, **changes)


_COLUMNS = [f.name for f in fields(BotRecord) if f.name != "seq"]


def _row(record: BotRecord) -> dict[str, Any]:
    values = {name: getattr(record, name) for name in _COLUMNS}
    values["email"] = json.dumps(list(record.email))
    values["status"] = str(record.status)
    values["stop_requested"] = int(record.stop_requested)
    return values


def _record(row: sqlite3.Row) -> BotRecord:
    data = {k: row[k] for k in row.keys()}  # noqa: SIM118 (sqlite3.Row is not a mapping)
    data["email"] = tuple(json.loads(data["email"]))
    data["status"] = BotStatus(data["status"])
    data["stop_requested"] = bool(data["stop_requested"])
    return BotRecord(**data)


class Store:
    """Bot records in SQLite; every call runs on the store's own thread, one at a time."""

    def __init__(self, data_dir: Path) -> None:
        """Args: the server's data folder (created, mode 0700, if missing)."""
        self.path = data_dir / DB_FILE
        self._data_dir = data_dir
        self._conn: sqlite3.Connection | None = None
        self._executor: ThreadPoolExecutor | None = None

    async def _call(self, fn: Callable[[], _T]) -> _T:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="serve-store")
        future = asyncio.get_running_loop().run_in_executor(self._executor, fn)
        # A cancelled caller stops waiting; the statement still completes on the thread, before the next one.
        return await asyncio.shield(future)

    async def open(self) -> None:
        """Create or open the database and bring its schema up to date."""
        await self._call(self._open)

    def _open(self) -> None:
        self._data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.close(os.open(self.path, os.O_CREAT | os.O_RDWR, 0o600))
        os.chmod(self.path, 0o600)
        conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA secure_delete = ON")
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            conn.close()
            raise RuntimeError(f"{self.path} has schema version {version}, newer than this server's "
                               f"({SCHEMA_VERSION}): use the newer jitsi-bot")
        if version < 1:
            with conn:
                conn.execute("BEGIN")
                conn.execute(_SCHEMA)
                conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        self._conn = conn

    async def close(self) -> None:
        """Close the database and its thread."""
        if self._executor is None:
            return
        await self._call(self._close)
        self._executor.shutdown(wait=False)
        self._executor = None

    def _close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    async def _run(self, sql: str, params: Any = ()) -> list[sqlite3.Row]:
        def run() -> list[sqlite3.Row]:
            if self._conn is None:
                raise RuntimeError("the store is not open")
            return self._conn.execute(sql, params).fetchall()

        return await self._call(run)

    async def insert(self, record: BotRecord) -> BotRecord:
        """Add a new bot; returns it with its queue position (``seq``)."""
        row = _row(record)
        names = ", ".join(row)
        marks = ", ".join(f":{k}" for k in row)
        rows = await self._run(f"INSERT INTO bots ({names}) VALUES ({marks}) RETURNING seq", row)
        return record.but(seq=int(rows[0][0]))

    async def save(self, record: BotRecord) -> None:
        """Write every field of an existing bot."""
        row = _row(record)
        sets = ", ".join(f"{k} = :{k}" for k in row if k != "id")
        await self._run(f"UPDATE bots SET {sets} WHERE id = :id", row)

    async def get(self, bot_id: str) -> BotRecord | None:
        """One bot, or None."""
        rows = await self._run("SELECT * FROM bots WHERE id = ?", (bot_id,))
        return _record(rows[0]) if rows else None

    async def all(self) -> list[BotRecord]:
        """Every bot, oldest first."""
        return [_record(r) for r in await self._run("SELECT * FROM bots ORDER BY seq")]
