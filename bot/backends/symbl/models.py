"""Typed Symbl.ai protocol messages: Streaming API (both directions) and the REST shapes the backend uses.

Everything follows docs/SYMBL.md (Symbl's public API is gone, so nothing here was checked against a live server).
Field names are snake_case in Python and camelCase on the wire (``isFinal`` is ``is_final``); both spellings are
accepted when validating, and client messages serialize to camelCase. Server-side models allow extra fields,
because the docs and the SDKs disagree on which optional fields appear.

Server messages come in two envelopes (SYMBL.md §2.4): platform events and live ASR arrive as
``{"type": "message", "message": {"type": <inner type>, ...}}``; ``message_response``, ``insight_response`` and the
other ``*_response`` messages, and one error shape, are top-level. :func:`parse_server_message` unwraps the first
envelope, so every parsed message has a flat ``type`` tag (the inner type for enveloped messages) and
``enveloped`` records which envelope it came in.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from datetime import datetime
from typing import Annotated, Any, Final, Literal, TypeAlias

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    RootModel,
    Tag,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

__all__ = [
    "ActionItemsResponse",
    "AnalyticsResponse",
    "ApiErrorBody",
    "Conversation",
    "ConversationCompleted",
    "ConversationCreated",
    "ConversationInsight",
    "ConversationMessage",
    "ConversationTopic",
    "EntitiesResponse",
    "Entity",
    "EntityResponse",
    "ErrorMessage",
    "FollowUpsResponse",
    "InsightResponse",
    "InsightType",
    "JobStatus",
    "JobWebhook",
    "KeepAlivePong",
    "MessageResponse",
    "MessagesResponse",
    "ModifyRequest",
    "ProcessAudioResponse",
    "QuestionsResponse",
    "RecognitionResult",
    "RecognitionStarted",
    "RecognitionStopped",
    "ServerMessage",
    "SessionModified",
    "Speaker",
    "SpeechRecognition",
    "StartConfig",
    "StartRequest",
    "StartedListening",
    "StopRequest",
    "StreamInsight",
    "StreamMessage",
    "StreamTopic",
    "SummaryResponse",
    "SymblProtocolError",
    "TokenResponse",
    "TopicResponse",
    "Tracker",
    "TrackerResponse",
    "TrackersDetectedResponse",
    "UnknownMessage",
    "is_email_like",
    "parse_server_message",
    "start_request",
    "stop_request",
]


class SymblProtocolError(ValueError):
    """A server message that is not JSON, not a JSON object, or does not fit the documented shape of its type."""


# -- shared building blocks ------------------------------------------------------------------------------------


class _Wire(BaseModel):
    """Base of everything received from Symbl: camelCase aliases, tolerant of extra fields and numeric ids."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="allow", coerce_numbers_to_str=True
    )


class SymblUser(_Wire):
    """A person as Symbl reports one (``user``, ``from``, ``assignee``); every field may be missing.

    ``id`` is Symbl's member UUID, ``user_id`` the ``speaker.userId`` the stream was started with. Extra keys
    given in ``speaker`` (e.g. ``peerId``) are echoed back and kept as extra fields (SYMBL.md §2.3.1).
    """

    id: str | None = None
    name: str | None = None
    user_id: str | None = None
    email: str | None = None


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


# -- server -> client: platform events (``{"type": "message", "message": {...}}``) --------------------------------


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


class ConversationData(_Wire):
    """The ``data`` object of lifecycle events."""

    conversation_id: str | None = None


class _WithConversationId(_ServerMessage):
    """A lifecycle event that may name the conversation in ``conversationId`` or ``data.conversationId``."""

    conversation_id: str | None = None
    data: ConversationData | None = None

    @model_validator(mode="after")
    def _resolve_conversation_id(self) -> _WithConversationId:
        if self.conversation_id is None and self.data is not None:
            self.conversation_id = self.data.conversation_id
        return self


class ConversationCreated(_WithConversationId):
    """The conversation exists; ``conversation_id`` is the key for the Conversation API."""

    type: Literal["conversation_created"]


