"""Symbl's live tracker hits (``tracker_response``) collected across a meeting's streams, as Report trackers.

Symbl sends every socket of a conversation every speaker's messages and tracker hits (SYMBL.md §2.4.3,
§2.4.6), and a hit names only the vocabulary entry and the message it was found in. So the meeting's streams
share one ``TrackerLog``: each records its own speaker's messages (id -> speaker, time on the meeting
timeline, text), every stream records the hits it receives, and the Report is built once at the end with
every hit resolved to its message's speaker and time, each (tracker, entry, message) once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from bot.backends.symbl.models import MessageResponse, TrackerResponse
from bot.report.model import Tracker, TrackerMention


@dataclass(frozen=True, slots=True)
class _Said:
    speaker_id: str
    start_s: float
    text: str


@dataclass(frozen=True, slots=True)
class _Hit:
    tracker: str
    value: str
    message_id: str
    text: str | None  # the message text as the hit quotes it
    offset: int | None  # where ``value`` starts in it; -1 (or None): a similar, not exact, match


@dataclass(slots=True)
class TrackerLog:
    """Messages and tracker hits of one meeting's Symbl conversation."""

    _said: dict[str, _Said] = field(default_factory=dict)
    _hits: list[_Hit] = field(default_factory=list)

    def add_messages(self, speaker_id: str, response: MessageResponse, said_at_s: float) -> None:
        """Record ``speaker_id``'s messages of a ``message_response`` (others' are their own streams' to record).

        ``said_at_s`` is when the first of them began on the meeting timeline (the final result they came
        from); the others are placed after it by their own start times.
        """
        own = [m for m in response.messages if m.id and getattr(m.from_, "user_id", None) == speaker_id]
        starts = [_start(m.duration.start_time if m.duration else None) for m in own]
        first = min((s for s in starts if s is not None), default=None)
        for m, start in zip(own, starts, strict=True):
            later = (start - first) if start is not None and first is not None else 0.0
            assert m.id is not None
            self._said[m.id] = _Said(speaker_id, round(said_at_s + later, 3), m.text)

    def add_hits(self, response: TrackerResponse) -> None:
        """Record the matches of a ``tracker_response``."""
        for tracker in response.trackers:
            for match in tracker.matches:
                for ref in match.message_refs:
                    if tracker.name and match.value and ref.id:
                        self._hits.append(_Hit(tracker.name, match.value, ref.id, ref.text, ref.offset))

    def trackers(self, configured: Mapping[str, Sequence[str]], names: Mapping[str, str]) -> list[Tracker]:
        """Every configured tracker with the mentions Symbl found, in time order.

        Hits on messages no stream recorded (a speaker whose stream failed) are left out.
        """
        out = {name: Tracker(name=name) for name in configured}
        seen: set[tuple[str, str, str]] = set()
        for hit in self._hits:
            said = self._said.get(hit.message_id)
            key = (hit.tracker, hit.value.casefold(), hit.message_id)
            if said is None or key in seen:
                continue
            seen.add(key)
            sentence = hit.text or said.text
            at = hit.offset if hit.offset is not None and hit.offset >= 0 else -1
            words = sentence[at : at + len(hit.value)] if at >= 0 and at + len(hit.value) <= len(sentence) \
                else hit.value
            out.setdefault(hit.tracker, Tracker(name=hit.tracker)).mentions.append(TrackerMention(
                phrase=hit.value, text=words, speaker_id=said.speaker_id,
                speaker=names.get(said.speaker_id, said.speaker_id), start_s=said.start_s, sentence=sentence,
            ))
        for tracker in out.values():
            tracker.mentions.sort(key=lambda m: m.start_s)
        return list(out.values())


def _start(moment: datetime | None) -> float | None:
    return moment.timestamp() if moment is not None else None
