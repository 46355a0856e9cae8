"""Request ids, access logs, security headers, compression, and a 503 when the database is down."""

import gzip
import logging
import re
import time
import uuid

import brotli
from django.conf import settings
from django.db import InterfaceError, OperationalError
from django.http import HttpResponse
from django.template.loader import get_template
from django.utils.cache import patch_vary_headers

from healthhub.database import is_disk_full, note_database_error, short_deadline
from healthhub.logs import request_id_var

access_logger = logging.getLogger("healthhub.access")
logger = logging.getLogger(__name__)

REQUEST_ID_HEADER = "X-Request-ID"
# An incoming id is kept only if it cannot forge or break a log line.
WELL_FORMED_ID = re.compile(r"[A-Za-z0-9._-]{8,128}")

PERMISSIONS_POLICY = ", ".join(
    f"{feature}=()"
    for feature in (
        "accelerometer",
        "camera",
        "geolocation",
        "gyroscope",
        "magnetometer",
        "microphone",
        "payment",
        "usb",
        "interest-cohort",
    )
)


class RequestLogMiddleware:
    """Tag each request with an id, return it as X-Request-ID, and log one line per request.

    Put first in MIDDLEWARE, so the line covers every other middleware and
    errors logged while serving carry the id.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        incoming = request.headers.get(REQUEST_ID_HEADER, "")
        request_id = incoming if WELL_FORMED_ID.fullmatch(incoming) else uuid.uuid4().hex
        request.request_id = request_id
        token = request_id_var.set(request_id)
        start = time.perf_counter()
        try:
            response = self.get_response(request)
            duration_ms = (time.perf_counter() - start) * 1000
            response[REQUEST_ID_HEADER] = request_id
            access_logger.info(
                "%s %s %s %.1fms",
                request.method,
                request.path,
                response.status_code,
                duration_ms,
                extra={
                    "method": request.method,
                    "path": request.path,
                    "status": response.status_code,
                    "duration_ms": round(duration_ms, 1),
                    "remote_addr": request.META.get("REMOTE_ADDR", ""),
                },
            )
            return response
        finally:
            request_id_var.reset(token)


class SecurityHeadersMiddleware:
    """Add the headers Django's SecurityMiddleware does not: Permissions-Policy."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        response.setdefault("Permissions-Policy", PERMISSIONS_POLICY)
        return response


COMPRESSED_TYPES = frozenset(
    {
        "text/html",
        "text/plain",
        "application/xml",
        "application/rss+xml",
        "application/atom+xml",
        "application/json",
    }
)
# Below this, the encoding's own framing eats most of the gain.
MIN_COMPRESSED_BYTES = 200
# Fast settings for a response compressed while the client waits; both still
# shrink HTML four- to sixfold.
LIVE_BROTLI_QUALITY = 4
LIVE_GZIP_LEVEL = 6
# Server preference among the encodings a client accepts.
ENCODINGS = ("br", "gzip")


def accepted_encodings(header: str) -> list[str]:
    """Return the encodings of ENCODINGS that an Accept-Encoding value accepts, preferred first."""
    qualities = {}
    for item in header.split(","):
        name, *params = item.split(";")
        quality = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        qualities[name.strip().lower()] = quality
    default = qualities.get("*", 0.0)
    return [name for name in ENCODINGS if qualities.get(name, default) > 0]


def carries_secrets(request, response) -> bool:
    """Return whether the body may hold a secret that compression could leak (BREACH).

    BREACH recovers a secret from compressed sizes when the same body also
    reflects attacker input, so any page that may carry one is sent plain:
    the admin, forms with a CSRF token, responses that set a cookie, and
    responses that vary with the cookies (a session was read, so the page
    may be personal). The public pages carry no secret; their CSP nonce is
    new on every response, so there is nothing stable to recover.
    """
    return (
        request.path.startswith(f"/{settings.ADMIN_URL}")
        or bool(response.cookies)
        or "cookie" in response.get("Vary", "").lower()
        or b"csrfmiddlewaretoken" in response.content
    )


class CompressionMiddleware:
    """Compress text responses with brotli or gzip, whichever the client accepts.

    Static files are whitenoise's, precompressed, and never reach this. A
    cached page brings its own precompressed body (articles.caching.CachedPage).
    Put it below WhiteNoiseMiddleware and above every middleware that sets
    cookies or Vary, so that carries_secrets() sees them.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if not self.compressible(request, response):
            return response
        patch_vary_headers(response, ("Accept-Encoding",))
        encodings = accepted_encodings(request.headers.get("Accept-Encoding", ""))
        if not encodings:
            return response
        content = response.content
        encoding, body = self.encode(response, content, encodings)
        if len(body) >= len(content):
            return response
        response.content = body
        response["Content-Length"] = str(len(body))
        response["Content-Encoding"] = encoding
        # RFC 9110 8.8.1: the compressed body is another representation.
        etag = response.get("ETag")
        if etag and etag.startswith('"'):
            response["ETag"] = f"W/{etag}"
        return response

    @staticmethod
    def compressible(request, response) -> bool:
        if response.streaming or response.status_code in {204, 304}:
            return False
        if response.has_header("Content-Encoding"):
            return False
        content_type = response.get("Content-Type", "").partition(";")[0].strip().lower()
        if content_type not in COMPRESSED_TYPES or len(response.content) < MIN_COMPRESSED_BYTES:
            return False
        return not carries_secrets(request, response)

    @staticmethod
    def encode(response, content: bytes, encodings: list[str]) -> tuple[str, bytes]:
        precompressed = getattr(response, "precompressed", None)
        if precompressed is not None:
            encoded = precompressed(encodings, content)
            if encoded is not None:
                return encoded
        if encodings[0] == "br":
            return "br", brotli.compress(
                content, mode=brotli.MODE_TEXT, quality=LIVE_BROTLI_QUALITY
            )
        return "gzip", gzip.compress(content, compresslevel=LIVE_GZIP_LEVEL, mtime=0)


class DatabaseUnavailableMiddleware:
    """Answer 503, at once, when the database cannot be reached or written, instead of a 500.

    A reader's page runs only quick queries, so each gets
    HEALTHHUB_DB_READER_TIMEOUT: against a hung database a sync worker is
    back within a second, free to serve cached pages. Editors' requests keep
    the longer HEALTHHUB_DB_TIMEOUT.
    """

    def __init__(self, get_response):
        self.get_response = get_response
        self.admin_prefix = "/" + settings.ADMIN_URL

    def __call__(self, request):
        if request.method in {"GET", "HEAD"} and not request.path.startswith(self.admin_prefix):
            with short_deadline(settings.HEALTHHUB_DB_READER_TIMEOUT):
                return self.get_response(request)
        return self.get_response(request)

    def process_exception(self, request, exception):
        if not isinstance(exception, OperationalError | InterfaceError):
            return None
        note_database_error(exception)
        logger.error("Database unavailable: %s", exception)
        if is_disk_full(exception):
            reason = "The site cannot save anything just now: its disk is full."
        else:
            reason = "The site cannot reach its database just now."
        # No context processors: they would query the database that just failed.
        page = get_template("503.html").render({"reason": reason})
        response = HttpResponse(page, status=503, content_type="text/html; charset=utf-8")
        response["Retry-After"] = "5"
        response["Cache-Control"] = "no-store"
        return response
