#!/usr/bin/python3
"""Reads a delimited protobuf exposition body (a varint length, then one
io.prometheus.client.MetricFamily, again and again) and prints one line per
metric, sorted, for the tests to compare exactly:

  NAME TYPE {k="v",... sorted} FIELDS

FIELDS by type: value=V (counter, gauge, untyped); count=N sum=S
quantiles=Q:V,... (summary); count=N sum=S buckets=LE:N,... and, when the
histogram has a schema, schema= zt= zc= pspan=OFF:LEN,... pdelta=D,...
nspan= ndelta= (native). Floats as Python's repr.

  pbquery.py PYDIR FILE [help]

PYDIR holds metrics_pb2.py (protoc --python_out from agent/metrics.proto).
With "help", prints "NAME HELP" per family instead. Exit 1 when the body
does not parse.
"""
import sys


def varint(b, o):
    v = shift = 0
    while True:
        c = b[o]
        o += 1
        v |= (c & 0x7F) << shift
        shift += 7
        if not c & 0x80:
            return v, o


def labels(m):
    return "{" + ",".join('%s="%s"' % (l.name, l.value)
                          for l in sorted(m.label, key=lambda l: l.name)) + "}"


def spans(s):
    return ",".join("%d:%d" % (x.offset, x.length) for x in s)


def line(mf, m, pb):
    t = pb.MetricType.Name(mf.type)
    if mf.type == pb.HISTOGRAM:
        h = m.histogram
        f = "count=%d sum=%r buckets=%s" % (
            h.sample_count, h.sample_sum,
            ",".join("%r:%d" % (b.upper_bound, b.cumulative_count) for b in h.bucket))
        if h.HasField("schema"):
            f += " schema=%d zt=%r zc=%d pspan=%s pdelta=%s nspan=%s ndelta=%s" % (
                h.schema, h.zero_threshold, h.zero_count, spans(h.positive_span),
                ",".join(map(str, h.positive_delta)), spans(h.negative_span),
                ",".join(map(str, h.negative_delta)))
    elif mf.type == pb.SUMMARY:
        s = m.summary
        f = "count=%d sum=%r quantiles=%s" % (
            s.sample_count, s.sample_sum,
            ",".join("%r:%r" % (q.quantile, q.value) for q in s.quantile))
    elif mf.type == pb.COUNTER:
        f = "value=%r" % m.counter.value
    elif mf.type == pb.GAUGE:
        f = "value=%r" % m.gauge.value
    else:
        f = "value=%r" % m.untyped.value
    return "%s %s %s %s" % (mf.name, t, labels(m), f)


def main(argv):
    sys.path.insert(0, argv[0])
    import metrics_pb2 as pb
    data = open(argv[1], "rb").read()
    out = []
    o = 0
    try:
        while o < len(data):
            n, o = varint(data, o)
            mf = pb.MetricFamily()
            mf.ParseFromString(data[o:o + n])
            o += n
            if len(argv) > 2:
                out.append("%s %s" % (mf.name, mf.help))
            else:
                out.extend(line(mf, m, pb) for m in mf.metric)
    except Exception as e:  # a body that does not parse
        print("pbquery: %s at byte %d" % (e, o), file=sys.stderr)
        return 1
    print("\n".join(sorted(out)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
