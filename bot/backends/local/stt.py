"""LocalBackend: per-participant VAD segmentation, one recognizer shared by all streams.

Decoding runs in one worker thread owned by the backend (the recognizer itself uses both cores), so the
event loop never blocks. Whisper encodes a fixed 30 s window however short the utterance, so when several
utterances are waiting (several people talking) they are packed into one window, separated by silence,
decoded once, and split back by word timestamps: the cost per window stays the same while the work per
utterance drops with load. A lone utterance is decoded on its own at once.

With ``asr.language = "auto"`` each participant's language is detected from their first utterances (each
decoded alone until one of at least ``LANGUAGE_MIN_S`` is detected with probability ``LANGUAGE_SURE``), then
kept: their later utterances (and the final pass) are decoded in it, packed only with utterances of the same
language.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
import time
import wave
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import structlog

from bot.backends.base import BackendEvent, EventChannel, EventKind, Participant, PostCall, Recognition
from bot.backends.local.gate import SpeechGate
from bot.backends.local.models import AsrChoice, Decoded, Recognizer, load_recognizer
from bot.backends.local.vad import SAMPLE_RATE, Segmenter, Utterance, VadOptions
from bot.report.model import Word

log = structlog.get_logger(__name__)

PACK_WINDOW_S = 28.0   # Whisper's window is 30 s; keep a margin
PACK_GAP_S = 1.0       # silence between packed utterances, so words cannot straddle two
# Language detection: Whisper's guess on a second of speech is often wrong (a name, "okay"). Measured with Whisper
# base on 3-5 s espeak-ng utterances: Spanish 0.93-0.94, English 0.82, German only 0.2-0.6 (and then sometimes
# "en": it translates). Below either bound the participant's next utterance is detected again.
LANGUAGE_MIN_S = 2.0
LANGUAGE_SURE = 0.8
LANGUAGE_TRIES = 4     # never that sure: after this many utterances, the language most often detected is kept
MERGE_GAP_S = 1.2      # final pass: one participant's live utterances closer than this are decoded as one
REGION_MAX_S = 20.0    # final pass: but not beyond this length
EDGE_S = 0.3           # final pass: audio kept either side of the live words
FINAL_PACK_COST = 2.0  # final pass: a full window's decode over a live utterance's, until one is measured


@dataclass(slots=True)
class _Job:
    stream: LocalStream
    utt: Utterance
    cut_at: float


class LocalStream:
    """One participant: audio → utterances → FINAL events with word timings on the meeting timeline."""

    def __init__(self, backend: LocalBackend, participant: Participant, vad: VadOptions) -> None:
        self._backend = backend
        self.participant = participant
        self.segmenter = Segmenter(vad)
        self._events = EventChannel()
        self.pending = 0
        self.pending_audio_s = 0.0  # of the utterances queued and not decoded yet
        self.rejected: list[tuple[float, float]] = []  # utterances with no speech (gate) or no words (recognizer)
        self.cut: list[tuple[float, float]] = []  # every utterance the VAD cut out
        self.language: str | None = None  # detected and kept (asr.language = "auto"); None: detect again
        self._drained = asyncio.Event()
        self._ended = False

    async def push_audio(self, pcm: bytes, position_s: float | None = None) -> None:
        """Segment audio; finished utterances queue for decoding at once."""
        if self._ended:
            raise RuntimeError("push_audio after end_input")
        for utt in self.segmenter.push(pcm, position_s):
            self._backend.submit(self, utt)

    async def end_input(self) -> None:
        """Flush the last utterance and wait until everything queued for this stream is decoded."""
        if self._ended:
            return
        self._ended = True
        for utt in self.segmenter.flush():
            self._backend.submit(self, utt)
        if self.pending:
            self._drained.clear()
            await self._drained.wait()
        self.close_events()

    def done_one(self, event: BackendEvent | None, seconds: float) -> None:
        """Called by the backend when one of this stream's utterances (``seconds`` long) is decoded."""
        self.pending -= 1
        self.pending_audio_s = max(0.0, self.pending_audio_s - seconds)
        if event is not None:
            self._events.put(event)
        if self.pending == 0:
            self._drained.set()

    def close_events(self) -> None:
        """End ``events()``."""
        self._events.close()

    @property
    def closed(self) -> bool:
        """Whether ``events()`` has ended (queued utterances of a closed stream are skipped)."""
        return self._events.closed

    async def aclose(self) -> None:
        """Stop now; utterances still queued are dropped."""
        self._ended = True
        self.close_events()
        self._drained.set()

    def events(self) -> AsyncIterator[BackendEvent]:
        """FINAL events as utterances are decoded; ends after end_input/aclose."""
        return self._events.__aiter__()


