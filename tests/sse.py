"""Reading a Server-Sent Events stream (jitsi-bot serve's events) in the tests."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import aiohttp


async def read_events(resp: aiohttp.ClientResponse,
                      on_event: Callable[[str, Any], None] | None = None) -> list[tuple[str, Any]]:
    """Every ``(event, data)`` of the stream, to its end; data is JSON. Comments (heartbeats) are skipped.

    ``on_event`` sees each event as it arrives (the stream is still open).
    """
    events: list[tuple[str, Any]] = []
    kind = "message"
    async for raw in resp.content:
        line = raw.decode().rstrip("\n")
        if line.startswith("event: "):
            kind = line[7:]
        elif line.startswith("data: "):
            events.append((kind, json.loads(line[6:])))
            if on_event is not None:
                on_event(*events[-1])
    return events
