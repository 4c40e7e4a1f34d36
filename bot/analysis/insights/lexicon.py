"""Word lists and regex fragments shared by the insight rules.

Patterns meant to run on normalised text (see ``sentences.normalise``) spell contractions out ("let us",
"do not"); the rest match text as said.
"""

from __future__ import annotations

import re

NEVER_MATCHES = r"(?!x)x"  # a regex that matches nothing, in place of an empty alternation

# --------------------------------------------------------------------------------------------------------
# Sentences and normalisation

ABBREVIATIONS = frozenset(
    (  # noqa: SIM905
        "mr mrs ms dr prof st sr jr vs etc eg ie e.g i.e a.m p.m am pm approx no dept est inc ltd co corp "
        "jan feb mar apr jun jul aug sep sept oct nov dec mon tue tues wed thu thur thurs fri sat sun"
    ).split()
)
_FILLER = (
    r"(?:um+|uh+|uhm+|umm+|er+m?|hmm+|mm+|oh|ah|okay|ok|alright|all right|right|so|well|and|but|also|yeah|"
    r"yes|yep|yup|no|nope|now|then|hey|hi|hello|actually|anyway|anyways|great|cool|good|sure|thanks|"
    r"thank you|basically|just|by the way|one more thing|quick question|question|last thing)"
)
FILLERS_RE = re.compile(rf"^(?:{_FILLER}\b[\s,.:;!-]*)+", re.I)
CONTRACTIONS: list[tuple[re.Pattern[str], str]] = [
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
# Unpunctuated "lets" is "let us" unless it follows a subject ("it lets us").
LETS = re.compile(
    r"(?<!\bit )(?<!\bthat )(?<!\bthis )(?<!\bwhich )(?<!\bwho )(?<!\bhe )(?<!\bshe )\blets\b", re.I
)

# --------------------------------------------------------------------------------------------------------
# Names

# First names that are also common English words: matched only when capitalised.
WORD_NAMES = frozenset(
    (  # noqa: SIM905
        "will may mark bill grace hope joy june rose pat sue art frank max jack sunny can chase guy ray "
        "dawn faith iris amber summer august april page rich don sky bud drew gene lane miles reed rob "
        "wade"
    ).split()
)
# Words after which a trailing name is not someone addressed ("talk to Bob", "thanks Bob").
NOT_VOCATIVE_AFTER = frozenset(
    (  # noqa: SIM905
        "to with for from about by and than of on at ask tell cc like as or call email ping message remind "
        "help thank thanks"
    ).split()
)

# --------------------------------------------------------------------------------------------------------
# Questions

WH = frozenset("what when where who whom whose why how which".split())  # noqa: SIM905
WH_CONTRACTED = frozenset(
    "what's when's where's who's how's why's whats hows wheres whos".split()  # noqa: SIM905
)
AUX = frozenset(
    (  # noqa: SIM905
        "can could would will should do does did is are was were have has had shall may might must am "
        "isn't aren't wasn't weren't don't doesn't didn't won't wouldn't can't couldn't shouldn't haven't "
        "hasn't hadn't"
    ).split()
)
SUBJECTS = frozenset(
    (  # noqa: SIM905
        "i you we they he she it this that there these those everyone everybody anyone anybody someone "
        "somebody the a an our your my his her their its any all y'all u ya ye"
    ).split()
)
PRONOUNS = frozenset(["i", "you", "we", "they", "he", "she", "it"])
HOW_ASKS = frozenset("much many long often far about come soon big old".split())  # noqa: SIM905
WHAT_ASKS = frozenset(["about", "if", "else", "happened", "happens"])
ANY_ASKS = frozenset(  # "any questions", "any thoughts"
    (  # noqa: SIM905
        "questions question thoughts ideas idea comments objections updates update concerns feedback news "
        "suggestions volunteers takers other"
    ).split()
)
ANYONE_NOT_ASKING = frozenset("can could will would should must may is who that".split())  # noqa: SIM905
RHETORICAL = re.compile(
    r"^(?:you know|you see|i mean|know what i mean|see what i mean|huh|eh|what|sorry|pardon|really|"
    r"seriously|right|okay|ok|yeah|no|yes|is it|isn't it|you know what i mean)$",
    re.I,
)
TAIL_FILLER = re.compile(r"(?:,\s*|\s+)(?:you know|you see|i mean)\s*\?*$", re.I)
WONDER = re.compile(r"^(?:i wonder|i was wondering|i am wondering|i'm wondering|wondering)\b")

# --------------------------------------------------------------------------------------------------------
# Due dates

WEEKDAYS = "monday tuesday wednesday thursday friday saturday sunday".split()  # noqa: SIM905
MONTHS = (  # noqa: SIM905
    "january february march april may june july august september october november december"
).split()
MONTH_ABBR = {m[:3]: i + 1 for i, m in enumerate(MONTHS)} | {"sept": 9}
NUMBERS = {
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
WD = "|".join(WEEKDAYS)
MON = "|".join(MONTHS) + r"|jan|feb|mar|apr|jun|jul|aug|sept|sep|oct|nov|dec"
NUMWORD = (
    r"(?:\d+|a couple of|a couple|couple of|a few|few|an|a|one|two|three|four|five|six|seven|eight|nine|ten)"
)
_ORD = r"\d{1,2}(?:st|nd|rd|th)?"
_PART = r"(?:\s+(?:morning|afternoon|evening|night|eod))?"
_DUE_PREPOSITION = r"(?:by|on|before|until|till|til|for|due|no\s+later\s+than|at\s+the\s+latest\s+by|over)"
_DUE_CORE = (
    rf"(?:the\s+)?end\s+of\s+(?:the\s+|this\s+|next\s+)?(?:day|week|month|year|quarter|sprint|today)"
    rf"|eod|eow|eom|close\s+of\s+business|cob"
    rf"|(?:the\s+)?day\s+after\s+tomorrow|tomorrow{_PART}|today|tonight|later\s+today"
    rf"|this\s+(?:morning|afternoon|evening)"
    rf"|(?:this|next|the\s+following|coming)\s+(?:week|month|sprint|quarter|year)"
    rf"|(?:this\s+coming\s+|this\s+|next\s+|coming\s+)?(?:{WD}){_PART}"
    rf"|(?:the\s+)?weekend"
    rf"|(?:in|within)\s+(?:the\s+next\s+)?{NUMWORD}\s+(?:days?|weeks?|months?|hours?)"
    rf"|(?:{MON})\.?\s+{_ORD}(?:,?\s+\d{{4}})?|(?:the\s+)?{_ORD}\s+(?:of\s+)?(?:{MON})(?:,?\s+\d{{4}})?"
    rf"|the\s+\d{{1,2}}(?:st|nd|rd|th)|\d{{1,2}}/\d{{1,2}}(?:/\d{{2,4}})?"
)
DUE_RE = re.compile(
    rf"\b(?:{_DUE_PREPOSITION}\s+)?(?:{_DUE_CORE})\b"
    rf"|\bbefore\s+(?:the|our|this|next|the\s+next|tomorrow's|friday's|monday's)\s+"
    rf"(?:meeting|call|demo|release|launch|review|standup|stand-up|sync|deadline|presentation|workshop|"
    rf"offsite|holidays?|break)\b"
    rf"|\bafter\s+(?:the|this)\s+(?:call|meeting)\b|\basap\b|\bas\s+soon\s+as\s+possible\b",
    re.I,
)
DUE_PREPOSITION_RE = re.compile(rf"^{_DUE_PREPOSITION}\s+", re.I)
# Phrases the due pattern finds that are no deadline ("for today" in "that's all for today").
NOT_DUE = re.compile(r"(?:for|on|over) (?:today|tonight)|for (?:this|next) (?:week|month)", re.I)

# --------------------------------------------------------------------------------------------------------
# Action items

# Verbs that never make a task ("I can see", "let me think", "we will be fine").
NEVER_TASKS = frozenset(
    (  # noqa: SIM905
        "see hear think guess imagine understand know suppose assume say wonder hope wish bet believe "
        "feel agree mean admit reckon recall like love appreciate expect doubt notice realise realize let "
        "not never"
    ).split()
)
# Things done in the meeting itself: a task only when a deadline comes with them.
IN_MEETING = frozenset(
    (  # noqa: SIM905
        "start begin move go wrap take_a_look look continue focus recap summarize summarise discuss talk "
        "jump dive kick keep get_started switch turn show_you share_screen pull_up bring_up stop mute unmute "
        "explain clarify repeat rephrase introduce interrupt finish_up pass hand walk scroll zoom click "
        "elaborate cover"
    ).split()
)
# Words before a pattern that make it a condition or a question, not a commitment ("if I can").
SUBORDINATE = frozenset(
    (  # noqa: SIM905
        "if unless whether when what how where why which who whatever whoever hope wish wonder does do "
        "did is are was were can could would should will"
    ).split()
)
ADVERBS = (
    r"(?:(?:also|just|probably|definitely|then|still|actually|quickly|please|first|both|all|really|certainly|"
    r"surely|maybe|personally|gladly|now|later|totally|immediately|go ahead and|try to|try and|be sure to|"
    r"make sure to|need to|have to|be able to|have got to|get to|happily|be happy to|"
    r"be the one to|take care to|start to|begin to)\s+)*"
)
SELF_MODAL = (
    r"(?:will|shall|can|am going to|am about to|need to|have to|have got to|got to|must|am happy to|"
    r"would be happy to|would be glad to|volunteer to|am supposed to|plan to|am planning to)"
)
OTHER_MODAL = (
    r"(?:will|shall|can|could|should|must|needs? to|has to|have to|has got to|got to|is going to|"
    r"is supposed to|is happy to|ought to)"
)
TEAM_MODAL = (
    r"(?:will|shall|should|must|need to|have to|have got to|got to|are going to|ought to|"
    r"will need to|will have to|should probably|are supposed to)"
)
GROUP = re.compile(r"^(?:guys|all|everyone|everybody|folks|both)\b", re.I)
ACKNOWLEDGE = re.compile(
    r"\b(?:I\s+(?:will|can|shall|am going to|would be happy to|am happy to|could)|let me)\s+"
    r"(?:(?:also|just|gladly|happily|definitely|certainly|totally)\s+)?"
    r"(?:(?:do|take|handle|own|grab|manage|cover|get|sort|look into|take care of) (?:it|that|this|one)\b"
    r"|(?:have|get) (?:it|that|this|them) (?:ready|done|sorted|over)\b)",
    re.I,
)

# --------------------------------------------------------------------------------------------------------
# Follow-ups

FU_STRONG = (
    r"(?:reconvene|regroup|circle back|touch base|catch up|sync up|sync|check in|follow up|reconnect|"
    r"get together|huddle|pick (?:this|it|that) (?:back )?up|revisit|take (?:this|it|that) offline)"
)
FU_WEAK = r"(?:meet up|meet|talk|speak|chat|discuss|connect|go over|continue|hop on a call|jump on a call)"
FU_PROPOSER = (
    r"(?:let us|we should|we will|we can|we could|we need to|we have to|we must|we are going to|"
    r"shall we|should we|can we|could we|why do not we|how about we|maybe we|we might|we ought to|"
    r"we would|i would like to|i would love to|i will|i can|i am going to|we might want to)"
)
_FU_NOUN = (
    r"(?:follow[- ]?ups?|meetings?|calls?|syncs?|check[- ]?ins?|catch[- ]?ups?|sessions?|chats?|meetups?|"
    r"invites?|invitations?|1:1s?|one[- ]on[- ]ones?|huddles?|stand[- ]?ups?|touch ?points?|"
    r"time to (?:meet|talk))"
)
FU_SCHEDULE = re.compile(
    rf"\b(?:schedule|set up|setup|book|arrange|organi[sz]e|plan|send out|send|put|"
    rf"find a time for|find time for|"
    rf"get|have|do|set)\s+(?:(?:a|an|another|the|our|one|some|more|next|quick|short|brief|separate|"
    rf"dedicated|calendar|new|follow-?up|proper|small|second)\s+){{0,3}}{_FU_NOUN}\b",
    re.I,
)
FU_SAME_TIME = re.compile(r"\bsame time (?:next week|tomorrow|on \w+day)\b", re.I)
