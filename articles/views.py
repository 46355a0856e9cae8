from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.paginator import Paginator
from django.db.models import Exists, OuterRef, Subquery
from django.http import Http404, HttpResponseGone
from django.shortcuts import get_object_or_404, redirect
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.cache import add_never_cache_headers
from django.utils.translation import to_locale
from django.views.generic import DetailView, ListView, TemplateView
from taggit.models import Tag

from articles import caching, counting, search, selectors, structured_data
from articles.models import Article, ArticleSlug, Reference, Reviewer, SiteSettings
from articles.pagination import DeferredJoinPaginator


class SeoMixin:
    """Give every page its title, description, canonical URL and structured data."""

    seo_title = ""
    seo_description = ""
    noindex = False

    def get_seo(self):
        return {
            "title": self.seo_title,
            "description": self.seo_description,
            "canonical": self.get_canonical_url(),
            "noindex": self.noindex,
            "image": structured_data.share_image(self.request),
            "type": "website",
            "locale": to_locale(settings.LANGUAGE_CODE),
            "twitter_site": settings.HEALTHHUB_TWITTER_SITE,
        }

    def get_canonical_url(self):
        page = getattr(self, "canonical_page", 1)
        suffix = f"?page={page}" if page > 1 else ""
        return self.request.build_absolute_uri(self.request.path) + suffix

    def get_structured_data(self):
        return []

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["seo"] = self.get_seo()
        context["structured_data"] = self.get_structured_data()
        return context


class PublishedArticlesMixin(SeoMixin):
    """Own the public queryset and the pagination of every article list."""

    paginate_by = settings.HEALTHHUB_PAGE_SIZE
    paginator_class = DeferredJoinPaginator
    allow_empty = True

    def get_queryset(self):
        return Article.objects.published().for_listing().newest_first()

    def get_paginator(self, queryset, per_page, orphans=0, allow_empty_first_page=True, **kwargs):
        return self.paginator_class(
            queryset,
            per_page,
            orphans=orphans,
            allow_empty_first_page=allow_empty_first_page,
            count_key=self.request.path,
            **kwargs,
        )

    def paginate_queryset(self, queryset, page_size):
        paginated = super().paginate_queryset(queryset, page_size)
        self.canonical_page = paginated[1].number
        return paginated

    def get_breadcrumbs(self):
        return []

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        page = context["page_obj"]
        context["page_range"] = page.paginator.get_elided_page_range(
            page.number, on_each_side=2, on_ends=1
        )
        return context

    def get_structured_data(self):
        crumbs = self.get_breadcrumbs()
        if not crumbs:
            return []
        return [structured_data.breadcrumb_list(self.request, crumbs)]


