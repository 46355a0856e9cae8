"""What Authors and Editors may do, checked through the admin's real URLs."""

import datetime as dt

import pytest
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from articles.models import Article
from tests.factories import ArticleFactory, ReviewerFactory, StaffFactory, TagFactory
from tests.test_admin import ADD_URL, NEW_ARTICLE, add_article, change_url, edit, open_form, submit

pytestmark = pytest.mark.django_db


@pytest.fixture
def author(db):
    return StaffFactory(username="amelia", role="Authors")


@pytest.fixture
def other_author(db):
    return StaffFactory(username="bruno", role="Authors")


@pytest.fixture
def editor(db):
    return StaffFactory(username="edith", role="Editors")


def login(client, user):
    client.force_login(user)
    return client


def test_migrations_create_both_groups_with_permissions(db):
    """A fresh database has the Authors and Editors groups, already holding permissions."""
    groups = {g.name: g.permissions.count() for g in Group.objects.all()}
    assert groups["Authors"] > 0
    assert groups["Editors"] > groups["Authors"]


def test_setup_roles_restores_a_removed_permission(db, capsys):
    """setup_roles puts the groups' permissions back to what the code lists."""
    editors = Group.objects.get(name="Editors")
    editors.permissions.clear()
    call_command("setup_roles")
    assert editors.permissions.filter(codename="publish_article").exists()
    assert "Editors:" in capsys.readouterr().out


def test_author_sees_only_their_own_articles(client, author, other_author, health):
    """An author's changelist lists their articles and nobody else's."""
    ArticleFactory(author=author, category=health, title="Mine to edit")
    ArticleFactory(author=other_author, category=health, title="Someone else's")
    html = login(client, author).get(reverse("admin:articles_article_changelist")).content
    assert b"Mine to edit" in html
    assert b"Someone else" not in html


def test_author_cannot_open_another_authors_article(client, author, other_author, health):
    """Opening another author's article by URL answers 404, for every admin page of it."""
    theirs = ArticleFactory(author=other_author, category=health, status=Article.Status.DRAFT)
    client = login(client, author)
    assert client.get(change_url(theirs)).status_code == 404
    assert client.post(change_url(theirs), {"title": "Taken over"}).status_code == 404
    delete = reverse("admin:articles_article_delete", args=[theirs.pk])
    assert client.post(delete, {"post": "yes"}).status_code == 404
    assert Article.objects.filter(pk=theirs.pk).exists()


def test_author_creates_a_draft_and_is_its_author(client, author, editor, health):
    """An author's new article is theirs; the form offers no author to choose."""
    client = login(client, author)
    assert "author" not in open_form(client, ADD_URL).names
    response = add_article(client, health, status=Article.Status.DRAFT)
    assert response.status_code == 302
    article = Article.objects.get()
    assert (article.author, article.status) == (author, Article.Status.DRAFT)


def test_author_cannot_publish(client, author, health):
    """Choosing "published" as an author is refused on the form."""
    response = add_article(login(client, author), health, status=Article.Status.PUBLISHED)
    assert response.status_code == 200
    assert "status" in response.context["adminform"].form.errors
    assert not Article.objects.exists()


def test_author_moves_their_draft_to_review(client, author, health):
    """An author can send their own draft to review."""
    draft = ArticleFactory(author=author, category=health, status=Article.Status.DRAFT)
    response = edit(login(client, author), draft, status=Article.Status.IN_REVIEW)
    assert response.status_code == 302
    draft.refresh_from_db()
    assert draft.status == Article.Status.IN_REVIEW


def test_author_cannot_change_an_article_once_in_review(client, author, health):
    """An author's article in review or published opens read-only and refuses a POST."""
    for status in (Article.Status.IN_REVIEW, Article.Status.PUBLISHED):
        article = ArticleFactory(author=author, category=health, status=status)
        client = login(client, author)
        page = client.get(change_url(article))
        assert page.status_code == 200
        assert b'name="title"' not in page.content
        # What the editable form of a draft would have sent.
        response = client.post(change_url(article), {**NEW_ARTICLE, "title": "Changed"})
        assert response.status_code == 403
        article.refresh_from_db()
        assert article.title != "Changed"


def test_author_cannot_set_publish_date_or_reviewer(client, author, health):
    """The publishing and review fields are read-only for authors."""
    response = login(client, author).get(reverse("admin:articles_article_add"))
    form = response.context_data["adminform"].form
    for name in ("published_at", "reviewed_by", "last_reviewed", "author", "review_note"):
        assert name not in form.fields
    assert [c[0] for c in form.fields["status"].choices] == ["draft", "in_review"]


def test_author_cannot_change_the_view_count(client, author, health):
    """The view count is not a field of the form, and saving leaves it alone."""
    draft = ArticleFactory(author=author, category=health, status=Article.Status.DRAFT)
    Article.objects.filter(pk=draft.pk).update(view_count=7)
    client = login(client, author)
    assert "view_count" not in open_form(client, change_url(draft)).names
    assert edit(client, draft, title="Retitled").status_code == 302
    draft.refresh_from_db()
    assert draft.view_count == 7


def test_author_deletes_own_draft_but_not_a_published_article(client, author, health):
    """Authors may delete their drafts; deleting their published article is forbidden."""
    draft = ArticleFactory(author=author, category=health, status=Article.Status.DRAFT)
    live = ArticleFactory(author=author, category=health)
    client = login(client, author)
    delete = "admin:articles_article_delete"
    assert client.post(reverse(delete, args=[draft.pk]), {"post": "yes"}).status_code == 302
    assert client.post(reverse(delete, args=[live.pk]), {"post": "yes"}).status_code == 403
    assert list(Article.objects.all()) == [live]


