"""The conversation-backend interface every backend implements, its events and errors.

Shaped like livekit-agents' STT: a factory opens one stream per participant; a stream takes that
participant's audio and yields transcript events; ``finish`` runs post-call intelligence.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Protocol, TypeVar

import structlog

from bot.report.model import Insight, Segment, Topic, Tracker, Word

log = structlog.get_logger(__name__)
T = TypeVar("T")


class EventKind(StrEnum):
    """What a BackendEvent carries."""

    INTERIM = "interim"
    FINAL = "final"
    INSIGHT = "insight"
    TOPIC = "topic"


@dataclass(frozen=True, slots=True)
class BackendEvent:
    """A transcript or insight event from a stream."""

    kind: EventKind
    participant_id: str
    text: str
    start_s: float = 0.0
    end_s: float = 0.0
    words: tuple[Word, ...] = ()
    label: str | None = None  # INSIGHT: "question" | "action_item" | "follow_up"
    confidence: float | None = None  # FINAL: 0..1, how sure the recognizer was (None: it does not say)
    language: str | None = None  # FINAL: ISO 639-1 code of the language it was decoded in; None: not known


@dataclass(frozen=True, slots=True)
class Participant:
    """Who a stream is for."""

    id: str
    name: str


class EventChannel:
    """The events of one stream: put while open; iteration ends once closed (closing twice is fine)."""

    _END = object()

    def __init__(self) -> None:
        self._queue: asyncio.Queue[BackendEvent | object] = asyncio.Queue()
        self.closed = False

    def put(self, event: BackendEvent) -> None:
        """Add an event (dropped once the channel is closed)."""
        if not self.closed:
            self._queue.put_nowait(event)

    def close(self) -> None:
        """End iteration after what is already queued."""
        if not self.closed:
            self.closed = True
            self._queue.put_nowait(self._END)

    async def __aiter__(self) -> AsyncIterator[BackendEvent]:
        while True:
            item = await self._queue.get()
            if item is self._END:
                return
            assert isinstance(item, BackendEvent)
            yield item


class BackendError(Exception):
    """A backend failure; ``retryable`` says whether trying again can help."""

    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


def http_error(status: int, message: str) -> BackendError:
    """A BackendError for an HTTP status: 4xx is final except 408 and 429."""
    retryable = status >= 500 or status in (408, 429)
    return BackendError(f"HTTP {status}: {message}", retryable=retryable)


@dataclass(frozen=True, slots=True)
class ConnectOptions:
    """How often and how patiently to retry."""

    max_retry: int = 3
    retry_interval_s: float = 2.0
    timeout_s: float = 10.0


async def with_retries(
    attempt: Callable[[], Awaitable[T]],
    options: ConnectOptions,
    *,
    what: str,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> T:
    """Run ``attempt`` until it succeeds, retrying retryable BackendErrors with jittered backoff."""
    for n in range(options.max_retry + 1):
        try:
            return await attempt()
        except BackendError as exc:
            if not exc.retryable or n == options.max_retry:
                raise
            delay = options.retry_interval_s * (2**n) * (0.5 + random.random() / 2)
            log.warning("backend.retry", what=what, attempt=n + 1, delay_s=round(delay, 2), error=str(exc))
            await sleep(delay)
    raise AssertionError("unreachable")


class BackendStream(Protocol):
    """One participant's audio in, transcript events out."""

    async def push_audio(self, pcm: bytes, position_s: float | None = None) -> None:
        """Add int16 LE mono 16 kHz audio.

        ``position_s`` places it on the meeting timeline (default: right after the previous chunk); a jump
        forward is silence.
        """

    async def end_input(self) -> None:
        """Graceful end: flush, decode what is pending, and close ``events()``."""

    async def aclose(self) -> None:
        """Immediate end: drop pending work."""

    def events(self) -> AsyncIterator[BackendEvent]:
        """Transcript events as they are ready; ends after ``end_input``."""


@dataclass(slots=True)
class Recognition:
    """What a backend learned beyond transcript events (for the report)."""

    recognizer: str | None = None
    warnings: list[str] = field(default_factory=list)
    speech: dict[str, list[tuple[float, float]]] = field(default_factory=dict)  # voiced intervals


@dataclass(slots=True)
class PostCall:
    """A backend's own post-call intelligence; it replaces the analysers' for these fields."""

    summary: list[str] = field(default_factory=list)
    topics: list[Topic] = field(default_factory=list)
    questions: list[Insight] = field(default_factory=list)
    action_items: list[Insight] = field(default_factory=list)
    follow_ups: list[Insight] = field(default_factory=list)
    trackers: list[Tracker] | None = None  # None: the backend tracked nothing, the analysers' trackers stand


class ConversationBackend(Protocol):
    """A factory of per-participant streams plus post-call state."""

    name: str

    async def open_stream(self, participant: Participant) -> BackendStream:
        """Open a stream for one participant."""

    def recognition(self) -> Recognition:
        """Recognizer used, warnings, and voiced intervals per participant (after all streams ended)."""

    async def recover(self, audio: dict[str, Path]) -> list[BackendEvent]:
        """After all streams ended: transcript events for participants whose stream failed.

        ``audio`` maps participant ids to their recorded WAV files. A backend with nothing to recover returns [].
        """

    async def post_call(self) -> PostCall | None:
        """The backend's own insights after the call, or None to use the analysers'."""

    async def aclose(self) -> None:
        """Release models, sockets and workers."""


def segments_from(events: list[BackendEvent], names: dict[str, str]) -> list[Segment]:
    """Final transcript events as report Segments, in timeline order."""
    finals = [e for e in events if e.kind is EventKind.FINAL and e.text.strip()]
    finals.sort(key=lambda e: (e.start_s, e.participant_id))
    return [
        Segment(participant_id=e.participant_id, name=names.get(e.participant_id, e.participant_id),
                start_s=round(e.start_s, 3), end_s=round(e.end_s, 3), text=e.text.strip(),
                words=list(e.words), confidence=e.confidence, language=e.language)
        for e in finals
    ]
