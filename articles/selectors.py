"""Reads that take more than one queryset call, and the cached fragments."""

import datetime as dt
import itertools
import logging
import re

from django.contrib.contenttypes.models import ContentType
from django.core.cache import cache
from django.db.models import (
    Case,
    Count,
    F,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Coalesce
from django.http import HttpRequest
from django.utils import timezone
from taggit.models import Tag, TaggedItem

from articles.caching import FRAGMENT_TIMEOUT, VERSIONED_TIMEOUT, content_version
from articles.models import Article, ArticleSlug, Category, DailyViews

_REQUEST_CACHE_ATTR = "_healthhub_categories"

logger = logging.getLogger(__name__)


def cached_fragment(name: str, build, *, timeout: int | None = FRAGMENT_TIMEOUT):
    """Return ``build()``, cached under ``name`` and the current content version."""
    key = f"healthhub:{name}:{content_version()}"
    value = cache.get(key)
    if value is None:
        value = build()
        cache.set(key, value, timeout=timeout)
    return value


def get_categories(request: HttpRequest | None = None) -> list[Category]:
    """Return every category in navigation order, once per request.

    The navigation, the breadcrumbs and the category pages all read from this
    one list, which is cached until content changes.
    """
    if request is not None and hasattr(request, _REQUEST_CACHE_ATTR):
        return getattr(request, _REQUEST_CACHE_ATTR)
    categories = cached_fragment(
        "categories", lambda: list(Category.objects.all()), timeout=VERSIONED_TIMEOUT
    )
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


def latest_articles(*, limit: int) -> list[Article]:
    """Return the newest published articles, cached for a minute (their cards show views)."""
    return cached_fragment(
        f"latest:{limit}",
        lambda: list(Article.objects.published().for_listing().newest_first()[:limit]),
    )


def most_read_this_week(*, category_ids: set[int] | None = None, limit: int = 5) -> list[Article]:
    """Return the published articles with the most views over the last 7 days.

    Cached for a minute: the weekly figures may lag that much behind.
    """
    scope = ",".join(map(str, sorted(category_ids))) if category_ids is not None else "all"
    return cached_fragment(
        f"most-read:{scope}:{limit}",
        lambda: _most_read_query(category_ids=category_ids, limit=limit),
    )


def _most_read_query(*, category_ids: set[int] | None, limit: int) -> list[Article]:
    since = timezone.now().date() - dt.timedelta(days=6)
    articles = Article.objects.published().for_listing()
    if category_ids is not None:
        articles = articles.filter(category_id__in=category_ids)
    # Ids first, starting from the week's tallies and through the covering
    # indexes, then the rows: ranking whole rows would read every article.
    viewed = DailyViews.objects.filter(date__gte=since).values("article_id")
    ranked = dict(
        articles.filter(pk__in=viewed, daily_views__date__gte=since)
        .values_list("pk")
        .annotate(week_views=Sum("daily_views__views"))
        .order_by("-week_views", "-published_at", "-pk")[:limit]
    )
    rows = {article.pk: article for article in articles.filter(pk__in=ranked)}
    for pk, views in ranked.items():
        rows[pk].week_views = views
    return [rows[pk] for pk in ranked if pk in rows]


def tagged_items(tag_ids: list[int]) -> QuerySet[TaggedItem]:
    """Return the taggings of articles with any of ``tag_ids``, read through the tag index."""
    return (
        TaggedItem.objects.filter(tag_id__in=tag_ids)
        # "+ 0" keeps SQLite off taggit's index on (content_type, object_id),
        # which would walk every tagged item; the tag index of migration 0007
        # covers these queries instead.
        .alias(kind=F("content_type_id") + 0)
        .filter(kind=ContentType.objects.get_for_model(Article).pk)
    )


def related_articles(article: Article, *, limit: int = 4) -> list[Article]:
    """Return published articles sharing the most tags with ``article``, then its category's.

    One query, whatever the number of articles, cached until
    content changes. ``article.tags`` should be prefetched.
    """
    return cached_fragment(f"related:{article.pk}:{limit}", lambda: _related(article, limit))


# Related articles are ranked among the articles sharing the most tags with
# this one, newest first: counting the shared tags of every tagged article
# would grow with the site.
RELATED_POOL = 100


def _related(article: Article, limit: int) -> list[Article]:
    tag_ids = [tag.pk for tag in article.tags.all()]
    published = Article.objects.published()
    # The candidates: the pool of best tag matches and the category's newest.
    # Each part is sliced, so each is wrapped before they are united.
    neighbours = published.filter(category_id=article.category_id).newest_first()
    candidate_ids = (
        Article.objects.filter(pk__in=neighbours.exclude(pk=article.pk).values("pk")[:limit])
        .order_by()
        .values("pk")
    )
    shared = Value(0)
    if tag_ids:
        items = tagged_items(tag_ids)
        pool = (
            items.exclude(object_id=article.pk)
            .values("object_id")
            .annotate(shared=Count("*"))
            .order_by("-shared", "-object_id")
            .values("object_id")[:RELATED_POOL]
        )
        candidate_ids = candidate_ids.union(
            Article.objects.filter(pk__in=pool).order_by().values("pk")
        )
        shared = Coalesce(
            Subquery(
                items.filter(object_id=OuterRef("pk"))
                .values("object_id")
                .annotate(shared=Count("*"))
                .values("shared")
            ),
            0,
        )
    same_category = Case(
        When(category_id=article.category_id, then=Value(1)),
        default=Value(0),
        output_field=IntegerField(),
    )
    return list(
        published.for_listing()
        .filter(pk__in=candidate_ids)
        .annotate(shared_tags=shared, same_category=same_category)
        .order_by("-shared_tags", "-same_category", "-published_at", "-pk")[:limit]
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
    return Article.objects.filter(pk__in=reviews_due_ids(today))


def reviews_due_ids(today: dt.date | None = None) -> QuerySet:
    """Return the ids of the articles with a review due, for ``pk__in``."""
    return _reviews_due_keys(today, "pk")


def _reviews_due_keys(today: dt.date | None, *fields: str) -> QuerySet:
    """Return ``fields`` of the articles with a review due, as a union of two index reads.

    Each part is read from an index that holds every column it tests
    (migration admin_indexes); one query with an OR would test the columns
    row by row, reading every live article (on SQLite, past its body).
    """
    overdue = Article.objects.review_overdue(today)
    never = Article.objects.filter(
        status=Article.Status.PUBLISHED,
        reviewed_by__isnull=True,
        category_id__in=review_required_category_ids(),
    )
    return overdue.order_by().values_list(*fields).union(never.order_by().values_list(*fields))


def reviews_due_first(*, limit: int, today: dt.date | None = None) -> list[Article]:
    """Return the ``limit`` articles with a review due, the oldest review first."""
    keys = _reviews_due_keys(today, "last_reviewed", "pk").order_by("last_reviewed", "pk")
    ids = [pk for _reviewed, pk in keys[:limit]]
    rows = Article.objects.select_related("reviewed_by").only(
        "title", "last_reviewed", "reviewed_by__name", "reviewed_by__credentials"
    )
    by_id = rows.in_bulk(ids)
    return [by_id[pk] for pk in ids if pk in by_id]


def editorial_summary() -> dict[str, int]:
    """Return the counts the admin index shows: in review, scheduled and reviews due."""
    return {
        "in_review": Article.objects.filter(status=Article.Status.IN_REVIEW).count(),
        "scheduled": Article.objects.scheduled().count(),
        "reviews_due": reviews_due_ids().count(),
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
    # The week's tallies alone are summed and ranked; grouping joined article
    # rows would carry (on SQLite, read) every viewed article's body.
    ranked = dict(
        DailyViews.objects.filter(date__gte=since)
        .values_list("article_id")
        .annotate(period_views=Sum("views"))
        .order_by("-period_views", "article_id")[:limit]
    )
    rows = Article.objects.select_related("category").only("title", "category__name")
    by_id = rows.in_bulk(ranked)
    for pk, views in ranked.items():
        if pk in by_id:
            by_id[pk].period_views = views
    return [by_id[pk] for pk in ranked if pk in by_id]


# The longest search the tags box sends; no tag name is longer.
TAG_TERM_LENGTH = 100


def tag_suggestions(term: str, *, limit: int = 10) -> list[str]:
    """Return the names of the most used tags with a word starting with ``term``."""
    term = " ".join(term.split())[:TAG_TERM_LENGTH]
    if not term:
        return []
    article_type = ContentType.objects.get_for_model(Article)
    return list(
        Tag.objects.filter(Q(name__istartswith=term) | Q(name__icontains=f" {term}"))
        .annotate(
            uses=Count(
                "taggit_taggeditem_items",
                filter=Q(taggit_taggeditem_items__content_type=article_type),
            )
        )
        .order_by("-uses", "name")
        .values_list("name", flat=True)[:limit]
    )


def free_article_slug(slug: str) -> str:
    """Return the first of ``slug-2``, ``slug-3``... that no article has or had."""
    base = re.sub(r"-\d+$", "", slug) or slug
    max_length = Article._meta.get_field("slug").max_length
    for start in itertools.count(2, 10):
        candidates = [
            f"{base[: max_length - len(str(n)) - 1].rstrip('-')}-{n}"
            for n in range(start, start + 10)
        ]
        # Old addresses count as taken: they redirect to their article.
        taken = set(
            Article.objects.filter(slug__in=candidates)
            .order_by()
            .values_list("slug", flat=True)
            .union(ArticleSlug.objects.filter(slug__in=candidates).values_list("slug", flat=True))
        )
        for candidate in candidates:
            if candidate not in taken:
                return candidate
