"""Browser fixtures: one headless Chromium, a fresh context per test, the demo content.

The tests skip, with the reason, when Playwright or Chromium is missing.
CI installs Debian's chromium (see .ci/run); `playwright install` is not used.
"""

import io
import os
from pathlib import Path

import pytest
from django.core.cache import cache
from django.core.management import call_command

try:
    from playwright.sync_api import sync_playwright
except ImportError:
    sync_playwright = None

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
SCREENSHOT_DIR = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
TIMEOUT_MS = 10_000
# Every admin page in every browser test: a blocked script, style or image fails the test.
CSP_WATCH = """
document.addEventListener("securitypolicyviolation", (event) => {
    window.__reportCspViolation(`${event.violatedDirective} blocked ${event.blockedURI || "inline"}`);
});
"""


@pytest.fixture(scope="package")
def browser():
    """Start one headless Chromium for all the browser tests, or skip them."""
    if sync_playwright is None:
        pytest.skip("Playwright is not installed: pip install -r requirements-dev.txt")
    if not CHROMIUM.is_file():
        pytest.skip(f"No Chromium at {CHROMIUM}: apt-get install chromium")
    # Playwright's sync API marks an event loop as running in this thread, so
    # Django would refuse the ORM calls the fixtures and pytest-django's flush
    # make here. Nothing here runs concurrently with the loop, and the flag is
    # lifted again once the browser is gone, so the rest of the suite keeps
    # Django's guard.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            chromium = playwright.chromium.launch(
                executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
            )
            yield chromium
            chromium.close()
    finally:
        if previous is None:
            del os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"]
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def demo_content(browser, transactional_db):
    """Load the demo categories, authors and articles, committed for the live server."""
    # The live server shares this process's locmem cache; a category list
    # cached by an earlier test would point at flushed rows.
    cache.clear()
    call_command("load_demo", verbosity=0, stdout=io.StringIO())


@pytest.fixture
def open_page(browser, live_server, demo_content):
    """Return a function that opens a page in a fresh browser context on the live server."""
    contexts = []

    def open_page(*, width=1280, height=800):
        context = browser.new_context(
            base_url=live_server.url,
            viewport={"width": width, "height": height},
            reduced_motion="reduce",
        )
        context.set_default_timeout(TIMEOUT_MS)
        contexts.append(context)
        return context.new_page()

    yield open_page
    for context in contexts:
        context.close()


@pytest.fixture
def page(open_page):
    """Return a page 1280 px wide in a fresh context, with the demo content loaded."""
    return open_page()


@pytest.fixture(scope="session")
def screenshot_dir():
    """Return the folder for screenshots (artifacts/ is git-ignored)."""
    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    return SCREENSHOT_DIR


# The admin through gunicorn (tests/browser/admin_server.py) ---------------
# Imported inside the fixtures, so that without Playwright the tests still
# collect and skip with the browser fixture's reason.


@pytest.fixture(scope="session")
def collected_static(tmp_path_factory):
    """Collect the static files once for every gunicorn the admin tests start."""
    from tests.browser.admin_server import collect_static

    static_root = tmp_path_factory.mktemp("static")
    collect_static(static_root)
    return static_root


@pytest.fixture
def admin_site(browser, transactional_db, collected_static, tmp_path):
    """Commit the demo content and staff users; serve them through two gunicorn workers."""
    from tests.browser.admin_server import seed_site, serving_admin

    with serving_admin(collected_static, tmp_path, seed_site()) as site:
        yield site


@pytest.fixture
def open_context(browser, admin_site):
    """Return a function that opens a page in a fresh browser context, signed in if given a user."""
    from tests.browser.admin_server import PASSWORD, sign_in

    contexts, violations = [], []

    def open_context(user=None, *, password=PASSWORD):
        context = browser.new_context(
            base_url=admin_site.url,
            viewport={"width": 1280, "height": 900},
            reduced_motion="reduce",
        )
        context.set_default_timeout(TIMEOUT_MS)
        # Reported through a binding, so a page closed or left mid-test still counts.
        context.expose_binding(
            "__reportCspViolation",
            lambda source, text: violations.append(f"{source['page'].url}: {text}"),
        )
        context.add_init_script(CSP_WATCH)
        contexts.append(context)
        page = context.new_page()
        if user is not None:
            sign_in(page, user.username, password)
        return page

    yield open_context
    for context in contexts:
        context.close()
    assert not violations, "The admin broke its Content-Security-Policy:\n" + "\n".join(violations)


@pytest.fixture(scope="session")
def shot(screenshot_dir):
    """Return a function that saves a full-page screenshot under screenshots/admin/."""
    folder = screenshot_dir / "admin"
    folder.mkdir(exist_ok=True)

    def shot(page, name):
        path = folder / f"{name}.png"
        page.screenshot(path=path, full_page=True)
        return path

    return shot
