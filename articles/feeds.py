"""RSS and Atom feeds of the latest published articles."""

import copy

from django.conf import settings
from django.contrib.syndication.views import Feed
from django.http import Http404
from django.http.request import split_domain_port
from django.utils.feedgenerator import Atom1Feed, Rss201rev2Feed
from django.utils.html import escape

from articles import selectors
from articles.models import Article
from articles.validators import strip_unsafe_characters


def _xml_safe(value):
    """Return ``value`` with every string in it stripped of what XML 1.0 cannot carry."""
    if isinstance(value, str):
        return strip_unsafe_characters(value)
    if isinstance(value, dict):
        return {key: _xml_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_xml_safe(item) for item in value)
    return value


class XMLSafeFeedMixin:
    """Write the feed without the characters XML 1.0 cannot carry.

    The models refuse control characters, but a row written around them (a
    bulk update, a raw query) must cost a feed entry its stray character,
    not every reader their feed.
    """

    def write(self, outfile, encoding):
        self.feed = _xml_safe(self.feed)
        self.items = [_xml_safe(item) for item in self.items]
        super().write(outfile, encoding)


class SafeRssFeed(XMLSafeFeedMixin, Rss201rev2Feed):
    pass


class SafeAtomFeed(XMLSafeFeedMixin, Atom1Feed):
    pass


class LatestArticlesFeed(Feed):
    """The latest published articles of the whole site, as RSS 2.0."""

    feed_type = SafeRssFeed
    item_count = 20
    link = "/"
    item_guid_is_permalink = False

    def __call__(self, request, *args, **kwargs):
        # The URLconf holds one instance for every request and thread; item
        # methods that need the request (absolute URLs, the guid's host) read
        # it from a copy made for this request alone.
        feed = copy.copy(self)
        feed.request = request
        return super(LatestArticlesFeed, feed).__call__(request, *args, **kwargs)

    def title(self):
        return settings.HEALTHHUB_SITE_NAME

    def description(self):
        return f"The latest health articles from {settings.HEALTHHUB_SITE_NAME}."

    def articles(self):
        """Return the public articles with everything an item shows, newest first."""
        return (
            Article.objects.published()
            .select_related("category", "author")
            .prefetch_related("tags")
            .defer("body", "body_html", "toc")
            .newest_first()
        )

    def items(self):
        return self.articles()[: self.item_count]

    def item_title(self, item):
        # Plain text: the feed generator escapes it for XML exactly once.
        return item.title

    def item_description(self, item):
        # Readers treat the description (Atom: summary type="html") as HTML,
        # so the plain-text excerpt is escaped to show as the author typed it.
        return escape(item.excerpt)

    def item_pubdate(self, item):
        return item.published_at

    def item_updateddate(self, item):
        return item.content_updated_at or item.published_at

    def item_author_name(self, item):
        return item.author.get_full_name() or item.author.get_username()

    def item_author_link(self, item):
        return self.request.build_absolute_uri(item.get_author_url())

    def item_categories(self, item):
        names = [item.category.name, *sorted(tag.name for tag in item.tags.all())]
        return list(dict.fromkeys(names))

    def item_guid(self, item):
        # Built from the primary key, so renaming the article or moving it to
        # another category never makes readers see it as a new item.
        domain, _port = split_domain_port(self.request.get_host())
        return f"tag:{domain},{item.created_at:%Y-%m-%d}:article:{item.pk}"


class LatestArticlesAtomFeed(LatestArticlesFeed):
    """The latest published articles of the whole site, as Atom 1.0."""

    feed_type = SafeAtomFeed

    def subtitle(self):
        return self.description()


class CategoryArticlesFeed(LatestArticlesFeed):
    """The latest published articles of a category and its sub-categories, as RSS 2.0."""

    def get_object(self, request, slug):
        category = next((c for c in selectors.get_categories(request) if c.slug == slug), None)
        if category is None:
            raise Http404("No such category.")
        return category

    def title(self, obj):
        return f"{settings.HEALTHHUB_SITE_NAME}: {obj.name}"

    def link(self, obj):
        return obj.get_absolute_url()

    def description(self, obj):
        # Like item descriptions, readers may render this as HTML: escape it.
        return escape(
            obj.description
            or f"The latest {obj.name} articles from {settings.HEALTHHUB_SITE_NAME}."
        )

    def items(self, obj):
        category_ids = selectors.descendant_ids(obj, selectors.get_categories(self.request))
        return self.articles().filter(category_id__in=category_ids)[: self.item_count]
