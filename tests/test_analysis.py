"""The conversation analysers on real English meeting transcripts (no mocks)."""

from __future__ import annotations

import datetime

import pytest

from bot.analysis import (
    AnalysisInput,
    analyse,
    analyse_sentiment,
    analyse_talk,
    extract_topics,
    find_action_items,
    find_due,
    find_follow_ups,
    find_questions,
    is_question,
    split_sentences,
    summarise,
)
from bot.report.model import Report, Segment

MEETING_DATE = datetime.date(2026, 11, 25)  # a Wednesday
PEOPLE = {"a1": "Alice", "b2": "Bob", "p3": "Priya", "s4": "Sam Silent"}

TRANSCRIPT = [
    ("a1", "Good morning everyone, thanks for joining. Let's get started."),
    ("b2", "Morning. Quick question before we begin, is the login bug still open?"),
    ("p3", "Yes, it is. The login bug keeps crashing the mobile app, which is terrible and frustrating."),
    ("a1", "What is blocking the fix"),
    (
        "b2",
        "The login bug only shows up with expired tokens. We need to fix the login bug before the release.",
    ),
    ("p3", "how long will the fix take"),
    ("b2", "Probably two days. I went to the store yesterday and forgot my laptop there."),
    ("a1", "No problem. I will send the report by Thursday."),
    ("a1", "Priya will update the roadmap."),
    ("p3", "Sure. I love the new roadmap, the launch plan looks fantastic and the team did a great job."),
    ("a1", "Bob, can you book the venue for Friday?"),
    ("b2", "Yes, I can do that."),
    ("a1", "Can you share the slides?"),
    ("p3", "Sure, no problem."),
    ("b2", "Will the budget be approved?"),
    ("a1", "I hope so. The build will be green soon."),
    ("p3", "Do we have enough people for the launch event"),
    ("a1", "I think so, you know? The launch event has plenty of volunteers."),
    ("b2", "Where should we put the demo booth at the launch event?"),
    ("a1", "Near the entrance. Let's meet again next week to check the launch progress."),
]


def make_segments(lines: list[tuple[str, str]], people: dict[str, str] = PEOPLE) -> list[Segment]:
    out = []
    t = 0.0
    for pid, text in lines:
        duration = 0.4 * len(text.split())
        out.append(Segment(participant_id=pid, name=people[pid], start_s=t, end_s=t + duration, text=text))
        t += duration + 0.5
    return out


@pytest.fixture(scope="module")
def segments() -> list[Segment]:
    return make_segments(TRANSCRIPT)


# ---------------------------------------------------------------------------------------------- sentences


def test_split_sentences_keeps_abbreviations_and_unpunctuated_text() -> None:
    assert split_sentences("Morning. Dr. Smith joins at 3.5 p.m. today! Is that ok? yes") == [
        "Morning.",
        "Dr. Smith joins at 3.5 p.m. today!",
        "Is that ok?",
        "yes",
    ]
    assert split_sentences("so what do we do now") == ["so what do we do now"]
    assert split_sentences("  ") == []


# ---------------------------------------------------------------------------------------------- questions


def test_questions_found_exactly(segments: list[Segment]) -> None:
    questions = find_questions(segments, PEOPLE)
    assert [q.text for q in questions] == [
        "Quick question before we begin, is the login bug still open?",
        "What is blocking the fix",
        "how long will the fix take",
        "Bob, can you book the venue for Friday?",
        "Can you share the slides?",
        "Will the budget be approved?",
        "Do we have enough people for the launch event",
        "Where should we put the demo booth at the launch event?",
    ]
    assert [q.speaker_id for q in questions] == ["b2", "a1", "p3", "a1", "a1", "b2", "p3", "b2"]
    assert questions[0].speaker == "Bob"
    # a question's time is where its sentence starts inside the segment
    second = segments[1]
    assert second.start_s < questions[0].start_s < second.end_s


