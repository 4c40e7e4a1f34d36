"""Trackers: the configured phrases found in a transcript by meaning-preserving variants, and in the report."""

from __future__ import annotations

import dataclasses
import datetime

import pytest

from bot.analysis import AnalysisInput, analyse
from bot.analysis.trackers import find_trackers, fold, one_edit_apart, stem
from bot.backends.base import BackendEvent, EventKind, PostCall, Recognition
from bot.pipeline import MeetingFacts, Transcriber, build_report
from bot.report.model import Segment, Tracker, TrackerMention, Word
from tests.test_analysis import make_segments

PEOPLE = {"a1": "Ann", "b2": "Bo", "j3": "José Núñez"}
PRICING = {"pricing": ["price", "cost", "discount"]}


def _said(*lines: str, pid: str = "a1") -> list[Segment]:
    return make_segments([(pid, line) for line in lines], PEOPLE)


def _hits(segments: list[Segment], trackers: dict[str, list[str]]) -> list[tuple[str, str, str]]:
    """(tracker, phrase, words as said) of every mention."""
    return [(t.name, m.phrase, m.text) for t in find_trackers(segments, trackers) for m in t.mentions]


def _timed(pid: str, start_s: float, text: str, step_s: float = 0.5) -> Segment:
    """A segment with one word timing per whitespace token, ``step_s`` apart."""
    tokens = text.split()
    words = [Word(text=w, start_s=start_s + k * step_s, end_s=start_s + k * step_s + 0.4) for k, w in enumerate(tokens)]
    return Segment(participant_id=pid, name=PEOPLE[pid], start_s=start_s, end_s=start_s + len(tokens) * step_s,
                   text=text, words=words)


# ---------------------------------------------------------------------------------------------- variants


@pytest.mark.parametrize(
    ("phrase", "said"),
    [
        ("price", "prices"), ("price", "priced"), ("price", "pricing"), ("prices", "price"),
        ("cost", "costs"), ("cost", "costing"), ("discount", "discounted"), ("discount", "discounts"),
        ("company", "companies"), ("companies", "company's"), ("plan", "planned"), ("agree", "agreed"),
        ("box", "boxes"), ("run", "running"),
    ],
)
def test_inflections_match(phrase: str, said: str) -> None:
    assert _hits(_said(f"We talked about the {said} today."), {"t": [phrase]}) == [("t", phrase, said)]


@pytest.mark.parametrize(
    ("phrase", "said"),
    [("discount", "discout"), ("discount", "dicsount"), ("contract", "contracts"), ("renewal", "renewall"),
     ("discount", "discounts"), ("pricing", "prizing")],
)
def test_a_spelling_slip_in_a_long_word_matches(phrase: str, said: str) -> None:
    assert _hits(_said(f"Then the {said} came up."), {"t": [phrase]}) == [("t", phrase, said)]


@pytest.mark.parametrize(
    ("phrase", "said"),
    [
        ("cost", "costume"),       # a substring is not the word
        ("cost", "costly"),        # derived words are other words
        ("price", "priceless"),
        ("cost", "cast"),          # no spelling slack under 5 letters: short slips are usually other words
        ("zoom", "room"),
        ("discount", "viscount"),  # the first letter must be right
        ("discount", "dsicuont"),  # two slips
        ("contract", "contractor"),
    ],
)
def test_other_words_do_not_match(phrase: str, said: str) -> None:
    assert _hits(_said(f"The {said} was fine."), {"t": [phrase]}) == []


def test_case_punctuation_and_accents_do_not_count() -> None:
    segments = _said("PRICE? Our Price, and the price!", "Jose said Müller and MULLER agree.")
    assert [text for _, _, text in _hits(segments, PRICING)] == ["PRICE", "Price", "price"]
    assert [text for _, _, text in _hits(segments, {"people": ["José", "Müller"]})] == ["Jose", "Müller", "MULLER"]
    assert fold("Straße") == "strasse" and fold("ÉCOLE") == "ecole" and fold("it’s") == "it's"
    # letters with no accent mark to take off (ł, ø) are folded too: not by the one-letter slip allowance
    assert fold("Łódź") == "lodz" and fold("Søren") == "soren"
    assert [t for _, _, t in _hits(_said("We land in Lodz."), {"cities": ["Łódź"]})] == ["Lodz"]


def test_multi_word_phrases_match_as_word_sequences() -> None:
    segments = _said("We compared it with google-meet and Google   Meets.",
                     "Google is big. Meet me later.",  # not one sentence: no match
                     "A meet of Google people.")       # wrong order: no match
    assert _hits(segments, {"competitors": ["Google Meet", "Zoom"]}) == [
        ("competitors", "Google Meet", "google-meet"), ("competitors", "Google Meet", "Google Meets")]


