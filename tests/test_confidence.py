"""Confidence and audio accounting in the report: per-segment confidence from real Whisper decodes (alone and
packed), low-confidence words marked in the HTML email, and per-participant lost and transcribed seconds."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bot.backends.base import BackendEvent, Participant, segments_from
from bot.backends.local.models import AsrChoice, Decoded
from bot.backends.local.stt import LocalBackend, confidence
from bot.bridge.app import create_app
from bot.bridge.protocol import encode_frame
from bot.bridge.recorder import MeetingRecorder
from bot.demo.speech import speak
from bot.pipeline import MeetingFacts, Transcriber, build_report
from bot.report.model import MeetingInfo, ParticipantSummary, Report, Segment, Word
from bot.report.render import LOW_CONFIDENCE, render_email, render_markdown
from tests.test_people import _Backend, _final

RATE = 16000
XSS = "<img src=x onerror=alert(1)>"


def _pcm(audio: np.ndarray) -> bytes:
    return (np.clip(audio, -1, 1) * 32767).astype("<i2").tobytes()


def _noisy(speech: np.ndarray, seed: int) -> np.ndarray:
    """``speech`` under white noise as loud as the speech itself (0 dB SNR); the same noise on every run."""
    rms = float(np.sqrt(np.mean(speech**2)))
    noise = np.random.default_rng(seed).normal(0.0, rms, len(speech))
    return (speech + noise).astype(np.float32)


def _backend(tmp_path_factory: pytest.TempPathFactory) -> LocalBackend:
    from tests.test_replay import _backend as replay_backend

    return replay_backend(tmp_path_factory)


async def _decode_all(backend: LocalBackend, audio: dict[str, np.ndarray]) -> dict[str, list[BackendEvent]]:
    """Push each participant's audio at once (so utterances wait together), end, and collect the events."""
    streams = {k: await backend.open_stream(Participant(k, k)) for k in audio}
    for k, a in audio.items():
        await streams[k].push_audio(_pcm(np.concatenate([a, np.zeros(RATE, np.float32)])))
    events: dict[str, list[BackendEvent]] = {k: [] for k in audio}

    async def read(k: str) -> None:
        events[k] = [e async for e in streams[k].events()]

    readers = [asyncio.create_task(read(k)) for k in streams]
    await asyncio.gather(*(s.end_input() for s in streams.values()))
    await asyncio.gather(*readers)
    return events


# ---- confidence from the local backend --------------------------------------------------------------------


def test_confidence_is_the_mean_word_probability() -> None:
    words = (Word(text="a", start_s=0, end_s=1, probability=0.9), Word(text="b", start_s=1, end_s=2, probability=0.4),
             Word(text="c", start_s=2, end_s=3))
    assert confidence(words) == 0.65  # a word without a probability does not count
    assert confidence((Word(text="x", start_s=0, end_s=1),)) is None and confidence(()) is None


@pytest.mark.asr
async def test_whisper_confidence_is_lower_for_noisy_speech(tmp_path_factory) -> None:  # type: ignore[no-untyped-def]
    # Measured (Whisper base int8): clean 0.82 / 0.75, the same sentences under 0 dB white noise 0.55 / 0.50.
    backend = _backend(tmp_path_factory)
    await backend.prepare()
    recognizer = backend.recognition()
    assert recognizer.recognizer and "whisper" in recognizer.recognizer
    lines = ["Can we start with the budget?", "Please review the launch plan before Friday."]
    clean = {f"clean{n}": speak(text, "en-us") for n, text in enumerate(lines)}
    noisy = {f"noisy{n}": _noisy(clean[f"clean{n}"], seed=n) for n in range(len(lines))}
    found: dict[str, BackendEvent] = {}
    for audio in (clean, noisy):  # one set at a time: each utterance decoded alone
        for k, events in (await _decode_all(backend, audio)).items():
            (found[k],) = events
    await backend.aclose()
    for k, event in found.items():
        assert event.confidence is not None and 0 < event.confidence <= 1, (k, event)
        assert event.confidence == confidence(event.words)  # carried on the event, from its own words
    for n in range(len(lines)):
        assert found[f"clean{n}"].confidence > found[f"noisy{n}"].confidence + 0.1, found  # type: ignore[operator]
    assert segments_from(list(found.values()), {})[0].confidence == found["clean0"].confidence


@pytest.mark.asr
async def test_a_packed_decode_gives_each_utterance_its_own_confidence(tmp_path_factory) -> None:  # type: ignore[no-untyped-def]
    backend = _backend(tmp_path_factory)
    await backend.prepare()
    clean = speak("Can we start with the budget?", "en-us")
    noisy = _noisy(speak("Please review the launch plan before Friday.", "en-us"), seed=1)
    events = await _decode_all(backend, {"a": clean, "b": noisy})
    await backend.aclose()
    assert backend.decodes == 1  # both waited, so one decode served both
    (a,), (b,) = events["a"], events["b"]
    assert a.confidence == confidence(a.words) and b.confidence == confidence(b.words)
    assert a.confidence is not None and b.confidence is not None
    assert a.confidence > b.confidence  # not one figure for the whole pack
    pooled = confidence((*a.words, *b.words))
    assert a.confidence != pooled and b.confidence != pooled


