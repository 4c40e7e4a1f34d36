"""The local backend's moving parts: VAD segmentation on real speech, packing and splitting of decodes."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from bot.backends.base import Participant
from bot.backends.local.models import AsrChoice, Decoded, Recognizer
from bot.backends.local.stt import LocalBackend
from bot.backends.local.vad import Segmenter
from bot.demo.speech import speak
from bot.report.model import Word


def _pcm(audio: np.ndarray) -> bytes:
    return (np.clip(audio, -1, 1) * 32767).astype("<i2").tobytes()


def test_vad_cuts_speech_into_utterances_on_the_timeline() -> None:
    one = speak("Can we start with the budget?", "en-us")
    two = speak("I will send it by Thursday.", "en-us")
    silence = np.zeros(16000 * 2, dtype=np.float32)
    audio = np.concatenate([silence, one, silence, two, silence[:8000]])
    seg = Segmenter()
    utts = []
    for i in range(0, len(audio), 320):  # 20 ms chunks, as the bridge delivers them
        utts += seg.push(_pcm(audio[i : i + 320]))
    utts += seg.flush()
    assert len(utts) == 2
    first_start = 2.0
    second_start = 2.0 + len(one) / 16000 + 2.0
    assert abs(utts[0].start_s - first_start) < 0.35 and abs(utts[1].start_s - second_start) < 0.35
    assert utts[0].end_s < second_start
    assert len(seg.voiced) >= 2 and seg.voiced[0][0] >= first_start - 0.1


def test_position_jumps_are_silence() -> None:
    seg = Segmenter()
    speech = _pcm(speak("Hello there, everyone.", "en-us"))
    utts = seg.push(speech, 0.0) + seg.push(speech, 30.0) + seg.flush()
    assert [round(u.start_s) for u in utts] == [0, 30]


class ScriptedRecognizer:
    """Answers each decode with words at the times the audio's loud parts are (a stand-in for Whisper's
    word alignment, including its habit of timing a first word too early)."""

    name = "scripted"
    word_timestamps = True

    def __init__(self) -> None:
        self.calls: list[float] = []

    def decode(self, audio: np.ndarray, hints: str | None = None) -> Decoded:
        self.calls.append(len(audio) / 16000)
        loud = np.flatnonzero(np.abs(audio) > 0.1)
        words, start = [], None
        for n, i in enumerate(loud):
            if start is None:
                start = i
            if n + 1 == len(loud) or loud[n + 1] - i > 1600:
                words.append((start / 16000, i / 16000))
                start = None
        out = []
        for k, (a, b) in enumerate(words):
            # the first word of every later utterance is timed early, right after the previous word
            early = out[-1].end_s + 0.05 if out and k > 0 else a
            out.append(Word(text=f"w{k}", start_s=round(min(a, early), 3), end_s=round(b, 3)))
        return Decoded(text=" ".join(w.text for w in out), words=tuple(out))


def _loader(recognizer: Recognizer):  # type: ignore[no-untyped-def]
    return lambda choice: (recognizer, [])


async def test_waiting_utterances_are_packed_and_split_back() -> None:
    rec = ScriptedRecognizer()
    backend = LocalBackend(AsrChoice(), loader=_loader(rec), gate=None)  # its "speech" is tone bursts
    await backend.prepare()
    people = [Participant("a", "Ann"), Participant("b", "Bo")]
    streams = [await backend.open_stream(p) for p in people]
    tone = 0.5 * np.sin(2 * np.pi * 300 * np.arange(16000) / 16000).astype(np.float32)
    quiet = np.zeros(16000, dtype=np.float32)
    # each person: 1 s of "speech" at their own time, pushed at once so both utterances wait together
    for k, stream in enumerate(streams):
        audio = np.concatenate([quiet] * (1 + 3 * k) + [tone, quiet, quiet])
        await stream.push_audio(_pcm(audio), 0.0)
    events: dict[str, list] = {p.id: [] for p in people}

    async def read(stream):  # type: ignore[no-untyped-def]
        async for e in stream.events():
            events[stream.participant.id].append(e)

    readers = [asyncio.create_task(read(s)) for s in streams]
    await asyncio.gather(*(s.end_input() for s in streams))
    await asyncio.gather(*readers)
    await backend.aclose()
    assert [len(v) for v in events.values()] == [1, 1]
    (ann,), (bo,) = events.values()
    assert ann.participant_id == "a" and bo.participant_id == "b"
    assert 0.7 <= ann.start_s <= 1.1 and 3.7 <= bo.start_s <= 4.1  # on the meeting timeline, clamped
    assert rec.calls and len(rec.calls) <= 2


@pytest.mark.asr
async def test_whisper_decodes_a_pack_like_single_utterances(tmp_path_factory) -> None:  # type: ignore[no-untyped-def]
    from tests.test_replay import _backend

    backend = _backend(tmp_path_factory)
    await backend.prepare()
    lines = {"a": "Can we start with the budget?", "b": "I will call them tomorrow."}
    streams = {k: await backend.open_stream(Participant(k, k)) for k in lines}
    for k, text in lines.items():
        await streams[k].push_audio(_pcm(np.concatenate([speak(text, "en-us"), np.zeros(16000, np.float32)])))
    texts = {}

    async def read(k):  # type: ignore[no-untyped-def]
        texts[k] = " ".join([e.text async for e in streams[k].events()])

    readers = [asyncio.create_task(read(k)) for k in streams]
    await asyncio.gather(*(s.end_input() for s in streams.values()))
    await asyncio.gather(*readers)
    await backend.aclose()
    assert backend.decodes == 1  # both waited, so one decode served both
    assert "budget" in texts["a"].lower() and "tomorrow" in texts["b"].lower()
    assert "tomorrow" not in texts["a"].lower() and "budget" not in texts["b"].lower()


def test_falls_back_to_pocketsphinx_with_a_warning(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from bot.backends.local.models import SphinxRecognizer, load_recognizer

    recognizer, warnings = load_recognizer(AsrChoice(model=str(tmp_path / "no-such-model"), allow_download=False,
                                                     cache_dir=tmp_path))
    assert isinstance(recognizer, SphinxRecognizer)
    assert warnings and "pocketsphinx" in warnings[0]
    text = recognizer.decode(speak("hello world", "en-us")).text
    assert isinstance(text, str)  # pocketsphinx decodes (poorly: ~0.8 WER on espeak speech)


def test_packaged_weights_are_verified(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    from bot.backends.local import models

    monkeypatch.setattr(models, "PACKAGED_BASE_SHA256", "0" * 64)
    with pytest.raises(models.ModelUnavailable, match="sha256"):
        models.packaged_whisper_base(tmp_path)
    assert not any(tmp_path.iterdir())  # nothing half-joined is left behind


async def test_a_recognizer_that_cannot_load_ends_streams_with_a_warning() -> None:
    def broken(choice: AsrChoice):  # type: ignore[no-untyped-def]
        raise RuntimeError("no model here")

    backend = LocalBackend(AsrChoice(), loader=broken)
    stream = await backend.open_stream(Participant("a", "Ann"))
    await stream.push_audio(_pcm(np.concatenate([speak("Hello there everyone.", "en-us"), np.zeros(16000)])))
    await asyncio.wait_for(stream.end_input(), 10)  # does not hang
    assert [e async for e in stream.events()] == []
    assert any("no speech recognizer" in w for w in backend.recognition().warnings)
    await backend.aclose()


class _Selective(ScriptedRecognizer):
    """Hears words only in utterances longer than ``min_s`` (a stand-in for Whisper finding no words in noise)."""

    def __init__(self, min_s: float) -> None:
        super().__init__()
        self.min_s = min_s

    def decode(self, audio: np.ndarray, hints: str | None = None) -> Decoded:
        return super().decode(audio, hints) if len(audio) / 16000 > self.min_s else Decoded(text="")


async def test_talk_time_is_only_where_words_were_heard() -> None:
    # 1.5 s of "speech", then a 0.4 s burst the recognizer finds no words in, then a 60 ms click (never an
    # utterance): only the first counts as talk.
    backend = LocalBackend(AsrChoice(), loader=_loader(_Selective(min_s=1.2)), gate=None, pack=False)
    stream = await backend.open_stream(Participant("a", "Ann"))
    t = np.arange(16000 * 8) / 16000
    audio = 0.5 * np.sin(2 * np.pi * 300 * t) * (((t > 1) & (t < 2.5)) | ((t > 4) & (t < 4.4)) | ((t > 6) & (t < 6.06)))
    await stream.push_audio(_pcm(audio.astype(np.float32)), 0.0)
    await stream.end_input()
    talk = backend.recognition().speech["a"]
    await backend.aclose()
    assert 1.3 <= sum(b - a for a, b in talk) <= 1.7, talk
    assert all(b <= 2.8 for _, b in talk), talk


def test_an_english_only_whisper_model_with_another_language_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    from bot.backends.local import models

    def english_only(choice: AsrChoice) -> models.WhisperRecognizer:  # a base.en: no is_multilingual model
        return models.WhisperRecognizer(object(), name="faster-whisper (base.en)", language=choice.language)

    monkeypatch.setattr(models, "_load_whisper", english_only)
    _, warnings = models.load_recognizer(AsrChoice(language="de"))
    assert warnings == ["faster-whisper (base.en) knows English only: the language (configured as 'de') was not "
                        "used, and speech in any other language comes out as English words"]
    assert models.load_recognizer(AsrChoice(language="en"))[1] == []
