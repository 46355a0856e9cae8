"""No lost edits, revisions, admin actions and statistics, through the admin's URLs."""

import datetime as dt
from html.parser import HTMLParser

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from articles.admin import ArticleAdminForm
from articles.models import Article, ArticleRevision, DailyViews
from articles.services import record_revision
from tests.admin_forms import rendered_form
from tests.factories import ArticleFactory, CategoryFactory, ReviewerFactory, StaffFactory
from tests.test_admin import add_article, change_url, edit, open_form, submit

pytestmark = pytest.mark.django_db

CHANGELIST = "admin:articles_article_changelist"


@pytest.fixture
def editor(db):
    return StaffFactory(username="edith", role="Editors")


@pytest.fixture
def editor_client(client, editor):
    client.force_login(editor)
    return client


@pytest.fixture
def second_editor_client(db):
    other = Client()
    other.force_login(StaffFactory(username="oscar", role="Editors"))
    return other


# No lost edits -----------------------------------------------------------------


def test_second_of_two_concurrent_saves_is_refused_and_keeps_its_text(
    editor_client, second_editor_client, editor, health
):
    """Two editors open the same article; the second save is refused, nothing is overwritten."""
    article = ArticleFactory(category=health, author=editor)
    url = change_url(article)
    # Both open the form at the same version.
    first_form = open_form(editor_client, url)
    second_form = open_form(second_editor_client, url)

    first = submit(editor_client, url, first_form, body="First editor's text.")
    second = submit(second_editor_client, url, second_form, body="Second editor's careful rewrite.")

    assert first.status_code == 302
    assert second.status_code == 200
    html = second.content.decode()
    assert "Someone else saved this article while you were editing it" in html
    assert f'<a href="{change_url(article)}" target="_blank">open the current version</a>' in html
    assert "Second editor&#x27;s careful rewrite." in html  # kept in the form to copy
    article.refresh_from_db()
    assert article.body == "First editor's text."
    assert article.version == 2


def test_saving_never_resets_views_counted_while_the_form_was_open(editor_client, editor, health):
    """Views recorded between opening and saving the form are kept."""
    article = ArticleFactory(category=health, author=editor)
    form = open_form(editor_client, change_url(article))
    Article.objects.filter(pk=article.pk).update(view_count=41)
    Article.objects.filter(pk=article.pk).update(view_count=42)

    assert submit(editor_client, change_url(article), form, title="Retitled").status_code == 302
    article.refresh_from_db()
    assert (article.title, article.view_count) == ("Retitled", 42)


def test_each_admin_save_records_a_revision_with_who_and_tags(editor_client, editor, health):
    """Saving in the admin stores a revision of title, body, tags, status and the editor."""
    article = ArticleFactory(category=health, author=editor)
    edit(editor_client, article, title="Second title", tags="sleep, rest")
    revision = ArticleRevision.objects.get(article=article)
    assert (revision.title, revision.tags, revision.status) == (
        "Second title",
        ["rest", "sleep"],
        Article.Status.PUBLISHED,
    )
    assert revision.created_by == editor
    assert revision.category == health


class _DiffReader(HTMLParser):
    """Read a revision page: per heading, the diff lines as shown, (sign, text).

    Text only screen readers get (class visually-hidden) is left out.
    """

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.fields: dict[str, list[tuple[str, str]]] = {}
        self._heading = None
        self._lines = None
        self._line = None
        self._open: list[set[str]] = []  # classes of the tags open in the current line

    def handle_starttag(self, tag, attrs):
        classes = set((dict(attrs).get("class") or "").split())
        if self._line is not None:
            self._open.append(classes)
        elif tag == "h2":
            self._heading = ""
        elif classes & {"diff-line", "diff-skip"} and self._lines is not None:
            self._line, self._open = ["", ""], [classes]

    def handle_endtag(self, tag):
        if self._line is not None:
            self._open.pop()
            if not self._open:
                self._lines.append(tuple(self._line))
                self._line = None
        elif tag == "h2" and self._heading is not None:
            self._lines = self.fields.setdefault(" ".join(self._heading.split()), [])
            self._heading = None

    def handle_data(self, data):
        if self._heading is not None:
            self._heading += data
        elif self._line is not None:
            classes = set().union(*self._open)
            if "visually-hidden" not in classes:
                self._line[0 if "diff-sign" in classes else 1] += data


