"""The speech gate: is there speech in an utterance at all?

webrtcvad (the segmenter's) is cheap and streams, but it cuts utterances from tones, hum, noise and music
(measured: hum, white noise and music 100% of their 30 ms frames voiced, beeps 74%, brown noise 27–36%, and a
steady tone after someone spoke rides along in one long utterance); Whisper then writes text for them ("you",
the participants' names from its hints). Silero VAD, which faster-whisper ships (``assets/silero_vad_v6.onnx``,
run by onnxruntime), gives every one of those 0% and espeak-ng speech 62–68% of its 32 ms windows
(``tests/test_speech_gate.py`` holds the signals). So every utterance goes through Silero before decoding:
less than ``min_speech_s`` of it voiced, and it is not speech. Utterances are not cropped to Silero's speech:
that cost words at their edges (the replay test meeting's WER went over its bound).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

SAMPLE_RATE = 16_000
WINDOW = 512  # Silero's window at 16 kHz: 32 ms


@dataclass(frozen=True, slots=True)
class GateOptions:
    """Thresholds of the gate."""

    threshold: float = 0.5      # Silero speech probability of a voiced window (its authors' default)
    min_speech_s: float = 0.25  # less voiced audio than this is not an utterance


def silero_path() -> Path:
    """Where faster-whisper keeps its Silero VAD model."""
    from faster_whisper.utils import get_assets_path  # type: ignore[import-untyped]

    return Path(get_assets_path()) / "silero_vad_v6.onnx"


class SpeechGate:
    """Silero VAD over whole utterances. Not thread-safe: one decode worker uses it.

    Args:
        model_path: the Silero ONNX model (default: faster-whisper's copy).
        options: thresholds.
    """

    def __init__(self, model_path: Path | None = None, options: GateOptions | None = None) -> None:
        from faster_whisper.vad import SileroVADModel  # type: ignore[import-untyped]  # onnxruntime: here, not on import

        self._model: Any = SileroVADModel(str(model_path or silero_path()))
        self.options = options or GateOptions()

    def probabilities(self, audio: np.ndarray) -> np.ndarray:
        """Speech probability of each 32 ms window of float32 mono 16 kHz audio."""
        if not len(audio):
            return np.zeros(0, dtype=np.float32)
        padded = np.pad(audio.astype(np.float32), (0, (-len(audio)) % WINDOW))
        return np.asarray(self._model(padded), dtype=np.float32).ravel()

    def voiced_s(self, audio: np.ndarray) -> float:
        """Seconds of ``audio`` Silero calls speech."""
        return int(np.count_nonzero(self.probabilities(audio) >= self.options.threshold)) * WINDOW / SAMPLE_RATE

    def is_speech(self, audio: np.ndarray) -> bool:
        """Whether ``audio`` holds at least ``min_speech_s`` of speech."""
        return self.voiced_s(audio) >= self.options.min_speech_s
