"""Extractive summary: the most central sentences of the transcript (TF-IDF + TextRank, numpy only)."""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Collection, Sequence

import numpy as np

from bot.analysis.insights import sentences_of
from bot.report.model import Insight, Segment, Topic

_STOPWORDS = frozenset(
    (  # noqa: SIM905
        "a about above after again against all am an and any are as at be because been before being below "
        "between both but by can could did do does doing down during each few for from further had has "
        "have having he her here hers herself him himself his how i if in into is it its itself just let "
        "me more most my myself no nor not now of off on once only or other our ours ourselves out over "
        "own same she should so some such than that the their theirs them themselves then there these "
        "they this those through to too under until up very was we were what when where which while who "
        "whom why will with would you your yours yourself yourselves um uh uhm hmm yeah yep okay ok "
        "alright oh ah like really actually basically just gonna wanna gotta sure right well know think "
        "mean guess get got go going thing things stuff lot also maybe probably yes hi hello hey thanks "
        "thank s t ll re ve d m don good morning afternoon evening everyone everybody joining join "
        "welcome bye great cool nice awesome sorry please"
    ).split()
)
MIN_WORDS = 5
MIN_CONTENT_WORDS = 3  # words left after stopwords and small talk


def content_words(text: str) -> list[str]:
    """The words of ``text`` that carry content: lower-cased, without stopwords, fillers and small talk."""
    words = re.findall(r"[a-z0-9]+", text.lower().replace("’", "'").replace("'", " "))
    return [w for w in words if w not in _STOPWORDS and len(w) > 1]


def _textrank(similarity: np.ndarray, damping: float = 0.85, iterations: int = 100) -> np.ndarray:
    """PageRank over a weighted, undirected sentence graph (rows normalised; isolated rows uniform)."""
    n = similarity.shape[0]
    weights = similarity.copy()
    np.fill_diagonal(weights, 0.0)
    sums = weights.sum(axis=1, keepdims=True)
    transition = np.where(sums > 0, weights / np.where(sums > 0, sums, 1.0), 1.0 / n)
    rank = np.full(n, 1.0 / n)
    for _ in range(iterations):
        new = (1 - damping) / n + damping * transition.T @ rank
        if float(np.abs(new - rank).sum()) < 1e-9:
            return np.asarray(new, dtype=float)
        rank = new
    return np.asarray(rank, dtype=float)


def centrality(docs: Sequence[Sequence[str]]) -> tuple[np.ndarray, np.ndarray]:
    """TextRank scores of tokenised sentences and their pairwise cosine similarities.

    Each sentence is a TF-IDF vector (the sentences are the documents); TextRank runs over the cosine
    similarities. Returns ``(scores, similarity)``, one score per sentence and an n x n matrix.
    """
    vocabulary = sorted({w for d in docs for w in d})
    index = {w: i for i, w in enumerate(vocabulary)}
    df = Counter(w for d in docs for w in set(d))
    n = len(docs)
    matrix = np.zeros((n, len(vocabulary)))
    for row, doc in enumerate(docs):
        for word, count in Counter(doc).items():
            matrix[row, index[word]] = (1 + math.log(count)) * (math.log((1 + n) / (1 + df[word])) + 1)
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    matrix = matrix / np.where(norms > 0, norms, 1.0)
    similarity = matrix @ matrix.T
    return _textrank(similarity), similarity


def summarise(segments: Sequence[Segment], *, min_sentences: int = 3, max_sentences: int = 5,
              exclude: Collection[str] = ()) -> list[str]:
    """The 3 to 5 most central sentences, in transcript order, as said.

    Sentences in ``exclude`` (the decisions and action items, listed on their own) are not candidates.

    Sentences under 5 words, or with fewer than 3 words left after stopwords and small talk, are skipped.
    Each candidate is a TF-IDF vector (sentences as documents, with stopwords and fillers removed);
    TextRank over their cosine similarities ranks them, questions count 80 %, and a sentence nearly
    repeating one already chosen (cosine > 0.8) is passed over. The number kept grows with the
    transcript: about one per 8 candidates, clamped to 3..5.
    """
    candidates = [s.text for s in sentences_of(segments)
                  if len(s.text.split()) >= MIN_WORDS and s.text not in exclude]
    docs = [content_words(t) for t in candidates]
    keep = [i for i, d in enumerate(docs) if len(d) >= MIN_CONTENT_WORDS]
    candidates = [candidates[i] for i in keep]
    docs = [docs[i] for i in keep]
    if len(candidates) <= min_sentences:
        return candidates
    n = len(docs)
    scores, similarity = centrality(docs)
    scores = scores * np.array([0.8 if t.rstrip().endswith("?") else 1.0 for t in candidates])
    want = max(min_sentences, min(max_sentences, round(n / 8)))
    chosen: list[int] = []
    for i in np.argsort(-scores, kind="stable"):
        if any(similarity[i, j] > 0.8 for j in chosen):
            continue
        chosen.append(int(i))
        if len(chosen) == want:
            break
    return [candidates[i] for i in sorted(chosen)]


def _and(items: Sequence[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _count(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def overview(segments: Sequence[Segment], topics: Sequence[Topic], decisions: Sequence[Insight],
             action_items: Sequence[Insight]) -> str | None:
    """One or two sentences a reader takes in first: who spoke, about what, and what came of it.

    None without a transcript. Speakers in order of how much they said (at most four named), the three
    best-scored topics, then the counts of decisions and action items when there are any.
    """
    if not segments:
        return None
    said: Counter[str] = Counter()
    for seg in segments:
        said[seg.name] += len(seg.text.split())
    names = [n for n, _ in said.most_common()]
    who = _and(names) if len(names) <= 4 else f"{', '.join(names[:3])} and {len(names) - 3} others"
    best = [t.text for t in sorted(topics, key=lambda t: -t.score)[:3]]
    text = f"{who} talked about {_and(best)}." if best else f"{who} spoke."
    came = [c for c in (_count(len(decisions), "decision", "decisions") if decisions else "",
                        _count(len(action_items), "action item", "action items") if action_items else "") if c]
    if came:
        text += f" It ended with {_and(came)}."
    return text
