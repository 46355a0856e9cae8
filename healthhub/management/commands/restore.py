from functools import partial

from django.core.management.base import BaseCommand, CommandError

from articles.progress import command_progress
from healthhub.backups import BackupError, media_elsewhere, restore


class Command(BaseCommand):
    help = "Restore an archive made by `backup` into an empty database and MEDIA_ROOT."

    def add_arguments(self, parser):
        parser.add_argument("archive", help="The .tar.gz written by `manage.py backup`.")
        parser.add_argument("--database", default="default")

    def handle(self, *args, archive, database, **options):
        try:
            manifest = restore(
                archive, alias=database, progress=partial(command_progress, self, options)
            )
        except BackupError as error:
            raise CommandError(str(error)) from error
        self.stdout.write(f"Restored the {manifest['engine']} backup of {manifest['created']}.")
        elsewhere = media_elsewhere()
        if elsewhere:
            self.stdout.write(
                f"Media was not restored: it lives in {elsewhere}, "
                "whose own versioning or replication is its backup."
            )
        elif manifest.get("media", "archive") != "archive":
            self.stdout.write(
                f"The archive holds no media: when it was taken, media lived in {manifest['media']}."
            )
