"""HealthHub settings, read from the environment.

Every setting an operator may change is listed in the README's configuration
table. Nothing secret is hard-coded: with debug off, a missing
DJANGO_SECRET_KEY stops the process at start-up.
"""

import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
from csp.constants import NONCE, NONE, SELF
from django.core.exceptions import ImproperlyConfigured

from healthhub.media import media_from_env

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DEBUG = env_bool("DJANGO_DEBUG", default=False)

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "")
if not SECRET_KEY and os.environ.get("DJANGO_SECRET_KEY_FILE"):
    SECRET_KEY = Path(os.environ["DJANGO_SECRET_KEY_FILE"]).read_text().strip()
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "DJANGO_SECRET_KEY must be set when DJANGO_DEBUG is off. "
            "Generate one with: python -c 'import secrets; print(secrets.token_urlsafe(50))'"
        )
    SECRET_KEY = "django-insecure-development-only-key-never-use-in-production"

ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost")
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django.contrib.sitemaps",
    "taggit",
    "axes",
    "csp",
    "healthhub",  # management commands: backup, restore
    "articles",
    "django_tasks",
    "django_tasks_db",
]

# Background tasks (django-tasks): queued in the database, run by
# `manage.py db_worker`, which scripts/serve starts beside gunicorn.
TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
# An admin action over more articles than this runs as a background task,
# its progress under "Bulk jobs"; smaller ones run while the editor waits.
HEALTHHUB_BACKGROUND_ACTION_THRESHOLD = int(
    os.environ.get("HEALTHHUB_BACKGROUND_ACTION_THRESHOLD", "2000")
)

MIDDLEWARE = [
    # First, so the access log line and the request id cover everything below.
    "healthhub.middleware.RequestLogMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "healthhub.middleware.SecurityHeadersMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Below whitenoise, whose files are precompressed; above whatever sets
    # cookies or Vary: Cookie, which decide that a page stays uncompressed.
    "healthhub.middleware.CompressionMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "healthhub.middleware.DatabaseUnavailableMiddleware",
    # Last, as django-axes requires.
    "axes.middleware.AxesMiddleware",
]

AUTHENTICATION_BACKENDS = [
    # First, so a locked-out client is refused before any password is checked.
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]

ROOT_URLCONF = "healthhub.urls"
WSGI_APPLICATION = "healthhub.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "articles.context_processors.navigation",
            ],
        },
    },
]

# Seconds a query may run: PostgreSQL ends it on the server
# (statement_timeout) and, should the server or the network hang, the query
# guard cuts it half a second later (healthhub/database.py); a SQLite writer waits
# this long for the write lock. Either way the request fails well within
# gunicorn's worker timeout. A reader's page gives each query far less, and
# a page served from cache less still, then serves without them.
HEALTHHUB_DB_TIMEOUT = float(os.environ.get("HEALTHHUB_DB_TIMEOUT", "4"))
HEALTHHUB_DB_READER_TIMEOUT = float(os.environ.get("HEALTHHUB_DB_READER_TIMEOUT", "0.75"))
HEALTHHUB_DB_CACHED_TIMEOUT = float(os.environ.get("HEALTHHUB_DB_CACHED_TIMEOUT", "0.5"))

# SQLite is the embedded default. WAL lets readers run beside the writer,
# IMMEDIATE takes the write lock at BEGIN (so a transaction never has to
# upgrade a read lock, the cause of "database is locked"), and the timeout
# makes a writer wait its turn instead of failing.
SQLITE_OPTIONS = {
    "init_command": ("PRAGMA journal_mode=WAL;PRAGMA synchronous=NORMAL;PRAGMA foreign_keys=ON"),
    "transaction_mode": "IMMEDIATE",
    # With no deadline (management commands), a writer still waits its turn.
    "timeout": HEALTHHUB_DB_TIMEOUT if HEALTHHUB_DB_TIMEOUT > 0 else 20,
}
POSTGRES_OPTIONS = {
    # libpq's minimum; a database that does not answer in 2 s is down.
    "connect_timeout": 2,
    "options": f"-c statement_timeout={int(HEALTHHUB_DB_TIMEOUT * 1000)}",
}

