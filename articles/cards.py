"""Share cards: the 1200 by 630 picture link previews show for an article without a cover.

A card shows the article's title, its category and the site name, drawn
with the fonts shipped in ``articles/fonts`` in the colours of the site and
of its default card (static/img/share-card.png). It is stored as
``cards/<digest>-<token>.png``: the digest is a hash of what the card shows,
so a save that changes none of it draws nothing, and the random token keeps
two articles with the same title from sharing, and deleting, one file.

This module must not import ``articles.models`` at import time: the models
import it.
"""

import hashlib
import io
import logging
import posixpath
import secrets
import unicodedata
from functools import cache, lru_cache, partial
from pathlib import Path

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import transaction
from PIL import Image, ImageDraw, ImageFont

logger = logging.getLogger(__name__)

CARDS_DIR = "cards"
SIZE = WIDTH, HEIGHT = (1200, 630)
# Part of the digest: bump it when the design changes, then run
# ``make_share_cards --all`` to redraw every card.
DESIGN = "1"
DIGEST_LENGTH = 16

FONTS_DIR = Path(__file__).resolve().parent / "fonts"
BOLD_FONT = FONTS_DIR / "DejaVuSans-Bold.ttf"
REGULAR_FONT = FONTS_DIR / "DejaVuSans.ttf"

# The site's palette (static/css/site.css), as on the default card.
BRAND = "#0b6e4f"
BRAND_DARK = "#08533b"
BRAND_LIGHT = "#3fb68b"
ACCENT = "#e8f3ef"
WHITE = "#ffffff"

MARGIN = 80
BAR_HEIGHT = 24
TEXT_WIDTH = WIDTH - 2 * MARGIN
# Title sizes tried from the largest down; the first that fits wins.
TITLE_SIZES = (76, 68, 60, 54, 48, 44)
MAX_TITLE_LINES = 4
LINE_SPACING = 1.18
CATEGORY_SIZE = 28
SITE_NAME_SIZE = 36
ELLIPSIS = "\u2026"

# What the card shows, and what the save that wrote it may have changed.
CARD_FIELDS = frozenset({"title", "category", "category_id"})


def card_inputs(article) -> tuple[str, str, str]:
    """Return what the article's card shows: its title, category name and the site name."""
    return (article.title, article.category.name, settings.HEALTHHUB_SITE_NAME)


def card_digest(inputs) -> str:
    """Return the hash of a card's inputs and design that its file name starts with."""
    text = "\x1f".join((DESIGN, *inputs))
    return hashlib.sha256(text.encode()).hexdigest()[:DIGEST_LENGTH]


def name_digest(name: str) -> str:
    """Return the digest a card's storage name records, or "" for any other name."""
    if not name or posixpath.dirname(name) != CARDS_DIR:
        return ""
    return posixpath.basename(name).partition("-")[0]


def is_current(article) -> bool:
    """Return whether the article's stored card shows its current title, category and site."""
    return name_digest(article.share_card.name or "") == card_digest(card_inputs(article))


def sync_share_card(article, update_fields=None) -> bool:
    """Draw the article's card if what it shows has changed; return whether it was replaced.

    Called by Article.save() before the row is written, so the new name is
    saved with it. An article with a cover is shared with the cover and gets
    no card. A save whose ``update_fields`` leave out the title and category,
    or of an article whose title, category or card is not loaded, draws
    nothing. A failure to draw or store the card is logged, never raised: the
    page then falls back to the default card.
    """
    loaded = article.__dict__
    if update_fields is not None and not CARD_FIELDS & set(update_fields):
        return False
    if any(name not in loaded for name in ("title", "category_id", "share_card", "cover_image")):
        return False
    if article.cover_image or article.category_id is None or is_current(article):
        return False
    old = article.share_card.name or ""
    try:
        inputs = card_inputs(article)
        digest = card_digest(inputs)
        png = draw_card(*inputs)
        name = article.share_card.storage.save(
            f"{CARDS_DIR}/{digest}-{secrets.token_hex(4)}.png", ContentFile(png)
        )
    except Exception:
        logger.exception("Could not draw the share card of article %s", article.pk)
        return False
    article.share_card.name = name
    if name_digest(old):
        # Once the new name is committed; a rollback keeps the old card in use.
        transaction.on_commit(
            partial(_delete_file, article.share_card.storage, old), using=article._state.db
        )
    return True


def _delete_file(storage, name: str) -> None:
    try:
        storage.delete(name)
    except Exception:
        logger.warning("Could not delete the old share card %s", name, exc_info=True)


# Drawing --------------------------------------------------------------------


@cache
def font(path: Path, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(path), size)


