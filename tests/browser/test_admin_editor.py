"""The article form's Markdown editor and previews in Chromium, within the CSP: gunicorn."""

from pathlib import Path

import pytest

from articles.models import Article, Category
from tests.browser.admin_server import change_url, expect, field, messages, save
from tests.browser.test_admin_article_form import watched
from tests.factories import ArticleFactory

pytestmark = [pytest.mark.browser, pytest.mark.server]

DOCS_SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
LONG_TITLE = "How much sleep do adults really need, and what happens when they get less"


def draft_for(author):
    return ArticleFactory(
        author=author,
        category=Category.objects.get(slug="sleep"),
        title="Naps that help",
        slug="naps-that-help",
        excerpt="A short nap can sharpen the afternoon.",
        body="A short nap helps.",
        status=Article.Status.DRAFT,
        published_at=None,
    )


def editor_text(page):
    return page.evaluate("document.querySelector('.CodeMirror').CodeMirror.getValue()")


def type_at_end(page, text):
    page.locator(".CodeMirror").click()
    page.keyboard.press("Control+End")
    page.keyboard.type(text)


def test_toolbar_inserts_markdown_that_the_form_saves(admin_site, open_context):
    """H2 and bold from the toolbar and Ctrl-I from the keyboard end up in the saved body."""
    article = draft_for(admin_site.author)
    page, incidents = watched(open_context, admin_site.author)
    page.goto(change_url(article))
    toolbar = page.locator(".editor-toolbar")
    for name in ("H2", "H3", "B", "I", "Link", "• List", "1. List", "Quote", "Table", "Image"):
        expect(toolbar.locator("button", has_text=name).first).to_be_visible()

    type_at_end(page, "\n\nGood habits")
    toolbar.get_by_role("button", name="H2 heading").click()
    page.keyboard.press("End")
    page.keyboard.type("\n\nRest ")
    toolbar.get_by_role("button", name="Bold").click()
    page.keyboard.type("often")
    page.keyboard.press("End")
    page.keyboard.type(" and ")
    page.keyboard.press("Control+I")
    page.keyboard.type("early")

    expected = "A short nap helps.\n\n## Good habits\n\nRest **often** and *early*"
    assert editor_text(page) == expected
    expect(field(page, "Body")).to_have_value(expected)
    expect(page.locator(".article-editor__count")).to_have_text("10 words · 1 min read")
    response = save(page)
    assert response.status == 200, admin_site.log_tail()
    expect(messages(page)).to_contain_text("was changed successfully")
    article.refresh_from_db()
    assert article.body == expected
    assert editor_text(page) == expected
    assert incidents + page.evaluate("window.__incidents") == []


def test_image_button_opens_the_chooser_and_inserts_its_text(admin_site, open_context):
    """The toolbar's image button asks the chooser; its answer goes in at the editor's cursor."""
    article = draft_for(admin_site.author)
    page, incidents = watched(open_context, admin_site.author)
    page.goto(change_url(article))
    page.evaluate(
        """document.addEventListener("healthhub:choose-image", () => {
            window.__asked = true;
        });"""
    )
    type_at_end(page, " Really.")
    page.locator(".editor-toolbar").get_by_role("button", name="Image from the library").click()
    assert page.evaluate("window.__asked") is True
    page.keyboard.press("Escape")
    page.evaluate(
        """document.dispatchEvent(new CustomEvent("healthhub:insert-markdown", {
            detail: {text: "![A nap](image:7)"}, cancelable: true,
        }));"""
    )
    expected = "A short nap helps. Really.\n\n![A nap](image:7)\n\n"
    assert editor_text(page) == expected
    expect(field(page, "Body")).to_have_value(expected)
    assert incidents + page.evaluate("window.__incidents") == []


