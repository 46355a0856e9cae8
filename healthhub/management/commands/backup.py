from functools import partial

from django.core.management.base import BaseCommand, CommandError

from articles.progress import command_progress
from healthhub.backups import BackupError, backup, media_elsewhere


class Command(BaseCommand):
    help = "Write a timestamped, consistent archive of the database and the media files."

    def add_arguments(self, parser):
        parser.add_argument("directory", help="Folder for the archive; created if missing.")
        parser.add_argument("--database", default="default")

    def handle(self, *args, directory, database, **options):
        try:
            archive = backup(
                directory, alias=database, progress=partial(command_progress, self, options)
            )
        except BackupError as error:
            raise CommandError(str(error)) from error
        elsewhere = media_elsewhere()
        if elsewhere:
            self.stdout.write(
                f"Media is not in the archive: it lives in {elsewhere}. "
                "Back up the bucket itself (versioning or replication)."
            )
        # Last, so that scripts can read the archive's path from the last line.
        self.stdout.write(str(archive))
