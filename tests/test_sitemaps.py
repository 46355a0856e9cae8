import datetime as dt
import xml.etree.ElementTree as ET
from unittest import mock

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from articles.models import Article
from articles.sitemaps import ArticleSitemap
from tests.factories import ArticleFactory, CategoryFactory, ReviewerFactory, UserFactory

pytestmark = pytest.mark.django_db

SITEMAP = "{http://www.sitemaps.org/schemas/sitemap/0.9}"
ATOM = "{http://www.w3.org/2005/Atom}"
SECTIONS = ["pages", "articles", "categories", "tags", "authors", "reviewers"]
LISTS = ["categories", "tags", "authors", "reviewers"]


def parse(response) -> ET.Element:
    assert response.status_code == 200
    assert response["Content-Type"] == "application/xml"
    return ET.fromstring(response.content)


def locations(response) -> list[str]:
    """Return the <loc> of every entry of a sitemap or sitemap index."""
    return [loc.text for loc in parse(response).iter(f"{SITEMAP}loc")]


def urls(response) -> dict[str, str | None]:
    """Map each URL of a sitemap section to its <lastmod>, if any."""
    return {
        url.findtext(f"{SITEMAP}loc"): url.findtext(f"{SITEMAP}lastmod")
        for url in parse(response).findall(f"{SITEMAP}url")
    }


def day(moment: dt.datetime) -> str:
    """Return the local date of ``moment`` as a sitemap writes it."""
    return timezone.localtime(moment).date().isoformat()


@pytest.fixture
def site(health, mental_health):
    """Build a small site: public and hidden articles, tags, authors and reviewers.

    Every article was saved today, as when a demo is loaded, but was
    published, or last substantially updated, days or weeks ago.
    """
    now = timezone.now()
    amelia = UserFactory(username="amelia")
    UserFactory(username="idle")
    ReviewerFactory(slug="dr-idle")
    ArticleFactory(
        category=health,
        author=amelia,
        slug="blood-pressure",
        tags=["heart", "salt"],
        published_at=now - dt.timedelta(days=30),
        reviewed_by=ReviewerFactory(slug="dr-okafor"),
    )
    anxiety = ArticleFactory(
        category=mental_health,
        author=amelia,
        slug="anxiety",
        tags=["stress"],
        published_at=now - dt.timedelta(days=60),
    )
    Article.objects.filter(pk=anxiety.pk).update(content_updated_at=now - dt.timedelta(days=9))
    ArticleFactory(
        category=health,
        author=UserFactory(username="drafter"),
        slug="draft",
        status=Article.Status.DRAFT,
        tags=["draft-only"],
        reviewed_by=ReviewerFactory(slug="dr-draft-only"),
    )
    ArticleFactory(
        category=health,
        author=UserFactory(username="scheduler"),
        slug="scheduled",
        published_at=now + dt.timedelta(hours=1),
        tags=["future-only", "salt"],
    )
    CategoryFactory(name="Empty", slug="empty")


# robots.txt -------------------------------------------------------------------


def test_robots_txt_keeps_crawlers_out_of_admin_and_names_the_sitemap(client, db):
    """robots.txt is plain text that allows the site, blocks admin, and names the sitemap."""
    response = client.get("/robots.txt")
    lines = response.content.decode().splitlines()

    assert response.status_code == 200
    assert response["Content-Type"] == "text/plain"
    assert lines[0] == "User-agent: *"
    assert {"Allow: /", "Disallow: /admin/"} <= set(lines)
    assert "Sitemap: http://testserver/sitemap.xml" in lines


def test_robots_txt_sitemap_follows_the_request_host_and_scheme(client, db, settings):
    """The Sitemap line uses the host and scheme the crawler asked with."""
    settings.ALLOWED_HOSTS = ["www.example.org"]
    response = client.get("/robots.txt", HTTP_HOST="www.example.org", secure=True)

    assert "Sitemap: https://www.example.org/sitemap.xml" in response.content.decode()


# Index ------------------------------------------------------------------------


