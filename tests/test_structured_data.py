"""The SEO head: titles, descriptions, canonical links, OpenGraph and JSON-LD."""

import json
import re

import pytest

from tests.factories import ArticleFactory, CategoryFactory, UserFactory

pytestmark = pytest.mark.django_db


def json_ld(html: str) -> list[dict]:
    """Return every JSON-LD block in the page, parsed."""
    blocks = re.findall(r'<script type="application/ld\+json"[^>]*>(.*?)</script>', html, re.S)
    return [json.loads(block) for block in blocks]


def of_type(blocks, kind):
    matches = [block for block in blocks if block["@type"] == kind]
    assert len(matches) == 1, f"expected one {kind}, got {[b['@type'] for b in blocks]}"
    return matches[0]


def visible_breadcrumb(html):
    nav = re.search(r'aria-label="Breadcrumb">\s*<ol>(.*?)</ol>', html, re.S).group(1)
    return [
        re.sub(r"<[^>]+>", "", item).strip() for item in re.findall(r"<li>(.*?)</li>", nav, re.S)
    ]


@pytest.fixture
def article(mental_health):
    author = UserFactory(username="amelia", first_name="Amelia", last_name="Hart")
    return ArticleFactory(
        category=mental_health,
        author=author,
        slug="coping",
        title="Coping with stress",
        excerpt="Practical ways to feel more in control.",
        tags=["stress", "habits"],
    )


def test_home_declares_the_website_search_and_publisher(client, db):
    """The home page carries WebSite with a SearchAction, and Organization."""
    blocks = json_ld(client.get("/").content.decode())
    website = of_type(blocks, "WebSite")
    assert website["potentialAction"]["target"]["urlTemplate"] == (
        "http://testserver/search/?q={search_term_string}"
    )
    assert of_type(blocks, "Organization")["name"] == "HealthHub"


def test_health_article_is_a_medical_web_page(client, article):
    """An article under Health is marked up as MedicalWebPage with its facts."""
    blocks = json_ld(client.get("/mental-health/coping/").content.decode())
    page = of_type(blocks, "MedicalWebPage")
    assert page["headline"] == "Coping with stress"
    assert page["description"] == "Practical ways to feel more in control."
    assert page["datePublished"] == article.published_at.isoformat()
    assert page["dateModified"] == article.published_at.isoformat()
    assert page["author"] == {
        "@type": "Person",
        "name": "Amelia Hart",
        "url": "http://testserver/author/amelia/",
    }
    assert page["publisher"]["@type"] == "Organization"
    assert sorted(page["keywords"]) == ["habits", "stress"]


def test_other_articles_are_plain_articles(client, db):
    """An article outside the medical categories is an Article."""
    ArticleFactory(category=CategoryFactory(slug="fitness", name="Fitness"), slug="squats")
    blocks = json_ld(client.get("/fitness/squats/").content.decode())
    assert of_type(blocks, "Article")["headline"]


def test_breadcrumb_list_matches_the_visible_breadcrumb(client, article):
    """The BreadcrumbList names the same items, in order, as the breadcrumb on the page."""
    html = client.get("/mental-health/coping/").content.decode()
    items = of_type(json_ld(html), "BreadcrumbList")["itemListElement"]
    assert [item["name"] for item in items] == visible_breadcrumb(html)
    assert [item["item"] for item in items] == [
        "http://testserver/",
        "http://testserver/health/",
        "http://testserver/mental-health/",
        "http://testserver/mental-health/coping/",
    ]
    assert [item["position"] for item in items] == [1, 2, 3, 4]


def test_a_title_cannot_break_out_of_the_json_ld(client, health):
    """A title containing </script> stays inside the JSON-LD string."""
    title = '</script><script>alert("x")</script> & more'
    ArticleFactory(category=health, slug="evil", title=title)
    html = client.get("/health/evil/").content.decode()
    assert "<script>alert" not in html
    assert of_type(json_ld(html), "MedicalWebPage")["headline"] == title


def test_article_head_has_title_description_canonical_and_open_graph(client, article):
    """The article's head names it, describes it and points to its canonical URL."""
    html = client.get("/mental-health/coping/?utm_source=x").content.decode()
    assert "<title>Coping with stress | HealthHub</title>" in html
    assert '<meta name="description" content="Practical ways to feel more in control.">' in html
    assert '<link rel="canonical" href="http://testserver/mental-health/coping/">' in html
    assert '<meta property="og:type" content="article">' in html
    assert '<meta property="og:title" content="Coping with stress">' in html
    assert '<meta name="twitter:card" content="summary">' in html
    assert '<html lang="en">' in html


def test_every_page_has_its_own_title(client, article):
    """Home, category, tag, author and article pages have distinct titles."""
    urls = ["/", "/health/", "/tag/stress/", "/author/amelia/", "/mental-health/coping/"]
    page_titles = [
        re.search(r"<title>(.*?)</title>", client.get(url).content.decode()).group(1)
        for url in urls
    ]
    assert len(set(page_titles)) == len(urls)
    assert page_titles[1] == "Health | HealthHub"


def test_category_description_is_the_meta_description(client, db):
    """A category page describes itself with the category's description."""
    CategoryFactory(slug="sleep", name="Sleep", description="Rest & recovery.")
    html = client.get("/sleep/").content.decode()
    assert '<meta name="description" content="Rest &amp; recovery.">' in html


def test_search_results_are_not_indexed(client, db):
    """The search page tells robots not to index it."""
    html = client.get("/search/?q=sleep").content.decode()
    assert '<meta name="robots" content="noindex">' in html