@pytest.mark.parametrize(
    "sentence",
    [
        "what do you think about the new design",
        "Bob are you joining the offsite",
        "any questions",
        "anyone want to take notes",
        "I was wondering if the API is stable",
        "who owns the deployment",
        "Could Priya take this one",
        "That's the plan, right?",
        "Why?",
    ],
)
def test_is_question(sentence: str) -> None:
    assert is_question(sentence, PEOPLE)


@pytest.mark.parametrize(
    "sentence",
    [
        "It works, you know?",
        "Right?",
        "What we need is more time.",
        "When I was young I liked trains",
        "do it now",
        "I think we should ship on Monday",
        "The build will be green soon.",
        "Bob is the owner",
    ],
)
def test_is_not_question(sentence: str) -> None:
    assert not is_question(sentence, PEOPLE)


# ------------------------------------------------------------------------------------------ action items


def test_action_items_owners_and_due_dates(segments: list[Segment]) -> None:
    items = find_action_items(segments, PEOPLE, MEETING_DATE)
    got = [(i.text, i.owner, i.due, i.due_date) for i in items]
    assert got == [
        ("We need to fix the login bug before the release.", None, "before the release", None),
        ("I will send the report by Thursday.", "Alice", "by Thursday", datetime.date(2026, 11, 26)),
        ("Priya will update the roadmap.", "Priya", None, None),
        ("Bob, can you book the venue for Friday?", "Bob", "for Friday", datetime.date(2026, 11, 27)),
        ("Can you share the slides?", "Priya", None, None),  # answered next by Priya
    ]
    assert items[1].speaker_id == "a1" and items[1].speaker == "Alice"
    texts = " ".join(i.text for i in items)
    for not_an_item in ("store yesterday", "budget", "green soon", "meet again", "Let's get started"):
        assert not_an_item not in texts


def test_unanswered_request_has_no_owner_and_acknowledgement_takes_it() -> None:
    segs = make_segments(
        [
            ("a1", "Could someone take the meeting notes from now on?"),
            ("p3", "Sure, I can do that."),
            ("a1", "Great. Can you also email the client tomorrow?"),
        ]
    )
    items = find_action_items(segs, PEOPLE, MEETING_DATE)
    assert [(i.text, i.owner, i.due_date) for i in items] == [
        ("Could someone take the meeting notes from now on?", "Priya", None),
        ("Can you also email the client tomorrow?", None, datetime.date(2026, 11, 26)),
    ]


@pytest.mark.parametrize(
    ("speaker", "sentence", "owner"),
    [
        ("a1", "I'm going to draft the proposal next Tuesday.", "Alice"),
        ("a1", "Let me check with legal and get back to you by Monday.", "Alice"),
        ("a1", "If I can get access, I'll look into it tomorrow.", "Alice"),
        ("b2", "priya needs to sign the contract", "Priya"),
        ("b2", "Bob and Priya will prepare the demo by March 3.", "Bob"),
        ("a1", "Can you send the invoice, Bob?", "Bob"),
        ("a1", "priya can you write the release notes by the 15th", "Priya"),
        ("a1", "Bob, we should rotate the API keys.", "Bob"),
        ("a1", "Someone needs to update the docs by the end of the week.", None),
        ("a1", "Let's archive the old tickets.", None),
        ("a1", "Don't forget to submit your timesheets by Friday.", None),
        ("a1", "Let's have Priya check the migration scripts on staging.", "Priya"),
        ("a1", "let's ask bob to book the room", "Bob"),
        ("b2", "Action item: Alice to book the load test environment.", "Alice"),
        ("b2", "Action item Priya to send the minutes", "Priya"),
    ],
)
def test_action_item_owner_kinds(speaker: str, sentence: str, owner: str | None) -> None:
    segs = make_segments([(speaker, sentence), ("s4", "Okay.")])
    items = find_action_items(segs, PEOPLE, MEETING_DATE)
    assert [(i.text, i.owner) for i in items] == [(sentence, owner)]


