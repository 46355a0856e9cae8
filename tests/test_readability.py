from decimal import Decimal

import pytest

from articles.readability import (
    flesch_kincaid_grade,
    grade_meaning,
    hardest_sentences,
    prose_sentences,
)
from articles.rendering import render_markdown


def test_only_paragraphs_and_quotes_are_prose():
    """Headings, list items, table cells, code and inline code are not graded."""
    html = render_markdown(
        "## A heading\n\nFirst sentence here. Second one!\n\n> A quoted sentence.\n\n"
        "- a list item\n\n| cell |\n|---|\n| value |\n\n```\nprint(1)\n```\n\n"
        "Run `sleep_tracker --daily` nightly."
    )
    assert [sentence.text for sentence in prose_sentences(html)] == [
        "First sentence here.",
        "Second one!",
        "A quoted sentence.",
        "Run nightly.",
    ]


def test_a_line_break_ends_a_sentence_as_a_paragraph_does():
    """Lines split by a hard break count as separate sentences, even without a full stop."""
    html = render_markdown("Call your doctor  \nor the helpline")
    assert [s.text for s in prose_sentences(html)] == ["Call your doctor", "or the helpline"]


def test_closing_quotes_stay_with_their_sentence():
    """A sentence ending in a quotation keeps its closing quote."""
    html = render_markdown("She said “rest.” Then she left.")
    assert [s.text for s in prose_sentences(html)] == ["She said “rest.”", "Then she left."]


def test_hardest_sentences_come_first_by_their_own_grade():
    """The longest, most polysyllabic sentences are listed first, at most three."""
    html = render_markdown(
        "Drink water. Walk each day. "
        "Hypertension frequently necessitates individualised pharmacological management. "
        "Sleep well. "
        "Regular physical activity considerably reduces cardiovascular risk over many years."
    )
    hardest = hardest_sentences(html)
    assert [s.text.split()[0] for s in hardest] == ["Hypertension", "Regular", "Drink"]
    assert hardest[0].grade > hardest[1].grade > hardest[2].grade


def test_grade_of_html_without_prose_is_none():
    """Nothing to grade gives None, not zero."""
    assert flesch_kincaid_grade(render_markdown("- one\n- two\n")) is None
    assert flesch_kincaid_grade("") is None


def test_grade_is_rounded_to_one_decimal():
    """The grade is a Decimal with one decimal place, never below zero."""
    assert flesch_kincaid_grade("<p>Go. Eat. Sit.</p>") == Decimal("0.0")
    assert flesch_kincaid_grade("<p>Drink plenty of water every day.</p>").as_tuple().exponent == -1


@pytest.mark.parametrize(
    ("grade", "meaning"),
    [
        (Decimal("9.2"), "readable by most 14\u201315 year olds"),
        (Decimal("0.4"), "readable by most 5\u20136 year olds"),
        (Decimal("12.9"), "readable by most 17\u201318 year olds"),
        (Decimal("13.0"), "university level: hard going for many adults"),
    ],
)
def test_grade_meaning_names_the_ages_who_can_read_it(grade, meaning):
    """A US school grade is explained as the age of its pupils."""
    assert grade_meaning(grade) == meaning
