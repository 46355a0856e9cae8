"""The image library in the admin, and the chooser the article form opens.

The chooser's two endpoints answer JSON to staff who may write articles
or images (``library.can_use_library``), and 403 to anyone else, signed in
or not, rather than a redirect to the sign-in page a script cannot follow.
The upload is CSRF-protected like any admin form.
"""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.db.models import ProtectedError
from django.http import JsonResponse
from django.shortcuts import redirect
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.http import require_GET, require_POST

from articles import images, library
from articles.forms import CheckedImageField
from articles.models import Article, ArticleImage, Image

THUMBNAIL_WIDTH = 80


def image_chooser_attrs() -> dict[str, str]:
    """Return the data attributes that tell static/js/image-chooser.js its endpoints."""
    return {
        "data-image-search-url": reverse("admin:articles_image_chooser"),
        "data-image-upload-url": reverse("admin:articles_image_chooser_upload"),
    }


def library_help_text() -> str:
    return _(
        "JPEG, PNG, WebP or GIF, up to %(size)s and %(megapixels)d megapixels. Articles show "
        "it at up to %(width)d pixels wide; a smaller image is never enlarged."
    ) % {
        "size": images.format_size(images.max_upload_bytes()),
        "megapixels": images.MAX_PIXELS // 10**6,
        "width": images.RENDITION_WIDTHS[-1],
    }


class ImageForm(forms.ModelForm):
    """A new library image: the file, checked by decoding it, and its text."""

    class Meta:
        model = Image
        fields = ["file", "alt", "caption", "credit"]
        field_classes = {"file": CheckedImageField}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "file" in self.fields:
            self.fields["file"].help_text = library_help_text()

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if isinstance(upload, UploadedFile):
            images.validate_image_upload(upload)
        return upload


def image_json(image: Image) -> dict:
    """Describe a library image for the chooser."""
    return {
        "id": image.pk,
        "alt": image.alt,
        "caption": image.caption,
        "thumbnail": library.thumbnail_url(image),
        "width": image.width,
        "height": image.height,
    }


def forbidden() -> JsonResponse:
    return JsonResponse(
        {"error": str(_("You do not have permission to use the image library."))}, status=403
    )


@never_cache
@require_GET
def chooser_search(request):
    """List one page of library images matching ``q``, newest first."""
    if not library.can_use_library(request.user):
        return forbidden()
    try:
        page = int(request.GET.get("page", "1"))
    except ValueError:
        page = 1
    page = min(max(page, 1), library.MAX_CHOOSER_PAGE)
    found, more = library.search_images(request.GET.get("q", ""), page=page)
    return JsonResponse(
        {
            "results": [image_json(image) for image in found],
            "page": page,
            "next": page + 1 if more and page < library.MAX_CHOOSER_PAGE else None,
            "previous": page - 1 if page > 1 else None,
        }
    )


@never_cache
@csrf_protect
@require_POST
def chooser_upload(request):
    """Add an uploaded image to the library; answer it, or the form's errors by field."""
    if not library.can_use_library(request.user):
        return forbidden()
    form = ImageForm(request.POST, request.FILES)
    if form.is_valid():
        image = form.save(commit=False)
        image.uploaded_by = request.user
        try:
            library.store_image(image)
        except ValidationError as error:
            form.add_error(None, error)
        else:
            return JsonResponse({"image": image_json(image)}, status=201)
    return JsonResponse(
        {
            "errors": {
                name or "__all__": [str(message) for message in errors]
                for name, errors in form.errors.items()
            }
        },
        status=400,
    )


