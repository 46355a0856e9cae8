"""The image library: uploads and renditions, references in bodies, uses, the admin and the chooser."""

import pytest
from django.core.exceptions import ValidationError
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from PIL import Image as PILImage

from articles import library
from articles.models import ArticleImage, Image
from articles.rendering import render_body
from tests.factories import ArticleFactory, StaffFactory
from tests.test_admin import add_article, edit
from tests.test_images import image_bytes, png_with_text_chunk
from tests.test_security_uploads import HOSTILE_UPLOADS

pytestmark = pytest.mark.django_db

SEARCH_URL = "/admin/articles/image/chooser/"
UPLOAD_URL = "/admin/articles/image/chooser/upload/"


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.MEDIA_ROOT.mkdir()
    return settings.MEDIA_ROOT


@pytest.fixture
def author(db):
    return StaffFactory(username="anna", role="Authors")


@pytest.fixture
def author_client(client, author):
    client.force_login(author)
    return client


def stored_files(root):
    return sorted(str(path.relative_to(root)) for path in root.rglob("*") if path.is_file())


def upload(name="photo.jpg", data=None, **options):
    return SimpleUploadedFile(name, image_bytes(**options) if data is None else data)


def add_image(alt="A bowl of oats", caption="", credit="", **options):
    """Put a picture in the library through the upload service; return it."""
    return library.create_image(file=upload(**options), alt=alt, caption=caption, credit=credit)


def opened(name):
    with default_storage.open(name) as file, PILImage.open(file) as picture:
        return picture.format, picture.size


def errors_of(response, field):
    return response.context["adminform"].form.errors.get(field, [])


# Uploads and renditions -------------------------------------------------------------


def test_an_upload_gets_webp_and_jpeg_renditions_at_480_960_and_1600_pixels():
    """A 2000 px photo is stored under a random name with six renditions of the right sizes."""
    image = add_image(size=(2000, 1200))

    assert image.file.name.startswith("library/") and image.file.name.endswith(".jpg")
    assert (image.width, image.height) == (2000, 1200)
    sources = image.renditions["sources"]
    assert [(s["width"], s["height"]) for s in sources] == [(480, 288), (960, 576), (1600, 960)]
    for source in sources:
        assert opened(source["webp"]) == ("WEBP", (source["width"], source["height"]))
        assert opened(source["fallback"]) == ("JPEG", (source["width"], source["height"]))
    assert image.renditions["fallback_type"] == "image/jpeg"
    assert "social" not in image.renditions


def test_a_small_transparent_upload_is_never_enlarged_and_falls_back_to_png():
    """A 600 px PNG with transparency gets 480 and 600 px renditions, PNG beside WebP."""
    image = add_image(size=(600, 400), mode="RGBA", image_format="PNG", color=(0, 128, 0, 128))

    sources = image.renditions["sources"]
    assert [s["width"] for s in sources] == [480, 600]
    assert all(opened(s["fallback"])[0] == "PNG" for s in sources)
    assert image.renditions["fallback_type"] == "image/png"


def test_a_picture_named_like_a_web_page_is_stored_under_its_real_extension():
    """The stored name's extension comes from the content, never the uploaded name."""
    image = add_image(name="page.html", size=(64, 64), image_format="PNG")

    assert image.file.name.endswith(".png")
    assert "page" not in image.file.name


@pytest.mark.parametrize(
    "case", ["svg", "svg-named-svg", "html-png-polyglot", "script-after-iend", "text-named-jpg"]
)
def test_hostile_uploads_are_refused_and_store_nothing(media_root, case):
    """SVGs, polyglots and files that are not images get the cover's messages, and no file."""
    name, data, message = HOSTILE_UPLOADS[case]

    with pytest.raises(ValidationError) as refused:
        library.create_image(file=SimpleUploadedFile(name, data), alt="A picture")

    assert any(message in text for text in refused.value.message_dict["file"])
    assert not Image.objects.exists()
    assert stored_files(media_root) == []


