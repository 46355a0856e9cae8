from django.conf import settings
from django.utils.functional import SimpleLazyObject

from articles.selectors import get_categories


def navigation(request):
    """Expose the top-level categories for the site navigation, loaded lazily."""
    return {
        "site_name": settings.HEALTHHUB_SITE_NAME,
        "nav_categories": SimpleLazyObject(
            lambda: [item for item in get_categories(request) if item.parent_id is None]
        ),
    }
