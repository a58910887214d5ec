#!/usr/bin/python3
"""The observations of test_agent_native.sh and what Prometheus must show
for them (standard library only).

  native_expect.py obs
      The observations, one per line, as `collector-spool put` takes them
      (the value's text; the test puts NAME before it).
  native_expect.py want OBS-FILE SCHEMA [CAP]
      count, sum, the true 0.9 quantile, the schema the histogram ends at
      and its relative error.
  native_expect.py prom URL SELECTOR OBS-FILE SCHEMA [CAP]
      Queries Prometheus' API at URL and prints one line per check:
      "ok<TAB>name" or "not ok<TAB>name<TAB>diagnostic", and one
      "#<TAB>text" saying the values Prometheus gave.

SCHEMA is the configured one and CAP the configured max_buckets (0, the
default, for none): while the positive and negative buckets together are
more than CAP the schema is lowered by one, as client_golang does (the
highest schema at which all the observations fit, since buckets are only
ever added).

The checks, for the native histogram SELECTOR picks (one series):
  - histogram_count is the number of observations, exactly;
  - histogram_sum is their sum within 1e-9 relative: the rows of the
    concurrent writers are folded in the order they committed, which the
    test does not control, and float addition is not associative; for a few
    hundred positive terms the difference from the exactly rounded sum
    (math.fsum) is below n * 2^-53 ~ 1e-13 relative, while one observation
    lost or counted twice moves it by at least 1e-3 / sum ~ 1e-6;
  - histogram_quantile(0.9) is within the schema's relative error
    2^(2^-schema) - 1 of the true 0.9 quantile, defined as the smallest
    observation x such that at least 0.9 * count observations are <= x
    (the observation of rank ceil(0.9 * count)). Prometheus picks the
    bucket (l, u] where the cumulative count first reaches 0.9 * count,
    which is the bucket holding x, and interpolates inside it; both lie in
    (l, u] and u / l = 2^(2^-schema);
  - the buckets: the zero bucket and each sparse bucket (by index, from its
    upper bound 2^(index * 2^-schema)) hold exactly the observations that
    client_golang's rules put there.
"""
import bisect
import json
import math
import sys
import urllib.parse
import urllib.request

# Exact bucket boundaries at every schema (powers of two), each observed
# three times; 0 goes to the zero bucket.
POWERS = ["0.0078125", "0.0625", "0.25", "0.5", "1", "2", "4", "8"]
SPREAD = 400            # log-spaced from 1 ms to 10 s
QUANTILE = 0.9
SUM_REL = 1e-9


def observations():
    out = []
    for i in range(SPREAD):
        v = 10.0 ** (-3.0 + 4.0 * i / (SPREAD - 1))
        out.append("%.4g" % v)
    out.append("0")
    for p in POWERS:
        out.extend([p] * 3)
    return out


def bounds(schema):
    """client_golang's nativeHistogramBounds[schema] for schema > 0 (to the
    last bit but for values no observation here comes near)."""
    n = 1 << schema
    return [0.5] + [2.0 ** (i / n) / 2.0 for i in range(1, n)]


def index(v, schema):
    """The bucket index of v > 0, as client_golang's observe computes it."""
    frac, exp = math.frexp(v)
    if schema > 0:
        return bisect.bisect_left(bounds(schema), frac) + (exp - 1) * (1 << schema)
    key = exp
    if frac == 0.5:
        key -= 1
    offset = (1 << -schema) - 1
    return (key + offset) >> -schema


def near_boundary(v, schema):
    """True when v is not a power of two but within 1e-9 of a bucket
    boundary (Python's table might then disagree with Go's in the last bit)."""
    frac, _ = math.frexp(v)
    if frac == 0.5:
        return False
    return any(abs(frac - b) <= 1e-9 * b for b in bounds(schema) + [1.0]) if schema > 0 else False


def want(values, schema, cap=0):
    vals = [float(x) for x in values]
    pos = [v for v in vals if v > 0]
    for v in pos:
        if near_boundary(v, schema):
            raise SystemExit("observation %r is too near a bucket boundary" % v)
    while True:
        buckets = {}
        for v in pos:
            i = index(v, schema)
            buckets[i] = buckets.get(i, 0) + 1
        if cap == 0 or len(buckets) <= cap or schema == -4:
            break
        schema -= 1
    s = sorted(vals)
    rank = math.ceil(QUANTILE * len(s))
    return {
        "count": len(vals),
        "sum": math.fsum(vals),
        "zero": len(vals) - len(pos),
        "buckets": buckets,
        "q": s[rank - 1],
        "schema": schema,
        "rel": 2.0 ** (2.0 ** -schema) - 1.0,
    }