def _lower_priority() -> None:
    """Run recognition at a lower CPU priority than the browser capturing the meeting.

    On 2 cores Whisper's threads otherwise starve Chromium's audio thread, which then skips audio (measured:
    0.5% lost over 2 minutes with 4 speakers). Linux threads inherit the nice value of the thread that
    creates them, so the recognizer's own worker threads, made while loading in this thread, run lower too.
    """
    with contextlib.suppress(AttributeError, OSError):  # not Linux, or not permitted: normal priority
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 10)


class LocalBackend:
    """The offline backend. Use ``async with`` or call ``aclose``.

    Args:
        choice: which recognizer to load.
        vad: segmentation options.
        loader: loads the recognizer (injectable for tests); runs in the worker thread.
        pack: pack waiting utterances into one decode (needs a recognizer with word timestamps).
        gate: makes the speech gate that keeps non-speech (tones, hum, noise, music) from the recognizer; runs
            in the worker thread; None: every utterance is decoded.
        clock: monotonic seconds (the final pass's budget is kept by it).
    """

    name = "local"

    def __init__(
        self,
        choice: AsrChoice | None = None,
        *,
        vad: VadOptions | None = None,
        loader: Callable[[AsrChoice], tuple[Recognizer, list[str]]] = load_recognizer,
        pack: bool = True,
        gate: Callable[[], SpeechGate] | None = SpeechGate,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._choice = choice or AsrChoice()
        self._clock = clock
        self._vad = vad or VadOptions()
        self._loader = loader
        self._pack = pack
        self._auto_language = self._choice.language is None
        self._heard: dict[str, list[str]] = {}  # languages detected per participant (auto), until one is kept
        self._gate_factory = gate
        self._gate: SpeechGate | None = None
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="asr", initializer=_lower_priority)
        self._recognizer: asyncio.Future[tuple[Recognizer, list[str]]] | None = None
        self._streams: list[LocalStream] = []
        self._jobs: asyncio.Queue[_Job] = asyncio.Queue()
        self._worker: asyncio.Task[None] | None = None
        self.latencies_s: list[float] = []   # utterance cut → final event
        self.decode_seconds = 0.0            # worker thread time spent decoding
        self.audio_seconds = 0.0             # utterance audio decoded
        self.decodes = 0
        self.rejected = 0                    # utterances the speech gate found no speech in
        self.load_error: str | None = None
        self.final_pass_redone_s = 0.0      # seconds of speech the final pass decoded again

    async def _get_recognizer(self) -> tuple[Recognizer, list[str]]:
        if self._recognizer is None:
            loop = asyncio.get_running_loop()
            self._recognizer = asyncio.ensure_future(loop.run_in_executor(self._executor, self._load))
        return await self._recognizer

    def _load(self) -> tuple[Recognizer, list[str]]:
        """In the worker thread: the recognizer, and the speech gate beside it."""
        recognizer, warnings = self._loader(self._choice)
        if not getattr(recognizer, "multilingual", False):
            self._auto_language = False  # nothing to detect (an English-only model, pocketsphinx): pack freely
        if self._gate_factory is not None:
            try:
                self._gate = self._gate_factory()
            except Exception as exc:  # no onnxruntime or no model file: transcribe everything, say so
                log.warning("asr.gate_unavailable", error=str(exc)[:300])
                warnings = [*warnings, f"the speech gate (Silero VAD) could not be loaded ({str(exc)[:200]}): "
                            "tones, noise or music may be transcribed as words"]
        return recognizer, warnings

    async def prepare(self) -> None:
        """Load the recognizer now rather than at the first utterance."""
        await self._get_recognizer()

    async def open_stream(self, participant: Participant) -> LocalStream:
        """A stream for one participant (the recognizer loads in the background on first use)."""
        stream = LocalStream(self, participant, self._vad)
        self._streams.append(stream)
        if self._worker is None:
            self._worker = asyncio.create_task(self._decode_loop(), name="local.decode")
        return stream

    def submit(self, stream: LocalStream, utt: Utterance) -> None:
        """Queue an utterance for decoding."""
        stream.pending += 1
        stream.pending_audio_s += utt.seconds
        stream.cut.append((utt.start_s, utt.end_s))
        self._jobs.put_nowait(_Job(stream, utt, time.monotonic()))

    async def _decode_loop(self) -> None:
        while True:
            batch = [await self._jobs.get()]
            try:
                recognizer, _ = await self._get_recognizer()
            except Exception as exc:  # no recognizer at all: finish the jobs empty, say so in the report
                if self.load_error is None:
                    self.load_error = f"no speech recognizer could be loaded: {str(exc)[:300]}"
                    log.error("asr.load_failed", error=str(exc)[:300])
                while not self._jobs.empty():
                    batch.append(self._jobs.get_nowait())
                for job in batch:
                    job.stream.done_one(None, job.utt.seconds)
                continue
            packable = self._pack and getattr(recognizer, "word_timestamps", False)
            total = batch[0].utt.seconds
            while packable and not self._jobs.empty():
                nxt = self._jobs._queue[0]  # type: ignore[attr-defined]  # peek: asyncio.Queue has no API
                length = nxt.utt.seconds
                if total + PACK_GAP_S + length > PACK_WINDOW_S or not self._same_language(batch[0], nxt):
                    break
                batch.append(self._jobs.get_nowait())
                total += PACK_GAP_S + length
            for job in batch:
                if job.stream.closed:  # stopped: nobody waits for it, but its backlog must not stay counted
                    job.stream.done_one(None, job.utt.seconds)
            batch = [j for j in batch if not j.stream.closed]
            if batch and self._gate is not None:
                try:
                    batch = await self._gated(self._gate, batch)
                except Exception:  # a gate that fails lets everything through: words over none
                    log.exception("asr.gate_failed", utterances=len(batch))
            if not batch:
                continue
            try:
                events = await self._decode(recognizer, [(j.stream.participant.id, j.utt) for j in batch],
                                            batch[0].stream.language)
            except Exception:  # the audio may well be speech: it keeps its talk time
                log.exception("asr.decode_failed", utterances=len(batch))
                events = [None] * len(batch)
            else:
                for job, event in zip(batch, events, strict=True):
                    if event is None:  # the gate let it through, but Whisper heard no words in it: no talk time
                        job.stream.rejected.append((job.utt.start_s, job.utt.end_s))
            now = time.monotonic()
            for job, event in zip(batch, events, strict=True):
                self.latencies_s.append(now - job.cut_at)
                job.stream.done_one(event, job.utt.seconds)

    async def _gated(self, gate: SpeechGate, batch: list[_Job]) -> list[_Job]:
        """The jobs with speech in them; the others end here, with no event."""

        def work() -> list[bool]:
            return [gate.is_speech(np.frombuffer(j.utt.pcm, dtype="<i2").astype(np.float32) / 32768.0)
                    for j in batch]

        speech = await asyncio.get_running_loop().run_in_executor(self._executor, work)
        for job, ok in zip(batch, speech, strict=True):
            if not ok:
                job.stream.rejected.append((job.utt.start_s, job.utt.end_s))
                job.stream.done_one(None, job.utt.seconds)
                self.rejected += 1
        return [job for job, ok in zip(batch, speech, strict=True) if ok]

    def _same_language(self, first: _Job, other: _Job) -> bool:
        """Whether ``other`` may be decoded in one window with ``first``: the language is one per window."""
        if not self._auto_language:
            return True
        return first.stream.language is not None and first.stream.language == other.stream.language

    def _language_of(self, participant_id: str) -> str | None:
        """The language kept for a participant (asr.language = "auto"), None if not (yet) known."""
        return next((s.language for s in self._streams if s.participant.id == participant_id and s.language), None)

    def _learn_language(self, participant_id: str, utt: Utterance, decoded: Decoded) -> None:
        """Keep a participant's detected language once an utterance long enough was detected surely.

        Never that sure, the language most often detected after ``LANGUAGE_TRIES`` utterances is kept (else they
        would be decoded one window per utterance for the whole meeting).
        """
        if not decoded.language:
            return
        heard = self._heard.setdefault(participant_id, [])
        heard.append(decoded.language)
        sure = (decoded.language_probability or 0.0) >= LANGUAGE_SURE and utt.seconds >= LANGUAGE_MIN_S
        if not sure and len(heard) < LANGUAGE_TRIES:
            return
        language = decoded.language if sure else max(set(heard), key=heard.count)
        for s in self._streams:
            if s.participant.id == participant_id and s.language is None:
                s.language = language
                log.info("asr.language_detected", participant_id=participant_id, language=language,
                         probability=decoded.language_probability, utterances=len(heard))

    async def _decode(self, recognizer: Recognizer, batch: list[tuple[str, Utterance]],
                      language: str | None = None) -> list[BackendEvent | None]:
        """Decode utterances (participant id, audio) in one window; one FINAL event (or None) per utterance.

        ``language``: the one the batch's participants were detected to speak (asr.language = "auto"); None: the
        configured one, or detect it.
        """
        gap = np.zeros(int(PACK_GAP_S * SAMPLE_RATE), dtype=np.float32)
        pieces: list[np.ndarray] = []
        offsets: list[float] = []
        at = 0.0
        for _, utt in batch:
            audio = np.frombuffer(utt.pcm, dtype="<i2").astype(np.float32) / 32768.0
            if pieces:
                pieces.append(gap)
                at += PACK_GAP_S
            offsets.append(at)
            pieces.append(audio)
            at += len(audio) / SAMPLE_RATE
        audio = np.concatenate(pieces)
        hints = " ".join(sorted({s.participant.name for s in self._streams if s.participant.name})) or None

        detect = self._auto_language and getattr(recognizer, "multilingual", False)

        def work() -> tuple[Decoded, float]:
            started = time.perf_counter()
            if detect:  # only multilingual recognizers take a language per call
                return recognizer.decode(audio, hints, language=language), time.perf_counter() - started  # type: ignore[call-arg]
            return recognizer.decode(audio, hints), time.perf_counter() - started

        decoded, seconds = await asyncio.get_running_loop().run_in_executor(self._executor, work)
        self.decode_seconds += seconds
        self.audio_seconds += sum(utt.seconds for _, utt in batch)
        self.decodes += 1
        if len(batch) == 1:
            if detect and language is None:
                self._learn_language(*batch[0], decoded)
            return [_event(*batch[0], decoded.text, list(decoded.words), 0.0, hints, decoded.language)]
        # A word belongs to the utterance it ends in, split at the middle of each gap: Whisper often times
        # the first word after a silence too early (right after the previous word) but still ends it late.
        events: list[BackendEvent | None] = []
        bounds = [offsets[i] - PACK_GAP_S / 2 for i in range(1, len(batch))]
        for i, (pid, utt) in enumerate(batch):
            lo = bounds[i - 1] if i > 0 else -1e9
            hi = bounds[i] if i < len(bounds) else 1e9
            mine = [w for w in decoded.words if lo <= w.end_s < hi]
            events.append(_event(pid, utt, " ".join(w.text for w in mine), mine, offsets[i], hints, decoded.language))
        return events

    async def final_pass(self, events: list[BackendEvent], audio: dict[str, Path], budget_s: float,
                         *, hard_s: float | None = None) -> list[BackendEvent]:
        """After the meeting: decode the live transcript again from the recordings, least confident first.

        Live, each utterance is decoded alone as soon as it ends, from audio cut by the live VAD; a pause
        splits a sentence in two and each half is decoded without the other. Here each participant's
        utterances less than ``MERGE_GAP_S`` apart are joined into one region, cut from their WAV file with a
        margin, and decoded again, the least confident first, packed with more of the same participant's
        regions into one window. A region's new text replaces its live text when Whisper is at least as sure
        of it (mean word probability). Work stops when the next pack would not be done within ``budget_s``
        (estimated from the decoding times measured so far), and a decode still running ``hard_s`` after the
        start is abandoned; what was not redone keeps its live text, what was stays redone. Only the regions'
        spans are read from the recordings (an hour's WAV is 115 MB). Returns the events with the redone
        regions replaced.
        """
        if budget_s <= 0 or self._recognizer is None:
            return events
        try:
            recognizer, _ = await self._get_recognizer()
        except Exception:
            return events
        if not getattr(recognizer, "word_timestamps", False):
            return events  # pocketsphinx would only decode the same audio the same way again
        clock = self._clock
        started = clock()
        regions = sorted(_regions([e for e in events if e.kind is EventKind.FINAL and e.participant_id in audio]),
                         key=lambda r: r.confidence)
        if not regions:
            return events
        loop = asyncio.get_running_loop()
        try:
            lengths = await loop.run_in_executor(self._executor, _wav_seconds,
                                                 {r.participant_id: audio[r.participant_id] for r in regions})
        except Exception:
            log.exception("asr.final_pass_unreadable")
            return events
        _widen(regions, lengths)
        hard = hard_s if hard_s is not None else budget_s
        replaced: dict[int, BackendEvent] = {}
        redone = 0.0
        took: list[float] = []
        done = 0
        pending = list(regions)
        while pending:
            batch = self._final_pack(pending)
            # Whisper's cost is per 30 s window however little speech is in it: a pack costs about what a live
            # decode did, more for its many more words; once some are done, the slowest of those.
            live = self.decode_seconds / self.decodes if self.decodes else 3.0
            expected = max(took) if took else FINAL_PACK_COST * live
            if clock() - started + expected > budget_s:
                break
            before = clock()
            try:
                utterances = await loop.run_in_executor(
                    self._executor, _read_spans, [(r, audio[r.participant_id]) for r in batch])
                decoded = await asyncio.wait_for(
                    self._decode(recognizer, utterances, self._language_of(batch[0].participant_id)),
                    max(0.0, hard - (clock() - started)))
            except TimeoutError:
                log.warning("asr.final_pass_overran", hard_s=hard)
                break
            except Exception:  # what was redone stays redone
                log.exception("asr.final_pass_failed", regions=len(batch))
                break
            took.append(clock() - before)
            done += len(batch)
            for region, event in zip(batch, decoded, strict=True):
                if event is not None and (event.confidence or 0.0) >= region.confidence:
                    for old in region.events:
                        replaced[id(old)] = event
                    redone += region.seconds
        kept = [e for e in events if id(e) not in replaced]
        new = list({id(e): e for e in replaced.values()}.values())
        log.info("asr.final_pass", regions=len(regions), decoded=done, replaced_s=round(redone, 1),
                 seconds=round(clock() - started, 1), budget_s=budget_s)
        self.final_pass_redone_s = redone
        return sorted([*kept, *new], key=lambda e: (e.start_s, e.participant_id))

    def _final_pack(self, pending: list[_Region]) -> list[_Region]:
        """The least confident region and, to fill the window, more of the same participant's, in timeline order.

        Only one participant's: packed, a word timed into its neighbour's part changes segment, which must not
        mean it changes speaker; and only in a known language (one per window).
        """
        batch = [pending.pop(0)]
        pid, total = batch[0].participant_id, batch[0].seconds
        if self._auto_language and self._language_of(pid) is None:
            return batch
        for region in [r for r in pending if r.participant_id == pid]:
            if total + PACK_GAP_S + region.seconds <= PACK_WINDOW_S:
                batch.append(region)
                pending.remove(region)
                total += PACK_GAP_S + region.seconds
        return sorted(batch, key=lambda r: r.start_s)

    def recognition(self) -> Recognition:
        """Recognizer, warnings and voiced intervals per participant."""
        rec = Recognition()
        if self.load_error:
            rec.warnings.append(self.load_error + "; the transcript is empty (the WAV files have the audio)")
        if self._recognizer is not None and self._recognizer.done() and not self._recognizer.exception():
            recognizer, warnings = self._recognizer.result()
            rec.recognizer = recognizer.name
            rec.warnings.extend(warnings)
        for s in self._streams:
            # Talk time: voiced frames within utterances (not a lone voiced blip of noise), less the utterances
            # the speech gate found no speech in.
            voiced = _without(_within(s.segmenter.voiced, s.cut), s.rejected)
            rec.speech.setdefault(s.participant.id, []).extend(voiced)
        return rec

    async def recover(self, audio: dict[str, Path]) -> list[BackendEvent]:
        """Nothing to recover: local streams do not fail over to anything else."""
        return []

    async def post_call(self) -> PostCall | None:
        """None: the pipeline's analysers provide the insights."""
        return None

    async def aclose(self) -> None:
        """Stop streams, the decode loop and the worker thread."""
        for s in self._streams:
            await s.aclose()
        if self._worker is not None and not self._worker.done():
            self._worker.cancel()
            await asyncio.gather(self._worker, return_exceptions=True)
        self._executor.shutdown(wait=False, cancel_futures=True)

    async def __aenter__(self) -> LocalBackend:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


