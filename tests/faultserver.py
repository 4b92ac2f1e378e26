"""A loopback HTTP server that misbehaves on purpose, for fault tests only.

Every request is logged with its arrival time so tests can assert spacing and
counts. Paths:
  /page/<name>      200 with an ETag; answers 304 to a matching If-None-Match
  /storm/<name>     429 with Retry-After for the first ``storm_count`` requests, then 200
  /flaky/<name>     500 on every other request
  /down/<name>      always 503
  /slow/<name>      sleeps ``slow_seconds`` before answering
  /truncated/<name> declares 1000 bytes, sends 100 and closes
  /loop/<n>         redirects forever
  /huge/<name>      streams ``huge_bytes`` bytes
  /private/<name>   disallowed by robots.txt
  /garbage/<name>   bytes that are no HTML at all
"""

from __future__ import annotations

import http.server
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field


@dataclass
class FaultConfig:
    storm_count: int = 3
    retry_after: str = "1"
    slow_seconds: float = 3.0
    huge_bytes: int = 5 * 1024 * 1024
    robots: str = "User-agent: *\nDisallow: /private/\n"
    pages: dict[str, str] = field(default_factory=dict)  # extra path -> html body


class FaultServer:
    def __init__(self, config: FaultConfig | None = None) -> None:
        self.config = config or FaultConfig()
        self.log: list[tuple[float, str, dict[str, str]]] = []
        self.hits: dict[str, int] = defaultdict(int)
        self._lock = threading.Lock()
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            wbufsize = 65536  # one send per response (unbuffered writes meet delayed ACKs)

            def log_message(self, *args):  # quiet
                return

            def do_GET(self):  # noqa: N802
                with server._lock:
                    server.log.append((time.monotonic(), self.path, dict(self.headers)))
                    server.hits[self.path] += 1
                    count = server.hits[self.path]
                server.respond(self, count)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> FaultServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def times(self, prefix: str = "/") -> list[float]:
        return [t for t, path, _ in self.log if path.startswith(prefix) and path != "/robots.txt"]

    def respond(self, h: http.server.BaseHTTPRequestHandler, count: int) -> None:
        c = self.config
        path = h.path.split("?", 1)[0]

        def send(
            status: int, body: bytes = b"", ctype: str = "text/html; charset=utf-8", **headers: str
        ) -> None:
            h.send_response(status)
            h.send_header("Content-Type", ctype)
            h.send_header("Content-Length", str(len(body)))
            for key, value in headers.items():
                h.send_header(key.replace("_", "-"), value)
            h.end_headers()
            if body:
                h.wfile.write(body)

        def page(title: str) -> bytes:
            return (
                f"<html lang='en'><head><title>{title}</title></head><body><main><h1>{title}</h1>"
                f"<p>Guidance about {title} for public servants in every agency.</p></main></body></html>"
            ).encode()

        name = path.rsplit("/", 1)[-1]
        if path == "/robots.txt":
            send(200, c.robots.encode(), "text/plain")
        elif path in c.pages:
            body = c.pages[path].replace("{{BASE}}", self.base).encode()
            etag = f'"{hash(body) & 0xFFFFFFFF:x}"'
            if h.headers.get("If-None-Match") == etag:
                send(304, ETag=etag)
            else:
                ctype = "application/xml" if path.endswith(".xml") else "text/html; charset=utf-8"
                send(200, body, ctype, ETag=etag)
        elif path.startswith("/page/"):
            etag = f'"v1-{name}"'
            if h.headers.get("If-None-Match") == etag:
                send(304, ETag=etag)
            else:
                send(200, page(name), ETag=etag, Last_Modified="Tue, 01 Oct 2024 10:00:00 GMT")
        elif path.startswith("/storm/"):
            if count <= c.storm_count:
                send(429, b"slow down", "text/plain", Retry_After=c.retry_after)
            else:
                send(200, page(name))
        elif path.startswith("/flaky/"):
            if count % 2:
                send(500, b"oops", "text/plain")
            else:
                send(200, page(name))
        elif path.startswith("/down/"):
            send(503, b"maintenance", "text/plain")
        elif path.startswith("/slow/"):
            time.sleep(c.slow_seconds)
            send(200, page(name))
        elif path.startswith("/truncated/"):
            h.send_response(200)
            h.send_header("Content-Type", "text/html")
            h.send_header("Content-Length", "1000")
            h.end_headers()
            h.wfile.write(b"<html><body><main><p>" + b"x" * 80)
            h.wfile.flush()
            h.close_connection = True
        elif path.startswith("/loop/"):
            send(302, b"", Location=f"/loop/{int(name or 0) + 1}")
        elif path.startswith("/huge/"):
            h.send_response(200)
            h.send_header("Content-Type", "text/html")
            h.send_header("Content-Length", str(c.huge_bytes))
            h.end_headers()
            chunk = b"a" * 65536
            sent = 0
            try:
                while sent < c.huge_bytes:
                    h.wfile.write(chunk)
                    sent += len(chunk)
            except (BrokenPipeError, ConnectionResetError):
                pass
        elif path.startswith("/private/"):
            send(200, page(name))
        elif path.startswith("/garbage/"):
            send(200, bytes(range(256)) * 8, "application/octet-stream")
        else:
            send(404, b"not found", "text/plain")
