import json

from django import template
from django.core.serializers.json import DjangoJSONEncoder
from django.utils.html import format_html
from django.utils.safestring import mark_safe

from articles.validators import strip_unsafe_characters

register = template.Library()

# The same escapes as Django's json_script: no "</script>" or "<!--" can
# close or confuse the script element, whatever a title contains.
_JSON_ESCAPES = {ord("<"): "\\u003C", ord(">"): "\\u003E", ord("&"): "\\u0026"}
# Line and paragraph separators are valid JSON but end a line in older
# JavaScript parsers; escaped, they read the same everywhere.
_JSON_ESCAPES |= {0x2028: "\\u2028", 0x2029: "\\u2029"}


def _printable(value):
    """Return ``value`` with every string in it stripped of control characters and surrogates."""
    # A lone surrogate cannot be encoded as UTF-8 at all, so one stray
    # character in a title would otherwise fail the whole page.
    if isinstance(value, str):
        return strip_unsafe_characters(value)
    if isinstance(value, dict):
        return {key: _printable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_printable(item) for item in value]
    return value


@register.simple_tag(takes_context=True)
def json_ld(context, data):
    """Render ``data`` as a JSON-LD script element, safely escaped, with the CSP nonce."""
    payload = json.dumps(_printable(data), cls=DjangoJSONEncoder, ensure_ascii=False).translate(
        _JSON_ESCAPES
    )
    request = context.get("request")
    # django-csp's lazy nonce is falsy until read; reading it adds it to the header.
    nonce = getattr(request, "csp_nonce", None)
    nonce_attr = format_html(' nonce="{}"', str(nonce)) if nonce is not None else ""
    return mark_safe(f'<script type="application/ld+json"{nonce_attr}>{payload}</script>')


@register.simple_tag(takes_context=True)
def page_url(context, number):
    """Return the link to page ``number`` of the current list, keeping other parameters."""
    request = context["request"]
    params = request.GET.copy()
    params.pop("page", None)
    if number != 1:
        params["page"] = number
    query = params.urlencode()
    return f"{request.path}?{query}" if query else request.path
