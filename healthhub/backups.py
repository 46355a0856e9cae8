"""Consistent backups of the database and the media files, and their restore.

An archive is a gzipped tar holding ``manifest.json``, the database (a SQLite
file made with the online backup API, or a ``pg_dump`` custom-format dump)
and ``media/``. A restore goes into an empty database only.

Media in a bucket (see healthhub/media.py) is neither archived nor restored:
the bucket keeps it, and its own versioning or replication backs it up.
"""

import datetime as dt
import json
import os
import sqlite3
import subprocess
import tarfile
import tempfile
from pathlib import Path

from django.conf import settings
from django.core.files.storage import FileSystemStorage, storages
from django.db import connections

FORMAT_VERSION = 1
SQLITE = "django.db.backends.sqlite3"
POSTGRESQL = "django.db.backends.postgresql"
DUMP_NAMES = {SQLITE: "database.sqlite3", POSTGRESQL: "database.pgdump"}


class BackupError(Exception):
    """The backup or restore cannot go ahead; the message says why."""


def _engine(alias):
    engine = connections[alias].settings_dict["ENGINE"]
    if engine not in DUMP_NAMES:
        raise BackupError(f"Backups support SQLite and PostgreSQL, not {engine}.")
    return engine


def _pg_args(settings_dict):
    args = []
    if settings_dict.get("HOST"):
        args += ["--host", settings_dict["HOST"]]
    if settings_dict.get("PORT"):
        args += ["--port", str(settings_dict["PORT"])]
    if settings_dict.get("USER"):
        args += ["--username", settings_dict["USER"]]
    env = {**os.environ}
    if settings_dict.get("PASSWORD"):
        env["PGPASSWORD"] = settings_dict["PASSWORD"]
    return [*args, "--dbname", settings_dict["NAME"]], env


def media_elsewhere() -> str | None:
    """Return where media lives when it is not in MEDIA_ROOT, such as "s3://bucket/prefix"."""
    storage = storages["default"]
    if isinstance(storage, FileSystemStorage):
        return None
    bucket = getattr(storage, "bucket_name", None)
    if not bucket:
        return f"the {type(storage).__name__} storage"
    return f"s3://{bucket}/{getattr(storage, 'location', '')}".rstrip("/")


def _run(command, env):
    result = subprocess.run(command, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise BackupError(f"{command[0]} failed: {result.stderr.strip()}")


def backup(directory, *, alias="default", now=None) -> Path:
    """Write a timestamped archive of the database and media into ``directory``; return it."""
    engine = _engine(alias)
    now = now or dt.datetime.now(dt.UTC)
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    archive = directory / f"healthhub-{now:%Y%m%dT%H%M%SZ}.tar.gz"
    if archive.exists():
        raise BackupError(f"{archive} already exists.")
    connection = connections[alias]
    with tempfile.TemporaryDirectory() as scratch:
        dump = Path(scratch) / DUMP_NAMES[engine]
        if engine == SQLITE:
            connection.ensure_connection()
            # The online backup API copies a consistent snapshot while the
            # site keeps reading and writing.
            target = sqlite3.connect(dump)
            try:
                connection.connection.backup(target)
            finally:
                target.close()
        else:
            args, env = _pg_args(connection.settings_dict)
            # One snapshot, whatever is written meanwhile.
            _run(["pg_dump", "--format=custom", "--no-owner", "--file", str(dump), *args], env)
        elsewhere = media_elsewhere()
        manifest = {
            "format": FORMAT_VERSION,
            "created": now.isoformat(),
            "engine": engine,
            "database": dump.name,
            # Where the media was: "archive", or the bucket it stayed in.
            "media": elsewhere or "archive",
        }
        partial = archive.with_suffix(".partial")
        with tarfile.open(partial, "w:gz") as tar:
            info = tarfile.TarInfo("manifest.json")
            data = json.dumps(manifest, indent=2).encode()
            info.size = len(data)
            info.mtime = int(now.timestamp())
            with tempfile.TemporaryFile() as buffer:
                buffer.write(data)
                buffer.seek(0)
                tar.addfile(info, buffer)
            tar.add(dump, arcname=dump.name)
            media = Path(settings.MEDIA_ROOT)
            if not elsewhere and media.is_dir():
                tar.add(media, arcname="media")
        partial.rename(archive)
    return archive


def _is_empty(alias) -> bool:
    connection = connections[alias]
    with connection.cursor() as cursor:
        return not connection.introspection.table_names(cursor)


def restore(archive, *, alias="default") -> dict:
    """Restore an archive into the empty database ``alias`` and its media into MEDIA_ROOT.

    Return the manifest. Media is left out when it lives in a bucket.
    """
    engine = _engine(alias)
    connection = connections[alias]
    if not _is_empty(alias):
        raise BackupError(
            "The database is not empty. Restore into a new, empty database "
            "(create it, do not migrate it), then point DATABASE_URL at it."
        )
    with tarfile.open(archive, "r:gz") as tar, tempfile.TemporaryDirectory() as scratch:
        manifest = json.load(tar.extractfile("manifest.json"))
        if manifest.get("format") != FORMAT_VERSION:
            raise BackupError(f"Unknown backup format {manifest.get('format')!r}.")
        if manifest["engine"] != engine:
            raise BackupError(
                f"This backup is of a {manifest['engine']} database; "
                f"the configured one is {engine}."
            )
        # The "data" filter refuses absolute paths, "..", links out of the
        # folder and device files.
        tar.extract(manifest["database"], scratch, filter="data")
        dump = Path(scratch) / manifest["database"]
        if engine == SQLITE:
            connection.close()
            source = sqlite3.connect(dump)
            target = sqlite3.connect(connection.settings_dict["NAME"])
            try:
                source.backup(target)
            finally:
                source.close()
                target.close()
        else:
            connection.close()
            args, env = _pg_args(connection.settings_dict)
            _run(
                [
                    "pg_restore",
                    "--no-owner",
                    "--no-privileges",
                    "--exit-on-error",
                    *args,
                    str(dump),
                ],
                env,
            )
        media_members = [m for m in tar.getmembers() if m.name.startswith("media/")]
        if media_members and not media_elsewhere():
            tar.extractall(scratch, members=media_members, filter="data")
            _copy_tree(Path(scratch) / "media", Path(settings.MEDIA_ROOT))
    return manifest


def _copy_tree(source: Path, target: Path) -> None:
    for path in source.rglob("*"):
        destination = target / path.relative_to(source)
        if path.is_dir():
            destination.mkdir(parents=True, exist_ok=True)
        else:
            destination.parent.mkdir(parents=True, exist_ok=True)
            destination.write_bytes(path.read_bytes())
