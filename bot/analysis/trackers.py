"""Trackers: where the configured phrases (or variants of them) were said.

A tracker is a named group of phrases (``pricing = ["price", "cost", "discount"]``). A phrase matches a run of
words in one sentence when each of its words matches the spoken word at that place by a meaning-preserving
variant:

- case, accents and punctuation do not count ("Jose" is "José", "PRICE," is "price");
- inflections are the same word: a light suffix-stripper takes ``-s/-es/-ies``, ``-ed/-ied``, ``-ing``, a
  possessive ``'s`` and a final ``-e``/``-y`` off both sides (price/prices/priced/pricing, company/companies);
- a slip of one letter (inserted, dropped, changed, or two swapped) is forgiven in words of 5+ letters whose
  first letter is right ("discout" is "discount"); shorter words must match exactly, as ASR slips of short
  words are usually other words;
- a derived word is another word: "price" does not match "priceless", "cost" does not match "costume" or
  "costly" (only whole words are compared, never substrings).

A known cost of the spelling slack: real words one letter apart can match ("prize" for "price").
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from bot.analysis.insights.owners import fold as without_accents
from bot.analysis.insights.sentences import Sentence, sentences_of
from bot.report.model import Segment, Tracker, TrackerMention

FUZZY_MIN_LETTERS = 5  # words shorter than this must match by inflection only
_TOKEN = re.compile(r"\w+(?:['’]\w+)*")
_VOWELS = frozenset("aeiouy")


@dataclass(frozen=True, slots=True)
class _Word:
    """One word of a sentence: where it is in the sentence's text, and its folded and stemmed forms."""

    start: int
    end: int
    folded: str
    stem: str


def fold(word: str) -> str:
    """Case- and accent-insensitive form ("Łódź" → "lodz", "Søren" → "soren"), straight apostrophes."""
    return without_accents(word.replace("’", "'")).casefold()


def _undouble(word: str) -> str:
    """``plann`` -> ``plan``, ``runn`` -> ``run``; ``call``, ``miss``, ``buzz`` keep theirs."""
    if len(word) >= 3 and word[-1] == word[-2] and word[-1] not in "lsz" and word[-1] not in _VOWELS:
        return word[:-1]
    return word


def _has_vowel(word: str) -> bool:
    return any(c in _VOWELS for c in word)


def stem(word: str) -> str:
    """The form inflections of one word share (``pric`` for price/prices/priced/pricing); ``word`` is folded."""
    w = word.removesuffix("'s")
    if len(w) <= 3:
        return w
    if w.endswith(("ies", "ied")) and len(w) > 4:
        w = w[:-3] + "y"
    elif w.endswith(("sses", "shes", "ches", "xes", "zes")):
        w = w[:-2]
    elif (w.endswith("s") and not w.endswith(("ss", "us", "is"))) or (w.endswith("eed") and len(w) >= 6):
        w = w[:-1]  # prices -> price; agreed -> agree (not "agr")
    elif w.endswith("ing") and len(w) >= 6 and _has_vowel(w[:-3]):
        w = _undouble(w[:-3])
    elif w.endswith("ed") and len(w) >= 5 and _has_vowel(w[:-2]):
        w = _undouble(w[:-2])
    if len(w) > 3 and w.endswith("e"):
        w = w[:-1]
    if len(w) > 3 and w.endswith("y"):
        w = w[:-1] + "i"
    return w


def one_edit_apart(a: str, b: str) -> bool:
    """Whether ``a`` and ``b`` differ by exactly one inserted, dropped or changed letter, or two swapped ones."""
    if a == b or abs(len(a) - len(b)) > 1:
        return False
    if len(a) == len(b):
        diff = [i for i, (x, y) in enumerate(zip(a, b, strict=True)) if x != y]
        return len(diff) == 1 or (len(diff) == 2 and diff[1] == diff[0] + 1
                                  and a[diff[0]] == b[diff[1]] and a[diff[1]] == b[diff[0]])
    short, long = (a, b) if len(a) < len(b) else (b, a)
    i = 0
    while i < len(short) and short[i] == long[i]:
        i += 1
    return short[i:] == long[i + 1 :]


def _same_word(said: _Word, wanted: _Word) -> bool:
    if said.stem == wanted.stem or said.folded == wanted.folded:
        return True
    if min(len(said.folded), len(wanted.folded)) < FUZZY_MIN_LETTERS or said.folded[0] != wanted.folded[0]:
        return False
    return one_edit_apart(said.folded, wanted.folded) or one_edit_apart(said.stem, wanted.stem)


def _words(text: str) -> list[_Word]:
    out = []
    for m in _TOKEN.finditer(text):
        folded = fold(m.group())
        out.append(_Word(m.start(), m.end(), folded, stem(folded)))
    return out


@dataclass(frozen=True, slots=True)
class _Phrase:
    text: str
    words: tuple[_Word, ...]


