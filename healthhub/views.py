"""Site-wide answers: the favicon, and error pages that fit the part of the site they are in."""

from django.conf import settings
from django.contrib import admin
from django.shortcuts import redirect, render
from django.templatetags.static import static
from django.utils.cache import patch_cache_control
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views import defaults

FAVICON_MAX_AGE = 24 * 60 * 60


def favicon(request):
    """Redirect browsers that ask for /favicon.ico to the site's icon."""
    # Not permanent: the icon's URL carries a hash that changes with the file.
    response = redirect(static("img/favicon.png"))
    patch_cache_control(response, public=True, max_age=FAVICON_MAX_AGE)
    return response


def page_not_found(request, exception):
    """Answer 404 with an admin page under the admin's URL, else with the public page."""
    if in_admin(request):
        return admin_error(request, "admin/404.html", _("Page not found"), status=404)
    return defaults.page_not_found(request, exception)


def permission_denied(request, exception):
    """Answer 403 with an admin page under the admin's URL, else with Django's page."""
    if in_admin(request):
        return admin_error(request, "admin/403.html", _("Permission denied"), status=403)
    return defaults.permission_denied(request, exception)


def in_admin(request) -> bool:
    # A request stopped before the authentication middleware has no user to
    # build the admin's navigation for.
    return hasattr(request, "user") and request.path_info.startswith(f"/{settings.ADMIN_URL}")


def admin_error(request, template: str, title: str, *, status: int):
    context = {**admin.site.each_context(request), "title": title, "back_url": back_url(request)}
    return render(request, template, context, status=status)


def back_url(request) -> str | None:
    """Return the page the visitor came from on this site, if it was another page."""
    referer = request.headers.get("Referer", "")
    safe = url_has_allowed_host_and_scheme(
        referer, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    )
    if not safe or referer == request.build_absolute_uri():
        return None
    return referer
