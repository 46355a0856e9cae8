"""Run the production stack (gunicorn, production settings) against the test database."""

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


@pytest.fixture
def gunicorn(article, tmp_path):
    """Start gunicorn on a free port with production settings; yield the port."""
    base_dir = Path(settings.BASE_DIR)
    port = free_port()
    env = server_env(tmp_path / "static", port)
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput"],
        cwd=base_dir,
        env=env,
        check=True,
        capture_output=True,
        timeout=120,
    )
    log_path = tmp_path / "gunicorn.log"
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
        yield port
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
