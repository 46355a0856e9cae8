"""Redis and the database failing: short timeouts, circuit breakers, degraded pages."""

import logging
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from unittest import mock

import pytest
import redis
from django.contrib.admin import site as admin_site
from django.core.cache import cache
from django.db import OperationalError, connection
from django.test import Client

from articles import counting
from articles.checks import check_view_buffer_persists
from articles.models import Article
from healthhub import health, resilience
from healthhub.cache import cache_breaker
from healthhub.database import database_breaker, short_deadline
from healthhub.resilience import CircuitBreaker, Watchdog
from tests.admin_forms import admin_form
from tests.factories import ArticleFactory
from tests.test_admin import change_url, open_form, submit

BROWSER = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_redis(port, directory, *options):
    try:
        process = subprocess.Popen(
            [
                *("redis-server", "--port", str(port), "--bind", "127.0.0.1"),
                *("--save", "", "--dir", str(directory), *options),
            ],
            stdout=subprocess.DEVNULL,
        )
    except FileNotFoundError:
        pytest.skip("redis-server is not installed")
    url = f"redis://127.0.0.1:{port}/0"
    for _ in range(100):
        try:
            redis.Redis.from_url(url).ping()
            break
        except redis.ConnectionError:
            time.sleep(0.05)
    return process, url


@pytest.fixture
def private_redis(tmp_path):
    """Start a redis-server of this test's own, on a free port, so it can be frozen."""
    process, url = start_redis(free_port(), tmp_path, "--appendonly", "no")
    yield process, url
    os.kill(process.pid, signal.SIGCONT)
    process.terminate()
    process.wait(5)


def redis_cache(url):
    return {
        "default": {
            "BACKEND": "healthhub.cache.ResilientRedisCache",
            "LOCATION": url,
            "OPTIONS": {"socket_connect_timeout": 0.2, "socket_timeout": 0.2},
        },
        "local": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "pages"},
    }


def reader(path):
    return Client(headers={"user-agent": BROWSER}).get(path)


def stored_views(article):
    return Article.objects.values_list("view_count", flat=True).get(pk=article.pk)


def test_breaker_opens_once_lets_one_probe_through_and_closes(caplog):
    """A failure opens the breaker with one warning; after the open period one probe goes."""
    breaker = CircuitBreaker("Thing", open_seconds=0.2)
    with caplog.at_level(logging.WARNING, logger="healthhub.resilience"):
        for _ in range(3):
            breaker.failed(ConnectionError("refused"))
        assert not breaker.allow()
        time.sleep(0.35)  # the open period, jittered up to 1.5 times
        assert breaker.allow()
        assert not breaker.allow()  # only one probe per period
        breaker.succeeded()
        assert breaker.allow()
    messages = [record.getMessage() for record in caplog.records]
    assert len(messages) == 2
    assert "Thing is unavailable" in messages[0]
    assert "answering again" in messages[1]


def test_watchdog_cuts_a_socket_call_that_passes_its_deadline():
    """A read that would wait forever ends at the deadline."""
    ours, theirs = socket.socketpair()
    started = time.monotonic()
    with ours, theirs, Watchdog().deadline(ours.fileno(), 0.2):
        assert ours.recv(10) == b""
    assert time.monotonic() - started < 1.5


@pytest.mark.django_db
def test_a_dead_redis_cache_is_a_miss_with_one_warning(client, settings, caplog):
    """With the cache's Redis gone, pages are served, and the breaker logs once, not per request."""
    settings.CACHES = redis_cache(f"redis://127.0.0.1:{free_port()}/0")
    article = ArticleFactory(view_count=3)
    with caplog.at_level(logging.WARNING, logger="healthhub.resilience"):
        for path in ["/", article.get_absolute_url(), "/feed/", "/sitemap.xml", "/"]:
            assert reader(path).status_code == 200, path
    assert cache_breaker.is_open
    assert stored_views(article) == 4
    opened = [r for r in caplog.records if "unavailable" in r.getMessage()]
    assert len(opened) == 1


