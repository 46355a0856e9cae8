import difflib
import logging
from collections import Counter

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.views.autocomplete import AutocompleteJsonView
from django.contrib.admin.views.main import ORDER_VAR, ChangeList
from django.contrib.humanize.templatetags.humanize import intcomma
from django.contrib.messages.storage import default_storage as message_storage
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.core.paginator import Paginator
from django.db import DatabaseError, connection, models
from django.db.models import F
from django.http import Http404, JsonResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.functional import cached_property
from django.utils.html import format_html, format_html_join
from django.utils.text import Truncator
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

import articles.admin_jobs
import articles.admin_people  # noqa: F401  (registers the user admin and sign-in form)
from articles import (
    admin_autosave,
    admin_editor,
    autosave,
    charts,
    library,
    notifications,
    readability,
    search,
    selectors,
    services,
)
from articles.admin_images import image_chooser_attrs
from articles.forms import (
    CategoryAutocompleteSelect,
    CategoryChoiceField,
    CheckedImageField,
    TagSuggestionsWidget,
    check_length_on_save,
    check_tags,
)
from articles.images import cover_help_text, validate_image_upload
from articles.models import (
    Article,
    ArticleRevision,
    ArticleVersionConflict,
    AuthorProfile,
    BulkJob,
    Category,
    Reference,
    Reviewer,
    SiteSettings,
)
from articles.readability import TARGET_GRADE
from articles.validators import validate_multiline_text
from healthhub.database import is_disk_full

logger = logging.getLogger(__name__)


def save_error_message(error: DatabaseError) -> str:
    """Return what to tell an editor whose save the database refused."""
    if is_disk_full(error):
        reason = _("the disk is full")
    else:
        first_line = (str(error).strip().splitlines() or [type(error).__name__])[0]
        reason = Truncator(first_line).chars(80)
    return _(
        "The database could not save: %(reason)s. Nothing was saved; your changes are "
        "still in the form below, so save again once the problem is fixed."
    ) % {"reason": reason}


class CategoryAutocompleteJsonView(AutocompleteJsonView):
    """Answer the category autocomplete with each category's whole path as its label."""

    def process_request(self, request):
        term, model_admin, source_field, to_field_name = super().process_request(request)
        if model_admin.model is not Category:
            raise PermissionDenied
        return term, model_admin, source_field, to_field_name

    @cached_property
    def paths(self) -> dict[int, str]:
        return Category.paths()

    def serialize_result(self, obj, to_field_name):
        return {**super().serialize_result(obj, to_field_name), "text": self.paths[obj.pk]}


class CategoryPickerMixin:
    """Show categories by their whole path in a ModelAdmin's category pickers."""

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.related_model is Category:
            kwargs.setdefault("form_class", CategoryChoiceField)
            if db_field.name in self.get_autocomplete_fields(request):
                kwargs.setdefault(
                    "widget",
                    CategoryAutocompleteSelect(
                        db_field, self.admin_site, using=kwargs.get("using")
                    ),
                )
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


@admin.register(Category)
class CategoryAdmin(CategoryPickerMixin, admin.ModelAdmin):
    list_display = ["name", "slug", "parent", "position", "requires_review"]
    list_editable = ["position"]
    list_select_related = ["parent"]
    ordering = ["position", "name"]
    prepopulated_fields = {"slug": ["name"]}
    search_fields = ["name", "slug"]
    autocomplete_fields = ["parent"]

    def get_urls(self):
        autocomplete = CategoryAutocompleteJsonView.as_view(admin_site=self.admin_site)
        return [
            path(
                "autocomplete/",
                self.admin_site.admin_view(autocomplete),
                name="articles_category_autocomplete",
            ),
            *super().get_urls(),
        ]


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


def can_edit_article(user, article) -> bool:
    """Return whether ``user`` may change ``article``: editors any, authors their own drafts."""
    if article is None or user.has_perm("articles.edit_any_article"):
        return True
    # The stored status: a form that moves a draft to review must not lose
    # its author the right to see the form again when it is refused.
    return article.author_id == user.pk and article.saved_status == Article.Status.DRAFT


def time_zone_note() -> str:
    return _("Times are in the site's time zone, %(zone)s.") % {"zone": settings.TIME_ZONE}