def query(url, expr):
    u = url + "/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    with urllib.request.urlopen(u, timeout=5) as r:
        return json.load(r)["data"]["result"]


def one_value(url, expr):
    res = query(url, expr)
    if len(res) != 1:
        return None, "%d series for %s: %s" % (len(res), expr, json.dumps(res)[:300])
    return float(res[0]["value"][1]), None


def check_prom(url, sel, w):
    schema = w["schema"]
    res, seen = [], []

    def out(ok, name, diag=""):
        res.append(("ok\t%s" % name) if ok else ("not ok\t%s\t%s" % (name, diag)))

    got, err = one_value(url, "histogram_count(%s)" % sel)
    seen.append("count %r" % got)
    out(err is None and got == w["count"], "histogram_count == %d" % w["count"],
        err or "got %r" % got)
    got, err = one_value(url, "histogram_sum(%s)" % sel)
    seen.append("sum %r" % got)
    out(err is None and abs(got - w["sum"]) <= SUM_REL * w["sum"],
        "histogram_sum == %r within %g relative" % (w["sum"], SUM_REL),
        err or "got %r, relative difference %g" % (got, abs(got - w["sum"]) / w["sum"]))
    got, err = one_value(url, "histogram_quantile(%g, %s)" % (QUANTILE, sel))
    seen.append("quantile(%g) %r" % (QUANTILE, got))
    res.append("#\tPrometheus: " + ", ".join(seen))
    out(err is None and abs(got - w["q"]) <= w["rel"] * w["q"],
        "histogram_quantile(%g) within %.4f relative of the true %r" % (QUANTILE, w["rel"], w["q"]),
        err or "got %r, relative error %g" % (got, abs(got - w["q"]) / w["q"]))

    raw = query(url, sel)
    if len(raw) != 1 or "histogram" not in raw[0]:
        out(False, "the buckets at schema %d" % schema,
            "want one native histogram series, got %s" % json.dumps(raw)[:300])
        return res
    got_b, zero, bad = {}, 0, []
    n = 1 << schema if schema > 0 else 1
    for rule, lo, hi, c in raw[0]["histogram"][1].get("buckets", []):
        lo, hi, c = float(lo), float(hi), float(c)
        if lo < 0 < hi:
            zero += c
            continue
        if lo <= 0:
            bad.append("negative bucket [%r, %r]" % (lo, hi))
            continue
        i = round(math.log2(hi) * n) if schema > 0 else round(math.log2(hi) / (1 << -schema))
        expect_hi = 2.0 ** (i / n) if schema > 0 else 2.0 ** (i * (1 << -schema))
        if abs(hi - expect_hi) > 1e-12 * expect_hi:
            bad.append("bound %r is not one of schema %d" % (hi, schema))
        got_b[i] = got_b.get(i, 0) + int(c)
    diag = []
    if bad:
        diag.append("; ".join(bad[:5]))
    if zero != w["zero"]:
        diag.append("zero bucket %r, want %d" % (zero, w["zero"]))
    if got_b != w["buckets"]:
        keys = sorted(set(got_b) | set(w["buckets"]))
        diff = ["%d: got %d want %d" % (k, got_b.get(k, 0), w["buckets"].get(k, 0))
                for k in keys if got_b.get(k, 0) != w["buckets"].get(k, 0)]
        diag.append("buckets differ (index: got, want): " + ", ".join(diff[:10]))
    out(not diag, "the zero bucket and %d sparse buckets at schema %d, counts exact"
        % (len(w["buckets"]), schema), " | ".join(diag))
    return res


def main(argv):
    if argv[1:2] == ["obs"]:
        print("\n".join(observations()))
        return 0
    if argv[1:2] == ["want"] and len(argv) in (4, 5):
        with open(argv[2]) as f:
            w = want(f.read().split(), int(argv[3]), int((argv[4:] or [0])[0]))
        print("count=%d sum=%r q%g=%r schema=%d rel=%.6f zero=%d buckets=%d" % (
            w["count"], w["sum"], QUANTILE, w["q"], w["schema"], w["rel"], w["zero"],
            len(w["buckets"])))
        return 0
    if argv[1:2] == ["prom"] and len(argv) in (6, 7):
        with open(argv[4]) as f:
            w = want(f.read().split(), int(argv[5]), int((argv[6:] or [0])[0]))
        try:
            lines = check_prom(argv[2], argv[3], w)
        except (OSError, ValueError, KeyError) as e:
            lines = ["not ok\tPrometheus answers for %s\t%s" % (argv[3], e)]
        print("\n".join(lines))
        return 0
    sys.stderr.write(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