@pytest.mark.parametrize(
    "sentence",
    [
        "I can see your screen now.",
        "Let me think about it.",
        "We'll be fine.",
        "I won't be able to make it.",
        "Could you tell me what time it is?",
        "Can you hear me?",
        "Let's move on to the next item.",
        "Let's talk about the budget.",
        "let me share my screen",
        "Priya is going to be late.",
        "I went to the store yesterday.",
        "The build will be green soon.",
        "Will the budget be approved?",
        "Good, let's cover everything.",
    ],
)
def test_not_action_items(sentence: str) -> None:
    segs = make_segments([("a1", sentence), ("b2", "Okay.")])
    assert find_action_items(segs, PEOPLE, MEETING_DATE) == []


# ------------------------------------------------------------------------------------------- follow-ups


def test_follow_ups(segments: list[Segment]) -> None:
    follow_ups = find_follow_ups(segments, PEOPLE, MEETING_DATE)
    assert [(f.text, f.speaker_id, f.owner, f.due, f.due_date) for f in follow_ups] == [
        (
            "Let's meet again next week to check the launch progress.",
            "a1",
            None,
            "next week",
            datetime.date(2026, 11, 30),
        )
    ]


@pytest.mark.parametrize(
    ("sentence", "due_date"),
    [
        ("Let's schedule a follow-up.", None),
        ("We'll reconvene on Monday.", datetime.date(2026, 11, 30)),
        ("Let's catch up tomorrow.", datetime.date(2026, 11, 26)),
        ("I'll set up a call with the design team.", None),
        ("Should we meet again on Friday?", datetime.date(2026, 11, 27)),
        ("Let's take this offline.", None),
        ("Let's sync next week on Thursday.", datetime.date(2026, 12, 3)),
    ],
)
def test_follow_up_kinds(sentence: str, due_date: datetime.date | None) -> None:
    segs = make_segments([("a1", sentence)])
    assert [(f.text, f.due_date) for f in find_follow_ups(segs, PEOPLE, MEETING_DATE)] == [
        (sentence, due_date)
    ]
    assert find_action_items(segs, PEOPLE, MEETING_DATE) == []


def test_follow_up_with_an_outsider_is_an_action_item() -> None:
    segs = make_segments([("b2", "I'll follow up with the vendor tomorrow.")])
    assert find_follow_ups(segs, PEOPLE, MEETING_DATE) == []
    assert [(i.owner, i.due_date) for i in find_action_items(segs, PEOPLE, MEETING_DATE)] == [
        ("Bob", datetime.date(2026, 11, 26))
    ]


# ------------------------------------------------------------------------------------------------- due


@pytest.mark.parametrize(
    ("sentence", "phrase", "when"),
    [
        ("send it by Thursday", "by Thursday", datetime.date(2026, 11, 26)),
        ("on Monday please", "on Monday", datetime.date(2026, 11, 30)),
        ("do it tomorrow", "tomorrow", datetime.date(2026, 11, 26)),
        ("finish it today", "today", datetime.date(2026, 11, 25)),
        ("merge it tonight", "tonight", datetime.date(2026, 11, 25)),
        ("by the end of the day", "by the end of the day", datetime.date(2026, 11, 25)),
        ("by the end of the week", "by the end of the week", datetime.date(2026, 11, 27)),
        ("by the end of the month", "by the end of the month", datetime.date(2026, 11, 30)),
        ("sometime next week", "next week", datetime.date(2026, 11, 30)),
        ("next Tuesday works", "next Tuesday", datetime.date(2026, 12, 1)),
        ("by March 3", "by March 3", datetime.date(2027, 3, 3)),
        ("in two days", "in two days", datetime.date(2026, 11, 27)),
        ("on Wednesday", "on Wednesday", datetime.date(2026, 12, 2)),  # the next one, not today
        ("before the meeting", "before the meeting", None),
        ("book it for the second of December", "for the 2nd of December", datetime.date(2026, 12, 2)),
        ("move it to January the fifteenth", "January 15th", datetime.date(2027, 1, 15)),
        ("by the twenty-first of December", "by the 21st of December", datetime.date(2026, 12, 21)),
    ],
)
def test_find_due(sentence: str, phrase: str, when: datetime.date | None) -> None:
    assert find_due(sentence, MEETING_DATE) == (phrase, when)


