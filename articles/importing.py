"""Import articles from Markdown with front matter, and export them the same way."""

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import frontmatter
import yaml
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.base_user import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.core.validators import validate_slug
from django.db import DatabaseError, transaction
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.text import slugify

from articles.models import (
    Article,
    Category,
    Reference,
    Reviewer,
)
from articles.rendering import render_body
from articles.services import publishing_problem, record_revision
from articles.validators import (
    MAX_VIEW_COUNT,
    body_size_error,
    tag_count_error,
    validate_date_range,
    validate_single_line_text,
)

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

# How much of an offending value a message quotes, and how long a message
# from a library (YAML, the database) may run: a report stays one short
# line per file whatever the file holds.
QUOTE_CHARS = 80
MESSAGE_CHARS = 300


def shorten(text: str, limit: int = MESSAGE_CHARS) -> str:
    """Return ``text`` on one line, cut to ``limit`` characters with "…"."""
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def quote(value) -> str:
    """Return ``value`` quoted for a message, at most QUOTE_CHARS characters of it."""
    if isinstance(value, str) and len(value) > QUOTE_CHARS:
        # Sliced before repr(), so a huge value is never copied whole.
        return repr(value[: QUOTE_CHARS - 1]) + "\u2026"
    return shorten(repr(value), QUOTE_CHARS)


class ArticleImportError(Exception):
    def __init__(self, field: str, message: str):
        field, message = shorten(field, QUOTE_CHARS), shorten(message)
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True)
class ImportResult:
    article: Article
    action: str  # "created", "updated" or "skipped"


class FrontMatterLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing anchors and aliases.

    Front matter never needs them, and a few lines of nested aliases (a
    "billion laughs") expand into gigabytes; refused as they are met, they
    cost nothing.
    """

    def compose_node(self, parent, index):
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
            raise yaml.composer.ComposerError(
                None,
                None,
                "anchors and aliases (&name, *name) are not allowed in front matter",
                event.start_mark,
            )
        return super().compose_node(parent, index)


class FrontMatterHandler(frontmatter.YAMLHandler):
    """Read the front matter as YAML, always, with FrontMatterLoader."""

    def load(self, fm, **kwargs):
        return yaml.load(fm, Loader=FrontMatterLoader)


def read_article_file(path: Path) -> str:
    """Return the text of ``path``, refusing a file over HEALTHHUB_MAX_IMPORT_FILE_KB unread."""
    limit_kb = settings.HEALTHHUB_MAX_IMPORT_FILE_KB
    limit = limit_kb * 1024
    try:
        size = path.stat().st_size
        if size <= limit:
            with path.open("rb") as file:
                # Never more than the limit, even if the file grew since.
                data = file.read(limit + 1)
            size = len(data)
    except OSError as error:
        raise ArticleImportError("file", f"cannot be read ({error.strerror or error})") from error
    if size > limit:
        raise ArticleImportError(
            "file",
            f"{-(-size // 1024):,} KB, over the import limit of {limit_kb:,} KB "
            "(HEALTHHUB_MAX_IMPORT_FILE_KB); not read",
        )
    try:
        # utf-8-sig: a byte order mark some editors add would hide the front matter.
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise ArticleImportError("file", f"not UTF-8 text ({error.reason})") from error


def import_article_file(
    path: Path,
    *,
    update_existing: bool = True,
    default_author: AbstractBaseUser | None = None,
    claimed: dict[str, object] | None = None,
) -> ImportResult:
    """Create or update one article from a Markdown file with YAML front matter.

    The file is imported whole or not at all, and every failure the import
    foresees is an ArticleImportError naming the field at fault. An article with the
    same slug is updated, or left alone when ``update_existing`` is false.
    A file without an author is credited to ``default_author``, if given.
    ``claimed`` maps the slugs imported earlier in the same run to their
    files; a second file with one of them is refused.
    """
    try:
        text = read_article_file(Path(path))
        try:
            post = frontmatter.loads(text, handler=FrontMatterHandler())
        except yaml.YAMLError as error:
            raise ArticleImportError("front matter", f"invalid YAML: {error}") from error
        except ValueError as error:
            # PyYAML raises a bare ValueError for an unquoted impossible date
            # (2026-02-30) or an integer of thousands of digits.
            raise ArticleImportError("front matter", f"invalid value: {error}") from error
        except RecursionError as error:
            raise ArticleImportError("front matter", "nested too deeply") from error
        return import_article(
            post.metadata,
            post.content,
            update_existing=update_existing,
            default_author=default_author,
            claimed=claimed,
        )
    except ArticleImportError:
        raise
    # Whatever else fails, the file's transaction has been rolled back:
    # report it on the file's line, so the run goes on with the next file.
    except ValidationError as error:
        raise ArticleImportError("file", " ".join(error.messages)) from error
    except DatabaseError as error:
        raise ArticleImportError("database", f"{type(error).__name__}: {error}") from error
    except (OverflowError, ValueError, TypeError) as error:
        raise ArticleImportError("value", f"{type(error).__name__}: {error}") from error
    except RecursionError as error:
        raise ArticleImportError("body", "nested too deeply to render") from error
    except MemoryError as error:
        raise ArticleImportError("file", "too large to import (out of memory)") from error


def import_article(
    metadata: dict,
    body: str,
    *,
    update_existing: bool = True,
    default_author: AbstractBaseUser | None = None,
    claimed: dict[str, object] | None = None,
) -> ImportResult:
    """Create or update one article from front matter and a Markdown body.

    Without an ``author`` key the article is credited to ``default_author``.
    A slug in ``claimed`` (slug -> the file that imported it earlier in the
    same run) is refused rather than overwritten.
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
        raise ArticleImportError("slug", f"{quote(slug)} is not a valid slug") from error
    if claimed and slug in claimed:
        raise ArticleImportError(
            "slug",
            f"{quote(slug)} was already imported from {claimed[slug]} in this run; "
            "give one of the two files another slug",
        )
    if not body.strip():
        raise ArticleImportError("body", "the article has no text after the front matter")
    body = body.strip() + "\n"
    # Checked before anything parses or renders the body.
    if error := body_size_error(len(body.encode("utf-8"))):
        raise ArticleImportError("body", " ".join(error.messages))

    with transaction.atomic():
        article = Article.objects.filter(slug=slug).first()
        if article is not None and not update_existing:
            return ImportResult(article, "skipped")
        created = article is None
        if created:
            article = Article(slug=slug)

        article.title = title
        article.body = body
        article.excerpt = _text(metadata, "excerpt")
        article.status = _text(metadata, "status") or Article.Status.PUBLISHED
        article.published_at = _datetime(metadata, "published")
        article.category = _category(metadata)
        article.author = _author(metadata, default=default_author)
        article.review_note = _text(metadata, "review_note")
        article.reviewed_by = _reviewer(metadata)
        article.last_reviewed = _date(metadata, "last_reviewed")
        article.cover_image = _single_line(metadata, "cover_image")
        article.cover_alt = _text(metadata, "cover_alt")
        updated = _datetime(metadata, "updated") if metadata.get("updated") else None
        if updated is not None:
            # Written after the save, so full_clean() below does not see it.
            _validate(validate_date_range, updated, "updated")
        references = _references(metadata)
        views = _views(metadata)
        if created:
            article.view_count = views or 0
        tags = _tags(metadata)

        if article.status == Article.Status.PUBLISHED and (problem := publishing_problem(article)):
            raise ArticleImportError("reviewer", problem)
        # The model's limits, as the admin applies them, before the body is rendered.
        try:
            article.full_clean(exclude=["category", "author"])
        except ValidationError as error:
            field, messages = next(iter(error.message_dict.items()))
            raise ArticleImportError(_FIELD_KEYS.get(field, field), " ".join(messages)) from error
        # As the admin form refuses them: the page would not show them.
        if foreign := render_body(article.body, report=True).foreign_images:
            shown = ", ".join(dict.fromkeys(url[:QUOTE_CHARS] for url in foreign))
            raise ArticleImportError("body", f"images not on this site: {shown}")
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


