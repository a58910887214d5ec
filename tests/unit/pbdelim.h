/* For the unit tests: a delimited protobuf exposition body (a varint
 * length, then one io.prometheus.client.MetricFamily, again and again)
 * split and decoded with the generated code, to compare field by field. */
#ifndef PBDELIM_H
#define PBDELIM_H

#include "testutil.h"

#include "metrics.pb-c.h"

typedef Io__Prometheus__Client__MetricFamily mfam;

typedef struct msgs {
	mfam *m[64];
	size_t n;
} msgs;

/* Splits a delimited body into its MetricFamily messages. */
static inline void
decode(const char *p, size_t len, msgs *out)
{
	size_t o = 0;

	out->n = 0;
	while (o < len) {
		uint64_t l = 0;
		int shift = 0;
		for (;;) {
			unsigned char c;
			assert_true(o < len && shift < 64);
			c = (unsigned char)p[o++];
			l |= (uint64_t)(c & 0x7f) << shift;
			shift += 7;
			if (!(c & 0x80))
				break;
		}
		assert_true(l <= len - o);
		assert_true(out->n < 64);
		out->m[out->n] = io__prometheus__client__metric_family__unpack(
		    NULL, (size_t)l, (const uint8_t *)p + o);
		assert_non_null(out->m[out->n]);
		out->n++;
		o += (size_t)l;
	}
}

static inline void
msgs_free(msgs *m)
{
	for (size_t i = 0; i < m->n; i++)
		io__prometheus__client__metric_family__free_unpacked(m->m[i],
		    NULL);
	m->n = 0;
}

static inline void
label_is(const Io__Prometheus__Client__Metric *m, size_t i,
    const char *name, const char *value)
{
	assert_true(i < m->n_label);
	assert_string_equal(m->label[i]->name, name);
	assert_string_equal(m->label[i]->value, value);
}

#endif
