"""Autosave and recovery of the article form: the endpoint, its limits, the restore banner."""

import datetime as dt
import json

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from articles import autosave, caching, services, signals
from articles.models import Article, ArticleRevision, Autosave, ContentVersion
from tests.factories import ArticleFactory, StaffFactory
from tests.test_admin import ADD_URL, NEW_ARTICLE, change_url, edit, open_form, submit

pytestmark = pytest.mark.django_db

FIELDS = {"title": "Sleep, revisited", "body": "A body typed but not yet saved."}


def autosave_url(article=None):
    if article is None:
        return reverse("admin:articles_article_autosave_new")
    return reverse("admin:articles_article_autosave", args=[article.pk])


def discard_url(article=None):
    if article is None:
        return reverse("admin:articles_article_autosave_discard_new")
    return reverse("admin:articles_article_autosave_discard", args=[article.pk])


def post_fields(client, url, fields=FIELDS, **headers):
    return client.post(
        url, json.dumps({"fields": fields}), content_type="application/json", headers=headers
    )


@pytest.fixture
def author(db):
    return StaffFactory(username="amelia", role="Authors")


@pytest.fixture
def draft(author, health):
    return ArticleFactory(category=health, author=author, status=Article.Status.DRAFT)


@pytest.fixture
def author_client(client, author):
    client.force_login(author)
    return client


def test_anonymous_autosave_is_refused_with_403(client, draft):
    """A signed-out browser gets a 403 from the autosave, not a login page, and nothing is stored."""
    assert post_fields(client, autosave_url(draft)).status_code == 403
    assert post_fields(client, autosave_url()).status_code == 403
    assert not Autosave.objects.exists()


def test_author_may_not_autosave_an_article_they_cannot_edit(author_client, health, draft):
    """Another author's draft, the author's own live article and a missing id are all 403."""
    others = ArticleFactory(category=health, author=StaffFactory(username="bob"), status="draft")
    live = ArticleFactory(category=health, author=draft.author)

    for url in (
        autosave_url(others),
        autosave_url(live),
        "/admin/articles/article/999999/autosave/",
    ):
        assert post_fields(author_client, url).status_code == 403, url
    assert author_client.post(discard_url(others)).status_code == 403
    assert not Autosave.objects.exists()


def test_autosave_needs_the_csrf_token(author, draft):
    """Without the CSRF token the autosave is refused; with the form's token in the header it is stored."""
    client = Client(enforce_csrf_checks=True)
    client.force_login(author)
    assert post_fields(client, autosave_url(draft)).status_code == 403
    assert not Autosave.objects.exists()

    form = open_form(client, change_url(draft))
    response = post_fields(client, autosave_url(draft), X_CSRFToken=form["csrfmiddlewaretoken"])
    assert response.status_code == 200
    assert Autosave.objects.get().data == FIELDS


def test_autosave_larger_than_a_body_may_be_is_refused(author_client, draft, settings):
    """A request over the body limit plus a margin gets 413 and stores nothing."""
    settings.HEALTHHUB_MAX_BODY_KB = 1
    too_long = "x" * (autosave.max_request_bytes() + 1)

    response = post_fields(author_client, autosave_url(draft), {"body": too_long})

    assert response.status_code == 413
    assert not Autosave.objects.exists()


def test_autosave_refuses_what_is_not_json_fields(author_client, draft):
    """A body that is not a JSON object of text fields is a 400."""
    url = autosave_url(draft)
    bad = author_client.post(url, "not json", content_type="application/json")
    assert bad.status_code == 400
    assert post_fields(author_client, url, {"body": ["a", "list"]}).status_code == 400
    assert not Autosave.objects.exists()


def test_autosave_keeps_only_the_form_text_fields(author_client, draft):
    """Unknown names (the token, the version, inline rows) are left out of the stored copy."""
    post_fields(author_client, autosave_url(draft), {**FIELDS, "expected_version": "3", "x": "y"})
    assert Autosave.objects.get().data == FIELDS


