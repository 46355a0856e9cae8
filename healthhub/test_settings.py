"""Settings for the test suite: the real settings with fast, isolated services."""

import os

from healthhub.media import BUCKET_VARIABLE, S3_VARIABLES

os.environ.setdefault("DJANGO_SECRET_KEY", "test-only-secret-key")
# Media stays on disk, whatever the shell says: no test writes to a real bucket.
for name in (BUCKET_VARIABLE, *S3_VARIABLES):
    os.environ.pop(name, None)

from healthhub.settings import *  # noqa: E402, F403
from healthhub.settings import BASE_DIR, DATABASES  # noqa: E402

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    "local": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "pages"},
}
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
MEDIA_ROOT = BASE_DIR / "var" / "test-media"
# Tasks are recorded, not run: a test runs the task itself, and proves the
# database backend separately (tests/test_bulk_actions.py).
TASKS = {"default": {"BACKEND": "django_tasks.backends.dummy.DummyBackend"}}

# One test database per run, so that two runs side by side never share one.
# On SQLite it is a file, not the in-memory default, so that the concurrency
# tests run the same WAL and locking code paths as production.
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["TEST"] = {"NAME": str(BASE_DIR / "var" / f"test-{os.getpid()}.sqlite3")}
else:
    DATABASES["default"]["TEST"] = {"NAME": f"test_{DATABASES['default']['NAME']}_{os.getpid()}"}

# whitenoise warns at start-up when the collected-static folder is missing;
# tests serve from the finders instead.
STATIC_ROOT = BASE_DIR / "var" / "test-static"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
