import logging
import zlib
from io import BytesIO, StringIO

import pytest
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.db.models.signals import post_delete
from django.template import Context, Template
from PIL import Image, ImageCms

from articles.images import (
    cover_help_text,
    delete_article_files,
    delete_renditions,
    format_size,
    rendition_names,
    rendition_widths,
    sync_renditions,
    validate_image_upload,
)
from articles.models import Article
from tests.factories import ArticleFactory

pytestmark = pytest.mark.django_db

ALT = "A bowl of porridge topped with berries"
PICTURE = (
    '{% include "includes/picture.html" with image=article.cover_image '
    "renditions=article.cover_renditions alt=article.cover_alt "
    'sizes="(min-width: 48rem) 42rem, 100vw"{{ lazy }} %}'
)


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


def image_bytes(size=(2000, 1200), mode="RGB", image_format="JPEG", color="teal", **options):
    buffer = BytesIO()
    Image.new(mode, size, color).save(buffer, image_format, **options)
    return buffer.getvalue()


def covered_article(data=None, name="cover.jpg", **kwargs):
    """Create an article whose cover is ``data`` (a 2000x1200 JPEG by default)."""
    upload = SimpleUploadedFile(name, image_bytes() if data is None else data)
    return ArticleFactory(cover_image=upload, cover_alt=ALT, **kwargs)


def stored_image(name):
    with default_storage.open(name) as file:
        image = Image.open(file)
        image.load()
    return image


def stored_names(data):
    return [name for name in rendition_names(data) if default_storage.exists(name)]


# Renditions ----------------------------------------------------------------


def test_renditions_are_written_at_each_width_in_webp_and_jpeg():
    """A large cover gets 480, 960 and 1600 px WebP and JPEG renditions and a 1200x630 card."""
    article = covered_article()

    data = Article.objects.get(pk=article.pk).cover_renditions
    assert data == article.cover_renditions
    assert (data["source"], data["width"], data["height"]) == (article.cover_image.name, 2000, 1200)
    assert data["fallback_type"] == "image/jpeg"
    assert [(s["width"], s["height"]) for s in data["sources"]] == [
        (480, 288),
        (960, 576),
        (1600, 960),
    ]
    for source in data["sources"]:
        webp, fallback = stored_image(source["webp"]), stored_image(source["fallback"])
        assert (webp.format, webp.size) == ("WEBP", (source["width"], source["height"]))
        assert (fallback.format, fallback.size) == ("JPEG", (source["width"], source["height"]))
        assert fallback.info.get("progressive")
    social = stored_image(data["social"]["name"])
    assert (social.format, social.size) == ("JPEG", (1200, 630))
    folders = {name.rsplit("/", 1)[0] for name in rendition_names(data)}
    assert len(folders) == 1
    assert folders.pop().startswith(f"renditions/{article.pk}/")


def test_renditions_follow_exif_orientation_and_carry_no_metadata():
    """A photo tagged "rotate 90°" is turned upright, and no EXIF or profile reaches the renditions."""
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90° clockwise to display.
    exif[0x010F] = "Test Camera Co."  # Make
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    photo = image_bytes((800, 600), exif=exif.tobytes(), icc_profile=srgb)

    data = covered_article(photo).cover_renditions

    assert (data["width"], data["height"]) == (600, 800)
    assert (data["sources"][0]["width"], data["sources"][0]["height"]) == (480, 640)
    names = rendition_names(data)
    assert len(names) == 2 * len(data["sources"]) + 1
    for name in names:
        image = stored_image(name)
        assert len(image.getexif()) == 0, name
        assert not {"exif", "icc_profile", "xmp"} & set(image.info), name
    assert stored_image(data["sources"][0]["fallback"]).size == (480, 640)


@pytest.mark.parametrize(
    ("source_width", "widths"),
    [
        (300, [300]),
        (480, [480]),
        (1000, [480, 960]),
        (1200, [480, 960, 1200]),
        (1600, [480, 960, 1600]),
        (4000, [480, 960, 1600]),
    ],
)
def test_rendition_widths_never_exceed_the_source(source_width, widths):
    """Widths wider than the source are skipped; a narrow source keeps its own width."""
    assert rendition_widths(source_width) == widths


