"""Hostile content in Chromium: no dialog fires, no CSP violation, no script error."""

from urllib.parse import quote

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse

from articles.models import Article, AuthorProfile, Category
from tests.factories import ArticleFactory
from tests.xss import PAYLOADS

pytestmark = pytest.mark.browser

# Collects what would prove a payload ran, or that the policy blocked something.
WATCH = """
window.__incidents = [];
document.addEventListener("securitypolicyviolation", (event) => {
    window.__incidents.push(`csp ${event.violatedDirective} ${event.blockedURI}`);
});
"""
CHUNK = 10


@pytest.fixture
def hostile_site(demo_content):
    """Commit articles, a category, a tag and an author holding every payload."""
    category = Category.objects.create(
        name="Hostile <svg/onload=alert(1)>", slug="hostile", description="\n".join(PAYLOADS)
    )
    author = get_user_model().objects.create(
        username="hostile", first_name=PAYLOADS[0], last_name=PAYLOADS[27][:150]
    )
    AuthorProfile.objects.create(user=author, bio=PAYLOADS[2][:600], credentials=PAYLOADS[3][:120])
    articles = []
    for start in range(0, len(PAYLOADS), CHUNK):
        chunk = PAYLOADS[start : start + CHUNK]
        article = ArticleFactory(
            title=f"H{start} {chunk[0]}"[:200],
            slug=f"hostile-{start}",
            category=category,
            author=author,
            excerpt=" ".join(chunk)[:300],
            body="\n\n".join(chunk),
            tags=[f"h{start} {chunk[1]}"[:100]],
        )
        Article.objects.filter(pk=article.pk).update(cover_alt=chunk[2][:250])
        articles.append(article)
    admin = get_user_model().objects.create_superuser("boss", "boss@example.com", "pw")
    return {"category": category, "author": author, "articles": articles, "admin": admin}


def visit(page, path, incidents):
    response = page.goto(path)
    assert response.status == 200, path
    page.wait_for_load_state("load")
    # Give onload/ontoggle/animation handlers a moment to run, if any got through.
    page.wait_for_timeout(150)
    incidents.extend(f"{path}: {item}" for item in page.evaluate("window.__incidents"))


@pytest.fixture
def watched_page(page, live_server):
    """A page that records dialogs, CSP violations, script errors and console errors."""
    incidents = []
    page.add_init_script(WATCH)
    page.on(
        "dialog", lambda dialog: (incidents.append(f"dialog {dialog.message}"), dialog.dismiss())
    )
    page.on("pageerror", lambda error: incidents.append(f"page error {error}"))
    page.on(
        "console",
        lambda message: (
            message.type == "error"
            # The hostile covers point at files that do not exist.
            and "Failed to load resource" not in message.text
            and incidents.append(f"console {message.text}")
        ),
    )
    return page, incidents


def test_hostile_reader_pages_run_nothing_in_chromium(watched_page, hostile_site):
    """Article, category, tag, author, home and search pages with payloads stay inert."""
    page, incidents = watched_page
    paths = [article.get_absolute_url() for article in hostile_site["articles"]]
    paths += [
        "/",
        "/hostile/",
        reverse("articles:author", kwargs={"username": "hostile"}),
        reverse("articles:tag", kwargs={"slug": hostile_site["articles"][0].tags.get().slug}),
        "/search/?q=" + quote(PAYLOADS[2]),
        "/search/?q=H10",
    ]
    for path in paths:
        visit(page, path, incidents)

    assert incidents == []


def test_hostile_admin_screens_run_nothing_in_chromium(watched_page, hostile_site, live_server):
    """The admin changelist and change forms with payloads stay inert and within the CSP."""
    page, incidents = watched_page
    client = Client()
    client.force_login(hostile_site["admin"])
    page.context.add_cookies(
        [
            {
                "name": settings.SESSION_COOKIE_NAME,
                "value": client.cookies[settings.SESSION_COOKIE_NAME].value,
                "url": live_server.url,
            }
        ]
    )
    article = hostile_site["articles"][0]
    paths = [
        reverse("admin:index"),
        reverse("admin:articles_article_changelist"),
        reverse("admin:articles_article_change", args=[article.pk]),
        reverse("admin:articles_category_change", args=[hostile_site["category"].pk]),
        reverse("admin:articles_authorprofile_changelist"),
        reverse("admin:auth_user_change", args=[hostile_site["author"].pk]),
    ]
    for path in paths:
        visit(page, path, incidents)
    # The admin's own scripts ran: the prepopulated slug and the widgets are live.
    page.goto(reverse("admin:articles_article_add"))
    page.locator("#id_title").press_sequentially("Fresh title")
    assert page.input_value("#id_slug") == "fresh-title"

    assert incidents == []
