"""The report renderers: email (HTML + text), summary.md and summary.html, rendered for real."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from bot.report.model import (
    Analytics,
    Insight,
    MeetingInfo,
    ParticipantSummary,
    Report,
    Segment,
    Sentiment,
    Topic,
)
from bot.report.render import (
    RenderedEmail,
    clean,
    md_escape,
    render_email,
    render_html_page,
    render_markdown,
    render_subject,
)

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
ATTACHMENTS = ["transcript.txt", "transcript.vtt", "report.json"]

XSS = "<img src=x onerror=alert(1)>"
INJECT = "Bob\r\nBcc: x@evil"
TITLE = "Launch review <script>alert(2)</script>\r\nBcc: y@evil"

HEADINGS = [
    "Summary",
    "Action items",
    "Questions",
    "Follow-ups",
    "Participants and talk time",
    "Topics",
    "Sentiment",
    "Analytics",
]
EMPTY_MESSAGES = [
    "No summary: nothing was transcribed.",
    "No action items were found.",
    "No questions were asked.",
    "No follow-ups were found.",
    "No participants were heard.",
    "No topics were found.",
    "No sentiment: nothing was transcribed.",
    "No talk analytics were recorded.",
]
BAR = re.compile(r'class="bar" data-index="(\d+)" style="width:([0-9.]+)%')


def _meeting() -> MeetingInfo:
    return MeetingInfo(
        id="launch-20261125T131550Z",
        url="https://meet.example.org/launch",
        room="launch",
        title=TITLE,
        started_at=datetime(2026, 11, 25, 13, 15, 50, tzinfo=UTC),
        ended_at=datetime(2026, 11, 25, 14, 20, 50, tzinfo=UTC),
        duration_s=3900.0,
    )


def _insight(text: str, pid: str, name: str, at: float, **kw: object) -> Insight:
    return Insight.model_validate({"text": text, "speaker_id": pid, "speaker": name, "start_s": at, **kw})


@pytest.fixture
def report() -> Report:
    people = [("alice", "Alice", 1500.0, 0.5), ("xss", XSS, 600.0, 0.2), ("bob", INJECT, 900.0, 0.3)]
    return Report(
        meeting=_meeting(),
        backend="local",
        recognizer="faster-whisper base",
        participants=[
            ParticipantSummary(id=pid, name=name, talk_time_s=talk, talk_share=share, words=int(talk * 2.5), wpm=150.0)
            for pid, name, talk, share in people
        ],
        transcript=[Segment(participant_id="alice", name="Alice", start_s=1.0, end_s=3.0, text="Good morning.")],
        summary=["The launch moves to December.", f"{XSS} raised the budget."],
        topics=[Topic(text="launch checklist", score=0.4), Topic(text="budget", score=0.3), Topic(text=XSS, score=0.1)],
        questions=[
            _insight("Can we start with the budget?", "bob", INJECT, 7.7),
            _insight(f"Who owns {XSS}?", "xss", XSS, 95.0),
        ],
        action_items=[
            _insight("Send the updated budget to finance.", "alice", "Alice", 20.9, owner="Alice"),
            _insight(
                "Update the launch checklist.",
                "bob",
                INJECT,
                25.3,
                owner=INJECT,
                due="before Friday",
                due_date=date(2026, 11, 27),
            ),
            _insight("Confirm it with the legal team.", "xss", XSS, 43.2),
        ],
        follow_ups=[_insight("Meet again next week.", "alice", "Alice", 3700.0, due="next week")],
        sentiment=Sentiment(overall=0.24, label="positive", per_participant={"alice": 0.34, "xss": -0.2, "bob": 0.0}),
        analytics=Analytics(
            duration_s=3900, talk_s=3000, silence_s=900, overlap_s=60, talk_pct=76.9, silence_pct=23.1, overlap_pct=1.5
        ),
        warnings=["0.2 s of audio never reached the bot", f"participant {XSS} left early"],
    )


@pytest.fixture
def empty_report() -> Report:
    return Report(meeting=_meeting().model_copy(update={"title": "Quiet room"}), backend="local")


@pytest.fixture
def email(report: Report) -> RenderedEmail:
    return render_email(report, attachments=ATTACHMENTS)


# --- subject ------------------------------------------------------------------------------------------


def test_subject_is_one_line(email: RenderedEmail) -> None:
    assert email.subject == "Meeting notes: Launch review <script>alert(2)</script> Bcc: y@evil (2026-11-25)"
    assert not any(ord(ch) < 32 or ord(ch) == 127 for ch in email.subject)


def test_subject_template_names_and_unknowns(report: Report) -> None:
    assert render_subject(report, "{date} {time} {room} {duration} {participants}") == (
        "2026-11-25 13:15 UTC launch 1 h 5 min 3"
    )
    # unknown names and attribute access stay as written; nothing is looked up on objects
    assert render_subject(report, "{nope} {title.__class__} {0}") == "{nope} {title.__class__} {0}"
    assert render_subject(report, "unbalanced {title") == "unbalanced {title"
    long = report.model_copy(update={"meeting": report.meeting.model_copy(update={"title": "x\u2028" * 500})})
    subject = render_subject(long, "{title}")
    assert len(subject) <= 200 and subject.endswith("…") and "\u2028" not in subject


def test_clean_and_md_escape() -> None:
    assert clean("a\r\n\tb\x00c\u2028d\u202ee") == "a b c de"
    assert md_escape("*x* [l](u) <b> a|b") == r"\*x\* \[l\](u) \<b\> a\|b"


# --- HTML ---------------------------------------------------------------------------------------------


def test_html_is_inert(email: RenderedEmail) -> None:
    html = email.html
    assert "<script" not in html.lower()
    assert "<img" not in html.lower()
    assert "onerror=alert(1)&gt;" in html and html.count("&lt;img src=x onerror=alert(1)&gt;") >= 5
    assert "&lt;script&gt;alert(2)&lt;/script&gt;" in html
    assert "Bob Bcc: x@evil" in html and "Bob\r\n" not in html and "Bob\n" not in html
    # email-safe: no external resources, no flexbox/grid, no stylesheet links
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//)""", html, re.IGNORECASE)
    assert "<link" not in html and "display:flex" not in html and "display:grid" not in html
    assert "max-width:640px" in html