def shown_diff(response) -> dict[str, list[tuple[str, str]]]:
    """Return the diff lines of each field heading of a revision page, as a reader sees them."""
    assert response.status_code == 200
    reader = _DiffReader()
    reader.feed(response.content.decode())
    return reader.fields


def revision_url(revision):
    return reverse("admin:articles_article_revision", args=[revision.article_id, revision.pk])


def test_revision_page_shows_a_readable_diff(editor_client, editor, health):
    """Comparing an old revision with the current article marks removed and added lines."""
    article = ArticleFactory(category=health, author=editor, body="Old line.\n\nShared line.\n")
    old = record_revision(article, user=editor)
    article.body = "New line.\n\nShared line.\n"
    article.save()

    response = editor_client.get(revision_url(old))
    assert shown_diff(response)["Body"] == [
        ("\u2212", "Old line."),
        ("+", "New line."),
        ("", ""),
        ("", "Shared line."),
    ]
    html = response.content.decode()
    assert '<span class="visually-hidden">Removed: </span>Old line.' in html
    assert '<span class="visually-hidden">Added: </span>New line.' in html
    assert "Restore this revision" in html
    history = editor_client.get(reverse("admin:articles_article_revisions", args=[article.pk]))
    assert revision_url(old) in history.content.decode()


def test_revision_diff_shows_changes_in_context_and_collapses_the_rest(
    editor_client, editor, health
):
    """Only three unchanged lines around each change are shown; longer runs are counted."""
    lines = [f"Line {n}." for n in range(1, 21)]
    article = ArticleFactory(category=health, author=editor, body="\n".join(lines))
    old = record_revision(article, user=editor)
    lines[9] = "Line ten, rewritten."
    lines.insert(12, "A line added after twelve.")
    article.body = "\n".join(lines)
    article.save()

    assert shown_diff(editor_client.get(revision_url(old)))["Body"] == [
        ("", "⋯ 6 unchanged lines"),
        ("", "Line 7."),
        ("", "Line 8."),
        ("", "Line 9."),
        ("\u2212", "Line 10."),
        ("+", "Line ten, rewritten."),
        ("", "Line 11."),
        ("", "Line 12."),
        ("+", "A line added after twelve."),
        ("", "Line 13."),
        ("", "Line 14."),
        ("", "Line 15."),
        ("", "⋯ 5 unchanged lines"),
    ]


def test_body_saved_again_from_a_browser_compares_as_unchanged(editor_client, editor, health):
    """A body the browser sends back with \\r\\n line endings is stored and compared as the same text."""
    body = "Intro.\n\n## Why it matters\n\nSome reasons."
    article = ArticleFactory(category=health, author=editor, body=body)
    imported = record_revision(article)
    form = open_form(editor_client, change_url(article))

    response = submit(
        editor_client,
        change_url(article),
        form,
        title="A clearer title",
        body=form["body"].replace("\n", "\r\n"),
    )

    assert response.status_code == 302
    article.refresh_from_db()
    assert article.body == body
    assert article.revisions.first().summary == "Title edited"
    diffs = shown_diff(editor_client.get(revision_url(imported)))
    assert diffs["Body (unchanged)"] == []
    assert diffs["Title"] == [("\u2212", imported.title), ("+", "A clearer title")]


def test_revision_stored_with_carriage_returns_compares_as_unchanged(editor_client, editor, health):
    """An older revision saved with \\r\\n line endings shows no change against the same text."""
    article = ArticleFactory(category=health, author=editor, body="One.\n\nTwo.\n")
    old = record_revision(article, user=editor)
    ArticleRevision.objects.filter(pk=old.pk).update(body="One.\r\n\r\nTwo.\r\n")

    assert shown_diff(editor_client.get(revision_url(old)))["Body (unchanged)"] == []


