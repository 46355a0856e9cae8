from django.apps import AppConfig


class HealthhubConfig(AppConfig):
    name = "healthhub"
    verbose_name = "HealthHub"

    def ready(self):
        from healthhub import database  # noqa: F401  (connects the query guard)
