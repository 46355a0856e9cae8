"""Share cards: a picture of each article's title for link previews, and twitter:creator."""

import json
import re
from io import BytesIO, StringIO
from urllib.parse import urlsplit

import pytest
from django.conf import settings as django_settings
from django.core.exceptions import ValidationError
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.test import RequestFactory
from django.views.static import serve
from PIL import Image

from articles import cards
from articles.models import Article, AuthorProfile
from articles.services import bulk_create_articles
from tests.factories import ArticleFactory, ReviewerFactory, UserFactory

pytestmark = pytest.mark.django_db

DEFAULT_CARD = "http://testserver/static/img/share-card.png"


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    # Serve the default card from the source folders: no collectstatic runs here.
    settings.WHITENOISE_USE_FINDERS = settings.WHITENOISE_AUTOREFRESH = True
    return settings.MEDIA_ROOT


@pytest.fixture
def article(mental_health):
    author = UserFactory(username="amelia", first_name="Amelia", last_name="Hart")
    return ArticleFactory(
        category=mental_health,
        author=author,
        slug="coping",
        title="Coping with stress",
        tags=["stress"],
    )


def card_image(article) -> Image.Image:
    with default_storage.open(article.share_card.name) as file:
        image = Image.open(file)
        image.load()
    return image


def head_meta(html: str) -> dict[str, str]:
    """Return the head's <meta> contents by property or name."""
    head = html.split("</head>", 1)[0]
    pairs = re.findall(r'<meta (?:property|name)="([^"]+)" content="([^"]*)"', head)
    return dict(pairs)


def json_ld_image(html: str) -> list[dict]:
    blocks = re.findall(r'<script type="application/ld\+json"[^>]*>(.*?)</script>', html, re.S)
    articles = [block for block in map(json.loads, blocks) if "headline" in block]
    return articles[0]["image"]


def fetch_image(client, url: str) -> Image.Image:
    """Fetch ``url`` as a browser or a link preview would; return the image it answers with.

    Media is served as the quick start serves it (django.views.static);
    static files through whitenoise.
    """
    path = urlsplit(url).path
    if path.startswith(django_settings.MEDIA_URL):
        request = RequestFactory().get(path)
        response = serve(
            request,
            path.removeprefix(django_settings.MEDIA_URL),
            document_root=django_settings.MEDIA_ROOT,
        )
    else:
        response = client.get(path)
    assert response.status_code == 200, url
    assert response["Content-Type"] == "image/png", url
    image = Image.open(BytesIO(b"".join(response.streaming_content)))
    image.load()
    return image


# Drawing at save time --------------------------------------------------------


def test_article_without_a_cover_gets_a_1200_by_630_png_card_when_saved(article):
    """Saving an article without a cover stores a 1200x630 PNG card under cards/."""
    assert article.share_card.name.startswith("cards/")
    image = card_image(article)
    assert (image.format, image.size) == ("PNG", (1200, 630))


def test_card_is_in_the_site_colours(article):
    """The card's background is the site's brand green, as on the default card."""
    image = card_image(article).convert("RGB")
    assert image.getpixel((5, 5)) == (0x0B, 0x6E, 0x4F)
    assert image.getpixel((5, 625)) == (0x08, 0x53, 0x3B)


def test_card_is_redrawn_when_the_title_changes_and_the_old_one_deleted(
    article, django_capture_on_commit_callbacks
):
    """A new title gives a new card file; the old file goes once the save commits."""
    old = article.share_card.name
    old_pixels = card_image(article).tobytes()
    article.title = "Coping with stress at work"
    with django_capture_on_commit_callbacks(execute=True):
        article.save()
    article.refresh_from_db()

    assert article.share_card.name != old
    assert card_image(article).tobytes() != old_pixels
    assert not default_storage.exists(old)


def test_card_is_redrawn_when_the_category_changes(article, health):
    """Moving an article to another category redraws its card, which names the category."""
    old = article.share_card.name
    article.category = health
    article.save()

    assert article.share_card.name != old


def test_card_is_not_redrawn_when_only_the_body_changes(article, monkeypatch):
    """Editing the body, excerpt or status keeps the same card file and draws nothing."""
    old = article.share_card.name
    monkeypatch.setattr(cards, "draw_card", pytest.fail)
    article = Article.objects.get(pk=article.pk)
    article.body += "\n\nAnother paragraph."
    article.excerpt = "New summary."
    article.save()
    article.refresh_from_db()

    assert article.share_card.name == old
    assert default_storage.exists(old)


def test_save_with_update_fields_that_leave_out_the_title_draws_nothing(article, monkeypatch):
    """save(update_fields=[...]) without the title or category never draws a card."""
    monkeypatch.setattr(cards, "draw_card", pytest.fail)
    article.title = "Not saved"
    article.save(update_fields=["excerpt"])


