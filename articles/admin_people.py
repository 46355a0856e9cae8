"""The people side of the admin: adding staff in a role, their roles, signing in."""

from django import forms
from django.contrib import admin
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.contrib.auth.forms import AuthenticationForm, UserCreationForm
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from articles import services
from articles.roles import AUTHORS, EDITORS

User = get_user_model()

ROLE_LABELS = {AUTHORS: _("Author"), EDITORS: _("Editor")}


def role_label(user) -> str:
    """Return the name of ``user``'s role, from their groups as already loaded."""
    if user.is_superuser:
        return _("Site owner")
    groups = {group.name for group in user.groups.all()}
    # Someone in both groups can do what an editor can.
    for name in (EDITORS, AUTHORS):
        if name in groups:
            return ROLE_LABELS[name]
    return "—"


class StaffMemberCreationForm(UserCreationForm):
    """Create a user who can sign in to the admin straight away, in one role."""

    role = forms.ChoiceField(
        label=_("Role"),
        choices=[("", "---------"), *ROLE_LABELS.items()],
        help_text=_(
            "Authors write drafts and send them for review. Editors review, publish and "
            "manage every article. Both can sign in to this admin."
        ),
    )

    class Meta(UserCreationForm.Meta):
        model = User
        # The names are here so the password is also checked against them.
        fields = ("username", "first_name", "last_name", "email")

    def save_staff_member(self):
        """Create the user, in the chosen role's group, with an author profile."""
        data = self.cleaned_data
        return services.add_staff_member(
            username=data["username"],
            password=data["password1"],
            role=data["role"],
            first_name=data.get("first_name", ""),
            last_name=data.get("last_name", ""),
            email=data.get("email", ""),
        )


admin.site.unregister(User)


@admin.register(User)
class StaffUserAdmin(UserAdmin):
    add_form = StaffMemberCreationForm
    add_fieldsets = (
        (
            None,
            {
                "classes": ("wide",),
                "fields": (
                    "username",
                    "password1",
                    "password2",
                    "first_name",
                    "last_name",
                    "email",
                    "role",
                ),
            },
        ),
    )
    list_display = ("username", "email", "first_name", "last_name", "role", "is_staff")

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("groups")

    @admin.display(description=_("role"))
    def role(self, user):
        return role_label(user)

    # A new user is made whole by one service call: the user, the group and
    # the profile. The form has no many-to-many data to save afterwards.
    def save_form(self, request, form, change):
        if change:
            return super().save_form(request, form, change)
        return form.save_staff_member()

    def save_model(self, request, obj, form, change):
        if change:
            super().save_model(request, obj, form, change)

    def save_related(self, request, form, formsets, change):
        if change:
            super().save_related(request, form, formsets, change)


class StaffAuthenticationForm(AdminAuthenticationForm):
    """Tell a signed-up user without staff access why the admin refuses them."""

    error_messages = {
        **AdminAuthenticationForm.error_messages,
        "no_admin_access": _(
            "This account has no access to the admin. Ask the site owner to give it "
            "the Author or Editor role."
        ),
    }

    def confirm_login_allowed(self, user):
        # Called only once the password has been verified, so only its owner
        # learns that the account exists; everyone else gets invalid_login.
        AuthenticationForm.confirm_login_allowed(self, user)
        if not user.is_staff:
            raise ValidationError(self.error_messages["no_admin_access"], code="no_admin_access")


admin.site.login_form = StaffAuthenticationForm
