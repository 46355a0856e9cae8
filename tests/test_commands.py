import datetime as dt
import re
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.utils import timezone
from django.utils.text import slugify
from taggit.models import Tag

from articles.models import Article, AuthorProfile, Category, DailyViews
from tests.factories import ArticleFactory, UserFactory

BODY = "Good sleep starts long before bedtime.\n\n## Why it matters\n\nRest helps.\n"

GOOD_FRONT_MATTER = """\
title: Sleep and Stress
slug: sleep-and-stress
category: Everyday Wellbeing
published: 2026-03-14
views: 41
tags: [sleep, stress]
excerpt: How sleep and stress feed each other.
author: dana
status: published
"""


def article_text(front_matter, body=BODY):
    return f"---\n{front_matter}---\n\n{body}"


def write_article(path, front_matter, body=BODY):
    """Write a Markdown file with ``front_matter`` between --- lines; return its path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(article_text(front_matter, body), encoding="utf-8")
    return path


def import_articles(*paths):
    """Run import_articles; return (stdout, stderr, the CommandError or None)."""
    stdout, stderr = StringIO(), StringIO()
    try:
        call_command("import_articles", *map(str, paths), stdout=stdout, stderr=stderr)
    except CommandError as error:
        return stdout.getvalue(), stderr.getvalue(), error
    return stdout.getvalue(), stderr.getvalue(), None


# import_articles -----------------------------------------------------------


@pytest.mark.django_db
def test_import_creates_article_from_front_matter(tmp_path):
    """A complete file becomes an article with every front-matter value."""
    path = write_article(tmp_path / "sleep.md", GOOD_FRONT_MATTER)

    _, _, error = import_articles(path)

    assert error is None
    article = Article.objects.get(slug="sleep-and-stress")
    assert article.title == "Sleep and Stress"
    assert article.published_at == dt.datetime(2026, 3, 14, tzinfo=dt.UTC)
    assert article.view_count == 41
    assert sorted(article.tags.names()) == ["sleep", "stress"]
    assert article.excerpt == "How sleep and stress feed each other."
    assert article.status == Article.Status.PUBLISHED
    assert article.body.startswith("Good sleep starts long before bedtime.")
    assert "<h2" in article.body_html


@pytest.mark.django_db
def test_import_creates_missing_category_with_slugified_slug(tmp_path):
    """A category named in the file that does not exist is created with a slugified slug."""
    path = write_article(tmp_path / "sleep.md", GOOD_FRONT_MATTER)

    import_articles(path)

    category = Category.objects.get(name="Everyday Wellbeing")
    assert category.slug == "everyday-wellbeing"
    assert category.parent is None
    assert Article.objects.get(slug="sleep-and-stress").category == category


@pytest.mark.django_db
def test_import_reuses_existing_category_by_name(tmp_path, health):
    """A category name matching an existing one, in any case, files the article there."""
    front_matter = GOOD_FRONT_MATTER.replace("Everyday Wellbeing", "HEALTH")
    path = write_article(tmp_path / "sleep.md", front_matter)

    import_articles(path)

    assert Category.objects.count() == 1
    assert Article.objects.get(slug="sleep-and-stress").category == health


@pytest.mark.django_db
def test_import_creates_missing_author_inactive_without_password(tmp_path):
    """An author that does not exist is created inactive and unable to log in."""
    path = write_article(tmp_path / "sleep.md", GOOD_FRONT_MATTER)

    import_articles(path)

    author = get_user_model().objects.get(username="dana")
    assert author.is_active is False
    assert author.has_usable_password() is False
    assert Article.objects.get(slug="sleep-and-stress").author == author


@pytest.mark.django_db
def test_import_reuses_existing_author(tmp_path):
    """An existing author is used as is, still active."""
    author = UserFactory(username="dana")
    path = write_article(tmp_path / "sleep.md", GOOD_FRONT_MATTER)

    import_articles(path)

    author.refresh_from_db()
    assert author.is_active is True
    assert Article.objects.get(slug="sleep-and-stress").author == author


@pytest.mark.django_db
def test_import_fills_in_defaults(tmp_path, health):
    """Without slug, date, views, tags, excerpt or status, an article is published now with no views."""
    path = write_article(
        tmp_path / "walk.md", "title: Walking After Meals\ncategory: Health\nauthor: dana\n"
    )
    before = timezone.now()

    _, _, error = import_articles(path)

    after = timezone.now()
    assert error is None
    article = Article.objects.get()
    assert article.slug == slugify("Walking After Meals") == "walking-after-meals"
    assert before <= article.published_at <= after
    assert article.view_count == 0
    assert article.status == Article.Status.PUBLISHED
    assert article.excerpt == ""
    assert list(article.tags.all()) == []
    assert Article.objects.published().filter(pk=article.pk).exists()


@pytest.mark.django_db
def test_import_keeps_draft_status(tmp_path, health):
    """A file with status: draft imports an article the public cannot see."""
    path = write_article(
        tmp_path / "draft.md", "title: Draft Piece\ncategory: Health\nauthor: dana\nstatus: draft\n"
    )

    import_articles(path)

    article = Article.objects.get(slug="draft-piece")
    assert article.status == Article.Status.DRAFT
    assert not Article.objects.published().exists()


@pytest.mark.django_db
def test_reimport_updates_article_and_keeps_views_not_given(tmp_path):
    """Importing the same slug again updates the article in place and keeps its view count."""
    path = write_article(tmp_path / "sleep.md", GOOD_FRONT_MATTER)
    import_articles(path)
    Article.objects.filter(slug="sleep-and-stress").update(view_count=50)
    write_article(
        path,
        GOOD_FRONT_MATTER.replace("title: Sleep and Stress", "title: Sleep, Stress and You")
        .replace("views: 41\n", "")
        .replace("[sleep, stress]", "[sleep]"),
    )

    stdout, _, error = import_articles(path)

    assert error is None
    assert "updated" in stdout
    assert Article.objects.count() == 1
    article = Article.objects.get()
    assert article.slug == "sleep-and-stress"
    assert article.title == "Sleep, Stress and You"
    assert article.view_count == 50
    assert list(article.tags.names()) == ["sleep"]


@pytest.mark.django_db
def test_reimport_with_views_sets_view_count(tmp_path):
    """Importing the same slug again with views sets the view count to that number."""
    path = write_article(tmp_path / "sleep.md", GOOD_FRONT_MATTER)
    import_articles(path)
    write_article(path, GOOD_FRONT_MATTER.replace("views: 41", "views: 1200"))

    stdout, _, error = import_articles(path)

    assert error is None
    assert stdout.splitlines()[-1] == "1 file: 0 created, 1 updated, 0 failed."
    assert Article.objects.count() == 1
    assert Article.objects.get().view_count == 1200


@pytest.mark.django_db
def test_import_reads_folder_recursively(tmp_path, health):
    """A folder is searched recursively for .md files; other files are ignored."""
    write_article(tmp_path / "top.md", "title: Top Level\ncategory: Health\nauthor: dana\n")
    write_article(
        tmp_path / "nested" / "deeper" / "inner.md",
        "title: Deep Inside\ncategory: Health\nauthor: dana\n",
    )
    (tmp_path / "notes.txt").write_text("not an article", encoding="utf-8")

    stdout, _, error = import_articles(tmp_path)

    assert error is None
    assert set(Article.objects.values_list("slug", flat=True)) == {"top-level", "deep-inside"}
    assert stdout.splitlines()[-1] == "2 files: 2 created, 0 updated, 0 failed."


@pytest.mark.django_db
def test_import_prints_one_line_per_file_and_summary(tmp_path, health):
    """The command prints a line per file, with the article's URL, then a summary line."""
    first = write_article(tmp_path / "a.md", "title: First One\ncategory: Health\nauthor: dana\n")
    second = write_article(tmp_path / "b.md", "title: Second One\ncategory: Health\nauthor: dana\n")

    stdout, stderr, error = import_articles(first, second)

    assert error is None
    assert stderr == ""
    assert stdout.splitlines() == [
        f"[1/2] {first}: created /health/first-one/",
        f"[2/2] {second}: created /health/second-one/",
        "2 files: 2 created, 0 updated, 0 failed.",
    ]


