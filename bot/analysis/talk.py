"""Talk-time analytics from each participant's voiced intervals (VAD)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from bot.report.model import Analytics

Interval = tuple[float, float]

INTERRUPT_AFTER_S = 0.3  # the other speaker must have been talking this long already
INTERRUPT_OVERLAP_S = 0.5  # and both must talk together at least this long


def merge_intervals(intervals: Iterable[Interval]) -> list[Interval]:
    """Sorted, non-overlapping intervals covering the same time; empty and reversed ones are dropped.

    Touching intervals (one ends where the next starts) are merged.
    """
    out: list[Interval] = []
    for start, end in sorted((float(s), float(e)) for s, e in intervals if e > s):
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out


def total_length(intervals: Iterable[Interval]) -> float:
    """Summed length of intervals (merge them first for covered time)."""
    return sum(end - start for start, end in intervals)


def _clip(intervals: Iterable[Interval], duration_s: float) -> list[Interval]:
    if duration_s <= 0:
        return list(intervals)
    return [(max(0.0, s), min(duration_s, e)) for s, e in intervals if e > 0 and s < duration_s]


def overlap_time(per_participant: Mapping[str, Sequence[Interval]]) -> float:
    """Time during which two or more participants talk at once (each participant's intervals merged)."""
    events: list[tuple[float, int]] = []
    for intervals in per_participant.values():
        for start, end in merge_intervals(intervals):
            events.append((start, 1))
            events.append((end, -1))
    events.sort(key=lambda e: (e[0], e[1]))  # ends before starts at the same instant
    active = 0
    last = 0.0
    total = 0.0
    for t, delta in events:
        if active >= 2:
            total += t - last
        active += delta
        last = t
    return total


def count_interruptions(per_participant: Mapping[str, Sequence[Interval]]) -> dict[str, int]:
    """How many times each participant started talking over someone else.

    An interruption: a participant starts an interval while another participant's interval is active and
    has been for at least 0.3 s, and the two overlap for at least 0.5 s. Each of the interrupter's
    intervals counts at most once.
    """
    merged = {pid: merge_intervals(v) for pid, v in per_participant.items()}
    eps = 1e-9
    counts = {pid: 0 for pid in merged}
    for pid, intervals in merged.items():
        for start, end in intervals:
            for other, theirs in merged.items():
                if other == pid:
                    continue
                if any(
                    s <= start - INTERRUPT_AFTER_S + eps
                    and e > start
                    and min(e, end) - start >= INTERRUPT_OVERLAP_S - eps
                    for s, e in theirs
                ):
                    counts[pid] += 1
                    break
    return counts


@dataclass(frozen=True, slots=True)
class TalkStats:
    """Talk figures of one meeting."""

    analytics: Analytics
    talk_time_s: dict[str, float]  # participant id -> merged own talk time
    talk_share: dict[str, float]  # participant id -> share of all participants' talk time, 0..1
    interruptions: dict[str, int]  # participant id -> times they interrupted someone


def analyse_talk(speech: Mapping[str, Sequence[Interval]], duration_s: float) -> TalkStats:
    """Meeting analytics and per-participant talk time from voiced intervals.

    talk_s is the union of everyone's intervals, overlap_s the time two or more talk at once, silence_s
    ``duration_s - talk_s``; percentages are of ``duration_s`` (0..100, 0 when the duration is 0).
    Intervals are clipped to [0, duration_s] when the duration is positive.
    """
    clipped = {pid: merge_intervals(_clip(v, duration_s)) for pid, v in speech.items()}
    talk_time = {pid: total_length(v) for pid, v in clipped.items()}
    talk_s = total_length(merge_intervals(iv for v in clipped.values() for iv in v))
    overlap_s = overlap_time(clipped)
    duration = max(0.0, float(duration_s))
    silence_s = max(0.0, duration - talk_s)
    total_talk = sum(talk_time.values())

    def pct(x: float) -> float:
        return 100.0 * x / duration if duration > 0 else 0.0

    analytics = Analytics(
        duration_s=duration,
        talk_s=talk_s,
        silence_s=silence_s,
        overlap_s=overlap_s,
        talk_pct=pct(talk_s),
        silence_pct=pct(silence_s),
        overlap_pct=pct(overlap_s),
    )
    share = {pid: (t / total_talk if total_talk > 0 else 0.0) for pid, t in talk_time.items()}
    return TalkStats(analytics, talk_time, share, count_interruptions(clipped))
