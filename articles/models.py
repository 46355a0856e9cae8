import datetime as dt
import difflib
import uuid
from pathlib import PurePosixPath

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxLengthValidator, RegexValidator
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Coalesce
from django.urls import reverse
from django.utils import timezone
from django.utils.text import normalize_newlines
from django.utils.translation import gettext_lazy as _
from taggit.managers import TaggableManager

from articles.cards import CARDS_DIR, sync_share_card
from articles.images import sync_renditions
from articles.readability import flesch_kincaid_grade
from articles.rendering import render_body
from articles.validators import (
    MAX_VIEW_COUNT,
    validate_body_size,
    validate_date_range,
    validate_multiline_text,
    validate_single_line_text,
    validate_view_count,
)

# First path segments the site itself uses; a category slug equal to one of
# them would shadow that route (or be shadowed by it).
RESERVED_SLUGS = frozenset(
    {
        "admin",
        "api",
        "accounts",
        "author",
        "authors",
        "category",
        "feed",
        "feeds",
        "healthz",
        "login",
        "logout",
        "media",
        "preview",
        "readyz",
        "reviewer",
        "reviewers",
        "robots.txt",
        "search",
        "sitemap.xml",
        "static",
        "tag",
        "tags",
    }
)


# /<category>/feed/ is the category's feed, so no article may take that slug.
RESERVED_ARTICLE_SLUGS = frozenset({"feed", "page"})

# An edit that changes at least this share of a published body's words earns
# an "Updated" date; fixing a typo does not.
SUBSTANTIAL_CHANGE = 0.2


def validate_article_slug(value: str) -> None:
    if value.lower() in RESERVED_ARTICLE_SLUGS:
        raise ValidationError(
            _("“%(slug)s” is used by the site itself. Choose another slug."),
            code="reserved",
            params={"slug": value},
        )


def validate_category_slug(value: str) -> None:
    if value.lower() in RESERVED_SLUGS:
        raise ValidationError(
            _(
                "“%(slug)s” is used by the site itself (for example /%(slug)s/). Choose another slug."
            ),
            code="reserved",
            params={"slug": value},
        )


class Category(models.Model):
    # Joins the names of a category's path in pickers, a single right-pointing
    # angle quotation mark: "Health \u203a Mental Health".
    PATH_SEPARATOR = " \u203a "

    name = models.CharField(
        _("name"), max_length=100, unique=True, validators=[validate_single_line_text]
    )
    slug = models.SlugField(
        _("slug"),
        max_length=100,
        unique=True,
        validators=[validate_category_slug],
        help_text=_("The category's address: /slug/. Lowercase letters, digits and hyphens."),
    )
    description = models.TextField(
        _("description"),
        blank=True,
        validators=[validate_multiline_text],
        help_text=_("One or two sentences shown on the category page."),
    )
    parent = models.ForeignKey(
        "self",
        verbose_name=_("parent category"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="children",
        help_text=_("Optional. For example, Mental Health sits under Health."),
    )
    position = models.PositiveIntegerField(
        _("position"),
        default=0,
        help_text=_("Order in the navigation; lower numbers come first."),
    )
    requires_review = models.BooleanField(
        _("requires medical review"),
        default=False,
        help_text=_(
            "Articles here (and in sub-categories) cannot be published without a medical reviewer."
        ),
    )
    crisis_resources = models.TextField(
        _("crisis resources"),
        blank=True,
        validators=[validate_multiline_text],
        help_text=_(
            "Optional plain text shown in a highlighted box under every article here and in "
            "sub-categories, for example helpline numbers for mental-health topics."
        ),
    )

    class Meta:
        verbose_name = _("category")
        verbose_name_plural = _("categories")
        ordering = ["position", "name"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(slug__in=sorted(RESERVED_SLUGS)),
                name="category_slug_not_reserved",
                violation_error_message=_("This slug is used by the site itself."),
            ),
            models.CheckConstraint(
                condition=~Q(parent=F("pk")),
                name="category_not_own_parent",
                violation_error_message=_("A category cannot be its own parent."),
            ),
        ]

    def __str__(self):
        return self.name

    def get_absolute_url(self):
        return reverse("articles:category", kwargs={"slug": self.slug})

    def clean(self):
        super().clean()
        ancestor, seen = self.parent, set()
        while ancestor is not None:
            if (self.pk is not None and ancestor.pk == self.pk) or ancestor.pk in seen:
                raise ValidationError(
                    {
                        "parent": _(
                            "A category cannot sit under itself or one of its sub-categories."
                        )
                    }
                )
            seen.add(ancestor.pk)
            ancestor = ancestor.parent

    @property
    def path(self) -> str:
        """Return the names from the top category down, joined by PATH_SEPARATOR."""
        names, node, seen = [], self, set()
        while node is not None and node.pk not in seen:
            seen.add(node.pk)
            names.append(node.name)
            node = node.parent
        return self.PATH_SEPARATOR.join(reversed(names))

    @classmethod
    def paths(cls) -> dict[int, str]:
        """Return the path of every category by id, from one query."""
        rows = {
            pk: (name, parent_id)
            for pk, name, parent_id in cls.objects.order_by().values_list("pk", "name", "parent_id")
        }
        paths = {}
        for pk in rows:
            names, node, seen = [], pk, set()
            while node in rows and node not in seen:
                seen.add(node)
                name, node = rows[node]
                names.append(name)
            paths[pk] = cls.PATH_SEPARATOR.join(reversed(names))
        return paths


