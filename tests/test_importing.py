"""import_articles against hostile files: each is refused on its own line, the rest import."""

import time

import pytest
from django.db import OperationalError
from django.utils import timezone

from articles import importing, library, models
from articles.management.commands import import_articles as import_command
from articles.models import Article, ArticleRevision
from tests.test_commands import GOOD_FRONT_MATTER, article_text, import_articles, write_article

pytestmark = pytest.mark.django_db


def good_file(path, slug, title=None):
    """Write a valid article file with ``slug``; return its path."""
    title = title or slug.replace("-", " ").title()
    front = GOOD_FRONT_MATTER.replace("title: Sleep and Stress", f"title: {title}").replace(
        "slug: sleep-and-stress", f"slug: {slug}"
    )
    return write_article(path, front)


def alias_bomb(key: str) -> str:
    """Return front matter whose ``key`` is a "billion laughs": nine levels of nine aliases."""
    lines = ['l0: &l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for level in range(1, 10):
        aliases = ", ".join([f"*l{level - 1}"] * 9)
        lines.append(f"l{level}: &l{level} [{aliases}]")
    lines.append(f"{key}: *l9")
    return "\n".join(lines) + "\n" + GOOD_FRONT_MATTER.replace(f"{key}:", "old_key:", 1)


def the_error(stderr: str) -> str:
    [line] = stderr.splitlines()
    return line


# Each hostile front matter: the file's error line must start with this.
HOSTILE = {
    "BEL in the title": (
        GOOD_FRONT_MATTER.replace("title: Sleep and Stress", 'title: "Sleep\\a and Stress"'),
        "error in title: Remove the invisible control character U+0007 at character 6",
    ),
    "BC publish date": (
        GOOD_FRONT_MATTER.replace("published: 2026-03-14", "published: 0001-01-01T00:00:00+14:00"),
        "error in published: Use a date between 1900-01-01 and 2100-12-31 (this one is 0001-01-01)",
    ),
    "review date in year 1": (
        GOOD_FRONT_MATTER + "last_reviewed: 0001-01-01\n",
        "error in last_reviewed: Use a date between 1900-01-01 and 2100-12-31",
    ),
    "updated date out of range": (
        GOOD_FRONT_MATTER + "updated: 0001-01-01T00:00:00+14:00\n",
        "error in updated: Use a date between 1900-01-01 and 2100-12-31",
    ),
    "largest bigint of views": (
        GOOD_FRONT_MATTER.replace("views: 41", "views: 9223372036854775807"),
        "error in views: expected a whole number from 0 to 1,000,000,000,000, "
        "got 9223372036854775807",
    ),
    "control character in a tag": (
        GOOD_FRONT_MATTER.replace("[sleep, stress]", '[sleep, "str\\x1bess"]'),
        "error in tags: 'str\\x1bess': Remove the invisible control character U+001B",
    ),
    "control character in the cover path": (
        GOOD_FRONT_MATTER + 'cover_image: "covers/a\\0.jpg"\ncover_alt: A bed\n',
        "error in cover_image: Remove the invisible control character U+0000",
    ),
    "too many tags": (
        GOOD_FRONT_MATTER.replace("[sleep, stress]", f"[{', '.join(map(str, range(21)))}]"),
        "error in tags: Use at most 20 tags (this article has 21).",
    ),
    "deeply nested tags": (
        GOOD_FRONT_MATTER.replace("[sleep, stress]", "[" * 5000 + "]" * 5000),
        "error in front matter: nested too deeply",
    ),
    "alias bomb in tags": (
        alias_bomb("tags"),
        "error in front matter: invalid YAML: anchors and aliases (&name, *name) are not allowed",
    ),
    "alias bomb in views": (
        alias_bomb("views"),
        "error in front matter: invalid YAML: anchors and aliases (&name, *name) are not allowed",
    ),
}


@pytest.mark.parametrize(("front", "expected"), HOSTILE.values(), ids=HOSTILE)
def test_hostile_front_matter_is_refused_on_the_files_line(tmp_path, front, expected):
    """Each hostile value is reported on its file's line, nothing is saved, and it is quick."""
    path = write_article(tmp_path / "hostile.md", front)
    started = time.monotonic()

    _, stderr, error = import_articles(path)

    assert time.monotonic() - started < 5
    assert the_error(stderr).startswith(f"[1/1] {path}: {expected}")
    assert str(error) == "1 file: 0 created, 0 updated, 1 failed."
    assert error.returncode == 1
    assert not Article.objects.exists()


def test_alias_bomb_costs_nothing(tmp_path):
    """A billion-laughs file is refused at its first alias, in well under a second."""
    path = write_article(tmp_path / "bomb.md", alias_bomb("tags"))
    started = time.monotonic()

    _, stderr, _ = import_articles(path)

    assert time.monotonic() - started < 1
    assert len(stderr) < 400


def test_control_character_in_the_body_is_refused(tmp_path):
    """A BEL in the body (outside the YAML) is reported on the body."""
    path = write_article(tmp_path / "bell.md", GOOD_FRONT_MATTER, body="Ring\x07 the bell.\n")

    _, stderr, _ = import_articles(path)

    assert f"{path}: error in body: Remove the invisible control character U+0007" in stderr
    assert not Article.objects.exists()


def test_body_over_the_size_limit_is_refused_before_it_is_rendered(tmp_path, monkeypatch):
    """A body over HEALTHHUB_MAX_BODY_KB is refused with its size and the limit, unrendered."""
    path = write_article(tmp_path / "long.md", GOOD_FRONT_MATTER, body="Sleep well. " * 30_000)
    rendered = []
    for module in (models, library):
        monkeypatch.setattr(module, "render_body", lambda *a, **k: rendered.append(a))

    _, stderr, _ = import_articles(path)

    assert f"{path}: error in body: The body is 352 KB, over the limit of 200 KB." in stderr
    assert rendered == []
    assert not Article.objects.exists()


def test_file_over_the_import_limit_is_refused_unread(tmp_path, settings, monkeypatch):
    """A file over HEALTHHUB_MAX_IMPORT_FILE_KB is refused before it is read or parsed."""
    settings.HEALTHHUB_MAX_IMPORT_FILE_KB = 1
    path = write_article(tmp_path / "huge.md", GOOD_FRONT_MATTER, body="x" * 2000)
    monkeypatch.setattr(importing.frontmatter, "loads", None)  # any parse would fail loudly

    _, stderr, _ = import_articles(path)

    assert the_error(stderr) == (
        f"[1/1] {path}: error in file: 3 KB, over the import limit of 1 KB "
        "(HEALTHHUB_MAX_IMPORT_FILE_KB); not read"
    )


def test_messages_quote_at_most_80_characters_of_a_value(tmp_path):
    """A huge offending value is quoted in 80 characters ending with an ellipsis."""
    path = write_article(
        tmp_path / "date.md",
        GOOD_FRONT_MATTER.replace("published: 2026-03-14", f"published: {'9' * 100_000}x"),
    )

    _, stderr, _ = import_articles(path)

    line = the_error(stderr)
    assert line.startswith(f"[1/1] {path}: error in published: '99999")
    assert "\u2026 is not a date" in line
    assert len(line) < len(str(path)) + 200


def test_second_file_with_the_same_slug_is_a_reported_conflict(tmp_path):
    """Two files with one slug in a run: the first imports, the second is refused, naming it."""
    first = good_file(tmp_path / "a.md", "sleep-and-stress", title="The First")
    second = good_file(tmp_path / "b.md", "sleep-and-stress", title="The Second")

    stdout, stderr, error = import_articles(first, second)

    assert the_error(stderr) == (
        f"[2/2] {second}: error in slug: 'sleep-and-stress' was already imported from {first} "
        "in this run; give one of the two files another slug"
    )
    assert stdout.splitlines() == [f"[1/2] {first}: created /everyday-wellbeing/sleep-and-stress/"]
    assert str(error) == "2 files: 1 created, 0 updated, 1 failed."
    assert Article.objects.get().title == "The First"


def test_database_error_fails_one_file_and_leaves_nothing_half_written(tmp_path, monkeypatch):
    """A database error mid-file rolls that file back; the next file still imports."""
    bad = good_file(tmp_path / "a.md", "first")
    good = good_file(tmp_path / "b.md", "second")
    real = importing.record_revision

    def failing_once(article, **kwargs):
        if article.slug == "first":
            raise OperationalError("server closed the connection unexpectedly")
        return real(article, **kwargs)

    monkeypatch.setattr(importing, "record_revision", failing_once)

    _, stderr, error = import_articles(bad, good)

    assert the_error(stderr) == (
        f"[1/2] {bad}: error in database: OperationalError: server closed the connection "
        "unexpectedly"
    )
    assert list(Article.objects.values_list("slug", flat=True)) == ["second"]
    assert ArticleRevision.objects.count() == 1
    assert str(error) == "2 files: 1 created, 0 updated, 1 failed."


def test_an_unforeseen_error_costs_one_file_not_the_run(tmp_path, monkeypatch):
    """Even an exception the import does not expect is reported, and the run goes on."""
    first = good_file(tmp_path / "a.md", "first")
    second = good_file(tmp_path / "b.md", "second")
    real = importing.import_article

    def broken(metadata, body, **kwargs):
        if metadata["slug"] == "first":
            raise KeyError("surprise")
        return real(metadata, body, **kwargs)

    monkeypatch.setattr(importing, "import_article", broken)

    stdout, stderr, error = import_articles(first, second)

    assert the_error(stderr) == f"[1/2] {first}: unexpected error: KeyError: 'surprise'"
    assert stdout.splitlines()[-1] == f"[2/2] {second}: created /everyday-wellbeing/second/"
    assert str(error) == "2 files: 1 created, 0 updated, 1 failed."


# A folder of good and bad files -------------------------------------------------


def hostile_folder(folder):
    """Write good files among every kind of bad one; return the good slugs."""
    good = []
    for number in range(8):
        good_file(folder / f"good-{number}.md", f"good-{number}")
        good.append(f"good-{number}")
    for name, (front, _expected) in HOSTILE.items():
        write_article(folder / f"bad-{name.replace(' ', '-')}.md", front)
    write_article(folder / "bad-body.md", GOOD_FRONT_MATTER, body="x" * 300_000)
    (folder / "bad-latin1.md").write_bytes(
        article_text(GOOD_FRONT_MATTER, "Caf\xe9\n").encode("latin-1")
    )
    (folder / "bad-yaml.md").write_text("---\ntitle: [unclosed\n---\nBody\n", encoding="utf-8")
    (folder / "bad-empty.md").write_text("", encoding="utf-8")
    good_file(folder / "zz-same-slug.md", "good-0", title="Duplicate")
    return good


def test_folder_of_mixed_files_imports_every_good_one_and_reports_every_bad_one(tmp_path, client):
    """All good files import, each bad one gets its own line, the summary prints, the status is 1."""
    good = hostile_folder(tmp_path)
    files = sorted(tmp_path.rglob("*.md"))

    stdout, stderr, error = import_articles(tmp_path)

    bad_lines = stderr.splitlines()
    assert len(bad_lines) == len(files) - len(good)
    assert all(": error in " in line for line in bad_lines)
    assert sorted(Article.objects.values_list("slug", flat=True)) == sorted(good)
    assert Article.objects.get(slug="good-0").title == "Good 0"
    assert (
        str(error)
        == f"{len(files)} files: {len(good)} created, 0 updated, {len(bad_lines)} failed."
    )
    assert error.returncode == 1
    assert len(stdout.splitlines()) == len(good)


def test_site_answers_after_importing_a_hostile_folder(tmp_path, client):
    """After the hostile folder, every public page, feed, the sitemap and search answer."""
    hostile_folder(tmp_path)
    import_articles(tmp_path)
    Article.objects.update(published_at=timezone.now() - timezone.timedelta(days=1))
    urls = [
        "/",
        "/everyday-wellbeing/",
        "/feed/",
        "/feed/atom/",
        "/everyday-wellbeing/feed/",
        "/sitemap.xml",
        "/search/?q=sleep",
        "/search/?q=the",
        "/tag/sleep/",
        *(article.get_absolute_url() for article in Article.objects.all()),
    ]

    statuses = {url: client.get(url).status_code for url in urls}

    assert statuses == dict.fromkeys(urls, 200)


@pytest.mark.parametrize(
    "html",
    [
        '<IMG SRC="https://evil.example/pixel.gif" alt="">',
        '<picture><source srcset="https://evil.example/a.webp 1x">'
        '<img src="/media/a.jpg" alt=""></picture>',
    ],
    ids=["raw img", "srcset"],
)
def test_outside_image_in_raw_html_is_refused(tmp_path, html):
    """An outside image written as HTML, not Markdown, is refused on the body."""
    path = write_article(tmp_path / "html.md", GOOD_FRONT_MATTER, body=f"Text.\n\n{html}\n")

    _, stderr, _ = import_articles(path)

    assert the_error(stderr).startswith(f"[1/1] {path}: error in body: images not on this site: ")
    assert "https://evil.example/" in stderr
    assert not Article.objects.exists()


def test_import_costs_a_fixed_number_of_queries_per_file(
    tmp_path, django_assert_max_num_queries, monkeypatch
):
    """Once a run has seen its category, author and tags, each new file costs the same few queries."""
    # One transaction for the lot, however slow the machine.
    monkeypatch.setattr(import_command, "CHUNK_SECONDS", 600)
    for number in range(30):
        good_file(tmp_path / f"f{number:02}.md", f"file-{number}")

    # Per file, 16: a dozen statements (the slug lookup, the unique check,
    # the row, its slug history, tags and revision) and the savepoints of the
    # file and of the saves within it. Per run: the first lookups, one bump.
    # One more query per file, for the category, author or a tag, exceeds it.
    with django_assert_max_num_queries(30 * 16 + 20):
        _, stderr, error = import_articles(tmp_path)

    assert error is None, stderr
    assert Article.objects.count() == 30


def test_import_invalidates_cached_pages_and_later_saves_still_do(tmp_path):
    """The content version changes with an import, and each save after it changes it again."""
    from articles import caching
    from articles.models import Category

    before = caching.content_version()
    good_file(tmp_path / "a.md", "first")

    import_articles(tmp_path)

    caching.forget_content_version()
    imported = caching.content_version()
    assert imported != before
    Category.objects.update(name="Wellbeing")  # an UPDATE sends no signal; a save does
    Category.objects.get().save()
    caching.forget_content_version()
    assert caching.content_version() != imported


def test_the_constraints_clean_enforces_are_still_refused_by_field(tmp_path):
    """A cover without alt text is refused on its field, as the model's own checks refuse it."""
    from articles.models import Article as Model

    path = write_article(tmp_path / "cover.md", GOOD_FRONT_MATTER + "cover_image: covers/a.jpg\n")

    _, stderr, _ = import_articles(path)

    assert the_error(stderr).startswith(f"[1/1] {path}: error in cover_alt: ")
    assert not Model.objects.exists()
    # The constraints the import leaves to clean() still exist under those names.
    assert {c.name for c in Model._meta.constraints} >= importing._CONSTRAINTS_CHECKED_BY_CLEAN