@pytest.mark.django_db
def test_file_named_twice_is_imported_once(tmp_path):
    """A file given on its own and again through its folder is imported once."""
    path = tmp_path / "sleep.md"
    path.write_text(article_text(GOOD_FRONT_MATTER))
    stdout = StringIO()
    call_command("import_articles", str(path), str(tmp_path), stdout=stdout)
    assert "1 file: 1 created, 0 updated, 0 failed." in stdout.getvalue()


@pytest.mark.django_db
def test_import_of_missing_path_fails(tmp_path):
    """A path that does not exist stops the command with its name."""
    with pytest.raises(CommandError, match=r"nowhere\.md: no such file or folder"):
        call_command("import_articles", str(tmp_path / "nowhere.md"), stdout=StringIO())


def good_but(old, new):
    """Return the good file's text with ``old`` in its front matter replaced by ``new``."""
    assert old in GOOD_FRONT_MATTER
    return article_text(GOOD_FRONT_MATTER.replace(old, new))


# Each bad file: (its content, the field the error must name).
BAD_FILES = {
    "missing title": (good_but("title: Sleep and Stress\n", ""), "title"),
    "bad date": (good_but("2026-03-14", "not-a-date"), "published"),
    "impossible date": (good_but("2026-03-14", '"2026-02-30"'), "published"),
    "impossible unquoted date": (good_but("2026-03-14", "2026-02-30"), "front matter"),
    "negative views": (good_but("views: 41", "views: -3"), "views"),
    "views not a number": (good_but("views: 41", "views: many"), "views"),
    "tags not a list": (good_but("[sleep, stress]", "sleep, stress"), "tags"),
    "unknown key": (good_but("title:", "titel:"), "titel"),
    "invalid YAML": (good_but("Sleep and Stress", "Sleep: and Stress"), "front matter"),
    "no front matter": (f"# Sleep and Stress\n\n{BODY}", "front matter"),
    "empty body": (article_text(GOOD_FRONT_MATTER, body="\n  \n"), "body"),
    "reserved category slug": (good_but("Everyday Wellbeing", "Admin"), "category"),
    "unknown status": (good_but("status: published", "status: bogus"), "status"),
    "invalid author": (good_but("author: dana", "author: dana smith!"), "author"),
    "author too long": (good_but("author: dana", "author: " + "d" * 151), "author"),
    "excerpt too long": (
        good_but("How sleep and stress feed each other.", "x" * 301),
        "excerpt",
    ),
    "views too large": (good_but("views: 41", f"views: {2**63}"), "views"),
    "not UTF-8": (article_text(GOOD_FRONT_MATTER, "Caf\xe9\n").encode("latin-1"), "file"),
}


