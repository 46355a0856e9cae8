#!/usr/bin/env python3
"""Fault test: gunicorn under a mixed load while Redis or the database fails.

    scripts/faults.py                                # every fault, on PostgreSQL (a few minutes)
    scripts/faults.py --database sqlite              # Redis, slow clients, a full disk
    scripts/faults.py --quick --database postgres    # shorter faults, as CI runs it
    scripts/faults.py --no-check                     # report, exit 0 whatever the targets
    scripts/faults.py --only redis-kill,db-down      # some faults only

Everything failing is the script's own: a private redis-server on a free port
(SIGKILLed and restarted, or SIGSTOPped and resumed) and, for PostgreSQL, a
TCP proxy (scripts/tcpproxy.py) between gunicorn and the shared server that
hangs or drops the connections. The shared servers are never touched beyond
a scratch database, created for the run and dropped at the end. On SQLite,
when mount is permitted (root), a copy of the database on a small tmpfs that
is then filled up stands for a full disk.

Each fault runs under load from another process (16 connections: home,
category, article, search, feed and sitemap pages). The script prints one
row per fault (requests, 5xx, connection errors, p99 latency of requests in
flight during the fault, article views acknowledged with a 200 against the
rise of the stored counts, recovery time) and the targets each fault must
meet, and exits non-zero when one is missed.
"""

import argparse
import contextlib
import http.client
import itertools
import json
import multiprocessing
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, urlsplit

from loadtest import (
    BASE_DIR,
    BROWSER,
    HOST,
    article_paths,
    django_env,
    free_port,
    percentile,
    request_plan,
    total_views,
    worker_pids,
)
from tcpproxy import TCPProxy

WORKERS = 3
CONNECTIONS = 16
SHOWN_VIEWS = re.compile(r'class="article__views">([\d,]+) view')
# Articles kept out of the load, so that a probe of one is sure to miss the page cache.
RESERVED_ARTICLES = 200
REDIS_FAULTS = ["redis-kill", "redis-freeze"]
BUFFERED_FAULTS = ["buffered-redis-kill", "buffered-redis-freeze", "buffered-redis-aof"]
DATABASE_FAULTS = ["db-hang", "db-down"]
ALL_FAULTS = [*REDIS_FAULTS, *DATABASE_FAULTS, "slow-clients", *BUFFERED_FAULTS, "disk-full"]


@dataclass
class Durations:
    warm: float  # load before the fault
    redis: float  # Redis killed or frozen
    hang: float  # database hung
    down: float  # database down
    slow: float  # slow clients
    after: float  # load after recovery
    articles: int


FULL = Durations(warm=3, redis=5, hang=10, down=5, slow=10, after=3, articles=1000)
# The hang outlasts 5 s, or no uncached page could prove it answers 503 within 5 s.
QUICK = Durations(warm=1.5, redis=2, hang=6, down=2, slow=3, after=1, articles=400)


# Requests -------------------------------------------------------------------


def fetch(port, path, timeout=15, user_agent=BROWSER):
    """GET ``path``; return (status, body, seconds). Status 0 is a connection error."""
    start = time.monotonic()
    try:
        conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
        try:
            conn.request("GET", path, headers={"User-Agent": user_agent})
            response = conn.getresponse()
            body = response.read()
            status = response.status
        finally:
            conn.close()
    except (OSError, http.client.HTTPException):
        status, body = 0, b""
    return status, body, time.monotonic() - start


def shown_views(body):
    match = SHOWN_VIEWS.search(body.decode(errors="replace"))
    return int(match.group(1).replace(",", "")) if match else None


