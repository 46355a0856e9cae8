import pytest
from django.contrib.auth import get_user_model

from tests.factories import CategoryFactory


@pytest.fixture
def editor(db):
    """A superuser; modules whose editor is a member of the Editors group define their own."""
    return get_user_model().objects.create_superuser("editor", "editor@example.com", "pw")


@pytest.fixture
def editor_client(client, editor):
    client.force_login(editor)
    return client


@pytest.fixture
def health(db):
    return CategoryFactory(name="Health", slug="health", position=1)


@pytest.fixture
def mental_health(health):
    return CategoryFactory(name="Mental Health", slug="mental-health", parent=health, position=2)


@pytest.fixture(autouse=True)
def content_version_per_test(monkeypatch):
    """Read the content version afresh in each test, then only when content changes.

    Outside the tests a process rereads it every second; here a reread mid-test
    would make query counts depend on timing.
    """
    from articles import caching

    caching.forget_content_version()
    monkeypatch.setattr(caching, "VERSION_MEMO_SECONDS", 3600.0)


@pytest.fixture(autouse=True)
def closed_breakers():
    """Start each test with every dependency trusted, as a fresh worker does."""
    from articles import counting
    from healthhub.cache import cache_breaker
    from healthhub.database import database_breaker

    breakers = [cache_breaker, database_breaker, counting.buffer_breaker]
    for breaker in breakers:
        breaker.reset()
    counting._last_known.clear()
    yield
    for breaker in breakers:
        breaker.reset()
