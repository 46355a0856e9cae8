"""Full-text search index on articles, kept current by the database itself.

Triggers, not Django signals, maintain the index, so bulk inserts, queryset
updates, admin saves and raw imports all stay searchable. Nothing here is a
model field; articles/search.py refers to the index directly.

On SQLite, a later migration that makes Django rebuild articles_article (for
example by altering one of its columns) drops these triggers with the old
table: such a migration must run SQLITE_TRIGGERS and a 'rebuild' again.
tests/test_search.py checks that the triggers exist after all migrations.
"""

from django.db import migrations

POSTGRESQL_INSTALL = [
    "ALTER TABLE articles_article ADD COLUMN search_vector tsvector",
    """
    CREATE FUNCTION articles_article_search_vector() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        NEW.search_vector :=
            setweight(to_tsvector('pg_catalog.english', coalesce(NEW.title, '')), 'A')
            || setweight(to_tsvector('pg_catalog.english', coalesce(NEW.excerpt, '')), 'B')
            || setweight(to_tsvector('pg_catalog.english', coalesce(NEW.body, '')), 'C');
        RETURN NEW;
    END
    $$
    """,
    # Only writes to the text recompute the vector: the view counter's
    # UPDATE on every page view leaves it (and its TOAST data) alone.
    """
    CREATE TRIGGER articles_article_search_vector_update
    BEFORE INSERT OR UPDATE OF title, excerpt, body ON articles_article
    FOR EACH ROW EXECUTE FUNCTION articles_article_search_vector()
    """,
    # Fires the trigger for the rows that already exist.
    "UPDATE articles_article SET title = title",
    "CREATE INDEX articles_article_search_vector_idx ON articles_article USING gin (search_vector)",
]

POSTGRESQL_UNINSTALL = [
    "DROP INDEX IF EXISTS articles_article_search_vector_idx",
    "DROP TRIGGER IF EXISTS articles_article_search_vector_update ON articles_article",
    "DROP FUNCTION IF EXISTS articles_article_search_vector()",
    "ALTER TABLE articles_article DROP COLUMN IF EXISTS search_vector",
]

SQLITE_TRIGGERS = [
    """
    CREATE TRIGGER articles_article_fts_insert AFTER INSERT ON articles_article BEGIN
        INSERT INTO articles_article_fts (rowid, title, excerpt, body)
        VALUES (new.id, new.title, new.excerpt, new.body);
    END
    """,
    """
    CREATE TRIGGER articles_article_fts_delete AFTER DELETE ON articles_article BEGIN
        INSERT INTO articles_article_fts (articles_article_fts, rowid, title, excerpt, body)
        VALUES ('delete', old.id, old.title, old.excerpt, old.body);
    END
    """,
    """
    CREATE TRIGGER articles_article_fts_update
    AFTER UPDATE OF id, title, excerpt, body ON articles_article BEGIN
        INSERT INTO articles_article_fts (articles_article_fts, rowid, title, excerpt, body)
        VALUES ('delete', old.id, old.title, old.excerpt, old.body);
        INSERT INTO articles_article_fts (rowid, title, excerpt, body)
        VALUES (new.id, new.title, new.excerpt, new.body);
    END
    """,
]

SQLITE_INSTALL = [
    # External content: the text stays in articles_article, FTS5 keeps only
    # the index. The Porter stemmer finds "sleeping" for "sleep".
    """
    CREATE VIRTUAL TABLE articles_article_fts USING fts5(
        title, excerpt, body,
        content='articles_article', content_rowid='id',
        tokenize='porter unicode61 remove_diacritics 2'
    )
    """,
    *SQLITE_TRIGGERS,
    "INSERT INTO articles_article_fts (articles_article_fts) VALUES ('rebuild')",
]

SQLITE_UNINSTALL = [
    "DROP TRIGGER IF EXISTS articles_article_fts_insert",
    "DROP TRIGGER IF EXISTS articles_article_fts_delete",
    "DROP TRIGGER IF EXISTS articles_article_fts_update",
    "DROP TABLE IF EXISTS articles_article_fts",
]


def install(apps, schema_editor):
    run(schema_editor, {"postgresql": POSTGRESQL_INSTALL, "sqlite": SQLITE_INSTALL})


def uninstall(apps, schema_editor):
    run(schema_editor, {"postgresql": POSTGRESQL_UNINSTALL, "sqlite": SQLITE_UNINSTALL})


def run(schema_editor, statements_by_vendor):
    for sql in statements_by_vendor.get(schema_editor.connection.vendor, []):
        schema_editor.execute(sql, params=None)


class Migration(migrations.Migration):
    dependencies = [
        ("articles", "0001_initial"),
    ]

    operations = [
        migrations.RunPython(install, uninstall),
    ]