def load_worker(port, plan, connections, stop, results):
    """Send the plan's requests round and round over ``connections`` until ``stop`` is set."""
    lock = threading.Lock()
    issued = [0]
    records = []

    def run():
        local = []
        while not stop.is_set():
            with lock:
                index = issued[0] % len(plan)
                issued[0] += 1
            kind, path = plan[index]
            start = time.monotonic()
            status, _body, _seconds = fetch(port, path, timeout=30)
            local.append((kind, path, status, start, time.monotonic()))
        with lock:
            records.extend(local)

    threads = [threading.Thread(target=run) for _ in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    results.put(records)


class Load:
    """The mixed load, in its own process, for as long as a phase lasts."""

    def __init__(self, port, plan, connections):
        # Spawned, not forked: this process runs the proxy's threads.
        context = multiprocessing.get_context("spawn")
        self.stop_event = context.Event()
        self.results = context.Queue()
        self.process = context.Process(
            target=load_worker, args=(port, plan, connections, self.stop_event, self.results)
        )

    def start(self):
        self.process.start()

    def stop(self):
        self.stop_event.set()
        records = self.results.get(timeout=60)
        self.process.join()
        return records


# The private Redis, the site and the flusher --------------------------------


class Redis:
    """A redis-server of the script's own, on a free port, in a folder of its own."""

    def __init__(self, directory, *, appendonly=False, appendfsync="everysec"):
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.appendonly = appendonly
        self.appendfsync = appendfsync
        self.port = free_port()
        self.process = None
        self.log = self.directory / "redis.log"

    @property
    def url(self):
        return f"redis://{HOST}:{self.port}/0"

    def start(self):
        command = ["redis-server", "--port", str(self.port), "--bind", HOST]
        command += ["--dir", str(self.directory), "--save", "", "--daemonize", "no"]
        command += ["--appendonly", "yes" if self.appendonly else "no"]
        command += ["--appendfsync", self.appendfsync]
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 20
        while not self.ping():
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise SystemExit(f"redis-server did not start:\n{self.log.read_text()}")
            time.sleep(0.05)

    def ping(self):
        try:
            with socket.create_connection((HOST, self.port), timeout=1) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(64).startswith(b"+PONG")  # not -LOADING
        except OSError:
            return False

    def kill(self):
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def freeze(self):
        self.process.send_signal(signal.SIGSTOP)

    def thaw(self):
        self.process.send_signal(signal.SIGCONT)

    def stop(self):
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGCONT)
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


