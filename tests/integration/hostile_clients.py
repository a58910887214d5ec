#!/usr/bin/python3
"""Opens many idle or half-finished HTTP connections to ADDR:PORT from a
given source address and holds them, to show that the agent's listener
neither stalls the agent nor grows its memory. Prints how many connections
were accepted and kept open by the server after the hold, then closes all.

    hostile_clients.py --source 127.0.0.2 --port P --count 40 --hold 3
Bounded: every socket has a timeout and the whole run ends after --hold.
"""
import argparse
import socket
import time

ap = argparse.ArgumentParser()
ap.add_argument("--source", default="127.0.0.2")
ap.add_argument("--host", default="127.0.0.1")
ap.add_argument("--port", type=int, required=True)
ap.add_argument("--count", type=int, default=40)
ap.add_argument("--hold", type=float, default=3.0)
ap.add_argument("--ready-file", default="")
a = ap.parse_args()

socks = []
for i in range(a.count):
    s = socket.socket()
    s.settimeout(2)
    try:
        s.bind((a.source, 0))
        s.connect((a.host, a.port))
        # Half a request line, then silence; every third sends a huge
        # header slowly instead.
        if i % 3 == 0:
            s.sendall(b"GET /metrics HTTP/1.1\r\nX-Big: " + b"a" * 4000)
        else:
            s.sendall(b"GET /metr")
        socks.append(s)
    except OSError:
        s.close()
if a.ready_file:
    with open(a.ready_file, "w") as f:
        f.write("%d\n" % len(socks))
time.sleep(a.hold)
alive = 0
for s in socks:
    s.setblocking(False)
    try:
        data = s.recv(1)
        alive += 0 if data == b"" else 1
    except BlockingIOError:
        alive += 1
    except OSError:
        pass
    s.close()
print(alive)
