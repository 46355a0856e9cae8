"""Hostile uploads through the real admin form: refused with a clear error, nothing on disk."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from articles.models import Article
from tests import test_admin
from tests.test_images import image_bytes, png_with_text_chunk

# The admin tests' signed-in editor.

pytestmark = pytest.mark.django_db

# What Pillow cannot open at all gets the reason from HealthHub's own checks
# (articles.images), which name the formats accepted; they refuse the rest
# by content.
NOT_AN_IMAGE = "Upload a valid image: JPEG, PNG, WebP or GIF."
NO_SVG = "SVG images are not accepted. Upload a JPEG, PNG, WebP or GIF image."
SVG = b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>'
HOSTILE_UPLOADS = {
    "svg": ("logo.png", SVG, NO_SVG),
    "svg-named-jpg": ("logo.jpg", SVG, NO_SVG),
    "svg-named-svg": ("logo.svg", SVG, NO_SVG),
    "html-png-polyglot": (
        "polyglot.png",
        png_with_text_chunk(b"<html><script>alert(1)</script></html>"),
        "web page code",
    ),
    "script-after-iend": (
        "appended.png",
        image_bytes((32, 32), image_format="PNG") + b"<script>alert(1)</script>",
        "web page code",
    ),
    "html-named-jpg": ("page.jpg", b"<!doctype html><p>hi</p>", "web page code"),
    "text-named-jpg": ("notes.jpg", b"Remember the oats.\n" * 20, NOT_AN_IMAGE),
    "bmp": ("scan.png", image_bytes((32, 32), image_format="BMP"), "BMP images are not accepted"),
    # Django cuts an uploaded name to 255 characters, then the model field's
    # max_length refuses it before articles.images sees it.
    "name-over-255": (
        "x" * 300 + ".png",
        image_bytes((32, 32), image_format="PNG"),
        "Ensure this filename has at most 100 characters",
    ),
    # 56 megapixels in a few kilobytes: refused from the header, before decoding.
    "pixel-bomb": (
        "bomb.png",
        image_bytes((8000, 7000), mode="1", image_format="PNG", color=0),
        "the limit is 40 megapixels",
    ),
}


@pytest.fixture
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.MEDIA_ROOT.mkdir()
    return settings.MEDIA_ROOT


def post_cover(client, author, category, upload):
    return test_admin.add_article(client, category, cover_image=upload, cover_alt="A picture")


def assert_refused(response, message, media_root):
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors["cover_image"]
    assert any(message in error for error in errors), errors
    assert message in response.content.decode().replace("&quot;", '"')
    assert not Article.objects.exists()
    assert not [path for path in media_root.rglob("*") if path.is_file()]


@pytest.mark.parametrize("case", list(HOSTILE_UPLOADS))
def test_admin_refuses_hostile_upload_and_writes_nothing(
    editor_client, editor, health, media_root, case
):
    """Each hostile file gets a clear form error, no article and no file on disk."""
    name, data, message = HOSTILE_UPLOADS[case]
    upload = SimpleUploadedFile(name, data, content_type="image/png")

    response = post_cover(editor_client, editor, health, upload)

    assert_refused(response, message, media_root)


def test_admin_refuses_upload_over_the_size_limit(
    editor_client, editor, health, media_root, settings
):
    """A real image over HEALTHHUB_MAX_UPLOAD_MB is refused, naming both sizes in decimal units."""
    settings.HEALTHHUB_MAX_UPLOAD_MB = 0.01
    data = image_bytes((400, 400), color="red")
    upload = SimpleUploadedFile("big.jpg", data + b"\0" * (10_001 - len(data)))

    response = post_cover(editor_client, editor, health, upload)

    # 10,001 bytes against 10,000 (10 kB, not the 10,240 of a KiB): never "10 kB; the limit is 10 kB".
    assert_refused(response, "The file is 10.1\xa0kB; the limit is 10\xa0kB.", media_root)


@pytest.mark.parametrize(
    "name", ["../../etc/passwd.png", "..\\..\\cover.png"], ids=["slash", "backslash"]
)
def test_admin_stores_uploads_under_fresh_random_names(
    editor_client, editor, health, media_root, name
):
    """Path parts never reach the disk: stored names are random."""
    upload = SimpleUploadedFile(name, image_bytes((64, 64), image_format="PNG"))

    response = post_cover(editor_client, editor, health, upload)

    assert response.status_code == 302
    stored = Article.objects.get().cover_image.name
    folder, _, filename = stored.partition("/")
    assert folder == "covers"
    assert "/" not in filename
    assert ".." not in filename
    assert len(filename) < 80
    assert "passwd" not in filename
    assert all(media_root in path.parents for path in media_root.rglob("*"))


def test_author_photo_refuses_an_svg_naming_the_formats(editor_client, editor, media_root):
    """An SVG renamed .jpg as an author's photo gets the same clear message as a cover."""
    url = "/admin/articles/authorprofile/add/"
    form = test_admin.open_form(editor_client, url, "authorprofile")
    upload = SimpleUploadedFile("me.jpg", SVG, content_type="image/jpeg")

    response = test_admin.submit(editor_client, url, form, user=editor.pk, photo=upload)

    assert response.status_code == 200
    assert response.context["adminform"].form.errors["photo"] == [NO_SVG]
    assert not [path for path in media_root.rglob("*") if path.is_file()]