@pytest.mark.django_db
@pytest.mark.parametrize(("content", "field"), BAD_FILES.values(), ids=BAD_FILES)
def test_bad_file_fails_alone_and_names_file_and_field(tmp_path, health, content, field):
    """A bad file saves nothing and is reported by path and field; the good file beside it imports."""
    bad = tmp_path / "bad.md"
    if isinstance(content, str):
        content = content.encode("utf-8")
    bad.write_bytes(content)
    good = write_article(
        tmp_path / "good.md", "title: Good Article\ncategory: Health\nauthor: amelia\n"
    )
    users_before = get_user_model().objects.count()

    stdout, stderr, error = import_articles(bad, good)

    assert str(error) == "2 files: 1 created, 0 updated, 1 failed."
    [message] = stderr.splitlines()
    assert message.startswith(f"[1/2] {bad}: error in {field}: ")
    assert stdout.splitlines() == [f"[2/2] {good}: created /health/good-article/"]
    assert list(Article.objects.values_list("slug", flat=True)) == ["good-article"]
    assert list(Category.objects.all()) == [health]
    assert get_user_model().objects.count() == users_before + 1
    assert not get_user_model().objects.filter(username="dana").exists()
    assert not Tag.objects.exists()


@pytest.mark.django_db
def test_failed_update_leaves_existing_article_untouched(tmp_path):
    """A bad re-import leaves the article exactly as it was."""
    path = write_article(tmp_path / "sleep.md", GOOD_FRONT_MATTER)
    import_articles(path)
    before = Article.objects.values().get()
    write_article(
        path,
        GOOD_FRONT_MATTER.replace("title: Sleep and Stress", "title: Changed").replace(
            "status: published", "status: bogus"
        ),
    )

    _, stderr, error = import_articles(path)

    assert str(error) == "1 file: 0 created, 0 updated, 1 failed."
    assert "error in status" in stderr
    assert Article.objects.values().get() == before


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("views_line", "shown", "stored"),
    [("", "1 view", 1), ("views: 41\n", "42 views", 42)],
    ids=["no views", "41 views"],
)
def test_imported_article_is_served_at_its_url(tmp_path, client, views_line, shown, stored):
    """An imported article's page shows its breadcrumb, title, date, category and count with this view."""
    write_article(tmp_path / "sleep.md", GOOD_FRONT_MATTER.replace("views: 41\n", views_line))
    import_articles(tmp_path)
    article = Article.objects.get()

    response = client.get("/everyday-wellbeing/sleep-and-stress/")

    assert response.status_code == 200
    assert article.get_absolute_url() == "/everyday-wellbeing/sleep-and-stress/"
    html = response.content.decode()
    breadcrumb = re.search(r'<nav[^>]*aria-label="Breadcrumb"[^>]*>(.*?)</nav>', html, re.S)
    assert breadcrumb is not None
    assert re.findall(r'<a href="([^"]*)">([^<]*)</a>', breadcrumb[1]) == [
        ("/", "Home"),
        ("/everyday-wellbeing/", "Everyday Wellbeing"),
    ]
    assert re.search(r'aria-current="page">\s*Sleep and Stress\s*<', breadcrumb[1])
    assert re.search(r"<h1[^>]*>\s*Sleep and Stress\s*</h1>", html)
    assert "March 14, 2026" in html
    assert '<a href="/everyday-wellbeing/">Everyday Wellbeing</a>' in html
    assert re.search(rf">\s*{shown}\s*<", html)
    assert Article.objects.get().view_count == stored


