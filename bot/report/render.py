"""Rendering a Report for people: the email (HTML and plain text), summary.md and summary.html.

Every renderer goes through one view (``_view``) that has already formatted every figure and made every
string from the meeting single-line (control characters become spaces), so the templates only lay things
out. HTML output is autoescaped; Markdown output escapes Markdown and HTML punctuation with backslashes,
so names and texts from the meeting are always inert text. The HTML is email-safe: tables and inline CSS,
no scripts, no external images or stylesheets, at most 640 px wide.
"""

from __future__ import annotations

import functools
import re
import string
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import jinja2

from bot.report.model import Insight, Report, Tracker

_TEMPLATES = "templates"
_SUBJECT_MAX = 200
_TOPICS_SHOWN = 8
_FOOTER = "Sent by the Jitsi notetaker bot"
# Bar colours, one per participant (cycled): readable on white, distinct for the common colour-blindnesses.
_PALETTE = ("#2563eb", "#d97706", "#059669", "#db2777", "#7c3aed", "#0891b2", "#65a30d", "#dc2626")
_NEUTRAL_BAND = 0.05  # VADER's usual threshold between neutral and positive/negative
_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>|~&])")
# Bidirectional overrides and isolates: dropped, they can make text read differently from what it is.
_BIDI = dict.fromkeys([*range(0x202A, 0x202F), *range(0x2066, 0x206A)])
# A word the recognizer gave a probability below this is shown lightly in the HTML transcript: below one half it
# is about as likely wrong as right.
LOW_CONFIDENCE = 0.5
# Bytes of HTML the email's transcript may take; the rest is in transcript.txt. Gmail clips messages over 102 KB;
# the other sections take 10-20 KB. Measured: a line costs about 200 bytes of markup plus its text, and a
# low-confidence word about 95 more.
_TRANSCRIPT_BYTES = 60_000
_LINE_BYTES, _LOW_WORD_BYTES = 200, 95
_LOST_SHOWN_S = 0.05  # below that it is a render quantum or two (as the session's warnings)


@dataclass(frozen=True, slots=True)
class RenderedEmail:
    """A rendered notes email.

    Attributes:
        subject: one line, no control characters, at most about 200 characters.
        html: the HTML body, a complete document (also saved as summary.html).
        text: the plain-text alternative with the same sections.
    """

    subject: str
    html: str
    text: str


def clean(value: object) -> str:
    """``value`` as one line: control characters and line/paragraph separators become spaces, runs collapse."""
    text = str(value).translate(_BIDI)
    text = "".join(" " if unicodedata.category(ch) in ("Cc", "Zl", "Zp") else ch for ch in text)
    return " ".join(text.split())


def md_escape(value: object) -> str:
    """Backslash-escape Markdown and HTML punctuation so the text renders literally (CommonMark)."""
    return _MD_SPECIAL.sub(r"\\\1", clean(value))


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def format_datetime(moment: datetime) -> str:
    """``Wednesday, 25 November 2026, 13:15 UTC``."""
    m = _utc(moment)
    return f"{m:%A}, {m.day} {m:%B %Y, %H:%M} UTC"


def format_date(day: date) -> str:
    """``Fri 27 Nov 2026``."""
    return f"{day:%a} {day.day} {day:%b %Y}"