def test_no_due() -> None:
    assert find_due("I went to the store yesterday", MEETING_DATE) == (None, None)
    assert find_due("Wait a second, December is fine", MEETING_DATE) == (None, None)
    assert find_due("by August the first draft should be live", MEETING_DATE) == (None, None)  # not 1 August
    assert find_due("ship it in 99999999 days", MEETING_DATE) == ("in 99999999 days", None)  # past the calendar


# --------------------------------------------------------------------------------------- no punctuation


UNPUNCTUATED = [
    ("a1", "okay so what is the plan for the launch"),
    ("b2", "i think we should ship on monday"),
    ("p3", "can you send me the checklist"),
    ("b2", "sure i will send it tonight"),
    ("a1", "bob can you update the changelog by friday"),
    ("b2", "will the demo be ready"),
    ("p3", "yeah it should be fine you know"),
    ("a1", "priya is going to write the announcement"),
    ("a1", "lets catch up tomorrow"),
]


def test_unpunctuated_transcript() -> None:
    segs = make_segments(UNPUNCTUATED)
    assert [q.text for q in find_questions(segs, PEOPLE)] == [
        "okay so what is the plan for the launch",
        "can you send me the checklist",
        "bob can you update the changelog by friday",
        "will the demo be ready",
    ]
    items = find_action_items(segs, PEOPLE, MEETING_DATE)
    assert [(i.text, i.owner, i.due_date) for i in items] == [
        ("i think we should ship on monday", None, datetime.date(2026, 11, 30)),
        ("can you send me the checklist", "Bob", None),
        ("sure i will send it tonight", "Bob", datetime.date(2026, 11, 25)),
        ("bob can you update the changelog by friday", "Bob", datetime.date(2026, 11, 27)),
        ("priya is going to write the announcement", "Priya", None),
    ]
    assert [(f.text, f.due_date) for f in find_follow_ups(segs, PEOPLE, MEETING_DATE)] == [
        ("lets catch up tomorrow", datetime.date(2026, 11, 26))
    ]


# ----------------------------------------------------------------------------------- topics and summary


def test_topics(segments: list[Segment]) -> None:
    topics = extract_topics(segments, PEOPLE)
    assert 1 <= len(topics) <= 8
    by_text = {t.text.lower(): t for t in topics}
    assert "login bug" in by_text
    assert by_text["login bug"].segments == [1, 2, 4]
    assert all(0.0 < t.score <= 1.0 for t in topics)
    assert [t.score for t in topics] == sorted((t.score for t in topics), reverse=True)
    for t in topics:  # every listed segment says the phrase
        assert all(t.text.lower() in segments[i].text.lower() for i in t.segments)
    assert not {"alice", "bob", "priya"} & set(by_text)


def test_summary(segments: list[Segment]) -> None:
    summary = summarise(segments)
    assert 3 <= len(summary) <= 5
    sentences = [s for seg in segments for s in split_sentences(seg.text)]
    assert all(s in sentences and len(s.split()) >= 5 for s in summary)
    assert [sentences.index(s) for s in summary] == sorted(sentences.index(s) for s in summary)
    assert any("login bug" in s for s in summary)
    assert summarise([]) == []


# -------------------------------------------------------------------------------------------- sentiment


