import traceback
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from articles.importing import ArticleImportError, import_article_file, shorten


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
        counts = {"created": 0, "updated": 0, "failed": 0}
        # Slug -> the file that imported it, so a second file with the same
        # slug is refused, not silently written over the first.
        claimed = {}
        for number, path in enumerate(files, start=1):
            prefix = f"[{number}/{len(files)}] {path}"
            try:
                result = import_article_file(path, default_author=default_author, claimed=claimed)
            except ArticleImportError as error:
                counts["failed"] += 1
                self.stderr.write(
                    self.style.ERROR(f"{prefix}: error in {error.field}: {error.message}")
                )
                continue
            except Exception as error:
                # A fault the import does not foresee still costs one file,
                # not the rest of the run and its summary.
                counts["failed"] += 1
                self.stderr.write(
                    self.style.ERROR(
                        f"{prefix}: unexpected error: {type(error).__name__}: {shorten(error)}"
                    )
                )
                if options["verbosity"] > 1:
                    self.stderr.write(traceback.format_exc())
                continue
            counts[result.action] += 1
            claimed.setdefault(result.article.slug, path)
            self.stdout.write(f"{prefix}: {result.action} {result.article.get_absolute_url()}")
        summary = (
            f"{len(files)} file{'s' if len(files) != 1 else ''}: {counts['created']} created, "
            f"{counts['updated']} updated, {counts['failed']} failed."
        )
        if counts["failed"]:
            raise CommandError(summary)
        self.stdout.write(self.style.SUCCESS(summary))
