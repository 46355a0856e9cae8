"""Deadlines on database calls, and what a request does when the database is gone.

PostgreSQL's statement_timeout (settings.DATABASES) ends a slow query on the
server. A hung server or network never delivers that error, so each query of
a web request also has a client-side deadline, enforced by the watchdog.
Pages served from cache use a shorter one and, while the database breaker
is open, do not touch the database at all.
"""

import contextlib
import functools
import threading

from django.conf import settings
from django.db import InterfaceError, OperationalError
from django.db.backends.signals import connection_created
from django.dispatch import receiver

from healthhub.resilience import CircuitBreaker, watchdog

# Short: while it is open, every request that needs the database gets a 503
# at once, so a blip should not keep the site refusing for long.
database_breaker = CircuitBreaker("The database", open_seconds=2.0)
# Past statement_timeout, so a server that answers always cancels first.
WATCHDOG_MARGIN = 0.5
_local = threading.local()


def query_deadline() -> float | None:
    """Return this thread's deadline for one query, in seconds, or None for no deadline."""
    deadline = getattr(_local, "deadline", None)
    if deadline:
        return deadline
    if settings.HEALTHHUB_DB_TIMEOUT <= 0:  # management commands (manage.py)
        return None
    return settings.HEALTHHUB_DB_TIMEOUT + WATCHDOG_MARGIN


@contextlib.contextmanager
def short_deadline(seconds: float | None = None):
    """Give each query in the block ``seconds`` (the cached-page deadline) at most."""
    previous = getattr(_local, "deadline", None)
    _local.deadline = seconds or settings.HEALTHHUB_DB_CACHED_TIMEOUT
    try:
        yield
    finally:
        _local.deadline = previous


def is_connection_failure(error: BaseException) -> bool:
    """Return whether ``error`` says the database cannot be reached, as opposed to refusing a write."""
    return isinstance(error, OperationalError | InterfaceError) and not is_disk_full(error)


def is_disk_full(error: BaseException) -> bool:
    cause = error.__cause__
    if getattr(cause, "sqlstate", None) == "53100":  # PostgreSQL: disk_full
        return True
    return "disk is full" in str(error) or "No space left on device" in str(error)


def note_database_error(error: BaseException) -> None:
    """Open the breaker if ``error`` means the database is unreachable."""
    # A refusal is no news; counting it would keep the breaker open for good.
    if isinstance(error, CircuitOpen) or settings.DATABASES["default"]["ENGINE"].endswith(
        "sqlite3"
    ):
        return  # a local file: a lock or a full disk, never a hang
    if is_connection_failure(error):
        database_breaker.failed(error)


class CircuitOpen(OperationalError):
    """The call was not tried: the database failed a moment ago."""


def refuse_while_open() -> None:
    """Fail at once while the breaker is open, but for the one call that probes."""
    if not database_breaker.allow():
        raise CircuitOpen("The database is unavailable (a recent call failed; retrying soon)")


def guard_query(execute, sql, params, many, context):
    refuse_while_open()
    connection = context["connection"]
    fd = _socket_of(connection)
    try:
        with watchdog.deadline(fd, query_deadline()):
            result = execute(sql, params, many, context)
    except (OperationalError, InterfaceError) as error:
        note_database_error(error)
        raise
    database_breaker.succeeded()
    return result


def _socket_of(connection) -> int | None:
    raw = connection.connection
    if connection.vendor != "postgresql" or raw is None:
        return None
    try:
        return raw.fileno()
    except Exception:  # a closed or broken connection
        return None


# Calls Django makes on the driver's connection itself, outside any cursor:
# a commit or the health check before reusing a connection would wait on a
# hung server as long as a query would.
GUARDED_METHODS = ("is_usable", "_commit", "_rollback", "_set_autocommit")


def _guarded(connection, method):
    @functools.wraps(method)
    def call(*args, **kwargs):
        with watchdog.deadline(_socket_of(connection), query_deadline()):
            return method(*args, **kwargs)

    return call


@receiver(connection_created, dispatch_uid="healthhub-guard-queries")
def install_guard(sender, connection, **kwargs):
    if connection.vendor != "postgresql" or getattr(connection, "healthhub_guarded", False):
        return
    connection.execute_wrappers.append(guard_query)
    for name in GUARDED_METHODS:
        setattr(connection, name, _guarded(connection, getattr(connection, name)))
    connection.connect = _refusing(connection.connect)
    connection.healthhub_guarded = True


def _refusing(connect):
    # Reconnecting to a hung server costs connect_timeout (2 s) every time.
    @functools.wraps(connect)
    def call(*args, **kwargs):
        refuse_while_open()
        try:
            result = connect(*args, **kwargs)
        except (OperationalError, InterfaceError) as error:
            note_database_error(error)
            raise
        # The probe got through: let the queries that follow run.
        database_breaker.succeeded()
        return result

    return call