class ArticleQuerySet(models.QuerySet):
    def published(self):
        """Return the articles the public may see: published and due."""
        return self.filter(status=Article.Status.PUBLISHED, published_at__lte=timezone.now())

    def scheduled(self):
        """Return the published articles whose publish date is still ahead."""
        return self.filter(status=Article.Status.PUBLISHED, published_at__gt=timezone.now())

    def review_overdue(self, today=None):
        """Return the live articles whose medical review is older than the review interval."""
        today = today or timezone.localdate()
        due = today - dt.timedelta(days=settings.HEALTHHUB_REVIEW_INTERVAL_DAYS)
        return self.filter(status=Article.Status.PUBLISHED, last_reviewed__lt=due)

    def newest_first(self):
        return self.order_by("-published_at", "-pk")

    def for_listing(self):
        """Return the columns and relations an article card shows."""
        return self.select_related("category").only(
            "title",
            "slug",
            "excerpt",
            "published_at",
            "view_count",
            "category__name",
            "category__slug",
        )


def cover_upload_to(instance, filename):
    """Store covers under a fresh random name; the uploaded name is never trusted."""
    suffix = PurePosixPath(filename).suffix.lower()[:10]
    return f"covers/{uuid.uuid4().hex}{suffix}"


def share_card_upload_to(instance, filename):
    """Store share cards under the name articles.cards chose, in the cards folder."""
    return f"{CARDS_DIR}/{PurePosixPath(filename).name}"


class Reviewer(models.Model):
    """A medical professional who checks articles before and after publication."""

    name = models.CharField(_("name"), max_length=120, validators=[validate_single_line_text])
    slug = models.SlugField(
        _("slug"),
        max_length=120,
        unique=True,
        help_text=_("The reviewer's public page: /reviewer/slug/."),
    )
    credentials = models.CharField(
        _("credentials"),
        max_length=120,
        validators=[validate_single_line_text],
        help_text=_("Qualifications as readers should see them, for example “MD, Psychiatry”."),
    )
    bio = models.TextField(
        _("bio"),
        blank=True,
        max_length=600,
        validators=[validate_multiline_text],
        help_text=_("Two or three plain-text sentences."),
    )
    profile_url = models.URLField(
        _("profile link"),
        blank=True,
        validators=[validate_single_line_text],
        help_text=_("Optional. A page that confirms the credentials, such as a registry entry."),
    )

    class Meta:
        verbose_name = _("medical reviewer")
        verbose_name_plural = _("medical reviewers")
        ordering = ["name"]

    def __str__(self):
        return f"{self.name}, {self.credentials}"

    def get_absolute_url(self):
        return reverse("articles:reviewer", kwargs={"slug": self.slug})


class ArticleVersionConflict(Exception):
    """Someone else saved the article after it was loaded for editing."""


