"""The Bulk jobs admin: background actions and long commands, their progress and results."""

from pathlib import Path

from django.conf import settings
from django.contrib import admin, messages
from django.contrib.humanize.templatetags.humanize import intcomma
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404
from django.shortcuts import get_object_or_404, redirect
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST

from articles import services
from articles.models import BulkJob

# What the page's buttons start, and who may: an export holds every draft.
COMMAND_PERMISSION = "articles.edit_any_article"


@admin.register(BulkJob)
class BulkJobAdmin(admin.ModelAdmin):
    """The admin's bulk actions that run in the background, and how far each has got."""

    list_display = [
        "__str__",
        "status",
        "progress",
        "changed",
        "refused",
        "download",
        "requested_by",
        "created_at",
        "finished_at",
    ]
    list_display_links = ["__str__"]
    list_filter = ["status", "action"]
    list_select_related = ["requested_by", "category"]
    # The selection's ids stay out of every page: there may be 100,000 of them.
    fields = [
        "action",
        "category",
        "status",
        "progress",
        "total",
        "done",
        "changed",
        "refused",
        "message",
        "download",
        "requested_by",
        "created_at",
        "started_at",
        "finished_at",
    ]
    readonly_fields = fields
    change_list_template = "admin/articles/bulkjob/change_list.html"

    def get_queryset(self, request):
        return super().get_queryset(request).defer("article_ids")

    # Whoever may run the actions may follow them; nobody edits a job by hand.
    def has_view_permission(self, request, obj=None):
        return (
            request.user.has_perm("articles.publish_article")
            or request.user.has_perm(COMMAND_PERMISSION)
            or super().has_view_permission(request, obj)
        )

    def has_module_permission(self, request):
        return self.has_view_permission(request)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description=_("progress"))
    def progress(self, obj):
        if obj.action in services.COMMAND_JOBS and not obj.total:
            return obj.message or obj.get_status_display()
        percent = obj.done * 100 // obj.total if obj.total else 100
        return format_html(
            '<progress max="{}" value="{}">{} %</progress> {}',
            obj.total,
            obj.done,
            percent,
            _("%(done)s of %(total)s (%(percent)d %%)")
            % {"done": intcomma(obj.done), "total": intcomma(obj.total), "percent": percent},
        )

    @admin.display(description=_("result"))
    def download(self, obj):
        if not obj.result:
            return "—"
        return format_html(
            '<a href="{}" download title="{}">{}</a>',
            reverse("admin:articles_bulkjob_download", args=[obj.pk]),
            obj.result,
            gettext("Download"),
        )

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path(
                "start/<str:action>/",
                wrap(require_POST(self.start_view)),
                name="articles_bulkjob_start",
            ),
            path("<int:pk>/download/", wrap(self.download_view), name="articles_bulkjob_download"),
            *super().get_urls(),
        ]

    def start_view(self, request, action):
        """Queue an export or a renditions rebuild for the worker."""
        if not request.user.has_perm(COMMAND_PERMISSION):
            raise PermissionDenied
        if action not in services.COMMAND_JOBS:
            raise Http404
        job = services.start_command_job(action, user=request.user)
        self.message_user(
            request,
            gettext("“%(job)s” is queued; this page shows its progress.")
            % {"job": job.get_action_display()},
            messages.SUCCESS,
        )
        return redirect("admin:articles_bulkjob_changelist")

    def download_view(self, request, pk):
        """Send a finished export to an editor."""
        if not request.user.has_perm(COMMAND_PERMISSION):
            raise PermissionDenied
        job = get_object_or_404(BulkJob, pk=pk)
        # The name was made by the job, but a path is never taken from a row as is.
        name = Path(job.result).name
        file = Path(settings.HEALTHHUB_EXPORT_ROOT) / name
        if not name or not file.is_file():
            raise Http404(gettext("This export is no longer on the server."))
        return FileResponse(file.open("rb"), as_attachment=True, filename=name)

    def changelist_view(self, request, extra_context=None):
        # The page reloads itself while a job is under way, so progress moves.
        unfinished = BulkJob.objects.filter(
            status__in=[BulkJob.Status.QUEUED, BulkJob.Status.RUNNING]
        ).exists()
        context = {
            "refresh": unfinished,
            "command_jobs": [
                (action, BulkJob.Action(action).label) for action in services.COMMAND_JOBS
            ]
            if request.user.has_perm(COMMAND_PERMISSION)
            else [],
            **(extra_context or {}),
        }
        return super().changelist_view(request, context)
