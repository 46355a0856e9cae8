"""Flesch-Kincaid grade level, computed without external data.

textstat would need an NLTK corpus download at run time, so the grade is
computed here with the usual formula,

    0.39 * words/sentences + 11.8 * syllables/words - 15.59,

and a syllable heuristic: count groups of vowels (y counts as a vowel), drop
a silent final "e" (but not "-le" as in "table"), count "-ed" only after t or
d, and give every word at least one syllable. On ordinary English prose it
agrees with dictionary counts for most words, which is all a reading-grade
warning needs.
"""

import html as html_lib
import re
from decimal import Decimal

import nh3

_BLOCK_END = re.compile(r"</(p|h[1-6]|li|blockquote|td|th|dt|dd|pre)>|<br\s*/?>", re.IGNORECASE)
_SENTENCE_END = re.compile(r"[.!?]+(?=\s|$)")
_WORD = re.compile(r"[A-Za-z]+(?:['\u2019][A-Za-z]+)*")
_VOWEL_GROUPS = re.compile(r"[aeiouy]+")

_SILENT_ENDINGS = ("ed", "es")
_SOUNDED_ENDINGS = ("ted", "ded", "ses", "zes", "ces", "ges", "xes")
# Patient-facing health text should read at or below this grade.
TARGET_GRADE = 8


def count_syllables(word: str) -> int:
    """Return an estimate of the syllables in one English word."""
    word = word.lower().replace("\u2019", "'").split("'")[0]
    if len(word) <= 3:
        return 1
    if word.endswith("e") and not word.endswith(("le", "ee", "ye")):
        word = word[:-1]
    elif word.endswith(_SILENT_ENDINGS) and not word.endswith(_SOUNDED_ENDINGS):
        word = word[:-2]
    return max(1, len(_VOWEL_GROUPS.findall(word)))


def plain_text(html: str) -> str:
    """Return the text of rendered HTML, with every block ending a sentence."""
    marked = _BLOCK_END.sub(". ", html)
    return html_lib.unescape(nh3.clean(marked, tags=set()))


def flesch_kincaid_grade(html: str) -> Decimal | None:
    """Return the Flesch-Kincaid grade of rendered HTML, or None when it has no words."""
    text = plain_text(html)
    words = _WORD.findall(text)
    if not words:
        return None
    sentences = max(1, len([s for s in _SENTENCE_END.split(text) if _WORD.search(s)]))
    syllables = sum(count_syllables(word) for word in words)
    grade = 0.39 * len(words) / sentences + 11.8 * syllables / len(words) - 15.59
    return Decimal(f"{max(grade, 0):.1f}")