def test_sentiment(segments: list[Segment]) -> None:
    scores, sentiment = analyse_sentiment(segments, PEOPLE)
    assert len(scores) == len(segments)
    assert scores[9] > 0.5  # "I love the new roadmap ... fantastic ... great job"
    assert scores[2] < -0.3  # "... crashing the mobile app, which is terrible and frustrating."
    assert sentiment.per_participant["s4"] == 0.0  # silent
    assert set(sentiment.per_participant) == set(PEOPLE)
    p3 = [s for seg, s in zip(segments, scores, strict=True) if seg.participant_id == "p3"]
    assert sentiment.per_participant["p3"] == pytest.approx(sum(p3) / len(p3), abs=1e-4)
    weights = [len(seg.text.split()) for seg in segments]
    expected = sum(w * s for w, s in zip(weights, scores, strict=True)) / sum(weights)
    assert sentiment.overall == pytest.approx(expected, abs=1e-4)
    assert sentiment.label == (
        "positive" if expected >= 0.05 else "negative" if expected <= -0.05 else "neutral"
    )


def test_sentiment_labels() -> None:
    _, happy = analyse_sentiment(make_segments([("a1", "This is wonderful, great work everyone!")]))
    _, sad = analyse_sentiment(make_segments([("b2", "This is awful, the release failed badly.")]))
    _, flat = analyse_sentiment(make_segments([("p3", "The meeting is at noon.")]))
    assert (happy.label, sad.label, flat.label) == ("positive", "negative", "neutral")


# ------------------------------------------------------------------------------------------------- talk

SPEECH = {
    "a1": [(0.0, 10.0), (9.0, 12.0), (20.0, 25.0)],  # two overlapping VAD intervals merge into (0, 12)
    "b2": [(11.0, 15.0), (40.0, 41.0)],  # 11: Alice talking for 11 s, overlap 1 s: an interruption
    "p3": [(24.8, 30.0), (40.2, 45.0)],  # 24.8: overlap only 0.2 s; 40.2: Bob talking only 0.2 s
    "s4": [],
}


def test_talk_analytics() -> None:
    stats = analyse_talk(SPEECH, 50.0)
    a = stats.analytics
    assert a.duration_s == 50.0
    assert a.talk_s == pytest.approx(30.0, abs=1e-6)  # [0, 15] + [20, 30] + [40, 45]
    assert a.silence_s == pytest.approx(20.0, abs=1e-6)
    assert a.overlap_s == pytest.approx(1.0 + 0.2 + 0.8, abs=1e-6)
    assert a.talk_pct == pytest.approx(60.0, abs=1e-6)
    assert a.silence_pct == pytest.approx(40.0, abs=1e-6)
    assert a.overlap_pct == pytest.approx(4.0, abs=1e-6)
    assert stats.talk_time_s == pytest.approx({"a1": 17.0, "b2": 5.0, "p3": 10.0, "s4": 0.0}, abs=1e-6)
    assert stats.talk_share["a1"] == pytest.approx(17.0 / 32.0, abs=1e-9)
    assert stats.interruptions == {"a1": 0, "b2": 1, "p3": 0, "s4": 0}


def test_interruption_thresholds() -> None:
    # Bob has talked exactly 0.3 s when Alice starts; they overlap exactly 0.5 s: counts.
    assert analyse_talk({"b2": [(0.0, 0.8)], "a1": [(0.3, 2.0)]}, 2.0).interruptions["a1"] == 1
    # Overlap 0.49 s: does not; nor does starting when Bob has talked only 0.29 s.
    assert analyse_talk({"b2": [(0.0, 0.79)], "a1": [(0.3, 2.0)]}, 2.0).interruptions["a1"] == 0
    assert analyse_talk({"b2": [(0.0, 3.0)], "a1": [(0.29, 2.0)]}, 3.0).interruptions["a1"] == 0
    # Simultaneous starts are nobody's interruption.
    assert analyse_talk({"b2": [(0.0, 3.0)], "a1": [(0.0, 2.0)]}, 3.0).interruptions == {"b2": 0, "a1": 0}


