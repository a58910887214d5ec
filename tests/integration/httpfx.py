"""What the tests' HTTP stand-ins share (fake_gateway.py, flaky_proxy.py,
proxy_http.py, tls_echo_headers.py, tests/bench/count_proxy.py): a quiet
HTTP/1.1 handler base that reads chunked or sized bodies, and a server on
127.0.0.1 that publishes its port atomically, stops itself after a time
and takes a client that hung up as no error. Standard library only.
"""
import http.client
import os
import ssl
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


# Hop-by-hop headers (and proxy credentials): a proxy does not pass them on.
HOP = {"connection", "keep-alive", "proxy-authorization", "proxy-authenticate",
       "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade"}


def forward(host, port, method, path, body, headers, timeout):
    """Sends the request to host:port, HOP headers left out and
    Content-Length set to the body's, and returns the answer as (status,
    headers, body), its HOP headers and Content-Length left out. Raises
    OSError when the upstream cannot be reached or breaks off."""
    hdrs = {k: v for k, v in headers.items() if k.lower() not in HOP}
    hdrs["Content-Length"] = str(len(body))
    c = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        c.request(method, path, body=body, headers=hdrs)
        r = c.getresponse()
        rbody = r.read()
        rh = [(k, v) for k, v in r.getheaders()
              if k.lower() not in HOP and k.lower() != "content-length"]
        return r.status, rh, rbody
    finally:
        c.close()


def read_body(rfile, headers):
    """(entity, wire): the request body, de-chunked when it came chunked,
    and the bytes it took on the wire (chunk framing included). A client
    that closes mid-body ends it there."""
    if "chunked" in (headers.get("Transfer-Encoding") or "").lower():
        out = bytearray()
        wire = 0
        while True:
            line = rfile.readline(65537)
            wire += len(line)
            if not line:
                return bytes(out), wire
            size = int(line.split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while True:
                    t = rfile.readline(65537)
                    wire += len(t)
                    if t in (b"\r\n", b"\n", b""):
                        return bytes(out), wire
            data = rfile.read(size)
            out += data
            wire += len(data) + len(rfile.readline(65537))
    n = int(headers.get("Content-Length") or 0)
    data = rfile.read(n) if n > 0 else b""
    return data, len(data)


class Handler(BaseHTTPRequestHandler):
    """HTTP/1.1 (keep-alive, as the agent uses it), no access log on
    stderr: each stand-in keeps a log of its own."""
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def read_body(self):
        return read_body(self.rfile, self.headers)[0]

    def send_text(self, status, text="", extra=(), ctype="text/plain; charset=utf-8"):
        data = text.encode() if isinstance(text, str) else text
        self.send_response(status)
        if ctype:
            self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        for k, v in extra:
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)


    def send_answer(self, status, headers, body):
        """Relays an answer forward() returned."""
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        # The agent times out, a test stops it, a TLS client refuses the
        # certificate: the peer going away is what these tests provoke, so
        # it is no traceback. Anything else is a bug in the stand-in.
        if isinstance(sys.exc_info()[1], (ConnectionError, ssl.SSLError, TimeoutError)):
            return
        super().handle_error(request, client_address)


def write_port_file(path, port):
    """Writes PORT to PATH in one rename, so a reader never sees half."""
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % port)
    os.rename(tmp, path)


def serve(handler, port_file=None, max_seconds=60.0, port=0, tls=None):
    """Serves HANDLER on 127.0.0.1:PORT (0: a free one, written to
    PORT_FILE) until MAX_SECONDS have passed. TLS is (CERT, KEY) for
    HTTPS. Returns 0, for sys.exit."""
    server = Server(("127.0.0.1", port), handler)
    if tls:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(tls[0], tls[1])
        server.socket = ctx.wrap_socket(server.socket, server_side=True)
    if port_file:
        write_port_file(port_file, server.server_address[1])
    timer = threading.Timer(max_seconds, server.shutdown)
    timer.daemon = True
    timer.start()
    try:
        server.serve_forever(poll_interval=0.1)
    finally:
        server.server_close()
    return 0
