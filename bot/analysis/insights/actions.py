"""Action-item rules: the earliest commitment or request in a sentence and whose it is.

The rules run on normalised sentences (see ``sentences.normalise``); owners are resolved by
``owners.Owners``. The rules as a whole are described in ``find_action_items``.
"""

from __future__ import annotations

import re

from bot.analysis.insights.lexicon import (
    ADVERBS,
    GROUP,
    IN_MEETING,
    NEVER_MATCHES,
    NEVER_TASKS,
    OTHER_MODAL,
    PRONOUNS,
    SELF_MODAL,
    TEAM_MODAL,
    WD,
)
from bot.analysis.insights.owners import Match, Names, strip_vocative
from bot.analysis.insights.sentences import strip_fillers, subordinate, words

_RE_SELF = re.compile(
    rf"\b(?:I\s+(?:(?:also|just|probably|definitely|then|can also|will also)\s+)?{SELF_MODAL}"
    rf"|let me)\s+(?=(?P<rest>.*))",
    re.I,
)
_RE_YOU = re.compile(
    r"\b(?:(?:can|could|would|will)\s+you(?P<group1>\s+(?:guys|all|both|two))?\s+(?:please\s+)?"
    r"|would you mind\s+|(?:i|we)\s+(?:need|want|would like)\s+you(?P<group2>\s+(?:guys|"
    r"all|both))?\s+to\s+"
    r"|you(?P<group3>\s+(?:guys|all|both|two))?\s+(?:will need to|will have to|need to|have to|must|"
    r"have got to|are going to need to)\s+)(?=(?P<rest>.*))",
    re.I,
)
_RE_YOU_SOFT = re.compile(r"\byou\s+(?:should|will|could)\s+(?=(?P<rest>.*))", re.I)
_RE_IMPERATIVE = re.compile(
    r"^(?:please\s+|(?:do not|don't) forget to\s+|remember to\s+|make sure (?:to|you|that you)\s+)"
    r"(?=(?P<rest>.*))",
    re.I,
)
_RE_SOMEONE = re.compile(
    r"^(?:can|could|would|will)\s+(?:someone|somebody|anyone|anybody|one of you)\s+(?:please\s+)?"
    r"(?=(?P<rest>.*))",
    re.I,
)
_RE_TEAM = re.compile(
    rf"\b(?:(?:we|we all|we both|all of us|the team|someone|somebody|one of us)\s+"
    rf"(?:(?:also|just|probably|definitely|really|still|then|all)\s+)?"
    rf"(?:{TEAM_MODAL}|needs to|has to|should|must|is going to)|let us)\s+(?=(?P<rest>.*))",
    re.I,
)
_INFO_REQUEST = re.compile(
    r"^(?:(?:please|just|quickly|maybe|also)\s+)*(?:tell (?:me|us)|hear|see|repeat|say|"
    r"explain|clarify|"
    r"elaborate|remind (?:me|us) (?:what|who|when|how|where|why|which|if)|give (?:me|"
    r"us) (?:a|an|the)?\s*"
    r"(?:quick |brief |short )?(?:update|overview|summary|status|sec|second|minute|"
    r"moment|idea|example)|"
    rf"make it|do (?:{WD}|that time)|"
    r"believe|imagine|"
    r"speak up|mute|unmute|go back|scroll|zoom|click|stop sharing|share your screen|"
    r"let (?:me|us) know|"
    r"walk (?:me|us) through|think|remember|recall|confirm (?:that|if|whether))\b",
    re.I,
)


def verb_ok(rest: str, has_due: bool) -> bool:
    """Whether the words after a modal start a task ("send the report", not "see", "be fine")."""
    rest = re.sub(rf"^{ADVERBS}", "", rest.strip(" ,"), flags=re.I)
    ws = words(rest)
    if not ws:
        return False
    verb = ws[0]
    nxt = ws[1] if len(ws) > 1 else ""
    if verb in {"be", "get"} and nxt.endswith("ing") and len(nxt) > 4:
        verb, nxt = nxt, (ws[2] if len(ws) > 2 else "")
    elif verb == "be":
        return False
    if verb in {"the", "a", "an", "not", "never", "no", "this", "that"} or verb in PRONOUNS - {"it"}:
        return False
    if verb == "tell" and nxt in {"you", "that", "me", "us"}:
        return False
    if verb == "take" and nxt == "a" and len(ws) > 2 and ws[2] == "look":
        verb = "take_a_look"
    elif verb == "share" and "screen" in ws[:5]:
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
        and len(ws) > 2
        and ws[2] in {"call", "meeting"}
    ):
        return False  # "I have to run", "I need to leave early"
    elif verb == "finish" and nxt in {"up", "here"}:
        verb = "finish_up"
    if verb in NEVER_TASKS:
        return False
    return not (verb in IN_MEETING and not has_due)


