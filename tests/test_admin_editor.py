"""The article editor's live preview endpoint: who may use it, its limits, what it returns."""

import pytest
from django.test import Client
from django.urls import reverse

from articles.models import Article
from tests.factories import ArticleFactory, StaffFactory

pytestmark = pytest.mark.django_db

PREVIEW_URL = "admin:articles_article_preview"


def preview(client, text, **headers):
    return client.post(reverse(PREVIEW_URL), {"text": text}, headers=headers)


@pytest.fixture
def author(db):
    return StaffFactory(username="amelia", role="Authors")


@pytest.fixture
def author_client(client, author):
    client.force_login(author)
    return client


def test_anonymous_preview_is_refused_with_403(client):
    """A signed-out fetch gets a 403, not the login page."""
    response = preview(client, "Hello", Accept="application/json")
    assert response.status_code == 403


def test_staff_without_article_permissions_is_refused(client):
    """Staff who may neither add nor change articles get a 403."""
    client.force_login(StaffFactory(username="stan"))
    assert preview(client, "Hello").status_code == 403


def test_preview_refuses_a_post_without_the_csrf_token(author):
    """Without the CSRF token the preview is refused, with one it renders."""
    client = Client(enforce_csrf_checks=True)
    client.force_login(author)
    assert preview(client, "Hello").status_code == 403

    client.get(reverse("admin:articles_article_add"))
    token = client.cookies["csrftoken"].value
    assert preview(client, "Hello", X_CSRFToken=token).status_code == 200


def test_preview_answers_only_post(author_client):
    """A GET is refused: the preview takes the text in the request body."""
    assert author_client.get(reverse(PREVIEW_URL)).status_code == 405


def test_preview_renders_sanitized_html_and_lists_what_was_removed(author_client):
    """Markdown comes back as the page's HTML, without the script, with the removals named."""
    text = (
        "## Sleep well\n\nA **short** nap helps.\n\n<script>alert(1)</script>\n\n"
        '<b onclick="x()">bold</b>\n\n![](https://tracker.example/pixel.gif)\n'
    )
    response = preview(author_client, text)

    assert response.status_code == 200
    data = response.json()
    assert '<h2 id="sleep-well">Sleep well</h2>' in data["html"]
    assert "<strong>short</strong>" in data["html"]
    assert "<script" not in data["html"]
    assert "onclick" not in data["html"]
    assert "<script> element" in data["removed"]
    assert "onclick attribute" in data["removed"]
    assert data["foreign_images"] == ["https://tracker.example/pixel.gif"]
    assert data["word_count"] == 7
    assert data["reading_minutes"] == 1
    assert response["Cache-Control"].startswith("max-age=0")


def test_preview_counts_reading_time_at_220_words_a_minute(author_client):
    """441 words read in three minutes, as the saved article says."""
    data = preview(author_client, "word " * 441).json()
    assert (data["word_count"], data["reading_minutes"]) == (441, 3)


def test_preview_refuses_a_body_over_the_size_limit(author_client, settings):
    """A body over HEALTHHUB_MAX_BODY_KB gets a 413 with the form's message, and is not rendered."""
    settings.HEALTHHUB_MAX_BODY_KB = 1
    response = preview(author_client, "a" * 1025)
    assert response.status_code == 413
    assert "over the limit of 1 KB" in response.json()["error"]
    assert preview(author_client, "a" * 1024).status_code == 200


def test_preview_refuses_a_huge_request_before_reading_it(author_client, settings):
    """A request far larger than any allowed body is refused from its declared length."""
    settings.HEALTHHUB_MAX_BODY_KB = 1
    response = preview(author_client, "a" * 10_000)
    assert response.status_code == 413
    assert "error" in response.json()


def test_preview_with_library_images_costs_a_fixed_number_of_queries(
    author_client, django_assert_max_num_queries
):
    """The session, the user, the permissions and one library lookup, however many images."""
    text = "\n\n".join(f"![alt](image:{pk})" for pk in range(1, 30))
    with django_assert_max_num_queries(6):
        data = preview(author_client, text).json()
    assert data["missing_images"] == list(range(1, 30))


def test_change_form_wires_the_editor_to_the_preview(author_client, author, health):
    """The body textarea names the preview endpoint and the article's category path."""
    article = ArticleFactory(author=author, category=health, status=Article.Status.DRAFT)
    page = author_client.get(reverse("admin:articles_article_change", args=[article.pk]))
    html = page.content.decode()
    assert f'data-editor-preview-url="{reverse(PREVIEW_URL)}"' in html
    assert f'data-editor-category-path="{health.get_absolute_url()}"' in html
    assert "vendor/easymde/easymde" in html
    assert "js/article-editor" in html
