"""Let the tally trigger tell a reader's view from a flush; drop an unused index.

A flush of buffered views tallies its own rows, so the reader-view trigger
must stay out of its way, even for an article whose step is exactly one.
Instead of stepping such an article up by two and back by one, the flush
marks its transaction: on PostgreSQL with a transaction-local setting, on
SQLite with a row in ``articles_flushing`` that only the flushing
transaction can see (SQLite has one writer at a time, and the row is
deleted before commit).

``article_most_read_idx`` served an ordering nothing uses any more; every
index on ``view_count`` makes each counted view update it too.
"""

from django.db import migrations

SQLITE_CREATE = """
CREATE TRIGGER articles_article_tally_view
AFTER UPDATE OF view_count ON articles_article
WHEN NEW.view_count = OLD.view_count + 1 AND NOT EXISTS (SELECT 1 FROM articles_flushing)
BEGIN
    INSERT INTO articles_dailyviews (article_id, date, views)
    VALUES (NEW.id, date('now'), 1)
    ON CONFLICT (article_id, date) DO UPDATE SET views = views + 1;
END;
"""
SQLITE_INSTALL = [
    "CREATE TABLE IF NOT EXISTS articles_flushing (flushing integer NOT NULL)",
    "DROP TRIGGER IF EXISTS articles_article_tally_view",
    SQLITE_CREATE,
]
SQLITE_UNINSTALL = [
    "DROP TRIGGER IF EXISTS articles_article_tally_view",
    """
    CREATE TRIGGER articles_article_tally_view
    AFTER UPDATE OF view_count ON articles_article
    WHEN NEW.view_count = OLD.view_count + 1
    BEGIN
        INSERT INTO articles_dailyviews (article_id, date, views)
        VALUES (NEW.id, date('now'), 1)
        ON CONFLICT (article_id, date) DO UPDATE SET views = views + 1;
    END;
    """,
    "DROP TABLE IF EXISTS articles_flushing",
]

# current_setting(..., true) is NULL before the first flush in a session and
# '' after one: both mean "not flushing".
POSTGRESQL_INSTALL = [
    "DROP TRIGGER IF EXISTS articles_article_tally_view ON articles_article",
    """
    CREATE TRIGGER articles_article_tally_view
    AFTER UPDATE OF view_count ON articles_article
    FOR EACH ROW WHEN (
        NEW.view_count = OLD.view_count + 1
        AND current_setting('healthhub.flushing', true) IS DISTINCT FROM 'on'
    )
    EXECUTE FUNCTION articles_tally_view()
    """,
]
POSTGRESQL_UNINSTALL = [
    "DROP TRIGGER IF EXISTS articles_article_tally_view ON articles_article",
    """
    CREATE TRIGGER articles_article_tally_view
    AFTER UPDATE OF view_count ON articles_article
    FOR EACH ROW WHEN (NEW.view_count = OLD.view_count + 1)
    EXECUTE FUNCTION articles_tally_view()
    """,
]


def run(statements):
    def apply(apps, schema_editor):
        for sql in statements.get(schema_editor.connection.vendor, []):
            schema_editor.execute(sql)

    return apply


class Migration(migrations.Migration):
    dependencies = [("articles", "0016_autosave_review_notes")]

    operations = [
        migrations.RunPython(
            run({"sqlite": SQLITE_INSTALL, "postgresql": POSTGRESQL_INSTALL}),
            run({"sqlite": SQLITE_UNINSTALL, "postgresql": POSTGRESQL_UNINSTALL}),
        ),
        migrations.RemoveIndex(model_name="article", name="article_most_read_idx"),
    ]
