/* nhist: the bucket index at every schema (an independently computed
 * table, exact boundaries, powers of two, 1, the default zero threshold,
 * negatives, the float limits, ±Inf, NaN, 0), the reduction of resolution
 * (single indexes, bucket sets, the cap; counts conserved), and spans +
 * deltas (client_golang's own expected encodings, the gap rule, round
 * trips and refusals). */
#include "testutil.h"

#include <float.h>
#include <math.h>

#include "nhist.h"

static int32_t
idx(double v, int schema)
{
	int32_t i = INT32_MIN;

	assert_int_equal(nhist_index(v, schema, &i), NHIST_OK);
	return i;
}

/* ceil(a / 2^k) for k >= 0, negatives included. */
static int64_t
ceil_shift(int64_t a, int k)
{
	int64_t d = (int64_t)1 << k, q = a / d;

	if (a % d != 0 && a > 0)
		q++;
	return q;
}

/* The index of 2^e at schema s: e * 2^s above 0, ceil(e / 2^-s) else. */
static int64_t
pow2_index(int64_t e, int s)
{
	return s > 0 ? e * ((int64_t)1 << s) : ceil_shift(e, -s);
}

/* ceil(log2 |v| * 2^schema) for schema -4..8, computed with Python's
 * mpmath at 300 bits (values within 1e-12 of a boundary left out: those
 * are tested from client_golang's own bounds below). */
