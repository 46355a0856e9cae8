"""Bad input on the article form: a message at the field, never a server error or a live script."""

import re

import pytest
from django.conf import settings

from articles.models import Article
from tests.browser.admin_server import (
    expect,
    field,
    field_errors,
    messages,
    oversized_png,
    pick_autocomplete,
    png_bytes,
    save,
)

pytestmark = [pytest.mark.browser, pytest.mark.server]

TITLE = "Staying Safe in Hot Weather"
SCRIPT = "<script>alert(1)</script>"
BODY = f"Drink water through the day, even before you feel thirsty.\n\n{SCRIPT}\n\n## Keep cool\n\nStay in the shade at midday.\n"
SVG = b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><rect width="10" height="10"/></svg>'


def upload(page, folder, name, data):
    """Choose a file holding ``data``, named ``name``, in the cover image field."""
    path = folder / name
    path.write_bytes(data)
    field(page, "Cover image").set_input_files(path)


def test_bad_article_input_gets_a_message_at_the_field_and_no_script_reaches_readers(
    admin_site, open_context, shot, tmp_path
):
    """Oversized and SVG covers, an empty title and a taken slug are refused in words; a script is inert."""
    limit = settings.HEALTHHUB_MAX_UPLOAD_MB * 1024 * 1024
    taken = Article.objects.get(slug="how-much-sleep-do-adults-really-need")
    dialogs = []
    page = open_context(admin_site.editor)
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.goto("/admin/articles/article/add/")
    field(page, "Title").press_sequentially(TITLE)
    pick_autocomplete(page, "Category", "Sle", "Sleep")
    field(page, "Body").fill(BODY)
    field(page, "Status").select_option(label="Published")
    field(page, "Cover image alt text").fill("A glass of water in the sun")

    steps = [
        (
            "too-large",
            "Cover image",
            lambda: upload(page, tmp_path, "sun.png", oversized_png(limit)),
            re.compile("limit|too large", re.I),
        ),
        ("svg-as-jpg", "Cover image", lambda: upload(page, tmp_path, "sun.jpg", SVG), "SVG"),
        ("empty-title", "Title", lambda: field(page, "Title").fill(""), "required"),
        (
            "duplicate-slug",
            "Slug",
            lambda: field(page, "Slug").fill(taken.slug),
            re.compile("already exists|taken", re.I),
        ),
    ]
    for number, (name, label, make_it_bad, message) in enumerate(steps, start=1):
        make_it_bad()
        response = save(page)
        shot(page, f"09-bad-input-{number}-{name}")
        assert response.status == 200, (name, admin_site.log_tail())
        expect(page.locator(".errornote").first).to_be_visible()
        expect(field_errors(page, label)).to_contain_text(message)
        assert not Article.objects.filter(title=TITLE).exists(), name
        # Undo this mistake, so that each refusal has a single cause.
        if label == "Title":
            field(page, "Title").fill(TITLE)
        if label == "Cover image":
            field(page, "Cover image").set_input_files([])

    field(page, "Slug").fill("staying-safe-in-hot-weather")
    upload(page, tmp_path, "sunny-day.png", png_bytes())
    response = save(page)
    shot(page, "09-bad-input-5-saved")
    assert response.status == 200, admin_site.log_tail()
    expect(messages(page)).to_contain_text("was added successfully")
    article = Article.objects.get(title=TITLE)
    assert article.status == Article.Status.PUBLISHED
    assert SCRIPT not in article.body_html

    reader = open_context()
    reader.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    response = reader.goto(article.get_absolute_url())
    reader.wait_for_timeout(300)
    shot(reader, "09-reader-article-with-script-text")
    assert response.status == 200
    assert SCRIPT not in reader.content()
    expect(reader.get_by_text("Stay in the shade at midday.")).to_be_visible()
    assert dialogs == []
