import datetime as dt
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from articles.importing import import_article_file
from articles.models import AuthorProfile, Category, DailyViews, Reviewer

DEMO_DIR = Path(__file__).resolve().parents[2] / "demo"

# (name, slug, parent slug, position, description)
CATEGORIES = [
    (
        "Health",
        "health",
        None,
        10,
        "Everyday health: blood pressure, immunity, vitamins and knowing when to see a doctor.",
    ),
    (
        "Nutrition",
        "nutrition",
        None,
        20,
        "Eating well without fads: fibre, hydration and balanced diets explained.",
    ),
    (
        "Fitness",
        "fitness",
        None,
        30,
        "Getting active safely, from first steps to strength training and recovery.",
    ),
    ("Sleep", "sleep", None, 40, "How much sleep you need and the habits that help you get it."),
    (
        "Mental Health",
        "mental-health",
        "health",
        50,
        "Stress, anxiety and talking about how you feel, with where to find support.",
    ),
]
# Extra settings per category slug: Health needs a medical review before
# publishing (sub-categories inherit it); Mental Health shows where to get help.
CATEGORY_EXTRAS = {
    "health": {"requires_review": True},
    "mental-health": {
        "crisis_resources": (
            "If you are thinking about harming yourself or feel you cannot keep yourself safe, "
            "call your local emergency number now.\n"
            "In the UK and Ireland, Samaritans answer 24 hours a day on 116 123; in the US, "
            "call or text 988."
        )
    },
}
# (slug, name, credentials, bio); the demo articles name their reviewer.
REVIEWERS = [
    (
        "samuel-okafor",
        "Dr Samuel Okafor",
        "MD, General Practice",
        "Samuel is a family doctor with fifteen years in primary care.",
    ),
    (
        "lena-fischer",
        "Dr Lena Fischer",
        "MD, Psychiatry",
        "Lena is a consultant psychiatrist who works in community mental health.",
    ),
]
# (username, first name, last name, credentials, bio)
AUTHORS = [
    (
        "amelia",
        "Amelia",
        "Hart",
        "RN, MSc Public Health",
        "Amelia is a registered nurse who spent ten years in community health. "
        "She writes about sleep, nutrition and everyday prevention.",
    ),
    (
        "jonah",
        "Jonah",
        "Reyes",
        "BSc Sport and Exercise Science",
        "Jonah is a health writer and former fitness instructor. "
        "He covers exercise, recovery and staying well through the seasons.",
    ),
    (
        "priya",
        "Priya",
        "Nair",
        "MA Health Communication",
        "Priya is a health journalist focused on heart health, "
        "mental wellbeing and making medical guidance easy to follow.",
    ),
]


def recent_daily_views(article, today: dt.date) -> list[DailyViews]:
    """Return a plausible week of daily tallies for a new demo article.

    Derived from the article's all-time count, so the "most read this week"
    boxes have something to show and re-running changes nothing.
    """
    base = max(article.view_count // 120, 1)
    return [
        DailyViews(article=article, date=today - dt.timedelta(days=age), views=base + (age * 7) % 5)
        for age in range(7)
        if today - dt.timedelta(days=age) >= article.published_at.date()
    ]


class Command(BaseCommand):
    help = "Create the demo categories, authors and articles. Running it again changes nothing."

    def add_recent_views(self, article):
        DailyViews.objects.bulk_create(recent_daily_views(article, timezone.now().date()))

    @transaction.atomic
    def handle(self, *args, **options):
        for name, slug, parent_slug, position, description in CATEGORIES:
            _, created = Category.objects.get_or_create(
                slug=slug,
                defaults={
                    "name": name,
                    "position": position,
                    "description": description,
                    "parent": Category.objects.get(slug=parent_slug) if parent_slug else None,
                    **CATEGORY_EXTRAS.get(slug, {}),
                },
            )
            if options["verbosity"] > 1:
                self.stdout.write(f"category {slug}: {'created' if created else 'exists'}")
        user_model = get_user_model()
        for username, first_name, last_name, credentials, bio in AUTHORS:
            user, created = user_model.objects.get_or_create(
                username=username,
                defaults={"first_name": first_name, "last_name": last_name, "is_active": False},
            )
            if created:
                user.set_unusable_password()
                user.save(update_fields=["password"])
            AuthorProfile.objects.get_or_create(
                user=user, defaults={"credentials": credentials, "bio": bio}
            )
        for slug, name, credentials, bio in REVIEWERS:
            Reviewer.objects.get_or_create(
                slug=slug, defaults={"name": name, "credentials": credentials, "bio": bio}
            )
        counts = {"created": 0, "skipped": 0}
        files = sorted(DEMO_DIR.glob("*.md"))
        for number, path in enumerate(files, start=1):
            result = import_article_file(path, update_existing=False)
            counts[result.action] += 1
            if result.action == "created":
                self.add_recent_views(result.article)
            if options["verbosity"] > 0:
                self.stdout.write(
                    f"[{number}/{len(files)}] {result.action} {result.article.get_absolute_url()}"
                )
        # Saved articles get their card as they are saved; this catches up on
        # articles loaded before cards existed.
        call_command("make_share_cards", verbosity=0, stdout=self.stdout)
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo content ready: {counts['created']} articles created, {counts['skipped']} already there."
            )
        )
