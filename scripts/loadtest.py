#!/usr/bin/env python3
"""Load and fault test: gunicorn (3 workers) on a fresh database of generated articles.

    scripts/loadtest.py                                 # full run on SQLite: 20,000 requests
    scripts/loadtest.py --database postgres             # the same on PostgreSQL
    scripts/loadtest.py --requests 2000                 # the short version CI runs
    scripts/loadtest.py --database postgres --db-outage # also cut the database off for 5 s
    scripts/loadtest.py --requests 50000 --no-kill      # memory: worker RSS sampled as it runs

The load comes from another process: 32 connections sending a mix of home,
category, article, search, feed and sitemap requests. Mid-load one worker is
killed with SIGKILL. With --db-outage gunicorn reaches PostgreSQL through a
TCP proxy (scripts/tcpproxy.py) that drops every connection and refuses new
ones for 5 s; the server itself keeps running for its other users. The
script checks zero 5xx and connection errors (bar the few requests in flight
in a killed worker, and those during an outage), that the sum of view counts
rose by exactly the article pages served with 200, prints a summary table,
and exits non-zero when a check fails. scripts/faults.py runs the other
faults (Redis, a hung database, slow clients).
"""

import argparse
import http.client
import multiprocessing
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

BASE_DIR = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
BROWSER = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"
# Requests per kind, out of 100.
MIX = {"home": 10, "category": 15, "article": 45, "search": 10, "feed": 10, "sitemap": 10}
SEARCH_WORDS = ["sleep", "water", "heart", "stress", "walking", "fibre", "vitamin"]
KILLED_WORKER_ALLOWANCE = 5
OUTAGE_SECONDS = 5


# Data generation (runs in a subprocess with Django set up) -----------------


def generate(count: int) -> None:
    """Bulk-insert ``count`` published articles, rendered once here, in five categories."""
    sys.path.insert(0, str(BASE_DIR))
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.db import transaction
    from django.utils import timezone

    from articles.models import Article, Category
    from articles.services import bulk_create_articles

    now = timezone.now()
    with transaction.atomic():
        author = get_user_model().objects.create(
            username="loadtest", first_name="Load", last_name="Tester"
        )
        categories = Category.objects.bulk_create(
            Category(name=f"Topic {n}", slug=f"topic-{n}", position=n) for n in range(5)
        )
        articles = []
        for n in range(count):
            word = SEARCH_WORDS[n % len(SEARCH_WORDS)]
            body = (
                f"Why {word} matters, part {n}.\n\n## What to know\n\n"
                f"Some advice about {word} and everyday health.\n\n## What to do\n\nStart small.\n"
            )
            articles.append(
                Article(
                    title=f"On {word}, part {n}",
                    slug=f"{word}-{n}",
                    category=categories[n % len(categories)],
                    author=author,
                    excerpt=f"A short note on {word}.",
                    body=body,
                    status=Article.Status.PUBLISHED,
                    published_at=now - timezone.timedelta(minutes=n + 1),
                )
            )
        bulk_create_articles(articles)


# The load generator (runs in its own process) -------------------------------


def load_worker(port, urls, total, connections, results, progress):
    """Send ``total`` requests over ``connections`` concurrent connections; put results in the queue."""
    lock = threading.Lock()
    issued = [0]
    records = []

    def next_index():
        with lock:
            if issued[0] >= total:
                return None
            issued[0] += 1
            return issued[0] - 1

    def run():
        local = []
        while (index := next_index()) is not None:
            kind, path = urls[index]
            start = time.monotonic()
            status = None
            try:
                conn = http.client.HTTPConnection(HOST, port, timeout=30)
                conn.request("GET", path, headers={"User-Agent": BROWSER})
                response = conn.getresponse()
                response.read()
                status = response.status
                conn.close()
            except (OSError, http.client.HTTPException):
                # Refused, reset or cut off mid-response (a killed worker).
                status = 0
            end = time.monotonic()
            local.append((kind, status, start, end))
            with progress.get_lock():
                progress.value += 1
        with lock:
            records.extend(local)

    threads = [threading.Thread(target=run) for _ in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    results.put(records)


# Orchestration ---------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def get(port, path, timeout=10):
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        conn.request("GET", path, headers={"User-Agent": BROWSER})
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def worker_pids(master_pid):
    path = Path(f"/proc/{master_pid}/task/{master_pid}/children")
    return [int(pid) for pid in path.read_text().split()]


def rss_mb(pid):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def django_env(database_url, static_root, port):
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "healthhub.settings",
        "DATABASE_URL": database_url,
        "DJANGO_SECRET_KEY": "loadtest-only",
        "DJANGO_DEBUG": "0",
        "DJANGO_ALLOWED_HOSTS": HOST,
        "STATIC_ROOT": str(static_root),
        "HOST": HOST,
        "PORT": str(port),
        "WEB_CONCURRENCY": "3",
        "LOG_LEVEL": "WARNING",
        # Recycling would look like growth or a crash here.
        "GUNICORN_MAX_REQUESTS": "0",
    }


