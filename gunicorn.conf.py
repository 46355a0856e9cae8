"""gunicorn settings; every value can be changed through the environment."""

import os

import gunicorn.http.wsgi

bind = f"{os.environ.get('HOST', '127.0.0.1')}:{os.environ.get('PORT', '8000')}"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
# Sync workers, chosen by measurement (docs/performance.md): gthread's
# keep-alive served cached pages 5-12 % faster, but the article page, which
# writes a view, 23 % slower, with a p99 latency several times higher.
worker_class = os.environ.get("GUNICORN_WORKER_CLASS", "sync")
threads = int(os.environ.get("GUNICORN_THREADS", "1"))

# A request that takes 30 s is stuck; kill the worker and free the slot.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = 30
keepalive = 5

# Recycle workers now and then so a slow leak can never grow without bound;
# the jitter keeps them from all restarting at once.
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "10000"))
max_requests_jitter = max_requests // 10

# Django logs one line per request, with its request id
# (healthhub.middleware.RequestLogMiddleware); gunicorn's own access log
# would repeat it. GUNICORN_ACCESS_LOG=- turns it back on.
accesslog = os.environ.get("GUNICORN_ACCESS_LOG") or None
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info").lower()
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms "%(a)s"'

# gunicorn 27 opens a control socket under ~/.gunicorn/ by default. Nothing
# here uses it, and two instances on one host would fight over the path, so
# it stays off unless an operator names a socket for it.
control_socket_path = os.environ.get("GUNICORN_CONTROL_SOCKET")
if control_socket_path:
    control_socket = control_socket_path
else:
    control_socket_disable = True

# The Server header would tell a scanner which software's known flaws to try,
# and gunicorn has no setting for it. Each response (HTTP/1 and HTTP/2) reads
# this module global when it is built, so replacing it here, before any worker
# starts, holds whatever the import order.
gunicorn.http.wsgi.SERVER = "web"
