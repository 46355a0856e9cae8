"""The review conversation and its emails, through the admin's article form."""

import logging

import pytest
from django.contrib.auth.models import Group, Permission
from django.core import mail
from django.core.exceptions import ImproperlyConfigured
from django.core.mail.backends.base import BaseEmailBackend

from articles.models import Article, ReviewNote
from articles.roles import sync_roles
from healthhub.settings import email_settings
from tests.factories import ArticleFactory, StaffFactory
from tests.test_admin import change_url, edit, open_form, submit

ADMIN_LINK = "http://testserver/admin/articles/article/{pk}/change/"


class FailingBackend(BaseEmailBackend):
    """A mail server that is down."""

    def send_messages(self, email_messages):
        raise ConnectionRefusedError("Connection refused")


@pytest.fixture
def author(db):
    return StaffFactory(username="amelia", first_name="Amelia", last_name="Author", role="Authors")


@pytest.fixture
def editor(db):
    return StaffFactory(username="edith", first_name="Edith", last_name="Editor", role="Editors")


def login(client, user):
    client.force_login(user)
    return client


def save(client, article, captured, **fields):
    """Save ``fields`` through the article's form, running what waits for the commit."""
    with captured(execute=True):
        response = edit(client, article, **fields)
    assert response.status_code == 302, response.content.decode()[:2000]
    return response


@pytest.mark.django_db
def test_submitting_for_review_emails_the_editors_with_the_admin_link(
    client, author, editor, health, django_capture_on_commit_callbacks
):
    """An author's "in review" save tells every editor, with a link to the change page."""
    second = StaffFactory(username="oscar", role="Editors")
    draft = ArticleFactory(category=health, author=author, status="draft", title="Sleep well")

    save(login(client, author), draft, django_capture_on_commit_callbacks, status="in_review")

    [email] = mail.outbox
    assert email.to == sorted([editor.email, second.email])
    assert email.subject == "Submitted for review: Sleep well"
    assert ADMIN_LINK.format(pk=draft.pk) in email.body
    assert "Amelia Author submitted “Sleep well” for review." in email.body
    note = ReviewNote.objects.get()
    assert (note.kind, note.author, note.text) == ("submitted", author, "")


@pytest.mark.django_db
def test_sending_back_stores_the_note_and_emails_the_author(
    client, author, editor, health, django_capture_on_commit_callbacks
):
    """An editor's return to draft with a note is a "sent back" note, mailed to the author."""
    article = ArticleFactory(category=health, author=author, status="in_review", title="Water")

    save(
        login(client, editor),
        article,
        django_capture_on_commit_callbacks,
        status="draft",
        review_note="Please cite a source for the 2 litres.",
    )

    [email] = mail.outbox
    assert email.to == [author.email]
    assert email.subject == "Sent back to you: Water"
    assert "Please cite a source for the 2 litres." in email.body
    assert ADMIN_LINK.format(pk=article.pk) in email.body
    note = ReviewNote.objects.get()
    assert (note.kind, note.author, note.text) == (
        "sent_back",
        editor,
        "Please cite a source for the 2 litres.",
    )
    article.refresh_from_db()
    assert article.review_note == "Please cite a source for the 2 litres."


@pytest.mark.django_db
def test_publishing_emails_the_author(
    client, author, editor, health, django_capture_on_commit_callbacks
):
    """Publishing an author's article tells them, with the admin link."""
    article = ArticleFactory(category=health, author=author, status="in_review", title="Walks")

    save(login(client, editor), article, django_capture_on_commit_callbacks, status="published")

    [email] = mail.outbox
    assert (email.to, email.subject) == ([author.email], "Published: Walks")
    assert ADMIN_LINK.format(pk=article.pk) in email.body
    assert ReviewNote.objects.get().kind == "published"


@pytest.mark.django_db
def test_nobody_is_emailed_about_their_own_step(
    client, editor, health, django_capture_on_commit_callbacks
):
    """An editor publishing their own article gets no email about it."""
    article = ArticleFactory(category=health, author=editor, status="draft")

    save(login(client, editor), article, django_capture_on_commit_callbacks, status="published")

    assert mail.outbox == []
    assert ReviewNote.objects.get().kind == "published"