class Article(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", _("Draft")
        IN_REVIEW = "in_review", _("In review")
        PUBLISHED = "published", _("Published")
        ARCHIVED = "archived", _("Archived")

    title = models.CharField(_("title"), max_length=200, validators=[validate_single_line_text])
    slug = models.SlugField(
        _("slug"),
        max_length=200,
        unique=True,
        validators=[validate_article_slug],
        help_text=_(
            "The article's address under its category. Filled in from the title. "
            "Changing it later is safe: the old address redirects."
        ),
    )
    category = models.ForeignKey(
        Category,
        verbose_name=_("category"),
        on_delete=models.PROTECT,
        related_name="articles",
    )
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("author"),
        on_delete=models.PROTECT,
        related_name="articles",
    )
    excerpt = models.TextField(
        _("excerpt"),
        max_length=300,
        # A textarea: a line break typed or pasted there is harmless.
        validators=[MaxLengthValidator(300), validate_multiline_text],
        blank=True,
        help_text=_("Plain text, one or two sentences. Shown in lists and to search engines."),
    )
    body = models.TextField(
        _("body"),
        validators=[validate_body_size, validate_multiline_text],
        help_text=_(
            "Markdown. Start sections with “## Heading” (and sub-sections with “### ”); "
            "the title is the page's only top-level heading."
        ),
    )
    body_html = models.TextField(_("body HTML"), editable=False, default="")
    toc = models.JSONField(_("table of contents"), editable=False, default=list)
    word_count = models.PositiveIntegerField(_("words"), editable=False, default=0)
    reading_minutes = models.PositiveSmallIntegerField(
        _("reading time (minutes)"), editable=False, default=1
    )
    cover_image = models.ImageField(_("cover image"), upload_to=cover_upload_to, blank=True)
    cover_alt = models.CharField(
        _("cover image alt text"),
        max_length=250,
        blank=True,
        validators=[validate_single_line_text],
        help_text=_(
            "Describe the image for readers who cannot see it. Required with a cover image."
        ),
    )
    cover_renditions = models.JSONField(
        _("cover renditions"), editable=False, default=dict, blank=True
    )
    share_card = models.ImageField(
        _("share card"),
        upload_to=share_card_upload_to,
        blank=True,
        editable=False,
        help_text=_("Drawn from the title when there is no cover; shown by link previews."),
    )
    tags = TaggableManager(
        verbose_name=_("tags"),
        blank=True,
        help_text=_("Comma-separated, for example: sleep, stress, heart health."),
    )
    status = models.CharField(
        _("status"), max_length=20, choices=Status.choices, default=Status.DRAFT
    )
    published_at = models.DateTimeField(
        _("publish date"),
        null=True,
        blank=True,
        validators=[validate_date_range],
        help_text=_(
            "Readers see a published article from this moment on; a future date schedules it. "
            "Left empty, publishing sets it to now."
        ),
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)
    content_updated_at = models.DateTimeField(
        _("substantially updated"),
        null=True,
        blank=True,
        editable=False,
        validators=[validate_date_range],
        help_text=_("Set when a published article's text changes substantially."),
    )
    view_count = models.PositiveBigIntegerField(
        _("views"), default=0, editable=False, validators=[validate_view_count]
    )
    review_note = models.TextField(
        _("note to the author"),
        blank=True,
        validators=[validate_multiline_text],
        help_text=_("Why an editor sent the article back to draft, or what to change."),
    )
    reviewed_by = models.ForeignKey(
        Reviewer,
        verbose_name=_("medically reviewed by"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="articles",
    )
    last_reviewed = models.DateField(
        _("last reviewed"),
        null=True,
        blank=True,
        validators=[validate_date_range],
        help_text=_("The day the reviewer last checked the article. Left empty, today."),
    )
    readability_grade = models.DecimalField(
        _("reading grade"),
        max_digits=4,
        decimal_places=1,
        null=True,
        editable=False,
        help_text=_("Flesch-Kincaid grade of the body, computed when the article is saved."),
    )
    version = models.PositiveIntegerField(_("version"), default=1, editable=False)

    objects = ArticleQuerySet.as_manager()

    class Meta:
        verbose_name = _("article")
        verbose_name_plural = _("articles")
        ordering = ["-published_at", "-pk"]
        permissions = [
            ("publish_article", _("Can publish, unpublish, schedule and archive articles")),
            ("edit_any_article", _("Can see and edit every author's articles")),
        ]
        indexes = [
            models.Index(fields=["status", "-published_at"], name="article_status_published_idx"),
            # Ends with the id so that a category page's id-only OFFSET scan
            # never reads the table (articles.pagination).
            models.Index(
                fields=["category", "status", "-published_at", "-id"],
                name="article_category_page_idx",
            ),
            # The sitemap's pages of ids, in id order, and its lastmods: the
            # newest content date overall and per category, author and
            # reviewer (articles.sitemaps), without reading past each row's body.
            models.Index(fields=["status", "id", "published_at"], name="article_sitemap_idx"),
            models.Index(
                fields=[
                    "status",
                    "published_at",
                    "content_updated_at",
                    "category",
                    "author",
                    "reviewed_by",
                ],
                name="article_sitemap_lastmod_idx",
            ),
            # The newest content date, overall or of the articles with a tag
            # or a reviewer: read from the top down to the first match.
            models.Index(
                F("status"),
                Coalesce("content_updated_at", "published_at").desc(),
                F("published_at"),
                F("reviewed_by"),
                F("id"),
                name="article_newest_content_idx",
            ),
            # The admin changelist's orderings and filters. Each ends with the
            # id, so a page's ids come from the index alone (ChangeListPaginator).
            models.Index(fields=["-published_at", "-id"], name="article_admin_newest_idx"),
            models.Index(
                fields=["status", "-published_at", "-id"], name="article_admin_status_idx"
            ),
            models.Index(
                fields=["reviewed_by", "-published_at", "-id"], name="article_admin_review_idx"
            ),
            models.Index(
                fields=["category", "-published_at", "-id"], name="article_admin_category_idx"
            ),
            # selectors.reviews_due(): the overdue and the never-reviewed parts,
            # read from the index alone (PostgreSQL needs the id in it for that).
            models.Index(
                fields=["status", "last_reviewed", "id"], name="article_admin_overdue_idx"
            ),
            models.Index(
                fields=["reviewed_by", "status", "category", "last_reviewed", "id"],
                name="article_admin_unreviewed_idx",
            ),
            models.Index(fields=["title", "-id"], name="article_admin_title_idx"),
            models.Index(fields=["-view_count", "-id"], name="article_admin_views_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=~Q(status="published") | Q(published_at__isnull=False),
                name="article_published_has_date",
                violation_error_message=_("A published article needs a publish date."),
            ),
            models.CheckConstraint(
                condition=Q(cover_image="") | ~Q(cover_alt=""),
                name="article_cover_has_alt",
                violation_error_message=_("A cover image needs alt text."),
            ),
            models.CheckConstraint(
                condition=Q(view_count__gte=0, view_count__lte=MAX_VIEW_COUNT),
                name="article_view_count_range",
                violation_error_message=_("The view count is out of range."),
            ),
        ]

    def __str__(self):
        return self.title

    def save(self, *args, **kwargs):
        now = timezone.now()
        if self.status == self.Status.PUBLISHED and self.published_at is None:
            self.published_at = now
        self.normalise_line_endings()
        self.render()
        if self.reviewed_by_id and self.last_reviewed is None:
            self.last_reviewed = timezone.localdate()
        saved = getattr(self, "_saved_state", None)
        if saved and self._is_substantial_edit(saved["body"], now):
            self.content_updated_at = now
        if not self._state.adding and kwargs.get("update_fields") is None:
            # The counter only ever moves through atomic UPDATEs, and the
            # renditions only through sync_renditions(); writing the values
            # loaded with the form would undo changes made meanwhile.
            deferred = self.get_deferred_fields()
            kwargs["update_fields"] = [
                field.name
                for field in self._meta.concrete_fields
                if not field.primary_key
                and field.name not in {"view_count", "cover_renditions"}
                and field.attname not in deferred
            ]
        # Here rather than in render(): bulk_create_articles() renders too,
        # and its inserts fall back to the default card.
        fields = kwargs.get("update_fields")
        if sync_share_card(self, fields) and fields is not None:
            kwargs["update_fields"] = {*fields, "share_card"}
        expected = self.version
        self._check_version = not self._state.adding and "version" in (
            kwargs.get("update_fields") or ()
        )
        if self._check_version:
            self.version = expected + 1
        try:
            super().save(*args, **kwargs)
        except ArticleVersionConflict:
            self.version = expected
            raise
        if not saved or saved["slug"] != self.slug:
            ArticleSlug.objects.update_or_create(slug=self.slug, defaults={"article": self})
        if not saved or saved["cover_image"] != (self.cover_image.name or ""):
            sync_renditions(self, old_cover=saved["cover_image"] if saved else "")
        shown = getattr(self, "_library_image_ids", ())
        old_body = saved["body"] if saved else None
        # Only a body that shows, or showed, a library image has uses to record.
        if old_body != self.body and (shown or "image:" in (old_body or "")):
            from articles import library  # the library imports the models

            library.sync_article_images(self, shown)
        self._remember_saved_state()

    def get_absolute_url(self):
        return reverse(
            "articles:article",
            kwargs={"category_slug": self.category.slug, "slug": self.slug},
        )

    @classmethod
    def from_db(cls, db, field_names, values):
        instance = super().from_db(db, field_names, values)
        instance._remember_saved_state()
        return instance

    def _do_update(self, base_qs, using, pk_val, values, update_fields, forced_update):
        # Optimistic locking: the row is written only if nobody has saved it
        # since it was loaded, checked in the very UPDATE that writes it.
        if not getattr(self, "_check_version", False):
            return super()._do_update(base_qs, using, pk_val, values, update_fields, forced_update)
        if base_qs.filter(pk=pk_val, version=self.version - 1)._update(values):
            return True
        raise ArticleVersionConflict(pk_val)

    def normalise_line_endings(self):
        """End each line of the text authors type with a bare newline, as imported files do."""
        # Browsers submit textareas with \r\n line endings; stored mixed with
        # imported text, every line of a revision diff would differ.
        for name in ("title", "excerpt", "body", "review_note"):
            value = self.__dict__.get(name)  # a deferred field stays unloaded
            if isinstance(value, str):
                setattr(self, name, normalize_newlines(value))

    def render(self):
        """Derive the body's HTML, contents, word count and reading grade from its Markdown."""
        from articles.library import resolve_images  # the library imports the models

        rendered = render_body(self.body, images=resolve_images)
        self._library_image_ids = rendered.image_ids
        self.body_html = rendered.html
        self.toc = rendered.toc
        self.word_count = rendered.word_count
        self.reading_minutes = rendered.reading_minutes
        self.readability_grade = flesch_kincaid_grade(rendered.html)

    def get_author_url(self):
        return reverse("articles:author", kwargs={"username": self.author.get_username()})

    @property
    def saved_status(self) -> str:
        """Return the status as stored, whatever a form has changed since it was loaded."""
        saved = getattr(self, "_saved_state", None)
        return saved["status"] if saved and saved["status"] else self.status

    def _remember_saved_state(self):
        # Read the instance dict, not the attributes, so deferred fields stay
        # unloaded; a file field holds a plain name until it is first accessed.
        loaded = self.__dict__
        cover = loaded.get("cover_image")
        self._saved_state = {
            "status": loaded.get("status"),
            "slug": loaded.get("slug"),
            "body": loaded.get("body"),
            "cover_image": getattr(cover, "name", cover) or "",
        }

    def _is_substantial_edit(self, old_body, now) -> bool:
        if old_body is None or old_body == self.body:
            return False
        if self.published_at is None or self.published_at > now:
            return False
        matcher = difflib.SequenceMatcher(a=old_body.split(), b=self.body.split(), autojunk=False)
        return 1 - matcher.ratio() >= SUBSTANTIAL_CHANGE

    def clean(self):
        super().clean()
        if self.status == self.Status.PUBLISHED and self.published_at is None:
            # As save() would; the constraint check that follows needs a date.
            self.published_at = timezone.now()
        if self.cover_image and not self.cover_alt.strip():
            raise ValidationError(
                {"cover_alt": _("Describe the cover image for readers who cannot see it.")}
            )


class ArticleSlug(models.Model):
    """Every slug an article has had, so old links keep working.

    A row whose article is gone (deleted) makes its address answer 410 Gone.
    """

    slug = models.SlugField(_("slug"), max_length=200, unique=True)
    article = models.ForeignKey(
        Article,
        verbose_name=_("article"),
        on_delete=models.SET_NULL,
        null=True,
        related_name="slug_history",
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("article address")
        verbose_name_plural = _("article addresses")

    def __str__(self):
        return self.slug


class Reference(models.Model):
    """A source an article cites, listed under "References" in its order."""

    article = models.ForeignKey(
        Article, verbose_name=_("article"), on_delete=models.CASCADE, related_name="references"
    )
    position = models.PositiveSmallIntegerField(_("position"), default=0)
    title = models.CharField(_("title"), max_length=300, validators=[validate_single_line_text])
    publisher = models.CharField(
        _("publisher"),
        max_length=200,
        blank=True,
        validators=[validate_single_line_text],
        help_text=_("The journal, organisation or publisher, for example “The Lancet” or “NHS”."),
    )
    year = models.PositiveSmallIntegerField(_("year"), null=True, blank=True)
    url = models.URLField(
        _("URL"), max_length=500, blank=True, validators=[validate_single_line_text]
    )
    doi = models.CharField(
        _("DOI"),
        max_length=200,
        blank=True,
        validators=[validate_single_line_text],
        help_text=_("For example 10.1000/xyz123."),
    )
    pmid = models.CharField(
        _("PMID"),
        max_length=20,
        blank=True,
        validators=[validate_single_line_text],
        help_text=_("The PubMed identifier, digits only."),
    )

    class Meta:
        verbose_name = _("reference")
        verbose_name_plural = _("references")
        ordering = ["article", "position", "pk"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(url="") | ~Q(doi="") | ~Q(pmid=""),
                name="reference_has_locator",
                violation_error_message=_("Give a URL, a DOI or a PMID."),
            ),
        ]

    def __str__(self):
        return self.title

    def get_link(self) -> str:
        """Return where the reference can be read: its URL, else its DOI or PubMed page."""
        if self.url:
            return self.url
        if self.doi:
            return f"https://doi.org/{self.doi}"
        return f"https://pubmed.ncbi.nlm.nih.gov/{self.pmid}/"


class ArticleRevision(models.Model):
    """A snapshot of an article taken each time it is saved."""

    article = models.ForeignKey(
        Article, verbose_name=_("article"), on_delete=models.CASCADE, related_name="revisions"
    )
    title = models.CharField(_("title"), max_length=200)
    excerpt = models.TextField(_("excerpt"), blank=True)
    body = models.TextField(_("body"))
    category = models.ForeignKey(
        Category,
        verbose_name=_("category"),
        on_delete=models.SET_NULL,
        null=True,
        related_name="+",
    )
    tags = models.JSONField(_("tags"), default=list)
    status = models.CharField(_("status"), max_length=20, choices=Article.Status.choices)
    summary = models.CharField(
        _("changes"),
        max_length=300,
        blank=True,
        help_text=_(
            "What changed since the revision before, for example “Body: +3/\u22121 lines”."
        ),
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("saved by"),
        on_delete=models.SET_NULL,
        null=True,
        related_name="+",
    )
    created_at = models.DateTimeField(_("saved"), default=timezone.now)

    class Meta:
        verbose_name = _("revision")
        verbose_name_plural = _("revisions")
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["article", "-created_at"], name="revision_article_idx")]

    def __str__(self):
        return f"{self.article_id} at {self.created_at:%Y-%m-%d %H:%M}"