class StartedListening(_ServerMessage):
    """The server accepts audio now (the JS SDK's "ready")."""

    type: Literal["started_listening"]


class RecognitionStarted(_WithConversationId):
    """Speech recognition started (Web SDK: ``processing_started``)."""

    type: Literal["recognition_started"]


class RecognitionStopped(_WithConversationId):
    """Speech recognition stopped after a ``stop_request``."""

    type: Literal["recognition_stopped"]


class SessionModified(_ServerMessage):
    """Acknowledges a ``modify_request``."""

    type: Literal["session_modified"]


class ConversationCompleted(_WithConversationId):
    """The conversation ended; both documented shapes parse (SYMBL.md §2.4.1).

    Web SDK docs: ``{"type": "conversation_completed", "conversationId": ..., "summaryUrl": ...}``;
    Go SDK: ``{"type": "conversation_completed", "data": {"conversationId": ...}}``. ``conversation_id`` is
    filled from either.
    """

    type: Literal["conversation_completed"]
    summary_url: str | None = None


class StreamTime(_Wire):
    """A stream-relative time as ``{seconds, nanos}`` (strings on the wire)."""

    seconds: int = 0
    nanos: int = 0

    @property
    def total_s(self) -> float:
        """Seconds since the stream started."""
        return self.seconds + self.nanos / 1e9


class RecognitionWord(_Wire):
    """A word of a live hypothesis with stream-relative times."""

    word: str = ""
    start_time: StreamTime | None = None
    end_time: StreamTime | None = None


class RecognitionAlternative(_Wire):
    """One ASR alternative."""

    words: list[RecognitionWord] = Field(default_factory=list)
    transcript: str = ""
    confidence: float | None = None


class RecognitionRaw(_Wire):
    """The raw ASR result."""

    alternatives: list[RecognitionAlternative] = Field(default_factory=list)


class RecognitionPayload(_Wire):
    """``payload`` of a recognition result."""

    raw: RecognitionRaw | None = None


class Punctuated(_Wire):
    """The punctuated transcript of a recognition result."""

    transcript: str = ""


class RecognitionResult(_ServerMessage):
    """A live caption, interim (``is_final`` False) or final for the hypothesis (SYMBL.md §2.4.2)."""

    type: Literal["recognition_result"]
    is_final: bool = False
    payload: RecognitionPayload | None = None
    punctuated: Punctuated | None = None
    user: SymblUser | None = None
    time_offset: int | None = None  # Go SDK only

    @property
    def best(self) -> RecognitionAlternative | None:
        """The first ASR alternative, if any."""
        if self.payload is None or self.payload.raw is None or not self.payload.raw.alternatives:
            return None
        return self.payload.raw.alternatives[0]

    @property
    def text(self) -> str:
        """The punctuated transcript, else the first alternative's transcript."""
        if self.punctuated is not None and self.punctuated.transcript:
            return self.punctuated.transcript
        best = self.best
        return best.transcript if best is not None else ""

    @property
    def words(self) -> list[RecognitionWord]:
        """Words of the first alternative (stream-relative times)."""
        best = self.best
        return best.words if best is not None else []

    @property
    def start_s(self) -> float | None:
        """Start of the first word in seconds since the stream started, if known."""
        times = [w.start_time.total_s for w in self.words if w.start_time is not None]
        return min(times) if times else None

    @property
    def end_s(self) -> float | None:
        """End of the last word in seconds since the stream started, if known."""
        times = [w.end_time.total_s for w in self.words if w.end_time is not None]
        return max(times) if times else None


class ErrorMessage(_ServerMessage):
    """An error; both shapes parse (SYMBL.md §2.4.7).

    Top-level ``{"type": "error", "details": ..., "message": ...}`` and enveloped
    ``{"type": "message", "message": {"type": "error", ...}}`` (``enveloped`` True; its fields are undocumented
    and kept as extra fields).
    """

    type: Literal["error"]
    details: Any = None
    message: Any = None

    @property
    def description(self) -> str:
        """A one-line human-readable description."""
        parts = [_as_text(v) for v in (self.message, self.details) if v not in (None, "", {}, [])]
        if not parts and self.model_extra:
            parts = [_as_text({k: v for k, v in self.model_extra.items()})]
        return ": ".join(dict.fromkeys(parts)) or "unspecified error"


