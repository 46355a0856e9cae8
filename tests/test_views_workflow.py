"""Medical review, references, safety texts and draft preview on the article page."""

import datetime as dt

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from articles.models import Article, SiteSettings
from tests.factories import ArticleFactory, ReferenceFactory, ReviewerFactory, StaffFactory
from tests.test_structured_data import json_ld, of_type

pytestmark = pytest.mark.django_db


@pytest.fixture
def reviewer(db):
    return ReviewerFactory(
        name="Dr Priya Shah", slug="priya-shah", credentials="MD, Psychiatry", bio="A psychiatrist."
    )


@pytest.fixture
def reviewed(mental_health, reviewer):
    return ArticleFactory(
        category=mental_health,
        slug="coping",
        title="Coping with worry",
        reviewed_by=reviewer,
        last_reviewed=dt.date(2026, 3, 14),
    )


def test_page_names_the_medical_reviewer_with_credentials_and_date(client, reviewed):
    """A reviewed article says who checked it, their credentials and when."""
    html = client.get(reviewed.get_absolute_url()).content.decode()
    assert (
        'Medically reviewed by <a href="/reviewer/priya-shah/">Dr Priya Shah</a>, MD, Psychiatry · '
    ) in html
    assert '<time datetime="2026-03-14">March 14, 2026</time>' in html


def test_json_ld_carries_reviewed_by_and_last_reviewed(client, reviewed):
    """The MedicalWebPage JSON-LD names the reviewer and the review date."""
    html = client.get(reviewed.get_absolute_url()).content.decode()
    data = of_type(json_ld(html), "MedicalWebPage")
    assert data["reviewedBy"] == {
        "@type": "Person",
        "name": "Dr Priya Shah",
        "honorificSuffix": "MD, Psychiatry",
        "url": "http://testserver/reviewer/priya-shah/",
        "description": "A psychiatrist.",
    }
    assert data["lastReviewed"] == "2026-03-14"


def test_unreviewed_article_has_no_review_line_or_json_ld(client, health):
    """Without a reviewer the page claims no review."""
    article = ArticleFactory(category=health)
    html = client.get(article.get_absolute_url()).content.decode()
    assert "Medically reviewed" not in html
    assert "reviewedBy" not in html


def test_reviewer_page_lists_the_published_articles_they_reviewed(client, reviewed, reviewer):
    """Each reviewer has a public page with the published articles they reviewed."""
    ArticleFactory(category=reviewed.category, reviewed_by=reviewer, status="draft", title="Hidden")
    response = client.get(reviewer.get_absolute_url())
    html = response.content.decode()
    assert response.status_code == 200
    assert "Dr Priya Shah" in html and "MD, Psychiatry" in html
    assert "Coping with worry" in html
    assert "Hidden" not in html
    assert client.get("/reviewer/nobody/").status_code == 404


def test_references_render_as_a_numbered_list_in_order(client, reviewed):
    """References show under "References", numbered in their set order, linked by DOI or URL."""
    ReferenceFactory(article=reviewed, position=2, title="Second study", url="", doi="10.1/b")
    ReferenceFactory(article=reviewed, position=1, title="First study", publisher="NHS")
    html = client.get(reviewed.get_absolute_url()).content.decode()
    section = html.split('id="references-heading">References</h2>', 1)[1].split("</ol>")[0]
    assert section.index("First study") < section.index("Second study")
    assert "<i>NHS</i>, 2024" in section
    assert 'href="https://doi.org/10.1/b"' in section


def test_disclaimer_is_shown_under_every_article_and_editable(client, health):
    """The site-wide disclaimer shows under articles, with the text editors set."""
    article = ArticleFactory(category=health)
    html = client.get(article.get_absolute_url()).content.decode()
    assert "not a substitute for professional medical advice" in html

    SiteSettings.objects.update_or_create(pk=1, defaults={"disclaimer": "Talk to your GP."})
    html = client.get(article.get_absolute_url()).content.decode()
    assert '<p class="disclaimer">Talk to your GP.</p>' in html