def test_revisions_page_says_what_each_save_changed(editor_client, editor, health):
    """Each revision in the list has a one-line summary of its changes since the one before."""
    add_article(editor_client, health, body="Intro.\n\nSystolic and diastolic.")
    article = Article.objects.get()
    edit(
        editor_client,
        article,
        status=Article.Status.IN_REVIEW,
        body="Intro.\n\nSystolic and diastolic.\n\nWhen to see a doctor.",
    )

    response = editor_client.get(reverse("admin:articles_article_revisions", args=[article.pk]))
    html = response.content.decode()
    assert "<th>Changes</th>" in html
    assert "<td>Status: Draft → In review · Body: +2/\u22120 lines</td>" in html
    assert "<td>Created</td>" in html
    assert html.index("Status: Draft → In review") < html.index("<td>Created</td>")


def test_restoring_a_revision_brings_it_back_and_records_a_new_one(editor_client, editor, health):
    """ "Restore this revision" puts the old text and tags back and is itself a revision."""
    article = ArticleFactory(category=health, author=editor, title="Original", tags=["sleep"])
    old = record_revision(article, user=editor)
    edit(editor_client, article, title="Rewritten", tags="stress")

    url = reverse("admin:articles_article_revision", args=[article.pk, old.pk])
    response = editor_client.post(url)

    assert response.status_code == 302
    article.refresh_from_db()
    assert article.title == "Original"
    assert list(article.tags.names()) == ["sleep"]
    assert article.revisions.count() == 3
    assert article.revisions.first().title == "Original"


def test_author_cannot_see_revisions_of_another_authors_article(client, editor, health):
    """Revisions of someone else's article are a 404 for an author."""
    article = ArticleFactory(category=health, author=editor)
    revision = record_revision(article, user=editor)
    client.force_login(StaffFactory(username="amelia", role="Authors"))
    url = reverse("admin:articles_article_revision", args=[article.pk, revision.pk])
    assert client.get(url).status_code == 404
    assert client.post(url).status_code == 404


# Admin actions -------------------------------------------------------------------


def run_action(client, action, articles, confirm=None, **fields):
    """Tick ``articles`` on the changelist and run ``action``; with ``confirm``, confirm it too.

    ``fields`` fill in the confirmation page's own form, such as the category to move to.
    """
    changelist = reverse(CHANGELIST)
    form = rendered_form(client.get(changelist), "changelist-form")
    form.set("action", action).set(ACTION_CHECKBOX_NAME, [a.pk for a in articles])
    response = client.post(changelist, form)
    if not confirm:
        return response
    confirmation = rendered_form(response, "action-confirmation")
    for name, value in fields.items():
        confirmation.set(name, value)
    return client.post(changelist, confirmation, follow=True)


def test_publish_now_asks_first_then_counts_what_changed(editor_client, health):
    """Publishing from the changelist shows a confirmation, then a message with the count."""
    drafts = ArticleFactory.create_batch(2, category=health, status=Article.Status.DRAFT)
    live = ArticleFactory(category=health)

    confirm = run_action(editor_client, "publish_now", [*drafts, live])
    assert confirm.status_code == 200
    assert "Publish these articles now?" in confirm.content.decode()
    assert Article.objects.published().count() == 1

    done = run_action(editor_client, "publish_now", [*drafts, live], confirm="yes")
    assert "2 articles published." in done.content.decode()
    assert Article.objects.published().count() == 3


def test_publish_now_skips_articles_that_need_a_reviewer(editor_client, health):
    """Articles in a review-required category without a reviewer are not published, and named."""
    health.requires_review = True
    health.save()
    unreviewed = ArticleFactory(category=health, status="draft", title="Unchecked claims")
    reviewed = ArticleFactory(category=health, status="draft", reviewed_by=ReviewerFactory())

    html = run_action(
        editor_client, "publish_now", [unreviewed, reviewed], confirm="yes"
    ).content.decode()

    assert "1 article published." in html
    assert "Unchecked claims" in html
    assert list(Article.objects.published()) == [reviewed]


