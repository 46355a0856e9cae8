"""An author writes, previews, edits and submits an article in the admin: Chromium, gunicorn."""

import pytest

from articles.models import Article
from tests.browser.admin_server import (
    append_text,
    change_url,
    expect,
    field,
    messages,
    pick_autocomplete,
    png_bytes,
    save,
)

pytestmark = [pytest.mark.browser, pytest.mark.server]

TITLE = "Looking After Your Heart After Forty"
BODY = (
    "Small daily habits protect your heart more than any single change.\n\n"
    "## Move every day\n\n"
    "Aim for 150 minutes of moderate activity a week.\n\n"
    "## Know your numbers\n\n"
    "Ask for a blood pressure check at least once every five years.\n"
)
ADDED = "Cutting down on salt helps too: most of it is already in bread and ready meals."
REFERENCES = [
    {
        "title": "Physical activity guidelines for adults",
        "publisher": "World Health Organization",
        "year": "2020",
        "url": "https://www.who.int/news-room/fact-sheets/detail/physical-activity",
    },
    {
        "title": "Blood pressure and cardiovascular risk",
        "publisher": "The Lancet",
        "year": "2021",
        "doi": "10.1016/S0140-6736(21)01330-1",
    },
]
COVER_ALT = "A blue square standing in for a photo of a morning walk"


def fill_reference(page, index, values):
    row = page.locator("tr.dynamic-references").nth(index)
    for name, value in values.items():
        row.locator(f".field-{name} input").fill(value)


def test_author_writes_previews_edits_and_submits_an_article(
    admin_site, open_context, shot, tmp_path
):
    """An author saves a full draft, previews it, saves it again and sends it for review."""
    cover = tmp_path / "morning-walk.png"
    cover.write_bytes(png_bytes())
    page = open_context(admin_site.author)

    page.goto("/admin/articles/article/")
    page.get_by_role("link", name="Add article").click()
    field(page, "Title").press_sequentially(TITLE)
    expect(field(page, "Slug")).to_have_value("looking-after-your-heart-after-forty")
    pick_autocomplete(page, "Category", "Heal", "Health")
    field(page, "Excerpt").fill("Five habits that keep your heart healthy from middle age on.")
    field(page, "Body").fill(BODY)
    field(page, "Tags").fill("heart health, exercise")
    for index, values in enumerate(REFERENCES):
        page.get_by_role("button", name="Add another Reference").click()
        fill_reference(page, index, values)
    field(page, "Cover image").set_input_files(cover)
    field(page, "Cover image alt text").fill(COVER_ALT)
    expect(field(page, "Status").locator("option")).to_have_text(["Draft", "In review"])
    shot(page, "02-author-new-article-form")
    response = save(page)
    shot(page, "02-author-draft-saved")

    assert response.status == 200, admin_site.log_tail()
    expect(messages(page)).to_contain_text("was added successfully")
    article = Article.objects.get(title=TITLE)
    assert (article.author, article.status, article.category.name) == (
        admin_site.author,
        Article.Status.DRAFT,
        "Health",
    )
    assert sorted(article.tags.names()) == ["exercise", "heart health"]
    assert [r.title for r in article.references.order_by("pk")] == [r["title"] for r in REFERENCES]
    assert article.cover_image and article.cover_alt == COVER_ALT
    expect(page).to_have_url(f"{admin_site.url}{change_url(article)}")

    with page.expect_popup() as popup:
        page.get_by_role("link", name="Preview").click()
    preview = popup.value
    preview.wait_for_load_state()
    shot(preview, "02-author-preview")
    expect(preview.locator("h1")).to_have_text(TITLE)
    expect(preview.get_by_role("img", name=COVER_ALT)).to_be_visible()
    expect(preview.get_by_text(REFERENCES[0]["title"])).to_be_visible()
    preview.close()

    page.goto("/admin/articles/article/")
    page.get_by_role("link", name=TITLE).click()
    append_text(field(page, "Body"), ADDED)
    response = save(page)
    shot(page, "02-author-draft-edited")

    assert response.status == 200, admin_site.log_tail()
    expect(page.get_by_text("Someone else saved this article")).to_have_count(0)
    expect(messages(page)).to_contain_text("was changed successfully")
    article.refresh_from_db()
    assert ADDED in article.body

    field(page, "Status").select_option(label="In review")
    response = save(page, "Save")
    shot(page, "02-author-submitted-for-review")

    assert response.status == 200, admin_site.log_tail()
    expect(messages(page)).to_contain_text("was changed successfully")
    article.refresh_from_db()
    assert article.status == Article.Status.IN_REVIEW

    someone_elses = Article.objects.exclude(author=admin_site.author).first()
    response = page.goto(change_url(someone_elses))
    shot(page, "02-author-other-authors-article")
    assert response.status == 404
