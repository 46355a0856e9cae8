import datetime as dt
from io import BytesIO

import pytest
from django.contrib.staticfiles import finders
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from PIL import Image

from articles.models import Article, Category
from tests.admin_forms import admin_form
from tests.factories import ArticleFactory, CategoryFactory, ReferenceFactory, StaffFactory

pytestmark = pytest.mark.django_db


# What an author types into a new article; the rest is left as the page renders it.
NEW_ARTICLE = {
    "title": "Understanding Blood Pressure",
    "slug": "understanding-blood-pressure",
    "excerpt": "What the two numbers mean.",
    "body": "Intro.\n\n## The numbers\n\nSystolic and diastolic.",
    "tags": "heart health, blood pressure",
}
ADD_URL = "/admin/articles/article/add/"


def change_url(article):
    return reverse("admin:articles_article_change", args=[article.pk])


def open_form(client, url, model_name="article"):
    """Open an admin add or change page; return the fields its form renders, as loaded."""
    response = client.get(url)
    assert response.status_code == 200, response.status_code
    return admin_form(response, model_name)


def submit(client, url, form, **fields):
    """Change ``fields`` of a rendered form (only fields it shows) and post it."""
    for name, value in fields.items():
        form.set(name, value)
    return client.post(url, form)


def edit(client, article, **fields):
    """Open the article's change form, change ``fields`` and save."""
    url = change_url(article)
    return submit(client, url, open_form(client, url), **fields)


def add_article(client, category, **fields):
    """Open the add form, fill in a new article in ``category`` plus ``fields``, and save."""
    form = open_form(client, ADD_URL)
    return submit(client, ADD_URL, form, **{**NEW_ARTICLE, "category": category.pk, **fields})


def test_changelist_shows_articles_with_their_columns(
    editor_client, django_assert_max_num_queries, health
):
    """The article changelist lists title, category, status, views and author."""
    for n in range(10):
        ArticleFactory(category=health, title=f"Listed article {n}", tags=["a", "b"])
    Article.objects.filter(title="Listed article 3").update(view_count=1234)

    with django_assert_max_num_queries(12):
        response = editor_client.get(reverse("admin:articles_article_changelist"))
    html = response.content.decode()

    assert response.status_code == 200
    assert "Listed article 3" in html
    assert "1,234" in html or "1234" in html
    assert "Health" in html


def test_changelist_search_finds_words_in_the_body(editor_client, health):
    """Searching the changelist matches the article body."""
    ArticleFactory(category=health, title="Hidden gem", body="Talk about magnesium here.")
    ArticleFactory(category=health, title="Other piece")
    response = editor_client.get(reverse("admin:articles_article_changelist"), {"q": "magnesium"})
    html = response.content.decode()
    assert "Hidden gem" in html
    assert "Other piece" not in html


def test_add_form_defaults_the_author_to_the_current_user(editor_client, editor):
    """The add form preselects the signed-in user as author."""
    response = editor_client.get(reverse("admin:articles_article_add"))
    assert response.status_code == 200
    assert response.context["adminform"].form.initial["author"] == editor.pk


def test_adding_an_article_through_the_admin(editor_client, editor, health):
    """Posting the add form creates the article with rendered HTML and parsed tags."""
    response = add_article(editor_client, health)
    assert response.status_code == 302, response.context["adminform"].form.errors

    article = Article.objects.get(slug="understanding-blood-pressure")
    assert article.author == editor
    assert article.category == health
    assert '<h2 id="the-numbers">The numbers</h2>' in article.body_html
    assert sorted(article.tags.names()) == ["blood pressure", "heart health"]
    assert article.view_count == 0


def test_editing_in_the_admin_keeps_the_view_count(editor_client, editor, health):
    """Saving the change form neither resets nor sets the view count."""
    article = ArticleFactory(category=health, slug="understanding-blood-pressure", author=editor)
    Article.objects.filter(pk=article.pk).update(view_count=500)

    form = open_form(editor_client, change_url(article))
    assert "view_count" not in form.names
    response = submit(editor_client, change_url(article), form, title="New title")

    assert response.status_code == 302
    article.refresh_from_db()
    assert (article.title, article.view_count) == ("New title", 500)


def test_cover_image_without_alt_text_is_refused(editor_client, editor, health):
    """Uploading a cover with no alt text shows an error on the alt field."""
    buffer = BytesIO()
    Image.new("RGB", (20, 10), "teal").save(buffer, "PNG")
    upload = SimpleUploadedFile("cover.png", buffer.getvalue(), content_type="image/png")

    response = add_article(editor_client, health, cover_image=upload)

    assert response.status_code == 200
    assert "cover_alt" in response.context["adminform"].form.errors
    assert not Article.objects.exists()