(BASE_DIR / "var").mkdir(exist_ok=True)
DATABASES = {
    "default": dj_database_url.config(
        default=f"sqlite:///{BASE_DIR / 'var' / 'db.sqlite3'}",
        conn_max_age=int(os.environ.get("DJANGO_CONN_MAX_AGE", "60")),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["OPTIONS"] = {**SQLITE_OPTIONS, **DATABASES["default"].get("OPTIONS", {})}
elif DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    DATABASES["default"]["OPTIONS"] = {
        **POSTGRES_OPTIONS,
        **DATABASES["default"].get("OPTIONS", {}),
    }

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Redis when configured, so that every app server shares one cache (and one
# content version); otherwise each process keeps its own in memory.
REDIS_URL = os.environ.get("REDIS_URL", "")
CACHE_URL = os.environ.get("CACHE_URL", "") or REDIS_URL
# Seconds to wait for Redis before treating it as down (healthhub/resilience.py).
HEALTHHUB_REDIS_TIMEOUT = float(os.environ.get("HEALTHHUB_REDIS_TIMEOUT", "0.25"))
if CACHE_URL:
    CACHES = {
        "default": {
            # Django's Redis cache, where an unreachable Redis is a miss.
            "BACKEND": "healthhub.cache.ResilientRedisCache",
            "LOCATION": CACHE_URL,
            "KEY_PREFIX": os.environ.get("HEALTHHUB_CACHE_PREFIX", "healthhub"),
            "OPTIONS": {
                "socket_connect_timeout": HEALTHHUB_REDIS_TIMEOUT,
                "socket_timeout": HEALTHHUB_REDIS_TIMEOUT,
            },
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
# Each process keeps its most requested pages in memory too; their keys carry
# the content version, so a local copy is never newer or older than Redis's.
CACHES["local"] = {
    "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
    "LOCATION": "healthhub-pages",
    "OPTIONS": {"MAX_ENTRIES": 500},
}
SESSION_ENGINE = "django.contrib.sessions.backends.db"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = os.environ.get("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", BASE_DIR / "var" / "static"))
STATICFILES_DIRS = [BASE_DIR / "static"]
# Uploaded media: MEDIA_ROOT, or an S3 bucket when AWS_STORAGE_BUCKET_NAME is
# set, so that several app servers share it (healthhub/media.py).
media_storage = media_from_env(os.environ)
MEDIA_URL = media_storage.url
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT", BASE_DIR / "var" / "media"))
# Exports started from the admin (Bulk jobs): outside MEDIA_ROOT, because
# they hold drafts; the admin serves them to editors only.
HEALTHHUB_EXPORT_ROOT = Path(os.environ.get("HEALTHHUB_EXPORT_ROOT", BASE_DIR / "var" / "exports"))
HEALTHHUB_MEDIA_BUCKET = media_storage.bucket

STORAGES = {
    "default": media_storage.storage,
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

# Behind a TLS-terminating proxy that sets X-Forwarded-Proto (see README).
if env_bool("DJANGO_SECURE_PROXY_SSL_HEADER"):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

SECURE_SSL = env_bool("DJANGO_SECURE_SSL", default=False)
SESSION_COOKIE_SECURE = SECURE_SSL
CSRF_COOKIE_SECURE = SECURE_SSL
SECURE_HSTS_SECONDS = int(os.environ.get("DJANGO_HSTS_SECONDS", "31536000" if SECURE_SSL else "0"))
SECURE_HSTS_INCLUDE_SUBDOMAINS = SECURE_SSL
SECURE_HSTS_PRELOAD = SECURE_SSL
# Django sees HTTPS only through SECURE_PROXY_SSL_HEADER behind a proxy; a
# proxy that already redirects plain HTTP may turn this off.
SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", default=SECURE_SSL)
SECURE_REFERRER_POLICY = "strict-origin-when-cross-origin"
# Load balancers probe over plain HTTP.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
X_FRAME_OPTIONS = "DENY"

# --- Security: Content-Security-Policy (django-csp) -------------------------
# No inline script or style anywhere on the site. The only inline scripts are
# the JSON-LD blocks, which carry the per-request nonce (request.csp_nonce).
# The Django admin needs no exception: its templates have no inline script,
# no inline style attribute, and its JavaScript only sets styles through the
# CSSOM, which CSP does not restrict. tests/browser/test_xss.py opens the
# admin and fails on any reported violation.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF, NONCE],
        "style-src": [SELF],
        # Media in a bucket comes from the bucket's host, or the CDN's.
        "img-src": [SELF, "data:", *media_storage.origins],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    },
}

# --- Security: admin URL and failed-login lockout (django-axes) -------------
# Moving the admin off /admin/ keeps it out of the way of drive-by scanners.
ADMIN_URL = os.environ.get("DJANGO_ADMIN_URL", "admin/").strip("/") + "/"
AXES_FAILURE_LIMIT = 5
AXES_COOLOFF_TIME = timedelta(minutes=15)
AXES_LOCKOUT_PARAMETERS = ["ip_address"]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "lockout.html"
AXES_CLIENT_IP_CALLABLE = "healthhub.security.client_ip"
# Number of proxies in front of gunicorn whose X-Forwarded-For entries are
# trusted. 0 (the default) keys the lockout on the socket's address only, so
# a forged header can neither dodge a lockout nor lock out someone else.
HEALTHHUB_TRUSTED_PROXY_COUNT = int(os.environ.get("DJANGO_TRUSTED_PROXY_COUNT", "0"))

# --- Operability: logging ------------------------------------------------
# One line per request (healthhub.middleware.RequestLogMiddleware), to stdout,
# every record tagged with the request id. LOG_FORMAT=json for log shippers.
LOG_LEVEL = os.environ.get("LOG_LEVEL", "INFO").upper()
LOG_FORMAT = os.environ.get("LOG_FORMAT", "text").lower()
if LOG_FORMAT not in {"text", "json"}:
    raise ImproperlyConfigured("LOG_FORMAT must be 'text' or 'json'.")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "healthhub.logs.RequestIdFilter"}},
    "formatters": {
        "text": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
        "json": {"()": "healthhub.logs.JsonFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "stream": "ext://sys.stdout",
            "formatter": LOG_FORMAT,
            "filters": ["request_id"],
        }
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        # The access line already records every 4xx; keep the errors.
        "django.request": {"level": "ERROR"},
        "django.security.DisallowedHost": {"level": "ERROR"},
    },
}

