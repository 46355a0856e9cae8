"""Cover image renditions and upload checks.

Renditions are resized, metadata-free copies of an article's cover, written
under ``renditions/<article pk>/<random token>/`` so that a new set never
reuses the URL of an old, possibly cached, one. The article's
``cover_renditions`` JSON records them::

    {
        "source": "covers/<name>.jpg",
        "width": 2400,
        "height": 1600,
        "sources": [
            {"width": 480, "height": 320, "webp": "<name>", "fallback": "<name>"},
            ...
        ],
        "fallback_type": "image/jpeg",
        "social": {"name": "<name>", "width": 1200, "height": 630},
    }

This module must not import ``articles.models`` at import time: the models
import it.
"""

import contextlib
import io
import logging
import os
import posixpath
import secrets
import warnings
from functools import partial

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils.formats import number_format
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext
from PIL import Image, ImageOps

logger = logging.getLogger(__name__)

RENDITIONS_DIR = "renditions"
RENDITION_WIDTHS = (480, 960, 1600)
# A source narrower than the largest standard width also gets a rendition at
# its own width, unless that is barely wider than the last standard one.
SOURCE_WIDTH_STEP = 1.25
SOCIAL_SIZE = (1200, 630)
WEBP_OPTIONS = {"quality": 80, "method": 4}
JPEG_OPTIONS = {"quality": 82, "optimize": True, "progressive": True}
PNG_OPTIONS = {"optimize": True}

MAX_PIXELS = 40_000_000
MAX_NAME_LENGTH = 255
# Megabytes as file managers and phones count them: 1 MB is 1,000,000 bytes.
DEFAULT_MAX_UPLOAD_MB = 10
BYTES_PER_MB = 1_000_000
# Pillow's format names. Cameras and phones write multi-picture JPEGs, which
# Pillow reports as MPO; browsers show them as plain JPEGs.
ALLOWED_FORMATS = frozenset({"JPEG", "MPO", "PNG", "WEBP", "GIF"})
# Markup that a browser could render if the file were ever served as HTML.
# Browsers sniff the start of a file, so it must hold none of these.
HEAD_MARKERS = (b"<svg", b"<html", b"<script", b"<!doctype", b"<iframe", b"<body", b"<head")
# Only markers long enough not to turn up by chance in compressed pixel data
# are looked for in the rest of the file.
BODY_MARKERS = (b"<script", b"<!doctype", b"<iframe")
SNIFF_BYTES = 1024
NOT_AN_IMAGE = _(
    "Upload a valid image: JPEG, PNG, WebP or GIF. This file is not an image, or it is damaged."
)


class UnreadableImage(Exception):
    """The cover could not be decoded, or is too large to decode safely."""


# Renditions ----------------------------------------------------------------


def sync_renditions(article, *, old_cover: str = "") -> None:
    """Rebuild the renditions of the article's cover, or clear them if it has none.

    Called after the article is saved. Files of the previous renditions, and
    the replaced cover ``old_cover`` unless another article uses it, are
    deleted once the transaction commits, so a rollback leaves them in place.
    A cover that cannot be decoded is logged and leaves no renditions: the
    page then shows the original.
    """
    old = article.cover_renditions or {}
    name = article.cover_image.name if article.cover_image else ""
    if not name and not old:
        article.cover_renditions = {}
        return
    data = {}
    if name:
        try:
            data = build_renditions(article.cover_image.storage, name, article.pk)
        except UnreadableImage as error:
            logger.warning("Cover %s of article %s has no renditions: %s", name, article.pk, error)
        except Exception:
            # A storage outage must not fail the editor's save; the original
            # still shows, and rebuild_renditions --missing catches up.
            logger.exception("Could not write renditions of %s for article %s", name, article.pk)
    type(article).objects.filter(pk=article.pk).update(cover_renditions=data)
    article.cover_renditions = data
    db = article._state.db
    if old:
        transaction.on_commit(partial(delete_renditions, old), using=db)
    if old_cover and old_cover != name:
        manager = type(article)._default_manager.db_manager(db)
        transaction.on_commit(
            partial(_delete_unused_cover, article.cover_image.storage, old_cover, manager),
            using=db,
        )


