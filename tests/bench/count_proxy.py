#!/usr/bin/python3
"""A counting reverse proxy for `make bench`: it stands between the agent and
a gateway, forwards every request as it came (method, path, headers, the body
as sent: chunked bodies are passed on whole, compressed ones still compressed)
and relays the answer, and it counts what crossed the wire. Standard library
only; loopback only; it stops itself after --max-seconds.

  count_proxy.py --upstream PORT --port-file FILE --log FILE
                 [--save-dir DIR] [--max-seconds 600]

Each request is one line in --log:

  <monotonic seconds> <METHOD> <path> <status> wire=<bytes> entity=<bytes> plain=<bytes> encoding=<name>

wire: the bytes the client sent for the request (request line, headers,
chunk framing, body); entity: the body as sent (after de-chunking, still
compressed); plain: the body after undoing its Content-Encoding (gzip or
none). With --save-dir, the plain body of each PUT or POST is saved there as
<n>.body, for a reference run that sends the same bytes.
"""
import argparse
import gzip
import os
import sys
import threading
import time
import zlib

# The HTTP stand-ins' shared module lives with the integration tests.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
sys.dont_write_bytecode = True
import httpfx  # noqa: E402


def make_handler(a, lock, log, counter):
    class Handler(httpfx.Handler):
        server_version = "count-proxy/1"

        def forward(self):
            entity, framed = httpfx.read_body(self.rfile, self.headers)
            # Request line and headers as they came, give or take the
            # case of header names: a few hundred bytes beside the body.
            wire = len(self.raw_requestline) + framed + 2 + sum(
                len(k) + len(v) + 4 for k, v in self.headers.items())
            enc = self.headers.get("Content-Encoding", "").strip().lower() or "identity"
            try:
                plain = gzip.decompress(entity) if enc == "gzip" else entity
            except (OSError, EOFError, zlib.error):
                plain = b""
            try:
                status, rh, rbody = httpfx.forward("127.0.0.1", a.upstream, self.command,
                                                   self.path, entity, self.headers, 120)
            except OSError as e:
                status, rh, rbody = 502, [("Content-Type", "text/plain")], (
                    "count-proxy: upstream: %s\n" % e).encode()
            with lock:
                counter[0] += 1
                n = counter[0]
                log.write("%.3f %s %s %d wire=%d entity=%d plain=%d encoding=%s\n" % (
                    time.monotonic(), self.command, self.path, status, wire,
                    len(entity), len(plain), enc))
                log.flush()
            if a.save_dir and self.command in ("PUT", "POST"):
                with open(os.path.join(a.save_dir, "%d.body" % n), "wb") as f:
                    f.write(plain)
            self.send_answer(status, rh, rbody)

        do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = forward

    return Handler


def main(argv):
    p = argparse.ArgumentParser(description="counting reverse proxy")
    p.add_argument("--upstream", type=int, required=True)
    p.add_argument("--port-file", required=True)
    p.add_argument("--log", required=True)
    p.add_argument("--save-dir")
    p.add_argument("--max-seconds", type=float, default=600.0)
    a = p.parse_args(argv)
    if a.save_dir:
        os.makedirs(a.save_dir, exist_ok=True)
    lock = threading.Lock()
    log = open(a.log, "a", encoding="utf-8")
    return httpfx.serve(make_handler(a, lock, log, [0]), a.port_file, a.max_seconds)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
