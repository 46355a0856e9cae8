"""Time the admin pages over a database of generated articles, with the test client.

    python -m benchmarks.admin --articles 100000
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/x python -m benchmarks.admin --articles 100000

The database is built once per size and reused: a SQLite file in var/, or on
PostgreSQL a database named after the size on the server DATABASE_URL names
(``--drop`` removes it afterwards). Each page is loaded once to warm up, then
``--repeat`` times; the median time and the number of queries are reported.
"""

import argparse
import json
import os
import secrets
import statistics
import subprocess
import sys
import time
import warnings
from pathlib import Path
from urllib.parse import urlencode, urlsplit, urlunsplit

BASE_DIR = Path(__file__).resolve().parent.parent
TARGET_MS = 300
USERNAME = "bench-editor"


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.admin", description=__doc__)
    parser.add_argument("--articles", type=int, default=10_000, help="articles to generate")
    parser.add_argument("--repeat", type=int, default=3, help="timed loads per page")
    parser.add_argument("--only", default="", help="measure only pages whose name contains this")
    parser.add_argument("--generate-only", action="store_true", help="build the database only")
    parser.add_argument("--drop", action="store_true", help="drop the database afterwards")
    parser.add_argument("--sql", action="store_true", help="print each page's slowest queries")
    parser.add_argument("--output", default="", help="also write the results as JSON here")
    return parser.parse_args(argv)


def database_url(count: int) -> str:
    """Return the URL of the benchmark database for ``count`` articles."""
    base = os.environ.get("DATABASE_URL", "")
    if base.startswith(("postgres://", "postgresql://")):
        parts = urlsplit(base)
        return urlunsplit(parts._replace(path=f"/hh_admin_bench_{count}"))
    return f"sqlite:///{BASE_DIR / 'var' / f'admin-bench-{count}.sqlite3'}"


