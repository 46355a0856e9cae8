"""The admin as people use it: gunicorn with two workers, production settings, Chromium.

The server runs against the pytest test database with no shared cache, so
each worker keeps its own local-memory cache, as a single machine without
Redis does. Users get a password hashed the production way, so they sign in
at /admin/login/ like anyone else. The fixtures are in conftest.py.
"""

import contextlib
import dataclasses
import functools
import io
import os
import re
import struct
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import PBKDF2PasswordHasher
from django.contrib.auth.models import Group, Permission
from django.core.cache import cache
from django.core.management import call_command
from PIL import Image

from articles.models import AuthorProfile
from articles.roles import AUTHORS, EDITORS, sync_roles
from tests.test_server import HOST, free_port, manage, request, running_gunicorn, server_env

expect = pytest.importorskip("playwright.sync_api").expect

PASSWORD = "Lavender-Harbour-Window-73"
# A shared cache would hide a content version kept per worker; the async
# flag is the browser fixture's, for this process only.
UNSET_VARIABLES = (
    "REDIS_URL",
    "CACHE_URL",
    "HEALTHHUB_CACHE_PREFIX",
    "HEALTHHUB_VIEW_COUNTER",
    "HEALTHHUB_VIEW_BUFFER_URL",
    "HEALTHHUB_VIEW_BUFFER_PREFIX",
    "DJANGO_ALLOW_ASYNC_UNSAFE",
)


@dataclasses.dataclass
class AdminSite:
    url: str
    port: int
    log: Path
    owner: object
    author: object
    editor: object
    other_editor: object

    def log_tail(self, lines=12) -> str:
        """Return the end of the server's log, from its last traceback if there is one."""
        log = self.log.read_text(errors="replace")
        start = log.rfind("Traceback (most recent call last)")
        tail = log[start:].splitlines() if start >= 0 else log.splitlines()
        return "\n".join(tail[-lines:])


@functools.cache
def production_password(raw: str) -> str:
    """Hash ``raw`` as the production settings do, once: the hasher takes about a second."""
    hasher = PBKDF2PasswordHasher()
    return hasher.encode(raw, hasher.salt())


def create_staff(username, first_name, last_name, *, group=None, superuser=False):
    """Create an active staff user who signs in with PASSWORD, in ``group`` if given."""
    user = get_user_model().objects.create(
        username=username,
        first_name=first_name,
        last_name=last_name,
        email=f"{username}@example.org",
        is_staff=True,
        is_superuser=superuser,
        password=production_password(PASSWORD),
    )
    if group:
        user.groups.add(Group.objects.get(name=group))
        AuthorProfile.objects.create(user=user, credentials="MSc Health Communication")
    return user


def collect_static(static_root: Path) -> None:
    """Run collectstatic with the production settings into ``static_root``."""
    manage(
        {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "healthhub.settings",
            "DJANGO_SECRET_KEY": "test",
            "DJANGO_DEBUG": "0",
            "STATIC_ROOT": str(static_root),
        },
        "collectstatic",
        "--noinput",
    )


def seed_site() -> dict:
    """Commit the roles, the demo content and the staff users; return the users by role."""
    cache.clear()
    # A transactional test starts from a flushed database, without the
    # groups the data migration created.
    sync_roles(Group, Permission)
    call_command("load_demo", verbosity=0, stdout=io.StringIO())
    return {
        "owner": create_staff("olivia", "Olivia", "Owner", superuser=True),
        "author": create_staff("anna", "Anna", "Author", group=AUTHORS),
        "editor": create_staff("edgar", "Edgar", "Editor", group=EDITORS),
        "other_editor": create_staff("erin", "Erin", "Editor", group=EDITORS),
    }


