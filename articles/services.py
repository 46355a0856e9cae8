"""Writes: counting views, the editorial workflow, importing and exporting articles."""

import datetime as dt
import difflib
import functools
import re
import secrets
import uuid
from dataclasses import dataclass
from pathlib import Path

import frontmatter
import redis
import yaml
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.core.validators import validate_slug
from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.http import HttpRequest
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.text import Truncator, normalize_newlines, slugify
from django.utils.translation import gettext

from articles.models import (
    Article,
    ArticleRevision,
    ArticleSlug,
    AuthorProfile,
    Category,
    ContentVersion,
    Reference,
    Reviewer,
    ViewFlush,
)
from articles.rendering import render_body
from articles.roles import AUTHORS, EDITORS
from articles.selectors import next_publication, remember_content_version

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
        article.view_count = _buffered_count(article.pk, countable, stored=article.view_count)
        return countable
    if countable:
        Article.objects.filter(pk=article.pk).update(view_count=F("view_count") + 1)
        article.view_count += 1
    return countable


def count_view(article_id: int, request: HttpRequest) -> int | None:
    """Count this request's view of an article if it is one; return the figure to show.

    For a page served from cache, which knows the article's id only. Counting
    directly, one UPDATE ... RETURNING both counts and reads; buffered, one
    Redis call does, with no query at all once the article's shown total is
    in Redis. Return None when the article is gone.
    """
    countable = is_countable_view(request)
    if settings.HEALTHHUB_VIEW_COUNTER == "buffered":
        total, generation = _buffered_total(article_id, countable)
        if total is not None:
            return total
        countable = False  # counted already
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
        row = cursor.fetchone()
    if row is None or settings.HEALTHHUB_VIEW_COUNTER != "buffered":
        return row and row[0]
    return _buffered_count(article_id, False, stored=row[0], generation=generation)


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
def view_buffer() -> redis.Redis:
    """Return the Redis client for buffered views (one pool per process)."""
    return redis.Redis.from_url(settings.HEALTHHUB_VIEW_BUFFER_URL, decode_responses=True)


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
    client = view_buffer()
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


def _apply_batch(client: redis.Redis, key: str) -> int:
    day, batch_id = key.rsplit(":", 2)[1:]
    date = dt.date.fromisoformat(day)
    counts = {int(pk): int(n) for pk, n in client.hgetall(key).items() if int(n) > 0}
    try:
        with transaction.atomic():
            existing = set(Article.objects.filter(pk__in=counts).values_list("pk", flat=True))
            counts = {pk: n for pk, n in counts.items() if pk in existing}
            ViewFlush.objects.create(batch=batch_id, date=date, views=sum(counts.values()))
            # Always in id order, so two flushes never wait on each other's rows.
            for pk, views in sorted(counts.items()):
                _add_views(pk, views, date)
    except IntegrityError:
        # Another flush recorded this batch id first; it is applied already.
        if not ViewFlush.objects.filter(batch=batch_id).exists():
            raise
        counts = {}
    with client.pipeline() as pipe:
        pipe.delete(key).srem(_key("batches"), key).incr(_key("flush-generation")).execute()
    return sum(counts.values())


def _add_views(article_id: int, views: int, date: dt.date) -> None:
    articles = Article.objects.filter(pk=article_id)
    if views == 1:
        # A step of exactly one fires the reader-view tally trigger, which
        # would tally it for today; two steps keep the tally to this batch's day.
        articles.update(view_count=F("view_count") + 2)
        articles.update(view_count=F("view_count") - 1)
    else:
        articles.update(view_count=F("view_count") + views)
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO articles_dailyviews (article_id, date, views) VALUES (%s, %s, %s) "
            "ON CONFLICT (article_id, date) "
            "DO UPDATE SET views = articles_dailyviews.views + excluded.views",
            [article_id, date, views],
        )


# Fields Article.render() derives from the body.
RENDERED_FIELDS = ("body_html", "toc", "word_count", "reading_minutes", "readability_grade")