def test_unpublish_and_archive_actions(editor_client, health):
    """Unpublish sends articles back to draft; archive archives them."""
    first, second = ArticleFactory.create_batch(2, category=health)
    html = run_action(editor_client, "unpublish", [first], confirm="yes").content.decode()
    assert "1 article unpublished." in html
    html = run_action(editor_client, "archive", [second], confirm="yes").content.decode()
    assert "1 article archived." in html
    statuses = dict(Article.objects.values_list("pk", "status"))
    assert statuses == {first.pk: "draft", second.pk: "archived"}


def test_move_to_category_asks_for_the_category(editor_client, health):
    """Moving articles shows a category choice, then moves them and says how many."""
    sleep = CategoryFactory(name="Sleep", slug="sleep")
    articles = ArticleFactory.create_batch(3, category=health)

    confirm = run_action(editor_client, "move_to_category", articles)
    assert 'name="category"' in confirm.content.decode()

    done = run_action(editor_client, "move_to_category", articles, confirm="yes", category=sleep.pk)
    assert "3 articles moved to Sleep." in done.content.decode()
    assert set(Article.objects.values_list("category__slug", flat=True)) == {"sleep"}
    assert ArticleRevision.objects.count() == 3


# Statistics and the admin index ---------------------------------------------------


def test_statistics_page_draws_views_and_lists_what_needs_attention(editor_client, health):
    """The statistics page has an SVG chart, the week's top articles and the waiting work."""
    today = timezone.now().date()
    top = ArticleFactory(category=health, title="Most read")
    DailyViews.objects.create(article=top, date=today, views=120)
    DailyViews.objects.create(article=top, date=today - dt.timedelta(days=20), views=30)
    ArticleFactory(category=health, status="in_review", title="Waiting for review")
    ArticleFactory(
        category=health,
        title="Coming soon",
        published_at=timezone.now() + dt.timedelta(days=2),
    )

    response = editor_client.get(reverse("admin:articles_article_statistics"))
    html = response.content.decode()

    assert response.status_code == 200
    assert "<svg" in html and "<script" not in html.split("<svg", 1)[1].split("</svg>")[0]
    assert "Views over the last 30 days: 150" in html
    assert "Most read" in html and "Waiting for review" in html and "Coming soon" in html


def test_admin_index_counts_reviews_due_and_links_statistics(editor_client, health, settings):
    """The admin index shows how many medical reviews are due."""
    settings.HEALTHHUB_REVIEW_INTERVAL_DAYS = 30
    reviewer = ReviewerFactory()
    ArticleFactory(
        category=health,
        reviewed_by=reviewer,
        last_reviewed=timezone.localdate() - dt.timedelta(days=40),
    )
    ArticleFactory(category=health, reviewed_by=reviewer, last_reviewed=timezone.localdate())

    html = editor_client.get(reverse("admin:index")).content.decode()

    assert "Medical reviews due" in html
    assert "<td>1</td>" in html
    assert reverse("admin:articles_article_statistics") in html


def test_review_overdue_filter_lists_articles_past_the_interval(editor_client, health, settings):
    """The changelist's "Review overdue" filter lists only reviews older than the interval."""
    settings.HEALTHHUB_REVIEW_INTERVAL_DAYS = 365
    reviewer = ReviewerFactory()
    ArticleFactory(
        category=health,
        title="Checked long ago",
        reviewed_by=reviewer,
        last_reviewed=timezone.localdate() - dt.timedelta(days=400),
    )
    ArticleFactory(
        category=health,
        title="Checked recently",
        reviewed_by=reviewer,
        last_reviewed=timezone.localdate() - dt.timedelta(days=10),
    )
    html = editor_client.get(reverse(CHANGELIST), {"review": "overdue"}).content.decode()
    assert "Checked long ago" in html
    assert "Checked recently" not in html