def test_a_pixel_bomb_is_refused_from_its_header(media_root):
    """56 megapixels in a few kilobytes is refused before it is decoded."""
    name, data, _message = HOSTILE_UPLOADS["pixel-bomb"]

    with pytest.raises(ValidationError, match="the limit is 40 megapixels"):
        library.create_image(file=SimpleUploadedFile(name, data), alt="A picture")

    assert stored_files(media_root) == []


def test_an_upload_over_the_size_limit_is_refused(settings, media_root):
    """The size limit of covers applies to the library, in the same words."""
    settings.HEALTHHUB_MAX_UPLOAD_MB = 0.01
    data = image_bytes((400, 400))
    big = SimpleUploadedFile("big.jpg", data + b"\0" * (10_001 - len(data)))

    with pytest.raises(ValidationError) as refused:
        library.create_image(file=big, alt="A picture")

    assert refused.value.message_dict["file"] == [
        "The file is 10.1\xa0kB; the limit is 10\xa0kB. Upload a smaller image."
    ]

    assert stored_files(media_root) == []


def test_alt_text_is_required(media_root):
    """An image without alt text is refused before anything is stored."""
    with pytest.raises(ValidationError) as refused:
        add_image(alt="")

    assert "alt" in refused.value.message_dict
    assert stored_files(media_root) == []


def test_deleting_an_image_deletes_its_file_and_renditions(
    media_root, django_capture_on_commit_callbacks
):
    """Once the deletion commits, nothing of the image is left in storage."""
    image = add_image(size=(2000, 1200))
    assert len(stored_files(media_root)) == 1 + 2 * 3

    with django_capture_on_commit_callbacks(execute=True):
        image.delete()

    assert stored_files(media_root) == []


# References in bodies ----------------------------------------------------------------


def test_a_reference_renders_a_figure_with_srcset_caption_and_credit():
    """![alt](image:N) alone in its paragraph becomes a responsive figure with its caption."""
    image = add_image(caption="Porridge with berries", credit="Photo: J. Doe, CC BY 4.0")

    article = ArticleFactory(body=f"Eat well.\n\n![Breakfast oats](image:{image.pk})\n\nMore.")
    html = article.body_html

    figure = html[html.index("<figure") : html.index("</figure>")]
    assert figure.startswith('<figure class="article-figure"><picture><source ')
    sources = image.renditions["sources"]
    fallback = ", ".join(f"/media/{s['fallback']} {s['width']}w" for s in sources)
    webp = ", ".join(f"/media/{s['webp']} {s['width']}w" for s in sources)
    assert f'srcset="{fallback}"' in figure
    assert f'srcset="{webp}" type="image/webp"' in figure
    assert "480w" in fallback and "960w" in fallback and "1600w" in fallback
    assert 'sizes="(min-width: 48rem) 45rem, 100vw"' in figure
    assert f'src="/media/{sources[1]["fallback"]}"' in figure
    assert 'width="1600"' in figure and 'height="960"' in figure
    assert 'alt="Breakfast oats"' in figure
    assert 'loading="lazy"' in figure and 'decoding="async"' in figure
    assert (
        "<figcaption>Porridge with berries <small>Photo: J. Doe, CC BY 4.0</small></figcaption>"
        in figure
    )
    assert "<p>Eat well.</p>" in html and "<p>More.</p>" in html


def test_an_empty_alt_takes_the_library_alt():
    """![](image:N) shows the alt text the library has for the image."""
    image = add_image(alt="Three glasses of water")

    article = ArticleFactory(body=f"![](image:{image.pk})")

    assert 'alt="Three glasses of water"' in article.body_html
    assert "<figcaption" not in article.body_html


def test_alt_caption_and_credit_are_escaped():
    """Markup in the library's text reaches the page as text, never as elements."""
    image = add_image(
        alt='Oats "fresh" <b>',
        caption='"><img src=x onerror=alert(1)>',
        credit="<script>alert(1)</script> & co",
    )

    html = ArticleFactory(body=f"![](image:{image.pk})").body_html

    assert "<script" not in html and "<b>" not in html
    assert html.count("<img") == 1
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    assert 'alt="Oats &quot;fresh&quot; &lt;b&gt;"' in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; co" in html


