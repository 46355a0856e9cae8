"""Full-text search over the published articles.

The index lives in the database and is kept current by triggers (see
migration 0002_search): on PostgreSQL a weighted ``search_vector`` tsvector
column with a GIN index, on SQLite an FTS5 external-content table. Neither is
a model field, so article pages never load it.
"""

import re
import unicodedata

from django.contrib.postgres.search import (
    SearchHeadline,
    SearchQuery,
    SearchRank,
    SearchVectorExact,
    SearchVectorField,
)
from django.db import NotSupportedError, connection
from django.db.models import Case, Expression, IntegerField, Q, QuerySet, Subquery, Value, When
from django.db.models.expressions import RawSQL
from django.db.models.functions import Coalesce
from django.db.models.query import ModelIterable
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from articles.models import Article

MAX_QUERY_LENGTH = 200
SEARCH_CONFIG = "english"
FTS_TABLE = "articles_article_fts"
SNIPPET_WORDS = 30
# A word found in nearly every article would otherwise have every match
# ranked, and on SQLite every matching row read, on each search: work that
# grows with the site. Only the newest matches are ranked, those with an id
# above the one of the (MAX_RANKED + 1)-th newest match, which both indexes
# find by walking from their newest end.
MAX_RANKED = 1000

# Highlight delimiters no article contains in practice; the snippet is escaped
# with them in place and only then are they turned into <mark> elements.
START, STOP = "\x02", "\x03"

# Runs of letters and digits: what both PostgreSQL's parser and FTS5's
# unicode61 tokenizer index. A query without any has nothing to look for.
_WORD = re.compile(r"[^\W_]+")
# A quoted phrase (a missing closing quote runs to the end) or a bare word.
_QUERY_PART = re.compile(r'"([^"]*)(?:"|$)|([^\s"]+)')
_HIGHLIGHT = re.compile(f"([{START}{STOP}])")
_MARKDOWN = [
    (re.compile(r"!?\[([^\]]*)\]\([^)]*\)"), r"\1"),  # links and images keep their text
    (re.compile(r"(?m)^[ \t]*(?:#{1,6}|>|[-+*])[ \t]+"), ""),  # heading, quote and list markers
    (re.compile(r"#{1,6}[ \t]+|[*`]+|__+|~~+"), ""),  # what is left of headings and emphasis
]

# PostgreSQL's "english" stop words. FTS5 indexes every word, so without them
# "how to sleep" would demand "how" and "to" on SQLite but not on PostgreSQL.
STOP_WORDS = frozenset(
    """
    i me my myself we our ours ourselves you your yours yourself yourselves he him his himself
    she her hers herself it its itself they them their theirs themselves what which who whom
    this that these those am is are was were be been being have has had having do does did
    doing a an the and but if or because as until while of at by for with about against between
    into through during before after above below to from up down in out on off over under
    again further then once here there when where why how all any both each few more most other
    some such no nor not only own same so than too very s t can will just don should now
    """.split()  # noqa: SIM905 (reads better as text)
)


def normalize_query(raw: str) -> str:
    """Return ``raw`` without control characters, with single spaces, and not too long."""
    text = unicodedata.normalize("NFC", raw)
    text = "".join(
        char for char in text if char.isspace() or unicodedata.category(char) not in {"Cc", "Cs"}
    )
    return " ".join(text.split())[:MAX_QUERY_LENGTH].rstrip()


def search_articles(query: str) -> QuerySet[Article]:
    """Return the published articles matching ``query``, best match first.

    Each article carries ``search_snippet``: HTML-safe text from the body (or,
    when the body does not match, the excerpt) with the matches in <mark>,
    and ``search_ranked_after``: 0, or when more than MAX_RANKED articles
    match, the id above which the newest matches were ranked.
    """
    query = normalize_query(query)
    articles = Article.objects.published().for_listing()
    if not _WORD.search(query):
        return articles.none()
    if connection.vendor == "postgresql":
        results = _search_postgresql(articles, query)
    elif connection.vendor == "sqlite":
        fts_query = fts5_query(query)
        if not fts_query:
            return articles.none()
        results = _search_sqlite(articles, fts_query)
    else:
        raise NotSupportedError("Article search needs PostgreSQL or SQLite.")
    results = results.order_by("-search_rank", "-published_at", "-pk")
    # Snippets are escaped in Python, so they are built as the rows are read.
    results._iterable_class = _SearchResultIterable
    return results


