"""Sitemap sections: one per kind of public page, split into pages of 50,000 URLs."""

from django.contrib.auth import get_user_model
from django.contrib.sitemaps import Sitemap
from django.db.models import Exists, Max, OuterRef
from django.db.models.functions import Greatest
from django.urls import reverse
from taggit.models import Tag

from articles.models import Article, Category
from articles.pagination import DeferredJoinPaginator


class ArticleSitemap(Sitemap):
    # Pages of 1,000 rather than 50,000 URLs: each stays about 100 KB, to
    # build, cache and send, however many articles there are.
    limit = 1000

    def items(self):
        return (
            Article.objects.published()
            .select_related("category")
            .only("slug", "updated_at", "published_at", "category__slug")
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
        # A scheduled article changes the page when it goes live, after its last save.
        return max(item.updated_at, item.published_at)

    def get_latest_lastmod(self):
        # The default loads every article to find the newest date; the index
        # only needs the maximum, read from article_lastmod_idx.
        latest = Greatest("updated_at", "published_at")
        return Article.objects.published().aggregate(latest=Max(latest))["latest"]


class CategorySitemap(Sitemap):
    def items(self):
        return Category.objects.only("slug").order_by("pk")


class TagSitemap(Sitemap):
    """Tags with at least one published article; the others lead to an empty page."""

    def items(self):
        published = Article.objects.published().filter(tags=OuterRef("pk"))
        return Tag.objects.filter(Exists(published)).only("slug").order_by("pk")

    def location(self, item):
        return reverse("articles:tag", kwargs={"slug": item.slug})


class AuthorSitemap(Sitemap):
    """Authors with at least one published article."""

    def items(self):
        user_model = get_user_model()
        published = Article.objects.published().filter(author=OuterRef("pk"))
        return (
            user_model.objects.filter(Exists(published))
            .only(user_model.USERNAME_FIELD)
            .order_by("pk")
        )

    def location(self, item):
        return reverse("articles:author", kwargs={"username": item.get_username()})


SITEMAPS = {
    "articles": ArticleSitemap,
    "categories": CategorySitemap,
    "tags": TagSitemap,
    "authors": AuthorSitemap,
}
