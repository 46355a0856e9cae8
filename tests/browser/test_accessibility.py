"""axe-core finds no serious or critical accessibility violations on the reader pages."""

import pytest

from tests.browser.pages import READER_PAGES

Axe = pytest.importorskip("axe_playwright_python.sync_playwright").Axe

pytestmark = pytest.mark.browser

BLOCKING_IMPACTS = {"serious", "critical"}


def blocking_violations(page, context=None):
    """Return axe-core's serious and critical violations on the page (or within ``context``)."""
    response = Axe().run(page, context=context).response
    assert response.get("testEngine", {}).get("name") == "axe-core", response.keys()
    return [v for v in response["violations"] if v["impact"] in BLOCKING_IMPACTS]


def describe(violations):
    """Return the violations as readable lines: rule, impact, help, then each failing node."""
    lines = [f"{len(violations)} serious or critical axe-core violation(s):"]
    for violation in violations:
        lines.append(f"- {violation['id']} ({violation['impact']}): {violation['help']}")
        lines.append(f"  {violation['helpUrl']}")
        for node in violation["nodes"]:
            target = " ".join(str(part) for part in node["target"])
            summary = " ".join((node.get("failureSummary") or "").split())
            lines.append(f"    {target}: {summary}")
    return "\n".join(lines)


@pytest.mark.parametrize("path", READER_PAGES.values(), ids=READER_PAGES.keys())
def test_reader_page_has_no_serious_accessibility_violations(page, path):
    """The page passes axe-core with no serious or critical violations."""
    response = page.goto(path)
    assert response.ok, response.status
    violations = blocking_violations(page)
    assert not violations, describe(violations)


@pytest.mark.parametrize("name", ["home", "article"])
def test_dark_mode_page_has_no_serious_accessibility_violations(page, name, screenshot_dir):
    """In dark mode the page passes axe-core with no serious or critical violations."""
    page.emulate_media(color_scheme="dark")
    response = page.goto(READER_PAGES[name])
    assert response.ok, response.status
    assert page.evaluate("matchMedia('(prefers-color-scheme: dark)').matches")
    page.screenshot(path=screenshot_dir / f"{name}-dark-1280.png", full_page=True)
    violations = blocking_violations(page)
    assert not violations, describe(violations)


@pytest.mark.parametrize("color_scheme", ["light", "dark"])
def test_focused_skip_link_has_no_serious_accessibility_violations(page, color_scheme):
    """Once Tab reveals it, the skip link passes axe-core in both colour schemes."""
    page.emulate_media(color_scheme=color_scheme)
    page.goto("/")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.classList.contains('skip-link')")
    violations = blocking_violations(page, context=".skip-link")
    assert not violations, describe(violations)