def total_views(database_url):
    query = "SELECT COALESCE(SUM(view_count), 0) FROM articles_article"
    if database_url.startswith("sqlite:///"):
        import sqlite3

        with sqlite3.connect(database_url.removeprefix("sqlite:///")) as db:
            return db.execute(query).fetchone()[0]
    import psycopg

    with psycopg.connect(database_url.replace("postgres://", "postgresql://", 1)) as db:
        return db.execute(query).fetchone()[0]


def article_paths(database_url):
    query = (
        "SELECT c.slug, a.slug FROM articles_article a "
        "JOIN articles_category c ON c.id = a.category_id"
    )
    if database_url.startswith("sqlite:///"):
        import sqlite3

        with sqlite3.connect(database_url.removeprefix("sqlite:///")) as db:
            rows = db.execute(query).fetchall()
    else:
        import psycopg

        with psycopg.connect(database_url.replace("postgres://", "postgresql://", 1)) as db:
            rows = db.execute(query).fetchall()
    return [f"/{category}/{slug}/" for category, slug in rows]


def request_plan(total, articles, seed=6):
    rng = random.Random(seed)
    kinds = [kind for kind, weight in MIX.items() for _ in range(weight)]
    plan = []
    for _ in range(total):
        kind = rng.choice(kinds)
        if kind == "home":
            path = "/" if rng.random() < 0.7 else f"/?page={rng.randint(2, 5)}"
        elif kind == "category":
            path = f"/topic-{rng.randrange(5)}/"
        elif kind == "article":
            path = rng.choice(articles)
        elif kind == "search":
            path = "/search/?q=" + quote(rng.choice(SEARCH_WORDS))
        elif kind == "feed":
            path = rng.choice(["/feed/", "/feed/atom/", f"/topic-{rng.randrange(5)}/feed/"])
        else:
            path = rng.choice(["/sitemap.xml", "/sitemap-articles.xml"])
        plan.append((kind, path))
    return plan


def database_proxy(database_url, env):
    """Start a TCP proxy to the PostgreSQL server of ``database_url``; return it and an env using it."""
    from tcpproxy import TCPProxy

    parts = urlsplit(database_url)
    proxy = TCPProxy(parts.hostname, parts.port or 5432)
    proxy.start()
    netloc = parts.netloc.rsplit("@", 1)
    netloc[-1] = f"{HOST}:{proxy.port}"
    proxied = urlunsplit(parts._replace(netloc="@".join(netloc)))
    return proxy, {**env, "DATABASE_URL": proxied}


def database_outage(port, report, proxy):
    """Cut the database off for OUTAGE_SECONDS; record how /readyz and pages answer, and the recovery."""
    timings = {"down_statuses": [], "down_max_s": 0.0}
    report["outage_start"] = time.monotonic()
    proxy.kill()
    try:
        deadline = time.monotonic() + OUTAGE_SECONDS
        probe = 0
        while time.monotonic() < deadline:
            probe += 1
            # A category page may be answered from the page cache; a search
            # for words never asked before must reach the database.
            for path in ["/readyz", "/topic-0/", f"/search/?q=outage+probe{probe}"]:
                start = time.monotonic()
                try:
                    status = get(port, path, timeout=10)
                except OSError:
                    status = 0
                timings["down_statuses"].append((path, status))
                timings["down_max_s"] = max(timings["down_max_s"], time.monotonic() - start)
            time.sleep(0.5)
    finally:
        proxy.restore()
    restarted = time.monotonic()
    recovered = None
    while time.monotonic() - restarted < 15:
        try:
            if all(get(port, path) == 200 for path in ["/readyz", "/", "/topic-1/"]):
                recovered = time.monotonic() - restarted
                break
        except OSError:
            pass
        time.sleep(0.2)
    report["outage_end"] = restarted + (recovered or 0)
    timings["recovery_s"] = recovered
    report["outage"] = timings


