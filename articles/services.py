"""Editorial writes: many articles at once, the content version, the workflow, people."""

import dataclasses
import difflib
import logging
import tempfile
import time
import zipfile
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.db import models, transaction
from django.db.models import Case, F, OuterRef, Q, Subquery, Value, When
from django.utils import timezone
from django.utils.text import Truncator, normalize_newlines
from django.utils.translation import gettext, ngettext

from articles import selectors
from articles.caching import bump_content_version
from articles.models import (
    Article,
    ArticleRevision,
    ArticleSlug,
    AuthorProfile,
    BulkJob,
    Category,
    ReviewNote,
)
from articles.roles import AUTHORS, EDITORS

logger = logging.getLogger(__name__)

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
    if old == new:
        # A bulk action's revisions keep the body; the matcher would cost
        # milliseconds an article for nothing.
        return 0, 0
    matcher = difflib.SequenceMatcher(a=text_lines(old), b=text_lines(new), autojunk=False)
    added = removed = 0
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag != "equal":
            removed += i2 - i1
            added += j2 - j1
    return added, removed


def record_review_steps(
    article: Article,
    *,
    user,
    previous_status: str | None,
    note_changed: bool = False,
    reply: str = "",
) -> list[ReviewNote]:
    """Add to the article's review conversation what a save just did; return the new notes.

    Moving into review is "submitted" (with ``reply`` as its message), an
    editor's return to draft, or a new note on a draft, is "sent back" (with
    the article's review note), going live is "published", and any other
    ``reply`` is a reply.
    """
    status, kinds = article.status, ReviewNote.Kind
    notes = []
    if status == Article.Status.IN_REVIEW and previous_status != status:
        notes.append(ReviewNote(kind=kinds.SUBMITTED, text=reply))
        reply = ""
    elif status == Article.Status.DRAFT and (
        previous_status == Article.Status.IN_REVIEW or (note_changed and article.review_note)
    ):
        notes.append(ReviewNote(kind=kinds.SENT_BACK, text=article.review_note))
    elif status == Article.Status.PUBLISHED and previous_status != status:
        notes.append(ReviewNote(kind=kinds.PUBLISHED))
    if reply.strip():
        notes.append(ReviewNote(kind=kinds.REPLY, text=reply))
    author = user if user is not None and user.is_authenticated else None
    now = timezone.now()
    for note in notes:
        note.article, note.author, note.created_at = article, author, now
        note.text = normalize_newlines(note.text).strip()
    return ReviewNote.objects.bulk_create(notes)


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


# Bulk actions ----------------------------------------------------------------

# Articles changed per transaction. Most of a batch's time is its revisions,
# which copy every body, and on PostgreSQL the UPDATE, which writes a new
# entry in every index for each row. Measured at 100,000 articles, from one
# batch's start to the next: 100 took 110-240 ms on SQLite and 340-650 ms on
# PostgreSQL; 50 take 60-150 ms and 190-220 ms, of which the transaction
# holds its locks (on SQLite, the whole database's write lock) for about half.
BULK_BATCH_SIZE = 50
# What a revision snapshots, read before a batch takes its locks.
SNAPSHOT_FIELDS = ("title", "excerpt", "body", "version")
# What a bulk action decides on, read again under the batch's locks.
STATE_FIELDS = ("status", "published_at", "category_id", "reviewed_by_id", "version")


@dataclasses.dataclass
class BulkOutcome:
    """What a bulk action did: how many articles it changed, and which it refused."""

    changed: int = 0
    # (id, title) of the live articles left alone for want of a medical reviewer.
    refused: list[tuple[int, str]] = dataclasses.field(default_factory=list)
    done: int = 0


def bulk_set_status(
    article_ids, status: str, *, user=None, batch_size: int = BULK_BATCH_SIZE, progress=None
) -> BulkOutcome:
    """Move each article to ``status`` (publishing now if it has no date), in batches.

    Articles already in that status are left alone. Publishing refuses an
    article whose category needs a medical reviewer it does not have. See
    run_in_batches() for ``progress``.
    """
    publishing = status == Article.Status.PUBLISHED

    def decide(article, now, needs_review):
        if article.status == status and not (publishing and article.published_at > now):
            return None
        if publishing and article.reviewed_by_id is None and needs_review(article.category_id):
            return False
        article.status = status
        if publishing and (article.published_at is None or article.published_at > now):
            article.published_at = now
        return True

    def updates(now):
        values = {"status": status}
        if publishing:
            values["published_at"] = Case(
                When(Q(published_at__isnull=True) | Q(published_at__gt=now), then=Value(now)),
                default=F("published_at"),
                output_field=models.DateTimeField(),
            )
        return values

    return run_in_batches(
        article_ids, decide, updates, user=user, batch_size=batch_size, progress=progress
    )


