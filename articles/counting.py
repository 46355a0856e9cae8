"""Counting views: directly in the database, or buffered in Redis and flushed.

A view is never shown as counted and then lost. While the view buffer's
Redis cannot be reached, views are counted directly in the database; while
the database cannot be written, a page is served with its last known count
and the view is not counted.
"""

import datetime as dt
import functools
import logging
import re
import threading
import time
import uuid

import redis
from django.conf import settings
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.db.models import F
from django.http import HttpRequest
from django.utils import timezone

from articles.models import (
    Article,
    ViewFlush,
)
from healthhub.database import database_breaker, note_database_error, short_deadline
from healthhub.resilience import CircuitBreaker

logger = logging.getLogger(__name__)

# The largest count the database accepts (the view_count constraint).
MAX_VIEWS = 10**12
# Articles per flush transaction: on PostgreSQL each holds its rows for about 0.1 s.
FLUSH_CHUNK = 500
SQLITE_YIELD_MAX = 0.1
# Seconds a flush waits for Redis: reading a day's batch of 100,000 articles takes a while.
FLUSH_TIMEOUT = 30.0
buffer_breaker = CircuitBreaker("The view buffer (Redis)")
# Articles counted directly while the buffer was unreachable: their totals
# in Redis miss those views, so they are dropped when it answers again.
_counted_directly: set[int] = set()
_counted_directly_lock = threading.Lock()
# The last count served per article, for a page served while the database is down.
_last_known: dict[int, int] = {}
LAST_KNOWN_MAX = 10_000

# Crawlers, link unfurlers and previewers announce themselves; counting them
# would inflate the public figure.
BOT_USER_AGENT = re.compile(
    r"bot|crawl|spider|slurp|preview|fetcher|facebookexternalhit|embedly|"
    r"whatsapp|pinterest|lighthouse|pagespeed|monitor|scanner",
    re.IGNORECASE,
)


def is_countable_view(request: HttpRequest) -> bool:
    """Return whether this request is a reader's view worth counting."""
    if request.method != "GET":
        return False
    if BOT_USER_AGENT.search(request.headers.get("User-Agent", "")):
        return False
    purpose = request.headers.get("Sec-Purpose", "") or request.headers.get("Purpose", "")
    return "prefetch" not in purpose.lower()


def record_view(article: Article, request: HttpRequest) -> bool:
    """Count one view of ``article``; return whether it was counted.

    Directly (the default), a single atomic UPDATE counts it, and a database
    trigger (migration 0003) tallies it into today's DailyViews row in the
    same statement, so concurrent views are never lost. Buffered, one Redis
    call counts it and flush_views() moves it into the database later.
    Either way ``article.view_count`` ends up as the figure to show,
    including the view being served.
    """
    countable = is_countable_view(request)
    if settings.HEALTHHUB_VIEW_COUNTER == "buffered":
        shown = _buffer_call(_buffered_count, article.pk, countable, stored=article.view_count)
        if shown is not None:
            article.view_count = _remember_shown(article.pk, shown)
            return countable
    if not countable:
        article.view_count = _fallback_shown(article.pk, article.view_count, counted=False)
        return False
    try:
        Article.objects.filter(pk=article.pk).update(view_count=F("view_count") + 1)
    except (DatabaseError, IntegrityError) as error:
        note_database_error(error)
        return False
    article.view_count = _fallback_shown(article.pk, article.view_count + 1, counted=True)
    _remember_counted_directly(article.pk)
    return True


