/* hmap: insert and find, a key's slot kept across lookups, keys told apart
 * by every byte and by length (NULs included), growth past many doublings
 * with every key still found, clear (values freed, a large map shrunk and
 * still usable), each (all entries, early stop), free. There is no removal
 * in hmap (a batch's cache is cleared whole), and no allocation failure to
 * inject. */
#include "testutil.h"

#include "hmap.h"

/* Counts the values given to it, which are ints the test allocated. */
static int freed;

static void
free_int(void *v)
{
	freed++;
	free(v);
}

static void
test_put_get(void **state)
{
	hmap *m = hmap_new();
	void **v, **w;
	int created = -1, x = 1, y = 2;

	(void)state;
	assert_non_null(m);
	assert_int_equal(hmap_count(m), 0);
	assert_null(hmap_get(m, "a", 1));
	/* A new key comes with a NULL value... */
	assert_non_null(v = hmap_put(m, "a", 1, &created));
	assert_int_equal(created, 1);
	assert_null(*v);
	*v = &x;
	/* ...and is found again, the same slot, not created twice. */
	assert_non_null(w = hmap_get(m, "a", 1));
	assert_ptr_equal(*w, &x);
	assert_non_null(w = hmap_put(m, "a", 1, &created));
	assert_int_equal(created, 0);
	assert_ptr_equal(*w, &x);
	assert_int_equal(hmap_count(m), 1);
	/* A present key with a NULL value is present. */
	assert_non_null(v = hmap_put(m, "b", 1, &created));
	assert_int_equal(created, 1);
	assert_non_null(hmap_get(m, "b", 1));
	*v = &y;
	assert_ptr_equal(*hmap_get(m, "b", 1), &y);
	assert_ptr_equal(*hmap_get(m, "a", 1), &x);
	assert_int_equal(hmap_count(m), 2);
	hmap_free(m, NULL);
	hmap_free(NULL, NULL);
}

/* Keys are bytes with a length: a prefix, a NUL, the empty key and a
 * one-byte difference far into a long key are all different keys. The key
 * is copied: the caller's buffer may change after the put. */
static void
test_keys(void **state)
{
	static const struct {
		const char *k;
		size_t n;
	} keys[] = {
		{ "", 0 }, { "a", 1 }, { "a\0", 2 }, { "ab", 2 },
		{ "a\0b", 3 }, { "\0", 1 }, { "\0\0", 2 }, { "ba", 2 },
	};
	char big[100], other[100];
	hmap *m = hmap_new();
	int created, tag[sizeof(keys) / sizeof(keys[0])];

	(void)state;
	assert_non_null(m);
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		void **v = hmap_put(m, keys[i].k, keys[i].n, &created);

		assert_non_null(v);
		assert_int_equal(created, 1);
		*v = &tag[i];
	}
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		assert_ptr_equal(*hmap_get(m, keys[i].k, keys[i].n), &tag[i]);
	memset(big, 'k', sizeof(big));
	memcpy(other, big, sizeof(big));
	other[77] = 'K';
	*hmap_put(m, big, sizeof(big), &created) = big;
	assert_null(hmap_get(m, other, sizeof(other)));
	*hmap_put(m, other, sizeof(other), &created) = other;
	assert_int_equal(created, 1);
	/* Changing the caller's copy does not change the stored key. */
	other[77] = 'k';
	assert_ptr_equal(*hmap_get(m, other, sizeof(other)), big);
	other[77] = 'K';
	assert_ptr_equal(*hmap_get(m, other, sizeof(other)), other);
	assert_int_equal(hmap_count(m), 10);
	hmap_free(m, NULL);
}

/*
 * Many keys alike but for a counter, as the fold's are: the table doubles
 * many times from its 64 slots, and at a load of up to one half the probe
 * sequences collide and run into one another; every key must still find
 * its own value, before and after the growths that followed it.
 */
