"""The chat notice and the /notes commands (parsing and validation; the meeting tests drive them for real)."""

from __future__ import annotations

import pytest

from bot.chat import ChatCommand, delivery_phrase, mask_address, notice_text, parse_command, valid_address
from bot.config import ConfigError, load_settings


@pytest.mark.parametrize(("text", "command"), [
    ("/notes email ann@example.org", ChatCommand("email", "ann@example.org")),
    ("  /NOTES   Email   ann@example.org  ", ChatCommand("email", "ann@example.org")),
    ("/notes stop", ChatCommand("stop")),
    ("/notes", ChatCommand("help")),
    ("/notes help", ChatCommand("help")),
    ("/notes dance", ChatCommand("unknown", "dance")),
    ("/notes email", ChatCommand("email", "")),
])
def test_commands_parse(text: str, command: ChatCommand) -> None:
    assert parse_command(text) == command


@pytest.mark.parametrize("text", ["hello", "notes stop", "please /notes stop", "/notesstop", ""])
def test_other_messages_are_not_commands(text: str) -> None:
    assert parse_command(text) is None


@pytest.mark.parametrize("text", ["ann@example.org", "a.b+c@mail.example.co.uk"])
def test_addresses_accepted(text: str) -> None:
    assert valid_address(text) == text


@pytest.mark.parametrize("text", ["", "ann", "ann@", "ann@localhost", "Ann <ann@example.org>",
                                  "a@example.org, b@example.org", "ann@example.org\r\nBcc: x@evil.example",
                                  "<script>@example.org", "ann@-example.org", "x" * 250 + "@example.org",
                                  # what the email message could not carry as it is
                                  "ü@example.org", "a.@example.org", "..@example.org", "a\\b@example.org",
                                  "ann@exämple.org"])
def test_addresses_refused(text: str) -> None:
    assert valid_address(text) is None


def test_masked_address_keeps_the_domain_only() -> None:
    assert mask_address("ann.smith@example.org") == "a…@example.org"


def test_notice_names_the_bot_and_how_notes_leave() -> None:
    s = load_settings(None, {"meeting": {"name": "Scribe"}, "email": {"to": ["team@example.org"]},
                             "webhook": {"url": "https://hooks.example.org/x"}})
    text = notice_text(s)
    assert text.startswith("Scribe is taking notes") and "by email and to a webhook" in text
    assert "team@example.org" not in text  # the chat is no place for the recipients' addresses
    assert delivery_phrase(load_settings(None, {})) == "to whoever invited the bot"
    assert notice_text(load_settings(None, {"meeting": {"chat_notice": " "}})) == ""


@pytest.mark.parametrize("template", ["{nme} joined", "{0}", "{name"])
def test_bad_notice_templates_are_config_errors(template: str) -> None:
    with pytest.raises(ConfigError, match="chat_notice"):
        load_settings(None, {"meeting": {"chat_notice": template}})
