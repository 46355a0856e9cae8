"""The limits on content (articles.validators), in the models, the admin and the output."""

import datetime as dt
import json
import re
import xml.etree.ElementTree as ET
from html import unescape

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from taggit.models import Tag

from articles.models import Article, AuthorProfile, Category, Reference, Reviewer
from articles.validators import MAX_VIEW_COUNT
from tests.factories import ArticleFactory, ReviewerFactory, UserFactory
from tests.test_admin import add_article, edit, open_form, submit

pytestmark = pytest.mark.django_db

BEL = "\x07"
PLUS_14 = dt.timezone(dt.timedelta(hours=14))


def field_errors(instance, **exclude) -> dict[str, list[str]]:
    """Return full_clean()'s messages by field, or {} when the instance is valid."""
    try:
        instance.full_clean(**exclude)
    except ValidationError as error:
        return error.message_dict
    return {}


def form_errors(response) -> dict[str, list[str]]:
    assert response.status_code == 200, response.status_code
    return {
        name: list(errors) for name, errors in response.context["adminform"].form.errors.items()
    }


def page_text(response) -> str:
    return unescape(response.content.decode())


# Control characters ---------------------------------------------------------


def article(health, **fields):
    """Return an unsaved, otherwise valid article in ``health``."""
    return ArticleFactory.build(category=health, author=UserFactory(), **fields)


@pytest.mark.parametrize(
    ("make", "field"),
    [
        (lambda health: article(health), "title"),
        (lambda health: article(health), "cover_alt"),
        (lambda health: Category(name="x", slug="x"), "name"),
        (lambda health: Reviewer(name="x", slug="x", credentials="MD"), "credentials"),
        (lambda health: Reviewer(name="x", slug="x", credentials="MD"), "name"),
        (lambda health: AuthorProfile(user=UserFactory()), "credentials"),
        (lambda health: Reference(title="x", url="https://example.com/"), "publisher"),
        (lambda health: Reference(title="x", url="https://example.com/"), "title"),
        (lambda health: Reference(title="x", url="https://example.com/"), "doi"),
    ],
)
@pytest.mark.parametrize("char", ["\x00", BEL, "\x1b", "\x7f", "\x85", "\t", "\n"])
def test_single_line_text_refuses_every_control_character(health, make, field, char):
    """A title, name or other one-line field refuses C0, DEL and C1 controls, tabs and line breaks."""
    instance = make(health)
    setattr(instance, field, f"Sleep{char}well")

    errors = field_errors(instance, exclude=["article", "user"])

    assert list(errors) == [field]
    assert "character 6" in errors[field][0]


@pytest.mark.parametrize(
    ("make", "field"),
    [
        (lambda health: article(health), "body"),
        (lambda health: article(health), "excerpt"),
        (lambda health: article(health), "review_note"),
        (lambda health: Category(name="x", slug="x"), "description"),
        (lambda health: Category(name="x", slug="x"), "crisis_resources"),
        (lambda health: Reviewer(name="x", slug="x", credentials="MD"), "bio"),
        (lambda health: AuthorProfile(user=UserFactory()), "bio"),
    ],
)
def test_multi_line_text_keeps_tabs_and_line_breaks_but_refuses_other_controls(health, make, field):
    """A body, bio or description may hold tabs and line breaks, never a BEL."""
    instance = make(health)
    setattr(instance, field, "First line.\r\n\n\tIndented.\n")
    assert field_errors(instance, exclude=["user"]) == {}

    setattr(instance, field, f"First line.\n{BEL}")
    errors = field_errors(instance, exclude=["user"])

    assert list(errors) == [field]
    assert errors[field] == [
        "Remove the invisible control character U+0007 at character 13; it often comes "
        "with text pasted from another program."
    ]


# Dates, views and size ------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value", "shown"),
    [
        ("published_at", dt.datetime(1, 1, 1, tzinfo=PLUS_14), "0001-01-01"),
        ("published_at", dt.datetime(1899, 12, 31, 23, 59, tzinfo=dt.UTC), "1899-12-31"),
        ("published_at", dt.datetime(2101, 1, 1, tzinfo=dt.UTC), "2101-01-01"),
        ("last_reviewed", dt.date(1, 1, 1), "0001-01-01"),
        ("last_reviewed", dt.date(9999, 12, 31), "9999-12-31"),
        ("content_updated_at", dt.datetime(1, 1, 1, tzinfo=PLUS_14), "0001-01-01"),
    ],
)
def test_dates_outside_1900_to_2100_are_refused(health, field, value, shown):
    """A publish or review date before 1900 or after 2100 is refused, naming the date typed."""
    errors = field_errors(article(health, **{field: value}))

    assert errors == {
        field: [f"Use a date between 1900-01-01 and 2100-12-31 (this one is {shown})."]
    }


def test_dates_at_the_ends_of_the_range_are_accepted(health):
    """1900-01-01 and 2100-12-31 are both allowed."""
    assert field_errors(article(health, published_at=dt.datetime(1900, 1, 1, tzinfo=dt.UTC))) == {}
    assert field_errors(article(health, last_reviewed=dt.date(2100, 12, 31))) == {}


def test_view_count_above_a_trillion_is_refused_by_the_model(health):
    """full_clean() refuses a view count over 10**12."""
    assert field_errors(article(health, view_count=MAX_VIEW_COUNT)) == {}

    errors = field_errors(article(health, view_count=MAX_VIEW_COUNT + 1))

    assert errors == {"view_count": ["A view count is a whole number from 0 to 1,000,000,000,000."]}