def test_small_cover_is_not_upscaled():
    """A 300 px cover gets one 300 px rendition, not a blown-up 480 px one."""
    data = covered_article(image_bytes((300, 200))).cover_renditions

    assert [(s["width"], s["height"]) for s in data["sources"]] == [(300, 200)]
    assert stored_image(data["sources"][0]["webp"]).size == (300, 200)
    assert stored_image(data["social"]["name"]).size == (1200, 630)


def test_transparent_png_keeps_a_png_fallback():
    """A PNG with transparency gets PNG fallbacks and WebP renditions that keep the alpha channel."""
    image = Image.new("RGBA", (1000, 500), (255, 0, 0, 255))
    image.paste((0, 0, 0, 0), (0, 0, 500, 500))
    buffer = BytesIO()
    image.save(buffer, "PNG")

    data = covered_article(buffer.getvalue(), name="logo.png").cover_renditions

    assert data["fallback_type"] == "image/png"
    for source in data["sources"]:
        fallback, webp = stored_image(source["fallback"]), stored_image(source["webp"])
        assert (fallback.format, fallback.mode) == ("PNG", "RGBA")
        assert webp.mode == "RGBA"
        assert fallback.getpixel((0, 0))[3] == 0
    assert stored_image(data["social"]["name"]).mode == "RGB"


def test_opaque_png_gets_jpeg_fallbacks():
    """An RGBA PNG with no transparent pixel is treated as a photo: JPEG fallbacks."""
    data = covered_article(
        image_bytes((600, 400), mode="RGBA", image_format="PNG"), name="flat.png"
    ).cover_renditions

    assert data["fallback_type"] == "image/jpeg"
    assert stored_image(data["sources"][0]["fallback"]).format == "JPEG"


def test_replacing_the_cover_replaces_the_rendition_files(django_capture_on_commit_callbacks):
    """A new cover gets renditions under a new token; the old cover and its files go on commit."""
    article = covered_article()
    old, old_cover = article.cover_renditions, article.cover_image.name

    with django_capture_on_commit_callbacks(execute=True):
        article.cover_image = SimpleUploadedFile("new.png", image_bytes((900, 900), "RGB", "PNG"))
        article.save()

    new = Article.objects.get(pk=article.pk).cover_renditions
    assert new["source"] == article.cover_image.name != old["source"]
    assert not default_storage.exists(old_cover)
    assert stored_names(old) == []
    assert stored_names(new) == rendition_names(new)
    assert set(rendition_names(new)).isdisjoint(rendition_names(old))


def test_old_renditions_stay_until_the_transaction_commits(django_capture_on_commit_callbacks):
    """The replaced cover and renditions are deleted only on commit, so a rollback keeps them."""
    article = covered_article()
    old, old_cover = article.cover_renditions, article.cover_image.name

    with django_capture_on_commit_callbacks() as callbacks:
        article.cover_image = SimpleUploadedFile("new.jpg", image_bytes((700, 500)))
        article.save()

    deletions = [c for c in callbacks if getattr(c, "func", None) is delete_renditions]
    assert len(deletions) == 1
    assert default_storage.exists(old_cover)
    assert stored_names(old) == rendition_names(old)


def test_removing_the_cover_clears_renditions_and_files(django_capture_on_commit_callbacks):
    """Clearing the cover empties cover_renditions and deletes the cover and rendition files."""
    article = covered_article()
    old, old_cover = article.cover_renditions, article.cover_image.name

    with django_capture_on_commit_callbacks(execute=True):
        article.cover_image = None
        article.cover_alt = ""
        article.save()

    assert article.cover_renditions == {}
    assert Article.objects.get(pk=article.pk).cover_renditions == {}
    assert not default_storage.exists(old_cover)
    assert stored_names(old) == []


def test_saving_without_changing_the_cover_keeps_the_renditions():
    """Editing the text of an article with a cover leaves its renditions alone."""
    article = covered_article()
    before = article.cover_renditions

    article = Article.objects.get(pk=article.pk)
    article.title = "A new title"
    article.save()

    assert Article.objects.get(pk=article.pk).cover_renditions == before