static const struct {
	double v;
	int32_t want[13];
} table[] = {
	{ 0x1.56e1fc2f8f359p-997, { -62, -124, -249, -498, -996, -1993, -3986, -7972, -15945, -31890, -63781, -127562, -255124 } }, /* 1e-300 */
	{ 0x1.0624dd2f1a9fcp-10, { 0, -1, -2, -4, -9, -19, -39, -79, -159, -318, -637, -1275, -2551 } }, /* 0.001 */
	{ 0x1.999999999999ap-4, { 0, 0, 0, -1, -3, -6, -13, -26, -53, -106, -212, -425, -850 } }, /* 0.1 */
	{ 0x1.3333333333333p-2, { 0, 0, 0, 0, -1, -3, -6, -13, -27, -55, -111, -222, -444 } }, /* 0.3 */
	{ 0x1.199999999999ap+0, { 1, 1, 1, 1, 1, 1, 1, 2, 3, 5, 9, 18, 36 } }, /* 1.1 */
	{ 0x1.8000000000000p+0, { 1, 1, 1, 1, 1, 2, 3, 5, 10, 19, 38, 75, 150 } }, /* 1.5 */
	{ 0x1.8000000000000p+1, { 1, 1, 1, 1, 2, 4, 7, 13, 26, 51, 102, 203, 406 } }, /* 3.0 */
	{ 0x1.c000000000000p+2, { 1, 1, 1, 2, 3, 6, 12, 23, 45, 90, 180, 360, 719 } }, /* 7.0 */
	{ 0x1.4000000000000p+3, { 1, 1, 1, 2, 4, 7, 14, 27, 54, 107, 213, 426, 851 } }, /* 10.0 */
	{ 0x1.9000000000000p+6, { 1, 1, 2, 4, 7, 14, 27, 54, 107, 213, 426, 851, 1701 } }, /* 100.0 */
	{ 0x1.edd2f1a9fbe77p+6, { 1, 1, 2, 4, 7, 14, 28, 56, 112, 223, 445, 890, 1779 } }, /* 123.456 */
	{ 0x1.e848000000000p+19, { 2, 3, 5, 10, 20, 40, 80, 160, 319, 638, 1276, 2552, 5103 } }, /* 1000000.0 */
	{ 0x1.921f9f01b866ep+1, { 1, 1, 1, 1, 2, 4, 7, 14, 27, 53, 106, 212, 423 } }, /* 3.14159 */
	{ 0x1.5bf0a8b04919bp+1, { 1, 1, 1, 1, 2, 3, 6, 12, 24, 47, 93, 185, 370 } }, /* 2.718281828 */
	{ 0x1.4f8b588e368f1p-17, { -1, -2, -4, -8, -16, -33, -66, -132, -265, -531, -1063, -2126, -4252 } }, /* 1e-05 */
	{ 0x1.fde9f10a8d361p+78, { 5, 10, 20, 40, 79, 158, 316, 632, 1264, 2528, 5056, 10112, 20223 } }, /* 6.02e+23 */
	{ 0x1.79ca10c924223p-63, { -3, -7, -15, -31, -62, -124, -249, -499, -999, -1998, -3996, -7992, -15984 } }, /* 1.6e-19 */
	{ 0x1.1cc7edd7c388ep+1023, { 64, 128, 256, 512, 1024, 2047, 4093, 8186, 16371, 32741, 65482, 130964, 261928 } }, /* 9.999e+307 */
	{ 0x0.00000000026bep-1022, { -66, -132, -265, -530, -1060, -2121, -4242, -8485, -16971, -33943, -67886, -135772, -271545 } }, /* 4.9e-320 */
	{ 0x1.d3dcf93370364p+637, { 40, 80, 160, 319, 638, 1276, 2552, 5103, 10206, 20412, 40824, 81648, 163295 } }, /* 1.0422841623711129e+192 */
	{ 0x1.0006f837ed4bcp-226, { -14, -28, -56, -112, -225, -451, -903, -1807, -3615, -7231, -14463, -28927, -57855 } }, /* 9.274001540648114e-69 */
	{ 0x1.7337d24b70009p+395, { 25, 50, 99, 198, 396, 792, 1583, 3165, 6329, 12658, 25315, 50629, 101258 } }, /* 1.1701388806758848e+119 */
	{ 0x1.7ad2057b1909ep-116, { -7, -14, -28, -57, -115, -230, -461, -923, -1846, -3693, -7387, -14775, -29551 } }, /* 1.7812049425136948e-35 */
	{ 0x1.36076af7f3cb4p-243, { -15, -30, -60, -121, -242, -485, -970, -1941, -3883, -7767, -15534, -31068, -62137 } }, /* 8.56787997875317e-74 */
	{ 0x1.eb536f070e685p+28, { 2, 4, 8, 15, 29, 58, 116, 232, 464, 927, 1853, 3705, 7409 } }, /* 515192560.44101745 */
	{ 0x1.d8f2aded49b25p-515, { -32, -64, -128, -257, -514, -1028, -2056, -4112, -8225, -16451, -32903, -65806, -131613 } }, /* 1.7223667390837894e-155 */
	{ 0x1.56658a74b83cbp+57, { 4, 8, 15, 29, 58, 115, 230, 460, 919, 1838, 3675, 7350, 14700 } }, /* 1.9275217474633558e+17 */
	{ 0x1.edfd71296711dp-251, { -15, -31, -62, -125, -250, -500, -1000, -2000, -4000, -8001, -16003, -32006, -64013 } }, /* 5.332726216604038e-76 */
	{ 0x1.af5d7099ac187p-136, { -8, -16, -33, -67, -135, -270, -540, -1081, -2163, -4327, -8655, -17311, -34623 } }, /* 1.9343075558855182e-41 */
	{ 0x1.090102c9c1045p-476, { -29, -59, -118, -237, -475, -951, -1903, -3807, -7615, -15230, -30460, -60921, -121843 } }, /* 5.305599260353375e-144 */
	{ 0x1.2845cdd6a2bc5p-903, { -56, -112, -225, -451, -902, -1805, -3611, -7222, -14444, -28889, -57778, -115557, -231114 } }, /* 1.7114552364429247e-272 */
	{ 0x1.2b45fb580975cp+10, { 1, 2, 3, 6, 11, 21, 41, 82, 164, 328, 655, 1309, 2618 } }, /* 1197.093465813864 */
	{ 0x1.5f639d2fa4a1dp+57, { 4, 8, 15, 29, 58, 115, 230, 460, 920, 1839, 3678, 7355, 14709 } }, /* 1.9781448717154806e+17 */
	{ 0x1.e1596ab19e93fp+431, { 27, 54, 108, 216, 432, 864, 1728, 3456, 6911, 13822, 27643, 55285, 110570 } }, /* 1.0426738849830074e+130 */
	{ 0x1.b6f43cc26f93ep+186, { 12, 24, 47, 94, 187, 374, 748, 1495, 2989, 5977, 11954, 23908, 47816 } }, /* 1.6817378187843464e+56 */
	{ 0x1.0605c7d22f5d3p+761, { 48, 96, 191, 381, 762, 1523, 3045, 6089, 12177, 24354, 48707, 97413, 194825 } }, /* 1.2414391982159386e+229 */
	{ 0x1.5266fac89217bp+917, { 58, 115, 230, 459, 918, 1835, 3670, 7340, 14679, 29357, 58714, 117428, 234856 } }, /* 1.4645335283756155e+276 */
	{ 0x1.c36d85f0490cfp-848, { -52, -105, -211, -423, -847, -1694, -3388, -6777, -13554, -27109, -54219, -108439, -216878 } }, /* 9.395329942415152e-256 */
	{ 0x1.97cdf1b2f5aa0p-715, { -44, -89, -178, -357, -714, -1428, -2857, -5714, -11429, -22858, -45717, -91434, -182868 } }, /* 9.241981950463844e-216 */
	{ 0x1.1defc4fa2116bp-976, { -60, -121, -243, -487, -975, -1951, -3903, -7806, -15613, -31226, -62453, -124907, -249815 } }, /* 1.748855851589986e-294 */
	{ 0x1.0852411356697p-199, { -12, -24, -49, -99, -198, -397, -795, -1591, -3183, -6366, -12733, -25466, -50932 } }, /* 1.2850590017408286e-60 */
	{ 0x1.5ef5b0785c752p+53, { 4, 7, 14, 27, 54, 107, 214, 428, 856, 1711, 3422, 6843, 13685 } }, /* 1.2348297516388004e+16 */
	{ 0x1.fad18dfcf00c4p+567, { 36, 71, 142, 284, 568, 1136, 2272, 4544, 9088, 18176, 36352, 72703, 145405 } }, /* 9.563571250037241e+170 */
	{ 0x1.acfa97f9a0353p-439, { -27, -54, -109, -219, -438, -876, -1753, -3506, -7012, -14024, -28048, -56096, -112193 } }, /* 1.1803963303461515e-132 */
	{ 0x1.2de550a465d93p-953, { -59, -119, -238, -476, -952, -1905, -3811, -7622, -15244, -30488, -60976, -121953, -243907 } }, /* 1.5489278303338643e-287 */
	{ 0x1.7d6059268da1bp+674, { 43, 85, 169, 338, 675, 1350, 2699, 5397, 10794, 21587, 43173, 86346, 172692 } }, /* 1.1676989291879725e+203 */
	{ 0x1.ea70760a7cd02p+616, { 39, 78, 155, 309, 617, 1234, 2468, 4936, 9872, 19743, 39485, 78969, 157937 } }, /* 5.2098189203551483e+185 */
	{ 0x1.39bf0c1f58637p-581, { -36, -72, -145, -290, -580, -1161, -2322, -4645, -9291, -18582, -37165, -74330, -148660 } }, /* 1.5484997421026782e-175 */
	{ 0x1.55a2d09487641p-731, { -45, -91, -182, -365, -730, -1461, -2922, -5844, -11689, -23378, -46757, -93514, -187029 } }, /* 1.181399619202622e-220 */
};

