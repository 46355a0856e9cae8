"""Put back the SQLite triggers that a table rebuild drops.

On SQLite, Django alters a table by building a new one and copying the rows
across, and the old table's triggers go with it. The search index and the
daily view tally both live in triggers on ``articles_article`` (migrations
0002 and 0017), so after every ``migrate`` the missing ones are recreated
from those migrations' own SQL, and the search index is rebuilt.
"""

import importlib

from django.db import connections
from django.db.migrations.recorder import MigrationRecorder

SEARCH_MIGRATION = ("articles", "0002_search")
TALLY_MIGRATIONS = [("articles", "0017_flush_marker"), ("articles", "0003_view_tally")]
SEARCH_TRIGGERS = {
    "articles_article_fts_insert",
    "articles_article_fts_delete",
    "articles_article_fts_update",
}
TALLY_TRIGGER = "articles_article_tally_view"


def _migration_module(key):
    return importlib.import_module(f"articles.migrations.{key[1]}")


def restore_sqlite_triggers(*, using: str = "default", **kwargs) -> list[str]:
    """Recreate any missing trigger whose migration is applied; return their names."""
    connection = connections[using]
    if connection.vendor != "sqlite":
        return []
    applied = MigrationRecorder(connection).applied_migrations()
    with connection.cursor() as cursor:
        cursor.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")
        existing = {row[0] for row in cursor.fetchall()}
        restored = []
        if SEARCH_MIGRATION in applied and not existing >= SEARCH_TRIGGERS:
            search = _migration_module(SEARCH_MIGRATION)
            for name in sorted(SEARCH_TRIGGERS & existing):
                cursor.execute(f'DROP TRIGGER "{name}"')
            for sql in search.SQLITE_TRIGGERS:
                cursor.execute(sql)
            # Rows written while the triggers were missing are not indexed.
            cursor.execute(
                "INSERT INTO articles_article_fts (articles_article_fts) VALUES ('rebuild')"
            )
            restored += sorted(SEARCH_TRIGGERS - existing)
        tally = next((key for key in TALLY_MIGRATIONS if key in applied), None)
        if tally and TALLY_TRIGGER not in existing:
            cursor.execute(_migration_module(tally).SQLITE_CREATE)
            restored.append(TALLY_TRIGGER)
    return restored
