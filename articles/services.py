"""Editorial writes: many articles at once, the content version, the workflow, people."""

import difflib

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.text import Truncator, normalize_newlines
from django.utils.translation import gettext

from articles import selectors
from articles.models import (
    Article,
    ArticleRevision,
    ArticleSlug,
    AuthorProfile,
    Category,
)
from articles.roles import AUTHORS, EDITORS

# Fields Article.render() derives from the body.
RENDERED_FIELDS = ("body_html", "toc", "word_count", "reading_minutes", "readability_grade")


def bulk_create_articles(articles: list[Article], *, batch_size: int = 500) -> list[Article]:
    """Insert many new articles at once, with what save() would derive and record.

    Each distinct body is rendered once, and every article's slug is entered
    in the slug history, as a save would do. Return the created articles.
    """
    derived = {}
    for article in articles:
        if article.body not in derived:
            article.render()
            derived[article.body] = {name: getattr(article, name) for name in RENDERED_FIELDS}
        for name, value in derived[article.body].items():
            setattr(article, name, value)
    created = Article.objects.bulk_create(articles, batch_size=batch_size)
    ArticleSlug.objects.bulk_create(
        [ArticleSlug(slug=article.slug, article=article) for article in created],
        batch_size=batch_size,
    )
    return created


# Editorial workflow --------------------------------------------------------


def requires_review(category: Category) -> bool:
    """Return whether ``category`` or a category above it requires a medical review."""
    # The cached category list, not category.parent: a parent read per
    # article would cost a query per article in a bulk action.
    lineage = selectors.category_lineage(category, selectors.get_categories())
    return any(ancestor.requires_review for ancestor in lineage)


def publishing_problem(article: Article) -> str | None:
    """Return why ``article`` may not be published yet, or None."""
    if article.reviewed_by_id is None and requires_review(article.category):
        return (
            f"“{article.category.name}” articles need a medical reviewer before they are "
            "published. Choose the reviewer who checked this article."
        )
    return None


def record_revision(article: Article, *, user=None) -> ArticleRevision:
    """Store a snapshot of ``article`` as it is now saved, with what changed since the last one."""
    revision = ArticleRevision(
        article=article,
        title=article.title,
        excerpt=article.excerpt,
        body=article.body,
        category_id=article.category_id,
        tags=sorted(article.tags.names()),
        status=article.status,
        created_by=user if user is not None and user.is_authenticated else None,
    )
    previous = article.revisions.select_related("category").first()
    summary = summarise_changes(previous, revision)
    revision.summary = Truncator(summary).chars(
        ArticleRevision._meta.get_field("summary").max_length
    )
    revision.save()
    return revision


def summarise_changes(previous: ArticleRevision | None, revision: ArticleRevision) -> str:
    """Return one line saying what changed from ``previous`` to ``revision``."""
    if previous is None:
        # An article older than its first revision was not created by this save.
        return gettext("Created") if revision.article.version == 1 else gettext("First revision")
    changes = []
    if previous.status != revision.status:
        changes.append(
            gettext("Status: %(old)s → %(new)s")
            % {"old": previous.get_status_display(), "new": revision.get_status_display()}
        )
    if previous.category_id != revision.category_id:
        # A revision loses its category only when the category is deleted.
        old_category = previous.category or gettext("(deleted)")
        changes.append(
            gettext("Category: %(old)s → %(new)s") % {"old": old_category, "new": revision.category}
        )
    if text_lines(previous.title) != text_lines(revision.title):
        changes.append(gettext("Title edited"))
    old_tags, new_tags = set(previous.tags), set(revision.tags)
    if old_tags != new_tags:
        signed = [f"+{tag}" for tag in sorted(new_tags - old_tags)]
        signed += [f"\u2212{tag}" for tag in sorted(old_tags - new_tags)]
        changes.append(gettext("Tags: %(tags)s") % {"tags": " ".join(signed)})
    if text_lines(previous.excerpt) != text_lines(revision.excerpt):
        changes.append(gettext("Excerpt edited"))
    added, removed = count_changed_lines(previous.body, revision.body)
    if added or removed:
        changes.append(
            gettext("Body: +%(added)d/\u2212%(removed)d lines")
            % {"added": added, "removed": removed}
        )
    return " · ".join(changes) or gettext("No changes")