async def test_a_recognizer_without_word_probabilities_gives_no_confidence() -> None:
    class Sphinxish:  # what SphinxRecognizer returns: text, no words
        name = "sphinx-like"
        word_timestamps = False

        def decode(self, audio: np.ndarray, hints: str | None = None) -> Decoded:
            return Decoded(text="hello world")

    backend = LocalBackend(AsrChoice(), loader=lambda choice: (Sphinxish(), []), gate=None)
    events = await _decode_all(backend, {"a": speak("Hello world.", "en-us")})
    await backend.aclose()
    (event,) = events["a"]
    assert event.text == "hello world" and event.confidence is None


# ---- the email marks low-confidence words -------------------------------------------------------------


def _meeting() -> MeetingInfo:
    return MeetingInfo(id="m", title="Sync", started_at=datetime(2026, 11, 25, 10, tzinfo=UTC),
                       ended_at=datetime(2026, 11, 25, 10, 5, tzinfo=UTC), duration_s=300.0)


def _words(*pairs: tuple[str, float | None]) -> list[Word]:
    return [Word(text=t, start_s=i, end_s=i + 0.5, probability=p) for i, (t, p) in enumerate(pairs)]


def _report(**kw: Any) -> Report:
    words = _words(("Please", 0.95), ("review", 0.31), (XSS, 0.2), ("the", None), ("plan.", LOW_CONFIDENCE))
    transcript = [
        Segment(participant_id="a", name="Ann", start_s=1.0, end_s=4.0, text=" ".join(w.text for w in words),
                words=words, confidence=0.6),
        Segment(participant_id="b", name=XSS, start_s=65.0, end_s=66.0, text=f"No words {XSS} here."),
    ]
    participants = [ParticipantSummary(id="a", name="Ann", talk_time_s=3.0, transcribed_s=3.0),
                    ParticipantSummary(id="b", name=XSS, talk_time_s=1.0, transcribed_s=1.0)]
    return Report(meeting=_meeting(), backend="local", transcript=transcript, participants=participants, **kw)


LOW = '<span class="low" title="low confidence" style="color:#9ca3af;border-bottom:1px dotted;">'


def test_html_marks_low_confidence_words_and_escapes_them() -> None:
    html = render_email(_report()).html
    assert ">Transcript</h2>" in html
    assert f"{LOW}review</span>" in html
    assert f"{LOW}&lt;img src=x onerror=alert(1)&gt;</span>" in html  # marked, and inert
    assert "<img" not in html
    assert html.count('class="low"') == 2  # not "Please" (0.95), "the" (no probability) or "plan." (at the threshold)
    assert "Please " in html and "plan." in html
    # a segment without words is its text, escaped and unmarked
    assert "No words &lt;img src=x onerror=alert(1)&gt; here." in html
    assert "01:05" in html and "<b>&lt;img src=x onerror=alert(1)&gt;:</b>" in html  # time, escaped name
    assert "recognised with low confidence" in html


def test_text_and_markdown_carry_the_transcript_unmarked() -> None:
    report = _report()
    text, md = render_email(report).text, render_markdown(report)
    assert "\nTRANSCRIPT\n----------\n" in text and "\n## Transcript\n" in md
    assert f"[00:01] Ann: Please review {XSS} the plan.\n" in text  # plain text: as said, no markers
    assert r"**Ann:** Please review \<img src=x onerror=alert(1)\> the plan." in md
    assert "low" not in text.split("TRANSCRIPT")[1]


def test_words_that_do_not_spell_the_text_are_not_shown_for_it() -> None:
    seg = Segment(participant_id="a", name="Ann", start_s=1, end_s=3, text="Ship it on Friday.",
                  words=[Word(text="Ship", start_s=1, end_s=1.5, probability=0.2)])  # the rest of the words missing
    html = render_email(Report(meeting=_meeting(), backend="local", transcript=[seg])).html
    assert "Ship it on Friday." in html and 'class="low"' not in html


def test_no_transcript_no_section_and_a_long_one_is_cut() -> None:
    empty = Report(meeting=_meeting(), backend="local")
    assert "Transcript" not in render_email(empty).html and "TRANSCRIPT" not in render_email(empty).text
    line = "word " * 199 + "end."
    long = Report(meeting=_meeting(), backend="local", transcript=[
        Segment(participant_id="a", name="Ann", start_s=float(i), end_s=i + 0.5, text=line) for i in range(100)])
    email = render_email(long)
    shown = email.text.count("] Ann: ")
    assert 0 < shown < 100
    assert f"{100 - shown} more lines in transcript.txt" in email.text
    assert f"{100 - shown} more lines in transcript.txt" in email.html
    assert len(email.html.encode()) < 102_000  # below where Gmail clips a message
    # the same when every word is of low confidence (its markup is the largest)
    words = [Word(text="word", start_s=0, end_s=1, probability=0.1)] * 199 + [Word(text="end.", start_s=1, end_s=2,
                                                                                  probability=0.1)]
    low = long.model_copy(update={"transcript": [s.model_copy(update={"words": words}) for s in long.transcript]})
    html = render_email(low).html
    assert 'class="low"' in html and "more lines in transcript.txt" in html and len(html.encode()) < 102_000