WITHOUT_AUTHOR = GOOD_FRONT_MATTER.replace("author: dana\n", "")


@pytest.mark.django_db
def test_import_credits_files_without_an_author_to_the_author_option(tmp_path):
    """--author credits files that name no author; a file's own author still wins."""
    amelia = UserFactory(username="amelia")
    unsigned = write_article(tmp_path / "unsigned.md", WITHOUT_AUTHOR)
    signed = write_article(
        tmp_path / "signed.md", "title: Walking\ncategory: Health\nauthor: dana\n"
    )

    stdout, stderr, error = import_articles("--author", "amelia", unsigned, signed)

    assert error is None, stderr
    assert "2 files: 2 created, 0 updated, 0 failed." in stdout
    assert Article.objects.get(slug="sleep-and-stress").author == amelia
    assert Article.objects.get(slug="walking").author.username == "dana"


@pytest.mark.django_db
def test_import_with_an_unknown_author_option_stops_before_importing(tmp_path):
    """--author naming no existing user fails at once: no article, user or category is created."""
    path = write_article(tmp_path / "unsigned.md", WITHOUT_AUTHOR)

    stdout, _, error = import_articles("--author", "nobody", path)

    assert str(error) == "--author nobody: no user with that username; nothing imported."
    assert stdout == ""
    assert not Article.objects.exists()
    assert not Category.objects.exists()
    assert not get_user_model().objects.exists()


@pytest.mark.django_db
def test_import_without_an_author_or_the_option_names_the_option(tmp_path):
    """A file with no author and no --author fails on the author field and says how to fix it."""
    path = write_article(tmp_path / "unsigned.md", WITHOUT_AUTHOR)

    _, stderr, error = import_articles(path)

    assert str(error) == "1 file: 0 created, 0 updated, 1 failed."
    assert stderr.strip() == (
        f"[1/1] {path}: error in author: required: the username of the article's author "
        "(or import with --author)"
    )
    assert not Article.objects.exists()


# load_demo -----------------------------------------------------------------


def demo_snapshot():
    """Return every value load_demo writes, to compare two runs."""
    user_model = get_user_model()
    return {
        "categories": list(Category.objects.order_by("pk").values()),
        "articles": list(Article.objects.order_by("pk").values()),
        "tags": list(Tag.objects.order_by("pk").values()),
        "tagged": sorted(
            Article.tags.through.objects.values_list("object_id", "tag_id", "content_type_id")
        ),
        "users": list(user_model.objects.order_by("pk").values()),
        "profiles": list(AuthorProfile.objects.order_by("pk").values()),
        "daily_views": list(DailyViews.objects.order_by("pk").values()),
    }


