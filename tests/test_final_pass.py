"""The final pass: after a meeting, the local backend decodes the live transcript again from the recordings."""

from __future__ import annotations

import threading
import wave
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from bot.backends.base import BackendEvent, EventKind
from bot.backends.local.models import AsrChoice, Decoded
from bot.backends.local.stt import LocalBackend
from bot.report.model import Word

RATE = 16000


class _Clock:
    """Monotonic seconds that pass only when a decode says so."""

    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


class _Again:
    """A recognizer double: one word per second of audio, all with probability ``p``; each decode takes ``cost_s``
    on ``clock``; ``on_call`` (the call's number) may block or fail a call."""

    name = "again"
    word_timestamps = True

    def __init__(self, p: float, clock: _Clock | None = None, cost_s: float = 0.0,
                 on_call: Callable[[int], None] | None = None) -> None:
        self.p = p
        self.clock = clock or _Clock()
        self.cost_s = cost_s
        self.on_call = on_call
        self.calls: list[float] = []

    def decode(self, audio: np.ndarray, hints: str | None = None) -> Decoded:
        if self.on_call is not None:
            self.on_call(len(self.calls) + 1)
        self.clock.t += self.cost_s
        self.calls.append(len(audio) / RATE)
        n = max(1, int(len(audio) / RATE))
        words = tuple(Word(text=f"again{k}", start_s=k + 0.1, end_s=k + 0.6, probability=self.p) for k in range(n))
        return Decoded(" ".join(w.text for w in words), words)


def _wav(path: Path, seconds: float) -> Path:
    t = np.arange(int(seconds * RATE)) / RATE
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes((0.3 * np.sin(2 * np.pi * 300 * t) * 32767).astype("<i2").tobytes())
    return path


def _live(pid: str, start: float, end: float, p: float, text: str = "live") -> BackendEvent:
    words = (Word(text=text, start_s=start, end_s=end, probability=p),)
    return BackendEvent(EventKind.FINAL, pid, text, start, end, words, confidence=p)


async def _backend(rec: _Again) -> LocalBackend:
    backend = LocalBackend(AsrChoice(), loader=lambda choice: (rec, []), gate=None, clock=rec.clock)
    await backend.prepare()
    return backend


async def test_a_sentence_split_live_is_decoded_again_as_one(tmp_path: Path) -> None:
    rec = _Again(p=0.9)
    backend = await _backend(rec)
    # "Sorry I'm late" / "Did I miss the decision": one sentence the live VAD cut at a pause; and a later one.
    events = [_live("a", 1.0, 2.0, 0.5, "Sorry I'm late"), _live("a", 2.6, 4.0, 0.6, "Did I miss"),
              _live("a", 8.0, 9.0, 0.95, "Fine")]
    out = await backend.final_pass(events, {"a": _wav(tmp_path / "a.wav", 12)}, budget_s=30)
    await backend.aclose()
    # One window: the first two utterances as one region (with the gap between and margins), a gap, the third
    assert rec.calls == [pytest.approx((4.0 - 1.0 + 2 * 0.3) + 1.0 + (1.0 + 2 * 0.3))]
    first, second = out
    assert first.text.startswith("again0") and first.start_s >= 0.7 and first.end_s <= 4.3
    assert second.text == "Fine"  # redone too, but Whisper was less sure this time: kept as it was
    assert backend.final_pass_redone_s == pytest.approx(3.6)


async def test_what_the_recognizer_is_less_sure_of_keeps_its_live_text(tmp_path: Path) -> None:
    backend = await _backend(_Again(p=0.2))
    events = [_live("a", 1.0, 2.0, 0.5), _live("b", 1.5, 2.5, 0.4)]
    wavs = {"a": _wav(tmp_path / "a.wav", 5), "b": _wav(tmp_path / "b.wav", 5)}
    out = await backend.final_pass(events, wavs, budget_s=30)
    await backend.aclose()
    assert out == events


async def test_the_budget_bounds_the_work_least_confident_first(tmp_path: Path) -> None:
    rec = _Again(p=0.99, cost_s=1.0)
    backend = await _backend(rec)
    # Twelve people, one utterance each, each less sure of than the one before.
    events = [_live(f"p{k}", 1.0, 2.0, 0.9 - k * 0.05) for k in range(12)]
    wavs = {f"p{k}": _wav(tmp_path / f"p{k}.wav", 4) for k in range(12)}
    # Nothing decoded live yet: the first window is expected to take 6 s (2 x a 3 s guess), then 1 s each (the
    # cost measured): windows start at 0, 1, ..., 6 (each ending by 7), and at 7 none can.
    out = await backend.final_pass(events, wavs, budget_s=7)
    await backend.aclose()
    redone = [e.participant_id for e in out if e.text.startswith("again")]
    assert sorted(redone) == sorted(f"p{k}" for k in range(5, 12))  # the seven least confident
    assert len(out) == 12 and rec.clock.t == 7.0


async def test_a_decode_past_the_hard_limit_is_abandoned_and_what_was_redone_stays(tmp_path: Path) -> None:
    release = threading.Event()

    def third_hangs(n: int) -> None:
        if n == 3:
            release.wait(30)

    rec = _Again(p=0.99, cost_s=1.0, on_call=third_hangs)
    backend = await _backend(rec)
    events = [_live(f"p{k}", 1.0, 2.0, 0.9 - k * 0.05) for k in range(5)]
    wavs = {f"p{k}": _wav(tmp_path / f"p{k}.wav", 4) for k in range(5)}
    try:
        out = await backend.final_pass(events, wavs, budget_s=30, hard_s=2.5)  # the third waits 0.5 s, then goes
    finally:
        release.set()
        await backend.aclose()
    assert sorted(e.participant_id for e in out if e.text.startswith("again")) == ["p3", "p4"]


async def test_a_failing_decode_keeps_what_was_redone(tmp_path: Path) -> None:
    def second_fails(n: int) -> None:
        if n == 2:
            raise RuntimeError("decoder fell over")

    backend = await _backend(_Again(p=0.99, on_call=second_fails))
    events = [_live(f"p{k}", 1.0, 2.0, 0.9 - k * 0.05) for k in range(3)]
    wavs = {f"p{k}": _wav(tmp_path / f"p{k}.wav", 4) for k in range(3)}
    out = await backend.final_pass(events, wavs, budget_s=30)
    await backend.aclose()
    assert {e.participant_id: e.text.startswith("again") for e in out} == {"p0": False, "p1": False, "p2": True}


async def test_nothing_to_do_without_a_budget_or_recordings(tmp_path: Path) -> None:
    rec = _Again(p=0.99)
    backend = await _backend(rec)
    events = [_live("a", 1.0, 2.0, 0.5)]
    assert await backend.final_pass(events, {"a": _wav(tmp_path / "a.wav", 3)}, budget_s=0) == events
    assert await backend.final_pass(events, {}, budget_s=30) == events
    await backend.aclose()
    assert rec.calls == []
