import pytest

from tests.factories import CategoryFactory


@pytest.fixture
def health(db):
    return CategoryFactory(name="Health", slug="health", position=1)


@pytest.fixture
def mental_health(health):
    return CategoryFactory(name="Mental Health", slug="mental-health", parent=health, position=2)
