"""Which analysers understand which languages, and what the transcript's languages are.

Whisper is multilingual, the bot's rules are not. Language-independent: talk time, talk share,
interruptions, silence and overlap (from the audio), words and wpm, topics (YAKE with the stopword list of
the transcript's main language) and questions that end in "?" (Whisper punctuates questions so in every
language it writes with "?"). English only: questions without "?", action items, decisions, follow-ups and
their due dates (English rules), sentiment (VADER's English lexicon) and key points, the offline summary
(English stopwords and small talk).
Those run on English speech only: a segment decoded in another language is left out of them rather than
producing noise, and ``language_warning`` says whose speech was left out. A segment whose language is not
known (pocketsphinx, Symbl) counts as English, as before languages were detected.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from bot.analysis.insights import sentences_of
from bot.languages import language_name
from bot.report.model import Insight, Segment

ENGLISH_ONLY = ('questions without "?"', "action items", "decisions", "follow-ups", "key points", "sentiment")


def is_english(segment: Segment) -> bool:
    """Whether the English-only analysers may read this segment (English, or language not known)."""
    return segment.language in (None, "en")


def english_only(segments: Sequence[Segment]) -> list[Segment]:
    """The segments with the text of those in another language blanked (indexes into the transcript still hold)."""
    return [seg if is_english(seg) else seg.model_copy(update={"text": "", "words": []}) for seg in segments]


def _count(text: str) -> int:
    return sum(1 for token in text.split() if any(c.isalnum() for c in token))


def _most_words(segments: Sequence[Segment]) -> str | None:
    words: Counter[str] = Counter()
    for seg in segments:
        if seg.language:
            words[seg.language] += _count(seg.text)
    return max(words, key=lambda lang: (words[lang], lang == "en")) if words else None


def main_language(segments: Sequence[Segment]) -> str | None:
    """The language with the most transcribed words; None when no segment's language is known."""
    return _most_words(segments)


def participant_languages(segments: Sequence[Segment]) -> dict[str, str]:
    """Participant id -> the language most of their transcribed words are in (those with a known one)."""
    by: dict[str, list[Segment]] = {}
    for seg in segments:
        by.setdefault(seg.participant_id, []).append(seg)
    return {pid: lang for pid, own in by.items() if (lang := _most_words(own)) is not None}


def marked_questions(segments: Sequence[Segment]) -> list[Insight]:
    """Sentences ending in "?" (the language-neutral questions), for speech the English rules do not read."""
    return [s.insight() for s in sentences_of(segments) if s.text.rstrip("\"')”’» ").endswith("?")]


def in_english(insights: list[Insight], segments: Sequence[Segment]) -> list[Insight]:
    """The insights not said in a segment of another language.

    The English rules run on the whole transcript, so an owner can be whoever answered, in any language.
    """
    other = [seg for seg in segments if not is_english(seg)]
    return [i for i in insights
            if not any(seg.participant_id == i.speaker_id and seg.start_s <= i.start_s <= seg.end_s for seg in other)]


def _and(items: list[str]) -> str:
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"


def language_warning(segments: Sequence[Segment]) -> str | None:
    """The report's note on speech the English-only analysers did not read; None when all of it is English.

    E.g. 'The transcript is in German (de): questions without "?", action items, ... are found in English speech
    only; they were not looked for in Ana's and Jörg's speech.'
    """
    other = [seg for seg in segments if not is_english(seg)]
    if not other:
        return None
    languages = [lang for lang, _ in Counter(seg.language for seg in other if seg.language).most_common()]
    names = list(dict.fromkeys(seg.name for seg in other))
    whole = "The transcript is" if len(other) == len(segments) else "Part of the transcript is"
    whose = _and([f"{name}'s" for name in names])
    return (f"{whole} in {_and([language_name(lang) for lang in languages])}: {_and(list(ENGLISH_ONLY))} are found "
            f"in English speech only; they were not looked for in {whose} speech (questions ending in \"?\" "
            "were kept).")
