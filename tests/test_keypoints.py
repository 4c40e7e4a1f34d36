"""Key points per topic (issue 13, item 4): what a person taking notes would write, and how the notes show it."""

from __future__ import annotations

import datetime
import re
from typing import Any

import pytest

from bot.analysis import AnalysisInput, AnalysisResult, analyse, key_points
from bot.analysis.insights import sentences_of
from bot.analysis.small_talk import is_small_talk, tidy
from bot.backends.base import BackendEvent, EventKind, PostCall
from bot.demo.meeting import MEETING
from bot.pipeline import MeetingFacts, Transcriber, build_report
from bot.report.model import Insight, KeyPoint, Segment, Topic
from bot.report.render import render_email, render_markdown
from tests.test_analysis import make_segments
from tests.test_email import HOSTILE_NAME, make_report
from tests.test_people import _Backend

MEETING_DATE = datetime.date(2026, 11, 25)
PEOPLE = {"m": "Maya", "j": "José", "k": "Kwame Mensah", "r": "Rita"}
# A meeting wrapped in small talk, with fillers in front of real statements, a decision and two action items.
LINES = [
    ("m", "Hi everyone, can you all hear me?"),
    ("j", "Yes, loud and clear. Good morning!"),
    ("k", "Morning. How was your weekend?"),
    ("r", "Great, thanks for asking. Thanks for setting this up, Maya."),
    ("m", "Thanks everyone for joining the planning meeting today. Let's get started."),
    ("m", "So, um, the checkout page got slower after the last release."),
    ("j", "Yeah, the checkout page now takes four seconds to load on mobile phones."),
    ("k", "Um, the slow part is the payment provider script that loads before the checkout form."),
    ("r", "Okay, so the payment provider script could load after the checkout form renders."),
    ("m", "We decided to move the payment provider script behind the checkout form."),
    ("j", "I will make that change by Friday."),
    ("k", "Sounds good."),
    ("m", "Next, the mobile app reviews dropped to three stars this month."),
    ("r", "Most of the bad reviews mention crashes on older Android phones."),
    ("k", "The crash reports point to the image cache running out of memory on those phones."),
    ("j", "Hmm, the image cache was changed in the October release as well."),
    ("r", "Kwame, can you look into the image cache crashes this week?"),
    ("k", "Sure, I can do that. Well, the image cache limit is set too high for older phones."),
    ("m", "Great work everyone on the checkout page, thank you so much. See you next week."),
    ("j", "Bye!"),
]
# Sentences of LINES no key point may come from: greetings, thanks, logistics, questions, acknowledgements.
NEVER = {
    "Hi everyone, can you all hear me?", "Yes, loud and clear.", "Good morning!", "Morning.", "How was your weekend?",
    "Great, thanks for asking.", "Thanks for setting this up, Maya.",
    "Thanks everyone for joining the planning meeting today.", "Let's get started.", "Sounds good.",
    "Sure, I can do that.", "Great work everyone on the checkout page, thank you so much.", "See you next week.",
    "Bye!",
}
OPENER = re.compile(r"^(?:so|um|uh|yeah|yes|okay|ok|well|hmm|next|sure|great|thanks)\b", re.I)
XSS = "<img src=x onerror=alert(1)>"


def _analyse(lines: list[tuple[str, str]], people: dict[str, str]) -> tuple[list[Segment], AnalysisResult]:
    segments = make_segments(lines, people)
    return segments, analyse(AnalysisInput(segments=segments, participants=people, speech={},
                                           duration_s=segments[-1].end_s, meeting_date=MEETING_DATE))


def _origins(segments: list[Segment], result: AnalysisResult) -> dict[str, int]:
    """Each key point -> the position of the transcript sentence it was made from (KeyError: invented text)."""
    said = {tidy(s.text): n for n, s in enumerate(sentences_of(segments))}
    return {point: said[point] for kp in result.key_points for point in kp.points}


def _check_notes(segments: list[Segment], result: AnalysisResult) -> None:
    """What holds for the key points of any meeting."""
    points = [p for kp in result.key_points for p in kp.points]
    assert points and all(kp.points for kp in result.key_points)
    assert len(points) == len(set(points))  # no sentence under two topics, nor twice under one
    assert {kp.topic for kp in result.key_points} <= {t.text for t in result.topics}
    origins = _origins(segments, result)  # every point is a sentence as said, only tidied
    sentences = [s.text for s in sentences_of(segments)]
    listed = {i.text for i in (*result.decisions, *result.action_items, *result.follow_ups)}
    asked = {q.text for q in result.questions}
    for point in points:
        source = sentences[origins[point]]
        assert source not in listed and source not in asked, point
        assert not OPENER.match(point) and point[0].isupper() and not point.endswith("?"), point
        assert not is_small_talk(point), point
    for kp in result.key_points:  # as said, within a topic
        assert [origins[p] for p in kp.points] == sorted(origins[p] for p in kp.points)
    assert result.summary == points  # the flat summary is the key points, topic by topic


