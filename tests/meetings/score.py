"""Scoring a report against its scripted meeting: word error rate, question/action/decision recall, owners."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any

from bot.analysis.insights.owners import fold
from bot.demo.speech import Line, Meeting, wer, words

_ONES = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve",
         "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen"]
_TENS = ["_", "_", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
_ORDINAL = {"one": "first", "two": "second", "three": "third", "five": "fifth", "eight": "eighth",
            "nine": "ninth", "twelve": "twelfth"}


def _number_words(n: int, ordinal: bool) -> list[str]:
    if n >= 100:
        return [str(n)]
    out = [_ONES[n]] if n < 20 else [_TENS[n // 10]] + ([_ONES[n % 10]] if n % 10 else [])
    if ordinal:
        last = out[-1]
        out[-1] = _ORDINAL.get(last, last[:-1] + "ieth" if last.endswith("y") else last + "th")
    return out


def norm_words(text: str) -> list[str]:
    """Words for scoring: ``words`` without accents, digits spelt out ("15th" → "fifteenth").

    Whisper writes numbers as digits and may drop a name's accents; neither is a recognition error.
    """
    out: list[str] = []
    for token in words(fold(text)):
        m = re.fullmatch(r"(\d+)(st|nd|rd|th)?", token)
        out += _number_words(int(m.group(1)), bool(m.group(2))) if m else [token.strip("'")]
    return [w for w in out if w]


def covered(part: list[str], whole: list[str]) -> float:
    """The share of ``part``'s words that are among ``whole``'s (each used once)."""
    bag = list(whole)
    hits = 0
    for w in part:
        if w in bag:
            bag.remove(w)
            hits += 1
    return hits / max(1, len(part))


@dataclass(frozen=True, slots=True)
class Score:
    """How well one report got one meeting."""

    wer: float                 # per speaker, summed: (sub + del + ins) / reference words
    question_recall: float     # question lines found as questions (by their speaker)
    action_recall: float       # action lines found as action items (by their speaker)
    owner_right: float         # of the action items found, the share with the right owner
    due_right: float | None    # of those found with a due date scripted, the share with that date (None: not scored)
    decision_recall: float
    invented_segments: int     # transcript segments of participants who never spoke
    invented_talk_s: float     # their talk time

    def as_dict(self) -> dict[str, Any]:
        """For JSON output."""
        return asdict(self)


def _items_match(line: Line, item: dict[str, Any]) -> bool:
    said, got = norm_words(line.text), norm_words(item["text"])
    return bool(got) and item["speaker"] == line.speaker and covered(got, said) >= 0.75 \
        and covered(said, got) >= 0.5


def score(meeting: Meeting, report: dict[str, Any], *, silent: tuple[str, ...] = (),
          score_dates: bool = True) -> Score:
    """Score ``report`` (report.json as a dict) against ``meeting``.

    Participants are matched by display name. ``silent`` names participants who never speak (everything
    transcribed for them is invented). ``score_dates``: compare due dates (only meaningful when the report's
    meeting date is ``meeting.date``).
    """
    errors = ref_total = 0.0
    for name in meeting.voices:
        ref = [w for line in meeting.lines if line.speaker == name for w in norm_words(line.text)]
        hyp = [w for seg in report["transcript"] if seg["name"] == name for w in norm_words(seg["text"])]
        errors += wer(ref, hyp) * len(ref)
        ref_total += len(ref)

    def recall(lines: list[Line], kind: str) -> tuple[float, list[tuple[Line, dict[str, Any]]]]:
        found = [(line, item) for line in lines
                 for item in [next((i for i in report[kind] if _items_match(line, i)), None)] if item]
        return len(found) / max(1, len(lines)), found

    questions, _ = recall([x for x in meeting.lines if x.question], "questions")
    actions, found = recall([x for x in meeting.lines if x.action_owner], "action_items")
    decisions, _ = recall([x for x in meeting.lines if x.decision], "decisions")
    owners = sum(1 for line, item in found if item.get("owner") == line.action_owner) / max(1, len(found))
    dated = [(line, item) for line, item in found if line.due]
    due = (sum(1 for line, item in dated if item.get("due_date") == line.due) / len(dated)
           if score_dates and dated else None)
    talk = {p["name"]: p["talk_time_s"] for p in report["participants"]}
    return Score(
        wer=round(errors / max(1.0, ref_total), 3), question_recall=round(questions, 3),
        action_recall=round(actions, 3), owner_right=round(owners, 3),
        due_right=None if due is None else round(due, 3), decision_recall=round(decisions, 3),
        invented_segments=sum(1 for seg in report["transcript"] if seg["name"] in silent),
        invented_talk_s=round(sum(talk.get(n, 0.0) for n in silent), 2),
    )