def test_change_form_shows_the_sparkline_grade_and_preview(editor_client, editor, health):
    """An article's change page has its 30-day sparkline, reading grade and a Preview link."""
    article = ArticleFactory(
        category=health,
        author=editor,
        status="draft",
        body="Physiological cardiovascular considerations necessitate comprehensive "
        "multidisciplinary evaluation of hypertensive individuals experiencing symptoms.",
    )
    DailyViews.objects.create(article=article, date=timezone.now().date(), views=7)
    html = editor_client.get(change_url(article)).content.decode()
    assert 'class="sparkline"' in html
    assert "7 views in the last 30 days" in html
    assert "readability-warning" in html
    assert f'href="{article.get_absolute_url()}"' in html and ">Preview<" in html


def test_a_save_the_form_check_missed_is_still_refused_by_the_update(
    editor_client, editor, health, monkeypatch
):
    """If the form's check misses a newer save, the UPDATE refuses and the form comes back."""
    article = ArticleFactory(category=health, author=editor, title="Original")
    form = open_form(editor_client, change_url(article))
    other = Article.objects.get(pk=article.pk)
    other.title = "Saved by someone else"
    other.save()
    real_check = ArticleAdminForm._check_version
    calls = []

    def miss_the_first_time(form, expected):
        calls.append(expected)
        if len(calls) > 1:
            real_check(form, expected)

    monkeypatch.setattr(ArticleAdminForm, "_check_version", miss_the_first_time)
    response = submit(editor_client, change_url(article), form, title="Mine")

    assert len(calls) == 2
    assert response.status_code == 200
    assert "Someone else saved this article" in response.content.decode()
    assert 'value="Mine"' in response.content.decode()
    assert Article.objects.get(pk=article.pk).title == "Saved by someone else"


# Saving through the rendered form ------------------------------------------------


def test_an_existing_article_saves_through_the_form_its_page_renders(client, health):
    """Authors and editors alike save an existing article with only what the page shows."""
    author = StaffFactory(username="amelia", role="Authors")
    for user, article in [
        (author, ArticleFactory(category=health, author=author, status="draft")),
        (StaffFactory(username="edith", role="Editors"), ArticleFactory(category=health)),
    ]:
        client.force_login(user)
        form = open_form(client, change_url(article))
        assert form["expected_version"] == str(article.version)
        assert submit(client, change_url(article), form, title="Saved again").status_code == 302
        article.refresh_from_db()
        assert (article.title, article.version) == ("Saved again", 2)


def test_a_refused_save_gives_the_author_their_editable_form_back(client, health):
    """An author whose "submit for review" meets a newer save keeps an editable form and text."""
    author = StaffFactory(username="amelia", role="Authors")
    draft = ArticleFactory(category=health, author=author, status="draft")
    client.force_login(author)
    form = open_form(client, change_url(draft))
    Article.objects.get(pk=draft.pk).save()  # someone else saves meanwhile

    response = submit(
        client, change_url(draft), form, status="in_review", body="My careful new paragraph."
    )

    html = response.content.decode()
    assert response.status_code == 200
    assert "Someone else saved this article" in html
    assert "<textarea" in html and "My careful new paragraph." in html
    assert "View article" not in html
    draft.refresh_from_db()
    assert draft.status == "draft"


def test_publishing_with_an_empty_publish_date_publishes_now(editor_client, health):
    """As the help text says, an empty publish date is set to now when publishing."""
    form = open_form(editor_client, reverse("admin:articles_article_add"))
    assert "Left empty, publishing sets it to now." in form_help(editor_client)
    before = timezone.now()
    response = submit(
        editor_client,
        reverse("admin:articles_article_add"),
        form,
        title="Fresh",
        slug="fresh",
        category=health.pk,
        body="Text.",
        status="published",
    )
    assert response.status_code == 302
    article = Article.objects.get(slug="fresh")
    assert before <= article.published_at <= timezone.now()
    assert Article.objects.published().filter(pk=article.pk).exists()


