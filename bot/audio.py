"""PCM helpers and the crash-safe WAV spool.

Every participant's audio is written to its own 16 kHz mono int16 WAV as it arrives. The files share one
timeline: sample 0 of every file is the moment capture started, and silence is written where a participant
was absent (before joining, between a leave and a rejoin), so the files line up without any side data.

The RIFF header is rewritten on every flush (about once a second) and on close, so a crash loses at most
the last second's header update; ``read_wav`` also accepts a file whose header undercounts or overcounts
its data (a truncated or unfinished file).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np

SAMPLE_RATE = 16_000
_HEADER = struct.Struct("<4sI4s4sIHHIIHH4sI")
_HEADER_SIZE = _HEADER.size  # 44


class WavError(ValueError):
    """A file that is not a readable PCM WAV."""


def _header(data_bytes: int, rate: int = SAMPLE_RATE, channels: int = 1) -> bytes:
    block = 2 * channels
    return _HEADER.pack(
        b"RIFF", 36 + data_bytes, b"WAVE", b"fmt ", 16, 1, channels, rate, rate * block, block, 16,
        b"data", data_bytes,
    )


class WavSpool:
    """Append-only 16 kHz mono int16 WAV writer with a header kept close to true.

    Args:
        path: the file to create (its folder must exist; FileExistsError if the file does).
        flush_every_s: how much audio to buffer before it is written and the header updated.
    """

    def __init__(self, path: Path, *, flush_every_s: float = 1.0) -> None:
        self.path = path
        self._file: BinaryIO | None = path.open("xb")  # never truncate a recording already there
        self._file.write(_header(0))
        self._pending: list[bytes] = []
        self._pending_bytes = 0
        self._flush_bytes = int(flush_every_s * SAMPLE_RATE) * 2
        self.samples = 0

    def write(self, pcm: bytes) -> None:
        """Append int16 LE samples."""
        if self._file is None:
            raise ValueError("spool is closed")
        self._pending.append(pcm)
        self._pending_bytes += len(pcm)
        self.samples += len(pcm) // 2
        if self._pending_bytes >= self._flush_bytes:
            self.flush()

    def write_silence(self, samples: int) -> None:
        """Append ``samples`` zero samples, in bounded chunks."""
        chunk = bytes(2 * SAMPLE_RATE)
        while samples > 0:
            n = min(samples, SAMPLE_RATE)
            self.write(chunk[: 2 * n])
            samples -= n

    def flush(self) -> None:
        """Write buffered audio and bring the header up to date."""
        if self._file is None:
            return
        if self._pending:
            self._file.write(b"".join(self._pending))
            self._pending.clear()
            self._pending_bytes = 0
        end = self._file.tell()
        self._file.seek(0)
        self._file.write(_header(end - _HEADER_SIZE))
        self._file.seek(end)
        self._file.flush()

    def close(self) -> None:
        """Flush and close; safe to call twice."""
        if self._file is None:
            return
        self.flush()
        self._file.close()
        self._file = None


@dataclass(frozen=True, slots=True)
class WavData:
    """A decoded WAV: int16 samples shaped (frames, channels)."""

    rate: int
    channels: int
    samples: np.ndarray
    truncated: bool

    def mono(self) -> np.ndarray:
        """Samples as float32 in [-1, 1], channels averaged."""
        mono: np.ndarray = (self.samples.astype(np.float32) / 32768.0).mean(axis=1)
        return mono


def read_wav(path: Path) -> WavData:
    """Read a 16-bit PCM WAV, tolerating a header whose sizes do not match the file (crash, truncation)."""
    raw = path.read_bytes()
    if len(raw) < 12 or raw[:4] != b"RIFF" or raw[8:12] != b"WAVE":
        raise WavError(f"{path}: not a RIFF/WAVE file")
    pos, fmt, data, truncated = 12, None, None, False
    while pos + 8 <= len(raw):
        cid, size = struct.unpack_from("<4sI", raw, pos)
        body = pos + 8
        if cid == b"fmt ":
            fmt = struct.unpack_from("<HHIIHH", raw, body)
        elif cid == b"data":
            available = len(raw) - body
            if size > available or size == 0:
                truncated = size != available
                size = available
            elif size < available and not _chunk_follows(raw, body + size):
                size = available  # audio written after the last header update (a crash): keep it
            data = raw[body : body + size - size % 2]
            break
        pos = body + size + (size & 1)
    if fmt is None or data is None:
        raise WavError(f"{path}: missing fmt or data chunk")
    audio_format, channels, rate, _, _, bits = fmt
    if audio_format != 1 or bits != 16 or channels < 1:
        raise WavError(f"{path}: only 16-bit PCM is supported (format {audio_format}, {bits} bits)")
    usable = len(data) - len(data) % (2 * channels)
    samples = np.frombuffer(data[:usable], dtype="<i2").reshape(-1, channels)
    return WavData(rate=rate, channels=channels, samples=samples, truncated=truncated)


def _chunk_follows(raw: bytes, pos: int) -> bool:
    """Whether a RIFF chunk (four printable ASCII bytes and a size) starts at ``pos``."""
    cid = raw[pos + (pos & 1) : pos + (pos & 1) + 4]
    return len(cid) == 4 and all(32 <= b < 127 for b in cid)