class SiteSettings(models.Model):
    """Site-wide texts editors manage in the admin; there is one row."""

    disclaimer = models.TextField(
        _("medical disclaimer"),
        blank=True,
        default=(
            "For information only; not a substitute for professional medical advice, "
            "diagnosis or treatment. Ask a doctor or another qualified professional "
            "about any health question."
        ),
        help_text=_("Plain text shown under every article. Leave empty to show none."),
    )

    class Meta:
        verbose_name = _("site settings")
        verbose_name_plural = _("site settings")

    def __str__(self):
        return str(_("Site settings"))


class ContentVersion(models.Model):
    """The version of published content that keys every cached page; there is one row.

    It lives in the database, not the cache, so that every worker and every
    process (a command, an import, another app server) sees the same one,
    with or without a shared cache.
    """

    version = models.BigIntegerField(_("version"))
    next_due = models.DateTimeField(
        _("next scheduled publication"),
        null=True,
        help_text=_("When the next scheduled article goes live, which changes the content."),
    )

    class Meta:
        verbose_name = _("content version")
        verbose_name_plural = _("content versions")

    def __str__(self):
        return str(self.version)


class DailyViews(models.Model):
    """Views of one article on one day (UTC), for "most read this week"."""

    article = models.ForeignKey(
        Article, verbose_name=_("article"), on_delete=models.CASCADE, related_name="daily_views"
    )
    date = models.DateField(_("date"))
    views = models.PositiveBigIntegerField(_("views"), default=0)

    class Meta:
        verbose_name = _("daily views")
        verbose_name_plural = _("daily views")
        constraints = [
            models.UniqueConstraint(fields=["article", "date"], name="daily_views_article_date"),
        ]
        indexes = [models.Index(fields=["date", "article"], name="daily_views_date_idx")]

    def __str__(self):
        return f"{self.article_id} on {self.date}: {self.views}"