def bulk_move_to_category(
    article_ids, category: Category, *, user=None, batch_size: int = BULK_BATCH_SIZE, progress=None
) -> BulkOutcome:
    """Move each article to ``category``, in batches.

    A published article is refused when ``category`` requires a medical
    review it does not have, as publishing it there would be. See
    run_in_batches() for ``progress``.
    """

    def decide(article, now, needs_review):
        if article.category_id == category.pk:
            return None
        if (
            article.status == Article.Status.PUBLISHED
            and article.reviewed_by_id is None
            and needs_review(category.pk)
        ):
            return False
        article.category_id = category.pk
        return True

    return run_in_batches(
        article_ids,
        decide,
        lambda now: {"category_id": category.pk},
        user=user,
        batch_size=batch_size,
        progress=progress,
    )


def run_in_batches(
    article_ids, decide, updates, *, user=None, batch_size=BULK_BATCH_SIZE, progress=None
) -> BulkOutcome:
    """Change the articles ``article_ids`` names, ``batch_size`` per transaction.

    ``decide(article, now, needs_review)`` changes an article in memory and
    returns True, returns False to refuse it, or None to leave it alone;
    ``updates(now)`` gives the UPDATE's values for the articles changed. Each
    batch writes its changes in one UPDATE, a revision per article in one
    INSERT, and bumps the content version once. ``progress(outcome)``, if
    given, runs inside each batch's transaction, so what it records commits
    with the batch.
    """
    ids = list(article_ids)
    outcome = BulkOutcome()
    categories = {category.pk: category for category in selectors.get_categories()}

    def needs_review(category_id):
        category = categories.get(category_id)
        if category is None:
            category = categories[category_id] = Category.objects.get(pk=category_id)
        return requires_review(category)

    for start in range(0, len(ids), batch_size):
        batch = ids[start : start + batch_size]
        # The snapshots' texts are read before the locks are taken; an article
        # saved in between is read again under them.
        snapshots = _snapshots(batch)
        with transaction.atomic():
            articles = list(
                Article.objects.filter(pk__in=batch)
                .select_for_update()
                .only(*STATE_FIELDS)
                .order_by("pk")
            )
            stale = [
                a.pk
                for a in articles
                if a.pk not in snapshots or snapshots[a.pk].article.version != a.version
            ]
            if stale:
                snapshots |= _snapshots(stale)
            now = timezone.now()
            changed, refused = [], []
            for article in articles:
                verdict = decide(article, now, needs_review)
                if verdict:
                    changed.append(article)
                elif verdict is False:
                    refused.append((article.pk, snapshots[article.pk].article.title))
            if changed:
                _write_batch(changed, snapshots, updates(now), now, categories, user)
            outcome.changed += len(changed)
            outcome.refused += refused
            outcome.done += len(batch)
            if progress is not None:
                progress(outcome)
    return outcome


@dataclasses.dataclass
class _Snapshot:
    article: Article
    tags: list[str]
    previous: ArticleRevision | None


def _snapshots(ids) -> dict[int, _Snapshot]:
    """Read what the revisions of these articles record: text, tags, the revision before."""
    articles = Article.objects.filter(pk__in=ids).only(*SNAPSHOT_FIELDS).in_bulk()
    tags = {pk: [] for pk in articles}
    for pk, name in (
        Article.objects.filter(pk__in=ids, tags__isnull=False)
        .values_list("pk", "tags__name")
        .order_by("tags__name")
    ):
        tags[pk].append(name)
    latest = ArticleRevision.objects.filter(article=OuterRef("pk")).order_by("-created_at", "-pk")
    previous = {
        revision.article_id: revision
        for revision in ArticleRevision.objects.filter(
            pk__in=Article.objects.filter(pk__in=ids).values(last=Subquery(latest.values("pk")[:1]))
        ).select_related("category")
    }
    return {
        pk: _Snapshot(article=article, tags=tags[pk], previous=previous.get(pk))
        for pk, article in articles.items()
    }


