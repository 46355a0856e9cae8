"""export_articles writes what import_articles reads back, field for field."""

import datetime as dt
from io import BytesIO, StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.utils import timezone
from PIL import Image

from articles.models import Article, Category, Reviewer
from tests.factories import ArticleFactory, CategoryFactory, ReferenceFactory, ReviewerFactory

pytestmark = pytest.mark.django_db


def snapshot():
    """Return every article's fields that an export must carry, keyed by slug."""
    articles = Article.objects.select_related("category", "author", "reviewed_by")
    return {
        a.slug: {
            "title": a.title,
            "category": a.category.name,
            "excerpt": a.excerpt,
            "body": a.body,
            "body_html": a.body_html,
            "status": a.status,
            "published_at": a.published_at,
            "content_updated_at": a.content_updated_at,
            "view_count": a.view_count,
            "tags": sorted(a.tags.names()),
            "author": a.author.username,
            "review_note": a.review_note,
            "reviewer": a.reviewed_by
            and (a.reviewed_by.slug, a.reviewed_by.name, a.reviewed_by.credentials),
            "last_reviewed": a.last_reviewed,
            "readability_grade": a.readability_grade,
            "references": list(
                a.references.values_list("title", "publisher", "year", "url", "doi", "pmid")
            ),
            "cover_image": a.cover_image.name,
            "cover_alt": a.cover_alt,
        }
        for a in articles.prefetch_related("tags", "references")
    }


def test_export_then_import_into_an_empty_database_round_trips(tmp_path, settings):
    """Every article comes back identical after export, emptying the database, and import."""
    settings.MEDIA_ROOT = tmp_path / "media"
    (tmp_path / "media" / "covers").mkdir(parents=True)
    buffer = BytesIO()
    Image.new("RGB", (600, 400), "teal").save(buffer, "JPEG")
    (tmp_path / "media" / "covers" / "sleep.jpg").write_bytes(buffer.getvalue())

    health = CategoryFactory(name="Health", slug="health")
    reviewer = ReviewerFactory(name="Dr Priya Shah", slug="priya-shah", credentials="MD")
    reviewed = ArticleFactory(
        category=health,
        title="Sleep and your heart",
        slug="sleep-and-your-heart",
        tags=["sleep", "heart health"],
        reviewed_by=reviewer,
        last_reviewed=dt.date(2026, 2, 1),
        cover_image="covers/sleep.jpg",
        cover_alt="A teal square",
        published_at=timezone.now().replace(microsecond=0) - dt.timedelta(days=30),
    )
    Article.objects.filter(pk=reviewed.pk).update(
        view_count=3343,
        content_updated_at=timezone.now().replace(microsecond=0) - dt.timedelta(days=2),
    )
    ReferenceFactory(article=reviewed, title="A cohort study", doi="10.1/x", year=2023)
    ReferenceFactory(article=reviewed, title="Guidance", url="", pmid="123456", year=None)
    ArticleFactory(category=health, slug="a-draft", status="draft", published_at=None)
    ArticleFactory(
        category=health, slug="sent-back", status="draft", review_note="Add sources, please."
    )
    ArticleFactory(
        category=CategoryFactory(name="Sleep", slug="sleep"),
        slug="coming-soon",
        published_at=timezone.now().replace(microsecond=0) + dt.timedelta(days=3),
    )
    ArticleFactory(category=health, slug="old-news", status="archived")
    before = snapshot()

    out = StringIO()
    call_command("export_articles", str(tmp_path / "export"), stdout=out)
    assert "[5/5]" in out.getvalue()
    assert "5 articles written to" in out.getvalue()

    cover = (tmp_path / "media" / "covers" / "sleep.jpg").read_bytes()
    Article.objects.all().delete()  # deleting an article deletes its cover file too
    Category.objects.all().delete()
    Reviewer.objects.all().delete()
    get_user_model().objects.all().delete()
    (tmp_path / "media" / "covers" / "sleep.jpg").write_bytes(cover)

    call_command("import_articles", str(tmp_path / "export"), stdout=StringIO())

    assert snapshot() == before
    assert Article.objects.get(slug="sleep-and-your-heart").cover_renditions["sources"]


def test_exported_file_reads_like_the_import_format(tmp_path):
    """The exported front matter uses the import keys, with the body after it."""
    ArticleFactory(slug="plain", title="Plain", tags=["sleep"])
    call_command("export_articles", str(tmp_path), stdout=StringIO())
    text = (tmp_path / "plain.md").read_text()
    assert text.startswith("---\ntitle: Plain\nslug: plain\n")
    assert "\ntags:\n- sleep\n" in text
    assert text.endswith("## Conclusion\n\nA summary.\n")