def fts5_query(query: str) -> str:
    """Return ``query`` as an FTS5 expression: every word and phrase quoted, all required.

    No operator, column filter or prefix syntax can pass through, so no input
    is an FTS5 syntax error. Stop words and parts without letters or digits
    are left out, as PostgreSQL leaves them out.
    """
    terms = []
    for phrase, word in _QUERY_PART.findall(query):
        text = word or phrase
        words = _WORD.findall(text)
        if not words or (word and all(w.casefold() in STOP_WORDS for w in words)):
            continue
        terms.append('"{}"'.format(text.replace('"', '""')))
    return " AND ".join(terms)


# The longest id the admin search looks up exactly: a bigint has 19 digits.
MAX_ID_DIGITS = 18


def admin_search(articles: QuerySet[Article], raw: str) -> QuerySet[Article]:
    """Return the ``articles`` matching ``raw``, each with ``admin_search_rank``.

    An article matches by its words, through the full-text index (drafts
    included; of many matches, the newest MAX_RANKED), or by its slug or id, exactly. The rank is 2 for an exact
    slug or id, 1 for a word in the title, 0 otherwise. Every condition is on
    ids from an index, so neither database reads article rows to rank them.
    """
    query = normalize_query(raw)
    if not query:
        return articles.annotate(admin_search_rank=Value(0, output_field=IntegerField())).none()
    exact = _exact_ids(query)
    words = _matching_ids(query)
    match = Q(pk__in=exact)
    rank = [When(pk__in=exact, then=Value(2))] if exact else []
    if words is not None:
        all_sql, all_params, title_sql, title_params = words
        match |= Q(pk__in=RawSQL(all_sql, all_params))
        rank.append(When(pk__in=RawSQL(title_sql, title_params), then=Value(1)))
    ranked = articles.annotate(
        admin_search_rank=Case(*rank, default=Value(0), output_field=IntegerField())
        if rank
        else Value(0, output_field=IntegerField())
    )
    if not exact and words is None:
        return ranked.none()
    return ranked.filter(match)


def _exact_ids(query: str) -> list[int]:
    """Return the ids of the articles whose slug, or id, is ``query``."""
    exact = Q(slug=query)
    if query.isascii() and query.isdigit() and len(query) <= MAX_ID_DIGITS:
        exact |= Q(pk=int(query))
    return list(Article.objects.filter(exact).order_by().values_list("pk", flat=True))


def _matching_ids(query: str) -> tuple[str, list, str, list] | None:
    """Return SQL and params for the ids matching ``query`` anywhere, then in the title.

    As in the public search, only the newest MAX_RANKED matches count: a word
    in nearly every article would otherwise have every match ranked, read and
    counted on each search. Both indexes find them walking from their newest end.
    """
    if not _WORD.search(query):
        return None
    if connection.vendor == "postgresql":
        match = f"search_vector @@ websearch_to_tsquery('{SEARCH_CONFIG}'::regconfig, %s)"
        # articles_article_title_search_idx (migration admin_indexes) indexes the title's vector.
        in_title = (
            f"to_tsvector('{SEARCH_CONFIG}'::regconfig, title) "
            f"@@ websearch_to_tsquery('{SEARCH_CONFIG}'::regconfig, %s)"
        )
        # The LIMIT lets the planner pick: the id index backwards for a
        # common word, the GIN index for a rare one. An "id > (subquery)"
        # bound, as SQLite takes, hides the match count from its estimates.
        return (
            f"SELECT id FROM articles_article WHERE {match} "
            f"ORDER BY id DESC LIMIT {int(MAX_RANKED)}",
            [query],
            f"SELECT id FROM articles_article WHERE {in_title}",
            [query],
        )
    if connection.vendor == "sqlite":
        fts_query = fts5_query(query)
        if not fts_query:
            return None
        table = f'"{FTS_TABLE}"'
        newest = (
            f"rowid > COALESCE((SELECT rowid FROM {table} WHERE {table} MATCH %s "
            f"ORDER BY rowid DESC LIMIT 1 OFFSET {int(MAX_RANKED)}), 0)"
        )
        select = f"SELECT rowid FROM {table} WHERE {table} MATCH %s"
        # fts5_query() quotes every term, so nothing escapes the column filter.
        return (
            f"{select} AND {newest}",
            [fts_query, fts_query],
            f"{select} AND {newest}",
            [f"title : ({fts_query})", fts_query],
        )
    raise NotSupportedError("Article search needs PostgreSQL or SQLite.")


