import datetime as dt
import re
from urllib.robotparser import RobotFileParser

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from articles import search
from articles.models import Article
from articles.search import fts5_query, normalize_query, search_articles, snippet_html
from tests.factories import ArticleFactory, CategoryFactory, UserFactory
from tests.test_structured_data import json_ld, of_type

pytestmark = pytest.mark.django_db


def result_titles(html: str) -> list[str]:
    """Return the titles of the search results, in page order."""
    return re.findall(r'class="card__title"><a href="[^"]+">([^<]+)</a>', html)


def snippets(html: str) -> list[str]:
    """Return the snippets of the search results as HTML, in page order."""
    return re.findall(r'<p class="card__excerpt">(.*?)</p>', html, re.S)


def search_page(client, query: str) -> str:
    response = client.get("/search/", {"q": query})
    assert response.status_code == 200
    return response.content.decode()


def found(query: str) -> list[str]:
    return [article.title for article in search_articles(query)]


def filler(count: int = 4) -> None:
    """Add articles that match nothing, as a real corpus has (bm25 needs them)."""
    for _ in range(count):
        ArticleFactory(title="Unrelated notes", excerpt="Nothing here.", body="Plain text.")


def assert_index_matches_articles() -> None:
    """Fail unless the search index holds exactly the articles' current text."""
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            # Raises "database disk image is malformed" on any difference.
            cursor.execute(
                "INSERT INTO articles_article_fts (articles_article_fts, rank) "
                "VALUES ('integrity-check', 1)"
            )
        else:
            cursor.execute(
                """
                SELECT count(*) FROM articles_article WHERE search_vector IS DISTINCT FROM (
                    setweight(to_tsvector('english', title), 'A')
                    || setweight(to_tsvector('english', excerpt), 'B')
                    || setweight(to_tsvector('english', body), 'C')
                )
                """
            )
            assert cursor.fetchone() == (0,)


# Finding -----------------------------------------------------------------


def test_finds_an_article_by_a_word_only_in_its_body(client):
    """An article is found by a word that appears only in its body."""
    ArticleFactory(title="Evening routines", body="A warm bath and some melatonin can help.")
    filler()

    html = search_page(client, "melatonin")

    assert result_titles(html) == ["Evening routines"]


def test_title_matches_rank_above_body_only_matches(client):
    """An older article with the word in its title ranks above a newer one with it only in the body."""
    now = timezone.now()
    ArticleFactory(title="Hydration basics", published_at=now - dt.timedelta(days=30))
    ArticleFactory(
        title="Summer tips",
        body="Shade, sunscreen and hydration all matter.",
        published_at=now - dt.timedelta(days=1),
    )
    filler()

    assert result_titles(search_page(client, "hydration")) == ["Hydration basics", "Summer tips"]


@pytest.mark.parametrize(
    ("text", "query"),
    [
        ("Good sleep matters.", "sleeping"),
        ("Sleeping well matters.", "sleep"),
        ("She walks every day.", "walking"),
        ("Nutrition labels explained.", "NUTRITION"),
    ],
)
def test_finds_other_forms_of_a_word(client, text, query):
    """Searching finds the same word stemmed or in another case."""
    ArticleFactory(title="The article", body=text)
    filler()

    assert result_titles(search_page(client, query)) == ["The article"]


def test_quoted_phrase_requires_the_words_together(client):
    """A quoted phrase finds only the articles with those words side by side."""
    ArticleFactory(title="Together", body="Check your blood pressure yearly.")
    ArticleFactory(title="Apart", body="Blood tests and pressure readings differ.")
    filler()

    assert result_titles(search_page(client, '"blood pressure"')) == ["Together"]
    assert sorted(result_titles(search_page(client, "blood pressure"))) == ["Apart", "Together"]


def test_every_word_must_match_but_stop_words_are_ignored(client):
    """All the words of a query must appear, except common words such as "how" and "to"."""
    ArticleFactory(title="Both", body="Fibre and water help digestion.")
    ArticleFactory(title="One", body="Water is good for you.")
    filler()

    assert result_titles(search_page(client, "fibre water")) == ["Both"]
    assert result_titles(search_page(client, "the fibre and the water")) == ["Both"]
    assert result_titles(search_page(client, "the")) == []


def test_finds_words_in_other_scripts(client):
    """A word in a non-Latin script is found like any other."""
    ArticleFactory(title="Arabic", body="النوم مهم جدا للصحة")
    filler()

    assert result_titles(search_page(client, "النوم")) == ["Arabic"]


