"""System checks that need a running dependency (run with `manage.py check --deploy`)."""

import redis
from django.conf import settings
from django.core import checks


@checks.register(checks.Tags.caches, deploy=True)
def check_view_buffer_persists(app_configs, **kwargs):
    """Warn when buffered views sit in a Redis that would lose them on a restart."""
    if settings.HEALTHHUB_VIEW_COUNTER != "buffered":
        return []
    from articles.counting import LOSS_BOUNDS, buffer_persistence

    try:
        persistence = buffer_persistence()
    except redis.RedisError as error:
        return [
            checks.Warning(
                f"Cannot ask the view buffer's Redis how it persists: {error}",
                hint="Check HEALTHHUB_VIEW_BUFFER_URL (or REDIS_URL) and that Redis runs.",
                id="healthhub.W002",
            )
        ]
    if persistence.startswith("aof-") and persistence != "aof-no":
        return []
    return [
        checks.Warning(
            f"The view buffer's Redis persists as '{persistence}': a restart can lose "
            f"{LOSS_BOUNDS[persistence]}.",
            hint="Run that Redis with appendonly yes (appendfsync everysec or always).",
            id="healthhub.W001",
        )
    ]
