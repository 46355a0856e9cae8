"""Turn an author's Markdown into the safe HTML stored on the article."""

import html as html_lib
import math
import re
from dataclasses import dataclass, field

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


WORDS_PER_MINUTE = 220


@dataclass(frozen=True)
class RenderedBody:
    html: str
    toc: list[dict] = field(default_factory=list)
    word_count: int = 0

    @property
    def reading_minutes(self) -> int:
        return max(1, math.ceil(self.word_count / WORDS_PER_MINUTE))


def render_body(text: str) -> RenderedBody:
    """Render Markdown to sanitized HTML, with its table of contents and word count."""
    md = markdown.Markdown(
        extensions=["extra", "sane_lists", TocExtension(toc_depth="1-3")],
        output_format="html",
    )
    # The article title is the page's only <h1>; a "# Heading" in the body
    # becomes a section heading instead of being lost.
    raw = _H1.sub(r"<\1h2", md.convert(text))
    safe = nh3.clean(
        raw,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=URL_SCHEMES,
        link_rel="noopener noreferrer",
        attribute_filter=_keep_local_images,
        strip_comments=True,
    )
    words = len(html_lib.unescape(nh3.clean(safe, tags=set())).split())
    return RenderedBody(html=safe, toc=list(_flatten(md.toc_tokens)), word_count=words)


def render_markdown(text: str) -> str:
    """Return sanitized HTML for Markdown text, with stable ids on headings."""
    return render_body(text).html


def _flatten(tokens: list[dict]):
    for token in tokens:
        yield {
            "level": min(max(token["level"], 2), 3),
            "id": token["id"],
            "title": html_lib.unescape(token["name"]),
        }
        yield from _flatten(token["children"])
