"""What Authors and Editors may do, checked through the admin's real URLs."""

import datetime as dt

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from articles.models import Article, AuthorProfile
from tests.admin_forms import rendered_form
from tests.factories import (
    ArticleFactory,
    ReviewerFactory,
    StaffFactory,
    TagFactory,
    UserFactory,
)
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
    form = open_form(client, change, "sitesettings")
    assert submit(client, change, form, disclaimer="Ask your doctor.").status_code == 302
    delete = reverse("admin:articles_sitesettings_delete", args=[1])
    assert client.post(delete, {"post": "yes"}).status_code == 403


# People: adding staff, their roles, signing in, their own profile ------------

USER_ADD = "/admin/auth/user/add/"
PASSWORD = "Lavender-Harbour-Window-73"


@pytest.fixture
def owner(db):
    return get_user_model().objects.create_superuser("owner", "owner@example.com", PASSWORD)


def sign_in(username, password):
    """Fill in the admin's sign-in form as rendered and submit it from a fresh browser."""
    client = Client()
    form = rendered_form(client.get(reverse("admin:login")), "login-form")
    response = client.post(
        reverse("admin:login"), form.set("username", username).set("password", password)
    )
    return client, response


def test_add_user_page_asks_for_the_staff_members_details_and_role(client, owner):
    """The Add user page shows the account and name fields and a required Author/Editor role."""
    response = login(client, owner).get(USER_ADD)
    html = response.content.decode()
    form = open_form(client, USER_ADD, "user")

    assert form.names >= {
        "username",
        "password1",
        "password2",
        "first_name",
        "last_name",
        "email",
        "role",
    }
    assert not form.names & {"usable_password", "is_staff", "groups"}
    for label in ("Username", "Password", "Password confirmation", "First name", "Last name"):
        assert f">{label}:</label>" in html
    assert ">Email address:</label>" in html
    assert '<label class="required" for="id_role">Role:</label>' in html
    assert '<select name="role" required aria-describedby="id_role_helptext" id="id_role">' in html
    assert '<option value="Authors">Author</option>' in html
    assert '<option value="Editors">Editor</option>' in html


def test_owner_adds_an_author_who_can_then_sign_in(client, owner):
    """A user saved with the Author role is staff, in Authors, has a profile and signs in."""
    form = open_form(login(client, owner), USER_ADD, "user")
    response = submit(
        client,
        USER_ADD,
        form,
        username="ruth",
        password1=PASSWORD,
        password2=PASSWORD,
        first_name="Ruth",
        last_name="Writer",
        email="ruth@example.org",
        role="Authors",
    )

    assert response.status_code == 302
    ruth = get_user_model().objects.get(username="ruth")
    assert ruth.is_staff and not ruth.is_superuser
    assert (ruth.first_name, ruth.last_name, ruth.email) == ("Ruth", "Writer", "ruth@example.org")
    assert list(ruth.groups.values_list("name", flat=True)) == ["Authors"]
    assert AuthorProfile.objects.filter(user=ruth).exists()
    ruth_client, signed_in = sign_in("ruth", PASSWORD)
    assert signed_in.status_code == 302
    assert ruth_client.get(reverse("admin:articles_article_add")).status_code == 200


def test_adding_a_user_without_a_role_is_refused(client, owner):
    """Leaving the role empty shows a form error and creates nobody."""
    form = open_form(login(client, owner), USER_ADD, "user")
    response = submit(
        client, USER_ADD, form, username="ruth", password1=PASSWORD, password2=PASSWORD
    )

    assert response.status_code == 200
    assert "This field is required." in response.content.decode()
    assert not get_user_model().objects.filter(username="ruth").exists()


def test_user_changelist_shows_each_role_in_the_same_number_of_queries(
    client, owner, author, editor
):
    """The Role column reads Site owner, Editor, Author or a dash, without a query per row."""
    UserFactory(username="reader")
    url = reverse("admin:auth_user_changelist")
    client = login(client, owner)
    with CaptureQueriesContext(connection) as few:
        html = client.get(url).content.decode()
    StaffFactory.create_batch(4, role="Authors")
    StaffFactory.create_batch(4, role="Editors")
    with CaptureQueriesContext(connection) as many:
        client.get(url)

    assert "<span>Role</span>" in html
    for role in ("Site owner", "Editor", "Author", "—"):
        assert f'<td class="field-role">{role}</td>' in html
    assert len(many) == len(few)


