"""The benchmark's floors: bare Django views served by the same gunicorn.

Mounted only when HEALTHHUB_BENCHMARK_FLOORS is on (healthhub/urls.py).

- The template floor renders a template as large as the article page, with
  no database.
- The write floor does the same plus one SELECT by primary key and one
  atomic F() UPDATE, on a table without triggers (DailyViews), as a bare
  Django view would.
"""

import functools
import os

from django.db.models import F
from django.http import HttpResponse
from django.template import engines
from django.urls import path

from articles.models import DailyViews

PARAGRAPH = (
    "<p>Regular movement, a varied diet and enough sleep protect the heart, the mind and "
    "the immune system. Small habits, kept up over months, matter more than short bursts "
    "of effort.</p>\n"
)


@functools.cache
def floor_template():
    """Return a template of HEALTHHUB_BENCHMARK_FLOOR_BYTES bytes with a few variables."""
    size = int(os.environ.get("HEALTHHUB_BENCHMARK_FLOOR_BYTES", "20000"))
    head = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        "<title>{{ title }}</title></head><body><main><h1>{{ title }}</h1>"
        "<p>{{ views }} views</p>\n"
    )
    tail = "</main></body></html>\n"
    filler = PARAGRAPH * max(0, (size - len(head) - len(tail)) // len(PARAGRAPH))
    return engines["django"].from_string(head + filler + tail)


def template_floor(request):
    html = floor_template().render({"title": "Template floor", "views": 1234}, request)
    return HttpResponse(html)


@functools.cache
def _floor_row_id():
    return DailyViews.objects.order_by("pk").values_list("pk", flat=True).first()


def write_floor(request):
    pk = _floor_row_id()
    row = DailyViews.objects.get(pk=pk)
    DailyViews.objects.filter(pk=pk).update(views=F("views") + 1)
    html = floor_template().render({"title": "Write floor", "views": row.views + 1}, request)
    return HttpResponse(html)


urlpatterns = [
    path("_floor/template/", template_floor),
    path("_floor/write/", write_floor),
]
