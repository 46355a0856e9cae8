"""Build a fresh database, serve it with gunicorn and drive each page with wrk."""

import argparse
import contextlib
import json
import os
import platform
import re
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

BASE_DIR = Path(__file__).resolve().parent.parent
BENCH_DATABASE = "healthhub_bench"
HOST = "127.0.0.1"
# Requests (both workers together) after the page runs at which the workers'
# memory is read again: about 20,000 and 40,000 more per worker.
MEMORY_CHECKPOINTS = (40_000, 80_000)
# What a current browser sends; each page is driven with and without it.
ACCEPT_ENCODING = "br, gzip"


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--articles", type=int, default=10_000, help="articles to generate")
    parser.add_argument("--duration", type=float, default=10, help="seconds of load per run")
    parser.add_argument("--repeat", type=int, default=3, help="runs per page; the median counts")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--connections", type=int, default=16, help="wrk connections")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument(
        "--worker-class",
        default="sync",
        choices=["sync", "gthread"],
        help="gunicorn worker class (sync is the production default)",
    )
    parser.add_argument("--worker-threads", type=int, default=4, help="threads per gthread worker")
    parser.add_argument(
        "--redis-url",
        default=os.environ.get("REDIS_URL", f"redis://{HOST}:6379/0"),
        help="Redis for the cache and the buffered counter; 'none' for local memory only",
    )
    parser.add_argument("--memory", action="store_true", help="also measure worker RSS growth")
    parser.add_argument("--output", default="var/benchmark.json", help="JSON results file")
    parser.add_argument("--port", type=int, default=8765)
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    if not shutil.which("wrk"):
        sys.exit("wrk is needed: apt-get install wrk")
    work = Path(tempfile.mkdtemp(prefix="healthhub-bench-"))
    redis_url = _reachable_redis(args.redis_url)
    prefix = f"bench-{os.getpid()}"
    try:
        results = _in_bench_database(args, work, redis_url, prefix)
    finally:
        # Even after a failure, leave no keys and no temporary folder behind.
        _clear_redis(redis_url, prefix)
        shutil.rmtree(work, ignore_errors=True)
    print(markdown_table(results))
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nJSON written to {output}")


def _in_bench_database(args, work, redis_url, prefix):
    with _bench_database(work) as database_url:
        env = {
            "DJANGO_SETTINGS_MODULE": "healthhub.settings",
            "DATABASE_URL": database_url,
            "DJANGO_DEBUG": "0",
            "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
            "DJANGO_ALLOWED_HOSTS": f"{HOST},localhost",
            "STATIC_ROOT": str(work / "static"),
            "MEDIA_ROOT": str(work / "media"),
            "HEALTHHUB_BENCHMARK_FLOORS": "1",
            "HEALTHHUB_CACHE_PREFIX": prefix,
            "HEALTHHUB_VIEW_BUFFER_PREFIX": f"{prefix}:views:",
            "REDIS_URL": redis_url or "",
            "LOG_LEVEL": "WARNING",
        }
        os.environ.update(env)
        return _run(args, env, work, redis_url)


