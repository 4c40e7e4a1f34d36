"""How a meeting ends (exit codes, reasons) and the names it goes by (meeting id, room, safe URL)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import IntEnum, StrEnum
from urllib.parse import unquote, urlsplit


class ExitCode(IntEnum):
    """Process exit codes (ARCHITECTURE.md), plus 1 for a meeting that failed after joining."""

    OK = 0
    FAILED = 1
    BAD_INPUT = 2
    COULD_NOT_JOIN = 3
    DELIVERY_PENDING = 4


class EndReason(StrEnum):
    """Why the bot left."""

    ROOM_EMPTY = "room_empty"
    NO_ONE_JOINED = "no_one_joined"
    MAX_DURATION = "max_duration"
    KICKED = "kicked"
    CONFERENCE_ENDED = "conference_ended"
    STOPPED = "stopped"  # SIGTERM / SIGINT
    STOPPED_IN_CHAT = "stopped_in_chat"  # a moderator typed /notes stop
    CONNECTION_LOST = "connection_lost"  # out of the conference and not back, rejoins used up
    MEDIA_LOST = "media_lost"
    BROWSER_CRASHED = "browser_crashed"
    JOIN_FAILED = "join_failed"
    BAD_URL = "bad_url"
    ERROR = "error"


@dataclass(frozen=True, slots=True)
class SessionResult:
    """How a meeting ended."""

    exit_code: ExitCode
    reason: EndReason
    message: str = ""
    join_failure: str | None = None  # why the bot could not join (JoinFailure value), for meeting.json


def slug(text: str, *, limit: int = 60, fallback: str = "x") -> str:
    """``text`` reduced to ASCII letters, digits, ``-`` and ``_`` (safe in file names and ids)."""
    return re.sub(r"[^A-Za-z0-9_-]+", "-", text).strip("-")[:limit] or fallback


def room_name(url: str) -> str:
    """The room part of a meeting URL (last path segment), or "meeting"."""
    segment = unquote(urlsplit(url).path.rstrip("/").rsplit("/", 1)[-1])
    return slug(segment, fallback="meeting")


def new_meeting_id(url: str, now: datetime | None = None) -> str:
    """``<room>-<UTC time>``, unique enough for one bot per meeting and safe as a folder name."""
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    return f"{room_name(url)}-{stamp}"


def safe_url(url: str) -> str:
    """The URL without user info, query and fragment: safe for logs, reports and artifacts.

    A ``?jwt=`` or a ``user:password@`` is a credential.
    """
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    return f"{parts.scheme}://{host}{parts.path}"


_URL = re.compile(r"\b(?:https?|wss?)://[^\s'\"<>]+", re.IGNORECASE)


def redact_urls(text: str) -> str:
    """``text`` with every URL in it made safe (``safe_url``).

    For error messages that quote a URL (Playwright's do) before they reach a log, ``meeting.json`` or the
    terminal.
    """
    return _URL.sub(lambda m: safe_url(m.group(0)), text)
