from pathlib import Path

from django.core.management.base import BaseCommand

from articles.importing import EXPORT_CHUNK_SIZE, export_articles
from articles.models import Article
from articles.progress import command_progress


class Command(BaseCommand):
    help = "Write every article as Markdown with YAML front matter, as import_articles reads it."

    def add_arguments(self, parser):
        parser.add_argument("directory", metavar="DIR", help="Folder to write the files into.")
        parser.add_argument(
            "--chunk-size",
            type=int,
            default=EXPORT_CHUNK_SIZE,
            help=f"Articles read from the database at a time (default {EXPORT_CHUNK_SIZE:,}).",
        )

    def handle(self, *args, directory, chunk_size, **options):
        total = Article.objects.count()
        progress = command_progress(self, options, total, verb="Exported", noun="articles")
        written = 0
        articles = export_articles(Path(directory), chunk_size=max(chunk_size, 1))
        for number, (article, path) in enumerate(articles, start=1):
            if options["verbosity"] > 0:
                self.stdout.write(f"[{number}/{total}] {path} ({article.get_status_display()})")
            written += 1
            progress.update(written)
        progress.finish()
        self.stdout.write(
            self.style.SUCCESS(
                f"{written} article{'s' if written != 1 else ''} written to {directory}."
            )
        )
