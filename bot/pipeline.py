"""What `join` and `replay` share: audio in → backend streams → transcript → analysis → Report → files.

Only the source of audio differs: the bridge's per-participant frames during a meeting, or WAV files on a
shared timeline afterwards.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import structlog

from bot.analysis import AnalysisInput, analyse, merge_intervals
from bot.backends.base import (
    BackendEvent,
    BackendStream,
    ConversationBackend,
    EventKind,
    Participant,
    PostCall,
    segments_from,
)
from bot.deadline import StopDeadline
from bot.outcome import redact_urls
from bot.report.files import write_report_files
from bot.report.model import MeetingInfo, Report, Segment
from bot.report.people import Person, Presence, aliases, people

if TYPE_CHECKING:
    from bot.llm import LlmSummary

log = structlog.get_logger(__name__)


# Finishing a live meeting may take this long, plus FINISH_PER_AUDIO_S per second of audio still waiting to be
# transcribed. Whisper base decodes at 0.15-0.3x real time on 2 idle cores, but it runs at a lower priority than
# the browser: on a machine busy with other work it was measured at over 3x (22 s of speech not done in 74 s).
FINISH_BASE_S = 60.0
FINISH_PER_AUDIO_S = 8.0


@runtime_checkable
class HasBacklog(Protocol):
    """A stream that can tell how much of its audio is not transcribed yet (the local backend's can)."""

    @property
    def pending_audio_s(self) -> float:
        """Seconds of audio received and not yet transcribed."""


@runtime_checkable
class Refines(Protocol):
    """A backend that can transcribe the meeting again from its recordings afterwards (the local one can)."""

    async def final_pass(self, events: list[BackendEvent], audio: dict[str, Path], budget_s: float,
                         *, hard_s: float | None = None) -> list[BackendEvent]:
        """The events with what could be redone within ``budget_s`` (never past ``hard_s``) replaced."""


# The final pass keeps its own budget (it starts no decode it expects to overrun) and abandons a decode still
# running this long beyond it (slower than expected on a busy machine), keeping what it redid.
FINAL_PASS_OVERRUN_S = 10.0


@dataclass(slots=True)
class Transcriber:
    """Routes each participant's audio to its own backend stream and collects the events.

    Args:
        backend: opens the streams.
        on_final: told of every final transcript event as it arrives, with the speaker's name (the live
            transcript a server shows while the meeting runs).
    """

    backend: ConversationBackend
    on_final: Callable[[BackendEvent, str], None] | None = None
    names: dict[str, str] = field(default_factory=dict)
    events: list[BackendEvent] = field(default_factory=list)
    _streams: dict[str, BackendStream] = field(default_factory=dict)
    _readers: dict[str, asyncio.Task[None]] = field(default_factory=dict)
    failed: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    async def push(self, participant: Participant, pcm: bytes, position_s: float | None = None) -> None:
        """Send audio for a participant, opening their stream on first use."""
        self.names[participant.id] = participant.name or self.names.get(participant.id, participant.id)
        stream = self._streams.get(participant.id)
        if stream is None:
            stream = await self.backend.open_stream(participant)
            self._streams[participant.id] = stream
            self._readers[participant.id] = asyncio.create_task(self._read(stream),
                                                                name=f"transcriber.{participant.id}")
        await stream.push_audio(pcm, position_s)

    async def _read(self, stream: BackendStream) -> None:
        async for event in stream.events():
            self.events.append(event)
            if self.on_final is not None and event.kind == EventKind.FINAL and event.text.strip():
                self.on_final(event, self.names.get(event.participant_id, event.participant_id))

    def backlog_s(self) -> dict[str, float]:
        """Seconds of audio per participant not transcribed yet (streams that can tell)."""
        return {pid: s.pending_audio_s for pid, s in self._streams.items() if isinstance(s, HasBacklog)}

    def finish_cap_s(self) -> float:
        """How long finishing a live meeting may take, from the audio still waiting to be transcribed."""
        return FINISH_BASE_S + FINISH_PER_AUDIO_S * sum(self.backlog_s().values())

    async def finish(self, audio: dict[str, Path] | None = None, *, cap_s: float | None = None,
                     deadline: StopDeadline | None = None) -> list[BackendEvent]:
        """End every stream gracefully, recover failed ones, and return all events.

        Waits for pending transcription at most ``cap_s`` (None: as long as it takes) and never past
        ``deadline``; what was not transcribed by then is named, per participant, in ``warnings``.
        ``audio`` (participant id -> WAV) lets the backend transcribe participants whose stream failed.
        """
        deadline = deadline or StopDeadline()  # never set: only the cap applies
        try:
            async with deadline.bound(cap_s):
                # One participant's stream failing must not cost the others their events.
                streams, readers = list(self._streams.items()), list(self._readers.items())
                ended = await asyncio.gather(*(s.end_input() for _, s in streams), return_exceptions=True)
                read = await asyncio.gather(*(t for _, t in readers), return_exceptions=True)
            for (pid, _), outcome in [*zip(streams, ended, strict=True), *zip(readers, read, strict=True)]:
                if isinstance(outcome, Exception):
                    self._stream_failed(pid, outcome)
        except TimeoutError:
            self._cut_short(cap_s, deadline)
            await self.aclose()
        if audio:
            try:
                async with deadline.bound():  # an upload and a poll, or a local decode
                    self.events.extend(await self.backend.recover(audio))
            except Exception as exc:  # recovery is best effort: the WAV files keep the audio
                if _stopped(exc, deadline):
                    log.error("transcriber.recover_cut_short")
                    self.failed.append("failed streams were not recovered (the bot was stopped); "
                                       "the recordings have them: jitsi-bot replay")
                else:
                    log.exception("transcriber.recover_failed")
                    self.failed.append(f"recovering failed streams failed: {type(exc).__name__}")
        return self.events

    def _cut_short(self, cap_s: float | None, deadline: StopDeadline) -> None:
        why = "the bot was stopped" if deadline.passed else \
            f"finishing took longer than {cap_s or 0:g} s"
        left = {pid: s for pid, s in self.backlog_s().items() if s >= 0.05}
        for pid, seconds in sorted(left.items()):
            self.warnings.append(f"{self.names.get(pid, pid)}: {seconds:.1f} s of speech not transcribed ({why}); "
                                 "the recording has it: jitsi-bot replay")
        if not left:
            self.warnings.append(f"transcription was cut short ({why}); the transcript may be incomplete")
        log.error("transcriber.cut_short", why=why, untranscribed_s=round(sum(left.values()), 1))

    def _stream_failed(self, pid: str, exc: Exception) -> None:
        error = f"{type(exc).__name__}: {redact_urls(str(exc))[:200]}"
        log.error("transcriber.stream_failed", participant_id=pid, error=error)
        self.failed.append(f"live transcription of {self.names.get(pid, pid)} failed ({error}); "
                           "their words may be missing (the WAV has them)")

    async def aclose(self) -> None:
        """Stop every stream and reader now."""
        for s in self._streams.values():
            await s.aclose()
        for t in self._readers.values():
            t.cancel()
        await asyncio.gather(*self._readers.values(), return_exceptions=True)


def _stopped(exc: Exception, deadline: StopDeadline) -> bool:
    """Whether ``exc`` is the stop deadline cutting the work short (not the work's own timeout or failure)."""
    return isinstance(exc, TimeoutError) and deadline.passed


@dataclass(slots=True)
class MeetingFacts:
    """What the source knows about the meeting beyond audio."""

    id: str
    title: str
    started_at: datetime
    duration_s: float
    url: str | None = None
    room: str | None = None
    presence: dict[str, Presence] = field(default_factory=dict)  # id -> joined, left
    warnings: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    # Everyone who counted as a person in the room, audio or not: id -> every display name, the latest last.
    people: dict[str, list[str]] = field(default_factory=dict)
    # Seconds of audio received per participant id; None where that is not known (replay).
    audio_s: dict[str, float] | None = None
    # What to look for: tracker name -> phrases (the settings' [trackers]); reported even when not said.
    trackers: dict[str, list[str]] = field(default_factory=dict)
    # Seconds of audio lost on the way to the bot per participant id (ids not listed lost none); None where
    # nothing can be lost (replay).
    lost_s: dict[str, float] | None = None


UNFORWARDED_MIN_S = 10.0  # below that: the moment between joining and the first packet, not worth a warning


def _no_audio(facts: MeetingFacts, person: Person) -> tuple[float, float]:
    """Seconds ``person`` was present, and of those the seconds with none of their audio reaching the bot."""
    assert facts.audio_s is not None
    stays = [facts.presence[pid] for pid in person.ids if pid in facts.presence]
    if not stays:  # only the person's own span is known
        stays = [(person.joined_s, person.left_s)]
    # Per id: a rejoin's time away is not time without audio.
    present = sum(max(0.0, (facts.duration_s if left is None else left) - (joined or 0.0))
                  for joined, left in stays)
    received = sum(facts.audio_s.get(pid, 0.0) for pid in person.ids)
    return present, max(0.0, present - received)


def _no_audio_warnings(facts: MeetingFacts, persons: list[Person]) -> list[str]:
    """Say whose audio never reached the bot, and who was long without a forwarded track (loudest-N)."""
    if facts.audio_s is None:
        return []
    out = []
    for person in persons:
        if not any(pid in facts.people for pid in person.ids):
            continue
        present, missing = _no_audio(facts, person)
        if not any(facts.audio_s.get(pid, 0.0) > 0 for pid in person.ids):
            out.append(f"{person.name}: present {present:.0f} s, no audio received")
        elif missing >= UNFORWARDED_MIN_S:
            out.append(f"{person.name}: no audio forwarded to the bot for {missing:.0f} s of {present:.0f} s "
                       "(the bridge forwards only the loudest speakers; speech beyond them, if any, was not "
                       "received)")
    return out


def transcribed_seconds(segments: list[Segment], participant_id: str) -> float:
    """Seconds of one participant's speech that became transcript: the union of their segments' spans."""
    spans = merge_intervals((s.start_s, s.end_s) for s in segments if s.participant_id == participant_id)
    return round(sum(end - start for start, end in spans), 3)


def build_report(facts: MeetingFacts, transcriber: Transcriber, post_call: PostCall | None = None) -> Report:
    """Run the analysers over the transcript and assemble the Report.

    ``post_call`` (a backend's own insights) replaces the analysers' summary (then there are no key points),
    topics and insights, and their trackers when it has its own.
    """
    backend = transcriber.backend
    recognition = backend.recognition()
    # The roster's latest names win over the names audio arrived with (renames); a rejoin is one person.
    persons = people({**{pid: [n] for pid, n in transcriber.names.items()}, **facts.people}, facts.presence)
    alias = aliases(persons)
    events = [dataclasses.replace(e, participant_id=alias.get(e.participant_id, e.participant_id))
              for e in transcriber.events]
    speech: dict[str, list[tuple[float, float]]] = {}
    for pid, intervals in recognition.speech.items():
        speech.setdefault(alias.get(pid, pid), []).extend(intervals)
    for intervals in speech.values():
        intervals.sort()
    names = {p.id: p.name for p in persons}
    by_id = {p.id: p for p in persons}
    segments = segments_from(events, names)
    result = analyse(AnalysisInput(
        segments=segments, participants=names, speech=speech,
        duration_s=facts.duration_s, meeting_date=facts.started_at.date(), trackers=facts.trackers,
    ))
    for p in result.participants:
        person = by_id.get(p.id)
        if person is not None:
            p.joined_s, p.left_s = person.joined_s, person.left_s
            p.other_ids = list(person.ids[1:])
            if facts.audio_s is not None and any(pid in facts.people for pid in person.ids):
                p.no_audio_s = round(_no_audio(facts, person)[1], 1)
            if facts.lost_s is not None:  # a rejoin: every id's losses
                p.lost_s = round(sum(facts.lost_s.get(pid, 0.0) for pid in person.ids), 3)
        p.transcribed_s = transcribed_seconds(segments, p.id)
        p.talk_time_s, p.talk_share = round(p.talk_time_s, 3), round(p.talk_share, 4)
        p.sentiment = round(p.sentiment, 4)
    a = result.analytics
    for name in ("duration_s", "talk_s", "silence_s", "overlap_s", "talk_pct", "silence_pct", "overlap_pct"):
        setattr(a, name, round(getattr(a, name), 3))  # float noise from interval sums is not information
    ended = facts.started_at.timestamp() + facts.duration_s
    meeting = MeetingInfo(
        id=facts.id, url=facts.url, room=facts.room, title=facts.title, started_at=facts.started_at,
        ended_at=datetime.fromtimestamp(ended, UTC), duration_s=round(facts.duration_s, 3),
    )
    own = post_call or PostCall(summary=result.summary, topics=result.topics, questions=result.questions,
                                action_items=result.action_items, follow_ups=result.follow_ups)
    return Report(
        meeting=meeting, backend=backend.name, recognizer=recognition.recognizer,
        participants=result.participants, transcript=segments, overview=result.overview, summary=own.summary,
        key_points=[] if post_call else result.key_points,  # a backend's own summary is not mixed with ours
        language=result.language, decisions=result.decisions,
        topics=own.topics,
        trackers=result.trackers if post_call is None or post_call.trackers is None else post_call.trackers,
        questions=own.questions, action_items=own.action_items, follow_ups=own.follow_ups,
        sentiment=result.sentiment, analytics=result.analytics,
        warnings=[*facts.warnings, *_no_audio_warnings(facts, persons), *recognition.warnings,
                  *transcriber.warnings, *result.warnings],
        errors=[*facts.errors, *transcriber.failed],
    )


async def finish_meeting(
    facts: MeetingFacts, transcriber: Transcriber, out_dir: Path, audio: dict[str, Path] | None = None, *,
    cap_s: float | None = None, deadline: StopDeadline | None = None, final_pass_s: float = 0.0,
    summary: LlmSummary | None = None,
) -> Report:
    """End transcription, build the report and write report.json, transcript.txt and transcript.vtt.

    Transcription is bounded by ``cap_s`` and ``deadline`` (see ``Transcriber.finish``), the backend's post-call
    insights by ``deadline``; the report is written from what there is by then. With ``final_pass_s`` and
    ``audio``, a backend that can (``Refines``) transcribes again from the recordings for up to that long.
    ``summary`` (an LLM) may then replace the offline overview, key points, decisions and action items, within
    ``llm.timeout_s`` and ``deadline``.
    """
    deadline = deadline or StopDeadline()  # never set: no bound
    await transcriber.finish(audio, cap_s=cap_s, deadline=deadline)
    backend = transcriber.backend
    if final_pass_s > 0 and audio and isinstance(backend, Refines) and not deadline.passed:
        left = deadline.remaining()  # a stop request's deadline leaves less
        budget = final_pass_s if left is None else min(final_pass_s, left)
        hard = budget + FINAL_PASS_OVERRUN_S if left is None else min(budget + FINAL_PASS_OVERRUN_S, left)
        try:
            # The backend keeps both limits itself and returns what it redid; this bound is only a safety net.
            async with deadline.bound(hard + 5):
                transcriber.events = await backend.final_pass(list(transcriber.events), audio, budget, hard_s=hard)
        except Exception as exc:  # the live transcript stands
            if isinstance(exc, TimeoutError):
                log.warning("pipeline.final_pass_cut_short")
            else:
                log.exception("pipeline.final_pass_failed")
    try:
        async with deadline.bound():
            post_call = await transcriber.backend.post_call()
    except Exception as exc:  # the analysers stand in
        post_call = None
        if _stopped(exc, deadline):
            log.error("pipeline.post_call_cut_short")
            facts.warnings.append("the backend's own insights were not ready when the bot was stopped; "
                                  "the offline analysers' are used")
        else:
            log.exception("pipeline.post_call_failed")
    report = build_report(facts, transcriber, post_call)
    if summary is not None:
        report = await summary.apply(report, deadline=deadline)
    write_report_files(report, out_dir)
    log.info("pipeline.report_written", segments=len(report.transcript), questions=len(report.questions),
             action_items=len(report.action_items), follow_ups=len(report.follow_ups))
    return report