def draw_card(title: str, category: str, site_name: str) -> bytes:
    """Return the PNG of a card showing ``title``, ``category`` and ``site_name``."""
    image = Image.new("RGB", SIZE, BRAND)
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, HEIGHT - BAR_HEIGHT, WIDTH, HEIGHT), fill=BRAND_DARK)

    top = MARGIN - 8
    category_font = font(BOLD_FONT, CATEGORY_SIZE)
    label = fit_line(printable(category, category_font).upper(), category_font, TEXT_WIDTH - 40)
    if label:
        left, _, right, _ = draw.textbbox((0, 0), label, font=category_font)
        pill_height = CATEGORY_SIZE + 24
        draw.rounded_rectangle(
            (MARGIN, top, MARGIN + right - left + 40, top + pill_height),
            radius=pill_height // 2,
            fill=BRAND_DARK,
        )
        draw.text(
            (MARGIN + 20, top + pill_height // 2),
            label,
            font=category_font,
            fill=ACCENT,
            anchor="lm",
        )

    bottom = HEIGHT - BAR_HEIGHT - MARGIN + 16
    name_font = font(BOLD_FONT, SITE_NAME_SIZE)
    mark = SITE_NAME_SIZE
    draw_mark(draw, MARGIN, bottom - mark, mark)
    draw.text(
        (MARGIN + mark + 16, bottom - mark // 2),
        fit_line(printable(site_name, name_font), name_font, TEXT_WIDTH - mark - 16),
        font=name_font,
        fill=WHITE,
        anchor="lm",
    )

    # The title sits in the middle of the space between the label and the name.
    area_top, area_bottom = top + CATEGORY_SIZE + 24 + 40, bottom - mark - 40
    title_font, lines = layout_title(title, area_bottom - area_top)
    line_height = round(title_font.size * LINE_SPACING)
    y = area_top + (area_bottom - area_top - line_height * len(lines)) // 2
    for line in lines:
        draw.text((MARGIN, y + line_height // 2), line, font=title_font, fill=WHITE, anchor="lm")
        y += line_height

    buffer = io.BytesIO()
    # zlib's default level: optimize=True (level 9) took twice as long as the
    # drawing itself for files only 5% smaller, a cost every import and
    # make_share_cards run pays per article.
    image.save(buffer, "PNG", compress_level=6)
    return buffer.getvalue()


def draw_mark(draw, left: int, top: int, size: int) -> None:
    """Draw the site's logo, a white cross on a green disc, ``size`` pixels across."""
    draw.ellipse((left, top, left + size, top + size), fill=BRAND_LIGHT)
    arm, reach = size * 0.16, size * 0.3
    middle_x, middle_y = left + size / 2, top + size / 2
    draw.rectangle((middle_x - arm, middle_y - reach, middle_x + arm, middle_y + reach), fill=WHITE)
    draw.rectangle((middle_x - reach, middle_y - arm, middle_x + reach, middle_y + arm), fill=WHITE)


def layout_title(title: str, height: int) -> tuple[ImageFont.FreeTypeFont, list[str]]:
    """Return the largest title font whose wrapped lines fit ``height``, and those lines.

    A title too long even at the smallest size is cut after the last line
    that fits, with an ellipsis.
    """
    for size in TITLE_SIZES:
        title_font = font(BOLD_FONT, size)
        max_lines = min(MAX_TITLE_LINES, height // round(size * LINE_SPACING))
        lines = wrap(printable(title, title_font), title_font, TEXT_WIDTH)
        if len(lines) <= max_lines:
            return title_font, lines
    kept = lines[: max(max_lines, 1)]
    kept[-1] = fit_line(kept[-1] + ELLIPSIS, title_font, TEXT_WIDTH, force_ellipsis=True)
    return title_font, kept


def wrap(text: str, text_font, width: int) -> list[str]:
    """Split ``text`` into lines no wider than ``width``, between words where possible."""
    lines, line = [], ""
    for word in text.split():
        candidate = f"{line} {word}" if line else word
        if text_font.getlength(candidate) <= width:
            line = candidate
            continue
        if line:
            lines.append(line)
        # A word wider than a whole line (a URL, a long compound) is broken
        # wherever it must be.
        while text_font.getlength(word) > width:
            cut = _longest_prefix(word, text_font, width)
            lines.append(word[:cut])
            word = word[cut:]
        line = word
    if line:
        lines.append(line)
    return lines


def fit_line(text: str, text_font, width: int, *, force_ellipsis: bool = False) -> str:
    """Return ``text``, cut and ended with an ellipsis if it is wider than ``width``."""
    if not force_ellipsis and text_font.getlength(text) <= width:
        return text
    text = text.removesuffix(ELLIPSIS).rstrip()
    while text and text_font.getlength(text + ELLIPSIS) > width:
        # Whole words go first; a single word left is cut letter by letter.
        text = text.rsplit(" ", 1)[0] if " " in text else text[:-1]
        text = text.rstrip()
    return text + ELLIPSIS


def _longest_prefix(word: str, text_font, width: int) -> int:
    low, high = 1, len(word)
    while low < high:
        middle = (low + high + 1) // 2
        if text_font.getlength(word[:middle]) <= width:
            low = middle
        else:
            high = middle - 1
    return low


def printable(text: str, text_font) -> str:
    """Return ``text`` on one line, without the characters the font has no glyph for.

    Control and format characters (such as the invisible ones that steer
    emoji or text direction) go too; the layout engine works out direction
    itself.
    """
    kept = []
    for char in " ".join(text.split()):
        if unicodedata.category(char) in {"Cc", "Cf", "Co", "Cs", "Cn"}:
            continue
        if "\ufe00" <= char <= "\ufe0f" or not _has_glyph(text_font, char):
            continue
        kept.append(char)
    return " ".join("".join(kept).split())


def _has_glyph(text_font, char: str) -> bool:
    return char.isspace() or _glyph(text_font.path, char) != _glyph(text_font.path, "\U0010fffd")


@lru_cache(maxsize=4096)
def _glyph(path: str, char: str) -> bytes:
    """Return ``char`` drawn small in the font, to tell a real glyph from the missing one."""
    image = Image.new("L", (32, 32))
    ImageDraw.Draw(image).text((4, 4), char, font=font(Path(path), 20), fill=255)
    return image.tobytes()
