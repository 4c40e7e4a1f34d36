"""People in the report: a rejoin is one person, a person without audio is listed and warned about."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from bot.backends.base import BackendEvent, EventKind, Recognition
from bot.pipeline import MeetingFacts, Transcriber, build_report
from bot.report.people import aliases, people


def test_a_rejoin_with_the_same_name_is_one_person() -> None:
    persons = people({"a1": ["Ann"], "b": ["Bob"], "a2": ["ann "]},
                     {"a1": (0.0, 10.0), "b": (1.0, None), "a2": (10.5, None)})
    assert [(p.id, p.name, p.ids, p.joined_s, p.left_s) for p in persons] == [
        ("a1", "ann ", ("a1", "a2"), 0.0, None), ("b", "Bob", ("b",), 1.0, None)]
    assert aliases(persons) == {"a1": "a1", "a2": "a1", "b": "b"}


def test_a_rename_before_or_after_the_rejoin_still_matches() -> None:
    persons = people({"a1": ["Ann", "Ann B."], "a2": ["Ann B.", "Ann Bell"]},
                     {"a1": (0.0, 10.0), "a2": (11.0, 20.0)})
    assert [(p.name, p.ids) for p in persons] == [("Ann Bell", ("a1", "a2"))]


def test_two_people_present_together_are_never_merged() -> None:
    persons = people({"x": ["iPhone"], "y": ["iPhone"]}, {"x": (0.0, 30.0), "y": (5.0, 40.0)})
    assert [p.ids for p in persons] == [("x",), ("y",)]


def test_without_presence_nothing_is_merged() -> None:
    # replay: ids come from files, nobody knows who was there when
    assert [p.ids for p in people({"x": ["Ann"], "y": ["Ann"]}, {})] == [("x",), ("y",)]


class _Backend:
    """Just enough of a ConversationBackend for build_report: what recognition produced."""

    name = "test"

    def __init__(self, speech: dict[str, list[tuple[float, float]]]) -> None:
        self._speech = speech

    def recognition(self) -> Recognition:
        return Recognition(recognizer="test", speech=self._speech)


def _final(pid: str, text: str, start: float, end: float) -> BackendEvent:
    return BackendEvent(EventKind.FINAL, pid, text, start, end)


def test_report_merges_rejoins_and_warns_about_people_without_audio() -> None:
    backend: Any = _Backend({"a1": [(1.0, 3.0)], "a2": [(12.0, 14.0)]})
    transcriber = Transcriber(backend)
    transcriber.names.update({"a1": "Ann", "a2": "Ann"})
    transcriber.events += [_final("a1", "Hello there.", 1.0, 3.0), _final("a2", "I am back.", 12.0, 14.0)]
    facts = MeetingFacts(
        id="m", title="t", started_at=datetime(2026, 11, 25, 10, tzinfo=UTC), duration_s=40.0,
        presence={"a1": (0.0, 10.0), "a2": (11.0, 30.0), "c": (2.0, 39.0)},
        people={"a1": ["Ann"], "a2": ["Ann", "Ann Bell"], "c": ["Carl"]},
        audio_s={"a1": 9.0, "a2": 18.0},
    )
    report = build_report(facts, transcriber)
    assert [(p.id, p.name, p.other_ids, p.joined_s, p.left_s, p.talk_time_s, p.utterances)
            for p in report.participants] == [
        ("a1", "Ann Bell", ["a2"], 0.0, 30.0, 4.0, 2), ("c", "Carl", [], 2.0, 39.0, 0.0, 0)]
    assert [(s.participant_id, s.name) for s in report.transcript] == [("a1", "Ann Bell"), ("a1", "Ann Bell")]
    assert report.warnings == ["Carl: present 37 s, no audio received"]


def test_replay_reports_no_presence_warnings() -> None:
    backend: Any = _Backend({"x": [(0.0, 1.0)]})
    transcriber = Transcriber(backend)
    transcriber.names["x"] = "Xena"
    facts = MeetingFacts(id="r", title="t", started_at=datetime(2026, 11, 25, tzinfo=UTC), duration_s=5.0)
    assert build_report(facts, transcriber).warnings == []


def test_time_without_a_forwarded_track_is_stated() -> None:
    # A bridge forwarding only the loudest speakers gave Bea a slot for 40 of her 100 s.
    backend: Any = _Backend({"a": [(1.0, 3.0)], "b": [(50.0, 52.0)]})
    transcriber = Transcriber(backend)
    transcriber.names.update({"a": "Ann", "b": "Bea"})
    facts = MeetingFacts(
        id="m", title="t", started_at=datetime(2026, 11, 25, 10, tzinfo=UTC), duration_s=100.0,
        presence={"a": (0.0, None), "b": (0.0, None)}, people={"a": ["Ann"], "b": ["Bea"]},
        audio_s={"a": 99.2, "b": 40.0},
    )
    report = build_report(facts, transcriber)
    assert {p.name: p.no_audio_s for p in report.participants} == {"Ann": 0.8, "Bea": 60.0}
    assert report.warnings == ["Bea: no audio forwarded to the bot for 60 s of 100 s (the bridge forwards only "
                               "the loudest speakers; speech beyond them, if any, was not received)"]


def test_time_away_between_a_leave_and_a_rejoin_is_not_time_without_audio() -> None:
    # Ann left at 40 s and was back at 56 s with a new id; her audio reached the bot whenever she was in the room.
    backend: Any = _Backend({"a1": [(1.0, 3.0)], "a2": [(60.0, 62.0)]})
    transcriber = Transcriber(backend)
    transcriber.names.update({"a1": "Ann", "a2": "Ann"})
    facts = MeetingFacts(
        id="m", title="t", started_at=datetime(2026, 11, 25, 10, tzinfo=UTC), duration_s=100.0,
        presence={"a1": (0.0, 40.0), "a2": (56.0, None)}, people={"a1": ["Ann"], "a2": ["Ann"]},
        audio_s={"a1": 40.0, "a2": 44.0},
    )
    report = build_report(facts, transcriber)
    assert [(p.name, p.other_ids, p.no_audio_s) for p in report.participants] == [("Ann", ["a2"], 0.0)]
    assert report.warnings == []