def bulk_create_articles(articles: list[Article], *, batch_size: int = 500) -> list[Article]:
    """Insert many new articles at once, with what save() would derive and record.

    Each distinct body is rendered once, and every article's slug is entered
    in the slug history, as a save would do. Return the created articles.
    """
    derived = {}
    for article in articles:
        if article.body not in derived:
            article.render()
            derived[article.body] = {name: getattr(article, name) for name in RENDERED_FIELDS}
        for name, value in derived[article.body].items():
            setattr(article, name, value)
    created = Article.objects.bulk_create(articles, batch_size=batch_size)
    ArticleSlug.objects.bulk_create(
        [ArticleSlug(slug=article.slug, article=article) for article in created],
        batch_size=batch_size,
    )
    return created


def bump_content_version() -> int:
    """Invalidate every cached fragment that depends on published content.

    The version is a fresh random number, so a version rolled back with its
    transaction is never current again. Inside a transaction, other threads
    and processes see the new version only once it commits, together with
    the rows that changed. Return the new version.
    """
    version = secrets.randbits(62)
    due = next_publication()
    if not ContentVersion.objects.filter(pk=1).update(version=version, next_due=due):
        ContentVersion.objects.get_or_create(pk=1, defaults={"version": version, "next_due": due})
        version, due = ContentVersion.objects.values_list("version", "next_due").get(pk=1)
    remember_content_version(version, due)
    return version


# Editorial workflow --------------------------------------------------------


def requires_review(category: Category) -> bool:
    """Return whether ``category`` or a category above it requires a medical review."""
    seen = set()
    while category is not None and category.pk not in seen:
        if category.requires_review:
            return True
        seen.add(category.pk)
        category = category.parent
    return False


def publishing_problem(article: Article) -> str | None:
    """Return why ``article`` may not be published yet, or None."""
    if article.reviewed_by_id is None and requires_review(article.category):
        return (
            f"“{article.category.name}” articles need a medical reviewer before they are "
            "published. Choose the reviewer who checked this article."
        )
    return None


def record_revision(article: Article, *, user=None) -> ArticleRevision:
    """Store a snapshot of ``article`` as it is now saved, with what changed since the last one."""
    revision = ArticleRevision(
        article=article,
        title=article.title,
        excerpt=article.excerpt,
        body=article.body,
        category_id=article.category_id,
        tags=sorted(article.tags.names()),
        status=article.status,
        created_by=user if user is not None and user.is_authenticated else None,
    )
    previous = article.revisions.select_related("category").first()
    summary = summarise_changes(previous, revision)
    revision.summary = Truncator(summary).chars(
        ArticleRevision._meta.get_field("summary").max_length
    )
    revision.save()
    return revision


def summarise_changes(previous: ArticleRevision | None, revision: ArticleRevision) -> str:
    """Return one line saying what changed from ``previous`` to ``revision``."""
    if previous is None:
        # An article older than its first revision was not created by this save.
        return gettext("Created") if revision.article.version == 1 else gettext("First revision")
    changes = []
    if previous.status != revision.status:
        changes.append(
            gettext("Status: %(old)s → %(new)s")
            % {"old": previous.get_status_display(), "new": revision.get_status_display()}
        )
    if previous.category_id != revision.category_id:
        # A revision loses its category only when the category is deleted.
        old_category = previous.category or gettext("(deleted)")
        changes.append(
            gettext("Category: %(old)s → %(new)s") % {"old": old_category, "new": revision.category}
        )
    if text_lines(previous.title) != text_lines(revision.title):
        changes.append(gettext("Title edited"))
    old_tags, new_tags = set(previous.tags), set(revision.tags)
    if old_tags != new_tags:
        signed = [f"+{tag}" for tag in sorted(new_tags - old_tags)]
        signed += [f"\u2212{tag}" for tag in sorted(old_tags - new_tags)]
        changes.append(gettext("Tags: %(tags)s") % {"tags": " ".join(signed)})
    if text_lines(previous.excerpt) != text_lines(revision.excerpt):
        changes.append(gettext("Excerpt edited"))
    added, removed = count_changed_lines(previous.body, revision.body)
    if added or removed:
        changes.append(
            gettext("Body: +%(added)d/\u2212%(removed)d lines")
            % {"added": added, "removed": removed}
        )
    return " · ".join(changes) or gettext("No changes")


