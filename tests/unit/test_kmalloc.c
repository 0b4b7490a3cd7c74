/* SPDX-License-Identifier: MIT */
/*
 * test_kmalloc.c - the general caches (hm_kmalloc and friends, hugemem/slab.h)
 * in one thread, on 4 KiB pages:
 *
 *   - the size classes: 8 to 64 every 8 bytes, then four per power of two up
 *     to HM_KMALLOC_MAX; for every class c, hm_kmalloc(c - 1), (c) and (c + 1)
 *     land in the smallest class that fits (hm_ksize), in the slab cache
 *     "kmalloc-<c>" (found by name, made on first use, the object in its
 *     slab), aligned to 8 and to the largest power of two dividing c up to a
 *     cache line, writable over hm_ksize bytes; larger sizes are heap blocks
 *     of type "kmalloc" with at least the bytes asked for;
 *   - random sizes from 1 to 200000, each block stamped and checked, freed
 *     in random order; every general cache empty and sound after;
 *   - hm_kzalloc zeroes (also memory a dirty block left); hm_krealloc keeps
 *     the block while its class fits, moves it otherwise (slab to slab, slab
 *     to heap and back) keeping the contents, NULL is hm_kmalloc, a failure
 *     leaves the block as it was;
 *   - errors: hm_kmalloc(0) EINVAL, too large ENOMEM; hm_kfree(NULL) does
 *     nothing; libc and stack pointers refused and logged, hm_ksize 0 for
 *     them; debug builds: double frees and interior pointers refused;
 *   - the general caches in hm_slab_walk, hm_slabinfo, their statistics,
 *     and hm_slab_destroy refusing them.
 */
#include "harness.h"
#include "internal.h"
#include <hugemem.h>
#include <hugemem/slab.h>

#include <stdlib.h>

#define MIB ((size_t)1 << 20)
#define KIB ((size_t)1 << 10)

static size_t classes[64];
static unsigned n_classes;

static void make_classes(void)
{
	n_classes = 0;
	for (size_t s = 8; s <= 64; s += 8)
		classes[n_classes++] = s;
	for (size_t p = 64; p < HM_KMALLOC_MAX; p *= 2) {
		classes[n_classes++] = p + p / 4;
		classes[n_classes++] = p + p / 2;
		classes[n_classes++] = p + 3 * p / 4;
		classes[n_classes++] = 2 * p;
	}
}

/* The smallest class holding n bytes, or 0 above HM_KMALLOC_MAX. */
static size_t class_of(size_t n)
{
	for (unsigned i = 0; i < n_classes; i++)
		if (classes[i] >= n)
			return classes[i];
	return 0;
}

static size_t class_align(size_t c)
{
	size_t low = c & -c;

	return low > 64 ? 64 : low < 8 ? 8 : low;
}

static void start_with(size_t limit)
{
	struct hm_config c;

	hm_config_defaults(&c);
	c.no_huge = true;
	c.memory_limit = limit;
	REQUIRE_EQ(hm_init(&c), 0);
}

static void start(void)
{
	start_with(256 * MIB);
}

static void quiet(void)
{
	hm_log_set_sink(t_count_sink, NULL);
	t_log_lines_reset();
}

static void loud(void)
{
	hm_log_set_sink(NULL, NULL);
}

static struct hm_slab_cache *cache_of_class(size_t c)
{
	char name[32];

	snprintf(name, sizeof(name), "kmalloc-%zu", c);
	return hm_slab_lookup(name);
}

static struct hm_slab_stats stats(const struct hm_slab_cache *c)
{
	struct hm_slab_stats st;

	memset(&st, 0xee, sizeof(st));
	REQUIRE_EQ(hm_slab_get_stats(c, &st), 0);
	return st;
}

static uint64_t kmalloc_heap_blocks(void)
{
	struct hm_malloc_type_stats st;

	if (hm_malloc_get_type_stats("kmalloc", &st) != 0)
		return 0; /* never used */
	return st.live_blocks;
}

/* Bytes of a block's pattern: its address and the index. */
static uint8_t pat(uintptr_t a, size_t i)
{
	uint32_t x = (uint32_t)(a >> 3) * 2654435761u + (uint32_t)i * 97u + 5u;

	return (uint8_t)((x >> 24) ^ x);
}