def test_the_longest_phrase_wins_at_one_place() -> None:
    segments = _said("The price list is out, the price is not.")
    assert _hits(segments, {"pricing": ["price", "price list"]}) == [
        ("pricing", "price list", "price list"), ("pricing", "price", "price")]


def test_non_ascii_text_and_phrases() -> None:
    segments = _said("Die Preise für Straße und Ärzte steigen.", "Цена выросла, ЦЕНА упала.")
    assert _hits(segments, {"de": ["strasse", "ärzte"], "ru": ["цена"]}) == [
        ("de", "strasse", "Straße"), ("de", "ärzte", "Ärzte"), ("ru", "цена", "Цена"), ("ru", "цена", "ЦЕНА")]


def test_stem_and_edit_distance_helpers() -> None:
    assert {stem(w) for w in ("price", "prices", "priced", "pricing")} == {stem("price")}
    assert stem("costume") != stem("cost") and stem("priceless") != stem("price")
    assert one_edit_apart("discount", "discout") and one_edit_apart("discount", "dicsount")
    assert one_edit_apart("price", "prize") and not one_edit_apart("price", "price")
    assert not one_edit_apart("discount", "disco") and not one_edit_apart("ab", "ba c")


# ---------------------------------------------------------------------------------------------- mentions


def test_a_mention_has_speaker_time_and_sentence() -> None:
    segments = [
        _timed("a1", 10.0, "Hello all. What do the new prices look like?"),  # word timings: "prices" is word 7
        Segment(participant_id="j3", name=PEOPLE["j3"], start_s=20.0, end_s=26.0,
                text="The discount is fine. It costs less than Zoom."),   # no word timings
    ]
    (pricing,) = find_trackers(segments, PRICING)
    first, second, third = pricing.mentions
    assert (first.speaker_id, first.speaker, first.phrase, first.text) == ("a1", "Ann", "price", "prices")
    assert first.start_s == pytest.approx(10.0 + 6 * 0.5)
    assert first.sentence == "What do the new prices look like?"
    assert (second.speaker_id, second.speaker, second.text, second.start_s) == ("j3", "José Núñez", "discount", 20.0)
    assert second.sentence == "The discount is fine."
    # no word timings: the sentence's start, interpolated along the segment as sentences_of does
    assert third.text == "costs" and 20.0 < third.start_s < 26.0 and third.sentence == "It costs less than Zoom."


def test_a_word_inside_a_quoted_token_gets_its_own_time() -> None:
    (tracker,) = find_trackers([_timed("b2", 5.0, 'He said "discount" twice, discount!')], {"d": ["discount"]})
    assert [m.start_s for m in tracker.mentions] == [pytest.approx(6.0), pytest.approx(7.0)]  # tokens 2 and 4


def test_every_tracker_is_listed_in_order_even_unmentioned() -> None:
    segments = _said("The price is right.")
    trackers = find_trackers(segments, {"competitors": ["Zoom"], "pricing": ["price"], "legal": ["contract"]})
    assert [(t.name, len(t.mentions)) for t in trackers] == [("competitors", 0), ("pricing", 1), ("legal", 0)]
    assert find_trackers(segments, {}) == [] and find_trackers([], PRICING)[0].mentions == []


def test_mentions_come_in_time_order_across_speakers() -> None:
    segments = [_timed("b2", 30.0, "Our cost is high."), _timed("a1", 2.0, "What about the price?")]
    segments.sort(key=lambda s: s.start_s)
    (pricing,) = find_trackers(segments, PRICING)
    assert [(m.speaker, m.phrase) for m in pricing.mentions] == [("Ann", "price"), ("Bo", "cost")]


def test_analyse_reports_trackers_only_when_configured() -> None:
    segments = _said("The discounts are generous.", pid="b2")
    data = AnalysisInput(segments=segments, participants=PEOPLE, speech={}, duration_s=10.0,
                         meeting_date=datetime.date(2026, 11, 25))
    assert analyse(data).trackers == []
    (pricing,) = analyse(dataclasses.replace(data, trackers=PRICING)).trackers
    assert [(m.speaker, m.text) for m in pricing.mentions] == [("Bo", "discounts")]


class _Backend:
    """Just enough of a ConversationBackend for build_report."""

    name = "test"

    def recognition(self) -> Recognition:
        return Recognition(recognizer="test")