def test_database_refuses_a_view_count_above_a_trillion(health):
    """An UPDATE around the model cannot store more than 10**12 views."""
    saved = ArticleFactory(category=health)

    with pytest.raises(IntegrityError), transaction.atomic():
        Article.objects.filter(pk=saved.pk).update(view_count=MAX_VIEW_COUNT + 1)

    saved.refresh_from_db()
    assert saved.view_count == 0


def test_body_size_is_measured_in_utf8_bytes(health, settings):
    """The body limit counts bytes, so 513 two-byte letters are over a 1 KB limit."""
    settings.HEALTHHUB_MAX_BODY_KB = 1
    assert field_errors(article(health, body="é" * 512)) == {}

    errors = field_errors(article(health, body="é" * 513))

    assert errors == {
        "body": [
            "The body is 2 KB, over the limit of 1 KB. Shorten it, or split it into "
            "several articles."
        ]
    }


# The admin --------------------------------------------------------------------


def test_admin_refuses_a_title_with_a_control_character(editor_client, health):
    """A pasted BEL in the title is a form error on the title; nothing is saved."""
    response = add_article(editor_client, health, title=f"Blood{BEL} pressure")

    assert list(form_errors(response)) == ["title"]
    assert "Remove the invisible control character U+0007 at character 6" in page_text(response)
    assert not Article.objects.exists()


def test_admin_refuses_a_body_over_the_size_limit(editor_client, health, settings):
    """A body over HEALTHHUB_MAX_BODY_KB is refused with its size and the limit."""
    settings.HEALTHHUB_MAX_BODY_KB = 2

    response = add_article(editor_client, health, body="Rest well. " * 300)

    assert list(form_errors(response)) == ["body"]
    assert "The body is 4 KB, over the limit of 2 KB." in page_text(response)
    assert not Article.objects.exists()


def test_admin_refuses_more_tags_than_the_limit(editor_client, health, settings):
    """More tags than HEALTHHUB_MAX_TAGS is a form error on the tags; the limit itself is fine."""
    settings.HEALTHHUB_MAX_TAGS = 3

    response = add_article(editor_client, health, tags="sleep, stress, rest, habits")

    assert list(form_errors(response)) == ["tags"]
    assert "Use at most 3 tags (this article has 4)." in page_text(response)
    assert not Article.objects.exists()

    response = add_article(editor_client, health, tags="sleep, stress, rest")
    assert response.status_code == 302
    assert sorted(Article.objects.get().tags.names()) == ["rest", "sleep", "stress"]


def test_admin_refuses_a_tag_with_a_control_character(editor_client, health):
    """A tag name with a control character is refused on the tags field."""
    response = add_article(editor_client, health, tags=f"sleep, st{BEL}ress")

    assert list(form_errors(response)) == ["tags"]
    assert not Tag.objects.exists()


def test_admin_refuses_a_publish_date_in_year_one(editor_client, health):
    """Year 1 in the publish date is a form error, not a BC date stored in the database."""
    response = add_article(
        editor_client, health, published_at_0="0001-01-01", published_at_1="09:00:00"
    )

    assert list(form_errors(response)) == ["published_at"]
    assert "Use a date between 1900-01-01 and 2100-12-31 (this one is 0001-01-01)." in page_text(
        response
    )
    assert not Article.objects.exists()


def test_admin_refuses_a_review_date_after_2100(editor_client, editor, health):
    """A review date after 2100 is refused on that field."""
    saved = ArticleFactory(category=health, author=editor, reviewed_by=ReviewerFactory())

    response = edit(editor_client, saved, last_reviewed="2101-01-01")

    assert list(form_errors(response)) == ["last_reviewed"]
    saved.refresh_from_db()
    assert saved.last_reviewed == timezone.localdate()


def test_admin_reviewer_form_refuses_a_control_character_in_the_bio(editor_client):
    """The reviewer admin shows the same limit as a normal form error."""
    url = "/admin/articles/reviewer/add/"
    form = open_form(editor_client, url, "reviewer")
    response = submit(
        editor_client, url, form, name="Dr Lena", slug="lena", credentials="MD", bio=f"Hi{BEL}"
    )

    assert response.status_code == 200
    assert "bio" in response.context["adminform"].form.errors
    assert not Reviewer.objects.exists()


# Output: what slipped past the models never breaks a page ---------------------


@pytest.fixture
def tainted(health):
    """A published article whose title, excerpt and tag hold control characters."""
    # No NUL: PostgreSQL cannot store one at all.
    saved = ArticleFactory(category=health, slug="tainted", tags=["sleep"])
    Article.objects.filter(pk=saved.pk).update(
        title=f"Sleep{BEL} and\x1b stress\x7f", excerpt=f"Rest{BEL}.\x85"
    )
    Tag.objects.filter(name="sleep").update(name=f"sl{BEL}eep")
    return saved


@pytest.mark.parametrize("url", ["/feed/", "/feed/atom/", "/health/feed/"])
def test_feeds_strip_control_characters_that_got_into_the_database(client, tainted, url):
    """A BEL written around the model is dropped from the feed, which stays valid XML."""
    response = client.get(url)

    assert response.status_code == 200
    root = ET.fromstring(response.content)
    text = "".join(root.itertext())
    assert "Sleep and stress" in text
    assert "sleep" in response.content.decode()
    assert not re.search(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]", response.content.decode())


def test_article_page_json_ld_strips_control_characters(client, tainted):
    """The page of a tainted article answers, and its JSON-LD parses without the BEL."""
    response = client.get("/health/tainted/")

    assert response.status_code == 200
    html = response.content.decode()
    blocks = [
        json.loads(block)
        for block in re.findall(r'<script type="application/ld\+json"[^>]*>(.*?)</script>', html)
    ]
    headlines = [block.get("headline") for block in blocks if "headline" in block]
    assert headlines == ["Sleep and stress"]