def _as_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)


# -- server -> client: top-level responses -------------------------------------------------------------------


class MessageWord(_Wire):
    """A word of a finalized message, with absolute wall-clock times."""

    word: str = ""
    start_time: datetime | None = None
    end_time: datetime | None = None


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
    from_: SymblUser | None = Field(default=None, alias="from")
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
    from_: SymblUser | None = Field(default=None, alias="from")
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


class KeepAlivePong(_ServerMessage):
    """The JS SDK's text keep-alive answer ``__PONG__`` (not JSON; SYMBL.md §2.3.5)."""

    type: Literal["__PONG__"]


PONG_TEXT: Final = "__PONG__"


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


_KNOWN_SERVER_TYPES = frozenset(
    {
        "conversation_created",
        "started_listening",
        "recognition_started",
        "recognition_stopped",
        "session_modified",
        "conversation_completed",
        "recognition_result",
        "error",
        "message_response",
        "insight_response",
        "topic_response",
        "tracker_response",
        "entity_response",
        PONG_TEXT,
    }
)


def _server_tag(value: Any) -> str:
    """The union tag of a raw server message (or of an already-parsed one)."""
    if isinstance(value, UnknownMessage):
        return "unknown"
    if isinstance(value, BaseModel):
        kind = getattr(value, "type", None)
    elif isinstance(value, dict):
        inner = _unwrap(value)
        kind = inner.get("type")
    else:
        return "unknown"
    return kind if isinstance(kind, str) and kind in _KNOWN_SERVER_TYPES else "unknown"


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
    | Annotated[UnknownMessage, Tag("unknown")],
    Discriminator(_server_tag),
]
"""Every server message, discriminated on its (unwrapped) ``type``; unknown types become UnknownMessage."""

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


# -- client -> server ------------------------------------------------------------------------------------------

InsightType: TypeAlias = Literal["question", "action_item", "follow_up", "topic"]
Encoding: TypeAlias = Literal["LINEAR16", "FLAC", "MULAW", "Opus"]

_EMAIL_LIKE = re.compile(r"\S@\S")

# Documented sample-rate ranges per encoding (SYMBL.md §2.3.1, API reference).
_RATE_RANGES: dict[str, tuple[int, int]] = {
    "LINEAR16": (8000, 48000),
    "FLAC": (16000, 48000),
    "MULAW": (8000, 8000),
    "Opus": (16000, 48000),
}


def is_email_like(value: str) -> bool:
    """Whether ``value`` contains something shaped like an e-mail address (a non-space on both sides of "@")."""
    return bool(_EMAIL_LIKE.search(value))


class _ClientMessage(BaseModel):
    """Base of the messages the bot sends: strict about unknown fields, serialized in camelCase."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")

    def to_wire(self) -> dict[str, Any]:
        """The message as a JSON-ready dict (camelCase, unset optional fields omitted)."""
        return self.model_dump(by_alias=True, exclude_none=True)

    def to_json(self) -> str:
        """The message as the JSON text to send (always JSON, never a Python repr; SYMBL.md §2.3.4)."""
        return json.dumps(self.to_wire(), separators=(",", ":"), ensure_ascii=False)


class SpeechRecognition(_ClientMessage):
    """Audio format of the stream."""

    encoding: Encoding = "LINEAR16"
    sample_rate_hertz: int = 16000
    engine: str | None = None

    @model_validator(mode="after")
    def _check_rate(self) -> SpeechRecognition:
        low, high = _RATE_RANGES[self.encoding]
        if not low <= self.sample_rate_hertz <= high:
            raise ValueError(
                f"sampleRateHertz {self.sample_rate_hertz} is outside {low}-{high} Hz documented for {self.encoding}"
            )
        return self


class TrackersConfig(_ClientMessage):
    """Tracker options of ``config``."""

    interim_results: bool | None = None
    enable_all_trackers: bool | None = None


class RedactionConfig(_ClientMessage):
    """PII/PCI redaction options of ``config`` (Labs)."""

    identify_content: bool | None = None
    redact_content: bool | None = None
    redaction_string: str | None = None


class StartConfig(_ClientMessage):
    """``config`` of a ``start_request``."""

    confidence_threshold: float = Field(default=0.5, ge=0.5, le=1.0)
    language_code: str = "en-US"
    meeting_title: str | None = None
    timezone_offset: int | None = None
    sentiment: bool | None = None
    detect_entities: bool | None = None
    speech_recognition: SpeechRecognition = Field(default_factory=SpeechRecognition)
    trackers: TrackersConfig | None = None
    redaction: RedactionConfig | None = None


class Speaker(_ClientMessage):
    """Who this stream's audio belongs to; never an e-mail address (Symbl would e-mail it a summary)."""

    user_id: str = Field(min_length=1)
    name: str = Field(min_length=1)

    @field_validator("user_id", "name")
    @classmethod
    def _not_email(cls, value: str) -> str:
        if is_email_like(value):
            raise ValueError("must not look like an e-mail address (Symbl e-mails a summary to it)")
        return value


