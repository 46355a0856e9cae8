"""Keep cached fragments honest: any content change bumps the content version."""

from django.db.models.signals import m2m_changed, post_delete, post_save
from django.dispatch import receiver
from taggit.models import Tag

from articles.caching import bump_content_version
from articles.images import delete_article_files
from articles.library import delete_image_files
from articles.models import (
    Article,
    AuthorProfile,
    Category,
    Image,
    Reference,
    Reviewer,
    SiteSettings,
)


def content_changed(sender, **kwargs):
    bump_content_version()


for model in (Article, Category, AuthorProfile, Tag, Reviewer, Reference, SiteSettings):
    post_save.connect(content_changed, sender=model, dispatch_uid=f"content-saved-{model.__name__}")
    post_delete.connect(
        content_changed, sender=model, dispatch_uid=f"content-deleted-{model.__name__}"
    )


@receiver(m2m_changed, sender=Article.tags.through)
def tags_changed(sender, action, **kwargs):
    if action in {"post_add", "post_remove", "post_clear"}:
        bump_content_version()


@receiver(post_delete, sender=Article, dispatch_uid="article-delete-files")
def article_files_deleted(sender, instance, **kwargs):
    delete_article_files(instance)


@receiver(post_delete, sender=Image, dispatch_uid="image-delete-files")
def image_files_deleted(sender, instance, **kwargs):
    delete_image_files(instance)
