import datetime as dt

import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.utils import timezone
from django.utils.text import slugify
from taggit.models import Tag

from articles.models import Article, Category, Reference, Reviewer


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ["username"]

    username = factory.Sequence(lambda n: f"author{n}")
    first_name = "Amelia"
    last_name = factory.Sequence(lambda n: f"Writer{n}")
    email = factory.LazyAttribute(lambda user: f"{user.username}@example.com")


class CategoryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Category
        django_get_or_create = ["slug"]

    name = factory.Sequence(lambda n: f"Category {n}")
    slug = factory.Sequence(lambda n: f"category-{n}")
    position = factory.Sequence(int)


class ArticleFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Article
        skip_postgeneration_save = True

    title = factory.Sequence(lambda n: f"Article number {n}")
    slug = factory.Sequence(lambda n: f"article-{n}")
    category = factory.SubFactory(CategoryFactory)
    author = factory.SubFactory(UserFactory)
    excerpt = "A short summary of the article."
    body = (
        "An introduction to the topic.\n\n"
        "## Why it matters\n\nSome reasons.\n\n"
        "## What to do\n\nSome advice.\n\n"
        "## Conclusion\n\nA summary.\n"
    )
    status = Article.Status.PUBLISHED
    published_at = factory.LazyFunction(lambda: timezone.now() - dt.timedelta(days=1))

    @factory.post_generation
    def tags(self, create, extracted, **kwargs):
        if create and extracted:
            self.tags.set(extracted)


class ReviewerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Reviewer
        django_get_or_create = ["slug"]

    name = factory.Sequence(lambda n: f"Dr Reviewer {n}")
    slug = factory.Sequence(lambda n: f"reviewer-{n}")
    credentials = "MD, General Practice"


class ReferenceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Reference

    article = factory.SubFactory(ArticleFactory)
    position = factory.Sequence(int)
    title = factory.Sequence(lambda n: f"A study of sleep, part {n}")
    publisher = "The Lancet"
    year = 2024
    url = factory.Sequence(lambda n: f"https://example.org/study-{n}")


class StaffFactory(UserFactory):
    """A staff user in one of the editorial groups, e.g. StaffFactory(role="Authors")."""

    class Meta:
        skip_postgeneration_save = True

    is_staff = True

    @factory.post_generation
    def role(self, create, extracted, **kwargs):
        if create and extracted:
            self.groups.add(Group.objects.get(name=extracted))


class TagFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Tag
        django_get_or_create = ["name"]

    name = factory.Sequence(lambda n: f"tag {n}")
    slug = factory.LazyAttribute(lambda tag: slugify(tag.name))