class Site:
    """gunicorn with the project's gunicorn.conf.py and, buffered, a flush_views sidecar."""

    def __init__(self, env, scratch, name):
        self.env = env
        self.port = int(env["PORT"])
        self.log_path = scratch / f"gunicorn-{name}.log"
        self.flusher_log = scratch / f"flush-views-{name}.log"
        self.process = None
        self.flusher = None
        self.buffered = env.get("HEALTHHUB_VIEW_COUNTER") == "buffered"

    def start(self):
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "gunicorn", "healthhub.wsgi", "-c", "gunicorn.conf.py"],
                cwd=BASE_DIR,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 60
        while True:
            status, _body, _seconds = fetch(self.port, "/", timeout=10)
            if status == 200 and len(self.workers()) == WORKERS:
                break
            if time.monotonic() > deadline or self.process.poll() is not None:
                print(self.log_text(), file=sys.stderr)
                raise SystemExit("gunicorn did not start")
            time.sleep(0.2)

    def workers(self):
        try:
            return sorted(worker_pids(self.process.pid))
        except OSError:
            return []

    def log_text(self):
        return self.log_path.read_text(errors="replace")

    def stop(self):
        self.stop_flusher()
        if self.process is None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=40)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def manage(self, *args):
        return [sys.executable, "manage.py", *args]

    def start_flusher(self):
        if not self.buffered:
            return
        with self.flusher_log.open("ab") as log:
            self.flusher = subprocess.Popen(
                self.manage("flush_views", "--every", "2"),
                cwd=BASE_DIR,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def stop_flusher(self):
        if self.flusher is None:
            return
        # A flush cut short leaves its batch in Redis; the final flush applies it.
        self.flusher.terminate()
        try:
            self.flusher.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.flusher.kill()
            self.flusher.wait()
        self.flusher = None

    def final_flush(self):
        """Move every buffered view into the database; return whether it worked."""
        if not self.buffered:
            return True
        for _attempt in range(5):
            done = subprocess.run(
                self.manage("flush_views"),
                cwd=BASE_DIR,
                env=self.env,
                capture_output=True,
                timeout=120,
            )
            if done.returncode == 0:
                return True
            time.sleep(1)
        with self.flusher_log.open("ab") as log:
            log.write(done.stdout + done.stderr)
        return False


# Phases ----------------------------------------------------------------------


@dataclass
class Result:
    fault: str
    requests: int = 0
    errors_5xx: int = 0
    conn_errors: int = 0
    p99_fault_ms: float = 0.0
    acknowledged: int = 0
    stored: int = 0
    recovery_s: float | None = None
    recovery_measured: bool = False
    checks: list = field(default_factory=list)
    notes: list = field(default_factory=list)
    # Latency targets are checked in full runs; a --quick run (CI, on a
    # machine doing other work) reports them and checks only correctness.
    timing_checked: bool = True

    def check(self, name, ok):
        self.checks.append((name, bool(ok)))

    def check_timing(self, name, ok):
        if self.timing_checked:
            self.check(name, ok)
        else:
            self.notes.append(f"{'ok' if ok else 'SLOW'} {name} (reported only with --quick)")

    @property
    def ok(self):
        return all(ok for _name, ok in self.checks)


class Run:
    """One database's run: prepared data, the Redis and the site of the current mode."""

    def __init__(self, args, scratch, direct_url, app_url, proxy):
        self.args = args
        self.durations = QUICK if args.quick else FULL
        self.scratch = scratch
        self.direct_url = direct_url  # for the script's own reads, past the proxy
        self.app_url = app_url  # what gunicorn uses (through the proxy on PostgreSQL)
        self.proxy = proxy
        self.redis = None
        self.site = None
        self.results = []
        paths = article_paths(direct_url)
        self.reserved = paths[:RESERVED_ARTICLES]
        self.loaded = paths[RESERVED_ARTICLES:]
        self.plan = request_plan(20_000, self.loaded)
        # Articles the load hits most, to sample their shown counts.
        hits = {}
        for kind, path in self.plan:
            if kind == "article":
                hits[path] = hits.get(path, 0) + 1
        self.popular = sorted(hits, key=hits.get, reverse=True)[:5]
        self.probe_extra = []  # requests the script made itself during a phase
        self.fresh = iter(self.reserved)  # each reserved article is asked for once only

    # Set-up -----------------------------------------------------------------

    def env(self, counter):
        env = django_env(self.app_url, self.scratch / "static", free_port())
        env.update(
            DJANGO_SECRET_KEY="faults-only-" + secrets.token_urlsafe(16),
            REDIS_URL=self.redis.url,
            HEALTHHUB_VIEW_COUNTER=counter,
            WEB_CONCURRENCY=str(WORKERS),
        )
        env.pop("HEALTHHUB_VIEW_BUFFER_URL", None)
        env.pop("CACHE_URL", None)
        return env

    def use(self, name, counter, *, appendonly=False):
        """Start a fresh Redis and site for the faults that follow."""
        self.teardown()
        self.redis = Redis(
            self.scratch / f"redis-{name}", appendonly=appendonly, appendfsync=self.args.appendfsync
        )
        self.redis.start()
        self.site = Site(self.env(counter), self.scratch, name)
        self.site.start()
        # Fill the page cache and warm the workers before anything is measured.
        load = Load(self.site.port, self.plan, CONNECTIONS)
        load.start()
        time.sleep(2 * self.durations.warm)
        load.stop()
        self.site.final_flush()

    def teardown(self):
        if self.site is not None:
            self.site.stop()
            self.site = None
        if self.redis is not None:
            self.redis.stop()
            self.redis = None

    # Helpers ----------------------------------------------------------------

    def probe(self, path, timeout=15):
        """Fetch ``path`` as a reader; the view it may count is accounted for."""
        start = time.monotonic()
        status, body, seconds = fetch(self.site.port, path, timeout=timeout)
        kind = "article" if path in self.reserved or path in self.loaded else "probe"
        self.probe_extra.append((kind, path, status, start, start + seconds))
        return status, body, seconds

    def wait_recovered(self, since, limit=30):
        """Return seconds from ``since`` until /readyz and two pages answer 200, or None."""
        while time.monotonic() - since < limit:
            if all(
                fetch(self.site.port, path, timeout=5)[0] == 200
                for path in ("/readyz", "/", "/topic-1/")
            ):
                return time.monotonic() - since
            time.sleep(0.1)
        return None

    def phase(self, name, fault):
        """Run ``fault(result)`` under load; fill in the load figures; return the result.

        ``fault`` returns (start, end) of the fault proper; recovery is measured from the end.
        """
        result = Result(name, timing_checked=not self.args.quick)
        print(f"--> {name}", flush=True)
        self.probe_extra = []
        views_before = total_views(self.direct_url)
        self.site.start_flusher()
        load = Load(self.site.port, self.plan, CONNECTIONS)
        load.start()
        records = []
        try:
            time.sleep(self.durations.warm)
            fault_start, fault_end = fault(result)
            result.recovery_s = self.wait_recovered(fault_end)
            result.recovery_measured = True
            time.sleep(self.durations.after)
        finally:
            records = load.stop()
        self.site.stop_flusher()
        flushed = self.site.final_flush()
        if not flushed:
            result.notes.append("the final flush_views failed")
        result.stored = total_views(self.direct_url) - views_before
        result.requests = len(records)
        result.errors_5xx = sum(1 for r in records if r[2] >= 500)
        result.conn_errors = sum(1 for r in records if r[2] == 0)
        during = [
            (r[4] - r[3]) * 1000 for r in records if r[3] <= fault_end and r[4] >= fault_start
        ]
        result.p99_fault_ms = percentile(during, 0.99)
        result.acknowledged = sum(
            1 for r in records + self.probe_extra if r[0] == "article" and r[2] == 200
        )
        statuses = {}
        for r in records:
            statuses[r[2]] = statuses.get(r[2], 0) + 1
        result.notes.append(
            "load statuses: "
            + ", ".join(f"{s or 'error'}={n}" for s, n in sorted(statuses.items()))
        )
        self.results.append(result)
        return result

    def redis_targets(self, result, what):
        result.check(
            "0 5xx and 0 connection errors", not result.errors_5xx and not result.conn_errors
        )
        result.check_timing(f"p99 while Redis is {what} < 1 s", result.p99_fault_ms < 1000)
        if self.site.buffered:
            views_targets(result)
        else:
            result.check(
                "every acknowledged view stored (exactly)", result.stored == result.acknowledged
            )

    # Redis faults -----------------------------------------------------------

    def redis_kill(self, name, targets=True):
        def fault(result):
            start = time.monotonic()
            self.redis.kill()
            time.sleep(self.durations.redis)
            self.redis.start()  # same port, same folder: the AOF, if any, is replayed
            return start, time.monotonic()

        result = self.phase(name, fault)
        if targets:
            self.redis_targets(result, "down")
        if self.site.buffered and not self.redis.appendonly:
            result.notes.append(
                "appendonly no: the views buffered since the last flush died with Redis"
            )
        return result

    def redis_freeze(self, name):
        def fault(result):
            start = time.monotonic()
            self.redis.freeze()
            time.sleep(self.durations.redis)
            self.redis.thaw()
            return start, time.monotonic()

        self.redis_targets(self.phase(name, fault), "frozen")

    def redis_aof(self, name):
        samples = {path: [] for path in self.popular}

        def sample(moment):
            for path in self.popular:
                status, body, _seconds = self.probe(path, timeout=10)
                count = shown_views(body) if status == 200 else None
                if count is not None:
                    samples[path].append((moment, count))

        def fault(result):
            sample("before")
            start = time.monotonic()
            self.redis.kill()
            time.sleep(self.durations.redis / 2)
            sample("while down")
            time.sleep(self.durations.redis / 2)
            self.redis.start()
            end = time.monotonic()
            sample("after restart")
            return start, end

        result = self.phase(name, fault)
        sample("after final flush")
        views_targets(result)
        # While Redis is down a page shows its stored count, or the last total
        # its worker showed, plus new views: it may dip by the views of the
        # last flush interval, which come back with Redis. Across the restart
        # no count may go down.
        went_down, dipped = [], []
        for path, values in samples.items():
            for (m1, v1), (m2, v2) in itertools.pairwise(values):
                if v2 < v1:
                    line = f"{path} {v1} ({m1}) -> {v2} ({m2})"
                    (dipped if "while down" in (m1, m2) else went_down).append(line)
            before = [v for m, v in values if m == "before"]
            after = [v for m, v in values if m in {"after restart", "after final flush"}]
            if before and after and min(after) < max(before):
                went_down.append(f"{path} {max(before)} before -> {min(after)} after")
        result.check("no shown count lower after the restart than before", not went_down)
        result.notes += [f"dipped while Redis was down: {line}" for line in dipped]
        result.notes.append(f"appendonly yes, appendfsync {self.args.appendfsync}")
        result.notes += [f"count went down: {line}" for line in went_down]
        result.notes.append(
            "shown counts sampled: "
            + "; ".join(
                f"{path.rsplit('/', 2)[-2]} " + " ".join(str(v) for _m, v in values)
                for path, values in samples.items()
            )
        )

    # Database faults (through the proxy) ------------------------------------

    def cached_and_uncached(self):
        """Return cached paths (fetched before), and a source of paths never fetched."""
        cached = ["/", "/topic-0/", *self.popular[:3]]
        for _round in range(2):
            for path in cached:
                self.probe(path)
        counter = [0]

        def uncached():
            counter[0] += 1
            if counter[0] % 2:
                return next(self.fresh, f"/search/?q=probe+{secrets.token_hex(4)}")
            return f"/search/?q={quote('fault probe ' + secrets.token_hex(4))}"

        return cached, uncached

    def watch(self, seconds, probes):
        """Run each probe function in its own thread, in a loop, for ``seconds``."""
        stop = time.monotonic() + seconds
        seen = []

        def loop(probe):
            while time.monotonic() < stop:
                started = time.monotonic()
                seen.append((started, *probe()))
                time.sleep(0.2)

        threads = [threading.Thread(target=loop, args=(probe,)) for probe in probes]
        for thread in threads:
            thread.start()
        return threads, seen

    def db_hang(self, name):
        log_offset = len(self.site.log_text())
        pids = self.site.workers()
        cached, uncached = self.cached_and_uncached()
        seen = []

        def fault(result):
            cycle = iter(cached * 1000)

            def probe_cached():
                path = next(cycle)
                status, _body, seconds = self.probe(path)
                return "cached", path, status, seconds

            def probe_uncached():
                path = uncached()
                status, _body, seconds = self.probe(path, timeout=30)
                return "uncached", path, status, seconds

            start = time.monotonic()
            self.proxy.freeze()
            # Two of each at a time, so that one slow answer does not hide the rest.
            threads, found = self.watch(
                self.durations.hang, [probe_cached, probe_cached, probe_uncached, probe_uncached]
            )
            time.sleep(self.durations.hang)
            self.proxy.restore()
            end = time.monotonic()
            for thread in threads:
                thread.join()
            seen.extend((s, *rest) for s, *rest in found if s < end)
            self.window = (start, end)
            return start, end

        result = self.phase(name, fault)
        _start, end = self.window
        cached_seen = [s for s in seen if s[1] == "cached"]
        # An uncached page asked for less than 5 s before the end may be answered after it.
        uncached_seen = [s for s in seen if s[1] == "uncached" and s[0] <= end - 5]
        result.check(
            f"cached pages 200 while hung ({len(cached_seen)} asked)",
            cached_seen and all(s[3] == 200 for s in cached_seen),
        )
        result.check_timing(
            "cached pages within 1 s while hung", all(s[4] < 1 for s in cached_seen)
        )
        result.check(
            f"uncached pages 503 while hung ({len(uncached_seen)} asked)",
            uncached_seen and all(s[3] == 503 for s in uncached_seen),
        )
        result.check_timing(
            "uncached pages within 5 s while hung", all(s[4] < 5 for s in uncached_seen)
        )
        timeouts = self.site.log_text()[log_offset:].count("WORKER TIMEOUT")
        after = self.site.workers()
        result.check(
            "no worker killed (no WORKER TIMEOUT, same pids)", not timeouts and pids == after
        )
        result.notes.append(self.describe_probes(cached_seen, "cached"))
        result.notes.append(self.describe_probes(uncached_seen, "uncached"))
        result.notes.append(
            f"WORKER TIMEOUT lines: {timeouts}; workers {pids} -> {after}; "
            f"views acknowledged {result.acknowledged}, stored {result.stored}"
        )

    def db_down(self, name):
        cached, uncached = self.cached_and_uncached()
        cached_articles = [path for path in cached if path in self.loaded]
        seen = []

        def fault(result):
            cycle = iter(cached_articles * 1000)

            def probe_cached():
                path = next(cycle)
                status, body, seconds = self.probe(path)
                count = shown_views(body) if status == 200 else None
                return "cached", path, status, seconds, count

            def probe_uncached():
                path = uncached()
                status, _body, seconds = self.probe(path)
                return "uncached", path, status, seconds, None

            def probe_readyz():
                status, body, seconds = self.probe("/readyz")
                try:
                    checks = json.loads(body)["checks"]
                except (ValueError, KeyError, TypeError):
                    checks = {}
                return "readyz", "/readyz", status, seconds, checks.get("database")

            start = time.monotonic()
            self.proxy.kill()
            threads, found = self.watch(
                self.durations.down,
                [probe_cached, probe_cached, probe_uncached, probe_uncached, probe_readyz],
            )
            time.sleep(self.durations.down)
            self.proxy.restore()
            end = time.monotonic()
            for thread in threads:
                thread.join()
            # Only answers given while the database was down.
            seen.extend(f for f in found if f[0] + f[4] < end)
            return start, end

        result = self.phase(name, fault)
        cached_seen = [s for s in seen if s[1] == "cached"]
        uncached_seen = [s for s in seen if s[1] == "uncached"]
        readyz = [(s[3], s[5]) for s in seen if s[1] == "readyz"]
        result.check(
            f"cached article pages 200 with a count while down ({len(cached_seen)} asked)",
            cached_seen and all(s[3] == 200 and s[5] is not None for s in cached_seen),
        )
        result.check(
            f"uncached pages 503 while down ({len(uncached_seen)} asked)",
            uncached_seen and all(s[3] == 503 for s in uncached_seen),
        )
        result.check_timing(
            "uncached pages within 2 s while down", all(s[4] < 2 for s in uncached_seen)
        )
        result.check(
            "/readyz 503 naming the database while down",
            readyz and all(s == 503 and db == "unavailable" for s, db in readyz),
        )
        result.notes.append(self.describe_probes(cached_seen, "cached"))
        result.notes.append(self.describe_probes(uncached_seen, "uncached"))
        result.notes.append(
            "readyz while down: " + ", ".join(sorted({f"{s} database={db}" for s, db in readyz}))
        )
        result.notes.append(
            f"views acknowledged {result.acknowledged}, stored {result.stored} "
            "(a page served from cache while down may show a view it cannot store)"
        )

    @staticmethod
    def describe_probes(seen, label):
        if not seen:
            return f"{label}: none asked"
        statuses = {}
        for s in seen:
            statuses[s[3]] = statuses.get(s[3], 0) + 1
        slowest = max(s[4] for s in seen)
        return (
            f"{label} while failing: "
            + ", ".join(f"{s or 'error'}={n}" for s, n in sorted(statuses.items()))
            + f"; slowest {slowest:.2f} s"
        )

    # Slow clients ----------------------------------------------------------

    def slow_clients(self, name, count=WORKERS + 1):
        cut = []

        def dribble(stop):
            opened = time.monotonic()
            try:
                with socket.create_connection((HOST, self.site.port), timeout=5) as sock:
                    sock.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n")
                    while time.monotonic() < stop:
                        time.sleep(1)
                        sock.sendall(b"X-Slow: a\r\n")
                    cut.append(None)
            except OSError:
                cut.append(time.monotonic() - opened)

        def fault(result):
            start = time.monotonic()
            threads = [
                threading.Thread(target=dribble, args=(start + self.durations.slow,))
                for _ in range(count)
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            self.window = (start, time.monotonic())
            return self.window

        result = self.phase(name, fault)
        result.notes.append(
            f"{count} connections sent a header line a second for {self.durations.slow:.0f} s; "
            + (
                f"{sum(1 for c in cut if c is not None)} cut by the server"
                if any(c is not None for c in cut)
                else "none cut by the server"
            )
        )
        # Reported, not a target: the cure is a buffering proxy in front of gunicorn.
        result.notes.append(
            f"normal requests still answered: {result.requests} in the phase, "
            f"p99 during {result.p99_fault_ms:.0f} ms"
        )

    # SQLite on a full disk -------------------------------------------------

    def disk_full(self, name):
        """On SQLite, fill a small tmpfs holding a copy of the database; skip if mount fails."""
        result = Result(name)
        print(f"--> {name}", flush=True)
        mount = self.scratch / "full"
        mount.mkdir()
        mounted = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", str(mount)], capture_output=True
        )
        if mounted.returncode:
            result.notes.append("skipped: mount not permitted: " + mounted.stderr.decode().strip())
            self.results.append(result)
            return
        site = None
        try:
            import sqlite3

            source = self.direct_url.removeprefix("sqlite:///")
            target = mount / "db.sqlite3"
            src, dst = sqlite3.connect(source), sqlite3.connect(target)
            try:
                src.backup(dst)
            finally:
                src.close()
                dst.close()
            env = self.env("direct")
            env["DATABASE_URL"] = f"sqlite:///{target}"
            site = Site(env, self.scratch, name)
            site.start()
            filler = mount / "filler"
            with filler.open("wb") as out, contextlib.suppress(OSError):
                while True:
                    out.write(b"\0" * 1024 * 1024)
            # Pages never fetched, each with a view to write.
            before = total_views(env["DATABASE_URL"])
            statuses = []
            for path in [next(self.fresh, None) for _ in range(20)]:
                if path is None:
                    break
                status, body, seconds = fetch(site.port, path)
                statuses.append((status, seconds))
            result.acknowledged = sum(1 for s, _t in statuses if s == 200)
            result.stored = total_views(env["DATABASE_URL"]) - before
            status, body, _seconds = fetch(site.port, "/readyz")
            try:
                database = json.loads(body)["checks"].get("database")
            except (ValueError, KeyError, TypeError):
                database = None
            result.requests = len(statuses) + 1
            result.errors_5xx = sum(1 for s, _t in statuses if s >= 500)
            # The page without its view counted, or a 503 page; never a 500.
            result.check(
                "readers get the page or a 503 page when the disk is full",
                all(s in {200, 503} for s, _t in statuses),
            )
            # Readers are still served, so the probe stays 200 but names it.
            result.check(
                "/readyz names the database that cannot write",
                status == 200 and database == "degraded" and b"disk is full" in body,
            )
            codes = {}
            for s, _t in statuses:
                codes[s] = codes.get(s, 0) + 1
            result.notes.append(
                "article pages on a full disk: "
                + ", ".join(f"{s or 'error'}={n}" for s, n in sorted(codes.items()))
                + f"; /readyz {status} database={database}"
            )
        finally:
            if site is not None:
                site.stop()
            if subprocess.run(["umount", str(mount)], capture_output=True).returncode:
                subprocess.run(["umount", "-l", str(mount)], capture_output=True)
        self.results.append(result)

    # All of it ---------------------------------------------------------------

    def run(self, selected):
        postgres = self.proxy is not None
        if any(f in selected for f in [*REDIS_FAULTS, *DATABASE_FAULTS, "slow-clients"]):
            self.use("direct", "direct")
            if "redis-kill" in selected:
                self.redis_kill("redis-kill")
            if "redis-freeze" in selected:
                self.redis_freeze("redis-freeze")
            if postgres and "db-hang" in selected:
                self.db_hang("db-hang")
            if postgres and "db-down" in selected:
                self.db_down("db-down")
            if "slow-clients" in selected:
                self.slow_clients("slow-clients")
        if "buffered-redis-kill" in selected or "buffered-redis-freeze" in selected:
            # The view buffer needs a Redis that persists (README): without
            # it, a killed Redis takes the views not yet flushed with it.
            self.use("buffered", "buffered", appendonly=True)
            if "buffered-redis-kill" in selected:
                self.redis_kill("buffered-redis-kill")
            if "buffered-redis-freeze" in selected:
                self.redis_freeze("buffered-redis-freeze")
        if "buffered-redis-aof" in selected:
            self.use("buffered-aof", "buffered", appendonly=True)
            self.redis_aof("buffered-redis-aof")
        if not postgres and "disk-full" in selected:
            if self.redis is None:
                self.use("direct", "direct")
            self.disk_full("disk-full")
        self.teardown()


def views_targets(result):
    """Check buffered counting: no acknowledged view lost, and few counted twice.

    A Redis call that timed out may still run once Redis wakes, after the
    view was counted directly as well: the counter allows one such view per
    worker and outage.
    """
    extra = result.stored - result.acknowledged
    result.check(
        f"every acknowledged view stored after the final flush (lost {max(0, -extra)})",
        extra >= 0,
    )
    result.check(f"at most one view per worker counted twice ({max(0, extra)})", extra <= WORKERS)


# Report ------------------------------------------------------------------------


def report(results, database):
    header = ["fault", "requests", "5xx", "errors", "p99 fault", "views ack/stored", "recovery"]
    header.append("targets")
    rows = []
    for r in results:
        rows.append(
            [
                r.fault,
                str(r.requests),
                str(r.errors_5xx),
                str(r.conn_errors),
                f"{r.p99_fault_ms:.0f} ms",
                f"{r.acknowledged}/{r.stored}",
                "-"
                if not r.recovery_measured
                else "never"
                if r.recovery_s is None
                else f"{r.recovery_s:.1f} s",
                "-"
                if not r.checks
                else "ok"
                if r.ok
                else f"FAILED {sum(1 for _n, ok in r.checks if not ok)}/{len(r.checks)}",
            ]
        )
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    line = "  ".join("-" * w for w in widths)
    print()
    print(f"Fault test on {database}")
    print(line)
    print("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
    print(line)
    for row in rows:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)))
    print(line)
    for r in results:
        print(f"{r.fault}:")
        for name, ok in r.checks:
            print(f"  {'ok    ' if ok else 'FAILED'}  {name}")
        for note in r.notes:
            print(f"          {note}")


