"""Consistent backups of the database and the media files, and their restore.

An archive is a gzipped tar holding ``manifest.json``, the database (a SQLite
file made with the online backup API, or a ``pg_dump`` custom-format dump)
and ``media/``. A restore goes into an empty database only.

The archive is compressed once, at a fast gzip level: pg_dump writes its dump
uncompressed (``-Z0``) rather than having its own compression gzipped again.

Media in a bucket (see healthhub/media.py) is neither archived nor restored:
the bucket keeps it, and its own versioning or replication backs it up.
"""

import datetime as dt
import json
import os
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
from pathlib import Path

from django.conf import settings
from django.core.files.storage import FileSystemStorage, storages
from django.db import connections

from articles.progress import BYTES, Progress

FORMAT_VERSION = 1
SQLITE = "django.db.backends.sqlite3"
POSTGRESQL = "django.db.backends.postgresql"
DUMP_NAMES = {SQLITE: "database.sqlite3", POSTGRESQL: "database.pgdump"}
# zlib level 1 compresses a database about three times as fast as level 6,
# for an archive about a fifth larger; level 9 is slower still for nothing.
GZIP_LEVEL = 1
# SQLite pages copied per step of a restore, between progress reports. A
# backup copies in one step: a write to the live database between two steps
# would start the copy over, and the site writes every second.
RESTORE_PAGES = 4096


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


def silent_progress(total, **kwargs) -> Progress:
    """Return a Progress that writes nothing: the default for backup() and restore()."""
    return Progress(None, total, **kwargs)


class _CountingReader:
    """Read from ``file``, counting the bytes read into ``progress``."""

    def __init__(self, file, progress: Progress):
        self.file = file
        self.progress = progress

    def read(self, size=-1):
        data = self.file.read(size)
        self.progress.advance(len(data))
        return data


def _tree_size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(child.stat().st_size for child in path.rglob("*") if child.is_file())


def _add(tar: tarfile.TarFile, path: Path, arcname: str, progress: Progress) -> None:
    """Add ``path`` (a folder recursively, as TarFile.add does) and count its bytes."""
    info = tar.gettarinfo(str(path), arcname)
    if info.isreg():
        with path.open("rb") as file:
            tar.addfile(info, _CountingReader(file, progress))
        return
    tar.addfile(info)
    if info.isdir():
        for child in sorted(path.iterdir()):
            _add(tar, child, f"{arcname}/{child.name}", progress)


def _sqlite_copy(source, target, progress_factory, verb, *, pages=-1) -> None:
    """Copy the SQLite database ``source`` into ``target``, ``pages`` pages a step."""
    page_size = source.execute("PRAGMA page_size").fetchone()[0]
    count = source.execute("PRAGMA page_count").fetchone()[0]
    progress = progress_factory(count * page_size, verb=verb, unit=BYTES)

    def report(status, remaining, total):
        progress.update((total - remaining) * page_size)

    source.backup(target, pages=pages, progress=report)
    progress.update(count * page_size)
    progress.finish()


def _run(command, env):
    result = subprocess.run(command, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise BackupError(f"{command[0]} failed: {result.stderr.strip()}")


def backup(directory, *, alias="default", now=None, progress=silent_progress) -> Path:
    """Write a timestamped archive of the database and media into ``directory``; return it.

    ``progress(total, verb=..., unit=...)`` returns the Progress each stage reports to.
    """
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
                _sqlite_copy(connection.connection, target, progress, "Copied database")
            finally:
                target.close()
        else:
            args, env = _pg_args(connection.settings_dict)
            # One snapshot, whatever is written meanwhile. Uncompressed: the
            # archive around it is compressed anyway.
            command = ["pg_dump", "--format=custom", "--compress=0", "--no-owner"]
            _run([*command, "--file", str(dump), *args], env)
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
        media = Path(settings.MEDIA_ROOT)
        with_media = not elsewhere and media.is_dir()
        total = dump.stat().st_size + (_tree_size(media) if with_media else 0)
        archived = progress(total, verb="Archived", unit=BYTES)
        with tarfile.open(partial, "w:gz", compresslevel=GZIP_LEVEL) as tar:
            info = tarfile.TarInfo("manifest.json")
            data = json.dumps(manifest, indent=2).encode()
            info.size = len(data)
            info.mtime = int(now.timestamp())
            with tempfile.TemporaryFile() as buffer:
                buffer.write(data)
                buffer.seek(0)
                tar.addfile(info, buffer)
            _add(tar, dump, dump.name, archived)
            if with_media:
                _add(tar, media, "media", archived)
        archived.finish()
        partial.rename(archive)
    return archive


def _is_empty(alias) -> bool:
    connection = connections[alias]
    with connection.cursor() as cursor:
        return not connection.introspection.table_names(cursor)


def restore(archive, *, alias="default", progress=silent_progress) -> dict:
    """Restore an archive into the empty database ``alias`` and its media into MEDIA_ROOT.

    Return the manifest. Media is left out when it lives in a bucket.
    ``progress`` is as for backup().
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
        member = tarfile.data_filter(tar.getmember(manifest["database"]), scratch)
        if not member.isreg():
            raise BackupError(f"{member.name} in the archive is not a file.")
        dump = Path(scratch) / member.name
        extracted = progress(member.size, verb="Extracted database", unit=BYTES)
        with tar.extractfile(member) as source, dump.open("wb") as target:
            shutil.copyfileobj(_CountingReader(source, extracted), target, 1024 * 1024)
        extracted.finish()
        if engine == SQLITE:
            connection.close()
            source = sqlite3.connect(dump)
            target = sqlite3.connect(connection.settings_dict["NAME"])
            try:
                _sqlite_copy(source, target, progress, "Restored database", pages=RESTORE_PAGES)
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