class HomeView(SeoMixin, TemplateView):
    template_name = "articles/home.html"
    latest_count = 10
    most_read_count = 5
    seo_description = (
        "Clear, carefully written articles on health, nutrition, fitness, sleep and mental health."
    )

    def get_seo(self):
        return {**super().get_seo(), "title": settings.HEALTHHUB_SITE_NAME}

    def get_structured_data(self):
        return [
            structured_data.website(self.request),
            structured_data.organization(self.request),
        ]

    def get_context_data(self, **kwargs):
        return super().get_context_data(
            latest=selectors.latest_articles(limit=self.latest_count),
            most_read=selectors.most_read_this_week(limit=self.most_read_count),
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

    def get_seo(self):
        return {
            **super().get_seo(),
            "title": self.category.name,
            "description": self.category.description,
        }

    def get_breadcrumbs(self):
        return [(c.name, c.get_absolute_url()) for c in self.lineage]

    def get_context_data(self, **kwargs):
        return super().get_context_data(
            category=self.category,
            lineage=self.lineage,
            current_category_slug=self.lineage[0].slug,
            subcategories=self.subcategories,
            most_read=selectors.most_read_this_week(category_ids=self.category_ids),
            **kwargs,
        )


class TagView(PublishedArticlesMixin, ListView):
    template_name = "articles/tag_detail.html"

    def get(self, request, *args, **kwargs):
        self.tag = get_object_or_404(Tag, slug=kwargs["slug"])
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        # From the tag's taggings: counting the page's articles the other way
        # round would read every published article.
        tagged = selectors.tagged_items([self.tag.pk]).values("object_id")
        return super().get_queryset().filter(pk__in=tagged)

    def get_seo(self):
        return {
            **super().get_seo(),
            "title": f"Articles tagged “{self.tag.name}”",
            "description": f"HealthHub articles about {self.tag.name}.",
        }

    def get_breadcrumbs(self):
        return [(f"Tag: {self.tag.name}", self.request.path)]

    def get_context_data(self, **kwargs):
        return super().get_context_data(tag=self.tag, **kwargs)


class AuthorView(PublishedArticlesMixin, ListView):
    template_name = "articles/author_detail.html"

    def get(self, request, *args, **kwargs):
        user_model = get_user_model()
        self.author = get_object_or_404(
            user_model.objects.select_related("author_profile"),
            **{user_model.USERNAME_FIELD: kwargs["username"]},
        )
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        return super().get_queryset().filter(author=self.author)

    def paginate_queryset(self, queryset, page_size):
        paginated = super().paginate_queryset(queryset, page_size)
        # Only people with published work have a public page.
        if paginated[0].count == 0:
            raise Http404("No published articles by this author.")
        return paginated

    def get_seo(self):
        profile = getattr(self.author, "author_profile", None)
        return {
            **super().get_seo(),
            "title": self.author_name,
            "description": (profile.bio if profile else "") or f"Articles by {self.author_name}.",
            "type": "profile",
        }

    @property
    def author_name(self):
        return self.author.get_full_name() or self.author.get_username()

    def get_breadcrumbs(self):
        return [(self.author_name, self.request.path)]

    def get_structured_data(self):
        return [
            *super().get_structured_data(),
            structured_data.person(self.request, self.author),
        ]

    def get_context_data(self, **kwargs):
        return super().get_context_data(
            author=self.author,
            author_name=self.author_name,
            profile=getattr(self.author, "author_profile", None),
            **kwargs,
        )


class SearchView(PublishedArticlesMixin, ListView):
    template_name = "articles/search.html"
    noindex = True

    def get_paginator(self, queryset, per_page, orphans=0, allow_empty_first_page=True, **kwargs):
        # Ranked results are few pages deep, and their count depends on the query.
        return Paginator(queryset, per_page, orphans, allow_empty_first_page)

    def get(self, request, *args, **kwargs):
        self.query = search.normalize_query(request.GET.get("q", ""))
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        if not self.query:
            return Article.objects.none()
        return search.search_articles(self.query)

    def get_seo(self):
        title = f"Search results for “{self.query}”" if self.query else "Search"
        return {**super().get_seo(), "title": title}

    def get_canonical_url(self):
        return self.request.build_absolute_uri(self.request.path)

    def get_context_data(self, **kwargs):
        context = super().get_context_data(query=self.query, **kwargs)
        context["result_count"] = context["paginator"].count if self.query else 0
        if any(article.search_ranked_after for article in context["object_list"]):
            context["ranked_newest"] = search.MAX_RANKED
        return context


class ArticleView(SeoMixin, DetailView):
    template_name = "articles/article_detail.html"
    context_object_name = "article"
    preview = False

    def get_queryset(self):
        return self.with_relations(Article.objects.published())

    @staticmethod
    def with_relations(articles):
        # The disclaimer and whether there are references come with the
        # article's own query, so a page without references costs nothing more.
        return (
            articles.select_related("category", "author__author_profile", "reviewed_by")
            .prefetch_related("tags")
            .annotate(
                has_references=Exists(Reference.objects.filter(article=OuterRef("pk"))),
                disclaimer=Subquery(SiteSettings.objects.filter(pk=1).values("disclaimer")[:1]),
            )
        )

    def get(self, request, *args, **kwargs):
        # The page is cached whole, with a hole for the view count that is
        # filled with the live figure on every request.
        key, _tag = caching.response_key(request)
        cached = caching.get_response(key, caching.VERSIONED_TIMEOUT)
        if cached is not None:
            article_id, page, headers, *known = cached
            views = counting.count_view(article_id, request, known=known[0] if known else None)
            if views is not None:
                return self.fill_view_count(page, views, headers)
        try:
            self.object = self.get_object()
        except Http404:
            self.object = self.get_preview_object()
            if self.object is None:
                return self.follow_old_address(kwargs["slug"])
        if self.object.category.slug != kwargs["category_slug"]:
            return redirect(self.object, permanent=True)
        if self.preview:
            response = self.render_to_response(self.get_context_data(object=self.object))
            add_never_cache_headers(response)
            return response
        counting.record_view(self.object, request)
        views, self.object.view_count = self.object.view_count, caching.VIEW_COUNT_HOLE
        response = self.render_to_response(self.get_context_data(object=self.object))
        response.render()
        self.object.view_count = views
        content = caching.punch_nonce(request, response.content.decode())
        if not self.can_cache(response, content):
            return self.render_to_response(self.get_context_data(object=self.object))
        headers = {"Content-Type": response["Content-Type"]}
        page = caching.CachedPage(content)
        entry = (self.object.pk, page, headers, views)
        caching.set_response(key, entry, caching.VERSIONED_TIMEOUT)
        return self.fill_view_count(page, views, headers)

    def can_cache(self, response, content):
        """Return whether the page may be shared and shows its view count only where expected."""
        if response.status_code != 200 or "no-cache" in response.get("Cache-Control", ""):
            return False
        return content.count(str(caching.VIEW_COUNT_HOLE)) == 0 and (
            content.count(caching.VIEW_COUNT_HOLE_HTML) == 1
        )

    def fill_view_count(self, page, views, headers):
        return page.response(self.request, headers, views=views)

    def get_preview_object(self):
        """Return the unpublished article for staff allowed to see it, else None."""
        user = self.request.user
        if not (user.is_staff and user.has_perm("articles.view_article")):
            return None
        articles = Article.objects.filter(slug=self.kwargs["slug"])
        if not user.has_perm("articles.edit_any_article"):
            articles = articles.filter(author=user)
        article = self.with_relations(articles).first()
        if article is not None:
            self.preview = self.noindex = True
        return article

    def follow_old_address(self, slug):
        """Redirect an article's former address, or say it is gone for good."""
        former = ArticleSlug.objects.filter(slug=slug).only("article_id").first()
        if former is None:
            raise Http404("No such article.")
        if former.article_id is None:
            return HttpResponseGone(self.render_gone(), content_type="text/html; charset=utf-8")
        article = self.get_queryset().filter(pk=former.article_id).first()
        if article is None:
            raise Http404("No such article.")
        return redirect(article, permanent=True)

    def render_gone(self):
        return render_to_string("410.html", request=self.request)

    def get_seo(self):
        article = self.object
        return {
            **super().get_seo(),
            "title": article.title,
            "description": article.excerpt,
            "type": "article",
            "image": structured_data.share_image(self.request, article),
            # An author without a profile raises RelatedObjectDoesNotExist, an AttributeError.
            "twitter_creator": getattr(
                getattr(article.author, "author_profile", None), "twitter", ""
            ),
        }

    def get_context_data(self, **kwargs):
        categories = selectors.get_categories(self.request)
        self.lineage = selectors.category_lineage(self.object.category, categories)
        context = super().get_context_data(
            lineage=self.lineage,
            current_category_slug=self.lineage[0].slug,
            category=self.object.category,
            related=selectors.related_articles(self.object),
            preview=self.preview,
            preview_scheduled=self.preview
            and self.object.status == Article.Status.PUBLISHED
            and self.object.published_at > timezone.now(),
            references=self.object.references.all() if self.object.has_references else [],
            crisis_resources=next(
                (c.crisis_resources for c in reversed(self.lineage) if c.crisis_resources), ""
            ),
            **kwargs,
        )
        return context

    def get_structured_data(self):
        crumbs = [(c.name, c.get_absolute_url()) for c in self.lineage]
        crumbs.append((self.object.title, self.object.get_absolute_url()))
        return [
            structured_data.article(self.request, self.object, self.lineage),
            structured_data.breadcrumb_list(self.request, crumbs),
        ]


class ReviewerView(PublishedArticlesMixin, ListView):
    template_name = "articles/reviewer_detail.html"

    def get(self, request, *args, **kwargs):
        self.reviewer = get_object_or_404(Reviewer, slug=kwargs["slug"])
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        return super().get_queryset().filter(reviewed_by=self.reviewer)

    def get_seo(self):
        return {
            **super().get_seo(),
            "title": f"{self.reviewer.name}, {self.reviewer.credentials}",
            "description": self.reviewer.bio
            or f"Articles medically reviewed by {self.reviewer.name}.",
            "type": "profile",
        }

    def get_breadcrumbs(self):
        return [(self.reviewer.name, self.request.path)]

    def get_structured_data(self):
        return [
            *super().get_structured_data(),
            structured_data.reviewer(self.request, self.reviewer),
        ]

    def get_context_data(self, **kwargs):
        return super().get_context_data(reviewer=self.reviewer, **kwargs)
