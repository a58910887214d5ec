#!/usr/bin/python3
"""A gateway stand-in that records every request's headers, for the TLS,
auth and secrets tests. Standard library only; loopback only; it stops
itself after --max-seconds.

Serve:
  tls_echo_headers.py --port-file FILE --log FILE [--max-seconds 60]
                      [--tls CERT KEY] [--require-auth VALUE]
                      [--reflect-auth]

  PUT/POST/DELETE on /metrics/... answer 200 (DELETE: 202), or, with
  --require-auth, 401 "Unauthorized" unless the request carries exactly one
  Authorization header equal to VALUE. --reflect-auth makes the 401 body
  quote the Authorization header it got (a careless gateway or proxy that
  echoes credentials back, to check what the agent does with them).
  GET /-/ready and /-/healthy answer 200 without auth. --tls serves HTTPS.
  Each request is one JSON line in --log:
    {"method": ..., "path": ..., "status": ..., "headers": [[name, value], ...],
     "body": <the body as text, gzip-decoded>}

Read a log:
  tls_echo_headers.py --read LOG HEADER [METHOD]
  prints one line per logged request (of METHOD when given, /-/ paths
  left out): "METHOD PATH STATUS VALUE", VALUE being the header's values
  joined by " | ", or "-" when the request did not carry it.
"""
import argparse
import gzip
import json
import os
import sys
import threading

import httpfx


def read_log(path, header, method):
    with open(path, encoding="utf-8") as f:
        for line in f:
            # The server may be writing its last line right now.
            if not line.endswith("\n"):
                break
            r = json.loads(line)
            if r["path"].startswith("/-/"):
                continue
            if method and r["method"] != method:
                continue
            vals = [v for k, v in r["headers"] if k.lower() == header.lower()]
            print("%s %s %d %s" % (r["method"], r["path"], r["status"],
                                   " | ".join(vals) if vals else "-"))
    return 0


def make_handler(a, lock, log):
    class Handler(httpfx.Handler):
        server_version = "echo-headers/1"

        def handle_any(self):
            raw = self.read_body()
            if self.headers.get("Content-Encoding") == "gzip":
                try:
                    raw = gzip.decompress(raw)
                except OSError:
                    raw = b"<bad gzip>"
            auths = self.headers.get_all("Authorization") or []
            if self.path in ("/-/ready", "/-/healthy") and self.command == "GET":
                status, text = 200, "OK\n"
            elif not self.path.startswith("/metrics/"):
                status, text = 404, "not found\n"
            elif a.require_auth is not None and auths != [a.require_auth]:
                status = 401
                text = "Unauthorized\n"
                if a.reflect_auth:
                    text = "Unauthorized: bad credentials %s\n" % (
                        auths[0] if auths else "(none)")
            else:
                status, text = (202 if self.command == "DELETE" else 200), ""
            with lock:
                log.write(json.dumps({
                    "method": self.command, "path": self.path, "status": status,
                    "headers": [[k, v] for k, v in self.headers.items()],
                    "body": raw.decode("utf-8", "replace")}) + "\n")
                log.flush()
            self.send_text(status, text)

        do_GET = do_PUT = do_POST = do_DELETE = handle_any

    return Handler


def main(argv):
    p = argparse.ArgumentParser(description="header-recording gateway stand-in")
    p.add_argument("--port-file")
    p.add_argument("--log")
    p.add_argument("--max-seconds", type=float, default=60.0)
    p.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"))
    p.add_argument("--require-auth")
    p.add_argument("--reflect-auth", action="store_true")
    p.add_argument("--read", nargs="+", metavar="ARG")
    a = p.parse_args(argv)
    if a.read:
        if len(a.read) not in (2, 3):
            p.error("--read LOG HEADER [METHOD]")
        try:
            return read_log(a.read[0], a.read[1], a.read[2] if len(a.read) == 3 else None)
        except BrokenPipeError:
            # The reader had enough (`| grep -q`): not an error. Stdout
            # goes to /dev/null so that the exit does not flush into the
            # closed pipe again.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return 0
    if not a.port_file or not a.log:
        p.error("--port-file and --log are needed")

    lock = threading.Lock()
    log = open(a.log, "a", encoding="utf-8")
    return httpfx.serve(make_handler(a, lock, log), a.port_file, a.max_seconds,
                        tls=a.tls)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
