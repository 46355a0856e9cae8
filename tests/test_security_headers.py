"""Production security headers, the Content-Security-Policy and its nonce, the admin URL."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

from tests.factories import ArticleFactory

BASE_DIR = Path(settings.BASE_DIR)
SIX_MONTHS = 183 * 24 * 3600

# Runs in a subprocess with the production environment, so the settings are
# computed from the same variables an operator sets, not overridden in a test.
PROBE = """
import json, django
from django.conf import settings
django.setup()
from django.test import Client, override_settings
from django.urls import reverse
# Hashed static names need collectstatic, which is beside the point here.
override_settings(STORAGES={**settings.STORAGES, "staticfiles": {
    "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}).enable()
client = Client()
response = client.get(reverse("admin:login"), secure=True)
redirect = client.get("/healthz", HTTP_X_FORWARDED_PROTO="http")
home = client.get("/robots.txt", HTTP_X_FORWARDED_PROTO="https")
media = client.get("/media/probe.txt", secure=True)
print(json.dumps({
    "status": response.status_code,
    "headers": dict(response.headers),
    "csrf_cookie": {k: str(v) for k, v in response.cookies["csrftoken"].items()},
    "robots_status": home.status_code,
    "healthz_status": redirect.status_code,
    "admin_url": reverse("admin:index"),
    "media_status": media.status_code,
    "media_nosniff": media.get("X-Content-Type-Options"),
    "session": [settings.SESSION_COOKIE_SECURE, settings.SESSION_COOKIE_HTTPONLY,
                settings.SESSION_COOKIE_SAMESITE],
    "proxy_header": settings.SECURE_PROXY_SSL_HEADER,
}))
"""

PRODUCTION_ENV = {
    "DJANGO_SETTINGS_MODULE": "healthhub.settings",
    "DJANGO_SECRET_KEY": "x" * 60,
    "DJANGO_DEBUG": "0",
    "DJANGO_SECURE_SSL": "1",
    "DJANGO_SECURE_PROXY_SSL_HEADER": "1",
    "DJANGO_ALLOWED_HOSTS": "testserver",
}


def run_probe(tmp_path, **extra_env):
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env.update(PRODUCTION_ENV, DATABASE_URL=f"sqlite:///{tmp_path / 'probe.sqlite3'}", **extra_env)
    env["STATIC_ROOT"] = str(tmp_path / "static")
    env["MEDIA_ROOT"] = str(tmp_path / "media")
    env["DJANGO_SERVE_MEDIA"] = "1"
    (tmp_path / "media").mkdir(exist_ok=True)
    (tmp_path / "media" / "probe.txt").write_text("<html><script>alert(1)</script>")
    result = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def production(tmp_path_factory):
    return run_probe(tmp_path_factory.mktemp("probe"))


def csp_directives(header: str) -> dict[str, list[str]]:
    directives = {}
    for part in header.split(";"):
        name, *values = part.split()
        directives[name] = values
    return directives


def test_production_settings_send_hsts_for_at_least_six_months(production):
    """With DJANGO_SECURE_SSL=1, HTTPS responses carry HSTS of at least six months."""
    hsts = production["headers"]["Strict-Transport-Security"]
    max_age = int(re.search(r"max-age=(\d+)", hsts).group(1))
    assert max_age >= SIX_MONTHS
    assert "includeSubDomains" in hsts


def test_production_settings_trust_the_proxy_scheme_header(production):
    """DJANGO_SECURE_PROXY_SSL_HEADER=1 trusts X-Forwarded-Proto and redirects plain HTTP."""
    assert production["proxy_header"] == ["HTTP_X_FORWARDED_PROTO", "https"]
    assert production["robots_status"] == 200
    # Health probes are exempt from the HTTPS redirect.
    assert production["healthz_status"] == 200


def test_production_cookies_are_secure_httponly_and_samesite(production):
    """The CSRF and session cookies are Secure and SameSite; the session one is HttpOnly."""
    cookie = production["csrf_cookie"]
    assert cookie["secure"] == "True"
    assert cookie["samesite"] == "Lax"
    assert production["session"] == [True, True, "Lax"]


def test_production_headers_forbid_sniffing_framing_and_leaky_referrers(production):
    """nosniff, a strict referrer policy, X-Frame-Options DENY and a Permissions-Policy."""
    headers = production["headers"]
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] in {
        "strict-origin-when-cross-origin",
        "strict-origin",
        "same-origin",
        "no-referrer",
    }
    assert headers["X-Frame-Options"] == "DENY"
    assert "camera=()" in headers["Permissions-Policy"]
    assert "geolocation=()" in headers["Permissions-Policy"]


def test_production_csp_has_no_unsafe_script_sources(production):
    """The CSP forbids inline and eval'd script, plugins, <base> hijacking and framing."""
    directives = csp_directives(production["headers"]["Content-Security-Policy"])
    assert "'unsafe-inline'" not in directives["script-src"]
    assert "'unsafe-eval'" not in directives["script-src"]
    assert directives["object-src"] == ["'none'"]
    assert directives["base-uri"] == ["'self'"]
    assert directives["frame-ancestors"] == ["'none'"]
    assert "'unsafe-inline'" not in directives["style-src"]


def test_admin_url_comes_from_the_environment(tmp_path):
    """DJANGO_ADMIN_URL moves the admin."""
    probe = run_probe(tmp_path, DJANGO_ADMIN_URL="backstage-7f3a")
    assert probe["admin_url"] == "/backstage-7f3a/"
    assert probe["status"] == 200


@pytest.mark.django_db
def test_json_ld_blocks_carry_the_csp_nonce(client, health):
    """Every JSON-LD block carries the nonce that the response's CSP allows."""
    article = ArticleFactory(category=health)
    response = client.get(article.get_absolute_url())
    html = response.content.decode()

    nonces = re.findall(r'<script type="application/ld\+json" nonce="([^"]+)">', html)
    assert len(nonces) >= 2
    assert len(set(nonces)) == 1
    script_src = csp_directives(response["Content-Security-Policy"])["script-src"]
    assert f"'nonce-{nonces[0]}'" in script_src
    assert "<script>" not in html
    assert html.count("<script") == len(nonces)


@pytest.mark.django_db
def test_each_response_gets_a_fresh_nonce(client, health):
    """Two responses never share a nonce, even when the second is served from cache."""
    article = ArticleFactory(category=health)
    for url in ("/", "/health/", article.get_absolute_url()):
        seen = []
        for _ in range(2):
            response = client.get(url)
            in_page = set(re.findall(r'nonce="([^"]+)"', response.content.decode()))
            script_src = csp_directives(response["Content-Security-Policy"])["script-src"]
            assert len(in_page) == 1, url
            assert f"'nonce-{next(iter(in_page))}'" in script_src, url
            seen.append(next(iter(in_page)))
        assert seen[0] != seen[1], url


def test_media_is_served_with_nosniff(production):
    """Uploaded files served by Django carry X-Content-Type-Options: nosniff."""
    assert production["media_status"] == 200
    assert production["media_nosniff"] == "nosniff"
