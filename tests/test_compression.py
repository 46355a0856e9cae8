import gzip
import json
import re
import zlib

import brotli
import pytest
from django.http import HttpResponse, StreamingHttpResponse
from django.test import RequestFactory

from articles import caching
from articles.models import Article
from healthhub.middleware import CompressionMiddleware, accepted_encodings
from tests.factories import ArticleFactory, StaffFactory

BOTH = "br, gzip"
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
NONCE = re.compile(r"'nonce-([^']+)'")


def get(client, path, accept=None, **headers):
    if accept is not None:
        headers["accept-encoding"] = accept
    return client.get(path, headers=headers)


def decoded(response) -> bytes:
    """Return the body as the client reads it, after real decoding."""
    encoding = response.get("Content-Encoding")
    if encoding == "gzip":
        return gzip.decompress(response.content)
    if encoding == "br":
        return brotli.decompress(response.content)
    assert encoding is None
    return response.content


def header_nonce(response) -> str:
    return NONCE.search(response["Content-Security-Policy"]).group(1)


@pytest.fixture
def article(mental_health):
    return ArticleFactory(category=mental_health, slug="stress", view_count=0)


def compress(response, accept=BOTH, path="/"):
    """Run ``response`` through CompressionMiddleware for a request accepting ``accept``."""
    request = RequestFactory().get(path, headers={"accept-encoding": accept})
    return CompressionMiddleware(lambda _request: response)(request)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("br, gzip", ["br", "gzip"]),
        ("gzip, deflate", ["gzip"]),
        ("gzip;q=0.5, br;q=1.0", ["br", "gzip"]),
        ("br;q=0, gzip", ["gzip"]),
        ("*", ["br", "gzip"]),
        ("*;q=0, gzip", ["gzip"]),
        ("identity", []),
        ("", []),
        ("gzip;q=bogus", []),
    ],
)
def test_accept_encoding_is_read_with_its_q_values(header, expected):
    """Accept-Encoding is parsed with q-values and wildcards, brotli preferred over gzip."""
    assert accepted_encodings(header) == expected


def test_cached_article_is_gzip_for_brotli_clients_and_decodes_to_the_plain_page(client, article):
    """A cached article page goes out as precompressed gzip and decodes to the plain page."""
    url = article.get_absolute_url()
    plain = get(client, url, user_agent=GOOGLEBOT)
    compressed = get(client, url, BOTH, user_agent=GOOGLEBOT)

    assert compressed.status_code == plain.status_code == 200
    assert plain.get("Content-Encoding") is None
    assert compressed["Content-Encoding"] == "gzip"
    assert "Accept-Encoding" in compressed["Vary"]
    assert "Accept-Encoding" in plain["Vary"]
    assert int(compressed["Content-Length"]) == len(compressed.content) < len(plain.content) / 2
    expected = plain.content.replace(
        header_nonce(plain).encode(), header_nonce(compressed).encode()
    )
    assert decoded(compressed) == expected


def test_cached_article_compressed_twice_shows_the_live_count_and_a_fresh_nonce(client, article):
    """Each compressed hit of a cached article shows the live view count and its own nonce."""
    url = article.get_absolute_url()
    first = get(client, url, "gzip")
    second = get(client, url, "gzip")

    bodies = [decoded(response).decode() for response in (first, second)]
    assert [response["Content-Encoding"] for response in (first, second)] == ["gzip", "gzip"]
    assert "1 view<" in bodies[0]
    assert "2 views<" in bodies[1]
    nonces = [header_nonce(response) for response in (first, second)]
    assert nonces[0] != nonces[1]
    for body, nonce in zip(bodies, nonces, strict=True):
        assert f'nonce="{nonce}"' in body
        assert caching.NONCE_HOLE not in body
    article.refresh_from_db()
    assert article.view_count == 2


