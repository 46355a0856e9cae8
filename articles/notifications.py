"""Emails about the editorial workflow: to editors on a submission, to authors on a decision.

Mail goes out once the save has committed, and a mail server that is down
or slow (EMAIL_TIMEOUT) never undoes or blocks the save: the failure is
logged and the person saving is told.
"""

import logging

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.core.mail import EmailMessage, get_connection
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.translation import gettext

from articles.models import Article, ReviewNote
from articles.roles import EDITORS

logger = logging.getLogger(__name__)

SUBJECTS = {
    ReviewNote.Kind.SUBMITTED: "Submitted for review: %(title)s",
    ReviewNote.Kind.SENT_BACK: "Sent back to you: %(title)s",
    ReviewNote.Kind.PUBLISHED: "Published: %(title)s",
    ReviewNote.Kind.REPLY: "New note on %(title)s",
}


def admin_link(request, article: Article) -> str:
    """Return the absolute address of ``article``'s admin change page, from the request's host."""
    return request.build_absolute_uri(reverse("admin:articles_article_change", args=[article.pk]))


def recipients(note: ReviewNote) -> list[str]:
    """Return the addresses ``note`` should go to, never its own writer's."""
    article = note.article
    if note.kind == ReviewNote.Kind.SUBMITTED:
        users = get_user_model().objects.filter(groups__name=EDITORS, is_active=True)
    elif note.kind == ReviewNote.Kind.REPLY and note.author_id == article.author_id:
        # The author's reply answers whoever last sent the article back.
        last = (
            article.review_notes.filter(kind=ReviewNote.Kind.SENT_BACK, author__isnull=False)
            .select_related("author")
            .last()
        )
        users = [last.author] if last else []
    else:
        users = [article.author]
    return sorted(
        {
            user.email
            for user in users
            if user.email and user.pk != note.author_id and user.is_active
        }
    )


def build_messages(request, notes) -> list[EmailMessage]:
    """Return one email per note that has someone to tell."""
    emails = []
    for note in notes:
        to = recipients(note)
        if not to:
            continue
        article = note.article
        context = {
            "note": note,
            "article": article,
            "link": admin_link(request, article),
            "site_name": settings.HEALTHHUB_SITE_NAME,
            "writer": note.author.get_full_name() or note.author.get_username()
            if note.author
            else "",
        }
        emails.append(
            EmailMessage(
                subject=SUBJECTS[note.kind] % {"title": article.title},
                body=render_to_string(f"email/review_{note.kind}.txt", context),
                to=to,
            )
        )
    return emails


def notify_review_steps(request, notes) -> None:
    """Email about ``notes`` once the current transaction commits."""
    if notes:
        transaction.on_commit(lambda: send_now(request, notes))


def send_now(request, notes) -> bool:
    """Send the emails about ``notes``; on failure log it, tell the user, and return False."""
    try:
        emails = build_messages(request, notes)
        if emails:
            get_connection(timeout=settings.EMAIL_TIMEOUT).send_messages(emails)
    except Exception as error:
        logger.warning(
            "Could not send the workflow email for article %s: %s", notes[0].article_id, error
        )
        messages.warning(
            request,
            gettext(
                "The article was saved, but the email notification could not be sent. "
                "Tell the people concerned yourself."
            ),
        )
        return False
    return True