def test_card_that_cannot_be_drawn_does_not_fail_the_save(client, mental_health, monkeypatch):
    """A storage or drawing failure is logged; the article saves and shares the default card."""

    def broken(*args):
        raise OSError("disk full")

    monkeypatch.setattr(cards, "draw_card", broken)
    article = ArticleFactory(category=mental_health, slug="coping", title="Coping")

    assert Article.objects.get(pk=article.pk).share_card.name == ""
    meta = head_meta(client.get("/mental-health/coping/").content.decode())
    assert meta["og:image"] == DEFAULT_CARD


@pytest.mark.parametrize(
    "title",
    [
        # Titles are at most 200 characters.
        ("A very long title about sleep, stress and heart health " * 4)[:200],
        "Pneumonoultramicroscopicsilicovolcanoconiosisandotherwordsthatneverbreak" * 2,
        '<script>alert("x")</script> & <b>bold</b> "quotes"',
        "Emoji 😴💤🧠❤️‍🔥 and flags 🇬🇧",
        "שינה טובה לכל הלילה",
        "النوم الجيد طوال الليل",
        "Mixed \u202eRTL override\u202c and zero\u200bwidth",
        "睡眠与健康 — 中文标题",
        "\u0007\ufeff\u200f   ",
    ],
)
def test_hostile_title_still_draws_a_card(mental_health, title):
    """Long, HTML, emoji, RTL, control-character and unsupported-script titles draw a card."""
    article = ArticleFactory(category=mental_health, title=title)

    image = card_image(article)
    assert (image.format, image.size) == ("PNG", (1200, 630))


def test_long_title_is_cut_with_an_ellipsis_within_four_lines():
    """A title too long for the card at its smallest size ends in an ellipsis on line four."""
    title_font, lines = cards.layout_title("word " * 200, 400)

    assert len(lines) <= cards.MAX_TITLE_LINES
    assert lines[-1].endswith(cards.ELLIPSIS)
    assert all(title_font.getlength(line) <= cards.TEXT_WIDTH for line in lines)


def test_article_with_a_cover_is_shared_with_the_cover_not_a_card(client, mental_health):
    """An article with a cover gets no card and is shared with its cover's 1200x630 crop."""
    buffer = BytesIO()
    Image.new("RGB", (2000, 1200), "teal").save(buffer, "JPEG")
    article = ArticleFactory(
        category=mental_health,
        slug="porridge",
        cover_image=SimpleUploadedFile("cover.jpg", buffer.getvalue()),
        cover_alt="A bowl of porridge",
    )
    meta = head_meta(client.get("/mental-health/porridge/").content.decode())

    assert article.share_card.name == ""
    assert meta["og:image"] == (
        "http://testserver/media/" + article.cover_renditions["social"]["name"]
    )
    assert meta["og:image:alt"] == "A bowl of porridge"


# The page ---------------------------------------------------------------------


def test_article_page_meta_and_json_ld_share_the_card(client, article):
    """og:image, twitter:image and the JSON-LD image name the card, with size and alt text."""
    html = client.get("/mental-health/coping/").content.decode()
    meta = head_meta(html)
    url = "http://testserver/media/" + article.share_card.name

    assert meta["og:image"] == meta["twitter:image"] == url
    assert (meta["og:image:width"], meta["og:image:height"]) == ("1200", "630")
    assert meta["og:image:alt"] == meta["twitter:image:alt"] == "Coping with stress — HealthHub"
    assert meta["twitter:card"] == "summary_large_image"
    assert json_ld_image(html) == [
        {"@type": "ImageObject", "url": url, "width": 1200, "height": 630}
    ]


def test_every_public_page_shares_an_image_that_answers_with_a_1200_by_630_picture(client, article):
    """Home, category, tag, author, reviewer, article and search pages share a live 1200x630 image."""
    reviewer = ReviewerFactory(slug="dr-lee", name="Dr Lee")
    ArticleFactory(category=article.category, slug="reviewed", reviewed_by=reviewer)
    pages = [
        "/",
        "/mental-health/",
        "/tag/stress/",
        "/author/amelia/",
        "/reviewer/dr-lee/",
        "/search/?q=stress",
        "/mental-health/coping/",
    ]
    shared = {}
    for page in pages:
        response = client.get(page)
        assert response.status_code == 200, page
        meta = head_meta(response.content.decode())
        assert meta["twitter:image"] == meta["og:image"], page
        assert (meta["og:image:width"], meta["og:image:height"]) == ("1200", "630"), page
        shared[page] = meta["og:image"]

    for page, url in shared.items():
        assert fetch_image(client, url).size == (1200, 630), page
    assert shared["/mental-health/coping/"].startswith("http://testserver/media/cards/")
    assert shared["/"] == DEFAULT_CARD


