"""Buffered view counting against a real Redis (HEALTHHUB_VIEW_COUNTER=buffered)."""

import datetime as dt
import os
import threading
import time
import uuid
from io import StringIO

import pytest
import redis
from django.core.management import call_command
from django.db import connection
from django.db.models import F
from django.test import RequestFactory
from django.utils import timezone

from articles import counting
from articles.counting import flush_views, record_view
from articles.models import Article, DailyViews, ViewFlush
from articles.services import bulk_create_articles
from tests.factories import ArticleFactory, UserFactory

REDIS_URL = os.environ.get("HEALTHHUB_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
BROWSER = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"


@pytest.fixture
def buffered(settings):
    """Count views in Redis under a key prefix of this test's own; remove its keys after."""
    try:
        redis.Redis.from_url(REDIS_URL).ping()
    except redis.ConnectionError:
        pytest.skip(f"no Redis at {REDIS_URL}")
    prefix = f"healthhub-test:{uuid.uuid4().hex}:views:"
    settings.HEALTHHUB_VIEW_COUNTER = "buffered"
    settings.HEALTHHUB_VIEW_BUFFER_URL = REDIS_URL
    settings.HEALTHHUB_VIEW_BUFFER_PREFIX = prefix
    counting.view_buffer.cache_clear()
    yield counting.view_buffer()
    client = counting.view_buffer()
    keys = list(client.scan_iter(match=f"{prefix}*"))
    if keys:
        client.delete(*keys)
    counting.view_buffer.cache_clear()


def reader_get():
    return RequestFactory().get("/", headers={"user-agent": BROWSER})


def stored_count(article):
    return Article.objects.values_list("view_count", flat=True).get(pk=article.pk)


def tallies(article):
    return dict(DailyViews.objects.filter(article=article).values_list("date", "views"))


@pytest.mark.django_db
def test_buffered_view_goes_to_redis_and_the_page_shows_database_plus_pending(client, buffered):
    """A buffered view leaves the row alone, and the page shows the stored count plus pending."""
    article = ArticleFactory(view_count=7)

    first = client.get(article.get_absolute_url(), headers={"user-agent": BROWSER})
    second = client.get(article.get_absolute_url(), headers={"user-agent": BROWSER})
    head = client.head(article.get_absolute_url())

    assert b"8 views" in first.content
    assert b"9 views" in second.content
    assert head.status_code == 200
    assert stored_count(article) == 7
    assert not DailyViews.objects.exists()


@pytest.mark.django_db
def test_uncounted_request_shows_the_pending_views_too(buffered):
    """A crawler's request is not counted but still sees the pending views."""
    article = ArticleFactory(view_count=7)
    record_view(article, reader_get())

    crawler = RequestFactory().get("/", headers={"user-agent": "Googlebot/2.1"})
    fresh = Article.objects.get(pk=article.pk)

    assert record_view(fresh, crawler) is False
    assert fresh.view_count == 8


@pytest.mark.django_db
def test_article_page_query_budget_when_buffered(client, buffered, django_assert_num_queries):
    """Served from cache, a buffered article page reads its count once, then makes no query."""
    article = ArticleFactory(tags=["sleep", "stress"], view_count=41)
    client.get(article.get_absolute_url(), headers={"user-agent": BROWSER})
    with django_assert_num_queries(1):
        seeding = client.get(article.get_absolute_url(), headers={"user-agent": BROWSER})
    with django_assert_num_queries(0):
        cached = client.get(article.get_absolute_url(), headers={"user-agent": BROWSER})

    assert b"43 views" in seeding.content
    assert b"44 views" in cached.content


def cached_page_count(article, request=None):
    """Return the count a cached copy of the article page would show."""
    return counting.count_view(article.pk, request or reader_get())


@pytest.mark.django_db
def test_shown_count_carries_on_across_a_flush(buffered):
    """After a flush, the page's count neither drops nor doubles, and matches the database."""
    article = ArticleFactory(view_count=10)
    assert [cached_page_count(article) for _ in range(3)] == [11, 12, 13]

    assert flush_views() == 3
    assert stored_count(article) == 13
    assert cached_page_count(article) == 14
    crawler = RequestFactory().get("/", headers={"user-agent": "Googlebot/2.1"})
    assert cached_page_count(article, crawler) == 14


@pytest.mark.django_db
def test_a_page_served_during_a_flush_shows_every_view(buffered, monkeypatch):
    """While a batch is between Redis and the database, pages show it and nothing is seeded."""
    seeded, unseeded = ArticleFactory(view_count=5), ArticleFactory(view_count=5)
    cached_page_count(seeded)
    record_view(unseeded, reader_get())
    crawler = RequestFactory().get("/", headers={"user-agent": "Googlebot/2.1"})
    real_add_views, shown = counting._add_views, {}

    def look_at_the_pages(counts, date):
        real_add_views(counts, date)
        for article_id, _views in counts:
            shown[article_id] = cached_page_count(Article(pk=article_id), crawler)

    monkeypatch.setattr(counting, "_add_views", look_at_the_pages)
    flush_views()
    monkeypatch.undo()

    total_key = f"{counting.settings.HEALTHHUB_VIEW_BUFFER_PREFIX}total:{unseeded.pk}"
    assert shown == {seeded.pk: 6, unseeded.pk: 6}
    assert not buffered.exists(total_key)
    assert stored_count(unseeded) == 6
    assert cached_page_count(unseeded) == 7
    assert buffered.get(total_key) == "7"


@pytest.mark.django_db
def test_flush_moves_views_into_the_count_and_todays_tally(buffered):
    """A flush adds each article's pending views to its count and today's tally, exactly once."""
    once, thrice = ArticleFactory(view_count=7), ArticleFactory(view_count=0)
    record_view(once, reader_get())
    for _ in range(3):
        record_view(thrice, reader_get())

    assert flush_views() == 4
    assert flush_views() == 0

    today = timezone.now().date()
    assert (stored_count(once), stored_count(thrice)) == (8, 3)
    # One view is not tallied twice (by the flush and by the reader-view trigger).
    assert tallies(once) == {today: 1}
    assert tallies(thrice) == {today: 3}
    assert ViewFlush.objects.get().views == 4
    prefix = counting.settings.HEALTHHUB_VIEW_BUFFER_PREFIX
    assert list(buffered.scan_iter(match=f"{prefix}pending:*")) == []
    assert list(buffered.scan_iter(match=f"{prefix}batch*")) == []


@pytest.mark.django_db
def test_a_readers_view_after_a_flush_on_the_same_connection_is_tallied(buffered):
    """The mark that keeps the tally trigger out of a flush ends with the flush's transaction."""
    article = ArticleFactory(view_count=0)
    yesterday = timezone.now().date() - dt.timedelta(days=1)
    buffered.hincrby(counting._pending_key(yesterday), str(article.pk), 1)
    assert flush_views() == 1

    Article.objects.filter(pk=article.pk).update(view_count=F("view_count") + 1)

    assert stored_count(article) == 2
    assert tallies(article) == {yesterday: 1, timezone.now().date(): 1}


@pytest.mark.django_db
def test_views_buffered_yesterday_are_tallied_for_yesterday(buffered):
    """Views left in yesterday's buffer count for yesterday, even when flushed today."""
    article = ArticleFactory()
    yesterday = timezone.now().date() - dt.timedelta(days=1)
    buffered.hincrby(counting._pending_key(yesterday), str(article.pk), 5)

    assert flush_views() == 5
    assert tallies(article) == {yesterday: 5}


@pytest.mark.django_db
def test_a_flush_that_fails_halfway_loses_nothing(buffered, monkeypatch):
    """When a chunk's write fails, the chunks before it stay applied; the retry applies the rest."""
    first, second = ArticleFactory(), ArticleFactory()
    for article in (first, second, second):
        record_view(article, reader_get())
    monkeypatch.setattr(counting, "FLUSH_CHUNK", 1)
    real_add_views, calls = counting._add_views, []

    def fail_on_second_chunk(*args):
        calls.append(args)
        if len(calls) == 2:
            raise RuntimeError("database went away")
        real_add_views(*args)

    monkeypatch.setattr(counting, "_add_views", fail_on_second_chunk)
    with pytest.raises(RuntimeError):
        flush_views()
    assert (stored_count(first), stored_count(second)) == (1, 0)

    record_view(first, reader_get())  # counted while the batch waits
    monkeypatch.setattr(counting, "_add_views", real_add_views)
    assert flush_views() == 3
    assert (stored_count(first), stored_count(second)) == (2, 2)
    assert flush_views() == 0
    assert tallies(second) == {timezone.now().date(): 2}


@pytest.mark.django_db
def test_a_batch_applied_but_not_deleted_is_not_applied_twice(buffered, monkeypatch):
    """If Redis fails after the database commit, the retry deletes the batch without re-adding it."""
    article = ArticleFactory()
    for _ in range(3):
        record_view(article, reader_get())

    def redis_down(*args, **kwargs):
        raise redis.ConnectionError("Redis went away")

    monkeypatch.setattr(counting.view_buffer(counting.FLUSH_TIMEOUT), "pipeline", redis_down)
    with pytest.raises(redis.ConnectionError):
        flush_views()
    monkeypatch.undo()

    assert flush_views() == 0
    assert stored_count(article) == 3
    assert tallies(article) == {timezone.now().date(): 3}


@pytest.mark.django_db
def test_flush_views_command_reports_the_views_moved(buffered):
    """`manage.py flush_views` flushes and says how many views it moved."""
    record_view(ArticleFactory(), reader_get())
    out = StringIO()
    call_command("flush_views", stdout=out)
    assert out.getvalue().strip() == "Flushed 1 view."


@pytest.mark.django_db(transaction=True)
def test_concurrent_views_and_flushes_count_every_view_exactly_once(buffered):
    """Eight threads counting while two threads flush add every view once; pages show them all."""
    articles = [ArticleFactory(), ArticleFactory()]
    readers, calls = 8, 150
    start = threading.Barrier(readers + 2)
    done = threading.Event()
    errors = []

    def read():
        try:
            start.wait(timeout=30)
            for number in range(calls):
                article = articles[number % 2]
                # Fresh and cached pages alike.
                if number % 3:
                    cached_page_count(article)
                else:
                    record_view(
                        Article(pk=article.pk, view_count=stored_count(article)), reader_get()
                    )
        except Exception as error:  # reported below
            errors.append(error)
        finally:
            connection.close()

    def flush():
        try:
            start.wait(timeout=30)
            while not done.is_set():
                flush_views()
        except Exception as error:  # reported below
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=read) for _ in range(readers)]
    flushers = [threading.Thread(target=flush) for _ in range(2)]
    for thread in threads + flushers:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    done.set()
    for thread in flushers:
        thread.join(timeout=120)
    flush_views()

    assert not errors
    total = readers * calls
    assert sum(stored_count(article) for article in articles) == total
    assert stored_count(articles[0]) == stored_count(articles[1]) == total // 2
    assert sum(DailyViews.objects.values_list("views", flat=True)) == total
    assert ViewFlush.objects.count() >= 2
    crawler = RequestFactory().get("/", headers={"user-agent": "Googlebot/2.1"})
    assert [cached_page_count(article, crawler) for article in articles] == [total // 2] * 2


@pytest.mark.django_db(transaction=True)
def test_a_large_flush_never_keeps_a_readers_view_waiting_a_second(buffered, health):
    """A flush of 6,000 articles' views commits chunk by chunk; a reader's UPDATE slips between."""
    author = UserFactory()
    articles = bulk_create_articles(
        [
            Article(
                title=f"Flushed {n}",
                slug=f"flushed-{n}",
                category=health,
                author=author,
                body="Text.",
                status=Article.Status.PUBLISHED,
                published_at=timezone.now(),
            )
            for n in range(6000)
        ]
    )
    pending = counting._pending_key(timezone.now().date())
    buffered.hset(pending, mapping={article.pk: 3 for article in articles})
    reader_article = articles[-1].pk
    waits, flushing = [], threading.Event()

    def read_while_flushing():
        flushing.wait()
        try:
            while flushing.is_set():
                started = time.monotonic()
                Article.objects.filter(pk=reader_article).update(view_count=F("view_count") + 1)
                waits.append(time.monotonic() - started)
        finally:
            connection.close()

    reader = threading.Thread(target=read_while_flushing)
    reader.start()
    flushing.set()
    try:
        moved = flush_views()
    finally:
        flushing.clear()
        reader.join()
    assert moved == 18_000
    assert len(waits) > 1
    assert max(waits) < 1.0
    assert stored_count(articles[0]) == 3
    assert stored_count(articles[-1]) == 3 + len(waits)