# --- small talk and tidying ------------------------------------------------------------------------------


@pytest.mark.parametrize("sentence", [
    "Good morning everyone, thanks for joining the launch review.",
    "Thanks everyone for joining the planning meeting today.",
    "Thanks everyone, see you next week.",
    "Great work everyone, thank you.",
    "Can everyone hear me okay?",
    "Sorry I'm late, how was your weekend?",
    "No problem, sounds good to me.",
    "Have a great weekend everyone!",
    "Okay. I have to drop off for a few minutes, I will be right back.",
    "Good, that covers everything. Thank you all.",
])
def test_small_talk(sentence: str) -> None:
    assert is_small_talk(sentence)


@pytest.mark.parametrize("sentence", [
    "Hi all, the login bug is fixed and deployed to production.",
    "There is no problem with the database migration.",
    "Thanks to the new cache, pages load in one second.",
    "The budget is almost final, but the marketing costs went up.",
    "Great news, the vendor cut the licence price by a third.",
    "I have to leave the project team next month for the Berlin office.",
])
def test_statements_are_not_small_talk(sentence: str) -> None:
    assert not is_small_talk(sentence)


@pytest.mark.parametrize(("said", "note"), [
    ("So, um, the checkout page got slower after the last release.",
     "The checkout page got slower after the last release."),
    ("okay so we ship on friday", "We ship on friday"),
    ("Yeah, well, the venue is booked.", "The venue is booked."),
    ("Next, the mobile app reviews dropped.", "The mobile app reviews dropped."),
    # words that can start a real sentence stay unless a comma or stop follows them
    ("Good news is the build is green.", "Good news is the build is green."),
    ("Right now we have two designs.", "Right now we have two designs."),
    ("No changes to the schedule.", "No changes to the schedule."),
])
def test_tidy_takes_off_spoken_openers_only(said: str, note: str) -> None:
    assert tidy(said) == note


# --- key points on meetings ------------------------------------------------------------------------------


def test_demo_meeting_key_points() -> None:
    people = {name: name for name in MEETING.voices}
    segments, result = _analyse([(line.speaker, line.text) for line in MEETING.lines], people)
    _check_notes(segments, result)
    budget = next(kp for kp in result.key_points if kp.topic == "budget")
    assert "The budget is almost final, but the marketing costs went up." in budget.points
    # "review" is said only in the greeting ("thanks for joining the launch review"): not a topic of the overview
    assert result.overview is not None and "review" not in result.overview and "budget" in result.overview


def test_a_meeting_wrapped_in_small_talk() -> None:
    segments, result = _analyse(LINES, PEOPLE)
    _check_notes(segments, result)
    sentences = [s.text for s in sentences_of(segments)]
    origins = _origins(segments, result)
    assert not {sentences[n] for n in origins.values()} & NEVER
    # the meeting's two subjects each get a heading with several points
    by_topic = {kp.topic: kp.points for kp in result.key_points}
    assert len(by_topic.get("checkout", [])) >= 2 and len(by_topic.get("image cache", [])) >= 2, by_topic
    assert "The checkout page got slower after the last release." in by_topic["checkout"]  # "So, um," taken off
    # what is listed on its own is not repeated as a key point
    assert [d.text for d in result.decisions] == [LINES[9][1]]
    assert "I will make that change by Friday." in [a.text for a in result.action_items]
    assert result.overview is not None
    assert result.overview.startswith("Maya, Kwame Mensah, Rita and José talked about checkout")
    assert result.overview.endswith("It ended with 1 decision and 2 action items.")


def test_only_small_talk_and_questions_give_no_key_points() -> None:
    segments, result = _analyse([("m", "Good morning everyone, thanks for joining today."),
                                 ("j", "Can everyone hear me? Is the recording on?"),
                                 ("m", "Great, thank you all, see you next week.")], PEOPLE)
    assert result.key_points == [] and result.summary == []
    assert key_points([], [Topic(text="budget", score=0.5, segments=[0])]) == []
    assert key_points(segments, []) == []


def test_small_talk_about_a_topic_is_no_key_point() -> None:
    segments = make_segments([
        ("m", "Good morning everyone, thanks so much for joining the budget review today."),
        ("j", "Great work on the budget spreadsheet everyone, thank you so much."),
        ("k", "The budget for next year is two million euros."),
        ("r", "Is the budget final? What about the travel budget for the sales team?"),
        ("m", "We decided the budget stays at two million euros."),
    ], PEOPLE)
    budget = Topic(text="budget", score=0.5, segments=[0, 1, 2, 3, 4])
    listed = {"We decided the budget stays at two million euros."}
    assert key_points(segments, [budget], PEOPLE, exclude=listed) == [
        KeyPoint(topic="budget", points=["The budget for next year is two million euros."])]


