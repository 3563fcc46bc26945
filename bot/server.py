"""Run the WSGI app on waitress, a production-grade threaded server, in this process."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from waitress.server import create_server

if TYPE_CHECKING:
    from wsgiref.types import WSGIApplication


class HttpServer:
    """A waitress server that can run in the foreground (`serve`) or in a thread (tests, benchmarks)."""

    def __init__(self, app: WSGIApplication, *, host: str = "0.0.0.0", port: int = 3000, threads: int = 16):  # noqa: S104 — a server must listen beyond loopback
        self._server: Any = create_server(app, host=host, port=port, threads=threads, ident="drumbeat")
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._server.effective_port)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def serve_forever(self) -> None:
        self._server.run()

    def start(self) -> HttpServer:
        self._thread = threading.Thread(target=self._server.run, name="drumbeat-http", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.close()
        self._server.task_dispatcher.shutdown()
        if self._thread is not None:
            self._thread.join(timeout=5)
