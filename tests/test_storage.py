"""Media in an S3 bucket: settings from the environment, and covers stored, linked and deleted there.

moto's ``mock_aws`` answers every S3 call in this process; nothing leaves the
machine. A real S3 or MinIO endpoint is not tested here.
"""

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import boto3
import pytest
from botocore.exceptions import ClientError
from django.conf import settings as django_settings
from django.core.exceptions import ImproperlyConfigured
from django.core.files.uploadedfile import SimpleUploadedFile
from moto import mock_aws
from storages.backends.s3 import S3Storage

from articles.images import rendition_names
from articles.models import Article
from articles.rendering import render_markdown
from healthhub.media import CACHE_CONTROL, media_from_env
from tests import test_admin
from tests.factories import ArticleFactory
from tests.test_images import ALT, covered_article, image_bytes

# The admin tests' signed-in editor.

pytestmark = pytest.mark.django_db

BUCKET = "healthhub-media"
ALL_USERS = "http://acs.amazonaws.com/groups/global/AllUsers"


@pytest.fixture
def aws(monkeypatch):
    """Yield an S3 client of a fake AWS that lives in this process."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    with mock_aws():
        yield boto3.client("s3")


def use_bucket(settings, **env):
    """Point the default storage at BUCKET, configured as from ``env``."""
    media = media_from_env({"AWS_STORAGE_BUCKET_NAME": BUCKET, **env})
    # Changing STORAGES resets default_storage (Django's setting_changed).
    settings.STORAGES = {**settings.STORAGES, "default": media.storage}
    settings.MEDIA_URL = media.url
    return media


@pytest.fixture
def bucket(aws, settings, tmp_path):
    """Store media in an empty fake bucket; MEDIA_ROOT is a folder that should stay absent."""
    aws.create_bucket(Bucket=BUCKET)
    settings.MEDIA_ROOT = tmp_path / "media"
    use_bucket(settings)
    return aws


def keys(client) -> set[str]:
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET)
    return {item["Key"] for page in pages for item in page.get("Contents", [])}


def post_cover(client, editor, category, upload):
    return test_admin.add_article(client, category, cover_image=upload, cover_alt="Teal square")


# Settings from the environment ----------------------------------------------


def test_media_stays_in_media_root_without_a_bucket():
    """With no bucket named, media is stored on disk and linked under /media/."""
    media = media_from_env({})

    assert media.storage == {"BACKEND": "django.core.files.storage.FileSystemStorage"}
    assert media.url == "/media/"
    assert media.origins == ()
    assert media.bucket == ""


def test_bucket_settings_come_from_the_environment():
    """Every S3 variable reaches S3Storage, with public, unsigned, never-overwritten objects."""
    media = media_from_env(
        {
            "AWS_STORAGE_BUCKET_NAME": " healthhub-media ",
            "AWS_S3_REGION_NAME": "eu-west-1",
            "AWS_S3_ENDPOINT_URL": "https://minio.example.com",
            "AWS_S3_CUSTOM_DOMAIN": "media.example.org/",
            "AWS_LOCATION": "/site/",
        }
    )

    assert media.storage == {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": "healthhub-media",
            "region_name": "eu-west-1",
            "endpoint_url": "https://minio.example.com",
            "custom_domain": "media.example.org",
            "location": "site",
            "default_acl": "public-read",
            "querystring_auth": False,
            "file_overwrite": False,
            "object_parameters": {"CacheControl": "public, max-age=31536000, immutable"},
        },
    }
    assert media.url == "https://media.example.org/site/"
    assert media.origins == ("https://media.example.org",)
    assert media.bucket == "healthhub-media"


def test_acl_none_leaves_public_reads_to_the_bucket_policy():
    """AWS_DEFAULT_ACL=none sends no ACL, for buckets with ACLs turned off."""
    media = media_from_env({"AWS_STORAGE_BUCKET_NAME": BUCKET, "AWS_DEFAULT_ACL": "none"})

    assert media.storage["OPTIONS"]["default_acl"] is None


@pytest.mark.parametrize(
    ("env", "url"),
    [
        ({}, "https://healthhub-media.s3.amazonaws.com/"),
        ({"AWS_S3_REGION_NAME": "eu-west-1"}, "https://healthhub-media.s3.amazonaws.com/"),
        (
            {"AWS_STORAGE_BUCKET_NAME": "media.health.example", "AWS_S3_REGION_NAME": "eu-west-1"},
            "https://s3.eu-west-1.amazonaws.com/media.health.example/",
        ),
        (
            {"AWS_S3_ENDPOINT_URL": "http://127.0.0.1:9000"},
            "http://127.0.0.1:9000/healthhub-media/",
        ),
        ({"AWS_LOCATION": "media"}, "https://healthhub-media.s3.amazonaws.com/media/"),
        (
            {"AWS_S3_CUSTOM_DOMAIN": "cdn.example.org", "AWS_LOCATION": "media"},
            "https://cdn.example.org/media/",
        ),
    ],
    ids=["aws", "region", "dotted-bucket", "minio", "location", "cdn"],
)
def test_media_url_is_the_start_of_every_url_the_storage_builds(aws, env, url):
    """MEDIA_URL, which the body sanitizer and the CSP trust, matches S3Storage's own URLs."""
    media = media_from_env({"AWS_STORAGE_BUCKET_NAME": BUCKET, **env})
    storage = S3Storage(**media.storage["OPTIONS"])

    assert media.url == url
    assert storage.url("covers/a b.jpg") == f"{url}covers/a%20b.jpg"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"AWS_S3_CUSTOM_DOMAIN": "cdn.example.org"}, "AWS_STORAGE_BUCKET_NAME is not set"),
        (
            {"AWS_STORAGE_BUCKET_NAME": BUCKET, "AWS_S3_ENDPOINT_URL": "minio:9000"},
            "AWS_S3_ENDPOINT_URL must be a URL",
        ),
        (
            {"AWS_STORAGE_BUCKET_NAME": BUCKET, "AWS_S3_CUSTOM_DOMAIN": "https://cdn.example.org"},
            "without the scheme",
        ),
        (
            {"AWS_STORAGE_BUCKET_NAME": BUCKET, "AWS_DEFAULT_ACL": "private"},
            "every object must be public",
        ),
    ],
    ids=["no-bucket", "endpoint-without-scheme", "domain-with-scheme", "private-acl"],
)
def test_broken_media_settings_are_refused(env, message):
    """A configuration that would lose or break images stops start-up, saying why."""
    with pytest.raises(ImproperlyConfigured, match=message):
        media_from_env(env)


