"""One participant's Symbl streaming connection, with reconnect-and-resume.

Every participant gets its own WebSocket, all with the meeting's connection id, each announcing
``speaker {userId, name}`` (never an email: Symbl mails those). Audio is sent only after
``started_listening`` in frames of at most 8192 bytes. Audio stays buffered until a final result covers
it, so when a socket drops the stream reconnects (same connection id, ``noConnectionTimeout`` set) and
resends what was not yet acknowledged. The buffer is bounded: silence with nothing unacknowledged before it
is released at once (a silent participant holds nothing), and beyond ``max_resend_s`` the oldest audio is
released; if a reconnect then cannot resend sound that had no final, the stream counts it (``unresent_s``)
and the report says so: the recorded WAV has it. Graceful end: ``stop_request``, then a bounded wait for the
last finals and ``conversation_completed``.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import aiohttp
import numpy as np
import structlog

from bot.backends.base import BackendError, BackendEvent, ConnectOptions, EventChannel, EventKind, Participant
from bot.backends.symbl.auth import TokenManager
from bot.backends.symbl.models import (
    ConversationCompleted,
    ConversationCreated,
    ErrorMessage,
    InsightResponse,
    MessageResponse,
    RecognitionResult,
    StartedListening,
    TrackerResponse,
    parse_server_message,
    start_request,
    stop_request,
)
from bot.backends.symbl.trackers import TrackerLog

log = structlog.get_logger(__name__)

SAMPLE_RATE = 16_000
BYTES_PER_S = SAMPLE_RATE * 2
MAX_RESEND_S = 60.0  # Symbl finals come per utterance, far sooner; this only bounds a stream that gets none
SILENCE_RMS = 100.0  # int16 RMS, about -50 dBFS: below any speech, above digital silence and dither
_END = object()


@dataclass(frozen=True, slots=True)
class StreamOptions:
    """How to reach Symbl's streaming API and what to ask of it."""

    ws_base: str                       # ws(s)://host
    path: str = "/v1/streaming/{connection_id}"
    token_in: str = "header"           # "header" (X-API-KEY) or "query" (?access_token=)
    language_code: str = "en-US"
    confidence_threshold: float = 0.5
    meeting_title: str | None = None
    no_connection_timeout_s: int = 120
    max_frame_bytes: int = 8192
    listen_timeout_s: float = 10.0
    stop_timeout_s: float = 30.0
    quick_failure_s: float = 2.0       # a socket that dies sooner than this after connecting "failed quickly"
    max_quick_failures: int = 3
    max_resend_s: float = MAX_RESEND_S  # audio kept for a resend after a reconnect (the WAV keeps everything)
    connect: ConnectOptions = field(default_factory=ConnectOptions)
    trackers: tuple[tuple[str, tuple[str, ...]], ...] = ()  # inline trackers: (name, vocabulary)


