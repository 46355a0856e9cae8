"""The article form as an author meets it: pickers, suggestions, help texts and error messages."""

import json
import re

import pytest
from django.test import Client
from django.urls import reverse

from articles.models import Article
from articles.readability import grade_meaning
from tests.admin_forms import rendered_form
from tests.factories import ArticleFactory, CategoryFactory, StaffFactory, TagFactory
from tests.test_admin import ADD_URL, add_article, change_url, edit

pytestmark = pytest.mark.django_db

MENTAL_HEALTH_PATH = "Health \u203a Mental Health"
AUTOCOMPLETE_URL = "/admin/articles/category/autocomplete/"
SUGGEST_URL = "/admin/articles/article/tags/suggest/"


@pytest.fixture
def editor_client(client):
    client.force_login(StaffFactory(username="edith", role="Editors"))
    return client


@pytest.fixture
def author(db):
    return StaffFactory(username="amelia", role="Authors")


@pytest.fixture
def author_client(author):
    client = Client()
    client.force_login(author)
    return client


def page(client, url):
    response = client.get(url)
    assert response.status_code == 200, response.status_code
    return response.content.decode()


def errors_of(response, field):
    return response.context["adminform"].form.errors.get(field, [])


# Category pickers ------------------------------------------------------------


def test_category_autocomplete_labels_categories_by_their_path(
    editor_client, health, mental_health, django_assert_max_num_queries
):
    """Typing in the category picker lists each category under its parent, not a bare name."""
    for n in range(10):
        CategoryFactory(name=f"Mental topic {n}", slug=f"topic-{n}", parent=mental_health)
    html = page(editor_client, ADD_URL)
    assert f'data-ajax--url="{AUTOCOMPLETE_URL}"' in html

    # Session, user, two permission reads, count, page, paths: none per result.
    with django_assert_max_num_queries(7):
        response = editor_client.get(
            AUTOCOMPLETE_URL,
            {
                "app_label": "articles",
                "model_name": "article",
                "field_name": "category",
                "term": "ment",
            },
        )

    assert response.status_code == 200
    labels = [result["text"] for result in response.json()["results"]]
    assert labels[:2] == [MENTAL_HEALTH_PATH, f"{MENTAL_HEALTH_PATH} \u203a Mental topic 0"]
    assert len(labels) == 11


def test_category_autocomplete_answers_for_categories_only(editor_client, health):
    """The path-labelling view refuses to list another model, such as the users."""
    response = editor_client.get(
        AUTOCOMPLETE_URL, {"app_label": "articles", "model_name": "article", "field_name": "author"}
    )
    assert response.status_code == 403


def test_change_form_shows_the_chosen_category_by_its_path(editor_client, mental_health):
    """An article in Mental Health opens with its whole path in the category picker."""
    article = ArticleFactory(category=mental_health)
    html = page(editor_client, change_url(article))
    assert re.search(
        rf'<option value="{mental_health.pk}" selected>{MENTAL_HEALTH_PATH}</option>', html
    )


def test_parent_picker_of_a_category_shows_paths_too(editor_client, mental_health):
    """A sub-category's parent picker names the parent by its path as well."""
    anxiety = CategoryFactory(name="Anxiety", slug="anxiety", parent=mental_health)
    html = page(editor_client, reverse("admin:articles_category_change", args=[anxiety.pk]))
    assert f">{MENTAL_HEALTH_PATH}</option>" in html


def test_move_to_category_lists_every_category_by_its_path(
    editor_client, health, mental_health, django_assert_max_num_queries
):
    """The "Move to category" choice shows paths, with one query for all of them."""
    for n in range(10):
        CategoryFactory(name=f"Anxiety {n}", slug=f"anxiety-{n}", parent=mental_health)
    article = ArticleFactory(category=health)
    changelist = reverse("admin:articles_article_changelist")
    form = rendered_form(editor_client.get(changelist), "changelist-form")
    form.set("action", "move_to_category").set("_selected_action", [article.pk])

    # The same count with 3 categories: nothing is read per option.
    with django_assert_max_num_queries(14):
        html = editor_client.post(changelist, form).content.decode()

    options = re.findall(r'<option value="\d+">([^<]+)</option>', html)
    assert options[:3] == ["Health", MENTAL_HEALTH_PATH, f"{MENTAL_HEALTH_PATH} \u203a Anxiety 0"]
    assert len(options) == 12


# Tag suggestions ---------------------------------------------------------------


def test_tags_box_asks_for_suggestions_from_a_script_file(editor_client):
    """The tags box points at the suggestions URL, and its script is a file (the CSP allows no inline script)."""
    html = page(editor_client, ADD_URL)
    assert re.search(rf'<input [^>]*name="tags"[^>]*data-suggest-url="{SUGGEST_URL}"', html)
    assert '<script src="/static/js/tag-suggestions.js"></script>' in html