def info_request(rest: str) -> bool:
    """A request for information or an in-call gesture, not a task ("can you tell me", "can you hear me")."""
    return bool(_INFO_REQUEST.match(rest))


class ActionRules:
    """The action-item patterns for one set of participant names."""

    def __init__(self, names: Names) -> None:
        self.names = names
        self.re_name = re.compile(
            rf"\b{names.group}(?:\s+and\s+(?:I|me|{names.pattern or NEVER_MATCHES}))?\s+"
            rf"(?:(?:also|just|probably|then)\s+)?{OTHER_MODAL}\s+(?=(?P<rest>.*))",
            re.I,
        )
        # "let's have Mateo check the scripts", "let's ask Zoë to send it"
        self.re_have = re.compile(
            rf"\blet us\s+(?:have|get|ask)\s+{names.group}\s+(?:to\s+)?(?=(?P<rest>.*))", re.I
        )
        # "Action item: Chidi to book the room" (the colon is gone once normalised)
        self.re_item = re.compile(
            rf"^(?:action item|action point|action|to do|todo)s?\s+(?:for\s+)?{names.group}\s*,?\s+"
            rf"(?:to|will|should|must|needs to|has to)\s+(?=(?P<rest>.*))",
            re.I,
        )
        self.re_name_aux = re.compile(
            rf"^(?:can|could|would|will)\s+{names.group}\s+(?:please\s+)?(?=(?P<rest>.*))", re.I
        )

    def match(self, speaker_id: str, norm: str, has_due: bool, addressed: bool) -> Match | None:
        """The earliest task pattern in a normalised sentence, if any.

        ``addressed``: whether the sentence names the participant it speaks to, which makes "you
        should/will/could" a request.
        """
        found: list[Match] = []

        def task(m: re.Match[str]) -> bool:  # a main-clause pattern followed by a task
            return not subordinate(norm, m.start()) and verb_ok(m.group("rest"), has_due)

        def request(m: re.Match[str] | None) -> bool:  # a request at the start of the sentence
            return m is not None and not info_request(m.group("rest")) and verb_ok(m.group("rest"), has_due)

        core = strip_vocative(strip_fillers(norm), self.names)
        core_at = norm.find(core) if core else 0
        found += [Match(m.start(), "self", speaker_id) for m in _RE_SELF.finditer(norm) if task(m)]
        for m in self.re_name.finditer(norm):
            pid = self.names.id_of(m.group("name"))
            if pid and task(m):
                found.append(Match(m.start(), "name", pid))
        for m in self.re_have.finditer(norm):
            if (pid := self.names.id_of(m.group("name"))) and task(m):
                found.append(Match(m.start(), "name", pid))
        m_item = self.re_item.match(core)
        if m_item and (pid := self.names.id_of(m_item.group("name"))) and verb_ok(m_item.group("rest"), has_due):
            found.append(Match(core_at, "name", pid))
        m2 = self.re_name_aux.match(core)
        if m2 and (pid := self.names.id_of(m2.group("name"))) and verb_ok(m2.group("rest"), has_due):
            found.append(Match(core_at, "name", pid))
        for m in _RE_YOU.finditer(norm):
            rest = m.group("rest")
            if info_request(rest) or not task(m):
                continue
            group = any(m.group(g) for g in ("group1", "group2", "group3")) or bool(GROUP.match(rest))
            found.append(Match(m.start(), "you", next_speaker=not group))
        if addressed:
            found += [Match(m.start(), "you", next_speaker=True) for m in _RE_YOU_SOFT.finditer(norm) if task(m)]
        if request(_RE_IMPERATIVE.match(core)):
            found.append(Match(core_at, "you"))  # "please ..." to the room: the addressed, else nobody
        if request(_RE_SOMEONE.match(core)):
            found.append(Match(core_at, "team"))
        found += [Match(m.start(), "team") for m in _RE_TEAM.finditer(norm) if task(m)]
        return min(found, key=lambda f: f.start) if found else None
