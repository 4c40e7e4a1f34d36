"""structlog set-up: a console renderer on a terminal, JSON lines otherwise.

Event names are static dotted strings (``bridge.track_started``); values go in key-value fields. Fields that
may carry personal data (display names, transcript text) are listed in ``PRIVATE_KEYS`` and dropped unless
debug logging is on. ``meeting_id`` is bound with ``structlog.contextvars`` by the session.
"""

from __future__ import annotations

import logging
import sys
from typing import Any, TextIO

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

PRIVATE_KEYS = frozenset({"display_name", "name", "text", "email", "password", "token"})


def _drop_private(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    for key in PRIVATE_KEYS & event_dict.keys():
        event_dict[key] = "[redacted]"
    return event_dict


def configure_logging(level: str = "info", fmt: str = "auto", stream: TextIO | None = None) -> None:
    """Configure structlog and route stdlib logging (aiohttp, asyncio) through it.

    Args:
        level: "debug", "info", "warning" or "error". Personal fields are kept only at "debug".
        fmt: "console", "json", or "auto" (console when ``stream`` is a TTY).
        stream: where log lines go; default stderr.
    """
    out = stream or sys.stderr
    use_console = fmt == "console" or (fmt == "auto" and out.isatty())
    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    if level != "debug":
        shared.append(_drop_private)
    renderer: Processor = (
        structlog.dev.ConsoleRenderer(colors=out.isatty())
        if use_console
        else structlog.processors.JSONRenderer()
    )
    numeric = logging.getLevelNamesMapping()[level.upper()]
    structlog.configure(
        processors=[*shared, structlog.processors.format_exc_info, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(out),
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler(out)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processor=renderer,
            foreign_pre_chain=[*shared, structlog.stdlib.add_logger_name],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(max(numeric, logging.INFO) if level != "debug" else numeric)


def bind_meeting(meeting_id: str) -> Any:
    """Context manager binding ``meeting_id`` to every log line inside it."""
    return structlog.contextvars.bound_contextvars(meeting_id=meeting_id)
