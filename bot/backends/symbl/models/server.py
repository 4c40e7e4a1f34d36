"""Parsing Streaming API server messages: the :data:`ServerMessage` union and :func:`parse_server_message`.

Server messages come in two envelopes (SYMBL.md §2.4): platform events and live ASR arrive as
``{"type": "message", "message": {"type": <inner type>, ...}}``; ``message_response``, ``insight_response`` and the
other ``*_response`` messages, and one error shape, are top-level. :func:`parse_server_message` unwraps the first
envelope, so every parsed message has a flat ``type`` tag (the inner type for enveloped messages) and
``enveloped`` records which envelope it came in. Undocumented types become :class:`UnknownMessage`.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, TypeAlias, get_args

from pydantic import BaseModel, ConfigDict, Discriminator, Tag, TypeAdapter, ValidationError, model_validator

from bot.backends.symbl.models.base import SymblProtocolError, _unwrap
from bot.backends.symbl.models.server_events import (
    PONG_TEXT,
    ConversationCompleted,
    ConversationCreated,
    ErrorMessage,
    KeepAlivePong,
    RecognitionResult,
    RecognitionStarted,
    RecognitionStopped,
    SessionModified,
    StartedListening,
)
from bot.backends.symbl.models.server_insights import (
    EntityResponse,
    InsightResponse,
    MessageResponse,
    TopicResponse,
    TrackerResponse,
)

_UNKNOWN_TAG = "unknown"


class UnknownMessage(BaseModel):
    """Any server message of an undocumented type, kept whole in ``raw``.

    ``type`` is the inner type of an enveloped message, else the top-level type ("" when missing).
    """

    model_config = ConfigDict(extra="forbid")

    type: str = ""
    enveloped: bool = False
    raw: dict[str, Any]

    @model_validator(mode="before")
    @classmethod
    def _keep_raw(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        if set(data) <= {"type", "enveloped", "raw"} and isinstance(data.get("raw"), dict):
            return data  # already in this model's shape
        inner = _unwrap(data)
        kind = inner.get("type")
        return {"type": kind if isinstance(kind, str) else "", "enveloped": inner is not data, "raw": data}


def _server_tag(value: Any) -> str:
    """The union tag of a raw server message (or of an already-parsed one)."""
    if isinstance(value, UnknownMessage):
        return _UNKNOWN_TAG
    if isinstance(value, BaseModel):
        kind = getattr(value, "type", None)
    elif isinstance(value, dict):
        inner = _unwrap(value)
        kind = inner.get("type")
    else:
        return _UNKNOWN_TAG
    return kind if isinstance(kind, str) and kind in _KNOWN_SERVER_TYPES else _UNKNOWN_TAG


ServerMessage: TypeAlias = Annotated[
    Annotated[ConversationCreated, Tag("conversation_created")]
    | Annotated[StartedListening, Tag("started_listening")]
    | Annotated[RecognitionStarted, Tag("recognition_started")]
    | Annotated[RecognitionStopped, Tag("recognition_stopped")]
    | Annotated[SessionModified, Tag("session_modified")]
    | Annotated[ConversationCompleted, Tag("conversation_completed")]
    | Annotated[RecognitionResult, Tag("recognition_result")]
    | Annotated[ErrorMessage, Tag("error")]
    | Annotated[MessageResponse, Tag("message_response")]
    | Annotated[InsightResponse, Tag("insight_response")]
    | Annotated[TopicResponse, Tag("topic_response")]
    | Annotated[TrackerResponse, Tag("tracker_response")]
    | Annotated[EntityResponse, Tag("entity_response")]
    | Annotated[KeepAlivePong, Tag(PONG_TEXT)]
    | Annotated[UnknownMessage, Tag(_UNKNOWN_TAG)],
    Discriminator(_server_tag),
]
"""Every server message, discriminated on its (unwrapped) ``type``; unknown types become UnknownMessage."""


def _union_tags(alias: Any) -> frozenset[str]:
    """The ``Tag`` strings of the members of a tagged ``Annotated[A | B | ..., Discriminator]`` union."""
    union = get_args(alias)[0]
    return frozenset(meta.tag for member in get_args(union) for meta in get_args(member)[1:] if isinstance(meta, Tag))


# The documented types: every tag of the union except the catch-all.
_KNOWN_SERVER_TYPES = _union_tags(ServerMessage) - {_UNKNOWN_TAG}

_SERVER_ADAPTER: TypeAdapter[ServerMessage] = TypeAdapter(ServerMessage)


def parse_server_message(text: str | bytes) -> ServerMessage:
    """Parse one text frame from the Streaming API into a typed message.

    Args:
        text: The frame as received (UTF-8 JSON; the keep-alive text ``__PONG__`` is accepted too).

    Returns:
        The typed message; an undocumented ``type`` gives an UnknownMessage holding the raw object.

    Raises:
        SymblProtocolError: The frame is not JSON, not a JSON object, or a known type does not fit its
            documented shape.
    """
    if isinstance(text, bytes | bytearray):
        try:
            text = bytes(text).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise SymblProtocolError(f"Symbl server message is not UTF-8: {exc}") from None
    if text.strip() == PONG_TEXT:
        return KeepAlivePong(type=PONG_TEXT)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SymblProtocolError(f"Symbl server message is not valid JSON ({exc}): {_preview(text)}") from None
    if not isinstance(data, dict):
        raise SymblProtocolError(f"Symbl server message is not a JSON object: {_preview(text)}")
    try:
        return _SERVER_ADAPTER.validate_python(data)
    except ValidationError as exc:
        kind = _unwrap(data).get("type")
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'][1:]) or '(root)'}: {err['msg']}"
            for err in exc.errors(include_url=False, include_input=False)
        )
        raise SymblProtocolError(f"Symbl {kind!r} message does not have the documented shape: {problems}") from None


def _preview(text: str, limit: int = 120) -> str:
    return repr(text if len(text) <= limit else text[:limit] + "…")