def test_author_has_no_bulk_or_publishing_actions(client, author, health):
    """The changelist offers authors no bulk delete and no publishing actions."""
    ArticleFactory(author=author, category=health)
    response = login(client, author).get(reverse("admin:articles_article_changelist"))
    assert response.status_code == 200
    assert response.context_data["action_form"] is None
    assert b'name="action"' not in response.content


def test_author_manages_tags_and_reads_categories(client, author, health):
    """Authors can add tags and see categories (for the autocomplete) but not edit them."""
    client = login(client, author)
    assert client.get(reverse("admin:taggit_tag_add")).status_code == 200
    assert client.get(reverse("admin:articles_category_add")).status_code == 403
    html = client.get(reverse("admin:articles_category_change", args=[health.pk])).content
    assert b'name="name"' not in html


def test_author_cannot_open_statistics_or_reviewers(client, author):
    """Statistics and reviewer editing are for editors."""
    client = login(client, author)
    assert client.get(reverse("admin:articles_article_statistics")).status_code == 403
    assert client.get(reverse("admin:articles_reviewer_add")).status_code == 403


def test_editor_sees_and_edits_every_article(client, editor, other_author, health):
    """Editors list and change anyone's article, including published ones."""
    article = ArticleFactory(author=other_author, category=health, title="By Bruno")
    client = login(client, editor)
    assert b"By Bruno" in client.get(reverse("admin:articles_article_changelist")).content
    response = edit(client, article, title="Edited by Edith")
    assert response.status_code == 302
    article.refresh_from_db()
    assert (article.title, article.author) == ("Edited by Edith", other_author)


def test_editor_schedules_an_article(client, editor, health):
    """An editor's future publish date shows as Scheduled, with its time, in the changelist."""
    client = login(client, editor)
    when = timezone.localtime() + dt.timedelta(days=3)
    response = add_article(
        client,
        health,
        status=Article.Status.PUBLISHED,
        published_at_0=when.date().isoformat(),
        published_at_1="09:30:00",
    )
    assert response.status_code == 302
    html = client.get(reverse("admin:articles_article_changelist")).content.decode()
    assert "<strong>Scheduled</strong>" in html
    assert "9:30" in html


def test_editor_sends_an_article_back_with_a_note_the_author_sees(client, editor, author, health):
    """An editor returns an article to draft with a note; the author sees it on the form."""
    article = ArticleFactory(author=author, category=health, status=Article.Status.IN_REVIEW)
    response = edit(
        login(client, editor),
        article,
        status="draft",
        review_note="Please cite a source for the 7 to 9 hours.",
    )
    assert response.status_code == 302
    html = login(client, author).get(change_url(article)).content.decode()
    assert "Note from the editor:" in html
    assert "Please cite a source for the 7 to 9 hours." in html


def test_editor_can_manage_reviewers_categories_and_authors(client, editor):
    """Editors reach the reviewer, category and author profile admin."""
    client = login(client, editor)
    for name in ("reviewer", "category", "authorprofile"):
        assert client.get(reverse(f"admin:articles_{name}_add")).status_code == 200


def test_editor_publish_needs_a_reviewer_for_health(client, editor, health):
    """Publishing in a category that requires review without a reviewer shows a form error."""
    health.requires_review = True
    health.save()
    client = login(client, editor)
    response = add_article(client, health, status=Article.Status.PUBLISHED)
    assert response.status_code == 200
    assert "need a medical reviewer" in str(response.context["adminform"].form.errors)

    reviewer = ReviewerFactory()
    response = add_article(client, health, status=Article.Status.PUBLISHED, reviewed_by=reviewer.pk)
    assert response.status_code == 302
    assert Article.objects.get().last_reviewed == timezone.localdate()


def test_time_zone_is_named_next_to_the_publish_date(client, editor, settings):
    """The publish date's help text names the site's time zone."""
    settings.TIME_ZONE = "Europe/Paris"
    html = login(client, editor).get(reverse("admin:articles_article_add")).content.decode()
    assert "Times are in the site's time zone, Europe/Paris." in html


def test_tag_factory_is_available(db):
    """TagFactory builds taggit tags (used by the tag tests)."""
    assert TagFactory(name="sleep").slug == "sleep"


def test_author_adds_references_to_their_draft_inline(client, author, health):
    """References are edited inline on the article form, in the order given."""
    draft = ArticleFactory(author=author, category=health, status=Article.Status.DRAFT)
    client = login(client, author)
    form = open_form(client, change_url(draft))
    form.add_row("references", position="2", title="Second", url="https://example.org/2")
    form.add_row("references", position="1", title="First", pmid="123456")
    response = submit(client, change_url(draft), form)
    assert response.status_code == 302
    assert list(draft.references.values_list("title", flat=True)) == ["First", "Second"]


def test_reference_without_a_link_is_refused(client, editor, health):
    """A reference needs a URL, a DOI or a PMID."""
    article = ArticleFactory(author=editor, category=health)
    client = login(client, editor)
    form = open_form(client, change_url(article)).add_row("references", title="Somewhere")
    response = submit(client, change_url(article), form)
    assert response.status_code == 200
    assert "Give a URL, a DOI or a PMID." in response.content.decode()


def test_site_settings_has_one_row_editors_can_change(client, editor):
    """Editors change the disclaimer; nobody adds a second settings row or deletes it."""
    client = login(client, editor)
    assert client.get(reverse("admin:articles_sitesettings_add")).status_code == 403
    change = reverse("admin:articles_sitesettings_change", args=[1])
    assert client.post(change, {"disclaimer": "Ask your doctor."}).status_code == 302
    delete = reverse("admin:articles_sitesettings_delete", args=[1])
    assert client.post(delete, {"post": "yes"}).status_code == 403