class ArticleAdminForm(ImageUploadFormMixin, forms.ModelForm):
    image_fields = ("cover_image",)
    # Users who may not publish pick only from these.
    author_statuses = (Article.Status.DRAFT, Article.Status.IN_REVIEW)
    current_user = None
    # Why the last attempt to save this POST failed in the database, if it did.
    save_error = None

    expected_version = forms.IntegerField(widget=forms.HiddenInput, required=False)
    # Rendered with the review conversation (review_thread.html), saved as a ReviewNote.
    review_reply = forms.CharField(
        label=_("Reply to the editor"),
        required=False,
        max_length=5000,
        validators=[validate_multiline_text],
        widget=forms.Textarea(attrs={"rows": 3, "cols": 80}),
    )

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
            "review_note",
            "published_at",
            "author",
            "reviewed_by",
            "last_reviewed",
            "cover_image",
            "cover_alt",
        ]

    class Media:
        css = {
            "all": [
                "css/admin-images.css",
                "vendor/easymde/easymde.min.css",
                "css/admin-editor.css",
            ]
        }
        js = ["js/image-chooser.js", "vendor/easymde/easymde.min.js", "js/article-editor.js"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["expected_version"].initial = self.instance.version
        if "body" in self.fields:
            self.fields["body"].widget.attrs.update(image_chooser_attrs())
            self.fields["body"].widget.attrs.update(admin_editor.editor_attrs(self.instance))
        status, user = self.fields.get("status"), self.current_user
        if status is not None and not (user and user.has_perm("articles.publish_article")):
            status.choices = [c for c in status.choices if c[0] in self.author_statuses]

    def clean(self):
        cleaned = super().clean()
        if self.save_error:
            raise ValidationError(self.save_error)
        if self.instance.pk is not None:
            self._check_version(cleaned.get("expected_version"))
            # The UPDATE then checks the version the editor loaded, not the
            # one read when the POST arrived.
            self.instance.version = cleaned.get("expected_version")
        category = cleaned.get("category")
        if cleaned.get("status") == Article.Status.PUBLISHED and category is not None:
            reviewer = cleaned.get("reviewed_by", self.instance.reviewed_by)
            if reviewer is None and services.requires_review(category):
                self.add_error(
                    "reviewed_by" if "reviewed_by" in self.fields else None,
                    _(
                        "“%(category)s” articles need a medical reviewer before they are "
                        "published. Choose the reviewer who checked this article."
                    )
                    % {"category": category.name},
                )
        return cleaned

    def _check_version(self, expected):
        # Lock the row until the admin's transaction ends (PostgreSQL; SQLite
        # holds the whole database), so nobody can save between this check
        # and the write. The write checks the version again in its UPDATE.
        current = (
            Article.objects.select_for_update()
            .filter(pk=self.instance.pk)
            .values_list("version", flat=True)
            .first()
        )
        if expected != current:
            url = reverse("admin:articles_article_change", args=[self.instance.pk])
            raise ValidationError(
                format_html(
                    "Someone else saved this article while you were editing it, so your "
                    "changes were not saved and nothing was overwritten. Your text is still "
                    'in the form below: copy what you need, then <a href="{}" target="_blank">'
                    "open the current version</a> and make your changes there.",
                    url,
                ),
                code="version_conflict",
            )

    def clean_slug(self):
        slug = self.cleaned_data["slug"]
        taken = (
            Article.objects.filter(slug=slug)
            .exclude(pk=self.instance.pk)
            .only("title", "author", "status", "published_at")
            .first()
        )
        if taken is None:
            return slug
        params = {"title": taken.title, "free": selectors.free_article_slug(slug)}
        message = _("This address is taken by “%(title)s”. Try “%(free)s”.")
        user = self.current_user
        if not (
            (user and (user.has_perm("articles.edit_any_article") or taken.author_id == user.pk))
            or Article.objects.published().filter(pk=taken.pk).exists()
        ):
            # An author may not see other authors' unpublished titles.
            message = _("This address is taken by another article. Try “%(free)s”.")
        raise ValidationError(message, code="slug_taken", params=params)

    def clean_body(self):
        body = self.cleaned_data["body"]
        rendered = library.render_with_library(body, report=True)
        errors = [
            ValidationError(
                _("Image %(id)d is not in the library. Choose another with “Insert image”."),
                code="missing_image",
                params={"id": pk},
            )
            for pk in rendered.missing_images
        ]
        foreign = list(dict.fromkeys(rendered.foreign_images))
        if foreign:
            errors.append(
                ValidationError(
                    ngettext(
                        "This image is not on this site, so the page would not show it: "
                        "%(urls)s. Upload it to the image library with “Insert image”, "
                        "which adds it as ![description](image:N), or remove it.",
                        "These images are not on this site, so the page would not show them: "
                        "%(urls)s. Upload them to the image library with “Insert image”, "
                        "which adds each as ![description](image:N), or remove them.",
                        len(foreign),
                    ),
                    code="foreign_image",
                    params={"urls": ", ".join(f"“{Truncator(url).chars(80)}”" for url in foreign)},
                )
            )
        if errors:
            raise ValidationError(errors)
        # Reported once the article is saved (ArticleAdmin.save_model).
        self.body_removals = rendered.removed
        return body

    def clean_tags(self):
        return check_tags(self.cleaned_data["tags"])


def removal_message(removed) -> str:
    """Tell the author what the sanitizer left out of the page, briefly."""
    counts = Counter(str(removal) for removal in removed)
    items = ", ".join(
        f"{description} (\u00d7{count})" if count > 1 else description
        for description, count in counts.items()
    )
    return ngettext(
        "%(count)d thing in the body was left out of the page, as the site does not allow "
        "it: %(items)s.",
        "%(count)d things in the body were left out of the page, as the site does not allow "
        "them: %(items)s.",
        len(removed),
    ) % {"count": len(removed), "items": items}


class AuthorProfileAdminForm(ImageUploadFormMixin, forms.ModelForm):
    image_fields = ("photo",)

    class Meta:
        model = AuthorProfile
        fields = ["user", "credentials", "bio", "twitter", "photo"]


class StatusFilter(admin.SimpleListFilter):
    """Filter by status, with scheduled articles apart from the live ones."""

    title = _("status")
    parameter_name = "status"
    SCHEDULED = "scheduled"

    def lookups(self, request, model_admin):
        return [
            (Article.Status.DRAFT, _("Draft")),
            (Article.Status.IN_REVIEW, _("In review")),
            (self.SCHEDULED, _("Scheduled")),
            (Article.Status.PUBLISHED, _("Published (live)")),
            (Article.Status.ARCHIVED, _("Archived")),
        ]

    def queryset(self, request, queryset):
        value = self.value()
        if value == self.SCHEDULED:
            return queryset.scheduled()
        if value == Article.Status.PUBLISHED:
            return queryset.published()
        if value in Article.Status.values:
            return queryset.filter(status=value)
        return queryset


class ReviewFilter(admin.SimpleListFilter):
    title = _("medical review")
    parameter_name = "review"

    def lookups(self, request, model_admin):
        return [("overdue", _("Review overdue")), ("never", _("Never reviewed"))]

    def queryset(self, request, queryset):
        if self.value() == "overdue":
            due = selectors.reviews_due_ids()
            if connection.vendor == "sqlite":
                # "+ 0": SQLite then walks the changelist's ordering index and
                # tests each id against the list, rather than looking up each
                # listed article's row, past its body, to sort them.
                return queryset.alias(review_due_id=F("pk") + 0).filter(review_due_id__in=due)
            return queryset.filter(pk__in=due)
        if self.value() == "never":
            return queryset.filter(reviewed_by__isnull=True)
        return queryset


class ChangeListPaginator(Paginator):
    """Find a changelist page's ids first, through an index, then load only those rows.

    Sorting or stepping over whole rows (title, body, HTML...) grows with the
    site; the index entries the id query walks stay small (migration admin_indexes).
    """

    def page(self, number):
        number = self.validate_number(number)
        bottom = (number - 1) * self.per_page
        top = min(bottom + self.per_page, self.count)
        ids = list(self.object_list.values_list("pk", flat=True)[bottom:top])
        # The rows by id alone, with the changelist's joins and deferred
        # columns: the search and filter conditions were met by the ids.
        rows = self.object_list.model._default_manager.filter(pk__in=ids)
        rows.query.select_related = self.object_list.query.select_related
        rows.query.deferred_loading = self.object_list.query.deferred_loading
        by_id = {row.pk: row for row in rows}
        return self._get_page([by_id[pk] for pk in ids if pk in by_id], number, self)


class ArticleChangeList(ChangeList):
    """The article changelist, whose search results come best match first, unsorted by column."""

    def get_ordering_field_columns(self):
        if ranks_search(self.params, self.query):
            # No column is the order: get_search_results() sorted by rank.
            return {}
        return super().get_ordering_field_columns()


def ranks_search(params, search_term: str) -> bool:
    """Return whether a changelist search comes best match first (no column was picked)."""
    return bool(search_term.strip()) and not params.get(ORDER_VAR)


class ReferenceForm(forms.ModelForm):
    """A reference row whose position may be left empty, to come after the others."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        position = self.fields["position"]
        position.required = False
        position.help_text = _("Order in the list. Left empty, the next number on saving.")
        if self.instance.pk is None:
            # A new row would otherwise show the model's default, 0, which
            # every added row would then keep.
            position.initial = None
            self.initial.pop("position", None)


class ReferenceFormSet(forms.BaseInlineFormSet):
    """Save an article's reference rows, numbering those left without a position."""

    def save(self, commit=True):
        self.number_unpositioned_rows()
        return super().save(commit)

    def number_unpositioned_rows(self):
        """Give rows without a position the numbers after the highest one, in form order."""
        rows = [
            form
            for form in self.forms
            if (form.instance.pk is not None or form.has_changed())
            and not self._should_delete_form(form)
        ]
        taken = [form.cleaned_data.get("position") for form in rows]
        following = max((p for p in taken if p is not None), default=0) + 1
        for form, position in zip(rows, taken, strict=True):
            if position is None:
                form.instance.position = following
                following += 1


class ReferenceInline(admin.TabularInline):
    model = Reference
    form = ReferenceForm
    formset = ReferenceFormSet
    extra = 0
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    fields = ["position", "title", "publisher", "year", "url", "doi", "pmid"]
    ordering = ["position", "pk"]

    class Media:
        css = {"all": ["css/admin-article.css"]}

    def has_add_permission(self, request, obj):
        return super().has_add_permission(request, obj) and can_edit_article(request.user, obj)

    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) and can_edit_article(request.user, obj)

    def has_delete_permission(self, request, obj=None):
        return super().has_delete_permission(request, obj) and can_edit_article(request.user, obj)


