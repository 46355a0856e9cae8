"""The content version, and whole-response caching keyed by it.

Every cached fragment and page is keyed by the content version, one row in
the database that every save bumps, so every worker and app server agrees
on it with or without a shared cache.

Feeds and the sitemap are cached until content changes and answer
conditional GETs. Article lists are cached for a minute, as their cards show
view counts. An article page is cached with a hole where its view count goes,
filled on every request with the live figure (see ArticleView).

A cached page is compressed once, when it is stored (see CachedPage), so a
hit costs no compressor run.
"""

import datetime as dt
import functools
import hashlib
import logging
import re
import secrets
import struct
import threading
import time
import zlib

import brotli
from django.contrib.humanize.templatetags.humanize import intcomma
from django.core.cache import cache, caches
from django.db import DatabaseError, connection
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.utils.cache import get_conditional_response, patch_cache_control
from django.utils.http import http_date, quote_etag

from articles.models import Article, ContentVersion
from healthhub.database import database_breaker, note_database_error, short_deadline

# Lists that show view counts (most read, related) are rebuilt at least this
# often, so their figures are never more than a minute old.
FRAGMENT_TIMEOUT = 60
# Fragments without view counts live until content changes; this only lets
# the entries of old content versions expire.
VERSIONED_TIMEOUT = 24 * 60 * 60

logger = logging.getLogger(__name__)

# Clients and proxies may reuse a feed or sitemap this long without asking again.
MAX_AGE = 60
KEPT_HEADERS = ("Content-Type", "X-Robots-Tag")
# Rendered in place of an article's view count, then replaced by the live one.
# No real count comes near it, and intcomma and pluralize render it as below.
VIEW_COUNT_HOLE = 987_654_321_987_654
VIEW_COUNT_HOLE_HTML = f"{intcomma(VIEW_COUNT_HOLE)} views"
# Stands in a cached page for the CSP nonce; base64 nonces never contain "-".
NONCE_HOLE = "csp-nonce-hole"
NONCE_HOLE_HTML = f'nonce="{NONCE_HOLE}"'
HOLES = re.compile(f"({re.escape(NONCE_HOLE_HTML)}|{re.escape(VIEW_COUNT_HOLE_HTML)})")

GZIP_LEVEL = 6
# Spent once per stored page, not per hit, so it can be higher than a live response's.
BROTLI_STORED_QUALITY = 9
# A gzip member header: magic, deflate, no flags, no mtime, no extra flags, unknown OS.
GZIP_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"
# An empty, final stored block ends the deflate stream.
DEFLATE_END = b"\x01\x00\x00\xff\xff"
STORED_BLOCK_MAX = 0xFFFF


# The content version ------------------------------------------------------

# Each thread trusts its last reading of the content version this long, so a
# cached page costs at most one small query a second; a change made by
# another worker, command or app server shows here within that time. A change
# made here, and a scheduled article falling due, show at once. The reading
# is per thread: a thread that bumps the version inside a transaction sees
# the new one at once, while the others keep the committed one.
VERSION_MEMO_SECONDS = 1.0
_memo = threading.local()
_version_unreadable = False


def content_version() -> int:
    """Return the site-wide content version that keys every cached fragment.

    Saving content bumps it (articles/signals.py), and so does the moment a
    scheduled article becomes due, so no cached fragment outlives a change.
    """
    version, due, read_at = getattr(_memo, "reading", (None, None, 0.0))
    if version is None or time.monotonic() - read_at > VERSION_MEMO_SECONDS:
        version, due = _read_content_version(version, due)
    if due is not None and due <= timezone.now().timestamp():
        return bump_content_version()
    return version


def forget_content_version() -> None:
    """Make this thread's next content_version() read the database."""
    _memo.reading = (None, None, 0.0)


# The last version read, for a process that starts while the database is down.
LAST_VERSION_KEY = "healthhub:last-content-version"


def remember_content_version(version: int, due: dt.datetime | float | None) -> None:
    """Trust ``version`` in this thread for the next VERSION_MEMO_SECONDS."""
    if isinstance(due, dt.datetime):
        due = due.timestamp()
    if getattr(_memo, "reading", (None,))[0] != version:
        cache.set(LAST_VERSION_KEY, (version, due), timeout=None)
    _memo.reading = (version, due, time.monotonic())


