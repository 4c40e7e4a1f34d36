"""The meeting chat: the bot's notice that it is taking notes, and the ``/notes`` commands people type.

Commands (case-insensitive, in group or private chat):

- ``/notes help``: what the bot does and the commands.
- ``/notes email ADDR``: also send this meeting's notes to ADDR (when the bot sends email at all).
- ``/notes stop``: a moderator makes the bot leave now; the notes are still written and sent.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from email.headerregistry import Address
from email.utils import getaddresses
from typing import Literal

from bot.config import Settings

MAX_ADDED_RECIPIENTS = 10
HELP = ("Notetaker commands: \"/notes email you@example.org\" also sends the notes to that address; "
        "\"/notes stop\" (moderators) ends the notes now, they are still written and sent.")
_COMMAND = re.compile(r"^\s*/notes(?:\s+(\S+))?(?:\s+(.*?))?\s*$", re.IGNORECASE | re.DOTALL)
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
_ADDRESS = re.compile(rf"^{_ATOM}(?:\.{_ATOM})*@{_LABEL}(?:\.{_LABEL})+$")


@dataclass(frozen=True, slots=True)
class ChatCommand:
    """A ``/notes`` command: ``kind`` and its argument (the address for ``email``)."""

    kind: Literal["help", "email", "stop", "unknown"]
    arg: str = ""


def parse_command(text: str) -> ChatCommand | None:
    """The ``/notes`` command in a chat message, or None when the message is not one."""
    match = _COMMAND.match(text)
    if match is None:
        return None
    verb = (match.group(1) or "help").lower()
    arg = (match.group(2) or "").strip()
    if verb == "help":
        return ChatCommand("help")
    if verb == "stop":
        return ChatCommand("stop")
    if verb == "email":
        return ChatCommand("email", arg)
    return ChatCommand("unknown", verb)


def valid_address(text: str) -> str | None:
    """``text`` as a bare email address (``local@domain.tld``, ASCII), or None when it is not exactly one.

    Only what the email message can carry as it is: a dot-atom local part, a dotted host name.
    """
    if len(text) > 254 or not text.isascii() or any(c in text for c in "\r\n\\"):
        return None
    parsed = getaddresses([text])
    if len(parsed) != 1 or parsed[0][1] != text.strip():
        return None
    address = parsed[0][1]
    if not _ADDRESS.match(address):
        return None
    try:
        Address(addr_spec=address)
    except (ValueError, IndexError, TypeError):
        return None
    return address


def mask_address(address: str) -> str:
    """``a…@example.org``: enough for the sender to recognise, not a full address for everyone in the chat."""
    local, _, domain = address.partition("@")
    return f"{local[:1]}…@{domain}"


def delivery_phrase(settings: Settings) -> str:
    """How the notes leave the bot, for the chat notice: "by email", "to a webhook", both, or neither."""
    ways = [w for w, on in (("by email", bool(settings.email.to)), ("to a webhook", settings.webhook.url is not None))
            if on]
    return " and ".join(ways) if ways else "to whoever invited the bot"


def notice_text(settings: Settings) -> str:
    """The chat notice (``meeting.chat_notice`` filled in); empty when the notice is off."""
    template = settings.meeting.chat_notice
    if not template.strip():
        return ""
    return template.format(name=settings.meeting.name, delivery=delivery_phrase(settings))