def background_threshold() -> int:
    """Return how many articles an action may change before it runs as a background job."""
    return getattr(settings, "HEALTHHUB_BACKGROUND_ACTION_THRESHOLD", 2000)


def counted(count: int) -> int:
    """Return the message level for an action that changed ``count`` articles."""
    return messages.SUCCESS if count else messages.WARNING


def status_action(job_action, description, question):
    """Return an admin action that applies ``job_action`` to the selected articles once confirmed."""

    @admin.action(permissions=["publish"], description=description)
    def action(modeladmin, request, queryset):
        return modeladmin._bulk_action(request, queryset, job_action, question)

    return action


class CategoryChoiceForm(forms.Form):
    category = CategoryChoiceField(Category.objects.all(), label=_("Move to category"))


@admin.register(Article)
class ArticleAdmin(CategoryPickerMixin, admin.ModelAdmin):
    form = ArticleAdminForm
    inlines = [ReferenceInline]
    list_display = [
        "title",
        "category",
        "status_label",
        "publish_date",
        "reading_grade",
        "is_reviewed",
        "view_count",
        "author",
    ]
    # A publish-date filter rather than date_hierarchy: the hierarchy's links
    # come from a MIN/MAX and a DISTINCT over every matching row, work that
    # grows with the site, where these ranges cost nothing to list.
    list_filter = [
        StatusFilter,
        ReviewFilter,
        ("published_at", admin.DateFieldListFilter),
        "category",
        "tags",
    ]
    list_select_related = ["category", "author"]
    # get_search_results() searches the full-text index; these only show the box.
    search_fields = ["title", "slug"]
    search_help_text = _(
        "Words from the title, excerpt or body (of many matches, the newest 1,000), "
        "or an exact slug or id."
    )
    # Counting every article a second time for "(N total)" adds nothing editors use.
    show_full_result_count = False
    paginator = ChangeListPaginator
    # Only the columns with an index that matches their order (migration admin_indexes).
    sortable_by = ["title", "status_label", "publish_date", "view_count"]
    # Columns only the change form needs; the changelist never loads them.
    changelist_deferred = [
        "excerpt",
        "body",
        "body_html",
        "toc",
        "review_note",
        "cover_renditions",
        "cover_alt",
    ]
    prepopulated_fields = {"slug": ["title"]}
    autocomplete_fields = ["category", "author", "reviewed_by"]
    readonly_fields = [
        "view_count",
        "views_last_30_days",
        "reading_grade",
        "reading_grade_explained",
        "version",
        "created_at",
        "updated_at",
    ]
    # Fields only editors (who may publish) can change.
    editor_fields = ["published_at", "author", "reviewed_by", "last_reviewed", "review_note"]
    actions = ["publish_now", "unpublish", "archive", "move_to_category"]
    change_form_template = "admin/articles/article/change_form.html"
    formfield_overrides = {
        models.TextField: {"widget": forms.Textarea(attrs={"rows": 4, "cols": 80})},
        models.ImageField: {"form_class": CheckedImageField},
    }

    fieldsets = [
        (None, {"fields": ["title", "slug", "category", "excerpt", "body", "tags"]}),
        (_("Publishing"), {"fields": ["status", "review_note", "published_at", "author"]}),
        (
            _("Medical review"),
            {"fields": ["reviewed_by", "last_reviewed", "reading_grade_explained"]},
        ),
        (_("Cover image"), {"fields": ["cover_image", "cover_alt"]}),
        (
            _("Statistics"),
            {
                "fields": [
                    "views_last_30_days",
                    "view_count",
                    "version",
                    "created_at",
                    "updated_at",
                ],
            },
        ),
    ]

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        if db_field.name == "body":
            kwargs["widget"] = forms.Textarea(
                attrs={"rows": 28, "cols": 80, "class": "vLargeTextField"}
            )
        elif db_field.name == "tags":
            kwargs["widget"] = TagSuggestionsWidget(
                reverse(f"{self.admin_site.name}:articles_article_tag_suggestions")
            )
        field = super().formfield_for_dbfield(db_field, request, **kwargs)
        if db_field.name == "published_at":
            field.help_text = f"{field.help_text} {time_zone_note()}"
        elif db_field.name == "cover_image":
            field.help_text = cover_help_text()
        elif db_field.name in {"title", "excerpt"}:
            check_length_on_save(field)
        return field

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except ArticleVersionConflict:
            # Someone saved between the form's version check and the write, and
            # the transaction was rolled back. Validating the same POST again now
            # fails the check, so the editor gets the form, their text and the error.
            return super().changeform_view(request, object_id, form_url, extra_context)
        except DatabaseError as error:
            if request.method != "POST":
                raise
            # The save was rolled back. Show the same POST again, refused with
            # the reason, so the editor keeps their text and can retry.
            logger.error("Saving an article failed: %s", error)
            request.healthhub_save_error = save_error_message(error)
            # A failure at COMMIT comes after the success message was queued.
            request._messages = message_storage(request)
            return super().changeform_view(request, object_id, form_url, extra_context)

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        context |= admin_autosave.change_form_context(request, obj)
        return super().render_change_form(request, context, add, change, form_url, obj)

    def get_form(self, request, obj=None, **kwargs):
        form = super().get_form(request, obj, **kwargs)
        form.current_user = request.user
        form.save_error = getattr(request, "healthhub_save_error", None)
        return form

    def get_readonly_fields(self, request, obj=None):
        readonly = list(super().get_readonly_fields(request, obj))
        if not request.user.has_perm("articles.publish_article"):
            readonly += self.editor_fields
        return readonly

    def get_queryset(self, request):
        articles = super().get_queryset(request)
        if not request.user.has_perm("articles.edit_any_article"):
            articles = articles.filter(author=request.user)
        if self._is_changelist_page(request):
            articles = articles.defer(*self.changelist_deferred)
        return articles

    def _is_changelist_page(self, request):
        # Only the page itself: actions posted from it get whole rows, to save.
        match = request.resolver_match
        opts = self.model._meta
        return (
            request.method == "GET"
            and match is not None
            and match.url_name == f"{opts.app_label}_{opts.model_name}_changelist"
        )

    def get_search_results(self, request, queryset, search_term):
        if not search_term.strip():
            return queryset, False
        results = search.admin_search(queryset, search_term)
        if ranks_search(request.GET, search_term):
            # Newest first among equal matches: by id, which every index holds.
            results = results.order_by("-admin_search_rank", "-pk")
        return results, False

    def get_changelist(self, request, **kwargs):
        return ArticleChangeList

    def get_object(self, request, object_id, from_field=None):
        article = super().get_object(request, object_id, from_field)
        if article is None and not request.user.has_perm("articles.edit_any_article"):
            # Another author's article: answer as if it did not exist.
            raise Http404("No such article.")
        return article

    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) and can_edit_article(request.user, obj)

    def has_delete_permission(self, request, obj=None):
        allowed = super().has_delete_permission(request, obj)
        if obj is None or request.user.has_perm("articles.edit_any_article"):
            return allowed
        return allowed and obj.status in {Article.Status.DRAFT, Article.Status.IN_REVIEW}

    def has_publish_permission(self, request):
        return request.user.has_perm("articles.publish_article")

    def get_actions(self, request):
        actions = super().get_actions(request)
        if not request.user.has_perm("articles.edit_any_article"):
            # The bulk delete cannot tell drafts from published articles.
            actions.pop("delete_selected", None)
        return actions

    def get_changeform_initial_data(self, request):
        return {"author": request.user.pk, **super().get_changeform_initial_data(request)}

    def save_model(self, request, obj, form, change):
        if obj.author_id is None:
            obj.author = request.user
        previous_status = obj.saved_status if change else None
        super().save_model(request, obj, form, change)
        notes = services.record_review_steps(
            obj,
            user=request.user,
            previous_status=previous_status,
            note_changed="review_note" in form.changed_data,
            reply=form.cleaned_data.get("review_reply", ""),
        )
        notifications.notify_review_steps(request, notes)
        autosave.discard_autosave(user=request.user, article=obj if change else None)
        if removed := getattr(form, "body_removals", ()):
            self.message_user(request, removal_message(removed), messages.WARNING)

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        services.record_revision(form.instance, user=request.user)

    def view_on_site(self, obj):
        # Only a page readers can open gets the link; drafts have "Preview".
        if Article.objects.published().filter(pk=obj.pk).exists():
            return obj.get_absolute_url()
        return None

    # Columns and read-only fields ------------------------------------------

    @admin.display(description=_("status"), ordering="status")
    def status_label(self, obj):
        if obj.status == Article.Status.PUBLISHED and obj.published_at > timezone.now():
            # The day is in the publish date column; the time goes here.
            when = date_format(timezone.localtime(obj.published_at), "TIME_FORMAT")
            return format_html("<strong>{}</strong> {}", _("Scheduled"), when)
        return obj.get_status_display()

    @admin.display(description=_("publish date"), ordering="published_at")
    def publish_date(self, obj):
        # The date alone keeps the column narrow; a scheduled time shows in the status.
        if obj.published_at is None:
            return self.get_empty_value_display()
        when = timezone.localtime(obj.published_at)
        return format_html(
            '<time datetime="{}">{}</time>', when.isoformat(), date_format(when, "j M Y")
        )

    @admin.display(description=_("reading grade"), ordering="readability_grade")
    def reading_grade(self, obj):
        grade = obj.readability_grade
        if grade is None:
            return "-"
        if grade > TARGET_GRADE:
            return format_html(
                '<span class="readability-warning" title="{}">⚠ {}</span>',
                _("Above grade %(target)s, the usual target for patient-facing health text.")
                % {"target": TARGET_GRADE},
                grade,
            )
        return str(grade)

    @admin.display(description=_("reading grade"))
    def reading_grade_explained(self, obj):
        # The sentences come from the stored HTML on the fly: this page is the
        # only reader, and the list then always follows the grade's rules.
        grade = obj.readability_grade
        if grade is None:
            if obj.pk is None:
                return _("Computed from the body's paragraphs when the article is saved.")
            return _(
                "No grade: the body has no paragraphs. Headings, lists, tables and code "
                "are not graded."
            )
        target = {"target": TARGET_GRADE}
        above = grade > TARGET_GRADE
        summary = format_html(
            '<p class="{}">{}<strong>{}</strong>: {}. {}</p>',
            "readability-warning" if above else "readability-ok",
            "⚠ " if above else "",
            _("Grade %(grade)s") % {"grade": grade},
            readability.grade_meaning(grade),
            (
                _("Patient-facing health text aims at grade %(target)s or below.")
                if above
                else _("Within grade %(target)s, the aim for patient-facing health text.")
            )
            % target,
        )
        hard = [
            sentence
            for sentence in readability.hardest_sentences(obj.body_html)
            if sentence.grade > TARGET_GRADE
        ]
        sentences = format_html_join(
            "",
            "<li>“{}” ({})</li>",
            (
                (
                    Truncator(sentence.text).words(60),
                    # What to change: long sentences split, long words simplify.
                    ngettext(
                        "%(words)d word, %(syllables).1f syllables a word",
                        "%(words)d words, %(syllables).1f syllables a word",
                        sentence.words,
                    )
                    % {"words": sentence.words, "syllables": sentence.syllables / sentence.words},
                )
                for sentence in hard
            ),
        )
        return format_html(
            "{}<p>{}</p>{}",
            summary,
            _("Only paragraphs are graded: headings, lists, tables and code are left out."),
            format_html(
                '<p>{}</p><ol class="readability-sentences">{}</ol>',
                _("The hardest sentences, to split or simplify first:"),
                sentences,
            )
            if hard
            else "",
        )

    @admin.display(description=_("medically reviewed"), boolean=True)
    def is_reviewed(self, obj):
        return obj.reviewed_by_id is not None

    @admin.display(description=_("views, last 30 days"))
    def views_last_30_days(self, obj):
        if obj.pk is None:
            return "-"
        series = selectors.daily_view_series(article=obj)
        total = sum(views for _day, views in series)
        label = _("%(total)s views in the last 30 days") % {"total": total}
        return format_html("{} {}", charts.sparkline([v for _d, v in series], label=label), label)

    # Admin actions -----------------------------------------------------------

    def _render(self, request, template, **context):
        """Render an admin page of this model with the admin's usual context."""
        return TemplateResponse(
            request,
            f"admin/articles/article/{template}",
            {**self.admin_site.each_context(request), "opts": self.model._meta, **context},
        )

    # The confirmation page names this many of the selected articles.
    confirmation_sample = 20

    def _confirm(self, request, queryset, action, title, form=None):
        """Render the confirmation page for ``action``: the count and a sample, never every row."""
        sample = list(
            # The changelist's own select_related also joins the author.
            queryset.select_related(None)
            .select_related("category")
            .only("title", "status", "published_at", "category__name")[: self.confirmation_sample]
        )
        count = queryset.count() if len(sample) == self.confirmation_sample else len(sample)
        return self._render(
            request,
            "action_confirmation.html",
            title=title,
            count=count,
            sample=sample,
            more=count - len(sample),
            in_background=count > background_threshold(),
            action=action,
            action_checkbox_name=helpers.ACTION_CHECKBOX_NAME,
            # Posted back as they came, so the confirmation acts on the same
            # selection: the ticked rows, or with select_across every article
            # the changelist's filters (in the address) select.
            selected=request.POST.getlist(helpers.ACTION_CHECKBOX_NAME),
            select_across=request.POST.get("select_across") == "1",
            form=form,
        )

    def _bulk_action(self, request, queryset, job_action, title, form=None):
        """Confirm, then apply ``job_action``: here in batches, or past the threshold as a job."""
        if "confirm" not in request.POST or (form is not None and not form.is_valid()):
            return self._confirm(request, queryset, request.POST["action"], title, form)
        category = form.cleaned_data["category"] if form is not None else None
        ids = list(queryset.order_by("pk").values_list("pk", flat=True))
        if len(ids) > background_threshold():
            services.start_bulk_job(job_action, ids, user=request.user, category=category)
            self.message_user(
                request,
                format_html(
                    '{} <a href="{}">{}</a>',
                    ngettext(
                        "%(count)s article will be changed in the background.",
                        "%(count)s articles will be changed in the background.",
                        len(ids),
                    )
                    % {"count": intcomma(len(ids))},
                    reverse("admin:articles_bulkjob_changelist"),
                    _("Follow its progress under Bulk jobs."),
                ),
                messages.SUCCESS,
            )
            return None
        outcome = services.run_bulk_action(job_action, ids, user=request.user, category=category)
        done, refused = services.describe_outcome(job_action, outcome, category=category)
        self.message_user(request, done, counted(outcome.changed))
        if refused:
            self.message_user(request, refused, messages.WARNING)
        return None

    publish_now = status_action(
        BulkJob.Action.PUBLISH,
        _("Publish selected articles now"),
        _("Publish these articles now?"),
    )
    unpublish = status_action(
        BulkJob.Action.UNPUBLISH,
        _("Unpublish selected articles (to draft)"),
        _("Unpublish these articles?"),
    )
    archive = status_action(
        BulkJob.Action.ARCHIVE,
        _("Archive selected articles"),
        _("Archive these articles?"),
    )

    @admin.action(permissions=["publish"], description=_("Move selected articles to a category"))
    def move_to_category(self, request, queryset):
        form = CategoryChoiceForm(request.POST if "confirm" in request.POST else None)
        return self._bulk_action(
            request, queryset, BulkJob.Action.MOVE, _("Move these articles?"), form
        )

    # Revisions and statistics -------------------------------------------------

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path(
                "<path:object_id>/revisions/",
                wrap(self.revisions_view),
                name="articles_article_revisions",
            ),
            path(
                "<path:object_id>/revisions/<int:revision_id>/",
                wrap(self.revision_view),
                name="articles_article_revision",
            ),
            path("statistics/", wrap(self.statistics_view), name="articles_article_statistics"),
            *admin_autosave.urls(self),
            *admin_editor.urls(self),
            path(
                "tags/suggest/",
                wrap(self.tag_suggestions_view),
                name="articles_article_tag_suggestions",
            ),
            *super().get_urls(),
        ]

    def tag_suggestions_view(self, request):
        """Answer the tags box: the most used tags matching ``?q=``, as JSON."""
        if not (self.has_add_permission(request) or self.has_change_permission(request)):
            raise PermissionDenied
        return JsonResponse({"tags": selectors.tag_suggestions(request.GET.get("q", ""))})

    def _article_for_history(self, request, object_id):
        article = self.get_object(request, object_id)
        if article is None:
            raise Http404("No such article.")
        if not (
            self.has_view_or_change_permission(request, article)
            and request.user.has_perm("articles.view_articlerevision")
        ):
            raise PermissionDenied
        return article

    def revisions_view(self, request, object_id):
        article = self._article_for_history(request, object_id)
        return self._render(
            request,
            "revisions.html",
            title=_("Revisions of “%(title)s”") % {"title": article.title},
            original=article,
            revisions=article.revisions.select_related("created_by", "category"),
        )

    def revision_view(self, request, object_id, revision_id):
        article = self._article_for_history(request, object_id)
        revision = get_object_or_404(
            ArticleRevision.objects.select_related("category", "created_by"),
            pk=revision_id,
            article=article,
        )
        can_restore = can_edit_article(request.user, article) and self.has_change_permission(
            request, article
        )
        if request.method == "POST":
            if not can_restore:
                raise PermissionDenied
            try:
                services.restore_revision(revision, user=request.user)
            except ValidationError as error:
                self.message_user(request, " ".join(error.messages), messages.ERROR)
                return redirect(request.path)
            self.message_user(
                request,
                _("The revision of %(when)s was restored.")
                % {"when": date_format(timezone.localtime(revision.created_at), "DATETIME_FORMAT")},
                messages.SUCCESS,
            )
            return redirect("admin:articles_article_change", article.pk)
        return self._render(
            request,
            "revision_diff.html",
            title=_("Revision of “%(title)s”") % {"title": revision.title},
            original=article,
            revision=revision,
            diffs=revision_diff(revision, article),
            can_restore=can_restore,
        )

    def statistics_view(self, request):
        if not self.has_publish_permission(request):
            raise PermissionDenied
        series = selectors.daily_view_series(days=30)
        return self._render(
            request,
            "statistics.html",
            title=_("Statistics"),
            chart=charts.bar_chart(series),
            total=sum(views for _day, views in series),
            top_articles=selectors.top_articles(days=7, limit=10),
            summary=selectors.editorial_summary(),
            in_review=Article.objects.filter(status=Article.Status.IN_REVIEW)
            .select_related("author")
            .defer(*self.changelist_deferred)
            .order_by("-updated_at")[:20],
            scheduled=Article.objects.scheduled()
            .defer(*self.changelist_deferred)
            .order_by("published_at")[:20],
            reviews_due=selectors.reviews_due_first(limit=20),
        )