def build_renditions(storage, name: str, pk, *, social: bool = True) -> dict:
    """Write the renditions of the image ``name`` in ``storage``; return their description.

    Without ``social``, no share-card crop is made (images in article bodies).
    Raise UnreadableImage when the image cannot be decoded. Files written
    before any other failure are removed again.
    """
    image = _open_for_renditions(storage, name)
    has_alpha = image.mode == "RGBA"
    fallback_format, fallback_ext, fallback_type, fallback_options = (
        ("PNG", "png", "image/png", PNG_OPTIONS)
        if has_alpha
        else ("JPEG", "jpg", "image/jpeg", JPEG_OPTIONS)
    )
    folder = f"{RENDITIONS_DIR}/{pk}/{secrets.token_hex(8)}"
    written = []

    def write(filename, picture, image_format, options):
        buffer = io.BytesIO()
        picture.save(buffer, image_format, **options)
        saved = default_storage.save(f"{folder}/{filename}", ContentFile(buffer.getvalue()))
        written.append(saved)
        return saved

    try:
        sources = []
        for width in rendition_widths(image.width):
            height = max(1, round(image.height * width / image.width))
            resized = (
                image
                if width == image.width
                else image.resize((width, height), Image.Resampling.LANCZOS, reducing_gap=3.0)
            )
            sources.append(
                {
                    "width": width,
                    "height": height,
                    "webp": write(f"{width}w.webp", resized, "WEBP", WEBP_OPTIONS),
                    "fallback": write(
                        f"{width}w.{fallback_ext}", resized, fallback_format, fallback_options
                    ),
                }
            )
        if social:
            card = ImageOps.fit(_flatten(image), SOCIAL_SIZE, Image.Resampling.LANCZOS)
            social_name = write("social.jpg", card, "JPEG", JPEG_OPTIONS)
    except Exception:
        for saved in written:
            _delete_file(default_storage, saved)
        _remove_empty_dir(folder)
        raise
    data = {
        "source": name,
        "width": image.width,
        "height": image.height,
        "sources": sources,
        "fallback_type": fallback_type,
    }
    if social:
        data["social"] = {"name": social_name, "width": SOCIAL_SIZE[0], "height": SOCIAL_SIZE[1]}
    return data


def rendition_widths(source_width: int) -> list[int]:
    """Return the rendition widths for a source this wide, never wider than it."""
    widths = [width for width in RENDITION_WIDTHS if width <= source_width]
    if source_width < RENDITION_WIDTHS[-1] and (
        not widths or source_width >= widths[-1] * SOURCE_WIDTH_STEP
    ):
        widths.append(source_width)
    return widths


def rendition_names(data: dict) -> list[str]:
    """Return the storage names of every file in a renditions description."""
    names = []
    for source in (data or {}).get("sources", []):
        names.extend(source.get(key) for key in ("webp", "fallback"))
    names.append(((data or {}).get("social") or {}).get("name"))
    return [name for name in names if name]


def delete_renditions(data: dict) -> None:
    """Delete the files of a renditions description; missing files are fine."""
    folders = set()
    for name in rendition_names(data):
        if not _is_rendition_name(name):
            # The JSON is only ever written here; refuse to let a tampered
            # value delete anything outside the renditions folder.
            logger.warning("Refusing to delete %r: not a rendition", name)
            continue
        _delete_file(default_storage, name)
        folders.add(posixpath.dirname(name))
    for folder in folders:
        _remove_empty_dir(folder)


