"""The article list's bulk actions, confirmed on their own page: Chromium through gunicorn."""

import re

import pytest

from articles.models import Article, Category
from tests.browser.admin_server import expect, field, messages
from tests.factories import ArticleFactory

pytestmark = [pytest.mark.browser, pytest.mark.server]


def run_action(page, shot, name, titles, action, *, category=None):
    """Tick ``titles`` in the article list, run ``action`` and confirm it."""
    page.goto("/admin/articles/article/")
    results = page.locator("#result_list")
    for title in titles:
        row = results.get_by_role("row").filter(
            has=page.get_by_role("link", name=title, exact=True)
        )
        row.get_by_role("checkbox").check()
    page.get_by_label(re.compile(r"^Action:")).select_option(label=action)
    page.get_by_role("button", name="Go").click()
    for title in titles:
        expect(page.locator("#content").get_by_text(title, exact=False).first).to_be_visible()
    if category is not None:
        field(page, "Move to category").select_option(label=category)
    shot(page, f"{name}-confirm")
    with page.expect_navigation() as navigation:
        page.get_by_role("button", name="Yes, go ahead").click()
    return navigation.value


def drafts(*specs):
    return [
        ArticleFactory(
            title=title,
            category=Category.objects.get(slug=slug),
            status=Article.Status.DRAFT,
            published_at=None,
        )
        for title, slug in specs
    ]


def statuses(titles):
    return dict(Article.objects.filter(title__in=titles).values_list("title", "status"))


def test_each_bulk_action_is_confirmed_and_counts_the_articles_it_changed(
    admin_site, open_context, shot
):
    """Publish now, unpublish, archive and move each change two ticked articles and say so."""
    drafts(("Eating Well on a Budget", "nutrition"), ("Quiet Evenings, Better Sleep", "sleep"))
    steps = [
        (
            "publish",
            ["Eating Well on a Budget", "Quiet Evenings, Better Sleep"],
            "Publish selected articles now",
            None,
            "2 articles published.",
        ),
        (
            "unpublish",
            [
                "Stretching and Recovery After Exercise",
                "Walking for Health: Small Steps, Real Benefits",
            ],
            "Unpublish selected articles (to draft)",
            None,
            "2 articles unpublished.",
        ),
        (
            "archive",
            [
                "How Much Water Should You Drink Each Day?",
                "A Beginner's Guide to the Mediterranean Diet",
            ],
            "Archive selected articles",
            None,
            "2 articles archived.",
        ),
        (
            "move",
            [
                "Strength Training for Beginners: Getting Started Safely",
                "Why Fibre Deserves a Place on Your Plate",
            ],
            "Move selected articles to a category",
            "Sleep",
            "2 articles moved to Sleep.",
        ),
    ]
    page = open_context(admin_site.editor)
    for number, (name, titles, action, category, done) in enumerate(steps, start=1):
        response = run_action(
            page, shot, f"07-action-{number}-{name}", titles, action, category=category
        )
        shot(page, f"07-action-{number}-{name}-done")
        assert response.status == 200, admin_site.log_tail()
        expect(messages(page)).to_have_text([done])

    assert set(statuses(steps[0][1]).values()) == {Article.Status.PUBLISHED}
    assert set(statuses(steps[1][1]).values()) == {Article.Status.DRAFT}
    assert set(statuses(steps[2][1]).values()) == {Article.Status.ARCHIVED}
    moved = Article.objects.filter(title__in=steps[3][1]).values_list("category__slug", flat=True)
    assert set(moved) == {"sleep"}


def test_publish_now_and_move_refuse_unreviewed_articles_for_a_review_category(
    admin_site, open_context, shot
):
    """Articles that would be live in Health without a reviewer are left alone, and named."""
    unreviewed, ready = drafts(
        ("Iron Deficiency: Signs to Watch For", "health"), ("Packing a Healthy Lunch", "nutrition")
    )
    page = open_context(admin_site.editor)

    response = run_action(
        page,
        shot,
        "07-review-rule-publish-now",
        [unreviewed.title, ready.title],
        "Publish selected articles now",
    )
    shot(page, "07-review-rule-publish-now-done")
    assert response.status == 200, admin_site.log_tail()
    expect(messages(page)).to_have_text(["1 article published."])
    expect(messages(page, "warning")).to_contain_text(unreviewed.title)
    assert statuses([unreviewed.title, ready.title]) == {
        unreviewed.title: Article.Status.DRAFT,
        ready.title: Article.Status.PUBLISHED,
    }

    sleep_article = Article.objects.get(slug="how-much-sleep-do-adults-really-need")
    reviewed = Article.objects.get(slug="recognising-the-signs-of-anxiety")
    assert sleep_article.reviewed_by is None and reviewed.reviewed_by is not None
    response = run_action(
        page,
        shot,
        "07-review-rule-move",
        [sleep_article.title, reviewed.title],
        "Move selected articles to a category",
        category="Health",
    )
    shot(page, "07-review-rule-move-done")
    assert response.status == 200, admin_site.log_tail()
    expect(messages(page)).to_have_text(["1 article moved to Health."])
    expect(messages(page, "warning")).to_contain_text(sleep_article.title)
    sleep_article.refresh_from_db()
    reviewed.refresh_from_db()
    assert (sleep_article.category.slug, reviewed.category.slug) == ("sleep", "health")