def test_a_reference_inside_a_sentence_stays_inline():
    """A reference with text around it shows the picture in the paragraph, without a figure."""
    image = add_image()

    html = ArticleFactory(body=f"Before ![oats](image:{image.pk}) after.").body_html

    assert "<figure" not in html
    assert html.startswith("<p>Before <picture>") and html.endswith("</picture> after.</p>")


def test_all_references_are_resolved_in_one_query(django_assert_num_queries):
    """However many images a body shows, they are read in one query."""
    images = [add_image(size=(500, 300)) for _ in range(3)]
    body = "\n\n".join(f"![](image:{image.pk})" for image in images * 2)

    with django_assert_num_queries(1):
        rendered = library.render_with_library(body)

    assert rendered.html.count("<figure") == 6
    assert rendered.image_ids == tuple(image.pk for image in images)


def test_a_body_without_references_costs_no_query(django_assert_num_queries):
    """Only a body that refers to the library reads it."""
    with django_assert_num_queries(0):
        library.render_with_library("Plain text with ![a chart](/media/chart.png).")


def test_a_missing_image_is_reported_and_left_out():
    """The report names an id the library lacks; the page shows nothing in its place."""
    rendered = render_body("Intro.\n\n![gone](image:424242)\n\nEnd.", report=True)

    assert rendered.missing_images == (424242,)
    assert rendered.html == "<p>Intro.</p>\n<p>End.</p>"


def test_the_sanitizer_keeps_only_the_library_markup_values():
    """Hand-written variants of the figure markup lose what the site never writes."""
    html = render_body(
        '<figure class="article-figure wide" style="x"><img src="/media/a.png" '
        'loading="eager" sizes="1px" decoding="sync" onload="x()"></figure>'
        '<picture><source type="text/html" srcset="/media/a.webp 1x"></picture>'
    ).html

    assert html == (
        '<figure class="article-figure"><img src="/media/a.png"></figure>\n'
        '<p><picture><source srcset="/media/a.webp 1x"></picture></p>'
    )


def test_a_srcset_from_another_site_is_removed_and_reported():
    """An outside address in a srcset is dropped and listed with the foreign images."""
    rendered = render_body(
        '<img src="/media/a.png" srcset="/media/a.png 1x, https://evil.example/p.gif 2x">',
        report=True,
    )

    assert "evil.example" not in rendered.html
    assert rendered.foreign_images == ("https://evil.example/p.gif",)


# The article form ------------------------------------------------------------------------


def test_the_form_refuses_a_reference_to_a_missing_image(editor_client, health):
    """Saving a body that refers to an id the library lacks fails with the id named."""
    response = add_article(editor_client, health, body="Intro.\n\n![x](image:987654)")

    assert response.status_code == 200
    assert errors_of(response, "body") == [
        "Image 987654 is not in the library. Choose another with “Insert image”."
    ]


def test_the_form_refuses_an_outside_image_naming_its_address(editor_client, health):
    """An outside image, even hidden in a srcset, is refused by address; library images pass."""
    image = add_image()
    body = (
        f"![oats](image:{image.pk})\n\n"
        '<img src="/media/a.png" srcset="https://evil.example/big.gif 2x" alt="">'
    )

    response = add_article(editor_client, health, body=body)

    (error,) = errors_of(response, "body")
    assert error.startswith(
        "This image is not on this site, so the page would not show it: "
        "“https://evil.example/big.gif”. Upload it to the image library"
    )
    assert "image:N" in error


def test_the_form_loads_the_chooser_and_tells_it_the_endpoints(author_client):
    """The article form includes the chooser's script and style; the body names the endpoints."""
    html = author_client.get("/admin/articles/article/add/").content.decode()

    assert "/static/js/image-chooser.js" in html
    assert "/static/css/admin-images.css" in html
    assert f'data-image-search-url="{SEARCH_URL}"' in html
    assert f'data-image-upload-url="{UPLOAD_URL}"' in html


