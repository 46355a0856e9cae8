"""Limits on what content may hold, so that text accepted anywhere never breaks a page.

The admin and import_articles apply the same validators (through the
model fields and ``full_clean()``). The output side strips what slipped
in by other means with ``strip_unsafe_characters()``.
"""

import datetime as dt
import re

from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.deconstruct import deconstructible
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

# Past this many views a counter is corrupt, not popular; the bound also
# keeps every "+ n" far from the 64-bit limit of the column.
MAX_VIEW_COUNT = 10**12

# Dates outside these years are typing or export mistakes. The bounds also
# keep every offset conversion clear of year 1, which PostgreSQL would store
# as a BC date that Python cannot read back.
EARLIEST_DATE = dt.date(1900, 1, 1)
LATEST_DATE = dt.date(2100, 12, 31)

# C0 controls, DEL and C1 controls. Tab, line feed and carriage return are
# ordinary in multi-line text; nothing else here ever belongs in an article.
_CONTROL = r"\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f"
_MULTILINE_CONTROL_RE = re.compile(f"[{_CONTROL}]")
_SINGLE_LINE_CONTROL_RE = re.compile(f"[{_CONTROL}\t\n\r]")

# What neither XML 1.0 nor UTF-8 can carry (lone surrogates, U+FFFE, U+FFFF),
# plus the controls above: stripped from feeds and JSON-LD.
_UNSAFE_RE = re.compile(f"[{_CONTROL}\ud800-\udfff\ufffe\uffff]")

_CHARACTER_NAMES = {"\t": "tab", "\n": "line break", "\r": "line break", "\x7f": "delete"}


def strip_unsafe_characters(text: str) -> str:
    """Return ``text`` without the characters XML 1.0 and JSON in HTML cannot carry."""
    return _UNSAFE_RE.sub("", text)


def describe_character(char: str) -> str:
    """Name ``char`` for a message: its code point, and a name where it has a familiar one."""
    name = _CHARACTER_NAMES.get(char)
    return f"U+{ord(char):04X} ({name})" if name else f"U+{ord(char):04X}"


@deconstructible
class NoControlCharactersValidator:
    """Refuse control characters; ``multiline`` text may keep tabs and line breaks."""

    def __init__(self, multiline: bool = False):
        self.multiline = multiline

    def __call__(self, value):
        if not isinstance(value, str):
            return
        pattern = _MULTILINE_CONTROL_RE if self.multiline else _SINGLE_LINE_CONTROL_RE
        found = pattern.search(value)
        if found is None:
            return
        if found.group() in "\n\r":
            raise ValidationError(
                _("Keep this on one line: remove the line break at character %(position)d."),
                code="line_break",
                params={"position": found.start() + 1},
            )
        raise ValidationError(
            _(
                "Remove the invisible control character %(character)s at character "
                "%(position)d; it often comes with text pasted from another program."
            ),
            code="control_character",
            params={"character": describe_character(found.group()), "position": found.start() + 1},
        )

    def __eq__(self, other):
        return isinstance(other, NoControlCharactersValidator) and self.multiline == other.multiline

    def __hash__(self):
        return hash((type(self), self.multiline))


validate_single_line_text = NoControlCharactersValidator()
validate_multiline_text = NoControlCharactersValidator(multiline=True)


def validate_date_range(value) -> None:
    """Refuse a date or datetime outside EARLIEST_DATE..LATEST_DATE."""
    if value is None:
        return
    # The calendar date as written; converting a datetime near year 1 to UTC
    # could itself overflow.
    day = value.date() if isinstance(value, dt.datetime) else value
    if not EARLIEST_DATE <= day <= LATEST_DATE:
        raise ValidationError(
            _("Use a date between %(earliest)s and %(latest)s (this one is %(value)s)."),
            code="date_range",
            params={
                "earliest": EARLIEST_DATE.isoformat(),
                "latest": LATEST_DATE.isoformat(),
                "value": day.isoformat(),
            },
        )


def validate_view_count(value) -> None:
    """Refuse a view count below 0 or above MAX_VIEW_COUNT."""
    if value is not None and not 0 <= value <= MAX_VIEW_COUNT:
        raise ValidationError(
            _("A view count is a whole number from 0 to %(limit)s."),
            code="view_count_range",
            params={"limit": f"{MAX_VIEW_COUNT:,}"},
        )


def body_size_error(size_bytes: int) -> ValidationError | None:
    """Return the error for a body of ``size_bytes`` UTF-8 bytes, or None when it fits."""
    limit_kb = settings.HEALTHHUB_MAX_BODY_KB
    if size_bytes <= limit_kb * 1024:
        return None
    return ValidationError(
        _(
            "The body is %(size)s KB, over the limit of %(limit)s KB. Shorten it, or split "
            "it into several articles."
        ),
        code="body_too_large",
        # Rounded up, so a body just over the limit never reads "200 KB, over 200 KB".
        params={"size": f"{-(-size_bytes // 1024):,}", "limit": f"{limit_kb:,}"},
    )


def validate_body_size(value) -> None:
    """Refuse a body larger than settings.HEALTHHUB_MAX_BODY_KB, measured in UTF-8 bytes."""
    if isinstance(value, str) and (error := body_size_error(len(value.encode("utf-8")))):
        raise error


def tag_count_error(count: int) -> ValidationError | None:
    """Return the error for an article with ``count`` tags, or None when it is allowed."""
    limit = settings.HEALTHHUB_MAX_TAGS
    if count <= limit:
        return None
    return ValidationError(
        ngettext(
            "Use at most %(limit)d tag (this article has %(count)d).",
            "Use at most %(limit)d tags (this article has %(count)d).",
            limit,
        ),
        code="too_many_tags",
        params={"limit": limit, "count": count},
    )