/* Stamp all of a small block, or its first and last 256 bytes and every 4 KiB. */
static bool stamp_at(size_t n, size_t i)
{
	return n <= 1024 || i < 256 || i >= n - 256 || i % 4096 < 8;
}

static void stamp(void *p, size_t n)
{
	uint8_t *b = p;

	for (size_t i = 0; i < n; i++)
		if (stamp_at(n, i))
			b[i] = pat((uintptr_t)p, i);
}

static bool stamped(const void *p, size_t n)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < n; i++)
		if (stamp_at(n, i) && b[i] != pat((uintptr_t)p, i))
			return false;
	return true;
}

/* Contents that move with the block: the index only. */
static void seq_fill(void *p, size_t n)
{
	uint8_t *b = p;

	for (size_t i = 0; i < n; i++)
		b[i] = (uint8_t)(i * 7 + 3);
}

static bool seq_kept(const void *p, size_t n)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < n; i++)
		if (b[i] != (uint8_t)(i * 7 + 3))
			return false;
	return true;
}

/* --- the classes --- */

static void test_class_table(void)
{
	make_classes();
	CHECK_EQ(n_classes, 52);
	CHECK_EQ(classes[0], 8);
	CHECK_EQ(classes[7], 64);
	CHECK_EQ(classes[8], 80);
	CHECK_EQ(classes[11], 128);
	CHECK_EQ(classes[12], 160);
	CHECK_EQ(classes[n_classes - 3], 98304);
	CHECK_EQ(classes[n_classes - 2], 114688);
	CHECK_EQ(classes[n_classes - 1], HM_KMALLOC_MAX);
	/* Above 32 bytes no class wastes more than a fifth of itself. */
	for (unsigned i = 4; i < n_classes; i++)
		CHECK_LT((classes[i] - classes[i - 1] - 1) * 5, classes[i]);
}

/* kmalloc(n) lands in class want (0: the heap); checks and frees it. */
static void lands(size_t n, size_t want, int line)
{
	uint8_t *p = hm_kmalloc(n);
	size_t ks;

	if (!p) {
		t_fail(__FILE__, line, false, "kmalloc(%zu): %s", n, strerror(errno));
		return;
	}
	ks = hm_ksize(p);
	if (want) {
		struct hm_slab_cache *c = cache_of_class(want);

		if (ks != want || (uintptr_t)p % class_align(want) != 0)
			t_fail(__FILE__, line, false,
			       "kmalloc(%zu) = %p: ksize %zu, want %zu aligned to %zu", n,
			       (void *)p, ks, want, class_align(want));
		if (!c) {
			t_fail(__FILE__, line, false, "kmalloc(%zu): no cache kmalloc-%zu", n,
			       want);
		} else {
			struct hm_slab_stats st = stats(c);

			if (!hm__slab_mine(c, p) || st.obj_size != want || st.active_objs < 1)
				t_fail(__FILE__, line, false,
				       "kmalloc(%zu) = %p: not in kmalloc-%zu (obj_size %llu, "
				       "%llu active)",
				       n, (void *)p, want, (unsigned long long)st.obj_size,
				       (unsigned long long)st.active_objs);
		}
	} else if (ks < n || (uintptr_t)p % 8 != 0) {
		t_fail(__FILE__, line, false, "kmalloc(%zu) = %p: ksize %zu", n, (void *)p, ks);
	}
	/* Every usable byte is the caller's. */
	memset(p, 0xa5, ks ? ks : n);
	p[0] = 1;
	p[(ks ? ks : n) - 1] = 2;
	hm_kfree(p);
}
#define LANDS(n, want) lands(n, want, __LINE__)