def _write_batch(changed, snapshots, values, now, categories, user) -> None:
    """Write one batch: the articles in one UPDATE, their revisions in one INSERT."""
    today = timezone.localdate(now)
    Article.objects.filter(pk__in=[a.pk for a in changed]).update(
        **values,
        version=F("version") + 1,
        updated_at=now,
        # As Article.save() does: a reviewed article without a date was reviewed today.
        last_reviewed=Case(
            When(reviewed_by__isnull=False, last_reviewed__isnull=True, then=Value(today)),
            default=F("last_reviewed"),
            output_field=models.DateField(),
        ),
    )
    created_by = user if user is not None and user.is_authenticated else None
    max_summary = ArticleRevision._meta.get_field("summary").max_length
    revisions = []
    for article in changed:
        snapshot = snapshots[article.pk]
        text = snapshot.article
        text.version = article.version + 1
        revision = ArticleRevision(
            article=text,
            title=text.title,
            excerpt=text.excerpt,
            body=text.body,
            category=categories.get(article.category_id),
            tags=snapshot.tags,
            status=article.status,
            created_by=created_by,
            created_at=now,
        )
        revision.summary = Truncator(summarise_changes(snapshot.previous, revision)).chars(
            max_summary
        )
        revisions.append(revision)
    ArticleRevision.objects.bulk_create(revisions)
    # Once per batch, not per article: the signal a save sends is not sent here.
    bump_content_version()


# Bulk jobs: an action too big to run while the editor waits -----------------

# Refused articles a message names; the rest are counted.
REFUSED_NAMED = 50
STATUS_OF_ACTION = {
    BulkJob.Action.PUBLISH: Article.Status.PUBLISHED,
    BulkJob.Action.UNPUBLISH: Article.Status.DRAFT,
    BulkJob.Action.ARCHIVE: Article.Status.ARCHIVED,
}


def run_bulk_action(
    action: str, article_ids, *, user=None, category: Category | None = None, progress=None
) -> BulkOutcome:
    """Apply a BulkJob action to the articles ``article_ids`` names, in batches."""
    if action == BulkJob.Action.MOVE:
        return bulk_move_to_category(article_ids, category, user=user, progress=progress)
    return bulk_set_status(article_ids, STATUS_OF_ACTION[action], user=user, progress=progress)


def describe_outcome(
    action: str, outcome: BulkOutcome, *, category: Category | None = None
) -> tuple[str, str | None]:
    """Return what to tell the editor: what changed, and which articles were refused, if any."""
    count = outcome.changed
    if action == BulkJob.Action.MOVE:
        done = ngettext(
            "%(count)d article moved to %(category)s.",
            "%(count)d articles moved to %(category)s.",
            count,
        ) % {"count": count, "category": category.name if category else gettext("(deleted)")}
    else:
        done = {
            BulkJob.Action.PUBLISH: ngettext(
                "%d article published.", "%d articles published.", count
            ),
            BulkJob.Action.UNPUBLISH: ngettext(
                "%d article unpublished.", "%d articles unpublished.", count
            ),
            BulkJob.Action.ARCHIVE: ngettext(
                "%d article archived.", "%d articles archived.", count
            ),
        }[action] % count
    if not outcome.refused:
        return done, None
    titles = ", ".join(f"“{title}”" for _pk, title in outcome.refused[:REFUSED_NAMED])
    if len(outcome.refused) > REFUSED_NAMED:
        more = len(outcome.refused) - REFUSED_NAMED
        titles += ngettext(" and %(more)d more", " and %(more)d more", more) % {"more": more}
    if action == BulkJob.Action.MOVE:
        refused = gettext(
            "Not moved: published articles in “%(category)s” need a medical reviewer, "
            "and these have none: %(titles)s"
        ) % {"category": category.name if category else "", "titles": titles}
    else:
        refused = gettext("Not published, a medical reviewer is needed first: %(titles)s") % {
            "titles": titles
        }
    return done, refused


def start_bulk_job(action: str, article_ids, *, user, category: Category | None = None) -> BulkJob:
    """Queue ``action`` over the articles ``article_ids`` names for the worker; return the job."""
    from articles.tasks import run_bulk_job

    ids = sorted(article_ids)
    # One transaction: with the database backend the task row commits with
    # the job, so the worker never meets a task whose job it cannot read.
    with transaction.atomic():
        job = BulkJob.objects.create(
            action=action, category=category, requested_by=user, article_ids=ids, total=len(ids)
        )
        run_bulk_job.enqueue(job.pk)
    return job


COMMAND_JOBS = {
    BulkJob.Action.EXPORT: "export_articles",
    BulkJob.Action.RENDITIONS: "rebuild_renditions",
}


def start_command_job(action: str, *, user) -> BulkJob:
    """Queue the long command behind ``action`` for the worker; return the job."""
    from articles.tasks import run_command_job

    with transaction.atomic():
        job = BulkJob.objects.create(action=action, requested_by=user)
        run_command_job.enqueue(job.pk)
    return job


class _ProgressToJob:
    """A command's stdout that keeps its last line as the job's message, at most once a second."""

    def __init__(self, job: BulkJob):
        self.job, self.line, self.saved_at = job, "", 0.0

    def write(self, text: str) -> None:
        lines = [line for line in text.splitlines() if line.strip()]
        if not lines:
            return
        self.line = lines[-1].strip()
        if time.monotonic() - self.saved_at >= 1:
            self.saved_at = time.monotonic()
            BulkJob.objects.filter(pk=self.job.pk).update(message=self.line)

    def flush(self) -> None:
        pass


