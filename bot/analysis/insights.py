"""Questions, action items and follow-ups found in a transcript by rules on its sentences.

Speech-to-text output is punctuated most of the time but not always, so every rule works on sentences
with their leading fillers ("okay so", "um") and a vocative name ("Bob, ...") taken off, and none relies
on a question mark alone. Owners and due dates follow the rules in ``find_action_items``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from bot.report.model import Insight, Segment

# --------------------------------------------------------------------------------------------------------
# Sentences


@dataclass(frozen=True, slots=True)
class Sentence:
    """One sentence of one segment."""

    segment: int  # index into the transcript
    text: str
    start_s: float
    participant_id: str
    name: str


_ABBREVIATIONS = frozenset(
    (  # noqa: SIM905
        "mr mrs ms dr prof st sr jr vs etc eg ie e.g i.e a.m p.m am pm approx no dept est inc ltd co corp "
        "jan feb mar apr jun jul aug sep sept oct nov dec mon tue tues wed thu thur thurs fri sat sun"
    ).split()
)
_BOUNDARY = re.compile(r"([.!?…]+)([\"'”’)\]]*)(\s+)")


def split_sentences(text: str) -> list[str]:
    """Splits text into sentences at ``.``, ``!``, ``?`` and ``…`` followed by whitespace.

    Abbreviations ("Dr.", "e.g.") and initials ("J. Smith") do not end a sentence; "?" and "!" always do.
    Text without punctuation comes back as one sentence.
    """
    text = " ".join(text.split())
    out: list[str] = []
    start = 0
    for m in _BOUNDARY.finditer(text):
        if m.group(1) == ".":
            before = text[start : m.start()].split()
            last = before[-1].lower().rstrip(".") if before else ""
            if last in _ABBREVIATIONS or (len(last) == 1 and last.isalpha()):
                continue
        piece = text[start : m.end(2)].strip()
        if any(c.isalnum() for c in piece):
            out.append(piece)
        start = m.end()
    tail = text[start:].strip()
    if any(c.isalnum() for c in tail):
        out.append(tail)
    return out


def sentences_of(segments: Sequence[Segment]) -> list[Sentence]:
    """Splits every segment into sentences, each with the time its first word was said.

    The start time comes from the segment's word timings when their count matches the text's words,
    else it is interpolated along the segment by character offset.
    """
    out: list[Sentence] = []
    for i, seg in enumerate(segments):
        text = " ".join(seg.text.split())
        n_tokens = len(text.split())
        offset = 0
        for sentence in split_sentences(text):
            pos = text.find(sentence, offset)
            pos = offset if pos < 0 else pos
            offset = pos + len(sentence)
            if seg.words and len(seg.words) == n_tokens:
                start = seg.words[len(text[:pos].split())].start_s
            elif text:
                start = seg.start_s + (seg.end_s - seg.start_s) * pos / len(text)
            else:
                start = seg.start_s
            out.append(Sentence(i, sentence, round(start, 3), seg.participant_id, seg.name))
    return out


# --------------------------------------------------------------------------------------------------------
# Normalisation and names

_FILLER = (
    r"(?:um+|uh+|uhm+|umm+|er+m?|hmm+|mm+|oh|ah|okay|ok|alright|all right|right|so|well|and|but|also|yeah|"
    r"yes|yep|yup|no|nope|now|then|hey|hi|hello|actually|anyway|anyways|great|cool|good|sure|thanks|"
    r"thank you|basically|just|by the way|one more thing|quick question|question|last thing|also)"
)
_FILLERS_RE = re.compile(rf"^(?:{_FILLER}\b[\s,.:;!-]*)+", re.I)

_CONTRACTIONS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(p, re.I), r)
    for p, r in [
        (r"\bwon't\b", "will not"),
        (r"\bcan't\b|\bcannot\b", "can not"),
        (r"\bshan't\b", "shall not"),
        (r"\blet's\b", "let us"),
        (r"\bgonna\b", "going to"),
        (r"\bgotta\b", "got to"),
        (r"\bwanna\b", "want to"),
        (r"\bi'm\b", "I am"),
        (r"(\w)n't\b", r"\1 not"),
        (r"(\w)'ll\b", r"\1 will"),
        (r"(\w)'re\b", r"\1 are"),
        (r"(\w)'ve\b", r"\1 have"),
        (r"(\w)'d\b", r"\1 would"),
        (r"(\w)'s (going|gonna|supposed|about|happy)\b", r"\1 is \2"),
    ]
]


_LETS = re.compile(
    r"(?<!\bit )(?<!\bthat )(?<!\bthis )(?<!\bwhich )(?<!\bwho )(?<!\bhe )(?<!\bshe )\blets\b", re.I
)


def _normalise(text: str) -> str:
    """Straight apostrophes, expanded contractions, no punctuation but commas; case is kept.

    Unpunctuated speech-to-text "lets meet" is read as "let's meet" unless it follows "it"/"that"/...
    """
    text = text.replace("’", "'").replace("‘", "'")
    text = _LETS.sub("let us", text)
    text = re.sub(
        r"\b(am|is|are|'m|'re|'s) (also|just|probably|definitely|still|then|now) (going to|gonna)\b",
        r"\1 \3 \2",
        text,
        flags=re.I,
    )
    for pattern, repl in _CONTRACTIONS:
        text = pattern.sub(repl, text)
    text = re.sub(r"[^\w\s,']", " ", text)
    text = re.sub(r"\s*,\s*", ", ", text)
    return " ".join(text.split()).strip(" ,")


def _strip_fillers(text: str) -> str:
    return _FILLERS_RE.sub("", text).strip(" ,")


# First names that are also common English words: matched only when capitalised.
_WORD_NAMES = frozenset(
    (  # noqa: SIM905
        "will may mark bill grace hope joy june rose pat sue art frank max jack sunny can chase guy ray "
        "dawn faith iris amber summer august april page rich don sky bud drew gene lane miles reed rob "
        "wade"
    ).split()
)


@dataclass(frozen=True, slots=True)
class _Names:
    """Participant name aliases (full display name, unique first name) to participant ids."""

    alias_to_id: dict[str, str]
    pattern: str  # regex alternation of the aliases, longest first ("" when nobody has a name)

    @classmethod
    def of(cls, participants: dict[str, str]) -> _Names:
        alias_to_id: dict[str, str] = {}
        firsts: dict[str, list[str]] = {}
        for pid, name in participants.items():
            full = _normalise(name).replace(",", "").lower()
            if len(full) >= 2:
                alias_to_id.setdefault(full, pid)
            tokens = full.split()
            if tokens and len(tokens[0]) >= 2 and tokens[0].isalpha():
                firsts.setdefault(tokens[0], []).append(pid)
        for first, pids in firsts.items():
            if len(pids) == 1:
                alias_to_id.setdefault(first, pids[0])
        parts = []
        for alias in sorted(alias_to_id, key=len, reverse=True):
            if alias in _WORD_NAMES:
                parts.append(rf"(?-i:{re.escape(alias.title())})")
            else:
                parts.append(re.escape(alias))
        return cls(alias_to_id, "|".join(parts))

    def id_of(self, said: str) -> str | None:
        return self.alias_to_id.get(" ".join(said.lower().split()))


# --------------------------------------------------------------------------------------------------------
# Questions

_WH = frozenset(["what", "when", "where", "who", "whom", "whose", "why", "how", "which"])
_WH_CONTRACTED = frozenset(
    ["what's", "when's", "where's", "who's", "how's", "why's", "whats", "hows", "wheres", "whos"]
)
_AUX = frozenset(
    (  # noqa: SIM905
        "can could would will should do does did is are was were have has had shall may might must am "
        "isn't aren't wasn't weren't don't doesn't didn't won't wouldn't can't couldn't shouldn't haven't "
        "hasn't hadn't"
    ).split()
)
_SUBJECTS = frozenset(
    (  # noqa: SIM905
        "i you we they he she it this that there these those everyone everybody anyone anybody someone "
        "somebody the a an our your my his her their its any all y'all u ya ye"
    ).split()
)
_PRONOUNS = frozenset(["i", "you", "we", "they", "he", "she", "it"])
_RHETORICAL = re.compile(
    r"^(?:you know|you see|i mean|know what i mean|see what i mean|huh|eh|what|sorry|pardon|really|"
    r"seriously|right|okay|ok|yeah|no|yes|is it|isn't it|you know what i mean)$",
    re.I,
)
_TAIL_FILLER = re.compile(r"(?:,\s*|\s+)(?:you know|you see|i mean)\s*\?*$", re.I)
_WORD = re.compile(r"[a-z0-9']+")


def _words(text: str) -> list[str]:
    return _WORD.findall(text.lower().replace("’", "'"))


def _strip_vocative(text: str, names: _Names) -> str:
    """Takes a leading "Bob," (or "bob" before "can you"/"what"/"please" when unpunctuated) off."""
    if not names.pattern:
        return text
    m = re.match(rf"^(?:{names.pattern})\s*[,:]\s*", text, re.I)
    if m:
        return text[m.end() :]
    m = re.match(
        rf"^(?:{names.pattern})\s+(?=(?:(?:can|could|would|will|are|do|did|have)\s+you|please|"
        rf"what|when|where|who|why|how|which)\b)",
        text,
        re.I,
    )
    return text[m.end() :] if m else text


def _starts_interrogative(words: list[str], names: _Names) -> bool:
    if not words:
        return False
    w0 = words[0]
    w1 = words[1] if len(words) > 1 else ""
    w2 = words[2] if len(words) > 2 else ""
    if w0 in _WH_CONTRACTED:
        return True
    if w0 in _WH:
        if not w1:
            return False
        if w1 in _AUX or (w0 == "why" and w1 == "not"):
            return True
        if w0 == "how" and w1 in {
            "much",
            "many",
            "long",
            "often",
            "far",
            "about",
            "come",
            "soon",
            "big",
            "old",
        }:
            return True
        if w0 == "what" and w1 in {"about", "if", "else", "happened", "happens"}:
            return True
        if w0 == "who" and w1 not in _PRONOUNS:
            return True
        return w0 in {"what", "which", "whose"} and w1 not in _PRONOUNS and w2 in _AUX
    if w0 in _AUX and w1:
        if w0 == "do" and w1 in {"it", "this", "that", "these", "those", "a", "an", "the"}:
            return False  # "do it now", "do the dishes": imperative
        if w0 in {"have", "has", "had"} and w1 in {"a", "an", "fun"}:
            return False  # "have a good one"
        return w1 in _SUBJECTS or names.id_of(w1) is not None
    if w0 in {"anyone", "anybody", "any"}:
        if w0 == "any":
            return w1 in {
                "questions",
                "question",
                "thoughts",
                "ideas",
                "idea",
                "comments",
                "objections",
                "updates",
                "update",
                "concerns",
                "feedback",
                "news",
                "suggestions",
                "volunteers",
                "takers",
                "other",
            }
        return w1 not in {"can", "could", "will", "would", "should", "must", "may", "is", "who", "that"}
    joined = " ".join(words[:4])
    return bool(re.match(r"^(?:i wonder|i was wondering|i am wondering|i'm wondering|wondering)\b", joined))


def is_question(sentence: str, participants: dict[str, str] | None = None) -> bool:
    """Whether a sentence asks something.

    A sentence ending in "?" is a question unless it is a rhetorical filler ("you know?", "right?");
    without "?" it is one when it starts, after fillers and a vocative name, with an interrogative
    (what/when/how .. + auxiliary or subject), an auxiliary followed by a subject ("will the budget",
    "can you", "is Bob"), "any questions/thoughts ..", "anyone ..", or "I wonder/was wondering".
    """
    names = _Names.of(participants or {})
    return _is_question(sentence, names)


def _is_question(sentence: str, names: _Names) -> bool:
    text = sentence.strip().replace("’", "'")
    core = _strip_vocative(_strip_fillers(text), names).strip()
    words = _words(core)
    if not words:
        return False
    if text.rstrip("\"')”’ ").endswith("?"):
        bare = core.rstrip("?!. ").strip()
        if _RHETORICAL.match(bare):
            return False
        return not (_TAIL_FILLER.search(text) and not _starts_interrogative(words, names))
    return _starts_interrogative(words, names)


def find_questions(segments: Sequence[Segment], participants: dict[str, str]) -> list[Insight]:
    """Every question asked, as said, in transcript order (see ``is_question``)."""
    names = _Names.of({**_segment_names(segments), **participants})
    return [
        Insight(text=s.text, speaker_id=s.participant_id, speaker=s.name, start_s=s.start_s)
        for s in sentences_of(segments)
        if _is_question(s.text, names)
    ]


# --------------------------------------------------------------------------------------------------------
# Due dates

_WEEKDAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
_MONTHS = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
]
_MONTH_ABBR = {m[:3]: i + 1 for i, m in enumerate(_MONTHS)} | {"sept": 9}
_NUMBERS = {
    "a": 1,
    "an": 1,
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "couple": 2,
    "a couple": 2,
    "a couple of": 2,
    "couple of": 2,
}
_WD = "|".join(_WEEKDAYS)
_MON = "|".join(_MONTHS) + r"|jan|feb|mar|apr|jun|jul|aug|sept|sep|oct|nov|dec"
_ORD = r"\d{1,2}(?:st|nd|rd|th)?"
_PART = r"(?:\s+(?:morning|afternoon|evening|night|eod))?"
_NUMWORD = (
    r"(?:\d+|a couple of|a couple|couple of|a few|few|an|a|one|two|three|four|five|six|seven|eight|nine|ten)"
)
_DUE_CORE = (
    rf"(?:the\s+)?end\s+of\s+(?:the\s+|this\s+|next\s+)?(?:day|week|month|year|quarter|sprint|today)"
    rf"|eod|eow|eom|close\s+of\s+business|cob"
    rf"|(?:the\s+)?day\s+after\s+tomorrow|tomorrow{_PART}|today|tonight|later\s+today"
    rf"|this\s+(?:morning|afternoon|evening)"
    rf"|(?:this|next|the\s+following|coming)\s+(?:week|month|sprint|quarter|year)"
    rf"|(?:this\s+coming\s+|this\s+|next\s+|coming\s+)?(?:{_WD}){_PART}"
    rf"|(?:the\s+)?weekend"
    rf"|(?:in|within)\s+(?:the\s+next\s+)?{_NUMWORD}\s+(?:days?|weeks?|months?|hours?)"
    rf"|(?:{_MON})\.?\s+{_ORD}(?:,?\s+\d{{4}})?|(?:the\s+)?{_ORD}\s+(?:of\s+)?(?:{_MON})(?:,?\s+\d{{4}})?"
    rf"|the\s+\d{{1,2}}(?:st|nd|rd|th)|\d{{1,2}}/\d{{1,2}}(?:/\d{{2,4}})?"
)
_DUE_RE = re.compile(
    rf"\b(?:(?:by|on|before|until|till|til|for|due|no\s+later\s+than|at\s+the\s+latest\s+by|over)\s+)?"
    rf"(?:{_DUE_CORE})\b"
    rf"|\bbefore\s+(?:the|our|this|next|the\s+next|tomorrow's|friday's|monday's)\s+"
    rf"(?:meeting|call|demo|release|launch|review|standup|stand-up|sync|deadline|presentation|workshop|"
    rf"offsite|holidays?|break)\b"
    rf"|\bafter\s+(?:the|this)\s+(?:call|meeting)\b|\basap\b|\bas\s+soon\s+as\s+possible\b",
    re.I,
)
_PREPOSITION = re.compile(
    r"^(?:by|on|before|until|till|til|for|due|no\s+later\s+than|at\s+the\s+latest\s+by|over)\s+", re.I
)


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


def _resolve(phrase: str, base: date, next_week_context: bool) -> tuple[int, date | None]:
    """(specificity, date) of a due phrase; specificity 0 when it cannot be resolved."""
    p = _PREPOSITION.sub("", " ".join(phrase.lower().split()))
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
    m = re.fullmatch(rf"(this coming |this |next |coming )?({_WD})(?: \w+)?", p)
    if m:
        weekday = _WEEKDAYS.index(m.group(2))
        if next_week_context:
            return 3, next_monday + timedelta(days=weekday)
        return 3, _next_weekday(base, weekday, allow_today=(m.group(1) or "").strip() == "this")
    m = re.fullmatch(r"(?:the )?end of (the |this |next )?(week|month|year|quarter|sprint)|(eow|eom)", p)
    if m:
        which = (m.group(1) or "").strip()
        unit = m.group(2) or ("week" if m.group(3) == "eow" else "month")
        if unit == "week":
            friday = (next_monday if which == "next" else this_monday) + timedelta(days=4)
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
    m = re.fullmatch(rf"(?:in|within) (?:the next )?({_NUMWORD}) (day|week|month|hour)s?", p)
    if m:
        n = _NUMBERS.get(m.group(1)) if not m.group(1).isdigit() else int(m.group(1))
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
    if re.search(rf"\b(?:{_MON})\b|/", p):
        parsed = _dateparse(p, base)
        return (3, parsed) if parsed is not None else (0, None)
    return 0, None


def _dateparse(text: str, base: date) -> date | None:
    import dateparser  # type: ignore[import-untyped]  # imported on first use: slow to import

    text = re.sub(r"\b(" + "|".join(_MONTH_ABBR) + r")\.", r"\1", text)
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


def find_due(text: str, meeting_date: date) -> tuple[str | None, date | None]:
    """The deadline phrase of a sentence as said ("by Thursday") and its date, if any.

    Dates resolve against ``meeting_date``: "today"/"tonight"/"end of the day" is that day, weekday names
    the next such day after it ("this Friday" may be the same day; with "next week" in the sentence the
    weekday of next week), "end of the week" Friday of that week, "next week" Monday of next week,
    "next month" the first of next month, "in two days" two days on, month-and-day dates the next such
    date. "before the meeting", "ASAP" and the like are kept as the phrase with no date. When several
    phrases occur, the most specific one wins ("next week on Tuesday" -> Tuesday of next week).
    """
    matches = list(_DUE_RE.finditer(text))
    if not matches:
        return None, None
    next_week = bool(re.search(r"\bnext\s+week\b", text, re.I))
    best: tuple[int, str, date | None] | None = None
    for m in matches:
        phrase = " ".join(m.group(0).split())
        if re.fullmatch(r"(?:for|on|over) (?:today|tonight)|for (?:this|next) (?:week|month)", phrase, re.I):
            continue
        rank, when = _resolve(phrase, meeting_date, next_week)
        if best is None or rank > best[0]:
            best = (rank, phrase, when)
    if best is None:
        return None, None
    return best[1], best[2]


# --------------------------------------------------------------------------------------------------------
# Action items and follow-ups

# Verbs that never make a task ("I can see", "let me think", "we will be fine").
_NEVER = frozenset(
    (  # noqa: SIM905
        "see hear think guess imagine understand know suppose assume say wonder hope wish bet believe "
        "feel agree mean admit reckon recall like love appreciate expect doubt notice realise realize let "
        "not never"
    ).split()
)
# Things done in the meeting itself: a task only when a deadline comes with them.
_IN_MEETING = frozenset(
    (  # noqa: SIM905
        "start begin move go wrap take_a_look look continue focus recap summarize summarise discuss talk "
        "jump dive kick keep get_started switch turn show_you share_screen pull_up bring_up stop mute unmute "
        "explain clarify repeat rephrase introduce interrupt finish_up pass hand walk scroll zoom click "
        "elaborate"
    ).split()
)
_ADVERBS = (
    r"(?:(?:also|just|probably|definitely|then|still|actually|quickly|please|first|both|all|really|certainly|"
    r"surely|maybe|personally|gladly|now|later|totally|immediately|go ahead and|try to|try and|be sure to|"
    r"make sure to|need to|have to|be able to|have got to|get to|happily|be happy to|"
    r"be the one to|take care to|start to|begin to)\s+)*"
)
_SELF_MODAL = (
    r"(?:will|shall|can|am going to|am about to|need to|have to|have got to|got to|must|am happy to|"
    r"would be happy to|would be glad to|volunteer to|am supposed to|plan to|am planning to)"
)
_OTHER_MODAL = (
    r"(?:will|shall|can|could|should|must|needs? to|has to|have to|has got to|got to|is going to|"
    r"is supposed to|is happy to|ought to)"
)
_TEAM_MODAL = (
    r"(?:will|shall|should|must|need to|have to|have got to|got to|are going to|ought to|"
    r"will need to|will have to|should probably|are supposed to)"
)
_SUBORDINATE = frozenset(
    (  # noqa: SIM905
        "if unless whether when what how where why which who whatever whoever hope wish wonder does do "
        "did is are was were can could would should will"
    ).split()
)
_GROUP = re.compile(r"^(?:guys|all|everyone|everybody|folks|both)\b", re.I)
_FU_STRONG = (
    r"(?:reconvene|regroup|circle back|touch base|catch up|sync up|sync|check in|follow up|reconnect|"
    r"get together|huddle|pick (?:this|it|that) (?:back )?up|revisit|take (?:this|it|that) offline)"
)
_FU_WEAK = r"(?:meet up|meet|talk|speak|chat|discuss|connect|go over|continue|hop on a call|jump on a call)"
_FU_PROPOSER = (
    r"(?:let us|we should|we will|we can|we could|we need to|we have to|we must|we are going to|"
    r"shall we|should we|can we|could we|why do not we|how about we|maybe we|we might|we ought to|"
    r"we would|i would like to|i would love to|i will|i can|i am going to|we might want to)"
)
_FU_NOUN = (
    r"(?:follow[- ]?ups?|meetings?|calls?|syncs?|check[- ]?ins?|catch[- ]?ups?|sessions?|chats?|meetups?|"
    r"invites?|invitations?|1:1s?|one[- ]on[- ]ones?|huddles?|stand[- ]?ups?|touch ?points?|"
    r"time to (?:meet|talk))"
)
_FU_SCHEDULE = re.compile(
    rf"\b(?:schedule|set up|setup|book|arrange|organi[sz]e|plan|send out|send|put|"
    rf"find a time for|find time for|"
    rf"get|have|do|set)\s+(?:(?:a|an|another|the|our|one|some|more|next|quick|short|brief|separate|"
    rf"dedicated|calendar|new|follow-?up|proper|small|second)\s+){{0,3}}{_FU_NOUN}\b",
    re.I,
)
_ACKNOWLEDGE = re.compile(
    r"\b(?:I\s+(?:will|can|shall|am going to|would be happy to|am happy to|could)|let me)\s+"
    r"(?:(?:also|just|gladly|happily|definitely|certainly|totally)\s+)?"
    r"(?:(?:do|take|handle|own|grab|manage|cover|get|sort|look into|take care of) (?:it|that|this|one)\b"
    r"|(?:have|get) (?:it|that|this|them) (?:ready|done|sorted|over)\b)",
    re.I,
)
_FU_SAME_TIME = re.compile(r"\bsame time (?:next week|tomorrow|on \w+day)\b", re.I)


@dataclass(frozen=True, slots=True)
class _Match:
    start: int
    kind: str  # "self", "name", "you", "team"
    owner_id: str | None = None


def _verb_ok(rest: str, has_due: bool) -> bool:
    """Whether the words after a modal start a task ("send the report", not "see", "be fine")."""
    rest = re.sub(rf"^{_ADVERBS}", "", rest.strip(" ,"), flags=re.I)
    words = _words(rest)
    if not words:
        return False
    verb = words[0]
    nxt = words[1] if len(words) > 1 else ""
    if verb in {"be", "get"} and nxt.endswith("ing") and len(nxt) > 4:
        verb, nxt = nxt, (words[2] if len(words) > 2 else "")
    elif verb == "be":
        return False
    if verb in {"the", "a", "an", "not", "never", "no", "this", "that"} or verb in _PRONOUNS - {"it"}:
        return False
    if verb == "tell" and nxt in {"you", "that", "me", "us"}:
        return False
    if verb == "take" and nxt == "a" and len(words) > 2 and words[2] == "look":
        verb = "take_a_look"
    elif verb == "share" and "screen" in words[:5]:
        verb = "share_screen"
    elif verb == "get" and nxt == "started":
        verb = "get_started"
    elif verb in {"pull", "bring"} and nxt == "up":
        verb = f"{verb}_up"
    elif verb == "show" and nxt in {"you", "us", "everyone", "everybody", "you all"}:
        verb = "show_you"
    elif verb in {"talk", "speak"} and nxt != "about":
        verb = "talk_to"  # "I'll talk to marketing" is a task; "let's talk about" is the meeting itself
    elif verb in {"leave", "drop", "run", "hop", "head", "jump"} and (
        nxt in {"", "now", "early", "soon", "off", "out", "at", "in", "for", "right", "shortly"}
        or nxt in {"the", "this"}
        and len(words) > 2
        and words[2] in {"call", "meeting"}
    ):
        return False  # "I have to run", "I need to leave early"
    elif verb == "finish" and nxt in {"up", "here"}:
        verb = "finish_up"
    if verb in _NEVER:
        return False
    return not (verb in _IN_MEETING and not has_due)


def _info_request(rest: str) -> bool:
    """A request for information or an in-call gesture, not a task ("can you tell me", "can you hear me")."""
    return bool(
        re.match(
            r"^(?:(?:please|just|quickly|maybe|also)\s+)*(?:tell (?:me|us)|hear|see|repeat|say|"
            r"explain|clarify|"
            r"elaborate|remind (?:me|us) (?:what|who|when|how|where|why|which|if)|give (?:me|"
            r"us) (?:a|an|the)?\s*"
            r"(?:quick |brief |short )?(?:update|overview|summary|status|sec|second|minute|"
            r"moment|idea|example)|"
            r"make it|do (?:monday|tuesday|wednesday|thursday|friday|saturday|sunday|that time)|"
            r"believe|imagine|"
            r"speak up|mute|unmute|go back|scroll|zoom|click|stop sharing|share your screen|"
            r"let (?:me|us) know|"
            r"walk (?:me|us) through|think|remember|recall|confirm (?:that|if|whether))\b",
            rest,
            re.I,
        )
    )


class _Finder:
    """Action-item and follow-up rules over one transcript."""

    def __init__(self, segments: Sequence[Segment], participants: dict[str, str], meeting_date: date) -> None:
        self.segments = segments
        self.participants = {**_segment_names(segments), **participants}
        self.names = _Names.of(self.participants)
        self.meeting_date = meeting_date
        n = self.names.pattern
        self.name_group = rf"(?P<name>{n})" if n else r"(?P<name>(?!x)x)"
        self.re_self = re.compile(
            rf"\b(?:I\s+(?:(?:also|just|probably|definitely|then|can also|will also)\s+)?{_SELF_MODAL}"
            rf"|let me)\s+(?=(?P<rest>.*))",
            re.I,
        )
        self.re_name = re.compile(
            rf"\b{self.name_group}(?:\s+and\s+(?:I|me|{n or '(?!x)x'}))?\s+(?:(?:also|just|"
            rf"probably|then)\s+)?"
            rf"{_OTHER_MODAL}\s+(?=(?P<rest>.*))",
            re.I,
        )
        self.re_name_aux = re.compile(
            rf"^(?:can|could|would|will)\s+{self.name_group}\s+(?:please\s+)?(?=(?P<rest>.*))", re.I
        )
        self.re_you = re.compile(
            r"\b(?:(?:can|could|would|will)\s+you(?P<group1>\s+(?:guys|all|both|two))?\s+(?:please\s+)?"
            r"|would you mind\s+|(?:i|we)\s+(?:need|want|would like)\s+you(?P<group2>\s+(?:guys|"
            r"all|both))?\s+to\s+"
            r"|you(?P<group3>\s+(?:guys|all|both|two))?\s+(?:will need to|will have to|need to|have to|must|"
            r"have got to|are going to need to)\s+)(?=(?P<rest>.*))",
            re.I,
        )
        self.re_you_soft = re.compile(r"\byou\s+(?:should|will|could)\s+(?=(?P<rest>.*))", re.I)
        self.re_imperative = re.compile(
            r"^(?:please\s+|(?:do not|don't) forget to\s+|remember to\s+|make sure (?:to|you|that you)\s+)"
            r"(?=(?P<rest>.*))",
            re.I,
        )
        self.re_someone = re.compile(
            r"^(?:can|could|would|will)\s+(?:someone|somebody|anyone|anybody|one of you)\s+(?:please\s+)?"
            r"(?=(?P<rest>.*))",
            re.I,
        )
        self.re_team = re.compile(
            rf"\b(?:(?:we|we all|we both|all of us|the team|someone|somebody|one of us)\s+"
            rf"(?:(?:also|just|probably|definitely|really|still|then|all)\s+)?"
            rf"(?:{_TEAM_MODAL}|needs to|has to|should|must|is going to)|let us)\s+(?=(?P<rest>.*))",
            re.I,
        )

    # -- owners ------------------------------------------------------------------------------------------

    def _display(self, pid: str | None) -> str | None:
        return None if pid is None else self.participants.get(pid, pid)

    def _vocative(self, norm: str) -> str | None:
        """A participant addressed by name at the start ("Bob, ...") or end ("..., Bob") of a sentence."""
        if not self.names.pattern:
            return None
        core = _strip_fillers(norm)
        m = re.match(rf"^{self.name_group}\s*,", core, re.I) or re.match(
            rf"^{self.name_group}\s+(?=(?:can|could|would|will)\s+you\b|please\b|you\b|we\b|"
            rf"let us\b|i need you\b)",
            core,
            re.I,
        )
        if m:
            return self.names.id_of(m.group("name"))
        m = re.search(rf",\s*{self.name_group}\s*(?:,\s*please)?\s*$", norm, re.I)
        if m:
            return self.names.id_of(m.group("name"))
        if "," not in norm:  # unpunctuated: a trailing name not after a preposition
            m = re.search(rf"(?P<prev>\w+)\s+{self.name_group}\s*(?:please\s*)?$", norm, re.I)
            prepositions = {
                "to",
                "with",
                "for",
                "from",
                "about",
                "by",
                "and",
                "than",
                "of",
                "on",
                "at",
                "ask",
                "tell",
                "cc",
                "like",
                "as",
                "or",
                "call",
                "email",
                "ping",
                "message",
                "remind",
                "help",
                "thank",
                "thanks",
            }
            if m and m.group("prev").lower() not in prepositions:
                return self.names.id_of(m.group("name"))
        return None

    def _next_speaker(self, index: int) -> str | None:
        speaker = self.segments[index].participant_id
        for seg in self.segments[index + 1 :]:
            if seg.participant_id != speaker:
                return seg.participant_id
        return None

    @staticmethod
    def _subordinate(norm: str, start: int) -> bool:
        before = _words(norm[:start])
        return bool(before) and before[-1] in _SUBORDINATE

    # -- rules -------------------------------------------------------------------------------------------

    def _action(self, sentence: Sentence, norm: str, has_due: bool) -> _Match | None:
        """The earliest task pattern in a sentence (see ``find_action_items``)."""
        found: list[_Match] = []
        core = _strip_vocative(_strip_fillers(norm), self.names)
        core_at = norm.find(core) if core else 0
        for m in self.re_self.finditer(norm):
            if not self._subordinate(norm, m.start()) and _verb_ok(m.group("rest"), has_due):
                found.append(_Match(m.start(), "self", sentence.participant_id))
        for m in self.re_name.finditer(norm):
            pid = self.names.id_of(m.group("name"))
            if pid and not self._subordinate(norm, m.start()) and _verb_ok(m.group("rest"), has_due):
                found.append(_Match(m.start(), "name", pid))
        m2 = self.re_name_aux.match(core)
        if m2 and (pid := self.names.id_of(m2.group("name"))) and _verb_ok(m2.group("rest"), has_due):
            found.append(_Match(core_at, "name", pid))
        for m in self.re_you.finditer(norm):
            rest = m.group("rest")
            if _info_request(rest) or not _verb_ok(rest, has_due) or self._subordinate(norm, m.start()):
                continue
            group = any(m.group(g) for g in ("group1", "group2", "group3")) or bool(_GROUP.match(rest))
            found.append(_Match(m.start(), "you", None if group else "?"))
        if self._vocative(norm) is not None:
            for m in self.re_you_soft.finditer(norm):
                if not self._subordinate(norm, m.start()) and _verb_ok(m.group("rest"), has_due):
                    found.append(_Match(m.start(), "you", "?"))
        m3 = self.re_imperative.match(core)
        if m3 and not _info_request(m3.group("rest")) and _verb_ok(m3.group("rest"), has_due):
            found.append(_Match(core_at, "you", None))  # "please ..." to the room: the addressed, else nobody
        m4 = self.re_someone.match(core)
        if m4 and not _info_request(m4.group("rest")) and _verb_ok(m4.group("rest"), has_due):
            found.append(_Match(core_at, "team", None))
        for m in self.re_team.finditer(norm):
            if not self._subordinate(norm, m.start()) and _verb_ok(m.group("rest"), has_due):
                found.append(_Match(m.start(), "team", None))
        if not found:
            return None
        return min(found, key=lambda f: f.start)

    def _owner(self, match: _Match, sentence: Sentence, norm: str) -> str | None:
        if match.kind in {"self", "name"}:
            return self._display(match.owner_id)
        addressed = self._vocative(norm)
        if addressed is not None:
            return self._display(addressed)
        if match.kind == "you" and match.owner_id == "?":
            return self._display(self._next_speaker(sentence.segment))
        return None

    def _follow_up(self, norm: str, has_date: bool) -> _Match | None:
        """A proposal to meet or talk again (see ``find_follow_ups``)."""
        m = re.search(
            rf"\b(?P<who>{_FU_PROPOSER})\s+{_ADVERBS}(?P<verb>{_FU_STRONG})\b(?=(?P<rest>.*))", norm, re.I
        )
        if m and not re.search(r"\bnot\s*$", norm[: m.start("verb")]):
            who = m.group("who").lower()
            mine = who.startswith("i ")
            external = re.match(
                r"^\s+(?:with|on)\s+(?!(?:us|you|everyone|everybody|the team|each other|you all|"
                r"all of you)\b)",
                m.group("rest"),
                re.I,
            )
            if not (mine and external and m.group("verb").lower() in {"follow up", "check in"}):
                return _Match(m.start(), "self" if mine else "team")
        m = re.search(
            rf"\b(?P<who>{_FU_PROPOSER})\s+{_ADVERBS}(?P<verb>{_FU_WEAK})\b(?=(?P<rest>.*))", norm, re.I
        )
        if (
            m
            and not m.group("who").lower().startswith("i ")
            and not re.search(r"\bnot\s*$", norm[: m.start("verb")])
        ):
            rest = m.group("rest")
            if has_date or re.search(
                r"\b(?:again|later|offline|another time|separately|follow[- ]?up|after (?:this|"
                r"the) (?:call|meeting))\b",
                rest,
                re.I,
            ):
                return _Match(m.start(), "team")
        m = _FU_SCHEDULE.search(norm)
        if m and not re.search(r"\b(?:not|never|no)\s+(?:\w+\s+){0,2}$", norm[: m.start()]):
            before = _words(norm[: m.start()])
            verb = m.group(0).split()[0].lower()
            proposal = (
                bool(
                    re.search(
                        rf"\b(?:{_FU_PROPOSER}|let us|please|you|i)\s+{_ADVERBS}$",
                        norm[: m.start()] + " ",
                        re.I,
                    )
                )
                or not before
            )
            if verb in {"get", "have", "do", "put", "set", "send", "plan"} and not proposal:
                return None
            if self._subordinate(norm, m.start()) and not proposal:
                return None
            kind = "self" if re.search(r"\bi\s+(?:\w+\s+){0,4}$", norm[: m.start()], re.I) else "team"
            if re.search(r"\b(?:can|could|would|will)\s+you\s+(?:\w+\s+){0,2}$", norm[: m.start()], re.I):
                kind = "you"
            return _Match(m.start(), kind)
        m = _FU_SAME_TIME.search(norm)
        if m:
            return _Match(m.start(), "team")
        return None

    def run(self) -> tuple[list[Insight], list[Insight]]:
        actions: list[Insight] = []
        follow_ups: list[Insight] = []
        segment_of: dict[int, int] = {}  # id(action item) -> its segment index
        for s in sentences_of(self.segments):
            norm = _normalise(s.text)
            due, due_date = find_due(s.text, self.meeting_date)
            fu = self._follow_up(norm, due_date is not None)
            if fu is not None:
                owner_match = _Match(fu.start, fu.kind, s.participant_id if fu.kind == "self" else "?")
                owner = (
                    self._owner(owner_match, s, norm)
                    if fu.kind != "team"
                    else self._display(self._vocative(norm))
                )
                follow_ups.append(_insight(s, owner, due, due_date))
                continue
            act = self._action(s, norm, due is not None)
            if act is None:
                continue
            owner = self._owner(act, s, norm)
            if act.kind == "self" and _ACKNOWLEDGE.search(norm):
                # "Yes, I can do that": takes on the request just made instead of being a new item.
                antecedent = next(
                    (
                        k
                        for k in range(len(actions) - 1, -1, -1)
                        if actions[k].speaker_id != s.participant_id
                        and s.segment - 3 <= segment_of[id(actions[k])] < s.segment
                    ),
                    None,
                )
                if antecedent is not None:
                    prior = actions[antecedent]
                    if prior.owner is None or prior.owner == owner:
                        update: dict[str, object] = {"owner": owner}
                        if prior.due is None and due is not None:
                            update |= {"due": due, "due_date": due_date}
                        actions[antecedent] = prior.model_copy(update=update)
                        segment_of[id(actions[antecedent])] = segment_of[id(prior)]
                    continue
            item = _insight(s, owner, due, due_date)
            segment_of[id(item)] = s.segment
            actions.append(item)
        return actions, follow_ups


def _insight(s: Sentence, owner: str | None, due: str | None, due_date: date | None) -> Insight:
    return Insight(
        text=s.text,
        speaker_id=s.participant_id,
        speaker=s.name,
        start_s=s.start_s,
        owner=owner,
        due=due,
        due_date=due_date,
    )


def _segment_names(segments: Iterable[Segment]) -> dict[str, str]:
    return {seg.participant_id: seg.name for seg in segments if seg.name}


def find_action_items(
    segments: Sequence[Segment], participants: dict[str, str], meeting_date: date
) -> list[Insight]:
    """Commitments and requests, one per sentence, with owner (a display name) and deadline.

    Owner rules, the earliest pattern in the sentence winning:

    - "I will / I'll / I am going to / I can / I need to / let me <task>": the speaker;
    - "<Name> will / is going to / needs to / should / can <task>": that participant (display name or
      unique first name, case-insensitive);
    - "<Name>, can you / could you / please <task>" or "can you <task>, <Name>?": the addressed participant;
    - "can you / could you / would you / please / you need to <task>" with nobody named: the next other
      participant to speak after it (the one who answers), else None; "can you all/guys": None;
    - "we need to / we should / we will / let's / someone needs to <task>": None (the team), unless a
      participant is addressed by name.

    A task needs a verb that does something: "I can see", "let me think", "we'll be fine", negations
    ("I won't"), conditionals ("if I can"), questions for information ("can you tell me ...", "can you
    hear me") do not count; in-meeting moves ("let's move on", "let me share my screen") count only with a
    deadline. Proposals to meet again are follow-ups, not action items. Deadlines: ``find_due``.
    """
    return _Finder(segments, participants, meeting_date).run()[0]


def find_follow_ups(
    segments: Sequence[Segment], participants: dict[str, str], meeting_date: date
) -> list[Insight]:
    """Proposals to meet, talk, sync or check in again, with their deadline.

    "let's meet again next week", "we'll reconvene on Monday", "let's catch up tomorrow", "let's schedule
    a follow-up", "I'll set up a call", "can you send an invite": verbs that mean meeting again on their own
    (reconvene, regroup, sync, catch up, check in, circle back, touch base, follow up) in a proposal;
    plain meet/talk/discuss only with "again", "later", "offline" or a date; scheduling a
    meeting/call/sync/follow-up. "I'll follow up with the vendor" is an action item instead. Owner as for
    action items; None for the team.
    """
    return _Finder(segments, participants, meeting_date).run()[1]


def find_insights(
    segments: Sequence[Segment], participants: dict[str, str], meeting_date: date
) -> tuple[list[Insight], list[Insight], list[Insight]]:
    """Questions, action items and follow-ups in one pass (see the ``find_*`` functions)."""
    actions, follow_ups = _Finder(segments, participants, meeting_date).run()
    return find_questions(segments, participants), actions, follow_ups
