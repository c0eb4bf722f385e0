"""Download tests without the network: a guard that lets sockets reach 127.0.0.1 only, and an HTTP
server on 127.0.0.1 serving a test's folder. Test modules use them with
`from localhost import only_localhost, server  # noqa: F401` (autouse guard, `server` fixture)."""

from __future__ import annotations

import functools
import http.server
import socket
import threading

import pytest


@pytest.fixture(autouse=True)
def only_localhost(monkeypatch):
    """Fail any attempt to reach a host other than 127.0.0.1; bypass proxies."""
    for var in ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    getaddrinfo = socket.getaddrinfo

    def guarded(host, *args, **kwargs):
        if host not in ("127.0.0.1", b"127.0.0.1"):
            raise AssertionError(f"a test tried to reach {host!r}")
        return getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", guarded)


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    """Serves a folder; `short.gz` promises 1000 bytes and sends 10; no log lines."""

    def do_GET(self):
        if self.path.endswith("/short.gz"):
            self.send_response(200)
            self.send_header("Content-Length", "1000")
            self.end_headers()
            self.wfile.write(b"\x1f\x8b" + bytes(8))
            self.close_connection = True
            return
        super().do_GET()

    def log_message(self, *args):
        pass


@pytest.fixture
def server(tmp_path):
    """(folder served, base URL) of an HTTP server on 127.0.0.1, port chosen by the OS."""
    served = tmp_path / "served"
    served.mkdir()
    handler = functools.partial(QuietHandler, directory=served)
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield served, f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()
    httpd.server_close()
    thread.join()
