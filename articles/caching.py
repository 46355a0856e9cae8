"""Whole-response caching keyed by the content version.

Feeds and the sitemap are cached until content changes and answer
conditional GETs. Article lists are cached for a minute, as their cards show
view counts. An article page is cached with a hole where its view count goes,
filled on every request with the live figure (see ArticleView).
"""

import functools
import hashlib
import time

from django.contrib.humanize.templatetags.humanize import intcomma
from django.core.cache import cache, caches
from django.http import HttpRequest, HttpResponse
from django.utils.cache import get_conditional_response, patch_cache_control
from django.utils.http import http_date, quote_etag

from articles.selectors import FRAGMENT_TIMEOUT, VERSIONED_TIMEOUT, content_version

# Clients and proxies may reuse a feed or sitemap this long without asking again.
MAX_AGE = 60
KEPT_HEADERS = ("Content-Type", "X-Robots-Tag")
# Rendered in place of an article's view count, then replaced by the live one.
# No real count comes near it, and intcomma and pluralize render it as below.
VIEW_COUNT_HOLE = 987_654_321_987_654
VIEW_COUNT_HOLE_HTML = f"{intcomma(VIEW_COUNT_HOLE)} views"
# Stands in a cached page for the CSP nonce; base64 nonces never contain "-".
NONCE_HOLE = "csp-nonce-hole"


def response_key(request: HttpRequest, *params: str) -> tuple[str, str]:
    """Return (cache key, digest) for this address under the current content version.

    Only the named query parameters vary the key, so other query strings
    cannot fill the cache.
    """
    varying = "&".join(f"{name}={request.GET.get(name)}" for name in params)
    address = f"{request.scheme}://{request.get_host()}{request.path}?{varying}"
    digest = hashlib.sha256(address.encode()).hexdigest()[:24]
    version = content_version()
    return f"healthhub:response:{digest}:{version}", f"{version}-{digest}"


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
    where it goes, filled by fill_nonce() each time the page is served.
    """
    nonce = getattr(request, "_csp_nonce", None)
    if not nonce:
        return content
    return content.replace(f'nonce="{nonce}"', f'nonce="{NONCE_HOLE}"')


def fill_nonce(request: HttpRequest, content: str) -> str:
    """Return ``content`` with this request's CSP nonce in every nonce hole."""
    if NONCE_HOLE not in content:
        return content
    return content.replace(f'nonce="{NONCE_HOLE}"', f'nonce="{request.csp_nonce}"')


def _stored(request, response):
    if hasattr(response, "render"):
        response.render()
    headers = {name: response[name] for name in KEPT_HEADERS if response.has_header(name)}
    content = punch_nonce(request, response.content.decode(response.charset))
    return content, headers, int(time.time())


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
        content, headers, built_at = cached
        conditional = get_conditional_response(request, etag=etag, last_modified=built_at)
        response = conditional or HttpResponse(content, headers=headers)
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
        content, headers, _built_at = cached
        return HttpResponse(fill_nonce(request, content), headers=headers)

    return wrapper


def views_html(count: int) -> str:
    """Return the view count as the article template shows it."""
    return f"{intcomma(count)} view{'' if count == 1 else 's'}"
