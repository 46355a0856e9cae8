import datetime as dt
import re
import xml.etree.ElementTree as ET
from email.utils import parsedate_to_datetime
from unittest import mock

import pytest
from django.utils import timezone
from django.utils.html import escape

from articles.models import Article
from tests.factories import ArticleFactory, CategoryFactory, UserFactory

pytestmark = pytest.mark.django_db

ATOM = "{http://www.w3.org/2005/Atom}"
DC_CREATOR = "{http://purl.org/dc/elements/1.1/}creator"


def rss_items(response) -> list[ET.Element]:
    """Parse an RSS response and return its <item> elements."""
    assert response.status_code == 200
    assert response["Content-Type"] == "application/rss+xml; charset=utf-8"
    root = ET.fromstring(response.content)
    assert root.tag == "rss"
    return root.findall("./channel/item")


def titles(items: list[ET.Element]) -> list[str]:
    return [item.findtext("title") for item in items]


def head(html: str) -> str:
    """Return the <head> of a page."""
    match = re.search(r"<head>(.*?)</head>", html, re.S)
    assert match, "no <head>"
    return match.group(1)


# Site-wide RSS ------------------------------------------------------------


def test_feed_lists_exactly_the_published_articles_newest_first(client, health):
    """The feed leaves out drafts and scheduled articles and puts the newest first."""
    now = timezone.now()
    ArticleFactory(category=health, title="Older", published_at=now - dt.timedelta(days=3))
    ArticleFactory(category=health, title="Newer", published_at=now - dt.timedelta(days=1))
    ArticleFactory(category=health, title="Draft", status=Article.Status.DRAFT)
    ArticleFactory(category=health, title="Scheduled", published_at=now + dt.timedelta(hours=1))

    assert titles(rss_items(client.get("/feed/"))) == ["Newer", "Older"]


def test_feed_channel_is_named_for_the_site_and_links_home(client, health):
    """The channel is titled HealthHub, describes the site and links to the home page."""
    root = ET.fromstring(client.get("/feed/").content)
    channel = root.find("channel")

    assert channel.findtext("title") == "HealthHub"
    assert channel.findtext("link") == "http://testserver/"
    assert channel.findtext("description")


def test_feed_item_carries_every_field_a_reader_needs(client, health):
    """An item has title, link, guid, pubDate, author, categories and description."""
    author = UserFactory(username="amelia", first_name="Amelia", last_name="Stone")
    article = ArticleFactory(
        category=health,
        author=author,
        title="Sleep and stress",
        slug="sleep-and-stress",
        excerpt="How sleep and stress feed each other.",
        tags=["stress", "sleep"],
    )

    [item] = rss_items(client.get("/feed/"))

    assert item.findtext("title") == "Sleep and stress"
    assert item.findtext("link") == "http://testserver/health/sleep-and-stress/"
    assert item.findtext("description") == "How sleep and stress feed each other."
    assert item.findtext(DC_CREATOR) == "Amelia Stone"
    assert [c.text for c in item.findall("category")] == ["Health", "sleep", "stress"]
    assert parsedate_to_datetime(item.findtext("pubDate")) == article.published_at.replace(
        microsecond=0
    )
    guid = item.find("guid")
    assert guid.get("isPermaLink") == "false"
    assert guid.text == f"tag:testserver,{article.created_at:%Y-%m-%d}:article:{article.pk}"


def test_feed_author_falls_back_to_the_username(client, health):
    """An author without a full name appears under the username."""
    ArticleFactory(
        category=health, author=UserFactory(username="nurse-kay", first_name="", last_name="")
    )

    [item] = rss_items(client.get("/feed/"))

    assert item.findtext(DC_CREATOR) == "nurse-kay"


def test_feed_escapes_markup_in_titles_and_excerpts(client, health):
    """Markup in a title or excerpt reaches readers as text and never as live markup."""
    title = '<script>alert("x")</script> Salt & sugar'
    excerpt = "Why <script>alert(1)</script> & friends are bad."
    ArticleFactory(category=health, title=title, excerpt=excerpt)

    response = client.get("/feed/")
    [item] = rss_items(response)

    assert item.findtext("title") == title
    # The description is HTML to feed readers: the excerpt shows as typed.
    assert item.findtext("description") == escape(excerpt)
    assert b"<script>" not in response.content


