"""The article page's reader features: contents, byline, related, old addresses."""

import datetime as dt

import pytest
from django.utils import timezone

from articles.models import Article, AuthorProfile
from tests.factories import ArticleFactory, CategoryFactory, UserFactory

pytestmark = pytest.mark.django_db

LONG_BODY = "\n\n".join(
    [
        "Introduction. " + "word " * 600,
        "## Why sleep matters",
        "Reasons.",
        "### Your body clock",
        "Rhythm.",
        "## How much you need",
        "Hours.",
        "## Conclusion",
        "Summary.",
    ]
)


def page(client, article):
    response = client.get(article.get_absolute_url())
    assert response.status_code == 200
    return response.content.decode()


def test_table_of_contents_links_each_heading(client, health):
    """An article with three or more headings lists them, linking to their ids."""
    article = ArticleFactory(category=health, body=LONG_BODY)
    html = page(client, article)
    toc = html[
        html.index('<nav class="toc"') : html.index("</nav>", html.index('<nav class="toc"'))
    ]
    assert '<a href="#why-sleep-matters">Why sleep matters</a>' in toc
    assert 'toc__item--h3"><a href="#your-body-clock">Your body clock</a>' in toc
    assert '<a href="#conclusion">Conclusion</a>' in toc
    assert '<h2 id="why-sleep-matters">' in html


def test_short_articles_have_no_table_of_contents(client, health):
    """With fewer than three headings there is no table of contents."""
    article = ArticleFactory(category=health, body="Intro.\n\n## One\n\nText.\n\n## Two\n\nText.")
    assert 'class="toc"' not in page(client, article)


def test_reading_time_comes_from_the_word_count(client, health):
    """About 616 words read in 3 minutes."""
    article = ArticleFactory(category=health, body=LONG_BODY)
    assert article.word_count == 616
    assert "3 min read" in page(client, article)


def test_byline_links_to_the_author(client, health):
    """The byline names the author and links to their page."""
    author = UserFactory(username="amelia", first_name="Amelia", last_name="Hart")
    article = ArticleFactory(category=health, author=author)
    assert 'By <a href="/author/amelia/" rel="author">Amelia Hart</a>' in page(client, article)


def test_substantial_edit_shows_an_updated_date(client, health):
    """Rewriting a published article's text adds "Updated <date>"; a typo fix does not."""
    article = ArticleFactory(category=health, body=LONG_BODY)
    assert "Updated" not in page(client, article)

    article.body = LONG_BODY.replace("Reasons.", "Reasons, with a typo fixed.")
    article.save()
    assert article.content_updated_at is None

    article.body = "A completely new text. " * 200
    article.save()
    assert article.content_updated_at is not None
    assert f'Updated <time datetime="{article.content_updated_at:%Y-%m-%d}' in page(client, article)


def test_edits_before_publication_do_not_count_as_updates(health):
    """Rewriting a scheduled article does not mark it updated."""
    article = ArticleFactory(category=health, published_at=timezone.now() + dt.timedelta(days=1))
    article.body = "Entirely different. " * 100
    article.save()
    assert article.content_updated_at is None


def test_related_articles_are_shown(client, health):
    """The page lists related articles that share tags."""
    article = ArticleFactory(category=health, tags=["sleep"])
    ArticleFactory(
        category=CategoryFactory(slug="fitness", name="Fitness"), title="Naps", tags=["sleep"]
    )
    html = page(client, article)
    related = html[html.index('id="related-heading"') :]
    assert "Naps" in related


def test_changed_slug_redirects_from_every_old_address(client, health):
    """After two slug changes, both old addresses answer 301 to the current one."""
    article = ArticleFactory(category=health, slug="first")
    for slug in ("second", "third"):
        article.slug = slug
        article.save()

    for old in ("first", "second"):
        response = client.get(f"/health/{old}/")
        assert response.status_code == 301
        assert response["Location"] == "/health/third/"


def test_moved_article_redirects_from_its_old_category(client, health):
    """An article moved to another category answers 301 at its old address."""
    article = ArticleFactory(category=health, slug="naps")
    sleep = CategoryFactory(slug="sleep", name="Sleep")
    article.category = sleep
    article.save()
    response = client.get("/health/naps/")
    assert response.status_code == 301
    assert response["Location"] == "/sleep/naps/"


def test_deleted_article_is_gone(client, health):
    """A deleted article's addresses, old and current, answer 410 Gone."""
    article = ArticleFactory(category=health, slug="old-name")
    article.slug = "new-name"
    article.save()
    article.delete()

    for slug in ("old-name", "new-name"):
        response = client.get(f"/health/{slug}/")
        assert response.status_code == 410
        assert "This article has been removed" in response.content.decode()


def test_old_address_of_an_unpublished_article_is_404(client, health):
    """A renamed article that went back to draft is not revealed by its old address."""
    article = ArticleFactory(category=health, slug="before")
    article.slug = "after"
    article.status = Article.Status.DRAFT
    article.save()
    assert client.get("/health/before/").status_code == 404


def test_author_page_shows_profile_and_published_articles(client, health):
    """The author page shows the name, credentials, bio and published articles."""
    author = UserFactory(username="priya", first_name="Priya", last_name="Nair")
    AuthorProfile.objects.create(
        user=author, credentials="MA Health Communication", bio="Writes <b>clearly</b>."
    )
    ArticleFactory(category=health, author=author, title="Heart health basics")
    ArticleFactory(category=health, author=author, title="Unfinished", status=Article.Status.DRAFT)

    response = client.get("/author/priya/")
    html = response.content.decode()

    assert response.status_code == 200
    assert '<h1 class="page-title">Priya Nair</h1>' in html
    assert "MA Health Communication" in html
    assert "Writes &lt;b&gt;clearly&lt;/b&gt;." in html
    assert "Heart health basics" in html
    assert "Unfinished" not in html
    assert "1 published article" in html


@pytest.mark.parametrize("username", ["nobody", "drafter"])
def test_author_without_published_articles_is_404(client, health, username):
    """Unknown users and users with no published work have no public page."""
    ArticleFactory(
        category=health, author=UserFactory(username="drafter"), status=Article.Status.DRAFT
    )
    assert client.get(f"/author/{username}/").status_code == 404


def test_author_page_query_budget(client, health, django_assert_max_num_queries):
    """The author page stays within four queries whatever it lists."""
    author = UserFactory(username="jonah")
    ArticleFactory.create_batch(15, category=health, author=author, tags=["a", "b"])
    client.get("/author/jonah/")
    with django_assert_max_num_queries(4):
        assert client.get("/author/jonah/?page=2").status_code == 200


def test_category_page_has_a_most_read_box(client, health, mental_health):
    """A category page shows "Most read in <category>"."""
    article = ArticleFactory(category=mental_health, title="Calm breathing")
    client.get(article.get_absolute_url())
    html = client.get("/health/").content.decode()
    box = html[html.index('id="most-read-heading"') :]
    assert "Most read in Health" in box
    assert "Calm breathing" in box
    assert "1 view this week" in box
