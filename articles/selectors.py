"""Reads that take more than one queryset call."""

from django.http import HttpRequest

from articles.models import Category

_REQUEST_CACHE_ATTR = "_healthhub_categories"


def get_categories(request: HttpRequest | None = None) -> list[Category]:
    """Return every category in navigation order, loaded once per request.

    The navigation, the breadcrumbs and the category pages all read from this
    one list, so a page pays a single query for all of them.
    """
    if request is not None and hasattr(request, _REQUEST_CACHE_ATTR):
        return getattr(request, _REQUEST_CACHE_ATTR)
    categories = list(Category.objects.all())
    if request is not None:
        setattr(request, _REQUEST_CACHE_ATTR, categories)
    return categories


def category_lineage(category: Category, categories: list[Category]) -> list[Category]:
    """Return the chain of categories from the top level down to ``category``."""
    by_id = {item.pk: item for item in categories}
    lineage, current, seen = [], by_id.get(category.pk, category), set()
    while current is not None and current.pk not in seen:
        seen.add(current.pk)
        lineage.append(current)
        current = by_id.get(current.parent_id)
    return lineage[::-1]


def descendant_ids(category: Category, categories: list[Category]) -> set[int]:
    """Return the ids of ``category`` and of every category below it."""
    ids, frontier = {category.pk}, [category.pk]
    while frontier:
        frontier = [
            item.pk for item in categories if item.parent_id in frontier and item.pk not in ids
        ]
        ids.update(frontier)
    return ids
