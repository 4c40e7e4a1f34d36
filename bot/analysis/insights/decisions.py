"""Decisions: what the meeting settled ("we decided to…", "we agreed on…", "let's go with…").

A decision is a statement, said in the past or as a settled plan, by the group or for it:

- "we (have) decided / agreed / settled on / chose / went with …", "it was decided / agreed …";
- "the (final) decision is …", "decision: …", "agreed: …";
- "let's go with / let's stick with / let's use …", "we will / we are going to go with / stick with / use …";
- "so it's decided", "that's settled", "it's a deal" after something.

Questions ("did we decide…?", "shall we go with…?"), negations ("we haven't decided", "we didn't agree")
and conditionals ("if we decide…") are not decisions.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from bot.analysis.insights.owners import Names, roster
from bot.analysis.insights.questions import asks
from bot.analysis.insights.sentences import Sentence, normalise, sentences_of
from bot.report.model import Insight, Segment

_PAST = re.compile(
    r"\b(?:we|i think we|so we|the team|everyone|everybody)\s+(?:have\s+|all\s+|just\s+|finally\s+|already\s+)*"
    r"(?:decided|agreed|settled on|chose|picked|went with|opted for|concluded)\b",
    re.I,
)
_PASSIVE = re.compile(r"\b(?:it|this|that)\s+(?:was|is|has been)\s+(?:decided|agreed|settled)\b", re.I)
_NOUN = re.compile(r"\b(?:the\s+)?(?:final\s+)?decision\s+(?:is|was)\b", re.I)
_LABEL = re.compile(r"^\s*(?:decision|decided|agreed)\s*[:,\u2013\u2014-]", re.I)  # on the sentence as said
_GO_WITH = re.compile(
    r"\b(?:let us|we will|we are going to|we are gonna|we shall)\s+(?:just\s+)?"
    r"(?:go with|stick with|stay with|use|adopt|keep)\b",
    re.I,
)
_SETTLED = re.compile(r"\b(?:so\s+)?(?:it is|it's|that is|that's|this is)\s+(?:decided|settled|a deal|final)\b", re.I)
_NEGATED = re.compile(
    r"\b(?:not|never|no longer|yet to)\s+(?:\w+\s+){0,2}(?:decided|agreed|settled|chose|go with|use)\b"
    r"|\b(?:haven't|hasn't|didn't|don't|won't|can't|couldn't)\b",
    re.I,
)
_CONDITIONAL = re.compile(r"^\s*(?:if|unless|whether|once|when)\b|\bif we\b", re.I)


def decides(sentence: str, names: Names | None = None) -> bool:
    """Whether one sentence states a decision (see the module docstring)."""
    if asks(sentence, names or Names.of({})):
        return False
    norm = normalise(sentence)
    if _NEGATED.search(sentence) or _NEGATED.search(norm) or _CONDITIONAL.search(norm):
        return False
    return bool(_LABEL.search(sentence)) or any(p.search(norm) for p in (_PAST, _PASSIVE, _NOUN, _GO_WITH, _SETTLED))


def decisions_in(sentences: Sequence[Sentence], names: Names) -> list[Insight]:
    """The sentences that state a decision, in transcript order."""
    return [s.insight() for s in sentences if decides(s.text, names)]


def find_decisions(segments: Sequence[Segment], participants: dict[str, str]) -> list[Insight]:
    """What the meeting decided, one item per sentence that says so."""
    return decisions_in(sentences_of(segments), Names.of(roster(segments, participants)))