class ViewFlush(models.Model):
    """One batch of buffered views moved into the database (see counting.flush_views).

    The unique batch id makes a retried flush skip a batch already applied.
    """

    batch = models.CharField(_("batch"), max_length=64, unique=True)
    date = models.DateField(_("date"))
    views = models.PositiveBigIntegerField(_("views"))
    flushed_at = models.DateTimeField(_("flushed"), auto_now_add=True)

    class Meta:
        verbose_name = _("view flush")
        verbose_name_plural = _("view flushes")

    def __str__(self):
        return f"{self.batch}: {self.views}"


def author_photo_upload_to(instance, filename):
    """Store author photos under a fresh random name."""
    suffix = PurePosixPath(filename).suffix.lower()[:10]
    return f"authors/{uuid.uuid4().hex}{suffix}"


class AuthorProfile(models.Model):
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        verbose_name=_("user"),
        on_delete=models.CASCADE,
        related_name="author_profile",
    )
    bio = models.TextField(
        _("bio"),
        blank=True,
        max_length=600,
        validators=[validate_multiline_text],
        help_text=_("Two or three plain-text sentences."),
    )
    credentials = models.CharField(
        _("credentials"),
        max_length=120,
        blank=True,
        validators=[validate_single_line_text],
        help_text=_("For example: “RN, MSc Public Health”."),
    )
    photo = models.ImageField(_("photo"), upload_to=author_photo_upload_to, blank=True)
    twitter = models.CharField(
        _("X (Twitter) handle"),
        max_length=16,
        blank=True,
        validators=[
            RegexValidator(
                r"^@[A-Za-z0-9_]{1,15}\Z",
                _("Enter the handle as @name: up to 15 letters, digits or underscores."),
                code="invalid_handle",
            )
        ],
        help_text=_("Optional, for example @healthhub. Link previews credit the author with it."),
    )

    class Meta:
        verbose_name = _("author profile")
        verbose_name_plural = _("author profiles")

    def __str__(self):
        return str(self.user)

    def get_absolute_url(self):
        return reverse("articles:author", kwargs={"username": self.user.get_username()})