class _SearchVector(Expression):
    """The trigger-maintained ``search_vector`` column, which no model field maps."""

    output_field = SearchVectorField()

    def as_sql(self, compiler, connection):
        table = compiler.quote_name_unless_alias(compiler.query.base_table)
        return f"{table}.{connection.ops.quote_name('search_vector')}", []


def _search_postgresql(articles: QuerySet[Article], query: str) -> QuerySet[Article]:
    search_query = SearchQuery(query, search_type="websearch", config=SEARCH_CONFIG)
    vector = _SearchVector()
    highlight = {"config": SEARCH_CONFIG, "start_sel": START, "stop_sel": STOP}
    newest = (
        Article.objects.filter(SearchVectorExact(_SearchVector(), search_query))
        .order_by("-pk")
        .values("pk")[MAX_RANKED : MAX_RANKED + 1]
    )
    ranked_after = Coalesce(Subquery(newest), 0)
    return articles.filter(SearchVectorExact(vector, search_query), pk__gt=ranked_after).annotate(
        search_ranked_after=ranked_after,
        search_rank=SearchRank(vector, search_query),
        search_body_headline=SearchHeadline(
            "body", search_query, max_words=SNIPPET_WORDS, min_words=15, **highlight
        ),
        search_excerpt_headline=SearchHeadline(
            "excerpt", search_query, highlight_all=True, **highlight
        ),
    )


def _search_sqlite(articles: QuerySet[Article], fts_query: str) -> QuerySet[Article]:
    # The FTS5 table has no model to join through, hence extra(). bm25()
    # recounts its statistics each time FTS5 is queried, so FTS5 must be
    # queried once, as the outer loop: a correlated subquery, or a plan that
    # probes FTS5 per article by rowid, is quadratic in the number of matches.
    # The unary + keeps SQLite from using the rowid term for such probes.
    table = f'"{FTS_TABLE}"'
    ranked_after = (
        f"COALESCE((SELECT rowid FROM {table} WHERE {table} MATCH %s "
        f"ORDER BY rowid DESC LIMIT 1 OFFSET {int(MAX_RANKED)}), 0)"
    )
    return articles.extra(
        tables=[FTS_TABLE],
        where=[
            f"{table} MATCH %s",
            f'+{table}.rowid = "articles_article"."id"',
            f"{table}.rowid > {ranked_after}",
        ],
        params=[fts_query, fts_query],
        select_params=[fts_query],
        select={
            "search_ranked_after": ranked_after,
            # bm25() is lower for better matches; weights follow A/B/C.
            "search_rank": f"-bm25({table}, 10.0, 4.0, 1.0)",
            "search_body_headline": (
                f"snippet({table}, 2, char(2), char(3), '…', {SNIPPET_WORDS})"
            ),
            "search_excerpt_headline": f"highlight({table}, 1, char(2), char(3))",
        },
    )


class _SearchResultIterable(ModelIterable):
    def __iter__(self):
        for article in super().__iter__():
            article.search_snippet = snippet_html(
                _pick_headline(article.search_body_headline, article.search_excerpt_headline)
            )
            yield article


def _pick_headline(body: str | None, excerpt: str | None) -> str:
    if body and START in body:
        return body
    return excerpt or body or ""


def snippet_html(headline: str) -> SafeString:
    """Return ``headline`` escaped, without Markdown marks, its highlights as <mark>."""
    for pattern, replacement in _MARKDOWN:
        headline = pattern.sub(replacement, headline)
    parts, open_mark = [], False
    for part in _HIGHLIGHT.split(" ".join(headline.split())):
        if part == START:
            if not open_mark:
                parts.append("<mark>")
            open_mark = True
        elif part == STOP:
            if open_mark:
                parts.append("</mark>")
            open_mark = False
        else:
            parts.append(escape(part))
    if open_mark:
        parts.append("</mark>")
    return mark_safe("".join(parts))
