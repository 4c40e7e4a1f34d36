"""Questions, action items and follow-ups found in a transcript by rules on its sentences.

Speech-to-text output is punctuated most of the time but not always, so every rule works on sentences
with their leading fillers ("okay so", "um") and a vocative name ("Bob, ...") taken off, and none relies
on a question mark alone. Owners and due dates follow the rules in ``find_action_items``.

Modules: ``lexicon`` (word lists and patterns), ``sentences`` (splitting, normalisation), ``owners``
(names, the addressed, owners), ``questions``, ``dates`` (due phrases), ``actions`` and ``follow_ups``
(the rules), ``finder`` (the pass over a transcript).
"""

from bot.analysis.insights.dates import find_due
from bot.analysis.insights.finder import find_action_items, find_follow_ups, find_insights
from bot.analysis.insights.questions import find_questions, is_question
from bot.analysis.insights.sentences import Sentence, sentences_of, split_sentences

__all__ = [
    "Sentence",
    "find_action_items",
    "find_due",
    "find_follow_ups",
    "find_insights",
    "find_questions",
    "is_question",
    "sentences_of",
    "split_sentences",
]
