"""export_articles writes what import_articles reads back, field for field."""

import datetime as dt
import tracemalloc
from io import BytesIO, StringIO

import pytest
from django.contrib.auth import get_user_model
from django.contrib.contenttypes.models import ContentType
from django.core.management import CommandError, call_command
from django.utils import timezone
from PIL import Image
from taggit.models import Tag, TaggedItem

from articles.importing import articles_to_export
from articles.models import Article, Category, Reference, Reviewer
from articles.services import bulk_create_articles
from tests.factories import (
    ArticleFactory,
    CategoryFactory,
    ReferenceFactory,
    ReviewerFactory,
    UserFactory,
)

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


def many_articles(count, *, body=ArticleFactory.body):
    """Insert ``count`` reviewed articles with two tags and a reference each, in a few queries."""
    category, author = CategoryFactory(name="Health"), UserFactory()
    reviewer = ReviewerFactory(slug="priya-shah")
    articles = bulk_create_articles(
        [
            ArticleFactory.build(
                category=category,
                author=author,
                reviewed_by=reviewer,
                slug=f"bulk-{number}",
                body=body,
            )
            for number in range(count)
        ]
    )
    tags = Tag.objects.bulk_create([Tag(name=f"topic {n}", slug=f"topic-{n}") for n in range(5)])
    content_type = ContentType.objects.get_for_model(Article)
    TaggedItem.objects.bulk_create(
        TaggedItem(content_type=content_type, object_id=article.pk, tag=tags[(article.pk + n) % 5])
        for article in articles
        for n in range(2)
    )
    Reference.objects.bulk_create(
        Reference(article=article, title="A study", doi=f"10.1/{article.pk}")
        for article in articles
    )


def test_export_reads_a_fixed_number_of_queries_per_chunk(tmp_path, django_assert_max_num_queries):
    """1,000 articles cost the count, the rows, and tags, references and images per 250."""
    many_articles(1000)
    out = StringIO()

    # The count and the articles, then tags, references and images for each of 4 chunks.
    with django_assert_max_num_queries(2 + 3 * 4):
        call_command("export_articles", str(tmp_path), "--chunk-size", "250", stdout=out)

    assert "1000 articles written to" in out.getvalue()
    assert len(list(tmp_path.glob("*.md"))) == 1000
    text = (tmp_path / "bulk-999.md").read_text()
    assert "\ntags:\n- topic " in text
    assert "reviewer:\n  slug: priya-shah\n" in text
    assert "references:\n- title: A study\n" in text


def peak_traced_bytes(function):
    """Return the most memory Python held at once while ``function`` ran."""
    tracemalloc.start()
    try:
        function()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_export_memory_stays_flat_however_many_articles(tmp_path, settings):
    """Exporting 1,000 long articles never holds more than a few chunks of them at once."""
    # As manage.py runs commands: tracing memory slows every call down.
    settings.HEALTHHUB_DB_TIMEOUT = 0
    body = "Rest well tonight. " * 1000 + "\n"  # 19 KB
    many_articles(1000, body=body)
    # About 7 MB streamed, whatever the number of articles; 30 MB held at once.
    bound = 15 * 2**20

    streamed = peak_traced_bytes(
        lambda: call_command(
            "export_articles", str(tmp_path), "--chunk-size", "100", stdout=StringIO()
        )
    )
    held = peak_traced_bytes(lambda: list(articles_to_export()))

    assert len(list(tmp_path.glob("*.md"))) == 1000
    assert streamed < bound, f"{streamed / 2**20:.0f} MB"
    # The bound means something: holding every article at once passes it.
    assert held > bound, f"{held / 2**20:.0f} MB"


TRICKY_TEXT = [
    *("yes", "no", "off", "null", "~", "", "123", "1.5", "0x1f", "1e3", ".inf", "1_000"),
    *("2026-03-14", "12:30", "a: b", "a #b", "#x", "- x", "? x", ":x", "x:", "'q'", '"q"'),
    *(" lead", "trail ", "[x]", "{x}", "&a", "*a", "!x", "|x", ">x", "%x", "@x", "`x", "---"),
    "a" * 1200,
    " ".join(["word"] * 300),
]


