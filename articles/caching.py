"""Whole-response caching for the feeds and the sitemap, with conditional GETs."""

import functools
import hashlib
import time

from django.core.cache import cache
from django.http import HttpRequest, HttpResponse
from django.utils.cache import get_conditional_response, patch_cache_control
from django.utils.http import http_date, quote_etag

from articles.selectors import content_version

# Clients and proxies may reuse a response this long without asking again.
MAX_AGE = 60
# Entries of an old content version are never read again; let them expire.
STORE_TIMEOUT = 24 * 60 * 60
KEPT_HEADERS = ("Content-Type", "X-Robots-Tag")


def content_versioned(view):
    """Serve ``view``'s responses from cache until content changes, and answer 304s.

    The ETag is the content version plus the address, and Last-Modified is
    when the response was built, so a reader polling the feed costs a cache
    read and an empty 304. Only the ``p`` (sitemap page) parameter varies the
    response, so other query strings cannot fill the cache.
    """

    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs):
        if request.method not in {"GET", "HEAD"}:
            return view(request, *args, **kwargs)
        version = content_version()
        address = f"{request.scheme}://{request.get_host()}{request.path}?p={request.GET.get('p')}"
        digest = hashlib.sha256(address.encode()).hexdigest()[:24]
        key = f"healthhub:response:{digest}:{version}"
        etag = quote_etag(f"{version}-{digest}")
        cached = cache.get(key)
        if cached is None:
            response = view(request, *args, **kwargs)
            if response.status_code != 200 or response.streaming:
                return response
            if hasattr(response, "render"):
                response.render()
            headers = {name: response[name] for name in KEPT_HEADERS if response.has_header(name)}
            cached = (response.content, headers, int(time.time()))
            cache.set(key, cached, timeout=STORE_TIMEOUT)
        content, headers, built_at = cached
        conditional = get_conditional_response(request, etag=etag, last_modified=built_at)
        response = conditional or HttpResponse(content, headers=headers)
        response["ETag"] = etag
        response["Last-Modified"] = http_date(built_at)
        patch_cache_control(response, public=True, max_age=MAX_AGE)
        return response

    return wrapper