# Unchanged lines shown around each change, as in a unified diff.
DIFF_CONTEXT = 3


def revision_diff(revision: ArticleRevision, article: Article) -> list[dict]:
    """Return, per field, whether it changed between a revision and the article now, and how.

    The lines are (kind, text) pairs as line_diff() returns them.
    """
    current_tags = ", ".join(sorted(article.tags.names()))
    pairs = [
        (_("Title"), revision.title, article.title),
        (_("Category"), str(revision.category or ""), str(article.category)),
        (_("Status"), revision.get_status_display(), article.get_status_display()),
        (_("Tags"), ", ".join(revision.tags), current_tags),
        (_("Excerpt"), revision.excerpt, article.excerpt),
        (_("Body"), revision.body, article.body),
    ]
    diffs = []
    for label, old, new in pairs:
        lines = line_diff(old, new)
        diffs.append({"label": label, "changed": bool(lines), "lines": lines})
    return diffs


def line_diff(old: str, new: str, *, context: int = DIFF_CONTEXT) -> list[tuple[str, str | int]]:
    """Return a unified line diff from ``old`` to ``new``, whatever their line endings.

    Each line is ("-", text) when removed, ("+", text) when added, (" ", text)
    when unchanged near a change, and ("…", count) for a run of unchanged
    lines left out. Text that did not change gives an empty list.
    """
    old_lines, new_lines = services.text_lines(old), services.text_lines(new)
    matcher = difflib.SequenceMatcher(a=old_lines, b=new_lines, autojunk=False)
    if all(tag == "equal" for tag, *_range in matcher.get_opcodes()):
        return []

    def unchanged(start, end):
        # Saying "1 unchanged line" takes the room of showing it.
        if end - start > 1:
            return [("…", end - start)]
        return [(" ", line) for line in new_lines[start:end]]

    lines, shown_up_to = [], 0
    for group in matcher.get_grouped_opcodes(context):
        lines += unchanged(shown_up_to, group[0][3])
        for tag, i1, i2, j1, j2 in group:
            if tag == "equal":
                lines += [(" ", line) for line in new_lines[j1:j2]]
            else:
                lines += [("-", line) for line in old_lines[i1:i2]]
                lines += [("+", line) for line in new_lines[j1:j2]]
        shown_up_to = group[-1][4]
    return lines + unchanged(shown_up_to, len(new_lines))