def test_article_without_cover_costs_no_rendition_query(django_assert_num_queries):
    """Syncing an article that never had a cover runs no query."""
    article = ArticleFactory()

    with django_assert_num_queries(0):
        sync_renditions(article)

    assert article.cover_renditions == {}


def test_corrupt_cover_is_saved_without_renditions(caplog):
    """An undecodable cover is logged and leaves the article saved with no renditions."""
    with caplog.at_level(logging.WARNING, logger="articles.images"):
        article = covered_article(b"\xff\xd8\xff\xe0 this is not really a JPEG")

    assert Article.objects.get(pk=article.pk).cover_renditions == {}
    assert "has no renditions" in caplog.text
    assert not default_storage.exists(f"renditions/{article.pk}")


def test_deleting_an_article_deletes_its_cover_and_renditions(django_capture_on_commit_callbacks):
    """With delete_article_files on post_delete, deleting an article removes all its files."""

    def receiver(sender, instance, **kwargs):
        delete_article_files(instance)

    post_delete.connect(receiver, sender=Article, weak=False, dispatch_uid="test-images-delete")
    try:
        article = covered_article()
        data, cover = article.cover_renditions, article.cover_image.name
        assert default_storage.exists(cover)
        with django_capture_on_commit_callbacks(execute=True):
            article.delete()
    finally:
        post_delete.disconnect(sender=Article, dispatch_uid="test-images-delete")

    assert not default_storage.exists(cover)
    assert stored_names(data) == []
    assert default_storage.listdir("renditions") == ([], [])


# rebuild_renditions --------------------------------------------------------


def rebuild(*args):
    stdout, stderr = StringIO(), StringIO()
    call_command("rebuild_renditions", *args, stdout=stdout, stderr=stderr)
    return stdout.getvalue(), stderr.getvalue()


def test_rebuild_renditions_rebuilds_every_cover_with_progress(
    health, django_capture_on_commit_callbacks
):
    """The command rebuilds each article with a cover, one progress line each, then a summary."""
    first, second = covered_article(category=health), covered_article(category=health)
    ArticleFactory(category=health)
    old = first.cover_renditions

    with django_capture_on_commit_callbacks(execute=True):
        out, err = rebuild()

    assert out.splitlines() == [
        f"[1/2] rebuilt {first.get_absolute_url()} (4 sizes)",
        f"[2/2] rebuilt {second.get_absolute_url()} (4 sizes)",
        "Rebuilt renditions for 2 of 2 articles.",
    ]
    assert err == ""
    new = Article.objects.get(pk=first.pk).cover_renditions
    assert new["source"] == old["source"]
    assert stored_names(old) == []
    assert stored_names(new) == rendition_names(new)


def test_rebuild_renditions_missing_only_fills_gaps(health):
    """--missing builds renditions only where there are none and leaves the rest untouched."""
    complete, missing = covered_article(category=health), covered_article(category=health)
    Article.objects.filter(pk=missing.pk).update(cover_renditions={})

    out, _ = rebuild("--missing")

    assert out.splitlines()[0] == f"[1/1] rebuilt {missing.get_absolute_url()} (4 sizes)"
    assert Article.objects.get(pk=complete.pk).cover_renditions == complete.cover_renditions
    assert Article.objects.get(pk=missing.pk).cover_renditions["sources"]


def test_rebuild_renditions_reports_unreadable_covers(health):
    """A cover that cannot be decoded is reported on stderr and counted in the summary."""
    broken = covered_article(b"not an image", category=health)

    out, err = rebuild()

    assert f"[1/1] could not read the cover of {broken.get_absolute_url()}" in err
    assert "Rebuilt renditions for 0 of 1 articles. 1 could not be read" in out


# The picture include -------------------------------------------------------

RENDITIONS = {
    "source": "covers/oats.jpg",
    "width": 2000,
    "height": 1125,
    "sources": [
        {
            "width": 480,
            "height": 270,
            "webp": "renditions/7/abc/480w.webp",
            "fallback": "renditions/7/abc/480w.jpg",
        },
        {
            "width": 960,
            "height": 540,
            "webp": "renditions/7/abc/960w.webp",
            "fallback": "renditions/7/abc/960w.jpg",
        },
    ],
    "fallback_type": "image/jpeg",
    "social": {"name": "renditions/7/abc/social.jpg", "width": 1200, "height": 630},
}


