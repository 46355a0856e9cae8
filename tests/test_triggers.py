import pytest
from django.core.management import call_command
from django.db import connection

from articles import search
from articles.models import Article
from articles.triggers import restore_sqlite_triggers
from tests.factories import ArticleFactory

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite drops triggers on rebuild"),
]


def trigger_names():
    with connection.cursor() as cursor:
        cursor.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")
        return {row[0] for row in cursor.fetchall()}


def drop_all_triggers():
    with connection.cursor() as cursor:
        for name in trigger_names():
            cursor.execute(f'DROP TRIGGER "{name}"')


def test_migrate_restores_triggers_a_table_rebuild_dropped(health):
    """After a rebuild drops the triggers, migrate puts them back and reindexes."""
    drop_all_triggers()
    article = ArticleFactory(category=health, body="Magnesium supports sleep.")
    assert not search.search_articles("magnesium").exists()

    call_command("migrate", verbosity=0)

    assert {"articles_article_fts_insert", "articles_article_tally_view"} <= trigger_names()
    assert list(search.search_articles("magnesium")) == [article]
    Article.objects.filter(pk=article.pk).update(view_count=1)
    assert article.daily_views.get().views == 1


def test_nothing_is_restored_when_every_trigger_is_there(db):
    """With all triggers in place, the check changes nothing."""
    assert restore_sqlite_triggers(using="default") == []
