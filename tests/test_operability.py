"""Health probes, request ids, the access log and 503s when the database is down."""

import io
import json
import logging
from unittest import mock

import pytest
from django.db import OperationalError
from django.test import Client
from django.urls import path

from healthhub import health
from healthhub.logs import JsonFormatter, RequestIdFilter

pytestmark = pytest.mark.django_db


def boom(request):
    raise ValueError("kaboom in a view")


urlpatterns = [path("boom/", boom)]


def test_healthz_answers_without_touching_dependencies(client, django_assert_num_queries):
    """/healthz says the process is alive, with no database query."""
    with django_assert_num_queries(0):
        response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert "no-cache" in response["Cache-Control"]


def test_readyz_names_each_dependency(client):
    """/readyz checks the database and the cache and names both."""
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": {"database": "ok", "cache": "ok"}}


def test_readyz_is_503_when_the_cache_is_down(client, settings):
    """A cache that cannot store anything makes /readyz answer 503 and name the cache."""
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": "/proc/healthhub-no-such-cache",
        }
    }
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"] == {"database": "ok", "cache": "unavailable"}


def test_readyz_is_503_when_the_database_is_down(client):
    """A database that refuses connections makes /readyz answer 503 and name the database."""
    with mock.patch.object(
        health.connection, "cursor", side_effect=OperationalError("connection refused")
    ):
        response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["checks"] == {"database": "unavailable", "cache": "ok"}
    assert body["reasons"] == {"database": "connection refused"}


def test_pages_answer_503_when_the_database_is_down(client):
    """A page that cannot reach the database gets a 503 with Retry-After, not a 500."""
    with mock.patch(
        "articles.views.HomeView.get_context_data",
        side_effect=OperationalError("connection refused"),
    ):
        response = Client(raise_request_exception=False).get("/")
    assert response.status_code == 503
    assert response["Retry-After"] == "5"


def test_every_response_has_a_request_id(client):
    """A fresh id is made for each request without one."""
    first = client.get("/healthz")["X-Request-ID"]
    second = client.get("/healthz")["X-Request-ID"]
    assert len(first) >= 16
    assert first != second


@pytest.mark.parametrize(
    ("incoming", "kept"),
    [
        ("req-0123456789abcdef", True),
        ("short", False),
        ("bad id\nFAKE LOG LINE", False),
        ("x" * 200, False),
    ],
    ids=["well-formed", "too-short", "newline", "too-long"],
)
def test_incoming_request_id_is_kept_only_when_well_formed(client, incoming, kept):
    """A proxy's well-formed X-Request-ID is reused; anything else is replaced."""
    returned = client.get("/healthz", HTTP_X_REQUEST_ID=incoming)["X-Request-ID"]
    assert (returned == incoming) is kept


def test_one_access_line_per_request(client, caplog):
    """Each request logs one line with method, path, status, duration and request id."""
    with caplog.at_level(logging.INFO, logger="healthhub.access"):
        response = client.get("/no-such-page/", HTTP_X_REQUEST_ID="trace-abcdef123456")

    lines = [r for r in caplog.records if r.name == "healthhub.access"]
    assert len(lines) == 1
    record = lines[0]
    assert (record.method, record.path, record.status) == ("GET", "/no-such-page/", 404)
    assert record.duration_ms >= 0
    assert response["X-Request-ID"] == "trace-abcdef123456"
    assert "GET /no-such-page/ 404" in record.getMessage()


@pytest.fixture
def json_log():
    """Capture the root logger's output through the production filter and JSON formatter."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.addHandler(handler)
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    root.removeHandler(handler)


@pytest.mark.urls("tests.test_operability")
def test_errors_are_logged_with_the_request_id_and_traceback(json_log):
    """An exception in a view logs an error with the request's id and the full traceback."""
    response = Client(raise_request_exception=False).get(
        "/boom/", HTTP_X_REQUEST_ID="trace-0000boom0000"
    )

    assert response.status_code == 500
    records = json_log()
    errors = [r for r in records if r["level"] == "ERROR"]
    assert errors
    assert errors[0]["request_id"] == "trace-0000boom0000"
    assert "ValueError: kaboom in a view" in errors[0]["traceback"]
    access = [r for r in records if r["logger"] == "healthhub.access"]
    assert access[0]["status"] == 500
    assert access[0]["request_id"] == "trace-0000boom0000"


def test_log_format_and_level_come_from_the_environment(monkeypatch):
    """LOG_FORMAT=json picks the JSON formatter, LOG_LEVEL the level; others are refused."""
    import importlib

    from django.core.exceptions import ImproperlyConfigured

    from healthhub import settings as production_settings

    monkeypatch.setenv("DJANGO_SECRET_KEY", "x")
    monkeypatch.setenv("LOG_FORMAT", "json")
    monkeypatch.setenv("LOG_LEVEL", "warning")
    try:
        reloaded = importlib.reload(production_settings)
        assert reloaded.LOGGING["handlers"]["console"]["formatter"] == "json"
        assert reloaded.LOGGING["root"]["level"] == "WARNING"
        monkeypatch.setenv("LOG_FORMAT", "xml")
        with pytest.raises(ImproperlyConfigured):
            importlib.reload(production_settings)
    finally:
        monkeypatch.undo()
        importlib.reload(production_settings)