# Uses --------------------------------------------------------------------------------------


def uses_of(article):
    return set(ArticleImage.objects.filter(article=article).values_list("image_id", flat=True))


def test_saving_an_article_records_the_images_its_body_shows(editor_client, health):
    """Uses follow the body through the admin: added, replaced and removed."""
    first, second, third = (add_image(size=(300, 200)) for _ in range(3))
    article = ArticleFactory(
        category=health, body=f"![](image:{first.pk})\n\n![](image:{second.pk})\n\nText."
    )
    assert uses_of(article) == {first.pk, second.pk}

    edit(editor_client, article, body=f"![](image:{second.pk})\n\n![](image:{third.pk})")
    assert uses_of(article) == {second.pk, third.pk}

    edit(editor_client, article, body="No pictures now.")
    assert uses_of(article) == set()


def test_syncing_uses_reads_once_and_writes_in_bulk(django_assert_num_queries):
    """One read, one delete and one insert, whatever the number of images."""
    images = [add_image(size=(300, 200)) for _ in range(4)]
    article = ArticleFactory(body="".join(f"![](image:{image.pk})\n\n" for image in images[:2]))

    with django_assert_num_queries(3):
        library.sync_article_images(article, [image.pk for image in images[1:]])

    assert uses_of(article) == {image.pk for image in images[1:]}


def test_a_save_that_leaves_the_body_alone_does_not_touch_the_uses():
    """Saving again with the same body neither reads nor writes image uses."""
    image = add_image(size=(300, 200))
    article = ArticleFactory(body=f"![](image:{image.pk})")
    article.refresh_from_db()
    article.title = "Renamed"

    with CaptureQueriesContext(connection) as captured:
        article.save()

    assert not [q for q in captured.captured_queries if "articleimage" in q["sql"].lower()]


def test_article_images_lists_what_an_article_shows():
    """The export's selector returns the article's library images."""
    shown, other = add_image(), add_image()
    article = ArticleFactory(body=f"![](image:{shown.pk})")

    assert list(library.article_images(article)) == [shown]
    assert other not in library.article_images(article)


# The library admin ---------------------------------------------------------------------------


def test_the_library_lists_thumbnails_and_searches_alt_caption_and_credit(
    editor_client, django_assert_max_num_queries
):
    """The changelist shows a rendition per image; a search finds words in the credit."""
    for n in range(5):
        add_image(alt=f"Picture {n}", size=(300, 200))
    add_image(alt="Runner", credit="Photo: Kim Lee", size=(300, 200))

    with django_assert_max_num_queries(8):
        response = editor_client.get(reverse("admin:articles_image_changelist"))
    html = response.content.decode()
    assert html.count('class="library-thumbnail"') == 6
    assert "/media/renditions/library/" in html

    found = editor_client.get(reverse("admin:articles_image_changelist"), {"q": "kim lee"})
    assert found.context["cl"].result_count == 1


def test_the_change_page_lists_the_articles_that_use_the_image(editor_client):
    """ "Used in" links to each article that shows the image."""
    image = add_image()
    ArticleFactory(title="Oats for breakfast", body=f"![](image:{image.pk})")

    html = editor_client.get(reverse("admin:articles_image_change", args=[image.pk])).content
    html = html.decode()

    assert "Used in" in html
    assert ">Oats for breakfast</a>" in html


def test_an_image_in_use_cannot_be_deleted_and_the_page_says_where(editor_client):
    """The delete page names the article instead of deleting; posting anyway deletes nothing."""
    image = add_image(alt="Oats")
    ArticleFactory(title="Oats for breakfast", body=f"![](image:{image.pk})")
    url = reverse("admin:articles_image_delete", args=[image.pk])

    page = editor_client.get(url)
    posted = editor_client.post(url, {"post": "yes"})

    html = page.content.decode()
    assert page.status_code == 200
    assert "The image “Oats” cannot be deleted: articles show it." in html
    assert "“Oats” is shown by <a href=" in html and ">Oats for breakfast</a>" in html
    assert posted.status_code == 200
    assert Image.objects.filter(pk=image.pk).exists()


