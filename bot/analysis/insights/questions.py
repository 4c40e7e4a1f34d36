"""Questions: sentences that ask something, with or without a question mark.

Every rule looks at the sentence with its leading fillers ("okay so", "um") and a vocative name
("Bob, ...") taken off, and none relies on a question mark alone.
"""

from __future__ import annotations

from collections.abc import Sequence

from bot.analysis.insights.lexicon import (
    ANY_ASKS,
    ANYONE_NOT_ASKING,
    AUX,
    HOW_ASKS,
    PRONOUNS,
    RHETORICAL,
    SUBJECTS,
    TAIL_FILLER,
    WH,
    WH_CONTRACTED,
    WHAT_ASKS,
    WONDER,
)
from bot.analysis.insights.owners import Names, roster, strip_vocative
from bot.analysis.insights.sentences import Sentence, sentences_of, strip_fillers, words
from bot.report.model import Insight, Segment


def _starts_interrogative(ws: list[str], names: Names) -> bool:
    if not ws:
        return False
    w0 = ws[0]
    w1 = ws[1] if len(ws) > 1 else ""
    w2 = ws[2] if len(ws) > 2 else ""
    if w0 in WH_CONTRACTED:
        return True
    if w0 in WH:
        if not w1:
            return False
        if w1 in AUX or (w0 == "why" and w1 == "not"):
            return True
        if w0 == "how" and w1 in HOW_ASKS:
            return True
        if w0 == "what" and w1 in WHAT_ASKS:
            return True
        if w0 == "who" and w1 not in PRONOUNS:
            return True
        return w0 in {"what", "which", "whose"} and w1 not in PRONOUNS and w2 in AUX
    if w0 in AUX and w1:
        if w0 == "do" and w1 in {"it", "this", "that", "these", "those", "a", "an", "the"}:
            return False  # "do it now", "do the dishes": imperative
        if w0 in {"have", "has", "had"} and w1 in {"a", "an", "fun"}:
            return False  # "have a good one"
        return w1 in SUBJECTS or names.id_of(w1) is not None
    if w0 == "any":
        return w1 in ANY_ASKS
    if w0 in {"anyone", "anybody"}:
        return w1 not in ANYONE_NOT_ASKING
    return bool(WONDER.match(" ".join(ws[:4])))


def is_question(sentence: str, participants: dict[str, str] | None = None) -> bool:
    """Whether a sentence asks something.

    A sentence ending in "?" is a question unless it is a rhetorical filler ("you know?", "right?");
    without "?" it is one when it starts, after fillers and a vocative name, with an interrogative
    (what/when/how .. + auxiliary or subject), an auxiliary followed by a subject ("will the budget",
    "can you", "is Bob"), "any questions/thoughts ..", "anyone ..", or "I wonder/was wondering".
    """
    return asks(sentence, Names.of(participants or {}))


def asks(sentence: str, names: Names) -> bool:
    """``is_question`` with the participants' names already indexed."""
    text = sentence.strip().replace("’", "'")
    core = strip_vocative(strip_fillers(text), names).strip()
    ws = words(core)
    if not ws:
        return False
    if text.rstrip("\"')”’ ").endswith("?"):
        bare = core.rstrip("?!. ").strip()
        if RHETORICAL.match(bare):
            return False
        return not (TAIL_FILLER.search(text) and not _starts_interrogative(ws, names))
    return _starts_interrogative(ws, names)


def questions_in(sentences: Sequence[Sentence], names: Names) -> list[Insight]:
    """The sentences that are questions, as insights."""
    return [s.insight() for s in sentences if asks(s.text, names)]


def find_questions(segments: Sequence[Segment], participants: dict[str, str]) -> list[Insight]:
    """Every question asked, as said, in transcript order (see ``is_question``)."""
    return questions_in(sentences_of(segments), Names.of(roster(segments, participants)))