class TrackerDefinition(_ClientMessage):
    """An inline tracker."""

    name: str = Field(min_length=1)
    vocabulary: list[str] = Field(min_length=1)


class StartRequest(_ClientMessage):
    """The first text message on a Streaming API socket (SYMBL.md §2.3.1)."""

    type: Literal["start_request"] = "start_request"
    insight_types: list[InsightType] = Field(default_factory=list)
    config: StartConfig = Field(default_factory=StartConfig)
    speaker: Speaker | None = None
    custom_vocabulary: list[str] | None = None
    trackers: list[TrackerDefinition] | None = None
    no_connection_timeout: int | None = Field(default=None, ge=0, le=1800)
    disconnect_on_stop_request: bool | None = None
    disconnect_on_stop_request_timeout: int | None = Field(default=None, ge=0, le=1800)


class ModifyRequest(_ClientMessage):
    """Changes the audio format mid-session; acknowledged by ``session_modified``."""

    type: Literal["modify_request"] = "modify_request"
    speech_recognition: SpeechRecognition


class StopRequest(_ClientMessage):
    """Ends processing (and the socket, unless ``disconnectOnStopRequest`` was false)."""

    type: Literal["stop_request"] = "stop_request"


def start_request(
    *,
    user_id: str,
    name: str,
    meeting_title: str | None = None,
    insight_types: Sequence[InsightType] = ("question", "action_item", "follow_up"),
    sample_rate_hertz: int = 16000,
    encoding: Encoding = "LINEAR16",
    language_code: str = "en-US",
    confidence_threshold: float = 0.5,
    sentiment: bool | None = None,
    custom_vocabulary: Sequence[str] | None = None,
    no_connection_timeout: int | None = None,
    disconnect_on_stop_request: bool | None = None,
    disconnect_on_stop_request_timeout: int | None = None,
) -> StartRequest:
    """Build a ``start_request`` for one participant's stream.

    Args:
        user_id: The stream's speaker id (e.g. the Jitsi participant id). Must not look like an e-mail address.
        name: The speaker's display name. Must not look like an e-mail address.
        meeting_title: Conversation name, sent as ``config.meetingTitle``.
        insight_types: Live insights to ask for; none means Symbl sends none.
        sample_rate_hertz: Sample rate of the audio frames.
        encoding: Audio encoding; LINEAR16 is raw little-endian int16 mono PCM.
        language_code: BCP-47 language (Symbl streams English only).
        confidence_threshold: Minimum insight confidence, 0.5-1.0.
        sentiment: Ask for per-message sentiment (omitted when None).
        custom_vocabulary: ASR hints.
        no_connection_timeout: Seconds (0-1800) the conversation survives a dropped socket.
        disconnect_on_stop_request: False keeps the socket open after ``stop_request``.
        disconnect_on_stop_request_timeout: Idle seconds (0-1800) after a stop when not disconnecting.

    Returns:
        The message; send ``.to_json()``.

    Raises:
        ValueError: ``user_id`` or ``name`` is empty or looks like an e-mail address, or a value is out of its
            documented range (a pydantic ValidationError, which is a ValueError).
    """
    for field_name, value in (("user_id", user_id), ("name", name)):
        if not value:
            raise ValueError(f"speaker {field_name} must not be empty")
        if is_email_like(value):
            raise ValueError(
                f"speaker {field_name} must not look like an e-mail address: Symbl e-mails a summary to it"
            )
    return StartRequest(
        insight_types=list(insight_types),
        config=StartConfig(
            confidence_threshold=confidence_threshold,
            language_code=language_code,
            meeting_title=meeting_title,
            sentiment=sentiment,
            speech_recognition=SpeechRecognition(encoding=encoding, sample_rate_hertz=sample_rate_hertz),
        ),
        speaker=Speaker(user_id=user_id, name=name),
        custom_vocabulary=list(custom_vocabulary) if custom_vocabulary is not None else None,
        no_connection_timeout=no_connection_timeout,
        disconnect_on_stop_request=disconnect_on_stop_request,
        disconnect_on_stop_request_timeout=disconnect_on_stop_request_timeout,
    )


