"""Create the Authors and Editors groups, the site settings row, review defaults and grades."""

from django.conf import settings
from django.contrib.auth.management import create_permissions
from django.db import migrations

from articles.readability import flesch_kincaid_grade
from articles.roles import sync_roles


def create_roles(apps, schema_editor):
    # Permissions are normally made after migrate (post_migrate); make them
    # now so the groups can hold them on a fresh database.
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    sync_roles(apps.get_model("auth", "Group"), apps.get_model("auth", "Permission"))


def create_defaults(apps, schema_editor):
    apps.get_model("articles", "SiteSettings").objects.get_or_create(pk=1)
    article_model = apps.get_model("articles", "Article")
    for pk, body_html in article_model.objects.values_list("pk", "body_html"):
        article_model.objects.filter(pk=pk).update(
            readability_grade=flesch_kincaid_grade(body_html)
        )
    apps.get_model("articles", "Category").objects.filter(
        slug__in=settings.HEALTHHUB_MEDICAL_CATEGORIES
    ).update(requires_review=True)


def remove_roles(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=["Authors", "Editors"]).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("articles", "0004_editorial_workflow"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("taggit", "0006_rename_taggeditem_content_type_object_id_taggit_tagg_content_8fc721_idx"),
    ]

    operations = [
        migrations.RunPython(create_roles, remove_roles),
        migrations.RunPython(create_defaults, migrations.RunPython.noop),
    ]