# Main ------------------------------------------------------------------------


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", choices=["sqlite", "postgres"], default="postgres")
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("LOADTEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432"),
        help="Server for --database postgres; a scratch database is created and dropped.",
    )
    parser.add_argument("--quick", action="store_true", help="Shorter faults, for CI.")
    parser.add_argument("--no-check", action="store_true", help="Report only; always exit 0.")
    parser.add_argument(
        "--appendfsync",
        choices=["everysec", "always"],
        default="always",
        help="Redis's AOF fsync policy for the buffered faults (default always: "
        "everysec may lose the last second when Redis is SIGKILLed).",
    )
    parser.add_argument(
        "--only", help=f"Comma-separated faults to run, of: {', '.join(ALL_FAULTS)}."
    )
    args = parser.parse_args(argv)
    selected = ALL_FAULTS if not args.only else args.only.split(",")
    unknown = set(selected) - set(ALL_FAULTS)
    if unknown:
        parser.error(f"unknown faults: {', '.join(sorted(unknown))}")

    durations = QUICK if args.quick else FULL
    started = time.monotonic()
    with tempfile.TemporaryDirectory(
        prefix="healthhub-faults-", ignore_cleanup_errors=True
    ) as scratch:
        scratch = Path(scratch)
        proxy = None
        admin_url = None
        db_name = f"healthhub_faults_{secrets.token_hex(4)}"
        if args.database == "sqlite":
            direct_url = app_url = f"sqlite:///{scratch / 'faults.sqlite3'}"
        else:
            import psycopg

            server = args.postgres_url.rstrip("/")
            admin_url = server.replace("postgres://", "postgresql://", 1) + "/postgres"
            with psycopg.connect(admin_url, autocommit=True) as admin:
                admin.execute(f'CREATE DATABASE "{db_name}"')
            direct_url = f"{server}/{db_name}"
            parts = urlsplit(direct_url)
            proxy = TCPProxy(parts.hostname, parts.port or 5432)
            proxy.start()
            user = parts.netloc.rsplit("@", 1)[0] + "@" if "@" in parts.netloc else ""
            app_url = f"postgres://{user}{HOST}:{proxy.port}/{db_name}"
        run = None
        try:
            env = django_env(direct_url, scratch / "static", free_port())
            for command in (
                [sys.executable, "manage.py", "migrate", "--noinput", "-v0"],
                [sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"],
                [sys.executable, "scripts/loadtest.py", "--generate", str(durations.articles)],
            ):
                subprocess.run(command, cwd=BASE_DIR, env=env, check=True)
            print(
                f"Prepared {durations.articles} articles on {args.database} "
                f"in {time.monotonic() - started:.1f} s",
                flush=True,
            )
            run = Run(args, scratch, direct_url, app_url, proxy)
            run.run(selected)
        finally:
            if run is not None:
                run.teardown()
            if proxy is not None:
                proxy.stop()
            if admin_url is not None:
                import psycopg

                with psycopg.connect(admin_url, autocommit=True) as admin:
                    admin.execute(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')
    report(run.results, args.database)
    print(f"\n{len(run.results)} faults in {time.monotonic() - started:.0f} s")
    if args.no_check:
        return 0
    return 0 if all(r.ok for r in run.results) else 1


if __name__ == "__main__":
    sys.exit(main())