@admin.register(Image)
class ImageAdmin(admin.ModelAdmin):
    form = ImageForm
    list_display = ["thumbnail", "alt", "caption", "credit", "size", "created_at"]
    list_display_links = ["thumbnail", "alt"]
    search_fields = ["alt", "caption", "credit"]
    search_help_text = _("Words from the alt text, caption or credit.")
    readonly_fields = ["preview", "size", "used_in", "uploaded_by", "created_at"]
    # Only what the list shows; the renditions give the thumbnail.
    list_per_page = 50

    class Media:
        css = {"all": ["css/admin-images.css"]}

    def get_fieldsets(self, request, obj=None):
        if obj is None:
            return [(None, {"fields": ["file", "alt", "caption", "credit"]})]
        return [
            (None, {"fields": ["preview", "alt", "caption", "credit"]}),
            (_("Use"), {"fields": ["used_in", "size", "uploaded_by", "created_at"]}),
        ]

    def get_urls(self):
        return [
            path("chooser/", chooser_search, name="articles_image_chooser"),
            path("chooser/upload/", chooser_upload, name="articles_image_chooser_upload"),
            *super().get_urls(),
        ]

    # Everyone who writes articles may browse the library and add to it;
    # changing or deleting an image that others' articles show is for
    # editors (and holders of the image permissions).

    def has_module_permission(self, request):
        return super().has_module_permission(request) or library.can_use_library(request.user)

    def has_view_permission(self, request, obj=None):
        return super().has_view_permission(request, obj) or library.can_use_library(request.user)

    def has_add_permission(self, request):
        return super().has_add_permission(request) or library.can_use_library(request.user)

    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) or request.user.has_perm(
            "articles.edit_any_article"
        )

    def has_delete_permission(self, request, obj=None):
        return super().has_delete_permission(request, obj) or request.user.has_perm(
            "articles.edit_any_article"
        )

    def save_model(self, request, obj, form, change):
        if change:
            super().save_model(request, obj, form, change)
            if {"alt", "caption", "credit"} & set(form.changed_data):
                library.refresh_articles_using(obj)
            return
        obj.uploaded_by = request.user
        library.store_image(obj)

    def get_deleted_objects(self, objs, request):
        deleted, counts, perms_needed, protected = super().get_deleted_objects(objs, request)
        if protected:
            protected = self._uses_of(objs)
        return deleted, counts, perms_needed, protected

    def delete_view(self, request, object_id, extra_context=None):
        try:
            return super().delete_view(request, object_id, extra_context)
        except ProtectedError:
            # An article started showing the image after the page was loaded.
            self.message_user(
                request,
                _("This image was not deleted: an article shows it now."),
                messages.ERROR,
            )
            return redirect("admin:articles_image_change", object_id)

    def _uses_of(self, objs) -> list[str]:
        uses = (
            ArticleImage.objects.filter(image__in=list(objs))
            .select_related("article", "image")
            .only("image__alt", "article__title")
            .order_by("image_id", "article__title")
        )
        return [
            format_html(
                '“{}” is shown by <a href="{}">{}</a>',
                use.image.alt,
                reverse("admin:articles_article_change", args=[use.article_id]),
                use.article.title,
            )
            for use in uses
        ]

    # Columns and read-only fields ------------------------------------------

    @admin.display(description=_("image"))
    def thumbnail(self, obj):
        return format_html(
            '<img class="library-thumbnail" src="{}" alt="" width="{}" height="{}">',
            library.thumbnail_url(obj),
            THUMBNAIL_WIDTH,
            round(THUMBNAIL_WIDTH * obj.height / obj.width) if obj.width else THUMBNAIL_WIDTH,
        )

    @admin.display(description=_("preview"))
    def preview(self, obj):
        return format_html(
            '<img class="library-preview" src="{}" alt="{}">', library.thumbnail_url(obj), obj.alt
        )

    @admin.display(description=_("size"))
    def size(self, obj):
        return _("%(width)d \u00d7 %(height)d pixels") % {"width": obj.width, "height": obj.height}

    @admin.display(description=_("used in"))
    def used_in(self, obj):
        if obj.pk is None:
            return self.get_empty_value_display()
        articles = (
            Article.objects.filter(image_uses__image=obj).only("pk", "title").order_by("title")
        )
        links = format_html_join(
            "",
            '<li><a href="{}">{}</a></li>',
            (
                (reverse("admin:articles_article_change", args=[article.pk]), article.title)
                for article in articles
            ),
        )
        if not links:
            return _("No article shows this image yet.")
        return format_html('<ul class="library-uses">{}</ul>', links)