class _Vocabulary:
    """The words of every phrase, and which of them each spoken word matches (worked out once per spoken word).

    A meeting has a few thousand distinct words and a configuration up to 2,500 phrases: comparing every word
    said with every phrase word took 73 s for an hour's talk (9,000 words) against 50 trackers of 50 phrases
    (``scripts/bench-trackers``). Same-stem words are found by lookup and spelling slips only among words with
    the same first letter, each distinct spoken word once: 3-4.5 s for that case, with the same mentions.
    """

    def __init__(self, words: Sequence[_Word]) -> None:
        self._by_stem: dict[str, set[str]] = {}
        self._by_initial: dict[str, list[_Word]] = {}
        for w in {w.folded: w for w in words}.values():
            self._by_stem.setdefault(w.stem, set()).add(w.folded)
            if len(w.folded) >= FUZZY_MIN_LETTERS:
                self._by_initial.setdefault(w.folded[0], []).append(w)
        self._seen: dict[str, frozenset[str]] = {}

    def matches(self, said: _Word) -> frozenset[str]:
        """The (folded) phrase words ``said`` is a variant of."""
        found = self._seen.get(said.folded)
        if found is None:
            hits = set(self._by_stem.get(said.stem, ()))  # the same folded word has the same stem
            hits |= {w.folded for w in self._by_initial.get(said.folded[:1], ()) if _same_word(said, w)}
            found = self._seen[said.folded] = frozenset(hits)
        return found


def _phrases(phrases: Sequence[str]) -> dict[str, list[_Phrase]]:
    """Phrases by their first (folded) word, longest first (at one place the longest match wins).

    Phrases without words are skipped.
    """
    out: dict[str, list[_Phrase]] = {}
    for p in phrases:
        words = tuple(_words(p))
        if words:
            out.setdefault(words[0].folded, []).append(_Phrase(p, words))
    for group in out.values():
        group.sort(key=lambda p: -len(p.words))
    return out


def _matches(said: list[_Word], phrases: dict[str, list[_Phrase]],
             vocabulary: _Vocabulary) -> list[tuple[_Phrase, int, int]]:
    """(phrase, first word, past-last word) of every non-overlapping match, left to right."""
    out = []
    i = 0
    while i < len(said):
        first = vocabulary.matches(said[i])
        candidates = sorted((p for w in first for p in phrases.get(w, ())), key=lambda p: -len(p.words)) \
            if first else []
        for phrase in candidates:
            n = len(phrase.words)
            if i + n <= len(said) and all(w.folded in vocabulary.matches(said[i + k])
                                          for k, w in enumerate(phrase.words) if k):
                out.append((phrase, i, i + n))
                i += n
                break
        else:
            i += 1
    return out


def _word_time(segment: Segment, sentence: Sentence, offset_in_segment: int, char: int) -> float:
    """When the word at ``char`` of the sentence was said: its word timing, else the sentence's start."""
    text = " ".join(segment.text.split())
    if segment.words and len(segment.words) == len(text.split()):
        index = len(text[: offset_in_segment + char].split())
        # a word that starts right at ``char`` is not yet counted by split(); one inside a token already is
        if offset_in_segment + char > 0 and not text[offset_in_segment + char - 1].isspace():
            index -= 1
        return round(segment.words[min(max(index, 0), len(segment.words) - 1)].start_s, 3)
    return sentence.start_s


def _offsets(segments: Sequence[Segment], sentences: list[Sentence]) -> list[int]:
    """Where each sentence starts in its segment's whitespace-normalised text (as ``sentences_of`` split it)."""
    out = []
    cursor: dict[int, int] = {}
    for s in sentences:
        text = " ".join(segments[s.segment].text.split())
        pos = text.find(s.text, cursor.get(s.segment, 0))
        pos = cursor.get(s.segment, 0) if pos < 0 else pos
        cursor[s.segment] = pos + len(s.text)
        out.append(pos)
    return out


def find_trackers(segments: Sequence[Segment], trackers: Mapping[str, Sequence[str]]) -> list[Tracker]:
    """Every tracker, in the configured order, with its mentions in time order (none: an empty list).

    Args:
        segments: the transcript, each segment with speaker and (optionally) word timings.
        trackers: tracker name -> phrases.

    Returns:
        One Tracker per configured name; each mention names the configured phrase that matched, the words as
        said, the speaker, when the first matched word was said (word timings where the segment has them,
        else the sentence's start) and the sentence.
    """
    sentences = sentences_of(segments)
    offsets = _offsets(segments, sentences)
    said = [_words(s.text) for s in sentences]
    by_tracker = {name: _phrases(phrases) for name, phrases in trackers.items()}
    vocabulary = _Vocabulary([w for parsed in by_tracker.values() for group in parsed.values()
                              for p in group for w in p.words])
    out = []
    for name, parsed in by_tracker.items():
        mentions = []
        for sentence, offset, words in zip(sentences, offsets, said, strict=True):
            for phrase, first, past in _matches(words, parsed, vocabulary):
                start, end = words[first].start, words[past - 1].end
                mentions.append(TrackerMention(
                    phrase=phrase.text, text=sentence.text[start:end], speaker_id=sentence.participant_id,
                    speaker=sentence.name, start_s=_word_time(segments[sentence.segment], sentence, offset, start),
                    sentence=sentence.text,
                ))
        mentions.sort(key=lambda m: m.start_s)
        out.append(Tracker(name=name, mentions=mentions))
    return out
