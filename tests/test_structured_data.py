"""The SEO head: titles, descriptions, canonical links, OpenGraph and JSON-LD."""

import json
import re
from html.parser import HTMLParser
from io import BytesIO

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from tests.factories import ArticleFactory, CategoryFactory, ReviewerFactory, UserFactory

pytestmark = pytest.mark.django_db


def json_ld(html: str) -> list[dict]:
    """Return every JSON-LD block in the page, parsed."""
    blocks = re.findall(r'<script type="application/ld\+json"[^>]*>(.*?)</script>', html, re.S)
    return [json.loads(block) for block in blocks]


def types(block) -> list[str]:
    kind = block["@type"]
    return kind if isinstance(kind, list) else [kind]


def of_type(blocks, kind):
    matches = [block for block in blocks if kind in types(block)]
    assert len(matches) == 1, f"expected one {kind}, got {[b['@type'] for b in blocks]}"
    return matches[0]


class HeadMeta(HTMLParser):
    """Collect the (property or name, content) pairs of the <meta> tags in <head>."""

    def __init__(self):
        super().__init__()
        self.in_head = False
        self.pairs = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "head":
            self.in_head = True
        elif tag == "meta" and self.in_head and "content" in attrs:
            self.pairs.append((attrs.get("property") or attrs.get("name"), attrs["content"]))

    def handle_endtag(self, tag):
        if tag == "head":
            self.in_head = False


def head_meta(html: str) -> dict[str, str]:
    """Return the page's head <meta> contents by property or name; each must appear once."""
    parser = HeadMeta()
    parser.feed(html)
    names = [name for name, _ in parser.pairs]
    assert len(names) == len(set(names)), f"repeated meta tags: {names}"
    return dict(parser.pairs)


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


@pytest.fixture
def public_pages(article):
    """Return one URL of each kind of public page, all showing articles without a cover."""
    reviewer = ReviewerFactory(slug="dr-lee", name="Dr Lee")
    ArticleFactory(category=article.category, slug="reviewed", reviewed_by=reviewer)
    return [
        "/",
        "/health/",
        "/tag/stress/",
        "/author/amelia/",
        "/reviewer/dr-lee/",
        "/search/?q=stress",
        "/mental-health/coping/",
    ]


@pytest.fixture
def covered(mental_health, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    buffer = BytesIO()
    Image.new("RGB", (2000, 1200), "teal").save(buffer, "JPEG")
    return ArticleFactory(
        category=mental_health,
        slug="porridge",
        cover_image=SimpleUploadedFile("cover.jpg", buffer.getvalue()),
        cover_alt="A bowl of porridge",
    )


DEFAULT_CARD = {
    "og:image": "http://testserver/static/img/share-card.png",
    "og:image:width": "1200",
    "og:image:height": "630",
    "og:image:alt": "HealthHub: clear, carefully written health articles",
    "twitter:image": "http://testserver/static/img/share-card.png",
    "twitter:image:alt": "HealthHub: clear, carefully written health articles",
}


def test_every_public_page_has_a_large_share_card_and_locale(client, public_pages, article):
    """Each public page's head names its locale and shares a 1200x630 card.

    Listings share the default card; an article without a cover its own
    generated one (tests/test_share_cards.py).
    """
    own_card = {
        **DEFAULT_CARD,
        "og:image": "http://testserver" + article.share_card.url,
        "og:image:alt": "Coping with stress \u2014 HealthHub",
        "twitter:image": "http://testserver" + article.share_card.url,
        "twitter:image:alt": "Coping with stress \u2014 HealthHub",
    }
    for url in public_pages:
        response = client.get(url)
        assert response.status_code == 200, url
        meta = head_meta(response.content.decode())
        assert meta["og:locale"] == "en_US", url
        assert meta["twitter:card"] == "summary_large_image", url
        expected = own_card if url == article.get_absolute_url() else DEFAULT_CARD
        assert {name: meta.get(name) for name in DEFAULT_CARD} == expected, url
        assert "twitter:site" not in meta, url


def test_twitter_site_is_named_on_every_public_page_when_set(client, settings, public_pages):
    """With HEALTHHUB_TWITTER_SITE set, every public page names the site's account."""
    settings.HEALTHHUB_TWITTER_SITE = "@healthhub"
    for url in public_pages:
        assert head_meta(client.get(url).content.decode())["twitter:site"] == "@healthhub", url


def test_article_with_a_cover_is_shared_with_its_social_card(client, covered):
    """An article with a cover is shared, in the head and the JSON-LD, with its 1200x630 card."""
    html = client.get("/mental-health/porridge/").content.decode()
    meta = head_meta(html)
    card = "http://testserver/media/" + covered.cover_renditions["social"]["name"]

    assert meta["og:image"] == meta["twitter:image"] == card
    assert (meta["og:image:width"], meta["og:image:height"]) == ("1200", "630")
    assert meta["og:image:alt"] == meta["twitter:image:alt"] == "A bowl of porridge"
    assert of_type(json_ld(html), "Article")["image"] == [
        {"@type": "ImageObject", "url": card, "width": 1200, "height": 630}
    ]


def test_default_share_card_is_served_as_a_1200_by_630_png(client, settings, db):
    """The default card's URL answers 200 with a 1200x630 PNG."""
    # Serve from the source folders, as no collectstatic runs in the tests.
    settings.WHITENOISE_USE_FINDERS = settings.WHITENOISE_AUTOREFRESH = True
    response = client.get("/static/img/share-card.png")

    assert response.status_code == 200
    assert response["Content-Type"] == "image/png"
    image = Image.open(BytesIO(b"".join(response.streaming_content)))
    assert (image.format, image.size) == ("PNG", (1200, 630))


def test_health_article_is_both_a_medical_page_and_an_article(client, article):
    """A health article's block is typed MedicalWebPage and Article, with image and dates."""
    reviewer = ReviewerFactory(slug="dr-lee", name="Dr Lee")
    article.reviewed_by = reviewer
    article.last_reviewed = article.published_at.date()
    article.save()
    blocks = json_ld(client.get("/mental-health/coping/").content.decode())
    page = of_type(blocks, "Article")

    assert page["@type"] == ["MedicalWebPage", "Article"]
    assert page["headline"] == "Coping with stress"
    assert page["image"] == [
        {
            "@type": "ImageObject",
            "url": "http://testserver" + article.share_card.url,
            "width": 1200,
            "height": 630,
        }
    ]
    assert page["datePublished"] == article.published_at.isoformat()
    assert page["dateModified"]
    assert page["author"]["name"] == "Amelia Hart"
    assert page["author"]["url"] == "http://testserver/author/amelia/"
    assert page["reviewedBy"]["name"] == "Dr Lee"
    assert page["lastReviewed"] == article.last_reviewed.isoformat()


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
    assert '<meta name="twitter:card" content="summary_large_image">' in html
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
