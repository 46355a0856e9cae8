"""schema.org JSON-LD for the pages, built from the same data the page shows."""

from django.conf import settings
from django.core.files.storage import default_storage
from django.templatetags.static import static
from django.urls import reverse

from articles import cards

SCHEMA = "https://schema.org"


def _absolute(request, path: str) -> str:
    return request.build_absolute_uri(path)


# The default card's own words, since its alt text must say what it shows.
SHARE_CARD = {"path": "img/share-card.png", "width": 1200, "height": 630}
SHARE_CARD_ALT = "HealthHub: clear, carefully written health articles"


def share_image(request, article=None) -> dict:
    """Return the URL, size and alt text of the image a page is shared with.

    An article with a cover is shared with its 1200 by 630 social rendition,
    one without with its generated share card (articles.cards); every other
    page, and an article whose card is missing, with the site's default card.
    """
    social = (article.cover_renditions or {}).get("social") if article is not None else None
    if social:
        return {
            "url": _absolute(request, default_storage.url(social["name"])),
            "width": social["width"],
            "height": social["height"],
            "alt": article.cover_alt,
        }
    if article is not None and not article.cover_image and article.share_card:
        return {
            "url": _absolute(request, article.share_card.url),
            "width": cards.WIDTH,
            "height": cards.HEIGHT,
            "alt": f"{article.title} — {settings.HEALTHHUB_SITE_NAME}",
        }
    return {
        "url": _absolute(request, static(SHARE_CARD["path"])),
        "width": SHARE_CARD["width"],
        "height": SHARE_CARD["height"],
        "alt": SHARE_CARD_ALT,
    }


def website(request) -> dict:
    return {
        "@context": SCHEMA,
        "@type": "WebSite",
        "name": settings.HEALTHHUB_SITE_NAME,
        "url": _absolute(request, "/"),
        "potentialAction": {
            "@type": "SearchAction",
            "target": {
                "@type": "EntryPoint",
                "urlTemplate": _absolute(request, "/search/") + "?q={search_term_string}",
            },
            "query-input": "required name=search_term_string",
        },
    }


def organization(request, *, with_context: bool = True) -> dict:
    data = {
        "@type": "Organization",
        "name": settings.HEALTHHUB_SITE_NAME,
        "url": _absolute(request, "/"),
        "logo": {"@type": "ImageObject", "url": _absolute(request, static("img/logo.png"))},
    }
    return {"@context": SCHEMA, **data} if with_context else data


def person(request, user, *, with_context: bool = True) -> dict:
    profile = getattr(user, "author_profile", None)
    data = {
        "@type": "Person",
        "name": user.get_full_name() or user.get_username(),
        "url": _absolute(request, reverse("articles:author", args=[user.get_username()])),
    }
    if profile and profile.credentials:
        data["honorificSuffix"] = profile.credentials
    if profile and profile.bio:
        data["description"] = profile.bio
    return {"@context": SCHEMA, **data} if with_context else data


def reviewer(request, reviewer, *, with_context: bool = True) -> dict:
    data = {
        "@type": "Person",
        "name": reviewer.name,
        "honorificSuffix": reviewer.credentials,
        "url": _absolute(request, reviewer.get_absolute_url()),
    }
    if reviewer.profile_url:
        data["sameAs"] = [reviewer.profile_url]
    if reviewer.bio:
        data["description"] = reviewer.bio
    return {"@context": SCHEMA, **data} if with_context else data


def is_medical(lineage) -> bool:
    """Return whether a category chain sits under one of the medical categories."""
    return any(category.slug in settings.HEALTHHUB_MEDICAL_CATEGORIES for category in lineage)


def article(request, article, lineage) -> dict:
    data = {
        "@context": SCHEMA,
        # Both types: reviewedBy and lastReviewed belong to the medical page,
        # while Google's article features only read an Article.
        "@type": ["MedicalWebPage", "Article"] if is_medical(lineage) else "Article",
        "headline": article.title,
        "description": article.excerpt,
        "url": _absolute(request, article.get_absolute_url()),
        "mainEntityOfPage": _absolute(request, article.get_absolute_url()),
        "author": person(request, article.author, with_context=False),
        "publisher": organization(request, with_context=False),
        "articleSection": article.category.name,
        "keywords": [tag.name for tag in article.tags.all()],
        "wordCount": article.word_count,
        "inLanguage": "en",
    }
    # A draft seen in preview has no publish date yet.
    if article.published_at is not None:
        data["datePublished"] = article.published_at.isoformat()
    modified = article.content_updated_at or article.published_at
    if modified is not None:
        data["dateModified"] = modified.isoformat()
    if article.reviewed_by is not None:
        data["reviewedBy"] = reviewer(request, article.reviewed_by, with_context=False)
    if article.last_reviewed is not None:
        data["lastReviewed"] = article.last_reviewed.isoformat()
    image = share_image(request, article)
    data["image"] = [
        {
            "@type": "ImageObject",
            "url": image["url"],
            "width": image["width"],
            "height": image["height"],
        }
    ]
    return data


def breadcrumb_list(request, crumbs) -> dict:
    """Return a BreadcrumbList for Home followed by ``crumbs`` (name, path) pairs."""
    items = [("Home", "/"), *crumbs]
    return {
        "@context": SCHEMA,
        "@type": "BreadcrumbList",
        "itemListElement": [
            {
                "@type": "ListItem",
                "position": position,
                "name": name,
                "item": _absolute(request, path),
            }
            for position, (name, path) in enumerate(items, start=1)
        ],
    }
