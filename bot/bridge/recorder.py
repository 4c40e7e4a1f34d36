"""Per-track bookkeeping and per-participant WAV spooling for one meeting.

The recorder is fed by the bridge's WebSocket handler (one ``conn`` number per page connection, since a
reloaded page starts its track indices again at 0). It never awaits: a frame is written to its
participant's spool and, when a consumer is attached, offered to a bounded queue whose oldest entry is
dropped (and counted) when full, so a slow consumer can never stall capture.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import re
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import structlog

from bot.audio import SAMPLE_RATE, WavSpool
from bot.bridge.protocol import AudioFrame, TrackStarted
from bot.outcome import slug

log = structlog.get_logger(__name__)

# Audio clock time skipped between consecutive frames beyond this is audio the browser never rendered
# (a starved audio thread): counted as a discontinuity. Smaller steps are timestamp jitter.
DISCONTINUITY_MS = 6.0

# A frame whose capture time lies this far past the end of what was written starts after a gap
# (a participant who left and came back, a track switch); the gap is filled with silence.
GAP_TOLERANCE_SAMPLES = SAMPLE_RATE // 10
# Capture times outside [origin - this, now + that] are a clock gone wrong, not audio from then.
PAST_TOLERANCE_MS = 60_000.0
FUTURE_TOLERANCE_MS = 5_000.0
MAX_PARTICIPANTS = 1000  # files per meeting; more is not a meeting but a runaway page


@dataclass(slots=True)
class TrackStats:
    """What arrived on one track index of one page connection."""

    participant_id: str
    track_id: str
    samples: int = 0
    frames: int = 0
    gaps: int = 0          # frames missing according to sequence numbers
    gap_ms: float = 0.0    # capture-clock time those missing frames covered: rendered, never delivered
    late: int = 0          # frames that arrived out of order or twice
    discontinuities: int = 0   # capture clock jumped between consecutive frames: audio never captured
    lost_ms: float = 0.0       # total of those jumps
    first_ms: float | None = None
    last_end_ms: float | None = None
    next_seq: int = 0
    ended: bool = False

    @property
    def expected_samples(self) -> int:
        """Samples the capture clock says this track covered (first to last frame)."""
        if self.first_ms is None or self.last_end_ms is None:
            return 0
        return round((self.last_end_ms - self.first_ms) * SAMPLE_RATE / 1000)


@dataclass(slots=True)
class ParticipantAudio:
    """One participant's spool and the track currently feeding it."""

    participant_id: str
    display_name: str
    file: Path
    spool: WavSpool
    active: tuple[int, int] | None = None
    names: list[str] = field(default_factory=list)
    superseded_frames: int = 0

    @property
    def name(self) -> str:
        """The latest display name."""
        return self.names[-1] if self.names else self.display_name


@dataclass(frozen=True, slots=True)
class ParticipantFrame:
    """Audio handed to the consumer: exactly what was written to the participant's WAV, and where."""

    participant_id: str
    display_name: str
    position_s: float  # timeline position of the first sample (the WAV's sample index / 16000)
    pcm: bytes


def safe_filename(name: str, participant_id: str) -> str:
    """A file name from a display name and id: ASCII letters, digits, ``-`` and ``_`` only."""
    pid = re.sub(r"[^A-Za-z0-9_-]+", "", participant_id)[:24] or "x"
    return f"{slug(name, limit=40, fallback='participant')}-{pid}.wav"


