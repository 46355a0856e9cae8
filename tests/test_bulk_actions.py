"""The article admin's bulk actions over any selection, up to the whole site."""

import datetime as dt
import math
import re

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.urls import reverse
from django.utils import timezone
from django_tasks import default_task_backend

from articles import services, tasks
from articles.models import Article, ArticleRevision, BulkJob
from tests.admin_forms import rendered_form
from tests.factories import CategoryFactory, ReviewerFactory, StaffFactory, UserFactory

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:articles_article_changelist")
JOBS = reverse("admin:articles_bulkjob_changelist")


@pytest.fixture
def editor(db):
    return StaffFactory(username="edith", role="Editors")


@pytest.fixture
def editor_client(client, editor):
    client.force_login(editor)
    return client


@pytest.fixture(autouse=True)
def no_enqueued_tasks():
    default_task_backend.clear()


def many_articles(count, category, *, prefix="Bulk article", **fields):
    """Insert ``count`` articles in ``category`` at once, as an import would."""
    author = UserFactory(username="bulk-author")
    published_at = timezone.now() - dt.timedelta(days=1)
    articles = [
        Article(
            title=f"{prefix} {n}",
            slug=f"{prefix.lower().replace(' ', '-')}-{n}",
            category=category,
            author=author,
            body="A paragraph about health.\n\n## More\n\nAnother one.\n",
            status=fields.get("status", Article.Status.PUBLISHED),
            published_at=fields.get("published_at", published_at),
            reviewed_by=fields.get("reviewed_by"),
        )
        for n in range(count)
    ]
    return services.bulk_create_articles(articles)


def select_all(client, action, query=""):
    """Tick "select all" on the changelist (its filters in ``query``) and run ``action``."""
    url = f"{CHANGELIST}{query}"
    page = client.get(url)
    form = rendered_form(page, "changelist-form")
    ticked = re.findall(rf'name="{ACTION_CHECKBOX_NAME}" value="(\d+)"', page.content.decode())
    # What the admin's "Select all N articles" link does in the browser.
    form.set("action", action).set(ACTION_CHECKBOX_NAME, ticked).set("select_across", "1")
    return url, client.post(url, form)


def confirm(client, url, response, **fields):
    """Submit the confirmation page's form, changing ``fields`` on it."""
    confirmation = rendered_form(response, "action-confirmation")
    for name, value in fields.items():
        confirmation.set(name, value)
    return client.post(url, confirmation, follow=True)


def shown_messages(response) -> dict[str, str]:
    return {str(m.message): m.level_tag for m in response.context["messages"]}


def test_select_all_confirmation_shows_the_count_and_a_sample_not_every_row(editor_client, health):
    """Selecting all 3,000 articles asks about 3,000 and lists only the first 20 titles."""
    many_articles(3000, health)

    _url, page = select_all(editor_client, "publish_now")

    html = page.content.decode()
    assert page.status_code == 200
    assert "This changes 3,000 articles:" in html
    assert "and 2,980 more articles" in html
    assert len(re.findall(r"Bulk article \d+", html)) == 20
    confirmation = rendered_form(page, "action-confirmation")
    assert confirmation["select_across"] == "1"
    # A page of ticked rows at most, never one field per article selected.
    assert len(confirmation[ACTION_CHECKBOX_NAME]) <= 100
    assert "changed in the background" in html


@pytest.mark.parametrize("count", [50, 500])
def test_confirmation_costs_the_same_queries_for_50_or_500_articles(
    editor_client, health, django_assert_max_num_queries, count
):
    """The confirmation page's query count does not grow with the selection."""
    many_articles(count, health)
    page = editor_client.get(CHANGELIST)
    form = rendered_form(page, "changelist-form")
    ticked = re.findall(rf'name="{ACTION_CHECKBOX_NAME}" value="(\d+)"', page.content.decode())
    form.set("action", "archive").set(ACTION_CHECKBOX_NAME, ticked).set("select_across", "1")

    # The admin builds the changelist (its counts, filters and a page of
    # rows) before the action runs; none of it grows with the selection.
    with django_assert_max_num_queries(16):
        response = editor_client.post(CHANGELIST, form)

    assert f"This changes {count} articles:" in response.content.decode()


