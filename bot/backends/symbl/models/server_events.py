"""Streaming API platform events and live captions (server to client, SYMBL.md §2.4.1, §2.4.2, §2.4.7).

These arrive inside the ``{"type": "message", "message": {"type": <inner type>, ...}}`` envelope (the error also
top-level); each model unwraps it, so ``type`` is the inner type and ``enveloped`` records the envelope.
"""

from __future__ import annotations

import json
from typing import Any, Final, Literal

from pydantic import Field, model_validator

from bot.backends.symbl.models.base import SymblUser, _ServerMessage, _Wire

PONG_TEXT: Final = "__PONG__"


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
            parts = [_as_text(dict(self.model_extra))]
        return ": ".join(dict.fromkeys(parts)) or "unspecified error"


def _as_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)


class KeepAlivePong(_ServerMessage):
    """The JS SDK's text keep-alive answer ``__PONG__`` (not JSON; SYMBL.md §2.3.5)."""

    type: Literal["__PONG__"]