def test_html_bars_are_proportional(report: Report, email: RenderedEmail) -> None:
    bars = {int(i): float(w) for i, w in BAR.findall(email.html)}
    assert sorted(bars) == [0, 1, 2]
    for i, p in enumerate(report.participants):
        assert bars[i] == pytest.approx(p.talk_share * 100, abs=0.05)


def test_html_sections_and_figures(email: RenderedEmail) -> None:
    html = email.html
    for heading in [*HEADINGS, "Warnings"]:
        assert f">{heading}</h2>" in html
    for needle in [
        "Wednesday, 25 November 2026, 13:15 UTC",
        "1 h 5 min",
        "25:00",  # Alice's talk time, mm:ss
        "50%",
        "150 wpm",
        "Send the updated budget to finance.",
        "Team",  # action item without an owner
        "due before Friday (Fri 27 Nov 2026)",
        "next week",
        "Meet again next week.",
        "launch checklist",
        "Overall: <span",
        "negative",
        "77%",  # talk
        "23%",  # silence
        "2%",  # overlap
        "0.2 s of audio never reached the bot",
        "transcript.txt, transcript.vtt, report.json",
        "Sent by the Jitsi notetaker bot",
    ]:
        assert needle in html, needle


def test_html_page_is_the_email_body_without_attachments(report: Report) -> None:
    assert render_html_page(report) == render_email(report).html
    assert "Attached:" not in render_html_page(report)


def test_empty_report_says_so_everywhere(empty_report: Report) -> None:
    email = render_email(empty_report, attachments=ATTACHMENTS)
    markdown = render_markdown(empty_report)
    for body in (email.html, email.text, markdown):
        for message in EMPTY_MESSAGES:
            assert message in body, message
        assert "Sent by the Jitsi notetaker bot" in body
        assert "Warnings" not in body  # shown only when there are some
    assert not BAR.search(email.html)


# --- plain text and Markdown ----------------------------------------------------------------------------


def test_text_has_every_section(report: Report, email: RenderedEmail) -> None:
    text = email.text
    for heading in [*HEADINGS, "Warnings"]:
        assert f"\n{heading.upper()}\n{'-' * len(heading)}\n" in text
    for item in report.action_items:
        assert f"[ ] {item.text}" in text
    assert "    Owner: Team\n" in text and "    Owner: Bob Bcc: x@evil · due before Friday (Fri 27 Nov 2026)\n" in text
    assert "\r" not in text and "\nBcc:" not in text
    assert "Attached: transcript.txt, transcript.vtt, report.json" in text
    assert "##########.......... 50%" in text


def test_markdown_has_every_section(report: Report) -> None:
    md = render_markdown(report)
    for heading in [*HEADINGS, "Warnings"]:
        assert f"\n## {heading}\n" in md
    for item in report.action_items:
        assert f"- [ ] {item.text}" in md
    assert "**Team**" in md and "due before Friday (Fri 27 Nov 2026)" in md
    # raw HTML from the meeting cannot survive as HTML in any Markdown renderer
    body = re.sub(r"^> ", "", md, flags=re.MULTILINE)  # the warnings blockquote
    assert not re.search(r"(?<!\\)[<>]", body)  # every other < and > is backslash-escaped
    assert r"\<img src=x onerror=alert(1)\>" in md
    assert "\r" not in md and "\nBcc:" not in md


# --- in a real browser ----------------------------------------------------------------------------------


