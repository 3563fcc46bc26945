"""Run the WSGI app on waitress, a production-grade threaded server, in this process."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from waitress import wasyncore
from waitress.server import create_server

if TYPE_CHECKING:
    from wsgiref.types import WSGIApplication

_LOOP_TIMEOUT = 0.2  # how often the I/O loop notices stop(); costs nothing measurable


class HttpServer:
    """A waitress server that can run in the foreground (`serve`) or in a thread (tests, benchmarks)."""

    def __init__(
        self,
        app: WSGIApplication,
        *,
        host: str = "0.0.0.0",  # noqa: S104 — a server must listen beyond loopback
        port: int = 3000,
        threads: int = 16,
    ) -> None:
        self._server: Any = create_server(app, host=host, port=port, threads=threads, ident="drumbeat")
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._server.effective_port)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def serve_forever(self) -> None:
        """Serve until stop() is called (from a signal handler or another thread)."""
        try:
            while not self._stopping.is_set():
                wasyncore.loop(timeout=_LOOP_TIMEOUT, map=self._server._map, count=1)
        finally:
            # Closed from the loop's own thread: closing under a running select() breaks it.
            wasyncore.close_all(self._server._map)
            self._server.task_dispatcher.shutdown()

    def start(self) -> HttpServer:
        self._thread = threading.Thread(target=self.serve_forever, name="drumbeat-http", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
