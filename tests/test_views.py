import datetime as dt
import re
from unittest import mock

import pytest
from django.utils import timezone

from articles.models import Article, DailyViews
from tests.factories import ArticleFactory, CategoryFactory

pytestmark = pytest.mark.django_db


def breadcrumb(html: str) -> list[str]:
    """Return the visible breadcrumb items as text."""
    nav = re.search(
        r'<nav class="breadcrumb" aria-label="Breadcrumb">\s*<ol>(.*?)</ol>', html, re.S
    )
    assert nav, "no breadcrumb"
    items = re.findall(r"<li>(.*?)</li>", nav.group(1), re.S)
    return [re.sub(r"<[^>]+>", "", item).strip() for item in items]


def titles(html: str) -> list[str]:
    """Return the titles of the article cards, in page order."""
    return re.findall(r'class="card__title"><a href="[^"]+">([^<]+)</a>', html)


# Home -------------------------------------------------------------------


def test_home_lists_newest_published_articles_and_most_read_this_week(client, health):
    """The home page shows published articles newest first and this week's most read."""
    now = timezone.now()
    today = now.date()
    old = ArticleFactory(category=health, title="Old news", published_at=now - dt.timedelta(days=9))
    fresh = ArticleFactory(
        category=health, title="Fresh news", published_at=now - dt.timedelta(days=1)
    )
    popular = ArticleFactory(
        category=health, title="Popular piece", published_at=now - dt.timedelta(days=5)
    )
    draft = ArticleFactory(category=health, title="Secret draft", status=Article.Status.DRAFT)
    DailyViews.objects.bulk_create(
        [
            DailyViews(article=popular, date=today, views=3000),
            DailyViews(article=popular, date=today - dt.timedelta(days=6), views=343),
            DailyViews(article=fresh, date=today, views=12),
            # Outside the 7-day window, and a draft: neither counts.
            DailyViews(article=old, date=today - dt.timedelta(days=7), views=99999),
            DailyViews(article=draft, date=today, views=99999),
        ]
    )

    response = client.get("/")
    html = response.content.decode()

    assert response.status_code == 200
    assert titles(html) == ["Fresh news", "Popular piece", "Old news"]
    most_read = html[html.index('id="most-read-heading"') :]
    assert "Most read this week" in most_read
    assert most_read.index("Popular piece") < most_read.index("Fresh news")
    assert "3,343 views this week" in most_read
    assert "Old news" not in most_read
    assert "Secret draft" not in html


def test_home_shows_navigation_and_empty_state(client, health):
    """With nothing published, the home page answers with the navigation and a message."""
    response = client.get("/")
    html = response.content.decode()
    assert response.status_code == 200
    assert '<a href="/health/"' in html
    assert "No articles have been published yet" in html


def test_home_query_budget(client, django_assert_max_num_queries, health):
    """The home page runs a fixed, small number of queries, and none once its lists are cached."""
    ArticleFactory.create_batch(15, category=health, tags=["sleep", "stress"])
    with django_assert_max_num_queries(3):
        assert client.get("/").status_code == 200
    with django_assert_max_num_queries(0):
        assert client.get("/").status_code == 200


def test_home_shows_a_new_article_at_once(client, health):
    """Publishing an article changes the content version, so the cached home lists are not reused."""
    ArticleFactory(category=health, title="Earlier piece")
    assert "Earlier piece" in client.get("/").content.decode()
    ArticleFactory(category=health, title="Breaking piece")
    assert titles(client.get("/").content.decode())[0] == "Breaking piece"


def test_edited_title_is_never_served_stale(client, health):
    """After an edit, every page shows the new title on the next request."""
    article = ArticleFactory(category=health, title="Old title", tags=["sleep"])
    other = ArticleFactory(category=health, tags=["sleep"])
    pages = ["/", "/health/", "/tag/sleep/", other.get_absolute_url()]
    assert all("Old title" in client.get(url).content.decode() for url in pages)

    article.title = "New title"
    article.save()

    for url in pages:
        html = client.get(url).content.decode()
        assert "New title" in html
        assert "Old title" not in html


