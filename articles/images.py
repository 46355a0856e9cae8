"""Cover image renditions (work in progress)."""


def sync_renditions(article) -> None:
    article.cover_renditions = {}
