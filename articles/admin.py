from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.db import models
from django.utils.translation import gettext_lazy as _

from articles.images import validate_image_upload
from articles.models import Article, AuthorProfile, Category


@admin.register(Category)
class CategoryAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "parent", "position"]
    list_editable = ["position"]
    list_select_related = ["parent"]
    ordering = ["position", "name"]
    prepopulated_fields = {"slug": ["name"]}
    search_fields = ["name", "slug"]
    autocomplete_fields = ["parent"]


class ImageUploadFormMixin:
    """Check uploaded images by decoding them, before anything is stored."""

    image_fields = ()

    def clean(self):
        cleaned = super().clean()
        for name in self.image_fields:
            upload = cleaned.get(name)
            if isinstance(upload, UploadedFile):
                try:
                    validate_image_upload(upload)
                except ValidationError as error:
                    self.add_error(name, error)
        return cleaned


class ArticleAdminForm(ImageUploadFormMixin, forms.ModelForm):
    image_fields = ("cover_image",)

    class Meta:
        model = Article
        fields = [
            "title",
            "slug",
            "category",
            "excerpt",
            "body",
            "tags",
            "status",
            "published_at",
            "author",
            "cover_image",
            "cover_alt",
        ]


class AuthorProfileAdminForm(ImageUploadFormMixin, forms.ModelForm):
    image_fields = ("photo",)

    class Meta:
        model = AuthorProfile
        fields = ["user", "credentials", "bio", "photo"]


@admin.register(Article)
class ArticleAdmin(admin.ModelAdmin):
    form = ArticleAdminForm
    list_display = [
        "title",
        "category",
        "status",
        "published_at",
        "view_count",
        "author",
    ]
    list_filter = ["status", "category", "tags"]
    list_select_related = ["category", "author"]
    search_fields = ["title", "excerpt", "body"]
    date_hierarchy = "published_at"
    prepopulated_fields = {"slug": ["title"]}
    autocomplete_fields = ["category", "author"]
    readonly_fields = ["view_count", "created_at", "updated_at"]
    formfield_overrides = {
        models.TextField: {"widget": forms.Textarea(attrs={"rows": 4, "cols": 80})},
    }

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        if db_field.name == "body":
            kwargs["widget"] = forms.Textarea(
                attrs={"rows": 28, "cols": 80, "class": "vLargeTextField"}
            )
        return super().formfield_for_dbfield(db_field, request, **kwargs)

    fieldsets = [
        (None, {"fields": ["title", "slug", "category", "excerpt", "body", "tags"]}),
        (_("Publishing"), {"fields": ["status", "published_at", "author"]}),
        (_("Cover image"), {"fields": ["cover_image", "cover_alt"]}),
        (
            _("Statistics"),
            {"classes": ["collapse"], "fields": ["view_count", "created_at", "updated_at"]},
        ),
    ]

    def get_changeform_initial_data(self, request):
        return {"author": request.user.pk, **super().get_changeform_initial_data(request)}

    def save_model(self, request, obj, form, change):
        if obj.author_id is None:
            obj.author = request.user
        super().save_model(request, obj, form, change)

    def view_on_site(self, obj):
        # Only a page readers can open gets the link; drafts would 404.
        if Article.objects.published().filter(pk=obj.pk).exists():
            return obj.get_absolute_url()
        return None


@admin.register(AuthorProfile)
class AuthorProfileAdmin(admin.ModelAdmin):
    form = AuthorProfileAdminForm
    list_display = ["user", "credentials"]
    list_select_related = ["user"]
    search_fields = ["user__username", "user__first_name", "user__last_name", "credentials"]
    autocomplete_fields = ["user"]


admin.site.site_header = _("HealthHub administration")
admin.site.site_title = _("HealthHub admin")
admin.site.index_title = _("Content")
