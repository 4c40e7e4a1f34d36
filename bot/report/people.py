"""Who the people in a meeting were: one entry per person, even when Jitsi gave them several ids.

Jitsi gives a participant a new id each time they join: a reloaded page, a dropped connection or a
second visit is a new participant with the same display name. The recorder keeps a file per id (nothing
is overwritten); the report speaks of people, so ids whose display names match and whose presence does
not overlap (one left before the other joined) are one person. Two people present at the same time are
never merged, whatever their names.
"""

from __future__ import annotations

from dataclasses import dataclass

# A reload is seen as "left" and "joined" within a roster update or two; allow for that much overlap.
REJOIN_OVERLAP_S = 2.0

Presence = tuple[float | None, float | None]  # joined_s, left_s on the meeting timeline (None: unknown/still there)


@dataclass(frozen=True, slots=True)
class Person:
    """One person: the id the report uses and every id they had."""

    id: str
    name: str
    ids: tuple[str, ...]
    joined_s: float | None
    left_s: float | None


def _key(name: str) -> str:
    return " ".join(name.split()).casefold()


def people(names: dict[str, list[str]], presence: dict[str, Presence]) -> list[Person]:
    """Group participant ids into people, in order of joining (``names``' order where that is unknown).

    Args:
        names: participant id -> every display name it had, the current one last.
        presence: participant id -> (joined_s, left_s); ids without it are never merged.
    """
    def start(pid: str) -> float:
        joined = presence.get(pid, (None, None))[0]
        return joined if joined is not None else float("inf")

    out: list[Person] = []
    keys: list[set[str]] = []  # per person in out: every name it went by
    for pid in sorted(names, key=start):
        joined, left = presence.get(pid, (None, None))
        own = {_key(n) for n in names[pid] if _key(n)}
        current = names[pid][-1] if names[pid] else pid
        match = None
        if pid in presence and joined is not None:
            for i in range(len(out) - 1, -1, -1):
                prev = out[i]
                if own & keys[i] and prev.left_s is not None and joined >= prev.left_s - REJOIN_OVERLAP_S:
                    match = i
                    break
        if match is None:
            out.append(Person(pid, current, (pid,), joined, left))
            keys.append(own)
        else:
            prev = out[match]
            out[match] = Person(prev.id, current, (*prev.ids, pid), prev.joined_s, left)
            keys[match] |= own
    return out


def aliases(persons: list[Person]) -> dict[str, str]:
    """Participant id -> the id of the person it belongs to."""
    return {pid: p.id for p in persons for pid in p.ids}