def _event(participant_id: str, utt: Utterance, text: str, words: list[Word], offset_s: float,
           hints: str | None = None, language: str | None = None) -> BackendEvent | None:
    """A FINAL event for an utterance decoded at ``offset_s`` of the decoded audio (None for no text)."""
    text = text.strip()
    if not text or recites(text, hints):
        return None
    shift = utt.start_s - offset_s
    lo, hi = utt.start_s, utt.end_s

    def clamp(t: float) -> float:  # word times outside the utterance are alignment drift
        return round(min(max(shift + t, lo), hi), 3)

    timed = tuple(
        Word(text=w.text, start_s=clamp(w.start_s), end_s=clamp(w.end_s), probability=w.probability)
        for w in words
    )
    return BackendEvent(kind=EventKind.FINAL, participant_id=participant_id, text=text,
                        start_s=timed[0].start_s if timed else utt.start_s,
                        end_s=timed[-1].end_s if timed else utt.end_s, words=timed, confidence=confidence(timed),
                        language=language)


@dataclass(slots=True)
class _Region:
    """Live events of one participant close together, to be decoded again as one utterance."""

    participant_id: str
    start_s: float
    end_s: float
    events: list[BackendEvent]

    @property
    def seconds(self) -> float:
        return self.end_s - self.start_s

    @property
    def confidence(self) -> float:
        """Mean word probability of its live words (0 without any: redo those first)."""
        return confidence(tuple(w for e in self.events for w in e.words)) or 0.0