def test_the_bulk_delete_names_the_articles_that_hold_an_image_back(editor_client):
    """Deleting several images at once refuses while one is in use, and says where."""
    used, unused = add_image(alt="Oats"), add_image(alt="Shoes")
    ArticleFactory(title="Oats for breakfast", body=f"![](image:{used.pk})")

    response = editor_client.post(
        reverse("admin:articles_image_changelist"),
        {"action": "delete_selected", "_selected_action": [used.pk, unused.pk], "post": "yes"},
    )

    assert response.status_code == 200
    assert ">Oats for breakfast</a>" in response.content.decode()
    assert Image.objects.count() == 2


def test_the_admin_add_form_stores_an_upload_with_its_renditions(editor_client, editor):
    """Adding an image in the library admin runs the same checks and makes the renditions."""
    url = reverse("admin:articles_image_add")
    page = editor_client.get(url).content.decode()
    assert "up to 1600 pixels wide" in page

    response = editor_client.post(
        url, {"file": upload(size=(1000, 600)), "alt": "Oats", "caption": "", "credit": ""}
    )

    assert response.status_code == 302
    image = Image.objects.get()
    assert (image.alt, image.uploaded_by, image.width) == ("Oats", editor, 1000)
    assert [s["width"] for s in image.renditions["sources"]] == [480, 960]


def test_an_author_may_browse_and_add_to_the_library_but_not_delete(author_client):
    """Authors see the library read-only; deleting an image is for editors."""
    image = add_image()

    listing = author_client.get(reverse("admin:articles_image_changelist"))
    change = author_client.get(reverse("admin:articles_image_change", args=[image.pk]))
    delete = author_client.get(reverse("admin:articles_image_delete", args=[image.pk]))

    assert listing.status_code == 200 and change.status_code == 200
    assert not change.context["has_change_permission"]
    assert author_client.get(reverse("admin:articles_image_add")).status_code == 200
    assert delete.status_code == 403


def test_an_unused_image_can_be_deleted(editor_client):
    """Once no article shows it, the image deletes as usual."""
    image = add_image()

    response = editor_client.post(
        reverse("admin:articles_image_delete", args=[image.pk]), {"post": "yes"}
    )

    assert response.status_code == 302
    assert not Image.objects.exists()


def test_editing_a_caption_renders_the_articles_that_show_it_again(editor_client):
    """A corrected caption reaches the pages that show the image."""
    image = add_image(caption="Old caption")
    article = ArticleFactory(body=f"![](image:{image.pk})")
    url = reverse("admin:articles_image_change", args=[image.pk])

    response = editor_client.post(url, {"alt": image.alt, "caption": "New caption", "credit": ""})

    assert response.status_code == 302
    article.refresh_from_db()
    assert "<figcaption>New caption</figcaption>" in article.body_html


# The chooser's endpoints -------------------------------------------------------------------------


def test_the_endpoints_refuse_anonymous_visitors_with_403(client):
    """Neither endpoint redirects a script to the sign-in page: both answer 403."""
    assert client.get(SEARCH_URL).status_code == 403
    response = client.post(UPLOAD_URL, {"alt": "x", "file": upload()})
    assert response.status_code == 403
    assert not Image.objects.exists()


def test_the_endpoints_refuse_staff_who_write_no_articles(client):
    """Staff without article or image permissions get 403."""
    client.force_login(StaffFactory(username="helpdesk"))

    assert client.get(SEARCH_URL).status_code == 403
    assert client.post(UPLOAD_URL, {"alt": "x", "file": upload()}).status_code == 403