def _meeting(trackers: dict[str, list[str]]) -> tuple[MeetingFacts, Transcriber]:
    transcriber = Transcriber(_Backend())  # type: ignore[arg-type]
    transcriber.names.update({"a1": "Ann", "a2": "Ann"})
    transcriber.events += [BackendEvent(EventKind.FINAL, "a1", "Is the price final?", 1.0, 3.0),
                           BackendEvent(EventKind.FINAL, "a2", "Back again: the costs went up.", 12.0, 15.0)]
    facts = MeetingFacts(id="m", title="t", started_at=datetime.datetime(2026, 11, 25, 10, tzinfo=datetime.UTC),
                         duration_s=20.0, presence={"a1": (0.0, 10.0), "a2": (11.0, 20.0)},
                         people={"a1": ["Ann"], "a2": ["Ann"]}, trackers=trackers)
    return facts, transcriber


def test_the_report_gets_the_configured_trackers() -> None:
    facts, transcriber = _meeting({"pricing": ["price", "cost"], "legal": ["contract"]})
    report = build_report(facts, transcriber)
    pricing, legal = report.trackers
    # a2 is Ann rejoining: her mention is under her one id
    assert [(m.speaker_id, m.speaker, m.text, m.start_s) for m in pricing.mentions] == [
        ("a1", "Ann", "price", 1.0), ("a1", "Ann", "costs", 12.0)]
    assert (legal.name, legal.mentions) == ("legal", [])
    assert build_report(_meeting({})[0], _meeting({})[1]).trackers == []
    assert "trackers" in report.model_dump_json()


def test_a_backends_own_trackers_replace_the_matchers() -> None:
    facts, transcriber = _meeting({"pricing": ["price"]})
    theirs = [Tracker(name="pricing", mentions=[TrackerMention(phrase="price", text="pricey", speaker_id="a1",
                                                               speaker="Ann", start_s=2.0, sentence="So pricey.")])]
    assert build_report(facts, transcriber, PostCall(trackers=theirs)).trackers == theirs
    # a backend that tracked nothing (None) leaves the matcher's
    kept = build_report(facts, transcriber, PostCall()).trackers
    assert [m.text for m in kept[0].mentions] == ["price"]


# ---------------------------------------------------------------------------------------------- end to end


@pytest.mark.asr
def test_replay_from_the_command_line_reports_trackers(tmp_path, tmp_path_factory) -> None:  # type: ignore[no-untyped-def]
    """Settings -> replay -> real Whisper -> report.json, with a [trackers] table in the config file."""
    import json
    import os
    from pathlib import Path

    from bot.__main__ import main
    from bot.demo.speech import Line, Meeting, render
    from bot.report.model import Report
    from bot.report.render import render_markdown

    meeting = Meeting(title="Pricing", voices={"Ann": "en-us+f3", "Bo": "en-gb+m3"}, lines=[
        Line("Ann", "What do the new prices look like?"),
        Line("Bo", "The discounts are fine, and it costs less than Google Meet."),
        Line("Ann", "Good. Then we sign the contract next week."),
    ])
    paths, spans = render(meeting, tmp_path / "wav")
    cache = Path(os.environ.get("BOT_ASR__CACHE_DIR", tmp_path_factory.getbasetemp() / "asr-cache"))
    config = tmp_path / "c.toml"
    # The exact mentions below are what Whisper base hears: pinned to the accurate profile (the fast default's
    # tiny.en, decoding this replay's packed utterances, missed "Google Meet" once).
    config.write_text(f'[asr]\nprofile = "accurate"\ncache_dir = "{cache}"\nallow_download = false\n\n[trackers]\n'
                      'pricing = ["price", "discount", "cost"]\ncompetitors = ["Zoom", "Google Meet"]\n'
                      'legal = ["contract"]\nhiring = ["recruiting"]\n')
    out = tmp_path / "out"
    assert main(["replay", *map(str, paths), "--names", "Ann,Bo", "--config", str(config), "--out", str(out)]) == 0
    report = json.loads((out / "report.json").read_text())
    trackers = {t["name"]: t["mentions"] for t in report["trackers"]}
    assert list(trackers) == ["pricing", "competitors", "legal", "hiring"] and trackers["hiring"] == []
    assert [(m["speaker"], m["phrase"]) for m in trackers["pricing"]] == [
        ("Ann", "price"), ("Bo", "discount"), ("Bo", "cost")]
    assert [m["speaker"] for m in trackers["competitors"]] == ["Bo"]
    assert [m["speaker"] for m in trackers["legal"]] == ["Ann"]
    for mentions in trackers.values():
        for m in mentions:  # said within the line that says it, by word timings
            line = next(i for i, ln in enumerate(meeting.lines) if m["text"].lower()[:4] in ln.text.lower())
            speaker, start, end = spans[line]
            assert m["speaker"] == speaker and start - 0.3 <= m["start_s"] <= end, (m, spans[line])
            assert m["text"].lower()[:4] in m["sentence"].lower()
    notes = render_markdown(Report.model_validate(report))  # report.json, as `jitsi-bot deliver` reads it
    assert "## Trackers" in notes and "**Google Meet**" in notes
