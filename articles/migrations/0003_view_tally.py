"""Tally each counted view into DailyViews inside the counter's own UPDATE.

A trigger on ``view_count`` runs the upsert in the same statement that counts
the view, so the all-time count and the day's tally can never disagree and
concurrent first views of a day are all kept. It fires only for a step of
exactly one (a reader's view): imports that set a count, or a flush of
buffered views that tallies its own rows, are left alone.
"""

from django.db import migrations

SQLITE_CREATE = """
CREATE TRIGGER articles_article_tally_view
AFTER UPDATE OF view_count ON articles_article
WHEN NEW.view_count = OLD.view_count + 1
BEGIN
    INSERT INTO articles_dailyviews (article_id, date, views)
    VALUES (NEW.id, date('now'), 1)
    ON CONFLICT (article_id, date) DO UPDATE SET views = views + 1;
END;
"""
SQLITE_DROP = "DROP TRIGGER IF EXISTS articles_article_tally_view;"

POSTGRESQL_CREATE = """
CREATE OR REPLACE FUNCTION articles_tally_view() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO articles_dailyviews (article_id, date, views)
    VALUES (NEW.id, (now() AT TIME ZONE 'UTC')::date, 1)
    ON CONFLICT (article_id, date)
    DO UPDATE SET views = articles_dailyviews.views + 1;
    RETURN NULL;
END
$$;
CREATE TRIGGER articles_article_tally_view
AFTER UPDATE OF view_count ON articles_article
FOR EACH ROW WHEN (NEW.view_count = OLD.view_count + 1)
EXECUTE FUNCTION articles_tally_view();
"""
POSTGRESQL_DROP = """
DROP TRIGGER IF EXISTS articles_article_tally_view ON articles_article;
DROP FUNCTION IF EXISTS articles_tally_view();
"""


def create_trigger(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "sqlite":
        schema_editor.execute(SQLITE_CREATE)
    elif vendor == "postgresql":
        schema_editor.execute(POSTGRESQL_CREATE)


def drop_trigger(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "sqlite":
        schema_editor.execute(SQLITE_DROP)
    elif vendor == "postgresql":
        schema_editor.execute(POSTGRESQL_DROP)


class Migration(migrations.Migration):
    dependencies = [("articles", "0002_search")]

    operations = [migrations.RunPython(create_trigger, drop_trigger)]
