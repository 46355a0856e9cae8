from django.core.management.base import BaseCommand

from articles.images import sync_renditions
from articles.models import Article
from articles.progress import command_progress


class Command(BaseCommand):
    help = "Rebuild the cover image renditions of every article that has a cover."

    def add_arguments(self, parser):
        parser.add_argument(
            "--missing",
            action="store_true",
            help="Only build renditions for articles that have none yet.",
        )

    def handle(self, *args, missing=False, **options):
        articles = (
            Article.objects.exclude(cover_image="")
            .exclude(cover_image__isnull=True)
            .select_related("category")
            .order_by("pk")
        )
        if missing:
            articles = articles.filter(cover_renditions={})
        total = articles.count()
        rebuilt = failed = 0
        progress = command_progress(self, options, total, verb="Rebuilt", noun="covers")
        for number, article in enumerate(articles.iterator(chunk_size=100), start=1):
            sync_renditions(article)
            data = article.cover_renditions
            if data:
                rebuilt += 1
                sizes = len(data["sources"]) + (1 if data.get("social") else 0)
                self.stdout.write(
                    f"[{number}/{total}] rebuilt {article.get_absolute_url()} ({sizes} sizes)"
                )
            else:
                failed += 1
                self.stderr.write(
                    f"[{number}/{total}] could not read the cover of "
                    f"{article.get_absolute_url()} ({article.cover_image.name}); "
                    "the original image is shown instead"
                )
            progress.update(number)
        progress.finish()
        summary = f"Rebuilt renditions for {rebuilt} of {total} articles."
        if failed:
            summary += f" {failed} could not be read (see above)."
        self.stdout.write(self.style.SUCCESS(summary) if not failed else summary)
