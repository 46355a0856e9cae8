"""Turn an author's Markdown into the safe HTML stored on the article."""

import html as html_lib
import math
import re
import xml.etree.ElementTree as etree
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from html.parser import HTMLParser

import markdown
import nh3
from django.conf import settings
from django.utils.text import Truncator
from django.utils.translation import gettext
from markdown.extensions import Extension
from markdown.extensions.toc import TocExtension
from markdown.treeprocessors import Treeprocessor

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
    "picture",
    "pre",
    "small",
    "source",
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
    "img": {"src", "srcset", "alt", "title", "width", "height"},
    "ol": {"start"},
    "source": {"srcset"},
    "td": {"align"},
    "th": {"align", "scope"},
}
# What a library image's markup needs beyond ALLOWED_ATTRIBUTES, each
# attribute restricted to the one value the site writes.
IMAGE_SIZES = "(min-width: 48rem) 45rem, 100vw"
ATTRIBUTE_VALUES = {
    "img": {"sizes": {IMAGE_SIZES}, "loading": {"lazy"}, "decoding": {"async"}},
    "source": {"sizes": {IMAGE_SIZES}, "type": {"image/webp"}},
}
ALLOWED_CLASSES = {"figure": {"article-figure"}}
URL_SCHEMES = {"http", "https", "mailto"}
# ![alt](image:42) refers to image 42 of the library (articles.library).
_LIBRARY_SRC = re.compile(r"image:(\d{1,12})")
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


def srcset_urls(srcset: str) -> list[str]:
    """Return the addresses in a ``srcset`` attribute."""
    return [candidate.split()[0] for candidate in srcset.split(",") if candidate.strip()]


def _keep_site_images(tag: str, attribute: str, value: str) -> str | None:
    # An image from elsewhere would let its host watch who reads the page.
    if tag == "img" and attribute == "src" and not is_site_image(value):
        return None
    if attribute == "srcset" and not all(is_site_image(url) for url in srcset_urls(value)):
        return None
    return value


@dataclass(frozen=True)
class LibraryImage:
    """What the body needs to show one image of the library; URLs are the site's own."""

    alt: str
    src: str
    width: int
    height: int
    caption: str = ""
    credit: str = ""
    # "url 480w, url 960w, ..." of the fallback (JPEG or PNG) and WebP renditions.
    srcset: str = ""
    webp_srcset: str = ""


# Called once per body with the referenced ids; returns the images found.
ImageResolver = Callable[[list[int]], Mapping[int, LibraryImage]]


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
    # Library images the body shows, and ids it refers to that the library lacks.
    image_ids: tuple[int, ...] = ()
    missing_images: tuple[int, ...] = ()

    @property
    def reading_minutes(self) -> int:
        return max(1, math.ceil(self.word_count / WORDS_PER_MINUTE))


def render_body(
    text: str, *, report: bool = False, images: ImageResolver | None = None
) -> RenderedBody:
    """Render Markdown to sanitized HTML, with its table of contents and word count.

    ``images`` looks up the library images that ``![alt](image:N)`` refers
    to, all in one call; without it every reference is missing. A reference
    alone in its paragraph becomes a figure with its caption and credit.

    With ``report``, also list what the sanitizer removed and the images
    that are not on this site; that parses the HTML twice more, so saves
    that nobody reads a report for skip it.
    """
    library = _LibraryImages(images)
    md = markdown.Markdown(
        extensions=["extra", "sane_lists", TocExtension(toc_depth="1-3"), library],
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
        tag_attribute_values=ATTRIBUTE_VALUES,
        allowed_classes=ALLOWED_CLASSES,
        link_rel="noopener noreferrer",
        attribute_filter=_keep_site_images,
        strip_comments=True,
    )
    words = len(html_lib.unescape(nh3.clean(safe, tags=set())).split())
    rendered = RenderedBody(
        html=safe,
        toc=list(_flatten(md.toc_tokens)),
        word_count=words,
        image_ids=tuple(library.used),
        missing_images=tuple(library.missing),
    )
    if not report:
        return rendered
    before, after = _Inventory(raw), _Inventory(safe)
    addresses = [
        *before.attributes.get(("img", "src"), ()),
        *(
            url
            for tag in ("img", "source")
            for srcset in before.attributes.get((tag, "srcset"), ())
            for url in srcset_urls(srcset)
        ),
    ]
    return RenderedBody(
        html=rendered.html,
        toc=rendered.toc,
        word_count=rendered.word_count,
        removed=tuple(_removals(before, after)),
        foreign_images=tuple(url for url in addresses if not is_site_image(url)),
        image_ids=rendered.image_ids,
        missing_images=rendered.missing_images,
    )


