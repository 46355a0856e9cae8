"""Buffered view flushes, and a category listing index that covers deep pages."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('articles', '0005_roles_and_defaults'),
    ]

    operations = [
        migrations.CreateModel(
            name='ViewFlush',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('batch', models.CharField(max_length=64, unique=True, verbose_name='batch')),
                ('date', models.DateField(verbose_name='date')),
                ('views', models.PositiveBigIntegerField(verbose_name='views')),
                ('flushed_at', models.DateTimeField(auto_now_add=True, verbose_name='flushed')),
            ],
            options={
                'verbose_name': 'view flush',
                'verbose_name_plural': 'view flushes',
            },
        ),
        migrations.RemoveIndex(
            model_name='article',
            name='article_category_listing_idx',
        ),
        migrations.AddIndex(
            model_name='article',
            index=models.Index(fields=['category', 'status', '-published_at', '-id'], name='article_category_page_idx'),
        ),
    ]
