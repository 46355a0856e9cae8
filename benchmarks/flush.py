"""Time flush_views over one buffered view per article, while a reader keeps counting.

    python -m benchmarks.flush --articles 100000
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/x python -m benchmarks.flush --articles 100000

Uses the database benchmarks.admin builds for that size (built here if
missing) and a key prefix of its own on the Redis that HEALTHHUB_VIEW_BUFFER_URL
or REDIS_URL names (default: the local one), removed afterwards. A thread on
its own connection counts views one UPDATE at a time, as a reader's request
does, for as long as the flush runs; its longest wait is the lock a flush
holds. The targets are a flush under 10 s and no reader wait over 1 s.
"""

import argparse
import os
import resource
import statistics
import sys
import threading
import time
import uuid

from benchmarks.admin import _create_postgres_database, configure_environment, database_url

FLUSH_TARGET_S = 10.0
WAIT_TARGET_S = 1.0


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.flush", description=__doc__)
    parser.add_argument("--articles", type=int, default=10_000, help="articles to generate")
    parser.add_argument("--views", type=int, default=1, help="buffered views per article")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    url = database_url(args.articles)
    if not url.startswith("sqlite"):
        _create_postgres_database(url)
    redis_url = os.environ.get("HEALTHHUB_VIEW_BUFFER_URL") or os.environ.get(
        "REDIS_URL", "redis://127.0.0.1:6379/0"
    )
    configure_environment(url)
    os.environ.update(
        {
            "HEALTHHUB_VIEW_COUNTER": "buffered",
            "HEALTHHUB_VIEW_BUFFER_URL": redis_url,
            "HEALTHHUB_VIEW_BUFFER_PREFIX": f"healthhub-bench:{uuid.uuid4().hex}:views:",
            # A command's settings: no statement deadline, SQLite waits 20 s.
            "HEALTHHUB_DB_TIMEOUT": "0",
        }
    )
    import django

    django.setup()
    from django.core.management import call_command

    from articles import counting
    from articles.models import Article

    call_command("migrate", verbosity=0)
    if not Article.objects.exists():
        from benchmarks.generate import generate

        generate(args.articles)
    client = counting.view_buffer()
    try:
        result = measure(args, client)
    finally:
        keys = list(client.scan_iter(match=f"{os.environ['HEALTHHUB_VIEW_BUFFER_PREFIX']}*"))
        if keys:
            client.delete(*keys)
    print(report(result, args))
    if result["seconds"] > FLUSH_TARGET_S or result["max_wait"] > WAIT_TARGET_S:
        sys.exit(1)


def measure(args, client) -> dict:
    from django.db import connection
    from django.db.models import F
    from django.utils import timezone

    from articles import counting
    from articles.models import Article

    ids = list(Article.objects.values_list("pk", flat=True))
    pending = counting._pending_key(timezone.now().date())
    for start in range(0, len(ids), 10_000):
        client.hset(pending, mapping=dict.fromkeys(ids[start : start + 10_000], args.views))
    reader_article = ids[len(ids) // 2]
    waits, flushing = [], threading.Event()

    def read_while_flushing():
        try:
            while flushing.is_set():
                started = time.monotonic()
                Article.objects.filter(pk=reader_article).update(view_count=F("view_count") + 1)
                waits.append(time.monotonic() - started)
                time.sleep(0.01)
        finally:
            connection.close()

    flushing.set()
    reader = threading.Thread(target=read_while_flushing)
    reader.start()
    started = time.monotonic()
    try:
        moved = counting.flush_views()
    finally:
        seconds = time.monotonic() - started
        flushing.clear()
        reader.join()
    return {
        "vendor": connection.vendor,
        "moved": moved,
        "seconds": seconds,
        "reader_views": len(waits),
        "max_wait": max(waits, default=0.0),
        "median_wait": statistics.median(waits) if waits else 0.0,
        "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def report(result: dict, args) -> str:
    rate = result["moved"] / result["seconds"] if result["seconds"] else 0
    return "\n".join(
        [
            f"flush_views on {result['vendor']}, {args.articles:,} articles, "
            f"{args.views} view(s) each",
            f"  moved {result['moved']:,} views in {result['seconds']:.1f} s "
            f"({rate:,.0f}/s; target under {FLUSH_TARGET_S:.0f} s)",
            f"  reader: {result['reader_views']:,} views counted meanwhile, "
            f"longest wait {result['max_wait'] * 1000:.0f} ms, median "
            f"{result['median_wait'] * 1000:.1f} ms (target under {WAIT_TARGET_S * 1000:.0f} ms)",
            f"  peak RSS {result['rss_mb']:.0f} MB",
        ]
    )


if __name__ == "__main__":
    main()
