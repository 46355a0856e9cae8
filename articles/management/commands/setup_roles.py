from django.apps import apps
from django.contrib.auth.management import create_permissions
from django.contrib.auth.models import Group, Permission
from django.core.management.base import BaseCommand
from django.db import transaction

from articles.roles import sync_roles


class Command(BaseCommand):
    help = "Create or update the Authors and Editors groups and their permissions."

    def handle(self, *args, **options):
        for app_config in apps.get_app_configs():
            create_permissions(app_config, verbosity=0)
        with transaction.atomic():
            counts = sync_roles(Group, Permission)
        for name, count in counts.items():
            self.stdout.write(f"{name}: {count} permissions")
