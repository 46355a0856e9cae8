import datetime as dt
import time

import pytest
from django.contrib.contenttypes.models import ContentType
from django.utils import timezone

from articles import caching, selectors
from articles.models import Article, ContentVersion, DailyViews
from tests.factories import ArticleFactory, CategoryFactory

pytestmark = pytest.mark.django_db


def with_tags(article):
    return Article.objects.prefetch_related("tags").get(pk=article.pk)


def test_related_prefers_shared_tags_then_same_category(health):
    """Related articles rank by tags in common, then by sharing the category."""
    other = CategoryFactory(slug="fitness", name="Fitness")
    article = ArticleFactory(category=health, tags=["sleep", "stress", "diet"])
    two_tags = ArticleFactory(category=other, title="Two tags", tags=["sleep", "stress"])
    one_tag = ArticleFactory(category=other, title="One tag", tags=["diet"])
    same_category = ArticleFactory(category=health, title="Same category", tags=["zinc"])
    ArticleFactory(category=other, title="Unrelated", tags=["zinc"])
    ArticleFactory(category=health, title="Draft", tags=["sleep"], status=Article.Status.DRAFT)

    related = selectors.related_articles(with_tags(article))

    assert related == [two_tags, one_tag, same_category]


def test_related_is_capped_at_four_and_runs_one_query(health, django_assert_num_queries):
    """However many candidates, related articles take one query and return four at most."""
    article = with_tags(ArticleFactory(category=health, tags=["sleep", "stress"]))
    ArticleFactory.create_batch(10, category=health, tags=["sleep", "stress"])
    ContentType.objects.get_for_model(Article)  # cached for the life of the process

    with django_assert_num_queries(1):
        related = selectors.related_articles(article)
    with django_assert_num_queries(0):
        assert selectors.related_articles(article) == related
    assert len(related) == 4
    assert article not in related


def test_related_fills_up_from_the_category_in_the_same_query(health, django_assert_num_queries):
    """Fewer than four articles sharing a tag are followed by the category's newest."""
    article = with_tags(ArticleFactory(category=health, tags=["sleep"]))
    sharing = ArticleFactory(category=CategoryFactory(slug="naps", name="Naps"), tags=["sleep"])
    older, newer = ArticleFactory(category=health), ArticleFactory(category=health)
    ContentType.objects.get_for_model(Article)

    with django_assert_num_queries(1):
        related = selectors.related_articles(article)

    assert related == [sharing, newer, older]


def test_related_ranks_only_the_pool_of_best_tag_matches(health, monkeypatch):
    """Past RELATED_POOL tag matches, those sharing fewer tags, then the oldest, drop out."""
    monkeypatch.setattr(selectors, "RELATED_POOL", 2)
    article = with_tags(ArticleFactory(category=health, tags=["sleep", "stress"]))
    both = ArticleFactory(tags=["sleep", "stress"])
    older_one, newer_one = ArticleFactory(tags=["sleep"]), ArticleFactory(tags=["stress"])

    related = selectors.related_articles(article)

    assert related == [both, newer_one]
    assert older_one not in related


def test_related_without_tags_falls_back_to_the_category(health):
    """An untagged article is related to the newest in its category."""
    article = with_tags(ArticleFactory(category=health))
    neighbour = ArticleFactory(category=health)
    ArticleFactory(category=CategoryFactory(slug="sleep", name="Sleep"))
    assert selectors.related_articles(article) == [neighbour]


def test_most_read_this_week_sums_the_last_seven_days(
    health, mental_health, django_assert_num_queries
):
    """Most read this week adds up the last 7 days' tallies, optionally within categories."""
    today = timezone.now().date()
    calm = ArticleFactory(category=mental_health, title="Calm")
    busy = ArticleFactory(category=health, title="Busy")
    DailyViews.objects.bulk_create(
        [
            DailyViews(article=calm, date=today, views=5),
            DailyViews(article=calm, date=today - dt.timedelta(days=6), views=5),
            DailyViews(article=busy, date=today, views=7),
            DailyViews(article=busy, date=today - dt.timedelta(days=7), views=100),
        ]
    )

    # Ids through the covering indexes, then the rows: two queries however many articles.
    with django_assert_num_queries(2):
        overall = selectors.most_read_this_week()
    mental = selectors.most_read_this_week(category_ids={mental_health.pk})

    assert [(a.title, a.week_views) for a in overall] == [("Calm", 10), ("Busy", 7)]
    assert [a.title for a in mental] == ["Calm"]


def test_categories_are_cached_until_content_changes(health, django_assert_num_queries):
    """The category list is read once, then served from cache until a category changes."""
    selectors.get_categories()
    with django_assert_num_queries(0):
        assert [c.slug for c in selectors.get_categories()] == ["health"]

    CategoryFactory(slug="sleep", name="Sleep", position=9)

    with django_assert_num_queries(1):
        assert [c.slug for c in selectors.get_categories()] == ["health", "sleep"]


def test_an_edit_through_another_process_is_seen_within_a_second(health, monkeypatch):
    """Another process's version bump, in the database, reaches this process within a second."""
    version = caching.content_version()
    # What an edit in another worker, a command or another app server does.
    ContentVersion.objects.filter(pk=1).update(version=version + 1)

    assert caching.content_version() == version
    later = time.monotonic() + caching.VERSION_MEMO_SECONDS + 0.1
    monkeypatch.setattr(caching.time, "monotonic", lambda: later)
    assert caching.content_version() == version + 1


def test_free_article_slug_counts_on_from_a_numbered_slug(health):
    """A taken "walking-3" suggests "walking-2" if free, never "walking-3-2"."""
    ArticleFactory(category=health, slug="walking")
    ArticleFactory(category=health, slug="walking-3")
    assert selectors.free_article_slug("walking-3") == "walking-2"


def test_free_article_slug_fits_the_slug_field(health):
    """A 200-character slug is shortened so that the suggestion is still a valid slug."""
    long_slug = "a" * 199 + "b"
    ArticleFactory(category=health, slug=long_slug)
    free = selectors.free_article_slug(long_slug)
    assert free == "a" * 198 + "-2"
    assert len(free) <= Article._meta.get_field("slug").max_length


def test_tag_suggestions_rank_by_articles_tagged_and_stop_at_the_limit(health):
    """The tag on more articles comes first; ``limit`` caps the list."""
    ArticleFactory(category=health, tags=["sleep", "sleek"])
    ArticleFactory(category=health, tags=["sleek"])
    assert selectors.tag_suggestions("sle") == ["sleek", "sleep"]
    assert selectors.tag_suggestions("sle", limit=1) == ["sleek"]