@pytest.mark.parametrize("value", TRICKY_TEXT)
def test_fast_front_matter_is_byte_for_byte_the_pure_python_one(value):
    """Front matter dumped by libyaml reads exactly as PyYAML's own emitter writes it."""
    import yaml

    from articles.importing import dump_front_matter

    metadata = {"title": value, "tags": [value, "sleep"], "references": [{"title": value}]}

    dumped = dump_front_matter(metadata)

    assert dumped == yaml.safe_dump(metadata, sort_keys=False, allow_unicode=True, width=1000)
    assert yaml.safe_load(dumped) == metadata


def test_non_ascii_front_matter_keeps_its_characters():
    """Accents, curly quotes and emoji are written as they are, not escaped."""
    from articles.importing import dump_front_matter

    dumped = dump_front_matter({"title": "Caf\u00e9 \u201csleep\u201d \U0001f634", "note": "a\nb"})

    assert dumped.startswith("title: Caf\u00e9 \u201csleep\u201d \U0001f634\n")


def test_library_images_are_exported_beside_the_markdown_and_imported_back(tmp_path, settings):
    """A body's library images go out as files with their text and come back into the library."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    from articles import library
    from articles.models import ArticleImage
    from articles.models import Image as LibraryImage

    settings.MEDIA_ROOT = tmp_path / "media"
    buffer = BytesIO()
    Image.new("RGB", (1200, 800), "teal").save(buffer, "JPEG")
    picture = library.create_image(
        file=SimpleUploadedFile("oats.jpg", buffer.getvalue()),
        alt="A bowl of oats",
        caption="Oats with berries",
        credit="Photo: Jane Doe, CC BY 4.0",
    )
    article = ArticleFactory(
        slug="breakfast", body=f"Start well.\n\n![](image:{picture.pk})\n\nThen walk.\n"
    )
    ArticleFactory(slug="second", body=f"Again:\n\n![Oats again](image:{picture.pk})\n")
    assert ArticleImage.objects.filter(image=picture).count() == 2

    call_command("export_articles", str(tmp_path / "export"), stdout=StringIO())

    exported = (tmp_path / "export" / "breakfast.md").read_text()
    name = f"images/{picture.pk}.jpg"
    assert f"![]({name})" in exported and "image:" not in exported
    assert "alt: A bowl of oats" in exported and "credit: 'Photo: Jane Doe, CC BY 4.0'" in exported
    original = picture.file.open("rb").read()
    assert (tmp_path / "export" / name).read_bytes() == original

    Article.objects.all().delete()
    LibraryImage.objects.all().delete()
    call_command("import_articles", str(tmp_path / "export"), stdout=StringIO())

    restored = LibraryImage.objects.get()  # one image for the two articles
    assert (restored.alt, restored.caption, restored.credit) == (
        "A bowl of oats",
        "Oats with berries",
        "Photo: Jane Doe, CC BY 4.0",
    )
    assert restored.file.open("rb").read() == original
    imported = Article.objects.get(slug="breakfast")
    assert imported.body == article.body.replace(f"image:{picture.pk}", f"image:{restored.pk}")
    assert 'srcset="' in imported.body_html and "Photo: Jane Doe" in imported.body_html
    assert ArticleImage.objects.filter(image=restored).count() == 2

    call_command("import_articles", str(tmp_path / "export"), stdout=StringIO())
    assert LibraryImage.objects.count() == 1  # the same picture is found again, not copied


@pytest.mark.parametrize("name", ["../secret.jpg", "/etc/passwd", "images/missing.jpg"])
def test_import_refuses_an_image_outside_the_folder_or_missing(tmp_path, name):
    """An image file must lie under the article's folder and exist; the message names it."""
    CategoryFactory(name="Health", slug="health")
    UserFactory(username="anna")
    (tmp_path / "a.md").write_text(
        "---\ntitle: A\ncategory: Health\nauthor: anna\nstatus: draft\n"
        f"images:\n- file: {name}\n  alt: A picture\n---\n\n![]({name})\n"
    )
    out, err = StringIO(), StringIO()
    with pytest.raises(CommandError):
        call_command("import_articles", str(tmp_path), stdout=out, stderr=err)
    assert name in err.getvalue() + out.getvalue()
    assert not Article.objects.exists()