def test_talk_empty_and_clipped() -> None:
    empty = analyse_talk({}, 0.0)
    assert empty.analytics.talk_pct == 0.0 and empty.analytics.silence_s == 0.0
    clipped = analyse_talk({"a1": [(-1.0, 2.0), (9.0, 12.0)]}, 10.0)
    assert clipped.analytics.talk_s == pytest.approx(3.0, abs=1e-6)
    assert clipped.analytics.silence_s == pytest.approx(7.0, abs=1e-6)


# -------------------------------------------------------------------------------------------- analyse


def test_analyse_end_to_end(segments: list[Segment]) -> None:
    duration = segments[-1].end_s + 5.0
    speech = {
        pid: [(s.start_s, s.end_s) for s in segments if s.participant_id == pid] for pid in ("a1", "b2", "p3")
    }
    result = analyse(
        AnalysisInput(
            segments=segments,
            participants=PEOPLE,
            speech=speech,
            duration_s=duration,
            meeting_date=MEETING_DATE,
        )
    )
    assert [p.id for p in result.participants] == ["a1", "b2", "p3", "s4"]
    by_id = {p.id: p for p in result.participants}
    bob = by_id["b2"]
    bob_segments = [s for s in segments if s.participant_id == "b2"]
    bob_words = sum(len(s.text.split()) for s in bob_segments)
    bob_talk = sum(s.end_s - s.start_s for s in bob_segments)
    assert bob.words == bob_words and bob.utterances == len(bob_segments)
    assert bob.talk_time_s == pytest.approx(bob_talk, abs=1e-6)
    assert bob.wpm == pytest.approx(bob_words / (bob_talk / 60), abs=0.01)
    assert sum(p.talk_share for p in result.participants) == pytest.approx(1.0)
    assert by_id["s4"].talk_time_s == 0.0 and by_id["s4"].wpm == 0.0 and by_id["s4"].words == 0
    assert by_id["s4"].name == "Sam Silent"
    assert result.analytics.overlap_s == 0.0
    assert result.analytics.silence_s == pytest.approx(
        duration - sum(p.talk_time_s for p in result.participants)
    )
    assert len(result.action_items) == 5 and len(result.follow_ups) == 1 and len(result.questions) == 8
    assert result.summary and result.topics
    assert by_id["p3"].sentiment == result.sentiment.per_participant["p3"]
    # everything fits the Report model
    Report.model_validate(
        {
            "meeting": {
                "id": "m",
                "title": "Weekly",
                "started_at": "2026-11-25T10:00:00Z",
                "ended_at": "2026-11-25T10:05:00Z",
                "duration_s": duration,
            },
            "backend": "test",
            "participants": [p.model_dump() for p in result.participants],
            "transcript": [s.model_dump() for s in segments],
            "summary": result.summary,
            "topics": [t.model_dump() for t in result.topics],
            "questions": [q.model_dump() for q in result.questions],
            "action_items": [a.model_dump() for a in result.action_items],
            "follow_ups": [f.model_dump() for f in result.follow_ups],
            "sentiment": result.sentiment.model_dump(),
            "analytics": result.analytics.model_dump(),
        }
    )


def test_analyse_without_vad_uses_segments() -> None:
    segs = make_segments([("a1", "We need to fix the flaky integration tests this week.")])
    result = analyse(
        AnalysisInput(
            segments=segs, participants={"a1": "Alice"}, speech={}, duration_s=10.0, meeting_date=MEETING_DATE
        )
    )
    assert result.participants[0].talk_time_s == pytest.approx(segs[0].end_s - segs[0].start_s)
    assert result.action_items[0].due_date == datetime.date(2026, 11, 27)


def test_names_said_without_their_accents_are_the_same_people() -> None:
    people = {"z1": "Zoë", "s2": "Søren Ågård", "j3": "José"}
    segs = make_segments([("j3", "Could you send the timeline by Friday, Zoe?"), ("s2", "Jose needs to call legal."),
                          ("z1", "Soren Agard will book the room."), ("j3", "Okay.")], people)
    items = find_action_items(segs, people, MEETING_DATE)
    assert [i.owner for i in items] == ["Zoë", "José", "Søren Ågård"]
