"""Renders a scripted dialogue to one WAV per participant on a shared timeline (espeak-ng + soxr)."""

from __future__ import annotations

import io
import re
import subprocess
import wave
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

RATE = 16_000


@dataclass(frozen=True)
class Line:
    """One utterance: who says it and, for checking, what it contains."""

    speaker: str
    text: str
    question: bool = False
    action_owner: str | None = None   # owner's name; "" = an action item without an owner (team)
    due: str | None = None            # ISO date the due phrase resolves to
    follow_up: bool = False
    decision: bool = False
    gap_s: float = 0.7                # pause before this line
    overlap_s: float = 0.0            # start this much before the previous line ends (interruptions)


@dataclass(frozen=True)
class Meeting:
    """A scripted meeting."""

    title: str
    voices: dict[str, str]            # name -> espeak-ng voice
    lines: list[Line]
    date: str = "2026-11-25"          # a Wednesday
    ids: dict[str, str] = field(default_factory=dict)


def speak(text: str, voice: str, speed: int = 155) -> np.ndarray:
    """espeak-ng speech as float32 at 16 kHz."""
    import soxr  # type: ignore[import-untyped]

    raw = subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "--stdout", text],
                         check=True, capture_output=True).stdout
    with wave.open(io.BytesIO(_fix_stream_header(raw)), "rb") as w:
        rate = w.getframerate()
        data = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.float32) / 32768
    return np.asarray(soxr.resample(data, rate, RATE), dtype=np.float32)


def _fix_stream_header(raw: bytes) -> bytes:
    """espeak-ng writes a streaming WAV header with zero sizes to stdout; fill them in for the wave module."""
    fixed = bytearray(raw)
    fixed[4:8] = (len(raw) - 8).to_bytes(4, "little")
    idx = raw.find(b"data")
    fixed[idx + 4 : idx + 8] = (len(raw) - idx - 8).to_bytes(4, "little")
    return bytes(fixed)


def render(meeting: Meeting, out_dir: Path) -> tuple[list[Path], list[tuple[str, float, float]]]:
    """Write ``<Name>.wav`` per speaker; returns the files and (speaker, start_s, end_s) per line."""
    out_dir.mkdir(parents=True, exist_ok=True)
    clips = [(line, speak(line.text, meeting.voices[line.speaker])) for line in meeting.lines]
    t = 0.5
    spans: list[tuple[str, float, float]] = []
    for line, clip in clips:
        start = max(0.0, t + line.gap_s - line.overlap_s) if spans else t
        spans.append((line.speaker, start, start + len(clip) / RATE))
        t = max(t, start + len(clip) / RATE)
    total = int((t + 1.0) * RATE)
    tracks = {name: np.zeros(total, dtype=np.float32) for name in meeting.voices}
    for (line, clip), (_, start, _) in zip(clips, spans, strict=True):
        i = int(start * RATE)
        tracks[line.speaker][i : i + len(clip)] += clip
    paths = []
    for name, audio in tracks.items():
        paths.append(write_wav(out_dir / f"{name}.wav", audio))
    return paths, spans


def words(text: str) -> list[str]:
    """Lowercase words of any script without punctuation (apostrophes kept), for word error rate."""
    return re.findall(r"(?:[^\W_]|')+", text.lower().replace("-", " "))


def wer(reference: list[str], hypothesis: list[str]) -> float:
    """Word error rate: (substitutions + deletions + insertions) / reference words."""
    d = list(range(len(hypothesis) + 1))
    for i, r in enumerate(reference, 1):
        prev, d[0] = d[0], i
        for j, h in enumerate(hypothesis, 1):
            cur = min(d[j] + 1, d[j - 1] + 1, prev + (r != h))
            prev, d[j] = d[j], cur
    return d[len(hypothesis)] / max(1, len(reference))


def tone_wav(path: Path, hz: float, seconds: float, amplitude: float = 0.5) -> Path:
    """Write a 16 kHz mono tone with 1 s of silence after it."""
    t = np.arange(int(RATE * seconds)) / RATE
    return write_wav(path, np.concatenate([amplitude * np.sin(2 * np.pi * hz * t), np.zeros(RATE)]))


def write_wav(path: Path, audio: np.ndarray) -> Path:
    """Write float audio in [-1, 1] (clipped) as a 16 kHz mono 16-bit WAV file."""
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes((np.clip(audio, -1, 1) * 32767).astype("<i2").tobytes())
    return path
