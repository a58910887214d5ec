#!/usr/bin/python3
"""A reverse proxy in front of a real receiver or gateway that misbehaves
on purpose, for the integration tests. Standard library only; loopback
only; it stops itself after --max-seconds.

  flaky_proxy.py --upstream URL --port-file FILE --log FILE
                 [--refuse-every N] [--refuse-status 429]
                 [--delay-method PUT] [--delay SECONDS] [--max-seconds 60]
                 [--record FILE] [--no-gzip]

Every request is forwarded to --upstream (same method, path, body and the
headers a sender sets) and the upstream's answer relayed, except:
  - with --refuse-every N, every N-th POST (the N-th, 2N-th, ...) is not
    forwarded but answered --refuse-status with the body "rate limited":
    a receiver that takes only part of each round;
  - requests of --delay-method wait --delay seconds before they are
    forwarded: a slow gateway;
  - with --no-gzip, a body sent with Content-Encoding: gzip is not
    forwarded but answered 400 with the words of a Pushgateway before
    1.5.0, which parses the gzip bytes as text.
With --record FILE, each request is also one line there:
  <METHOD> <path> <Content-Encoding or -> <body bytes as received> \
  <first two body bytes in hex or -> <status>
GET /-/ready is answered 200 here. Each request is one line in --log:
  <monotonic seconds> <METHOD> <path> <status>
"""
import argparse
import sys
import threading
import time
import urllib.error
import urllib.request

import httpfx

FORWARD = ("Content-Type", "Content-Encoding", "Authorization", "User-Agent",
           "X-Prometheus-Remote-Write-Version")


def main(argv):
    p = argparse.ArgumentParser()
    p.add_argument("--upstream", required=True)
    p.add_argument("--port-file", required=True)
    p.add_argument("--log", required=True)
    p.add_argument("--refuse-every", type=int, default=0)
    p.add_argument("--refuse-status", type=int, default=429)
    p.add_argument("--delay-method", default="")
    p.add_argument("--delay", type=float, default=0.0)
    p.add_argument("--max-seconds", type=float, default=60.0)
    p.add_argument("--record", default="")
    p.add_argument("--no-gzip", action="store_true")
    args = p.parse_args(argv)
    lock = threading.Lock()
    posts = [0]

    class H(httpfx.Handler):
        body_seen = None

        def record(self, status):
            with lock, open(args.log, "a") as f:
                f.write("%.3f %s %s %d\n" % (time.monotonic(), self.command,
                                              self.path, status))
            if args.record:
                b = self.body_seen or b""
                with lock, open(args.record, "a") as f:
                    f.write("%s %s %s %d %s %d\n" % (
                        self.command, self.path,
                        self.headers.get("Content-Encoding") or "-", len(b),
                        b[:2].hex() if b else "-", status))

        def answer(self, status, body=b""):
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            self.record(status)

        def handle_any(self):
            body = self.body_seen = self.read_body()
            # No body at all goes upstream as none (urllib would add a
            # Content-Type to an empty one).
            if not body and "chunked" not in (self.headers.get("Transfer-Encoding") or ""):
                body = None
            if self.command == "GET" and self.path == "/-/ready":
                return self.answer(200, b"ok")
            if args.no_gzip and self.headers.get("Content-Encoding") == "gzip":
                return self.answer(400, b"text format parsing error in line 1: "
                                   b"invalid metric name\n")
            if self.command == "POST" and args.refuse_every > 0:
                with lock:
                    posts[0] += 1
                    refuse = posts[0] % args.refuse_every == 0
                if refuse:
                    return self.answer(args.refuse_status, b"rate limited")
            if self.command == args.delay_method and args.delay > 0:
                time.sleep(args.delay)
            req = urllib.request.Request(args.upstream + self.path, data=body,
                                         method=self.command)
            for h in FORWARD:
                if self.headers.get(h) is not None:
                    req.add_header(h, self.headers.get(h))
            try:
                with urllib.request.urlopen(req, timeout=10) as r:
                    return self.answer(r.status, r.read())
            except urllib.error.HTTPError as e:
                return self.answer(e.code, e.read())
            except OSError as e:
                return self.answer(502, str(e).encode())

        do_GET = do_PUT = do_POST = do_DELETE = handle_any

    return httpfx.serve(H, args.port_file, args.max_seconds)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
