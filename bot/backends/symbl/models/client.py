"""Streaming API messages the bot sends (client to server): ``start_request``, ``modify_request``, ``stop_request``.

Client messages are strict about unknown fields and serialize to camelCase JSON (SYMBL.md §2.3).
:func:`start_request` builds the first message of a participant's stream.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any, Literal, TypeAlias

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic.alias_generators import to_camel

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
    trackers: Mapping[str, Sequence[str]] | None = None,
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
        trackers: Inline trackers, name -> vocabulary; Symbl answers with ``tracker_response`` (omitted when empty).

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
        trackers=[TrackerDefinition(name=n, vocabulary=list(v)) for n, v in trackers.items()] if trackers else None,
    )


def stop_request() -> StopRequest:
    """Build a ``stop_request``."""
    return StopRequest()