class MeetingRecorder:
    """Routes frames to per-participant WAV spools and keeps per-track statistics.

    Args:
        audio_dir: where ``<name>-<id>.wav`` files and ``participants.json`` are written.
        origin_ms: epoch milliseconds of sample 0 on the shared timeline.
        consumer_queue_size: bound of ``frames`` (0: no consumer queue).
        clock_ms: epoch milliseconds now; injectable for tests.
    """

    def __init__(
        self,
        audio_dir: Path,
        *,
        origin_ms: float | None = None,
        consumer_queue_size: int = 0,
        clock_ms: Callable[[], float] = lambda: time.time() * 1000,
    ) -> None:
        self.audio_dir = audio_dir
        self._clock_ms = clock_ms
        self.origin_ms = clock_ms() if origin_ms is None else origin_ms
        self.tracks: dict[tuple[int, int], TrackStats] = {}
        self.participants: dict[str, ParticipantAudio] = {}
        self.frames: asyncio.Queue[ParticipantFrame] | None = (
            asyncio.Queue(consumer_queue_size) if consumer_queue_size else None
        )
        self.consumer_dropped = 0
        self.unknown_track_frames = 0
        self.latencies_ms: deque[float] = deque(maxlen=200_000)
        self.last_frame_at: float | None = None  # clock_ms of the last frame from any track
        self.clamped_frames = 0  # frames whose capture time was impossible (see frame())
        self.close_failures: list[str] = []  # files that could not be closed properly
        self._closed = False

    def track_started(self, conn: int, msg: TrackStarted) -> None:
        """A track index of a connection now carries ``msg.participant_id``'s audio."""
        key = (conn, msg.track)
        old = self.tracks.get(key)
        if old is not None and not old.ended:
            old.ended = True
        # A page that reconnected announces its live tracks again and goes on counting from msg.seq.
        self.tracks[key] = TrackStats(participant_id=msg.participant_id, track_id=msg.track_id, next_seq=msg.seq)
        part = self.participants.get(msg.participant_id)
        if part is None:
            if len(self.participants) >= MAX_PARTICIPANTS:
                log.warning("recorder.too_many_participants", limit=MAX_PARTICIPANTS)
                self.tracks[key].ended = True
                return
            self.audio_dir.mkdir(parents=True, exist_ok=True)
            part = ParticipantAudio(msg.participant_id, msg.display_name, *self._new_spool(msg))
            self.participants[msg.participant_id] = part
            log.info("recorder.participant_file", participant_id=msg.participant_id)
            self._write_manifest()
        if msg.display_name and msg.display_name not in part.names:
            part.names.append(msg.display_name)
        part.active = key
        log.info("recorder.track_started", conn=conn, track=msg.track, participant_id=msg.participant_id,
                 p2p=msg.p2p)

    def _new_spool(self, msg: TrackStarted) -> tuple[Path, WavSpool]:
        """A new file for a participant, never overwriting one.

        Ids that reduce to the same name (``ab.cd``, ``abcd``) or a file already there get a suffix.
        """
        base = safe_filename(msg.display_name, msg.participant_id)
        for n in range(1, 1000):
            path = self.audio_dir / (base if n == 1 else base.replace(".wav", f"-{n}.wav"))
            try:
                return path, WavSpool(path)
            except FileExistsError:
                continue
        raise FileExistsError(f"no free file name for {base} in {self.audio_dir}")

    def track_ended(self, conn: int, track: int) -> None:
        """No more frames for this track index."""
        stats = self.tracks.get((conn, track))
        if stats is not None and not stats.ended:
            stats.ended = True
            log.info("recorder.track_ended", conn=conn, track=track, participant_id=stats.participant_id,
                     samples=stats.samples, gaps=stats.gaps)

    def connection_closed(self, conn: int) -> None:
        """A page connection went away: all its tracks ended."""
        for (c, t), stats in self.tracks.items():
            if c == conn and not stats.ended:
                self.track_ended(c, t)

    def rename(self, participant_id: str, name: str) -> None:
        """Remember a participant's new display name (the file keeps its first name)."""
        part = self.participants.get(participant_id)
        if part is not None and name and name not in part.names:
            part.names.append(name)
            self._write_manifest()

    def frame(self, conn: int, frame: AudioFrame) -> None:
        """Account for and spool one frame; never blocks."""
        now = self._clock_ms()
        key = (conn, frame.track)
        stats = self.tracks.get(key)
        if stats is None or stats.ended:
            self.unknown_track_frames += 1
            return
        self.last_frame_at = now
        if not self.origin_ms - PAST_TOLERANCE_MS <= frame.capture_ms <= now + FUTURE_TOLERANCE_MS:
            # A capture clock gone wrong: the audio is kept, placed where it arrived, never minutes (or a year)
            # of silence written ahead of it.
            self.clamped_frames += 1
            frame = dataclasses.replace(frame, capture_ms=min(max(frame.capture_ms, self.origin_ms), now))
        end_ms = frame.capture_ms + frame.samples * 1000 / SAMPLE_RATE
        if frame.seq > stats.next_seq:
            missing = frame.seq - stats.next_seq
            stats.gaps += missing
            # The capture clock spans the missing frames; before any frame, assume they were this one's size.
            stats.gap_ms += (missing * frame.samples * 1000 / SAMPLE_RATE if stats.last_end_ms is None
                             else max(0.0, frame.capture_ms - stats.last_end_ms))
        elif frame.seq < stats.next_seq:
            stats.late += 1
        elif stats.last_end_ms is not None and frame.capture_ms - stats.last_end_ms > DISCONTINUITY_MS:
            stats.discontinuities += 1
            stats.lost_ms += frame.capture_ms - stats.last_end_ms
        stats.next_seq = max(stats.next_seq, frame.seq + 1)
        stats.frames += 1
        stats.samples += frame.samples
        stats.first_ms = frame.capture_ms if stats.first_ms is None else min(stats.first_ms, frame.capture_ms)
        stats.last_end_ms = end_ms if stats.last_end_ms is None else max(stats.last_end_ms, end_ms)
        self.latencies_ms.append(now - frame.capture_ms)

        part = self.participants[stats.participant_id]
        if part.active != key:
            part.superseded_frames += 1
            return
        position = round((frame.capture_ms - self.origin_ms) * SAMPLE_RATE / 1000)
        if position - part.spool.samples > GAP_TOLERANCE_SAMPLES:
            part.spool.write_silence(position - part.spool.samples)
        at_s = part.spool.samples / SAMPLE_RATE
        part.spool.write(frame.pcm)
        if self.frames is not None:
            if self.frames.full():
                self.frames.get_nowait()
                self.consumer_dropped += 1
            self.frames.put_nowait(ParticipantFrame(stats.participant_id, part.name, at_s, frame.pcm))

    def lost_ms(self) -> float:
        """Audio the browser never rendered, over all tracks (capture-clock jumps)."""
        return round(sum(s.lost_ms for s in self.tracks.values()), 1)

    def lost_seconds_by_participant(self) -> dict[str, float]:
        """Seconds of audio the browser never rendered, per participant id (every track they had).

        Only capture-clock jumps (``TrackStats.lost_ms``: the browser's audio thread was starved), not
        frames missing by sequence number (``undelivered_seconds_by_participant``): different causes, so
        different warnings. Every participant with a track is listed, 0.0 included.
        """
        return {pid: round(ms / 1000, 3) for pid, ms in self._per_participant(lambda s: s.lost_ms).items()}

    def undelivered_seconds_by_participant(self) -> dict[str, float]:
        """Seconds of audio rendered but never delivered (frames missing by sequence number), per participant.

        The page drops frames only when its socket to the bridge stays down longer than its backlog holds
        (10 s per track); the capture clock tells how long the missing frames were (``TrackStats.gap_ms``).
        """
        return {pid: round(ms / 1000, 3) for pid, ms in self._per_participant(lambda s: s.gap_ms).items()}

    def missing_seconds_by_participant(self) -> dict[str, float]:
        """Seconds of audio lost on the way to the bot, per participant id: never rendered plus never delivered."""
        lost, undelivered = self.lost_seconds_by_participant(), self.undelivered_seconds_by_participant()
        return {pid: round(lost.get(pid, 0.0) + undelivered.get(pid, 0.0), 3) for pid in {*lost, *undelivered}}

    def captured_seconds(self) -> dict[str, float]:
        """Seconds of audio captured per participant id (every track they had)."""
        return self._per_participant(lambda s: s.samples / SAMPLE_RATE)

    def _per_participant(self, value: Callable[[TrackStats], float]) -> dict[str, float]:
        """``value`` of every track, summed per participant id."""
        out: dict[str, float] = {}
        for stats in self.tracks.values():
            out[stats.participant_id] = out.get(stats.participant_id, 0.0) + value(stats)
        return out

    def active_tracks(self) -> int:
        """Tracks that have started and not ended."""
        return sum(1 for s in self.tracks.values() if not s.ended)

    def close(self) -> None:
        """Close every spool (fixing up WAV headers) and write the manifest; safe to call twice.

        A spool that cannot be closed (a full disk) does not keep the others open: each is closed on its own,
        and the ones that failed are listed in ``close_failures``.
        """
        if self._closed:
            return
        self._closed = True
        for part in self.participants.values():
            try:
                part.spool.close()
            except OSError as exc:
                self.close_failures.append(part.file.name)
                log.error("recorder.close_failed", participant_id=part.participant_id, error=str(exc)[:200])
        try:
            self._write_manifest()
        except OSError as exc:
            log.error("recorder.manifest_failed", error=str(exc)[:200])

    def summary(self) -> dict[str, float]:
        """Totals for logs and benchmarks: samples, expected samples, gaps, late frames, drops."""
        samples = sum(s.samples for s in self.tracks.values())
        expected = sum(s.expected_samples for s in self.tracks.values())
        return {
            "tracks": len(self.tracks),
            "participants": len(self.participants),
            "samples": samples,
            "expected_samples": expected,
            "gaps": sum(s.gaps for s in self.tracks.values()),
            "late": sum(s.late for s in self.tracks.values()),
            "discontinuities": sum(s.discontinuities for s in self.tracks.values()),
            "lost_ms": self.lost_ms(),
            "consumer_dropped": self.consumer_dropped,
            "unknown_track_frames": self.unknown_track_frames,
        }

    def _write_manifest(self) -> None:
        if not self.participants:
            return
        entries = []
        for part in self.participants.values():
            tracks = [s for s in self.tracks.values() if s.participant_id == part.participant_id]
            entries.append({
                "participant_id": part.participant_id,
                "display_name": part.display_name,
                "names": part.names,
                "file": part.file.name,
                "samples": part.spool.samples,
                "captured_samples": sum(s.samples for s in tracks),
                "expected_samples": sum(s.expected_samples for s in tracks),
                "gaps": sum(s.gaps for s in tracks),
                "gap_ms": round(sum(s.gap_ms for s in tracks), 1),
                "lost_ms": round(sum(s.lost_ms for s in tracks), 1),
            })
        doc = {"sample_rate": SAMPLE_RATE, "origin_ms": self.origin_ms, "participants": entries}
        tmp = self.audio_dir / "participants.json.tmp"
        tmp.write_text(json.dumps(doc, indent=2, ensure_ascii=False), encoding="utf-8")
        tmp.replace(self.audio_dir / "participants.json")