def _regions(finals: list[BackendEvent]) -> list[_Region]:
    """Each participant's events joined while less than MERGE_GAP_S apart and within REGION_MAX_S."""
    out: list[_Region] = []
    for pid in dict.fromkeys(e.participant_id for e in finals):
        mine = sorted((e for e in finals if e.participant_id == pid), key=lambda e: e.start_s)
        for e in mine:
            last = out[-1] if out and out[-1].participant_id == pid else None
            if last and e.start_s - last.end_s < MERGE_GAP_S and e.end_s - last.start_s <= REGION_MAX_S:
                last.end_s = max(last.end_s, e.end_s)
                last.events.append(e)
            else:
                out.append(_Region(pid, e.start_s, e.end_s, [e]))
    return out


def _widen(regions: list[_Region], lengths: dict[str, float]) -> None:
    """Widen each region by EDGE_S (live word times are clamped to the utterance), not into its neighbours."""
    for pid in {r.participant_id for r in regions}:
        mine = sorted((r for r in regions if r.participant_id == pid), key=lambda r: r.start_s)
        end_of_audio = lengths[pid]
        for k, r in enumerate(mine):
            lo = mine[k - 1].end_s if k else 0.0
            hi = mine[k + 1].start_s if k + 1 < len(mine) else end_of_audio
            r.start_s, r.end_s = max(lo, r.start_s - EDGE_S), min(hi, r.end_s + EDGE_S)