@admin.register(Reviewer)
class ReviewerAdmin(admin.ModelAdmin):
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    list_display = ["name", "credentials", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    search_fields = ["name", "credentials"]


@admin.register(SiteSettings)
class SiteSettingsAdmin(admin.ModelAdmin):
    list_display = ["__str__", "disclaimer"]

    def has_add_permission(self, request):
        return not SiteSettings.objects.exists() and super().has_add_permission(request)

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(AuthorProfile)
class AuthorProfileAdmin(admin.ModelAdmin):
    form = AuthorProfileAdminForm
    formfield_overrides = {models.ImageField: {"form_class": CheckedImageField}}
    list_display = ["user", "credentials"]
    list_select_related = ["user"]
    search_fields = ["user__username", "user__first_name", "user__last_name", "credentials"]
    autocomplete_fields = ["user"]

    # Everyone who signs in may keep their own profile up to date; the role's
    # permissions decide who may see and change the others.
    def _manages_profiles(self, request):
        return super().has_view_permission(request)

    def get_queryset(self, request):
        profiles = super().get_queryset(request)
        if not self._manages_profiles(request):
            profiles = profiles.filter(user=request.user)
        return profiles

    def get_object(self, request, object_id, from_field=None):
        profile = super().get_object(request, object_id, from_field)
        if profile is None and not self._manages_profiles(request):
            raise Http404("No such author profile.")
        return profile

    def has_view_permission(self, request, obj=None):
        own = obj is None or obj.user_id == request.user.pk
        return own or super().has_view_permission(request, obj)

    def has_change_permission(self, request, obj=None):
        own = obj is None or obj.user_id == request.user.pk
        return own or super().has_change_permission(request, obj)

    def get_exclude(self, request, obj=None):
        exclude = list(super().get_exclude(request, obj) or [])
        if not super().has_change_permission(request):
            # Whose profile it is stays fixed; the page's title names them.
            exclude.append("user")
        return exclude

    def get_urls(self):
        mine = self.admin_site.admin_view(self.my_profile_view)
        return [
            path("mine/", mine, name="articles_authorprofile_mine"),
            *super().get_urls(),
        ]

    def my_profile_view(self, request):
        profile = services.author_profile_for(request.user)
        return redirect("admin:articles_authorprofile_change", profile.pk)


admin.site.site_header = _("HealthHub administration")
admin.site.site_title = _("HealthHub admin")
admin.site.index_title = _("Content")
