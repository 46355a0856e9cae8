"""What a reader does in a real browser: navigate, use the table of contents, search."""

import pytest

from articles.models import Article
from tests.browser.pages import SLEEP_ARTICLE

expect = pytest.importorskip("playwright.sync_api").expect

pytestmark = pytest.mark.browser


def test_reader_reaches_an_article_through_navigation_and_breadcrumb_leads_back(page):
    """Category nav, then a card title, reach the article; its breadcrumb leads back."""
    page.goto("/")
    page.get_by_role("navigation", name="Categories").get_by_role(
        "link", name="Health", exact=True
    ).click()
    expect(page).to_have_url("/health/")
    expect(page.locator("h1")).to_have_text("Health")

    page.locator(".card__title a", has_text="Recognising the Signs of Anxiety").click()
    expect(page).to_have_url("/mental-health/recognising-the-signs-of-anxiety/")
    expect(page.locator("h1")).to_have_text("Recognising the Signs of Anxiety")
    breadcrumb = page.locator('nav[aria-label="Breadcrumb"] li')
    expect(breadcrumb).to_have_text(
        ["Home", "Health", "Mental Health", "Recognising the Signs of Anxiety"]
    )
    expect(breadcrumb.last.locator('[aria-current="page"]')).to_have_count(1)

    breadcrumb.get_by_role("link", name="Health", exact=True).click()
    expect(page).to_have_url("/health/")
    expect(page.locator("h1")).to_have_text("Health")


def test_table_of_contents_links_scroll_to_their_headings(page):
    """Each contents entry targets a body heading, and a click brings it into view."""
    page.goto(SLEEP_ARTICLE)
    links = page.locator(".toc a")
    hrefs = [links.nth(i).get_attribute("href") for i in range(links.count())]
    assert len(hrefs) >= 3, hrefs
    for index, href in enumerate(hrefs):
        assert href.startswith("#"), href
        heading = page.locator(f'.article__body [id="{href[1:]}"]')
        expect(heading).to_have_count(1)
        expect(heading).to_have_text(links.nth(index).inner_text())

    middle = len(hrefs) // 2
    heading = page.locator(f'.article__body [id="{hrefs[middle][1:]}"]')
    assert page.evaluate("window.scrollY") == 0
    links.nth(middle).click()
    page.wait_for_function("hash => location.hash === hash", arg=hrefs[middle])
    assert page.evaluate("window.scrollY") > 0
    box = heading.bounding_box()
    assert box["y"] >= 0, box
    assert box["y"] + box["height"] <= page.viewport_size["height"], box


def test_header_search_finds_a_word_only_in_an_article_body(page):
    """Searching from the header for a body-only word lists the article that contains it."""
    article = Article.objects.get(slug="how-much-sleep-do-adults-really-need")
    word = "apnoea"
    assert word in article.body
    assert word not in f"{article.title} {article.excerpt}".lower()

    page.goto("/")
    page.fill("#site-search-q", word)
    page.press("#site-search-q", "Enter")
    expect(page).to_have_url(f"/search/?q={word}")
    results = page.locator(".search-results > li")
    expect(results).not_to_have_count(0)
    expect(
        results.locator(f'a[href="{article.get_absolute_url()}"]', has_text=article.title)
    ).to_have_count(1)


def test_skip_link_is_the_first_stop_and_moves_focus_to_main(page):
    """On a fresh page, Tab focuses the skip link and Enter moves focus to the main content."""
    page.goto("/")
    page.keyboard.press("Tab")
    skip_link = page.locator("a.skip-link")
    expect(skip_link).to_be_focused()
    expect(skip_link).to_be_in_viewport()
    page.keyboard.press("Enter")
    expect(page.locator("#main")).to_be_focused()
    assert page.evaluate("location.hash") == "#main"
