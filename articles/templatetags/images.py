"""Turn stored rendition names into URLs: ``{% load images %}``."""

from django import template
from django.core.files.storage import default_storage

register = template.Library()


@register.filter
def media_url(name):
    """Return the URL of a file in the default storage, or "" for no name."""
    return default_storage.url(name) if name else ""


@register.filter
def srcset(sources, key):
    """Return a ``srcset`` value from rendition sources: "url 480w, url 960w"."""
    return ", ".join(
        f"{default_storage.url(source[key])} {source['width']}w"
        for source in sources or ()
        if source.get(key)
    )
