"""Small talk and spoken filler: what a person taking notes leaves out.

Greetings, thanks, praise, goodbyes and meeting logistics ("can you hear me", "let's get started") are
small talk when, with those phrases and words about the call itself ("meeting", "today") taken out, fewer
than three content words are left: "Thanks everyone, see you next week." is small talk, "Hi all, the login
bug is fixed and deployed." is not.
"""

from __future__ import annotations

import re

from bot.analysis.summary import MIN_CONTENT_WORDS, content_words

_SMALL_TALK = re.compile(
    r"\b(?:"
    r"good (?:morning|afternoon|evening|day)|morning (?:all|everyone|everybody)|hi|hello|hey|welcome"
    r"|thanks?(?: you)?(?! to\b)(?: (?:so|very) much)?(?: (?:all|everyone|everybody|guys|folks))?"
    r"(?: for (?:joining|coming|your time|having me|that|this|the \w+))?"
    r"|(?:great|good|nice|awesome|excellent|amazing) (?:work|job|stuff|point|question|meeting|call|session)"
    r"|well done|see you(?: (?:all|everyone|soon|later|then|next \w+|on \w+))?|bye|goodbye"
    r"|talk (?:to you )?soon|have a (?:good|great|nice|lovely) (?:day|weekend|week|one|evening)"
    r"|how are you(?: doing)?|how (?:was|is) your \w+|can (?:you|everyone|everybody) (?:all )?(?:hear|see) me"
    r"|(?:you are|you're|you're still) (?:on )?mute[d]?|sorry (?:i'm|i am|for being) late"
    r"|let(?:'s| us) (?:get started|start|begin|kick (?:it |things )?off|wrap (?:it |things )?up)"
    r"|(?:i|we) (?:have|need|got) to (?:drop off|drop|leave|run|go|hop off|jump off)(?: (?:early|now|soon))?"
    r"|(?:for|in) a (?:few|couple of|couple) minutes|(?:i'll|i will|we'll|we will) be right back|brb|i'm back|i am back"
    r"|(?:that|this) covers (?:it|everything)|that's (?:it|all)(?: for (?:today|now))?"
    r")\b",
    re.I,
)
# Acknowledgements are small talk only as a sentence's opening: "no problem" but not "there is no problem with…".
_ACKNOWLEDGE = re.compile(
    r"^\W*(?:(?:ok|okay|yes|yeah|sure|right|great)\W+)*(?:sounds (?:good|great)|no problem|makes sense|fair enough"
    r"|of course|got it|perfect|absolutely|definitely|exactly|agreed)\b",
    re.I,
)


# Words that say nothing next to a greeting or thanks: "thanks for joining the planning meeting today".
_ABOUT_THE_CALL = frozenset(
    "meeting meetings call calls sync session standup today tonight week weekend here time".split()  # noqa: SIM905
)


def is_small_talk(sentence: str) -> bool:
    """Whether ``sentence`` is a greeting, thanks, praise, a goodbye or meeting logistics and little else."""
    text = sentence.replace("’", "'")
    rest = _SMALL_TALK.sub(" ", _ACKNOWLEDGE.sub(" ", text))
    if rest == text:
        return False
    return len([w for w in content_words(rest) if w not in _ABOUT_THE_CALL]) < MIN_CONTENT_WORDS


# Spoken openers taken off the front of a key point: disfluencies and discourse markers always, words that
# can also start a real sentence ("No changes", "Good news", "Right now") only when a comma or stop follows.
_LEADING = re.compile(
    r"^(?:"
    r"(?:um+|uh+|uhm+|umm+|er+m?|hmm+|mm+|oh|ah|so|okay|ok|alright|all right|yeah|yep|yup|well|anyway|anyways"
    r"|basically|and|but|also|actually)\b[\s,.:;!-]*"
    r"|(?:yes|no|nope|right|now|sure|great|good|cool|thanks|thank you|hi|hello|hey|everyone|everybody|all"
    r"|guys|folks|i mean|you know|like|look|listen|next|first|firstly|secondly|finally|lastly|then)\s*[,.:;!-]+\s*"
    r")+",
    re.I,
)


def tidy(sentence: str) -> str:
    """``sentence`` without its spoken openers ("So, um, yeah, ..."), first letter capitalised; no word added."""
    text = _LEADING.sub("", " ".join(sentence.split())).strip()
    return text[:1].upper() + text[1:]