@pytest.mark.parametrize("width", [1280, 768])
def test_live_preview_renders_sanitized_text_and_lists_removals(admin_site, open_context, width):
    """Typed Markdown shows rendered beside (or under) the editor, without the script."""
    article = draft_for(admin_site.author)
    page, incidents = watched(open_context, admin_site.author)
    page.set_viewport_size({"width": width, "height": 900})
    page.goto(change_url(article))
    preview = page.locator(".article-preview .article__body")
    expect(preview).to_contain_text("A short nap helps.")

    type_at_end(page, "\n\n## After lunch\n\n<script>alert(1)</script> <b onclick=x>Rest</b>\n")
    expect(preview.get_by_role("heading", name="After lunch", level=2)).to_be_visible()
    expect(preview.locator("b")).to_have_text("Rest")
    expect(preview.locator("script, [onclick]")).to_have_count(0)
    expect(page.locator(".article-preview__removed")).to_have_text(
        "The sanitizer removed: <script> element, onclick attribute."
    )
    expect(page.locator(".article-editor__count")).to_have_text("7 words · 1 min read")

    editor_box = page.locator(".EasyMDEContainer").bounding_box()
    preview_box = page.locator(".article-preview").bounding_box()
    if width == 1280:
        assert preview_box["x"] > editor_box["x"] + editor_box["width"] - 1, "side by side"
    else:
        assert preview_box["y"] >= editor_box["y"] + editor_box["height"], "stacked"
    page.locator(".field-body").scroll_into_view_if_needed()
    page.screenshot(path=DOCS_SCREENSHOTS / f"editor-{width}.png")
    assert incidents + page.evaluate("window.__incidents") == []


def test_seo_panel_follows_the_fields_and_warns_for_a_long_title(admin_site, open_context):
    """The search result and share card show the title, address and excerpt, and warn past 60."""
    article = draft_for(admin_site.author)
    page, incidents = watched(open_context, admin_site.author)
    page.goto(change_url(article))
    panel = page.get_by_role("region", name="Search and social preview")
    expect(panel.locator(".seo-search__title")).to_have_text("Naps that help | HealthHub")
    expect(panel.locator(".seo-search__url")).to_have_text(
        f"127.0.0.1:{admin_site.port}/sleep/naps-that-help/"
    )
    expect(panel.locator(".seo-search__description")).to_have_text(article.excerpt)
    expect(panel.locator(".seo-preview__warning")).to_have_count(0)

    field(page, "Title").fill(LONG_TITLE)
    field(page, "Slug").fill("sleep-adults-need")
    expect(panel.locator(".seo-card__title")).to_have_text(LONG_TITLE)
    expect(panel.locator(".seo-search__url")).to_contain_text("/sleep/sleep-adults-need/")
    expect(panel.locator(".seo-preview__warning")).to_have_text(
        [f"The title is {len(LONG_TITLE)} characters: search results cut it after about 60."]
    )
    field(page, "Excerpt").fill("Most adults need seven to nine hours. " * 5)
    expect(panel.locator(".seo-preview__warning")).to_have_count(2)
    panel.scroll_into_view_if_needed()
    panel.screenshot(path=DOCS_SCREENSHOTS / "editor-seo-preview.png")
    assert incidents + page.evaluate("window.__incidents") == []


def test_without_javascript_the_body_is_a_plain_textarea_that_saves(admin_site, browser):
    """With scripts off the body is the form's textarea, and a save keeps what was typed."""
    from tests.browser.admin_server import sign_in

    article = draft_for(admin_site.author)
    context = browser.new_context(base_url=admin_site.url, java_script_enabled=False)
    try:
        page = context.new_page()
        sign_in(page, admin_site.author.username)
        page.goto(change_url(article))
        expect(page.locator(".EasyMDEContainer")).to_have_count(0)
        body = field(page, "Body")
        body.fill("Typed without scripts.")
        response = save(page)
        assert response.status == 200, admin_site.log_tail()
        article.refresh_from_db()
        assert article.body == "Typed without scripts."
    finally:
        context.close()