def load_demo():
    stdout = StringIO()
    call_command("load_demo", stdout=stdout)
    return stdout.getvalue()


@pytest.mark.django_db
def test_load_demo_creates_categories():
    """The demo has five categories, with Mental Health under Health."""
    load_demo()

    assert dict(Category.objects.values_list("slug", "name")) == {
        "health": "Health",
        "nutrition": "Nutrition",
        "fitness": "Fitness",
        "sleep": "Sleep",
        "mental-health": "Mental Health",
    }
    assert Category.objects.get(slug="mental-health").parent == Category.objects.get(slug="health")
    assert not Category.objects.exclude(slug="mental-health").filter(parent__isnull=False).exists()


@pytest.mark.django_db
def test_load_demo_creates_published_tagged_articles_with_varied_views():
    """The demo has at least twelve published articles, each tagged, with different view counts."""
    load_demo()

    published = Article.objects.published()
    assert published.count() >= 12
    assert published.count() == Article.objects.count()
    assert not published.filter(tags__isnull=True).exists()
    counts = list(published.values_list("view_count", flat=True))
    assert len(set(counts)) == len(counts)
    assert min(counts) > 0
    assert set(published.values_list("category__slug", flat=True)) == {
        "health",
        "nutrition",
        "fitness",
        "sleep",
        "mental-health",
    }


@pytest.mark.django_db
def test_load_demo_twice_changes_nothing():
    """Running load_demo a second time leaves every row and tag exactly as it was."""
    load_demo()
    before = demo_snapshot()

    output = load_demo()

    assert demo_snapshot() == before
    assert f"0 articles created, {len(before['articles'])} already there." in output


@pytest.mark.django_db
def test_load_demo_fills_this_weeks_most_read(client):
    """The demo comes with a week of daily views, so "Most read this week" is not empty."""
    load_demo()
    html = client.get("/").content.decode()
    assert "No views yet this week" not in html
    assert html.count("this week</span>") == 5


@pytest.mark.django_db
def test_load_demo_again_keeps_views_counted_since(client):
    """Views readers add after the first run survive a second run."""
    load_demo()
    article = Article.objects.published().first()
    response = client.get(article.get_absolute_url())
    assert response.status_code == 200

    load_demo()

    article_after = Article.objects.get(pk=article.pk)
    assert article_after.view_count == article.view_count + 1


@pytest.mark.django_db
def test_load_demo_leaves_existing_article_with_same_slug(health):
    """An article that already has a demo slug is left as it is."""
    existing = ArticleFactory(
        slug="how-much-sleep-do-adults-really-need", title="Mine", category=health
    )

    load_demo()

    existing.refresh_from_db()
    assert existing.title == "Mine"
    assert Article.objects.filter(slug=existing.slug).count() == 1


@pytest.mark.django_db
def test_load_demo_sets_up_medical_review_and_crisis_resources():
    """Health requires review, its demo articles have a reviewer, Mental Health has a crisis box."""
    load_demo()
    assert Category.objects.get(slug="health").requires_review
    assert "116 123" in Category.objects.get(slug="mental-health").crisis_resources
    medical = Article.objects.filter(category__slug__in=["health", "mental-health"])
    assert medical.exists()
    assert not medical.filter(reviewed_by__isnull=True).exists()
    assert not medical.filter(last_reviewed__isnull=True).exists()


@pytest.mark.django_db
def test_import_refuses_a_published_article_that_needs_a_reviewer(tmp_path, health):
    """A published file in a review-required category needs a reviewer, as the admin's form does."""
    health.requires_review = True
    health.save()
    front = GOOD_FRONT_MATTER.replace("Everyday Wellbeing", "Health")
    path = write_article(tmp_path / "unchecked.md", front)
    write_article(
        tmp_path / "draft.md",
        front.replace("status: published", "status: draft").replace("sleep-and-stress", "a-draft"),
    )

    _stdout, stderr, _error = import_articles(tmp_path)

    assert "unchecked.md" in stderr and "need a medical reviewer" in stderr
    assert list(Article.objects.values_list("slug", flat=True)) == ["a-draft"]
    assert path.exists()


