"""Run the production stack (gunicorn, production settings) against the test database."""

import contextlib
import gzip
import http.client
import os
import re
import signal
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import quote

import pytest
import redis
from django.conf import settings
from django.db import connection

from tests.factories import ArticleFactory

pytestmark = [pytest.mark.server, pytest.mark.django_db(transaction=True)]

HOST = "127.0.0.1"
BROWSER = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"


def free_port():
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def subprocess_database_url():
    """Return a DATABASE_URL for the database this test is using."""
    db = connection.settings_dict
    if db["ENGINE"] == "django.db.backends.sqlite3":
        return f"sqlite:///{db['NAME']}"
    if db["ENGINE"] == "django.db.backends.postgresql":
        credentials = quote(db["USER"], safe="")
        if db["PASSWORD"]:
            credentials += ":" + quote(db["PASSWORD"], safe="")
        port = f":{db['PORT']}" if db["PORT"] else ""
        return f"postgres://{credentials}@{db['HOST']}{port}/{quote(db['NAME'], safe='')}"
    pytest.skip(f"no server test for {db['ENGINE']}")


def server_env(static_root, port):
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "healthhub.settings",
        "DATABASE_URL": subprocess_database_url(),
        "DJANGO_SECRET_KEY": "test",
        "DJANGO_DEBUG": "0",
        "DJANGO_ALLOWED_HOSTS": f"{HOST},localhost",
        "STATIC_ROOT": str(static_root),
        "HOST": HOST,
        "PORT": str(port),
        "WEB_CONCURRENCY": "3",
    }


def request(method, path, port, user_agent=BROWSER):
    """Send one request on a new connection; return (status, body)."""
    conn = http.client.HTTPConnection(HOST, port, timeout=30)
    try:
        conn.request(method, path, headers={"User-Agent": user_agent})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def stop(process):
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@pytest.fixture
def article():
    return ArticleFactory(view_count=0)


def manage(env, *args):
    """Run a management command with ``env``, as a process on an app server would."""
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=settings.BASE_DIR,
        env=env,
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def gunicorn(article, tmp_path):
    """Start gunicorn on a free port with production settings; yield the port."""
    port = free_port()
    env = server_env(tmp_path / "static", port)
    manage(env, "collectstatic", "--noinput")
    with running_gunicorn(env, tmp_path / "gunicorn.log"):
        yield port


@contextlib.contextmanager
def running_gunicorn(env, log_path):
    """Start gunicorn with ``env``; return once it answers, stop it on exit."""
    base_dir = Path(settings.BASE_DIR)
    port = int(env["PORT"])
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "healthhub.wsgi", "-c", "gunicorn.conf.py"],
            cwd=base_dir,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 15
        while True:
            if process.poll() is not None:
                pytest.fail(f"gunicorn exited:\n{log_path.read_text()}")
            try:
                # The home page does not count views.
                status, _ = request("GET", "/", port)
            except OSError:
                status = None
            if status is not None:
                assert status == 200, log_path.read_text()
                break
            if time.monotonic() > deadline:
                pytest.fail(f"gunicorn did not answer within 15 s:\n{log_path.read_text()}")
            time.sleep(0.1)
        yield
    finally:
        stop(process)


def test_concurrent_gets_through_gunicorn_each_count_once(article, gunicorn):
    """1,000 GETs over 32 concurrent connections to three workers add exactly 1,000 views."""
    url = article.get_absolute_url()

    with ThreadPoolExecutor(32) as pool:
        statuses = list(pool.map(lambda _: request("GET", url, gunicorn)[0], range(1000)))

    assert statuses == [200] * 1000
    article.refresh_from_db()
    assert article.view_count == 1000


@pytest.mark.parametrize(
    ("method", "user_agent"), [("HEAD", BROWSER), ("GET", GOOGLEBOT)], ids=["head", "googlebot"]
)
def test_uncountable_request_through_gunicorn_is_not_counted(article, gunicorn, method, user_agent):
    """A HEAD request or a crawler's GET is served but not counted."""
    url = article.get_absolute_url()

    status, _ = request(method, url, gunicorn, user_agent=user_agent)

    assert status == 200
    article.refresh_from_db()
    assert article.view_count == 0