def test_crisis_box_shows_for_a_category_and_its_subcategories(client, health, mental_health):
    """A category's crisis resources show on its articles and its sub-categories' articles."""
    health.crisis_resources = "Call 999 in an emergency."
    health.save()
    inside = ArticleFactory(category=mental_health)
    html = client.get(inside.get_absolute_url()).content.decode()
    assert 'class="crisis-box"' in html
    assert "Call 999 in an emergency." in html

    other = ArticleFactory(category__slug="fitness", category__name="Fitness")
    assert "crisis-box" not in client.get(other.get_absolute_url()).content.decode()


# Draft preview ----------------------------------------------------------------------


@pytest.fixture
def draft(health):
    return ArticleFactory(category=health, status=Article.Status.DRAFT, title="Work in progress")


def test_anonymous_visitors_get_404_for_drafts_and_scheduled(client, draft, health):
    """To anyone not signed in, drafts and scheduled articles stay 404."""
    scheduled = ArticleFactory(category=health, published_at=timezone.now() + dt.timedelta(days=1))
    assert client.get(draft.get_absolute_url()).status_code == 404
    assert client.get(scheduled.get_absolute_url()).status_code == 404


def test_editor_previews_a_draft_with_banner_noindex_and_no_cache(client, draft):
    """Staff see a draft at its URL with a banner, noindex and never-cache headers."""
    client.force_login(StaffFactory(username="edith", role="Editors"))
    response = client.get(draft.get_absolute_url())
    html = response.content.decode()
    assert response.status_code == 200
    assert "<strong>Preview</strong> · Draft. Readers cannot see this page yet." in html
    assert '<meta name="robots" content="noindex">' in html
    assert "no-cache" in response["Cache-Control"]
    assert "no-store" in response["Cache-Control"]


def test_author_previews_a_new_draft_that_has_no_publish_date(client, health):
    """A draft never published, so without a date, previews with "Not published yet"."""
    author = StaffFactory(username="amelia", role="Authors")
    draft = ArticleFactory(category=health, author=author, status="draft", published_at=None)
    client.force_login(author)
    response = client.get(draft.get_absolute_url())
    assert response.status_code == 200
    assert "Not published yet" in response.content.decode()
    pages = [b for b in json_ld(response.content.decode()) if "headline" in b]
    assert pages
    assert "datePublished" not in pages[0]


def test_preview_of_a_scheduled_article_says_when_it_goes_live(client, health, settings):
    """The banner of a scheduled article names it scheduled, with its date and time, once."""
    settings.TIME_ZONE = "UTC"
    when = timezone.now().replace(microsecond=0) + dt.timedelta(days=2)
    scheduled = ArticleFactory(category=health, published_at=when)
    client.force_login(StaffFactory(username="edith", role="Editors"))
    html = client.get(scheduled.get_absolute_url()).content.decode()
    banner = f"Scheduled for {when:%B} {when.day}, {when:%Y} at {when:%H:%M} (UTC)."
    assert f"<strong>Preview</strong> · {banner} Readers cannot see this page yet." in html
    assert "Published" not in html.split("preview-banner", 1)[1].split("</p>", 1)[0]


def test_preview_never_counts_a_view(client, draft):
    """Opening a preview leaves the view count and the daily tally alone."""
    client.force_login(StaffFactory(username="edith", role="Editors"))
    client.get(draft.get_absolute_url())
    draft.refresh_from_db()
    assert draft.view_count == 0
    assert not draft.daily_views.exists()


def test_author_previews_only_their_own_drafts(client, draft, health):
    """An author may preview their own draft but not someone else's."""
    author = StaffFactory(username="amelia", role="Authors")
    own = ArticleFactory(category=health, author=author, status="draft")
    client.force_login(author)
    assert client.get(own.get_absolute_url()).status_code == 200
    assert client.get(draft.get_absolute_url()).status_code == 404


def test_signed_in_non_staff_users_cannot_preview(client, draft):
    """Being signed in is not enough: only staff preview."""
    client.force_login(get_user_model().objects.create_user("reader", password="pw"))
    assert client.get(draft.get_absolute_url()).status_code == 404


def test_published_article_for_staff_is_the_normal_page(client, health):
    """Staff opening a live article get the public page, and it counts."""
    article = ArticleFactory(category=health)
    client.force_login(StaffFactory(username="edith", role="Editors"))
    html = client.get(article.get_absolute_url()).content.decode()
    assert "Draft preview" not in html
    article.refresh_from_db()
    assert article.view_count == 1
