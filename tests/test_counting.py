"""Counting a reader's view directly in the database (articles.counting)."""

import threading

import pytest
from django.db import connection
from django.db.models import F
from django.test import RequestFactory
from django.utils import timezone

from articles.counting import record_view
from articles.models import Article, DailyViews
from tests.factories import ArticleFactory

BROWSER = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
)


@pytest.fixture
def article(db):
    return ArticleFactory(view_count=7)


def stored_count(article):
    return Article.objects.values_list("view_count", flat=True).get(pk=article.pk)


def test_get_counts_exactly_one_view(rf, article):
    """A reader's GET adds exactly one view, in the database and on the instance."""
    counted = record_view(article, rf.get("/", headers={"user-agent": BROWSER}))

    assert counted is True
    assert article.view_count == 8
    article.refresh_from_db()
    assert article.view_count == 8


def test_each_get_counts_again(rf, article):
    """Every GET is a new view: three GETs add three."""
    for _ in range(3):
        record_view(article, rf.get("/", headers={"user-agent": BROWSER}))

    assert article.view_count == 10
    assert stored_count(article) == 10


def test_get_without_user_agent_counts(rf, article):
    """A GET with an empty User-Agent is counted."""
    request = rf.get("/", headers={"user-agent": ""})

    assert record_view(article, request) is True
    assert stored_count(article) == 8


def test_head_does_not_count(rf, article):
    """A HEAD request does not count a view."""
    counted = record_view(article, rf.head("/", headers={"user-agent": BROWSER}))

    assert counted is False
    assert article.view_count == 7
    assert stored_count(article) == 7


def test_post_does_not_count(rf, article):
    """A POST request does not count a view."""
    counted = record_view(article, rf.post("/", headers={"user-agent": BROWSER}))

    assert counted is False
    assert article.view_count == 7
    assert stored_count(article) == 7


@pytest.mark.parametrize(
    "user_agent",
    [
        "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
        "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
        "facebookexternalhit/1.1",
        "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
        "Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)",
        "Mozilla/5.0 (compatible; YandexSpider)",
        "Twitterbot/1.0",
    ],
)
def test_bot_get_does_not_count(rf, article, user_agent):
    """A GET from a crawler or link unfurler does not count a view."""
    counted = record_view(article, rf.get("/", headers={"user-agent": user_agent}))

    assert counted is False
    assert article.view_count == 7
    assert stored_count(article) == 7


@pytest.mark.parametrize(
    ("header", "value"),
    [("sec-purpose", "prefetch"), ("sec-purpose", "prefetch;prerender"), ("purpose", "prefetch")],
)
def test_prefetch_does_not_count(rf, article, header, value):
    """A browser prefetch (Sec-Purpose: prefetch, or the older Purpose header) does not count a view."""
    request = rf.get("/", headers={"user-agent": BROWSER, header: value})

    assert record_view(article, request) is False
    assert article.view_count == 7
    assert stored_count(article) == 7


def test_full_save_keeps_views_counted_meanwhile(rf, article):
    """A full save of a stale instance keeps the views counted since it was loaded."""
    edited = Article.objects.get(pk=article.pk)
    record_view(Article.objects.get(pk=article.pk), rf.get("/"))
    record_view(Article.objects.get(pk=article.pk), rf.get("/"))
    Article.objects.filter(pk=article.pk).update(view_count=F("view_count") + 5)

    edited.title = "A new title"
    edited.save()

    fresh = Article.objects.get(pk=article.pk)
    assert fresh.title == "A new title"
    assert fresh.view_count == 7 + 2 + 5


@pytest.mark.django_db(transaction=True)
def test_concurrent_views_are_all_counted():
    """Eight threads counting 25 views each on their own instances add exactly 200."""
    article = ArticleFactory()
    threads_count, calls = 8, 25
    start = threading.Barrier(threads_count)
    errors, seen_by_thread = [], []

    def read_repeatedly():
        try:
            own = Article.objects.get(pk=article.pk)
            start.wait(timeout=30)
            for _ in range(calls):
                record_view(own, RequestFactory().get("/", headers={"user-agent": BROWSER}))
            seen_by_thread.append(own.view_count)
        except Exception as error:  # reported below; a thread cannot fail the test itself
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=read_repeatedly) for _ in range(threads_count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert not errors
    assert not any(thread.is_alive() for thread in threads)
    assert stored_count(article) == threads_count * calls
    # Concurrent first views of the day all land in the one daily row.
    assert DailyViews.objects.get(article=article).views == threads_count * calls
    # Each instance counts its own views and never reads the others' back.
    assert seen_by_thread == [calls] * threads_count


def test_a_counted_view_is_tallied_for_today(rf, health):
    """Each counted view also adds one to the article's row for today."""
    article = ArticleFactory(category=health)
    for _ in range(3):
        record_view(article, rf.get("/"))
    record_view(article, rf.head("/"))

    tally = DailyViews.objects.get(article=article)
    assert (tally.date, tally.views) == (timezone.now().date(), 3)


def test_setting_a_count_directly_is_not_tallied(health):
    """Setting a view count (as an import does) leaves the daily tally alone."""
    article = ArticleFactory(category=health)
    Article.objects.filter(pk=article.pk).update(view_count=500)
    assert not DailyViews.objects.exists()
