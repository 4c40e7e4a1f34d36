"""Conversation analysis: what was asked, promised and discussed, by whom, and how the talk went.

``analyse`` composes the analysers; each one is a pure function usable on its own.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from bot.analysis.insights import (
    find_action_items,
    find_due,
    find_follow_ups,
    find_insights,
    find_questions,
    is_question,
    split_sentences,
)
from bot.analysis.insights.decisions import decides, find_decisions
from bot.analysis.keypoints import discussed, flatten, key_points
from bot.analysis.languages import (
    english_only,
    in_english,
    is_english,
    language_warning,
    main_language,
    marked_questions,
    participant_languages,
)
from bot.analysis.sentiment import analyse_sentiment, label, score_text
from bot.analysis.summary import overview, summarise
from bot.analysis.talk import analyse_talk, count_interruptions, merge_intervals, overlap_time
from bot.analysis.topics import extract_topics
from bot.analysis.trackers import find_trackers
from bot.report.model import Analytics, Insight, KeyPoint, ParticipantSummary, Segment, Sentiment, Topic, Tracker

__all__ = [
    "AnalysisInput",
    "AnalysisResult",
    "analyse",
    "analyse_sentiment",
    "analyse_talk",
    "count_interruptions",
    "decides",
    "extract_topics",
    "find_action_items",
    "find_decisions",
    "find_due",
    "find_follow_ups",
    "find_insights",
    "find_questions",
    "find_trackers",
    "is_question",
    "key_points",
    "label",
    "merge_intervals",
    "overlap_time",
    "overview",
    "participant_summaries",
    "score_text",
    "split_sentences",
    "summarise",
]


@dataclass(frozen=True, slots=True)
class AnalysisInput:
    """Everything the analysers read."""

    segments: list[Segment]  # transcript, sorted by start_s, each with participant_id + name
    participants: dict[str, str]  # participant id -> display name (everyone, even silent ones)
    speech: dict[str, list[tuple[float, float]]]  # participant id -> voiced intervals (start_s, end_s)
    duration_s: float  # meeting length on the timeline
    meeting_date: datetime.date  # for resolving "by Thursday"
    trackers: Mapping[str, Sequence[str]] = field(default_factory=dict)  # tracker name -> phrases to look for


@dataclass(slots=True)
class AnalysisResult:
    """Everything the analysers found, ready for the Report."""

    participants: list[ParticipantSummary]
    overview: str | None
    summary: list[str]  # the key points flattened, topic by topic
    key_points: list[KeyPoint]
    decisions: list[Insight]
    topics: list[Topic]
    questions: list[Insight]
    action_items: list[Insight]
    follow_ups: list[Insight]
    sentiment: Sentiment
    analytics: Analytics
    language: str | None = None  # the transcript's main language (ISO 639-1), None when not known
    warnings: list[str] = field(default_factory=list)  # e.g. speech the English-only analysers did not read
    trackers: list[Tracker] = field(default_factory=list)  # one per configured tracker, mentions or not


def _words(text: str) -> int:
    return sum(1 for token in text.split() if any(c.isalnum() for c in token))


def participant_summaries(
    segments: Sequence[Segment],
    participants: dict[str, str],
    talk_time_s: dict[str, float],
    talk_share: dict[str, float],
    interruptions: dict[str, int],
    sentiment: dict[str, float],
) -> list[ParticipantSummary]:
    """One summary per participant: everyone in ``participants`` first, then anyone else who spoke.

    words and utterances come from the transcript, wpm is words per minute of the participant's own talk
    time (0 without talk time).
    """
    order = list(participants)
    names = dict(participants)
    for seg in segments:
        if seg.participant_id not in names:
            order.append(seg.participant_id)
            names[seg.participant_id] = seg.name
    for pid in talk_time_s:
        if pid not in names:
            order.append(pid)
            names[pid] = pid
    out = []
    for pid in order:
        own = [seg for seg in segments if seg.participant_id == pid]
        words = sum(_words(seg.text) for seg in own)
        talk = talk_time_s.get(pid, 0.0)
        out.append(
            ParticipantSummary(
                id=pid,
                name=names[pid],
                talk_time_s=talk,
                talk_share=talk_share.get(pid, 0.0),
                words=words,
                wpm=round(words / (talk / 60.0), 2) if talk > 0 else 0.0,
                utterances=len(own),
                interruptions=interruptions.get(pid, 0),
                sentiment=sentiment.get(pid, 0.0),
            )
        )
    return out


def _speech_or_segments(data: AnalysisInput) -> dict[str, list[tuple[float, float]]]:
    """VAD intervals; a participant with none but with transcript segments talks for those segments."""
    speech = {pid: list(v) for pid, v in data.speech.items()}
    for seg in data.segments:
        if not data.speech.get(seg.participant_id):
            speech.setdefault(seg.participant_id, []).append((seg.start_s, seg.end_s))
    return speech


def analyse(data: AnalysisInput) -> AnalysisResult:
    """Runs every analyser over one meeting.

    Talk figures come from ``speech`` (a participant without intervals but with transcript segments is
    counted by those segments); words, questions, action items, follow-ups, decisions, topics, key points,
    overview, summary and sentiment come from the transcript. The English-only analysers read English speech only
    (``bot.analysis.languages``).
    """
    segments = data.segments  # topic segment indexes point into this list: keep its order
    english = [seg for seg in segments if is_english(seg)]  # for analysers that need no segment indexes
    language = main_language(segments)
    talk = analyse_talk(_speech_or_segments(data), data.duration_s)
    _, sentiment = analyse_sentiment(english, data.participants)
    found = find_insights(segments, data.participants, data.meeting_date)
    questions, actions, follow_ups, decisions = (in_english(f, segments) for f in found)
    if len(english) < len(segments):
        other = [seg for seg in segments if not is_english(seg)]
        questions = sorted([*questions, *marked_questions(other)], key=lambda q: q.start_s)
    listed = {i.text for i in (*decisions, *actions, *follow_ups)}  # key points need not repeat them
    spoken = participant_languages(segments)
    spoken_in = list(dict.fromkeys([language or "en", *spoken.values()]))  # the main language first
    topics = extract_topics(segments, data.participants, languages=spoken_in)
    points = key_points(english_only(segments), topics, data.participants, exclude=listed)
    people = participant_summaries(
        segments,
        data.participants,
        talk.talk_time_s,
        talk.talk_share,
        talk.interruptions,
        sentiment.per_participant,
    )
    for p in people:
        p.language = spoken.get(p.id)
    note = language_warning(segments)
    return AnalysisResult(
        participants=people,
        overview=overview(segments, discussed(segments, topics), decisions, actions),
        summary=flatten(points),
        key_points=points,
        decisions=decisions,
        topics=topics,
        questions=questions,
        action_items=actions,
        follow_ups=follow_ups,
        sentiment=sentiment,
        analytics=talk.analytics,
        language=language,
        warnings=[note] if note else [],
        trackers=find_trackers(segments, data.trackers),
    )