def _create_postgres_database(url: str) -> None:
    parts = urlsplit(url)
    result = subprocess.run(
        [
            "createdb",
            "-h",
            parts.hostname or "127.0.0.1",
            "-p",
            str(parts.port or 5432),
            "-U",
            parts.username or "postgres",
            parts.path.lstrip("/"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode and "already exists" not in result.stderr:
        sys.exit(result.stderr)


def _drop_database(url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme.startswith("sqlite"):
        for suffix in ("", "-wal", "-shm"):
            Path(parts.path + suffix).unlink(missing_ok=True)
        return
    subprocess.run(
        [
            "dropdb",
            "-h",
            parts.hostname or "127.0.0.1",
            "-p",
            str(parts.port or 5432),
            "-U",
            parts.username or "postgres",
            "--if-exists",
            parts.path.lstrip("/"),
        ],
        check=True,
    )


def main(argv=None):
    args = parse_args(argv)
    url = database_url(args.articles)
    if not url.startswith("sqlite"):
        _create_postgres_database(url)
    configure_environment(url)
    try:
        results = run(args)
    finally:
        if args.drop:
            from django.db import connections

            connections.close_all()
            _drop_database(url)
    if results is None:
        return
    print(markdown_table(results, args))
    if args.output:
        output = Path(args.output)
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(json.dumps(results, indent=2) + "\n")


def configure_environment(url: str) -> None:
    """Point Django at the benchmark database with production settings and no shared cache."""
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "healthhub.settings",
            "DATABASE_URL": url,
            "DJANGO_DEBUG": "0",
            "DJANGO_SECRET_KEY": os.environ.get("DJANGO_SECRET_KEY") or secrets.token_urlsafe(50),
            "DJANGO_ALLOWED_HOSTS": "testserver",
            # Local memory: the admin pages are not cached, and the public
            # pages measured here are timed uncached (the cache is cleared).
            "REDIS_URL": "",
            "CACHE_URL": "",
            # A slow page is measured, not cut off by the statement timeout.
            "HEALTHHUB_DB_TIMEOUT": "120",
            "LOG_LEVEL": "ERROR",
        }
    )


def run(args):
    import django

    # whitenoise's warning about the uncollected static folder.
    warnings.filterwarnings("ignore", message="No directory at")

    django.setup()
    from django.core.management import call_command

    from articles.models import Article

    call_command("migrate", verbosity=0)
    existing = Article.objects.count()
    if existing not in (0, args.articles):
        sys.exit(f"{existing} articles in {os.environ['DATABASE_URL']}, not {args.articles}")
    if not existing:
        from benchmarks.generate import generate

        started = time.monotonic()
        generate(args.articles)
        print(f"Generated {args.articles} articles in {time.monotonic() - started:.0f} s")
    _prepare_workflow_rows()
    if args.generate_only:
        return None
    from django.conf import settings
    from django.test.utils import override_settings

    # The pages' static files come from the finders; nothing is collected.
    storages = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    override_settings(STORAGES=storages).enable()
    pages = admin_pages()
    if args.only:
        pages = {name: url for name, url in pages.items() if args.only in name}
    return [measure(name, url, args.repeat, show_sql=args.sql) for name, url in pages.items()]


def _prepare_workflow_rows():
    """Add the rows the editorial pages list: an editor, drafts, reviews, revisions."""
    import datetime as dt

    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.utils import timezone

    from articles import services
    from articles.models import Article, Category, Reviewer

    # One section needs a medical review, so "reviews due" lists unreviewed articles too.
    Category.objects.filter(slug="conditions").update(requires_review=True)
    user_model = get_user_model()
    if user_model.objects.filter(username=USERNAME).exists():
        return
    editor = user_model.objects.create_superuser(USERNAME, "bench@example.com", "bench")
    reviewer = Reviewer.objects.create(name="Dr Bench", slug="dr-bench", credentials="MD")
    ids = list(Article.objects.order_by("pk").values_list("pk", flat=True))
    # A few of each state among the oldest articles, and reviews on a tenth.
    every = max(1, len(ids) // 100)
    Article.objects.filter(pk__in=ids[0:every]).update(status=Article.Status.DRAFT)
    Article.objects.filter(pk__in=ids[every : 2 * every]).update(status=Article.Status.IN_REVIEW)
    Article.objects.filter(pk__in=ids[2 * every : 3 * every]).update(
        published_at=timezone.now() + dt.timedelta(days=3)
    )
    today = timezone.localdate()
    Article.objects.filter(pk__in=ids[::10]).update(
        reviewed_by=reviewer, last_reviewed=today - dt.timedelta(days=400)
    )
    newest = Article.objects.order_by("-published_at", "-pk").first()
    for _ in range(3):
        services.record_revision(newest, user=editor)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")


def admin_pages() -> dict[str, str]:
    import datetime as dt

    from django.utils import timezone
    from taggit.models import Tag

    from articles.models import Article, Category
    from benchmarks.generate import COMMON_WORD, RARE_WORD

    article = Article.objects.order_by("-published_at", "-pk").first()
    middle = Article.objects.order_by("pk").values_list("pk", "slug")[Article.objects.count() // 2]
    category = Category.objects.filter(parent__isnull=False).order_by("pk").first()
    tag = Tag.objects.order_by("pk").first()
    # As the publish-date filter's own links give them: midnight, local time.
    today = timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0)
    # The admin shows 100 a page; at 10,000 articles page 500 does not exist.
    deep = min(500, Article.objects.count() // 100 - 1)
    changelist = "/admin/articles/article/"
    return {
        "admin index": "/admin/",
        "changelist, default": changelist,
        f"changelist, page {deep}": f"{changelist}?p={deep}",
        "changelist, sorted by title": f"{changelist}?o=1",
        "changelist, sorted by views": f"{changelist}?o=-7",
        "filter: draft": f"{changelist}?status=draft",
        "filter: in review": f"{changelist}?status=in_review",
        "filter: scheduled": f"{changelist}?status=scheduled",
        "filter: published (live)": f"{changelist}?status=published",
        "filter: archived": f"{changelist}?status=archived",
        "filter: review overdue": f"{changelist}?review=overdue",
        "filter: never reviewed": f"{changelist}?review=never",
        f"filter: never reviewed, page {deep // 2}": f"{changelist}?review=never&p={deep // 2}",
        "filter: category": f"{changelist}?category__id__exact={category.pk}",
        "filter: tag": f"{changelist}?tags__id__exact={tag.pk}",
        # The publish-date filter's links (admin.DateFieldListFilter).
        "publish date: past 7 days": changelist
        + "?"
        + urlencode(
            {
                "published_at__gte": str(today - dt.timedelta(days=7)),
                "published_at__lt": str(today + dt.timedelta(days=1)),
            }
        ),
        "publish date: this year": changelist
        + "?"
        + urlencode(
            {
                "published_at__gte": str(today.replace(month=1, day=1)),
                "published_at__lt": str(today.replace(year=today.year + 1, month=1, day=1)),
            }
        ),
        f"search: common word ({COMMON_WORD})": f"{changelist}?q={COMMON_WORD}",
        "search: anxiety": f"{changelist}?q=anxiety",
        f"search: rare word ({RARE_WORD})": f"{changelist}?q={RARE_WORD}",
        "search: slug": f"{changelist}?q={middle[1]}",
        "search: id": f"{changelist}?q={middle[0]}",
        "search: no match": f"{changelist}?q=zzzyzzy",
        "change form": f"{changelist}{article.pk}/change/",
        "revisions": f"{changelist}{article.pk}/revisions/",
        "statistics": f"{changelist}statistics/",
        "sitemap index (public)": "/sitemap.xml",
        "sitemap authors (public)": "/sitemap-authors.xml",
        "sitemap tags (public)": "/sitemap-tags.xml",
        "tag page (public, uncached)": f"/tag/{tag.slug}/",
    }


def measure(name: str, url: str, repeat: int, *, show_sql: bool = False) -> dict:
    from django.contrib.auth import get_user_model
    from django.core.cache import caches
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client()
    client.force_login(get_user_model().objects.get(username=USERNAME))
    public = "(public" in name

    def load():
        if public:
            for alias in ("default", "local"):
                caches[alias].clear()
        started = time.perf_counter()
        response = client.get(url)
        elapsed = time.perf_counter() - started
        if response.status_code != 200:
            raise RuntimeError(f"{name}: {url} answered {response.status_code}")
        return elapsed

    load()
    times = []
    with CaptureQueriesContext(connection) as queries:
        for _ in range(repeat):
            times.append(load())
    if show_sql:
        print(f"\n{name}: {statistics.median(times) * 1000:.0f} ms")
        for query in sorted(queries[: len(queries) // repeat], key=lambda q: -float(q["time"]))[:3]:
            print(f"  {float(query['time']) * 1000:7.1f} ms  {query['sql'][:600]}")
    return {
        "page": name,
        "url": url,
        "median_ms": round(statistics.median(times) * 1000, 1),
        "max_ms": round(max(times) * 1000, 1),
        "queries": len(queries) // repeat,
    }


def markdown_table(results: list[dict], args) -> str:
    from django.db import connection

    lines = [
        f"{args.articles:,} articles on {connection.vendor}, median of {args.repeat} "
        f"after a warm-up (target {TARGET_MS} ms for the admin)",
        "",
        "| page | median ms | max ms | queries | |",
        "|---|---:|---:|---:|---|",
    ]
    for row in results:
        verdict = "" if "(public" in row["page"] else "ok"
        if verdict and row["median_ms"] > TARGET_MS:
            verdict = "SLOW"
        lines.append(
            f"| {row['page']} | {row['median_ms']:.0f} | {row['max_ms']:.0f} "
            f"| {row['queries']} | {verdict} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