class BulkJob(models.Model):
    """An admin action over many articles, run in batches, and how far it has got."""

    class Action(models.TextChoices):
        PUBLISH = "publish", _("Publish now")
        UNPUBLISH = "unpublish", _("Unpublish (to draft)")
        ARCHIVE = "archive", _("Archive")
        MOVE = "move", _("Move to a category")
        EXPORT = "export", _("Export every article as Markdown")
        RENDITIONS = "renditions", _("Rebuild cover renditions")

    class Status(models.TextChoices):
        QUEUED = "queued", _("Waiting for the worker")
        RUNNING = "running", _("Running")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")

    action = models.CharField(_("action"), max_length=20, choices=Action.choices)
    category = models.ForeignKey(
        Category,
        verbose_name=_("category"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text=_("Where a move takes the articles."),
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("requested by"),
        on_delete=models.SET_NULL,
        null=True,
        related_name="+",
    )
    # The selection as it was when the action was confirmed, in id order, so
    # a retried job resumes after the articles it has already done.
    article_ids = models.JSONField(_("articles"), default=list, editable=False)
    total = models.PositiveIntegerField(_("articles selected"), default=0)
    done = models.PositiveIntegerField(_("articles done"), default=0)
    changed = models.PositiveIntegerField(_("articles changed"), default=0)
    refused = models.PositiveIntegerField(
        _("articles refused"),
        default=0,
        help_text=_("Live articles left alone because their category needs a medical reviewer."),
    )
    status = models.CharField(
        _("status"), max_length=20, choices=Status.choices, default=Status.QUEUED
    )
    message = models.TextField(_("message"), blank=True)
    # A file under HEALTHHUB_EXPORT_ROOT, served to editors only: an export
    # holds drafts.
    result = models.CharField(_("result file"), max_length=200, blank=True, editable=False)
    created_at = models.DateTimeField(_("requested"), default=timezone.now)
    started_at = models.DateTimeField(_("started"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)

    class Meta:
        verbose_name = _("bulk job")
        verbose_name_plural = _("bulk jobs")
        ordering = ["-created_at", "-pk"]

    def __str__(self):
        return f"{self.get_action_display()}: {self.done}/{self.total}"


def library_image_upload_to(instance, filename):
    """Store library images under a fresh random name."""
    suffix = PurePosixPath(filename).suffix.lower()[:10]
    return f"library/{uuid.uuid4().hex}{suffix}"


class Image(models.Model):
    """A picture in the image library, for use in article bodies."""

    file = models.ImageField(_("file"), upload_to=library_image_upload_to)
    alt = models.CharField(
        _("alt text"),
        max_length=250,
        validators=[validate_single_line_text],
        help_text=_("Describe the image for readers who cannot see it."),
    )
    caption = models.CharField(
        _("caption"), max_length=300, blank=True, validators=[validate_single_line_text]
    )
    credit = models.CharField(
        _("credit and licence"),
        max_length=200,
        blank=True,
        validators=[validate_single_line_text],
        help_text=_("For example: “Illustration: Jane Doe, CC BY 4.0”."),
    )
    width = models.PositiveIntegerField(_("width"), default=0, editable=False)
    height = models.PositiveIntegerField(_("height"), default=0, editable=False)
    renditions = models.JSONField(_("renditions"), default=dict, blank=True, editable=False)
    # The file's SHA-256, so that importing the same picture again reuses it.
    checksum = models.CharField(
        _("checksum"), max_length=64, blank=True, editable=False, db_index=True
    )
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("uploaded by"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    created_at = models.DateTimeField(_("uploaded"), auto_now_add=True)

    class Meta:
        verbose_name = _("image")
        verbose_name_plural = _("images")
        ordering = ["-created_at", "-pk"]

    def __str__(self):
        return self.alt


class ArticleImage(models.Model):
    """An image that an article's body shows; the image cannot be deleted meanwhile."""

    article = models.ForeignKey(
        Article, verbose_name=_("article"), on_delete=models.CASCADE, related_name="image_uses"
    )
    image = models.ForeignKey(
        Image, verbose_name=_("image"), on_delete=models.PROTECT, related_name="uses"
    )

    class Meta:
        verbose_name = _("image use")
        verbose_name_plural = _("image uses")
        constraints = [
            models.UniqueConstraint(fields=["article", "image"], name="article_image_unique")
        ]

    def __str__(self):
        return f"{self.image} in {self.article}"


class Autosave(models.Model):
    """The last unsaved state of one person's article form; never a revision."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("user"),
        on_delete=models.CASCADE,
        related_name="+",
    )
    # Empty for an article not yet saved once.
    article = models.ForeignKey(
        Article,
        verbose_name=_("article"),
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="autosaves",
    )
    data = models.JSONField(_("form data"), default=dict)
    saved_at = models.DateTimeField(_("saved"), default=timezone.now)

    class Meta:
        verbose_name = _("autosave")
        verbose_name_plural = _("autosaves")
        constraints = [
            models.UniqueConstraint(fields=["user", "article"], name="autosave_one_per_article"),
            models.UniqueConstraint(
                fields=["user"],
                condition=Q(article__isnull=True),
                name="autosave_one_per_new_article",
            ),
        ]

    def __str__(self):
        return f"{self.user} on {self.article or 'a new article'}"


class ReviewNote(models.Model):
    """One message in the conversation between an article's editor and author."""

    class Kind(models.TextChoices):
        SUBMITTED = "submitted", _("Submitted for review")
        SENT_BACK = "sent_back", _("Sent back")
        REPLY = "reply", _("Reply")
        PUBLISHED = "published", _("Published")

    article = models.ForeignKey(
        Article,
        verbose_name=_("article"),
        on_delete=models.CASCADE,
        related_name="review_notes",
    )
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("written by"),
        on_delete=models.SET_NULL,
        null=True,
        related_name="+",
    )
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    text = models.TextField(_("note"), blank=True, validators=[validate_multiline_text])
    created_at = models.DateTimeField(_("written"), default=timezone.now)

    class Meta:
        verbose_name = _("review note")
        verbose_name_plural = _("review notes")
        ordering = ["created_at", "pk"]
        indexes = [models.Index(fields=["article", "created_at"], name="review_note_article_idx")]

    def __str__(self):
        return f"{self.get_kind_display()} on {self.article}"
