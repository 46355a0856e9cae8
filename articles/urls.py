from django.urls import path

from articles import views

app_name = "articles"

urlpatterns = [
    path("", views.HomeView.as_view(), name="home"),
    path("search/", views.SearchView.as_view(), name="search"),
    path("tag/<slug:slug>/", views.TagView.as_view(), name="tag"),
    path("author/<str:username>/", views.AuthorView.as_view(), name="author"),
    path("reviewer/<slug:slug>/", views.ReviewerView.as_view(), name="reviewer"),
    path("<slug:slug>/", views.CategoryView.as_view(), name="category"),
    path("<slug:category_slug>/<slug:slug>/", views.ArticleView.as_view(), name="article"),
]
