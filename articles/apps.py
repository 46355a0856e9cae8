from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


class ArticlesConfig(AppConfig):
    name = "articles"
    verbose_name = _("Articles")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from articles import checks, signals  # noqa: F401
        from articles.triggers import restore_sqlite_triggers

        post_migrate.connect(restore_sqlite_triggers, sender=self, dispatch_uid="restore-triggers")
