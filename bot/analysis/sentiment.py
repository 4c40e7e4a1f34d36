"""VADER sentiment per utterance, per participant and for the whole meeting."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import Protocol

from bot.report.model import Segment, Sentiment

POSITIVE = 0.05
NEGATIVE = -0.05


class _Analyzer(Protocol):
    def polarity_scores(self, text: str) -> dict[str, float]: ...


@cache
def _analyzer() -> _Analyzer:
    """The VADER analyzer, built on first use (it reads its lexicon from disk)."""
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer  # type: ignore[import-untyped]

    analyzer: _Analyzer = SentimentIntensityAnalyzer()
    return analyzer


def label(score: float) -> str:
    """Label of a compound score: positive at 0.05 and above, negative at -0.05 and below, else neutral."""
    if score >= POSITIVE:
        return "positive"
    if score <= NEGATIVE:
        return "negative"
    return "neutral"


def score_text(text: str) -> float:
    """VADER compound score of a text, -1 (negative) .. 1 (positive); 0 for empty text."""
    if not text.strip():
        return 0.0
    return float(_analyzer().polarity_scores(text)["compound"])


def _word_count(text: str) -> int:
    return sum(1 for token in text.split() if any(c.isalnum() for c in token))


def analyse_sentiment(
    segments: Sequence[Segment], participants: dict[str, str] | None = None
) -> tuple[list[float], Sentiment]:
    """Compound score of every segment, and the meeting's ``Sentiment``.

    Per participant: the mean of their segments' scores (0 for someone who said nothing; everyone in
    ``participants`` is listed). Overall: the mean over segments weighted by their word counts.

    Returns:
        (score per segment, in transcript order; the Sentiment).
    """
    scores = [score_text(seg.text) for seg in segments]
    per: dict[str, list[float]] = {pid: [] for pid in participants or {}}
    for seg, score in zip(segments, scores, strict=True):
        per.setdefault(seg.participant_id, []).append(score)
    per_participant = {pid: round(sum(v) / len(v), 4) if v else 0.0 for pid, v in per.items()}
    weights = [_word_count(seg.text) for seg in segments]
    total = sum(weights)
    overall = round(sum(w * s for w, s in zip(weights, scores, strict=True)) / total, 4) if total else 0.0
    return scores, Sentiment(overall=overall, label=label(overall), per_participant=per_participant)
