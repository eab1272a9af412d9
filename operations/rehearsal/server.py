"""Serve the service over real HTTP from inside `rehearse`, on a free loopback port.

The simulated operators and merchants then talk to it exactly as they would to gunicorn: the
request goes through the socket, the middleware, CSRF, OAuth2 and the views. Django's own
threaded development server class is used (the one `runserver` and LiveServerTestCase use).
"""

from __future__ import annotations

import threading
from contextlib import contextmanager

from django.core.handlers.wsgi import WSGIHandler
from django.core.servers.basehttp import ThreadedWSGIServer, WSGIRequestHandler


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, *args) -> None:  # thousands of requests: keep the console readable
        pass


@contextmanager
def serving(host: str = "127.0.0.1"):
    """Yield the base URL of the service served on ``host`` at a free port."""
    server = ThreadedWSGIServer((host, 0), _QuietHandler, allow_reuse_address=False)
    server.daemon_threads = True
    server.set_app(WSGIHandler())
    thread = threading.Thread(target=server.serve_forever, name="rehearsal-http", daemon=True)
    thread.start()
    try:
        yield f"http://{host}:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
