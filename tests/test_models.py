import datetime as dt
from unittest import mock

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import ProtectedError
from django.utils import timezone

from articles.models import Article, ArticleVersionConflict, Category
from tests.factories import ArticleFactory, CategoryFactory

pytestmark = pytest.mark.django_db


def test_published_excludes_drafts_and_future_articles(health):
    """Only published articles whose publish date has passed are public."""
    now = timezone.now()
    public = ArticleFactory(category=health, published_at=now - dt.timedelta(minutes=1))
    ArticleFactory(category=health, status=Article.Status.DRAFT)
    ArticleFactory(category=health, published_at=now + dt.timedelta(hours=1))

    assert list(Article.objects.published()) == [public]


def test_scheduled_article_becomes_public_when_its_time_comes(health):
    """A scheduled article turns public at its publish date, with no background job."""
    start = timezone.now()
    scheduled = ArticleFactory(category=health, published_at=start + dt.timedelta(hours=2))

    with mock.patch("articles.models.timezone.now", return_value=start + dt.timedelta(hours=1)):
        assert not Article.objects.published().filter(pk=scheduled.pk).exists()
    with mock.patch("articles.models.timezone.now", return_value=start + dt.timedelta(hours=2)):
        assert Article.objects.published().filter(pk=scheduled.pk).exists()


def test_publishing_without_a_date_sets_it_to_now(health):
    """An article saved as published with no date gets the current time."""
    article = ArticleFactory(category=health, published_at=None)
    assert article.published_at is not None
    assert timezone.now() - article.published_at < dt.timedelta(seconds=5)


def test_body_html_is_rendered_and_sanitized_at_save(health):
    """Saving renders the Markdown body once into sanitized HTML."""
    article = ArticleFactory(category=health, body="## Diet\n\n<script>x()</script>Eat well.")
    article.refresh_from_db()
    assert '<h2 id="diet">Diet</h2>' in article.body_html
    assert "<script" not in article.body_html


def test_full_save_never_overwrites_the_view_counter(health):
    """Saving a stale instance keeps views counted since it was loaded."""
    article = ArticleFactory(category=health)
    stale = Article.objects.get(pk=article.pk)
    Article.objects.filter(pk=article.pk).update(view_count=41)

    stale.title = "Edited title"
    stale.save()

    article.refresh_from_db()
    assert (article.title, article.view_count) == ("Edited title", 41)


def test_article_url_is_category_then_slug(mental_health):
    """An article lives at /<category-slug>/<article-slug>/."""
    article = ArticleFactory(category=mental_health, slug="coping-with-stress")
    assert article.get_absolute_url() == "/mental-health/coping-with-stress/"
    assert mental_health.get_absolute_url() == "/mental-health/"


def test_cover_image_requires_alt_text(health):
    """A cover image without alt text fails validation with a message on the alt field."""
    article = ArticleFactory.build(category=health, cover_image="covers/x.jpg", cover_alt=" ")
    with pytest.raises(ValidationError) as error:
        article.clean()
    assert "cover_alt" in error.value.message_dict


@pytest.mark.parametrize("slug", ["admin", "tag", "author", "search", "feed", "static", "media"])
def test_reserved_category_slug_is_refused(slug):
    """A category slug that would shadow a site route fails validation."""
    category = Category(name="Anything", slug=slug)
    with pytest.raises(ValidationError) as error:
        category.full_clean()
    assert "used by the site itself" in " ".join(error.value.message_dict["slug"])


def test_database_refuses_a_reserved_category_slug():
    """The database constraint holds even when validation is skipped."""
    with pytest.raises(IntegrityError), transaction.atomic():
        Category.objects.create(name="Admin", slug="admin")


def test_category_cannot_sit_under_its_own_descendant(health, mental_health):
    """Making Health a child of Mental Health would form a cycle and is refused."""
    health.parent = mental_health
    with pytest.raises(ValidationError) as error:
        health.full_clean()
    assert "parent" in error.value.message_dict


def test_category_cannot_be_its_own_parent(health):
    """A category pointing at itself is refused by validation and by the database."""
    health.parent = health
    with pytest.raises(ValidationError):
        health.full_clean()
    with pytest.raises(IntegrityError), transaction.atomic():
        Category.objects.filter(pk=health.pk).update(parent=health)


