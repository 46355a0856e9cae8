"""The image library: uploads with their renditions, references from bodies, and image uses.

An article's body shows a library image with ``![alt](image:42)``; the
alt may be left empty to use the library's. References are resolved when
the article is rendered (``Article.render``), all in one query, and the
images each article shows are recorded as ``ArticleImage`` rows when it is
saved, so an image in use cannot be deleted.

Renditions are written under ``renditions/library/<image pk>/<token>/``
(``articles.images.build_renditions``), apart from the covers' folders,
which are named by article pk.
"""

import hashlib
import logging
import re
from pathlib import PurePosixPath

from django.core.exceptions import ValidationError
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import Q
from PIL import Image as PILImage

from articles import images
from articles.caching import bump_content_version
from articles.models import Article, ArticleImage, Image
from articles.rendering import LibraryImage, render_body

logger = logging.getLogger(__name__)

LIBRARY_RENDITIONS = "library"
# The rendition used as the <img src> for browsers that ignore srcset.
DEFAULT_WIDTH = 960
CHOOSER_PAGE_SIZE = 24
MAX_CHOOSER_PAGE = 200
MAX_QUERY_LENGTH = 100
EXTENSIONS = {"JPEG": "jpg", "MPO": "jpg", "PNG": "png", "WEBP": "webp", "GIF": "gif"}


# Permissions ----------------------------------------------------------------


def can_use_library(user) -> bool:
    """Return whether ``user`` may search the library and upload to it from the article form.

    Anyone who may write articles may illustrate them: staff with the add or
    change permission on articles or on images.
    """
    return bool(
        user.is_active
        and user.is_staff
        and any(
            user.has_perm(f"articles.{action}_{model}")
            for action in ("add", "change")
            for model in ("article", "image")
        )
    )


# Uploads --------------------------------------------------------------------


def create_image(*, file, alt: str, caption: str = "", credit: str = "", uploaded_by=None) -> Image:
    """Check an uploaded picture, store it with its renditions and return the new Image.

    Raise ValidationError, by field name, when the file or the text is
    refused; nothing is stored then.
    """
    image = Image(file=file, alt=alt, caption=caption, credit=credit, uploaded_by=uploaded_by)
    image.full_clean(exclude=["file", "uploaded_by"])
    store_image(image)
    return image


def store_image(image: Image) -> None:
    """Save a new Image whose file is an upload: checked, under a random name, with renditions."""
    upload = image.file.file
    try:
        images.validate_image_upload(upload)
    except ValidationError as error:
        raise ValidationError({"file": error.error_list}) from error
    # The name's extension comes from the content, so that a picture named
    # page.html is never served as a web page.
    image.file.name = f"image.{_extension(upload)}"
    image.checksum = file_checksum(upload)
    storage = image.file.storage
    with transaction.atomic():
        image.save()
        written = image.file.name
        try:
            data = images.build_renditions(
                storage, written, f"{LIBRARY_RENDITIONS}/{image.pk}", social=False
            )
        except images.UnreadableImage as error:
            storage.delete(written)
            raise ValidationError({"file": [images.NOT_AN_IMAGE]}) from error
        except Exception:
            storage.delete(written)
            raise
        image.renditions, image.width, image.height = data, data["width"], data["height"]
        image.save(update_fields=["renditions", "width", "height"])


def file_checksum(file) -> str:
    """Return the SHA-256 of an open file's content, leaving it at its start."""
    file.seek(0)
    digest = hashlib.sha256()
    while chunk := file.read(1 << 16):
        digest.update(chunk)
    file.seek(0)
    return digest.hexdigest()


def _extension(upload) -> str:
    upload.seek(0)
    try:
        with PILImage.open(upload) as picture:
            return EXTENSIONS.get(picture.format, "img")
    finally:
        upload.seek(0)


def delete_image_files(image: Image) -> None:
    """Delete a deleted Image's file and renditions once the deletion commits (post_delete)."""
    loaded = vars(image)
    file = loaded.get("file")
    name = getattr(file, "name", file) or ""
    storage = getattr(file, "storage", default_storage)
    renditions = loaded.get("renditions") or {}
    pk = image.pk

    def delete():
        if name:
            images._delete_file(storage, name)
        images.delete_renditions(renditions)
        # Also sets a rolled-back upload wrote and never recorded.
        images._delete_tree(f"{images.RENDITIONS_DIR}/{LIBRARY_RENDITIONS}/{pk}")

    transaction.on_commit(delete, using=image._state.db, robust=True)


# References -----------------------------------------------------------------