# Category ---------------------------------------------------------------


def test_category_page_lists_its_articles_and_its_subcategories(client, health, mental_health):
    """A category page includes articles from its sub-categories, newest first."""
    now = timezone.now()
    ArticleFactory(category=health, title="Blood pressure", published_at=now - dt.timedelta(days=3))
    ArticleFactory(category=mental_health, title="Anxiety", published_at=now - dt.timedelta(days=1))
    ArticleFactory(category=CategoryFactory(slug="sleep", name="Sleep"), title="Naps")

    response = client.get("/health/")
    html = response.content.decode()

    assert response.status_code == 200
    assert titles(html) == ["Anxiety", "Blood pressure"]
    assert breadcrumb(html) == ["Home", "Health"]
    assert '<a href="/mental-health/">Mental Health</a>' in html


def test_subcategory_breadcrumb_shows_the_whole_chain(client, mental_health):
    """A sub-category's breadcrumb runs Home, then the parent, then the sub-category."""
    response = client.get("/mental-health/")
    assert breadcrumb(response.content.decode()) == ["Home", "Health", "Mental Health"]


def test_category_is_paginated_twelve_per_page(client, health):
    """The 13th newest article moves to page 2."""
    now = timezone.now()
    for day in range(13):
        ArticleFactory(
            category=health, title=f"Day {day}", published_at=now - dt.timedelta(days=day)
        )

    first = client.get("/health/").content.decode()
    second = client.get("/health/?page=2").content.decode()

    assert len(titles(first)) == 12
    assert titles(second) == ["Day 12"]
    assert '<a href="/health/?page=2" aria-current="page"' in second
    assert '<a class="pagination__step" rel="prev" href="/health/">' in second
    assert '<link rel="canonical" href="http://testserver/health/?page=2">' in second
    assert '<a class="pagination__step" rel="next" href="/health/?page=2">' in first


def test_first_page_canonical_has_no_page_parameter(client, health):
    """Page 1, asked for as ?page=1 or not, names the bare URL as canonical."""
    ArticleFactory.create_batch(13, category=health)
    for url in ("/health/", "/health/?page=1"):
        html = client.get(url).content.decode()
        assert '<link rel="canonical" href="http://testserver/health/">' in html
    assert 'href="/health/" aria-current="page"' in html


@pytest.mark.parametrize("page", ["abc", "0", "-1", "3", "99999", "1.5", "%00"])
def test_bad_page_number_is_404(client, health, page):
    """Every page value that is not a real page answers 404, never 500."""
    ArticleFactory.create_batch(13, category=health)
    assert client.get(f"/health/?page={page}").status_code == 404


def test_unknown_category_is_404(client, health):
    """A category slug that does not exist answers with the site's 404 page."""
    response = client.get("/no-such-category/")
    assert response.status_code == 404
    assert "Page not found" in response.content.decode()


def test_category_query_budget(client, django_assert_max_num_queries, health, mental_health):
    """A category page stays within four queries whatever it lists."""
    ArticleFactory.create_batch(20, category=mental_health, tags=["a", "b", "c"])
    with django_assert_max_num_queries(4):
        assert client.get("/health/?page=2").status_code == 200


def test_deep_category_page_loads_ids_then_rows(client, django_assert_max_num_queries, health):
    """A deep page finds its ids through the index, then loads only its own rows."""
    ArticleFactory.create_batch(150, category=health)
    assert client.get("/health/").status_code == 200  # caches the categories and the count

    with django_assert_max_num_queries(2) as captured:
        last = client.get("/health/?page=13")

    assert last.status_code == 200
    assert len(titles(last.content.decode())) == 6
    assert captured.captured_queries[0]["sql"].startswith(
        'SELECT "articles_article"."id" AS "pk" FROM'
    )
    assert "OFFSET 144" in captured.captured_queries[0]["sql"]
    assert titles(last.content.decode()) == [
        a.title for a in Article.objects.filter(category=health).newest_first()[144:]
    ]


