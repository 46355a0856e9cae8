"""Import articles from Markdown with front matter, and export them the same way."""

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import frontmatter
import yaml
from django.contrib.auth import get_user_model
from django.contrib.auth.base_user import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.core.validators import validate_slug
from django.db import transaction
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