def text_lines(text: str) -> list[str]:
    """Split ``text`` into lines, whichever line endings it was stored with."""
    return normalize_newlines(text).splitlines()


def count_changed_lines(old: str, new: str) -> tuple[int, int]:
    """Return how many lines going from ``old`` to ``new`` adds and removes."""
    matcher = difflib.SequenceMatcher(a=text_lines(old), b=text_lines(new), autojunk=False)
    added = removed = 0
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag != "equal":
            removed += i2 - i1
            added += j2 - j1
    return added, removed


@transaction.atomic
def restore_revision(revision: ArticleRevision, *, user=None) -> Article:
    """Put a revision's text, category and tags back; record that as a new revision.

    The status stays as it is: who may publish, and when, is decided on the
    form and by the admin actions, under their rules. Raise ValidationError
    when the restored category would leave a live article without the
    medical review it requires.
    """
    article = revision.article
    article.title = revision.title
    article.excerpt = revision.excerpt
    article.body = revision.body
    if revision.category_id is not None:
        article.category_id = revision.category_id
    if article.status == Article.Status.PUBLISHED and (problem := publishing_problem(article)):
        raise ValidationError(problem)
    article.save()
    article.tags.set(revision.tags)
    record_revision(article, user=user)
    return article


@transaction.atomic
def set_status(articles, status: str, *, user=None) -> int:
    """Move each article to ``status`` (publishing now if it has no date); return how many moved.

    Articles already in that status are left alone.
    """
    changed = 0
    for article in articles:
        if article.status == status and not (
            status == Article.Status.PUBLISHED and article.published_at > timezone.now()
        ):
            continue
        article.status = status
        if status == Article.Status.PUBLISHED:
            now = timezone.now()
            if article.published_at is None or article.published_at > now:
                article.published_at = now
        article.save()
        record_revision(article, user=user)
        changed += 1
    return changed


@transaction.atomic
def move_to_category(articles, category: Category, *, user=None) -> tuple[int, list[Article]]:
    """Move each article to ``category``; return how many moved and the ones refused.

    A published article is refused when ``category`` requires a medical
    review it does not have, as publishing it there would be.
    """
    changed, refused = 0, []
    for article in articles:
        if article.category_id == category.pk:
            continue
        article.category = category
        if article.status == Article.Status.PUBLISHED and publishing_problem(article):
            refused.append(article)
            continue
        article.save()
        record_revision(article, user=user)
        changed += 1
    return changed, refused


# People --------------------------------------------------------------------

STAFF_ROLES = (AUTHORS, EDITORS)


@transaction.atomic
def add_staff_member(
    *,
    username: str,
    password: str,
    role: str,
    first_name: str = "",
    last_name: str = "",
    email: str = "",
):
    """Create a user who can sign in to the admin, in ``role``'s group, with an author profile."""
    if role not in STAFF_ROLES:
        raise ValueError(f"Unknown role {role!r}; expected one of {', '.join(STAFF_ROLES)}.")
    # Looked up first, so a missing group leaves no half-made user behind.
    group = Group.objects.get(name=role)
    user = get_user_model()(
        username=username,
        first_name=first_name,
        last_name=last_name,
        email=email,
        is_staff=True,
    )
    user.set_password(password)
    user.save()
    user.groups.add(group)
    AuthorProfile.objects.create(user=user)
    return user


def author_profile_for(user) -> AuthorProfile:
    """Return ``user``'s author profile, creating an empty one if they have none."""
    profile, _created = AuthorProfile.objects.get_or_create(user=user)
    return profile


# Import ------------------------------------------------------------------

FRONT_MATTER_FIELDS = {
    "title",
    "slug",
    "category",
    "published",
    "views",
    "tags",
    "excerpt",
    "author",
    "status",
    "updated",
    "review_note",
    "reviewer",
    "last_reviewed",
    "references",
    "cover_image",
    "cover_alt",
}
# Model field name -> front matter key, to name the field the author wrote.
_FIELD_KEYS = {
    "published_at": "published",
    "view_count": "views",
    "body": "body",
    "content_updated_at": "updated",
    "reviewed_by": "reviewer",
}
REFERENCE_KEYS = ("title", "publisher", "year", "url", "doi", "pmid")
REVIEWER_KEYS = ("slug", "name", "credentials", "bio", "profile_url")


