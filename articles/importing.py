"""Import articles from Markdown with front matter, and export them the same way."""

import datetime as dt
import gc
import shutil
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import frontmatter
import yaml
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.core.files import File
from django.core.validators import validate_slug
from django.db import DatabaseError, transaction
from django.db.models import Prefetch
from django.db.models.signals import post_save
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.text import slugify
from taggit.models import Tag, TaggedItem

from articles import library
from articles.caching import bump_content_version
from articles.models import (
    Article,
    ArticleImage,
    Category,
    Image,
    Reference,
    Reviewer,
)
from articles.services import publishing_problem, record_revision
from articles.signals import content_changed
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
    "images",
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


@dataclass
class ImportCache:
    """What one import run has looked up or created, so that each is read once per run.

    Keyed by the text the files give: the first file naming a category,
    author, reviewer or tag pays for the query, the rest reuse the row.
    """

    categories: dict[str, Category] = field(default_factory=dict)
    users: dict[str, AbstractBaseUser] = field(default_factory=dict)
    reviewers: dict[str, Reviewer] = field(default_factory=dict)
    tags: dict[str, Tag] = field(default_factory=dict)
    # Library images by the resolved path of their file.
    images: dict[str, Image] = field(default_factory=dict)
    _added: list = field(default_factory=list)

    def remember(self, table: dict, key: str, value):
        table[key] = value
        self._added.append((table, key))
        return value

    @contextmanager
    def file(self):
        """Forget what a file added if it fails: its rows were rolled back with it."""
        self._added = []
        try:
            yield
        except BaseException:
            for table, key in self._added:
                table.pop(key, None)
            raise
        finally:
            self._added = []


# The receivers of articles/signals.py that bump the content version on each save.
_CONTENT_SIGNALS = [
    (model, f"content-saved-{model.__name__}") for model in (Article, Category, Reviewer, Tag)
]


@contextmanager
def one_content_version_bump():
    """Bump the content version once at the end instead of on every save inside.

    Use it around a transaction that saves many rows: each bump costs two
    queries, and caches only see the new version once it commits anyway.
    """
    disconnected = [
        (model, uid)
        for model, uid in _CONTENT_SIGNALS
        if post_save.disconnect(sender=model, dispatch_uid=uid)
    ]
    try:
        yield
    finally:
        for model, uid in disconnected:
            post_save.connect(content_changed, sender=model, dispatch_uid=uid)
    bump_content_version()


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
    cache: ImportCache | None = None,
) -> ImportResult:
    """Create or update one article from a Markdown file with YAML front matter.

    The file is imported whole or not at all, and every failure the import
    foresees is an ArticleImportError naming the field at fault. An article with the
    same slug is updated, or left alone when ``update_existing`` is false.
    A file without an author is credited to ``default_author``, if given.
    ``claimed`` maps the slugs imported earlier in the same run to their
    files; a second file with one of them is refused. ``cache`` carries the
    rows looked up by earlier files of the same run.
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
            cache=cache,
            folder=Path(path).parent,
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
    cache: ImportCache | None = None,
    folder: Path | None = None,
) -> ImportResult:
    """Create or update one article from front matter and a Markdown body.

    The ``images`` its front matter lists are files under ``folder`` (as
    export_articles writes them), added to the library unless already there.
    Without an ``author`` key the article is credited to ``default_author``.
    A slug in ``claimed`` (slug -> the file that imported it earlier in the
    same run) is refused rather than overwritten. ``cache`` is shared by
    the files of one run.
    """
    cache = cache if cache is not None else ImportCache()
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

    with cache.file(), transaction.atomic():
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
        article.category = _category(metadata, cache)
        article.author = _author(metadata, cache, default=default_author)
        article.review_note = _text(metadata, "review_note")
        article.reviewed_by = _reviewer(metadata, cache)
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
        if shown := _images(metadata, folder, cache):
            article.body = library.refer_to_library(article.body, shown)

        if article.status == Article.Status.PUBLISHED and (problem := publishing_problem(article)):
            raise ArticleImportError("reviewer", problem)
        # The model's limits, as the admin applies them, before the body is rendered.
        try:
            article.full_clean(exclude=["category", "author"], validate_constraints=False)
            _validate_constraints(article)
        except ValidationError as error:
            field, messages = next(iter(error.message_dict.items()))
            raise ArticleImportError(_FIELD_KEYS.get(field, field), " ".join(messages)) from error
        # As the admin form refuses them: the page would not show them.
        if _may_show_images(article.body) and (
            foreign := library.render_with_library(article.body, report=True).foreign_images
        ):
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
        _set_tags(article, tags, cache, created=created)
        if not created:
            article.references.all().delete()
        for reference in references:
            reference.article = article
        Reference.objects.bulk_create(references)
        record_revision(article)
    return ImportResult(article, "created" if created else "updated")


IMAGE_KEYS = {"file", "alt", "caption", "credit"}


def _images(metadata: dict, folder: Path | None, cache: ImportCache) -> dict[str, Image]:
    """Return the library images the front matter lists, by the name the body gives their file."""
    entries = metadata.get("images") or []
    if not isinstance(entries, list):
        raise ArticleImportError("images", "must be a list of files with their alt text")
    found = {}
    for entry in entries:
        if not isinstance(entry, dict) or not isinstance(entry.get("file"), str):
            raise ArticleImportError("images", "each image needs a file: and an alt:")
        if unknown := sorted(set(map(str, entry)) - IMAGE_KEYS):
            raise ArticleImportError("images", f"unknown key {quote(unknown[0])}")
        name = entry["file"]
        # Only a file beside the article's: never an absolute path or one above it.
        relative = Path(name)
        if folder is None or relative.is_absolute() or ".." in relative.parts:
            raise ArticleImportError(
                "images", f"{quote(name)} must be a file under the article's folder"
            )
        path = (folder / relative).resolve()
        if str(path) not in cache.images:
            cache.remember(cache.images, str(path), _library_image(path, name, entry))
        found[name] = cache.images[str(path)]
    return found


def _library_image(path: Path, name: str, entry: dict) -> Image:
    """Return the library's copy of the picture at ``path``, adding it if it is new."""
    if not path.is_file():
        raise ArticleImportError("images", f"{quote(name)} is not there")
    with path.open("rb") as file:
        checksum = library.file_checksum(file)
        if existing := Image.objects.filter(checksum=checksum).order_by("pk").first():
            return existing
        upload = File(file, name=path.name)
        try:
            return library.create_image(
                file=upload,
                alt=_text(entry, "alt", required=True),
                caption=_text(entry, "caption"),
                credit=_text(entry, "credit"),
            )
        except ValidationError as error:
            messages = " ".join(m for ms in error.message_dict.values() for m in ms)
            raise ArticleImportError("images", f"{quote(name)}: {messages}") from error