def test_view_on_site_only_for_public_articles(editor_client, editor, health):
    """The change form links to the live page only when readers can see it."""
    live = ArticleFactory(category=health, author=editor)
    draft = ArticleFactory(category=health, author=editor, status=Article.Status.DRAFT)
    future = ArticleFactory(
        category=health, author=editor, published_at=timezone.now() + dt.timedelta(days=2)
    )

    def change_page(article):
        url = reverse("admin:articles_article_change", args=[article.pk])
        return editor_client.get(url).content.decode()

    assert "View on site" in change_page(live)
    assert "View on site" not in change_page(draft)
    assert "View on site" not in change_page(future)


def test_category_admin_refuses_a_reserved_slug(editor_client):
    """Adding a category with a route's slug shows a clear error."""
    url = reverse("admin:articles_category_add")
    form = open_form(editor_client, url, "category")
    response = submit(editor_client, url, form, name="Search", slug="search")
    assert response.status_code == 200
    assert "used by the site itself" in response.content.decode()
    assert not Category.objects.exists()


def test_category_admin_refuses_a_parent_cycle(editor_client, health, mental_health):
    """Setting Health's parent to its own sub-category is refused."""
    url = reverse("admin:articles_category_change", args=[health.pk])
    form = open_form(editor_client, url, "category")
    response = submit(editor_client, url, form, parent=mental_health.pk)
    assert response.status_code == 200
    assert "cannot sit under itself" in response.content.decode()
    health.refresh_from_db()
    assert health.parent is None


def test_category_changelist_is_ordered_by_position(editor_client):
    """Categories list in navigation order in the admin."""
    CategoryFactory(name="Zinc corner", slug="zinc", position=1)
    CategoryFactory(name="Apple corner", slug="apple", position=2)
    html = editor_client.get(reverse("admin:articles_category_changelist")).content.decode()
    assert html.index("Zinc corner") < html.index("Apple corner")


def test_anonymous_users_are_sent_to_the_admin_login(client, db):
    """The admin asks anonymous visitors to sign in."""
    response = client.get(reverse("admin:articles_article_changelist"))
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


def test_fake_image_upload_is_refused_with_a_clear_message(
    editor_client, editor, health, settings, tmp_path
):
    """An SVG renamed .png is refused on the form and nothing is written to disk."""
    settings.MEDIA_ROOT = tmp_path
    svg = b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"></svg>'
    upload = SimpleUploadedFile("cover.png", svg, content_type="image/png")

    response = add_article(editor_client, health, cover_image=upload, cover_alt="A chart")

    assert response.status_code == 200
    assert "cover_image" in response.context["adminform"].form.errors
    assert not Article.objects.exists()
    assert not any(tmp_path.rglob("*.*"))


def test_real_cover_upload_gets_renditions(editor_client, editor, health, settings, tmp_path):
    """A real image uploaded in the admin is stored under a random name and shown responsively."""
    settings.MEDIA_ROOT = tmp_path
    buffer = BytesIO()
    Image.new("RGB", (1000, 600), "teal").save(buffer, "JPEG")
    upload = SimpleUploadedFile(
        "../../etc/cover photo.jpg", buffer.getvalue(), content_type="image/jpeg"
    )

    response = add_article(editor_client, health, cover_image=upload, cover_alt="Teal square")

    assert response.status_code == 302
    article = Article.objects.get()
    assert article.cover_image.name.startswith("covers/")
    assert "cover photo" not in article.cover_image.name
    assert [s["width"] for s in article.cover_renditions["sources"]] == [480, 960]
    assert (tmp_path / article.cover_renditions["social"]["name"]).exists()

    html = editor_client.get(article.get_absolute_url()).content.decode()
    assert '<source type="image/webp" srcset="' in html
    assert 'alt="Teal square"' in html
    assert '<meta property="og:image" content="http://testserver/media/renditions/' in html


# Error pages, the favicon and the change list's columns ----------------------

ADMIN_HEADER = "HealthHub administration"


def test_unknown_admin_url_shows_an_admin_page_not_found_with_a_way_back(editor_client):
    """A 404 under /admin/ is an admin page that says so and links back and to the admin index."""
    came_from = "http://testserver" + reverse("admin:articles_article_changelist")
    response = editor_client.get("/admin/no-such-page/", headers={"referer": came_from})
    html = response.content.decode()

    assert response.status_code == 404
    assert ADMIN_HEADER in html
    assert "<h1>Page not found</h1>" in html
    assert f'<a href="{came_from}">Back to the previous page</a>' in html
    assert f'<a href="{reverse("admin:index")}">Go to the admin home page</a>' in html