class ArticleImportError(Exception):
    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True)
class ImportResult:
    article: Article
    action: str  # "created", "updated" or "skipped"


def import_article_file(
    path: Path, *, update_existing: bool = True, default_author: AbstractBaseUser | None = None
) -> ImportResult:
    """Create or update one article from a Markdown file with YAML front matter.

    The file is imported whole or not at all. An article with the same slug
    is updated, or left alone when ``update_existing`` is false. A file
    without an author is credited to ``default_author``, if given.
    """
    try:
        post = frontmatter.loads(Path(path).read_text(encoding="utf-8"))
    except UnicodeDecodeError as error:
        raise ArticleImportError("file", f"not UTF-8 text ({error.reason})") from error
    except yaml.YAMLError as error:
        # One line, so the command's report stays one line per file.
        problem = " ".join(str(error).split())
        raise ArticleImportError("front matter", f"invalid YAML: {problem}") from error
    except ValueError as error:
        # PyYAML raises a bare ValueError for an unquoted impossible date (2026-02-30).
        raise ArticleImportError("front matter", f"invalid value: {error}") from error
    return import_article(
        post.metadata,
        post.content,
        update_existing=update_existing,
        default_author=default_author,
    )


def import_article(
    metadata: dict,
    body: str,
    *,
    update_existing: bool = True,
    default_author: AbstractBaseUser | None = None,
) -> ImportResult:
    """Create or update one article from front matter and a Markdown body.

    Without an ``author`` key the article is credited to ``default_author``.
    """
    if not isinstance(metadata, dict) or not metadata:
        raise ArticleImportError("front matter", "missing; the file must start with a --- block")
    unknown = sorted(set(map(str, metadata)) - FRONT_MATTER_FIELDS)
    if unknown:
        raise ArticleImportError(
            unknown[0], f"unknown field; expected one of {', '.join(sorted(FRONT_MATTER_FIELDS))}"
        )

    title = _text(metadata, "title", required=True)
    slug = _text(metadata, "slug") or slugify(title)
    try:
        validate_slug(slug)
    except ValidationError as error:
        raise ArticleImportError("slug", f"{slug!r} is not a valid slug") from error
    if not body.strip():
        raise ArticleImportError("body", "the article has no text after the front matter")

    with transaction.atomic():
        article = Article.objects.filter(slug=slug).first()
        if article is not None and not update_existing:
            return ImportResult(article, "skipped")
        created = article is None
        if created:
            article = Article(slug=slug)

        article.title = title
        article.body = body.strip() + "\n"
        article.excerpt = _text(metadata, "excerpt")
        article.status = _text(metadata, "status") or Article.Status.PUBLISHED
        article.published_at = _datetime(metadata, "published")
        article.category = _category(metadata)
        article.author = _author(metadata, default=default_author)
        article.review_note = _text(metadata, "review_note")
        article.reviewed_by = _reviewer(metadata)
        article.last_reviewed = _date(metadata, "last_reviewed")
        article.cover_image = _text(metadata, "cover_image")
        article.cover_alt = _text(metadata, "cover_alt")
        updated = _datetime(metadata, "updated") if metadata.get("updated") else None
        references = _references(metadata)
        views = _views(metadata)
        if created:
            article.view_count = views or 0
        tags = _tags(metadata)

        if article.status == Article.Status.PUBLISHED and (problem := publishing_problem(article)):
            raise ArticleImportError("reviewer", problem)
        # As the admin form refuses them: the page would not show them.
        if foreign := render_body(article.body, report=True).foreign_images:
            shown = ", ".join(dict.fromkeys(url[:80] for url in foreign))
            raise ArticleImportError("body", f"images not on this site: {shown}")
        try:
            article.full_clean(exclude=["category", "author"])
        except ValidationError as error:
            field, messages = next(iter(error.message_dict.items()))
            raise ArticleImportError(_FIELD_KEYS.get(field, field), " ".join(messages)) from error
        article.save()
        if not created and views is not None:
            Article.objects.filter(pk=article.pk).update(view_count=views)
            article.view_count = views
        if updated is not None:
            # Set after saving, which would otherwise date a substantial edit now.
            Article.objects.filter(pk=article.pk).update(content_updated_at=updated)
            article.content_updated_at = updated
        article.tags.set(tags)
        article.references.all().delete()
        for reference in references:
            reference.article = article
        Reference.objects.bulk_create(references)
        record_revision(article)
    return ImportResult(article, "created" if created else "updated")


