"""The article form's pickers and tag suggestions in Chromium, within the CSP: gunicorn."""

import pytest

from tests.browser.admin_server import expect, field, form_row

pytestmark = [pytest.mark.browser, pytest.mark.server]

MENTAL_HEALTH_PATH = "Health \u203a Mental Health"

# Records what the policy blocks and any script error.
WATCH = """
window.__incidents = [];
document.addEventListener("securitypolicyviolation", (event) => {
    window.__incidents.push(`csp ${event.violatedDirective} ${event.blockedURI}`);
});
"""


def watched(open_context, user):
    page = open_context(user)
    incidents = []
    page.add_init_script(WATCH)
    page.on("pageerror", lambda error: incidents.append(f"page error {error}"))
    return page, incidents


def test_category_picker_shows_each_category_under_its_parent(admin_site, open_context):
    """Typing "ment" offers Mental Health under Health; choosing it keeps the whole path."""
    page, incidents = watched(open_context, admin_site.author)
    page.goto("/admin/articles/article/add/")
    row = form_row(page, "Category")

    row.locator(".select2-selection").first.click()
    page.locator(".select2-container--open").get_by_role("searchbox").fill("ment")
    option = page.locator(".select2-results").get_by_role("option", name=MENTAL_HEALTH_PATH)
    expect(option).to_be_visible()
    option.click()

    expect(row.locator(".select2-selection__rendered").first).to_contain_text(MENTAL_HEALTH_PATH)
    assert incidents + page.evaluate("window.__incidents") == []


def test_tags_box_suggests_existing_tags_by_keyboard_and_mouse(admin_site, open_context):
    """An author picks "sleep" with the arrow keys and Enter, then "habits" with a click."""
    page, incidents = watched(open_context, admin_site.author)
    page.goto("/admin/articles/article/add/")
    tags = field(page, "Tags")
    suggestions = page.get_by_role("listbox", name="Existing tags")

    tags.press_sequentially("sle")
    expect(suggestions.get_by_role("option", name="sleep", exact=True)).to_be_visible()
    expect(tags).to_have_attribute("aria-expanded", "true")
    tags.press("ArrowDown")
    expect(tags).to_have_attribute("aria-activedescendant", "id_tags-suggestions-0")
    tags.press("Enter")

    expect(tags).to_have_value("sleep, ")
    expect(suggestions).to_be_hidden()
    tags.press_sequentially("hab")
    suggestions.get_by_role("option", name="habits").click()
    expect(tags).to_have_value("sleep, habits, ")
    expect(tags).to_be_focused()

    # Most used first, by any word; a tag already in the box is not offered again.
    tags.press_sequentially("h")
    expect(suggestions.get_by_role("option")).to_have_text(
        ["heart health", "mental health", "hydration", "hygiene"]
    )
    tags.press("Escape")
    expect(suggestions).to_be_hidden()
    assert page.url.endswith("/add/"), "Enter must not have submitted the form"
    assert incidents + page.evaluate("window.__incidents") == []