static void
test_table(void **state)
{
	(void)state;
	for (size_t k = 0; k < TU_N(table); k++) {
		for (int s = NHIST_SCHEMA_MIN; s <= NHIST_SCHEMA_MAX; s++) {
			int32_t want = table[k].want[s - NHIST_SCHEMA_MIN];
			if (idx(table[k].v, s) != want ||
			    idx(-table[k].v, s) != want)
				fail_msg("%a at schema %d: %d, want %d",
				    table[k].v, s, idx(table[k].v, s), want);
		}
	}
}

/* base^i belongs to bucket i, the next double up to i + 1, the one below
 * to i; and the bounds are base^i to within rounding. */
static void
test_boundaries(void **state)
{
	(void)state;
	for (int s = NHIST_SCHEMA_MIN; s <= NHIST_SCHEMA_MAX; s++) {
		for (int32_t i = -600; i <= 600; i++) {
			double up = nhist_upper(i, s);
			double want = exp2((double)i / exp2(s));
			if (up == 0 || isinf(up) || up < DBL_MIN)
				continue;
			if (fabs(up - want) > 4 * DBL_EPSILON * want)
				fail_msg("upper(%d, %d) = %a, want ~%a", i, s,
				    up, want);
			assert_int_equal(idx(up, s), i);
			assert_int_equal(idx(-up, s), i);
			assert_int_equal(idx(nextafter(up, INFINITY), s), i + 1);
			assert_int_equal(idx(nextafter(up, 0), s), i);
			assert_true(nhist_upper(i - 1, s) < up);
		}
	}
}