static void test_classes(void)
{
	uint64_t heap0;

	make_classes();
	start();
	/* Made on first use. */
	CHECK_NULL_ERRNO(cache_of_class(64), ENOENT);
	CHECK_NULL_ERRNO(cache_of_class(8), ENOENT);
	LANDS(50, 56);
	CHECK(cache_of_class(56) != NULL);
	CHECK_NULL_ERRNO(cache_of_class(64), ENOENT);
	LANDS(1, 8);
	for (unsigned i = 0; i < n_classes; i++) {
		size_t c = classes[i];

		if (c > 8)
			LANDS(c - 1, c);
		LANDS(c, c);
		LANDS(c + 1, i + 1 < n_classes ? classes[i + 1] : 0);
	}
	/* Every class has its cache now, of its size, empty. */
	for (unsigned i = 0; i < n_classes; i++) {
		struct hm_slab_cache *c = cache_of_class(classes[i]);

		if (!c) {
			t_fail(__FILE__, __LINE__, false, "no cache for class %zu", classes[i]);
			continue;
		}
		CHECK_EQ(stats(c).obj_size, classes[i]);
		CHECK_EQ(stats(c).active_objs, 0);
		CHECK_EQ(stats(c).errors, 0);
		CHECK_EQ(hm_slab_audit(c), 0);
	}
	/* The heap beyond the last class, as blocks of type "kmalloc". */
	heap0 = kmalloc_heap_blocks();
	{
		static const size_t big[] = {HM_KMALLOC_MAX + 1, 200000, 1 * MIB, 3 * MIB + 17};
		void *p[4];

		for (unsigned i = 0; i < 4; i++) {
			p[i] = hm_kmalloc(big[i]);
			REQUIRE_NOT_NULL(p[i]);
			CHECK_GE(hm_ksize(p[i]), big[i]);
			CHECK_EQ((uintptr_t)p[i] % 8, 0);
			memset(p[i], 0x3c, big[i]);
		}
		CHECK_EQ(kmalloc_heap_blocks(), heap0 + 4);
		for (unsigned i = 0; i < 4; i++)
			hm_kfree(p[i]);
		CHECK_EQ(kmalloc_heap_blocks(), heap0);
	}
	hm_cleanup();
}

/* --- random sizes --- */

static void test_random_sizes(void)
{
	enum { N = 3000 };
	void **p = calloc(N, sizeof(void *));
	size_t *n = calloc(N, sizeof(size_t));
	unsigned bad_size = 0, bad_stamp = 0, bad_align = 0, failed = 0;
	uint64_t heap0;

	REQUIRE_NOT_NULL(p);
	REQUIRE_NOT_NULL(n);
	make_classes();
	start();
	heap0 = kmalloc_heap_blocks();
	for (unsigned i = 0; i < N; i++) {
		unsigned r = (unsigned)t_rand_below(100);
		size_t want;

		n[i] = 1 + (size_t)t_rand_below(r < 60   ? 256
						: r < 90 ? 8192
						: r < 98 ? 131072
							 : 200000);
		p[i] = hm_kmalloc(n[i]);
		if (!p[i]) {
			if (failed++ == 0)
				t_fail(__FILE__, __LINE__, false, "kmalloc(%zu): %s", n[i],
				       strerror(errno));
			n[i] = 0; /* nothing to stamp or free */
			continue;
		}
		want = class_of(n[i]);
		if (want ? hm_ksize(p[i]) != want : hm_ksize(p[i]) < n[i])
			bad_size++;
		if ((uintptr_t)p[i] % (want ? class_align(want) : 8))
			bad_align++;
		stamp(p[i], n[i]);
	}
	CHECK_EQ(bad_size, 0);
	CHECK_EQ(bad_align, 0);
	/* Free half in random order, allocate them again, then free everything. */
	for (unsigned i = N; i > 1; i--) {
		unsigned j = (unsigned)t_rand_below(i);
		void *tp = p[i - 1];
		size_t tn = n[i - 1];

		p[i - 1] = p[j];
		n[i - 1] = n[j];
		p[j] = tp;
		n[j] = tn;
	}
	for (unsigned i = 0; i < N / 2; i++) {
		bad_stamp += !stamped(p[i], n[i]);
		hm_kfree(p[i]);
	}
	for (unsigned i = 0; i < N / 2; i++) {
		if (!n[i])
			continue;
		p[i] = hm_kmalloc(n[i]);
		if (!p[i]) {
			failed++;
			n[i] = 0;
			continue;
		}
		stamp(p[i], n[i]);
	}
	for (unsigned i = 0; i < N; i++) {
		bad_stamp += !stamped(p[i], n[i]);
		hm_kfree(p[i]);
	}
	CHECK_EQ(bad_stamp, 0);
	CHECK_EQ(failed, 0);
	CHECK_EQ(kmalloc_heap_blocks(), heap0);
	for (unsigned i = 0; i < n_classes; i++) {
		struct hm_slab_cache *c = cache_of_class(classes[i]);

		if (!c)
			continue;
		CHECK_EQ(stats(c).active_objs, 0);
		CHECK_EQ(stats(c).allocs, stats(c).frees);
		CHECK_EQ(stats(c).errors, 0);
		CHECK_EQ(hm_slab_audit(c), 0);
	}
	hm_cleanup();
	free(p);
	free(n);
}

