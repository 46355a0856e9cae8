"""The site owner adds staff in the admin, and they sign in: Chromium through gunicorn."""

import pytest
from django.contrib.auth import get_user_model

from articles.models import AuthorProfile
from tests.browser.admin_server import PASSWORD, expect, field, messages, save, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.server]

NEW_STAFF = [
    ("ruth", "Ruth", "Writer", "Author", "Authors", "01-owner-adds-author"),
    ("simon", "Simon", "Checker", "Editor", "Editors", "01-owner-adds-editor"),
]


def test_owner_adds_an_author_and_an_editor_who_then_sign_in(admin_site, open_context, shot):
    """Each user added on the Add user page, with a role, is staff in its group and can sign in."""
    owner = open_context(admin_site.owner)
    for username, first, last, role, group, screenshot in NEW_STAFF:
        owner.goto("/admin/auth/user/add/")
        field(owner, "Username").fill(username)
        field(owner, "Password").fill(PASSWORD)
        field(owner, "Password confirmation").fill(PASSWORD)
        field(owner, "First name").fill(first)
        field(owner, "Last name").fill(last)
        field(owner, "Email address").fill(f"{username}@example.org")
        expect(field(owner, "Role")).to_have_attribute("required", "")
        expect(field(owner, "Role").locator("option")).to_contain_text(["Author", "Editor"])
        field(owner, "Role").select_option(label=role)
        shot(owner, f"{screenshot}-form")
        response = save(owner, "Save")
        shot(owner, f"{screenshot}-saved")

        assert response.status == 200, admin_site.log_tail()
        expect(messages(owner)).to_contain_text(username)
        user = get_user_model().objects.get(username=username)
        assert user.is_staff and user.is_active
        assert list(user.groups.values_list("name", flat=True)) == [group]
        assert AuthorProfile.objects.filter(user=user).exists()

    for username, *_details, screenshot in NEW_STAFF:
        page = open_context()
        sign_in(page, username)
        shot(page, f"{screenshot}-signed-in")
        response = page.goto("/admin/articles/article/")
        assert response.status == 200, username
        expect(page.get_by_role("heading", name="Select article to change")).to_be_visible()
