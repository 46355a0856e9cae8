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
from tests.factories import ArticleFactory
from tests.test_server import subprocess_database_url

pytestmark = pytest.mark.django_db(transaction=True)

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


def test_backup_and_restore_round_trip(content, tmp_path, empty_database):
    """Back up, restore into an empty database elsewhere: the same rows, counts and media."""
    archive = manage(
        "backup",
        str(tmp_path / "backups"),
        env={
            "DATABASE_URL": subprocess_database_url(),
            "DJANGO_SECRET_KEY": "x",
            "MEDIA_ROOT": str(settings.MEDIA_ROOT),
        },
    ).splitlines()[-1]
    restored_media = tmp_path / "restored-media"
    env = {
        "DATABASE_URL": empty_database,
        "DJANGO_SECRET_KEY": "x",
        "MEDIA_ROOT": str(restored_media),
    }

    output = manage("restore", archive, env=env)

    assert "Restored the" in output
    rows = count_rows(empty_database, "SELECT slug, view_count FROM articles_article ORDER BY slug")
    assert rows == sorted((a.slug, 3343 if a == content[0] else 0) for a in content)
    assert (restored_media / "covers" / "a1b2.jpg").read_bytes() == b"\xff\xd8 not really a jpeg"
    # The schema is complete: nothing left to migrate.
    manage("migrate", "--check", env=env)
