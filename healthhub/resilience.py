"""Short timeouts and circuit breakers around Redis and the database.

A dependency that is down or frozen must cost a request a fraction of a
second, not a worker: each call gets a short deadline, and after a failure
the breaker stays open for a few seconds, during which callers take their
fallback without trying. Then one call probes; a success closes it.
"""

import contextlib
import logging
import os
import random
import socket
import threading
import time

logger = logging.getLogger("healthhub.resilience")


class CircuitBreaker:
    """Remember that a dependency failed, and keep callers off it for ``open_seconds``."""

    def __init__(self, name: str, *, open_seconds: float = 5.0):
        self.name = name
        self.open_seconds = open_seconds
        self._lock = threading.Lock()
        self._open_until = 0.0
        self._is_open = False

    @property
    def is_open(self) -> bool:
        return self._is_open

    def allow(self) -> bool:
        """Return whether a call may go to the dependency now.

        While open, only one caller in this process is let through once the
        open period is over: the probe.
        """
        if not self._is_open:
            return True
        with self._lock:
            now = time.monotonic()
            if now < self._open_until:
                return False
            # The next probe waits a whole period, even if this one never reports.
            self._open_until = now + self.open_seconds
            return True

    def succeeded(self) -> None:
        if not self._is_open:
            return
        with self._lock:
            was_open, self._is_open = self._is_open, False
        if was_open:
            logger.warning("%s is answering again; circuit closed", self.name)

    def failed(self, error: BaseException) -> None:
        with self._lock:
            was_open, self._is_open = self._is_open, True
            # Jittered, so that processes which failed together do not all
            # probe, and wait, at the same moment.
            self._open_until = time.monotonic() + self.open_seconds * random.uniform(1, 1.5)
        if not was_open:
            logger.warning(
                "%s is unavailable (%s: %s); circuit open, retrying every %g s",
                self.name,
                type(error).__name__,
                error,
                self.open_seconds,
            )

    def reset(self) -> None:
        """Close the breaker without a probe (for tests)."""
        with self._lock:
            self._is_open, self._open_until = False, 0.0


class Watchdog:
    """Cut off a socket call that runs past its deadline.

    libpq has no client-side query timeout: against a hung server or a
    frozen network path a query waits forever, and the server's
    statement_timeout never arrives. One thread per process shuts the
    socket down at the deadline, so the call fails at once with an
    OperationalError and Django discards the connection.
    """

    TICK = 0.05

    def __init__(self):
        self._lock = threading.Lock()
        self._watched: dict[int, tuple[float, int]] = {}
        self._thread = None
        self._next_token = 0

    def watch(self, fd: int, seconds: float) -> int:
        with self._lock:
            self._next_token += 1
            token = self._next_token
            self._watched[token] = (time.monotonic() + seconds, fd)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="db-watchdog", daemon=True)
                self._thread.start()
        return token

    def done(self, token: int) -> None:
        # Under the lock, so a socket is never shut down after its call
        # returned and its descriptor could have been reused.
        with self._lock:
            self._watched.pop(token, None)

    @contextlib.contextmanager
    def deadline(self, fd: int | None, seconds: float | None):
        if fd is None or fd < 0 or seconds is None:
            yield
            return
        token = self.watch(fd, seconds)
        try:
            yield
        finally:
            self.done(token)

    def _run(self) -> None:
        while True:
            time.sleep(self.TICK)
            now = time.monotonic()
            with self._lock:
                for token, (deadline, fd) in list(self._watched.items()):
                    if deadline <= now:
                        del self._watched[token]
                        self._cut(fd)

    @staticmethod
    def _cut(fd: int) -> None:
        try:
            # A duplicate descriptor: shutting it down ends the shared
            # connection, closing it leaves the driver's descriptor alone.
            with socket.socket(fileno=os.dup(fd)) as sock:
                sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        logger.warning("A database call passed its deadline; its connection was cut")


watchdog = Watchdog()