def render_markdown(text: str) -> str:
    """Return sanitized HTML for Markdown text, with stable ids on headings."""
    return render_body(text).html


class _LibraryImages(Extension):
    """Replace ``![alt](image:N)`` references with the library's responsive images."""

    def __init__(self, resolve: ImageResolver | None):
        super().__init__()
        self.resolve = resolve
        self.used: list[int] = []
        self.missing: list[int] = []

    def extendMarkdown(self, md):
        # After the inline patterns (20) have made the <img> elements.
        md.treeprocessors.register(_LibraryTreeprocessor(md, self), "library_images", 15)


class _LibraryTreeprocessor(Treeprocessor):
    def __init__(self, md, extension: _LibraryImages):
        super().__init__(md)
        self.extension = extension

    def run(self, root):
        parents = {child: parent for parent in root.iter() for child in parent}
        references = [
            (img, int(match[1]))
            for img in root.iter("img")
            if (match := _LIBRARY_SRC.fullmatch(img.get("src", "").strip()))
        ]
        if not references:
            return
        ids = list(dict.fromkeys(pk for _img, pk in references))
        found = self.extension.resolve(ids) if self.extension.resolve else {}
        self.extension.used = [pk for pk in ids if pk in found]
        self.extension.missing = [pk for pk in ids if pk not in found]
        for img, pk in references:
            parent = parents[img]
            image = found.get(pk)
            if image is None and _alone_in_paragraph(parent, img) and parent in parents:
                parents[parent].remove(parent)
            elif image is None:
                _replace(parent, img, [])
            elif _alone_in_paragraph(parent, img):
                parent.tag, parent.text = "figure", None
                parent.attrib = {"class": "article-figure"}
                _replace(parent, img, _figure_children(image, img.get("alt", "")))
            else:
                _replace(parent, img, [_picture(image, img.get("alt", ""))])


def _alone_in_paragraph(parent, img) -> bool:
    return (
        parent.tag == "p"
        and len(parent) == 1
        and not (parent.text or "").strip()
        and not (img.tail or "").strip()
    )


def _replace(parent, old, new: list) -> None:
    """Put the elements ``new`` where ``old`` is in ``parent``, keeping the text after it."""
    index = list(parent).index(old)
    parent.remove(old)
    tail = old.tail
    for offset, element in enumerate(new):
        parent.insert(index + offset, element)
    if new:
        new[-1].tail = tail if parent.tag != "figure" else None
    elif tail:
        if index:
            previous = parent[index - 1]
            previous.tail = (previous.tail or "") + tail
        else:
            parent.text = (parent.text or "") + tail


def _picture(image: LibraryImage, alt: str):
    """Return the <picture> (or the bare <img>) showing ``image``; the serializer escapes text."""
    img = etree.Element("img", {"src": image.src})
    if image.srcset:
        img.set("srcset", image.srcset)
        img.set("sizes", IMAGE_SIZES)
    for name, value in (
        ("width", str(image.width)),
        ("height", str(image.height)),
        ("alt", alt or image.alt),
        ("loading", "lazy"),
        ("decoding", "async"),
    ):
        img.set(name, value)
    if not image.webp_srcset:
        return img
    picture = etree.Element("picture")
    etree.SubElement(
        picture,
        "source",
        {"type": "image/webp", "srcset": image.webp_srcset, "sizes": IMAGE_SIZES},
    )
    picture.append(img)
    return picture


def _figure_children(image: LibraryImage, alt: str) -> list:
    children = [_picture(image, alt)]
    if image.caption or image.credit:
        caption = etree.Element("figcaption")
        caption.text = image.caption
        if image.credit:
            credit = etree.SubElement(caption, "small")
            credit.text = image.credit
            if image.caption:
                caption.text += " "
        children.append(caption)
    return children


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
