"""An author puts a library image in an article with the chooser: Chromium, gunicorn, the CSP."""

from pathlib import Path

import pytest
from django.utils import timezone

from articles.models import Article, ArticleImage, Category, Image
from tests.browser.admin_server import change_url, expect, field, messages, png_bytes, save
from tests.browser.test_admin_article_form import watched
from tests.factories import ArticleFactory

pytestmark = [pytest.mark.browser, pytest.mark.server]

DOCS_SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
ALT = "A blue square standing in for a bowl of porridge"
CAPTION = "Oats keep you full until lunch"
CREDIT = "Illustration: HealthHub, CC BY 4.0"


# What an editor (static/js/article-editor.js) does: open the chooser from its
# toolbar, then take the text and tell the chooser it was inserted.
EDITOR = """
window.__inserted = [];
document.addEventListener("healthhub:insert-markdown", (event) => {
    event.preventDefault();
    window.__inserted.push(event.detail.text);
});
document.dispatchEvent(new CustomEvent("healthhub:choose-image"));
"""


def test_author_uploads_an_image_in_the_chooser_and_the_page_shows_the_figure(
    admin_site, open_context, shot, tmp_path
):
    """Upload in the dialog, save: the article page shows a responsive figure with its caption."""
    picture = tmp_path / "porridge.png"
    picture.write_bytes(png_bytes(2000, 1200))
    article = ArticleFactory(
        author=admin_site.author,
        category=Category.objects.get(slug="nutrition"),
        title="Breakfasts that last",
        slug="breakfasts-that-last",
        body="A good breakfast keeps you going.",
        status=Article.Status.DRAFT,
        published_at=None,
    )
    page, incidents = watched(open_context, admin_site.author)
    page.goto(change_url(article))
    body = field(page, "Body")
    body.click()
    body.press("Control+End")
    shot(page, "chooser-opener")

    page.get_by_role("button", name="Insert image").click()
    dialog = page.get_by_role("dialog", name="Insert an image")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_role("status").first).to_have_text(
        "The library is empty. Upload the first image."
    )
    dialog.get_by_label("Image file").set_input_files(picture)
    dialog.get_by_label("Alt text", exact=True).fill(ALT)
    dialog.get_by_label("Caption (optional)").fill(CAPTION)
    dialog.get_by_label("Credit and licence (optional)").fill(CREDIT)
    dialog.get_by_role("button", name="Upload and insert").click()

    expect(dialog).to_be_hidden()
    image = Image.objects.get()
    reference = f"![{ALT}](image:{image.pk})"
    expect(body).to_have_value(f"A good breakfast keeps you going.\n\n{reference}\n\n")
    expect(body).to_be_focused()
    response = save(page)
    assert response.status == 200, admin_site.log_tail()
    expect(messages(page)).to_contain_text("was changed successfully")
    assert list(ArticleImage.objects.values_list("article", "image")) == [(article.pk, image.pk)]

    # The chooser again, now with the image in the library, at two widths.
    page.get_by_role("button", name="Insert image").click()
    choice = dialog.get_by_role("button", name=ALT)
    expect(choice).to_be_visible()
    expect(choice.locator("img")).to_have_js_property("complete", True)
    page.screenshot(path=DOCS_SCREENSHOTS / "chooser-1280.png")
    page.set_viewport_size({"width": 768, "height": 900})
    page.screenshot(path=DOCS_SCREENSHOTS / "chooser-768.png")
    dialog.get_by_label("Search by alt text or caption").fill("no such picture")
    expect(dialog.get_by_role("status").first).to_contain_text("No image in the library matches")
    dialog.get_by_role("button", name="Close").click()
    expect(dialog).to_be_hidden()

    # An editor's toolbar opens the chooser by event and inserts the text itself.
    page.evaluate(EDITOR)
    dialog.get_by_label("Search by alt text or caption").fill("porridge")
    choice.click()
    expect(dialog).to_be_hidden()
    assert page.evaluate("window.__inserted") == [reference]
    expect(body).to_have_value(f"A good breakfast keeps you going.\n\n{reference}")
    page.goto("/admin/articles/image/")
    expect(page.locator("img.library-thumbnail")).to_have_count(1)
    shot(page, "image-library")
    assert incidents + page.evaluate("window.__incidents") == []

    Article.objects.filter(pk=article.pk).update(
        status=Article.Status.PUBLISHED, published_at=timezone.now()
    )
    reader, reader_incidents = watched(open_context, None)
    reader.goto(article.get_absolute_url())
    figure = reader.locator(".article__body figure.article-figure")
    img = figure.locator("picture img")
    expect(img).to_have_attribute("alt", ALT)
    srcset = img.get_attribute("srcset")
    assert [entry.split()[-1] for entry in srcset.split(", ")] == ["480w", "960w", "1600w"]
    expect(figure.locator("picture source")).to_have_attribute("type", "image/webp")
    expect(figure.locator("figcaption")).to_have_text(f"{CAPTION} {CREDIT}")
    expect(figure.locator("figcaption small")).to_have_text(CREDIT)
    expect(img).to_have_js_property("complete", True)
    assert img.evaluate("img => img.naturalWidth") > 0
    figure.scroll_into_view_if_needed()
    reader.screenshot(path=DOCS_SCREENSHOTS / "article-figure.png")
    assert reader_incidents + reader.evaluate("window.__incidents") == []