def _run(args, env, work, redis_url):
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from benchmarks.generate import COMMON_WORD, RARE_WORD, generate

    started = time.monotonic()
    call_command("migrate", verbosity=0)
    site = generate(args.articles)
    generated_in = time.monotonic() - started
    call_command("collectstatic", interactive=False, verbosity=0)
    pages = {
        "home": "/",
        "category, page 1": f"/{site.category_slug}/",
        f"category, last page ({site.category_pages})": (
            f"/{site.category_slug}/?page={site.category_pages}"
        ),
        "article": site.article_url,
        "tag": f"/tag/{site.tag_slug}/",
        f"search, common word ({COMMON_WORD})": f"/search/?q={COMMON_WORD}",
        f"search, rare word ({RARE_WORD})": f"/search/?q={RARE_WORD}",
        "RSS feed": "/feed/",
        "sitemap section": "/sitemap-articles.xml",
    }
    queries, sizes = _count_queries(pages)
    uncached = _uncached_ms(pages)
    plan = deep_page_plan(site)
    connection.close()
    env["HEALTHHUB_BENCHMARK_FLOOR_BYTES"] = str(sizes["article"])
    results = {
        "machine": machine_info(connection.vendor),
        "settings": {
            "articles": args.articles,
            "generated_in_s": round(generated_in, 1),
            "duration_s": args.duration,
            "repeat": args.repeat,
            "wrk": f"-t{args.threads} -c{args.connections}",
            "gunicorn": f"{args.workers} {args.worker_class} workers"
            + (f" x {args.worker_threads} threads" if args.worker_class == "gthread" else ""),
            "cache": "redis" if redis_url else "locmem",
            "floor_template_bytes": sizes["article"],
        },
        "runs": [],
        "memory": None,
        "deep_page_plan": plan,
    }
    with _gunicorn(args, env, work, counter="direct") as server:
        floors = [_measure(args, server, "template floor", "/_floor/template/", 0)]
        floors.append(_measure(args, server, "write floor", "/_floor/write/", 2))
        rows = [
            _measure(args, server, name, url, queries[name], size=sizes[name])
            | {"uncached_ms": uncached[name]}
            | _measure_compressed(args, server, name, url)
            for name, url in pages.items()
        ]
        # Floors again at the end; their mean absorbs drift in the machine's load.
        floors.append(_measure(args, server, "template floor", "/_floor/template/", 0))
        floors.append(_measure(args, server, "write floor", "/_floor/write/", 2))
        template_floor = _mean_rps(floors, "template floor")
        write_floor = _mean_rps(floors, "write floor")
        for row in rows:
            row["vs_template_floor"] = round(row["rps"] / template_floor, 2)
            row["vs_write_floor"] = round(row["rps"] / write_floor, 2)
        results["runs"] += _floor_rows(floors) + rows
        if args.memory:
            results["memory"] = _memory(args, server, pages["article"])
    if redis_url:
        with _gunicorn(args, env | {"HEALTHHUB_VIEW_COUNTER": "buffered"}, work, "buffered") as s:
            floor = _measure(args, s, "template floor (buffered server)", "/_floor/template/", 0)
            buffered = _measure(
                args,
                s,
                "article, buffered views",
                pages["article"],
                _count_queries({"article": pages["article"]}, buffered=redis_url)[0]["article"],
                size=sizes["article"],
            )
            buffered["vs_template_floor"] = round(buffered["rps"] / floor["rps"], 2)
            buffered["vs_write_floor"] = round(buffered["rps"] / write_floor, 2)
            results["runs"] += [floor, buffered]
        subprocess.run(
            [sys.executable, "manage.py", "flush_views"],
            cwd=BASE_DIR,
            env=os.environ | env,
            check=True,
            capture_output=True,
        )
    results["machine"]["load_average_after"] = os.getloadavg()
    return results


def deep_page_plan(site):
    """Return the query plan of the id query behind the category's last page."""
    from django.db import connection

    from articles.models import Article, Category
    from articles.pagination import DeferredJoinPaginator

    category = Category.objects.get(slug=site.category_slug)
    articles = Article.objects.published().for_listing().newest_first()
    articles = articles.filter(category_id__in=[category.pk])
    paginator = DeferredJoinPaginator(articles, 12)
    bottom = (paginator.num_pages - 1) * 12
    ids = articles.values_list("pk", flat=True)[bottom : bottom + 12]
    if connection.vendor == "postgresql":
        return f"{ids.query}\n\n{ids.explain(analyze=True)}"
    return f"{ids.query}\n\n{ids.explain()}"


def _count_queries(pages, buffered=None):
    """Return the SQL queries per request of each page with warm caches, and its size."""
    from django.db import connection
    from django.test import Client, override_settings
    from django.test.utils import CaptureQueriesContext

    client = Client(headers={"host": HOST})
    queries, sizes = {}, {}
    counter = {"HEALTHHUB_VIEW_COUNTER": "buffered"} if buffered else {}
    with override_settings(**counter):
        for name, url in pages.items():
            client.get(url)
            with CaptureQueriesContext(connection) as captured:
                response = client.get(url)
            assert response.status_code == 200, (url, response.status_code)
            queries[name], sizes[name] = len(captured), len(response.content)
        connection.close()
    return queries, sizes