def library_image(image: Image) -> LibraryImage:
    """Return what a body needs to show ``image``: its URLs, size and text."""
    sources = (image.renditions or {}).get("sources") or []
    if not sources:
        return LibraryImage(
            alt=image.alt,
            caption=image.caption,
            credit=image.credit,
            src=image.file.url,
            width=image.width,
            height=image.height,
        )
    url = default_storage.url
    default = [s for s in sources if s["width"] <= DEFAULT_WIDTH][-1:] or sources[:1]
    largest = sources[-1]
    return LibraryImage(
        alt=image.alt,
        caption=image.caption,
        credit=image.credit,
        src=url(default[0]["fallback"]),
        width=largest["width"],
        height=largest["height"],
        srcset=", ".join(f"{url(s['fallback'])} {s['width']}w" for s in sources),
        webp_srcset=", ".join(f"{url(s['webp'])} {s['width']}w" for s in sources),
    )


def resolve_images(ids: list[int]) -> dict[int, LibraryImage]:
    """Return the library images with these ids, by id, in one query; missing ids are left out."""
    found = Image.objects.filter(pk__in=ids).only(
        "file", "alt", "caption", "credit", "width", "height", "renditions"
    )
    return {image.pk: library_image(image) for image in found}


def render_with_library(text: str, *, report: bool = False):
    """Render an article body with its library images (articles.rendering.render_body)."""
    return render_body(text, report=report, images=resolve_images)


def thumbnail_url(image: Image) -> str:
    """Return the URL of the image's smallest rendition, or of its file."""
    sources = (image.renditions or {}).get("sources") or []
    return default_storage.url(sources[0]["webp"]) if sources else image.file.url


# Uses ---------------------------------------------------------------------


def sync_article_images(article: Article, image_ids) -> None:
    """Record that ``article`` shows exactly the images ``image_ids``: one read, bulk writes."""
    wanted = set(image_ids)
    uses = ArticleImage.objects.filter(article=article)
    recorded = set(uses.values_list("image_id", flat=True))
    if gone := recorded - wanted:
        uses.filter(image_id__in=gone).delete()
    if new := wanted - recorded:
        ArticleImage.objects.bulk_create(
            [ArticleImage(article=article, image_id=pk) for pk in sorted(new)],
            ignore_conflicts=True,
        )


def article_images(article: Article):
    """Return the library images ``article`` shows, oldest first (for export)."""
    return Image.objects.filter(uses__article=article).order_by("pk")


def export_name(image: Image) -> str:
    """Return where an export keeps ``image``, relative to its Markdown files."""
    suffix = PurePosixPath(image.file.name).suffix.lower() or ".img"
    return f"images/{image.pk}{suffix}"


# ![alt](image:42 "title"): the library reference and what surrounds it.
_REFERENCE = re.compile(r"(!\[[^\]\n]*\]\(\s*)image:(\d{1,12})(?=[\s)])")


def refer_to_files(body: str, names: dict[int, str]) -> str:
    """Point the body's library references at the files ``names`` gives by image id."""
    return _REFERENCE.sub(lambda m: m[1] + names[int(m[2])] if int(m[2]) in names else m[0], body)


def refer_to_library(body: str, images: dict[str, Image]) -> str:
    """Point the body's references to the files ``images`` maps back at the library."""
    for name, image in images.items():
        body = re.sub(
            r"(!\[[^\]\n]*\]\(\s*)" + re.escape(name) + r"(?=[\s)])",
            lambda m, pk=image.pk: f"{m[1]}image:{pk}",
            body,
        )
    return body


def refresh_articles_using(image: Image) -> int:
    """Render again the bodies that show ``image``, after its text changed; return how many."""
    articles = list(Article.objects.filter(image_uses__image=image).only("pk", "body"))
    for article in articles:
        article.body_html = render_with_library(article.body).html
    # One UPDATE per batch, and no save(): nothing else about the article changed.
    Article.objects.bulk_update(articles, ["body_html"], batch_size=500)
    if articles:
        bump_content_version()
    return len(articles)


# Choosing -------------------------------------------------------------------


def search_images(query: str = "", *, page: int = 1, per_page: int = CHOOSER_PAGE_SIZE):
    """Return one page of library images matching ``query`` (alt or caption), and whether more follow.

    Newest first, one query, without a count: a page is ``per_page`` rows
    and the one after it tells whether there is a next page.
    """
    query = query.strip()[:MAX_QUERY_LENGTH]
    page = min(max(page, 1), MAX_CHOOSER_PAGE)
    found = Image.objects.only("file", "alt", "caption", "width", "height", "renditions")
    if query:
        found = found.filter(Q(alt__icontains=query) | Q(caption__icontains=query))
    start = (page - 1) * per_page
    rows = list(found[start : start + per_page + 1])
    return rows[:per_page], len(rows) > per_page