@contextlib.contextmanager
def serving_admin(static_root: Path, tmp_path: Path, users: dict):
    """Serve the test database through gunicorn with two workers; yield the AdminSite."""
    port = free_port()
    env = server_env(static_root, port)
    for name in UNSET_VARIABLES:
        env.pop(name, None)
    env |= {
        "WEB_CONCURRENCY": "2",
        "DJANGO_SERVE_MEDIA": "1",
        "MEDIA_ROOT": str(tmp_path / "media"),
        "HEALTHHUB_EXPORT_ROOT": str(tmp_path / "exports"),
    }
    log = tmp_path / "gunicorn.log"
    with running_gunicorn(env, log):
        yield AdminSite(url=f"http://{HOST}:{port}", port=port, log=log, **users)


def read_by_every_worker(site: AdminSite, paths, repeat=4) -> dict[str, list[tuple[int, str]]]:
    """GET each path ``repeat`` times at once, as anonymous readers; return (status, body) lists.

    Concurrent requests keep both sync workers busy, so each of them answers
    some; one reader after another would often meet the same worker.
    """
    jobs = [path for path in paths for _ in range(repeat)]
    with ThreadPoolExecutor(len(jobs)) as pool:
        answers = list(pool.map(lambda path: request("GET", path, site.port), jobs))
    found = {path: [] for path in paths}
    for path, (status, body) in zip(jobs, answers, strict=True):
        found[path].append((status, body.decode()))
    return found


# What a person does ----------------------------------------------------------


def sign_in(page, username, password=PASSWORD):
    """Sign in through the admin's login page and wait for the admin home."""
    page.goto("/admin/login/")
    page.get_by_label("Username:", exact=True).fill(username)
    page.get_by_label("Password:", exact=True).fill(password)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("button", name="Log out")).to_be_visible()


def append_text(control, text):
    """Add a paragraph at the end of a text field, as someone typing there would."""
    control.fill(f"{control.input_value().rstrip()}\n\n{text}\n")


def field(page, label):
    """Return the form control labelled ``label`` (the admin adds the colon)."""
    return page.get_by_label(f"{label}:", exact=True)


def form_row(page, label):
    """Return the admin form row whose label reads ``label``."""
    return page.locator("div.form-row").filter(has=page.get_by_text(f"{label}:", exact=True))


def pick_autocomplete(page, label, typed, option):
    """Open the select2 widget labelled ``label``, type ``typed`` and choose ``option``."""
    row = form_row(page, label)
    row.locator(".select2-selection").first.click()
    page.locator(".select2-container--open").get_by_role("searchbox").fill(typed)
    page.locator(".select2-results").get_by_role("option", name=option, exact=True).click()
    expect(row.locator(".select2-selection__rendered").first).to_contain_text(option)


def save(page, button="Save and continue editing"):
    """Click one of the form's submit buttons; return the response to the POST."""
    with page.expect_navigation() as navigation:
        page.get_by_role("button", name=button, exact=True).click()
    return navigation.value


def messages(page, level="success"):
    """Return the admin's messages of ``level`` (success, warning, error)."""
    return page.locator(f"ul.messagelist li.{level}")


def field_errors(page, label):
    return form_row(page, label).locator(".errorlist")


def change_url(article) -> str:
    return f"/admin/articles/article/{article.pk}/change/"


def article_id_from_url(url: str) -> int:
    return int(re.search(r"/article/(\d+)/change/", url)[1])


def png_bytes(width=96, height=64, colour=(40, 120, 200)) -> bytes:
    """Return a real PNG of one colour, drawn with Pillow."""
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(buffer, format="PNG")
    return buffer.getvalue()


def oversized_png(min_bytes: int) -> bytes:
    """Return a valid PNG over ``min_bytes``, padded with a private ancillary chunk."""
    image = png_bytes()
    padding = b"\0" * (min_bytes - len(image) + 1024)
    chunk_type = b"pdDg"
    chunk = (
        struct.pack(">I", len(padding))
        + chunk_type
        + padding
        + struct.pack(">I", zlib.crc32(chunk_type + padding))
    )
    # After the signature and the header chunk, which every PNG starts with.
    return image[:33] + chunk + image[33:]