def count_view(article_id: int, request: HttpRequest, *, known: int | None = None) -> int | None:
    """Count this request's view of an article if it is one; return the figure to show.

    For a page served from cache, which knows the article's id only. Counting
    directly, one UPDATE ... RETURNING both counts and reads; buffered, one
    Redis call does, with no query at all once the article's shown total is
    in Redis. Return None when the article is gone. With the database down,
    return the last count known here (else ``known``) without counting.
    """
    countable = is_countable_view(request)
    generation = ""
    buffered = settings.HEALTHHUB_VIEW_COUNTER == "buffered"
    if buffered:
        reply = _buffer_call(_buffered_total, article_id, countable)
        if reply is None:
            buffered = False  # unreachable: count directly
        elif reply[0] is not None:
            return _remember_shown(article_id, reply[0])
        else:
            generation = reply[1]
            countable = False  # counted already
    if database_breaker.is_open:
        # A cached page never probes itself: reconnecting to a hung server
        # would cost it 2 s. A thread does, or a worker that serves only
        # cached pages would stop counting views until an uncached request.
        _probe_in_background()
        return _last_known.get(article_id, known)
    try:
        with short_deadline():
            row = _count_in_database(article_id, countable)
    except (DatabaseError, IntegrityError) as error:
        note_database_error(error)
        return _last_known.get(article_id, known)
    database_breaker.succeeded()
    if row is None:
        return None
    if not buffered:
        if countable and settings.HEALTHHUB_VIEW_COUNTER == "buffered":
            _remember_counted_directly(article_id)
        return _fallback_shown(article_id, row[0], counted=countable)
    shown = _buffer_call(_buffered_count, article_id, False, stored=row[0], generation=generation)
    return _remember_shown(article_id, row[0] if shown is None else shown)


_probe_lock = threading.Lock()
_probe_started = 0.0


def _probe_in_background() -> threading.Thread | None:
    """Start a thread that tries the database once per open period; return it if started."""
    global _probe_started
    with _probe_lock:
        now = time.monotonic()
        if now - _probe_started < database_breaker.open_seconds:
            return None
        _probe_started = now
    thread = threading.Thread(target=_probe_database, name="database-probe", daemon=True)
    thread.start()
    return thread


def _probe_database() -> None:
    # Its own connection, in its own thread: the connect goes through the
    # breaker (healthhub.database), which lets one probe through per period
    # and closes once the server answers.
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except DatabaseError as error:
        note_database_error(error)
    finally:
        connection.close()


def _count_in_database(article_id: int, countable: bool):
    # Plain SQL: on this path, building the ORM query would cost more than running it.
    with connection.cursor() as cursor:
        if countable:
            # The same change as record_view()'s, so the tally trigger fires alike.
            cursor.execute(
                "UPDATE articles_article SET view_count = view_count + 1 WHERE id = %s "
                "RETURNING view_count",
                [article_id],
            )
        else:
            cursor.execute("SELECT view_count FROM articles_article WHERE id = %s", [article_id])
        return cursor.fetchone()


def _remember_shown(article_id: int, shown: int) -> int:
    if len(_last_known) >= LAST_KNOWN_MAX:
        _last_known.clear()
    _last_known[article_id] = shown
    return shown


def _fallback_shown(article_id: int, stored: int, *, counted: bool) -> int:
    """Return the figure to show for a view counted directly, and remember it.

    With the view buffer out, the stored count lacks the views still waiting
    in Redis; the last total shown here, plus this view, is a truer figure
    that never goes down.
    """
    shown = stored
    if settings.HEALTHHUB_VIEW_COUNTER == "buffered" and article_id in _last_known:
        shown = max(stored, _last_known[article_id] + counted)
    return _remember_shown(article_id, shown)


def _remember_counted_directly(article_id: int) -> None:
    if settings.HEALTHHUB_VIEW_COUNTER == "buffered":
        with _counted_directly_lock:
            _counted_directly.add(article_id)


def _buffer_call(function, *args, **kwargs):
    """Return ``function(*args, **kwargs)``, or None while the view buffer is unreachable."""
    if not buffer_breaker.allow():
        return None
    try:
        if _counted_directly:
            _forget_stale_totals()
        result = function(*args, **kwargs)
    except redis.RedisError as error:
        # A call that timed out may still run once Redis wakes, and its view
        # is counted directly too: at most one view per process per outage is
        # counted twice, and none is lost.
        buffer_breaker.failed(error)
        return None
    buffer_breaker.succeeded()
    return result


