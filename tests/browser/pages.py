"""The reader pages the browser tests visit, by name, on the demo content."""

SLEEP_ARTICLE = "/sleep/how-much-sleep-do-adults-really-need/"

READER_PAGES = {
    "home": "/",
    "category": "/health/",
    "article": SLEEP_ARTICLE,
    "tag": "/tag/sleep/",
    "author": "/author/amelia/",
    "search": "/search/?q=sleep",
}
