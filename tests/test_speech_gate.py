"""No invented text (issue 13, item 1): sound that is not speech gets no words and no talk time."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import numpy as np
import pytest

from bot.backends.base import EventKind, Participant
from bot.backends.local.gate import SpeechGate
from bot.backends.local.models import AsrChoice
from bot.backends.local.stt import LocalBackend, recites
from bot.backends.local.vad import Segmenter
from bot.demo.speech import speak

RATE = 16_000


def _signals() -> dict[str, np.ndarray]:
    """Sounds a meeting carries that are not speech (6 s each, float32 in [-1, 1])."""
    rng = np.random.default_rng(7)
    t = np.arange(6 * RATE) / RATE
    brown = np.cumsum(rng.standard_normal(len(t)))
    brown = (brown - np.convolve(brown, np.ones(400) / 400, "same")) / 300  # without its drift
    chords = sum(0.15 * np.sin(2 * np.pi * f * t) * (0.5 + 0.5 * np.sin(2 * np.pi * 1.5 * t + i))
                 for i, f in enumerate([261.6, 329.6, 392.0, 523.3]))
    return {k: np.asarray(v, dtype=np.float32) for k, v in {
        "tone": 0.5 * np.sin(2 * np.pi * 500 * t),
        "beeps": 0.5 * np.sin(2 * np.pi * 880 * t) * (np.sin(2 * np.pi * 2 * t) > 0),
        "hum": sum(0.2 / k * np.sin(2 * np.pi * 50 * k * t) for k in range(1, 8)),
        "white_noise": 0.2 * rng.standard_normal(len(t)),
        "brown_noise": brown,
        "music": chords + 0.1 * np.sin(2 * np.pi * 110 * t) * ((t * 4) % 1 < 0.3),  # chords and a bass beat
        # A room microphone: air conditioning hum under fan noise (webrtcvad calls a frame of it voice now and then)
        "room": sum(a * np.sin(2 * np.pi * f * t) for f, a in ((100, 0.2), (200, 0.1), (300, 0.05)))
        + np.convolve(rng.normal(0, 0.08, len(t)), np.ones(4) / 4, "same"),
        "faint_noise": 0.01 * rng.standard_normal(len(t)),
        # Typing: 40 ms bursts, too short to start an utterance, each maybe a voiced frame to webrtcvad
        "typing": 0.3 * rng.standard_normal(len(t)) * ((t % 0.37) < 0.04),
    }.items()}


def _pcm(x: np.ndarray) -> bytes:
    return (np.clip(x, -1, 1) * 32767).astype("<i2").tobytes()


def _utterances(x: np.ndarray) -> int:
    """How many utterances the segmenter (webrtcvad) cuts from ``x`` after a spoken sentence."""
    seg = Segmenter()
    lead = np.concatenate([speak("Hello everyone, let us start.", "en-us"), np.zeros(RATE)]).astype(np.float32)
    before = len(seg.push(_pcm(lead), 0.0))
    return len(seg.push(_pcm(x), len(lead) / RATE) + seg.flush()) - (before == 0)


@pytest.fixture(scope="module")
def gate() -> SpeechGate:
    return SpeechGate()


def test_the_gate_refuses_what_webrtcvad_calls_voice(gate: SpeechGate) -> None:
    for name, x in _signals().items():
        assert _utterances(x) >= 1, name  # why the segmenter's VAD alone is not enough
        assert gate.voiced_s(x) == 0 and not gate.is_speech(x), name
    for text, voice in (("Can we start with the budget for next quarter?", "en-us"),
                        ("I will send the summary tomorrow.", "en-us+f3"), ("Ja.", "de")):
        speech = speak(text, voice).astype(np.float32)
        assert gate.is_speech(speech) and gate.voiced_s(speech) >= 0.4 * len(speech) / RATE, text


def test_reciting_the_hints_is_not_speech() -> None:
    hints = "Ingrid José Kwame Recorder"
    assert recites("Ingrid José Kwame Recorder", hints) and recites("Ingrid, Kwame.", hints)
    assert not recites("Kwame?", hints)  # one name alone is something people say
    assert not recites("Ingrid, can you take that?", hints) and not recites("Ingrid Kwame", None)


@pytest.mark.asr
async def test_non_speech_gets_no_words_and_no_talk_time(tmp_path_factory: pytest.TempPathFactory) -> None:
    cache = Path(os.environ.get("BOT_ASR__CACHE_DIR", tmp_path_factory.getbasetemp() / "asr-cache"))
    backend = LocalBackend(AsrChoice(cache_dir=cache, allow_download=False))
    sounds = {**_signals(), "speaker": np.concatenate(
        [speak("I will send the summary to everyone tomorrow morning.", "en-us"), np.zeros(RATE)])}
    # Names as hints, as in a meeting: Whisper recites them over non-speech when it is given any.
    streams = {k: await backend.open_stream(Participant(k, k.replace("_", " ").title())) for k in sounds}
    for k, x in sounds.items():
        await streams[k].push_audio(_pcm(x), 0.0)
    texts: dict[str, list[str]] = {k: [] for k in sounds}

    async def read(k: str) -> None:
        async for e in streams[k].events():
            if e.kind is EventKind.FINAL:
                texts[k].append(e.text)

    readers = [asyncio.create_task(read(k)) for k in streams]
    await asyncio.gather(*(s.end_input() for s in streams.values()))
    await asyncio.gather(*readers)
    speech = backend.recognition().speech
    await backend.aclose()
    for name in _signals():
        assert texts[name] == [], name
        assert sum(b - a for a, b in speech.get(name, [])) == 0, name
    assert "summary" in " ".join(texts["speaker"]).lower()
    assert sum(b - a for a, b in speech["speaker"]) > 1.5
    assert backend.rejected >= len(_signals())