def test_article_page_with_a_card_costs_no_extra_query(
    client, mental_health, django_assert_max_num_queries
):
    """An article page reads its card's name with the article: no query of its own."""
    carded, plain, warm = (
        ArticleFactory(category=mental_health, slug=slug) for slug in ("carded", "plain", "warm")
    )
    Article.objects.filter(pk=plain.pk).update(share_card="")
    client.get(warm.get_absolute_url())  # fill the per-process caches (categories, settings)

    with django_assert_max_num_queries(4) as with_card:
        html = client.get(carded.get_absolute_url()).content.decode()
    assert "/media/cards/" in head_meta(html)["og:image"]
    with django_assert_max_num_queries(4) as without_card:
        html = client.get(plain.get_absolute_url()).content.decode()
    assert head_meta(html)["og:image"] == DEFAULT_CARD
    assert len(with_card.captured_queries) == len(without_card.captured_queries)


# twitter:creator ----------------------------------------------------------------


def test_twitter_creator_names_the_authors_handle(client, article):
    """An article whose author has a handle names it in twitter:creator."""
    AuthorProfile.objects.create(user=article.author, twitter="@amelia_hart")
    meta = head_meta(client.get("/mental-health/coping/").content.decode())

    assert meta["twitter:creator"] == "@amelia_hart"


def test_no_twitter_creator_without_a_handle(client, article):
    """Authors without a profile, or whose profile has no handle, get no twitter:creator."""
    writer = UserFactory(username="jonah")
    AuthorProfile.objects.create(user=writer)
    ArticleFactory(category=article.category, author=writer, slug="jonahs")

    assert "twitter:creator" not in client.get("/mental-health/coping/").content.decode()
    assert "twitter:creator" not in client.get("/mental-health/jonahs/").content.decode()


@pytest.mark.parametrize("handle", ["amelia", "@", "@amelia-hart", "@" + "a" * 16, "@amélie"])
def test_twitter_handle_must_be_an_at_name(handle):
    """A handle is @ and 1 to 15 letters, digits or underscores."""
    profile = AuthorProfile(user=UserFactory(), twitter=handle)
    with pytest.raises(ValidationError) as error:
        profile.full_clean()
    assert "twitter" in error.value.message_dict


def test_profile_admin_form_offers_the_twitter_handle(admin_client):
    """The author profile form in the admin has the handle field, with its help text."""
    html = admin_client.get("/admin/articles/authorprofile/add/").content.decode()

    assert 'name="twitter"' in html
    assert "for example @healthhub" in html


# Bulk inserts and the command ---------------------------------------------------


def test_bulk_inserted_articles_share_the_default_card_until_the_command_draws_theirs(
    client, mental_health
):
    """Bulk inserts skip cards; make_share_cards draws them, with a progress line per batch."""
    author = UserFactory()
    bulk_create_articles(
        [
            ArticleFactory.build(category=mental_health, author=author, slug=f"bulk-{n}")
            for n in range(3)
        ]
    )
    meta = head_meta(client.get("/mental-health/bulk-0/").content.decode())
    assert meta["og:image"] == DEFAULT_CARD

    out = StringIO()
    call_command("make_share_cards", batch_size=2, stdout=out)

    assert "[2/3] 2 cards drawn" in out.getvalue()
    assert "[3/3] 3 cards drawn" in out.getvalue()
    assert not Article.objects.filter(share_card="").exists()
    meta = head_meta(client.get("/mental-health/bulk-0/").content.decode())
    assert meta["og:image"].startswith("http://testserver/media/cards/")


def test_make_share_cards_all_redraws_cards_that_are_out_of_date(article):
    """After a category rename, --all redraws the card; a second run draws nothing."""
    old = article.share_card.name
    article.category.name = "Wellbeing"
    article.category.save()

    call_command("make_share_cards", stdout=StringIO())
    assert Article.objects.get(pk=article.pk).share_card.name == old

    out = StringIO()
    call_command("make_share_cards", "--all", stdout=out)
    assert Article.objects.get(pk=article.pk).share_card.name != old
    assert "Drew 1 share card;" in out.getvalue()

    out = StringIO()
    call_command("make_share_cards", "--all", stdout=out)
    assert "Drew 0 share cards" in out.getvalue()


def test_deleting_an_article_deletes_its_card(article, django_capture_on_commit_callbacks):
    """A deleted article's card file goes with it once the deletion commits."""
    name = article.share_card.name
    assert default_storage.exists(name)
    with django_capture_on_commit_callbacks(execute=True):
        article.delete()
    assert not default_storage.exists(name)