def _uncached_ms(pages, times=5):
    """Return the median time of each page rendered in-process with no cache at all.

    What a cache miss costs, free of network and worker start-up: the figure
    to compare between 10,000 and 100,000 articles.
    """
    from django.db import connection
    from django.test import Client, override_settings

    client = Client(headers={"host": HOST})
    dummy = {"BACKEND": "django.core.cache.backends.dummy.DummyCache"}
    timings = {}
    with override_settings(CACHES={"default": dummy, "local": dummy}):
        for name, url in pages.items():
            runs = []
            for _ in range(times):
                started = time.perf_counter()
                response = client.get(url)
                runs.append((time.perf_counter() - started) * 1000)
                assert response.status_code == 200, (url, response.status_code)
            timings[name] = round(statistics.median(runs), 1)
    connection.close()
    return timings


class Server:
    def __init__(self, port, process, label):
        self.port, self.process, self.label = port, process, label
        self.requests = 0


@contextlib.contextmanager
def _gunicorn(args, env, work, counter):
    port = args.port + (1 if counter == "buffered" else 0)
    server_env = (
        os.environ
        | env
        | {
            "PORT": str(port),
            "HOST": HOST,
            "WEB_CONCURRENCY": str(args.workers),
            "GUNICORN_WORKER_CLASS": args.worker_class,
            "GUNICORN_THREADS": str(args.worker_threads if args.worker_class == "gthread" else 1),
            # No recycling, so that a worker's memory can be watched over many requests.
            "GUNICORN_MAX_REQUESTS": "0",
        }
    )
    log = (work / f"gunicorn-{counter}.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "healthhub.wsgi", "-c", "gunicorn.conf.py"],
        cwd=BASE_DIR,
        env=server_env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    server = Server(port, process, counter)
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                sys.exit(f"gunicorn exited:\n{(work / f'gunicorn-{counter}.log').read_text()}")
            try:
                with urllib.request.urlopen(f"http://{HOST}:{port}/_floor/template/", timeout=5):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    sys.exit("gunicorn did not start within 30 s")
                time.sleep(0.2)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


WRK_LATENCY = re.compile(r"^\s+(50|99)%\s+([\d.]+)(us|ms|s)\s*$", re.M)
WRK_RPS = re.compile(r"^Requests/sec:\s+([\d.]+)", re.M)
WRK_TOTAL = re.compile(r"^\s+(\d+) requests in", re.M)
WRK_NON_2XX = re.compile(r"Non-2xx or 3xx responses: (\d+)")
WRK_SOCKET = re.compile(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)")
UNIT_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def wrk(args, server, url, duration, headers=()):
    """Run wrk once against ``url``, sending ``headers`` ("Name: value"); return its figures."""
    completed = subprocess.run(
        [
            "wrk",
            f"-t{args.threads}",
            f"-c{args.connections}",
            f"-d{max(1, round(duration))}s",
            "--latency",
            *(arg for header in headers for arg in ("-H", header)),
            f"http://{HOST}:{server.port}{url}",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=duration + 60,
    )
    out = completed.stdout
    latency = {p: float(v) * UNIT_MS[u] for p, v, u in WRK_LATENCY.findall(out)}
    total = int(WRK_TOTAL.search(out).group(1))
    socket = WRK_SOCKET.search(out)
    non_2xx = WRK_NON_2XX.search(out)
    server.requests += total
    return {
        "rps": float(WRK_RPS.search(out).group(1)),
        "p50_ms": latency.get("50"),
        "p99_ms": latency.get("99"),
        "requests": total,
        "errors": (int(non_2xx.group(1)) if non_2xx else 0)
        + (sum(map(int, socket.groups())) if socket else 0),
    }


def _measure(args, server, name, url, queries, size=None):
    # Warm up: one request alone fills the caches (sixteen at once would all
    # miss and render together), then a second of load for both workers.
    started = time.perf_counter()
    with urllib.request.urlopen(f"http://{HOST}:{server.port}{url}", timeout=120) as response:
        response.read()
    cold_ms = (time.perf_counter() - started) * 1000
    wrk(args, server, url, 1)
    runs = [wrk(args, server, url, args.duration) for _ in range(args.repeat)]
    median = sorted(runs, key=lambda run: run["rps"])[len(runs) // 2]
    print(
        f"  {name:42} {median['rps']:8.0f} req/s  p50 {median['p50_ms']:.1f} ms"
        f"  p99 {median['p99_ms']:.1f} ms  {queries} queries",
        file=sys.stderr,
    )
    return {
        "page": name,
        "url": url,
        "queries": queries,
        "bytes": size,
        "first_request_ms": round(cold_ms, 1),
        **median,
        "errors": sum(run["errors"] for run in runs),
        "all_rps": [run["rps"] for run in runs],
    }


def _measure_compressed(args, server, name, url):
    """Return the page's size and req/s for a client that accepts brotli and gzip."""
    request = urllib.request.Request(
        f"http://{HOST}:{server.port}{url}", headers={"Accept-Encoding": ACCEPT_ENCODING}
    )
    # urllib does not decode, so this is the size on the wire.
    with urllib.request.urlopen(request, timeout=120) as response:
        size, encoding = len(response.read()), response.headers.get("Content-Encoding")
    headers = [f"Accept-Encoding: {ACCEPT_ENCODING}"]
    runs = [wrk(args, server, url, args.duration, headers) for _ in range(args.repeat)]
    median = sorted(runs, key=lambda run: run["rps"])[len(runs) // 2]
    print(
        f"  {name + ', ' + (encoding or 'plain'):42} {median['rps']:8.0f} req/s"
        f"  p50 {median['p50_ms']:.1f} ms  {size / 1024:.0f} KB",
        file=sys.stderr,
    )
    return {
        "compressed_encoding": encoding,
        "compressed_bytes": size,
        "compressed_rps": median["rps"],
        "compressed_p50_ms": median["p50_ms"],
        "compressed_errors": sum(run["errors"] for run in runs),
    }


def _mean_rps(floors, name):
    return statistics.mean(row["rps"] for row in floors if row["page"] == name)


def _floor_rows(floors):
    rows = []
    for name in ("template floor", "write floor"):
        measured = [row for row in floors if row["page"] == name]
        row = dict(measured[0])
        row["rps"] = round(_mean_rps(floors, name), 1)
        row["all_rps"] = [r for m in measured for r in m["all_rps"]]
        row["errors"] = sum(m["errors"] for m in measured)
        rows.append(row)
    return rows


def worker_rss_mb(server):
    """Return the resident memory of each gunicorn worker, in MB."""
    master = server.process.pid
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    sizes = []
    for pid in children:
        status = Path(f"/proc/{pid}/status").read_text()
        kilobytes = int(re.search(r"^VmRSS:\s+(\d+) kB", status, re.M).group(1))
        sizes.append(round(kilobytes / 1024, 1))
    return sizes


def _memory(args, server, url):
    """Drive the article page until each checkpoint; read the workers' RSS at each."""
    start = server.requests
    readings = [{"requests": start, "worker_rss_mb": worker_rss_mb(server)}]
    for checkpoint in MEMORY_CHECKPOINTS:
        while server.requests < start + checkpoint:
            wrk(args, server, url, 5)
        readings.append({"requests": server.requests, "worker_rss_mb": worker_rss_mb(server)})
        print(f"  memory after {server.requests} requests: {readings[-1]}", file=sys.stderr)
    return readings


@contextlib.contextmanager
def _bench_database(work):
    """Yield the URL of a fresh benchmark database, dropped afterwards."""
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith(("postgres://", "postgresql://")):
        yield f"sqlite:///{work / 'bench.sqlite3'}"
        return
    import psycopg

    parts = urlsplit(url)
    maintenance = urlunsplit(parts._replace(path="/postgres"))

    def admin(sql):
        with psycopg.connect(maintenance, autocommit=True) as conn:
            conn.execute(sql)

    admin(f"DROP DATABASE IF EXISTS {BENCH_DATABASE} WITH (FORCE)")
    admin(f"CREATE DATABASE {BENCH_DATABASE}")
    try:
        yield urlunsplit(parts._replace(path=f"/{BENCH_DATABASE}"))
    finally:
        from django.db import connections

        connections.close_all()
        admin(f"DROP DATABASE IF EXISTS {BENCH_DATABASE} WITH (FORCE)")


def _reachable_redis(url):
    if not url or url == "none":
        return None
    import redis

    try:
        redis.Redis.from_url(url, socket_timeout=2).ping()
    except redis.RedisError:
        print(f"No Redis at {url}: local-memory cache, no buffered run.", file=sys.stderr)
        return None
    return url


def _clear_redis(url, prefix):
    if not url:
        return
    import redis

    client = redis.Redis.from_url(url)
    keys = list(client.scan_iter(match=f"*{prefix}*"))
    if keys:
        client.delete(*keys)


def machine_info(vendor):
    from django.db import connection

    with connection.cursor() as cursor:
        if vendor == "postgresql":
            cursor.execute("SHOW server_version")
        else:
            cursor.execute("SELECT sqlite_version()")
        db_version = cursor.fetchone()[0]
    connection.close()
    return {
        "cores": os.cpu_count(),
        "cpu": _cpu_model(),
        "python": platform.python_version(),
        "database": f"{vendor} {db_version}",
        "load_average_before": os.getloadavg(),
    }


def _cpu_model():
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor()


def markdown_table(results):
    settings = results["settings"]
    machine = results["machine"]
    lines = [
        f"{settings['articles']:,} articles on {machine['database']}, "
        f"{settings['gunicorn']}, wrk {settings['wrk']}, {settings['duration_s']} s x "
        f"{settings['repeat']} (median), cache {settings['cache']}; "
        f"{machine['cores']} cores, Python {machine['python']}, load average "
        f"{' '.join(f'{x:.2f}' for x in machine['load_average_before'])} before, "
        f"{' '.join(f'{x:.2f}' for x in machine['load_average_after'])} after",
        "",
        "The first request of each page is the one that fills the cache (cold, through "
        "gunicorn); uncached ms is the median of 5 in-process requests with no cache at all.",
        "",
        f"Compressed: the same page with Accept-Encoding: {ACCEPT_ENCODING}; "
        "KB on the wire, and its req/s as a share of the uncompressed req/s.",
        "",
        "| page | req/s | p50 ms | p99 ms | queries | / template floor | / write floor "
        "| first request ms | uncached ms | KB | errors "
        "| compressed | compressed KB | compressed req/s | / uncompressed |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: "
        "| --- | ---: | ---: | ---: |",
    ]
    for row in results["runs"]:
        size = f"{row['bytes'] / 1024:.0f}" if row["bytes"] else ""
        compressed = ["", "", "", ""]
        if "compressed_rps" in row:
            compressed = [
                row["compressed_encoding"] or "no",
                f"{row['compressed_bytes'] / 1024:.1f}",
                f"{row['compressed_rps']:.0f}",
                f"{row['compressed_rps'] / row['rps']:.2f}",
            ]
        lines.append(
            f"| {row['page']} | {row['rps']:.0f} | {row['p50_ms']:.1f} | {row['p99_ms']:.1f} "
            f"| {row['queries']} | {row.get('vs_template_floor', '')} "
            f"| {row.get('vs_write_floor', '')} | {row['first_request_ms']} "
            f"| {row.get('uncached_ms', '')} | {size} "
            f"| {row['errors']} | {' | '.join(compressed)} |"
        )
    lines += ["", "Query plan of the last category page's id query:", "", "```"]
    lines += [results["deep_page_plan"], "```"]
    if results["memory"]:
        lines.append("")
        for reading in results["memory"]:
            lines.append(
                f"Worker RSS after {reading['requests']:,} requests (both workers): "
                f"{', '.join(f'{mb} MB' for mb in reading['worker_rss_mb'])}"
            )
    return "\n".join(lines)
