import logging
import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from articles.checks import check_view_buffer_persists
from articles.counting import flush_views

logger = logging.getLogger(__name__)


class Command(BaseCommand):
    help = (
        "Move the views counted in Redis (HEALTHHUB_VIEW_COUNTER=buffered) into the database. "
        "Safe to run at any time and to retry after a failure."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--every",
            type=float,
            metavar="SECONDS",
            help="Keep running and flush every SECONDS (a sidecar instead of a timer).",
        )

    def handle(self, *args, every=None, **options):
        if not settings.HEALTHHUB_VIEW_BUFFER_URL:
            raise CommandError("No view buffer: set REDIS_URL (or HEALTHHUB_VIEW_BUFFER_URL).")
        self.warn_unless_persistent()
        if every is None:
            moved = flush_views()
            self.stdout.write(f"Flushed {moved} view{'s' if moved != 1 else ''}.")
            return
        while True:
            try:
                moved = flush_views()
            except Exception:
                # The batch stays in Redis; the next round applies it.
                logger.exception("Flushing buffered views failed; retrying in %s s", every)
            else:
                if moved:
                    logger.info("Flushed %s views", moved)
            time.sleep(every)

    def warn_unless_persistent(self):
        for warning in check_view_buffer_persists(None):
            self.stderr.write(f"Warning: {warning.msg} {warning.hint}")