static size_t
series_key(char *key, int i)
{
	static const char head[] = "\007\0\0\0\0\0\0\0name";
	int n;

	/* The fold's shape: group id, name, NUL, labels. */
	memcpy(key, head, sizeof(head));
	n = snprintf(key + sizeof(head), 32, "x=\"%d\"", i);
	return sizeof(head) + (size_t)n;
}

static void
test_growth_collisions(void **state)
{
	enum { N = 20000 };
	hmap *m = hmap_new();
	char key[64];
	int created;

	(void)state;
	assert_non_null(m);
	for (int i = 0; i < N; i++) {
		size_t n = series_key(key, i);
		void **v = hmap_put(m, key, n, &created);

		assert_non_null(v);
		assert_int_equal(created, 1);
		*v = (void *)(intptr_t)(i + 1);
		if (i % 1000 == 0)
			for (int j = 0; j <= i; j += 97) {
				n = series_key(key, j);
				assert_ptr_equal(*hmap_get(m, key, n),
				    (void *)(intptr_t)(j + 1));
			}
	}
	assert_int_equal(hmap_count(m), N);
	for (int i = 0; i < N; i++) {
		size_t n = series_key(key, i);
		void **v = hmap_get(m, key, n);

		assert_non_null(v);
		assert_int_equal((intptr_t)*v, i + 1);
		/* A key not put: the same bytes, one shorter. */
		assert_null(hmap_get(m, key, n - 1));
	}
	hmap_free(m, NULL);
}

static int
sum_each(const void *key, size_t klen, void *val, void *arg)
{
	long *sum = arg;

	assert_int_equal(klen, sizeof(int));
	assert_int_equal(*(const int *)key, *(int *)val);
	*sum += *(int *)val;
	return 0;
}

static int
stop_at_third(const void *key, size_t klen, void *val, void *arg)
{
	int *seen = arg;

	(void)key;
	(void)klen;
	(void)val;
	return ++*seen == 3 ? 42 : 0;
}

/* clear frees the values and leaves a usable map (a large one shrinks);
 * each visits every entry once and stops when asked; free frees the rest. */
static void
test_clear_each_free(void **state)
{
	hmap *m = hmap_new();
	long sum = 0;
	int created, seen = 0;

	(void)state;
	assert_non_null(m);
	for (int round = 0; round < 2; round++) {
		int n = round == 0 ? 5000 : 10;

		for (int i = 0; i < n; i++) {
			int *v = malloc(sizeof(*v));
			void **slot;

			assert_non_null(v);
			*v = i;
			assert_non_null(slot = hmap_put(m, &i, sizeof(i),
			    &created));
			assert_int_equal(created, 1);
			*slot = v;
		}
		assert_int_equal(hmap_count(m), n);
		sum = 0;
		assert_int_equal(hmap_each(m, sum_each, &sum), 0);
		assert_int_equal(sum, (long)n * (n - 1) / 2);
		seen = 0;
		assert_int_equal(hmap_each(m, stop_at_third, &seen), 42);
		assert_int_equal(seen, 3);
		freed = 0;
		hmap_clear(m, free_int);
		assert_int_equal(freed, n);
		assert_int_equal(hmap_count(m), 0);
		for (int i = 0; i < n; i += 7)
			assert_null(hmap_get(m, &i, sizeof(i)));
	}
	/* Clearing an empty map, and clearing without freeing values. */
	hmap_clear(m, free_int);
	*hmap_put(m, "k", 1, &created) = &seen;
	hmap_clear(m, NULL);
	assert_null(hmap_get(m, "k", 1));
	/* free frees what is left. */
	for (int i = 0; i < 3; i++) {
		int *v = malloc(sizeof(*v));

		assert_non_null(v);
		*hmap_put(m, &i, sizeof(i), &created) = v;
	}
	freed = 0;
	hmap_free(m, free_int);
	assert_int_equal(freed, 3);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_put_get),
		cmocka_unit_test(test_keys),
		cmocka_unit_test(test_growth_collisions),
		cmocka_unit_test(test_clear_each_free),
	};

	return cmocka_run_group_tests_name("hmap", tests, NULL, NULL);
}