def _forget_stale_totals() -> None:
    """Drop the Redis totals of articles counted directly while Redis was unreachable."""
    with _counted_directly_lock:
        stale = list(_counted_directly)
        _counted_directly.clear()
    try:
        view_buffer().delete(*[_key(f"total:{pk}") for pk in stale])
    except redis.RedisError:
        with _counted_directly_lock:
            _counted_directly.update(stale)
        raise


# Buffered view counting ----------------------------------------------------
#
# A reader's view adds one to the article's field of today's "pending" hash.
# A flush renames that hash to a batch of its own (so new views start a new
# hash), applies the batch in one database transaction that also records
# the batch id in ViewFlush, and only then deletes it. A flush that fails
# leaves the batch in Redis, and the next flush applies it; a batch already
# recorded in ViewFlush is deleted without being applied twice.
#
# The figure a page shows is the stored count plus the views not yet
# flushed. So that a cached page can show it without a query, Redis keeps it
# per article ("total:<id>"), counted up with every view; a flush moves views
# from the buffer into the database and leaves that sum alone. It is seeded
# from the database only when no flush ran or was under way between reading
# the stored count and seeding: every rename and every deleted batch bumps
# "flush-generation", and batches in flight are listed in "batches". Seeded
# totals expire, so a count changed outside the counter (an import, a
# restore) shows within TOTAL_TIMEOUT.

TOTAL_TIMEOUT = 600

# KEYS: today's pending hash, the article's total, the flush generation,
#       the batches in flight, yesterday's pending hash.
# ARGV: article id, "1" to count a view, the stored count (or "" when not
#       read yet), the generation seen before reading it (or ""), timeout.
# Return {total} or, when there is no total and no stored count, {-1, generation}.
_COUNT_SCRIPT = """
if ARGV[2] == '1' then redis.call('HINCRBY', KEYS[1], ARGV[1], 1) end
if redis.call('EXISTS', KEYS[2]) == 1 then
  if ARGV[2] == '1' then return {redis.call('INCR', KEYS[2])} end
  return {tonumber(redis.call('GET', KEYS[2]))}
end
local generation = redis.call('GET', KEYS[3]) or '0'
if ARGV[3] == '' then return {-1, generation} end
local total = tonumber(ARGV[3])
  + tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0')
  + tonumber(redis.call('HGET', KEYS[5], ARGV[1]) or '0')
if ARGV[4] == generation and redis.call('SCARD', KEYS[4]) == 0 then
  redis.call('SET', KEYS[2], total, 'EX', ARGV[5])
end
return {total}
"""