/* --- kzalloc, krealloc --- */

static void test_kzalloc(void)
{
	static const size_t sizes[] = {1, 8, 13, 64, 100, 1000, 4096, 70000, 131072, 200000};
	unsigned dirty = 0;

	start();
	for (unsigned i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		size_t n = sizes[i];

		/* Leave dirty blocks behind first: the next of this size may be one. */
		for (unsigned k = 0; k < 3; k++) {
			uint8_t *p = hm_kmalloc(n);
			uint8_t *z;

			if (!p) {
				t_fail(__FILE__, __LINE__, false, "kmalloc(%zu): %s", n,
				       strerror(errno));
				break;
			}
			memset(p, 0xff, hm_ksize(p));
			hm_kfree(p);
			z = hm_kzalloc(n);
			if (!z) {
				t_fail(__FILE__, __LINE__, false, "kzalloc(%zu): %s", n,
				       strerror(errno));
				break;
			}
			CHECK_GE(hm_ksize(z), n);
			for (size_t b = 0; b < n; b++)
				dirty += z[b] != 0;
			hm_kfree(z);
		}
	}
	CHECK_EQ(dirty, 0);
	CHECK_NULL_ERRNO(hm_kzalloc(0), EINVAL);
	hm_cleanup();
}

static void test_krealloc(void)
{
	uint8_t *p, *q;
	size_t n;

	make_classes();
	start();
	/* NULL: a new block. */
	p = hm_krealloc(NULL, 100);
	REQUIRE_NOT_NULL(p);
	CHECK_EQ(hm_ksize(p), 112);
	seq_fill(p, 100);
	/* The class still fits: the same block. */
	q = hm_krealloc(p, 112);
	CHECK_PTR_EQ(q, p);
	CHECK(seq_kept(q, 100));
	q = hm_krealloc(p, 97);
	CHECK_PTR_EQ(q, p);
	CHECK(seq_kept(q, 97));
	CHECK_EQ(hm_ksize(q), 112);
	/* It does not: moved, the contents kept. */
	seq_fill(p, 112);
	q = hm_krealloc(p, 113);
	REQUIRE_NOT_NULL(q);
	CHECK(q != p);
	CHECK_EQ(hm_ksize(q), 128);
	CHECK(seq_kept(q, 112));
	p = q;
	/* Up through the classes, into the heap and down again. */
	n = 112;
	{
		static const size_t steps[] = {5000,  131072, 131073, 1 * MIB, 2 * MIB + 5,
					       70000, 3000,   64,     8,       1};

		for (unsigned i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
			size_t m = steps[i], keep = m < n ? m : n, want = class_of(m);

			q = hm_krealloc(p, m);
			if (!q) {
				/* p is untouched: go on with it. */
				t_fail(__FILE__, __LINE__, false, "krealloc(%p, %zu): %s",
				       (void *)p, m, strerror(errno));
				CHECK(seq_kept(p, n));
				continue;
			}
			CHECK(seq_kept(q, keep));
			if (want)
				CHECK_EQ(hm_ksize(q), want);
			else
				CHECK_GE(hm_ksize(q), m);
			seq_fill(q, m);
			p = q;
			n = m;
		}
	}
	hm_kfree(p);
	/* A failure leaves the block as it was. */
	p = hm_kmalloc(1000);
	REQUIRE_NOT_NULL(p);
	seq_fill(p, 1000);
	quiet();
	CHECK_NULL_ERRNO(hm_krealloc(p, (size_t)1 << 40), ENOMEM);
	loud();
	CHECK_EQ(hm_ksize(p), 1024);
	CHECK(seq_kept(p, 1000));
	q = hm_krealloc(p, 2000);
	REQUIRE_NOT_NULL(q);
	CHECK(seq_kept(q, 1000));
	hm_kfree(q);
	/* From the heap too. */
	p = hm_kmalloc(300000);
	REQUIRE_NOT_NULL(p);
	seq_fill(p, 300000);
	quiet();
	CHECK_NULL_ERRNO(hm_krealloc(p, (size_t)1 << 40), ENOMEM);
	loud();
	CHECK(seq_kept(p, 300000));
	hm_kfree(p);
	hm_cleanup();
}