def render_picture(renditions, lazy=""):
    article = Article(
        cover_image="covers/oats.jpg", cover_alt='Oats & "berries"', cover_renditions=renditions
    )
    return Template(PICTURE.replace("{{ lazy }}", lazy)).render(Context({"article": article}))


def test_picture_include_renders_webp_and_fallback_srcsets():
    """The include lists each width for WebP and JPEG, with sizes, dimensions and escaped alt."""
    html = render_picture(RENDITIONS)

    assert "<picture>" in html
    assert (
        '<source type="image/webp" srcset="/media/renditions/7/abc/480w.webp 480w, '
        '/media/renditions/7/abc/960w.webp 960w" sizes="(min-width: 48rem) 42rem, 100vw">'
    ) in html
    assert (
        'srcset="/media/renditions/7/abc/480w.jpg 480w, /media/renditions/7/abc/960w.jpg 960w"'
    ) in html
    assert 'src="/media/renditions/7/abc/960w.jpg"' in html
    assert 'width="960" height="540"' in html
    assert 'alt="Oats &amp; &quot;berries&quot;"' in html


def test_picture_include_is_lazy_unless_told_otherwise():
    """By default the image loads lazily; lazy=False makes it eager and high priority."""
    lazy = render_picture(RENDITIONS)
    eager = render_picture(RENDITIONS, lazy=" lazy=False")

    assert 'loading="lazy" decoding="async"' in lazy
    assert "fetchpriority" not in lazy
    assert 'fetchpriority="high"' in eager
    assert "loading=" not in eager


def test_picture_include_falls_back_to_the_original_image():
    """Without renditions the include shows the uploaded image itself."""
    html = render_picture({}, lazy=" lazy=False")

    assert "<picture>" not in html
    assert '<img src="/media/covers/oats.jpg" alt="Oats &amp; &quot;berries&quot;"' in html


def test_picture_include_renders_nothing_without_an_image():
    """An article without a cover renders no image at all."""
    html = Template(PICTURE.replace("{{ lazy }}", "")).render(Context({"article": Article()}))

    assert html.strip() == ""


# Upload validation ---------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "mode", "image_format"),
    [
        ("photo.jpg", "RGB", "JPEG"),
        ("chart.png", "RGBA", "PNG"),
        ("photo.webp", "RGB", "WEBP"),
        ("animation.gif", "P", "GIF"),
    ],
)
def test_upload_validation_accepts_real_images(name, mode, image_format):
    """JPEG, PNG, WebP and GIF images pass, and the file is rewound for the next reader."""
    upload = SimpleUploadedFile(name, image_bytes((640, 480), mode, image_format, color=1))
    upload.read(10)

    validate_image_upload(upload)

    assert upload.tell() == 0


def png_with_text_chunk(text: bytes) -> bytes:
    """Return a small PNG whose first chunk after the header carries ``text``."""
    data = image_bytes((32, 32), image_format="PNG")
    chunk = b"tEXt" + b"Comment\x00" + text
    packed = len(chunk[4:]).to_bytes(4, "big") + chunk + zlib.crc32(chunk).to_bytes(4, "big")
    return data[:33] + packed + data[33:]