# Article's check constraints that its field validators and clean() already
# enforce. Each check in the database costs three queries (a savepoint, the
# check, its release), nine per file for these three, for no other outcome.
_CONSTRAINTS_CHECKED_BY_CLEAN = {
    "article_published_has_date",
    "article_cover_has_alt",
    "article_view_count_range",
}


def _validate_constraints(article: Article) -> None:
    """Check the article's other constraints, as full_clean() would."""
    for constraint in article._meta.constraints:
        if constraint.name in _CONSTRAINTS_CHECKED_BY_CLEAN:
            continue
        try:
            constraint.validate(Article, article, exclude={"category", "author"})
        except ValidationError as error:
            raise ValidationError({NON_FIELD_ERRORS: error.messages}) from error


def _may_show_images(body: str) -> bool:
    """Return whether ``body`` holds any syntax that can make an image."""
    # Only Markdown's ![...] and raw <img> or srcset do; checking for them
    # spares most files a second rendering of their body (save() renders it).
    lowered = body.lower()
    return "![" in body or "<img" in lowered or "srcset" in lowered


def _set_tags(article: Article, names: list[str], cache: ImportCache, *, created: bool) -> None:
    """Give ``article`` exactly the tags ``names``, in a few queries whatever their number."""
    if missing := [name for name in names if name not in cache.tags]:
        found = {tag.name: tag for tag in Tag.objects.filter(name__in=missing)}
        for name in missing:
            # create() rather than bulk_create(): the tag finds itself a unique slug.
            cache.remember(cache.tags, name, found.get(name) or Tag.objects.create(name=name))
    wanted = {cache.tags[name].pk for name in names}
    content_type = ContentType.objects.get_for_model(Article)
    items = TaggedItem.objects.filter(content_type=content_type, object_id=article.pk)
    existing = set() if created else set(items.values_list("tag_id", flat=True))
    if existing - wanted:
        items.filter(tag_id__in=existing - wanted).delete()
    TaggedItem.objects.bulk_create(
        TaggedItem(content_type=content_type, object_id=article.pk, tag_id=pk)
        for pk in sorted(wanted - existing)
    )


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


def _reviewer(metadata: dict, cache: ImportCache) -> Reviewer | None:
    """Find the reviewer by slug; a mapping with name and credentials creates them if missing."""
    value = metadata.get("reviewer")
    if value is None:
        return None
    if isinstance(value, str):
        if (reviewer := cache.reviewers.get(value.strip())) is not None:
            return reviewer
        reviewer = Reviewer.objects.filter(slug=value.strip()).first()
        if reviewer is None:
            raise ArticleImportError("reviewer", f"no reviewer with slug {quote(value)}")
        return cache.remember(cache.reviewers, reviewer.slug, reviewer)
    if not isinstance(value, dict) or set(map(str, value)) - set(REVIEWER_KEYS):
        raise ArticleImportError(
            "reviewer", f"expected a slug or a mapping of {', '.join(REVIEWER_KEYS)}"
        )
    fields = {key: _text(value, key) for key in REVIEWER_KEYS}
    if (reviewer := cache.reviewers.get(fields["slug"])) is not None:
        return reviewer
    reviewer = Reviewer.objects.filter(slug=fields["slug"]).first()
    if reviewer is not None:
        return cache.remember(cache.reviewers, reviewer.slug, reviewer)
    reviewer = Reviewer(**fields)
    try:
        reviewer.full_clean()
    except ValidationError as error:
        field, messages = next(iter(error.message_dict.items()))
        raise ArticleImportError(f"reviewer {field}", " ".join(messages)) from error
    reviewer.save()
    return cache.remember(cache.reviewers, reviewer.slug, reviewer)


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