def test_the_upload_refuses_a_post_without_the_csrf_token(author):
    """An upload from another site, without the token, is refused and stores nothing."""
    client = Client(enforce_csrf_checks=True)
    client.force_login(author)

    response = client.post(UPLOAD_URL, {"alt": "x", "file": upload()})

    assert response.status_code == 403
    assert not Image.objects.exists()


def test_an_author_uploads_through_the_chooser_with_the_token(author, media_root):
    """With the form's CSRF token, an author's upload answers the new image as JSON."""
    client = Client(enforce_csrf_checks=True)
    client.force_login(author)
    client.get("/admin/articles/article/add/")
    token = client.cookies["csrftoken"].value

    response = client.post(
        UPLOAD_URL,
        {
            "alt": "Oats",
            "caption": "Breakfast",
            "credit": "Photo: me",
            "file": upload(size=(1200, 800)),
        },
        headers={"X-CSRFToken": token},
    )

    assert response.status_code == 201
    image = Image.objects.get()
    assert response.json() == {
        "image": {
            "id": image.pk,
            "alt": "Oats",
            "caption": "Breakfast",
            "thumbnail": f"/media/{image.renditions['sources'][0]['webp']}",
            "width": 1200,
            "height": 800,
        }
    }
    assert image.uploaded_by == author


def test_the_upload_answers_the_cover_messages_by_field(author_client, media_root):
    """An SVG and a missing alt text come back as errors the chooser shows by its fields."""
    svg = SimpleUploadedFile("logo.svg", HOSTILE_UPLOADS["svg"][1])

    response = author_client.post(UPLOAD_URL, {"alt": "", "file": svg})

    assert response.status_code == 400
    errors = response.json()["errors"]
    assert errors["file"] == ["SVG images are not accepted. Upload a JPEG, PNG, WebP or GIF image."]
    assert errors["alt"] == ["This field is required."]
    assert stored_files(media_root) == []


def test_the_upload_refuses_a_polyglot(author_client, media_root):
    """A PNG carrying a web page is refused with the upload checks' reason."""
    data = png_with_text_chunk(b"<html><script>alert(1)</script></html>")

    response = author_client.post(
        UPLOAD_URL, {"alt": "x", "file": SimpleUploadedFile("a.png", data)}
    )

    assert response.status_code == 400
    assert "web page code" in response.json()["errors"]["file"][0]


def test_the_search_pages_through_the_library_within_a_query_budget(
    author_client, django_assert_max_num_queries
):
    """Pages of 24, newest first, with the next page's number; a query budget however large."""
    for n in range(30):
        Image.objects.create(file=f"library/{n}.jpg", alt=f"Picture {n}", width=10, height=10)

    with django_assert_max_num_queries(5):
        first = author_client.get(SEARCH_URL).json()
    second = author_client.get(SEARCH_URL, {"page": "2"}).json()

    assert [r["alt"] for r in first["results"]][:2] == ["Picture 29", "Picture 28"]
    assert len(first["results"]) == library.CHOOSER_PAGE_SIZE
    assert (first["next"], first["previous"]) == (2, None)
    assert len(second["results"]) == 6 and second["next"] is None
    assert second["previous"] == 1


def test_the_search_matches_alt_and_caption_and_bounds_its_input(author_client):
    """Words match the alt text or the caption; junk pages and huge queries are bounded."""
    Image.objects.create(file="library/a.jpg", alt="Runner at dawn", width=1, height=1)
    Image.objects.create(
        file="library/b.jpg", alt="Shoes", caption="Before the run", width=1, height=1
    )
    Image.objects.create(file="library/c.jpg", alt="Oats", width=1, height=1)

    found = author_client.get(SEARCH_URL, {"q": "run"}).json()
    junk = author_client.get(SEARCH_URL, {"q": "x" * 10_000, "page": "abc"})
    far = author_client.get(SEARCH_URL, {"page": "999999999"}).json()

    assert {r["alt"] for r in found["results"]} == {"Runner at dawn", "Shoes"}
    assert junk.status_code == 200 and junk.json()["results"] == []
    assert far["page"] == library.MAX_CHOOSER_PAGE and far["results"] == []
