"""Liveness and readiness probes for the load balancer and the process manager.

/readyz answers 503 only when the site cannot serve: the database is
unreachable. A database that reads but cannot write (a full disk, a
read-only replica) is named, and so is a cache or view buffer that is down,
as "degraded" with a 200: readers are still served, without the cache, or
with views counted directly. Every check has its own short deadline, so the
probe never hangs on a frozen dependency.
"""

import logging
import uuid

from django.conf import settings
from django.core.cache import cache
from django.db import DatabaseError, connection, transaction
from django.http import JsonResponse
from django.views.decorators.cache import never_cache

from healthhub.cache import cache_breaker
from healthhub.database import is_disk_full, short_deadline

logger = logging.getLogger(__name__)

OK, DEGRADED, UNAVAILABLE = "ok", "degraded", "unavailable"
# Seconds each check may take, whatever its dependency does.
CHECK_DEADLINE = 2.0
# What the write probe waits for SQLite's write lock.
SQLITE_PROBE_BUSY_MS = 1000


class Degraded(Exception):
    """The dependency answers, but the site runs without part of it."""


def check_database():
    with short_deadline(CHECK_DEADLINE), connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    try:
        probe_write()
    except DatabaseError as error:
        reason = "the disk is full" if is_disk_full(error) else "it refuses writes"
        raise Degraded(f"the database reads but cannot write: {reason} ({error})") from error


def probe_write():
    """Write one row and commit, as a save would; the value ends as it was.

    The value changes and changes back: SQLite commits an UPDATE that sets a
    column to its own value without writing anything, even on a full disk.
    """
    sqlite = connection.vendor == "sqlite"
    with short_deadline(CHECK_DEADLINE), connection.cursor() as cursor:
        if sqlite:
            cursor.execute(f"PRAGMA busy_timeout = {SQLITE_PROBE_BUSY_MS}")
        try:
            with transaction.atomic():
                for _ in range(2):
                    cursor.execute(
                        "UPDATE articles_contentversion SET version = -version WHERE id = 1"
                    )
        finally:
            if sqlite:
                busy_ms = int(settings.DATABASES["default"]["OPTIONS"].get("timeout", 5) * 1000)
                cursor.execute(f"PRAGMA busy_timeout = {busy_ms}")


def check_cache():
    if cache_breaker.is_open:
        raise Degraded("the cache is unreachable; pages are built without it")
    key = f"healthhub:readyz:{uuid.uuid4().hex}"
    cache.set(key, "1", timeout=10)
    if cache.get(key) != "1":
        if cache_breaker.is_open:
            raise Degraded("the cache is unreachable; pages are built without it")
        raise RuntimeError("the cache did not return the value just stored")
    cache.delete(key)


def check_view_buffer():
    from articles.counting import buffer_breaker, view_buffer

    if buffer_breaker.is_open:
        raise Degraded("the view buffer is unreachable; views are counted directly")
    try:
        view_buffer().ping()
    except Exception as error:
        message = f"the view buffer is unreachable ({error}); views are counted directly"
        raise Degraded(message) from error


def checks():
    found = {"database": check_database, "cache": check_cache}
    if settings.HEALTHHUB_VIEW_COUNTER == "buffered":
        found["view_buffer"] = check_view_buffer
    return found


@never_cache
def healthz(request):
    """Answer 200 while the process can serve requests at all."""
    return JsonResponse({"status": "ok"})


@never_cache
def readyz(request):
    """Answer 200 while readers can be served, else 503; name each dependency's state."""
    results, reasons = {}, {}
    for name, check in checks().items():
        try:
            check()
        except Degraded as reason:
            results[name], reasons[name] = DEGRADED, str(reason)
        except Exception as error:
            logger.warning("Readiness check %s failed: %s", name, error)
            results[name], reasons[name] = UNAVAILABLE, str(error)[:200]
        else:
            results[name] = OK
    if UNAVAILABLE in results.values():
        status = UNAVAILABLE
    elif DEGRADED in results.values():
        status = DEGRADED
    else:
        status = OK
    body = {"status": status, "checks": results}
    if reasons:
        body["reasons"] = reasons
    return JsonResponse(body, status=503 if status == UNAVAILABLE else 200)
