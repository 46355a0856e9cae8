"""Indexes that keep the sitemap, most-read and related-article queries off the table rows."""

from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("articles", "0006_performance"),
        ("taggit", "0006_rename_taggeditem_content_type_object_id_taggit_tagg_content_8fc721_idx"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        # taggit's own indexes lead with the content type or cover no object
        # id, so counting the tags an article shares would read every tagged
        # item (articles.selectors.related_articles).
        migrations.RunSQL(
            "CREATE INDEX articles_tagged_tag_object_idx "
            "ON taggit_taggeditem (tag_id, object_id, content_type_id)",
            "DROP INDEX articles_tagged_tag_object_idx",
        ),
        migrations.AddIndex(
            model_name="article",
            index=models.Index(fields=["status", "id", "published_at"], name="article_sitemap_idx"),
        ),
        migrations.AddIndex(
            model_name="article",
            index=models.Index(
                fields=["status", "updated_at", "published_at"], name="article_lastmod_idx"
            ),
        ),
    ]
