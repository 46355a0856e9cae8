"""Pagination that stays fast on the last page of a large category."""

from django.core.paginator import Paginator
from django.utils.functional import cached_property

from articles.caching import VERSIONED_TIMEOUT
from articles.selectors import cached_fragment

# Shallower than this, stepping over table rows costs less than a second query.
DEFERRED_JOIN_FROM = 120


class DeferredJoinPaginator(Paginator):
    """Find a page's ids first, then load only those rows.

    ``OFFSET n`` still steps over n entries, but over the entries of an index
    that holds every column the id query needs (article_category_page_idx,
    article_sitemap_idx), never over table rows. The count is cached under the content version
    and ``count_key``, as the content version moves whenever it may change.
    """

    def __init__(
        self,
        *args,
        count_key: str | None = None,
        deferred_join_from: int = DEFERRED_JOIN_FROM,
        **kwargs,
    ):
        super().__init__(*args, **kwargs)
        self.count_key = count_key
        self.deferred_join_from = deferred_join_from

    @cached_property
    def count(self):
        if self.count_key is None:
            return super().count
        return cached_fragment(
            f"count:{self.count_key}", lambda: Paginator.count.func(self), timeout=VERSIONED_TIMEOUT
        )

    def page(self, number):
        number = self.validate_number(number)
        bottom = (number - 1) * self.per_page
        top = bottom + self.per_page
        if top + self.orphans >= self.count:
            top = self.count
        if bottom < self.deferred_join_from:
            return self._get_page(list(self.object_list[bottom:top]), number, self)
        ids = list(self.object_list.values_list("pk", flat=True)[bottom:top])
        rows = list(self.object_list.filter(pk__in=ids)) if ids else []
        return self._get_page(rows, number, self)
