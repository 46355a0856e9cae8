"""Failed admin sign-ins are rate-limited by client address (django-axes)."""

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse

pytestmark = pytest.mark.django_db

ATTACKER = "203.0.113.9"
VICTIM = "198.51.100.7"


@pytest.fixture
def editor():
    return get_user_model().objects.create_superuser("editor", "editor@example.com", "right-pw")


def sign_in(password, remote_addr=ATTACKER, **headers):
    return Client(REMOTE_ADDR=remote_addr).post(
        reverse("admin:login"),
        {"username": "editor", "password": password, "next": reverse("admin:index")},
        **headers,
    )


def fail(times, **kwargs):
    return [sign_in("wrong", **kwargs).status_code for _ in range(times)]


def test_four_failures_still_allow_a_correct_sign_in(editor):
    """Under the limit, the form comes back, and the right password still signs in."""
    assert fail(4) == [200] * 4
    assert sign_in("right-pw").status_code == 302


def test_five_failures_lock_the_address_out_with_a_clear_message(editor):
    """The fifth failure locks out; then even the right password gets a 429 that says why."""
    assert fail(5) == [200, 200, 200, 200, 429]

    response = sign_in("right-pw")

    assert response.status_code == 429
    html = response.content.decode()
    assert "Too many failed sign-ins" in html
    assert "15 minutes" in html


def test_lockout_lasts_fifteen_minutes(editor, settings):
    """The cool-off is 15 minutes."""
    assert settings.AXES_COOLOFF_TIME.total_seconds() == 15 * 60
    assert settings.AXES_FAILURE_LIMIT == 5


def test_spoofed_forwarded_for_does_not_dodge_the_lockout(editor):
    """A new X-Forwarded-For on each attempt does not reset the count."""
    for n in range(5):
        sign_in("wrong", HTTP_X_FORWARDED_FOR=f"10.0.0.{n}")

    response = sign_in("right-pw", HTTP_X_FORWARDED_FOR="10.0.0.99")

    assert response.status_code == 429


def test_spoofed_forwarded_for_cannot_lock_out_someone_else(editor):
    """Failures claiming to come from the victim's address do not lock the victim out."""
    fail(6, HTTP_X_FORWARDED_FOR=VICTIM)

    assert sign_in("right-pw", remote_addr=VICTIM).status_code == 302


def test_forwarded_for_is_used_only_behind_a_configured_proxy(editor, settings):
    """With one trusted proxy, the address that proxy saw is the key, not REMOTE_ADDR."""
    settings.HEALTHHUB_TRUSTED_PROXY_COUNT = 1
    proxy = "127.0.0.1"
    for _ in range(5):
        sign_in("wrong", remote_addr=proxy, HTTP_X_FORWARDED_FOR=f"1.2.3.4, {ATTACKER}")

    locked = sign_in("right-pw", remote_addr=proxy, HTTP_X_FORWARDED_FOR=ATTACKER)
    other = sign_in("right-pw", remote_addr=proxy, HTTP_X_FORWARDED_FOR=f"{ATTACKER}, {VICTIM}")

    assert locked.status_code == 429
    assert other.status_code == 302