@pytest.mark.parametrize(
    "state",
    [
        {"status": Article.Status.DRAFT, "published_at": None},
        {"published_at": timezone.now() + dt.timedelta(days=2)},
    ],
    ids=["draft", "scheduled"],
)
def test_unpublished_articles_never_appear(client, state):
    """Drafts and articles scheduled for later are never found."""
    ArticleFactory(title="Public sleep guide")
    ArticleFactory(title="Hidden sleep guide", **state)

    assert result_titles(search_page(client, "sleep")) == ["Public sleep guide"]
    assert found("sleep") == ["Public sleep guide"]


# The page ------------------------------------------------------------------


def test_page_shows_the_result_count_and_each_result(client):
    """The page says how many articles matched and links each one's category and page."""
    category = CategoryFactory(name="Rest", slug="rest")
    article = ArticleFactory(title="Sleep and mood", category=category)
    ArticleFactory.create_batch(2, body="Sleep is important.")
    filler()

    html = search_page(client, "sleep")

    assert "3 results for “sleep”" in html
    assert f'<a href="{article.get_absolute_url()}">Sleep and mood</a>' in html
    assert '<a href="/rest/">Rest</a>' in html
    assert f'datetime="{article.published_at.isoformat()}"' in html
    assert "1 result for “mood”" in search_page(client, "mood")


def test_no_results_shows_a_message(client):
    """A query that matches nothing says so."""
    filler()

    html = search_page(client, "xylophone")

    assert "0 results for “xylophone”" in html
    assert "No articles match “xylophone”" in html


@pytest.mark.parametrize("params", [{}, {"q": ""}, {"q": "   "}, {"q": "\x00"}])
def test_empty_query_shows_the_empty_state_without_searching(client, params):
    """Without a query the page invites one and runs no search."""
    ArticleFactory(title="Sleep guide")

    with CaptureQueriesContext(connection) as queries:
        response = client.get("/search/", params)
    html = response.content.decode()

    assert response.status_code == 200
    assert "Type a word or phrase" in html
    assert "<title>Search | HealthHub</title>" in html
    assert result_titles(html) == []
    assert not [q for q in queries if "articles_article" in q["sql"]]


def test_page_is_not_indexed_by_search_engines(client):
    """The search page asks robots not to index it, exactly once."""
    html = search_page(client, "sleep")

    assert html.count('<meta name="robots" content="noindex">') == 1
    assert "<title>Search results for “sleep” | HealthHub</title>" in html


def test_crawlers_may_fetch_the_search_page_and_so_read_its_noindex(client):
    """robots.txt lets crawlers follow the home page's SearchAction to a noindex page."""
    robots = RobotFileParser()
    robots.parse(client.get("/robots.txt").content.decode().splitlines())
    website = of_type(json_ld(client.get("/").content.decode()), "WebSite")
    template = website["potentialAction"]["target"]["urlTemplate"]
    url = template.replace("{search_term_string}", "sleep")

    assert url == "http://testserver/search/?q=sleep"
    assert robots.can_fetch("Googlebot", url)
    assert not robots.can_fetch("Googlebot", "http://testserver/admin/")
    assert '<meta name="robots" content="noindex">' in client.get(url).content.decode()


def test_query_is_echoed_escaped(client):
    """Markup typed into the query is shown as text everywhere the query appears."""
    html = search_page(client, '<script>alert("x")</script>')

    assert "<script>alert" not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html
    assert 'value="&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;"' in html


def test_snippet_highlights_matches_and_escapes_the_body(client):
    """The snippet marks the matched words, shows the body's markup as text, and drops Markdown marks."""
    ArticleFactory(
        title="Evening",
        body="## Wind down\n\nAvoid <script>alert(1)</script> screens: 5 < 6 & **before sleep** too.",
    )
    filler()

    (snippet,) = snippets(search_page(client, "sleep"))

    # PostgreSQL's headline leaves tags out; SQLite's keeps them as text.
    assert re.sub(r"&lt;/?script&gt;", "", snippet) == (
        "Wind down Avoid alert(1) screens: 5 &lt; 6 &amp; before <mark>sleep</mark> too."
    )


def test_snippet_falls_back_to_the_excerpt_when_the_body_does_not_match(client):
    """An article matched by its title or excerpt shows its excerpt, highlighted."""
    ArticleFactory(title="Naps", excerpt="Short naps & better sleep.", body="Twenty minutes.")
    filler()

    assert snippets(search_page(client, "sleep")) == ["Short naps &amp; better <mark>sleep</mark>."]