def test_compressed_hit_runs_no_compressor(client, article, monkeypatch):
    """A cached article is compressed when it is stored, not again on each hit."""
    url = article.get_absolute_url()
    get(client, url, BOTH)

    def refuse(*args, **kwargs):
        raise AssertionError("compressed on a cache hit")

    monkeypatch.setattr(zlib, "compressobj", refuse)
    monkeypatch.setattr(brotli, "compress", refuse)
    monkeypatch.setattr(gzip, "compress", refuse)
    hit = get(client, url, BOTH)

    assert hit["Content-Encoding"] == "gzip"
    assert "2 views<" in decoded(hit).decode()


def test_list_page_is_precompressed_gzip_for_brotli_and_gzip_clients(client, article):
    """The home page, cut at its nonce holes, goes out as gzip and decodes to the plain page."""
    plain = get(client, "/", user_agent=GOOGLEBOT)
    responses = [get(client, "/", accept, user_agent=GOOGLEBOT) for accept in (BOTH, "gzip")]

    for response in responses:
        assert response["Content-Encoding"] == "gzip"
        expected = plain.content.replace(
            header_nonce(plain).encode(), header_nonce(response).encode()
        )
        assert decoded(response) == expected


def test_brotli_only_client_gets_a_cached_page_as_brotli(client, article):
    """A client that accepts brotli but not gzip still gets a cached page compressed."""
    plain = get(client, "/", user_agent=GOOGLEBOT)
    compressed = get(client, "/", "br", user_agent=GOOGLEBOT)

    assert compressed["Content-Encoding"] == "br"
    expected = plain.content.replace(
        header_nonce(plain).encode(), header_nonce(compressed).encode()
    )
    assert decoded(compressed) == expected


def test_client_without_accept_encoding_gets_the_plain_page(client, article):
    """Without Accept-Encoding, or refusing every encoding, a client gets plain bytes."""
    responses = [
        get(client, article.get_absolute_url()),
        get(client, "/"),
        get(client, "/", "identity"),
        get(client, "/", "br;q=0, gzip;q=0"),
    ]

    for response in responses:
        assert response.get("Content-Encoding") is None
        assert b"<html" in response.content
        assert "Accept-Encoding" in response["Vary"]


def test_uncached_page_is_compressed_on_the_fly_with_brotli(client, db):
    """A page that is not cached, here a 404, is compressed with brotli as it is served."""
    plain = get(client, "/tag/no-such-tag/")
    compressed = get(client, "/tag/no-such-tag/", BOTH)

    assert compressed.status_code == plain.status_code == 404
    assert compressed["Content-Encoding"] == "br"
    assert decoded(compressed) == plain.content


@pytest.mark.parametrize("path", ["/feed/", "/feed/atom/", "/sitemap.xml", "/sitemap-articles.xml"])
def test_feeds_and_sitemaps_are_compressed(client, article, path):
    """Feeds and sitemaps go out compressed, with a weak ETag, and decode to the plain XML."""
    plain = get(client, path)
    compressed = get(client, path, BOTH)

    assert compressed["Content-Encoding"] == "br"
    assert decoded(compressed) == plain.content
    assert compressed["ETag"] == f"W/{plain['ETag']}"
    assert "Accept-Encoding" in compressed["Vary"]


def test_conditional_get_of_a_compressed_feed_is_an_empty_304(client, article):
    """The compressed feed's weak ETag answers a 304 with no body and no encoding."""
    etag = get(client, "/feed/", BOTH)["ETag"]

    response = client.get("/feed/", headers={"accept-encoding": BOTH, "if-none-match": etag})

    assert response.status_code == 304
    assert response.content == b""
    assert response.get("Content-Encoding") is None


def test_admin_pages_are_not_compressed(client, db):
    """The admin, whose pages carry CSRF tokens and personal data, is never compressed."""
    login = get(client, "/admin/login/", BOTH)
    client.force_login(StaffFactory(is_superuser=True))
    index = get(client, "/admin/", BOTH)

    assert login.status_code == index.status_code == 200
    assert b"csrfmiddlewaretoken" in login.content
    for response in (login, index):
        assert response.get("Content-Encoding") is None
        assert "Accept-Encoding" not in response.get("Vary", "")