def _read_content_version(known: int | None, known_due: float | None):
    global _version_unreadable
    in_transaction = connection.in_atomic_block
    if known is not None and not in_transaction and database_breaker.is_open:
        remember_content_version(known, known_due)
        return known, known_due
    try:
        with short_deadline():
            row = ContentVersion.objects.filter(pk=1).values_list("version", "next_due").first()
    except DatabaseError as error:
        # With the database gone, pages already cached stay current: keep
        # serving them under the last version read, and say so once. A
        # process started during the outage takes the one kept in the cache.
        if known is None and not in_transaction:
            known, known_due = cache.get(LAST_VERSION_KEY) or (None, None)
        if known is None or in_transaction:
            raise
        note_database_error(error)
        if not _version_unreadable:
            logger.warning("Cannot read the content version; keeping version %s", known)
            _version_unreadable = True
        remember_content_version(known, known_due)
        return known, known_due
    if _version_unreadable:
        logger.warning("The content version can be read again")
        _version_unreadable = False
    if row is None:  # a new database
        bump_content_version()
    else:
        remember_content_version(*row)
    return _memo.reading[:2]


def _next_publication() -> dt.datetime | None:
    """Return when the next scheduled article becomes public, if one is scheduled."""
    return (
        Article.objects.filter(status=Article.Status.PUBLISHED, published_at__gt=timezone.now())
        .order_by("published_at")
        .values_list("published_at", flat=True)
        .first()
    )


def bump_content_version() -> int:
    """Invalidate every cached fragment that depends on published content.

    The version is a fresh random number, so a version rolled back with its
    transaction is never current again. Inside a transaction, other threads
    and processes see the new version only once it commits, together with
    the rows that changed. Return the new version.
    """
    version = secrets.randbits(62)
    due = _next_publication()
    if not ContentVersion.objects.filter(pk=1).update(version=version, next_due=due):
        ContentVersion.objects.get_or_create(pk=1, defaults={"version": version, "next_due": due})
        version, due = ContentVersion.objects.values_list("version", "next_due").get(pk=1)
    remember_content_version(version, due)
    return version


# Whole responses ------------------------------------------------------------


def response_key(request: HttpRequest, *params: str) -> tuple[str, str]:
    """Return (cache key, digest) for this address under the current content version.

    Only the named query parameters vary the key, so other query strings
    cannot fill the cache.
    """
    varying = "&".join(f"{name}={request.GET.get(name)}" for name in params)
    address = f"{request.scheme}://{request.get_host()}{request.path}?{varying}"
    digest = hashlib.sha256(address.encode()).hexdigest()[:24]
    version = content_version()
    # "page" names the entry format (a CachedPage); older entries are never read.
    return f"healthhub:page:{digest}:{version}", f"{version}-{digest}"


def get_response(key: str, timeout: int):
    """Return the cached entry under ``key``: from this process's memory, else Redis."""
    local = caches["local"]
    value = local.get(key)
    if value is None:
        value = cache.get(key)
        if value is not None:
            local.set(key, value, timeout=timeout)
    return value


def set_response(key: str, value, timeout: int) -> None:
    cache.set(key, value, timeout=timeout)
    caches["local"].set(key, value, timeout=timeout)


def _cacheable(response) -> bool:
    if response.status_code != 200 or response.streaming:
        return False
    return "no-cache" not in response.get("Cache-Control", "")


def punch_nonce(request: HttpRequest, content: str) -> str:
    """Return ``content`` with this response's CSP nonce replaced by a placeholder.

    A nonce must be new on every response, so a cached page keeps a hole
    where it goes, filled by CachedPage.response() each time the page is served.
    """
    nonce = getattr(request, "_csp_nonce", None)
    if not nonce:
        return content
    return content.replace(f'nonce="{nonce}"', f'nonce="{NONCE_HOLE}"')


def deflate_flushed(data: bytes) -> bytes:
    """Return ``data`` as raw deflate ending on a byte boundary, to splice into a longer stream."""
    compressor = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, -zlib.MAX_WBITS)
    return compressor.compress(data) + compressor.flush(zlib.Z_FULL_FLUSH)


def stored_blocks(data: bytes) -> bytes:
    """Return ``data`` as non-final stored (uncompressed) deflate blocks.

    A hole's value is a few bytes: storing it is cheaper than running a
    compressor, and after a full flush a stored block needs no bit shifting.
    """
    blocks = []
    for start in range(0, len(data), STORED_BLOCK_MAX):
        chunk = data[start : start + STORED_BLOCK_MAX]
        blocks += [b"\x00", struct.pack("<HH", len(chunk), len(chunk) ^ 0xFFFF), chunk]
    return b"".join(blocks)