def test_admin_page_not_found_offers_no_link_back_to_another_site(editor_client):
    """A referer from another site gets no "previous page" link, only the admin home."""
    response = editor_client.get(
        "/admin/no-such-page/", headers={"referer": "https://evil.example/phish"}
    )
    html = response.content.decode()
    assert response.status_code == 404
    assert "evil.example" not in html
    assert "Go to the admin home page" in html


def test_public_page_not_found_stays_the_public_page(client, db):
    """A 404 outside the admin is still the site's own page, without the admin around it."""
    response = client.get("/no-such-page/")
    html = response.content.decode()
    assert response.status_code == 404
    assert "Go to the home page" in html
    assert ADMIN_HEADER not in html


def test_refused_admin_page_shows_an_admin_permission_denied_page(client, db):
    """An author opening Statistics gets a 403 admin page that explains it, not a bare "403 Forbidden"."""
    client.force_login(StaffFactory(username="amelia", role="Authors"))
    response = client.get(reverse("admin:articles_article_statistics"))
    html = response.content.decode()

    assert response.status_code == 403
    assert ADMIN_HEADER in html
    assert "<h1>Permission denied</h1>" in html
    assert "Your role does not include this page." in html
    assert "Go to the admin home page" in html


def test_admin_pages_link_the_site_favicon(editor_client):
    """The admin's pages, sign-in included, name the site's icon."""
    icon = '<link rel="icon" type="image/png" href="/static/img/favicon.png">'
    assert icon in editor_client.get(reverse("admin:index")).content.decode()
    assert icon in Client().get(reverse("admin:login")).content.decode()


def test_favicon_ico_redirects_to_the_site_icon(client, db):
    """/favicon.ico answers with a cacheable redirect to the icon instead of a 404."""
    response = client.get("/favicon.ico")
    assert response.status_code == 302
    assert response["Location"] == "/static/img/favicon.png"
    assert "max-age=86400" in response["Cache-Control"]
    assert finders.find("img/favicon.png")


def test_changelist_shows_the_publish_date_without_the_time(editor_client, health):
    """The publish date column is a short date, so the column stays narrow."""
    published = timezone.make_aware(dt.datetime(2025, 1, 7, 9, 30))
    ArticleFactory(category=health, published_at=published)
    html = editor_client.get(reverse("admin:articles_article_changelist")).content.decode()
    assert f'<time datetime="{published.isoformat()}">7 Jan 2025</time>' in html
    assert "9:30 a.m." not in html


# References inline -------------------------------------------------------------


def add_inline_row(form, prefix, **fields):
    """Add a row to an inline as "Add another" does, copying its empty template row."""
    index = int(form[f"{prefix}-TOTAL_FORMS"])
    template = f"{prefix}-__prefix__-"
    for name in [name for name in form.names if name.startswith(template)]:
        row_name = name.replace("__prefix__", str(index))
        form.names.add(row_name)
        if name in form:
            form[row_name] = form[name]
    form[f"{prefix}-TOTAL_FORMS"] = str(index + 1)
    for name, value in fields.items():
        form.set(f"{prefix}-{index}-{name}", value)
    return form


def reference_positions(article):
    return list(article.references.values_list("position", "title"))


def test_references_added_in_the_admin_are_numbered_in_form_order(editor_client, health):
    """New reference rows, left without a position, follow the existing ones in the order shown."""
    article = ArticleFactory(category=health)
    ReferenceFactory(article=article, position=1, title="Existing study")
    form = open_form(editor_client, change_url(article))
    assert form["references-__prefix__-position"] == ""  # no 0 for every new row to keep
    add_inline_row(form, "references", title="Second study", url="https://example.org/2")
    add_inline_row(form, "references", title="Third study", url="https://example.org/3")

    response = submit(editor_client, change_url(article), form)

    assert response.status_code == 302
    assert reference_positions(article) == [
        (1, "Existing study"),
        (2, "Second study"),
        (3, "Third study"),
    ]


def test_reference_positions_typed_by_the_author_are_kept(editor_client, health):
    """A typed position stays; rows left empty are numbered after the highest one."""
    form = open_form(editor_client, ADD_URL)
    for title, position in [("Unnumbered", ""), ("Typed five", "5"), ("Also unnumbered", "")]:
        add_inline_row(
            form, "references", title=title, position=position, doi=f"10.1000/{len(title)}"
        )

    response = submit(editor_client, ADD_URL, form, **NEW_ARTICLE, category=health.pk)

    assert response.status_code == 302
    assert reference_positions(Article.objects.get()) == [
        (5, "Typed five"),
        (6, "Unnumbered"),
        (7, "Also unnumbered"),
    ]
