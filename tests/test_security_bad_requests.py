"""Malformed and hostile requests get a 4xx or a redirect, never a 500."""

import pytest
from django.test import Client

from tests.factories import ArticleFactory

pytestmark = pytest.mark.django_db

LONG_QUERY = "q=" + "a" * 10_000
MANY_PARAMS = "&".join(f"p{n}=1" for n in range(1_100))


@pytest.fixture
def article(health):
    ArticleFactory.create_batch(3, category=health)
    return ArticleFactory(category=health, slug="sleep", title="Sleep")


@pytest.fixture
def strict_client():
    """A client that checks CSRF like a browser would, and does not re-raise view errors."""
    return Client(enforce_csrf_checks=True, raise_request_exception=False)


@pytest.fixture
def lenient_client():
    return Client(raise_request_exception=False)


PATHS = {
    "long-slug": ("/" + "a" * 5_000 + "/", {404}),
    "long-article-slug": ("/health/" + "b" * 5_000 + "/", {404}),
    "unicode-slug": ("/health/s%C3%BC%C3%9F/", {404}),
    "rtl-slug": ("/%D9%85%D8%B1%D8%AD%D8%A8%D8%A7/", {404}),
    "rtl-override": ("/health/%E2%80%AEsleep/", {404}),
    "nul-byte": ("/health/sleep%00/", {404}),
    "nul-in-search": ("/search/?q=a%00b", {200}),
    "dot-dot-slash": ("/health/../../etc/passwd", {404}),
    "encoded-dot-dot": ("/health/%2e%2e%2f%2e%2e%2fetc%2fpasswd/", {404}),
    "static-traversal": ("/static/../healthhub/settings.py", {404}),
    "page-abc": ("/health/?page=abc", {404}),
    "page-zero": ("/health/?page=0", {404}),
    "page-negative": ("/health/?page=-1", {404}),
    "page-huge": ("/health/?page=99999", {404}),
    "search-page-abc": ("/search/?q=sleep&page=abc", {404}),
    "long-query-string": (f"/search/?{LONG_QUERY}", {200}),
    "too-many-params": (f"/search/?{MANY_PARAMS}", {400}),
    "too-many-params-list": (f"/health/?{MANY_PARAMS}", {400}),
    "missing-trailing-slash": ("/health", {301}),
}


@pytest.mark.parametrize("case", list(PATHS))
def test_hostile_paths_and_queries_get_a_4xx_or_redirect(lenient_client, article, case):
    """Odd slugs, traversal, bad page numbers and huge query strings never cause a 500."""
    path, expected = PATHS[case]

    response = lenient_client.get(path)

    assert response.status_code in expected
    # The site keeps serving afterwards.
    assert lenient_client.get(article.get_absolute_url()).status_code == 200


def test_body_over_the_limit_is_refused(lenient_client, article, settings):
    """A form body over DATA_UPLOAD_MAX_MEMORY_SIZE gets a 400."""
    body = "x=" + "a" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 10)

    response = lenient_client.post(
        "/admin/login/", body, content_type="application/x-www-form-urlencoded"
    )

    assert response.status_code == 400


@pytest.mark.parametrize(
    "path", ["/", "/health/", "/health/sleep/", "/search/?q=x", "/admin/login/"]
)
def test_post_without_csrf_token_is_forbidden(strict_client, article, path):
    """A POST without a CSRF token is refused with 403 on every page."""
    assert strict_client.post(path, {"a": "b"}).status_code == 403


def test_post_from_a_foreign_origin_is_forbidden(strict_client, article):
    """A POST carrying a valid token but a foreign Origin is refused."""
    strict_client.get("/admin/login/")
    token = strict_client.cookies["csrftoken"].value

    response = strict_client.post(
        "/admin/login/",
        {"username": "x", "password": "y", "csrfmiddlewaretoken": token},
        HTTP_ORIGIN="https://evil.example",
    )

    assert response.status_code == 403


@pytest.mark.parametrize(
    ("method", "expected"),
    [
        ("OPTIONS", {200}),
        ("TRACE", {405}),
        ("PUT", {403, 405}),
        ("FOO", {405}),
        ("DELETE", {403, 405}),
    ],
)
def test_unusual_methods_are_not_served(lenient_client, article, method, expected):
    """OPTIONS lists the allowed methods; TRACE and unknown methods are 405 (or 403 without CSRF)."""
    response = lenient_client.generic(method, article.get_absolute_url())

    assert response.status_code in expected
    if method == "OPTIONS":
        assert "TRACE" not in response["Allow"]
        assert not response.content


@pytest.mark.parametrize(
    "host", ["evil.example", "127.0.0.1:x@evil.example", "testserver:x@evil.example", "a" * 300]
)
def test_host_outside_allowed_hosts_is_a_400(lenient_client, article, host):
    """A Host header outside ALLOWED_HOSTS, or with userinfo, gets a 400."""
    assert lenient_client.get("/", HTTP_HOST=host).status_code == 400


def test_forged_forwarded_host_is_ignored(lenient_client, article):
    """X-Forwarded-Host is not trusted: links and canonical URLs keep the real host."""
    response = lenient_client.get(article.get_absolute_url(), HTTP_X_FORWARDED_HOST="evil.example")

    assert response.status_code == 200
    assert b"evil.example" not in response.content