def test_non_staff_user_with_the_right_password_is_told_they_have_no_access(db):
    """A signed-up user who is not staff learns the account has no admin access, not "wrong password"."""
    reader = UserFactory(username="reader")
    reader.set_password(PASSWORD)
    reader.save()

    client, response = sign_in("reader", PASSWORD)

    html = response.content.decode()
    assert response.status_code == 200
    assert "This account has no access to the admin." in html
    assert "Please enter the correct" not in html
    assert "_auth_user_id" not in client.session


@pytest.mark.parametrize(
    ("username", "password"),
    [("reader", "wrong-password"), ("nobody", PASSWORD), ("retired", PASSWORD)],
)
def test_without_the_right_password_nothing_tells_whether_the_account_exists(
    db, username, password
):
    """A wrong password, an unknown name and an inactive account all get the usual message."""
    for name, active in (("reader", True), ("retired", False)):
        user = UserFactory(username=name, is_active=active)
        user.set_password(PASSWORD)
        user.save()

    _client, response = sign_in(username, password)

    html = response.content.decode()
    assert "Please enter the correct username and password for a staff account." in html
    assert "no access" not in html


def test_admin_pages_link_to_my_profile(client, author):
    """The user tools on every admin page offer "My profile"."""
    html = login(client, author).get(reverse("admin:index")).content.decode()
    assert f'<a href="{reverse("admin:articles_authorprofile_mine")}">My profile</a>' in html


def test_my_profile_opens_the_users_own_profile_creating_it(client, author):
    """My profile leads an author without a profile to a new one of their own."""
    response = login(client, author).get(reverse("admin:articles_authorprofile_mine"))

    profile = AuthorProfile.objects.get(user=author)
    assert response.status_code == 302
    assert response.url == reverse("admin:articles_authorprofile_change", args=[profile.pk])
    client.get(reverse("admin:articles_authorprofile_mine"))
    assert AuthorProfile.objects.filter(user=author).count() == 1


def test_author_edits_their_own_profile_but_not_whose_it_is(client, author):
    """An author changes their bio and credentials; the profile's user is not a field for them."""
    profile = AuthorProfile.objects.create(user=author)
    url = reverse("admin:articles_authorprofile_change", args=[profile.pk])
    form = open_form(login(client, author), url, "authorprofile")

    assert "user" not in form.names
    response = submit(
        client, url, form, credentials="RN, MSc Public Health", bio="Writes about sleep."
    )

    assert response.status_code == 302
    profile.refresh_from_db()
    assert (profile.user, profile.credentials, profile.bio) == (
        author,
        "RN, MSc Public Health",
        "Writes about sleep.",
    )


def test_author_cannot_see_or_change_another_authors_profile(client, author, other_author):
    """Another author's profile answers 404 and is not listed; only one's own is."""
    mine = AuthorProfile.objects.create(user=author, credentials="Mine")
    theirs = AuthorProfile.objects.create(user=other_author, credentials="Theirs")
    url = reverse("admin:articles_authorprofile_change", args=[theirs.pk])
    client = login(client, author)

    assert client.get(url).status_code == 404
    assert client.post(url, {"credentials": "Changed"}).status_code == 404
    theirs.refresh_from_db()
    assert theirs.credentials == "Theirs"
    listing = client.get(reverse("admin:articles_authorprofile_changelist")).content.decode()
    assert str(mine.user) in listing
    assert str(other_author) not in listing


def test_editor_still_sees_and_reassigns_every_profile(client, editor, author, other_author):
    """Editors list every author's profile, and their change form keeps the user field."""
    AuthorProfile.objects.create(user=author)
    theirs = AuthorProfile.objects.create(user=other_author)
    client = login(client, editor)
    listing = client.get(reverse("admin:articles_authorprofile_changelist")).content.decode()
    url = reverse("admin:articles_authorprofile_change", args=[theirs.pk])

    assert "amelia" in listing and "bruno" in listing
    assert "user" in open_form(client, url, "authorprofile").names
