"""Hostile uploads through the real admin form: refused with a clear error, nothing on disk."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from articles.models import Article
from tests import test_admin
from tests.test_images import image_bytes, png_with_text_chunk

# The admin tests' signed-in editor.
editor = test_admin.editor
editor_client = test_admin.editor_client
article_form = test_admin.article_form

pytestmark = pytest.mark.django_db

# Django's ImageField refuses what Pillow cannot open at all with this message;
# HealthHub's own check (articles.images) then refuses the rest by content.
NOT_AN_IMAGE = "Upload a valid image"
SVG = b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>'
HOSTILE_UPLOADS = {
    "svg": ("logo.png", SVG, NOT_AN_IMAGE),
    "svg-named-svg": ("logo.svg", SVG, NOT_AN_IMAGE),
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
    "html-named-jpg": ("page.jpg", b"<!doctype html><p>hi</p>", NOT_AN_IMAGE),
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
    return client.post(
        reverse("admin:articles_article_add"),
        article_form(category, author=author.pk, cover_image=upload, cover_alt="A picture"),
    )


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
    """A real image over HEALTHHUB_MAX_UPLOAD_MB is refused, naming the limit."""
    settings.HEALTHHUB_MAX_UPLOAD_MB = 0.01
    upload = SimpleUploadedFile("big.jpg", image_bytes((400, 400), color="red") + b"\0" * 20_000)

    response = post_cover(editor_client, editor, health, upload)

    assert_refused(response, "the limit is 10.2\xa0KB", media_root)


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