def test_feed_holds_the_latest_20_articles(client, health):
    """The feed stops at the 20 newest articles."""
    now = timezone.now()
    for days in range(22):
        ArticleFactory(
            category=health, title=f"Day {days}", published_at=now - dt.timedelta(days=days + 1)
        )

    assert titles(rss_items(client.get("/feed/"))) == [f"Day {days}" for days in range(20)]


def test_feed_guid_survives_a_new_slug_and_category(client, health, mental_health):
    """Renaming or moving an article keeps its guid, so readers do not see it twice."""
    article = ArticleFactory(category=health, slug="first-slug")
    [before] = rss_items(client.get("/feed/"))

    article.slug = "second-slug"
    article.category = mental_health
    article.save()
    [after] = rss_items(client.get("/feed/"))

    assert after.findtext("link") == "http://testserver/mental-health/second-slug/"
    assert after.findtext("guid") == before.findtext("guid")


def test_scheduled_article_enters_the_feed_when_its_time_comes(client, health):
    """A scheduled article is absent from the feed until its publish date, then present."""
    start = timezone.now()
    ArticleFactory(category=health, title="Scheduled", published_at=start + dt.timedelta(hours=2))

    with mock.patch("articles.models.timezone.now", return_value=start + dt.timedelta(hours=1)):
        assert titles(rss_items(client.get("/feed/"))) == []
    with mock.patch("articles.models.timezone.now", return_value=start + dt.timedelta(hours=2)):
        assert titles(rss_items(client.get("/feed/"))) == ["Scheduled"]


def test_feed_query_budget(client, django_assert_max_num_queries, health):
    """The feed runs a fixed, small number of queries however many articles and tags exist."""
    ArticleFactory.create_batch(25, category=health, tags=["sleep", "stress", "diet"])

    with django_assert_max_num_queries(3):
        items = rss_items(client.get("/feed/"))
    assert len(items) == 20


# Atom -----------------------------------------------------------------------


def test_atom_feed_parses_with_the_atom_namespace(client, health):
    """The Atom feed is valid Atom XML with an entry per published article."""
    author = UserFactory(username="amelia", first_name="Amelia", last_name="Stone")
    article = ArticleFactory(
        category=health, author=author, slug="hydration", title="Hydration & you"
    )
    ArticleFactory(category=health, status=Article.Status.DRAFT)

    response = client.get("/feed/atom/")
    root = ET.fromstring(response.content)
    [entry] = root.findall(f"{ATOM}entry")

    assert response["Content-Type"] == "application/atom+xml; charset=utf-8"
    assert root.tag == f"{ATOM}feed"
    assert root.findtext(f"{ATOM}title") == "HealthHub"
    assert entry.findtext(f"{ATOM}title") == "Hydration & you"
    assert entry.find(f"{ATOM}link").get("href") == "http://testserver/health/hydration/"
    assert entry.findtext(f"{ATOM}id") == (
        f"tag:testserver,{article.created_at:%Y-%m-%d}:article:{article.pk}"
    )
    assert entry.findtext(f"{ATOM}author/{ATOM}name") == "Amelia Stone"
    assert entry.findtext(f"{ATOM}author/{ATOM}uri") == "http://testserver/author/amelia/"
    assert entry.find(f"{ATOM}summary").get("type") == "html"
    assert [c.get("term") for c in entry.findall(f"{ATOM}category")] == ["Health"]


def test_atom_updated_is_the_substantial_update_date_or_the_publish_date(client, health):
    """An entry's <updated> is its last substantial update, else its publish date."""
    now = timezone.now().replace(microsecond=0)
    ArticleFactory(category=health, title="Untouched", published_at=now - dt.timedelta(days=2))
    edited = ArticleFactory(
        category=health, title="Edited", published_at=now - dt.timedelta(days=3)
    )
    Article.objects.filter(pk=edited.pk).update(content_updated_at=now - dt.timedelta(hours=1))

    root = ET.fromstring(client.get("/feed/atom/").content)
    updated = {
        entry.findtext(f"{ATOM}title"): dt.datetime.fromisoformat(entry.findtext(f"{ATOM}updated"))
        for entry in root.findall(f"{ATOM}entry")
    }

    assert updated == {
        "Untouched": now - dt.timedelta(days=2),
        "Edited": now - dt.timedelta(hours=1),
    }


