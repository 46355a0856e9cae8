"""manage.py backup and restore: a consistent archive that round-trips into an empty database."""

import io
import json
import os
import sqlite3
import subprocess
import sys
import tarfile
from pathlib import Path

import psycopg
import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.db import connection

from articles.models import Article
from tests import test_storage
from tests.factories import ArticleFactory
from tests.test_server import subprocess_database_url

pytestmark = pytest.mark.django_db(transaction=True)

# A fake AWS in this process (moto).
aws = test_storage.aws

BASE_DIR = Path(settings.BASE_DIR)


@pytest.fixture
def content(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    (settings.MEDIA_ROOT / "covers").mkdir(parents=True)
    (settings.MEDIA_ROOT / "covers" / "a1b2.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    articles = ArticleFactory.create_batch(3)
    Article.objects.filter(pk=articles[0].pk).update(view_count=3343)
    return articles


def manage(*args, env):
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=BASE_DIR,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "healthhub.settings", **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_backup_writes_a_timestamped_archive_with_database_and_media(content, tmp_path):
    """The archive is named by time and holds a manifest, the database and the media."""
    call_command("backup", str(tmp_path / "backups"), stdout=io.StringIO())

    (archive,) = (tmp_path / "backups").glob("healthhub-*.tar.gz")
    assert len(archive.name) == len("healthhub-20260101T000000Z.tar.gz")
    with tarfile.open(archive) as tar:
        names = tar.getnames()
        manifest = json.load(tar.extractfile("manifest.json"))
    assert manifest["engine"] == connection.settings_dict["ENGINE"]
    assert manifest["database"] in names
    assert "media/covers/a1b2.jpg" in names


def test_restore_refuses_a_database_that_is_not_empty(content, tmp_path):
    """Restoring over live data is refused, with the reason."""
    call_command("backup", str(tmp_path), stdout=io.StringIO())
    (archive,) = tmp_path.glob("healthhub-*.tar.gz")

    with pytest.raises(CommandError, match="not empty"):
        call_command("restore", str(archive))


@pytest.fixture
def empty_database(tmp_path):
    """Yield a DATABASE_URL for a new, empty database of the same engine; drop it afterwards."""
    engine = connection.settings_dict["ENGINE"]
    if engine == "django.db.backends.sqlite3":
        yield f"sqlite:///{tmp_path / 'restored.sqlite3'}"
        return
    name = f"restore_{os.getpid()}"
    admin_url = subprocess_database_url().rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield subprocess_database_url().rsplit("/", 1)[0] + f"/{name}"
    finally:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def count_rows(url, query):
    if url.startswith("sqlite:///"):
        with sqlite3.connect(url.removeprefix("sqlite:///")) as db:
            return db.execute(query).fetchall()
    with psycopg.connect(url.replace("postgres://", "postgresql://", 1)) as db:
        return db.execute(query).fetchall()


def site_env(database_url, media_root, **extra):
    """Return the environment of a site on ``database_url`` with media in ``media_root``."""
    return {
        "DATABASE_URL": database_url,
        "DJANGO_SECRET_KEY": "x",
        "MEDIA_ROOT": str(media_root),
        **extra,
    }


def backup_in_subprocess(directory):
    """Back up the test database and MEDIA_ROOT as cron would; return the archive's path."""
    env = site_env(subprocess_database_url(), settings.MEDIA_ROOT)
    return manage("backup", str(directory), env=env).splitlines()[-1]


def test_backup_and_restore_round_trip(content, tmp_path, empty_database):
    """Back up, restore into an empty database elsewhere: the same rows, counts and media."""
    archive = backup_in_subprocess(tmp_path / "backups")
    restored_media = tmp_path / "restored-media"
    env = site_env(empty_database, restored_media)

    output = manage("restore", archive, env=env)

    assert "Restored the" in output
    rows = count_rows(empty_database, "SELECT slug, view_count FROM articles_article ORDER BY slug")
    assert rows == sorted((a.slug, 3343 if a == content[0] else 0) for a in content)
    assert (restored_media / "covers" / "a1b2.jpg").read_bytes() == b"\xff\xd8 not really a jpeg"
    # The schema is complete: nothing left to migrate.
    manage("migrate", "--check", env=env)


def test_backup_leaves_media_in_a_bucket_out_and_says_so(content, settings, tmp_path, aws):
    """With media in a bucket, the archive holds the database only, and the output says why."""
    aws.create_bucket(Bucket=test_storage.BUCKET)
    test_storage.use_bucket(settings, AWS_LOCATION="site")
    out = io.StringIO()

    call_command("backup", str(tmp_path / "backups"), stdout=out)

    *notes, path = out.getvalue().splitlines()
    assert notes == [
        f"Media is not in the archive: it lives in s3://{test_storage.BUCKET}/site. "
        "Back up the bucket itself (versioning or replication)."
    ]
    with tarfile.open(path) as tar:
        names = tar.getnames()
        manifest = json.load(tar.extractfile("manifest.json"))
    assert not [name for name in names if name.startswith("media")]
    assert manifest["media"] == f"s3://{test_storage.BUCKET}/site"


def test_restore_leaves_media_to_the_bucket_and_says_so(content, tmp_path, empty_database):
    """Restoring where media is in a bucket restores the rows, writes no media, and says so."""
    archive = backup_in_subprocess(tmp_path / "backups")
    restored_media = tmp_path / "restored-media"
    env = site_env(empty_database, restored_media, AWS_STORAGE_BUCKET_NAME=test_storage.BUCKET)

    output = manage("restore", archive, env=env)

    assert f"Media was not restored: it lives in s3://{test_storage.BUCKET}," in output
    rows = count_rows(empty_database, "SELECT slug FROM articles_article ORDER BY slug")
    assert rows == sorted((a.slug,) for a in content)
    assert not restored_media.exists()


def test_restoring_an_archive_taken_with_a_bucket_says_it_holds_no_media(
    content, settings, tmp_path, aws, empty_database
):
    """An archive whose media stayed in a bucket restores onto disk with a note, not silently."""
    aws.create_bucket(Bucket=test_storage.BUCKET)
    test_storage.use_bucket(settings)
    call_command("backup", str(tmp_path / "backups"), stdout=io.StringIO())
    (archive,) = (tmp_path / "backups").glob("healthhub-*.tar.gz")

    output = manage(
        "restore", str(archive), env=site_env(empty_database, tmp_path / "restored-media")
    )

    assert (
        f"The archive holds no media: when it was taken, media lived in s3://{test_storage.BUCKET}."
        in output
    )


def test_backup_prints_progress_with_sizes_and_rate(content, tmp_path, monkeypatch):
    """A long backup prints how much it has copied and archived, with a rate; the path stays last."""
    from articles import progress

    ticks = iter(range(0, 10_000, 2))
    monkeypatch.setattr(progress, "now", lambda: float(next(ticks)))
    monkeypatch.setitem(progress.MIN_TOTAL, progress.BYTES, 1)
    out = io.StringIO()

    call_command("backup", str(tmp_path / "backups"), stdout=out)

    *lines, path = out.getvalue().splitlines()
    assert path.endswith(".tar.gz")
    archived = [line for line in lines if line.startswith("Archived ")]
    assert archived, lines
    assert all(" KB" in line and "/s" in line for line in archived)
    assert archived[-1].startswith("Archived ") and " in " in archived[-1]


def test_backup_prints_no_progress_at_verbosity_0(content, tmp_path, monkeypatch):
    """--verbosity 0 leaves only the archive's path, however long the backup."""
    from articles import progress

    ticks = iter(range(0, 10_000, 2))
    monkeypatch.setattr(progress, "now", lambda: float(next(ticks)))
    monkeypatch.setitem(progress.MIN_TOTAL, progress.BYTES, 1)
    out = io.StringIO()

    call_command("backup", str(tmp_path / "backups"), verbosity=0, stdout=out)

    assert out.getvalue().splitlines() == [str(next((tmp_path / "backups").glob("*.tar.gz")))]


def test_backup_compresses_the_archive_once_and_fast(content, tmp_path):
    """The archive is gzip at a fast level, and a PostgreSQL dump inside it is not compressed again."""
    call_command("backup", str(tmp_path / "backups"), stdout=io.StringIO())
    (archive,) = (tmp_path / "backups").glob("healthhub-*.tar.gz")

    header = archive.read_bytes()[:10]
    assert header[:2] == b"\x1f\x8b"
    # Byte 8 of a gzip header: 4 when the fastest level wrote it, 2 for level 9.
    assert header[8] == 4
    with tarfile.open(archive) as tar:
        manifest = json.load(tar.extractfile("manifest.json"))
        dump = tar.extractfile(manifest["database"]).read()
    if connection.vendor == "postgresql":
        (tmp_path / "database.pgdump").write_bytes(dump)
        listing = subprocess.run(
            ["pg_restore", "--list", str(tmp_path / "database.pgdump")],
            capture_output=True,
            check=True,
            text=True,
        ).stdout
        assert "Compression: 0" in listing or "Compression: none" in listing
    else:
        assert dump.startswith(b"SQLite format 3\x00")