def stop_request() -> StopRequest:
    """Build a ``stop_request``."""
    return StopRequest()


# -- REST ------------------------------------------------------------------------------------------------------


class TokenResponse(_Wire):
    """``POST /oauth2/token:generate`` 200 body; ``expires_in`` is the *remaining* lifetime in seconds."""

    access_token: str = Field(min_length=1)
    expires_in: float = Field(gt=0)


class ApiErrorBody(_Wire):
    """A REST error body, e.g. ``{"message": "Token validation failed for provided token."}``."""

    message: str | None = None
    status_code: int | None = None


class ProcessAudioResponse(_Wire):
    """``POST /v1/process/audio`` (and ``/audio/url``, ``PUT /audio/{id}``) response."""

    conversation_id: str
    job_id: str


JobState: TypeAlias = Literal["scheduled", "in_progress", "completed", "failed"]


class JobStatus(_Wire):
    """``GET /v1/job/{jobId}`` response."""

    id: str
    status: JobState

    @property
    def done(self) -> bool:
        """Whether the job reached a final state (completed or failed)."""
        return self.status in ("completed", "failed")


class JobWebhook(_Wire):
    """What the Async API POSTs to ``webhookUrl`` on every status change (unsigned)."""

    job_id: str
    status: JobState


class Member(_Wire):
    """A conversation member."""

    id: str | None = None
    name: str | None = None
    email: str | None = None
    user_id: str | None = None


class Conversation(_Wire):
    """``GET /v1/conversations/{id}``."""

    id: str
    type: str | None = None
    name: str | None = None
    start_time: datetime | None = None
    end_time: datetime | None = None
    members: list[Member] = Field(default_factory=list)
    metadata: dict[str, Any] | None = None


class Phrase(_Wire):
    """A key phrase (``detectPhrases=true``)."""

    type: str | None = None
    text: str = ""


class ConversationWord(_Wire):
    """A word with absolute times and, as Labs fields, seconds from conversation start (``verbose=true``)."""

    word: str = ""
    start_time: datetime | None = None
    end_time: datetime | None = None
    score: float | None = None
    time_offset: float | None = None
    duration: float | None = None
    speaker_tag: int | None = None


class ConversationMessage(_Wire):
    """A message of ``GET …/messages``."""

    id: str | None = None
    text: str = ""
    from_: SymblUser | None = Field(default=None, alias="from")
    start_time: datetime | None = None
    end_time: datetime | None = None
    time_offset: float | None = None
    duration: float | None = None
    conversation_id: str | None = None
    phrases: list[Phrase] = Field(default_factory=list)
    sentiment: Sentiment | None = None
    words: list[ConversationWord] = Field(default_factory=list)


class MessagesResponse(_Wire):
    """``GET /v1/conversations/{id}/messages``."""

    messages: list[ConversationMessage] = Field(default_factory=list)


