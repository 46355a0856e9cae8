import time
import traceback
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError, transaction

from articles.importing import (
    ArticleImportError,
    ImportCache,
    import_article_file,
    one_content_version_bump,
    shorten,
)
from articles.progress import command_progress

# Files imported per transaction. Each file still has its own savepoint, so a
# bad one is rolled back alone; committing once per chunk saves the cost of a
# commit (an fsync on SQLite) per file. A chunk is also cut short after
# CHUNK_SECONDS, so that on SQLite the site's own writes, which wait
# HEALTHHUB_DB_TIMEOUT seconds for the lock, never wait for a whole chunk.
CHUNK_SIZE = 100
CHUNK_SECONDS = 0.5


def markdown_files(paths: list[str]) -> list[Path]:
    """Return the Markdown files named, reading folders recursively."""
    files = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            files.extend(sorted(p for p in path.rglob("*.md") if p.is_file()))
        elif path.is_file():
            files.append(path)
        else:
            raise CommandError(f"{raw}: no such file or folder")
    # A file named on its own and again inside a folder is imported once.
    unique = {}
    for path in files:
        unique.setdefault(path.resolve(), path)
    return list(unique.values())


def existing_user(username: str):
    """Return the user with ``username``; stop the command if there is none."""
    user_model = get_user_model()
    user = user_model._default_manager.filter(**{user_model.USERNAME_FIELD: username}).first()
    if user is None:
        raise CommandError(f"--author {username}: no user with that username; nothing imported.")
    return user


class Command(BaseCommand):
    help = (
        "Import Markdown files with YAML front matter as articles (folders are read recursively)."
    )

    def add_arguments(self, parser):
        parser.add_argument("paths", nargs="+", metavar="PATH", help="Markdown files or folders.")
        parser.add_argument(
            "--author",
            metavar="USERNAME",
            help="Credit files without an author: key to this existing user.",
        )

    def handle(self, *args, paths, author=None, **options):
        default_author = existing_user(author) if author is not None else None
        files = markdown_files(paths)
        if not files:
            raise CommandError("No .md files found.")
        self.counts = {"created": 0, "updated": 0, "failed": 0}
        # Slug -> the file that imported it, so a second file with the same
        # slug is refused, not silently written over the first.
        self.claimed = {}
        self.cache = ImportCache()
        self.progress = command_progress(self, options, len(files), verb="Imported", noun="files")
        numbered, position = list(enumerate(files, start=1)), 0
        while position < len(numbered):
            first, started = position, time.monotonic()
            try:
                with transaction.atomic(), one_content_version_bump():
                    while (
                        position < len(numbered)
                        and position - first < CHUNK_SIZE
                        and time.monotonic() - started < CHUNK_SECONDS
                    ):
                        number, path = numbered[position]
                        position += 1
                        self.import_file(number, len(files), path, default_author, options)
                        self.progress.update(number)
            except DatabaseError as error:
                raise CommandError(
                    f"Files {first + 1} to {position} were not saved: "
                    f"{type(error).__name__}: {shorten(error)}"
                ) from error
        self.progress.finish()
        counts = self.counts
        summary = (
            f"{len(files)} file{'s' if len(files) != 1 else ''}: {counts['created']} created, "
            f"{counts['updated']} updated, {counts['failed']} failed."
        )
        if counts["failed"]:
            raise CommandError(summary)
        self.stdout.write(self.style.SUCCESS(summary))

    def import_file(self, number, total, path, default_author, options):
        """Import one file and print its line: the article's URL, or the error."""
        prefix = f"[{number}/{total}] {path}"
        try:
            result = import_article_file(
                path, default_author=default_author, claimed=self.claimed, cache=self.cache
            )
        except ArticleImportError as error:
            self.counts["failed"] += 1
            self.stderr.write(
                self.style.ERROR(f"{prefix}: error in {error.field}: {error.message}")
            )
            return
        except Exception as error:
            # A fault the import does not foresee still costs one file,
            # not the rest of the run and its summary.
            self.counts["failed"] += 1
            self.stderr.write(
                self.style.ERROR(
                    f"{prefix}: unexpected error: {type(error).__name__}: {shorten(error)}"
                )
            )
            if options["verbosity"] > 1:
                self.stderr.write(traceback.format_exc())
            return
        self.counts[result.action] += 1
        self.claimed.setdefault(result.article.slug, path)
        self.stdout.write(f"{prefix}: {result.action} {result.article.get_absolute_url()}")