def _category(metadata: dict, cache: ImportCache) -> Category:
    name = _text(metadata, "category", required=True)
    if (category := cache.categories.get(name)) is not None:
        return category
    category = Category.objects.filter(name__iexact=name).first()
    if category is not None:
        return cache.remember(cache.categories, name, category)
    category = Category(name=name, slug=slugify(name)[:100])
    try:
        category.full_clean()
    except ValidationError as error:
        raise ArticleImportError(
            "category", " ".join(f"{quote(name)}: {m}" for m in error.messages)
        ) from error
    category.save()
    return cache.remember(cache.categories, name, category)


def _author(metadata: dict, cache: ImportCache, *, default: AbstractBaseUser | None = None):
    user_model = get_user_model()
    username = _text(metadata, "author")
    if not username and default is not None:
        return default
    if (user := cache.users.get(username)) is not None:
        return user
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
    return cache.remember(cache.users, username, user)


# Export ------------------------------------------------------------------


def export_article(article: Article, images: list[Image] | None = None) -> str:
    """Return ``article`` as Markdown with front matter that import_article reads back.

    The body's references to the library ``images`` point at their exported
    files (library.export_name), which the front matter lists with their text.
    """
    metadata = {
        "title": article.title,
        "slug": article.slug,
        "category": article.category.name,
        "status": article.status,
        "published": article.published_at.isoformat() if article.published_at else None,
        "views": article.view_count,
        # all(), not names(): names() queries again even when the tags are prefetched.
        "tags": sorted(tag.name for tag in article.tags.all()),
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
    body = article.body.strip()
    if images:
        metadata["images"] = [
            {
                "file": library.export_name(image),
                **{
                    key: getattr(image, key)
                    for key in ("alt", "caption", "credit")
                    if getattr(image, key)
                },
            }
            for image in images
        ]
        body = library.refer_to_files(
            body, {image.pk: library.export_name(image) for image in images}
        )
    return f"---\n{dump_front_matter(metadata)}---\n\n{body}\n"


def _printable_ascii(value) -> bool:
    if isinstance(value, str):
        return value.isascii() and value.isprintable()
    if isinstance(value, dict):
        return all(map(_printable_ascii, value.values()))
    if isinstance(value, list):
        return all(map(_printable_ascii, value))
    return True


def dump_front_matter(metadata: dict) -> str:
    """Return ``metadata`` as YAML, with libyaml's emitter when that writes the same bytes."""
    # libyaml writes the same YAML as PyYAML's own emitter, four times as
    # fast, but escapes characters outside the BMP (emoji) and may differ on
    # other non-ASCII or multi-line text: those keep the pure-Python emitter.
    fast = getattr(yaml, "CSafeDumper", None)
    dumper = fast if fast is not None and _printable_ascii(metadata) else yaml.SafeDumper
    return yaml.dump(metadata, Dumper=dumper, sort_keys=False, allow_unicode=True, width=1000)


# Articles read per query while exporting, with their tags and references
# prefetched per chunk: memory stays flat and each chunk costs two more queries.
EXPORT_CHUNK_SIZE = 1000


def articles_to_export():
    """Return every article in id order, with what export_article reads."""
    return (
        Article.objects.select_related("category", "author", "reviewed_by")
        .prefetch_related(
            "tags",
            "references",
            Prefetch("image_uses", queryset=ArticleImage.objects.select_related("image")),
        )
        # Derived from the body on import; never exported.
        .defer("body_html", "toc", "cover_renditions")
        .order_by("pk")
    )


def export_articles(directory: Path, *, chunk_size: int = EXPORT_CHUNK_SIZE):
    """Write every article to ``directory`` as <slug>.md; yield each path as it is written.

    Articles are streamed ``chunk_size`` at a time, never all held at once.
    """
    directory.mkdir(parents=True, exist_ok=True)
    articles = articles_to_export().iterator(chunk_size=chunk_size)
    copied = set()
    for number, article in enumerate(articles, start=1):
        images = sorted((use.image for use in article.image_uses.all()), key=lambda i: i.pk)
        for image in images:
            if image.pk not in copied:
                _copy_image(image, directory / library.export_name(image))
                copied.add(image.pk)
        path = directory / f"{article.slug}.md"
        path.write_text(export_article(article, images), encoding="utf-8")
        yield article, path
        if number % chunk_size == 0:
            # An article, its prefetched rows and its file fields refer to one
            # another: left to the rare full collections, finished chunks
            # pile up and memory grows with the number of articles.
            gc.collect()


def _copy_image(image: Image, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    with image.file.open("rb") as source, target.open("wb") as copy:
        shutil.copyfileobj(source, copy)