def test_category_with_articles_cannot_be_deleted(health):
    """Deleting a category that still has articles is blocked."""
    ArticleFactory(category=health)
    with pytest.raises(ProtectedError):
        health.delete()


def test_categories_are_ordered_by_position():
    """Categories come back in navigation order."""
    CategoryFactory(name="Sleep", slug="sleep", position=40)
    CategoryFactory(name="Nutrition", slug="nutrition", position=20)
    assert [c.slug for c in Category.objects.all()] == ["nutrition", "sleep"]


def test_a_stale_copy_cannot_overwrite_a_newer_save(health):
    """Saving an article loaded before someone else's save raises and changes nothing."""
    article = ArticleFactory(category=health)
    mine = Article.objects.get(pk=article.pk)
    theirs = Article.objects.get(pk=article.pk)
    theirs.title = "Their title"
    theirs.save()

    mine.title = "My title"
    with pytest.raises(ArticleVersionConflict), transaction.atomic():
        mine.save()

    assert mine.version == 1
    assert Article.objects.values_list("title", "version").get() == ("Their title", 2)


def test_readability_grade_is_computed_at_save(health):
    """Plain short sentences score a low grade; long words and sentences a high one."""
    easy = ArticleFactory(category=health, body="Drink water. Walk each day. Sleep well.")
    hard = ArticleFactory(
        category=health,
        body="Cardiovascular complications frequently necessitate individualised "
        "pharmacological intervention alongside comprehensive lifestyle modification.",
    )
    assert easy.readability_grade < 3
    assert hard.readability_grade > 8


PROSE = (
    "Blood pressure is the force of blood pushing against the walls of your arteries. "
    "Your doctor measures it with a cuff around your upper arm."
)


def test_reading_grade_is_the_same_whatever_tables_and_lists_surround_the_prose(health):
    """A table, a list and headings beside the same paragraphs leave the grade unchanged."""
    table = "| Reading | Meaning |\n|---|---|\n" + "| 120 | Normal |\n" * 30
    bullets = "".join(f"- item {n}\n" for n in range(20))
    plain = ArticleFactory(category=health, body=PROSE)
    laid_out = ArticleFactory(
        category=health, body=f"## What it is\n\n{PROSE}\n\n{table}\n## Tips\n\n{bullets}"
    )
    assert plain.readability_grade is not None
    assert laid_out.readability_grade == plain.readability_grade


def test_a_body_without_paragraphs_has_no_reading_grade(health):
    """Only lists and a table: nothing to grade, so no grade rather than a made-up one."""
    article = ArticleFactory(category=health, body="## Tips\n\n- Drink water\n- Sleep\n")
    assert article.readability_grade is None


def test_category_path_runs_from_the_top_category_down(health, mental_health):
    """A sub-category's path names its parent first, then itself; its name stays bare."""
    assert mental_health.path == "Health \u203a Mental Health"
    assert health.path == "Health"
    assert str(mental_health) == "Mental Health"


def test_every_category_path_comes_from_one_query(health, mental_health, django_assert_num_queries):
    """Category.paths() labels a whole tree, however deep, in one query."""
    anxiety = CategoryFactory(name="Anxiety", slug="anxiety", parent=mental_health)
    with django_assert_num_queries(1):
        paths = Category.paths()
    assert paths == {
        health.pk: "Health",
        mental_health.pk: "Health \u203a Mental Health",
        anxiety.pk: "Health \u203a Mental Health \u203a Anxiety",
    }


def test_saving_stores_typed_text_with_newline_line_endings(health):
    """Title, excerpt, body and note keep no carriage returns, as imported text has none."""
    article = ArticleFactory(
        category=health,
        title="Sleep\r\n",
        excerpt="Rest.\r\nRepeat.",
        body="First line.\r\n\r\n## Next\r\nOld Mac line.\rEnd.\r\n",
        review_note="Shorter,\r\nplease.",
    )
    article.refresh_from_db()
    assert (article.title, article.excerpt, article.body, article.review_note) == (
        "Sleep\n",
        "Rest.\nRepeat.",
        "First line.\n\n## Next\nOld Mac line.\nEnd.\n",
        "Shorter,\nplease.",
    )
