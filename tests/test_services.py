from unittest import mock

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import IntegrityError

from articles import services
from articles.models import Article, ArticleRevision, ArticleSlug, AuthorProfile
from articles.rendering import render_body
from articles.roles import AUTHORS, EDITORS
from articles.services import RENDERED_FIELDS, bulk_create_articles
from tests.factories import ArticleFactory, CategoryFactory, UserFactory


def test_bulk_created_articles_get_what_a_save_derives(health):
    """Bulk-inserted articles carry the rendered body, reading grade and slug history of a save."""
    author = UserFactory()
    body = "Intro sentence here.\n\n## Sleep\n\nSleep well every night.\n"
    built = [
        Article(title=f"Bulk {n}", slug=f"bulk-{n}", category=health, author=author, body=body)
        for n in range(3)
    ]

    with mock.patch("articles.models.render_body", wraps=render_body) as render:
        bulk_create_articles(built)

    saved = ArticleFactory(category=health, author=author, slug="saved", body=body)
    assert render.call_count == 1
    for article in Article.objects.filter(slug__startswith="bulk-"):
        for field in RENDERED_FIELDS:
            assert getattr(article, field) == getattr(saved, field), field
    assert set(ArticleSlug.objects.values_list("slug", flat=True)) >= {"bulk-0", "bulk-1", "bulk-2"}


# People ----------------------------------------------------------------------

STAFF_PASSWORD = "Lavender-Harbour-Window-73"


def test_add_staff_member_makes_a_staff_user_in_the_role_with_a_profile(db):
    """A new author is staff, in Authors only, with the password given and a profile."""
    user = services.add_staff_member(
        username="ruth",
        password=STAFF_PASSWORD,
        role=AUTHORS,
        first_name="Ruth",
        last_name="Writer",
        email="ruth@example.org",
    )

    user = get_user_model().objects.get(pk=user.pk)
    assert user.is_staff and user.is_active and not user.is_superuser
    assert list(user.groups.values_list("name", flat=True)) == [AUTHORS]
    assert user.check_password(STAFF_PASSWORD)
    assert (user.first_name, user.last_name, user.email) == ("Ruth", "Writer", "ruth@example.org")
    assert AuthorProfile.objects.filter(user=user).exists()


def test_add_staff_member_puts_an_editor_in_editors(db):
    """The Editors role puts the new user in the Editors group."""
    user = services.add_staff_member(username="simon", password=STAFF_PASSWORD, role=EDITORS)
    assert list(user.groups.values_list("name", flat=True)) == [EDITORS]


def test_add_staff_member_refuses_an_unknown_role(db):
    """A role that is not Authors or Editors raises, and nobody is created."""
    with pytest.raises(ValueError, match="Unknown role"):
        services.add_staff_member(username="ruth", password=STAFF_PASSWORD, role="Admins")
    assert not get_user_model().objects.filter(username="ruth").exists()


def test_add_staff_member_is_all_or_nothing(db):
    """When the profile cannot be created, the user and their group membership are not kept."""
    with (
        mock.patch.object(AuthorProfile.objects, "create", side_effect=IntegrityError),
        pytest.raises(IntegrityError),
    ):
        services.add_staff_member(username="ruth", password=STAFF_PASSWORD, role=AUTHORS)
    assert not get_user_model().objects.filter(username="ruth").exists()
    assert not Group.objects.get(name=AUTHORS).user_set.exists()


def test_author_profile_for_creates_a_profile_once(db):
    """The first call creates an empty profile; later calls return that same profile."""
    user = UserFactory()
    profile = services.author_profile_for(user)
    assert services.author_profile_for(user) == profile
    assert AuthorProfile.objects.filter(user=user).count() == 1


# Revisions -------------------------------------------------------------------


def test_first_revision_of_a_new_article_says_created(health):
    """The revision recorded with a new article's first save is summarised as "Created"."""
    revision = services.record_revision(ArticleFactory(category=health))
    assert revision.summary == "Created"


def test_first_revision_of_an_article_saved_before_says_so(health):
    """An article edited before any revision was kept gets "First revision", not "Created"."""
    article = ArticleFactory(category=health)
    article.save()
    assert services.record_revision(article).summary == "First revision"


def test_revision_summary_lists_what_changed_since_the_previous_revision(health):
    """Status, category, title, tags, excerpt and body changes are summarised on one line."""
    article = ArticleFactory(
        category=health,
        status=Article.Status.DRAFT,
        body="Intro.\n\nKeep this.\n\nDrop this.\n",
        tags=["sleep", "stress"],
    )
    services.record_revision(article)
    article.status = Article.Status.IN_REVIEW
    article.category = CategoryFactory(name="Sleep", slug="sleep")
    article.title = "A better title"
    article.excerpt = "A sharper summary."
    article.body = "Intro.\r\n\r\nKeep this.\r\n\r\nNew one.\r\nAnd another.\r\nAnd a third.\r\n"
    article.save()
    article.tags.set(["sleep", "habits"])

    revision = services.record_revision(article)

    assert revision.summary == (
        "Status: Draft → In review · Category: Health → Sleep · Title edited · "
        "Tags: +habits \u2212stress · Excerpt edited · Body: +3/\u22121 lines"
    )
    assert article.revisions.first().summary == revision.summary


def test_revision_that_changes_nothing_tracked_says_no_changes(health):
    """A save that leaves text, tags and status alone is summarised as "No changes"."""
    article = ArticleFactory(category=health)
    services.record_revision(article)
    assert services.record_revision(article).summary == "No changes"


def test_revision_summary_ignores_line_endings_of_older_revisions(health):
    """A revision stored with \\r\\n line endings does not make an identical body count as changed."""
    article = ArticleFactory(category=health, body="One.\n\nTwo.\n")
    earlier = services.record_revision(article)
    ArticleRevision.objects.filter(pk=earlier.pk).update(body="One.\r\n\r\nTwo.\r\n")
    assert services.record_revision(article).summary == "No changes"


def test_checking_the_review_rule_reads_no_parent_per_article(
    mental_health, django_assert_max_num_queries
):
    """The review rule for many articles in a sub-category costs the category list, once."""
    mental_health.parent.requires_review = True
    mental_health.parent.save()
    ArticleFactory.create_batch(5, category=mental_health, status="draft")
    articles = list(Article.objects.select_related("category"))

    with django_assert_max_num_queries(1):
        problems = [services.publishing_problem(article) for article in articles]

    assert all("need a medical reviewer" in problem for problem in problems)
