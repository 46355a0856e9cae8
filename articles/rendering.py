"""Turn an author's Markdown into the safe HTML stored on the article."""

import re

import markdown
import nh3
from django.conf import settings
from markdown.extensions.toc import TocExtension

ALLOWED_TAGS = {
    "a",
    "abbr",
    "b",
    "blockquote",
    "br",
    "code",
    "dd",
    "del",
    "dl",
    "dt",
    "em",
    "figcaption",
    "figure",
    "h2",
    "h3",
    "h4",
    "hr",
    "i",
    "img",
    "li",
    "ol",
    "p",
    "pre",
    "strong",
    "sub",
    "sup",
    "table",
    "tbody",
    "td",
    "th",
    "thead",
    "tr",
    "ul",
}
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "abbr": {"title"},
    "h2": {"id"},
    "h3": {"id"},
    "h4": {"id"},
    "img": {"src", "alt", "title", "width", "height"},
    "ol": {"start"},
    "td": {"align"},
    "th": {"align", "scope"},
}
URL_SCHEMES = {"http", "https", "mailto"}
_H1 = re.compile(r"<(/?)h1\b")


def _keep_local_images(tag: str, attribute: str, value: str) -> str | None:
    if tag == "img" and attribute == "src" and not value.startswith(settings.MEDIA_URL):
        return None
    return value


def render_markdown(text: str) -> str:
    """Return sanitized HTML for Markdown text, with stable ids on headings."""
    html = markdown.markdown(
        text,
        extensions=[
            "extra",
            "sane_lists",
            TocExtension(toc_depth="2-4"),
        ],
        output_format="html",
    )
    # The article title is the page's only <h1>; a "# Heading" in the body
    # becomes a section heading instead of being lost.
    html = _H1.sub(r"<\1h2", html)
    return nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=URL_SCHEMES,
        link_rel="noopener noreferrer",
        attribute_filter=_keep_local_images,
        strip_comments=True,
    )
