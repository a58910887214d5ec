#!/usr/bin/python3
"""A Pushgateway before 1.5.0, made of a real one: every request is
forwarded to --upstream (127.0.0.1:PORT) without its Content-Encoding
header, so the gateway reads a gzip body's bytes as the body itself and
answers as an old one does (for protobuf: 400 with its decoder's error).
Standard library only; stops itself after --max-seconds.

  old_gateway.py --upstream PORT --port-file FILE --log FILE

GET /-/ready is answered 200 here. Each request is one line in --log:
  <METHOD> <path> <Content-Encoding or -> <status>
"""
import argparse
import sys
import threading

import httpfx


def main(argv):
    p = argparse.ArgumentParser()
    p.add_argument("--upstream", type=int, required=True)
    p.add_argument("--port-file", required=True)
    p.add_argument("--log", required=True)
    p.add_argument("--max-seconds", type=float, default=60.0)
    args = p.parse_args(argv)
    lock = threading.Lock()

    class H(httpfx.Handler):
        def handle_any(self):
            if self.command == "GET" and self.path == "/-/ready":
                return self.send_text(200, "ok")
            body = self.read_body()
            enc = self.headers.get("Content-Encoding") or "-"
            hdrs = {k: v for k, v in self.headers.items()
                    if k.lower() != "content-encoding"}
            try:
                st, rh, rb = httpfx.forward("127.0.0.1", args.upstream,
                                            self.command, self.path, body,
                                            hdrs, 10)
            except OSError as e:
                st, rh, rb = 502, [], str(e).encode()
            with lock, open(args.log, "a") as f:
                f.write("%s %s %s %d\n" % (self.command, self.path, enc, st))
            self.send_answer(st, rh, rb)

        do_GET = do_PUT = do_POST = do_DELETE = handle_any

    return httpfx.serve(H, args.port_file, args.max_seconds)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
