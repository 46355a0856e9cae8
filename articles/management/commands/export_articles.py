from pathlib import Path

from django.core.management.base import BaseCommand

from articles.importing import export_articles
from articles.models import Article


class Command(BaseCommand):
    help = "Write every article as Markdown with YAML front matter, as import_articles reads it."

    def add_arguments(self, parser):
        parser.add_argument("directory", metavar="DIR", help="Folder to write the files into.")

    def handle(self, *args, directory, **options):
        total = Article.objects.count()
        written = 0
        for number, (article, path) in enumerate(export_articles(Path(directory)), start=1):
            self.stdout.write(f"[{number}/{total}] {path} ({article.get_status_display()})")
            written += 1
        self.stdout.write(
            self.style.SUCCESS(
                f"{written} article{'s' if written != 1 else ''} written to {directory}."
            )
        )