def run_command_job(job_id: int) -> BulkJob:
    """Run a queued export or renditions rebuild, showing the command's progress on the job."""
    job = BulkJob.objects.select_related("requested_by").get(pk=job_id)
    if job.status == BulkJob.Status.DONE:
        return job
    user = job.requested_by
    if user is None or not user.is_active or not user.has_perm("articles.edit_any_article"):
        return _finish_job(
            job,
            BulkJob.Status.FAILED,
            gettext("Not run: the editor who started it may no longer see every article."),
        )
    job.status, job.started_at = BulkJob.Status.RUNNING, job.started_at or timezone.now()
    job.save(update_fields=["status", "started_at"])
    output = _ProgressToJob(job)
    try:
        if job.action == BulkJob.Action.EXPORT:
            job.result = _export_to_zip(job, output)
        else:
            call_command(COMMAND_JOBS[job.action], stdout=output, stderr=output)
    except Exception as error:
        logger.exception("Job %s failed", job.pk)
        return _finish_job(
            job, BulkJob.Status.FAILED, gettext("Failed: %(error)s") % {"error": error}
        )
    job.save(update_fields=["result"])
    return _finish_job(job, BulkJob.Status.DONE, output.line)


def _export_to_zip(job: BulkJob, output) -> str:
    """Export every article into a zip under HEALTHHUB_EXPORT_ROOT; return its file name."""
    root = Path(settings.HEALTHHUB_EXPORT_ROOT)
    root.mkdir(parents=True, exist_ok=True)
    name = f"healthhub-export-{timezone.now():%Y%m%d-%H%M%S}-{job.pk}.zip"
    with tempfile.TemporaryDirectory(dir=root) as folder:
        call_command("export_articles", folder, stdout=output, stderr=output)
        partial = root / f"{name}.partial"
        # Markdown compresses well and quickly at a low level.
        with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as archive:
            for path in sorted(Path(folder).rglob("*")):
                if path.is_file():
                    archive.write(path, path.relative_to(folder))
        partial.rename(root / name)
    job.total = job.done = Article.objects.count()
    BulkJob.objects.filter(pk=job.pk).update(total=job.total, done=job.done)
    return name


def run_bulk_job(job_id: int) -> BulkJob:
    """Run a queued BulkJob, recording its progress as each batch commits.

    A job run again (the worker was stopped) resumes after the articles it
    has done. The requester's permission is checked again, as it may have
    been withdrawn since the job was queued.
    """
    job = BulkJob.objects.select_related("requested_by", "category").get(pk=job_id)
    if job.status == BulkJob.Status.DONE:
        return job
    user = job.requested_by
    if user is None or not user.is_active or not user.has_perm("articles.publish_article"):
        return _finish_job(
            job,
            BulkJob.Status.FAILED,
            gettext("Not run: the editor who started it may no longer publish articles."),
        )
    if job.action == BulkJob.Action.MOVE and job.category is None:
        return _finish_job(
            job, BulkJob.Status.FAILED, gettext("Not run: the category was deleted.")
        )
    job.status, job.started_at = BulkJob.Status.RUNNING, job.started_at or timezone.now()
    job.save(update_fields=["status", "started_at"])
    already = {"done": job.done, "changed": job.changed, "refused": job.refused}

    def progress(outcome):
        BulkJob.objects.filter(pk=job.pk).update(
            done=already["done"] + outcome.done,
            changed=already["changed"] + outcome.changed,
            refused=already["refused"] + len(outcome.refused),
        )

    try:
        outcome = run_bulk_action(
            job.action,
            job.article_ids[job.done :],
            user=user,
            category=job.category,
            progress=progress,
        )
    except Exception as error:
        job.refresh_from_db(fields=["done", "changed", "refused"])
        _finish_job(
            job,
            BulkJob.Status.FAILED,
            gettext("Stopped after %(done)d articles: %(error)s")
            % {"done": job.done, "error": Truncator(str(error) or type(error).__name__).chars(200)},
        )
        raise
    job.refresh_from_db(fields=["done", "changed", "refused"])
    outcome.changed = job.changed
    done, refused = describe_outcome(job.action, outcome, category=job.category)
    return _finish_job(job, BulkJob.Status.DONE, f"{done} {refused}" if refused else done)


def _finish_job(job: BulkJob, status: str, message: str) -> BulkJob:
    job.status, job.message, job.finished_at = status, message, timezone.now()
    job.save(update_fields=["status", "message", "finished_at"])
    return job


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
