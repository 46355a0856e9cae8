"""Stored and reflected XSS: OWASP payloads in every author-controlled field and the search box.

One article, category, tag, author and profile per payload is built once for
the module (inside a transaction rolled back at the end); each test then
checks one kind of screen for every payload.
"""

import unicodedata
from urllib.parse import quote

import pytest
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.db import transaction
from django.test import Client
from django.urls import reverse

from articles.models import Article, AuthorProfile, Category
from articles.rendering import render_body
from tests.factories import ArticleFactory
from tests.test_admin import add_article, open_form
from tests.xss import PAYLOADS, feed_problems, html_problems

IDS = [f"p{n:02d}" for n in range(len(PAYLOADS))]


def clip(text: str, limit: int) -> str:
    return text[:limit]


@pytest.fixture(scope="module")
def hostile(django_db_setup, django_db_blocker):
    """Build one hostile article (and its category, tag, author, profile) per payload."""
    with django_db_blocker.unblock():
        atomic = transaction.atomic()
        atomic.__enter__()
        cache.clear()
        try:
            built = {}
            for n, payload in enumerate(PAYLOADS):
                category = Category.objects.create(
                    name=clip(f"C{n} {payload}", 100),
                    slug=f"xss-{n}",
                    description=payload,
                    position=n,
                )
                author = get_user_model().objects.create(
                    username=f"xss{n}",
                    first_name=clip(payload, 150),
                    last_name=clip(payload[::-1], 150),
                )
                AuthorProfile.objects.create(
                    user=author, bio=clip(payload, 600), credentials=clip(payload, 120)
                )
                article = ArticleFactory(
                    title=clip(f"Zq{n} {payload}", 200),
                    slug=f"xss-article-{n}",
                    category=category,
                    author=author,
                    excerpt=clip(payload, 300),
                    body=f"Zq{n} intro.\n\n{payload}\n\n## {payload}\n\n- {payload}\n",
                    tags=[clip(f"t{n} {payload}", 100)],
                )
                # A cover without renditions shows the original with its alt text.
                Article.objects.filter(pk=article.pk).update(
                    cover_image=f"covers/xss{n}.jpg", cover_alt=clip(payload, 250)
                )
                built[n] = {
                    "article": article,
                    "category": category,
                    "author": author,
                    "tag": article.tags.get(),
                }
            admin = get_user_model().objects.create_superuser("xss-admin", "a@example.com", "pw")
            built["admin"] = admin
            yield built
        finally:
            transaction.set_rollback(True)
            atomic.__exit__(None, None, None)
            cache.clear()


@pytest.fixture
def admin_client(hostile, db):
    client = Client()
    client.force_login(hostile["admin"])
    return client


def assert_clean(response, url):
    assert response.status_code == 200, url
    problems = html_problems(response.content.decode())
    assert not problems, f"{url}: {problems}"


def reader_urls(built, n):
    article, category, tag, author = (built[n][k] for k in ("article", "category", "tag", "author"))
    return [
        article.get_absolute_url(),
        category.get_absolute_url(),
        reverse("articles:tag", kwargs={"slug": tag.slug}),
        reverse("articles:author", kwargs={"username": author.username}),
        f"/search/?q=Zq{n}",
        f"/search/?q={quote(PAYLOADS[n])}",
    ]


@pytest.mark.parametrize("n", range(len(PAYLOADS)), ids=IDS)
def test_payload_never_runs_on_reader_pages(client, hostile, db, n):
    """Article, category, tag, author and search pages (and their JSON-LD) stay inert."""
    for url in reader_urls(hostile, n):
        assert_clean(client.get(url), url)


@pytest.mark.parametrize("n", range(len(PAYLOADS)), ids=IDS)
def test_payload_never_runs_in_the_category_feed(client, hostile, db, n):
    """The category's RSS feed carries the payload only as inert text."""
    url = f"/xss-{n}/feed/"
    response = client.get(url)
    assert response.status_code == 200
    assert not feed_problems(response.content.decode()), url


@pytest.mark.parametrize("n", range(len(PAYLOADS)), ids=IDS)
def test_payload_never_runs_in_the_admin(admin_client, hostile, n):
    """Changelists, change forms and the admin's success message stay inert."""
    built = hostile[n]
    urls = [
        reverse("admin:articles_article_changelist") + f"?q=Zq{n}",
        reverse("admin:articles_article_change", args=[built["article"].pk]),
        reverse("admin:articles_category_changelist") + f"?q=C{n}",
        reverse("admin:articles_category_change", args=[built["category"].pk]),
        reverse("admin:articles_authorprofile_changelist") + f"?q=xss{n}",
        reverse("admin:articles_authorprofile_change", args=[built["author"].author_profile.pk]),
        reverse("admin:auth_user_change", args=[built["author"].pk]),
        reverse("admin:articles_article_changelist") + f"?q={quote(PAYLOADS[n])}",
    ]
    for url in urls:
        assert_clean(admin_client.get(url), url)

    category = built["category"]
    url = reverse("admin:articles_category_change", args=[category.pk])
    saved = admin_client.post(url, open_form(admin_client, url, "category"), follow=True)
    if any(unicodedata.category(char) == "Cc" for char in category.name):
        # A control character (a tab in the payload) is refused, and the error is inert too.
        assert "control character" in saved.content.decode()
    else:
        assert "was changed successfully" in saved.content.decode()
    assert_clean(saved, "category saved message")


def test_lists_feeds_and_sitemaps_stay_inert(client, hostile, db):
    """Home (every page), site feeds and sitemaps hold every payload only as inert text."""
    pages = (len(PAYLOADS) + 11) // 12
    for page in range(1, pages + 1):
        url = f"/?page={page}" if page > 1 else "/"
        response = client.get(url)
        if response.status_code == 404:
            break
        assert_clean(response, url)
    for url in ["/feed/", "/feed/atom/", "/sitemap.xml", "/sitemap-articles.xml"]:
        response = client.get(url)
        if response.status_code == 404 and "sitemap-" in url:
            continue
        assert response.status_code == 200, url
        assert not feed_problems(response.content.decode()), url


def test_checker_catches_what_it_must():
    """The checker itself flags real tags, handlers and disguised script URLs, not escaped text."""
    assert html_problems("<p>&lt;script&gt;alert(1)&lt;/script&gt; onerror=</p>") == []
    assert html_problems("<script>alert(1)</script>")
    assert html_problems('<img src="x" onerror="alert(1)">')
    assert html_problems('<a href="jav&#x09;ascript:alert(1)">x</a>')
    assert html_problems('<a href=" &#14; javascript:alert(1)">x</a>')
    assert html_problems('<script type="application/ld+json">{"a": "</script>')


def test_sanitizer_reports_in_the_admin_stay_inert(client, db):
    """The body error naming outside images, and the warning listing removals, carry payloads as text."""
    client.force_login(get_user_model().objects.create_superuser("reporter", "r@example.com", "pw"))
    category = Category.objects.create(name="Reports", slug="reports")
    refused = add_article(client, category, body="\n\n".join(PAYLOADS))
    assert refused.status_code == 200
    assert refused.context["adminform"].form.errors["body"]
    assert_clean(refused, "body error")

    # Joined, payloads parse in each other's context; leave out every image.
    harmless = [
        p
        for p in PAYLOADS
        if "img" not in p.lower() and not render_body(p, report=True).foreign_images
    ]
    saved = add_article(client, category, body="\n\n".join(harmless))
    assert saved.status_code == 302, saved.context["adminform"].form.errors
    shown = client.get(saved["Location"])
    assert "left out of the page" in shown.content.decode()
    assert_clean(shown, "removal warning")