# --- Email: notifications to editors and authors ------------------------------
# One URL says where mail goes: smtp://user:pass@host:587?tls=1 (or ?ssl=1,
# or smtps://host), console:// to print it, dummy:// to drop it. Without one,
# a development server prints mail and a production one uses the local MTA.
EMAIL_URL = os.environ.get("EMAIL_URL", "") or ("console://" if DEBUG else "smtp://localhost:25")


def email_settings(url: str) -> dict:
    """Return Django's email settings for an EMAIL_URL."""
    from urllib.parse import parse_qs, unquote, urlsplit

    parts = urlsplit(url)
    backends = {
        "console": "django.core.mail.backends.console.EmailBackend",
        "dummy": "django.core.mail.backends.dummy.EmailBackend",
        "locmem": "django.core.mail.backends.locmem.EmailBackend",
        "smtp": "django.core.mail.backends.smtp.EmailBackend",
        "smtps": "django.core.mail.backends.smtp.EmailBackend",
    }
    if parts.scheme not in backends:
        raise ImproperlyConfigured(
            f"EMAIL_URL must start with one of {', '.join(sorted(backends))}://"
        )
    found = {"EMAIL_BACKEND": backends[parts.scheme]}
    if parts.scheme.startswith("smtp"):
        query = {key: values[-1] for key, values in parse_qs(parts.query).items()}
        on = {"1", "true", "yes", "on"}
        use_ssl = parts.scheme == "smtps" or query.get("ssl", "").lower() in on
        found |= {
            "EMAIL_HOST": parts.hostname or "localhost",
            "EMAIL_PORT": parts.port or (465 if use_ssl else 25),
            "EMAIL_HOST_USER": unquote(parts.username or ""),
            "EMAIL_HOST_PASSWORD": unquote(parts.password or ""),
            "EMAIL_USE_SSL": use_ssl,
            "EMAIL_USE_TLS": not use_ssl and query.get("tls", "").lower() in on,
        }
    return found


