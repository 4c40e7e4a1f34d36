"""Shared building blocks of the Symbl models: the wire base classes, the server-message envelope, the error type.

Field names are snake_case in Python and camelCase on the wire (``isFinal`` is ``is_final``); both spellings are
accepted when validating. Models of received data allow extra fields, because the docs and the SDKs disagree on
which optional fields appear. The small shapes here (users, sentiment, references, trackers, entities) appear in
both streaming messages and REST responses.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, TypeAlias

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic.alias_generators import to_camel


class SymblProtocolError(ValueError):
    """A server message that is not JSON, not a JSON object, or does not fit the documented shape of its type."""


class _Wire(BaseModel):
    """Base of everything received from Symbl: camelCase aliases, tolerant of extra fields and numeric ids."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="allow", coerce_numbers_to_str=True
    )


def _unwrap(data: Any) -> Any:
    """The inner object of a ``{"type": "message", "message": {...}}`` envelope, flagged; anything else unchanged.

    Other keys of the envelope (the Go SDK declares a top-level ``timeOffset`` on recognition results) are kept
    unless the inner object has the same key.
    """
    if isinstance(data, dict) and data.get("type") == "message" and isinstance(data.get("message"), dict):
        outer = {k: v for k, v in data.items() if k not in ("type", "message")}
        return {**outer, **data["message"], "enveloped": True}
    return data


class _ServerMessage(_Wire):
    """Base of the parsed server messages."""

    enveloped: bool = False  # arrived inside {"type": "message", "message": {...}}

    @model_validator(mode="before")
    @classmethod
    def _unwrap_envelope(cls, data: Any) -> Any:
        return _unwrap(data)


class _MemberRef(_Wire):
    """The identity fields shared by users, analytics members and overlapping members."""

    id: str | None = None
    name: str | None = None
    user_id: str | None = None


class _TimedWord(_Wire):
    """A word with absolute wall-clock times."""

    word: str = ""
    start_time: datetime | None = None
    end_time: datetime | None = None


class SymblUser(_MemberRef):
    """A person as Symbl reports one (``user``, ``from``, ``assignee``); every field may be missing.

    ``id`` is Symbl's member UUID, ``user_id`` the ``speaker.userId`` the stream was started with. Extra keys
    given in ``speaker`` (e.g. ``peerId``) are echoed back and kept as extra fields (SYMBL.md §2.3.1).
    """

    email: str | None = None


_FromUser: TypeAlias = Annotated[SymblUser | None, Field(alias="from")]
"""Type of a ``from_`` field: the sender, serialized as ``from`` (a Python keyword); give it a default of None."""


class Polarity(_Wire):
    """Sentiment polarity, -1.0 (negative) to 1.0 (positive)."""

    score: float | None = None


class Sentiment(_Wire):
    """Sentiment of a message or topic (present with ``config.sentiment`` or ``?sentiment=true``)."""

    polarity: Polarity | None = None
    suggested: str | None = None  # "positive" | "neutral" | "negative"


class Payload(_Wire):
    """Text content of a message or insight."""

    content: str = ""
    content_type: str | None = None


class Ref(_Wire):
    """A reference to a message or insight by id."""

    id: str | None = None


class MessageRef(_Wire):
    """A reference into a message, with the matched text; ``offset`` -1 means a similar, not exact, match."""

    id: str | None = None
    text: str | None = None
    offset: int | None = None
    start_time: datetime | None = None
    end_time: datetime | None = None

    @property
    def exact(self) -> bool:
        """Whether this is an exact match at ``offset`` (as opposed to a similar one, ``offset == -1``)."""
        return self.offset is not None and self.offset >= 0


class InsightRef(_Wire):
    """A reference from a tracker match to an insight."""

    id: str | None = None
    text: str | None = None
    offset: int | None = None
    type: str | None = None


class TrackerMatch(_Wire):
    """One tracker hit: the vocabulary entry and where it matched."""

    type: str | None = None  # "vocabulary"
    value: str | None = None
    message_refs: list[MessageRef] = Field(default_factory=list)
    insight_refs: list[InsightRef] = Field(default_factory=list)


class Tracker(_Wire):
    """A tracker and its matches (streaming ``tracker_response`` and REST ``trackers-detected``)."""

    id: str | None = None
    name: str = ""
    matches: list[TrackerMatch] = Field(default_factory=list)


class EntityMatch(_Wire):
    """One detected value of an entity (2024 shape)."""

    detected_value: str | None = None
    message_refs: list[MessageRef] = Field(default_factory=list)


class Entity(_Wire):
    """A detected entity; both documented shapes (SYMBL.md §3.10) parse into this.

    2022 docs: ``{type, value, text, customType?, messageRefs}``; Go SDK 2024: ``{type, subType, category,
    matches[{detectedValue, messageRefs}]}``.
    """

    type: str | None = None
    sub_type: str | None = None
    category: str | None = None
    custom_type: str | None = None
    value: Any = None
    text: str | None = None
    message_refs: list[MessageRef] = Field(default_factory=list)
    matches: list[EntityMatch] = Field(default_factory=list)