def test_staff_preview_of_a_draft_is_not_compressed(client, mental_health):
    """A page read with the session, such as a draft shown to its author, stays plain."""
    staff = StaffFactory(is_superuser=True)
    draft = ArticleFactory(category=mental_health, status=Article.Status.DRAFT, author=staff)
    client.force_login(staff)

    response = get(client, draft.get_absolute_url(), BOTH)

    assert response.status_code == 200
    assert response.get("Content-Encoding") is None


@pytest.mark.parametrize(
    "secret",
    [
        pytest.param("form", id="csrf-token-in-form"),
        pytest.param("cookie", id="sets-a-cookie"),
        pytest.param("vary-cookie", id="varies-on-cookie"),
    ],
)
def test_responses_that_may_carry_a_secret_are_not_compressed(secret):
    """A page with a CSRF field, a Set-Cookie or Vary: Cookie is sent uncompressed (BREACH)."""
    body = "<p>Hello</p>" * 50
    if secret == "form":
        body += '<input type="hidden" name="csrfmiddlewaretoken" value="abc">'
    response = HttpResponse(body)
    if secret == "cookie":
        response.set_cookie("sessionid", "abc")
    if secret == "vary-cookie":
        response["Vary"] = "Cookie"

    compressed = compress(response)

    assert compressed.get("Content-Encoding") is None
    assert compressed.content.decode() == body


def test_json_is_compressed_and_short_streaming_or_binary_responses_are_not():
    """JSON over 200 bytes is compressed; short, streaming, binary and encoded bodies are not."""
    payload = json.dumps({"items": list(range(200))}).encode()
    as_json = compress(HttpResponse(payload, content_type="application/json"))
    short = compress(HttpResponse("<p>short</p>"))
    streaming = compress(StreamingHttpResponse(iter([b"<p>x</p>" * 100])))
    binary = compress(HttpResponse(b"\0" * 1000, content_type="image/png"))
    encoded = HttpResponse(gzip.compress(b"x" * 1000), content_type="text/plain")
    encoded["Content-Encoding"] = "gzip"
    already = compress(encoded)

    assert as_json["Content-Encoding"] == "br"
    assert brotli.decompress(as_json.content) == payload
    for response in (short, streaming, binary):
        assert response.get("Content-Encoding") is None
    assert already["Content-Encoding"] == "gzip"
    assert gzip.decompress(already.content) == b"x" * 1000


def test_a_no_content_response_is_left_alone():
    """A 204 is neither compressed nor given Vary: Accept-Encoding."""
    response = compress(HttpResponse(status=204))

    assert response.get("Content-Encoding") is None
    assert not response.has_header("Vary")


def test_precompressed_body_is_ignored_once_the_content_changed(rf):
    """A cached page's stored gzip is used only while the body is still the page it filled."""
    page = caching.CachedPage(f"<p>{caching.VIEW_COUNT_HOLE_HTML}</p>" + "<p>text</p>" * 50)
    response = page.response(rf.get("/"), {"Content-Type": "text/html"}, views=3)
    response.content += b"<p>added later</p>"
    changed = response.content

    compressed = compress(response, accept="gzip")

    assert compressed["Content-Encoding"] == "gzip"
    assert gzip.decompress(compressed.content) == changed


def test_spliced_gzip_holds_hole_values_longer_than_one_stored_block(rf):
    """A hole value over 64 KiB is split into several stored blocks and still decodes."""
    page = caching.CachedPage(f"<p>a</p>{caching.VIEW_COUNT_HOLE_HTML}<p>b</p>")
    value = b"v" * 150_000

    body = b"<p>a</p>" + value + b"<p>b</p>"
    encoding, data = page.encode([value], body, ["gzip"], body)

    assert encoding == "gzip"
    assert gzip.decompress(data) == body