def test_reader_get_through_gunicorn_counts_and_shows_the_view(article, gunicorn):
    """A reader's GET is counted, and the page it returns already includes that view."""
    status, body = request("GET", article.get_absolute_url(), gunicorn)

    assert status == 200
    assert b"1 view<" in body
    article.refresh_from_db()
    assert article.view_count == 1


def test_hashed_static_files_are_cached_for_a_year(gunicorn):
    """The stylesheet a page links to has a hashed name and far-future, immutable caching."""
    conn = http.client.HTTPConnection(HOST, gunicorn, timeout=30)
    try:
        conn.request("GET", "/")
        html = conn.getresponse().read().decode()
        [stylesheet] = re.findall(r'href="(/static/css/site\.[0-9a-f]{12}\.css)"', html)
        conn.request("GET", stylesheet)
        response = conn.getresponse()
        response.read()
    finally:
        conn.close()

    assert response.status == 200
    assert response.getheader("Cache-Control") == "max-age=315360000, public, immutable"


def test_two_app_servers_sharing_redis_show_the_same_page_and_count_every_view(article, tmp_path):
    """Two nodes on one database and Redis count every view once, show one count, see edits."""
    redis_url = os.environ.get("HEALTHHUB_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
    try:
        redis.Redis.from_url(redis_url).ping()
    except redis.ConnectionError:
        pytest.skip(f"no Redis at {redis_url}")
    prefix = f"healthhub-test-{os.getpid()}-{time.monotonic_ns()}"
    shared = {
        "REDIS_URL": redis_url,
        "HEALTHHUB_CACHE_PREFIX": prefix,
        "HEALTHHUB_VIEW_BUFFER_PREFIX": f"{prefix}:views:",
        "HEALTHHUB_VIEW_COUNTER": "buffered",
        "WEB_CONCURRENCY": "2",
        "LOG_LEVEL": "WARNING",
    }
    nodes = [free_port()]
    while len(nodes) < 2:
        nodes = list(dict.fromkeys([*nodes, free_port()]))
    envs = [server_env(tmp_path / "static", port) | shared for port in nodes]
    manage(envs[0], "collectstatic", "--noinput")
    url = article.get_absolute_url()
    try:
        with (
            running_gunicorn(envs[0], tmp_path / "a.log"),
            running_gunicorn(envs[1], tmp_path / "b.log"),
        ):
            with ThreadPoolExecutor(16) as pool:
                statuses = list(
                    pool.map(lambda n: request("GET", url, nodes[n % 2])[0], range(200))
                )
            shown = [request("GET", url, port, user_agent=GOOGLEBOT)[1] for port in nodes]

            # An editor's save on any node (here, a command run with the nodes' settings).
            manage(
                envs[0],
                "shell",
                "-c",
                (
                    "from articles.models import Article; "
                    f"a = Article.objects.get(pk={article.pk}); a.title = 'Renamed on node A'; a.save()"
                ),
            )
            deadline, renamed = time.monotonic() + 3, []
            while len(renamed) < 2 and time.monotonic() < deadline:
                time.sleep(0.2)
                renamed = [
                    port
                    for port in nodes
                    if b"Renamed on node A" in request("GET", url, port, user_agent=GOOGLEBOT)[1]
                ]
            assert manage(envs[1], "flush_views").stdout.strip() == "Flushed 200 views."
            after_flush = [request("GET", url, port, user_agent=GOOGLEBOT)[1] for port in nodes]
    finally:
        client = redis.Redis.from_url(redis_url)
        keys = list(client.scan_iter(match=f"*{prefix}*"))
        if keys:
            client.delete(*keys)

    assert statuses == [200] * 200
    assert all(b"200 views<" in body for body in shown)
    assert renamed == nodes
    article.refresh_from_db()
    assert article.view_count == 200
    assert all(b"200 views<" in body for body in after_flush)


@pytest.fixture
def two_workers_without_redis(article, tmp_path):
    """Start gunicorn with two workers and no shared cache, the default setup; yield (port, env)."""
    env = {
        key: value
        for key, value in server_env(tmp_path / "static", free_port()).items()
        if key not in {"REDIS_URL", "CACHE_URL"}
    } | {"WEB_CONCURRENCY": "2", "LOG_LEVEL": "WARNING"}
    manage(env, "collectstatic", "--noinput")
    with running_gunicorn(env, tmp_path / "gunicorn.log"):
        yield int(env["PORT"]), env


def test_an_edit_in_another_process_reaches_every_worker_without_redis(
    article, two_workers_without_redis
):
    """With two workers and no shared cache, a title saved by a command shows on every page."""
    port, env = two_workers_without_redis
    pages = [article.get_absolute_url(), "/", article.category.get_absolute_url()]

    def titles_seen(title):
        with ThreadPoolExecutor(4) as pool:
            bodies = pool.map(lambda n: request("GET", pages[n % 3], port)[1], range(60))
        return [title.encode() in body for body in bodies]

    assert all(titles_seen(article.title))  # every worker has the pages cached
    manage(
        env,
        "shell",
        "-c",
        "from articles.models import Article; "
        f"a = Article.objects.get(pk={article.pk}); a.title = 'Renamed elsewhere'; a.save()",
    )
    deadline, seen = time.monotonic() + 5, []
    while time.monotonic() < deadline:
        time.sleep(0.5)
        seen = titles_seen("Renamed elsewhere")
        if all(seen):
            break

    assert seen.count(True) == len(seen) == 60


def test_conditional_gets_answer_304_from_every_worker_without_redis(two_workers_without_redis):
    """With two workers and no shared cache, the feed's and sitemap's ETags hold on every worker."""
    port, _env = two_workers_without_redis

    def get(path, etag=None):
        conn = http.client.HTTPConnection(HOST, port, timeout=30)
        try:
            conn.request("GET", path, headers={"If-None-Match": etag} if etag else {})
            response = conn.getresponse()
            response.read()
            return response.status, response.getheader("ETag")
        finally:
            conn.close()

    statuses = {}
    for path in ["/feed/", "/sitemap.xml"]:
        _status, etag = get(path)
        with ThreadPoolExecutor(4) as pool:
            statuses[path] = list(pool.map(lambda _n, p=path, e=etag: get(p, e)[0], range(20)))

    assert statuses == {"/feed/": [304] * 20, "/sitemap.xml": [304] * 20}


def test_responses_do_not_name_the_server_software(gunicorn):
    """The Server header that gunicorn sends names neither gunicorn nor its version."""
    conn = http.client.HTTPConnection(HOST, gunicorn, timeout=30)
    try:
        conn.request("GET", "/")
        response = conn.getresponse()
        response.read()
    finally:
        conn.close()

    assert response.status == 200
    assert response.getheader("Server") == "web"


def test_article_page_through_gunicorn_is_compressed_and_decodes(article, gunicorn):
    """Through gunicorn, an article page comes back gzip-compressed and decodes to the plain page."""
    url = article.get_absolute_url()
    pages = {}
    for accept in ("", "br, gzip", "br, gzip"):
        conn = http.client.HTTPConnection(HOST, gunicorn, timeout=30)
        try:
            conn.request("GET", url, headers={"User-Agent": BROWSER, "Accept-Encoding": accept})
            response = conn.getresponse()
            pages.setdefault(accept, []).append((response, response.read()))
        finally:
            conn.close()

    [(plain, plain_body)] = pages[""]
    assert plain.getheader("Content-Encoding") is None
    for count, (response, body) in enumerate(pages["br, gzip"], start=2):
        assert response.getheader("Content-Encoding") == "gzip"
        assert "Accept-Encoding" in response.getheader("Vary")
        assert int(response.getheader("Content-Length")) == len(body) < len(plain_body) / 2
        html = gzip.decompress(body).decode()
        assert f"{count} views<" in html
        nonce = re.search(r"'nonce-([^']+)'", response.getheader("Content-Security-Policy"))
        assert f'nonce="{nonce.group(1)}"' in html
