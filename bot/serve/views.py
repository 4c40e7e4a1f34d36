"""A bot as the API, its events stream and its status webhook show it: no credentials, absolute links."""

from __future__ import annotations

from typing import Any

from bot.outcome import safe_url
from bot.serve.store import BotRecord

# The files of a bot the API serves, with their content types.
ARTIFACTS = {
    "report.json": "application/json",
    "summary.html": "text/html",
    "transcript.txt": "text/plain",
    "transcript.vtt": "text/vtt",
}


def bot_links(bot_id: str, base: str) -> dict[str, str]:
    """Absolute URLs of the bot, its events and its artifacts under ``base`` (``https://host[:port][/prefix]``)."""
    root = f"{base.rstrip('/')}/api/v1/bots/{bot_id}"
    links = {"self": root, "events": f"{root}/events"}
    links.update({name: f"{root}/{name}" for name in ARTIFACTS})
    return links


def bot_json(record: BotRecord, base: str | None) -> dict[str, Any]:
    """The public view of a bot: its meeting URL without query and user info, no password, no webhook URL."""
    view: dict[str, Any] = {
        "id": record.id,
        "meeting_url": safe_url(record.meeting_url),
        "status": str(record.status),
        "end_reason": record.end_reason,
        "exit_code": record.exit_code,
        "detail": record.detail,
        "created_at": record.created_at,
        "started_at": record.started_at,
        "ended_at": record.ended_at,
        "participants": record.participants,
        "bot_name": record.bot_name,
        "launcher": record.launcher,
        "webhook": record.webhook is not None,
    }
    if base:
        view["links"] = bot_links(record.id, base)
    return view
