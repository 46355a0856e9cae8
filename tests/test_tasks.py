"""Background tasks as production runs them: a job row, then `manage.py db_worker` in its own process."""

import os

import pytest
from django.contrib.auth.models import Group, Permission

from articles import services
from articles.models import Article, BulkJob
from articles.roles import sync_roles
from tests.factories import StaffFactory
from tests.test_bulk_actions import many_articles
from tests.test_server import manage, subprocess_database_url


@pytest.mark.django_db(transaction=True)
def test_db_worker_runs_a_queued_bulk_job_to_done(health, settings):
    """A job queued by the admin is picked up by db_worker, which archives every article."""
    from django_tasks_db.models import DBTaskResult

    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
    # A transactional test may start from a flushed database, without the roles.
    sync_roles(Group, Permission)
    editor = StaffFactory(username="edith", role="Editors")
    ids = [article.pk for article in many_articles(30, health)]
    job = services.start_bulk_job(BulkJob.Action.ARCHIVE, ids, user=editor)
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "healthhub.settings",
        "DATABASE_URL": subprocess_database_url(),
        "DJANGO_SECRET_KEY": "test",
        "DJANGO_DEBUG": "0",
    }

    manage(env, "db_worker", "--batch", "--no-startup-delay", "--no-reload")

    job.refresh_from_db()
    assert (job.status, job.done, job.changed) == (BulkJob.Status.DONE, 30, 30)
    assert Article.objects.filter(status=Article.Status.ARCHIVED).count() == 30
    assert DBTaskResult.objects.get().status == "SUCCESSFUL"
