"""An OTLP/HTTP collector on 127.0.0.1 that keeps every body it is sent (gunzipped), with its path
and headers, and answers /v1/traces and /v1/metrics with an empty protobuf: what a collector says
when it accepts everything. Any other path is a 404 (its body is kept too).

    with Collector() as collector:
        ... point telemetry.endpoint at collector.url ...
    collector.bodies("/v1/traces"); collector.posts[0].headers["content-type"]
"""

from __future__ import annotations

import gzip
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

__all__ = ["Collector", "Posted"]

ACCEPTED = ("/v1/traces", "/v1/metrics")


@dataclass(frozen=True)
class Posted:
    path: str
    headers: dict[str, str]  # names in lower case
    body: bytes  # gunzipped


class Collector:
    def __init__(self):
        self.posts: list[Posted] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                if self.headers.get("content-encoding") == "gzip":
                    body = gzip.decompress(body)
                outer.posts.append(Posted(self.path, {k.lower(): v for k, v in self.headers.items()}, body))
                if self.path not in ACCEPTED:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("content-type", "application/x-protobuf")
                self.send_header("content-length", "0")  # an empty Export*ServiceResponse
                self.end_headers()

            def log_message(self, *args):  # keep the test output clean
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def bodies(self, path: str | None = None) -> list[bytes]:
        """What was posted, in order: to `path`, or to any path."""
        return [p.body for p in self.posts if path is None or p.path == path]

    def __enter__(self) -> "Collector":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