class InsightEntity(_Wire):
    """An entity inside a REST insight: ``value`` is a string (dates) or an object (persons)."""

    type: str | None = None
    text: str | None = None
    offset: int | None = None
    value: Any = None
    start: str | None = None  # datetimerange / timerange
    end: str | None = None


class ConversationInsight(_Wire):
    """A question, action item or follow-up from the Conversation API."""

    id: str | None = None
    text: str = ""
    type: str | None = None
    score: float | None = None
    message_ids: list[str] = Field(default_factory=list)
    entities: list[InsightEntity] = Field(default_factory=list)
    phrases: list[Phrase] = Field(default_factory=list)
    from_: SymblUser | None = Field(default=None, alias="from")
    assignee: SymblUser | None = None
    due_by: str | None = None  # ISO-8601
    definitive: bool | None = None

    @field_validator("due_by", mode="before")
    @classmethod
    def _flatten_due_by(cls, value: Any) -> Any:
        """Accept the streaming form ``{"value": ...}`` as well as the documented string."""
        return value.get("value") if isinstance(value, dict) else value


class QuestionsResponse(_Wire):
    """``GET …/questions``."""

    questions: list[ConversationInsight] = Field(default_factory=list)


class ActionItemsResponse(_Wire):
    """``GET …/action-items``."""

    action_items: list[ConversationInsight] = Field(default_factory=list)


class FollowUpsResponse(_Wire):
    """``GET …/follow-ups``."""

    follow_ups: list[ConversationInsight] = Field(default_factory=list)


class ParentRef(_Wire):
    """A parent topic (``parentRefs=true``)."""

    type: str | None = None
    text: str = ""


class ConversationTopic(_Wire):
    """A topic of ``GET …/topics``."""

    id: str | None = None
    text: str = ""
    type: str | None = None
    score: float | None = None
    message_ids: list[str] = Field(default_factory=list)
    sentiment: Sentiment | None = None
    parent_refs: list[ParentRef] = Field(default_factory=list)


class TopicsResponse(_Wire):
    """``GET …/topics``."""

    topics: list[ConversationTopic] = Field(default_factory=list)


class Metric(_Wire):
    """A conversation-level metric (``total_silence``, ``total_talk_time``, ``total_overlap``)."""

    type: str = ""
    percent: float | None = None
    seconds: float | None = None


class Pace(_Wire):
    """Speaking pace."""

    wpm: float | None = None


class TimeShare(_Wire):
    """A share of the conversation."""

    percentage: float | None = None
    seconds: float | None = None


class OverlappingMember(_Wire):
    """A member someone talked over."""

    id: str | None = None
    name: str | None = None
    user_id: str | None = None
    percent: float | None = None
    seconds: float | None = None


class Overlap(_Wire):
    """A member's overlap with others."""

    overlap_duration: float | None = None
    overlapping_members: list[OverlappingMember] = Field(default_factory=list)


class MemberAnalytics(_Wire):
    """Per-member analytics (needs identified speakers)."""

    id: str | None = None
    name: str | None = None
    user_id: str | None = None
    pace: Pace | None = None
    talk_time: TimeShare | None = None
    listen_time: TimeShare | None = None
    overlap: Overlap | None = None


class AnalyticsResponse(_Wire):
    """``GET …/analytics``."""

    metrics: list[Metric] = Field(default_factory=list)
    members: list[MemberAnalytics] = Field(default_factory=list)


class SummaryItem(_Wire):
    """One summary paragraph."""

    id: str | None = None
    text: str = ""
    message_refs: list[Ref] = Field(default_factory=list)
    start_time: datetime | None = None
    end_time: datetime | None = None


class SummaryResponse(_Wire):
    """``GET …/summary`` (Beta; 404 while the job runs)."""

    summary: list[SummaryItem] = Field(default_factory=list)


class TrackersDetectedResponse(RootModel[list[Tracker]]):
    """``GET …/trackers-detected``: a bare JSON array."""


class EntitiesResponse(_Wire):
    """``GET …/entities``."""

    entities: list[Entity] = Field(default_factory=list)
