"""Reads that take more than one queryset call, and the cached fragments."""

import datetime as dt
import time

from django.core.cache import cache
from django.db.models import Case, Count, IntegerField, Q, QuerySet, Sum, Value, When
from django.http import HttpRequest
from django.utils import timezone

from articles.models import Article, Category, DailyViews

CONTENT_VERSION_KEY = "healthhub:content-version"
# Cached lists are rebuilt at least this often, so a scheduled article shows
# up within a minute of its time even though nothing was saved.
FRAGMENT_TIMEOUT = 60
_REQUEST_CACHE_ATTR = "_healthhub_categories"


def content_version() -> int:
    """Return the site-wide content version that keys every cached fragment."""
    version = cache.get(CONTENT_VERSION_KEY)
    if version is None:
        version = int(time.time())
        cache.add(CONTENT_VERSION_KEY, version, timeout=None)
    return version


def get_categories(request: HttpRequest | None = None) -> list[Category]:
    """Return every category in navigation order, once per request.

    The navigation, the breadcrumbs and the category pages all read from this
    one list, which is cached until content changes.
    """
    if request is not None and hasattr(request, _REQUEST_CACHE_ATTR):
        return getattr(request, _REQUEST_CACHE_ATTR)
    key = f"healthhub:categories:{content_version()}"
    categories = cache.get(key)
    if categories is None:
        categories = list(Category.objects.all())
        cache.set(key, categories, timeout=None)
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


def most_read_this_week(*, category_ids: set[int] | None = None, limit: int = 5) -> list[Article]:
    """Return the published articles with the most views over the last 7 days."""
    since = timezone.now().date() - dt.timedelta(days=6)
    articles = Article.objects.published().for_listing()
    if category_ids is not None:
        articles = articles.filter(category_id__in=category_ids)
    return list(
        articles.filter(daily_views__date__gte=since)
        .annotate(week_views=Sum("daily_views__views"))
        .order_by("-week_views", "-published_at")[:limit]
    )


def related_articles(article: Article, *, limit: int = 4) -> list[Article]:
    """Return published articles sharing the most tags with ``article``, then its category's.

    One query, cached until content changes. ``article.tags`` should be
    prefetched.
    """
    key = f"healthhub:related:{article.pk}:{content_version()}"
    related = cache.get(key)
    if related is None:
        related = list(_related_query(article)[:limit])
        cache.set(key, related, timeout=FRAGMENT_TIMEOUT)
    return related


def _related_query(article: Article) -> QuerySet[Article]:
    tag_ids = [tag.pk for tag in article.tags.all()]
    candidates = Article.objects.published().exclude(pk=article.pk).for_listing()
    same_category = Case(
        When(category_id=article.category_id, then=Value(1)),
        default=Value(0),
        output_field=IntegerField(),
    )
    if not tag_ids:
        return candidates.filter(category_id=article.category_id).newest_first()
    return (
        candidates.annotate(
            shared_tags=Count("tags", filter=Q(tags__in=tag_ids), distinct=True),
            same_category=same_category,
        )
        .filter(Q(shared_tags__gt=0) | Q(category_id=article.category_id))
        .order_by("-shared_tags", "-same_category", "-published_at", "-pk")
    )


# Editorial reads -------------------------------------------------------------


def review_required_category_ids(categories: list[Category] | None = None) -> set[int]:
    """Return the ids of the categories that require a medical review, sub-categories included."""
    categories = list(Category.objects.all()) if categories is None else categories
    ids: set[int] = set()
    for category in categories:
        if category.requires_review:
            ids |= descendant_ids(category, categories)
    return ids


def reviews_due(today: dt.date | None = None) -> QuerySet[Article]:
    """Return the live articles whose review is overdue, or that need one and never had it."""
    overdue = Article.objects.review_overdue(today)
    never = Article.objects.filter(
        status=Article.Status.PUBLISHED,
        reviewed_by__isnull=True,
        category_id__in=review_required_category_ids(),
    )
    return overdue | never


def editorial_summary() -> dict[str, int]:
    """Return the counts the admin index shows: in review, scheduled and reviews due."""
    return {
        "in_review": Article.objects.filter(status=Article.Status.IN_REVIEW).count(),
        "scheduled": Article.objects.scheduled().count(),
        "reviews_due": reviews_due().count(),
    }


def daily_view_series(*, days: int = 30, article: Article | None = None) -> list[tuple]:
    """Return (date, views) for each of the last ``days`` days (UTC), oldest first, gaps as 0."""
    today = timezone.now().date()
    start = today - dt.timedelta(days=days - 1)
    rows = DailyViews.objects.filter(date__gte=start)
    if article is not None:
        rows = rows.filter(article=article)
    totals = dict(rows.values_list("date").annotate(total=Sum("views")).order_by())
    return [
        (day, totals.get(day, 0)) for day in (start + dt.timedelta(days=n) for n in range(days))
    ]


def top_articles(*, days: int = 7, limit: int = 10) -> list[Article]:
    """Return the articles with the most views over the last ``days`` days, with ``period_views``."""
    since = timezone.now().date() - dt.timedelta(days=days - 1)
    return list(
        Article.objects.filter(daily_views__date__gte=since)
        .select_related("category")
        .annotate(period_views=Sum("daily_views__views"))
        .order_by("-period_views", "title")[:limit]
    )
