"""Raw hostile requests against a real gunicorn: 4xx answers, no 500, and it keeps serving."""

import contextlib
import socket
import threading

import pytest

from tests import test_server

# The server tests' gunicorn, started with production settings on a free port.
HOST = test_server.HOST
article = test_server.article
gunicorn = test_server.gunicorn

pytestmark = [pytest.mark.server, pytest.mark.django_db(transaction=True)]


def raw(port, data: bytes, attempts: int = 3) -> int:
    """Send raw bytes on a new connection; return the response's status code.

    The server may answer before the request is all sent (a refused body)
    and close: the response is read while sending goes on beside it, and a
    connection reset before the status line arrived is tried again.
    """
    for attempt in range(attempts):
        with socket.create_connection((HOST, port), timeout=30) as sock:
            sender = threading.Thread(target=_send_ignoring_resets, args=(sock, data))
            sender.start()
            response = b""
            try:
                while b"\r\n" not in response:
                    chunk = sock.recv(4096)
                    if not chunk:
                        break
                    response += chunk
            except ConnectionResetError:
                if attempt + 1 == attempts:
                    raise
            sender.join()
        if b"\r\n" in response:
            return int(response.split(b" ", 2)[1])
    raise AssertionError(f"no status line after {attempts} attempts: {response!r}")


def _send_ignoring_resets(sock, data: bytes) -> None:
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        sock.sendall(data)


def get(target: str, host: str = HOST, method: str = "GET", extra: str = "") -> bytes:
    return (
        f"{method} {target} HTTP/1.1\r\nHost: {host}\r\n{extra}Connection: close\r\n\r\n"
    ).encode()


BIG_BODY = 3 * 1024 * 1024
RAW_REQUESTS = {
    "foreign-host": (get("/", host="evil.example"), {400}),
    "userinfo-host": (get("/", host="site:x@evil.example"), {400}),
    "forged-forwarded-host": (get("/", extra="X-Forwarded-Host: evil.example\r\n"), {200}),
    "trace": (get("/", method="TRACE"), {405}),
    # CSRF protection treats every unknown method as unsafe.
    "unknown-method": (get("/", method="FOO"), {403, 405}),
    "options": (get("/", method="OPTIONS"), {200}),
    "long-query-string": (get("/search/?q=" + "a" * 10_000), {400, 414}),
    "many-params": (get("/search/?" + "&".join(f"{n}=" for n in range(1_100))), {400, 414}),
    "nul-byte": (get("/health%00/"), {404}),
    "dot-dot": (get("/../../etc/passwd"), {400, 404}),
    "encoded-dot-dot": (get("/%2e%2e%2f%2e%2e%2fetc%2fpasswd"), {404}),
    "rtl-slug": (get("/%D9%85%D8%B1%D8%AD%D8%A8%D8%A7/"), {404}),
    "page-abc": (get("/search/?q=a&page=abc"), {404}),
    "post-without-csrf": (
        get("/", method="POST", extra="Content-Length: 3\r\n") + b"a=b",
        {403},
    ),
    "body-over-limit": (
        get(
            "/admin/login/",
            method="POST",
            extra=f"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {BIG_BODY}\r\n",
        )
        + b"a="
        + b"x" * (BIG_BODY - 2),
        {400, 403},
    ),
    "garbage": (
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 40 + b"\r\n\r\n",
        {400},
    ),
}


def test_gunicorn_answers_hostile_requests_with_4xx_and_keeps_serving(gunicorn):
    """Each raw hostile request gets its 4xx (or 200 where harmless); the home page still works."""
    results = {name: raw(gunicorn, data) for name, (data, _) in RAW_REQUESTS.items()}

    unexpected = {
        name: status for name, status in results.items() if status not in RAW_REQUESTS[name][1]
    }
    assert not unexpected, results
    assert raw(gunicorn, get("/")) == 200
    assert raw(gunicorn, get("/healthz")) == 200
