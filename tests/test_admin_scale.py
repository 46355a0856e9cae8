"""The article admin at scale: query budgets, search through the full-text index, light rows."""

import datetime as dt

import pytest
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from taggit.models import Tag, TaggedItem

from articles import services
from articles.models import Article, DailyViews
from tests.factories import ArticleFactory, ReviewerFactory, StaffFactory, UserFactory

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/articles/article/"


def add_articles(count, category, *, start=0):
    """Create ``count`` more articles in bulk: tagged, some reviewed, with a week of views."""
    author = UserFactory()
    reviewer = ReviewerFactory()
    now = timezone.now()
    articles = services.bulk_create_articles(
        [
            Article(
                title=f"Sleep and stress, part {n}",
                slug=f"scaled-{n}",
                category=category,
                author=author,
                excerpt="A short summary.",
                body=f"Notes on sleep number {n}.\n\n## More\n\nAbout stress.\n",
                status=Article.Status.DRAFT if n % 7 == 0 else Article.Status.PUBLISHED,
                published_at=now - dt.timedelta(hours=n + 1),
                reviewed_by=reviewer if n % 3 == 0 else None,
                last_reviewed=(now - dt.timedelta(days=400)).date() if n % 3 == 0 else None,
            )
            for n in range(start, start + count)
        ]
    )
    tag, _created = Tag.objects.get_or_create(name="sleep", slug="sleep")
    content_type = ContentType.objects.get_for_model(Article)
    TaggedItem.objects.bulk_create(
        [TaggedItem(tag=tag, content_type=content_type, object_id=a.pk) for a in articles]
    )
    today = now.date()
    DailyViews.objects.bulk_create(
        [
            DailyViews(article=a, date=today - dt.timedelta(days=day), views=day + 1)
            for a in articles
            for day in range(3)
        ]
    )
    return articles