@pytest.mark.django_db
def test_author_sees_the_thread_escaped_and_replies_to_the_editor(
    client, author, editor, health, django_capture_on_commit_callbacks
):
    """The thread shows oldest first, escaped; the author's reply is stored and mailed to the editor."""
    article = ArticleFactory(category=health, author=author, status="in_review")
    ReviewNote.objects.create(article=article, author=author, kind="submitted", text="Ready.")
    save(
        login(client, editor),
        article,
        django_capture_on_commit_callbacks,
        status="draft",
        review_note="Is <b>this</b> right?",
    )
    mail.outbox.clear()

    html = login(client, author).get(change_url(article)).content.decode()
    assert "Review conversation" in html
    assert "Is &lt;b&gt;this&lt;/b&gt; right?" in html and "<b>this</b>" not in html
    thread = html[html.index("Review conversation") :]
    assert thread.index("Ready.") < thread.index("Is &lt;b&gt;this")
    assert "Reply to the editor:" in html

    save(
        client,
        article,
        django_capture_on_commit_callbacks,
        review_reply="Yes: the NHS page says so.",
    )

    assert list(article.review_notes.values_list("kind", "author__username", "text")) == [
        ("submitted", "amelia", "Ready."),
        ("sent_back", "edith", "Is <b>this</b> right?"),
        ("reply", "amelia", "Yes: the NHS page says so."),
    ]
    [email] = mail.outbox
    assert email.to == [editor.email]
    assert "Yes: the NHS page says so." in email.body
    assert ADMIN_LINK.format(pk=article.pk) in email.body
    html = client.get(change_url(article)).content.decode()
    thread = html[html.index("Review conversation") :]
    assert thread.index("Is &lt;b&gt;this") < thread.index("Yes: the NHS page says so.")


@pytest.mark.django_db
def test_a_reply_typed_while_resubmitting_is_the_submission_message(
    client, author, editor, health, django_capture_on_commit_callbacks
):
    """Replying and moving back to review at once gives one "submitted" note with the message."""
    article = ArticleFactory(category=health, author=author, status="draft")
    ReviewNote.objects.create(article=article, author=editor, kind="sent_back", text="Shorter.")

    save(
        login(client, author),
        article,
        django_capture_on_commit_callbacks,
        status="in_review",
        review_reply="Cut to 600 words.",
    )

    note = article.review_notes.last()
    assert (note.kind, note.text) == ("submitted", "Cut to 600 words.")
    [email] = mail.outbox
    assert "Cut to 600 words." in email.body


@pytest.mark.django_db
def test_no_thread_no_reply_box(client, author, health):
    """Without a conversation yet, the form shows no reply box."""
    article = ArticleFactory(category=health, author=author, status="draft")
    form = open_form(login(client, author), change_url(article))
    assert "review_reply" not in form.names


@pytest.mark.django_db(transaction=True)
def test_a_failing_mail_server_does_not_break_the_save(client, health, settings, caplog):
    """With the mail server down the save still commits, a warning is logged and the user told."""
    sync_roles(Group, Permission)
    author = StaffFactory(username="amelia", role="Authors")
    StaffFactory(username="edith", role="Editors")
    settings.EMAIL_BACKEND = "tests.test_notifications.FailingBackend"
    article = ArticleFactory(category=health, author=author, status="draft")
    client.force_login(author)
    form = open_form(client, change_url(article))

    with caplog.at_level(logging.WARNING, logger="articles.notifications"):
        response = submit(client, change_url(article), form, status="in_review")

    assert response.status_code == 302
    article.refresh_from_db()
    assert article.status == Article.Status.IN_REVIEW
    assert ReviewNote.objects.get().kind == "submitted"
    assert "Could not send the workflow email" in caplog.text
    page = client.get(response["Location"]).content.decode()
    assert "the email notification could not be sent" in page


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "smtp://mailer%40example.org:p%2Fss@mail.example.org:587?tls=1",
            {
                "EMAIL_HOST": "mail.example.org",
                "EMAIL_PORT": 587,
                "EMAIL_HOST_USER": "mailer@example.org",
                "EMAIL_HOST_PASSWORD": "p/ss",
                "EMAIL_USE_TLS": True,
                "EMAIL_USE_SSL": False,
            },
        ),
        ("smtps://mail.example.org", {"EMAIL_PORT": 465, "EMAIL_USE_SSL": True}),
        ("smtp://localhost", {"EMAIL_PORT": 25, "EMAIL_USE_TLS": False}),
        ("console://", {"EMAIL_BACKEND": "django.core.mail.backends.console.EmailBackend"}),
    ],
)
def test_email_url_sets_the_email_settings(url, expected):
    """EMAIL_URL gives the backend, host, port, credentials and encryption."""
    found = email_settings(url)
    assert {name: found[name] for name in expected} == expected


def test_an_unknown_email_url_scheme_stops_the_start_up():
    """A mistyped EMAIL_URL is refused loudly rather than mail silently lost."""
    with pytest.raises(ImproperlyConfigured, match="EMAIL_URL"):
        email_settings("smpt://mail.example.org")
