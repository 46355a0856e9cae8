"""The Authors and Editors groups and the permissions each one holds.

The data migration 0005 and the ``setup_roles`` command both call
``sync_roles``, so a fresh database and a long-lived one end up the same.
"""

AUTHORS = "Authors"
EDITORS = "Editors"

_CRUD = ("add", "change", "delete", "view")

ROLE_PERMISSIONS = {
    # Authors write their own drafts; ArticleAdmin narrows "change" and
    # "delete" to their own unpublished articles.
    AUTHORS: [
        *(f"articles.{action}_article" for action in _CRUD),
        *(f"articles.{action}_reference" for action in _CRUD),
        *(f"taggit.{action}_tag" for action in _CRUD),
        "articles.view_category",
        "articles.view_reviewer",
        "articles.view_articlerevision",
    ],
    EDITORS: [
        *(f"articles.{action}_{model}" for action in _CRUD for model in ("article", "category")),
        *(f"articles.{action}_{model}" for action in _CRUD for model in ("reviewer", "reference")),
        *(f"articles.{action}_authorprofile" for action in _CRUD),
        *(f"taggit.{action}_tag" for action in _CRUD),
        "articles.publish_article",
        "articles.edit_any_article",
        "articles.view_articlerevision",
        "articles.change_sitesettings",
        "articles.view_sitesettings",
        "articles.view_dailyviews",
        # The article form picks the author from the users.
        "auth.view_user",
    ],
}


def sync_roles(group_model, permission_model) -> dict[str, int]:
    """Create the groups and set exactly their permissions; return each group's count."""
    counts = {}
    for name, codes in ROLE_PERMISSIONS.items():
        group, _created = group_model.objects.get_or_create(name=name)
        wanted = [tuple(code.split(".", 1)) for code in codes]
        permissions = [
            permission_model.objects.get(content_type__app_label=app, codename=codename)
            for app, codename in wanted
        ]
        group.permissions.set(permissions)
        counts[name] = len(permissions)
    return counts
