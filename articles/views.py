from django.conf import settings
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect
from django.views.generic import DetailView, ListView, TemplateView
from taggit.models import Tag

from articles import selectors, services
from articles.models import Article


class PublishedArticlesMixin:
    """Own the public queryset and the pagination of every article list."""

    paginate_by = settings.HEALTHHUB_PAGE_SIZE
    allow_empty = True

    def get_queryset(self):
        return Article.objects.published().for_listing().newest_first()


class HomeView(TemplateView):
    template_name = "articles/home.html"
    latest_count = 10
    most_read_count = 5

    def get_context_data(self, **kwargs):
        published = Article.objects.published().for_listing()
        return super().get_context_data(
            latest=published.newest_first()[: self.latest_count],
            most_read=published.most_read()[: self.most_read_count],
            **kwargs,
        )


class CategoryView(PublishedArticlesMixin, ListView):
    template_name = "articles/category_detail.html"

    def get(self, request, *args, **kwargs):
        categories = selectors.get_categories(request)
        self.category = next((c for c in categories if c.slug == kwargs["slug"]), None)
        if self.category is None:
            raise Http404("No such category.")
        self.lineage = selectors.category_lineage(self.category, categories)
        self.subcategories = [c for c in categories if c.parent_id == self.category.pk]
        self.category_ids = selectors.descendant_ids(self.category, categories)
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        return super().get_queryset().filter(category_id__in=self.category_ids)

    def get_context_data(self, **kwargs):
        return super().get_context_data(
            category=self.category,
            lineage=self.lineage,
            current_category_slug=self.lineage[0].slug,
            subcategories=self.subcategories,
            **kwargs,
        )


class TagView(PublishedArticlesMixin, ListView):
    template_name = "articles/tag_detail.html"

    def get(self, request, *args, **kwargs):
        self.tag = get_object_or_404(Tag, slug=kwargs["slug"])
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        return super().get_queryset().filter(tags=self.tag)

    def get_context_data(self, **kwargs):
        return super().get_context_data(tag=self.tag, **kwargs)


class ArticleView(DetailView):
    template_name = "articles/article_detail.html"
    context_object_name = "article"

    def get_queryset(self):
        return (
            Article.objects.published()
            .select_related("category", "author")
            .prefetch_related("tags")
        )

    def get(self, request, *args, **kwargs):
        self.object = self.get_object()
        if self.object.category.slug != kwargs["category_slug"]:
            return redirect(self.object, permanent=True)
        services.record_view(self.object, request)
        return self.render_to_response(self.get_context_data(object=self.object))

    def get_context_data(self, **kwargs):
        categories = selectors.get_categories(self.request)
        lineage = selectors.category_lineage(self.object.category, categories)
        return super().get_context_data(
            lineage=lineage, current_category_slug=lineage[0].slug, **kwargs
        )