def _wav_seconds(paths: dict[str, Path]) -> dict[str, float]:
    """Each WAV's length, from its header."""
    out = {}
    for pid, path in paths.items():
        with wave.open(str(path), "rb") as w:
            out[pid] = w.getnframes() / w.getframerate()
    return out


def _read_spans(regions: list[tuple[_Region, Path]]) -> list[tuple[str, Utterance]]:
    """Each region's span of its participant's WAV (16 kHz mono 16-bit, as the recorder writes them)."""
    out = []
    for region, path in regions:
        with wave.open(str(path), "rb") as w:
            if (w.getframerate(), w.getnchannels(), w.getsampwidth()) != (SAMPLE_RATE, 1, 2):
                raise ValueError(f"{path.name}: not 16 kHz mono 16-bit")
            first = int(region.start_s * SAMPLE_RATE)
            w.setpos(min(first, w.getnframes()))
            pcm = w.readframes(max(0, int(region.end_s * SAMPLE_RATE) - first))
        out.append((region.participant_id, Utterance(region.start_s, pcm)))
    return out


def _within(intervals: list[tuple[float, float]], spans: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """The parts of ``intervals`` inside any of ``spans``, both sorted and non-overlapping.

    One sweep, not every pair: a four-hour meeting has thousands of each.
    """
    out, j = [], 0
    for a, b in intervals:
        while j < len(spans) and spans[j][1] <= a:
            j += 1
        k = j
        while k < len(spans) and spans[k][0] < b:
            lo, hi = max(a, spans[k][0]), min(b, spans[k][1])
            if hi - lo > 1e-6:
                out.append((lo, hi))
            k += 1
    return out


def _without(intervals: list[tuple[float, float]], holes: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """``intervals`` with the time covered by ``holes`` taken out."""
    out = []
    for start, end in intervals:
        pieces = [(start, end)]
        for h0, h1 in holes:
            pieces = [p for a, b in pieces for p in ((a, min(b, h0)), (max(a, h1), b)) if p[1] - p[0] > 1e-6]
        out.extend(pieces)
    return out


def confidence(words: tuple[Word, ...]) -> float | None:
    """An utterance's confidence: the mean probability of its words (None without word probabilities).

    Not ``exp(avg_logprob)``: Whisper gives that per decoded segment, and a packed decode's segment can span
    several utterances, while every word belongs to exactly one.
    """
    probs = [w.probability for w in words if w.probability is not None]
    return round(sum(probs) / len(probs), 3) if probs else None


def _plain_words(text: str) -> list[str]:
    return [w for w in (t.strip(".,!?;:…\"'()-").casefold() for t in text.split()) if w]


def recites(text: str, hints: str | None) -> bool:
    """Whether ``text`` only recites the decoder's hints (the participants' names).

    That is Whisper's answer to sound that is not speech. One name alone is kept: people do say just "Kwame?".
    """
    said = set(_plain_words(text))
    return bool(hints) and len(said) >= 2 and said <= set(_plain_words(hints or ""))