def _text(metadata: dict, key: str, *, required: bool = False) -> str:
    value = metadata.get(key)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise ArticleImportError(key, "required")
        return ""
    if not isinstance(value, str | int | float) or isinstance(value, bool):
        raise ArticleImportError(key, f"expected text, got {type(value).__name__}")
    return str(value).strip()


def _datetime(metadata: dict, key: str) -> dt.datetime | None:
    if key not in metadata:
        return timezone.now()
    value = metadata[key]
    if value is None:  # written out as null: a draft that never had a date
        return None
    if isinstance(value, str):
        try:
            parsed = parse_datetime(value.strip()) or parse_date(value.strip())
        except ValueError:  # well formed but impossible, such as 2026-02-30
            parsed = None
        if parsed is None:
            raise ArticleImportError(key, f"{value!r} is not a date (use YYYY-MM-DD or ISO 8601)")
        value = parsed
    if isinstance(value, dt.datetime):
        return value if timezone.is_aware(value) else timezone.make_aware(value)
    if isinstance(value, dt.date):
        return timezone.make_aware(dt.datetime.combine(value, dt.time()))
    raise ArticleImportError(key, f"expected a date, got {type(value).__name__}")


def _date(metadata: dict, key: str) -> dt.date | None:
    value = metadata.get(key)
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = parse_date(value.strip())
        except ValueError:
            value = None
        if value is None:
            raise ArticleImportError(key, f"{metadata[key]!r} is not a date (use YYYY-MM-DD)")
    if isinstance(value, dt.datetime) or not isinstance(value, dt.date):
        raise ArticleImportError(key, "expected a date such as 2026-03-14")
    return value


def _reviewer(metadata: dict) -> Reviewer | None:
    """Find the reviewer by slug; a mapping with name and credentials creates them if missing."""
    value = metadata.get("reviewer")
    if value is None:
        return None
    if isinstance(value, str):
        reviewer = Reviewer.objects.filter(slug=value.strip()).first()
        if reviewer is None:
            raise ArticleImportError("reviewer", f"no reviewer with slug {value!r}")
        return reviewer
    if not isinstance(value, dict) or set(map(str, value)) - set(REVIEWER_KEYS):
        raise ArticleImportError(
            "reviewer", f"expected a slug or a mapping of {', '.join(REVIEWER_KEYS)}"
        )
    fields = {key: _text(value, key) for key in REVIEWER_KEYS}
    reviewer = Reviewer.objects.filter(slug=fields["slug"]).first()
    if reviewer is not None:
        return reviewer
    reviewer = Reviewer(**fields)
    try:
        reviewer.full_clean()
    except ValidationError as error:
        field, messages = next(iter(error.message_dict.items()))
        raise ArticleImportError(f"reviewer {field}", " ".join(messages)) from error
    reviewer.save()
    return reviewer


def _references(metadata: dict) -> list[Reference]:
    value = metadata.get("references")
    if value is None:
        return []
    if not isinstance(value, list):
        raise ArticleImportError("references", "expected a list of mappings with a title")
    references = []
    for position, item in enumerate(value, start=1):
        if not isinstance(item, dict) or set(map(str, item)) - set(REFERENCE_KEYS):
            raise ArticleImportError(
                "references", f"item {position}: use only {', '.join(REFERENCE_KEYS)}"
            )
        year = item.get("year")
        if year is not None and (isinstance(year, bool) or not isinstance(year, int)):
            raise ArticleImportError("references", f"item {position}: year must be a number")
        reference = Reference(
            position=position,
            year=year,
            **{key: _text(item, key) for key in REFERENCE_KEYS if key != "year"},
        )
        try:
            reference.full_clean(exclude=["article"])
        except ValidationError as error:
            problem = " ".join(error.messages)
            raise ArticleImportError("references", f"item {position}: {problem}") from error
        references.append(reference)
    return references