static void
test_powers_of_two(void **state)
{
	(void)state;
	for (int s = NHIST_SCHEMA_MIN; s <= NHIST_SCHEMA_MAX; s++) {
		/* the smallest subnormal (2^-1074) to 2^1023 */
		for (int e = -1074; e <= 1023; e++) {
			double v = ldexp(1, e);
			if (idx(v, s) != pow2_index(e, s))
				fail_msg("2^%d at schema %d: %d, want %lld", e,
				    s, idx(v, s),
				    (long long)pow2_index(e, s));
			assert_int_equal(idx(-v, s), pow2_index(e, s));
		}
		assert_int_equal(idx(1.0, s), 0);
		assert_int_equal(idx(-1.0, s), 0);
		assert_int_equal(idx(nextafter(1.0, 2), s), 1);
		assert_int_equal(idx(DBL_MIN, s), pow2_index(-1022, s));
	}
}

/* Just above client_golang's default zero threshold, 2^-128. */
static void
test_zero_threshold(void **state)
{
	double zt = 2.938735877055719e-39;

	(void)state;
	assert_true(zt == ldexp(1, -128));
	for (int s = NHIST_SCHEMA_MIN; s <= NHIST_SCHEMA_MAX; s++) {
		assert_int_equal(idx(nextafter(zt, 1), s),
		    pow2_index(-128, s) + 1);
		assert_int_equal(idx(-nextafter(zt, 1), s),
		    pow2_index(-128, s) + 1);
	}
}

/* DBL_MAX is in the bucket of 2^1024; ±Inf one up (client_golang). */
static void
test_limits(void **state)
{
	int32_t i = 77;

	(void)state;
	for (int s = NHIST_SCHEMA_MIN; s <= NHIST_SCHEMA_MAX; s++) {
		assert_int_equal(idx(DBL_MAX, s), pow2_index(1024, s));
		assert_int_equal(idx(-DBL_MAX, s), pow2_index(1024, s));
		assert_int_equal(idx(INFINITY, s), pow2_index(1024, s) + 1);
		assert_int_equal(idx(-INFINITY, s), pow2_index(1024, s) + 1);
		assert_true(isinf(nhist_upper(idx(INFINITY, s), s)));
		assert_int_equal(idx(4.9406564584124654e-324, s),
		    pow2_index(-1074, s));
		assert_int_equal(idx(nextafter(0, 1), s), pow2_index(-1074, s));
		assert_int_equal(idx(2 * nextafter(0, 1), s),
		    pow2_index(-1073, s));
	}
	assert_int_equal(nhist_index(NAN, 0, &i), NHIST_ENAN);
	assert_int_equal(nhist_index(-NAN, 3, &i), NHIST_ENAN);
	assert_int_equal(nhist_index(0.0, 3, &i), NHIST_EZERO);
	assert_int_equal(nhist_index(-0.0, 3, &i), NHIST_EZERO);
	assert_int_equal(nhist_index(1.0, 9, &i), NHIST_ESCHEMA);
	assert_int_equal(nhist_index(1.0, -5, &i), NHIST_ESCHEMA);
	assert_int_equal(i, 77);
	assert_true(isnan(nhist_upper(0, 9)));
	assert_string_equal(nhist_strerror(NHIST_ENAN), "NaN has no bucket");
}

static void
test_reduce(void **state)
{
	static const int32_t in[] = { 0, 1, 2, 3, 4, 5, -1, -2, -3, -4,
		INT32_MAX, INT32_MIN, INT32_MAX - 1 };
	static const int32_t want[] = { 0, 1, 1, 2, 2, 3, 0, -1, -1, -2,
		1073741824, -1073741824, 1073741823 };

	(void)state;
	for (size_t k = 0; k < TU_N(in); k++)
		assert_int_equal(nhist_reduce(in[k]), want[k]);
	/* Lowering the schema of an index is the index at the lower schema:
	 * client_golang's tables share their bounds between schemas. */
	for (int s = NHIST_SCHEMA_MIN + 1; s <= NHIST_SCHEMA_MAX; s++) {
		for (size_t k = 0; k < TU_N(table); k++)
			assert_int_equal(nhist_reduce(idx(table[k].v, s)),
			    idx(table[k].v, s - 1));
		for (int32_t i = -300; i <= 300; i++) {
			double up = nhist_upper(i, s);
			double above = nextafter(up, INFINITY);
			if (up < DBL_MIN || isinf(above))
				continue;
			assert_int_equal(nhist_reduce(i), idx(up, s - 1));
			assert_int_equal(nhist_reduce(idx(above, s)),
			    idx(above, s - 1));
		}
	}
}

