#!/usr/bin/python3
"""Plays systemd's side of the notification protocol (sd_notify(3)): binds
an AF_UNIX datagram socket at PATH and appends every message received to
LOG, one per line (newlines inside a message become '|'). Ends after
--max-seconds."""
import socket
import sys
import time

path, log = sys.argv[1], sys.argv[2]
limit = float(sys.argv[3]) if len(sys.argv) > 3 else 60.0
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(path)
s.settimeout(0.2)
end = time.monotonic() + limit
with open(log, "a", buffering=1) as out:
    out.write("LISTENING\n")
    while time.monotonic() < end:
        try:
            data = s.recv(4096)
        except socket.timeout:
            continue
        out.write(data.decode("utf-8", "replace").replace("\n", "|") + "\n")