@pytest.mark.django_db
def test_a_frozen_redis_cache_costs_one_short_timeout(client, settings, private_redis):
    """With Redis stopped mid-stream, the first call waits its timeout, later ones nothing."""
    process, url = private_redis
    settings.CACHES = redis_cache(url)
    article = ArticleFactory()
    assert reader(article.get_absolute_url()).status_code == 200
    os.kill(process.pid, signal.SIGSTOP)
    started = time.monotonic()
    for _ in range(10):
        assert reader(article.get_absolute_url()).status_code == 200
        assert reader("/").status_code == 200
    assert time.monotonic() - started < 2
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json()["checks"]["cache"] == "degraded"

    os.kill(process.pid, signal.SIGCONT)
    cache_breaker.reset()
    cache.set("back", "yes")
    assert cache.get("back") == "yes"


@pytest.fixture
def buffered_on(settings):
    def point_at(url):
        settings.HEALTHHUB_VIEW_COUNTER = "buffered"
        settings.HEALTHHUB_VIEW_BUFFER_URL = url
        settings.HEALTHHUB_VIEW_BUFFER_PREFIX = f"healthhub-test:{free_port()}:views:"
        counting.view_buffer.cache_clear()

    yield point_at
    counting.view_buffer.cache_clear()


@pytest.mark.django_db
def test_buffered_views_are_counted_directly_while_redis_is_down(buffered_on, private_redis):
    """An unreachable view buffer costs no view: it goes to the database, and the page shows it."""
    process, url = private_redis
    buffered_on(url)
    article = ArticleFactory(view_count=10)
    assert "11 views" in reader(article.get_absolute_url()).text  # buffered, then cached
    os.kill(process.pid, signal.SIGSTOP)
    try:
        # Counted in the database; shown as the last total shown plus this view,
        # since the stored count (11, then 12) lacks the view still in Redis.
        assert "12 views" in reader(article.get_absolute_url()).text
        assert "13 views" in reader(article.get_absolute_url()).text
    finally:
        os.kill(process.pid, signal.SIGCONT)
    assert stored_views(article) == 12  # the two direct views; the first is still buffered
    assert counting.buffer_breaker.is_open

    counting.buffer_breaker.reset()
    # Redis's total missed the direct views: it is dropped and seeded afresh.
    # The call that timed out ran when Redis woke, so its view, also counted
    # directly, is counted twice: 4 views, 5 counted, none lost.
    assert "15 views" in reader(article.get_absolute_url()).text
    counting.flush_views()
    assert stored_views(article) == 15


@pytest.mark.django_db
def test_a_cached_article_page_is_served_when_the_database_fails(client):
    """With the database failing, a cached article shows its last count and counts nothing."""
    article = ArticleFactory(view_count=41)
    assert "42 views" in reader(article.get_absolute_url()).text
    failing = OperationalError("server closed the connection unexpectedly")
    with mock.patch.object(counting, "_count_in_database", side_effect=failing):
        response = reader(article.get_absolute_url())
    assert response.status_code == 200
    assert "42 views" in response.text
    database_breaker.reset()  # opened on PostgreSQL, which would refuse this test's own query
    assert stored_views(article) == 42


