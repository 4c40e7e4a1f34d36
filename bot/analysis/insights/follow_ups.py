"""Follow-up rule: a proposal to meet, talk, sync or check in again (see ``find_follow_ups``)."""

from __future__ import annotations

import re

from bot.analysis.insights.lexicon import (
    ADVERBS,
    FU_PROPOSER,
    FU_SAME_TIME,
    FU_SCHEDULE,
    FU_STRONG,
    FU_WEAK,
)
from bot.analysis.insights.owners import Match
from bot.analysis.insights.sentences import subordinate, words

_STRONG = re.compile(rf"\b(?P<who>{FU_PROPOSER})\s+{ADVERBS}(?P<verb>{FU_STRONG})\b(?=(?P<rest>.*))", re.I)
_WEAK = re.compile(rf"\b(?P<who>{FU_PROPOSER})\s+{ADVERBS}(?P<verb>{FU_WEAK})\b(?=(?P<rest>.*))", re.I)
# "I'll follow up with the vendor": a task of the speaker's, not a follow-up meeting.
_WITH_OUTSIDER = re.compile(
    r"^\s+(?:with|on)\s+(?!(?:us|you|everyone|everybody|the team|each other|you all|all of you)\b)", re.I
)
_AGAIN = re.compile(
    r"\b(?:again|later|offline|another time|separately|follow[- ]?up|after (?:this|the) (?:call|meeting))\b",
    re.I,
)
_PROPOSAL_BEFORE = re.compile(rf"\b(?:{FU_PROPOSER}|let us|please|you|i)\s+{ADVERBS}$", re.I)


def _negated(before: str) -> bool:
    return bool(re.search(r"\bnot\s*$", before))


def follow_up(norm: str, has_date: bool) -> Match | None:
    """A proposal to meet again in a normalised sentence: where it starts and whose it is.

    Kinds: "self" (the speaker sets it up), "you" (someone is asked to), "team".
    """
    m = _STRONG.search(norm)
    if m and not _negated(norm[: m.start("verb")]):
        mine = m.group("who").lower().startswith("i ")
        external = _WITH_OUTSIDER.match(m.group("rest"))
        if not (mine and external and m.group("verb").lower() in {"follow up", "check in"}):
            return Match(m.start(), "self" if mine else "team")
    m = _WEAK.search(norm)
    if (
        m
        and not m.group("who").lower().startswith("i ")
        and not _negated(norm[: m.start("verb")])
        and (has_date or _AGAIN.search(m.group("rest")))
    ):
        return Match(m.start(), "team")
    m = FU_SCHEDULE.search(norm)
    if m and not re.search(r"\b(?:not|never|no)\s+(?:\w+\s+){0,2}$", norm[: m.start()]):
        before = norm[: m.start()]
        proposal = bool(_PROPOSAL_BEFORE.search(before + " ")) or not words(before)
        verb = m.group(0).split()[0].lower()
        if verb in {"get", "have", "do", "put", "set", "send", "plan"} and not proposal:
            return None
        if subordinate(norm, m.start()) and not proposal:
            return None
        if re.search(r"\b(?:can|could|would|will)\s+you\s+(?:\w+\s+){0,2}$", before, re.I):
            return Match(m.start(), "you", next_speaker=True)
        return Match(m.start(), "self" if re.search(r"\bi\s+(?:\w+\s+){0,4}$", before, re.I) else "team")
    m = FU_SAME_TIME.search(norm)
    return Match(m.start(), "team") if m else None