/* --- errors --- */

static void test_errors(void)
{
	uint64_t stack[8] = {0};
	char *libc = calloc(1, 256);
	struct hm_slab_cache *k64;
	void *p;

	REQUIRE_NOT_NULL(libc);
	start();
	CHECK_NULL_ERRNO(hm_kmalloc(0), EINVAL);
	quiet();
	CHECK_NULL_ERRNO(hm_kmalloc((size_t)1 << 40), ENOMEM);
	CHECK_NULL_ERRNO(hm_kmalloc(SIZE_MAX), ENOMEM);
	loud();
	/* NULL does nothing, quietly. */
	quiet();
	hm_kfree(NULL);
	CHECK_EQ(t_log_lines(), 0);
	CHECK_EQ(hm_ksize(NULL), 0);
	/* Pointers from elsewhere: refused and logged; no size. */
	hm_kfree(libc);
	CHECK_EQ(t_log_lines(), 1);
	t_log_lines_reset();
	hm_kfree(stack);
	CHECK_EQ(t_log_lines(), 1);
	loud();
	CHECK_EQ(hm_ksize(libc), 0);
	CHECK_EQ(hm_ksize(stack), 0);
	CHECK_EQ(stack[0], 0);
	p = hm_kmalloc(64);
	REQUIRE_NOT_NULL(p);
	k64 = hm_slab_lookup("kmalloc-64");
	REQUIRE_NOT_NULL(k64);
#if HM_DEBUG >= 1
	/* Debug builds: every general cache checks, too. */
	quiet();
	hm_kfree((char *)p + 8);
	CHECK_EQ(t_log_lines(), 1);
	CHECK_EQ(stats(k64).active_objs, 1);
	hm_kfree(p);
	t_log_lines_reset();
	hm_kfree(p);
	CHECK_EQ(t_log_lines(), 1);
	CHECK_EQ(stats(k64).active_objs, 0);
	CHECK_GE(stats(k64).errors, 2);
	loud();
#else
	hm_kfree(p);
	CHECK_EQ(stats(k64).active_objs, 0);
#endif
	CHECK_EQ(hm_slab_audit(k64), 0);
	/* Still fine after all that. */
	p = hm_kmalloc(64);
	REQUIRE_NOT_NULL(p);
	CHECK_EQ(hm_ksize(p), 64);
	hm_kfree(p);
	/* A general cache is not the caller's to destroy, nor is its name. */
	quiet();
	CHECK_EQ(hm_slab_destroy(k64), -EINVAL);
	loud();
	CHECK_NULL_ERRNO(hm_slab_create("kmalloc-64", 64, 0, 0, NULL, NULL, NULL), EEXIST);
	hm_cleanup();
	free(libc);
}

/* --- walk, slabinfo, statistics --- */

struct walk_arg {
	unsigned general; /* caches named kmalloc-<class> */
	unsigned others;
	unsigned bad; /* a kmalloc- cache whose object size is not its name's */
};

static void walk_cb(struct hm_slab_cache *c, void *arg)
{
	struct walk_arg *w = arg;
	struct hm_slab_stats st;
	unsigned long sz;
	char *end;

	if (hm_slab_get_stats(c, &st) != 0) {
		w->bad++;
		return;
	}
	if (strncmp(st.name, "kmalloc-", 8) != 0) {
		w->others++;
		return;
	}
	sz = strtoul(st.name + 8, &end, 10);
	if (*end || sz != st.obj_size || class_of(sz) != sz)
		w->bad++;
	w->general++;
}

