"""An SMTP sink for the stack: every message it is given is saved as ``<n>.eml`` in one folder."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from aiosmtpd.smtp import SMTP


class SaveToFolder:
    """aiosmtpd handler: writes each message's bytes to the next numbered file."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        n = len(list(self.folder.glob("*.eml"))) + 1
        tmp = self.folder / f"{n}.eml.tmp"
        tmp.write_bytes(envelope.content)
        tmp.replace(self.folder / f"{n}.eml")
        return "250 accepted"


async def start_smtp_sink(folder: Path, port: int) -> asyncio.Server:
    """Listen on 127.0.0.1:port (plain SMTP, no auth)."""
    handler = SaveToFolder(folder)
    loop = asyncio.get_running_loop()
    return await loop.create_server(lambda: SMTP(handler), "127.0.0.1", port)
