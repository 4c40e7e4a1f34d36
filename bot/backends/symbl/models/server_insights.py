"""Streaming API analysis results (server to client): finalized messages, insights, topics, trackers, entities.

These are the top-level ``*_response`` messages of SYMBL.md §2.4.3-§2.4.6; every socket of a conversation receives
every speaker's results.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Literal

from pydantic import Field, field_validator

from bot.backends.symbl.models.base import (
    Entity,
    Payload,
    Ref,
    Sentiment,
    SymblUser,
    Tracker,
    _FromUser,
    _ServerMessage,
    _TimedWord,
    _Wire,
)


class MessageWord(_TimedWord):
    """A word of a finalized message, with absolute wall-clock times."""


class MessageMetadata(_Wire):
    """``metadata`` of a streamed message; ``words`` arrives as a JSON-encoded string and is decoded here."""

    disable_punctuation: bool | None = None
    timezone_offset: int | None = None
    original_content: str | None = None
    words: list[MessageWord] | None = None
    original_message_id: str | None = None

    @field_validator("words", mode="before")
    @classmethod
    def _decode_words(cls, value: Any) -> Any:
        """Decode the JSON string; an undecodable one becomes None rather than failing the whole message."""
        if isinstance(value, str):
            try:
                return json.loads(value)
            except json.JSONDecodeError:
                return None
        return value


class MessageDuration(_Wire):
    """Absolute start and end of a streamed message (Go SDK adds ``timeOffset``/``duration`` seconds)."""

    start_time: datetime | None = None
    end_time: datetime | None = None
    time_offset: float | None = None
    duration: float | None = None


class StreamMessage(_Wire):
    """A finalized sentence in ``message_response`` (SYMBL.md §2.4.3)."""

    id: str | None = None
    from_: _FromUser = None
    payload: Payload = Field(default_factory=Payload)
    channel: Ref | None = None
    metadata: MessageMetadata | None = None
    dismissed: bool | None = None
    duration: MessageDuration | None = None
    sentiment: Sentiment | None = None
    entities: list[Any] | None = None

    @property
    def text(self) -> str:
        """The message text."""
        return self.payload.content

    @property
    def words(self) -> list[MessageWord]:
        """Word timings from ``metadata.words`` (absolute times), or [] when absent."""
        return list(self.metadata.words or []) if self.metadata is not None else []


class MessageResponse(_ServerMessage):
    """Finalized sentences; every socket of a conversation receives every speaker's (filter on ``from``)."""

    type: Literal["message_response"]
    sequence_number: int | None = None
    sentiment: bool | None = None  # Go SDK: whether sentiment was requested
    messages: list[StreamMessage] = Field(default_factory=list)


class Hint(_Wire):
    """A key/value hint on an insight; values are strings on the wire (numbers or JSON-encoded lists)."""

    key: str = ""
    value: Any = None


class InsightTag(_Wire):
    """A tagged span of an insight (``person``, ``date``, ...); the wire nests its data as ``value.value``."""

    type: str | None = None
    text: str | None = None
    begin_offset: int | None = None
    value: dict[str, Any] | None = None

    @property
    def attributes(self) -> dict[str, Any]:
        """The inner ``value.value`` object (e.g. ``{"name", "userId", "assignee"}`` or ``{"datetime"}``)."""
        inner = (self.value or {}).get("value")
        return inner if isinstance(inner, dict) else {}


class DueBy(_Wire):
    """When an action item is due; ``value`` is an ISO-8601 date or datetime string."""

    value: str | None = None


class StreamInsight(_Wire):
    """One live insight; both documented forms parse (reduced with ``text``, full with ``payload.content``)."""

    id: str | None = None
    type: str = ""  # "question" | "action_item" | "follow_up"
    text: str | None = None
    confidence: float | None = None
    message_reference: Ref | None = None
    hints: list[Hint] = Field(default_factory=list)
    assignee: SymblUser | None = None
    due_by: DueBy | None = None
    tags: list[InsightTag] = Field(default_factory=list)
    dismissed: bool | None = None
    payload: Payload | None = None
    from_: _FromUser = None
    entities: Any = None

    @property
    def content(self) -> str:
        """The insight text: ``payload.content``, falling back to ``text``."""
        if self.payload is not None and self.payload.content:
            return self.payload.content
        return self.text or ""


class InsightResponse(_ServerMessage):
    """Live questions, action items and follow-ups (SYMBL.md §2.4.4)."""

    type: Literal["insight_response"]
    sequence_number: int | None = None
    insights: list[StreamInsight] = Field(default_factory=list)


class MessageReference(_Wire):
    """A topic's reference to a message."""

    id: str | None = None
    relation: str | None = None


class RootWord(_Wire):
    """A root word of a topic."""

    text: str = ""


class StreamTopic(_Wire):
    """One live topic; its text is ``phrases`` (a string)."""

    id: str | None = None
    message_references: list[MessageReference] = Field(default_factory=list)
    phrases: str = ""
    root_words: list[RootWord] = Field(default_factory=list)
    score: float | None = None
    type: str | None = None
    sentiment: Sentiment | None = None
    message_index: int | None = None


class TopicResponse(_ServerMessage):
    """Live topics (SYMBL.md §2.4.5)."""

    type: Literal["topic_response"]
    sequence_number: int | None = None
    topics: list[StreamTopic] = Field(default_factory=list)


class TrackerResponse(_ServerMessage):
    """Live tracker hits (SYMBL.md §2.4.6)."""

    type: Literal["tracker_response"]
    is_final: bool | None = None
    sequence_number: int | None = None
    trackers: list[Tracker] = Field(default_factory=list)


class EntityResponse(_ServerMessage):
    """Live entities (Go SDK only; needs ``config.detectEntities``)."""

    type: Literal["entity_response"]
    sequence_number: int | None = None
    entities: list[Entity] = Field(default_factory=list)
