"""One pass over a transcript's sentences for action items and follow-ups, and the public ``find_*``."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from bot.analysis.insights.actions import ActionRules
from bot.analysis.insights.dates import find_due
from bot.analysis.insights.decisions import decisions_in
from bot.analysis.insights.follow_ups import follow_up
from bot.analysis.insights.lexicon import ACKNOWLEDGE
from bot.analysis.insights.owners import Names, Owners, roster
from bot.analysis.insights.questions import questions_in
from bot.analysis.insights.sentences import Sentence, normalise, sentences_of
from bot.report.model import Insight, Segment


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
    return _actions_and_follow_ups(segments, roster(segments, participants), meeting_date)[0]


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
    return _actions_and_follow_ups(segments, roster(segments, participants), meeting_date)[1]


def find_insights(
    segments: Sequence[Segment], participants: dict[str, str], meeting_date: date
) -> tuple[list[Insight], list[Insight], list[Insight], list[Insight]]:
    """Questions, action items, follow-ups and decisions in one pass (see the ``find_*`` functions)."""
    people = roster(segments, participants)
    sentences = sentences_of(segments)
    names = Names.of(people)
    actions, follow_ups = _actions_and_follow_ups(segments, people, meeting_date, sentences, names)
    return questions_in(sentences, names), actions, follow_ups, decisions_in(sentences, names)


def _actions_and_follow_ups(
    segments: Sequence[Segment],
    participants: dict[str, str],
    meeting_date: date,
    sentences: Sequence[Sentence] | None = None,
    names: Names | None = None,
) -> tuple[list[Insight], list[Insight]]:
    names = Names.of(participants) if names is None else names
    owners = Owners(segments, participants, names)
    rules = ActionRules(names)
    actions: list[Insight] = []
    action_segments: list[int] = []  # the segment index of each action item
    follow_ups: list[Insight] = []
    for s in sentences_of(segments) if sentences is None else sentences:
        norm = normalise(s.text)
        due, due_date = find_due(s.text, meeting_date)
        fu = follow_up(norm, due_date is not None)
        if fu is not None:
            follow_ups.append(s.insight(owners.owner(fu, s, norm), due, due_date))
            continue
        act = rules.match(s.participant_id, norm, due is not None, owners.addressed(norm) is not None)
        if act is None:
            continue
        owner = owners.owner(act, s, norm)
        if act.kind == "self" and ACKNOWLEDGE.search(norm):
            # "Yes, I can do that": takes on the request just made instead of being a new item.
            antecedent = next(
                (
                    k
                    for k in range(len(actions) - 1, -1, -1)
                    if actions[k].speaker_id != s.participant_id and s.segment - 3 <= action_segments[k] < s.segment
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
                continue
        actions.append(s.insight(owner, due, due_date))
        action_segments.append(s.segment)
    return actions, follow_ups