/* Field by field: the struct has padding. */
static void
same(const nhist_bucket *a, const nhist_bucket *b, size_t n)
{
	for (size_t k = 0; k < n; k++) {
		if (a[k].index != b[k].index || a[k].count != b[k].count)
			fail_msg("bucket %zu: {%d, %lld}, want {%d, %lld}", k,
			    a[k].index, (long long)a[k].count, b[k].index,
			    (long long)b[k].count);
	}
}

static int64_t
total(const nhist_bucket *b, size_t n)
{
	int64_t t = 0;

	for (size_t k = 0; k < n; k++)
		t += b[k].count;
	return t;
}

static void
test_reduce_set(void **state)
{
	nhist_bucket b[] = { { -5, 1 }, { -4, 2 }, { -3, 3 }, { -1, 4 },
		{ 0, 5 }, { 1, 6 }, { 2, 7 }, { 3, 8 }, { 8, 9 }, { 9, 10 } };
	/* ceil(i/2): -5,-4→-2; -3→-1; -1,0→0; 1,2→1; 3→2; 8→4; 9→5 */
	static const nhist_bucket want1[] = { { -2, 3 }, { -1, 3 }, { 0, 9 },
		{ 1, 13 }, { 2, 8 }, { 4, 9 }, { 5, 10 } };
	/* -2→-1; -1,0→0; 1,2→1; 4→2; 5→3 */
	static const nhist_bucket want2[] = { { -1, 3 }, { 0, 12 }, { 1, 21 },
		{ 2, 9 }, { 3, 10 } };
	size_t n = TU_N(b);
	int64_t sum = total(b, n);

	(void)state;
	n = nhist_reduce_set(b, n);
	assert_int_equal(n, TU_N(want1));
	same(b, want1, n);
	n = nhist_reduce_set(b, n);
	assert_int_equal(n, TU_N(want2));
	same(b, want2, n);
	/* -1,0→0; 1,2→1; 3→2 then 0; 1,2→1 then 0,1 then 0,1 ... */
	for (int k = 0; k < 8; k++)
		n = nhist_reduce_set(b, n);
	assert_int_equal(n, 2);
	assert_int_equal(b[0].index, 0);
	assert_int_equal(b[1].index, 1);
	assert_int_equal(total(b, n), sum);
	assert_int_equal(nhist_reduce_set(b, 0), 0);
}

/* The cap counts both sides; each step lowers the schema by one, down to
 * -4 and no further. */
static void
test_fit(void **state)
{
	nhist_bucket pos[64], neg[8];
	size_t npos = 0, nneg = 0;
	int schema = 3, done;
	int64_t sp, sn;

	(void)state;
	for (int32_t v = 1; v <= 40; v++) {
		int32_t i = idx(v, schema);
		if (npos > 0 && pos[npos - 1].index == i) {
			pos[npos - 1].count++;
		} else {
			pos[npos].index = i;
			pos[npos++].count = 1;
		}
	}
	for (int32_t i = 0; i < 8; i++) {
		neg[i].index = i * 5;
		neg[i].count = i + 1;
	}
	nneg = 8;
	sp = total(pos, npos);
	sn = total(neg, nneg);
	assert_int_equal(nhist_fit(pos, &npos, neg, &nneg, &schema, 0), 0);
	assert_int_equal(schema, 3);
	assert_int_equal(nhist_fit(pos, &npos, neg, &nneg, &schema,
	    npos + nneg), 0);
	done = nhist_fit(pos, &npos, neg, &nneg, &schema, 20);
	assert_true(npos + nneg <= 20);
	assert_int_equal(schema, 3 - done);
	assert_true(done >= 1);
	/* every value still in its bucket at the new schema */
	for (int32_t v = 1; v <= 40; v++) {
		int32_t i = idx(v, schema);
		size_t k = 0;
		while (k < npos && pos[k].index != i)
			k++;
		assert_true(k < npos);
	}
	assert_int_equal(total(pos, npos), sp);
	assert_int_equal(total(neg, nneg), sn);
	/* an impossible cap stops at -4 */
	done = nhist_fit(pos, &npos, neg, &nneg, &schema, 1);
	assert_int_equal(schema, NHIST_SCHEMA_MIN);
	assert_true(npos + nneg > 1);
	assert_int_equal(total(pos, npos), sp);
	assert_int_equal(total(neg, nneg), sn);
	assert_int_equal(nhist_fit(pos, &npos, neg, &nneg, &schema, 1), 0);
}