# Article ----------------------------------------------------------------


@pytest.fixture
def sleep_article(health):
    article = ArticleFactory(
        category=health,
        title="How Much Sleep Do Adults Need?",
        slug="how-much-sleep",
        published_at=dt.datetime(2025, 1, 7, 9, 30, tzinfo=dt.UTC),
        tags=["sleep", "heart health"],
    )
    Article.objects.filter(pk=article.pk).update(view_count=3342)
    return article


def test_article_page_shows_the_reference_layout(client, sleep_article):
    """The article page has the breadcrumb, one H1, the date, the category and the views."""
    response = client.get("/health/how-much-sleep/")
    html = response.content.decode()

    assert response.status_code == 200
    assert breadcrumb(html) == ["Home", "Health", "How Much Sleep Do Adults Need?"]
    assert '<nav class="breadcrumb" aria-label="Breadcrumb">' in html
    assert html.count("<h1") == 1
    assert '<h1 class="article__title">How Much Sleep Do Adults Need?</h1>' in html
    assert "January 7, 2025" in html
    assert '<a href="/health/">Health</a>' in html
    assert "3,343 views" in html
    assert '<h2 id="why-it-matters">Why it matters</h2>' in html
    assert "<title>How Much Sleep Do Adults Need? | HealthHub</title>" in html


def test_article_tags_link_to_tag_pages(client, sleep_article):
    """Each tag on the article page links to /tag/<slug>/."""
    html = client.get("/health/how-much-sleep/").content.decode()
    assert '<a href="/tag/sleep/">sleep</a>' in html
    assert '<a href="/tag/heart-health/">heart health</a>' in html


def test_article_under_wrong_category_redirects_permanently(client, sleep_article):
    """An article requested under another category's slug gets a 301 to its real URL."""
    CategoryFactory(slug="sleep", name="Sleep")
    response = client.get("/sleep/how-much-sleep/")
    assert response.status_code == 301
    assert response["Location"] == "/health/how-much-sleep/"


@pytest.mark.parametrize(
    "state",
    [
        {"status": Article.Status.DRAFT},
        {"published_at": timezone.now() + dt.timedelta(days=1)},
    ],
    ids=["draft", "future"],
)
def test_unpublished_article_is_404(client, health, state):
    """Drafts and scheduled articles are not found by the public."""
    ArticleFactory(category=health, slug="hidden", **state)
    assert client.get("/health/hidden/").status_code == 404


def test_unknown_article_is_404(client, health):
    """An article slug that does not exist answers 404."""
    assert client.get("/health/nothing-here/").status_code == 404


def test_article_title_is_escaped(client, health):
    """Markup in a title is shown as text, never run."""
    ArticleFactory(category=health, slug="xss", title="<script>alert(1)</script> Tips")
    html = client.get("/health/xss/").content.decode()
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; Tips" in html


@pytest.mark.parametrize("tag_count", [1, 12])
def test_article_query_budget_does_not_grow_with_tags(
    client, django_assert_max_num_queries, mental_health, tag_count
):
    """The article page runs a fixed number of queries, however many tags and related articles."""
    tags = [f"tag {n}" for n in range(tag_count)]
    ArticleFactory(category=mental_health, slug="stress", tags=tags)
    ArticleFactory.create_batch(6, category=mental_health, tags=tags[:3])

    with django_assert_max_num_queries(5):
        cold = client.get("/mental-health/stress/")
    # Served from cache: one UPDATE ... RETURNING counts the view and reads the count.
    with django_assert_max_num_queries(1):
        warm = client.get("/mental-health/stress/")

    assert cold.status_code == warm.status_code == 200
    html = warm.content.decode()
    article_tags = html[html.index('class="article__footer"') : html.index('id="related-heading"')]
    assert article_tags.count('href="/tag/') == tag_count
    assert "2 views" in html


