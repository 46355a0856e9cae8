"""Long commands started from the admin's Bulk jobs page: export and renditions, run by the worker."""

import io
import zipfile

import pytest
from django.urls import reverse
from django_tasks import default_task_backend

from articles import services
from articles.models import BulkJob
from tests.factories import ArticleFactory, StaffFactory

pytestmark = pytest.mark.django_db

JOBS = reverse("admin:articles_bulkjob_changelist")


@pytest.fixture(autouse=True)
def export_root(settings, tmp_path):
    default_task_backend.clear()
    settings.HEALTHHUB_EXPORT_ROOT = tmp_path / "exports"
    return settings.HEALTHHUB_EXPORT_ROOT


@pytest.fixture
def editor_client(client):
    client.force_login(StaffFactory(username="edith", role="Editors"))
    return client


def start(client, action):
    return client.post(reverse("admin:articles_bulkjob_start", args=[action]), follow=True)


def test_an_editor_exports_every_article_and_downloads_the_zip(editor_client, export_root):
    """The export button queues a job; the worker writes a zip the editor can download."""
    ArticleFactory(title="Sleep and the heart", slug="sleep-and-the-heart")
    ArticleFactory(title="A draft on fibre", slug="a-draft-on-fibre", status="draft")
    page = editor_client.get(JOBS)
    assert "Export every article as Markdown" in page.content.decode()

    response = start(editor_client, "export")

    assert "is queued" in response.content.decode()
    job = BulkJob.objects.get()
    assert (job.action, job.status) == ("export", "queued")
    services.run_command_job(job.pk)
    job.refresh_from_db()
    assert (job.status, job.total, job.done) == ("done", 2, 2)
    assert job.message  # the command's last progress line
    download = editor_client.get(reverse("admin:articles_bulkjob_download", args=[job.pk]))
    assert download.status_code == 200
    assert download["Content-Disposition"].startswith("attachment")
    archive = zipfile.ZipFile(io.BytesIO(b"".join(download.streaming_content)))
    names = archive.namelist()
    assert any(name.endswith("sleep-and-the-heart.md") for name in names), names
    assert any(name.endswith("a-draft-on-fibre.md") for name in names), names
    assert list(export_root.glob("*.partial")) == []
    assert f'title="{job.result}">Download</a>' in editor_client.get(JOBS).content.decode()


def test_a_renditions_rebuild_runs_as_a_job(editor_client):
    """The rebuild button queues the command; the job ends done with its last line."""
    start(editor_client, "renditions")
    job = BulkJob.objects.get()

    services.run_command_job(job.pk)

    job.refresh_from_db()
    assert job.status == "done"
    assert job.result == ""


def test_an_author_can_neither_start_nor_download_a_command_job(client, editor_client):
    """An export holds every draft, so only editors start or fetch one."""
    start(editor_client, "export")
    job = BulkJob.objects.get()
    client.force_login(StaffFactory(username="arthur", role="Authors"))

    assert client.post(reverse("admin:articles_bulkjob_start", args=["export"])).status_code == 403
    download = reverse("admin:articles_bulkjob_download", args=[job.pk])
    assert client.get(download).status_code == 403
    assert BulkJob.objects.count() == 1


def test_start_refuses_a_get_an_unknown_action_and_a_missing_file(editor_client):
    """Starting needs a POST and a known action; a job without its file is a 404."""
    assert (
        editor_client.get(reverse("admin:articles_bulkjob_start", args=["export"])).status_code
        == 405
    )
    assert (
        editor_client.post(reverse("admin:articles_bulkjob_start", args=["drop"])).status_code
        == 404
    )
    job = BulkJob.objects.create(action="export", result="../../etc/passwd", status="done")
    assert (
        editor_client.get(reverse("admin:articles_bulkjob_download", args=[job.pk])).status_code
        == 404
    )


def test_a_job_whose_editor_lost_the_permission_is_not_run(editor_client):
    """The permission is checked again when the worker runs the job."""
    start(editor_client, "export")
    job = BulkJob.objects.get()
    job.requested_by.groups.clear()
    job.requested_by.user_permissions.clear()

    services.run_command_job(job.pk)

    job.refresh_from_db()
    assert job.status == "failed" and "may no longer" in job.message