# ---- lost and transcribed seconds per participant ------------------------------------------------------


def _track(index: int, pid: str, name: str) -> str:
    return json.dumps({"type": "track", "track": index, "track_id": f"mst-{index}", "participant_id": pid,
                       "display_name": name})


async def test_lost_and_transcribed_seconds_from_a_recorder_with_known_losses(
        aiohttp_client, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    # Ann (a1) loses 100 ms to a starved audio thread, then rejoins as a2 and loses 40 ms of frames that never
    # arrived; Ben loses nothing; Cy was present without any track.
    origin = 1_000_000.0
    recorder = MeetingRecorder(tmp_path / "audio", origin_ms=origin)
    client = await aiohttp_client(create_app(recorder, lambda conn, msg: None, token="t", max_frame_bytes=4096))
    ws = await client.ws_connect("/audio?token=t")
    frame = np.full(320, 100, dtype="<i2").tobytes()
    await ws.send_str(_track(0, "a1", "Ann"))
    await ws.send_str(_track(1, "b", "Ben"))
    for seq, t in enumerate((0, 20, 140, 160)):  # the capture clock skips 100 ms
        await ws.send_bytes(encode_frame(0, seq, origin + t, frame))
    for seq in range(4):
        await ws.send_bytes(encode_frame(1, seq, origin + seq * 20, frame))
    await ws.send_str(_track(2, "a2", "Ann"))
    for seq, t in ((0, 12_000), (1, 12_020), (4, 12_080)):  # frames 2 and 3 never arrive
        await ws.send_bytes(encode_frame(2, seq, origin + t, frame))
    await ws.close()
    assert recorder.missing_seconds_by_participant() == {"a1": 0.1, "a2": 0.04, "b": 0.0}

    transcriber = Transcriber(_Backend({"a1": [(1.0, 3.0)], "a2": [(12.0, 14.5)], "b": [(5.0, 6.0)]}))  # type: ignore[arg-type]
    transcriber.names.update({"a1": "Ann", "a2": "Ann", "b": "Ben"})
    transcriber.events += [_final("a1", "Hello there.", 1.0, 3.0), _final("a2", "I am back.", 12.0, 14.5),
                           _final("a2", "Overlapping words.", 14.0, 15.0), _final("b", "Hi.", 5.0, 5.75)]
    facts = MeetingFacts(
        id="m", title="t", started_at=datetime(2026, 11, 25, 10, tzinfo=UTC), duration_s=40.0,
        presence={"a1": (0.0, 10.0), "a2": (11.0, 30.0), "b": (0.0, None), "c": (2.0, 39.0)},
        people={"a1": ["Ann"], "a2": ["Ann"], "b": ["Ben"], "c": ["Cy"]},
        audio_s=recorder.captured_seconds(), lost_s=recorder.missing_seconds_by_participant(),
    )
    report = build_report(facts, transcriber)
    got = {p.name: (p.other_ids, p.lost_s, p.transcribed_s) for p in report.participants}
    # Ann: both ids' losses; 2 s + 3 s of segments (12-14.5 and 14-15 overlap by half a second)
    assert got == {"Ann": (["a2"], 0.14, 5.0), "Ben": ([], 0.0, 0.75), "Cy": ([], 0.0, 0.0)}

    email = render_email(report)
    assert "0.1 s of audio lost" in email.html and "0.0 s of audio lost" in email.html
    assert "00:05 transcribed" in email.html
    assert "· 00:05 transcribed · 0.1 s of audio lost\n" in email.text
    md = render_markdown(report)
    assert "| Transcribed | Audio lost |" in md and "| 00:05 | 0.1 s |" in md


def test_nothing_lost_shows_no_lost_figures_and_replay_has_none() -> None:
    transcriber = Transcriber(_Backend({"x": [(0.0, 1.0)]}))  # type: ignore[arg-type]
    transcriber.names["x"] = "Xena"
    transcriber.events.append(_final("x", "Hello.", 0.0, 1.0))
    replay = MeetingFacts(id="r", title="t", started_at=datetime(2026, 11, 25, tzinfo=UTC), duration_s=5.0)
    (p,) = build_report(replay, transcriber).participants
    assert (p.lost_s, p.transcribed_s) == (None, 1.0)  # replay: nothing could be lost

    joined = MeetingFacts(id="j", title="t", started_at=datetime(2026, 11, 25, tzinfo=UTC), duration_s=5.0,
                          lost_s={"x": 0.01})
    report = build_report(joined, transcriber)
    assert report.participants[0].lost_s == 0.01
    email = render_email(report)
    assert "audio lost" not in email.html and "audio lost" not in email.text  # below what is worth showing
    assert "Audio lost" not in render_markdown(report)
