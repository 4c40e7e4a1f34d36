"""Sentences of a transcript and the normalised text the rules match on.

Speech-to-text output is punctuated most of the time but not always: splitting falls back to one sentence
per unpunctuated segment, and normalisation spells out contractions so the rules need one spelling.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from bot.analysis.insights.lexicon import ABBREVIATIONS, CONTRACTIONS, FILLERS_RE, LETS, SUBORDINATE
from bot.report.model import Insight, Segment

_BOUNDARY = re.compile(r"([.!?…]+)([\"'”’)\]]*)(\s+)")
_WORD = re.compile(r"[a-z0-9']+")


@dataclass(frozen=True, slots=True)
class Sentence:
    """One sentence of one segment."""

    segment: int  # index into the transcript
    text: str
    start_s: float
    participant_id: str
    name: str

    def insight(self, owner: str | None = None, due: str | None = None, due_date: date | None = None) -> Insight:
        """This sentence as a found question, action item, follow-up or decision."""
        return Insight(text=self.text, speaker_id=self.participant_id, speaker=self.name, start_s=self.start_s,
                       owner=owner, due=due, due_date=due_date)


def split_sentences(text: str) -> list[str]:
    """Splits text into sentences at ``.``, ``!``, ``?`` and ``…`` followed by whitespace.

    Abbreviations ("Dr.", "e.g.") and initials ("J. Smith") do not end a sentence; "?" and "!" always do.
    Text without punctuation comes back as one sentence.
    """
    text = " ".join(text.split())
    out: list[str] = []
    start = 0
    for m in _BOUNDARY.finditer(text):
        if m.group(1) == ".":
            before = text[start : m.start()].split()
            last = before[-1].lower().rstrip(".") if before else ""
            if last in ABBREVIATIONS or (len(last) == 1 and last.isalpha()):
                continue
        piece = text[start : m.end(2)].strip()
        if any(c.isalnum() for c in piece):
            out.append(piece)
        start = m.end()
    tail = text[start:].strip()
    if any(c.isalnum() for c in tail):
        out.append(tail)
    return out


def sentences_of(segments: Sequence[Segment]) -> list[Sentence]:
    """Splits every segment into sentences, each with the time its first word was said.

    The start time comes from the segment's word timings when their count matches the text's words,
    else it is interpolated along the segment by character offset.
    """
    out: list[Sentence] = []
    for i, seg in enumerate(segments):
        text = " ".join(seg.text.split())
        n_tokens = len(text.split())
        offset = 0
        for sentence in split_sentences(text):
            pos = text.find(sentence, offset)
            pos = offset if pos < 0 else pos
            offset = pos + len(sentence)
            if seg.words and len(seg.words) == n_tokens:
                start = seg.words[len(text[:pos].split())].start_s
            elif text:
                start = seg.start_s + (seg.end_s - seg.start_s) * pos / len(text)
            else:
                start = seg.start_s
            out.append(Sentence(i, sentence, round(start, 3), seg.participant_id, seg.name))
    return out


def normalise(text: str) -> str:
    """Straight apostrophes, expanded contractions, no punctuation but commas; case is kept.

    Unpunctuated speech-to-text "lets meet" is read as "let's meet" unless it follows "it"/"that"/...
    """
    text = text.replace("’", "'").replace("‘", "'")
    text = LETS.sub("let us", text)
    text = re.sub(
        r"\b(am|is|are|'m|'re|'s) (also|just|probably|definitely|still|then|now) (going to|gonna)\b",
        r"\1 \3 \2",
        text,
        flags=re.I,
    )
    for pattern, repl in CONTRACTIONS:
        text = pattern.sub(repl, text)
    text = re.sub(r"[^\w\s,']", " ", text)
    text = re.sub(r"\s*,\s*", ", ", text)
    return " ".join(text.split()).strip(" ,")


def strip_fillers(text: str) -> str:
    """Takes leading fillers ("okay so", "um", "thanks") off."""
    return FILLERS_RE.sub("", text).strip(" ,")


def words(text: str) -> list[str]:
    """The lower-cased words of a text, apostrophes kept ("don't")."""
    return _WORD.findall(text.lower().replace("’", "'"))


def subordinate(norm: str, start: int) -> bool:
    """Whether the word before ``start`` makes what follows a condition or question ("if I can")."""
    before = words(norm[:start])
    return bool(before) and before[-1] in SUBORDINATE