class SymblStream:
    """BackendStream over one Symbl WebSocket per participant."""

    def __init__(self, participant: Participant, connection_id: str, tokens: TokenManager,
                 http: aiohttp.ClientSession, options: StreamOptions, *, tracked: TrackerLog | None = None) -> None:
        self.participant = participant
        self._tracked = tracked if tracked is not None else TrackerLog()  # shared by the meeting's streams
        self._last_final_s = 0.0        # timeline start of the last final result (its messages follow it)
        self._connection_id = connection_id
        self._tokens = tokens
        self._http = http
        self._opts = options
        self._outgoing: asyncio.Queue[bytes | object] = asyncio.Queue()
        self._unacked: deque[tuple[float, bytes, bool]] = deque()  # (logical start s, pcm, silent): no final yet
        self._unacked_bytes = 0
        self._unheard_s = 0.0           # sound released from the buffer with no final yet (this socket)
        self._unheard_until = 0.0       # logical end of the last such release
        self._logical_s = 0.0           # seconds of audio pushed so far (the stream's own clock)
        self._sent_until = 0.0          # logical seconds handed to a socket so far
        self._segments: list[tuple[float, float]] = [(0.0, 0.0)]  # (logical s, timeline s) at each jump
        self._events = EventChannel()
        self._task: asyncio.Task[None] | None = None
        self.error: BackendError | None = None
        self.conversation_id: str | None = None
        self.connections = 0
        self.frames_sent = 0
        self.max_frame = 0
        self.unresent_s = 0.0           # sound with no final that a reconnect could not resend

    @property
    def resend_bytes(self) -> int:
        """Audio held for a resend after a reconnect: sent, but not yet covered by a final."""
        return self._unacked_bytes

    @property
    def max_resend_s(self) -> float:
        """Seconds of audio at most held for a resend."""
        return self._opts.max_resend_s

    def start(self) -> None:
        """Start connecting (outside __init__, so construction has no side effects)."""
        self._task = asyncio.create_task(self._run(), name=f"symbl.stream.{self.participant.id}")

    # ---- BackendStream -------------------------------------------------------------------------------
    async def push_audio(self, pcm: bytes, position_s: float | None = None) -> None:
        """Queue audio in frames of at most ``max_frame_bytes``; a jump in ``position_s`` is remembered.

        Only queues (no I/O): a broken socket never raises into the caller, the live feed of every participant.
        """
        if self.error is not None or (self._task is not None and self._task.done()):
            return  # the stream failed for good: the recorded WAV is what recovery will use
        if position_s is not None:
            expected = self._timeline(self._logical_s)
            if abs(position_s - expected) > 0.05:
                self._segments.append((self._logical_s, position_s))
        step = self._opts.max_frame_bytes - self._opts.max_frame_bytes % 2
        for i in range(0, len(pcm), step):
            chunk = pcm[i : i + step]
            self._outgoing.put_nowait(chunk)
            self._logical_s += len(chunk) / BYTES_PER_S

    async def end_input(self) -> None:
        """Send what is queued, then stop_request, and wait (bounded) for the last finals."""
        self._outgoing.put_nowait(_END)
        if self._task is not None:
            try:
                async with asyncio.timeout(self._opts.stop_timeout_s + 5):
                    await asyncio.shield(self._task)
            except TimeoutError:
                log.warning("symbl.stop_timeout", participant_id=self.participant.id)
                await self.aclose()

    async def aclose(self) -> None:
        """Stop now."""
        if self._task is not None and not self._task.done():
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        self._events.close()

    def events(self) -> AsyncIterator[BackendEvent]:
        """Interim and final transcripts, and insights this participant said."""
        return self._events.__aiter__()

    # ---- connection loop -----------------------------------------------------------------------------
    async def _run(self) -> None:
        quick_failures = 0
        attempt = 0
        try:
            while True:
                started = time.monotonic()
                try:
                    if await self._run_once():
                        return
                    raise BackendError("the streaming socket closed unexpectedly", retryable=True)
                except BackendError as exc:
                    quick = time.monotonic() - started < self._opts.quick_failure_s
                    quick_failures = quick_failures + 1 if quick else 0
                    attempt = attempt + 1 if quick else 1
                    if not exc.retryable or quick_failures >= self._opts.max_quick_failures \
                            or attempt > self._opts.connect.max_retry:
                        raise
                    delay = self._opts.connect.retry_interval_s * 2 ** (attempt - 1) if quick else 0.0
                    log.warning("symbl.reconnecting", participant_id=self.participant.id, attempt=attempt,
                                delay_s=round(delay, 2), error=str(exc))
                    await asyncio.sleep(delay)
        except BackendError as exc:
            self.error = exc
            log.error("symbl.stream_failed", participant_id=self.participant.id, error=str(exc))
        except Exception as exc:  # a failed stream, not a failed meeting: recover() transcribes the WAV
            self.error = BackendError(f"the stream broke: {type(exc).__name__}", retryable=False)
            log.exception("symbl.stream_broke", participant_id=self.participant.id)
        finally:
            self._events.close()

    async def _connect(self) -> aiohttp.ClientWebSocketResponse:
        token = await self._tokens.token()
        url = self._opts.ws_base + self._opts.path.format(connection_id=self._connection_id)
        headers, params = {}, {}
        if self._opts.token_in == "query":
            params["access_token"] = token
        else:
            headers["X-API-KEY"] = token
        try:
            async with asyncio.timeout(self._opts.connect.timeout_s):
                return await self._http.ws_connect(url, headers=headers, params=params, heartbeat=30.0,
                                                   max_msg_size=4 * 1024 * 1024)
        except aiohttp.WSServerHandshakeError as exc:
            if exc.status == 401:
                self._tokens.invalidate(token)
                raise BackendError("Symbl refused the access token (401): check symbl.app_id and "
                                   "symbl.app_secret", retryable=False) from None
            retryable = exc.status >= 500 or exc.status in (408, 429)
            raise BackendError(f"Symbl refused the streaming connection (HTTP {exc.status})",
                               retryable=retryable) from None
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise BackendError(f"could not reach Symbl streaming: {type(exc).__name__}", retryable=True) from None

    async def _run_once(self) -> bool:
        """One socket's life; True when it ended gracefully after stop_request."""
        ws = await self._connect()
        self.connections += 1
        if self._unheard_s:  # the old socket took it and went away before a final: the live transcript lacks it
            self.unresent_s += self._unheard_s
            log.warning("symbl.not_resent", participant_id=self.participant.id, seconds=round(self._unheard_s, 1))
            self._unheard_s = 0.0
        listening = asyncio.Event()
        done = asyncio.Event()
        # Socket time 0 is the first audio this socket gets: the oldest unacknowledged chunk, if any.
        base = self._unacked[0][0] if self._unacked else self._sent_until
        request = start_request(
            user_id=self.participant.id, name=self.participant.name or self.participant.id,
            meeting_title=self._opts.meeting_title, language_code=self._opts.language_code,
            confidence_threshold=self._opts.confidence_threshold,
            no_connection_timeout=self._opts.no_connection_timeout_s,
            trackers={name: list(vocabulary) for name, vocabulary in self._opts.trackers},
        )
        await self._send(ws, request.to_json())
        send = asyncio.create_task(self._send_loop(ws, listening, base), name="symbl.send")
        recv = asyncio.create_task(self._recv_loop(ws, listening, done, base), name="symbl.recv")
        try:
            finished, _ = await asyncio.wait({send, recv}, return_when=asyncio.FIRST_EXCEPTION)
            for t in finished:
                if t.exception() is not None:
                    raise t.exception()  # type: ignore[misc]
            if not recv.done():
                await recv
            return done.is_set()
        finally:
            for t in (send, recv):
                t.cancel()
            await asyncio.gather(send, recv, return_exceptions=True)
            await ws.close()

    async def _send_loop(self, ws: aiohttp.ClientWebSocketResponse, listening: asyncio.Event, base: float) -> None:
        try:
            async with asyncio.timeout(self._opts.listen_timeout_s):
                await listening.wait()
        except TimeoutError:
            raise BackendError("Symbl did not start listening", retryable=True) from None
        for _, chunk, _ in list(self._unacked):  # resume: what the last socket sent but no final covered
            await self._send_frame(ws, chunk)
        while True:
            item = await self._outgoing.get()
            if item is _END:
                self._outgoing.put_nowait(_END)  # a reconnect must stop again
                await self._send(ws, stop_request().to_json())
                return
            assert isinstance(item, bytes)
            self._unacked.append((self._sent_until, item, _silent(item)))  # from here on a reconnect resends it
            self._unacked_bytes += len(item)
            self._sent_until += len(item) / BYTES_PER_S
            self._release()
            await self._send_frame(ws, item)

    async def _send_frame(self, ws: aiohttp.ClientWebSocketResponse, chunk: bytes) -> None:
        await self._send(ws, chunk)
        self.frames_sent += 1
        self.max_frame = max(self.max_frame, len(chunk))

    @staticmethod
    async def _send(ws: aiohttp.ClientWebSocketResponse, data: bytes | str) -> None:
        """Send a frame; a socket that went away is a retryable BackendError (the reconnect resends)."""
        try:
            if isinstance(data, bytes):
                await ws.send_bytes(data)
            else:
                await ws.send_str(data)
        except (aiohttp.ClientError, OSError) as exc:
            # A write can see the drop before the receiving side does (aiohttp: ClientConnectionResetError).
            raise BackendError(f"sending to Symbl failed: {type(exc).__name__}", retryable=True) from None

    async def _recv_loop(self, ws: aiohttp.ClientWebSocketResponse, listening: asyncio.Event,
                         done: asyncio.Event, base: float) -> None:
        async for msg in ws:
            if msg.type != aiohttp.WSMsgType.TEXT:
                continue
            try:
                parsed = parse_server_message(msg.data)
            except ValueError as exc:
                log.warning("symbl.bad_message", error=str(exc)[:200])
                continue
            if isinstance(parsed, StartedListening):
                listening.set()
            elif isinstance(parsed, ConversationCreated):
                self.conversation_id = parsed.conversation_id or self.conversation_id
            elif isinstance(parsed, RecognitionResult):
                self._on_result(parsed, base)
            elif isinstance(parsed, InsightResponse):
                self._on_insights(parsed)
            elif isinstance(parsed, MessageResponse):
                self._tracked.add_messages(self.participant.id, parsed, self._last_final_s)
            elif isinstance(parsed, TrackerResponse):
                self._tracked.add_hits(parsed)
            elif isinstance(parsed, ConversationCompleted):
                done.set()
                return
            elif isinstance(parsed, ErrorMessage):
                log.warning("symbl.error_message", description=parsed.description[:200])
        if not done.is_set():
            raise BackendError(f"the streaming socket closed (code {ws.close_code})", retryable=True)

    def _on_result(self, result: RecognitionResult, base: float) -> None:
        user = getattr(result.user, "user_id", None) if result.user is not None else None
        if user not in (None, self.participant.id):
            return
        start = base + (result.start_s or 0.0)
        end = base + (result.end_s or result.start_s or 0.0)
        kind = EventKind.FINAL if result.is_final else EventKind.INTERIM
        if result.text.strip():
            # Symbl's ASR confidence of the first alternative, when it gives one within 0..1.
            said = result.best.confidence if result.best is not None else None
            self._events.put(BackendEvent(kind=kind, participant_id=self.participant.id,
                                                 text=result.text.strip(), start_s=self._timeline(start),
                                                 end_s=self._timeline(end),
                                                 confidence=said if said is not None and 0 <= said <= 1 else None))
        if result.is_final:  # everything up to here is safely transcribed: forget it
            self._last_final_s = self._timeline(start)
            while self._unacked and self._unacked[0][0] + len(self._unacked[0][1]) / BYTES_PER_S <= end + 1e-6:
                self._unacked_bytes -= len(self._unacked.popleft()[1])
            if end + 1e-6 >= self._unheard_until:
                self._unheard_s = 0.0
            self._release()

    def _release(self) -> None:
        """Forget what a reconnect need not resend: silence at the head, and audio beyond ``max_resend_s``."""
        cap = self._opts.max_resend_s * BYTES_PER_S
        # Only the head goes: the resend must stay contiguous, it is timed from its first chunk.
        while self._unacked and (self._unacked[0][2] or self._unacked_bytes > cap):
            start, chunk, silent = self._unacked.popleft()
            self._unacked_bytes -= len(chunk)
            if not silent:
                self._unheard_s += len(chunk) / BYTES_PER_S
                self._unheard_until = start + len(chunk) / BYTES_PER_S

    def _on_insights(self, response: InsightResponse) -> None:
        for insight in response.insights:
            speaker = getattr(insight.from_, "user_id", None) if insight.from_ is not None else None
            if speaker != self.participant.id or not insight.content:
                continue
            self._events.put(BackendEvent(kind=EventKind.INSIGHT, participant_id=self.participant.id,
                                                 text=insight.content, label=insight.type or None))

    def _timeline(self, logical_s: float) -> float:
        seg = max((s for s in self._segments if s[0] <= logical_s + 1e-9), key=lambda s: s[0])
        return round(seg[1] + (logical_s - seg[0]), 3)


def _silent(pcm: bytes) -> bool:
    """Whether int16 audio is below ``SILENCE_RMS`` (nothing Symbl could transcribe)."""
    x = np.frombuffer(pcm[: len(pcm) - len(pcm) % 2], "<i2").astype(np.float32)
    return not x.size or float(np.sqrt(np.mean(x * x))) < SILENCE_RMS
