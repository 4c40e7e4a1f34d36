"""Deadlines: the due phrase of a sentence ("by Thursday") and the date it means.

Dates resolve against the meeting date; each phrase also gets a specificity (a day beats a week beats
"next month") so that the most specific of several phrases wins.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta

from bot.analysis.insights.lexicon import (
    DUE_PREPOSITION_RE,
    DUE_RE,
    MON,
    MONTH_ABBR,
    NOT_DUE,
    NUMBERS,
    NUMWORD,
    WD,
    WEEKDAYS,
)

_UNITS = ["first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth"]
_TEENS = ["tenth", "eleventh", "twelfth", "thirteenth", "fourteenth", "fifteenth", "sixteenth", "seventeenth",
          "eighteenth", "nineteenth"]
ORDINAL_DAYS = {
    **{w: n for n, w in enumerate(_UNITS, 1)}, **{w: n for n, w in enumerate(_TEENS, 10)},
    "twentieth": 20, **{f"twenty {w}": 20 + n for n, w in enumerate(_UNITS, 1)}, "thirtieth": 30,
    "thirty first": 31,
}
_ORDINAL = "|".join(sorted((w.replace(" ", r"[\s-]") for w in ORDINAL_DAYS), key=len, reverse=True))
# "August the first" is a date; "August the first draft" is not: after the ordinal, only the end of the sentence
# or a word that cannot start the noun it would qualify.
_NOT_A_NOUN = r"(?![ \t]+(?!(?:please|then|and|or|at|so|if|latest|works|is|would|should|will)\b)[a-z])"
_SPOKEN_DAY = re.compile(
    rf"\b(?:(the\s+)({_ORDINAL})(\s+of\s+(?:{MON}))|((?:{MON})\s+)(?:the\s+)?({_ORDINAL})\b{_NOT_A_NOUN})\b", re.I
)


def _digits(m: re.Match[str]) -> str:
    word = m.group(2) or m.group(5)
    n = ORDINAL_DAYS[" ".join(word.lower().replace("-", " ").split())]
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{m.group(1)}{n}{suffix}{m.group(3)}" if m.group(2) else f"{m.group(4)}{n}{suffix}"


def find_due(text: str, meeting_date: date) -> tuple[str | None, date | None]:
    """The deadline phrase of a sentence as said ("by Thursday") and its date, if any.

    Dates resolve against ``meeting_date``: "today"/"tonight"/"end of the day" is that day, weekday names
    the next such day after it ("this Friday" may be the same day; with "next week" in the sentence the
    weekday of next week), "end of the week" Friday of that week, "next week" Monday of next week,
    "next month" the first of next month, "in two days" two days on, month-and-day dates the next such
    date. "before the meeting", "ASAP" and the like are kept as the phrase with no date. When several
    phrases occur, the most specific one wins ("next week on Tuesday" -> Tuesday of next week). A day said
    in words next to a month ("the second of December", "January the fifteenth") is read as its number (and
    given so in the phrase: "the 2nd of December").
    """
    text = _SPOKEN_DAY.sub(_digits, text)
    matches = list(DUE_RE.finditer(text))
    if not matches:
        return None, None
    next_week = bool(re.search(r"\bnext\s+week\b", text, re.I))
    best: tuple[int, str, date | None] | None = None
    for m in matches:
        phrase = " ".join(m.group(0).split())
        if NOT_DUE.fullmatch(phrase):
            continue
        try:
            rank, when = _resolve(phrase, meeting_date, next_week)
        except (OverflowError, ValueError):  # "in 99999999 days": past the calendar's end, no date
            rank, when = 0, None
        if best is None or rank > best[0]:
            best = (rank, phrase, when)
    if best is None:
        return None, None
    return best[1], best[2]


def _resolve(phrase: str, base: date, next_week_context: bool) -> tuple[int, date | None]:
    """(specificity, date) of a due phrase; specificity 0 when it cannot be resolved."""
    p = DUE_PREPOSITION_RE.sub("", " ".join(phrase.lower().split()))
    this_monday = base - timedelta(days=base.weekday())
    next_monday = this_monday + timedelta(days=7)
    if p in {"today", "tonight", "later today", "eod", "cob", "close of business"} or re.fullmatch(
        r"(?:the )?end of (?:the |this )?(?:day|today)|this (?:morning|afternoon|evening)", p
    ):
        return 3, base
    if p.startswith("tomorrow"):
        return 3, base + timedelta(days=1)
    if re.fullmatch(r"(?:the )?day after tomorrow", p):
        return 3, base + timedelta(days=2)
    m = re.fullmatch(rf"(this coming |this |next |coming )?({WD})(?: \w+)?", p)
    if m:
        weekday = WEEKDAYS.index(m.group(2))
        if next_week_context:
            return 3, next_monday + timedelta(days=weekday)
        return 3, _next_weekday(base, weekday, allow_today=(m.group(1) or "").strip() == "this")
    m = re.fullmatch(r"(?:the )?end of (the |this |next )?(week|month|year|quarter|sprint)|(eow|eom)", p)
    if m:
        return _end_of(m.group(2) or ("week" if m.group(3) == "eow" else "month"), m.group(1), base)
    if p == "this week":
        return 2, max(this_monday + timedelta(days=4), base)
    if p in {"next week", "the following week", "coming week"}:
        return 1, next_monday
    if p in {"next month", "the following month", "coming month"}:
        return 1, _add_months(base.replace(day=1), 1)
    if p == "this month":
        return 2, _month_end(base.year, base.month)
    if re.fullmatch(r"(?:the )?weekend", p):
        return 2, _next_weekday(base, 5, allow_today=True)
    m = re.fullmatch(rf"(?:in|within) (?:the next )?({NUMWORD}) (day|week|month|hour)s?", p)
    if m:
        n = NUMBERS.get(m.group(1)) if not m.group(1).isdigit() else int(m.group(1))
        if n is None:
            return 0, None
        if m.group(2) == "hour":
            return 3, base
        if m.group(2) == "month":
            return 2, _add_months(base, n)
        return 3, base + timedelta(days=n * (7 if m.group(2) == "week" else 1))
    m = re.fullmatch(r"(?:the )?(\d{1,2})(?:st|nd|rd|th)", p)
    if m:
        day = int(m.group(1))
        for months in range(3):
            d = _add_months(base.replace(day=1), months)
            if day <= _month_end(d.year, d.month).day and d.replace(day=day) >= base:
                return 3, d.replace(day=day)
        return 0, None
    if re.search(rf"\b(?:{MON})\b|/", p):
        parsed = _dateparse(p, base)
        return (3, parsed) if parsed is not None else (0, None)
    return 0, None


def _end_of(unit: str, which_said: str | None, base: date) -> tuple[int, date | None]:
    """(specificity, date) of the end of this or next week/month/year/quarter; a sprint has no date."""
    which = (which_said or "").strip()
    if unit == "week":
        monday = base - timedelta(days=base.weekday() - (7 if which == "next" else 0))
        friday = monday + timedelta(days=4)
        return 2, max(friday, base)
    if unit == "month":
        d = _add_months(base.replace(day=1), 1 if which == "next" else 0)
        return 2, _month_end(d.year, d.month)
    if unit == "year":
        return 2, date(base.year + (which == "next"), 12, 31)
    if unit == "quarter":
        q_end = ((base.month - 1) // 3 + 1) * 3 + (3 if which == "next" else 0)
        year = base.year + (q_end - 1) // 12
        return 2, _month_end(year, (q_end - 1) % 12 + 1)
    return 0, None


def _next_weekday(base: date, weekday: int, *, allow_today: bool = False) -> date:
    days = (weekday - base.weekday()) % 7
    if days == 0 and not allow_today:
        days = 7
    return base + timedelta(days=days)


def _month_end(year: int, month: int) -> date:
    first_next = date(year + (month == 12), month % 12 + 1, 1)
    return first_next - timedelta(days=1)


def _add_months(d: date, months: int) -> date:
    total = d.month - 1 + months
    year, month = d.year + total // 12, total % 12 + 1
    return date(year, month, min(d.day, _month_end(year, month).day))


def _dateparse(text: str, base: date) -> date | None:
    import dateparser  # type: ignore[import-untyped]  # imported on first use: slow to import

    text = re.sub(r"\b(" + "|".join(MONTH_ABBR) + r")\.", r"\1", text)
    parsed = dateparser.parse(
        text,
        languages=["en"],
        settings={
            "PREFER_DATES_FROM": "future",
            "RELATIVE_BASE": datetime(base.year, base.month, base.day),
            "PREFER_DAY_OF_MONTH": "first",
        },
    )
    if not isinstance(parsed, datetime):
        return None
    result = parsed.date()
    if result < base:  # a day of the month already past this year: next year
        try:
            result = result.replace(year=result.year + 1)
        except ValueError:
            return None
    return result
