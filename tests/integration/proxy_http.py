#!/usr/bin/python3
"""A small HTTP forward proxy for the tests: http:// requests in absolute
form, and CONNECT tunnels (for https://). Standard library only; it listens
on 127.0.0.1 and connects only to 127.0.0.1; it stops itself after
--max-seconds.

  proxy_http.py --port-file FILE --log FILE [--upstream PORT] [--max-seconds 60]

Every request is logged as one line: "<METHOD> <target> <status> <proxy-auth>"
where target is the request target as received (http://host:port/path, or
host:port for CONNECT) and proxy-auth is the Proxy-Authorization header
("-" when none). With --upstream PORT every request goes to
127.0.0.1:PORT whatever host it names (so that a URL with a name that does
not resolve, such as pgw.invalid, can only work through the proxy);
without it the named host must be 127.0.0.1 or localhost (else 502).
Hop-by-hop headers and Proxy-* headers are not forwarded.
"""
import argparse
import select
import socket
import sys
import threading
from urllib.parse import urlsplit

import httpfx

def make_handler(a, lock, log):
    def target(host, port):
        if a.upstream:
            return "127.0.0.1", a.upstream
        if host in ("127.0.0.1", "localhost"):
            return "127.0.0.1", port
        return None

    class Handler(httpfx.Handler):
        server_version = "test-proxy/1"

        def record(self, status):
            with lock:
                log.write("%s %s %d %s\n" % (self.command, self.path, status,
                                             self.headers.get("Proxy-Authorization", "-")))
                log.flush()

        def fail(self, status, text):
            self.send_text(status, text + "\n", ctype="text/plain")

        def forward(self):
            u = urlsplit(self.path)
            data = self.read_body()
            if u.scheme != "http" or not u.hostname:
                self.record(400)
                return self.fail(400, "proxy: absolute http:// URL expected")
            dest = target(u.hostname, u.port or 80)
            if dest is None:
                self.record(502)
                return self.fail(502, "proxy: only 127.0.0.1")
            path = u.path or "/"
            if u.query:
                path += "?" + u.query
            try:
                status, rh, rbody = httpfx.forward(dest[0], dest[1], self.command, path,
                                                   data, self.headers, 10)
            except OSError as e:
                self.record(502)
                return self.fail(502, "proxy: upstream: %s" % e)
            self.record(status)
            self.send_answer(status, rh, rbody)

        do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = forward

        def do_CONNECT(self):
            host, _, port = self.path.rpartition(":")
            try:
                dest = target(host.strip("[]"), int(port))
            except ValueError:
                dest = None
            if dest is None:
                self.record(502)
                return self.fail(502, "proxy: only 127.0.0.1")
            try:
                up = socket.create_connection(dest, timeout=10)
            except OSError as e:
                self.record(502)
                return self.fail(502, "proxy: upstream: %s" % e)
            self.record(200)
            self.wfile.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
            self.wfile.flush()
            down = self.connection
            socks = [down, up]
            try:
                while True:
                    r, _, _ = select.select(socks, [], [], 30)
                    if not r:
                        break
                    for s in r:
                        d = s.recv(65536)
                        if not d:
                            raise EOFError
                        (up if s is down else down).sendall(d)
            except (EOFError, OSError):
                pass
            finally:
                up.close()
            self.close_connection = True

    return Handler


def main(argv):
    p = argparse.ArgumentParser(description="test HTTP forward proxy")
    p.add_argument("--port-file", required=True)
    p.add_argument("--log", required=True)
    p.add_argument("--upstream", type=int)
    p.add_argument("--max-seconds", type=float, default=60.0)
    a = p.parse_args(argv)
    lock = threading.Lock()
    log = open(a.log, "a", encoding="utf-8")
    return httpfx.serve(make_handler(a, lock, log), a.port_file, a.max_seconds)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
