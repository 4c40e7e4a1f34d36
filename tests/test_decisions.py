"""Decisions (issue 13, item 4): what the meeting settled, listed on their own and kept out of the summary."""

from __future__ import annotations

import datetime

import pytest

from bot.analysis import AnalysisInput, analyse, decides
from bot.report.model import Insight
from bot.report.render import render_email, render_markdown
from tests.test_analysis import make_segments
from tests.test_email import HOSTILE_NAME, make_report

DECIDED = [
    "We decided to launch on March 3rd.",
    "OK, we agreed on the blue design.",
    "So it's decided, we ship Friday.",
    "The final decision is to keep the old vendor.",
    "Let's go with option B.",
    "lets go with the second venue",  # speech-to-text without the apostrophe
    "We'll go with the cheaper hotel.",
    "We're going to stick with Postgres.",
    "It was agreed that Priya owns the checklist.",
    "Decision: we move the launch to May.",
    "We have decided to hire two people.",
]
NOT_DECIDED = [
    "Did we decide on the venue?",
    "Shall we go with option B?",
    "Can we go with the blue one?",
    "We haven't decided yet.",
    "We didn't agree on the budget.",
    "We are yet to decide.",
    "I'm not sure we agreed.",
    "If we decide to go, I'll book it.",
    "We need to decide by Friday.",
    "Let's meet again next week.",
    "I will use the new template.",
    "Good morning everyone.",
]


@pytest.mark.parametrize("sentence", DECIDED)
def test_decisions_are_found(sentence: str) -> None:
    assert decides(sentence)


@pytest.mark.parametrize("sentence", NOT_DECIDED)
def test_questions_negations_plans_and_tasks_are_not_decisions(sentence: str) -> None:
    assert not decides(sentence)


def test_a_meeting_s_decisions_are_listed_and_the_summary_does_not_repeat_them() -> None:
    people = {"a": "Ann", "b": "Ben"}
    lines = [
        ("a", "Good morning everyone, thanks for joining the planning meeting today."),
        ("b", "The vendor quotes for the conference venue came back higher than the budget allowed."),
        ("a", "The downtown venue costs twice as much as the hotel venue near the airport."),
        ("b", "The hotel venue near the airport has enough rooms for the conference guests."),
        ("a", "We decided to book the hotel venue near the airport for the conference."),
        ("b", "I will send the booking request for the hotel venue by Friday."),
        ("a", "The conference guests will need a shuttle from the airport hotel venue."),
    ]
    segments = make_segments(lines, people)
    result = analyse(AnalysisInput(segments=segments, participants=people, speech={},
                                   duration_s=segments[-1].end_s, meeting_date=datetime.date(2026, 11, 25)))
    assert [(d.speaker, d.text) for d in result.decisions] == [("Ann", lines[4][1])]
    assert lines[4][1] not in result.summary and lines[5][1] not in result.summary  # listed on their own
    assert result.summary and not any(s.startswith("Good morning") for s in result.summary)
    # The overview a reader takes in first: who, about what, what came of it.
    assert result.overview is not None and result.overview.startswith("Ann and Ben talked about ")
    assert "venue" in result.overview and result.overview.endswith("It ended with 1 decision and 1 action item.")


def test_decisions_in_the_email_and_markdown_escaped() -> None:
    report = make_report()
    report.decisions = [Insight(text="We decided to <b>ship</b> Friday.", speaker_id="x2", speaker=HOSTILE_NAME,
                                start_s=12)]
    email = render_email(report, subject_template="{title}", attachments=[])
    assert "Decisions" in email.html and "DECISIONS" in email.text
    assert "&lt;b&gt;ship&lt;/b&gt;" in email.html and "<b>ship</b>" not in email.html
    assert HOSTILE_NAME not in email.html  # the hostile name only escaped
    assert "We decided to" in render_markdown(report)
    report.overview = f"{HOSTILE_NAME} talked about <b>budget</b>."
    html = render_email(report, subject_template="{title}", attachments=[]).html
    assert "talked about &lt;b&gt;budget&lt;/b&gt;." in html and "<b>budget</b>" not in html
    report.decisions = []
    assert "Decisions" not in render_email(report, subject_template="{title}", attachments=[]).html
