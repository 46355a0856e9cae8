from django.core.management.base import BaseCommand
from django.db import transaction

from articles import caching, cards
from articles.models import Article
from articles.progress import command_progress


class Command(BaseCommand):
    help = (
        "Draw the share card of every article without a cover that has none yet, "
        "such as those inserted in bulk."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--all",
            action="store_true",
            help=(
                "Also redraw cards that no longer show their article's title, category "
                "or the site name, for example after a category is renamed."
            ),
        )
        parser.add_argument(
            "--batch-size",
            type=int,
            default=100,
            help="Articles drawn, and written, per transaction (default 100).",
        )

    def handle(self, *args, **options):
        batch_size = max(options["batch_size"], 1)
        articles = Article.objects.filter(cover_image="").select_related("category")
        if not options["all"]:
            articles = articles.filter(share_card="")
        ids = list(articles.order_by("pk").values_list("pk", flat=True))
        total, drawn = len(ids), 0
        progress = command_progress(self, options, total, verb="Checked", noun="articles")
        for start in range(0, total, batch_size):
            batch = ids[start : start + batch_size]
            # One transaction per batch: an old card is deleted only once the
            # row names the new one.
            with transaction.atomic():
                for article in articles.filter(pk__in=batch).only(
                    "title", "category__name", "cover_image", "share_card"
                ):
                    # An UPDATE, not save(): drawing a card is no edit, so
                    # neither the version nor the updated date changes.
                    if cards.sync_share_card(article):
                        Article.objects.filter(pk=article.pk).update(
                            share_card=article.share_card.name
                        )
                        drawn += 1
            if options["verbosity"] > 0:
                done = min(start + batch_size, total)
                self.stdout.write(f"[{done}/{total}] {drawn} cards drawn")
            progress.update(min(start + batch_size, total))
        progress.finish()
        if drawn:
            # Cached pages name the default card until content changes.
            caching.bump_content_version()
        if options["verbosity"] == 0:
            return
        plural = "" if drawn == 1 else "s"
        self.stdout.write(
            self.style.SUCCESS(f"Drew {drawn} share card{plural}; {total} articles checked.")
        )
