import re

from django.conf import settings
from django.contrib import admin
from django.contrib.sitemaps import views as sitemap_views
from django.urls import include, path, re_path
from django.views.generic import TemplateView
from django.views.static import serve

from articles import feeds
from articles.caching import content_versioned
from articles.sitemaps import SITEMAPS
from healthhub import health, views

handler403 = views.permission_denied
handler404 = views.page_not_found

urlpatterns = [
    path(settings.ADMIN_URL, admin.site.urls),
    path("favicon.ico", views.favicon, name="favicon"),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
]

# Production puts media behind the proxy, or in a bucket; a single-machine
# site may let Django serve MEDIA_ROOT instead (the quick start does).
if (settings.DEBUG or settings.HEALTHHUB_SERVE_MEDIA) and not settings.HEALTHHUB_MEDIA_BUCKET:
    media_prefix = re.escape(settings.MEDIA_URL.lstrip("/"))
    urlpatterns += [
        re_path(rf"^{media_prefix}(?P<path>.*)$", serve, {"document_root": settings.MEDIA_ROOT}),
    ]

urlpatterns += [
    path("feed/", content_versioned(feeds.LatestArticlesFeed()), name="feed"),
    path("feed/atom/", content_versioned(feeds.LatestArticlesAtomFeed()), name="feed-atom"),
    path(
        "robots.txt",
        TemplateView.as_view(template_name="robots.txt", content_type="text/plain"),
        name="robots-txt",
    ),
    path(
        "sitemap.xml",
        content_versioned(sitemap_views.index),
        {"sitemaps": SITEMAPS},
        name="sitemap-index",
    ),
    path(
        "sitemap-<section>.xml",
        content_versioned(sitemap_views.sitemap),
        {"sitemaps": SITEMAPS},
        name="django.contrib.sitemaps.views.sitemap",
    ),
    # Before the articles' URLs, which would read "feed" as an article slug.
    path(
        "<slug:slug>/feed/", content_versioned(feeds.CategoryArticlesFeed()), name="category-feed"
    ),
    path("", include("articles.urls")),
]

if settings.HEALTHHUB_BENCHMARK_FLOORS:
    from benchmarks import floors

    urlpatterns = floors.urlpatterns + urlpatterns