def test_sitemap_index_lists_every_section(client, site):
    """/sitemap.xml is an index pointing to one sitemap per section."""
    response = client.get("/sitemap.xml")

    assert parse(response).tag == f"{SITEMAP}sitemapindex"
    assert locations(response) == [f"http://testserver/sitemap-{name}.xml" for name in SECTIONS]


def test_sitemap_index_pages_a_section_past_its_limit(client, site, monkeypatch):
    """A section larger than its limit is split into numbered pages listed in the index."""
    monkeypatch.setattr(ArticleSitemap, "limit", 1)

    index = locations(client.get("/sitemap.xml"))
    second_page = urls(client.get("/sitemap-articles.xml?p=2"))

    assert "http://testserver/sitemap-articles.xml?p=2" in index
    assert "http://testserver/sitemap-articles.xml?p=3" not in index
    assert len(second_page) == 1
    assert client.get("/sitemap-articles.xml?p=3").status_code == 404


def test_article_section_pages_list_every_published_article_once_in_id_order(
    client, health, monkeypatch, django_assert_max_num_queries
):
    """Read page by page, the article section lists each published article once, oldest first."""
    monkeypatch.setattr(ArticleSitemap, "limit", 2)
    articles = [ArticleFactory(category=health, slug=f"article-{n}") for n in range(5)]
    ArticleFactory(category=health, slug="draft", status=Article.Status.DRAFT)
    client.get("/sitemap-articles.xml")  # caches the section's count

    with django_assert_max_num_queries(2) as captured:
        last_page = urls(client.get("/sitemap-articles.xml?p=3"))
    # The ids come alone (from article_sitemap_idx), never whole rows past an OFFSET.
    assert captured.captured_queries[0]["sql"].startswith(
        'SELECT "articles_article"."id" AS "pk" FROM'
    )
    assert "OFFSET 4" in captured.captured_queries[0]["sql"]
    listed = [
        *urls(client.get("/sitemap-articles.xml")),
        *urls(client.get("/sitemap-articles.xml?p=2")),
        *last_page,
    ]

    assert listed == [f"http://testserver{article.get_absolute_url()}" for article in articles]
    assert client.get("/sitemap-articles.xml?p=4").status_code == 404


def test_sitemap_index_query_budget(client, django_assert_max_num_queries, site):
    """The index runs a fixed number of queries, at most two per section, then none."""
    with django_assert_max_num_queries(2 * len(SECTIONS)):
        assert client.get("/sitemap.xml").status_code == 200
    with django_assert_max_num_queries(0):
        assert client.get("/sitemap.xml").status_code == 200


def test_sitemap_index_does_not_group_every_article(client, site):
    """The index dates each section from the newest match, not from a pass over every article."""
    with CaptureQueriesContext(connection) as queries:
        assert client.get("/sitemap.xml").status_code == 200
    assert not [q["sql"] for q in queries if "GROUP BY" in q["sql"]]


def test_sitemap_index_lastmod_of_each_section_is_its_newest_entry(client, site):
    """Each section's lastmod in the index is the newest lastmod among its entries."""
    index = parse(client.get("/sitemap.xml"))
    lastmods = {
        entry.findtext(f"{SITEMAP}loc"): entry.findtext(f"{SITEMAP}lastmod")[:10]
        for entry in index.findall(f"{SITEMAP}sitemap")
    }

    assert lastmods == {
        f"http://testserver/sitemap-{name}.xml": max(
            urls(client.get(f"/sitemap-{name}.xml")).values()
        )
        for name in SECTIONS
    }


def test_unknown_sitemap_section_is_404(client, db):
    """A section that does not exist answers 404."""
    assert client.get("/sitemap-nothing.xml").status_code == 404


# Sections ----------------------------------------------------------------------


def test_article_section_lists_exactly_the_published_articles_with_lastmod(client, site):
    """The articles section lists public articles only, each dated by its content, not its save."""
    articles = Article.objects.filter(slug__in=["blood-pressure", "anxiety"])

    assert urls(client.get("/sitemap-articles.xml")) == {
        f"http://testserver{article.get_absolute_url()}": day(
            article.content_updated_at or article.published_at
        )
        for article in articles
    }