def delete_article_files(article) -> None:
    """Delete a deleted article's renditions, cover and share card once the deletion commits.

    Meant for a ``post_delete`` receiver, while ``article.pk`` is still set.
    """
    pk = article.pk
    if pk is None:
        return
    # Read the loaded values only: a deferred field cannot be fetched from a
    # row that is gone.
    loaded = vars(article)
    renditions = loaded.get("cover_renditions") or {}
    cover = loaded.get("cover_image")
    cover_name = getattr(cover, "name", cover) or ""
    storage = getattr(cover, "storage", default_storage)
    card = loaded.get("share_card")
    card_name = getattr(card, "name", card) or ""
    manager = type(article)._default_manager.db_manager(article._state.db)

    def delete():
        if card_name:
            # Drawn for this article alone (its name has a random part).
            storage.delete(card_name)
        delete_renditions(renditions)
        # Sweep the article's folder too: it may hold sets that a rolled-back
        # save wrote and never recorded.
        _delete_tree(f"{RENDITIONS_DIR}/{pk}")
        _delete_unused_cover(storage, cover_name, manager)

    # Robust: the deletion has committed, and a storage that cannot even be
    # listed must not turn it into an error page; the failure is logged.
    transaction.on_commit(delete, using=article._state.db, robust=True)


