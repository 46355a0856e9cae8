"""The article form's Markdown editor: its live preview endpoint and what its page needs."""

from django.conf import settings
from django.core.exceptions import PermissionDenied, RequestDataTooBig
from django.http import JsonResponse
from django.urls import path, reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.http import require_POST

from articles import library
from articles.validators import body_size_error

# Room for the form encoding around the text: percent-escapes triple a byte at most.
ENCODING_FACTOR = 3


def urls(model_admin) -> list:
    """Return the editor's URLs for ``model_admin`` (the ArticleAdmin), before its own."""

    def view(request):
        return preview_view(model_admin, request)

    # Not admin_view(): a signed-out browser's fetch gets a 403, not a login page.
    return [
        path(
            "preview/",
            never_cache(csrf_protect(require_POST(view))),
            name="articles_article_preview",
        ),
    ]


def editor_attrs(article) -> dict[str, str]:
    """Return the body textarea's data attributes that static/js/article-editor.js reads."""
    attrs = {
        "data-editor-preview-url": reverse("admin:articles_article_preview"),
        "data-editor-site-name": settings.HEALTHHUB_SITE_NAME,
    }
    if article is not None and article.category_id is not None:
        attrs["data-editor-category-path"] = article.category.get_absolute_url()
    if article is not None and article.cover_image:
        attrs["data-editor-cover-url"] = article.cover_image.url
    return attrs


def too_large(size_bytes: int) -> JsonResponse:
    return JsonResponse({"error": " ".join(body_size_error(size_bytes).messages)}, status=413)


def preview_view(model_admin, request):
    """Render the posted ``text`` as a save would; return its HTML and what was removed."""
    user = request.user
    if not (user.is_active and user.is_staff):
        raise PermissionDenied
    if not (model_admin.has_add_permission(request) or model_admin.has_change_permission(request)):
        raise PermissionDenied
    limit = settings.HEALTHHUB_MAX_BODY_KB * 1024
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > limit * ENCODING_FACTOR + 1024:
        return too_large(declared // ENCODING_FACTOR)
    try:
        text = request.POST.get("text", "")
    except RequestDataTooBig:
        return too_large(declared)
    size = len(text.encode("utf-8"))
    if body_size_error(size):
        return too_large(size)
    rendered = library.render_with_library(text, report=True)
    return JsonResponse(
        {
            "html": rendered.html,
            "word_count": rendered.word_count,
            "reading_minutes": rendered.reading_minutes,
            "removed": [str(removal) for removal in rendered.removed],
            "foreign_images": list(dict.fromkeys(rendered.foreign_images)),
            "missing_images": list(rendered.missing_images),
        }
    )