def format_duration(seconds: float) -> str:
    """``1 h 5 min``, ``12 min``, ``40 s``."""
    total = max(0, round(seconds))
    if total < 60:
        return f"{total} s"
    minutes = round(total / 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    return f"{minutes} min"


def format_clock(seconds: float) -> str:
    """``mm:ss`` (minutes may exceed 59)."""
    minutes, secs = divmod(max(0, round(seconds)), 60)
    return f"{minutes:02d}:{secs:02d}"


def format_offset(seconds: float) -> str:
    """Position on the meeting timeline: ``07:42`` or ``1:07:42``."""
    total = max(0, round(seconds))
    hours, rest = divmod(total, 3600)
    return f"{hours}:{format_clock(rest)}" if hours else format_clock(rest)


def format_pct(value: float) -> str:
    """A percentage for people: ``0%``, ``<1%``, ``33%``."""
    if value <= 0:
        return "0%"
    if value < 1:
        return "<1%"
    return f"{round(value)}%"


def sentiment_label(score: float) -> str:
    """``positive``, ``neutral`` or ``negative`` for a VADER compound score."""
    if score >= _NEUTRAL_BAND:
        return "positive"
    if score <= -_NEUTRAL_BAND:
        return "negative"
    return "neutral"


def _fields(report: Report) -> dict[str, str]:
    m = report.meeting
    return {
        "title": clean(m.title) or "Untitled meeting",
        "date": f"{_utc(m.started_at):%Y-%m-%d}",
        "time": f"{_utc(m.started_at):%H:%M} UTC",
        "room": clean(m.room or ""),
        "duration": format_duration(m.duration_s),
        "participants": str(len(report.participants)),
    }


def render_subject(report: Report, template: str) -> str:
    """Fill ``template``'s ``{title}``, ``{date}``, ``{time}``, ``{room}``, ``{duration}``, ``{participants}``.

    Only those plain names are filled; anything else (unknown names, attribute or index access) stays as
    written. The result is one line with control characters replaced by spaces, at most 200 characters.
    """
    values = _fields(report)
    out: list[str] = []
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError:  # unbalanced braces: use the template as written
        parsed = [(template, None, None, None)]
    for literal, name, spec, conversion in parsed:
        out.append(literal)
        if name is None:
            continue
        if name in values and not conversion:
            try:
                out.append(format(values[name], spec or ""))
                continue
            except ValueError:
                pass
        out.append("{" + name + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "") + "}")
    return _clip(clean("".join(out)), _SUBJECT_MAX)


def _insight(item: Insight, *, action: bool = False) -> dict[str, str]:
    due = clean(item.due or "")
    due_date = format_date(item.due_date) if item.due_date else ""
    due_text = f"{due} ({due_date})" if due and due_date else due or due_date
    return {
        "text": clean(item.text),
        "speaker": clean(item.speaker) or clean(item.speaker_id),
        "at": format_offset(item.start_s),
        "owner": (clean(item.owner or "") or "Team") if action else clean(item.owner or ""),
        "due": due_text,
    }


def _key_points(report: Report) -> list[dict[str, Any]]:
    """Topics with their points, the topic capitalised; a topic or point with no text is left out."""
    out = []
    for kp in report.key_points:
        topic = clean(kp.topic)
        points = [clean(p) for p in kp.points if clean(p)]
        if topic and points:
            out.append({"topic": topic[:1].upper() + topic[1:], "points": points})
    return out

def _transcript(report: Report, names: dict[str, str]) -> dict[str, Any]:
    """Transcript lines within ``_TRANSCRIPT_BYTES``, each word with whether it is of low confidence."""
    lines: list[dict[str, Any]] = []
    budget = _TRANSCRIPT_BYTES
    for seg in report.transcript:
        text = clean(seg.text)
        if not text:
            continue
        words = [(clean(w.text), w.probability is not None and w.probability < LOW_CONFIDENCE)
                 for w in seg.words if clean(w.text)]
        if " ".join(w for w, _ in words).split() != text.split():
            words = []  # the words do not spell the text (the text was edited, or words are missing): show the text
        budget -= _LINE_BYTES + len(text.encode()) + _LOW_WORD_BYTES * sum(low for _, low in words)
        if budget < 0 and lines:
            break
        lines.append({"at": format_offset(seg.start_s), "name": names.get(seg.participant_id) or clean(seg.name),
                      "text": text, "words": words or [(text, False)]})
    return {"lines": lines, "more": sum(1 for s in report.transcript if clean(s.text)) - len(lines),
            "any_low": any(low for line in lines for _, low in line["words"])}


def _tracker(tracker: Tracker) -> dict[str, Any]:
    """A tracker for the templates: each mention's sentence cut around the words that matched."""
    mentions = []
    for m in tracker.mentions:
        sentence, matched = clean(m.sentence), clean(m.text)
        # the mention's words are a piece of its sentence (a report edited by hand may break that: shown apart)
        at = sentence.find(matched) if matched else -1
        before, after = (sentence[:at], sentence[at + len(matched):]) if at >= 0 else (sentence + " (", ")")
        pieces = {"before": before, "matched": matched, "after": after}
        mentions.append({"speaker": clean(m.speaker) or clean(m.speaker_id), "at": format_offset(m.start_s),
                         **pieces,
                         # the md filter would strip the spaces around the emphasis: escape the pieces as they are
                         "md": {k: _MD_SPECIAL.sub(r"\\\1", v) for k, v in pieces.items()}})
    return {"name": clean(tracker.name), "count": len(mentions), "mentions": mentions}


