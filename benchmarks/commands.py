"""Time the operators' long commands, and their peak memory, at a given size.

    python -m benchmarks.commands --articles 10000

Generates ``--articles`` articles in a fresh database of the kind DATABASE_URL
names (SQLite unless it is a PostgreSQL URL), then runs, each as its own
``manage.py`` process: export_articles of every article, import_articles of
``--import-files`` of the exported files into a second, empty database,
backup, and restore of that archive into a third. Prints a table of wall
time, rate and peak RSS, and writes it as JSON.
"""

import argparse
import contextlib
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

BASE_DIR = Path(__file__).resolve().parent.parent
# Not the page benchmark's database, so both can run on one server.
DATABASE_PREFIX = "healthhub_bench_commands"


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.commands", description=__doc__)
    parser.add_argument("--articles", type=int, default=10_000, help="articles to generate")
    parser.add_argument(
        "--import-files",
        type=int,
        default=2_000,
        help="exported files to import into an empty database (default 2,000; 0 skips)",
    )
    parser.add_argument("--no-restore", action="store_true", help="skip the restore")
    parser.add_argument("--output", default="var/benchmark-commands.json", help="JSON file")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="healthhub-commands-"))
    try:
        with contextlib.ExitStack() as stack:
            source = stack.enter_context(fresh_database(work, "source"))
            env = environment(source, work)
            generated_in = generate(env, args.articles)
            rows = run_commands(args, stack, work, env)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    vendor = "postgresql" if source.startswith("postgres") else "sqlite"
    print(f"{args.articles:,} articles on {vendor}, generated in {generated_in:.0f} s\n")
    print(markdown_table(rows))
    output = BASE_DIR / args.output
    output.parent.mkdir(parents=True, exist_ok=True)
    results = {"articles": args.articles, "database": vendor, "runs": rows}
    output.write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nJSON written to {output}")


def run_commands(args, stack, work, env):
    export = work / "export"
    rows = [measure("export_articles", args.articles, ["export_articles", str(export)], env)]
    if args.import_files:
        subset = work / "import"
        subset.mkdir()
        files = sorted(export.glob("*.md"))[: args.import_files]
        for path in files:
            os.link(path, subset / path.name)
        target = stack.enter_context(fresh_database(work, "import"))
        target_env = environment(target, work, media="import-media")
        manage(["migrate", "--verbosity", "0"], target_env)
        rows.append(
            measure("import_articles", len(files), ["import_articles", str(subset)], target_env)
        )
    backup = measure("backup", None, ["backup", str(work / "backups")], env)
    (archive,) = (work / "backups").glob("healthhub-*.tar.gz")
    backup["archive_mb"] = round(archive.stat().st_size / 2**20, 1)
    rows.append(backup)
    if not args.no_restore:
        restored = stack.enter_context(fresh_database(work, "restored"))
        restored_env = environment(restored, work, media="restored-media")
        rows.append(measure("restore", None, ["restore", str(archive)], restored_env))
    return rows


def environment(database_url, work, media="media"):
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "healthhub.settings",
        "DATABASE_URL": database_url,
        "DJANGO_DEBUG": "0",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "MEDIA_ROOT": str(work / media),
        "HEALTHHUB_CACHE_PREFIX": f"bench-commands-{os.getpid()}",
        "LOG_LEVEL": "WARNING",
        # No query deadline, as manage.py sets for commands; generate() needs it too.
        "HEALTHHUB_DB_TIMEOUT": "0",
    }


def generate(env, count):
    """Migrate the source database and fill it with ``count`` articles; return the seconds taken."""
    started = time.monotonic()
    manage(["migrate", "--verbosity", "0"], env)
    code = "import django; django.setup(); from benchmarks.generate import generate; "
    code += f"generate({count})"
    subprocess.run([sys.executable, "-c", code], cwd=BASE_DIR, env=env, check=True)
    return time.monotonic() - started


def manage(args, env):
    subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=BASE_DIR,
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )


def measure(name, items, args, env):
    """Run ``manage.py args`` alone; return its wall time and its own peak RSS."""
    started = time.monotonic()
    with open(os.devnull, "w") as devnull:
        process = subprocess.Popen(
            [sys.executable, "manage.py", *args], cwd=BASE_DIR, env=env, stdout=devnull
        )
        # wait4() gives this child's own peak, where RUSAGE_CHILDREN would
        # give the largest of every child so far.
        _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.monotonic() - started
    if process.returncode != 0:
        sys.exit(f"manage.py {' '.join(args)} failed with status {process.returncode}")
    row = {
        "command": name,
        "items": items,
        "seconds": round(seconds, 1),
        "per_second": round(items / seconds) if items else None,
        # ru_maxrss is in kilobytes on Linux.
        "peak_rss_mb": round(usage.ru_maxrss / 1024),
    }
    print(f"  {row}", file=sys.stderr)
    return row


@contextlib.contextmanager
def fresh_database(work, name):
    """Yield the URL of a new, empty database of DATABASE_URL's kind; drop it afterwards."""
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith(("postgres://", "postgresql://")):
        yield f"sqlite:///{work / f'{name}.sqlite3'}"
        return
    import psycopg

    parts = urlsplit(url)
    maintenance = urlunsplit(parts._replace(path="/postgres"))
    database = f"{DATABASE_PREFIX}_{name}"

    def admin(sql):
        with psycopg.connect(maintenance, autocommit=True) as conn:
            conn.execute(sql)

    admin(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")
    admin(f"CREATE DATABASE {database}")
    try:
        yield urlunsplit(parts._replace(path=f"/{database}"))
    finally:
        admin(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")


def markdown_table(rows):
    lines = [
        "| command | items | time (s) | per second | peak RSS (MB) | archive (MB) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        items = f"{row['items']:,}" if row["items"] else ""
        rate = f"{row['per_second']:,}" if row["per_second"] else ""
        lines.append(
            f"| {row['command']} | {items} | {row['seconds']:,} | {rate} | "
            f"{row['peak_rss_mb']:,} | {row.get('archive_mb', '')} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