@pytest.mark.django_db
def test_readyz_names_a_database_that_cannot_write(client):
    """A database that reads but cannot write is reported, while readers are still served."""
    full = OperationalError("database or disk is full")
    with mock.patch.object(health, "probe_write", side_effect=full):
        response = client.get("/readyz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "degraded"
    assert body["checks"]["database"] == "degraded"
    assert "the disk is full" in body["reasons"]["database"]


@pytest.mark.django_db
def test_readyz_write_probe_leaves_the_content_version_alone(client):
    """The write probe commits a write that changes nothing."""
    from articles.caching import content_version

    version = content_version()
    assert client.get("/readyz").json()["checks"]["database"] == "ok"
    assert content_version() == version


@pytest.mark.django_db
def test_readers_get_the_503_page_when_the_disk_is_full():
    """A page the full disk breaks is the HTML 503 page, naming the cause, never a 500."""
    with mock.patch(
        "articles.views.HomeView.get_context_data",
        side_effect=OperationalError("database or disk is full"),
    ):
        response = Client(raise_request_exception=False).get("/")
    assert response.status_code == 503
    assert response["Content-Type"] == "text/html; charset=utf-8"
    assert "Temporarily unavailable" in response.text
    assert "its disk is full" in response.text


@pytest.mark.django_db(transaction=True)
def test_a_hung_postgresql_query_is_cut_at_its_deadline():
    """A query that outlives its deadline fails at once, and the next query reconnects."""
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL only")
    started = time.monotonic()
    with pytest.raises(OperationalError), short_deadline(0.3), connection.cursor() as cursor:
        cursor.execute("SELECT pg_sleep(10)")
    assert time.monotonic() - started < 2
    assert database_breaker.is_open
    connection.close()
    # While the breaker is open, a request does not even try.
    with pytest.raises(OperationalError, match="unavailable"), connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    # Once the breaker's period is over, the next connection probes, and its
    # queries run: the site recovers by itself.
    later = time.monotonic() + database_breaker.open_seconds + 1
    with mock.patch.object(resilience.time, "monotonic", return_value=later):
        with connection.cursor() as cursor:
            cursor.execute("SHOW statement_timeout")
            assert cursor.fetchone()[0] == "4s"
        assert not database_breaker.is_open


def test_sqlite_waits_for_the_write_lock_no_longer_than_the_database_timeout(db):
    """A SQLite writer waits at most HEALTHHUB_DB_TIMEOUT for the lock, within gunicorn's timeout."""
    if connection.vendor != "sqlite":
        pytest.skip("SQLite only")
    assert connection.settings_dict["OPTIONS"]["timeout"] == 4


@pytest.mark.django_db
def test_an_editor_whose_save_hits_a_full_disk_keeps_their_text(admin_client, health):
    """A save the full disk refuses gives the form back, the text in it, and the reason."""
    article = ArticleFactory(category=health, body="Old body.")
    url = change_url(article)
    form = open_form(admin_client, url)
    full = OperationalError("database or disk is full")
    with mock.patch.object(Article, "save", side_effect=full):
        response = submit(admin_client, url, form, body="A long new draft, not to be lost.")
    assert response.status_code == 200
    assert "The database could not save: the disk is full." in response.text
    assert "A long new draft, not to be lost." in response.text
    article.refresh_from_db()
    assert article.body == "Old body."

    # Once there is room again, the same form saves.
    response = submit(admin_client, url, admin_form(response, "article"))
    assert response.status_code == 302
    article.refresh_from_db()
    assert article.body == "A long new draft, not to be lost."


@pytest.mark.django_db
def test_buffered_views_survive_a_redis_crash_with_appendfsync_always(buffered_on, tmp_path):
    """With AOF and fsync on every write, SIGKILLing Redis loses no view, and no count drops."""
    port = free_port()
    process, url = start_redis(port, tmp_path, "--appendonly", "yes", "--appendfsync", "always")
    try:
        buffered_on(url)
        assert counting.buffer_persistence() == "aof-always"
        assert check_view_buffer_persists(None) == []
        article = ArticleFactory(view_count=100)
        shown = [reader(article.get_absolute_url()).text for _ in range(7)]
        assert "107 views" in shown[-1]
        process.kill()
        process.wait(5)
        process, url = start_redis(port, tmp_path, "--appendonly", "yes")
        counting.view_buffer.cache_clear()
        assert "108 views" in reader(article.get_absolute_url()).text
        assert counting.flush_views() == 8
        assert stored_views(article) == 108
    finally:
        process.terminate()
        process.wait(5)


@pytest.mark.django_db
def test_a_redis_without_persistence_is_named_and_an_emptied_one_is_noticed(
    buffered_on, private_redis, caplog
):
    """check --deploy warns about a Redis that keeps nothing; a flush notices it came back empty."""
    _process, url = private_redis
    buffered_on(url)
    [warning] = check_view_buffer_persists(None)
    assert warning.id == "healthhub.W001"
    assert "every view not yet flushed" in warning.msg

    article = ArticleFactory(view_count=5)
    reader(article.get_absolute_url())
    counting.flush_views()
    reader(article.get_absolute_url())
    counting.view_buffer().flushall()  # what a restart without persistence does
    with caplog.at_level(logging.WARNING, logger="articles.counting"):
        counting.flush_views()
    assert "came back empty" in caplog.text
    assert stored_views(article) == 6
    # The shown total is seeded again from the database.
    assert "7 views" in reader(article.get_absolute_url()).text


@pytest.mark.django_db
def test_a_save_refused_at_commit_shows_no_success_message(admin_client, health):
    """SQLite finds the disk full at COMMIT, after the admin queued its success message."""
    article = ArticleFactory(category=health)
    url = change_url(article)
    form = open_form(admin_client, url)
    admin = type(admin_site._registry[Article])
    real_response_change = admin.response_change

    def commit_fails(self, request, obj):
        real_response_change(self, request, obj)
        raise OperationalError("database or disk is full")

    with mock.patch.object(admin, "response_change", commit_fails):
        response = submit(admin_client, url, form, body="Kept.")
    assert "The database could not save: the disk is full." in response.text
    assert "was changed successfully" not in response.text


@pytest.mark.django_db(transaction=True)  # a request runs outside any transaction
def test_a_worker_started_while_the_database_is_down_serves_cached_pages(client):
    """A new process knows no content version; it takes the last one kept in the cache."""
    from articles import caching

    article = ArticleFactory(view_count=8)
    assert "9 views" in reader(article.get_absolute_url()).text
    caching.forget_content_version()  # what a freshly started worker knows
    failing = OperationalError("could not connect to server")
    with (
        mock.patch.object(caching.ContentVersion.objects, "filter", side_effect=failing),
        mock.patch.object(counting, "_count_in_database", side_effect=failing),
    ):
        response = reader(article.get_absolute_url())
    assert response.status_code == 200
    assert "9 views" in response.text


def test_management_commands_run_without_the_web_deadlines():
    """manage.py turns the query deadlines off: an export may rightly run a long statement."""
    script = (
        "from django.conf import settings as s; from healthhub.database import query_deadline; "
        "print(s.HEALTHHUB_DB_TIMEOUT, query_deadline(), s.DATABASES['default']['OPTIONS'])"
    )
    env = {key: value for key, value in os.environ.items() if key != "HEALTHHUB_DB_TIMEOUT"}
    env["DJANGO_SECRET_KEY"] = "test-only"
    env.pop("DJANGO_SETTINGS_MODULE", None)
    out = (
        subprocess.run(
            [sys.executable, "manage.py", "shell", "-c", script],
            cwd=Path(__file__).resolve().parent.parent,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        .stdout.strip()
        .splitlines()[-1]
    )
    assert out.startswith("0.0 None ")
    assert "statement_timeout=0" in out or "'timeout': 20" in out


@pytest.mark.django_db(transaction=True)
def test_a_worker_serving_only_cached_pages_counts_again_after_an_outage(rf):
    """Once the breaker's period is over, a cached page's view starts a probe; counting resumes."""
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL only: SQLite never opens the breaker")
    from articles import counting

    article = ArticleFactory(view_count=10)
    reader = rf.get("/", headers={"user-agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/133.0"})
    database_breaker.failed(OperationalError("server closed the connection"))
    counting._probe_started = 0.0

    # While open, the view is not counted, and the probe waits for the period.
    assert counting.count_view(article.pk, reader, known=10) == 10
    later = time.monotonic() + database_breaker.open_seconds * 2
    with mock.patch.object(resilience.time, "monotonic", return_value=later):
        probe = counting._probe_in_background()
        assert probe is not None
        probe.join(5)
    assert not database_breaker.is_open
    assert counting.count_view(article.pk, reader, known=10) == 11
    article.refresh_from_db()
    assert article.view_count == 11