static void
roundtrip(const nhist_bucket *b, size_t n, const nhist_span *wspans,
    size_t wns, const int64_t *wdeltas, size_t wnd)
{
	nhist_span spans[32];
	int64_t deltas[96];
	nhist_bucket back[96];
	size_t ns, nd, nb;

	assert_int_equal(nhist_encode(b, n, spans, TU_N(spans), &ns, deltas,
	    TU_N(deltas), &nd), NHIST_OK);
	assert_int_equal(ns, wns);
	assert_int_equal(nd, wnd);
	for (size_t k = 0; k < ns; k++) {
		assert_int_equal(spans[k].offset, wspans[k].offset);
		assert_int_equal(spans[k].length, wspans[k].length);
	}
	if (nd > 0)
		assert_memory_equal(deltas, wdeltas, nd * sizeof(*deltas));
	assert_int_equal(nhist_decode(spans, ns, deltas, nd, back,
	    TU_N(back), &nb), NHIST_OK);
	assert_int_equal(nb, n);
	same(back, b, n);
}

/* client_golang's histogram_test.go, TestNativeHistogram: observations
 * → buckets → their expected spans and deltas. */
static void
test_spans_client_golang(void **state)
{
	static const double obs3[] = { 1, 2, 3 };
	static const double obs2[] = { 1, 1.2, 1.4, 1.8, 2 };
	static const double obsm1[] = { 0.0156251, 0.0625, 0.1, 0.25, 0.5, 1,
		1.5, 2, 3, 3.5, 5, 6, 7, 33.33 };
	static const nhist_span sp3[] = { { 0, 1 }, { 7, 1 }, { 4, 1 } };
	static const int64_t d3[] = { 1, 0, 0 };
	static const nhist_span sp2[] = { { 0, 5 } };
	static const int64_t d2[] = { 1, -1, 2, -2, 2 };
	static const nhist_span spm1[] = { { -2, 6 } };
	static const int64_t dm1[] = { 2, 0, 0, 2, -1, -2 };
	static const struct {
		const double *obs;
		size_t n;
		int schema;
		const nhist_span *sp;
		size_t ns;
		const int64_t *d;
		size_t nd;
	} c[] = {
		{ obs3, TU_N(obs3), 3, sp3, TU_N(sp3), d3, TU_N(d3) },
		{ obs2, TU_N(obs2), 2, sp2, TU_N(sp2), d2, TU_N(d2) },
		{ obsm1, TU_N(obsm1), -1, spm1, TU_N(spm1), dm1, TU_N(dm1) },
	};

	(void)state;
	for (size_t k = 0; k < TU_N(c); k++) {
		nhist_bucket b[16];
		size_t n = 0;
		/* the observations are in ascending order: so are keys */
		for (size_t j = 0; j < c[k].n; j++) {
			int32_t i = idx(c[k].obs[j], c[k].schema);
			if (n > 0 && b[n - 1].index == i) {
				b[n - 1].count++;
			} else {
				b[n].index = i;
				b[n++].count = 1;
			}
		}
		/* the zero-count buckets in the gaps are not in the set */
		{
			nhist_span spans[8];
			int64_t deltas[24];
			size_t ns, nd;
			assert_int_equal(nhist_encode(b, n, spans, 8, &ns,
			    deltas, 24, &nd), NHIST_OK);
			assert_int_equal(ns, c[k].ns);
			assert_int_equal(nd, c[k].nd);
			for (size_t j = 0; j < ns; j++) {
				assert_int_equal(spans[j].offset,
				    c[k].sp[j].offset);
				assert_int_equal(spans[j].length,
				    c[k].sp[j].length);
			}
			assert_memory_equal(deltas, c[k].d,
			    nd * sizeof(*deltas));
		}
	}
}

