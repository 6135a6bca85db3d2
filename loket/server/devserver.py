"""A small threaded WSGI server for ``loket serve``, ``make run`` and tests.

Production runs the same app under gunicorn (see README); this one exists so that a fresh
machine needs nothing else, and so the sandbox page can call back into loket while a request
is in flight (threads).
"""

from __future__ import annotations

import threading
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    # Buffered: the status line, the Date header, the application's headers and the start
    # of the body leave in one write. Unbuffered, wsgiref writes the status and Date first,
    # and a process killed between the writes left the client a complete-looking answer
    # (headers ended by the closed connection) with no body.
    wbufsize = -1

    def log_message(self, format, *args):  # noqa: A002 - stdlib signature
        pass


def make(app, host: str = "127.0.0.1", port: int = 0):
    """Create (not start) a threaded server; ``port=0`` picks a free port."""
    return make_server(host, port, app, server_class=_ThreadingServer,
                       handler_class=_QuietHandler)


def serve(app, host: str, port: int) -> None:
    """Serve until interrupted."""
    server = make(app, host, port)
    print(f"loket serving on http://{host}:{server.server_port}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


def serve_in_thread(app, host: str = "127.0.0.1"):
    """Start a server in a daemon thread; returns it (``server.server_port``,
    ``server.shutdown()``)."""
    server = make(app, host, 0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server