def percentile(values, fraction):
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("LOADTEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432"),
        help="Server for --database postgres; a fresh database is created and dropped.",
    )
    parser.add_argument("--articles", type=int, default=1000)
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--no-kill", action="store_true", help="Do not SIGKILL a worker.")
    parser.add_argument(
        "--db-outage",
        action="store_true",
        help="Cut the database off (through a proxy) for 5 s mid-load (postgres only).",
    )
    parser.add_argument("--generate", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.generate:
        generate(args.generate)
        return 0
    if args.db_outage and args.database != "postgres":
        parser.error("--db-outage needs --database postgres")

    with tempfile.TemporaryDirectory(prefix="healthhub-load-") as scratch:
        scratch = Path(scratch)
        db_name = f"loadtest_{os.getpid()}"
        if args.database == "sqlite":
            database_url = f"sqlite:///{scratch / 'load.sqlite3'}"
        else:
            import psycopg

            server = args.postgres_url.rstrip("/")
            with psycopg.connect(
                server.replace("postgres://", "postgresql://", 1) + "/postgres", autocommit=True
            ) as admin:
                admin.execute(f'CREATE DATABASE "{db_name}"')
            database_url = f"{server}/{db_name}"
        try:
            return run(args, scratch, database_url)
        finally:
            if args.database == "postgres":
                import psycopg

                with psycopg.connect(
                    server.replace("postgres://", "postgresql://", 1) + "/postgres",
                    autocommit=True,
                ) as admin:
                    admin.execute(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')


def run(args, scratch, database_url):
    port = free_port()
    env = django_env(database_url, scratch / "static", port)
    python = sys.executable
    started = time.monotonic()
    for command in (
        [python, "manage.py", "migrate", "--noinput", "-v0"],
        [python, "manage.py", "collectstatic", "--noinput", "-v0"],
        [python, "scripts/loadtest.py", "--generate", str(args.articles)],
    ):
        subprocess.run(command, cwd=BASE_DIR, env=env, check=True)
    print(f"Prepared {args.articles} articles in {time.monotonic() - started:.1f} s", flush=True)

    proxy = None
    server_env = env
    if args.db_outage:
        # gunicorn reaches the database through the proxy; the checks read it directly.
        proxy, server_env = database_proxy(database_url, env)
    log = (scratch / "gunicorn.log").open("wb")
    server = subprocess.Popen(
        [python, "-m", "gunicorn", "healthhub.wsgi", "-c", "gunicorn.conf.py"],
        cwd=BASE_DIR,
        env=server_env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    checks = []
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if get(port, "/") == 200 and len(worker_pids(server.pid)) == 3:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                print((scratch / "gunicorn.log").read_text(), file=sys.stderr)
                raise SystemExit("gunicorn did not start")
            time.sleep(0.2)
        views_before = total_views(database_url)
        plan = request_plan(args.requests, article_paths(database_url))
        rss_start = {pid: rss_mb(pid) for pid in worker_pids(server.pid)}
        rss_samples = []

        results = multiprocessing.Queue()
        progress = multiprocessing.Value("l", 0)
        load = multiprocessing.Process(
            target=load_worker,
            args=(port, plan, args.requests, args.connections, results, progress),
        )
        report = {}
        load_start = time.monotonic()
        load.start()
        killed = None
        kill_at = args.requests // 3
        outage_at = (2 * args.requests) // 3
        outage_thread = None
        next_sample = args.requests // 10 or 1
        while load.is_alive():
            done = progress.value
            if not args.no_kill and killed is None and done >= kill_at:
                killed = worker_pids(server.pid)[0]
                os.kill(killed, signal.SIGKILL)
                report["kill_time"] = time.monotonic()
            if args.db_outage and outage_thread is None and done >= outage_at:
                outage_thread = threading.Thread(target=database_outage, args=(port, report, proxy))
                outage_thread.start()
            if done >= next_sample:
                pids = worker_pids(server.pid)
                rss_samples.append(round(sum(rss_mb(pid) for pid in pids) / max(1, len(pids)), 1))
                next_sample += args.requests // 10 or 1
            if not results.empty():
                break
            time.sleep(0.05)
        records = results.get()
        load.join()
        if outage_thread:
            outage_thread.join()
        elapsed = time.monotonic() - load_start
        views_after = total_views(database_url)
        workers_after = worker_pids(server.pid)
        rss_end = {pid: rss_mb(pid) for pid in workers_after}
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()
        if proxy is not None:
            proxy.stop()

    def in_outage(start, end):
        return (
            "outage_start" in report
            and start <= report.get("outage_end", float("inf"))
            and end >= report["outage_start"]
        )

    outage_records = [r for r in records if in_outage(r[2], r[3])]
    normal = [r for r in records if not in_outage(r[2], r[3])]
    errors_5xx = [r for r in normal if r[1] >= 500]
    conn_errors = [r for r in normal if r[1] == 0]
    article_ok = sum(1 for r in records if r[0] == "article" and r[1] == 200)
    found = views_after - views_before
    latencies = [(r[3] - r[2]) * 1000 for r in records if r[1] == 200]

    rows = [
        ("database", args.database),
        ("articles in database", args.articles),
        ("requests", len(records)),
        ("connections", args.connections),
        ("elapsed", f"{elapsed:.1f} s ({len(records) / elapsed:.0f} req/s)"),
        ("200 responses", sum(1 for r in records if r[1] == 200)),
        ("4xx responses", sum(1 for r in records if 400 <= r[1] < 500)),
        ("5xx (outside outage)", len(errors_5xx)),
        ("connection errors (outside outage)", len(conn_errors)),
        ("view counts expected (article 200s)", article_ok),
        ("view counts found", found),
        (
            "latency p50 / p99",
            f"{percentile(latencies, 0.5):.0f} / {percentile(latencies, 0.99):.0f} ms",
        ),
        ("worker killed", f"pid {killed}" if killed else "no"),
        ("workers after run", len(workers_after)),
        (
            "worker RSS start -> end",
            f"{statistics.mean(rss_start.values()):.1f} -> "
            f"{statistics.mean(rss_end.values()):.1f} MB (mean)",
        ),
        ("worker RSS samples (mean MB)", " ".join(str(s) for s in rss_samples)),
    ]
    checks.append(("every request accounted for", len(records) == args.requests))
    if killed:
        checks.append(
            ("killed worker replaced", len(workers_after) == 3 and killed not in workers_after)
        )
        checks.append(
            (
                "errors at most the in-flight requests",
                len(errors_5xx) + len(conn_errors) <= KILLED_WORKER_ALLOWANCE,
            )
        )
    else:
        checks.append(("zero 5xx and connection errors", not errors_5xx and not conn_errors))
    # A worker killed after its view UPDATE committed, before the response
    # went out, leaves a count without a 200: only such in-flight requests may
    # account for extra counts, and no acknowledged count may be missing.
    lost_articles = sum(1 for r in normal if r[0] == "article" and r[1] in {0, 500, 502, 503})
    if "outage" in report:
        outage = report["outage"]
        statuses = outage["down_statuses"]
        rows += [
            ("outage: requests during it", len(outage_records)),
            (
                "outage: answers while down",
                " ".join(sorted({f"{p.split('?')[0]}={s}" for p, s in statuses})),
            ),
            ("outage: slowest answer while down", f"{outage['down_max_s']:.2f} s"),
            (
                "outage: all 200 again after restart",
                "never" if outage["recovery_s"] is None else f"{outage['recovery_s']:.2f} s",
            ),
        ]
        checks.append(
            ("readyz 503 while down", all(s == 503 for p, s in statuses if p == "/readyz"))
        )
        checks.append(
            (
                "uncached pages 503/500 while down",
                all(s in {500, 503} for p, s in statuses if p.startswith("/search/")),
            )
        )
        checks.append(
            (
                "cached pages served or 503 while down",
                all(s in {200, 500, 503} for p, s in statuses if p == "/topic-0/"),
            )
        )
        checks.append(("answers while down under 2 s", outage["down_max_s"] < 2))
        checks.append(
            (
                "all 200 within 5 s of restart",
                outage["recovery_s"] is not None and outage["recovery_s"] <= 5,
            )
        )
        # A view whose page failed after its UPDATE committed may count
        # without a 200; none acknowledged with a 200 outside the outage may
        # be lost. While the database is down, a cached article is served
        # with its last known count and its view is not counted.
        counted_ok = sum(1 for r in normal if r[0] == "article" and r[1] == 200)
        rows.append(("outage: article 200s served uncounted", article_ok - found))
        checks.append(
            ("no acknowledged count lost", counted_ok <= found <= article_ok + lost_articles)
        )
    elif killed:
        checks.append(
            ("view counts match (bar in-flight)", article_ok <= found <= article_ok + lost_articles)
        )
    else:
        checks.append(("view counts match exactly", found == article_ok))

    width = max(len(name) for name, _ in rows + checks)
    print()
    print(f"{'Load test':<{width}}  result")
    print("-" * (width + 30))
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
    print("-" * (width + 30))
    for name, ok in checks:
        print(f"{name:<{width}}  {'ok' if ok else 'FAILED'}")
    return 0 if all(ok for _, ok in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
