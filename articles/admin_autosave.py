"""The article form's autosave endpoints, and what its page needs to offer a restore."""

import json

from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied, RequestDataTooBig
from django.http import Http404, HttpResponseBadRequest, JsonResponse
from django.urls import path, reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.http import require_POST

from articles import autosave


def urls(model_admin) -> list:
    """Return the autosave URLs of ``model_admin`` (the ArticleAdmin), before its own."""

    def view(function):
        def wrapped(request, object_id=None):
            return function(model_admin, request, object_id)

        # Not admin_view(): a signed-out browser gets a 403, not a login page.
        return never_cache(csrf_protect(require_POST(wrapped)))

    return [
        path("autosave/", view(save_view), name="articles_article_autosave_new"),
        path(
            "autosave/discard/",
            view(discard_view),
            name="articles_article_autosave_discard_new",
        ),
        path("<path:object_id>/autosave/", view(save_view), name="articles_article_autosave"),
        path(
            "<path:object_id>/autosave/discard/",
            view(discard_view),
            name="articles_article_autosave_discard",
        ),
    ]


def editable_article(model_admin, request, object_id):
    """Return the article the user may edit here (None for a new one), or raise PermissionDenied."""
    user = request.user
    if not (user.is_active and user.is_staff):
        raise PermissionDenied
    if object_id is None:
        if not model_admin.has_add_permission(request):
            raise PermissionDenied
        return None
    try:
        article = model_admin.get_object(request, unquote(object_id))
    except (Http404, ValueError):
        article = None
    # Missing or someone else's: the same answer, so ids reveal nothing.
    if article is None or not model_admin.has_change_permission(request, article):
        raise PermissionDenied
    return article


def save_view(model_admin, request, object_id=None):
    """Store the posted form fields as the user's autosave of the article."""
    article = editable_article(model_admin, request, object_id)
    limit = autosave.max_request_bytes()
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > limit:
        return JsonResponse({"error": "Too large to autosave."}, status=413)
    try:
        raw = request.body
    except RequestDataTooBig:
        return JsonResponse({"error": "Too large to autosave."}, status=413)
    if len(raw) > limit:
        return JsonResponse({"error": "Too large to autosave."}, status=413)
    try:
        fields = autosave.clean_fields(json.loads(raw).get("fields"))
    except (ValueError, AttributeError, UnicodeDecodeError):
        return HttpResponseBadRequest("Expected a JSON object with the form's fields.")
    saved = autosave.save_autosave(user=request.user, article=article, data=fields)
    return JsonResponse({"saved_at": saved.saved_at.isoformat()})


def discard_view(model_admin, request, object_id=None):
    """Delete the user's autosave of the article."""
    article = editable_article(model_admin, request, object_id)
    deleted = autosave.discard_autosave(user=request.user, article=article)
    return JsonResponse({"discarded": deleted})


def change_form_context(request, article) -> dict:
    """Return what the change form needs: autosave, a newer autosave to restore, the review notes."""
    pk = article.pk if article is not None else None
    if pk is None:
        save_url = reverse("admin:articles_article_autosave_new")
        discard_url = reverse("admin:articles_article_autosave_discard_new")
    else:
        save_url = reverse("admin:articles_article_autosave", args=[pk])
        discard_url = reverse("admin:articles_article_autosave_discard", args=[pk])
    pending = autosave.pending_autosave(user=request.user, article=article if pk else None)
    config = {
        "saveUrl": save_url,
        "discardUrl": discard_url,
        "storageKey": f"healthhub:autosave:{request.user.pk}:{pk or 'new'}",
        "fields": list(autosave.FIELDS),
        "updatedAt": article.updated_at.isoformat() if pk else None,
        "server": (
            {"savedAt": pending.saved_at.isoformat(), "data": pending.data} if pending else None
        ),
    }
    notes = list(article.review_notes.select_related("author")) if pk is not None else []
    return {
        "review_notes": notes,
        "autosave_config": config,
        "autosave_pending": pending,
        "autosave_pending_at": timezone.localtime(pending.saved_at) if pending else None,
    }
