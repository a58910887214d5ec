#!/usr/bin/python3
"""A scripted stand-in for a Pushgateway, for the integration tests.

  fake_gateway.py [--port N] [--port-file FILE] [--answers 503,503,200]
                  [--match SUBSTRING] [--body TEXT] [--retry-after SECONDS]
                  [--delete-answers 202] [--log FILE] [--save-bodies DIR]
                  [--max-seconds 60] [--status-answer 404]

PUT and POST on /metrics/... paths that contain --match (every path when
it is not given) are answered from --answers, one status per request and
per path, the last one repeating: with --answers 503,503,503,200 the first
three PUTs of each group get 503 and the rest 200. Other PUT/POST paths get
200; DELETE gets --delete-answers (default 202) likewise. Answers other
than 2xx carry --body as text (default: a generic message) and, for 503
and 429, a Retry-After header when --retry-after is given.

Every request is logged to --log as one line:
  <monotonic seconds> <METHOD> <path> <status> <body length>
(the body length as received, before any gzip decoding). With
--save-bodies DIR the body of every PUT/POST is written, gzip-decoded, to
DIR/NNNNN-<METHOD>.body, and DIR/index gets "NNNNN METHOD path status
content-encoding" lines.

GET /-/ready and /-/healthy answer 200, so the harness can wait for it;
GET /api/v1/status is answered --status-answer (default 404, with --body
when that is given and the status is not 404); any other GET is answered
404. Every other GET is logged. The
server listens on 127.0.0.1 (port 0: any free port, written to --port-file
once it is listening) and stops itself after --max-seconds.
"""
import argparse
import gzip
import os
import sys
import threading
import time

import httpfx


def parse_args(argv):
    p = argparse.ArgumentParser(description="scripted fake Pushgateway")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--port-file")
    p.add_argument("--answers", default="200")
    p.add_argument("--match", default="")
    p.add_argument("--body", default=None)
    p.add_argument("--retry-after", default=None)
    p.add_argument("--delete-answers", default="202")
    p.add_argument("--log")
    p.add_argument("--save-bodies")
    p.add_argument("--max-seconds", type=float, default=60.0)
    p.add_argument("--status-answer", type=int, default=404)
    a = p.parse_args(argv)
    a.answers = [int(x) for x in a.answers.split(",") if x.strip()]
    a.delete_answers = [int(x) for x in a.delete_answers.split(",") if x.strip()]
    if not a.answers or not a.delete_answers:
        p.error("--answers and --delete-answers need at least one status")
    return a


class State:
    def __init__(self, args):
        self.args = args
        self.lock = threading.Lock()
        self.counts = {}  # (kind, path) -> requests so far
        self.n = 0
        self.log = open(args.log, "a", buffering=1) if args.log else None
        if args.save_bodies:
            os.makedirs(args.save_bodies, exist_ok=True)

    def answer(self, method, path):
        """The status for this request; counts it."""
        a = self.args
        if method == "DELETE":
            kind, script = "D", a.delete_answers
        elif not a.match or a.match in path:
            kind, script = "P", a.answers
        else:
            return 200
        with self.lock:
            i = self.counts.get((kind, path), 0)
            self.counts[(kind, path)] = i + 1
        return script[min(i, len(script) - 1)]

    def record(self, method, path, status, raw, body, encoding):
        with self.lock:
            self.n += 1
            n = self.n
            if self.log:
                self.log.write("%.6f %s %s %d %d\n" % (time.monotonic(), method, path,
                                                       status, len(raw)))
            if self.args.save_bodies and method in ("PUT", "POST"):
                d = self.args.save_bodies
                with open(os.path.join(d, "%05d-%s.body" % (n, method)), "wb") as f:
                    f.write(body)
                with open(os.path.join(d, "index"), "a") as f:
                    f.write("%05d %s %s %d %s\n" % (n, method, path, status, encoding or "-"))


def make_handler(state):
    class Handler(httpfx.Handler):
        server_version = "fake-pushgateway/1"

        def send(self, status, text="", extra=()):
            self.send_text(status, text, extra)

        def do_GET(self):
            if self.path in ("/-/ready", "/-/healthy"):
                self.send(200, "OK\n")
            elif self.path == "/api/v1/status" and state.args.status_answer != 404:
                # A proxy in front that refuses the agent's credentials.
                code = state.args.status_answer
                state.record("GET", self.path, code, b"", b"", None)
                self.send(code, (state.args.body or "refused") + "\n")
            else:
                # Logged: the agent asks /api/v1/status, which a fake
                # gateway (like an old one, or a proxy) does not have.
                state.record("GET", self.path, 404, b"", b"", None)
                self.send(404, "not found\n")

        def handle_push(self):
            raw = self.read_body()
            method, path = self.command, self.path
            encoding = self.headers.get("Content-Encoding")
            body = raw
            if encoding == "gzip":
                try:
                    body = gzip.decompress(raw)
                except OSError:
                    body = b"<bad gzip>"
            if not path.startswith("/metrics/job"):
                status = 404
            else:
                status = state.answer(method, path)
            state.record(method, path, status, raw, body, encoding)
            extra = []
            if status in (429, 503) and state.args.retry_after is not None:
                extra.append(("Retry-After", state.args.retry_after))
            if 200 <= status < 300:
                self.send(status)
            else:
                text = state.args.body
                if text is None:
                    text = "fake gateway says %d" % status
                self.send(status, text + "\n", extra)

        do_PUT = do_POST = do_DELETE = handle_push

    return Handler


def main(argv):
    args = parse_args(argv)
    state = State(args)
    return httpfx.serve(make_handler(state), args.port_file, args.max_seconds, port=args.port)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