def admin_pages(article, tag):
    """Return the admin pages whose number of queries must not grow with the articles."""
    # As the publish-date filter's own links give them: midnight, local time.
    today = timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0)
    return {
        "changelist": (CHANGELIST, {}),
        "never reviewed": (CHANGELIST, {"review": "never"}),
        "review overdue": (CHANGELIST, {"review": "overdue"}),
        "draft": (CHANGELIST, {"status": "draft"}),
        "scheduled": (CHANGELIST, {"status": "scheduled"}),
        "tag": (CHANGELIST, {"tags__id__exact": tag.pk}),
        "deep page": (CHANGELIST, {"p": Article.objects.count() // 100 or 1}),
        "search": (CHANGELIST, {"q": "sleep"}),
        "search, slug": (CHANGELIST, {"q": article.slug}),
        "publish date": (
            CHANGELIST,
            {
                "published_at__gte": str(today - dt.timedelta(days=7)),
                "published_at__lt": str(today + dt.timedelta(days=1)),
            },
        ),
        "change form": (reverse("admin:articles_article_change", args=[article.pk]), {}),
        "revisions": (reverse("admin:articles_article_revisions", args=[article.pk]), {}),
        "statistics": (reverse("admin:articles_article_statistics"), {}),
        "index": (reverse("admin:index"), {}),
    }


# The most queries each page may run, whatever the number of articles.
BUDGETS = {
    "changelist": 9,
    "never reviewed": 9,
    "review overdue": 10,
    "draft": 9,
    "scheduled": 9,
    "tag": 9,
    "deep page": 9,
    "search": 10,
    "search, slug": 10,
    "publish date": 9,
    # With the person's autosave and the review conversation, one query each.
    "change form": 15,
    "revisions": 6,
    "statistics": 15,
    "index": 10,
}


@pytest.mark.parametrize("page", BUDGETS)
def test_admin_page_queries_do_not_grow_with_the_number_of_articles(
    editor_client, editor, health, django_assert_max_num_queries, page
):
    """Each admin page runs as many queries with 300 articles as with 30, within its budget."""
    first = add_articles(30, health)
    services.record_revision(first[0], user=editor)
    tag = Tag.objects.get(slug="sleep")
    counts = []
    for more in (0, 270):
        add_articles(more, health, start=30)
        url, params = admin_pages(first[0], tag)[page]
        with (
            django_assert_max_num_queries(BUDGETS[page]),
            CaptureQueriesContext(connection) as queries,
        ):
            response = editor_client.get(url, params)
        assert response.status_code == 200, (page, response.status_code)
        counts.append(len(queries))
    # One more at most: one page of results loads as one query, several as two.
    assert counts[1] <= counts[0] + 1, counts


def test_changelist_does_not_load_article_bodies(editor_client, health):
    """The changelist shows its columns without selecting the body, its HTML or its contents."""
    add_articles(150, health)
    for params in ({}, {"q": "sleep"}, {"p": 2}):
        with CaptureQueriesContext(connection) as queries:
            response = editor_client.get(CHANGELIST, params)
        assert response.status_code == 200
        assert "Sleep and stress, part" in response.content.decode()
        selected = " ".join(q["sql"] for q in queries if q["sql"].startswith("SELECT"))
        assert "body_html" not in selected
        assert '"toc"' not in selected
        assert '"articles_article"."body"' not in selected


def test_change_form_still_loads_the_body(editor_client, health):
    """The change form, unlike the changelist, shows the article's whole body."""
    article = ArticleFactory(category=health, body="Text about *magnesium* and sleep.")
    response = editor_client.get(reverse("admin:articles_article_change", args=[article.pk]))
    assert "Text about *magnesium* and sleep." in response.content.decode()


def titles_listed(response):
    """Return the article titles of a changelist page, in order."""
    html = response.content.decode()
    titles = Article.objects.values_list("title", flat=True)
    found = [(html.find(f">{title}<"), title) for title in titles]
    return [title for position, title in sorted(found) if position >= 0]


def test_admin_search_finds_a_body_word_through_the_full_text_index(editor_client, health):
    """A word from the body finds the article, stemmed as the public search stems it."""
    ArticleFactory(category=health, title="Hidden gem", body="We talk about sleeping well.")
    ArticleFactory(category=health, title="Other piece", body="Nothing related.")
    response = editor_client.get(CHANGELIST, {"q": "sleep"})
    assert titles_listed(response) == ["Hidden gem"]


def test_admin_search_finds_drafts(editor_client, health):
    """Editors find unpublished articles too, which the public search never shows."""
    ArticleFactory(category=health, title="Draft on iron", status=Article.Status.DRAFT)
    ArticleFactory(category=health, title="Live piece")
    response = editor_client.get(CHANGELIST, {"q": "iron"})
    assert titles_listed(response) == ["Draft on iron"]


def test_admin_search_finds_an_exact_slug_and_an_id(editor_client, health):
    """An article's exact slug or id finds that article, first."""
    wanted = ArticleFactory(category=health, title="Wanted", slug="blood-pressure-basics")
    ArticleFactory(category=health, title="Mentions it", body="See blood-pressure-basics.")
    ArticleFactory(category=health, title="Unrelated")
    by_slug = titles_listed(editor_client.get(CHANGELIST, {"q": "blood-pressure-basics"}))
    assert by_slug[0] == "Wanted"
    assert "Unrelated" not in by_slug
    assert titles_listed(editor_client.get(CHANGELIST, {"q": str(wanted.pk)})) == ["Wanted"]


def test_admin_search_ranks_a_title_match_first(editor_client, health):
    """An article with the word in its title comes before newer ones with it in the body only."""
    now = timezone.now()
    ArticleFactory(
        category=health,
        title="Iron in the body",
        body="Some text.",
        published_at=now - dt.timedelta(days=30),
    )
    for n in range(3):
        ArticleFactory(
            category=health,
            title=f"Newer piece {n}",
            body="A word on iron.",
            published_at=now - dt.timedelta(days=n),
        )
    listed = titles_listed(editor_client.get(CHANGELIST, {"q": "iron"}))
    assert listed[0] == "Iron in the body"
    assert len(listed) == 4


def test_author_search_finds_only_their_own_articles(client, health):
    """An author's search keeps to the articles the author may see."""
    author = StaffFactory(role="Authors")
    ArticleFactory(category=health, title="My iron draft", author=author)
    ArticleFactory(category=health, title="Someone's iron piece")
    client.force_login(author)
    assert titles_listed(client.get(CHANGELIST, {"q": "iron"})) == ["My iron draft"]


@pytest.mark.parametrize(
    "term",
    [
        '"',
        "'",
        '"unclosed phrase',
        'iron" OR "sleep',
        "title: iron",
        "{title body}: iron",
        "NEAR(iron sleep)",
        "iron*",
        "^iron",
        "-iron",
        "iron AND",
        "( ) ( )",
        "!!!",
        "%_%",
        "\\",
        "a\x00b",
        "iron\x00",
        "the and of",
        "iron " * 2500,
        "x" * 10_000,
        "9" * 40,
        "-1",
        "١٢٣",
    ],
)
def test_hostile_admin_search_input_never_fails(editor_client, health, term):
    """Quotes, FTS operators, NUL, huge numbers and 10 KB terms give a page, never an error."""
    ArticleFactory(category=health, title="Iron and sleep")
    response = editor_client.get(CHANGELIST, {"q": term})
    assert response.status_code == 200
    assert "Search" in response.content.decode() or "search" in response.content.decode()


def test_statistics_lists_the_week_top_articles(editor_client, health):
    """The statistics page ranks articles by their views over the last week."""
    popular = ArticleFactory(category=health, title="Popular piece")
    quiet = ArticleFactory(category=health, title="Quiet piece")
    today = timezone.now().date()
    DailyViews.objects.create(article=popular, date=today, views=90)
    DailyViews.objects.create(article=quiet, date=today, views=4)
    DailyViews.objects.create(article=quiet, date=today - dt.timedelta(days=30), views=500)
    html = editor_client.get(reverse("admin:articles_article_statistics")).content.decode()
    assert html.index("Popular piece") < html.index("Quiet piece")
    assert ">90<" in html
    assert ">4<" in html