def _single_line(metadata: dict, key: str) -> str:
    """Return the text under ``key``, refusing what the model field itself does not check."""
    value = _text(metadata, key)
    _validate(validate_single_line_text, value, key)
    # A file field's length is checked by forms alone; PostgreSQL would refuse it.
    limit = Article._meta.get_field(key).max_length
    if limit is not None and len(value) > limit:
        raise ArticleImportError(key, f"at most {limit} characters (this one has {len(value)})")
    return value


def _validate(validator, value, key: str) -> None:
    try:
        validator(value)
    except ValidationError as error:
        raise ArticleImportError(key, " ".join(error.messages)) from error


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
            raise ArticleImportError(
                key, f"{quote(value)} is not a date (use YYYY-MM-DD or ISO 8601)"
            )
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
            raise ArticleImportError(key, f"{quote(metadata[key])} is not a date (use YYYY-MM-DD)")
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
            raise ArticleImportError("reviewer", f"no reviewer with slug {quote(value)}")
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
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_VIEW_COUNT:
        raise ArticleImportError(
            "views", f"expected a whole number from 0 to {MAX_VIEW_COUNT:,}, got {quote(value)}"
        )
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
            raise ArticleImportError("tags", f"{quote(item)} is not a tag name")
        if len(str(item)) > 100:
            raise ArticleImportError("tags", "a tag is at most 100 characters")
        name = str(item).strip()
        try:
            validate_single_line_text(name)
        except ValidationError as error:
            raise ArticleImportError(
                "tags", f"{quote(name)}: {' '.join(error.messages)}"
            ) from error
        tags.append(name)
    tags = list(dict.fromkeys(tags))
    if error := tag_count_error(len(tags)):
        raise ArticleImportError("tags", " ".join(error.messages))
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
            "category", " ".join(f"{quote(name)}: {m}" for m in error.messages)
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
        raise ArticleImportError("author", f"{quote(username)} is not a valid username") from error
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
