"""Fill an empty, migrated database with generated articles, fast.

Bodies come from a pool of texts, and rows go in through
services.bulk_create_articles(), which renders each distinct body once and
records the slug history as a save would. Database triggers index the bulk
inserts for search, as they index every write.
"""

import datetime as dt
import random
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.contrib.contenttypes.models import ContentType
from django.db import connection, transaction
from django.utils import timezone
from taggit.models import Tag, TaggedItem

from articles.models import Article, Category, DailyViews
from articles.services import bulk_create_articles

TOPICS = {
    "Health": ["Heart Health", "Mental Health"],
    "Nutrition": ["Diets", "Vitamins"],
    "Fitness": ["Strength", "Running"],
    "Sleep": ["Insomnia", "Naps"],
    "Conditions": ["Diabetes", "Allergies"],
    "Family": ["Children", "Ageing"],
}
WORDS = [
    "health",
    "heart",
    "blood",
    "pressure",
    "sleep",
    "stress",
    "diet",
    "fibre",
    "protein",
    "vitamin",
    "mineral",
    "water",
    "exercise",
    "walking",
    "running",
    "strength",
    "muscle",
    "bone",
    "joint",
    "breathing",
    "lung",
    "doctor",
    "nurse",
    "clinic",
    "symptom",
    "treatment",
    "medicine",
    "dose",
    "habit",
    "routine",
    "morning",
    "evening",
    "week",
    "month",
    "research",
    "study",
    "evidence",
    "risk",
    "benefit",
    "adult",
    "child",
    "family",
    "weight",
    "energy",
    "mood",
    "anxiety",
    "calm",
    "focus",
    "memory",
    "brain",
    "immune",
    "infection",
    "cold",
    "flu",
    "allergy",
    "skin",
    "eye",
    "ear",
    "tooth",
    "kidney",
    "liver",
    "sugar",
    "salt",
    "fat",
    "oil",
    "vegetable",
    "fruit",
    "grain",
    "bean",
    "nut",
    "seed",
    "fish",
    "meat",
    "dairy",
    "meal",
    "snack",
    "portion",
    "plate",
    "kitchen",
    "recipe",
]
RARE_WORD = "quillwort"
COMMON_WORD = "health"
BODY_POOL = 300
TAG_COUNT = 200
AUTHOR_COUNT = 20
BATCH = 2000


@dataclass(frozen=True)
class Site:
    """What the benchmark needs to know about the generated content."""

    article_url: str
    category_slug: str
    category_pages: int
    tag_slug: str


def sentence(rng: random.Random) -> str:
    words = rng.choices(WORDS, k=rng.randint(8, 18))
    return " ".join(words).capitalize() + "."


def body_text(rng: random.Random, extra: str = "") -> str:
    """Return a Markdown body of about 900 words in five sections."""
    parts = [" ".join(sentence(rng) for _ in range(5))]
    for number in range(1, 6):
        parts.append(f"## Section {number}: {rng.choice(WORDS)} and {rng.choice(WORDS)}")
        for _ in range(3):
            parts.append(" ".join(sentence(rng) for _ in range(4)))
        if number == 3:
            parts.append("\n".join(f"- {sentence(rng)}" for _ in range(4)))
    if extra:
        parts.append(extra)
    return "\n\n".join(parts) + "\n"


def generate(count: int, *, seed: int = 2026) -> Site:
    """Insert ``count`` published articles with categories, tags, authors and views."""
    rng = random.Random(seed)
    now = timezone.now()
    with transaction.atomic():
        categories = _categories()
        leaves = [c for c in categories if c.parent_id is not None]
        authors = _authors()
        tags = Tag.objects.bulk_create(
            [Tag(name=f"topic {n}", slug=f"topic-{n}") for n in range(TAG_COUNT)]
        )
        pool = [body_text(rng) for _ in range(BODY_POOL)]
        rare = body_text(rng, extra=f"A note on {RARE_WORD}, a rare plant.")

    content_type = ContentType.objects.get_for_model(Article)
    for start in range(0, count, BATCH):
        with transaction.atomic():
            articles = []
            for number in range(start, min(start + BATCH, count)):
                text = rare if number == count // 2 else pool[number % BODY_POOL]
                articles.append(
                    Article(
                        title=f"{sentence(rng)[:-1][:80]} ({number})",
                        slug=f"article-{number}",
                        category=leaves[number % len(leaves)],
                        author=authors[number % len(authors)],
                        excerpt=sentence(rng),
                        body=text,
                        status=Article.Status.PUBLISHED,
                        # One article every 10 minutes back from now, none at the same time.
                        published_at=now - dt.timedelta(minutes=10 * (count - number)),
                        view_count=rng.randint(0, 5000),
                    )
                )
            # Each distinct body is rendered once, however many articles share it.
            articles = bulk_create_articles(articles)
            TaggedItem.objects.bulk_create(
                [
                    TaggedItem(content_type=content_type, object_id=article.pk, tag=tag)
                    for article in articles
                    for tag in rng.sample(tags, 3)
                ]
            )
    _recent_views(rng, now.date())
    if connection.vendor == "postgresql":
        # Fresh statistics and visibility map, as autovacuum would leave them.
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")

    newest = Article.objects.select_related("category").order_by("-published_at").first()
    category = leaves[0]
    in_category = Article.objects.filter(category=category).count()
    return Site(
        article_url=newest.get_absolute_url(),
        category_slug=category.slug,
        category_pages=max(1, -(-in_category // 12)),
        tag_slug=tags[0].slug,
    )


def _categories() -> list[Category]:
    categories = []
    for position, (name, children) in enumerate(TOPICS.items()):
        parent = Category.objects.create(name=name, slug=name.lower(), position=position)
        categories.append(parent)
        for child_position, child in enumerate(children):
            categories.append(
                Category.objects.create(
                    name=child,
                    slug=child.lower().replace(" ", "-"),
                    parent=parent,
                    position=child_position,
                )
            )
    return categories


def _authors():
    user_model = get_user_model()
    return user_model.objects.bulk_create(
        [
            user_model(username=f"writer{n}", first_name="Writer", last_name=str(n))
            for n in range(AUTHOR_COUNT)
        ]
    )


def _recent_views(rng: random.Random, today: dt.date) -> None:
    """Tally a week of views for the newest 2,000 articles, for the most-read boxes."""
    recent = list(Article.objects.order_by("-published_at").values_list("pk", flat=True)[:2000])
    DailyViews.objects.bulk_create(
        [
            DailyViews(
                article_id=pk, date=today - dt.timedelta(days=day), views=rng.randint(1, 500)
            )
            for pk in recent
            for day in range(7)
        ],
        batch_size=BATCH,
    )