# KEYS: a pending hash, its new batch name, the flush generation, the batches in flight.
_START_BATCH_SCRIPT = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('RENAME', KEYS[1], KEYS[2])
redis.call('SADD', KEYS[4], KEYS[2])
redis.call('INCR', KEYS[3])
return 1
"""


@functools.cache
def view_buffer(timeout: float | None = None) -> redis.Redis:
    """Return the Redis client for buffered views (one pool per process and timeout).

    Requests wait HEALTHHUB_REDIS_TIMEOUT at most; a flush, which reads
    whole batches, passes FLUSH_TIMEOUT.
    """
    timeout = timeout or settings.HEALTHHUB_REDIS_TIMEOUT
    return redis.Redis.from_url(
        settings.HEALTHHUB_VIEW_BUFFER_URL,
        decode_responses=True,
        socket_connect_timeout=timeout,
        socket_timeout=timeout,
    )


@functools.cache
def _scripts(client: redis.Redis):
    return client.register_script(_COUNT_SCRIPT), client.register_script(_START_BATCH_SCRIPT)


def _key(name: str) -> str:
    return f"{settings.HEALTHHUB_VIEW_BUFFER_PREFIX}{name}"


def _pending_key(day: dt.date) -> str:
    return _key(f"pending:{day.isoformat()}")


def _run_count_script(article_id: int, countable: bool, stored: str, generation: str) -> list:
    client = view_buffer()
    today = timezone.now().date()
    keys = [
        _pending_key(today),
        _key(f"total:{article_id}"),
        _key("flush-generation"),
        _key("batches"),
        _pending_key(today - dt.timedelta(days=1)),
    ]
    args = [article_id, int(countable), stored, generation, TOTAL_TIMEOUT]
    return _scripts(client)[0](keys=keys, args=args)


def _buffered_total(article_id: int, countable: bool) -> tuple[int | None, str]:
    """Count a view into the buffer; return the total to show, if Redis has it."""
    reply = _run_count_script(article_id, countable, "", "")
    if reply[0] < 0:
        return None, reply[1]
    return reply[0], ""


def _buffered_count(article_id: int, countable: bool, *, stored: int, generation="") -> int:
    """Count a view into the buffer; return the stored count plus the views not flushed."""
    return _run_count_script(article_id, countable, str(stored), generation)[0]


def flush_views() -> int:
    """Move every buffered view into the database; return how many were moved.

    Batches left behind by a failed flush go first; then each day's pending
    hash becomes a batch and is applied.
    """
    client = view_buffer(FLUSH_TIMEOUT)
    _check_epoch(client)
    moved = 0
    for key in sorted(client.scan_iter(match=_key("batch:*"))):
        moved += _apply_batch(client, key)
    for pending in sorted(client.scan_iter(match=_key("pending:*"))):
        day = pending.rsplit(":", 1)[1]
        batch = _key(f"batch:{day}:{uuid.uuid4().hex}")
        keys = [pending, batch, _key("flush-generation"), _key("batches")]
        if _scripts(client)[1](keys=keys):  # else emptied by a concurrent flush
            moved += _apply_batch(client, batch)
    return moved


# What a Redis restart or crash can cost the views not yet flushed, by how
# the buffer's Redis persists (buffer_persistence()).
LOSS_BOUNDS = {
    "aof-always": "nothing",
    "aof-everysec": "at most the last second of views if Redis or its machine crashes; "
    "nothing on a clean restart",
    "aof-no": "the views the operating system had not yet written (typically up to 30 s) "
    "if the machine crashes; nothing on a clean restart",
    "snapshots": "every view since the last snapshot",
    "none": "every view not yet flushed",
}
_epoch: str | None = None


def buffer_persistence(client: redis.Redis | None = None) -> str:
    """Return how the view buffer's Redis keeps its data: a key of LOSS_BOUNDS."""
    client = client or view_buffer()
    if int(client.info("persistence").get("aof_enabled", 0)):
        try:
            fsync = client.config_get("appendfsync").get("appendfsync", "everysec")
        except redis.ResponseError:  # CONFIG is often renamed away on managed Redis
            fsync = "everysec"
        return f"aof-{fsync}"
    try:
        saves = client.config_get("save").get("save", "")
    except redis.ResponseError:
        saves = ""
    return "snapshots" if saves else "none"


def _check_epoch(client: redis.Redis) -> bool:
    """Return whether the buffer's Redis came back empty since this process last flushed.

    The epoch key is written once and never expires, so its absence after
    a flush saw it means Redis lost its data. The shown totals went with it
    and are seeded again from the database on the next view of each article.
    """
    global _epoch
    token = client.get(_key("epoch"))
    emptied = token is None and _epoch is not None
    if token is None:
        client.set(_key("epoch"), uuid.uuid4().hex, nx=True)
        token = client.get(_key("epoch"))
    if emptied:
        logger.warning(
            "The view buffer's Redis came back empty: the views it held since the last flush "
            "are lost. With its persistence (%s) a restart can lose %s. Use appendonly yes.",
            buffer_persistence(client),
            LOSS_BOUNDS[buffer_persistence(client)],
        )
    _epoch = token
    return emptied


