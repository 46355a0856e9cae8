"""Who is asking: the client address used to key the failed-login lockout."""

from django.conf import settings


def client_ip(request) -> str:
    """Return the client's address, trusting X-Forwarded-For only behind configured proxies.

    With ``HEALTHHUB_TRUSTED_PROXY_COUNT = n``, the n-th address from the
    right of X-Forwarded-For is the one the outermost trusted proxy saw;
    anything left of it is the client's own claim and is ignored.
    """
    remote_addr = request.META.get("REMOTE_ADDR", "")
    count = getattr(settings, "HEALTHHUB_TRUSTED_PROXY_COUNT", 0)
    if count <= 0:
        return remote_addr
    forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
    forwarded = [part for part in forwarded if part]
    if len(forwarded) < count:
        return remote_addr
    return forwarded[-count]