globals().update(email_settings(EMAIL_URL))
# Seconds to wait for the mail server: a save never hangs on a dead one.
EMAIL_TIMEOUT = int(os.environ.get("EMAIL_TIMEOUT", "10"))
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "HealthHub <noreply@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# Site-specific settings.
HEALTHHUB_SITE_NAME = os.environ.get("HEALTHHUB_SITE_NAME", "HealthHub")
HEALTHHUB_TWITTER_SITE = os.environ.get("HEALTHHUB_TWITTER_SITE", "").strip()
HEALTHHUB_PAGE_SIZE = 12
HEALTHHUB_SERVE_MEDIA = env_bool("DJANGO_SERVE_MEDIA", default=False)
if HEALTHHUB_SERVE_MEDIA and HEALTHHUB_MEDIA_BUCKET:
    raise ImproperlyConfigured(
        "DJANGO_SERVE_MEDIA serves files from MEDIA_ROOT, but media is in the bucket "
        f"{HEALTHHUB_MEDIA_BUCKET} (AWS_STORAGE_BUCKET_NAME). Unset DJANGO_SERVE_MEDIA."
    )
HEALTHHUB_MAX_UPLOAD_MB = int(os.environ.get("HEALTHHUB_MAX_UPLOAD_MB", "10"))
# Limits on what an article may hold, from the admin and the import alike.
HEALTHHUB_MAX_BODY_KB = int(os.environ.get("HEALTHHUB_MAX_BODY_KB", "200"))
HEALTHHUB_MAX_TAGS = int(os.environ.get("HEALTHHUB_MAX_TAGS", "20"))
# An import file larger than this is refused before it is parsed.
HEALTHHUB_MAX_IMPORT_FILE_KB = int(os.environ.get("HEALTHHUB_MAX_IMPORT_FILE_KB", "512"))
# Articles under these categories (or their sub-categories) are marked up as
# MedicalWebPage for search engines.
HEALTHHUB_MEDICAL_CATEGORIES = env_list("HEALTHHUB_MEDICAL_CATEGORIES", "health")

# Editorial workflow: a medical review older than this many days is due again.
HEALTHHUB_REVIEW_INTERVAL_DAYS = int(os.environ.get("HEALTHHUB_REVIEW_INTERVAL_DAYS", "365"))

# "direct": one atomic UPDATE per view. "buffered": views are counted in Redis
# and moved into the database by `manage.py flush_views`.
HEALTHHUB_VIEW_COUNTER = os.environ.get("HEALTHHUB_VIEW_COUNTER", "direct")
HEALTHHUB_VIEW_BUFFER_URL = os.environ.get("HEALTHHUB_VIEW_BUFFER_URL", "") or REDIS_URL
HEALTHHUB_VIEW_BUFFER_PREFIX = os.environ.get("HEALTHHUB_VIEW_BUFFER_PREFIX", "healthhub:views:")
if HEALTHHUB_VIEW_COUNTER not in {"direct", "buffered"}:
    raise ImproperlyConfigured("HEALTHHUB_VIEW_COUNTER must be 'direct' or 'buffered'.")
if HEALTHHUB_VIEW_COUNTER == "buffered" and not HEALTHHUB_VIEW_BUFFER_URL:
    raise ImproperlyConfigured("Buffered view counting needs REDIS_URL.")
# Benchmark-only views (the template and write floors); never on in production.
HEALTHHUB_BENCHMARK_FLOORS = env_bool("HEALTHHUB_BENCHMARK_FLOORS", default=False)
