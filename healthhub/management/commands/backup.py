from django.core.management.base import BaseCommand, CommandError

from healthhub.backups import BackupError, backup


class Command(BaseCommand):
    help = "Write a timestamped, consistent archive of the database and the media files."

    def add_arguments(self, parser):
        parser.add_argument("directory", help="Folder for the archive; created if missing.")
        parser.add_argument("--database", default="default")

    def handle(self, *args, directory, database, **options):
        try:
            archive = backup(directory, alias=database)
        except BackupError as error:
            raise CommandError(str(error)) from error
        self.stdout.write(str(archive))