SHOW_SETTINGS = """
import json
import django
django.setup()
from django.conf import settings
from healthhub import urls
print(json.dumps({
    "default": settings.STORAGES["default"],
    "media_url": settings.MEDIA_URL,
    "img_src": settings.CONTENT_SECURITY_POLICY["DIRECTIVES"]["img-src"],
    "serves_media": any("media" in str(p.pattern) for p in urls.urlpatterns),
}))
"""


def load_settings(**env):
    """Import the real settings in a fresh process with ``env``; return it."""
    return subprocess.run(
        [sys.executable, "-c", SHOW_SETTINGS],
        cwd=Path(django_settings.BASE_DIR),
        env={
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "healthhub.settings",
            "DJANGO_SECRET_KEY": "x",
            **env,
        },
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_settings_module_puts_media_in_the_bucket_named_in_the_environment():
    """With a bucket, STORAGES, MEDIA_URL and the CSP follow it, and Django serves no /media/."""
    result = load_settings(
        AWS_STORAGE_BUCKET_NAME=BUCKET,
        AWS_S3_CUSTOM_DOMAIN="media.example.org",
        AWS_LOCATION="site",
        DJANGO_DEBUG="1",
    )

    assert result.returncode == 0, result.stderr
    loaded = json.loads(result.stdout.splitlines()[-1])
    assert loaded["default"]["BACKEND"] == "storages.backends.s3.S3Storage"
    assert loaded["default"]["OPTIONS"]["bucket_name"] == BUCKET
    assert loaded["media_url"] == "https://media.example.org/site/"
    assert loaded["img_src"] == ["'self'", "data:", "https://media.example.org"]
    assert not loaded["serves_media"]


def test_settings_module_keeps_media_on_disk_by_default():
    """Without a bucket, media stays in MEDIA_ROOT and DJANGO_SERVE_MEDIA serves it."""
    result = load_settings(DJANGO_SERVE_MEDIA="1")

    assert result.returncode == 0, result.stderr
    loaded = json.loads(result.stdout.splitlines()[-1])
    assert loaded["default"] == {"BACKEND": "django.core.files.storage.FileSystemStorage"}
    assert loaded["media_url"] == "/media/"
    assert loaded["img_src"] == ["'self'", "data:"]
    assert loaded["serves_media"]


def test_settings_module_refuses_to_serve_media_that_is_in_a_bucket():
    """DJANGO_SERVE_MEDIA with a bucket stops start-up: Django could only serve an empty folder."""
    result = load_settings(AWS_STORAGE_BUCKET_NAME=BUCKET, DJANGO_SERVE_MEDIA="1")

    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert "Unset DJANGO_SERVE_MEDIA" in result.stderr


def test_body_images_from_the_bucket_are_kept_and_others_dropped(settings):
    """With media in a bucket, the body sanitizer keeps the bucket's images, as it kept /media/ ones."""
    settings.MEDIA_URL = media_from_env({"AWS_STORAGE_BUCKET_NAME": BUCKET}).url

    html = render_markdown(
        f"![chart](https://{BUCKET}.s3.amazonaws.com/covers/chart.png) "
        "![old](/media/covers/old.png) ![tracker](https://evil.example/p.gif)"
    )

    assert f'src="https://{BUCKET}.s3.amazonaws.com/covers/chart.png"' in html
    assert "/media/covers/old.png" not in html
    assert "evil.example" not in html


# Covers in the bucket ---------------------------------------------------------


def test_an_editor_saving_a_cover_puts_the_original_and_every_rendition_in_the_bucket(
    bucket, editor_client, editor, health, settings
):
    """The admin upload lands in the bucket with all its renditions, and nothing on local disk."""
    upload = SimpleUploadedFile("cover.jpg", image_bytes((1000, 600)), content_type="image/jpeg")

    response = post_cover(editor_client, editor, health, upload)

    assert response.status_code == 302
    article = Article.objects.get()
    renditions = rendition_names(article.cover_renditions)
    assert len(renditions) == 5  # 480 and 960 px in WebP and JPEG, and the social card
    assert keys(bucket) == {article.cover_image.name, *renditions}
    assert not Path(settings.MEDIA_ROOT).exists()


def test_bucket_objects_are_public_cached_for_a_year_and_typed_by_their_content(
    bucket, editor_client, editor, health
):
    """Each object is world-readable with a year's Cache-Control, and the browser's claimed type is ignored."""
    upload = SimpleUploadedFile("cover.jpg", image_bytes((600, 400)), content_type="text/html")

    post_cover(editor_client, editor, health, upload)

    article = Article.objects.get()
    types = {}
    for key in keys(bucket):
        head = bucket.head_object(Bucket=BUCKET, Key=key)
        assert head["CacheControl"] == CACHE_CONTROL
        types[key.rsplit(".", 1)[-1]] = head["ContentType"]
        grants = bucket.get_object_acl(Bucket=BUCKET, Key=key)["Grants"]
        assert {"Grantee": {"Type": "Group", "URI": ALL_USERS}, "Permission": "READ"} in grants
    assert article.cover_image.name.endswith(".jpg")
    assert types == {"jpg": "image/jpeg", "webp": "image/webp"}


@pytest.mark.parametrize(
    ("env", "base"),
    [
        ({}, f"https://{BUCKET}.s3.amazonaws.com/"),
        (
            {"AWS_S3_CUSTOM_DOMAIN": "media.example.org", "AWS_LOCATION": "site"},
            "https://media.example.org/site/",
        ),
    ],
    ids=["bucket", "cdn"],
)
def test_article_page_links_every_image_in_the_bucket(bucket, settings, client, env, base):
    """The <img>, both srcsets and the social card point at the bucket, or the CDN in front of it."""
    use_bucket(settings, **env)
    article = covered_article()
    data = article.cover_renditions

    html = client.get(article.get_absolute_url()).content.decode()

    largest = data["sources"][-1]
    assert f'src="{base}{largest["fallback"]}"' in html
    for source in data["sources"]:
        assert f"{base}{source['webp']} {source['width']}w" in html
        assert f"{base}{source['fallback']} {source['width']}w" in html
    assert f'<meta property="og:image" content="{base}{data["social"]["name"]}">' in html
    assert 'src="/media/' not in html
    prefix = env.get("AWS_LOCATION", "")
    assert keys(bucket) == {
        f"{prefix}/{name}" if prefix else name
        for name in [article.cover_image.name, *rendition_names(data)]
    }


def test_a_refused_upload_writes_nothing_to_the_bucket(bucket, editor_client, editor, health):
    """An SVG posing as a PNG gets a form error and leaves the bucket empty."""
    svg = b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"></svg>'
    upload = SimpleUploadedFile("cover.png", svg, content_type="image/png")

    response = post_cover(editor_client, editor, health, upload)

    assert response.status_code == 200
    assert "cover_image" in response.context["adminform"].form.errors
    assert not Article.objects.exists()
    assert keys(bucket) == set()


def test_replacing_the_cover_removes_the_old_objects_from_the_bucket(
    bucket, django_capture_on_commit_callbacks
):
    """After a new cover is saved, the bucket holds the new original and renditions only."""
    article = covered_article()

    with django_capture_on_commit_callbacks(execute=True):
        article.cover_image = SimpleUploadedFile("new.png", image_bytes((900, 900), "RGB", "PNG"))
        article.save()

    article = Article.objects.get(pk=article.pk)
    assert keys(bucket) == {article.cover_image.name, *rendition_names(article.cover_renditions)}


def test_removing_the_cover_empties_the_bucket(bucket, django_capture_on_commit_callbacks):
    """Clearing the cover deletes its original and every rendition; the share card drawn instead stays."""
    article = covered_article()

    with django_capture_on_commit_callbacks(execute=True):
        article.cover_image = None
        article.cover_alt = ""
        article.save()

    assert keys(bucket) == {Article.objects.get(pk=article.pk).share_card.name}


def test_a_cover_another_article_uses_stays_in_the_bucket(
    bucket, django_capture_on_commit_callbacks
):
    """An imported article sharing the replaced cover keeps its image."""
    article = covered_article()
    shared = article.cover_image.name
    other = ArticleFactory(cover_image=shared, cover_alt=ALT)

    with django_capture_on_commit_callbacks(execute=True):
        article.cover_image = None
        article.cover_alt = ""
        article.save()

    card = Article.objects.get(pk=article.pk).share_card.name
    assert keys(bucket) == {shared, *rendition_names(other.cover_renditions), card}


def test_deleting_an_article_empties_the_bucket(bucket, django_capture_on_commit_callbacks):
    """Deleting an article deletes its cover and renditions from the bucket."""
    article = covered_article()
    assert keys(bucket)

    with django_capture_on_commit_callbacks(execute=True):
        article.delete()

    assert keys(bucket) == set()


def test_a_bucket_error_while_deleting_old_files_does_not_fail_the_save(
    bucket, django_capture_on_commit_callbacks, monkeypatch, caplog
):
    """If the bucket refuses a delete, the new cover is saved and the leftover is logged."""
    article = covered_article()

    def refuse(self, name):
        raise ClientError({"Error": {"Code": "AccessDenied"}}, "DeleteObject")

    monkeypatch.setattr(S3Storage, "delete", refuse)
    with (
        caplog.at_level(logging.WARNING, logger="articles.images"),
        django_capture_on_commit_callbacks(execute=True),
    ):
        article.cover_image = SimpleUploadedFile("new.jpg", image_bytes((700, 500)))
        article.save()

    article = Article.objects.get(pk=article.pk)
    assert set(rendition_names(article.cover_renditions)) <= keys(bucket)
    assert "Could not delete" in caplog.text
    assert "AccessDenied" in caplog.text