def test_select_all_keeps_the_changelists_filters(editor_client, health):
    """ "Select all" under the Draft filter archives the drafts only."""
    many_articles(30, health, prefix="Live one")
    many_articles(40, health, prefix="Draft one", status=Article.Status.DRAFT, published_at=None)

    url, page = select_all(editor_client, "archive", "?status=draft")
    assert "This changes 40 articles:" in page.content.decode()
    done = confirm(editor_client, url, page)

    assert "40 articles archived." in shown_messages(done)
    archived = Article.objects.filter(status=Article.Status.ARCHIVED)
    assert set(archived.values_list("title", flat=True)) == {f"Draft one {n}" for n in range(40)}
    assert Article.objects.filter(status=Article.Status.PUBLISHED).count() == 30


def test_publishing_1200_articles_runs_in_batches_and_keeps_the_review_rule(
    editor_client, health, monkeypatch
):
    """1,200 drafts: each published but the unreviewed ones needing review, which are named."""
    clinic = CategoryFactory(name="Clinic", slug="clinic", requires_review=True)
    reviewer = ReviewerFactory()
    many_articles(1150, health, status=Article.Status.DRAFT, published_at=None)
    many_articles(
        40,
        clinic,
        prefix="Checked",
        status=Article.Status.DRAFT,
        published_at=None,
        reviewed_by=reviewer,
    )
    many_articles(10, clinic, prefix="Unchecked", status=Article.Status.DRAFT, published_at=None)
    bumps = []
    real_bump = services.bump_content_version
    monkeypatch.setattr(services, "bump_content_version", lambda: bumps.append(1) or real_bump())

    url, page = select_all(editor_client, "publish_now")
    done = confirm(editor_client, url, page)

    shown = shown_messages(done)
    assert shown["1190 articles published."] == "success"
    warning = next(text for text, level in shown.items() if level == "warning")
    assert warning.startswith("Not published, a medical reviewer is needed first:")
    assert all(f"“Unchecked {n}”" in warning for n in range(10))
    assert "“Checked" not in warning
    statuses = dict(Article.objects.values_list("title", "status"))
    assert {s for t, s in statuses.items() if t.startswith("Unchecked")} == {"draft"}
    assert sum(s == "published" for s in statuses.values()) == 1190
    assert not Article.objects.filter(status="published", published_at__isnull=True).exists()
    # One revision per article changed, none for those refused.
    assert ArticleRevision.objects.count() == 1190
    assert set(ArticleRevision.objects.values_list("summary", flat=True)) == {"First revision"}
    assert not ArticleRevision.objects.filter(article__title__startswith="Unchecked").exists()
    # Batches of BULK_BATCH_SIZE, each bumping the content version once.
    assert len(bumps) == math.ceil(1200 / services.BULK_BATCH_SIZE) > 1


def test_moving_1200_articles_refuses_live_unreviewed_ones_for_a_review_category(
    editor_client, health
):
    """A move into a review category leaves live unreviewed articles, and names a few."""
    clinic = CategoryFactory(name="Clinic", slug="clinic", requires_review=True)
    many_articles(1100, health, prefix="Draft", status=Article.Status.DRAFT, published_at=None)
    many_articles(100, health, prefix="Live")

    url, page = select_all(editor_client, "move_to_category")
    done = confirm(editor_client, url, page, category=clinic.pk)

    shown = shown_messages(done)
    assert "1100 articles moved to Clinic." in shown
    warning = next(text for text, level in shown.items() if level == "warning")
    assert "“Live 0”" in warning and warning.endswith(" and 50 more")
    assert Article.objects.filter(category=clinic).count() == 1100
    assert not Article.objects.filter(category=clinic, title__startswith="Live").exists()
    revision = ArticleRevision.objects.filter(article__title="Draft 7").get()
    assert revision.category == clinic


