"""Flesch-Kincaid grade level of an article's prose, computed without external data.

textstat would need an NLTK corpus download at run time, so the grade is
computed here with the usual formula,

    0.39 * words/sentences + 11.8 * syllables/words - 15.59,

and a syllable heuristic: count groups of vowels (y counts as a vowel), drop
a silent final "e" (but not "-le" as in "table"), count "-ed" only after t or
d, and give every word at least one syllable. On ordinary English prose it
agrees with dictionary counts for most words, which is all a reading-grade
warning needs.

Only prose is graded: the paragraphs, including those of block quotes, which
readers read as sentences too. Headings, list items, table cells, captions
and code are left out. They are fragments, not sentences, and counting each
one as a sentence made the grade follow the layout (a long table lowered it)
instead of the writing. Inline code inside a paragraph is left out as well.
"""

import re
from dataclasses import dataclass
from decimal import Decimal
from html.parser import HTMLParser

from django.utils.translation import gettext as _

# A sentence ends at ., ! or ?, possibly followed by closing quotes or
# brackets, then a space or the end of the paragraph.
_SENTENCE_END = re.compile(r"[.!?]+[\"'\u201d\u2019)\]]*(?=\s|$)")
_WORD = re.compile(r"[A-Za-z]+(?:['\u2019][A-Za-z]+)*")
_VOWEL_GROUPS = re.compile(r"[aeiouy]+")

_SILENT_ENDINGS = ("ed", "es")
_SOUNDED_ENDINGS = ("ted", "ded", "ses", "zes", "ces", "ges", "xes")
# Nothing inside these counts as prose, paragraphs included.
_NOT_PROSE = frozenset(
    {"code", "dl", "figcaption", "h1", "h2", "h3", "h4", "h5", "h6", "li", "pre", "table"}
)
# A line break inside a paragraph ends a sentence, as the paragraph's end does.
_LINE_BREAK = "\n\n"
# Patient-facing health text should read at or below this grade.
TARGET_GRADE = 8
# US school grades from this one up are university level.
UNIVERSITY_GRADE = 13


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


def _grade(words: int, sentences: int, syllables: int) -> float:
    return 0.39 * words / sentences + 11.8 * syllables / words - 15.59


@dataclass(frozen=True)
class Sentence:
    text: str
    words: int
    syllables: int

    @property
    def grade(self) -> float:
        """Return the grade this sentence would have on its own."""
        return _grade(self.words, 1, self.syllables)


class _Paragraphs(HTMLParser):
    """Collect the text of the paragraphs of rendered HTML that count as prose."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.paragraphs: list[str] = []
        self._text: list[str] | None = None
        self._skipped = 0

    def handle_starttag(self, tag, attrs):
        if tag in _NOT_PROSE:
            self._skipped += 1
        elif tag == "p" and not self._skipped:
            self._text = []
        elif tag == "br" and self._text is not None:
            self._text.append(_LINE_BREAK)

    def handle_endtag(self, tag):
        if tag in _NOT_PROSE:
            self._skipped = max(0, self._skipped - 1)
        elif tag == "p" and self._text is not None:
            self.paragraphs.append("".join(self._text))
            self._text = None

    def handle_data(self, data):
        if self._text is not None and not self._skipped:
            self._text.append(data)


def prose_sentences(html: str) -> list[Sentence]:
    """Return the sentences of the paragraphs of rendered HTML, each with its word count."""
    parser = _Paragraphs()
    parser.feed(html)
    parser.close()
    sentences = []
    for paragraph in parser.paragraphs:
        for line in paragraph.split(_LINE_BREAK):
            start = 0
            ends = [match.end() for match in _SENTENCE_END.finditer(line)]
            for end in [*ends, len(line)]:
                text = " ".join(line[start:end].split())
                start = end
                words = _WORD.findall(text)
                if words:
                    syllables = sum(count_syllables(word) for word in words)
                    sentences.append(Sentence(text, len(words), syllables))
    return sentences


def flesch_kincaid_grade(html: str) -> Decimal | None:
    """Return the Flesch-Kincaid grade of the prose of rendered HTML, or None without prose."""
    sentences = prose_sentences(html)
    if not sentences:
        return None
    words = sum(sentence.words for sentence in sentences)
    syllables = sum(sentence.syllables for sentence in sentences)
    grade = _grade(words, len(sentences), syllables)
    return Decimal(f"{max(grade, 0):.1f}")


def hardest_sentences(html: str, limit: int = 3) -> list[Sentence]:
    """Return the ``limit`` sentences of the prose with the highest grades, hardest first."""
    sentences = prose_sentences(html)
    return sorted(sentences, key=lambda sentence: (-sentence.grade, -sentence.words))[:limit]


def grade_meaning(grade) -> str:
    """Return who can read text of this grade, such as "readable by most 14-15 year olds"."""
    if grade >= UNIVERSITY_GRADE:
        return _("university level: hard going for many adults")
    # A US school grade is the school year; pupils are about 5 years older.
    age = int(grade) + 5
    return _("readable by most %(younger)d\u2013%(older)d year olds") % {
        "younger": age,
        "older": age + 1,
    }
