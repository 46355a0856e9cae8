"""Sitemap sections: one per kind of public page, split into pages of 50,000 URLs.

Every entry's lastmod is a content date, ``content_updated_at or
published_at``: the date the feeds give as ``updated`` and the JSON-LD as
``dateModified``. A list page takes the newest of its articles'.
"""

from django.contrib.auth import get_user_model
from django.contrib.contenttypes.models import ContentType
from django.contrib.sitemaps import Sitemap
from django.core.paginator import Paginator
from django.db.models import Exists, Max, OuterRef, Q
from django.db.models.functions import Coalesce
from django.urls import reverse
from django.utils import timezone
from django.utils.functional import cached_property
from taggit.models import Tag, TaggedItem

from articles import selectors
from articles.models import Article, Reviewer
from articles.pagination import DeferredJoinPaginator

# published_at is when the article went live, so a scheduled article going
# live moves its date even though it was last saved days before.
CONTENT_DATE = Coalesce("content_updated_at", "published_at")


def newest_content_date(*conditions):
    """Return the newest content date of the published articles that match the arguments.

    Walks article_newest_content_idx from the newest date down to the first
    match, so the cost does not grow with the number of articles.
    """
    # The bound on the date itself lets SQLite walk that index; with only
    # published()'s bound on published_at it sorts every published row. A
    # content date in the future is no lastmod anyway.
    return (
        Article.objects.published()
        .filter(*conditions)
        .alias(content_date=CONTENT_DATE)
        .filter(content_date__lte=timezone.now())
        .order_by(CONTENT_DATE.desc())
        .values_list(CONTENT_DATE, flat=True)
        .first()
    )


def newest_content_date_by(field: str) -> dict:
    """Map each value of ``field`` to the newest content date of its published articles.

    One grouped pass over article_sitemap_lastmod_idx rather than a query per
    listed page. Joining the listed table here would let the database loop
    over it and scan the index once per row, so its rows come in a second query.
    """
    rows = (
        Article.objects.published()
        # Ordering by the key would walk an index led by it, such as
        # article_category_page_idx, and read every row.
        .order_by()
        .values_list(field)
        .annotate(latest=Max(CONTENT_DATE))
    )
    # An untagged or unreviewed article groups under None.
    return {key: latest for key, latest in rows if key is not None}


def dated(instance, lastmod):
    """Return ``instance`` with ``lastmod`` set on it."""
    instance.lastmod = lastmod
    return instance


class ListedPaginator(Paginator):
    """Count a section's pages without listing it while they surely fit on one.

    The sitemap index only needs the number of pages. While the table holds
    no more rows than a page, that is one, and the grouped pass that finds
    which rows are listed waits for a request for the section itself.
    """

    def __init__(self, items, per_page, *, upper_bound):
        self._list_items = items
        self._listed = None
        self.upper_bound = upper_bound
        super().__init__([], per_page)

    @property
    def object_list(self):
        if self._listed is None:
            self._listed = self._list_items()
        return self._listed

    @object_list.setter
    def object_list(self, value):
        # Paginator.__init__ assigns its argument; the items come from _list_items.
        pass

    def _check_object_list_is_ordered(self):
        # The listed rows are in id order already; asking would list them.
        pass

    @cached_property
    def count(self):
        bound = self.upper_bound()
        return bound if bound <= self.per_page else len(self.object_list)


class ListedSitemap(Sitemap):
    """A section of list pages, each dated by its newest published article.

    Lists the rows of get_queryset() that ``field`` names on a published article.
    """

    field = ""

    def get_queryset(self):
        raise NotImplementedError

    def listed_article_condition(self):
        """Return the condition an article meets when this section lists a page for it."""
        return Q(**{f"{self.field}__isnull": False})

    @property
    def paginator(self):
        return ListedPaginator(
            self._items, self.limit, upper_bound=lambda: self.get_queryset().count()
        )

    def get_latest_lastmod(self):
        # The newest listed page's date is the newest listed article's.
        return newest_content_date(self.listed_article_condition())

    @cached_property
    def listed(self) -> list:
        # The sitemap index reads the count and the newest date from this one list.
        newest = newest_content_date_by(self.field)
        rows = self.get_queryset().filter(pk__in=newest).order_by("pk")
        return [dated(row, newest[row.pk]) for row in rows]

    def items(self):
        return self.listed

    def lastmod(self, item):
        return item.lastmod


class PageSitemap(Sitemap):
    """The home page, which shows the newest articles."""

    def items(self):
        return ["articles:home"]

    def location(self, item):
        return reverse(item)

    @cached_property
    def newest(self):
        return newest_content_date()

    def lastmod(self, item):
        return self.newest


class ArticleSitemap(Sitemap):
    # Pages of 1,000 rather than 50,000 URLs: each stays about 100 KB, to
    # build, cache and send, however many articles there are.
    limit = 1000

    def items(self):
        return (
            Article.objects.published()
            .select_related("category")
            .only("slug", "content_updated_at", "published_at", "category__slug")
            .order_by("pk")
        )

    @property
    def paginator(self):
        # The rows' columns lie beyond the body in each row, so stepping over
        # earlier pages' rows would read every earlier body; the page's ids
        # come from article_sitemap_idx instead, and the count is cached.
        return DeferredJoinPaginator(
            self._items(), self.limit, count_key="sitemap:articles", deferred_join_from=0
        )

    def lastmod(self, item):
        return item.content_updated_at or item.published_at

    def get_latest_lastmod(self):
        # The default loads every article to find the newest date; the index
        # only needs the maximum, read from article_sitemap_lastmod_idx.
        return newest_content_date()


class CategorySitemap(ListedSitemap):
    """Categories with a published article in them or in a sub-category."""

    field = "category"

    def get_queryset(self):
        return selectors.get_categories()

    @property
    def paginator(self):
        return ListedPaginator(
            self._items, self.limit, upper_bound=lambda: len(self.get_queryset())
        )

    @cached_property
    def listed(self):
        own = newest_content_date_by("category")
        categories = selectors.get_categories()
        listed = []
        # A category page lists its sub-categories' articles too.
        for category in sorted(categories, key=lambda category: category.pk):
            dates = [own[pk] for pk in selectors.descendant_ids(category, categories) if pk in own]
            if dates:
                listed.append(dated(category, max(dates)))
        return listed


class TagSitemap(ListedSitemap):
    """Tags with at least one published article; the others lead to an empty page."""

    field = "tags"

    def get_queryset(self):
        return Tag.objects.only("slug")

    def listed_article_condition(self):
        # A join would repeat each article once per tag; EXISTS stops at its first.
        return Exists(
            TaggedItem.objects.filter(
                content_type=ContentType.objects.get_for_model(Article), object_id=OuterRef("pk")
            )
        )

    def location(self, item):
        return reverse("articles:tag", kwargs={"slug": item.slug})


class AuthorSitemap(ListedSitemap):
    """Authors with at least one published article."""

    field = "author"

    def get_queryset(self):
        user_model = get_user_model()
        return user_model.objects.only(user_model.USERNAME_FIELD)

    def location(self, item):
        return reverse("articles:author", kwargs={"username": item.get_username()})


class ReviewerSitemap(ListedSitemap):
    """Medical reviewers of at least one published article."""

    field = "reviewed_by"

    def get_queryset(self):
        return Reviewer.objects.only("slug")


SITEMAPS = {
    "pages": PageSitemap,
    "articles": ArticleSitemap,
    "categories": CategorySitemap,
    "tags": TagSitemap,
    "authors": AuthorSitemap,
    "reviewers": ReviewerSitemap,
}