def test_past_the_threshold_the_action_runs_as_a_background_job(editor_client, health, settings):
    """Over the threshold, the action queues a task; running it makes the changes and the progress."""
    settings.HEALTHHUB_BACKGROUND_ACTION_THRESHOLD = 100
    many_articles(1200, health)

    url, page = select_all(editor_client, "unpublish")
    done = confirm(editor_client, url, page)

    html = done.content.decode()
    assert "1,200 articles will be changed in the background." in html
    assert f'href="{JOBS}"' in html
    job = BulkJob.objects.get()
    assert (job.status, job.total, job.done) == ("queued", 1200, 0)
    assert Article.objects.filter(status="published").count() == 1200
    [queued] = default_task_backend.results
    assert queued.task.module_path == "articles.tasks.run_bulk_job"

    tasks.run_bulk_job.call(*queued.args, **queued.kwargs)

    job.refresh_from_db()
    assert (job.status, job.done, job.total, job.changed) == ("done", 1200, 1200, 1200)
    assert job.message == "1200 articles unpublished."
    assert not Article.objects.filter(status="published").exists()
    assert ArticleRevision.objects.count() == 1200


def test_a_job_stopped_midway_resumes_after_the_articles_it_did(editor, health):
    """Run again after it stopped, a job changes only the articles still to do."""
    ids = [a.pk for a in many_articles(1200, health)]
    job = services.start_bulk_job(BulkJob.Action.ARCHIVE, ids, user=editor)
    # As if the worker had been stopped after the first batch.
    services.bulk_set_status(ids[:500], Article.Status.ARCHIVED, user=editor)
    BulkJob.objects.filter(pk=job.pk).update(status="running", done=500, changed=500)
    assert ArticleRevision.objects.count() == 500

    services.run_bulk_job(job.pk)

    job.refresh_from_db()
    assert (job.status, job.done, job.changed) == ("done", 1200, 1200)
    assert ArticleRevision.objects.count() == 1200


def test_a_job_is_not_run_for_an_editor_who_may_no_longer_publish(health):
    """The requester's permission is checked again when the worker runs the job."""
    author = StaffFactory(username="amelia", role="Authors")
    ids = [a.pk for a in many_articles(5, health)]
    job = BulkJob.objects.create(
        action=BulkJob.Action.ARCHIVE, requested_by=author, article_ids=ids, total=5
    )

    services.run_bulk_job(job.pk)

    job.refresh_from_db()
    assert job.status == "failed" and "may no longer publish" in job.message
    assert not Article.objects.filter(status="archived").exists()


def test_the_database_backend_queues_the_job_as_a_row(editor, health, settings):
    """With the production backend, starting a job stores a task row for db_worker."""
    from django_tasks_db.models import DBTaskResult

    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
    ids = [a.pk for a in many_articles(3, health)]

    job = services.start_bulk_job(BulkJob.Action.ARCHIVE, ids, user=editor)

    row = DBTaskResult.objects.get()
    assert row.task_path == "articles.tasks.run_bulk_job"
    assert row.args_kwargs == {"args": [job.pk], "kwargs": {}}
    assert row.status == "READY"


def test_bulk_jobs_page_shows_each_jobs_progress(
    editor_client, editor, django_assert_max_num_queries
):
    """The Bulk jobs list shows done of total with a progress bar, and reloads while running."""
    BulkJob.objects.create(
        action=BulkJob.Action.PUBLISH,
        requested_by=editor,
        article_ids=list(range(1200)),
        total=1200,
        done=300,
        status=BulkJob.Status.RUNNING,
    )

    with django_assert_max_num_queries(12):
        page = editor_client.get(JOBS)

    html = page.content.decode()
    assert page.status_code == 200
    assert "Publish now: 300/1200" in html
    assert '<progress max="1200" value="300">' in html
    assert "300 of 1,200 (25 %)" in html
    assert 'http-equiv="refresh"' in html
    assert "Add bulk job" not in html
