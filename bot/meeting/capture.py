"""Loads the injected capture script and fills in its configuration."""

from __future__ import annotations

import json
from importlib.resources import files

PLACEHOLDER = "__NOTETAKER_CONFIG__"


def capture_script(bridge_url: str, chunk_ms: int) -> str:
    """The capture script with the bridge URL and frame length inlined (nothing is put on ``window``)."""
    source = files("bot.meeting").joinpath("capture.js").read_text(encoding="utf-8")
    config = json.dumps({"url": bridge_url, "chunkMs": chunk_ms})
    return source.replace(PLACEHOLDER, config, 1)