def _view(report: Report, attachments: Sequence[str]) -> dict[str, Any]:
    m = report.meeting
    names = {p.id: clean(p.name) or clean(p.id) for p in report.participants}
    show_lost = any((p.lost_s or 0.0) >= _LOST_SHOWN_S for p in report.participants)
    show_transcribed = bool(report.transcript)
    participants = []
    for n, p in enumerate(report.participants):
        share = min(max(p.talk_share, 0.0), 1.0) * 100
        participants.append(
            {
                "name": names[p.id],
                "talk": format_clock(p.talk_time_s),
                "share": format_pct(share),
                "width": f"{share:.1f}",
                "cells": round(share / 5),  # plain-text bar: one cell per 5 %
                "words": p.words,
                "wpm": round(p.wpm),
                "color": _PALETTE[n % len(_PALETTE)],
                "transcribed": format_clock(p.transcribed_s)
                if show_transcribed and p.transcribed_s is not None else "",
                "lost": f"{p.lost_s:.1f} s" if show_lost and p.lost_s is not None else "",
            }
        )
    a = report.analytics
    topics = sorted(report.topics, key=lambda t: -t.score)[:_TOPICS_SHOWN]
    per_participant = [
        {"name": names.get(pid, clean(pid)), "score": f"{score:+.2f}", "label": sentiment_label(score)}
        for pid, score in report.sentiment.per_participant.items()
    ]
    has_speech = bool(report.transcript or report.participants)
    return {
        "title": _fields(report)["title"],
        "when": format_datetime(m.started_at),
        "duration": format_duration(m.duration_s),
        "room": clean(m.room or ""),
        "participant_count": len(report.participants),
        "participants": participants,
        "overview": clean(report.overview or ""),
        "summary": [clean(s) for s in report.summary if clean(s)],
        "key_points": _key_points(report),
        "summary_by": clean(report.summary_by or ""),
        "action_items": [_insight(i, action=True) for i in report.action_items],
        "questions": [_insight(i) for i in report.questions],
        "follow_ups": [_insight(i) for i in report.follow_ups],
        "decisions": [_insight(i) for i in report.decisions],
        "trackers": [_tracker(t) for t in report.trackers],
        "topics": [clean(t.text) for t in topics if clean(t.text)],
        "sentiment": {
            "available": has_speech,
            "label": clean(report.sentiment.label) or sentiment_label(report.sentiment.overall),
            "score": f"{report.sentiment.overall:+.2f}",
            "per_participant": per_participant,
        },
        "analytics": {
            "available": a.duration_s > 0,
            "rows": [
                ("Talk", format_pct(a.talk_pct), format_duration(a.talk_s)),
                ("Silence", format_pct(a.silence_pct), format_duration(a.silence_s)),
                ("Overlap", format_pct(a.overlap_pct), format_duration(a.overlap_s)),
            ],
        },
        "transcript": _transcript(report, names),
        "warnings": [clean(w) for w in report.warnings if clean(w)],
        "errors": [clean(e) for e in report.errors if clean(e)],
        "attachments": [clean(f) for f in attachments if clean(f)],
        "recognizer": clean(report.recognizer or f"the {report.backend} backend"),
        "footer": _FOOTER,
    }


@functools.lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    """The template environment, made on first use: HTML templates (``*.html.j2``) are autoescaped."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("bot.report", _TEMPLATES),
        autoescape=jinja2.select_autoescape(enabled_extensions=("html", "html.j2"), default=False),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["md"] = md_escape
    return env


def _render(template: str, view: dict[str, Any]) -> str:
    return _environment().get_template(template).render(view)


def render_email(
    report: Report,
    *,
    subject_template: str = "Meeting notes: {title} ({date})",
    attachments: Sequence[str] = (),
) -> RenderedEmail:
    """The notes email for ``report``.

    Args:
        report: the meeting report.
        subject_template: ``str.format``-style; see ``render_subject`` for the names it may use.
        attachments: names of the files attached to the email, listed at the end of both bodies.

    Returns:
        The single-line subject, the HTML body and the plain-text alternative.
    """
    view = _view(report, attachments)
    return RenderedEmail(
        subject=render_subject(report, subject_template),
        html=_render("email.html.j2", view),
        text=_render("email.txt.j2", view),
    )


def render_html_page(report: Report) -> str:
    """The email's HTML body as a standalone page (summary.html); it lists no attachments."""
    return _render("email.html.j2", _view(report, ()))


def render_markdown(report: Report) -> str:
    """summary.md: the same sections as the email, in Markdown."""
    return _render("summary.md.j2", _view(report, ()))