static void test_walk_and_info(void)
{
	static const size_t sizes[] = {16, 24, 100, 1000, 5000, 131072};
	void *p[6][5];
	struct walk_arg w = {0};
	char *buf = NULL;
	size_t len = 0;
	FILE *f;

	make_classes();
	start();
	REQUIRE_NOT_NULL(hm_slab_create("mine", 64, 0, 0, NULL, NULL, NULL));
	for (unsigned i = 0; i < 6; i++)
		for (unsigned k = 0; k < 5; k++)
			REQUIRE_NOT_NULL(p[i][k] = hm_kmalloc(sizes[i]));
	hm_slab_walk(walk_cb, &w);
	CHECK_EQ(w.general, 6);
	CHECK_EQ(w.others, 1);
	CHECK_EQ(w.bad, 0);
	for (unsigned i = 0; i < 6; i++) {
		struct hm_slab_cache *c = cache_of_class(class_of(sizes[i]));

		REQUIRE_NOT_NULL(c);
		CHECK_EQ(stats(c).active_objs, 5);
		CHECK_EQ(stats(c).allocs, 5);
		CHECK_GE(stats(c).total_objs, 5);
	}
	f = open_memstream(&buf, &len);
	REQUIRE_NOT_NULL(f);
	hm_slabinfo(f);
	REQUIRE_EQ(fclose(f), 0);
	REQUIRE_NOT_NULL(buf);
	for (unsigned i = 0; i < 6; i++) {
		char name[32];
		const char *row;

		snprintf(name, sizeof(name), "\nkmalloc-%zu ", class_of(sizes[i]));
		row = strstr(buf, name);
		if (!row) {
			/* Columns may be separated by tabs. */
			name[strlen(name) - 1] = '\t';
			row = strstr(buf, name);
		}
		if (!row)
			t_fail(__FILE__, __LINE__, false, "no row%s in slabinfo:\n%s", name, buf);
		else
			CHECK_EQ(strtoull(row + strlen(name), NULL, 10), 5); /* active objects */
	}
	CHECK(strstr(buf, "\nmine") != NULL);
	free(buf);
	for (unsigned i = 0; i < 6; i++)
		for (unsigned k = 0; k < 5; k++)
			hm_kfree(p[i][k]);
	for (unsigned i = 0; i < 6; i++)
		CHECK_EQ(stats(cache_of_class(class_of(sizes[i]))).active_objs, 0);
	hm_cleanup();
}

/* --- running out --- */

static void test_no_memory(void)
{
	enum { MAX = 4096 };
	void **p = calloc(MAX, sizeof(void *));
	unsigned n = 0;
	int e = 0;

	REQUIRE_NOT_NULL(p);
	start_with(64 * MIB);
	quiet();
	while (n < MAX) {
		errno = 0;
		p[n] = hm_kmalloc(n % 2 ? 64 * KIB : 100 * KIB);
		if (!p[n]) {
			e = errno;
			break;
		}
		n++;
	}
	loud();
	CHECK_EQ(e, ENOMEM);
	CHECK_GT(n, 100);
	CHECK_LT(n, MAX);
	for (unsigned i = 0; i < n; i++)
		hm_kfree(p[i]);
	/* Shrunk, the general caches give their memory back to the heap. */
	CHECK_EQ(hm_thread_unregister(), 0);
	hm_slab_shrink(hm_slab_lookup("kmalloc-65536"));
	hm_slab_shrink(hm_slab_lookup("kmalloc-114688"));
	{
		void *big = hm_kmalloc(24 * MIB);

		CHECK(big != NULL);
		hm_kfree(big);
	}
	hm_cleanup();
	free(p);
}

int main(int argc, char **argv)
{
	t_init(argc, argv);
	T_RUN(test_class_table);
	T_RUN(test_classes);
	T_RUN(test_random_sizes);
	T_RUN(test_kzalloc);
	T_RUN(test_krealloc);
	T_RUN(test_errors);
	T_RUN(test_walk_and_info);
	T_RUN(test_no_memory);
	return t_done();
}
