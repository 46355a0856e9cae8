"""Date the sitemap by content, from an index that holds the content date and the list pages."""

from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("articles", "0009_revision_summary"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        # The sitemap no longer reads updated_at, which changes on every save.
        migrations.RemoveIndex(model_name="article", name="article_lastmod_idx"),
        migrations.AddIndex(
            model_name="article",
            index=models.Index(
                fields=[
                    "status",
                    "published_at",
                    "content_updated_at",
                    "category",
                    "author",
                    "reviewed_by",
                ],
                name="article_sitemap_lastmod_idx",
            ),
        ),
    ]
