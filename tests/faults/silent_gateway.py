#!/usr/bin/python3
"""A gateway that accepts connections, reads what comes and never answers.

  silent_gateway.py --port-file FILE --log FILE [--max-seconds 60]

Listens on 127.0.0.1 on a free port (written to --port-file once it
listens). Every accepted connection is logged to --log as one line,
"<monotonic seconds> accept", and one "<monotonic seconds> close <bytes>"
when the client closes it; what the client sends is read and thrown away.
Nothing is ever written back. Stops itself (closing every connection) after
--max-seconds. Standard library only.
"""
import argparse
import os
import selectors
import socket
import sys
import time


def main(argv):
    p = argparse.ArgumentParser(description="a gateway that never answers")
    p.add_argument("--port-file", required=True)
    p.add_argument("--log", required=True)
    p.add_argument("--max-seconds", type=float, default=60.0)
    a = p.parse_args(argv)

    end = time.monotonic() + a.max_seconds
    log = open(a.log, "a", buffering=1)
    sel = selectors.DefaultSelector()
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", 0))
    ls.listen(128)
    ls.setblocking(False)
    sel.register(ls, selectors.EVENT_READ, None)
    tmp = a.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % ls.getsockname()[1])
    os.rename(tmp, a.port_file)
    received = {}
    while True:
        left = end - time.monotonic()
        if left <= 0:
            break
        for key, _ in sel.select(timeout=min(left, 0.5)):
            if key.data is None:
                try:
                    c, _ = ls.accept()
                except BlockingIOError:
                    continue
                c.setblocking(False)
                sel.register(c, selectors.EVENT_READ, "conn")
                received[c] = 0
                log.write("%.6f accept\n" % time.monotonic())
                continue
            c = key.fileobj
            try:
                chunk = c.recv(65536)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:
                chunk = b""
            if chunk:
                received[c] += len(chunk)
                continue
            log.write("%.6f close %d\n" % (time.monotonic(), received.pop(c)))
            sel.unregister(c)
            c.close()
    for c in list(received):
        c.close()
    ls.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