def test_cached_article_page_counts_and_shows_every_view(client, sleep_article):
    """Served from cache, the article page still counts each reader and shows the live count."""
    pages = [client.get("/health/how-much-sleep/").content.decode() for _ in range(3)]
    head = client.head("/health/how-much-sleep/")
    crawled = client.get("/health/how-much-sleep/", headers={"user-agent": "Googlebot/2.1"})

    for page, expected in zip(pages, ["3,343 views", "3,344 views", "3,345 views"], strict=True):
        assert expected in page
    assert head.status_code == 200
    assert "3,345 views" in crawled.content.decode()
    assert Article.objects.get(pk=sleep_article.pk).view_count == 3345


def test_cached_article_page_shows_an_edit_at_once(client, sleep_article):
    """An edit reaches the article page on the next request, not after the cache expires."""
    assert "Sleep Do Adults" in client.get("/health/how-much-sleep/").content.decode()
    sleep_article.title = "Sleep, revised"
    sleep_article.save()
    assert '<h1 class="article__title">Sleep, revised</h1>' in (
        client.get("/health/how-much-sleep/").content.decode()
    )


def test_unpublished_article_leaves_the_cache_at_once(client, sleep_article):
    """Unpublishing an article makes its cached page answer 404 on the next request."""
    assert client.get("/health/how-much-sleep/").status_code == 200
    sleep_article.status = Article.Status.DRAFT
    sleep_article.save()
    assert client.get("/health/how-much-sleep/").status_code == 404


# Tag --------------------------------------------------------------------


def test_tag_page_lists_the_published_articles_with_that_tag(client, health):
    """A tag page lists its published articles with a count."""
    ArticleFactory(category=health, title="Sleep and mood", tags=["sleep"])
    ArticleFactory(
        category=health, title="Sleep draft", tags=["sleep"], status=Article.Status.DRAFT
    )
    ArticleFactory(category=health, title="Fibre facts", tags=["diet"])

    response = client.get("/tag/sleep/")
    html = response.content.decode()

    assert response.status_code == 200
    assert titles(html) == ["Sleep and mood"]
    assert "1 article" in html


def test_unknown_tag_is_404(client, db):
    """A tag that does not exist answers 404."""
    assert client.get("/tag/nope/").status_code == 404


def test_tag_query_budget(client, django_assert_max_num_queries, health):
    """A tag page stays within four queries whatever it lists."""
    ArticleFactory.create_batch(15, category=health, tags=["sleep", "diet"])
    with django_assert_max_num_queries(4):
        assert client.get("/tag/sleep/").status_code == 200


def test_scheduled_article_appears_on_pages_exactly_at_its_time(client, health):
    """Before its time a scheduled article is nowhere; from its time on it is everywhere."""
    start = timezone.now()
    ArticleFactory(
        category=health,
        slug="soon",
        title="Scheduled piece",
        published_at=start + dt.timedelta(hours=1),
        tags=["sleep"],
    )
    pages = ["/", "/health/", "/tag/sleep/"]

    with mock.patch("articles.models.timezone.now", return_value=start + dt.timedelta(minutes=59)):
        assert client.get("/health/soon/").status_code == 404
        assert not any("Scheduled piece" in client.get(url).content.decode() for url in pages)
    with mock.patch("articles.models.timezone.now", return_value=start + dt.timedelta(hours=1)):
        assert client.get("/health/soon/").status_code == 200
        assert all("Scheduled piece" in client.get(url).content.decode() for url in pages)


def test_footer_links_to_the_feed_and_sitemap(client, db):
    """Every page's footer links to the RSS feed and the sitemap."""
    html = client.get("/").content.decode()
    assert '<a href="/feed/">RSS feed</a>' in html
    assert '<a href="/sitemap.xml">Sitemap</a>' in html
