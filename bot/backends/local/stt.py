"""LocalBackend: per-participant VAD segmentation, one recognizer shared by all streams.

Decoding runs in one worker thread owned by the backend (the recognizer itself uses both cores), so the
event loop never blocks and utterances from all participants queue fairly in the order they ended.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import structlog

from bot.backends.base import BackendEvent, EventKind, Participant, Recognition
from bot.backends.local.models import AsrChoice, Recognizer, load_recognizer
from bot.backends.local.vad import SAMPLE_RATE, Segmenter, Utterance, VadOptions
from bot.report.model import Word

log = structlog.get_logger(__name__)

_END = object()


class LocalStream:
    """One participant: audio → utterances → FINAL events with word timings on the meeting timeline."""

    def __init__(self, backend: LocalBackend, participant: Participant, vad: VadOptions) -> None:
        self._backend = backend
        self.participant = participant
        self.segmenter = Segmenter(vad)
        self._pending: asyncio.Queue[Utterance | object] = asyncio.Queue()
        self._events: asyncio.Queue[BackendEvent | object] = asyncio.Queue()
        self._worker: asyncio.Task[None] | None = None
        self._ended = False

    def start(self) -> None:
        """Start the decode loop (kept out of __init__ so construction has no side effects)."""
        self._worker = asyncio.create_task(self._decode_loop(), name=f"local.decode.{self.participant.id}")

    async def push_audio(self, pcm: bytes, position_s: float | None = None) -> None:
        """Segment audio; finished utterances queue for decoding at once."""
        if self._ended:
            raise RuntimeError("push_audio after end_input")
        for utt in self.segmenter.push(pcm, position_s):
            self._pending.put_nowait((utt, time.monotonic()))

    async def end_input(self) -> None:
        """Flush the last utterance and wait until everything queued is decoded."""
        if self._ended:
            return
        self._ended = True
        for utt in self.segmenter.flush():
            self._pending.put_nowait((utt, time.monotonic()))
        self._pending.put_nowait(_END)
        if self._worker is not None:
            await asyncio.shield(self._worker)

    async def aclose(self) -> None:
        """Stop now, dropping queued utterances."""
        self._ended = True
        if self._worker is not None and not self._worker.done():
            self._worker.cancel()
            await asyncio.gather(self._worker, return_exceptions=True)
        self._events.put_nowait(_END)

    async def events(self) -> AsyncIterator[BackendEvent]:
        """FINAL events as utterances are decoded; ends after end_input/aclose."""
        while True:
            item = await self._events.get()
            if item is _END:
                return
            assert isinstance(item, BackendEvent)
            yield item

    async def _decode_loop(self) -> None:
        try:
            while True:
                item = await self._pending.get()
                if item is _END:
                    return
                utt, cut_at = item  # type: ignore[misc]
                event = await self._backend.decode(self.participant.id, utt)
                self._backend.latencies_s.append(time.monotonic() - cut_at)
                if event is not None:
                    self._events.put_nowait(event)
        finally:
            self._events.put_nowait(_END)


class LocalBackend:
    """The offline backend. Use ``async with`` or call ``aclose``.

    Args:
        choice: which recognizer to load.
        vad: segmentation options.
        loader: loads the recognizer (injectable for tests); runs in the worker thread.
    """

    name = "local"

    def __init__(
        self,
        choice: AsrChoice | None = None,
        *,
        vad: VadOptions | None = None,
        loader: Callable[[AsrChoice], tuple[Recognizer, list[str]]] = load_recognizer,
    ) -> None:
        self._choice = choice or AsrChoice()
        self._vad = vad or VadOptions()
        self._loader = loader
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="asr")
        self._recognizer: asyncio.Future[tuple[Recognizer, list[str]]] | None = None
        self._streams: list[LocalStream] = []
        self.latencies_s: list[float] = []   # utterance cut → final event
        self.decode_seconds = 0.0
        self.audio_seconds = 0.0

    async def _get_recognizer(self) -> tuple[Recognizer, list[str]]:
        if self._recognizer is None:
            loop = asyncio.get_running_loop()
            self._recognizer = asyncio.ensure_future(
                loop.run_in_executor(self._executor, self._loader, self._choice))
        return await self._recognizer

    async def prepare(self) -> None:
        """Load the recognizer now rather than at the first utterance."""
        await self._get_recognizer()

    async def open_stream(self, participant: Participant) -> LocalStream:
        """A stream for one participant (the recognizer loads in the background on first use)."""
        stream = LocalStream(self, participant, self._vad)
        stream.start()
        self._streams.append(stream)
        return stream

    async def decode(self, participant_id: str, utt: Utterance) -> BackendEvent | None:
        """Decode one utterance in the worker thread."""
        recognizer, _ = await self._get_recognizer()
        audio = np.frombuffer(utt.pcm, dtype="<i2").astype(np.float32) / 32768.0
        loop = asyncio.get_running_loop()
        started = time.perf_counter()
        hints = " ".join(sorted({s.participant.name for s in self._streams if s.participant.name})) or None
        decoded = await loop.run_in_executor(self._executor, recognizer.decode, audio, hints)
        self.decode_seconds += time.perf_counter() - started
        self.audio_seconds += len(audio) / SAMPLE_RATE
        text = decoded.text.strip()
        if not text:
            return None
        words = tuple(
            Word(text=w.text, start_s=round(utt.start_s + w.start_s, 3),
                 end_s=round(utt.start_s + w.end_s, 3), probability=w.probability)
            for w in decoded.words
        )
        return BackendEvent(kind=EventKind.FINAL, participant_id=participant_id, text=text,
                            start_s=words[0].start_s if words else utt.start_s,
                            end_s=words[-1].end_s if words else utt.end_s, words=words)

    def recognition(self) -> Recognition:
        """Recognizer, warnings and voiced intervals per participant."""
        rec = Recognition()
        if self._recognizer is not None and self._recognizer.done() and not self._recognizer.exception():
            recognizer, warnings = self._recognizer.result()
            rec.recognizer = recognizer.name
            rec.warnings.extend(warnings)
        for s in self._streams:
            rec.speech.setdefault(s.participant.id, []).extend(s.segmenter.voiced)
        return rec

    async def aclose(self) -> None:
        """Stop streams and the worker thread."""
        for s in self._streams:
            await s.aclose()
        self._executor.shutdown(wait=False, cancel_futures=True)

    async def __aenter__(self) -> LocalBackend:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