def test_each_articles_lastmod_is_its_feed_updated_date(client, health, mental_health):
    """An article's sitemap lastmod is the date of its Atom entry's <updated>."""
    now = timezone.now()
    for number in range(6):
        article = ArticleFactory(
            category=health if number % 2 else mental_health,
            slug=f"article-{number}",
            published_at=now - dt.timedelta(days=40 + number),
        )
        if number % 3:
            Article.objects.filter(pk=article.pk).update(
                content_updated_at=now - dt.timedelta(days=number)
            )
    feed = ET.fromstring(client.get("/feed/atom/").content)
    updated = {
        entry.find(f"{ATOM}link").get("href"): day(
            dt.datetime.fromisoformat(entry.findtext(f"{ATOM}updated"))
        )
        for entry in feed.findall(f"{ATOM}entry")
    }

    assert len(updated) == 6
    assert urls(client.get("/sitemap-articles.xml")) == updated


@pytest.mark.parametrize("section", SECTIONS)
def test_every_entry_of_every_section_has_a_lastmod(client, site, section):
    """No sitemap entry is left without a lastmod."""
    entries = urls(client.get(f"/sitemap-{section}.xml"))

    assert entries
    assert None not in entries.values()


def test_pages_section_lists_the_home_page_with_the_newest_content_date(client, site):
    """The home page is listed, dated by the newest content date of all published articles."""
    anxiety = Article.objects.get(slug="anxiety")

    assert urls(client.get("/sitemap-pages.xml")) == {
        "http://testserver/": day(anxiety.content_updated_at)
    }


def test_category_section_lists_the_categories_with_published_articles(client, site):
    """Categories with no published article, in them or below them, stay out of the sitemap."""
    assert set(urls(client.get("/sitemap-categories.xml"))) == {
        "http://testserver/health/",
        "http://testserver/mental-health/",
    }


def test_category_lastmod_counts_its_sub_categories_articles(client, site):
    """A category is dated by its newest article, sub-categories' articles included."""
    blood_pressure, anxiety = Article.objects.filter(slug__in=["blood-pressure", "anxiety"])
    assert anxiety.content_updated_at > blood_pressure.published_at

    assert urls(client.get("/sitemap-categories.xml")) == {
        "http://testserver/health/": day(anxiety.content_updated_at),
        "http://testserver/mental-health/": day(anxiety.content_updated_at),
    }


def test_list_pages_are_dated_by_their_newest_published_article(client, site):
    """A tag's, an author's and a reviewer's lastmod is their newest published article's date."""
    blood_pressure = Article.objects.get(slug="blood-pressure")
    anxiety = Article.objects.get(slug="anxiety")

    assert urls(client.get("/sitemap-tags.xml")) == {
        "http://testserver/tag/heart/": day(blood_pressure.published_at),
        "http://testserver/tag/salt/": day(blood_pressure.published_at),
        "http://testserver/tag/stress/": day(anxiety.content_updated_at),
    }
    assert urls(client.get("/sitemap-authors.xml")) == {
        "http://testserver/author/amelia/": day(anxiety.content_updated_at)
    }
    assert urls(client.get("/sitemap-reviewers.xml")) == {
        "http://testserver/reviewer/dr-okafor/": day(blood_pressure.published_at)
    }


def test_tag_section_lists_only_tags_of_published_articles(client, site):
    """Tags used only by drafts or scheduled articles stay out of the sitemap."""
    assert set(urls(client.get("/sitemap-tags.xml"))) == {
        "http://testserver/tag/heart/",
        "http://testserver/tag/salt/",
        "http://testserver/tag/stress/",
    }


def test_author_section_lists_only_authors_of_published_articles(client, site):
    """Authors without a published article stay out of the sitemap."""
    assert set(urls(client.get("/sitemap-authors.xml"))) == {"http://testserver/author/amelia/"}


def test_reviewer_section_lists_only_reviewers_of_published_articles(client, site):
    """Reviewers of drafts only, or of nothing, stay out of the sitemap."""
    reviewer = ReviewerFactory.build(slug="dr-okafor")

    assert set(urls(client.get("/sitemap-reviewers.xml"))) == {
        f"http://testserver{reviewer.get_absolute_url()}"
    }