def _apply_batch(client: redis.Redis, key: str) -> int:
    """Apply one batch, FLUSH_CHUNK articles per transaction; then delete it from Redis.

    A batch never changes once renamed, so its chunks are the same on every
    attempt, and each chunk records its id in ViewFlush with its writes: a
    retry skips the chunks applied already and applies the rest.
    """
    day, batch_id = key.rsplit(":", 2)[1:]
    date = dt.date.fromisoformat(day)
    # In id order, so two flushes never wait on each other's rows.
    counts = sorted((int(pk), int(n)) for pk, n in client.hgetall(key).items() if int(n) > 0)
    moved = 0
    for index, start in enumerate(range(0, len(counts), FLUSH_CHUNK)):
        started = time.monotonic()
        moved += _apply_chunk(f"{batch_id}:{index}", date, counts[start : start + FLUSH_CHUNK])
        if connection.vendor == "sqlite":
            # SQLite's busy handler makes a waiting writer sleep between tries;
            # taking the lock again at once could starve a reader's view for
            # seconds. Leaving it free half as long as it was held bounds the wait.
            time.sleep(min((time.monotonic() - started) / 2, SQLITE_YIELD_MAX))
    with client.pipeline() as pipe:
        pipe.delete(key).srem(_key("batches"), key).incr(_key("flush-generation")).execute()
    return moved


def _apply_chunk(chunk_id: str, date: dt.date, counts: list[tuple[int, int]]) -> int:
    try:
        with transaction.atomic():
            ids = [pk for pk, _views in counts]
            existing = set(Article.objects.filter(pk__in=ids).values_list("pk", flat=True))
            counts = [(pk, views) for pk, views in counts if pk in existing]
            moved = sum(views for _pk, views in counts)
            ViewFlush.objects.create(batch=chunk_id, date=date, views=moved)
            _add_views(counts, date)
    except IntegrityError:
        # Another flush recorded this chunk first; it is applied already.
        if not ViewFlush.objects.filter(batch=chunk_id).exists():
            raise
        return 0
    return moved


def _add_views(counts: list[tuple[int, int]], date: dt.date) -> None:
    """Add each article's views to its count and to its tally for ``date``, in two statements.

    While the UPDATE runs, a mark only this transaction sees keeps the
    reader-view tally trigger quiet (migration 0017).
    """
    if not counts:
        return
    least = "LEAST" if connection.vendor == "postgresql" else "MIN"
    rows = ", ".join(["(%s, %s)"] * len(counts))
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT set_config('healthhub.flushing', 'on', true)")
        else:
            cursor.execute("INSERT INTO articles_flushing (flushing) VALUES (1)")
        cursor.execute(
            f"UPDATE articles_article SET view_count = "
            f"{least}(articles_article.view_count + steps.column2, %s) "
            f"FROM (VALUES {rows}) AS steps WHERE articles_article.id = steps.column1",
            [MAX_VIEWS, *(value for pk_views in counts for value in pk_views)],
        )
        # Cleared at once, not at commit: a flush called inside an outer
        # transaction must not silence the trigger for what follows.
        if connection.vendor == "postgresql":
            cursor.execute("SELECT set_config('healthhub.flushing', '', true)")
        else:
            cursor.execute("DELETE FROM articles_flushing")
        cursor.execute(
            f"INSERT INTO articles_dailyviews (article_id, date, views) VALUES "
            f"{', '.join(['(%s, %s, %s)'] * len(counts))} "
            "ON CONFLICT (article_id, date) "
            "DO UPDATE SET views = articles_dailyviews.views + excluded.views",
            [value for pk, views in counts for value in (pk, date, views)],
        )
