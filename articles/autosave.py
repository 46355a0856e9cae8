"""Autosaves: the last unsaved state of an article form, one row per person and article.

An autosave is never a revision and never touches the article: the author
restores it into the form and saves normally, so the form's version check
still guards against a concurrent editor.
"""

from django.conf import settings
from django.utils import timezone

from articles.models import Article, Autosave

# The form's text fields an autosave keeps; files and choices are left out.
FIELDS = (
    "title",
    "slug",
    "excerpt",
    "body",
    "tags",
    "cover_alt",
    "review_note",
    "review_reply",
)
# Room for the other fields and the JSON around a body of the largest size.
MARGIN_BYTES = 64 * 1024


def max_request_bytes() -> int:
    """Return the largest autosave request accepted, in bytes."""
    return settings.HEALTHHUB_MAX_BODY_KB * 1024 + MARGIN_BYTES


def clean_fields(data) -> dict[str, str]:
    """Return the known text fields of ``data``; raise ValueError for anything else."""
    if not isinstance(data, dict):
        raise ValueError("The fields must be an object.")
    cleaned = {}
    for name, value in data.items():
        if name not in FIELDS:
            continue
        if not isinstance(value, str):
            raise ValueError(f"The field {name!r} must be text.")
        cleaned[name] = value
    return cleaned


def save_autosave(*, user, article: Article | None, data: dict[str, str]) -> Autosave:
    """Store ``data`` as ``user``'s one autosave of ``article`` (None: a new article)."""
    autosave, _created = Autosave.objects.update_or_create(
        user=user,
        article=article,
        defaults={"data": data, "saved_at": timezone.now()},
    )
    return autosave


def discard_autosave(*, user, article: Article | None) -> int:
    """Delete ``user``'s autosave of ``article`` (None: a new article); return how many."""
    deleted, _by_model = Autosave.objects.filter(user=user, article=article).delete()
    return deleted


def pending_autosave(*, user, article: Article | None) -> Autosave | None:
    """Return ``user``'s autosave of ``article`` if it is newer than the article's last save."""
    autosave = Autosave.objects.filter(user=user, article=article).first()
    if autosave is None:
        return None
    if article is not None and autosave.saved_at <= article.updated_at:
        return None
    return autosave