def form_help(client):
    return client.get(reverse("admin:articles_article_add")).content.decode()


# Rules every action keeps, and what the messages say ----------------------------


def test_move_to_category_refuses_published_articles_that_would_need_a_reviewer(
    editor_client, health
):
    """Moving a live article without a reviewer into a review-required category is refused."""
    clinic = CategoryFactory(name="Clinic", slug="clinic", requires_review=True)
    unreviewed = ArticleFactory(category=health, title="Unchecked claims")
    draft = ArticleFactory(category=health, status="draft", title="Still a draft")
    reviewed = ArticleFactory(category=health, reviewed_by=ReviewerFactory())

    html = run_action(
        editor_client,
        "move_to_category",
        [unreviewed, draft, reviewed],
        confirm="yes",
        category=clinic.pk,
    ).content.decode()

    assert "2 articles moved to Clinic." in html
    assert "Not moved: published articles in “Clinic” need a medical reviewer" in html
    assert "“Unchecked claims”" in html
    unreviewed.refresh_from_db()
    assert unreviewed.category == health


def test_an_action_that_changes_nothing_is_a_warning(editor_client, health):
    """ "0 articles published." is shown as a warning, not a success."""
    health.requires_review = True
    health.save()
    unreviewed = ArticleFactory(category=health, status="draft")

    response = run_action(editor_client, "publish_now", [unreviewed], confirm="yes")

    levels = {m.message: m.level_tag for m in response.context["messages"]}
    assert levels["0 articles published."] == "warning"


def test_scheduled_articles_have_a_filter_and_a_link_from_the_index(editor_client, health):
    """The index's scheduled count links to the changelist's "Scheduled" filter, which lists them."""
    ArticleFactory(category=health, title="Coming soon", published_at=timezone.now() + DAY)
    ArticleFactory(category=health, title="Already live")

    index = editor_client.get(reverse("admin:index")).content.decode()
    link = f'{reverse(CHANGELIST)}?status=scheduled">Scheduled articles</a>'
    assert link in index
    html = editor_client.get(reverse(CHANGELIST), {"status": "scheduled"}).content.decode()
    assert "Coming soon" in html and "Already live" not in html
    live = editor_client.get(reverse(CHANGELIST), {"status": "published"}).content.decode()
    assert "Already live" in live and "Coming soon" not in live


DAY = dt.timedelta(days=1)


def test_restoring_a_published_revision_does_not_publish_an_authors_draft(client, health):
    """An author restoring a revision saved while live gets its text back, still as a draft."""
    author = StaffFactory(username="amelia", role="Authors")
    article = ArticleFactory(category=health, author=author, title="Live wording")
    live = record_revision(article, user=author)
    Article.objects.filter(pk=article.pk).update(status="draft", title="Draft wording")
    client.force_login(author)

    url = reverse("admin:articles_article_revision", args=[article.pk, live.pk])
    assert client.post(url).status_code == 302

    article.refresh_from_db()
    assert (article.title, article.status) == ("Live wording", "draft")
    assert not Article.objects.published().exists()


def test_restoring_into_a_category_that_needs_review_is_refused_for_a_live_article(
    editor_client, editor, health
):
    """Restoring a revision's category must not leave a live article without its review."""
    clinic = CategoryFactory(name="Clinic", slug="clinic", requires_review=True)
    article = ArticleFactory(category=clinic, author=editor, reviewed_by=ReviewerFactory())
    old = record_revision(article, user=editor)
    Article.objects.filter(pk=article.pk).update(category=health, reviewed_by=None)

    url = reverse("admin:articles_article_revision", args=[article.pk, old.pk])
    response = editor_client.post(url, follow=True)

    assert "need a medical reviewer" in response.content.decode()
    article.refresh_from_db()
    assert article.category == health
