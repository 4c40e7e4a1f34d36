"""The Symbl backend against the protocol double: per-speaker streams, frames, resume after a drop, auth."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from bot.backends.base import BackendEvent, EventKind, Participant
from bot.backends.symbl.backend import SymblBackend
from bot.config import load_settings
from tests.doubles.symbl import SymblDouble
from tests.test_symbl_double import ACTION_HZ, HELLO_HZ, PHRASES, QUESTION_HZ, ToneRecognizer, pcm, silence, tone


def _backend(double: SymblDouble, **symbl: object) -> SymblBackend:
    values = {"base_url": double.base_url, "app_id": double.app_id, "app_secret": double.app_secret,
              "retry_interval_s": 0.05, **symbl}
    return SymblBackend(load_settings(None, {"symbl": values}).symbl, meeting_title="Weekly")


def _plain(text: str) -> str:
    return " ".join("".join(c for c in text.lower() if c.isalnum() or c.isspace()).split())


def _speech(*tones: float) -> bytes:
    parts = [silence(0.3)]
    for hz in tones:
        parts += [tone(hz, 1.2), silence(1.2)]
    return pcm(np.concatenate(parts))


async def _run(backend: SymblBackend, talk: dict[Participant, bytes], chunk_s: float = 0.1) -> list[BackendEvent]:
    events: list[BackendEvent] = []
    streams = {p: await backend.open_stream(p) for p in talk}

    async def read(stream) -> None:  # type: ignore[no-untyped-def]
        async for e in stream.events():
            events.append(e)

    readers = [asyncio.create_task(read(s)) for s in streams.values()]
    step = int(chunk_s * 16000) * 2
    longest = max(len(a) for a in talk.values())
    for offset in range(0, longest, step):
        for p, audio in talk.items():
            if offset < len(audio):
                await streams[p].push_audio(audio[offset : offset + step], offset / 32000)
        await asyncio.sleep(0.005)
    await asyncio.gather(*(s.end_input() for s in streams.values()))
    await asyncio.gather(*readers)
    return events


def _finals(events: list[BackendEvent], pid: str) -> str:
    """Final text of one participant, lowercase without punctuation (Symbl punctuates)."""
    text = " ".join(e.text for e in events if e.kind is EventKind.FINAL and e.participant_id == pid)
    return " ".join("".join(c for c in text.lower() if c.isalnum() or c.isspace()).split())


async def test_each_participant_streams_as_its_own_speaker() -> None:
    async with SymblDouble(ToneRecognizer()) as double:
        backend = _backend(double)
        ann, bob = Participant("ann1", "Ann"), Participant("bob2", "Bob")
        events = await _run(backend, {ann: _speech(HELLO_HZ, QUESTION_HZ), bob: _speech(ACTION_HZ)})
        await backend.aclose()
        assert _plain(PHRASES[HELLO_HZ]) in _finals(events, "ann1")
        assert _plain(PHRASES[QUESTION_HZ]) in _finals(events, "ann1")
        assert _plain(PHRASES[ACTION_HZ]) in _finals(events, "bob2") and "hello" not in _finals(events, "bob2")
        assert double.max_frame_size <= 8192 and double.early_audio_bytes == 0
        speakers = [r["speaker"] for r in double.start_requests]
        assert {s["userId"] for s in speakers} == {"ann1", "bob2"} and all("@" not in s["name"] for s in speakers)
        assert len(double.conversation_ids(backend.connection_id)) == 1  # one conversation, one connection id
        labels = {e.label for e in events if e.kind is EventKind.INSIGHT}
        assert "question" in labels
        # Symbl's ASR confidence reaches the finals (the double says 0.9 when its recognizer gives no word
        # probabilities, as this tone recognizer does).
        assert {e.confidence for e in events if e.kind is EventKind.FINAL} == {0.9}


async def test_a_dropped_socket_loses_no_words() -> None:
    async with SymblDouble(ToneRecognizer(), drop_after_frames=12) as double:
        backend = _backend(double)
        ann = Participant("ann1", "Ann")
        events = await _run(backend, {ann: _speech(HELLO_HZ, QUESTION_HZ, ACTION_HZ)})
        await backend.aclose()
        said = _finals(events, "ann1")
        for hz in (HELLO_HZ, QUESTION_HZ, ACTION_HZ):
            assert _plain(PHRASES[hz]) in said, said
        assert backend.streams[0].connections == 2
        assert backend.recognition().warnings == []


@pytest.mark.parametrize("where", ["token", "socket"])
async def test_bad_credentials_fail_fast_with_a_clear_message(where: str) -> None:
    async with SymblDouble(ToneRecognizer()) as double:
        if where == "socket":
            double.ws_fail_with = 401
        backend = _backend(double, app_secret="wrong-secret" if where == "token" else double.app_secret)
        ann = Participant("ann1", "Ann")
        events = await asyncio.wait_for(_run(backend, {ann: _speech(HELLO_HZ)}), 20)
        await backend.aclose()
        assert not [e for e in events if e.kind is EventKind.FINAL]
        (warning,) = backend.recognition().warnings
        assert "symbl.app_id" in warning or "symbl.app_secret" in warning
        assert "wrong-secret" not in warning
        ws_attempts = [c for c in double.calls if "/v1/" in c.path and c.method == "GET"]
        assert len(ws_attempts) <= 1  # no reconnect loop on a refused token


async def test_token_in_query_is_a_fallback() -> None:
    async with SymblDouble(ToneRecognizer()) as double:
        backend = _backend(double, token_in="query")
        await _run(backend, {Participant("ann1", "Ann"): _speech(HELLO_HZ)})
        await backend.aclose()
        assert set(double.auth_methods) == {"query"}


@pytest.mark.asr
async def test_replay_with_the_symbl_backend(tmp_path, tmp_path_factory) -> None:  # type: ignore[no-untyped-def]
    import json
    import os
    import sys

    from bot.backends.local.models import AsrChoice, load_recognizer
    from bot.demo.meeting import MEETING
    from bot.demo.speech import render, wer, words

    paths, _ = render(MEETING, tmp_path / "wavs")
    cache = tmp_path_factory.getbasetemp() / "asr-cache"
    recognizer, _ = await asyncio.to_thread(load_recognizer, AsrChoice(cache_dir=cache, allow_download=False))
    async with SymblDouble(recognizer) as double:
        env = {**os.environ, "BOT_BACKEND": "symbl", "BOT_SYMBL__BASE_URL": double.base_url,
               "BOT_SYMBL__APP_ID": double.app_id, "BOT_SYMBL__APP_SECRET": double.app_secret}
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "replay", *map(str, paths), "--out", str(tmp_path / "out"), env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        _, err = await asyncio.wait_for(proc.communicate(), 240)
        assert proc.returncode == 0, err.decode()[-2000:]
        assert double.max_frame_size <= 8192 and double.early_audio_bytes == 0
        assert double.app_secret not in err.decode()
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["backend"] == "symbl" and report["recognizer"].startswith("Symbl")
    assert {s["name"] for s in report["transcript"]} == set(MEETING.voices)
    reference = [w for line in MEETING.lines for w in words(line.text)]
    hypothesis = [w for seg in report["transcript"] for w in words(seg["text"])]
    assert wer(reference, hypothesis) <= 0.2


async def test_a_dead_streaming_api_falls_back_to_async_then_to_local(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import wave

    from bot.backends.local.stt import LocalBackend
    from bot.replay import replay

    wav = tmp_path / "ann.wav"
    with wave.open(str(wav), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(_speech(QUESTION_HZ, ACTION_HZ))
    tones = ToneRecognizer()
    for async_works in (True, False):
        async with SymblDouble(tones, ws_fail_with=500, job_polls=1, async_fail_with=None if async_works else 500) \
                as double:
            settings = load_settings(None, {"symbl": {"base_url": double.base_url, "app_id": double.app_id,
                                                      "app_secret": double.app_secret, "retry_interval_s": 0.01,
                                                      "max_retry": 1}}).symbl
            local = lambda: LocalBackend(loader=lambda choice: (tones, []), gate=None)  # noqa: E731
            backend = SymblBackend(settings, local_fallback=local, async_poll_s=0.01)
            report = await replay([wav], backend, tmp_path / f"out-{async_works}", names=["Ann"])
        said = " ".join(s.text for s in report.transcript).lower()
        assert "budget" in said and "friday" in said, (async_works, said)
        warnings = " ".join(report.warnings)
        assert "Symbl streaming failed" in warnings
        assert ("Async API" in warnings) and (("local backend" in warnings) is not async_works)
        assert double.app_secret not in report.model_dump_json()


def _tone_files(folder):  # type: ignore[no-untyped-def]
    """Ann asking a question and Bob taking an action, as the double's tone recognizer hears them (WAV files)."""
    import wave

    files = []
    for name, hz in (("ann", QUESTION_HZ), ("bob", ACTION_HZ)):
        path = folder / f"{name}.wav"
        with wave.open(str(path), "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(16000)
            w.writeframes(_speech(hz))
        files.append(path)
    return files


async def test_the_report_carries_symbls_own_insights(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from bot.replay import replay

    files = _tone_files(tmp_path)
    async with SymblDouble(ToneRecognizer()) as double:
        report = await replay(files, _backend(double), tmp_path / "out", names=["Ann", "Bob"])
        secret = double.app_secret
        fetched = {c.path.rsplit("/", 1)[-1] for c in double.calls if c.path.startswith("/v1/conversations/")}
    assert {"messages", "questions", "action-items", "follow-ups", "topics", "summary"} <= fetched
    assert [q.speaker for q in report.questions] == ["Ann"]
    assert "budget" in report.questions[0].text.lower()
    (action,) = report.action_items
    assert action.speaker == "Bob" and action.owner == "Bob" and "friday" in action.text.lower()
    assert report.topics and all(0 <= t.score <= 1 for t in report.topics)
    assert secret not in report.model_dump_json()


@pytest.mark.e2e
async def test_join_with_symbl_keeps_credentials_out_of_the_page(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from bot.demo.room import FakeJitsiRoom
    from bot.meeting.browser import BrowserSession
    from bot.outcome import EndReason
    from bot.session import MeetingSession
    from tests.conftest import TEST_BROWSER_ARGS

    browsers: list[BrowserSession] = []

    def factory(*args, **kwargs):  # type: ignore[no-untyped-def]
        browsers.append(BrowserSession(*args, **kwargs))
        return browsers[-1]

    async with SymblDouble(ToneRecognizer()) as double, FakeJitsiRoom() as room:
        settings = load_settings(None, {
            "backend": "symbl",
            "symbl": {"base_url": double.base_url, "app_id": double.app_id, "app_secret": double.app_secret},
            "meeting": {"empty_grace_s": 1.5}, "browser": {"extra_args": TEST_BROWSER_ARGS}})
        backend = SymblBackend(settings.symbl)
        session = MeetingSession(settings, room.url(), tmp_path / "out", meeting_id="symbl-live", backend=backend,
                                 browser_factory=factory)
        task = asyncio.create_task(session.run())
        async with asyncio.timeout(30):
            while session.state != "in_call":
                await asyncio.sleep(0.05)
        await room.add_participant("ann1", "Ann", tone_hz=QUESTION_HZ)
        await asyncio.sleep(3)
        context = browsers[0].context
        assert context is not None
        page = context.pages[0]
        seen = await page.content() + await page.evaluate(
            "() => JSON.stringify(Object.keys(window)) + JSON.stringify(localStorage) + document.cookie")
        for secret in (double.app_secret, double.app_id):
            assert secret not in seen and secret not in page.url
        await room.remove_participant("ann1")
        result = await asyncio.wait_for(task, 60)
    assert result.reason is EndReason.ROOM_EMPTY
    report = (tmp_path / "out" / "report.json").read_text()
    assert '"backend": "symbl"' in report and "budget" in report.lower()
    assert double.app_secret not in report
    assert all(double.app_secret not in p.read_text(errors="ignore") for p in (tmp_path / "out").rglob("*.json"))


async def test_symbls_tracker_hits_fill_the_reports_trackers(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from bot.replay import replay

    files = _tone_files(tmp_path)
    # "budgets" is a similar (offset -1) match for the double; "report by" an exact one; "contract" none
    trackers = {"money": ["budgets", "report by"], "legal": ["contract"]}
    async with SymblDouble(ToneRecognizer()) as double:
        settings = load_settings(None, {"symbl": {"base_url": double.base_url, "app_id": double.app_id,
                                                  "app_secret": double.app_secret, "retry_interval_s": 0.05}})
        backend = SymblBackend(settings.symbl, meeting_title="Weekly", trackers=trackers)
        report = await replay(files, backend, tmp_path / "out", names=["Ann", "Bob"], trackers=trackers)
        sent = [r.get("trackers") for r in double.start_requests]
        tracker_responses = [m for r in double.records for m in r.sent if m.get("type") == "tracker_response"]
    assert sent and all(t == [{"name": "money", "vocabulary": ["budgets", "report by"]},
                              {"name": "legal", "vocabulary": ["contract"]}] for t in sent)
    assert tracker_responses  # every socket gets every speaker's hits: the report has each once
    money, legal = report.trackers
    assert (money.name, legal.name, legal.mentions) == ("money", "legal", [])
    got = [(m.speaker_id, m.speaker, m.phrase, m.text) for m in money.mentions]
    assert sorted(got) == sorted([("ann", "Ann", "budgets", "budgets"), ("bob", "Bob", "budgets", "budgets"),
                                  ("bob", "Bob", "report by", "report by")])
    ann = next(m for m in money.mentions if m.speaker_id == "ann")
    assert "budget" in ann.sentence.lower() and ann.sentence.endswith("?")
    bob = next(m for m in money.mentions if m.phrase == "report by")
    assert "friday" in bob.sentence.lower()
    # times on the meeting timeline: each speaker's tone starts 0.3 s in and lasts 1.2 s
    assert all(0.0 <= m.start_s <= 1.6 for m in money.mentions)