@pytest.mark.parametrize(
    ("headline", "html"),
    [
        ("a \x02b\x03 c", "a <mark>b</mark> c"),
        ("<b>&</b> \x02x", "&lt;b&gt;&amp;&lt;/b&gt; <mark>x</mark>"),
        ("stray\x03 end \x02\x02y\x03\x03", "stray end <mark>y</mark>"),
        ("[\x02Sleep\x03 tips](https://example.com) *now*", "<mark>Sleep</mark> tips now"),
        ("# Title\n\n> quote\n- item\n`code`", "Title quote item code"),
    ],
)
def test_snippet_html_is_escaped_and_well_formed(headline, html):
    """Only highlight delimiters become markup, and every <mark> is closed."""
    assert snippet_html(headline) == html


# Hostile input ---------------------------------------------------------------

HOSTILE_QUERIES = {
    "long-word": "a" * 10_000,
    "long-quotes": '"' * 10_000,
    "sql-or": "' OR 1=1 --",
    "sql-drop": '"; DROP TABLE articles_article; --',
    "html": "<img src=x onerror=alert(1)>",
    "lone-double-quote": '"',
    "lone-single-quote": "'",
    "open-paren": "(sleep",
    "close-paren": "sleep)",
    "parens": "((sleep) AND (rest",
    "near": "NEAR(sleep rest, 2)",
    "and-or-not": "sleep AND OR NOT rest",
    "star": "sle*",
    "caret": "^sleep",
    "minus": "-sleep",
    "column": "title:sleep",
    "colon": ":",
    "braces": "{title body}: sleep",
    "plus": "+sleep",
    "arabic": "النوم الجيد",
    "emoji": "😴 sleep 🛌",
    "combining": "e\u0301\u0301\u0301 s\u0308leep",
    "zero-width": "sle\u200bep",
    "nul": "sleep\x00rest",
    "control": "sleep\x1b[0m\x07",
    "tsquery": "sleep & !rest | (a <-> b):*",
}


@pytest.mark.parametrize("query", HOSTILE_QUERIES.values(), ids=HOSTILE_QUERIES.keys())
def test_hostile_query_is_answered_normally(client, query):
    """No query, however odd, makes the search fail."""
    ArticleFactory(title="Sleep and rest", body="Sleep well. Rest often.")
    filler()

    response = client.get("/search/", {"q": query})

    assert response.status_code == 200
    assert Article.objects.count() == 5


def test_percent_encoded_nul_is_answered_normally(client):
    """A NUL byte in the raw query string is dropped, not passed to the database."""
    response = client.get("/search/?q=%00")

    assert response.status_code == 200
    assert "Type a word or phrase" in response.content.decode()


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("sleep", '"sleep"'),
        ("sleep well", '"sleep" AND "well"'),
        ('"blood pressure" diet', '"blood pressure" AND "diet"'),
        ('"blood pressure', '"blood pressure"'),
        ("NEAR(a b)", '"NEAR(a" AND "b)"'),
        ("title:sleep*", '"title:sleep*"'),
        ("how to sleep", '"sleep"'),
        ("the and or", ""),
        ("*** ^ : -", ""),
        ('say ""hi""', '"say" AND "hi"'),
    ],
)
def test_fts5_query_quotes_every_term(query, expected):
    """User input reaches FTS5 only as quoted terms and phrases, all required."""
    assert fts5_query(query) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("  sleep \t\n well  ", "sleep well"),
        ("sle\x00ep\x7f", "sleep"),
        ("\x1b[31mred", "[31mred"),
        ("cafe\u0301", "café"),
        ("a" * 500, "a" * 200),
        ("word " * 60, ("word " * 40).strip()),
    ],
)
def test_normalize_query(raw, expected):
    """Queries lose control characters, repeated spaces and excess length."""
    assert normalize_query(raw) == expected


# Pagination and cost -----------------------------------------------------------


def test_results_are_paginated_and_keep_the_query(client):
    """Twelve results fit on a page; the links to other pages keep the query."""
    ArticleFactory.create_batch(13, body="Sleep matters.")

    first = search_page(client, "sleep")
    response = client.get("/search/", {"q": "sleep", "page": 2})

    assert len(result_titles(first)) == 12
    assert 'href="/search/?q=sleep&amp;page=2"' in first
    assert response.status_code == 200
    assert len(result_titles(response.content.decode())) == 1


@pytest.mark.parametrize("page", ["abc", "0", "3", "99999"])
def test_bad_page_number_is_404(client, page):
    """A page number that does not exist is not found."""
    ArticleFactory.create_batch(13, body="Sleep matters.")

    assert client.get("/search/", {"q": "sleep", "page": page}).status_code == 404


def test_search_query_budget(client, django_assert_max_num_queries):
    """A page of results costs a fixed, small number of queries."""
    for index in range(15):
        ArticleFactory(body="Sleep matters.", category=CategoryFactory(slug=f"topic-{index}"))

    with django_assert_max_num_queries(4):
        html = search_page(client, "sleep")

    assert len(result_titles(html)) == 12