def text_lines(text: str) -> list[str]:
    """Split ``text`` into lines, whichever line endings it was stored with."""
    return normalize_newlines(text).splitlines()


def count_changed_lines(old: str, new: str) -> tuple[int, int]:
    """Return how many lines going from ``old`` to ``new`` adds and removes."""
    matcher = difflib.SequenceMatcher(a=text_lines(old), b=text_lines(new), autojunk=False)
    added = removed = 0
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag != "equal":
            removed += i2 - i1
            added += j2 - j1
    return added, removed


@transaction.atomic
def restore_revision(revision: ArticleRevision, *, user=None) -> Article:
    """Put a revision's text, category and tags back; record that as a new revision.

    The status stays as it is: who may publish, and when, is decided on the
    form and by the admin actions, under their rules. Raise ValidationError
    when the restored category would leave a live article without the
    medical review it requires.
    """
    article = revision.article
    article.title = revision.title
    article.excerpt = revision.excerpt
    article.body = revision.body
    if revision.category_id is not None:
        article.category_id = revision.category_id
    if article.status == Article.Status.PUBLISHED and (problem := publishing_problem(article)):
        raise ValidationError(problem)
    article.save()
    article.tags.set(revision.tags)
    record_revision(article, user=user)
    return article


@transaction.atomic
def set_status(articles, status: str, *, user=None) -> int:
    """Move each article to ``status`` (publishing now if it has no date); return how many moved.

    Articles already in that status are left alone.
    """
    changed = 0
    for article in articles:
        if article.status == status and not (
            status == Article.Status.PUBLISHED and article.published_at > timezone.now()
        ):
            continue
        article.status = status
        if status == Article.Status.PUBLISHED:
            now = timezone.now()
            if article.published_at is None or article.published_at > now:
                article.published_at = now
        article.save()
        record_revision(article, user=user)
        changed += 1
    return changed


@transaction.atomic
def move_to_category(articles, category: Category, *, user=None) -> tuple[int, list[Article]]:
    """Move each article to ``category``; return how many moved and the ones refused.

    A published article is refused when ``category`` requires a medical
    review it does not have, as publishing it there would be.
    """
    changed, refused = 0, []
    for article in articles:
        if article.category_id == category.pk:
            continue
        article.category = category
        if article.status == Article.Status.PUBLISHED and publishing_problem(article):
            refused.append(article)
            continue
        article.save()
        record_revision(article, user=user)
        changed += 1
    return changed, refused


# People --------------------------------------------------------------------

STAFF_ROLES = (AUTHORS, EDITORS)


@transaction.atomic
def add_staff_member(
    *,
    username: str,
    password: str,
    role: str,
    first_name: str = "",
    last_name: str = "",
    email: str = "",
):
    """Create a user who can sign in to the admin, in ``role``'s group, with an author profile."""
    if role not in STAFF_ROLES:
        raise ValueError(f"Unknown role {role!r}; expected one of {', '.join(STAFF_ROLES)}.")
    # Looked up first, so a missing group leaves no half-made user behind.
    group = Group.objects.get(name=role)
    user = get_user_model()(
        username=username,
        first_name=first_name,
        last_name=last_name,
        email=email,
        is_staff=True,
    )
    user.set_password(password)
    user.save()
    user.groups.add(group)
    AuthorProfile.objects.create(user=user)
    return user


def author_profile_for(user) -> AuthorProfile:
    """Return ``user``'s author profile, creating an empty one if they have none."""
    profile, _created = AuthorProfile.objects.get_or_create(user=user)
    return profile
