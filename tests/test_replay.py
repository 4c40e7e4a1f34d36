"""`jitsi-bot replay` on a scripted meeting rendered with espeak-ng: transcript accuracy and insights."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import wave
from datetime import UTC, date, datetime, time
from pathlib import Path

import numpy as np
import pytest

from bot.backends.local.models import AsrChoice
from bot.backends.local.stt import LocalBackend
from bot.demo.meeting import MEETING
from bot.demo.speech import Meeting, render, wer, words
from bot.replay import ReplayInputError, load_track, participants_for, replay
from bot.report.model import Insight, Report

pytestmark = pytest.mark.asr


def _backend(tmp_path_factory: pytest.TempPathFactory) -> LocalBackend:
    cache = Path(os.environ.get("BOT_ASR__CACHE_DIR", tmp_path_factory.getbasetemp() / "asr-cache"))
    return LocalBackend(AsrChoice(cache_dir=cache, allow_download=False))


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[Path], list[tuple[str, float, float]]]:
    return render(MEETING, tmp_path_factory.mktemp("launch"))


@pytest.fixture(scope="module")
def report(rendered, tmp_path_factory) -> Report:  # type: ignore[no-untyped-def]
    paths, _ = rendered
    out = tmp_path_factory.mktemp("report")
    # The meeting's own date (a Wednesday), whatever day the tests run: "by Thursday" is the 26th.
    started = datetime.combine(date.fromisoformat(MEETING.date), time(10), UTC)
    return asyncio.run(replay(paths, _backend(tmp_path_factory), out, title=MEETING.title, started_at=started))


def _line_of(insight: Insight, meeting: Meeting, spans: list[tuple[str, float, float]]) -> int | None:
    for i, (speaker, start, end) in enumerate(spans):
        if speaker == insight.speaker and start - 0.5 <= insight.start_s <= end + 0.5:
            return i
    return None


def test_transcript_is_accurate_and_attributed(report: Report, rendered) -> None:  # type: ignore[no-untyped-def]
    _, spans = rendered
    assert report.recognizer is not None and "faster-whisper" in report.recognizer
    reference = [w for line in MEETING.lines for w in words(line.text)]
    hypothesis = [w for seg in report.transcript for w in words(seg.text)]
    assert wer(reference, hypothesis) <= 0.15
    for seg in report.transcript:  # every segment is attributed to the person who said it, in time
        owners = {s for s, start, end in spans if start - 0.5 <= seg.start_s <= end + 0.5}
        assert seg.name in owners, seg
    assert {p.name for p in report.participants} == set(MEETING.voices)


def test_every_question_is_found(report: Report, rendered) -> None:  # type: ignore[no-untyped-def]
    _, spans = rendered
    found = {_line_of(q, MEETING, spans) for q in report.questions}
    expected = {i for i, line in enumerate(MEETING.lines) if line.question}
    assert expected <= found


def test_action_items_owners_and_dates(report: Report, rendered) -> None:  # type: ignore[no-untyped-def]
    _, spans = rendered
    expected = {i: line for i, line in enumerate(MEETING.lines) if line.action_owner is not None}
    found = {_line_of(a, MEETING, spans): a for a in report.action_items}
    hits = [i for i in expected if i in found]
    assert len(hits) >= 0.8 * len(expected), (sorted(expected), sorted(k for k in found if k is not None))
    for i in hits:
        line, item = expected[i], found[i]
        assert (item.owner or "") == line.action_owner, (line.text, item)
        said = set(words(item.text))
        if line.due and said & set(words(line.text)[-2:]):  # the due phrase itself was heard right
            assert item.due_date == date.fromisoformat(line.due), (line.text, item)


def test_follow_up_sentiment_and_talk_time(report: Report, rendered) -> None:  # type: ignore[no-untyped-def]
    _, spans = rendered
    assert {_line_of(f, MEETING, spans) for f in report.follow_ups} >= {
        i for i, line in enumerate(MEETING.lines) if line.follow_up}
    # "thanks for joining", "Great work everyone": a friendly meeting, and nobody talks over anyone.
    assert report.sentiment.label == "positive" and report.sentiment.overall > 0
    spoken = sum(end - start for _, start, end in spans)
    assert abs(report.analytics.talk_s - spoken) < 0.15 * spoken and report.analytics.overlap_s < 0.5


def _wav(path: Path, data: np.ndarray, rate: int, channels: int = 1) -> Path:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes((data * 32767).astype("<i2").tobytes())
    return path


def test_stereo_and_other_rates_are_converted(tmp_path: Path) -> None:
    t = np.arange(44100) / 44100
    tone = 0.5 * np.sin(2 * np.pi * 440 * t)
    stereo = np.stack([tone, tone], axis=1).reshape(-1)
    path = _wav(tmp_path / "x.wav", stereo, 44100, channels=2)
    track = load_track(path, participants_for([path], None)[0])
    assert abs(track.seconds - 1.0) < 0.01
    assert any("mixed down" in n for n in track.notes) and any("resampled" in n for n in track.notes)


def test_names_from_join_manifest_and_flag(tmp_path: Path) -> None:
    files = [tmp_path / "Ann-a1.wav", tmp_path / "Bo-b2.wav"]
    (tmp_path / "participants.json").write_text(json.dumps({"origin_ms": 0, "participants": [
        {"participant_id": "a1", "display_name": "Ann", "names": ["Ann", "Ann Lee"], "file": "Ann-a1.wav"}]}))
    people = participants_for(files, None)
    assert [(p.id, p.name) for p in people] == [("a1", "Ann Lee"), ("Bo-b2", "Bo-b2")]
    assert [p.name for p in participants_for(files, ["X", "Y"])] == ["X", "Y"]
    with pytest.raises(ReplayInputError, match="2 files"):
        participants_for(files, ["only one"])


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda d: d / "missing.wav", "no such file"),
        (lambda d: (d / "text.wav").write_text("not audio") and d / "text.wav", "not a RIFF"),
    ],
)
def test_bad_input_gets_a_clear_message(tmp_path: Path, make, message: str) -> None:  # type: ignore[no-untyped-def]
    path = make(tmp_path)
    proc = subprocess.run([sys.executable, "-m", "bot", "replay", str(path), "--out", str(tmp_path / "o")],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert message in proc.stderr and "Traceback" not in proc.stderr