def test_limits_per_topic_and_topics() -> None:
    segments, result = _analyse(LINES, PEOPLE)
    few = key_points(segments, result.topics, PEOPLE, max_topics=1, per_topic=2)
    assert len(few) == 1 and len(few[0].points) == 2 and few[0].topic == "checkout"


def test_report_has_key_points_and_a_backend_s_own_summary_replaces_them() -> None:
    backend: Any = _Backend({})
    transcriber = Transcriber(backend)
    transcriber.names.update(PEOPLE)
    segments = make_segments(LINES, PEOPLE)
    transcriber.events += [BackendEvent(EventKind.FINAL, s.participant_id, s.text, s.start_s, s.end_s)
                           for s in segments]
    facts = MeetingFacts(id="m", title="t", started_at=datetime.datetime(2026, 11, 25, 10, tzinfo=datetime.UTC),
                         duration_s=segments[-1].end_s + 1)
    report = build_report(facts, transcriber)
    assert report.key_points and report.summary == [p for kp in report.key_points for p in kp.points]
    assert report.summary_by is None
    symbl = build_report(facts, transcriber, PostCall(summary=["Symbl's own summary sentence."]))
    assert symbl.key_points == [] and symbl.summary == ["Symbl's own summary sentence."]


# --- rendering -------------------------------------------------------------------------------------------


def _noted() -> Any:
    report = make_report()
    report.overview = f"{HOSTILE_NAME} and Alice talked about the budget."
    report.key_points = [
        KeyPoint(topic="budget", points=["The budget is almost final.", f"Marketing costs went up {XSS}."]),
        KeyPoint(topic=f"launch {XSS}", points=["The launch moves to December."]),
    ]
    report.summary = ["The budget is almost final.", f"Marketing costs went up {XSS}.", "The launch moves to December."]
    report.decisions = [Insight(text="We decided to ship on Friday.", speaker_id="a1", speaker="Alice", start_s=9)]
    return report


def test_email_reads_overview_key_points_decisions_action_items() -> None:
    report = _noted()
    html = render_email(report, attachments=[]).html
    order = [
        ">Summary</h2>", "and Alice talked about the budget.", ">Key points</h2>",
        'class="key-point-topic"', ">Budget</h3>", "The budget is almost final.", ">Launch &lt;img",
        "The launch moves to December.", ">Decisions</h2>", "We decided to ship on Friday.",
        ">Action items</h2>", "I will send the budget by Thursday.", "Owner: ", "due by Thursday",
        ">Questions</h2>",
    ]
    positions = [html.find(needle) for needle in order]
    assert -1 not in positions, [n for n, p in zip(order, positions, strict=True) if p < 0]
    assert positions == sorted(positions)
    assert html.count('class="key-point-topic"') == 2 and html.count("The budget is almost final.") == 1
    assert "Summary written by" not in html  # the offline analysers wrote it


def test_key_points_and_summary_by_are_escaped_everywhere() -> None:
    report = _noted()
    report.summary_by = f"llm <b>tiny</b> {XSS}"
    email = render_email(report, attachments=[])
    assert "<img" not in email.html.lower() and "<b>tiny" not in email.html
    assert "Marketing costs went up &lt;img src=x onerror=alert(1)&gt;." in email.html
    assert "Summary written by llm &lt;b&gt;tiny&lt;/b&gt;" in email.html
    text = email.text
    assert "\nKEY POINTS\n----------\n\nBudget\n- The budget is almost final.\n" in text
    assert f"- Marketing costs went up {XSS}.\n" in text and f"\nLaunch {XSS}\n" in text
    assert "Summary written by llm <b>tiny</b>" in text
    assert text.index("KEY POINTS") < text.index("DECISIONS") < text.index("ACTION ITEMS")
    md = render_markdown(report)
    assert "\n## Key points\n\n### Budget\n\n- The budget is almost final.\n" in md
    assert r"### Launch \<img src=x onerror=alert(1)\>" in md
    assert r"_Summary written by llm \<b\>tiny\</b\> \<img" in md


def test_without_key_points_the_flat_summary_is_shown() -> None:
    report = _noted()
    report.key_points = []  # an older report.json, or a backend's own summary
    email = render_email(report, attachments=[])
    assert "Key points" not in email.html and "KEY POINTS" not in email.text
    assert "<li style=\"margin:0 0 6px 0;\">The launch moves to December.</li>" in email.html
    assert "- The launch moves to December.\n" in email.text
    with_points = render_email(_noted(), attachments=[])
    assert with_points.text.count("The launch moves to December.") == 1  # not listed twice
    report.summary, report.overview = [], None
    assert "No summary: nothing was transcribed." in render_email(report, attachments=[]).html
