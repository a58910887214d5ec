#!/usr/bin/python3
"""gwquery.py for a Pushgateway behind its own TLS and basic auth
(--web.config.file). Standard library only.

  tls_gwquery.py [--cacert FILE] [--cert FILE --key FILE]
                 [--user NAME --password-file FILE] URL COMMAND ARGS...

COMMAND and ARGS are gwquery.py's (value, groups, families, status); the
state is read from URL/api/v1/metrics over HTTPS, the server verified with
--cacert (never skipped), with a client certificate and basic auth when
given. The password comes from a file so that it is not in any command
line. Exit status as gwquery.py's: 0, or 2 when the gateway cannot be read.
"""
import argparse
import base64
import json
import os
import ssl
import sys
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gwquery  # noqa: E402  (the same directory)


def main(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--cacert")
    p.add_argument("--cert")
    p.add_argument("--key")
    p.add_argument("--user")
    p.add_argument("--password-file")
    p.add_argument("url")
    p.add_argument("rest", nargs=argparse.REMAINDER)
    a = p.parse_args(argv[1:])

    ctx = ssl.create_default_context(cafile=a.cacert)
    if a.cert:
        ctx.load_cert_chain(a.cert, a.key)
    headers = {}
    if a.user is not None:
        with open(a.password_file, encoding="utf-8") as f:
            pw = f.read()
        if pw.endswith("\n"):
            pw = pw[:-1]
        tok = base64.b64encode(("%s:%s" % (a.user, pw)).encode()).decode()
        headers["Authorization"] = "Basic " + tok

    def fetch(url):
        req = urllib.request.Request(url.rstrip("/") + "/api/v1/metrics",
                                     headers=headers)
        with urllib.request.urlopen(req, timeout=10, context=ctx) as r:
            doc = json.load(r)
        if doc.get("status") != "success":
            raise RuntimeError("gateway status %r" % doc.get("status"))
        return doc["data"]

    gwquery.fetch = fetch
    return gwquery.main([argv[0], a.url] + a.rest)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