def test_sitemap_uses_the_request_scheme(client, site):
    """Over HTTPS the sitemap lists https:// addresses."""
    assert set(urls(client.get("/sitemap-categories.xml", secure=True))) == {
        "https://testserver/health/",
        "https://testserver/mental-health/",
    }


@pytest.mark.parametrize("section", ["articles", *LISTS])
def test_sitemap_section_query_budget(client, django_assert_max_num_queries, health, section):
    """Each section runs at most three queries however many entries it lists."""
    for number in range(15):
        category = CategoryFactory(slug=f"topic-{number}", name=f"Topic {number}")
        ArticleFactory(
            category=category,
            tags=[f"tag-{number}", "shared"],
            reviewed_by=ReviewerFactory(slug=f"reviewer-{number}"),
        )

    with django_assert_max_num_queries(3):
        response = client.get(f"/sitemap-{section}.xml")
    assert len(urls(response)) >= 15


def test_pages_section_query_budget(client, django_assert_num_queries, health):
    """The pages section runs one query, for the newest content date."""
    ArticleFactory.create_batch(3, category=health)

    with django_assert_num_queries(1):
        assert len(urls(client.get("/sitemap-pages.xml"))) == 1


def test_scheduled_article_enters_the_sitemap_when_its_time_comes(client, health):
    """A scheduled article, its tag, author and reviewer appear exactly at its publish date."""
    start = timezone.now()
    ArticleFactory(
        category=health,
        author=UserFactory(username="scheduler"),
        slug="scheduled",
        published_at=start + dt.timedelta(hours=2),
        tags=["future-only"],
        reviewed_by=ReviewerFactory(slug="dr-scheduled"),
    )
    expected = {
        "articles": "http://testserver/health/scheduled/",
        "tags": "http://testserver/tag/future-only/",
        "authors": "http://testserver/author/scheduler/",
        "reviewers": "http://testserver/reviewer/dr-scheduled/",
    }

    with mock.patch("articles.models.timezone.now", return_value=start + dt.timedelta(hours=1)):
        for section, url in expected.items():
            assert url not in urls(client.get(f"/sitemap-{section}.xml"))
    with mock.patch("articles.models.timezone.now", return_value=start + dt.timedelta(hours=2)):
        for section, url in expected.items():
            assert url in urls(client.get(f"/sitemap-{section}.xml"))


def test_sitemap_section_answers_conditional_gets_from_cache(
    client, site, django_assert_num_queries
):
    """A sitemap section is cached, keeps its headers and answers 304 to its ETag."""
    first = client.get("/sitemap-articles.xml")
    with django_assert_num_queries(0):
        again = client.get("/sitemap-articles.xml", headers={"if-none-match": first["ETag"]})
        assert again.status_code == 304
        assert client.get("/sitemap-articles.xml").content == first.content
    assert first["X-Robots-Tag"] == "noindex, noodp, noarchive"


def test_sitemap_pages_are_cached_apart(client, site, monkeypatch):
    """Each page of a long section (?p=N) is cached under its own key."""
    monkeypatch.setattr(ArticleSitemap, "limit", 1)
    first, second = client.get("/sitemap-articles.xml"), client.get("/sitemap-articles.xml?p=2")
    assert urls(first) != urls(second)
    assert first["ETag"] != second["ETag"]


def test_a_scheduled_article_going_live_moves_its_lastmod_and_the_indexs(client, health):
    """An article saved days before it went live has the day it went live as its lastmod."""
    went_live = timezone.now() - dt.timedelta(hours=1)
    article = ArticleFactory(category=health, slug="went-live", published_at=went_live)
    Article.objects.filter(pk=article.pk).update(updated_at=went_live - dt.timedelta(days=3))
    day = timezone.localtime(went_live).date().isoformat()

    entries = urls(client.get("/sitemap-articles.xml"))
    assert entries[f"http://testserver{article.get_absolute_url()}"] == day
    index = parse(client.get("/sitemap.xml"))
    lastmods = [
        entry.findtext(f"{SITEMAP}lastmod")
        for entry in index.findall(f"{SITEMAP}sitemap")
        if "sitemap-articles" in entry.findtext(f"{SITEMAP}loc")
    ]
    assert [lastmod[:10] for lastmod in lastmods] == [day]