def _open_for_renditions(storage, name):
    """Return the decoded cover, upright, in RGB or RGBA, without metadata."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with storage.open(name, "rb") as file, Image.open(file) as source:
                if source.width * source.height > MAX_PIXELS:
                    raise UnreadableImage(
                        f"{source.width} by {source.height} pixels is over the limit"
                    )
                image = ImageOps.exif_transpose(source)
                image.load()
    except UnreadableImage:
        raise
    except (
        OSError,
        ValueError,
        SyntaxError,
        EOFError,
        Image.DecompressionBombError,
        Image.DecompressionBombWarning,
    ) as error:
        raise UnreadableImage(str(error) or error.__class__.__name__) from error
    image = _to_srgb(image)
    if image.has_transparency_data:
        image = image.convert("RGBA")
        if image.getchannel("A").getextrema()[0] == 255:
            image = image.convert("RGB")
    else:
        image = image.convert("RGB")
    # Drop EXIF (GPS, camera serials), XMP, comments and the colour profile;
    # the savers write only what is in ``info`` or passed explicitly.
    image.info = {}
    return image


def _to_srgb(image):
    """Convert an image with an embedded colour profile to sRGB, so dropping the profile keeps its colours."""
    icc = image.info.get("icc_profile")
    if not icc or image.mode not in {"RGB", "RGBA", "CMYK", "L"}:
        return image
    try:
        from PIL import ImageCms

        return ImageCms.profileToProfile(
            image,
            ImageCms.ImageCmsProfile(io.BytesIO(icc)),
            ImageCms.createProfile("sRGB"),
            outputMode="RGBA" if image.mode == "RGBA" else "RGB",
        )
    except Exception:
        logger.info("Ignoring an unusable colour profile", exc_info=True)
        return image


def _flatten(image):
    """Return the image on white, without transparency."""
    if image.mode != "RGBA":
        return image
    background = Image.new("RGB", image.size, "white")
    background.paste(image, mask=image.getchannel("A"))
    return background


def _is_rendition_name(name: str) -> bool:
    parts = name.split("/")
    return len(parts) > 1 and parts[0] == RENDITIONS_DIR and not {"", ".", ".."} & set(parts)


def _delete_file(storage, name: str) -> None:
    """Delete a stored file; log a failure instead of raising it."""
    try:
        storage.delete(name)
    except Exception:
        # An OSError on disk, a botocore error on S3. The caller runs after a
        # commit or is already handling an error: a leftover file is the
        # lesser harm.
        logger.warning("Could not delete %s", name, exc_info=True)


def _delete_unused_cover(storage, name: str, manager) -> None:
    """Delete a cover file unless an article still uses it (imported articles may share one)."""
    if name and not manager.filter(cover_image=name).exists():
        _delete_file(storage, name)


def _remove_empty_dir(folder: str) -> None:
    """Remove a storage folder if the storage has real folders and this one is empty."""
    try:
        path = default_storage.path(folder)
    except NotImplementedError:
        # An object store (S3) has no folders: a prefix is gone with its last object.
        return
    with contextlib.suppress(OSError):
        os.rmdir(path)


def _delete_tree(folder: str) -> None:
    try:
        folders, files = default_storage.listdir(folder)
    except (NotImplementedError, OSError):
        return
    for child in folders:
        _delete_tree(f"{folder}/{child}")
    for filename in files:
        _delete_file(default_storage, f"{folder}/{filename}")
    _remove_empty_dir(folder)


# Upload validation ---------------------------------------------------------


def max_upload_bytes() -> int:
    """Return the largest image upload accepted, in bytes (HEALTHHUB_MAX_UPLOAD_MB)."""
    limit_mb = getattr(settings, "HEALTHHUB_MAX_UPLOAD_MB", DEFAULT_MAX_UPLOAD_MB)
    return int(limit_mb * BYTES_PER_MB)


def format_size(size: int, *, round_up: bool = False) -> str:
    """Return a file size in the decimal units of the limit, such as "850 kB" or "10.4 MB".

    With ``round_up``, a size over a limit never reads as the limit itself.
    """
    if size < 1000:
        return ngettext("%(size)d byte", "%(size)d bytes", size) % {"size": size}

    # In whole tenths, so that no float rounding moves a size across a limit.
    def tenths_of(unit_bytes: int) -> int:
        if round_up:
            return -(-size * 10 // unit_bytes)
        return (size * 10 + unit_bytes // 2) // unit_bytes

    tenths, unit = tenths_of(1000), "kB"
    if tenths >= 10_000:
        tenths, unit = tenths_of(BYTES_PER_MB), "MB"
    whole, tenth = divmod(tenths, 10)
    value = number_format(tenths / 10, decimal_pos=1) if tenth else number_format(whole)
    return f"{value}\xa0{unit}"


def cover_help_text() -> str:
    """Describe the cover an author should upload, with the current limits and sizes."""
    return _(
        "JPEG, PNG, WebP or GIF, up to %(size)s and %(megapixels)d megapixels. "
        "Best at least %(width)s pixels wide: the article shows it at up to that width. "
        "Link previews on social media crop it to %(social_width)s \u00d7 %(social_height)s "
        "around its centre, so keep the subject in the middle."
    ) % {
        "size": format_size(max_upload_bytes()),
        "megapixels": MAX_PIXELS // 10**6,
        "width": number_format(RENDITION_WIDTHS[-1], force_grouping=True),
        "social_width": number_format(SOCIAL_SIZE[0], force_grouping=True),
        "social_height": SOCIAL_SIZE[1],
    }


def validate_image_upload(uploaded_file) -> None:
    """Raise ValidationError unless the file is a safe JPEG, PNG, WebP or GIF image.

    The content decides, never the name. A file already in storage (an
    unchanged field) was checked when it was uploaded and is accepted.
    """
    if getattr(uploaded_file, "_committed", False) and hasattr(uploaded_file, "storage"):
        return
    _validate_name(getattr(uploaded_file, "name", "") or "")
    try:
        _validate_size(uploaded_file)
        _validate_no_markup(uploaded_file)
        _validate_image(uploaded_file)
    finally:
        uploaded_file.seek(0)


def upload_error(uploaded_file) -> ValidationError:
    """Return why a file that does not open as an image is refused, naming the accepted formats."""
    try:
        validate_image_upload(uploaded_file)
    except ValidationError as error:
        return error
    return ValidationError(NOT_AN_IMAGE, code="invalid_image")


def _validate_name(name: str) -> None:
    if "/" in name or "\\" in name or ".." in name or "\x00" in name:
        raise ValidationError(
            _("The file name “%(name)s” must be a plain name, without “/”, “\\” or “..”."),
            code="invalid_name",
            params={"name": name[:80]},
        )
    if len(name) > MAX_NAME_LENGTH:
        raise ValidationError(
            _(
                "The file name is %(length)d characters long; the limit is %(limit)d. "
                "Rename the file and upload it again."
            ),
            code="name_too_long",
            params={"length": len(name), "limit": MAX_NAME_LENGTH},
        )


def _validate_size(uploaded_file) -> None:
    limit = max_upload_bytes()
    if uploaded_file.size > limit:
        raise ValidationError(
            _("The file is %(size)s; the limit is %(limit)s. Upload a smaller image."),
            code="file_too_large",
            params={
                "size": format_size(uploaded_file.size, round_up=True),
                "limit": format_size(limit),
            },
        )


def _validate_no_markup(uploaded_file) -> None:
    unsafe = ValidationError(
        _(
            "This file contains web page code (such as HTML or a script) and "
            "cannot be used as an image. Export it again as a JPEG, PNG, WebP or GIF."
        ),
        code="markup",
    )
    uploaded_file.seek(0)
    head = uploaded_file.read(SNIFF_BYTES).lower()
    if b"<svg" in head:
        raise ValidationError(
            _("SVG images are not accepted. Upload a JPEG, PNG, WebP or GIF image."),
            code="svg",
        )
    if any(marker in head for marker in HEAD_MARKERS):
        raise unsafe
    overlap = max(len(marker) for marker in BODY_MARKERS) - 1
    tail = b""
    for chunk in uploaded_file.chunks():
        window = tail + chunk.lower()
        if any(marker in window for marker in BODY_MARKERS):
            raise unsafe
        tail = window[-overlap:]


def _validate_image(uploaded_file) -> None:
    invalid = ValidationError(NOT_AN_IMAGE, code="invalid_image")
    too_large = _(
        "This image is %(width)d by %(height)d pixels (%(megapixels)s megapixels); "
        "the limit is %(limit)d megapixels. Resize it and upload it again."
    )
    uploaded_file.seek(0)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            # Opening reads the header only; nothing is decoded yet.
            with Image.open(uploaded_file) as image:
                width, height, image_format = image.width, image.height, image.format
                if image_format not in ALLOWED_FORMATS:
                    raise ValidationError(
                        _(
                            "%(format)s images are not accepted. Upload a JPEG, PNG, WebP or GIF image."
                        ),
                        code="unsupported_format",
                        params={"format": image_format or _("These")},
                    )
                if width * height > MAX_PIXELS:
                    raise ValidationError(
                        too_large,
                        code="too_many_pixels",
                        params={
                            "width": width,
                            "height": height,
                            "megapixels": f"{width * height / 10**6:.1f}",
                            "limit": MAX_PIXELS // 10**6,
                        },
                    )
                image.verify()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise ValidationError(
            _("This image has too many pixels; the limit is %(limit)d megapixels."),
            code="too_many_pixels",
            params={"limit": MAX_PIXELS // 10**6},
        ) from error
    except ValidationError:
        raise
    except Exception as error:
        raise invalid from error
    if image_format == "PNG" and _png_trailing_bytes(uploaded_file):
        raise ValidationError(
            _(
                "This PNG file has extra data after the end of the image. "
                "Export it again from an image editor."
            ),
            code="trailing_data",
        )


def _png_trailing_bytes(file) -> int:
    """Return how many bytes follow a PNG's IEND chunk."""
    file.seek(0, os.SEEK_END)
    end = file.tell()
    file.seek(8)
    while True:
        header = file.read(8)
        if len(header) < 8:
            return 0
        length = int.from_bytes(header[:4], "big")
        file.seek(length + 4, os.SEEK_CUR)
        if header[4:] == b"IEND":
            return max(0, end - file.tell())
