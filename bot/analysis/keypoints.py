"""Key points per topic: the sentences a person taking notes would write under each topic (offline).

Extractive, like the flat summary, but grouped: for each of the best topics, the most informative
statements said in the segments that mention it. Nothing is invented; sentences only lose their spoken
openers ("So, um, ...") and get a capital letter.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

from bot.analysis.insights import is_question, sentences_of
from bot.analysis.small_talk import is_small_talk, tidy
from bot.analysis.summary import MIN_CONTENT_WORDS, MIN_WORDS, centrality, content_words
from bot.analysis.topics import phrase_re
from bot.report.model import KeyPoint, Segment, Topic

MAX_TOPICS = 5
PER_TOPIC = 4
_OFF_PHRASE = 0.7  # weight of a sentence that does not itself say the topic's phrase (same utterance)
_NEAR_DUPLICATE = 0.8  # cosine above which two sentences say the same thing


@dataclass(frozen=True, slots=True)
class _Candidate:
    order: int  # position in the transcript's sentences
    segment: int
    text: str  # tidied, as it will be shown


def _candidates(segments: Sequence[Segment], participants: dict[str, str],
                exclude: Collection[str]) -> list[_Candidate]:
    """Statements worth a note: no questions, small talk, short or empty sentences, nothing listed elsewhere."""
    out = []
    for order, s in enumerate(sentences_of(segments)):
        if s.text in exclude or s.text.rstrip("\"')”’ ").endswith("?") or is_question(s.text, participants):
            continue
        text = tidy(s.text)
        if (len(text.split()) < MIN_WORDS or len(content_words(text)) < MIN_CONTENT_WORDS
                or is_small_talk(text)):
            continue
        out.append(_Candidate(order, s.segment, text))
    return out


def key_points(
    segments: Sequence[Segment],
    topics: Sequence[Topic],
    participants: dict[str, str] | None = None,
    *,
    exclude: Collection[str] = (),
    max_topics: int = MAX_TOPICS,
    per_topic: int = PER_TOPIC,
) -> list[KeyPoint]:
    """Up to ``per_topic`` statements for each of up to ``max_topics`` topics.

    Args:
        segments: the transcript; ``Topic.segments`` index into it.
        topics: keyphrases with the segments that say them (``extract_topics``).
        participants: id -> display name, so "Bob, ..." is read as addressing Bob.
        exclude: sentences listed elsewhere (decisions, action items, follow-ups), as said.
        max_topics: topics kept, at most.
        per_topic: statements per topic, at most.

    Candidates are the transcript's sentences minus questions, small talk (greetings, thanks, goodbyes,
    logistics), sentences under 5 words or with fewer than 3 content words, and ``exclude``. Each is ranked
    by TextRank centrality over TF-IDF vectors, 70 % when it does not say the topic's phrase itself but
    shares the utterance that does. Topics are served best score first; a topic said only in utterances of
    one already served is skipped, each sentence goes to one topic only, and a near-repeat (cosine > 0.8)
    of one already taken is passed over. A topic left with nothing is left out. Points are in the order
    they were said; topics in the order their first point was said.
    """
    candidates = _candidates(segments, participants or {}, exclude)
    if not candidates or not topics:
        return []
    scores, similarity = centrality([content_words(c.text) for c in candidates])
    by_segment: dict[int, list[int]] = {}
    for k, c in enumerate(candidates):
        by_segment.setdefault(c.segment, []).append(k)
    taken: list[int] = []
    found: list[tuple[int, KeyPoint]] = []
    served: list[set[int]] = []
    for topic in sorted(topics, key=lambda t: -t.score):
        if any(set(topic.segments) <= seen for seen in served):
            continue  # said only where a better topic was ("page" within "checkout page"): no heading of its own
        said = phrase_re(topic.text)
        pool = [k for i in sorted(set(topic.segments)) for k in by_segment.get(i, ()) if k not in taken]
        weight = {k: float(scores[k]) * (1.0 if said.search(candidates[k].text) else _OFF_PHRASE) for k in pool}
        chosen: list[int] = []
        for k in sorted(pool, key=lambda k: (-weight[k], k)):
            if any(similarity[k, j] > _NEAR_DUPLICATE for j in (*taken, *chosen)):
                continue
            chosen.append(k)
            if len(chosen) == per_topic:
                break
        if not chosen:
            continue
        chosen.sort()
        taken.extend(chosen)
        served.append(set(topic.segments))
        found.append((chosen[0], KeyPoint(topic=topic.text, points=[candidates[k].text for k in chosen])))
        if len(found) == max_topics:
            break
    found.sort(key=lambda f: f[0])
    return [kp for _, kp in found]


def flatten(points: Sequence[KeyPoint]) -> list[str]:
    """The key points as one list, topic by topic (the flat ``Report.summary``)."""
    return [text for kp in points for text in kp.points]


def discussed(segments: Sequence[Segment], topics: Sequence[Topic]) -> list[Topic]:
    """The topics said at least once outside small talk ("thanks for joining the launch review" is not)."""
    sentences = [s for s in sentences_of(segments) if not is_small_talk(tidy(s.text))]
    return [t for t in topics if any(phrase_re(t.text).search(s.text) for s in sentences)]