def _views(metadata: dict) -> int | None:
    value = metadata.get("views")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**63:
        raise ArticleImportError("views", f"expected a whole number of 0 or more, got {value!r}")
    return value


def _tags(metadata: dict) -> list[str]:
    value = metadata.get("tags")
    if value is None:
        return []
    if not isinstance(value, list):
        raise ArticleImportError("tags", "expected a list, for example [sleep, stress]")
    tags = []
    for item in value:
        if not isinstance(item, str | int) or isinstance(item, bool) or not str(item).strip():
            raise ArticleImportError("tags", f"{item!r} is not a tag name")
        if len(str(item)) > 100:
            raise ArticleImportError("tags", "a tag is at most 100 characters")
        tags.append(str(item).strip())
    return tags


def _category(metadata: dict) -> Category:
    name = _text(metadata, "category", required=True)
    category = Category.objects.filter(name__iexact=name).first()
    if category is not None:
        return category
    category = Category(name=name, slug=slugify(name)[:100])
    try:
        category.full_clean()
    except ValidationError as error:
        raise ArticleImportError(
            "category", " ".join(f"{name!r}: {m}" for m in error.messages)
        ) from error
    category.save()
    return category


def _author(metadata: dict, *, default: AbstractBaseUser | None = None):
    user_model = get_user_model()
    username = _text(metadata, "author")
    if not username and default is not None:
        return default
    if not username:
        raise ArticleImportError(
            "author", "required: the username of the article's author (or import with --author)"
        )
    try:
        # The field's validators check the length as well, which PostgreSQL would
        # otherwise enforce with an error and SQLite would silently ignore.
        user_model._meta.get_field(user_model.USERNAME_FIELD).run_validators(username)
    except ValidationError as error:
        raise ArticleImportError("author", f"{username!r} is not a valid username") from error
    user, created = user_model.objects.get_or_create(
        username=username, defaults={"is_active": False}
    )
    if created:
        user.set_unusable_password()
        user.save(update_fields=["password"])
    return user


# Export ------------------------------------------------------------------


def export_article(article: Article) -> str:
    """Return ``article`` as Markdown with front matter that import_article reads back."""
    metadata = {
        "title": article.title,
        "slug": article.slug,
        "category": article.category.name,
        "status": article.status,
        "published": article.published_at.isoformat() if article.published_at else None,
        "views": article.view_count,
        "tags": sorted(article.tags.names()),
        "excerpt": article.excerpt,
        "author": article.author.get_username(),
    }
    if article.content_updated_at:
        metadata["updated"] = article.content_updated_at.isoformat()
    if article.review_note:
        metadata["review_note"] = article.review_note
    if article.reviewed_by:
        reviewer = article.reviewed_by
        metadata["reviewer"] = {
            key: getattr(reviewer, key) for key in REVIEWER_KEYS if getattr(reviewer, key)
        }
    if article.last_reviewed:
        metadata["last_reviewed"] = article.last_reviewed.isoformat()
    references = [
        {key: getattr(ref, key) for key in REFERENCE_KEYS if getattr(ref, key) not in ("", None)}
        for ref in article.references.all()
    ]
    if references:
        metadata["references"] = references
    if article.cover_image:
        metadata["cover_image"] = article.cover_image.name
        metadata["cover_alt"] = article.cover_alt
    front = yaml.safe_dump(metadata, sort_keys=False, allow_unicode=True, width=1000)
    return f"---\n{front}---\n\n{article.body.strip()}\n"


def export_articles(directory: Path):
    """Write every article to ``directory`` as <slug>.md; yield each path as it is written."""
    directory.mkdir(parents=True, exist_ok=True)
    articles = (
        Article.objects.select_related("category", "author", "reviewed_by")
        .prefetch_related("tags", "references")
        .order_by("pk")
    )
    for article in articles:
        path = directory / f"{article.slug}.md"
        path.write_text(export_article(article), encoding="utf-8")
        yield article, path
