"""Turn an author's Markdown into the safe HTML stored on the article."""

import html as html_lib
import math
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from html.parser import HTMLParser

import markdown
import nh3
from django.conf import settings
from django.utils.text import Truncator
from django.utils.translation import gettext
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
# Browsers drop tabs and newlines from anywhere in a URL, and spaces and
# control characters from its ends. Dropping them everywhere is stricter: an
# address that only looks harmless because of a space is refused too.
_URL_NOISE = re.compile(r"[\x00-\x20]+")


def is_site_image(src: str) -> bool:
    """Return whether an image address is on this site: under its media or static files."""
    url = _URL_NOISE.sub("", src).replace("\\", "/")
    if not url.startswith((settings.MEDIA_URL, settings.STATIC_URL)):
        return False
    # "/media/../../elsewhere" or "/media//evil.example/x" must not pass as media.
    return ".." not in url and "//" not in url.split("://", 1)[-1]


def _keep_site_images(tag: str, attribute: str, value: str) -> str | None:
    # An image from elsewhere would let its host watch who reads the page.
    if tag == "img" and attribute == "src" and not is_site_image(value):
        return None
    return value


WORDS_PER_MINUTE = 220


@dataclass(frozen=True)
class Removal:
    """Something the sanitizer took out of the body: an element, an attribute, a link or an image."""

    kind: str
    name: str

    def __str__(self):
        if self.kind == "element":
            return gettext("<%(tag)s> element") % {"tag": self.name}
        if self.kind == "link":
            return gettext("link to “%(url)s”") % {"url": Truncator(self.name).chars(60)}
        if self.kind == "image":
            return gettext("image “%(url)s”") % {"url": Truncator(self.name).chars(60)}
        return gettext("%(attribute)s attribute") % {"attribute": self.name}


@dataclass(frozen=True)
class RenderedBody:
    html: str
    toc: list[dict] = field(default_factory=list)
    word_count: int = 0
    # Filled in only when render_body() is asked for a report.
    removed: tuple[Removal, ...] = ()
    foreign_images: tuple[str, ...] = ()

    @property
    def reading_minutes(self) -> int:
        return max(1, math.ceil(self.word_count / WORDS_PER_MINUTE))


def render_body(text: str, *, report: bool = False) -> RenderedBody:
    """Render Markdown to sanitized HTML, with its table of contents and word count.

    With ``report``, also list what the sanitizer removed and the images
    that are not on this site; that parses the HTML twice more, so saves
    that nobody reads a report for skip it.
    """
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
        attribute_filter=_keep_site_images,
        strip_comments=True,
    )
    words = len(html_lib.unescape(nh3.clean(safe, tags=set())).split())
    rendered = RenderedBody(html=safe, toc=list(_flatten(md.toc_tokens)), word_count=words)
    if not report:
        return rendered
    before, after = _Inventory(raw), _Inventory(safe)
    return RenderedBody(
        html=rendered.html,
        toc=rendered.toc,
        word_count=rendered.word_count,
        removed=tuple(_removals(before, after)),
        foreign_images=tuple(
            src for src in before.attributes.get(("img", "src"), ()) if not is_site_image(src)
        ),
    )


def render_markdown(text: str) -> str:
    """Return sanitized HTML for Markdown text, with stable ids on headings."""
    return render_body(text).html


class _Inventory(HTMLParser):
    """Count the elements of an HTML fragment and the attribute values of allowed ones."""

    def __init__(self, html: str):
        super().__init__(convert_charrefs=True)
        self.tags = Counter()
        self.attributes = defaultdict(list)
        self.feed(html)
        self.close()

    def handle_starttag(self, tag, attrs):
        self.tags[tag] += 1
        if tag in ALLOWED_TAGS:
            for name, value in attrs:
                self.attributes[tag, name].append(value or "")


def _removals(before: _Inventory, after: _Inventory):
    """Yield what is in the HTML ``before`` sanitizing and missing ``after`` it.

    Comparing the two, rather than predicting the sanitizer, reports what it
    really did, however the markup was malformed.
    """
    for tag, count in sorted((before.tags - after.tags).items()):
        yield from [Removal("element", tag)] * count
    for (tag, name), values in before.attributes.items():
        if (tag, name) == ("a", "rel"):
            continue  # replaced by the site's own, not removed
        kept = Counter(after.attributes.get((tag, name), ()))
        for value in values:
            if kept[value]:
                kept[value] -= 1
            elif (tag, name) == ("a", "href"):
                yield Removal("link", value)
            elif (tag, name) == ("img", "src"):
                yield Removal("image", value)
            else:
                yield Removal("attribute", name)


def _flatten(tokens: list[dict]):
    for token in tokens:
        yield {
            "level": min(max(token["level"], 2), 3),
            "id": token["id"],
            "title": html_lib.unescape(token["name"]),
        }
        yield from _flatten(token["children"])
