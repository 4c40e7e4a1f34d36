"""Who a sentence is about: participant names as said, the person addressed, and the owner of a task.

Names are matched by full display name or a first name no one else shares, case-insensitively, except
first names that are also common words ("Will", "May"), which must be capitalised, each also without its
accents.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from bot.analysis.insights.lexicon import NEVER_MATCHES, NOT_VOCATIVE_AFTER, WORD_NAMES
from bot.analysis.insights.sentences import Sentence, normalise, strip_fillers
from bot.report.model import Segment

_FOLD = str.maketrans({"ø": "o", "Ø": "O", "æ": "ae", "Æ": "AE", "ß": "ss", "đ": "d", "ł": "l", "Ł": "L"})


def fold(text: str) -> str:
    """``text`` without accents: "Zoë" → "Zoe", "Søren" → "Soren", "José" → "Jose"."""
    decomposed = unicodedata.normalize("NFKD", text.translate(_FOLD))
    return unicodedata.normalize("NFC", "".join(c for c in decomposed if not unicodedata.combining(c)))


def roster(segments: Iterable[Segment], participants: dict[str, str]) -> dict[str, str]:
    """Participant ids to display names: those given, plus any other speaker's name in the segments."""
    return {**{seg.participant_id: seg.name for seg in segments if seg.name}, **participants}


@dataclass(frozen=True, slots=True)
class Names:
    """Participant name aliases (full display name, unique first name) to participant ids."""

    alias_to_id: dict[str, str]
    pattern: str  # regex alternation of the aliases, longest first ("" when nobody has a name)

    @classmethod
    def of(cls, participants: dict[str, str]) -> Names:
        """The aliases of participant ids to display names.

        Each alias is also known without its accents ("Zoe" for Zoë, "Soren" for Søren): speech-to-text
        often drops them, and nobody would call that another person.
        """
        alias_to_id: dict[str, str] = {}
        firsts: dict[str, list[str]] = {}
        for pid, name in participants.items():
            full = normalise(name).replace(",", "").lower()
            if len(full) >= 2:
                alias_to_id.setdefault(full, pid)
            tokens = full.split()
            if tokens and len(tokens[0]) >= 2 and tokens[0].isalpha():
                firsts.setdefault(tokens[0], []).append(pid)
        for first, pids in firsts.items():
            if len(pids) == 1:
                alias_to_id.setdefault(first, pids[0])
        for alias, pid in list(alias_to_id.items()):
            alias_to_id.setdefault(fold(alias), pid)
        parts = []
        for alias in sorted(alias_to_id, key=len, reverse=True):
            if alias in WORD_NAMES:
                parts.append(rf"(?-i:{re.escape(alias.title())})")
            else:
                parts.append(re.escape(alias))
        return cls(alias_to_id, "|".join(parts))

    @property
    def group(self) -> str:
        """The alternation as a group named ``name`` (matching nothing when nobody has a name)."""
        return rf"(?P<name>{self.pattern or NEVER_MATCHES})"

    def id_of(self, said: str) -> str | None:
        """The participant id of a name as said, if it is one."""
        key = " ".join(said.lower().split())
        return self.alias_to_id.get(key) or self.alias_to_id.get(fold(key))


def strip_vocative(text: str, names: Names) -> str:
    """Takes a leading "Bob," (or "bob" before "can you"/"what"/"please" when unpunctuated) off."""
    if not names.pattern:
        return text
    m = re.match(rf"^(?:{names.pattern})\s*[,:]\s*", text, re.I)
    if m:
        return text[m.end() :]
    m = re.match(
        rf"^(?:{names.pattern})\s+(?=(?:(?:can|could|would|will|are|do|did|have)\s+you|please|"
        rf"what|when|where|who|why|how|which)\b)",
        text,
        re.I,
    )
    return text[m.end() :] if m else text


@dataclass(frozen=True, slots=True)
class Match:
    """Where a task or follow-up pattern starts in a normalised sentence, and whose it is."""

    start: int
    kind: str  # "self" (the speaker), "name" (a named participant), "you" (the addressed), "team"
    participant_id: str | None = None  # kind "name": the participant named
    next_speaker: bool = False  # kind "you": the next other speaker's when nobody is addressed by name


class Owners:
    """Resolves the owner of a match in one transcript to a display name."""

    def __init__(self, segments: Sequence[Segment], participants: dict[str, str], names: Names) -> None:
        self.segments = segments
        self.participants = participants
        self.names = names

    def owner(self, match: Match, sentence: Sentence, norm: str) -> str | None:
        """The speaker, the participant named, the one addressed, the one who answers, or None."""
        if match.kind == "self":
            return self.display(sentence.participant_id)
        if match.kind == "name":
            return self.display(match.participant_id)
        addressed = self.addressed(norm)
        if addressed is not None:
            return self.display(addressed)
        if match.next_speaker:
            return self.display(self._next_speaker(sentence.segment))
        return None

    def display(self, pid: str | None) -> str | None:
        """The display name of a participant id (the id itself when it has none)."""
        return None if pid is None else self.participants.get(pid, pid)

    def addressed(self, norm: str) -> str | None:
        """A participant addressed by name at the start ("Bob, ...") or end ("..., Bob") of a sentence."""
        if not self.names.pattern:
            return None
        name = self.names.group
        core = strip_fillers(norm)
        m = re.match(rf"^{name}\s*,", core, re.I) or re.match(
            rf"^{name}\s+(?=(?:can|could|would|will)\s+you\b|please\b|you\b|we\b|let us\b|i need you\b)",
            core,
            re.I,
        )
        if m:
            return self.names.id_of(m.group("name"))
        m = re.search(rf",\s*{name}\s*(?:,\s*please)?\s*$", norm, re.I)
        if m:
            return self.names.id_of(m.group("name"))
        if "," not in norm:  # unpunctuated: a trailing name not after a preposition
            m = re.search(rf"(?P<prev>\w+)\s+{name}\s*(?:please\s*)?$", norm, re.I)
            if m and m.group("prev").lower() not in NOT_VOCATIVE_AFTER:
                return self.names.id_of(m.group("name"))
        return None

    def _next_speaker(self, index: int) -> str | None:
        speaker = self.segments[index].participant_id
        for seg in self.segments[index + 1 :]:
            if seg.participant_id != speaker:
                return seg.participant_id
        return None