@pytest.mark.django_db
def test_import_refuses_a_body_with_an_image_from_another_site(tmp_path):
    """An outside image is refused with the file named, as the admin's form refuses it."""
    body = BODY + "\n![tracker](https://evil.example/pixel.gif)\n"
    write_article(tmp_path / "tracked.md", GOOD_FRONT_MATTER, body=body)

    _stdout, stderr, _error = import_articles(tmp_path)

    assert "tracked.md" in stderr
    assert "images not on this site: https://evil.example/pixel.gif" in stderr
    assert not Article.objects.exists()


# Progress lines ------------------------------------------------------------


class FakeClock:
    """A monotonic clock that moves only when told."""

    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def progress_lines(total, steps, **kwargs):
    """Count ``total`` items, one per ``steps`` seconds of a fake clock; return the lines."""
    from articles.progress import Progress

    clock, lines = FakeClock(), []
    progress = Progress(
        lines.append, total, verb="Exported", noun="articles", clock=clock, **kwargs
    )
    for done in range(1, total + 1):
        clock.now += steps
        progress.update(done)
    progress.finish()
    return lines


def test_progress_prints_count_rate_and_time_left_about_once_a_second():
    """A line a second with the count, the rate and the time left, then a closing line."""
    lines = progress_lines(1024, 1 / 256)  # 256 a second for 4 seconds

    # The rate counts from the first article, not from the query before it.
    assert lines == [
        "Exported 257 of 1,024 articles (256/s, about 3 s left)",
        "Exported 513 of 1,024 articles (256/s, about 2 s left)",
        "Exported 769 of 1,024 articles (256/s, under 1 s left)",
        "Exported 1,024 of 1,024 articles in 4 s (256/s)",
    ]


def test_progress_gives_long_estimates_in_minutes_and_hours():
    """The time left reads in minutes, then hours and minutes."""
    from articles.progress import format_duration

    assert [format_duration(s) for s in (38, 60, 250, 3600, 3900, 7260)] == [
        "38 s",
        "1 min",
        "4 min 10 s",
        "1 h",
        "1 h 5 min",
        "2 h 1 min",
    ]


def test_progress_is_silent_for_a_run_under_a_second_or_a_small_one():
    """A quick run prints no progress; neither does a small one, however slow."""
    assert progress_lines(5000, 0.0001) == []
    assert progress_lines(50, 1.0) == []


def test_progress_counts_bytes_in_megabytes():
    """A byte count reads in KB, MB or GB, with a rate per second."""
    from articles.progress import BYTES, Progress

    clock, lines = FakeClock(), []
    progress = Progress(lines.append, 400 * 2**20, verb="Archived", unit=BYTES, clock=clock)
    clock.now += 1
    progress.update(50 * 2**20)
    clock.now += 2
    progress.update(150 * 2**20)

    assert lines == ["Archived 150.0 MB of 400.0 MB (50.0 MB/s, about 5 s left)"]


@pytest.mark.django_db
def test_import_prints_progress_lines_and_none_at_verbosity_0(tmp_path, health, monkeypatch):
    """A long import prints progress lines among the file lines; --verbosity 0 prints none."""
    from articles import progress

    clock = FakeClock()

    def ticking():
        clock.now += 0.5
        return clock.now

    monkeypatch.setattr(progress, "now", ticking)
    monkeypatch.setitem(progress.MIN_TOTAL, progress.COUNT, 1)
    for number in range(4):
        write_article(
            tmp_path / f"a{number}.md", f"title: Walk {number}\ncategory: Health\nauthor: dana\n"
        )

    stdout, _, error = import_articles(tmp_path)

    assert error is None
    lines = stdout.splitlines()
    assert [line for line in lines if line.startswith("Imported ")] == [
        "Imported 3 of 4 files (2/s, under 1 s left)",
        "Imported 4 of 4 files in 2 s (2/s)",
    ]
    assert lines[-1] == "4 files: 4 created, 0 updated, 0 failed."

    out = StringIO()
    Article.objects.all().delete()
    call_command("import_articles", str(tmp_path), verbosity=0, stdout=out)
    assert not [line for line in out.getvalue().splitlines() if line.startswith("Imported ")]
