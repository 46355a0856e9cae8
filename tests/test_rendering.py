import pytest

from articles.rendering import render_body, render_markdown


def test_sections_get_stable_heading_ids():
    """H2 and H3 headings get ids derived from their text, unique within the body."""
    html = render_markdown(
        "## Why Sleep Matters\n\ntext\n\n### Your body clock\n\n## Why Sleep Matters\n"
    )
    assert '<h2 id="why-sleep-matters">Why Sleep Matters</h2>' in html
    assert '<h3 id="your-body-clock">Your body clock</h3>' in html
    assert '<h2 id="why-sleep-matters_1">' in html


def test_top_level_heading_becomes_a_section_heading():
    """A "# Heading" in the body renders as an H2, keeping the title the only H1."""
    html = render_markdown("# Introduction\n\nText.")
    assert "<h1" not in html
    assert '<h2 id="introduction">Introduction</h2>' in html


def test_script_and_event_handlers_are_stripped():
    """Raw script tags and event handler attributes never reach the output."""
    html = render_markdown('Hello <script>alert(1)</script>\n\n<p onclick="x()">hi</p>')
    assert "<script" not in html
    assert "alert(1)" not in html
    assert "onclick" not in html


def test_only_safe_link_schemes_survive():
    """javascript: links lose their href; http(s) links keep it with rel=noopener."""
    html = render_markdown("[bad](javascript:alert(1)) and [good](https://www.nhs.uk/)")
    assert "javascript:" not in html
    assert 'href="https://www.nhs.uk/"' in html
    assert 'rel="noopener noreferrer"' in html


def test_images_only_from_site_media():
    """Images pointing outside the site's media lose their source."""
    html = render_markdown(
        "![chart](/media/covers/chart.png) ![tracker](https://evil.example/p.gif)"
    )
    assert 'src="/media/covers/chart.png"' in html
    assert "evil.example" not in html


def test_lists_tables_and_emphasis_are_kept():
    """Ordinary Markdown formatting renders to the allowed tags."""
    html = render_markdown("- **one**\n- *two*\n\n| a | b |\n|---|---|\n| 1 | 2 |\n")
    assert "<strong>one</strong>" in html
    assert "<em>two</em>" in html
    assert "<table>" in html
    assert "<td>1</td>" in html


def test_images_from_static_files_are_kept_and_other_site_paths_dropped():
    """Images under STATIC_URL keep their source; a path outside media and static files does not."""
    html = render_markdown(
        "![a](/static/img/logo.png) ![b](/guides/chart.png) ![c](chart.png) ![d](/media/../x.png)"
    )
    assert 'src="/static/img/logo.png"' in html
    assert "/guides/chart.png" not in html
    assert 'src="chart.png"' not in html
    assert "/media/../x.png" not in html


@pytest.mark.parametrize(
    "src",
    [
        "//evil.example/p.gif",
        "/\\evil.example/p.gif",
        "/&#9;/evil.example/p.gif",
        " https://evil.example/p.gif",
        "jav ascript:alert(1)",
        "data:image/gif;base64,R0lGODlhAQABAAAAACw=",
    ],
    ids=["protocol-relative", "backslash", "tab", "leading-space", "inner-space", "data"],
)
def test_disguised_external_images_lose_their_source(src):
    """Addresses a browser would load from another host, however written, are dropped."""
    html = render_markdown(f'<img src="{src}" alt="x">')
    assert "src=" not in html
    assert "evil.example" not in html
    assert "ascript" not in html


def test_the_report_lists_what_the_sanitizer_removed():
    """A script, an event handler, a javascript: link and an outside image are reported."""
    rendered = render_body(
        'Hi <script>alert(1)</script>\n\n<p onclick="x()">hi</p>\n\n'
        "[bad](javascript:alert(1)) ![spy](https://evil.example/p.gif)",
        report=True,
    )
    assert [str(removal) for removal in rendered.removed] == [
        "<script> element",
        "onclick attribute",
        "link to “javascript:alert(1)”",
        "image “https://evil.example/p.gif”",
    ]
    assert rendered.foreign_images == ("https://evil.example/p.gif",)


def test_ordinary_markdown_has_nothing_to_report():
    """Headings, links, images from media, tables and emphasis report no removals."""
    rendered = render_body(
        "# Top\n\n## Part\n\nSee [the NHS](https://www.nhs.uk/ 'NHS') and **this**.\n\n"
        "![chart](/media/covers/chart.png)\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n"
        "> Quoted.\n\n```\ncode <b>\n```\n",
        report=True,
    )
    assert rendered.removed == ()
    assert rendered.foreign_images == ()


def test_without_a_report_rendering_skips_the_comparison():
    """A plain render, as every save does, carries no report."""
    rendered = render_body("<script>alert(1)</script> ![x](https://evil.example/p.gif)")
    assert (rendered.removed, rendered.foreign_images) == ((), ())