def test_an_hour_of_autosaves_keeps_one_row(author_client, draft):
    """720 autosaves (every 5 s for an hour) leave one row per person and article, the last."""
    for n in range(720):
        response = post_fields(author_client, autosave_url(draft), {"body": f"Draft {n}"})
        assert response.status_code == 200
    for n in range(3):
        assert post_fields(author_client, autosave_url(), {"body": f"New {n}"}).status_code == 200

    rows = Autosave.objects.order_by("pk")
    assert [(row.article_id, row.data["body"]) for row in rows] == [
        (draft.pk, "Draft 719"),
        (None, "New 2"),
    ]


def test_autosave_changes_nothing_about_the_article(author_client, draft, monkeypatch):
    """An autosave records no revision, leaves the article as it was and bumps no content version."""
    bumps = []
    for module in (caching, signals, services):
        monkeypatch.setattr(module, "bump_content_version", lambda: bumps.append(1))
    versions = list(ContentVersion.objects.values_list("version", flat=True))
    before = Article.objects.get(pk=draft.pk)

    assert post_fields(author_client, autosave_url(draft)).status_code == 200

    after = Article.objects.get(pk=draft.pk)
    assert (after.title, after.body, after.version, after.updated_at) == (
        before.title,
        before.body,
        before.version,
        before.updated_at,
    )
    assert not ArticleRevision.objects.exists()
    assert bumps == []
    assert list(ContentVersion.objects.values_list("version", flat=True)) == versions


def test_newer_autosave_offers_a_restore_banner(author, author_client, draft):
    """Opening an article with an autosave newer than its last save shows the restore banner."""
    saved = Autosave.objects.create(
        user=author, article=draft, data=FIELDS, saved_at=timezone.now() + dt.timedelta(minutes=1)
    )

    response = author_client.get(change_url(draft))

    html = response.content.decode()
    when = timezone.localtime(saved.saved_at)
    assert "Restore unsaved changes from" in html
    assert f"{when:%Y}" in html and 'id="autosave-restore"' in html
    config = response.context["autosave_config"]
    assert config["server"]["data"] == FIELDS
    assert 'id="autosave-config" type="application/json"' in html
    assert 'role="status" aria-live="polite" aria-label="Autosave"' in html


def test_autosave_older_than_the_article_offers_nothing(author, author_client, draft):
    """An autosave the article was saved after is not offered."""
    Autosave.objects.create(
        user=author, article=draft, data=FIELDS, saved_at=draft.updated_at - dt.timedelta(hours=1)
    )

    response = author_client.get(change_url(draft))

    assert "Restore unsaved changes from" not in response.content.decode()
    assert response.context["autosave_config"]["server"] is None


def test_someone_elses_autosave_is_not_offered(author_client, draft, health):
    """Only the person's own autosave is offered, never an editor's of the same article."""
    editor = StaffFactory(username="edith", role="Editors")
    Autosave.objects.create(
        user=editor, article=draft, data=FIELDS, saved_at=timezone.now() + dt.timedelta(minutes=1)
    )
    assert (
        "Restore unsaved changes from" not in author_client.get(change_url(draft)).content.decode()
    )


def test_discard_deletes_the_autosave(author, author_client, draft):
    """Discard deletes the person's autosave of the article, and the banner goes."""
    Autosave.objects.create(
        user=author, article=draft, data=FIELDS, saved_at=timezone.now() + dt.timedelta(minutes=1)
    )

    response = author_client.post(discard_url(draft))

    assert response.json() == {"discarded": 1}
    assert not Autosave.objects.exists()
    assert (
        "Restore unsaved changes from" not in author_client.get(change_url(draft)).content.decode()
    )


def test_a_successful_save_deletes_the_autosave(author, author_client, draft):
    """Saving the form normally deletes the autosave it replaces; a refused save keeps it."""
    post_fields(author_client, autosave_url(draft))
    refused = edit(author_client, draft, title="")
    assert refused.status_code == 200
    assert Autosave.objects.exists()

    assert edit(author_client, draft, title="Saved for real").status_code == 302
    assert not Autosave.objects.exists()


def test_saving_a_new_article_deletes_its_autosave(author_client, health):
    """The add form's autosave (no article yet) goes once the new article is saved."""
    post_fields(author_client, autosave_url(), {"title": "Half-written"})
    form = open_form(author_client, ADD_URL)
    assert form.get("csrfmiddlewaretoken")

    response = submit(author_client, ADD_URL, form, **{**NEW_ARTICLE, "category": health.pk})

    assert response.status_code == 302
    assert not Autosave.objects.exists()