/* Gaps of 1 and 2 empty buckets become explicit zeros; 3 a new span. */
static void
test_spans_gaps(void **state)
{
	static const nhist_bucket g1[] = { { -3, 2 }, { -1, 5 } };
	static const nhist_span s1[] = { { -3, 3 } };
	static const int64_t d1[] = { 2, -2, 5 };
	static const nhist_bucket g2[] = { { 4, 1 }, { 7, 3 }, { 8, 3 } };
	static const nhist_span s2[] = { { 4, 5 } };
	static const int64_t d2[] = { 1, -1, 0, 3, 0 };
	static const nhist_bucket g3[] = { { 0, 7 }, { 4, 1 }, { 100, 2 } };
	static const nhist_span s3[] = { { 0, 1 }, { 3, 1 }, { 95, 1 } };
	static const int64_t d3[] = { 7, -6, 1 };
	static const nhist_bucket big[] = { { -2147483647 - 1, 9 },
		{ 2147483647, 9223372036854775807LL } };

	(void)state;
	roundtrip(g1, TU_N(g1), s1, TU_N(s1), d1, TU_N(d1));
	roundtrip(g2, TU_N(g2), s2, TU_N(s2), d2, TU_N(d2));
	roundtrip(g3, TU_N(g3), s3, TU_N(s3), d3, TU_N(d3));
	roundtrip(NULL, 0, NULL, 0, NULL, 0);
	{
		/* INT32_MIN to INT32_MAX: a gap that an int32 offset cannot
		 * hold is refused, not truncated */
		nhist_span spans[4];
		int64_t deltas[8];
		size_t ns, nd;
		assert_int_equal(nhist_encode(big, 2, spans, 4, &ns, deltas, 8,
		    &nd), NHIST_ERANGE);
	}
}

static void
test_spans_refused(void **state)
{
	static const nhist_bucket unsorted[] = { { 3, 1 }, { 2, 1 } };
	static const nhist_bucket dup[] = { { 3, 1 }, { 3, 1 } };
	static const nhist_bucket neg[] = { { 3, -1 } };
	static const nhist_bucket gap[] = { { 0, 1 }, { 2, 1 }, { 9, 1 } };
	static const nhist_span sp[] = { { 0, 2 }, { 5, 1 } };
	static const int64_t d[] = { 1, 1, -5 };
	static const nhist_span far[] = { { 2147483647, 2 } };
	nhist_span spans[4];
	int64_t deltas[8];
	nhist_bucket out[4];
	size_t ns, nd, no;

	(void)state;
	assert_int_equal(nhist_encode(unsorted, 2, spans, 4, &ns, deltas, 8,
	    &nd), NHIST_EINVAL);
	assert_int_equal(nhist_encode(dup, 2, spans, 4, &ns, deltas, 8, &nd),
	    NHIST_EINVAL);
	assert_int_equal(nhist_encode(neg, 1, spans, 4, &ns, deltas, 8, &nd),
	    NHIST_EINVAL);
	/* gap: 2 spans and 4 deltas (0, 0-filled 1, 2, 9) */
	assert_int_equal(nhist_encode(gap, 3, spans, 1, &ns, deltas, 8, &nd),
	    NHIST_ENOSPACE);
	assert_int_equal(nhist_encode(gap, 3, spans, 4, &ns, deltas, 3, &nd),
	    NHIST_ENOSPACE);
	assert_int_equal(nhist_encode(gap, 3, spans, 2, &ns, deltas, 4, &nd),
	    NHIST_OK);
	/* decode: lengths that do not add up, a negative count, room */
	assert_int_equal(nhist_decode(sp, 2, d, 2, out, 4, &no), NHIST_EINVAL);
	assert_int_equal(nhist_decode(sp, 2, d, 3, out, 4, &no), NHIST_EINVAL);
	assert_int_equal(nhist_decode(sp, 1, d, 2, out, 1, &no),
	    NHIST_ENOSPACE);
	assert_int_equal(nhist_decode(sp, 1, d, 2, out, 4, &no), NHIST_OK);
	assert_int_equal(no, 2);
	assert_int_equal(out[1].index, 1);
	assert_int_equal(out[1].count, 2);
	assert_int_equal(nhist_decode(far, 1, d, 2, out, 4, &no),
	    NHIST_ERANGE);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_boundaries),
		cmocka_unit_test(test_powers_of_two),
		cmocka_unit_test(test_zero_threshold),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_reduce),
		cmocka_unit_test(test_reduce_set),
		cmocka_unit_test(test_fit),
		cmocka_unit_test(test_spans_client_golang),
		cmocka_unit_test(test_spans_gaps),
		cmocka_unit_test(test_spans_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