def test_tag_suggestions_are_the_most_used_tags_with_a_word_starting_so(author_client, health):
    """ "sle" suggests sleep tags, most used first, by any word of the tag, and no others."""
    for tags in (["sleep"], ["sleep", "better sleep"], ["sleep", "sleep apnoea"], ["sleek"]):
        ArticleFactory(category=health, tags=tags)
    ArticleFactory(category=health, tags=["asleep at work"])  # "sle" inside a word

    response = author_client.get(SUGGEST_URL, {"q": "SLE"})

    assert response.status_code == 200
    assert response.json() == {"tags": ["sleep", "better sleep", "sleek", "sleep apnoea"]}


def test_tag_suggestions_are_for_signed_in_staff_who_write_articles(client, health):
    """Anonymous visitors are sent to sign in; staff without article rights are refused."""
    ArticleFactory(category=health, tags=["sleep"])
    anonymous = client.get(SUGGEST_URL, {"q": "sle"})
    assert anonymous.status_code == 302
    assert "/admin/login/" in anonymous["Location"]

    client.force_login(StaffFactory(username="nobody"))
    assert client.get(SUGGEST_URL, {"q": "sle"}).status_code == 403


def test_tag_suggestions_match_wildcards_and_markup_as_plain_text(author_client, health):
    """ "%" and "_" match only themselves, and a tag with markup comes back as JSON text."""
    ArticleFactory(category=health, tags=["100% juice", "b_vitamins", "bvitamins"])
    ArticleFactory(category=health, tags=["<img src=x onerror=alert(1)>"])

    assert author_client.get(SUGGEST_URL, {"q": "100%"}).json()["tags"] == ["100% juice"]
    assert author_client.get(SUGGEST_URL, {"q": "%"}).json()["tags"] == []
    assert author_client.get(SUGGEST_URL, {"q": "b_"}).json()["tags"] == ["b_vitamins"]
    response = author_client.get(SUGGEST_URL, {"q": "<img"})
    assert response["Content-Type"] == "application/json"
    assert json.loads(response.content) == {"tags": ["<img src=x onerror=alert(1)>"]}


def test_tag_suggestions_are_bounded(author_client, health, django_assert_max_num_queries):
    """At most ten tags come back, in a fixed number of queries, and an empty or huge query is fine."""
    tags = [TagFactory(name=f"sleep {n:02d}") for n in range(30)]
    for n in range(5):
        ArticleFactory(category=health, tags=[tag.name for tag in tags[: n + 1]])

    with django_assert_max_num_queries(6):
        names = author_client.get(SUGGEST_URL, {"q": "sle"}).json()["tags"]

    assert len(names) == 10
    assert names[:5] == ["sleep 00", "sleep 01", "sleep 02", "sleep 03", "sleep 04"]
    assert author_client.get(SUGGEST_URL, {"q": "  "}).json() == {"tags": []}
    assert author_client.get(SUGGEST_URL, {"q": "s" * 5000}).json() == {"tags": []}


# Help texts and error messages ----------------------------------------------------


def test_cover_field_says_what_to_upload(editor_client, settings):
    """The cover field names the formats, the size limit in MB and the recommended width."""
    settings.HEALTHHUB_MAX_UPLOAD_MB = 10
    html = page(editor_client, ADD_URL)
    assert "JPEG, PNG, WebP or GIF, up to 10\xa0MB and 40 megapixels." in html
    assert "Best at least 1,600 pixels wide" in html


def test_a_taken_slug_names_the_article_and_offers_a_free_one(editor_client, health):
    """The error names the article using the address and suggests the next free one."""
    ArticleFactory(category=health, title="Other title", slug="understanding-blood-pressure")
    ArticleFactory(category=health, slug="understanding-blood-pressure-2")

    response = add_article(editor_client, health)

    assert response.status_code == 200
    assert errors_of(response, "slug") == [
        "This address is taken by “Other title”. Try “understanding-blood-pressure-3”."
    ]
    assert "already exists" not in response.content.decode()


def test_a_taken_slug_keeps_another_authors_draft_title_private(author_client, health):
    """An author is not shown the title of someone else's unpublished article."""
    ArticleFactory(
        category=health,
        title="Secret draft",
        slug="understanding-blood-pressure",
        status=Article.Status.DRAFT,
    )

    response = add_article(author_client, health)

    assert errors_of(response, "slug") == [
        "This address is taken by another article. Try “understanding-blood-pressure-2”."
    ]


def test_a_slug_an_article_used_before_is_not_offered(editor_client, health):
    """An old address still redirects to its article, so it is not suggested as free."""
    moved = ArticleFactory(category=health, slug="understanding-blood-pressure-2")
    moved.slug = "blood-pressure-explained"
    moved.save()
    ArticleFactory(category=health, title="Other title", slug="understanding-blood-pressure")

    response = add_article(editor_client, health)

    assert "Try “understanding-blood-pressure-3”." in errors_of(response, "slug")[0]