class CachedPage:
    """A cached page cut at its holes, each piece compressed once when it is stored.

    Serving it fills the holes. Its gzip body is then the stored pieces with
    the hole values between them as stored blocks, and a new CRC, so a hit
    runs no compressor. Brotli streams cannot be spliced like that, so only a
    page without holes (a feed, a sitemap) keeps a brotli copy; brotli clients
    get gzip for the others.
    """

    def __init__(self, content: str):
        parts = HOLES.split(content)
        self.texts = [part.encode() for part in parts[::2]]
        self.holes = parts[1::2]
        self.deflated = [deflate_flushed(text) for text in self.texts]
        self.brotli = (
            None
            if self.holes
            else brotli.compress(
                self.texts[0], mode=brotli.MODE_TEXT, quality=BROTLI_STORED_QUALITY
            )
        )

    def response(self, request: HttpRequest, headers, views: int | None = None) -> HttpResponse:
        """Return the page with this request's nonce and ``views`` in its holes."""
        values = [self._value(hole, request, views).encode() for hole in self.holes]
        pieces = [self.texts[0]]
        for value, text in zip(values, self.texts[1:], strict=True):
            pieces += [value, text]
        body = b"".join(pieces)
        response = HttpResponse(body, headers=headers)
        # Read by CompressionMiddleware.
        response.precompressed = functools.partial(self.encode, values, body)
        return response

    @staticmethod
    def _value(hole: str, request: HttpRequest, views: int | None) -> str:
        if hole == NONCE_HOLE_HTML:
            return f'nonce="{request.csp_nonce}"'
        if views is None:
            return hole
        return views_html(views)

    def encode(self, values: list[bytes], body: bytes, encodings, content: bytes):
        """Return (encoding, bytes) of the filled page in the first of ``encodings`` it has.

        Return None if ``content`` is no longer the page as served, or if no
        stored encoding is acceptable.
        """
        if content != body:
            return None
        for encoding in encodings:
            if encoding == "br" and self.brotli is not None:
                return "br", self.brotli
            if encoding == "gzip":
                return "gzip", self._gzip(values, body)
        return None

    def _gzip(self, values: list[bytes], body: bytes) -> bytes:
        pieces = [GZIP_HEADER, self.deflated[0]]
        for value, deflated in zip(values, self.deflated[1:], strict=True):
            pieces += [stored_blocks(value), deflated]
        pieces += [DEFLATE_END, struct.pack("<II", zlib.crc32(body), len(body) & 0xFFFFFFFF)]
        return b"".join(pieces)


def _stored(request, response):
    if hasattr(response, "render"):
        response.render()
    headers = {name: response[name] for name in KEPT_HEADERS if response.has_header(name)}
    content = punch_nonce(request, response.content.decode(response.charset))
    return CachedPage(content), headers, int(time.time())


def _cached_response(view, request, args, kwargs, *, params, timeout):
    """Return (stored response, ETag) for ``view``, or (response, None) when not cacheable."""
    key, tag = response_key(request, *params)
    cached = get_response(key, timeout)
    if cached is None:
        response = view(request, *args, **kwargs)
        if not _cacheable(response):
            return response, None
        cached = _stored(request, response)
        set_response(key, cached, timeout)
    return cached, quote_etag(tag)


def content_versioned(view):
    """Serve ``view``'s responses from cache until content changes, and answer 304s.

    The ETag is the content version plus the address, and Last-Modified is
    when the response was built, so a reader polling the feed costs a cache
    read and an empty 304. The ``p`` parameter (a sitemap page) varies it.
    """

    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs):
        if request.method not in {"GET", "HEAD"}:
            return view(request, *args, **kwargs)
        cached, etag = _cached_response(
            view, request, args, kwargs, params=["p"], timeout=VERSIONED_TIMEOUT
        )
        if etag is None:
            return cached
        page, headers, built_at = cached
        conditional = get_conditional_response(request, etag=etag, last_modified=built_at)
        response = conditional or page.response(request, headers)
        response["ETag"] = etag
        response["Last-Modified"] = http_date(built_at)
        patch_cache_control(response, public=True, max_age=MAX_AGE)
        return response

    return wrapper


def cached_list(view, params=("page",)):
    """Serve an article list from cache for up to a minute, or until content changes.

    Only ``params`` vary it; the cards' view counts may lag a minute.
    """

    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs):
        if request.method not in {"GET", "HEAD"}:
            return view(request, *args, **kwargs)
        cached, etag = _cached_response(
            view, request, args, kwargs, params=params, timeout=FRAGMENT_TIMEOUT
        )
        if etag is None:
            return cached
        page, headers, _built_at = cached
        return page.response(request, headers)

    return wrapper


def views_html(count: int) -> str:
    """Return the view count as the article template shows it."""
    return f"{intcomma(count)} view{'' if count == 1 else 's'}"