@pytest.mark.e2e
@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium")
async def test_html_in_chromium(report: Report, email: RenderedEmail) -> None:
    from playwright.async_api import async_playwright

    dialogs: list[str] = []
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-gpu"])
        try:
            page = await browser.new_page(viewport={"width": 800, "height": 900})

            async def on_dialog(dialog: object) -> None:
                dialogs.append(dialog.message)  # type: ignore[attr-defined]
                await dialog.dismiss()  # type: ignore[attr-defined]

            page.on("dialog", on_dialog)
            await page.set_content(email.html, wait_until="load")
            await page.wait_for_timeout(300)  # give any injected handler a chance to fire

            assert await page.locator("img").count() == 0
            assert await page.locator("script").count() == 0
            assert dialogs == []
            # the hostile name is shown as text
            assert await page.get_by_text(XSS, exact=False).count() >= 1

            container = await page.locator("table.container").bounding_box()
            assert container is not None and container["width"] <= 640

            track = await page.locator("td.bar-track").first.bounding_box()
            assert track is not None
            widths = []
            for i in range(len(report.participants)):
                box = await page.locator(f'div.bar[data-index="{i}"]').bounding_box()
                assert box is not None and box["height"] > 0
                widths.append(box["width"])
            by_talk = sorted(range(3), key=lambda i: report.participants[i].talk_time_s)
            by_width = sorted(range(3), key=lambda i: widths[i])
            assert by_talk == by_width
            for w, p in zip(widths, report.participants, strict=True):
                assert w / track["width"] == pytest.approx(p.talk_share, abs=0.01)

            ARTIFACTS.mkdir(exist_ok=True)
            await page.screenshot(path=str(ARTIFACTS / "email.png"), full_page=True)

            # mobile width: nothing overflows sideways
            await page.set_viewport_size({"width": 375, "height": 800})
            assert await page.evaluate("document.documentElement.scrollWidth") <= 375
            await page.screenshot(path=str(ARTIFACTS / "email-mobile.png"), full_page=True)
        finally:
            await browser.close()


# --- trackers --------------------------------------------------------------------------------------------


def _tracked(report: Report) -> Report:
    from bot.report.model import Tracker, TrackerMention

    hostile = TrackerMention(phrase="price", text="<b>prices</b>", speaker_id="xss", speaker=XSS, start_s=125.4,
                             sentence=f"Are the <b>prices</b> {XSS} final?")
    plain = TrackerMention(phrase="cost", text="costs", speaker_id="alice", speaker="Alice", start_s=3725.0,
                           sentence="It costs *less* than Zoom.")
    return report.model_copy(update={"trackers": [Tracker(name="pricing <i>", mentions=[hostile, plain]),
                                                  Tracker(name="legal", mentions=[])]})


def test_trackers_section_is_left_out_when_none_are_configured(report: Report) -> None:
    email = render_email(report)
    assert ">Trackers</h2>" not in email.html and "TRACKERS" not in email.text
    assert "## Trackers" not in render_markdown(report)


def test_trackers_in_html_emphasise_the_words_and_escape_everything(report: Report) -> None:
    html = render_email(_tracked(report)).html
    assert ">Trackers</h2>" in html
    assert "pricing &lt;i&gt;" in html and "<i>" not in html and "<b>prices" not in html
    assert "<img" not in html.lower()
    # the matched words, escaped, inside the emphasis; the rest of the sentence around it
    assert 'Are the <strong style="background-color:#fef3c7;">&lt;b&gt;prices&lt;/b&gt;</strong> ' \
           "&lt;img src=x onerror=alert(1)&gt; final?" in html
    assert "02:05" in html and "1:02:05" in html  # mm:ss, with hours past the hour
    assert '<strong style="background-color:#fef3c7;">costs</strong> *less* than Zoom.' in html
    assert "2 mentions" in html and "0 mentions" in html and "Not mentioned." in html
    assert html.index(">Trackers</h2>") < html.index(">Participants and talk time</h2>")


def test_trackers_in_text_and_markdown(report: Report) -> None:
    tracked = _tracked(report)
    text = render_email(tracked).text
    assert "\nTRACKERS\n--------\n" in text
    assert f"pricing <i> (2 mentions)\n- {XSS} at 02:05: Are the *<b>prices</b>* {XSS} final?\n" in text
    assert "- Alice at 1:02:05: It *costs* *less* than Zoom.\n" in text
    assert "legal (0 mentions)\n  Not mentioned.\n" in text
    md = render_markdown(tracked)
    assert "\n## Trackers\n" in md and "### pricing \\<i\\> (2 mentions)" in md
    assert r"- **Alice** _(1:02:05)_: It **costs** \*less\* than Zoom." in md
    assert r"Are the **\<b\>prices\</b\>** \<img src=x onerror=alert(1)\> final?" in md
    assert "_Not mentioned._" in md
    body = re.sub(r"^> ", "", md, flags=re.MULTILINE)
    assert not re.search(r"(?<!\\)[<>]", body)
