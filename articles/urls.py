from django.urls import path

from articles import views
from articles.caching import cached_list

app_name = "articles"

urlpatterns = [
    path("", cached_list(views.HomeView.as_view()), name="home"),
    # Popular searches are answered from cache; a new query runs the search.
    path("search/", cached_list(views.SearchView.as_view(), ("q", "page")), name="search"),
    path("tag/<slug:slug>/", cached_list(views.TagView.as_view()), name="tag"),
    path("author/<str:username>/", cached_list(views.AuthorView.as_view()), name="author"),
    path("reviewer/<slug:slug>/", cached_list(views.ReviewerView.as_view()), name="reviewer"),
    path("<slug:slug>/", cached_list(views.CategoryView.as_view()), name="category"),
    path("<slug:category_slug>/<slug:slug>/", views.ArticleView.as_view(), name="article"),
]
