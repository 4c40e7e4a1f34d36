"""Symbl REST shapes: the OAuth token, error bodies, the Async API job, and the Conversation API responses.

REST bodies use the same camelCase-tolerant base as streaming messages and keep unknown fields (SYMBL.md §3).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal, TypeAlias

from pydantic import Field, RootModel, field_validator

from bot.backends.symbl.models.base import (
    Entity,
    Ref,
    Sentiment,
    SymblUser,
    Tracker,
    _FromUser,
    _MemberRef,
    _TimedWord,
    _Wire,
)


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


class ConversationWord(_TimedWord):
    """A word with absolute times and, as Labs fields, seconds from conversation start (``verbose=true``)."""

    score: float | None = None
    time_offset: float | None = None
    duration: float | None = None
    speaker_tag: int | None = None


class ConversationMessage(_Wire):
    """A message of ``GET …/messages``."""

    id: str | None = None
    text: str = ""
    from_: _FromUser = None
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
    from_: _FromUser = None
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


class OverlappingMember(_MemberRef):
    """A member someone talked over."""

    percent: float | None = None
    seconds: float | None = None


class Overlap(_Wire):
    """A member's overlap with others."""

    overlap_duration: float | None = None
    overlapping_members: list[OverlappingMember] = Field(default_factory=list)


class MemberAnalytics(_MemberRef):
    """Per-member analytics (needs identified speakers)."""

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
