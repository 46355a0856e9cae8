"""A bulk action over every article in the list, confirmed on its page: Chromium through gunicorn."""

import re
import zipfile
from pathlib import Path

import pytest

from articles import services
from articles.models import Article, ArticleRevision, BulkJob
from tests.browser.admin_server import expect, messages

pytestmark = [pytest.mark.browser, pytest.mark.server]


def test_select_all_then_archive_changes_every_article_and_says_how_many(
    admin_site, open_context, shot
):
    """Ticking the list's "select all" box and archiving asks with a count, then archives all."""
    total = Article.objects.count()
    not_archived = Article.objects.exclude(status=Article.Status.ARCHIVED).count()
    page = open_context(admin_site.editor)
    page.goto("/admin/articles/article/")

    page.locator("#action-toggle").check()
    page.get_by_label(re.compile(r"^Action:")).select_option(label="Archive selected articles")
    page.get_by_role("button", name="Go").click()

    expect(page.locator("#content")).to_contain_text(f"This changes {total} articles:")
    expect(page.locator("#action-sample li")).not_to_have_count(0)
    assert page.locator("#action-sample li").count() <= 21
    shot(page, "08-bulk-select-all-confirm")
    with page.expect_navigation() as navigation:
        page.get_by_role("button", name="Yes, go ahead").click()
    assert navigation.value.status == 200, admin_site.log_tail()
    shot(page, "08-bulk-select-all-done")

    expect(messages(page)).to_have_text([f"{not_archived} articles archived."])
    assert set(Article.objects.values_list("status", flat=True)) == {Article.Status.ARCHIVED}
    assert ArticleRevision.objects.filter(status=Article.Status.ARCHIVED).count() == not_archived


def test_an_editor_exports_every_article_from_bulk_jobs_and_downloads_it(
    admin_site, open_context, shot, settings
):
    """The export button queues a job; once the worker has run it, its row links the zip."""
    settings.HEALTHHUB_EXPORT_ROOT = admin_site.log.parent / "exports"
    page = open_context(admin_site.editor)
    page.goto("/admin/articles/bulkjob/")

    page.get_by_role("button", name="Export every article as Markdown").click()

    expect(messages(page)).to_have_text(
        ["“Export every article as Markdown” is queued; this page shows its progress."]
    )
    job = BulkJob.objects.get(action=BulkJob.Action.EXPORT)
    services.run_command_job(job.pk)
    job.refresh_from_db()
    page.goto("/admin/articles/bulkjob/")
    link = page.get_by_role("link", name="Download")
    expect(link).to_be_visible()
    shot(page, "09-bulk-jobs-export-done")
    with page.expect_download() as download:
        link.click()
    archive = zipfile.ZipFile(download.value.path())
    slugs = {Path(name).stem for name in archive.namelist() if name.endswith(".md")}
    assert slugs == set(Article.objects.values_list("slug", flat=True))