def test_atom_feed_query_budget(client, django_assert_max_num_queries, health):
    """The Atom feed runs a fixed, small number of queries."""
    ArticleFactory.create_batch(20, category=health, tags=["sleep", "stress", "diet"])

    with django_assert_max_num_queries(3):
        response = client.get("/feed/atom/")
    assert len(ET.fromstring(response.content).findall(f"{ATOM}entry")) == 20


# Category feed ----------------------------------------------------------------


def test_category_feed_includes_its_subcategories_articles_only(client, health, mental_health):
    """A category's feed holds its own and its sub-categories' articles, not others'."""
    now = timezone.now()
    ArticleFactory(category=health, title="Blood pressure", published_at=now - dt.timedelta(days=2))
    ArticleFactory(category=mental_health, title="Anxiety", published_at=now - dt.timedelta(days=1))
    ArticleFactory(category=CategoryFactory(slug="sleep", name="Sleep"), title="Naps")
    ArticleFactory(category=health, title="Draft", status=Article.Status.DRAFT)

    response = client.get("/health/feed/")
    channel = ET.fromstring(response.content).find("channel")

    assert titles(rss_items(response)) == ["Anxiety", "Blood pressure"]
    assert channel.findtext("title") == "HealthHub: Health"
    assert channel.findtext("link") == "http://testserver/health/"
    assert titles(rss_items(client.get("/mental-health/feed/"))) == ["Anxiety"]


def test_unknown_category_feed_is_404(client, health):
    """A feed for a category that does not exist answers 404."""
    assert client.get("/no-such-category/feed/").status_code == 404


def test_category_feed_query_budget(client, django_assert_max_num_queries, health, mental_health):
    """The category feed runs at most three queries, the category lookup included."""
    ArticleFactory.create_batch(12, category=health, tags=["sleep", "stress", "diet"])
    ArticleFactory.create_batch(12, category=mental_health, tags=["anxiety", "stress"])

    with django_assert_max_num_queries(3):
        items = rss_items(client.get("/health/feed/"))
    assert len(items) == 20


# Links in the page head ---------------------------------------------------------


def test_home_page_head_links_to_the_site_feeds(client, health):
    """The home page's <head> advertises the site's RSS and Atom feeds, no category feed."""
    html = head(client.get("/").content.decode())

    assert (
        '<link rel="alternate" type="application/rss+xml" title="HealthHub" href="/feed/">' in html
    )
    assert '<link rel="alternate" type="application/atom+xml"' in html
    assert 'href="/feed/atom/"' in html
    assert 'href="/health/feed/"' not in html


def test_category_and_article_pages_link_to_the_category_feed(client, health, mental_health):
    """A category page and an article page also advertise their category's feed."""
    ArticleFactory(category=mental_health, slug="coping")

    category_head = head(client.get("/health/").content.decode())
    article_head = head(client.get("/mental-health/coping/").content.decode())

    assert 'title="HealthHub: Health" href="/health/feed/"' in category_head
    assert 'title="HealthHub: Mental Health" href="/mental-health/feed/"' in article_head


# Caching and conditional GETs ----------------------------------------------


def test_feed_is_served_from_cache_until_content_changes(client, health, django_assert_num_queries):
    """A second fetch of the feed runs no query; publishing an article shows up at once."""
    ArticleFactory(category=health, title="First")
    client.get("/feed/")

    with django_assert_num_queries(0):
        assert titles(rss_items(client.get("/feed/"))) == ["First"]
    ArticleFactory(category=health, title="Second")
    assert titles(rss_items(client.get("/feed/"))) == ["Second", "First"]


def test_feed_answers_conditional_gets(client, health):
    """The feed carries an ETag and Last-Modified, answers 304 to either, and 200 after a change."""
    ArticleFactory(category=health)
    first = client.get("/feed/")
    etag, modified = first["ETag"], first["Last-Modified"]

    assert first["Cache-Control"] == "public, max-age=60"
    assert client.get("/feed/", headers={"if-none-match": etag}).status_code == 304
    assert client.get("/feed/", headers={"if-modified-since": modified}).status_code == 304
    ArticleFactory(category=health)
    changed = client.get("/feed/", headers={"if-none-match": etag})
    assert changed.status_code == 200
    assert changed["ETag"] != etag
