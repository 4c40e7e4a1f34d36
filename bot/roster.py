"""Who else is in the meeting, from the page's roster messages; bots and hidden participants do not count."""

from __future__ import annotations

import re
from dataclasses import dataclass

import structlog

from bot.bridge.protocol import RosterEntry

log = structlog.get_logger(__name__)


@dataclass(slots=True)
class Person:
    """A participant seen in the meeting (ids are per join: a rejoin is a new id)."""

    id: str
    names: list[str]  # every display name this id had, the current one last
    joined_s: float
    left_s: float | None = None
    counts: bool = True  # False for hidden participants and bots
    phone: bool = False  # dialled in (jigasi)

    @property
    def name(self) -> str:
        """The current display name."""
        return self.names[-1]


class Roster:
    """Diffs roster snapshots into joins, leaves and renames.

    Args:
        ignore_names: regular expressions; a participant whose display name matches is a bot.
    """

    def __init__(self, ignore_names: list[str] | None = None) -> None:
        self._ignore = [re.compile(p) for p in ignore_names or []]
        self.people: dict[str, Person] = {}
        self.first_human_at: float | None = None
        self.renames: list[tuple[str, str]] = []  # (participant id, new name), for the recorder

    def is_bot(self, entry: RosterEntry) -> bool:
        """Hidden participants (recorders, transcribers) and configured names are bots; dial-in people are not."""
        return entry.hidden or entry.bot or any(p.search(entry.name) for p in self._ignore)

    def update(self, entries: list[RosterEntry], now_s: float) -> None:
        """Apply a full snapshot taken at ``now_s`` (seconds on the session clock)."""
        present = {e.id: e for e in entries}
        for entry in entries:
            person = self.people.get(entry.id)
            counts = not self.is_bot(entry)
            if person is None:
                self.people[entry.id] = Person(entry.id, [entry.name], now_s, counts=counts, phone=entry.phone)
                log.info("roster.joined", participant_id=entry.id, counts=counts, phone=entry.phone,
                         at_s=round(now_s, 1))
            elif person.left_s is not None:  # the same id back (a breakout-room move keeps ids): one person
                person.left_s = None
                log.info("roster.returned", participant_id=entry.id, at_s=round(now_s, 1))
            if person is not None and person.name != entry.name:
                person.names.append(entry.name)
                self.renames.append((entry.id, entry.name))
                log.info("roster.renamed", participant_id=entry.id)
            current = self.people[entry.id]
            if (current.counts, current.phone) != (counts, entry.phone):  # flags can arrive late (jigasi)
                current.counts, current.phone = counts, entry.phone
                log.info("roster.flags", participant_id=entry.id, counts=counts, phone=entry.phone)
            if counts and self.first_human_at is None:
                self.first_human_at = now_s
        for person in self.people.values():
            if person.left_s is None and person.id not in present:
                person.left_s = now_s
                log.info("roster.left", participant_id=person.id, at_s=round(now_s, 1))

    def humans_present(self) -> int:
        """People in the room who are not bots or hidden."""
        return sum(1 for p in self.people.values() if p.left_s is None and p.counts)

    def close(self, now_s: float) -> None:
        """Mark everyone still present as having left at ``now_s``."""
        for person in self.people.values():
            if person.left_s is None:
                person.left_s = now_s