@pytest.mark.parametrize(
    ("name", "data", "code", "message"),
    [
        ("notes.jpg", b"Remember to buy oats.\n" * 20, "invalid_image", "not an image"),
        (
            "logo.png",
            b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg"></svg>',
            "svg",
            "SVG images are not accepted",
        ),
        (
            "polyglot.png",
            png_with_text_chunk(b"<html><script>alert(1)</script></html>"),
            "markup",
            "web page code",
        ),
        (
            "appended.png",
            image_bytes((32, 32), image_format="PNG") + b"<script>alert(1)</script>",
            "markup",
            "web page code",
        ),
        (
            "trailer.png",
            image_bytes((32, 32), image_format="PNG") + b"PK\x03\x04 hidden archive",
            "trailing_data",
            "extra data after the end of the image",
        ),
        ("scan.bmp", image_bytes((32, 32), image_format="BMP"), "unsupported_format", "BMP"),
        ("../cover.png", image_bytes((32, 32), image_format="PNG"), "invalid_name", "plain name"),
        ("..\\cover.png", image_bytes((32, 32), image_format="PNG"), "invalid_name", "plain name"),
        (
            "a" * 296 + ".png",
            image_bytes((32, 32), image_format="PNG"),
            "name_too_long",
            "300 characters long; the limit is 255",
        ),
    ],
    ids=[
        "text-file",
        "svg",
        "html-in-png-header",
        "script-after-iend",
        "data-after-iend",
        "bmp",
        "dot-dot-slash",
        "backslash",
        "300-characters",
    ],
)
def test_upload_validation_refuses_unsafe_files(name, data, code, message):
    """Files that are not plain, safe raster images are refused with a clear message."""
    upload = ContentFile(data, name=name)

    with pytest.raises(ValidationError) as error:
        validate_image_upload(upload)

    assert error.value.code == code
    assert message in error.value.messages[0]
    assert upload.tell() == 0


def test_upload_validation_refuses_files_over_the_size_limit(settings):
    """A file over HEALTHHUB_MAX_UPLOAD_MB is refused, naming both sizes."""
    settings.HEALTHHUB_MAX_UPLOAD_MB = 0.001
    upload = SimpleUploadedFile("big.jpg", image_bytes((400, 400), color="red") + b"\0" * 2000)

    with pytest.raises(ValidationError) as error:
        validate_image_upload(upload)

    assert error.value.code == "file_too_large"
    assert "the limit is 1\xa0kB" in error.value.messages[0]


def test_upload_validation_defaults_to_ten_megabytes(settings):
    """Without the setting, the limit is 10 MB: 10,000,000 bytes, as the label says."""
    if hasattr(settings, "HEALTHHUB_MAX_UPLOAD_MB"):
        del settings.HEALTHHUB_MAX_UPLOAD_MB
    upload = ContentFile(image_bytes((32, 32), image_format="PNG"), name="ok.png")
    upload.size = 10_000_000
    validate_image_upload(upload)
    upload.size = 10_000_001

    with pytest.raises(ValidationError) as error:
        validate_image_upload(upload)

    assert "The file is 10.1\xa0MB; the limit is 10\xa0MB." in error.value.messages[0]


@pytest.mark.parametrize(
    ("size", "shown"),
    [
        (999, "999 bytes"),
        (1_000, "1\xa0kB"),
        (812_345, "812.3\xa0kB"),
        (999_999, "1\xa0MB"),
        (10_000_000, "10\xa0MB"),
        (10_485_760, "10.5\xa0MB"),
    ],
)
def test_file_sizes_are_shown_in_decimal_units(size, shown):
    """Sizes read in kB and MB of 1,000 and 1,000,000 bytes, the units of the limit."""
    assert format_size(size) == shown


def test_cover_help_text_names_formats_limits_and_sizes(settings):
    """The cover's help text gives the formats, the size limit and the recommended width."""
    settings.HEALTHHUB_MAX_UPLOAD_MB = 5
    text = cover_help_text()
    assert "JPEG, PNG, WebP or GIF, up to 5\xa0MB and 40 megapixels." in text
    assert "at least 1,600 pixels wide" in text
    assert "1,200 \u00d7 630" in text


def test_upload_validation_refuses_too_many_pixels():
    """A 56-megapixel image that is tiny on disk is refused from its header alone."""
    data = image_bytes((8000, 7000), mode="1", image_format="PNG", color=0)
    assert len(data) < 100_000

    with pytest.raises(ValidationError) as error:
        validate_image_upload(SimpleUploadedFile("bomb.png", data))

    assert error.value.code == "too_many_pixels"
    assert (
        "8000 by 7000 pixels (56.0 megapixels); the limit is 40 megapixels"
        in error.value.messages[0]
    )


def test_upload_validation_accepts_a_file_already_in_storage():
    """An unchanged cover, already stored under covers/, is not checked again."""
    stored = Article(cover_image="covers/0123abcd.jpg").cover_image

    validate_image_upload(stored)