def test_a_long_title_is_refused_with_its_length_not_cut_by_the_browser(editor_client, health):
    """The title box has no maxlength; 231 characters get an error that counts them."""
    html = page(editor_client, ADD_URL)
    assert not re.search(r'<input [^>]*name="title"[^>]*maxlength', html)
    assert not re.search(r'<textarea [^>]*name="excerpt"[^>]*maxlength', html)

    response = add_article(editor_client, health, title="A" * 231)

    assert errors_of(response, "title") == [
        "At most 200 characters, please (this one has 231). Shorten it and save again."
    ]
    assert not Article.objects.exists()


# What the sanitizer removes ------------------------------------------------------


def test_saving_tells_the_author_what_the_page_leaves_out(editor_client, health):
    """A script, an event handler and a javascript: link are listed in a warning after saving."""
    body = (
        "Intro. <script>alert(1)</script>\n\n"
        '<p onclick="steal()">Click me.</p>\n\n[Bad link](javascript:alert(1))\n'
    )

    response = add_article(editor_client, health, body=body)

    assert response.status_code == 302, errors_of(response, "body")
    shown = editor_client.get(response["Location"])
    levels = {m.message: m.level_tag for m in shown.context["messages"]}
    warning = (
        "3 things in the body were left out of the page, as the site does not allow them: "
        "<script> element, onclick attribute, link to “javascript:alert(1)”."
    )
    assert levels[warning] == "warning"
    assert "&lt;script&gt; element" in shown.content.decode()
    assert "<script>alert" not in Article.objects.get().body_html


def test_a_clean_body_saves_without_a_warning(editor_client, health):
    """Ordinary Markdown gets the usual success message only."""
    response = add_article(editor_client, health)
    shown = editor_client.get(response["Location"])
    assert [m.level_tag for m in shown.context["messages"]] == ["success"]


def test_an_image_from_another_site_is_refused_on_the_body(editor_client, health):
    """The body's error names the outside image; nothing is saved."""
    body = "Intro.\n\n![Tracker](https://evil.example/pixel.gif)\n\n![Chart](/media/chart.png)"

    response = add_article(editor_client, health, body=body)

    assert response.status_code == 200
    assert errors_of(response, "body") == [
        "This image is not on this site, so the page would not show it: "
        "“https://evil.example/pixel.gif”. Upload it to the image library with "
        "“Insert image”, which adds it as ![description](image:N), or remove it."
    ]
    assert "“https://evil.example/pixel.gif”" in response.content.decode()
    assert not Article.objects.exists()


def test_an_existing_article_with_an_outside_image_cannot_be_saved_until_it_goes(
    editor_client, health
):
    """Editing an article keeps the check: the outside image must go before it saves."""
    article = ArticleFactory(category=health, body="Text.\n\n![x](//evil.example/x.gif)")

    refused = edit(editor_client, article, title="Renamed")
    assert errors_of(refused, "body")
    saved = edit(editor_client, article, title="Renamed", body="Text.")
    assert saved.status_code == 302
    article.refresh_from_db()
    assert article.title == "Renamed"


# Reading grade -------------------------------------------------------------------

HARD_BODY = (
    "Drink water. Walk each day.\n\n"
    "Hypertension frequently necessitates individualised pharmacological management "
    "alongside comprehensive multidisciplinary lifestyle modification programmes.\n\n"
    "| Reading | Meaning |\n|---|---|\n| 120 | Normal |\n"
)


def test_change_form_explains_the_grade_and_lists_the_hardest_sentences(editor_client, health):
    """The form says who can read the text, the target, and which sentences to fix first."""
    article = ArticleFactory(category=health, body=HARD_BODY)
    html = page(editor_client, change_url(article))

    grade = article.readability_grade
    assert f"<strong>Grade {grade}</strong>: {grade_meaning(grade)}." in html
    assert "Patient-facing health text aims at grade 8 or below." in html
    assert "Only paragraphs are graded" in html
    hardest = re.findall(r'<ol class="readability-sentences"><li>“([^”]+)” \(([^)]+)\)', html)
    assert hardest == [
        (
            "Hypertension frequently necessitates individualised pharmacological management "
            "alongside comprehensive multidisciplinary lifestyle modification programmes.",
            "12 words, 4.2 syllables a word",
        )
    ]
    assert "readability-warning" in html


def test_an_easy_article_is_within_the_target_and_lists_no_sentences(editor_client, health):
    """Below the target the form says so and lists nothing to fix."""
    article = ArticleFactory(category=health, body="Drink water. Walk each day. Sleep well.")
    html = page(editor_client, change_url(article))
    assert "Within grade 8, the aim for patient-facing health text." in html
    assert "readability-sentences" not in html


def test_changelist_keeps_the_grade_column_compact(editor_client, health):
    """The list shows the bare grade with a warning mark, not the explanation."""
    ArticleFactory(category=health, body=HARD_BODY)
    html = page(editor_client, reverse("admin:articles_article_changelist"))
    assert "readability-warning" in html
    assert "readable by most" not in html
