"""Voice activity detection: cuts one participant's audio into utterances.

webrtcvad classifies 30 ms frames; an utterance starts after ``start_frames`` voiced frames in a row
(with ``pre_roll_ms`` of audio before them kept, so first syllables are not clipped) and ends after
``hangover_ms`` of unvoiced frames, or at ``max_utterance_s``.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import webrtcvad  # type: ignore[import-untyped]

SAMPLE_RATE = 16_000
FRAME_MS = 30
FRAME_BYTES = SAMPLE_RATE * FRAME_MS // 1000 * 2


@dataclass(frozen=True, slots=True)
class Utterance:
    """A stretch of speech: ``pcm`` starts at ``start_s`` on the meeting timeline."""

    start_s: float
    pcm: bytes

    @property
    def seconds(self) -> float:
        """How long the utterance is."""
        return len(self.pcm) / 2 / SAMPLE_RATE

    @property
    def end_s(self) -> float:
        """Where the utterance ends on the timeline."""
        return self.start_s + self.seconds


@dataclass(slots=True)
class VadOptions:
    """Segmentation knobs."""

    aggressiveness: int = 2
    start_frames: int = 3
    hangover_ms: int = 600
    pre_roll_ms: int = 300
    max_utterance_s: float = 25.0


@dataclass(slots=True)
class Segmenter:
    """Feed audio with ``push``; collect finished utterances; call ``flush`` at the end."""

    options: VadOptions = field(default_factory=VadOptions)
    voiced: list[tuple[float, float]] = field(default_factory=list)  # voiced intervals, for analytics
    _vad: webrtcvad.Vad = field(init=False)
    _buf: bytearray = field(default_factory=bytearray)
    _pos_s: float = 0.0              # timeline position of the first byte in _buf
    _pre: deque[bytes] = field(init=False)
    _run: int = 0                    # consecutive voiced frames while not in speech
    _silent_ms: int = 0
    _speech: bytearray | None = None
    _speech_start: float = 0.0
    _voiced_start: float | None = None

    def __post_init__(self) -> None:
        self._vad = webrtcvad.Vad(self.options.aggressiveness)
        self._pre = deque(maxlen=max(1, self.options.pre_roll_ms // FRAME_MS))

    def push(self, pcm: bytes, position_s: float | None = None) -> list[Utterance]:
        """Add audio (int16 LE mono 16 kHz); a ``position_s`` past the current end is a silent gap."""
        out: list[Utterance] = []
        end_s = self._pos_s + len(self._buf) / 2 / SAMPLE_RATE
        if position_s is not None and position_s - end_s > FRAME_MS / 1000:
            out.extend(self.flush())
            self._pos_s = position_s
        self._buf.extend(pcm)
        while len(self._buf) >= FRAME_BYTES:
            frame = bytes(self._buf[:FRAME_BYTES])
            del self._buf[:FRAME_BYTES]
            t = self._pos_s
            self._pos_s += FRAME_MS / 1000
            utt = self._frame(frame, t)
            if utt is not None:
                out.append(utt)
        return out

    def _frame(self, frame: bytes, t: float) -> Utterance | None:
        o = self.options
        voiced = self._vad.is_speech(frame, SAMPLE_RATE)
        self._track_voiced(voiced, t)
        if self._speech is None:
            self._pre.append(frame)
            self._run = self._run + 1 if voiced else 0
            if self._run >= o.start_frames:
                self._speech = bytearray(b"".join(self._pre))
                self._speech_start = t + FRAME_MS / 1000 - len(self._speech) / 2 / SAMPLE_RATE
                self._pre.clear()
                self._silent_ms = 0
            return None
        self._speech.extend(frame)
        self._silent_ms = 0 if voiced else self._silent_ms + FRAME_MS
        too_long = len(self._speech) / 2 / SAMPLE_RATE >= o.max_utterance_s
        if self._silent_ms >= o.hangover_ms or too_long:
            return self._cut()
        return None

    def _track_voiced(self, voiced: bool, t: float) -> None:
        if voiced and self._voiced_start is None:
            self._voiced_start = t
        elif not voiced and self._voiced_start is not None:
            self._add_interval(self._voiced_start, t)
            self._voiced_start = None

    def _add_interval(self, start: float, end: float) -> None:
        # Bridge pauses shorter than a breath (200 ms) so talk time is not chopped into syllables.
        if self.voiced and start - self.voiced[-1][1] < 0.2:
            self.voiced[-1] = (self.voiced[-1][0], end)
        else:
            self.voiced.append((start, end))

    def _cut(self) -> Utterance | None:
        speech, self._speech = self._speech, None
        self._run = 0
        if not speech:
            return None
        # Drop the trailing hangover silence, keeping a little tail.
        tail = max(0, self._silent_ms - 200) * SAMPLE_RATE // 1000 * 2
        pcm = bytes(speech[: len(speech) - tail] if tail else speech)
        return Utterance(start_s=round(self._speech_start, 3), pcm=pcm)

    def flush(self) -> list[Utterance]:
        """End of input (or a gap): close any utterance in progress."""
        if self._voiced_start is not None:
            self._add_interval(self._voiced_start, self._pos_s)
            self._voiced_start = None
        self._buf.clear()
        self._pre.clear()
        self._run = 0
        if self._speech is None:
            return []
        self._silent_ms = 0
        utt = self._cut()
        return [utt] if utt is not None else []