@pytest.mark.skipif(connection.vendor != "sqlite", reason="an FTS5 query plan")
def test_sqlite_queries_the_index_once_per_search():
    """SQLite reads matches from FTS5 first instead of probing it once per article."""
    ArticleFactory.create_batch(3, body="Sleep matters.")
    sql, params = search_articles("sleep")[:12].query.sql_with_params()

    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN QUERY PLAN {sql}", params)
        plan = [row[-1] for row in cursor.fetchall()]

    assert plan[0].startswith("SCAN articles_article_fts VIRTUAL TABLE")
    # FTS5 itself skips the matches older than the ranked ones (a rowid lower bound).
    assert plan[0].endswith(">")
    assert "SEARCH articles_article USING INTEGER PRIMARY KEY (rowid=?)" in plan


# The index stays current -----------------------------------------------------------


def test_index_follows_edits_saved_through_the_model():
    """Saving an article with a new body re-indexes it at once."""
    article = ArticleFactory(title="Fruit", body="Apples every day.")
    filler()
    assert found("apples") == ["Fruit"]

    article.body = "Oranges every day."
    article.save()

    assert found("apples") == []
    assert found("oranges") == ["Fruit"]
    assert_index_matches_articles()


def test_index_follows_bulk_writes_that_bypass_save():
    """Queryset updates, bulk inserts and deletes keep the index current (triggers, not signals)."""
    article = ArticleFactory(title="Fruit", body="Apples every day.")
    filler()

    Article.objects.filter(pk=article.pk).update(title="Kiwi facts", excerpt="Kiwi.")
    Article.objects.bulk_create(
        [
            Article(
                title="Imported",
                slug="imported",
                category=article.category,
                author=UserFactory(),
                body="Pears are imported.",
                status=Article.Status.PUBLISHED,
                published_at=timezone.now(),
            )
        ]
    )
    Article.objects.filter(title="Unrelated notes").first().delete()

    assert found("kiwi") == ["Kiwi facts"]
    assert found("pears") == ["Imported"]
    assert_index_matches_articles()


def test_counting_a_view_leaves_the_index_alone():
    """The view counter's update does not touch the indexed text."""
    article = ArticleFactory(title="Sleep guide")

    Article.objects.filter(pk=article.pk).update(view_count=7)

    assert found("sleep") == ["Sleep guide"]
    assert_index_matches_articles()


def test_search_index_triggers_exist_after_all_migrations():
    """The index triggers survive every migration (SQLite drops them when a table is rebuilt)."""
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")
            expected = {
                "articles_article_fts_insert",
                "articles_article_fts_delete",
                "articles_article_fts_update",
            }
        else:
            cursor.execute(
                "SELECT tgname FROM pg_trigger WHERE tgrelid = 'articles_article'::regclass "
                "UNION SELECT indexname FROM pg_indexes WHERE tablename = 'articles_article'"
            )
            expected = {
                "articles_article_search_vector_update",
                "articles_article_search_vector_idx",
            }
        names = {row[0] for row in cursor.fetchall()}

    assert expected <= names


def test_repeated_search_is_answered_from_cache(client, django_assert_num_queries):
    """The same search a second time is served from cache without a query."""
    ArticleFactory(title="Sleep and mood")
    first = client.get("/search/?q=sleep")
    with django_assert_num_queries(0):
        assert client.get("/search/?q=sleep").content == first.content
    assert "1 result" in first.content.decode()


def test_a_word_in_many_articles_ranks_only_the_newest_matches(client, monkeypatch):
    """Past MAX_RANKED matches, the newest are ranked and the page says so."""
    monkeypatch.setattr(search, "MAX_RANKED", 3)
    oldest = [ArticleFactory(title=f"Old {n}", body="Sleep sleep sleep.") for n in range(2)]
    newest = [ArticleFactory(title=f"New {n}", body="Sleep matters.") for n in range(3)]
    ArticleFactory(title="Elsewhere", body="Nothing to see.")

    html = search_page(client, "sleep")

    assert sorted(result_titles(html)) == sorted(article.title for article in newest)
    assert "More than 3 articles match “sleep”" in html
    assert "best matches among the 3 most recent" in html
    assert {article.search_ranked_after for article in search_articles("sleep")} == {oldest[-1].pk}


def test_a_word_in_few_articles_ranks_every_match(client, monkeypatch):
    """Up to MAX_RANKED matches, every one is ranked and the count is exact."""
    monkeypatch.setattr(search, "MAX_RANKED", 3)
    for n in range(3):
        ArticleFactory(title=f"Sleep {n}", body="Sleep matters.")

    html = search_page(client, "sleep")

    assert len(result_titles(html)) == 3
    assert "3 results for “sleep”" in html
    assert "most recent" not in html
