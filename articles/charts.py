"""Small server-rendered SVG charts for the admin: no JavaScript, no external files."""

from django.utils.formats import date_format, number_format
from django.utils.html import format_html, format_html_join


def sparkline(values: list[int], *, width: int = 240, height: int = 40, label: str = "") -> str:
    """Return an inline SVG line of ``values``, scaled to fit."""
    top = max(values, default=0) or 1
    step = width / max(len(values) - 1, 1)
    points = " ".join(
        f"{n * step:.1f},{height - 2 - (value / top) * (height - 4):.1f}"
        for n, value in enumerate(values)
    )
    return format_html(
        '<svg class="sparkline" role="img" width="{}" height="{}" viewBox="0 0 {} {}" '
        'aria-label="{}"><title>{}</title>'
        '<polyline fill="none" stroke="#205067" stroke-width="2" points="{}"/></svg>',
        width,
        height,
        width,
        height,
        label,
        label,
        points,
    )


def bar_chart(series: list[tuple], *, width: int = 720, height: int = 220) -> str:
    """Return an SVG bar chart of (date, value) pairs, with the peak and the first and last day."""
    left, bottom = 48, 24
    plot_w, plot_h = width - left - 8, height - bottom - 16
    top = max((value for _day, value in series), default=0) or 1
    bar_w = plot_w / max(len(series), 1)
    bars = format_html_join(
        "",
        '<rect x="{}" y="{}" width="{}" height="{}" fill="#417690"><title>{}: {}</title></rect>',
        (
            (
                f"{left + n * bar_w + 1:.1f}",
                f"{16 + plot_h - value / top * plot_h:.1f}",
                f"{max(bar_w - 2, 1):.1f}",
                f"{value / top * plot_h:.1f}",
                date_format(day, "M j"),
                number_format(value, force_grouping=True),
            )
            for n, (day, value) in enumerate(series)
        ),
    )
    first = date_format(series[0][0], "M j") if series else ""
    last = date_format(series[-1][0], "M j") if series else ""
    return format_html(
        '<svg class="bar-chart" role="img" viewBox="0 0 {w} {h}" width="100%" '
        'aria-labelledby="views-chart-title">'
        '<title id="views-chart-title">Views per day, {first} to {last}</title>'
        '<line x1="{left}" y1="{base}" x2="{right}" y2="{base}" stroke="#999"/>'
        '<text x="{lx}" y="22" text-anchor="end" font-size="11">{peak}</text>'
        '<text x="{lx}" y="{base}" text-anchor="end" font-size="11">0</text>'
        "{bars}"
        '<text x="{left}" y="{ty}" font-size="11">{first}</text>'
        '<text x="{right}" y="{ty}" text-anchor="end" font-size="11">{last}</text>'
        "</svg>",
        w=width,
        h=height,
        left=left,
        right=width - 8,
        base=16 + plot_h,
        lx=left - 6,
        ty=height - 6,
        peak=number_format(top, force_grouping=True),
        bars=bars,
        first=first,
        last=last,
    )
