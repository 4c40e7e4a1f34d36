"""Keyphrases of the whole transcript (YAKE) and the segments they come from."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from bot.report.model import Segment, Topic

# Spoken-language words YAKE's English stopword list does not have.
_FILLERS = frozenset(
    (  # noqa: SIM905
        "um umm uh uhm hmm mm mhm yeah yep yup okay ok alright gonna wanna gotta kinda sorta guys thanks "
        "thank hi hello hey bye cool great awesome sure right like really actually basically literally "
        "stuff things thing lot lots bit maybe probably definitely totally pretty just also well yes no "
        "oh ah let let's i'm i'll we'll you'll it's that's there's what's don't can't won't didn't "
        "doesn't isn't aren't i've we've you're we're they're i'd we'd one two everyone everybody anyone "
        "someone today tomorrow yesterday tonight monday tuesday wednesday thursday friday saturday "
        "sunday week weeks next good nice mean know think say said see sounds sound need want got get "
        "morning afternoon evening joining join joined welcome start started starting send sent sending "
        "let's go going went make made take took come came put look looks looking fine problem problems "
        "question questions sure course absolutely agree agreed update updates call meeting meet today's "
        "end able time minute minutes second seconds hear loud clear please kick off first last"
    ).split()
)


def _score01(yake_score: float) -> float:
    """YAKE's score (lower is better, > 0) mapped to 0..1, higher is better: 1 / (1 + 10 * score)."""
    return round(1.0 / (1.0 + 10.0 * max(0.0, yake_score)), 4)


def phrase_re(phrase: str) -> re.Pattern[str]:
    """A phrase as whole words, any non-word characters between them, case-insensitive."""
    words = [re.escape(w) for w in phrase.lower().split()]
    return re.compile(r"(?<![\w'])" + r"\W+".join(words) + r"(?![\w'])", re.I)


def _extract(
    text: str, n: int, top: int, stopwords: frozenset[str], languages: Sequence[str] = ("en",)
) -> list[tuple[str, float]]:
    import yake  # type: ignore[import-untyped]

    # YAKE ships stopword lists for 34 languages and falls back to a language-neutral one for the others; the
    # first language is YAKE's own, the others' stopwords are added (a meeting in two languages).
    extractor: Any = yake.KeywordExtractor(lan=languages[0], n=n, dedup_lim=0.7, top=top)
    extractor.stopword_set = set(extractor.stopword_set) | stopwords
    for other in languages[1:]:
        extractor.stopword_set |= set(yake.KeywordExtractor(lan=other).stopword_set)
    return [(str(k), float(s)) for k, s in extractor.extract_keywords(text)]


def extract_topics(
    segments: Sequence[Segment],
    participants: dict[str, str] | None = None,
    *,
    top: int = 8,
    max_ngram: int = 3,
    languages: Sequence[str] = ("en",),
) -> list[Topic]:
    """The top keyphrases of the transcript with the indexes of the segments that contain them.

    YAKE (n-grams up to ``max_ngram``) runs over the whole transcript, each segment a sentence; spoken
    fillers and participants' names are stopwords. Overlapping candidates ("login bug" / "the login bug
    affects") are deduplicated, keeping the one said in more segments (the better YAKE score on a tie).
    Scores are mapped to 0..1, higher is better; phrases no segment contains are dropped. ``languages``
    (ISO 639-1, the main one first) pick YAKE's stopword lists: the languages spoken.
    """
    texts = [" ".join(seg.text.split()) for seg in segments]
    body = "\n".join(t if t[-1:] in ".!?" else t + "." for t in texts if t)
    if not body.strip():
        return []
    names = frozenset(
        w for name in (participants or {}).values() for w in re.findall(r"[a-z']+", name.lower())
    ) | frozenset(w for seg in segments for w in re.findall(r"[a-z']+", seg.name.lower()))
    candidates = _extract(body, max_ngram, top * 4, _FILLERS | names, languages)
    lowered = [t.lower() for t in texts]
    chosen: list[tuple[str, float, list[int]]] = []
    for phrase, score in candidates:
        tokens = set(phrase.lower().split())
        if not tokens or all(t in _FILLERS or t in names or t.isdigit() for t in tokens):
            continue
        pattern = phrase_re(phrase)
        where = [i for i, t in enumerate(lowered) if pattern.search(t)]
        if not where:
            continue
        clash = next(
            (
                k
                for k, (p, _, _) in enumerate(chosen)
                if tokens <= set(p.lower().split()) or set(p.lower().split()) <= tokens
            ),
            None,
        )
        if clash is None:
            chosen.append((phrase, score, where))
        elif len(where) > len(chosen[clash][2]):
            chosen[clash] = (phrase, score, where)
    chosen.sort(key=lambda c: c[1])
    seen: set[str] = set()
    out: list[Topic] = []
    for phrase, score, where in chosen:
        if phrase.lower() in seen:
            continue
        seen.add(phrase.lower())
        out.append(Topic(text=phrase, score=_score01(score), segments=where))
        if len(out) == top:
            break
    return out
