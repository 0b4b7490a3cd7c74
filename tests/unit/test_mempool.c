/* SPDX-License-Identifier: MIT */
/*
 * test_mempool.c - object pools (hugemem/mempool.h) in one thread, on 4 KiB
 * pages: DPDK's mempool_autotest checklist in our own words, and every errno.
 *
 *   - create and create_empty: every EINVAL (n 0 or too large, elt_size 0 or
 *     too large, priv_size too large, cache_size above HM_MEMPOOL_CACHE_MAX or
 *     above n, unknown flags, NULL or empty name), ENAMETOOLONG at
 *     HM_MEMPOOL_NAME_MAX, EEXIST, ENODEV, ENOMEM (also for a cache), ENXIO
 *     before hm_init; lookup (ENOENT, EINVAL, a zone that only looks like a pool);
 *   - fill and drain: every object one by one and in random bulks, an extra get
 *     that fails with -ENOENT and takes nothing, avail/in_use at every step,
 *     all objects distinct and the pool's, for many shapes and every backend;
 *   - contents kept across put and get; obj_init once per object with its
 *     index; obj_iter and mem_iter; IOVAs (and HM_BAD_IOVA with
 *     HM_MEMPOOL_F_NO_IOVA); hm_mempool_from_obj; cache-line alignment, and
 *     8-byte packing with HM_MEMPOOL_F_NO_CACHE_ALIGN; the private area;
 *   - backends: SP_PUT/SC_GET combinations, the stack (LIFO) and the ring
 *     (FIFO), hm_mempool_set_ops_byname on empty pools of either kind with
 *     every name, -EINVAL and -EBUSY;
 *   - create_empty + populate on the caller's memory (a zone, libc memory:
 *     IOVA, then HM_BAD_IOVA; two chunks; the memory is the caller's again
 *     after destroy), populate's errors, populate_default short of memory
 *     (-ENOMEM, the pool keeps nothing of that call, also after an earlier
 *     populate);
 *   - caches: cache_size 0 and n, a get larger than the cache, a get that
 *     needs the cache and the backend together, user-owned caches;
 *   - misuse in checked pools: put of NULL, of libc memory, of another pool's
 *     object, of an interior pointer, double puts (refused, logged once,
 *     counted, the pool consistent and no object handed out twice), an
 *     overrun of an object's end (debug builds: reported by audit and at put);
 *   - destroy: -EBUSY with objects out (also in a user cache) and the pool
 *     fully usable after, destroy_force, -EINVAL for NULL, foreign and
 *     destroyed pointers, the name free again, the memory given back;
 *   - walk (pools only), dump, audit, and the statistics against what the
 *     test did.
 */
#include "harness.h"
#include "internal.h"
#include "mempool/pool.h"
#include <hugemem.h>

#include <stdlib.h>

#define MIB ((size_t)1 << 20)
#define KIB ((size_t)1 << 10)

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

/* Expected error lines go to the counting sink. */
static void quiet(void)
{
	hm_log_set_sink(t_count_sink, NULL);
	t_log_lines_reset();
}

static void loud(void)
{
	hm_log_set_sink(NULL, NULL);
}

static struct hm_mempool_stats stats(const struct hm_mempool *mp)
{
	struct hm_mempool_stats st;

	memset(&st, 0xee, sizeof(st));
	REQUIRE_EQ(hm_mempool_get_stats(mp, &st), 0);
	CHECK_EQ(st.size, sizeof(st));
	CHECK_EQ(st.version, 1);
	return st;
}

static size_t live_blocks(void)
{
	struct hm_malloc_stats st;

	REQUIRE_EQ(hm_malloc_get_stats(HM_SOCKET_ANY, &st), 0);
	return st.live_blocks;
}

static int cmp_ptr(const void *a, const void *b)
{
	void *const *pa = a, *const *pb = b;
	uintptr_t x = (uintptr_t)pa[0], y = (uintptr_t)pb[0];

	return x < y ? -1 : x > y;
}

/* Whether the n pointers are all different (and none NULL). */
static bool all_distinct(void *const *objs, unsigned n)
{
	void **s = malloc((n ? n : 1) * sizeof(void *));
	bool ok = true;

	REQUIRE_NOT_NULL(s);
	memcpy(s, objs, n * sizeof(void *));
	qsort(s, n, sizeof(void *), cmp_ptr);
	for (unsigned i = 0; i < n && ok; i++)
		ok = s[i] != NULL && (i == 0 || s[i] != s[i - 1]);
	free(s);
	return ok;
}

/* The pool's objects by index, from hm_mempool_obj_iter. */
struct objs {
	void **at; /* at[idx] */
	void **sorted;
	unsigned n; /* objects visited */
	unsigned max;
	unsigned bad; /* visits with an index out of range or seen before */
};

static void collect_cb(struct hm_mempool *mp, void *arg, void *obj, unsigned idx)
{
	struct objs *o = arg;

	(void)mp;
	if (idx >= o->max || o->at[idx]) {
		o->bad++;
		return;
	}
	o->at[idx] = obj;
	o->n++;
}

static struct objs collect(struct hm_mempool *mp, unsigned max)
{
	struct objs o = {.max = max};

	o.at = calloc(max, sizeof(void *));
	o.sorted = calloc(max, sizeof(void *));
	REQUIRE_NOT_NULL(o.at);
	REQUIRE_NOT_NULL(o.sorted);
	CHECK_EQ(hm_mempool_obj_iter(mp, collect_cb, &o), o.n);
	CHECK_EQ(o.bad, 0);
	memcpy(o.sorted, o.at, max * sizeof(void *));
	qsort(o.sorted, o.n, sizeof(void *), cmp_ptr);
	return o;
}

static bool is_obj(const struct objs *o, void *p)
{
	return bsearch(&p, o->sorted, o->n, sizeof(void *), cmp_ptr) != NULL;
}

static void objs_free(struct objs *o)
{
	free(o->at);
	free(o->sorted);
}

static void counts_are(struct hm_mempool *mp, unsigned avail, unsigned in_use, int line)
{
	unsigned a = hm_mempool_avail_count(mp), u = hm_mempool_in_use_count(mp);

	if (a != avail || u != in_use)
		t_fail(__FILE__, line, false, "avail %u in_use %u, want %u and %u", a, u, avail,
		       in_use);
}
#define COUNTS(mp, avail, in_use) counts_are(mp, avail, in_use, __LINE__)

/*
 * Take every object of mp (n, all free), one by one and then in random bulks,
 * checking the counts at each step, that a get past the end fails with
 * -ENOENT and takes nothing, and that every object is distinct and the pool's;
 * put them all back.
 */
static void fill_drain(struct hm_mempool *mp, unsigned n)
{
	void **objs = calloc(n + 1, sizeof(void *));
	struct objs all = collect(mp, n);
	unsigned got = 0, bad = 0;
	void *one = NULL;

	REQUIRE_NOT_NULL(objs);
	CHECK_EQ(all.n, n);
	COUNTS(mp, n, 0);
	for (got = 0; got < n; got++) {
		if (hm_mempool_get(mp, &objs[got]) != 0)
			break;
		if (hm_mempool_from_obj(objs[got]) != mp || !is_obj(&all, objs[got]))
			bad++;
		if (hm_mempool_avail_count(mp) != n - got - 1)
			COUNTS(mp, n - got - 1, got + 1);
	}
	CHECK_EQ(got, n);
	CHECK_EQ(bad, 0);
	CHECK_EQ(hm_mempool_get(mp, &one), -ENOENT);
	CHECK_EQ(hm_mempool_get_bulk(mp, objs + got, 1), -ENOENT);
	COUNTS(mp, 0, n);
	CHECK(all_distinct(objs, got));
	/* Back one by one. */
	for (unsigned i = 0; i < got; i++) {
		hm_mempool_put(mp, objs[i]);
		if (hm_mempool_avail_count(mp) != n - got + i + 1)
			COUNTS(mp, n - got + i + 1, got - i - 1);
	}
	COUNTS(mp, n, 0);
	CHECK_EQ(hm_mempool_audit(mp), 0);

	/* In random bulks until one fails; it takes nothing; then the rest exactly. */
	got = 0;
	for (;;) {
		unsigned k = 1 + (unsigned)t_rand_below(t_rand_below(4) ? 40 : 300);
		unsigned before = hm_mempool_avail_count(mp);

		if (k > n - got)
			k = n - got + (unsigned)t_rand_below(3);
		if (k == 0)
			break;
		if (k > n - got) {
			CHECK_EQ(hm_mempool_get_bulk(mp, objs + got, k), -ENOENT);
			COUNTS(mp, before, got);
			continue;
		}
		if (hm_mempool_get_bulk(mp, objs + got, k) != 0) {
			t_fail(__FILE__, __LINE__, false,
			       "get_bulk of %u refused with %u free (%u out)", k, before, got);
			COUNTS(mp, before, got);
			break;
		}
		got += k;
		COUNTS(mp, n - got, got);
	}
	CHECK_EQ(got, n);
	CHECK(all_distinct(objs, got));
	for (unsigned i = 0; i < got; i++)
		if (hm_mempool_from_obj(objs[i]) != mp || !is_obj(&all, objs[i]))
			bad++;
	CHECK_EQ(bad, 0);
	/* Back in random bulks. */
	for (unsigned i = 0; i < got;) {
		unsigned k = 1 + (unsigned)t_rand_below(64);

		if (k > got - i)
			k = got - i;
		hm_mempool_put_bulk(mp, objs + i, k);
		i += k;
		COUNTS(mp, n - got + i, got - i);
	}
	CHECK_EQ(hm_mempool_audit(mp), 0);
	objs_free(&all);
	free(objs);
}

/* --- before hm_init, and every argument error --- */

static void test_before_init(void)
{
	void *obj = NULL;

	CHECK(!hm_initialized());
	CHECK_NULL_ERRNO(hm_mempool_create("x", 10, 64, 0, 0, NULL, NULL, HM_SOCKET_ANY, 0), ENXIO);
	CHECK_NULL_ERRNO(hm_mempool_create_empty("x", 10, 64, 0, 0, HM_SOCKET_ANY, 0), ENXIO);
	CHECK_NULL_ERRNO(hm_mempool_lookup("x"), ENXIO);
	CHECK_NULL_ERRNO(hm_mempool_cache_create(8, HM_SOCKET_ANY), ENXIO);
	CHECK_EQ(hm_mempool_destroy(NULL), -ENXIO);
	CHECK_EQ(hm_mempool_destroy_force(NULL), -ENXIO);
	CHECK_EQ(hm_mempool_destroy((struct hm_mempool *)&obj), -ENXIO);
	CHECK_EQ(hm_mempool_populate_default(NULL), -EINVAL);
	CHECK_EQ(hm_mempool_populate(NULL, &obj, sizeof(obj)), -EINVAL);
	CHECK_EQ(hm_mempool_set_ops_byname(NULL, "stack"), -EINVAL);
	CHECK_EQ(hm_mempool_avail_count(NULL), 0);
	CHECK_EQ(hm_mempool_in_use_count(NULL), 0);
	CHECK_NULL(hm_mempool_get_priv(NULL));
	CHECK_EQ(hm_mempool_audit(NULL), -EINVAL);
	hm_mempool_walk(NULL, NULL);
	/* And nothing was left behind for the next init. */
	start();
	CHECK_EQ(hm_memzone_count(), 0);
	hm_cleanup();
}

typedef struct hm_mempool *create_fn(const char *name, unsigned n, size_t elt_size,
				     unsigned cache_size, unsigned flags, int socket);

static struct hm_mempool *create_full(const char *name, unsigned n, size_t elt_size,
				      unsigned cache_size, unsigned flags, int socket)
{
	return hm_mempool_create(name, n, elt_size, cache_size, 0, NULL, NULL, socket, flags);
}

static struct hm_mempool *create_empty(const char *name, unsigned n, size_t elt_size,
				       unsigned cache_size, unsigned flags, int socket)
{
	return hm_mempool_create_empty(name, n, elt_size, cache_size, 0, socket, flags);
}

static void bad_args(create_fn *create)
{
	char name[HM_MEMPOOL_NAME_MAX + 8];
	struct hm_mempool *mp;

	CHECK_NULL_ERRNO(create("e", 0, 64, 0, 0, -1), EINVAL);
	CHECK_NULL_ERRNO(create("e", HM_MEMPOOL_N_MAX + 1, 64, 0, 0, -1), EINVAL);
	CHECK_NULL_ERRNO(create("e", UINT32_MAX, 64, 0, 0, -1), EINVAL);
	CHECK_NULL_ERRNO(create("e", 10, 0, 0, 0, -1), EINVAL);
	CHECK_NULL_ERRNO(create("e", 10, SIZE_MAX, 0, 0, -1), EINVAL);
	CHECK_NULL_ERRNO(create("e", 10, (size_t)1 << 31, 0, 0, -1), EINVAL);
	CHECK_NULL_ERRNO(create("e", 4096, 64, HM_MEMPOOL_CACHE_MAX + 1, 0, -1), EINVAL);
	CHECK_NULL_ERRNO(create("e", 4096, 64, UINT32_MAX, 0, -1), EINVAL);
	CHECK_NULL_ERRNO(create("e", 10, 64, 11, 0, -1), EINVAL);
	CHECK_NULL_ERRNO(create("e", 1, 64, 2, 0, -1), EINVAL);
	CHECK_NULL_ERRNO(create("e", 10, 64, 0, 0x80, -1), EINVAL);
	CHECK_NULL_ERRNO(create("e", 10, 64, 0, 0x10000, -1), EINVAL);
	CHECK_NULL_ERRNO(create("e", 10, 64, 0, HM__MEMPOOL_SLOW, -1), EINVAL);
	CHECK_NULL_ERRNO(create(NULL, 10, 64, 0, 0, -1), EINVAL);
	CHECK_NULL_ERRNO(create("", 10, 64, 0, 0, -1), EINVAL);
	CHECK_NULL_ERRNO(create("e", 10, 64, 0, 0, 4096), ENODEV);
	CHECK_NULL_ERRNO(create("e", 10, 64, 0, 0, -2), ENODEV);
	CHECK_NULL_ERRNO(create("e", 10, 64, 0, 0, INT32_MAX), ENODEV);
	/* The longest name fits; one more byte does not. */
	memset(name, 'p', sizeof(name));
	name[HM_MEMPOOL_NAME_MAX - 1] = '\0';
	mp = create(name, 10, 64, 0, 0, -1);
	REQUIRE_NOT_NULL(mp);
	CHECK_STR_EQ(mp->name, name);
	CHECK_PTR_EQ(hm_mempool_lookup(name), mp);
	CHECK_NULL_ERRNO(create(name, 10, 64, 0, 0, -1), EEXIST);
	CHECK_NULL_ERRNO(create(name, 20, 128, 4, HM_MEMPOOL_F_STACK, -1), EEXIST);
	CHECK_EQ(hm_mempool_destroy(mp), 0);
	name[HM_MEMPOOL_NAME_MAX - 1] = 'p';
	name[HM_MEMPOOL_NAME_MAX] = '\0';
	CHECK_NULL_ERRNO(create(name, 10, 64, 0, 0, -1), ENAMETOOLONG);
	name[HM_MEMPOOL_NAME_MAX + 4] = '\0';
	CHECK_NULL_ERRNO(create(name, 10, 64, 0, 0, -1), ENAMETOOLONG);
	/* Boundaries that are fine: cache_size n and HM_MEMPOOL_CACHE_MAX, one object, a socket. */
	mp = create("edge1", 1, 1, 1, 0, 0);
	REQUIRE_NOT_NULL(mp);
	CHECK_EQ(hm_mempool_destroy(mp), 0);
	mp = create("edge2", HM_MEMPOOL_CACHE_MAX, 8, HM_MEMPOOL_CACHE_MAX,
		    HM_MEMPOOL_F_SP_PUT | HM_MEMPOOL_F_SC_GET | HM_MEMPOOL_F_NO_CACHE_ALIGN |
			    HM_MEMPOOL_F_IOVA_CONTIG | HM_MEMPOOL_F_NO_IOVA | HM_MEMPOOL_F_STACK |
			    HM_MEMPOOL_F_CHECKED,
		    HM_SOCKET_ANY);
	REQUIRE_NOT_NULL(mp);
	CHECK_EQ(hm_mempool_destroy(mp), 0);
	/* No failure left a zone or a name behind. */
	CHECK_EQ(hm_memzone_count(), 0);
	CHECK_NULL_ERRNO(hm_mempool_lookup("e"), ENOENT);
}

static void test_bad_args(void)
{
	start();
	quiet();
	bad_args(create_full);
	bad_args(create_empty);
	CHECK_NULL_ERRNO(
		hm_mempool_create("e", 10, 64, 0, (size_t)1 << 32, NULL, NULL, HM_SOCKET_ANY, 0),
		EINVAL);
	CHECK_NULL_ERRNO(hm_mempool_create_empty("e", 10, 64, 0, SIZE_MAX, HM_SOCKET_ANY, 0),
			 EINVAL);
	CHECK_EQ(hm_memzone_count(), 0);
	loud();
	hm_cleanup();
}

static void test_lookup(void)
{
	struct hm_mempool *a, *b;
	const struct hm_memzone *mz;
	char name[HM_MEMPOOL_NAME_MAX + 1];

	start();
	a = hm_mempool_create("look-a", 16, 64, 0, 0, NULL, NULL, HM_SOCKET_ANY, 0);
	b = hm_mempool_create("look-b", 16, 64, 0, 0, NULL, NULL, HM_SOCKET_ANY, 0);
	REQUIRE_NOT_NULL(a);
	REQUIRE_NOT_NULL(b);
	CHECK(a != b);
	CHECK_PTR_EQ(hm_mempool_lookup("look-a"), a);
	CHECK_PTR_EQ(hm_mempool_lookup("look-b"), b);
	CHECK_STR_EQ(a->name, "look-a");
	CHECK_NULL_ERRNO(hm_mempool_lookup("look-c"), ENOENT);
	CHECK_NULL_ERRNO(hm_mempool_lookup("look"), ENOENT);
	CHECK_NULL_ERRNO(hm_mempool_lookup("Look-a"), ENOENT);
	CHECK_NULL_ERRNO(hm_mempool_lookup(NULL), EINVAL);
	CHECK_NULL_ERRNO(hm_mempool_lookup(""), EINVAL);
	memset(name, 'l', sizeof(name));
	name[HM_MEMPOOL_NAME_MAX] = '\0';
	CHECK_NULL_ERRNO(hm_mempool_lookup(name), ENOENT);
	/* The pool's zone is not a pool's name, and a zone named like a pool's is not a pool. */
	CHECK_NULL_ERRNO(hm_mempool_lookup("MP_look-a"), ENOENT);
	mz = hm_memzone_reserve("MP_fake", 4096, HM_SOCKET_ANY, 0, 0, 0);
	REQUIRE_NOT_NULL(mz);
	memset(mz->addr, 0, mz->len);
	CHECK_NULL_ERRNO(hm_mempool_lookup("fake"), ENOENT);
	CHECK_NULL_ERRNO(hm_mempool_create("fake", 16, 64, 0, 0, NULL, NULL, HM_SOCKET_ANY, 0),
			 EEXIST);
	CHECK_EQ(hm_mempool_audit((struct hm_mempool *)mz->addr), -EINVAL);
	/* Rings have names of their own. */
	REQUIRE_NOT_NULL(hm_ring_create("look-a", 64, HM_SOCKET_ANY, 0));
	CHECK_PTR_EQ(hm_mempool_lookup("look-a"), a);
	CHECK_EQ(hm_mempool_destroy(a), 0);
	CHECK_NULL_ERRNO(hm_mempool_lookup("look-a"), ENOENT);
	CHECK_PTR_EQ(hm_mempool_lookup("look-b"), b);
	CHECK_EQ(hm_mempool_destroy(b), 0);
	CHECK_EQ(hm_memzone_free(mz), 0);
	hm_cleanup();
}

/* --- fill and drain, many shapes --- */

struct shape {
	unsigned n;
	size_t elt_size;
	unsigned cache_size;
	unsigned flags;
};

static const struct shape shapes[] = {
	{1, 8, 0, 0},
	{1, 8, 1, 0},
	{2, 1, 1, HM_MEMPOOL_F_STACK},
	{1000, 64, 0, 0},
	{1000, 64, 32, 0},
	{777, 100, 32, 0},
	{256, 8, 256, 0},
	{300, 24, 300, HM_MEMPOOL_F_STACK},
	{1000, 64, 32, HM_MEMPOOL_F_STACK},
	{1000, 64, 0, HM_MEMPOOL_F_STACK},
	{513, 1, 16, HM_MEMPOOL_F_SP_PUT | HM_MEMPOOL_F_SC_GET},
	{513, 3, 16, HM_MEMPOOL_F_SP_PUT},
	{513, 5, 16, HM_MEMPOOL_F_SC_GET},
	{500, 4000, 64, HM_MEMPOOL_F_NO_CACHE_ALIGN},
	{4096, 13, 512, HM_MEMPOOL_F_NO_CACHE_ALIGN | HM_MEMPOOL_F_NO_IOVA},
	{2000, 200, 100, HM_MEMPOOL_F_IOVA_CONTIG},
	{1000, 64, 32, HM_MEMPOOL_F_CHECKED},
	{20000, 32, 250, 0},
	{3, 100 * KIB, 2, 0},
};

static void test_fill_drain(void)
{
	start();
	for (size_t i = 0; i < sizeof(shapes) / sizeof(shapes[0]); i++) {
		const struct shape *s = &shapes[i];
		struct hm_mempool *mp;
		char name[32];

		snprintf(name, sizeof(name), "fd%zu", i);
		mp = hm_mempool_create(name, s->n, s->elt_size, s->cache_size, 0, NULL, NULL,
				       HM_SOCKET_ANY, s->flags);
		if (!mp)
			t_fail(__FILE__, __LINE__, true,
			       "create %s (n %u elt %zu cache %u flags %#x): %s", name, s->n,
			       s->elt_size, s->cache_size, s->flags, strerror(errno));
		CHECK_EQ(mp->size, s->n);
		CHECK_EQ(mp->elt_size, s->elt_size);
		CHECK_EQ(mp->cache_size, s->cache_size);
		fill_drain(mp, s->n);
		fill_drain(mp, s->n);
		CHECK_EQ(hm_mempool_destroy(mp), 0);
	}
	CHECK_EQ(hm_memzone_count(), 0);
	hm_cleanup();
}

/* --- contents, obj_init, iterators, IOVAs, alignment --- */

struct init_arg {
	unsigned calls;
	unsigned *seen; /* calls per index */
	unsigned n;
	unsigned bad;
	size_t elt_size;
	struct hm_mempool *mp; /* NULL while the pool is being created */
};

static void init_cb(struct hm_mempool *mp, void *arg, void *obj, unsigned idx)
{
	struct init_arg *a = arg;

	if (a->mp && mp != a->mp)
		a->bad++;
	if (hm_mempool_from_obj(obj) != mp)
		a->bad++;
	a->calls++;
	if (idx < a->n)
		a->seen[idx]++;
	else
		a->bad++;
	memset(obj, (int)(idx & 0xff), a->elt_size);
	memcpy(obj, &idx, sizeof(idx) < a->elt_size ? sizeof(idx) : a->elt_size);
}

static bool holds_init(const void *obj, unsigned idx, size_t elt_size)
{
	const unsigned char *p = obj;
	unsigned v = 0;

	if (elt_size >= sizeof(idx)) {
		memcpy(&v, obj, sizeof(v));
		if (v != idx)
			return false;
	}
	for (size_t i = elt_size >= sizeof(idx) ? sizeof(idx) : 0; i < elt_size; i++)
		if (p[i] != (idx & 0xff))
			return false;
	return true;
}

static void test_obj_init(void)
{
	enum { N = 500, ELT = 72 };
	struct init_arg a = {.n = N, .elt_size = ELT};
	struct hm_mempool *mp;
	struct objs all;
	void *objs[N];
	unsigned bad = 0;

	start();
	a.seen = calloc(N, sizeof(unsigned));
	REQUIRE_NOT_NULL(a.seen);
	mp = hm_mempool_create("init", N, ELT, 16, 0, init_cb, &a, HM_SOCKET_ANY, 0);
	REQUIRE_NOT_NULL(mp);
	CHECK_EQ(a.calls, N);
	CHECK_EQ(a.bad, 0);
	for (unsigned i = 0; i < N; i++)
		if (a.seen[i] != 1)
			bad++;
	CHECK_EQ(bad, 0);
	/* Each object got its index, and keeps what obj_init wrote across gets and puts. */
	all = collect(mp, N);
	CHECK_EQ(all.n, N);
	for (unsigned round = 0; round < 3; round++) {
		REQUIRE_EQ(hm_mempool_get_bulk(mp, objs, N), 0);
		for (unsigned i = 0; i < N; i++) {
			unsigned idx = ((struct hm_mempool_objhdr *)objs[i] - 1)->idx;

			if (idx >= N || all.at[idx] != objs[i] || !holds_init(objs[i], idx, ELT))
				bad++;
		}
		CHECK_EQ(bad, 0);
		for (unsigned i = 0; i < N; i += 50)
			hm_mempool_put_bulk(mp, objs + i, 50);
	}
	/* obj_iter reaches free and used objects alike, and may write them; the
	 * used ones stay their user's after it. */
	REQUIRE_EQ(hm_mempool_get_bulk(mp, objs, 7), 0);
	memset(a.seen, 0, N * sizeof(unsigned));
	a.calls = 0;
	a.mp = mp;
	CHECK_EQ(hm_mempool_obj_iter(mp, init_cb, &a), N);
	CHECK_EQ(a.calls, N);
	CHECK_EQ(a.bad, 0);
	for (unsigned i = 0; i < N; i++)
		if (a.seen[i] != 1)
			bad++;
	CHECK_EQ(bad, 0);
	for (unsigned i = 0; i < 7; i++) {
		unsigned idx = ((struct hm_mempool_objhdr *)objs[i] - 1)->idx;

		if (!holds_init(objs[i], idx, ELT))
			bad++;
		memset(objs[i], 0, ELT);
		init_cb(mp, &a, objs[i], idx);
	}
	CHECK_EQ(bad, 0);
	hm_mempool_put_bulk(mp, objs, 7);
	COUNTS(mp, N, 0);
	CHECK_EQ(hm_mempool_obj_iter(mp, NULL, NULL), 0);
	CHECK_EQ(hm_mempool_obj_iter(NULL, init_cb, &a), 0);
	CHECK_EQ(hm_mempool_audit(mp), 0);
	objs_free(&all);
	free(a.seen);
	CHECK_EQ(hm_mempool_destroy(mp), 0);
	hm_cleanup();
}

/* Every object stamped with its own pattern keeps it while it is in the pool. */
static void test_contents(void)
{
	enum { N = 300 };
	static const unsigned caches[] = {0, 8, 300};
	void *objs[N];

	start();
	for (unsigned c = 0; c < 3; c++) {
		for (unsigned stack = 0; stack < 2; stack++) {
			struct hm_mempool *mp =
				hm_mempool_create("contents", N, 256, caches[c], 0, NULL, NULL,
						  HM_SOCKET_ANY, stack ? HM_MEMPOOL_F_STACK : 0);
			unsigned bad = 0;

			REQUIRE_NOT_NULL(mp);
			REQUIRE_EQ(hm_mempool_get_bulk(mp, objs, N), 0);
			for (unsigned i = 0; i < N; i++)
				memset(objs[i], (int)(((uintptr_t)objs[i] >> 6) & 0xff), 256);
			/* Back in a shuffled order, through the cache and the backend. */
			for (unsigned i = N - 1; i > 0; i--) {
				unsigned j = (unsigned)t_rand_below(i + 1);
				void *t = objs[i];

				objs[i] = objs[j];
				objs[j] = t;
			}
			for (unsigned i = 0; i < N; i++)
				hm_mempool_put(mp, objs[i]);
			for (unsigned i = 0; i < N; i++) {
				const unsigned char *p;

				REQUIRE_EQ(hm_mempool_get(mp, &objs[i]), 0);
				p = objs[i];
				for (unsigned k = 0; k < 256; k++)
					if (p[k] != (unsigned char)((uintptr_t)objs[i] >> 6))
						bad++;
			}
			CHECK_EQ(bad, 0);
			CHECK(all_distinct(objs, N));
			hm_mempool_put_bulk(mp, objs, N);
			CHECK_EQ(hm_mempool_destroy(mp), 0);
		}
	}
	hm_cleanup();
}

struct mem_arg {
	unsigned calls;
	unsigned bad;
	struct {
		char *addr;
		size_t len;
		uint64_t iova;
	} chunk[POOL_CHUNKS_MAX];
};

static void mem_cb(struct hm_mempool *mp, void *arg, void *addr, uint64_t iova, size_t len,
		   unsigned idx)
{
	struct mem_arg *m = arg;

	(void)mp;
	if (idx != m->calls || idx >= POOL_CHUNKS_MAX || !addr || !len) {
		m->bad++;
		return;
	}
	m->chunk[idx].addr = addr;
	m->chunk[idx].len = len;
	m->chunk[idx].iova = iova;
	m->calls++;
}

/* Whether obj lies (with its header) in one of the chunks mem_iter listed. */
static bool in_chunk(const struct mem_arg *m, const char *obj, size_t elt_size)
{
	for (unsigned i = 0; i < m->calls; i++)
		if (obj - sizeof(struct hm_mempool_objhdr) >= m->chunk[i].addr &&
		    obj + elt_size <= m->chunk[i].addr + m->chunk[i].len)
			return true;
	return false;
}

/* Objects aligned, with their IOVAs (known ones if iova_known), in the chunks, packed if asked. */
static void check_layout(struct hm_mempool *mp, unsigned n, size_t elt_size, unsigned flags,
			 bool iova_known)
{
	struct objs all = collect(mp, n);
	struct mem_arg m = {0};
	unsigned chunks = hm_mempool_mem_iter(mp, mem_cb, &m);
	unsigned bad_align = 0, bad_iova = 0, bad_pool = 0, bad_chunk = 0, packed = 0;

	CHECK_EQ(all.n, n);
	CHECK_EQ(chunks, m.calls);
	CHECK_EQ(m.bad, 0);
	CHECK_GE(chunks, 1);
	CHECK_EQ(hm_mempool_mem_iter(mp, NULL, NULL), 0);
	for (unsigned i = 0; i < m.calls; i++)
		CHECK_UEQ(m.chunk[i].iova, flags & HM_MEMPOOL_F_NO_IOVA
						   ? HM_BAD_IOVA
						   : hm_virt2iova(m.chunk[i].addr));
	for (unsigned i = 0; i < n; i++) {
		char *obj = all.at[i];
		uintptr_t a = (uintptr_t)obj;

		if (!obj)
			continue;
		if (flags & HM_MEMPOOL_F_NO_CACHE_ALIGN ? a % 8 != 0 : a % HM_CACHE_LINE != 0)
			bad_align++;
		if (hm_mempool_virt2iova(obj) !=
		    (flags & HM_MEMPOOL_F_NO_IOVA ? HM_BAD_IOVA : hm_virt2iova(obj)))
			bad_iova++;
		if (iova_known && !(flags & HM_MEMPOOL_F_NO_IOVA) &&
		    hm_mempool_virt2iova(obj) == HM_BAD_IOVA)
			bad_iova++;
		if (hm_mempool_from_obj(obj) != mp)
			bad_pool++;
		if (!in_chunk(&m, obj, elt_size))
			bad_chunk++;
		/* Packed: the next object starts right after this one's end and the next header. */
		if (i + 1 < n && (uintptr_t)all.at[i + 1] > a &&
		    (uintptr_t)all.at[i + 1] - a <=
			    hm__align_up(sizeof(struct hm_mempool_objhdr) + elt_size + 8, 8))
			packed++;
	}
	CHECK_EQ(bad_align, 0);
	CHECK_EQ(bad_iova, 0);
	CHECK_EQ(bad_pool, 0);
	CHECK_EQ(bad_chunk, 0);
	if (flags & HM_MEMPOOL_F_NO_CACHE_ALIGN)
		CHECK_GE(packed, n - chunks);
	/* Objects do not overlap: each one's bytes up to the next. */
	for (unsigned i = 0; i + 1 < all.n; i++)
		if ((uintptr_t)all.sorted[i] + elt_size + sizeof(struct hm_mempool_objhdr) >
		    (uintptr_t)all.sorted[i + 1])
			bad_chunk++;
	CHECK_EQ(bad_chunk, 0);
	objs_free(&all);
}

static void test_layout(void)
{
	static const struct shape s[] = {
		{100, 64, 8, 0},
		{100, 1, 8, 0},
		{100, 65, 8, HM_MEMPOOL_F_IOVA_CONTIG},
		{100, 8, 8, HM_MEMPOOL_F_NO_CACHE_ALIGN},
		{100, 13, 0, HM_MEMPOOL_F_NO_CACHE_ALIGN},
		{100, 64, 8, HM_MEMPOOL_F_NO_IOVA},
		{100, 20, 8, HM_MEMPOOL_F_NO_IOVA | HM_MEMPOOL_F_NO_CACHE_ALIGN},
		{3000, 1000, 64, 0},
	};

	start();
	for (size_t i = 0; i < sizeof(s) / sizeof(s[0]); i++) {
		struct hm_mempool *mp =
			hm_mempool_create("layout", s[i].n, s[i].elt_size, s[i].cache_size, 0, NULL,
					  NULL, HM_SOCKET_ANY, s[i].flags);
		void *objs[3000];

		REQUIRE_NOT_NULL(mp);
		check_layout(mp, s[i].n, s[i].elt_size, s[i].flags, true);
		/* Every byte of every object is the caller's. */
		REQUIRE_EQ(hm_mempool_get_bulk(mp, objs, s[i].n), 0);
		for (unsigned k = 0; k < s[i].n; k++)
			memset(objs[k], 0x5a, s[i].elt_size);
		hm_mempool_put_bulk(mp, objs, s[i].n);
		CHECK_EQ(hm_mempool_audit(mp), 0);
		CHECK_EQ(hm_mempool_destroy(mp), 0);
	}
	hm_cleanup();
}

static void test_priv(void)
{
	struct hm_mempool *mp, *none;
	unsigned char *priv;
	void *objs[64];
	struct objs all;
	unsigned nonzero = 0, overlap = 0;

	start();
	mp = hm_mempool_create("priv", 64, 64, 8, 1000, NULL, NULL, HM_SOCKET_ANY, 0);
	none = hm_mempool_create("nopriv", 64, 64, 8, 0, NULL, NULL, HM_SOCKET_ANY, 0);
	REQUIRE_NOT_NULL(mp);
	REQUIRE_NOT_NULL(none);
	priv = hm_mempool_get_priv(mp);
	REQUIRE_NOT_NULL(priv);
	CHECK_NULL(hm_mempool_get_priv(none));
	CHECK_PTR_EQ(hm_mempool_get_priv(hm_mempool_lookup("priv")), priv);
	for (unsigned i = 0; i < 1000; i++)
		nonzero += priv[i] != 0;
	CHECK_EQ(nonzero, 0);
	memset(priv, 0xa5, 1000);
	/* Not in any object, and left alone by gets and puts. */
	all = collect(mp, 64);
	for (unsigned i = 0; i < all.n; i++)
		if ((unsigned char *)all.at[i] + 64 > priv &&
		    (unsigned char *)all.at[i] < priv + 1000)
			overlap++;
	CHECK_EQ(overlap, 0);
	for (unsigned r = 0; r < 4; r++) {
		REQUIRE_EQ(hm_mempool_get_bulk(mp, objs, 64), 0);
		for (unsigned i = 0; i < 64; i++)
			memset(objs[i], 0x11 * (int)r, 64);
		hm_mempool_put_bulk(mp, objs, 64);
	}
	CHECK_PTR_EQ(hm_mempool_get_priv(mp), priv);
	for (unsigned i = 0; i < 1000; i++)
		nonzero += priv[i] != 0xa5;
	CHECK_EQ(nonzero, 0);
	objs_free(&all);
	CHECK_EQ(hm_mempool_destroy(mp), 0);
	CHECK_EQ(hm_mempool_destroy(none), 0);
	/* A new pool's area is zeroed, also where an old one's was dirty. */
	mp = hm_mempool_create("priv", 64, 64, 8, 1000, NULL, NULL, HM_SOCKET_ANY, 0);
	REQUIRE_NOT_NULL(mp);
	priv = hm_mempool_get_priv(mp);
	REQUIRE_NOT_NULL(priv);
	for (unsigned i = 0; i < 1000; i++)
		nonzero += priv[i] != 0;
	CHECK_EQ(nonzero, 0);
	CHECK_EQ(hm_mempool_destroy(mp), 0);
	hm_cleanup();
}

/* --- backends --- */

static bool dump_has(struct hm_mempool *mp, const char *text)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	bool found;

	REQUIRE_NOT_NULL(f);
	hm_mempool_dump(f, mp);
	fclose(f);
	found = buf && strstr(buf, text) != NULL;
	if (!found)
		fprintf(stderr, "dump has no \"%s\":\n%s", text, buf ? buf : "");
	free(buf);
	return found;
}

/* FIFO (ring) or LIFO (stack), seen through a pool of two objects without a cache. */
static void check_order(struct hm_mempool *mp, bool lifo)
{
	void *a, *b, *c;

	REQUIRE_EQ(hm_mempool_get(mp, &a), 0);
	REQUIRE_EQ(hm_mempool_get(mp, &b), 0);
	CHECK(a != b);
	hm_mempool_put(mp, a);
	hm_mempool_put(mp, b);
	REQUIRE_EQ(hm_mempool_get(mp, &c), 0);
	CHECK_PTR_EQ(c, lifo ? b : a);
	hm_mempool_put(mp, c);
	COUNTS(mp, 2, 0);
}

static const struct {
	const char *name;
	unsigned flags; /* what create takes for the same backend */
	const char *dump;
} backends[] = {
	{"ring_mp_mc", 0, "backend ring mp/mc"},
	{"ring_sp_sc", HM_MEMPOOL_F_SP_PUT | HM_MEMPOOL_F_SC_GET, "backend ring sp/sc"},
	{"ring_mp_sc", HM_MEMPOOL_F_SC_GET, "backend ring mp/sc"},
	{"ring_sp_mc", HM_MEMPOOL_F_SP_PUT, "backend ring sp/mc"},
	{"stack", HM_MEMPOOL_F_STACK, "backend stack"},
};
#define N_BACKENDS (sizeof(backends) / sizeof(backends[0]))

static void test_backends(void)
{
	start();
	/* Chosen by flags at create. */
	for (size_t i = 0; i < N_BACKENDS; i++) {
		struct hm_mempool *mp = hm_mempool_create("be", 1000, 48, 32, 0, NULL, NULL,
							  HM_SOCKET_ANY, backends[i].flags);
		struct hm_mempool *two = hm_mempool_create("be2", 2, 48, 0, 0, NULL, NULL,
							   HM_SOCKET_ANY, backends[i].flags);

		REQUIRE_NOT_NULL(mp);
		REQUIRE_NOT_NULL(two);
		CHECK(dump_has(mp, backends[i].dump));
		fill_drain(mp, 1000);
		check_order(two, backends[i].flags & HM_MEMPOOL_F_STACK);
		CHECK_EQ(hm_mempool_destroy(mp), 0);
		CHECK_EQ(hm_mempool_destroy(two), 0);
	}
	/* Chosen by name on an empty pool, whatever it was made with. */
	for (size_t from = 0; from < N_BACKENDS; from++) {
		for (size_t i = 0; i < N_BACKENDS; i++) {
			struct hm_mempool *mp = hm_mempool_create_empty(
				"be", 1000, 48, 32, 0, HM_SOCKET_ANY, backends[from].flags);
			struct hm_mempool *two = hm_mempool_create_empty(
				"be2", 2, 48, 0, 0, HM_SOCKET_ANY, backends[from].flags);

			REQUIRE_NOT_NULL(mp);
			REQUIRE_NOT_NULL(two);
			CHECK_EQ(hm_mempool_set_ops_byname(mp, backends[i].name), 0);
			CHECK_EQ(hm_mempool_set_ops_byname(two, backends[i].name), 0);
			CHECK_EQ(hm_mempool_populate_default(mp), 1000);
			CHECK_EQ(hm_mempool_populate_default(two), 2);
			CHECK(dump_has(mp, backends[i].dump));
			fill_drain(mp, 1000);
			check_order(two, strcmp(backends[i].name, "stack") == 0);
			/* Not once it has objects. */
			CHECK_EQ(hm_mempool_set_ops_byname(mp, backends[from].name), -EBUSY);
			CHECK_EQ(hm_mempool_set_ops_byname(mp, backends[i].name), -EBUSY);
			CHECK(dump_has(mp, backends[i].dump));
			CHECK_EQ(hm_mempool_destroy(mp), 0);
			CHECK_EQ(hm_mempool_destroy(two), 0);
		}
	}
	hm_cleanup();
}

static void test_set_ops_errors(void)
{
	struct hm_mempool *mp;
	int x = 0;

	start();
	quiet();
	mp = hm_mempool_create_empty("ops", 100, 64, 0, 0, HM_SOCKET_ANY, 0);
	REQUIRE_NOT_NULL(mp);
	CHECK_EQ(hm_mempool_set_ops_byname(mp, "nope"), -EINVAL);
	CHECK_EQ(hm_mempool_set_ops_byname(mp, ""), -EINVAL);
	CHECK_EQ(hm_mempool_set_ops_byname(mp, "STACK"), -EINVAL);
	CHECK_EQ(hm_mempool_set_ops_byname(mp, "ring_mp_mc "), -EINVAL);
	CHECK_EQ(hm_mempool_set_ops_byname(mp, NULL), -EINVAL);
	CHECK_EQ(hm_mempool_set_ops_byname(NULL, "stack"), -EINVAL);
	CHECK_EQ(hm_mempool_set_ops_byname((struct hm_mempool *)&x, "stack"), -EINVAL);
	/* The failures changed nothing: still the default ring. */
	CHECK(dump_has(mp, "backend ring mp/mc"));
	CHECK_EQ(hm_mempool_set_ops_byname(mp, "stack"), 0);
	CHECK_EQ(hm_mempool_set_ops_byname(mp, "ring_sp_sc"), 0);
	CHECK_EQ(hm_mempool_set_ops_byname(mp, "stack"), 0);
	CHECK_EQ(hm_mempool_populate_default(mp), 100);
	CHECK(dump_has(mp, "backend stack"));
	CHECK_EQ(hm_mempool_set_ops_byname(mp, "ring_mp_mc"), -EBUSY);
	CHECK_EQ(hm_mempool_set_ops_byname(mp, "nope"), -EBUSY);
	fill_drain(mp, 100);
	CHECK_EQ(hm_mempool_destroy(mp), 0);
	CHECK_EQ(hm_mempool_set_ops_byname(mp, "stack"), -EINVAL);
	CHECK_EQ(t_log_lines(), 0);
	loud();
	hm_cleanup();
}

/* --- populate: the caller's memory, and memory running short --- */

static void test_populate(void)
{
	enum { N = 100, IN_ZONE = 60, ELT = 200 };
	const struct hm_memzone *mz;
	struct hm_mempool *mp;
	struct mem_arg m = {0};
	struct objs all;
	unsigned stride, zoned = 0, libc = 0, bad = 0;
	char *mem;
	size_t mem_len, before;
	void *objs[N];

	start();
	before = live_blocks();
	mp = hm_mempool_create_empty("pop", N, ELT, 8, 0, HM_SOCKET_ANY, 0);
	REQUIRE_NOT_NULL(mp);
	stride = pool_of(mp)->stride;
	CHECK_GE(stride, ELT + sizeof(struct hm_mempool_objhdr));
	/* Empty: nothing to get, no chunk, no object. */
	COUNTS(mp, 0, 0);
	CHECK_EQ(hm_mempool_mem_iter(mp, mem_cb, &m), 0);
	CHECK_EQ(hm_mempool_obj_iter(mp, init_cb, NULL), 0);
	CHECK_EQ(hm_mempool_get(mp, &objs[0]), -ENOENT);
	CHECK_EQ(hm_mempool_audit(mp), 0);

	mz = hm_memzone_reserve("pop-mem", (size_t)IN_ZONE * stride, HM_SOCKET_ANY, 0, 0, 0);
	REQUIRE_NOT_NULL(mz);
	mem_len = (size_t)N * stride + HM_CACHE_LINE;
	mem = malloc(mem_len);
	REQUIRE_NOT_NULL(mem);
	/* Errors: no memory, no room for one object, not a pool. */
	CHECK_EQ(hm_mempool_populate(mp, NULL, mem_len), -EINVAL);
	CHECK_EQ(hm_mempool_populate(mp, mz->addr, 0), -EINVAL);
	CHECK_EQ(hm_mempool_populate(mp, mz->addr, stride - 1), -EINVAL);
	CHECK_EQ(hm_mempool_populate(NULL, mz->addr, mz->len), -EINVAL);
	CHECK_EQ(hm_mempool_populate((struct hm_mempool *)mem, mz->addr, mz->len), -EINVAL);
	CHECK_EQ(hm_mempool_populate_default((struct hm_mempool *)mem), -EINVAL);
	CHECK_EQ(hm_mempool_populate_default(NULL), -EINVAL);
	COUNTS(mp, 0, 0);
	/* A zone for IN_ZONE objects, then libc memory for the rest (and more). */
	CHECK_EQ(hm_mempool_populate(mp, mz->addr, mz->len), IN_ZONE);
	COUNTS(mp, IN_ZONE, 0);
	CHECK_EQ(hm_mempool_get_bulk(mp, objs, IN_ZONE + 1), -ENOENT);
	CHECK_EQ(hm_mempool_populate(mp, mem, mem_len), N - IN_ZONE);
	COUNTS(mp, N, 0);
	CHECK_EQ(hm_mempool_populate(mp, mem, mem_len), -ENOSPC);
	CHECK_EQ(hm_mempool_populate_default(mp), 0);
	COUNTS(mp, N, 0);
	/* Two chunks, as given. */
	CHECK_EQ(hm_mempool_mem_iter(mp, mem_cb, &m), 2);
	CHECK_EQ(m.bad, 0);
	CHECK_PTR_EQ(m.chunk[0].addr, mz->addr);
	CHECK_EQ(m.chunk[0].len, mz->len);
	CHECK_UEQ(m.chunk[0].iova, mz->iova);
	CHECK_PTR_EQ(m.chunk[1].addr, mem);
	CHECK_EQ(m.chunk[1].len, mem_len);
	CHECK_UEQ(m.chunk[1].iova, HM_BAD_IOVA);
	/* Objects 0..IN_ZONE-1 in the zone, with IOVAs; the others in libc memory, without. */
	all = collect(mp, N);
	CHECK_EQ(all.n, N);
	for (unsigned i = 0; i < all.n; i++) {
		char *o = all.at[i];
		bool z = o >= (char *)mz->addr && o + ELT <= (char *)mz->addr + mz->len;
		bool l = o >= mem && o + ELT <= mem + mem_len;

		zoned += z;
		libc += l;
		if (z != (i < IN_ZONE) || l != (i >= IN_ZONE) || (uintptr_t)o % HM_CACHE_LINE)
			bad++;
		if (hm_mempool_virt2iova(o) != (z ? hm_virt2iova(o) : HM_BAD_IOVA))
			bad++;
		if (z && hm_mempool_virt2iova(o) == HM_BAD_IOVA)
			bad++;
		if (hm_mempool_from_obj(o) != mp)
			bad++;
	}
	CHECK_EQ(zoned, IN_ZONE);
	CHECK_EQ(libc, N - IN_ZONE);
	CHECK_EQ(bad, 0);
	check_layout(mp, N, ELT, 0, false);
	fill_drain(mp, N);
	objs_free(&all);
	CHECK_EQ(hm_mempool_destroy(mp), 0);
	/* The memory is the caller's again: not freed, and free to use. */
	CHECK_PTR_EQ(hm_memzone_lookup("pop-mem"), mz);
	memset(mz->addr, 0x33, mz->len);
	memset(mem, 0x44, mem_len);
	CHECK_EQ(hm_memzone_free(mz), 0);

	/* Packed objects in libc memory at an odd address: 8-byte aligned. */
	mp = hm_mempool_create_empty("pop8", 10, 20, 0, 0, HM_SOCKET_ANY,
				     HM_MEMPOOL_F_NO_CACHE_ALIGN);
	REQUIRE_NOT_NULL(mp);
	CHECK_EQ(hm_mempool_populate(mp, mem + 3, mem_len - 3), 10);
	check_layout(mp, 10, 20, HM_MEMPOOL_F_NO_CACHE_ALIGN, false);
	fill_drain(mp, 10);
	CHECK_EQ(hm_mempool_destroy(mp), 0);
	memset(mem, 0x55, mem_len);

	/* A pool filled with libc memory in small pieces: as many chunks as pieces. */
	mp = hm_mempool_create_empty("pop-pieces", 16, 64, 4, 0, HM_SOCKET_ANY, 0);
	REQUIRE_NOT_NULL(mp);
	stride = pool_of(mp)->stride;
	for (unsigned i = 0; i < 8; i++)
		CHECK_EQ(hm_mempool_populate(mp, mem + (size_t)i * (2 * stride + HM_CACHE_LINE),
					     2 * stride + HM_CACHE_LINE),
			 2);
	CHECK_EQ(hm_mempool_mem_iter(mp, NULL, NULL), 0);
	memset(&m, 0, sizeof(m));
	CHECK_EQ(hm_mempool_mem_iter(mp, mem_cb, &m), 8);
	fill_drain(mp, 16);
	CHECK_EQ(hm_mempool_destroy(mp), 0);
	memset(mem, 0x66, mem_len);

	/* Part from the caller, the rest from populate_default; then it is full. */
	mp = hm_mempool_create_empty("pop-mix", 50, 64, 4, 0, HM_SOCKET_ANY, 0);
	REQUIRE_NOT_NULL(mp);
	stride = pool_of(mp)->stride;
	CHECK_EQ(hm_mempool_populate(mp, mem, 20 * (size_t)stride + HM_CACHE_LINE), 20);
	CHECK_EQ(hm_mempool_populate_default(mp), 30);
	CHECK_EQ(hm_mempool_populate_default(mp), 0);
	CHECK_EQ(hm_mempool_populate(mp, mem + mem_len / 2, mem_len / 2), -ENOSPC);
	memset(&m, 0, sizeof(m));
	CHECK_GE(hm_mempool_mem_iter(mp, mem_cb, &m), 2);
	CHECK_PTR_EQ(m.chunk[0].addr, mem);
	check_layout(mp, 50, 64, 0, false);
	fill_drain(mp, 50);
	CHECK_EQ(hm_mempool_destroy(mp), 0);
	memset(mem, 0x67, mem_len);

	/* A pool takes at most POOL_CHUNKS_MAX chunks: the next is refused, nothing lost. */
	mp = hm_mempool_create_empty("pop-many", 100, 8, 0, 0, HM_SOCKET_ANY, 0);
	REQUIRE_NOT_NULL(mp);
	stride = pool_of(mp)->stride;
	REQUIRE((POOL_CHUNKS_MAX + 1) * ((size_t)stride + HM_CACHE_LINE) <= mem_len);
	for (unsigned i = 0; i < POOL_CHUNKS_MAX; i++)
		CHECK_EQ(hm_mempool_populate(mp, mem + i * ((size_t)stride + HM_CACHE_LINE),
					     stride + HM_CACHE_LINE),
			 1);
	CHECK_EQ(hm_mempool_populate(mp, mem + POOL_CHUNKS_MAX * ((size_t)stride + HM_CACHE_LINE),
				     stride + HM_CACHE_LINE),
		 -EINVAL);
	quiet();
	CHECK_EQ(hm_mempool_populate_default(mp), -ENOMEM);
	loud();
	COUNTS(mp, POOL_CHUNKS_MAX, 0);
	memset(&m, 0, sizeof(m));
	CHECK_EQ(hm_mempool_mem_iter(mp, mem_cb, &m), POOL_CHUNKS_MAX);
	CHECK_EQ(m.bad, 0);
	fill_drain(mp, POOL_CHUNKS_MAX);
	CHECK_EQ(hm_mempool_destroy(mp), 0);
	memset(mem, 0x68, mem_len);
	free(mem);
	CHECK_EQ(live_blocks(), before);
	hm_cleanup();
}

/* No memory for the pool itself, its private area or a cache: ENOMEM, nothing left behind. */
static void test_no_memory(void)
{
	const struct hm_memzone *zones[4096];
	unsigned n = 0;
	struct hm_mempool *mp;
	size_t blocks0;

	start_with(16 * MIB);
	blocks0 = live_blocks();
	quiet();
	/* Too large for the instance whatever is free: the backend, the private area. */
	CHECK_NULL_ERRNO(
		hm_mempool_create_empty("nomem", HM_MEMPOOL_N_MAX, 8, 0, 0, HM_SOCKET_ANY, 0),
		ENOMEM);
	CHECK_NULL_ERRNO(
		hm_mempool_create("nomem", 10, 8, 0, 64 * MIB, NULL, NULL, HM_SOCKET_ANY, 0),
		ENOMEM);
	CHECK_EQ(live_blocks(), blocks0);
	CHECK_EQ(hm_memzone_count(), 0);
	/* A pool made while there was memory; then none is left. */
	mp = hm_mempool_create("nomem", 10, 8, 4, 0, NULL, NULL, HM_SOCKET_ANY, 0);
	REQUIRE_NOT_NULL(mp);
	for (size_t len = MIB; len >= 64; len /= 4) {
		char name[32];

		for (;;) {
			const struct hm_memzone *z;

			REQUIRE(n < sizeof(zones) / sizeof(zones[0]));
			snprintf(name, sizeof(name), "fill%u", n);
			z = hm_memzone_reserve(name, len, HM_SOCKET_ANY, 0, 0, 0);
			if (!z)
				break;
			zones[n++] = z;
		}
	}
	CHECK_NULL_ERRNO(hm_mempool_create("nomem2", 10, 8, 0, 0, NULL, NULL, HM_SOCKET_ANY, 0),
			 ENOMEM);
	CHECK_NULL_ERRNO(hm_mempool_create_empty("nomem2", 10, 8, 0, 0, HM_SOCKET_ANY, 0), ENOMEM);
	CHECK_NULL_ERRNO(hm_mempool_cache_create(HM_MEMPOOL_CACHE_MAX, HM_SOCKET_ANY), ENOMEM);
	CHECK_NULL_ERRNO(hm_mempool_lookup("nomem2"), ENOENT);
	/* The pool made before still works: its thread has no cache (a warning says so). */
	fill_drain(mp, 10);
	loud();
	while (n)
		CHECK_EQ(hm_memzone_free(zones[--n]), 0);
	CHECK_EQ(hm_mempool_destroy(mp), 0);
	CHECK_EQ(live_blocks(), blocks0);
	mp = hm_mempool_create("nomem2", 10, 8, 0, 0, NULL, NULL, HM_SOCKET_ANY, 0);
	REQUIRE_NOT_NULL(mp);
	CHECK_EQ(hm_mempool_destroy(mp), 0);
	hm_cleanup();
}

/* populate_default short of memory: -ENOMEM, and the pool keeps nothing of that call. */
static void test_populate_short(void)
{
	enum { BIG = 1000, ELT = 64 * KIB, FEW = 10 };
	struct hm_mempool *mp;
	struct hm_malloc_stats st0, st1;
	char *mem;
	size_t mem_len;
	unsigned stride, bad = 0;
	void *objs[FEW + 1];
	struct mem_arg m = {0};

	start_with(16 * MIB);
	REQUIRE_EQ(hm_malloc_get_stats(HM_SOCKET_ANY, &st0), 0);
	quiet();
	CHECK_NULL_ERRNO(hm_mempool_create("short", BIG, ELT, 0, 0, NULL, NULL, HM_SOCKET_ANY, 0),
			 ENOMEM);
	CHECK_GE(t_log_lines(), 1);
	loud();
	/* Nothing left: no zone, the name free, the heap's blocks back. */
	CHECK_EQ(hm_memzone_count(), 0);
	CHECK_NULL_ERRNO(hm_mempool_lookup("short"), ENOENT);
	REQUIRE_EQ(hm_malloc_get_stats(HM_SOCKET_ANY, &st1), 0);
	CHECK_EQ(st1.live_blocks, st0.live_blocks);

	/* create_empty + populate_default: the same, and the pool is still there, empty. */
	mp = hm_mempool_create_empty("short", BIG, ELT, 0, 0, HM_SOCKET_ANY, 0);
	REQUIRE_NOT_NULL(mp);
	quiet();
	CHECK_EQ(hm_mempool_populate_default(mp), -ENOMEM);
	CHECK_GE(t_log_lines(), 1);
	loud();
	COUNTS(mp, 0, 0);
	CHECK_EQ(hm_mempool_mem_iter(mp, mem_cb, &m), 0);
	CHECK_EQ(hm_mempool_get(mp, &objs[0]), -ENOENT);
	CHECK_EQ(hm_mempool_audit(mp), 0);

	/* After memory of the caller's for a few: a failing populate_default keeps those. */
	stride = pool_of(mp)->stride;
	mem_len = (size_t)FEW * stride + HM_CACHE_LINE;
	mem = malloc(mem_len);
	REQUIRE_NOT_NULL(mem);
	CHECK_EQ(hm_mempool_populate(mp, mem, mem_len), FEW);
	quiet();
	CHECK_EQ(hm_mempool_populate_default(mp), -ENOMEM);
	CHECK_GE(t_log_lines(), 1);
	loud();
	COUNTS(mp, FEW, 0);
	CHECK_EQ(hm_mempool_mem_iter(mp, mem_cb, &m), 1);
	CHECK_PTR_EQ(m.chunk[0].addr, mem);
	CHECK_EQ(hm_mempool_audit(mp), 0);
	REQUIRE_EQ(hm_mempool_get_bulk(mp, objs, FEW), 0);
	for (unsigned i = 0; i < FEW; i++)
		if ((char *)objs[i] < mem || (char *)objs[i] + ELT > mem + mem_len)
			bad++;
	CHECK_EQ(bad, 0);
	CHECK(all_distinct(objs, FEW));
	for (unsigned i = 0; i < FEW; i++)
		memset(objs[i], 0x77, ELT);
	CHECK_EQ(hm_mempool_get(mp, &objs[FEW]), -ENOENT);
	hm_mempool_put_bulk(mp, objs, FEW);
	COUNTS(mp, FEW, 0);
	CHECK_EQ(hm_mempool_audit(mp), 0);
	CHECK_EQ(hm_mempool_destroy(mp), 0);
	REQUIRE_EQ(hm_malloc_get_stats(HM_SOCKET_ANY, &st1), 0);
	CHECK_EQ(st1.live_blocks, st0.live_blocks);

	/* What the failures gave back is there for a pool that fits. */
	mp = hm_mempool_create("fits", 100, ELT, 0, 0, NULL, NULL, HM_SOCKET_ANY, 0);
	REQUIRE_NOT_NULL(mp);
	fill_drain(mp, 100);
	CHECK_EQ(hm_mempool_destroy(mp), 0);
	memset(mem, 0, mem_len);
	free(mem);
	hm_cleanup();
}

/* --- caches --- */

static void test_cache_sizes(void)
{
	enum { N = 64 };
	struct hm_mempool *mp;
	struct hm_mempool_stats st;
	void *objs[N];

	start();
	/* No cache: every get is a miss, nothing is ever held for the thread. */
	mp = hm_mempool_create("c0", N, 64, 0, 0, NULL, NULL, HM_SOCKET_ANY, 0);
	REQUIRE_NOT_NULL(mp);
	for (unsigned i = 0; i < N; i++)
		REQUIRE_EQ(hm_mempool_get(mp, &objs[i]), 0);
	for (unsigned i = 0; i < N; i++) {
		hm_mempool_put(mp, objs[i]);
		CHECK_EQ(hm__pool_backend_count(pool_of(mp)), i + 1);
	}
	st = stats(mp);
	CHECK_EQ(st.get_calls, N);
	CHECK_EQ(st.cache_misses, N);
	CHECK_EQ(st.cache_hits, 0);
	fill_drain(mp, N);
	CHECK_EQ(hm_mempool_destroy(mp), 0);

	/* cache_size == n: the whole pool may sit in the thread's cache, counted as free. */
	mp = hm_mempool_create("cn", N, 64, N, 0, NULL, NULL, HM_SOCKET_ANY, 0);
	REQUIRE_NOT_NULL(mp);
	REQUIRE_EQ(hm_mempool_get_bulk(mp, objs, N), 0);
	COUNTS(mp, 0, N);
	hm_mempool_put_bulk(mp, objs, N);
	COUNTS(mp, N, 0);
	CHECK_EQ(hm__pool_backend_count(pool_of(mp)), 0);
	REQUIRE_EQ(hm_mempool_get_bulk(mp, objs, N), 0);
	CHECK_EQ(stats(mp).cache_hits, 1);
	COUNTS(mp, 0, N);
	hm_mempool_put_bulk(mp, objs, N);
	fill_drain(mp, N);
	CHECK_EQ(hm_mempool_destroy(mp), 0);

	/* A get larger than the cache goes to the backend, all or nothing. */
	mp = hm_mempool_create("cbig", N, 64, 8, 0, NULL, NULL, HM_SOCKET_ANY, 0);
	REQUIRE_NOT_NULL(mp);
	/* Zero objects: nothing moves. */
	CHECK_EQ(hm_mempool_get_bulk(mp, objs, 0), 0);
	hm_mempool_put_bulk(mp, objs, 0);
	CHECK_EQ(hm_mempool_generic_get(mp, objs, 0, NULL), 0);
	hm_mempool_generic_put(mp, objs, 0, NULL);
	COUNTS(mp, N, 0);
	REQUIRE_EQ(hm_mempool_get_bulk(mp, objs, 20), 0);
	CHECK(all_distinct(objs, 20));
	COUNTS(mp, N - 20, 20);
	CHECK_EQ(hm_mempool_get_bulk(mp, objs + 20, N - 20 + 1), -ENOENT);
	COUNTS(mp, N - 20, 20);
	REQUIRE_EQ(hm_mempool_get_bulk(mp, objs + 20, N - 20), 0);
	CHECK(all_distinct(objs, N));
	hm_mempool_put_bulk(mp, objs, 20);
	COUNTS(mp, 20, N - 20);
	hm_mempool_put_bulk(mp, objs + 20, N - 20);
	COUNTS(mp, N, 0);
	fill_drain(mp, N);
	CHECK_EQ(hm_mempool_destroy(mp), 0);
	hm_cleanup();
}

/* A get that must succeed; false (and a failed check) if it did not. */
static bool get_ok(int rc, int line)
{
	if (rc != 0)
		t_fail(__FILE__, line, false, "get: %d, want 0", rc);
	return rc == 0;
}

/*
 * Gets that only the thread's cache and the backend together can serve: all or
 * nothing means -ENOENT only when both together hold too few.
 */
static void test_cache_and_backend(void)
{
	enum { N = 26, C = 16 }; /* the cache flushes past 3 * C / 2 = 24 */
	struct hm_mempool *mp;
	void *objs[N], *more[N];

	start();
	for (unsigned big = 0; big < 2; big++) {
		mp = hm_mempool_create("cab", N, 64, C, 0, NULL, NULL, HM_SOCKET_ANY, 0);
		REQUIRE_NOT_NULL(mp);
		/* All out (larger than the cache: from the backend), then back in two bulks:
		 * 16 into the cache, then 10 more, which flush those 16 to the backend. */
		REQUIRE_EQ(hm_mempool_get_bulk(mp, objs, N), 0);
		hm_mempool_put_bulk(mp, objs, 16);
		hm_mempool_put_bulk(mp, objs + 16, 10);
		COUNTS(mp, N, 0);
		CHECK_EQ(hm__pool_backend_count(pool_of(mp)), 16);
		if (big) {
			/* Larger than the cache, with 10 of the 26 in it. */
			if (!get_ok(hm_mempool_get_bulk(mp, more, N), __LINE__))
				goto broken;
		} else {
			/* 12: the cache's 10 are too few, the backend's 16 are enough. */
			if (!get_ok(hm_mempool_get_bulk(mp, more, 12), __LINE__))
				goto broken;
			CHECK_EQ(hm__pool_backend_count(pool_of(mp)), 4);
			/* 12 again: 10 in the cache, 4 in the backend, 14 in all. */
			if (!get_ok(hm_mempool_get_bulk(mp, more + 12, 12), __LINE__))
				goto broken;
			COUNTS(mp, 2, 24);
			CHECK_EQ(hm_mempool_get_bulk(mp, more + 24, 3), -ENOENT);
			COUNTS(mp, 2, 24);
			if (!get_ok(hm_mempool_get_bulk(mp, more + 24, 2), __LINE__))
				goto broken;
		}
		COUNTS(mp, 0, N);
		CHECK(all_distinct(more, N));
		hm_mempool_put_bulk(mp, more, N);
		COUNTS(mp, N, 0);
		CHECK_EQ(hm_mempool_audit(mp), 0);
		CHECK_EQ(hm_mempool_destroy(mp), 0);
		continue;
	broken:
		CHECK_EQ(hm_mempool_destroy_force(mp), 0);
	}
	hm_cleanup();
}

static void test_user_cache(void)
{
	enum { N = 100, C = 16 };
	struct hm_mempool *mp;
	struct hm_mempool_cache *uc, *uc0;
	void *objs[N + 1];

	start();
	CHECK_NULL_ERRNO(hm_mempool_cache_create(HM_MEMPOOL_CACHE_MAX + 1, HM_SOCKET_ANY), EINVAL);
	CHECK_NULL_ERRNO(hm_mempool_cache_create(UINT32_MAX, HM_SOCKET_ANY), EINVAL);
	CHECK_NULL_ERRNO(hm_mempool_cache_create(8, 4096), EINVAL);
	CHECK_NULL_ERRNO(hm_mempool_cache_create(8, -7), EINVAL);
	mp = hm_mempool_create("uc", N, 64, 8, 0, NULL, NULL, HM_SOCKET_ANY, 0);
	REQUIRE_NOT_NULL(mp);
	uc = hm_mempool_cache_create(C, HM_SOCKET_ANY);
	REQUIRE_NOT_NULL(uc);
	uc0 = hm_mempool_cache_create(0, 0);
	REQUIRE_NOT_NULL(uc0);
	/* A get through it fills it: what it holds is out from the pool's view. */
	REQUIRE_EQ(hm_mempool_generic_get(mp, objs, 4, uc), 0);
	CHECK_EQ(uc->len, C);
	COUNTS(mp, N - 4 - C, 4 + C);
	hm_mempool_generic_put(mp, objs, 4, uc);
	CHECK_EQ(uc->len, C + 4);
	COUNTS(mp, N - 4 - C, 4 + C);
	/* Served from it alone. */
	REQUIRE_EQ(hm_mempool_generic_get(mp, objs, C, uc), 0);
	CHECK_EQ(uc->len, 4);
	COUNTS(mp, N - 4 - C, 4 + C);
	hm_mempool_generic_put(mp, objs, C, uc);
	/* Flushed: all back. */
	hm_mempool_cache_flush(uc, mp);
	CHECK_EQ(uc->len, 0);
	COUNTS(mp, N, 0);
	/* Drain the pool through it, in bulks up to and above its size. */
	for (unsigned got = 0; got < N;) {
		unsigned k = 1 + (unsigned)t_rand_below(2 * C);

		if (k > N - got)
			k = N - got;
		if (hm_mempool_generic_get(mp, objs + got, k, uc) != 0) {
			t_fail(__FILE__, __LINE__, false,
			       "generic_get of %u with %u free, %u cached", k,
			       hm_mempool_avail_count(mp), uc->len);
			break;
		}
		got += k;
	}
	CHECK(all_distinct(objs, N));
	CHECK_EQ(hm_mempool_generic_get(mp, objs + N, 1, uc), -ENOENT);
	CHECK_EQ(hm_mempool_generic_get(mp, objs + N, 1, NULL), -ENOENT);
	CHECK_EQ(hm_mempool_get(mp, &objs[N]), -ENOENT);
	COUNTS(mp, 0, N);
	/* Back through it, then by other ways. */
	hm_mempool_generic_put(mp, objs, 10, uc);
	hm_mempool_generic_put(mp, objs + 10, 10, uc0);
	CHECK_EQ(uc0->len, 0);
	hm_mempool_generic_put(mp, objs + 20, N - 20, NULL);
	COUNTS(mp, N - uc->len, uc->len);
	hm_mempool_cache_flush(uc, mp);
	COUNTS(mp, N, 0);
	/* Without a cache, and with one of size 0: straight to the backend, which has them all. */
	REQUIRE_EQ(hm_mempool_generic_get(mp, objs, N, NULL), 0);
	CHECK(all_distinct(objs, N));
	hm_mempool_generic_put(mp, objs, N, NULL);
	REQUIRE_EQ(hm_mempool_generic_get(mp, objs, N, uc0), 0);
	CHECK_EQ(uc0->len, 0);
	hm_mempool_generic_put(mp, objs, N, uc0);
	COUNTS(mp, N, 0);
	/* Harmless calls. */
	hm_mempool_cache_flush(NULL, mp);
	hm_mempool_cache_flush(uc, NULL);
	hm_mempool_cache_free(NULL);
	CHECK_EQ(hm_mempool_audit(mp), 0);
	fill_drain(mp, N);
	hm_mempool_cache_free(uc);
	hm_mempool_cache_free(uc0);
	CHECK_EQ(hm_mempool_destroy(mp), 0);
	hm_cleanup();
}

/* --- misuse --- */

/* One put that must be refused: one log line, one refused_puts, nothing else changes. */
static void refused(struct hm_mempool *mp, void *obj, int line)
{
	struct hm_mempool_stats st0 = stats(mp), st1;
	unsigned avail = hm_mempool_avail_count(mp), in_use = hm_mempool_in_use_count(mp);

	t_log_lines_reset();
	hm_mempool_put(mp, obj);
	if (t_log_lines() != 1)
		t_fail(__FILE__, line, false, "put of %p: %u log lines, want 1", obj,
		       t_log_lines());
	st1 = stats(mp);
	if (st1.refused_puts != st0.refused_puts + 1)
		t_fail(__FILE__, line, false, "put of %p: refused_puts %llu, want %llu", obj,
		       (unsigned long long)st1.refused_puts,
		       (unsigned long long)st0.refused_puts + 1);
	counts_are(mp, avail, in_use, line);
	if (hm_mempool_audit(mp) != 0 || t_log_lines() != 1)
		t_fail(__FILE__, line, false, "put of %p: the audit fails", obj);
}
#define REFUSED(mp, obj) refused(mp, obj, __LINE__)

static void misuse(unsigned flags, unsigned cache_size)
{
	enum { N = 32, ELT = 64 };
	struct hm_mempool *mp, *other;
	void *objs[N + 1], *mine[4], *theirs;
	void *twice[2];
	char *libc = malloc(256);
	struct hm_mempool_stats st;

	REQUIRE_NOT_NULL(libc);
	mp = hm_mempool_create("misuse", N, ELT, cache_size, 0, NULL, NULL, HM_SOCKET_ANY, flags);
	other = hm_mempool_create("other", N, ELT, cache_size, 0, NULL, NULL, HM_SOCKET_ANY, flags);
	REQUIRE_NOT_NULL(mp);
	REQUIRE_NOT_NULL(other);
	REQUIRE_EQ(hm_mempool_get_bulk(mp, mine, 4), 0);
	REQUIRE_EQ(hm_mempool_get(other, &theirs), 0);
	quiet();
	REFUSED(mp, NULL);
	REFUSED(mp, libc);
	REFUSED(mp, libc + 64);
	REFUSED(mp, theirs);
	REFUSED(mp, (char *)mine[0] + 8);
	REFUSED(mp, (char *)mine[0] + 1);
	REFUSED(mp, (char *)mine[0] - 8);
	REFUSED(mp, (char *)mine[0] - sizeof(struct hm_mempool_objhdr));
	REFUSED(mp, (char *)mine[0] + ELT);
	REFUSED(mp, hm_mempool_get_priv(mp) ? hm_mempool_get_priv(mp) : (void *)mp);
	REFUSED(mp, mp);
	/* A double put: the first is taken, the second refused. */
	t_log_lines_reset();
	hm_mempool_put(mp, mine[0]);
	CHECK_EQ(t_log_lines(), 0);
	COUNTS(mp, N - 3, 3);
	REFUSED(mp, mine[0]);
	/* Twice in one bulk. */
	twice[0] = twice[1] = mine[1];
	st = stats(mp);
	t_log_lines_reset();
	hm_mempool_put_bulk(mp, twice, 2);
	CHECK_EQ(t_log_lines(), 1);
	CHECK_EQ(stats(mp).refused_puts, st.refused_puts + 1);
	COUNTS(mp, N - 2, 2);
	CHECK_EQ(hm_mempool_audit(mp), 0);
	/* A good object amid bad ones in a bulk: only the bad are refused. */
	{
		void *mix[4] = {NULL, mine[2], libc, mine[2]};

		st = stats(mp);
		t_log_lines_reset();
		hm_mempool_put_bulk(mp, mix, 4);
		CHECK_EQ(t_log_lines(), 3);
		CHECK_EQ(stats(mp).refused_puts, st.refused_puts + 3);
		COUNTS(mp, N - 1, 1);
	}
	/* Puts of objects back in the pool for a while. */
	hm_mempool_put(mp, mine[3]);
	COUNTS(mp, N, 0);
	REFUSED(mp, mine[3]);
	REFUSED(mp, mine[2]);
	/* The other pool is untouched: its object is still out, and goes back. */
	CHECK_EQ(stats(other).refused_puts, 0);
	COUNTS(other, N - 1, 1);
	CHECK_EQ(t_log_lines(), 1);
	t_log_lines_reset();
	hm_mempool_put(other, theirs);
	COUNTS(other, N, 0);
	CHECK_EQ(t_log_lines(), 0);
	/* No object is handed out twice. */
	for (unsigned i = 0; i < N; i++)
		REQUIRE_EQ(hm_mempool_get(mp, &objs[i]), 0);
	CHECK_EQ(hm_mempool_get(mp, &objs[N]), -ENOENT);
	CHECK(all_distinct(objs, N));
	hm_mempool_put_bulk(mp, objs, N);
	COUNTS(mp, N, 0);
	st = stats(mp);
	CHECK_EQ(st.refused_puts, 18);
	CHECK_EQ(hm_mempool_audit(mp), 0);
	CHECK_EQ(t_log_lines(), 0);
	loud();
	fill_drain(mp, N);
	fill_drain(other, N);
	CHECK_EQ(hm_mempool_destroy(mp), 0);
	CHECK_EQ(hm_mempool_destroy(other), 0);
	free(libc);
}

static void test_misuse(void)
{
	start();
	/* Checked in every build. */
	misuse(HM_MEMPOOL_F_CHECKED, 8);
	misuse(HM_MEMPOOL_F_CHECKED, 0);
	misuse(HM_MEMPOOL_F_CHECKED | HM_MEMPOOL_F_STACK, 8);
	misuse(HM_MEMPOOL_F_CHECKED | HM_MEMPOOL_F_NO_CACHE_ALIGN, 4);
#if HM_DEBUG >= 1
	/* Every pool in a debug build. */
	misuse(0, 8);
	misuse(HM_MEMPOOL_F_STACK | HM_MEMPOOL_F_SP_PUT | HM_MEMPOOL_F_SC_GET, 0);
#endif
	hm_cleanup();
}

#if HM_DEBUG >= 1
/* An overrun of an object's end: reported by the audit and at put; the object goes back. */
static void overrun(size_t elt_size, unsigned flags)
{
	struct hm_mempool *mp;
	void *a, *b;
	unsigned refused_before;

	mp = hm_mempool_create("overrun", 16, elt_size, 4, 0, NULL, NULL, HM_SOCKET_ANY, flags);
	REQUIRE_NOT_NULL(mp);
	REQUIRE_EQ(hm_mempool_get(mp, &a), 0);
	REQUIRE_EQ(hm_mempool_get(mp, &b), 0);
	memset(a, 0xff, elt_size);
	memset(b, 0xff, elt_size);
	CHECK_EQ(hm_mempool_audit(mp), 0);
	refused_before = (unsigned)stats(mp).refused_puts;
	quiet();
	((unsigned char *)a)[elt_size] ^= 0x5a; /* one byte past the end */
	CHECK_EQ(hm_mempool_audit(mp), -EFAULT);
	CHECK_EQ(t_log_lines(), 1);
	memset((char *)b + elt_size, 0, 8); /* eight bytes past the end */
	t_log_lines_reset();
	CHECK_EQ(hm_mempool_audit(mp), -EFAULT);
	CHECK_EQ(t_log_lines(), 2);
	/* At put: reported, and the object taken back all the same. */
	t_log_lines_reset();
	hm_mempool_put(mp, a);
	CHECK_EQ(t_log_lines(), 1);
	COUNTS(mp, 15, 1);
	t_log_lines_reset();
	CHECK_EQ(hm_mempool_audit(mp), -EFAULT);
	CHECK_EQ(t_log_lines(), 1);
	t_log_lines_reset();
	hm_mempool_put(mp, b);
	CHECK_EQ(t_log_lines(), 1);
	COUNTS(mp, 16, 0);
	CHECK_EQ(stats(mp).refused_puts, refused_before);
	t_log_lines_reset();
	CHECK_EQ(hm_mempool_audit(mp), 0);
	CHECK_EQ(t_log_lines(), 0);
	loud();
	fill_drain(mp, 16);
	CHECK_EQ(hm_mempool_destroy(mp), 0);
}
#endif

static void test_overrun(void)
{
#if HM_DEBUG >= 1
	start();
	overrun(64, 0);
	overrun(100, 0);
	overrun(1, HM_MEMPOOL_F_STACK);
	overrun(20, HM_MEMPOOL_F_NO_CACHE_ALIGN);
	overrun(64, HM_MEMPOOL_F_NO_CACHE_ALIGN);
	hm_cleanup();
#else
	printf("note: no end cookies in release builds; overruns are not looked for\n");
#endif
}

/* --- destroy --- */

static void test_destroy(void)
{
	enum { N = 50 };
	struct hm_mempool *mp, *again;
	struct hm_mempool_cache *uc;
	void *objs[N];
	char *libc = malloc(sizeof(struct pool));
	size_t blocks0;
	unsigned zones0;

	REQUIRE_NOT_NULL(libc);
	memset(libc, 0, sizeof(struct pool));
	start();
	blocks0 = live_blocks();
	zones0 = hm_memzone_count();
	mp = hm_mempool_create("destroy", N, 128, 8, 16, NULL, NULL, HM_SOCKET_ANY, 0);
	REQUIRE_NOT_NULL(mp);
	/* Objects out: refused, logged, and the pool as it was. */
	REQUIRE_EQ(hm_mempool_get_bulk(mp, objs, 3), 0);
	quiet();
	CHECK_EQ(hm_mempool_destroy(mp), -EBUSY);
	CHECK_EQ(t_log_lines(), 1);
	loud();
	CHECK_PTR_EQ(hm_mempool_lookup("destroy"), mp);
	COUNTS(mp, N - 3, 3);
	CHECK_EQ(hm_mempool_audit(mp), 0);
	REQUIRE_EQ(hm_mempool_get_bulk(mp, objs + 3, N - 3), 0);
	CHECK(all_distinct(objs, N));
	hm_mempool_put_bulk(mp, objs, N);
	fill_drain(mp, N);
	/* Objects in a user-owned cache are out too. */
	uc = hm_mempool_cache_create(8, HM_SOCKET_ANY);
	REQUIRE_NOT_NULL(uc);
	REQUIRE_EQ(hm_mempool_generic_get(mp, objs, 1, uc), 0);
	hm_mempool_generic_put(mp, objs, 1, uc);
	quiet();
	CHECK_EQ(hm_mempool_destroy(mp), -EBUSY);
	CHECK_EQ(t_log_lines(), 1);
	loud();
	hm_mempool_cache_flush(uc, mp);
	hm_mempool_cache_free(uc);
	/* Objects in the thread's own cache are free. */
	REQUIRE_EQ(hm_mempool_get(mp, &objs[0]), 0);
	hm_mempool_put(mp, objs[0]);
	CHECK_EQ(hm_mempool_destroy(mp), 0);
	CHECK_NULL_ERRNO(hm_mempool_lookup("destroy"), ENOENT);
	CHECK_EQ(live_blocks(), blocks0);
	CHECK_EQ(hm_memzone_count(), zones0);

	/* Not pools: logged and refused. */
	quiet();
	CHECK_EQ(hm_mempool_destroy(mp), -EINVAL);
	CHECK_EQ(hm_mempool_destroy_force(mp), -EINVAL);
	CHECK_EQ(hm_mempool_destroy(NULL), -EINVAL);
	CHECK_EQ(hm_mempool_destroy_force(NULL), -EINVAL);
	CHECK_EQ(hm_mempool_destroy((struct hm_mempool *)libc), -EINVAL);
	CHECK_EQ(hm_mempool_destroy_force((struct hm_mempool *)libc), -EINVAL);
	CHECK_EQ(t_log_lines(), 6);
	loud();
	CHECK_EQ(hm_mempool_audit(mp), -EINVAL);
	CHECK_EQ(hm_mempool_avail_count(mp), 0);
	CHECK_EQ(hm_mempool_in_use_count(mp), 0);
	CHECK_NULL(hm_mempool_get_priv(mp));

	/* The name is free again; destroy_force takes a pool with objects out. */
	again = hm_mempool_create("destroy", N, 128, 8, 16, NULL, NULL, HM_SOCKET_ANY, 0);
	REQUIRE_NOT_NULL(again);
	REQUIRE_EQ(hm_mempool_get_bulk(again, objs, 10), 0);
	CHECK_EQ(hm_mempool_destroy_force(again), 0);
	CHECK_NULL_ERRNO(hm_mempool_lookup("destroy"), ENOENT);
	CHECK_EQ(live_blocks(), blocks0);
	CHECK_EQ(hm_memzone_count(), zones0);
	again = hm_mempool_create("destroy", 10, 8, 0, 0, NULL, NULL, HM_SOCKET_ANY,
				  HM_MEMPOOL_F_STACK);
	REQUIRE_NOT_NULL(again);
	fill_drain(again, 10);
	CHECK_EQ(hm_mempool_destroy_force(again), 0);
	/* An empty pool (never populated) has nothing out. */
	again = hm_mempool_create_empty("destroy", 10, 8, 0, 0, HM_SOCKET_ANY, 0);
	REQUIRE_NOT_NULL(again);
	CHECK_EQ(hm_mempool_destroy(again), 0);
	CHECK_EQ(live_blocks(), blocks0);
	free(libc);
	hm_cleanup();
}

/* --- walk, dump, audit, stats --- */

struct walk_arg {
	unsigned n;
	bool seen[4];
	struct hm_mempool *pools[4];
	unsigned strangers;
};

static void walk_cb(struct hm_mempool *mp, void *arg)
{
	struct walk_arg *w = arg;

	w->n++;
	for (unsigned i = 0; i < 4; i++) {
		if (w->pools[i] == mp) {
			w->seen[i] = true;
			return;
		}
	}
	w->strangers++;
}

static void test_walk(void)
{
	struct walk_arg w = {0};
	const struct hm_memzone *z1, *z2;

	start();
	hm_mempool_walk(walk_cb, &w);
	CHECK_EQ(w.n, 0);
	w.pools[0] = hm_mempool_create("w0", 10, 8, 0, 0, NULL, NULL, HM_SOCKET_ANY, 0);
	w.pools[1] =
		hm_mempool_create("w1", 10, 8, 0, 0, NULL, NULL, HM_SOCKET_ANY, HM_MEMPOOL_F_STACK);
	w.pools[2] = hm_mempool_create_empty("w2", 10, 8, 0, 0, HM_SOCKET_ANY, 0);
	w.pools[3] = hm_mempool_create("w3", 10, 8, 0, 0, NULL, NULL, HM_SOCKET_ANY, 0);
	for (unsigned i = 0; i < 4; i++)
		REQUIRE_NOT_NULL(w.pools[i]);
	/* Things that are not pools: a ring, zones, one named as a pool's would be. */
	REQUIRE_NOT_NULL(hm_ring_create("w0", 64, HM_SOCKET_ANY, 0));
	z1 = hm_memzone_reserve("w1", 4096, HM_SOCKET_ANY, 0, 0, 0);
	z2 = hm_memzone_reserve("MP_notapool", 4096, HM_SOCKET_ANY, 0, 0, 0);
	REQUIRE_NOT_NULL(z1);
	REQUIRE_NOT_NULL(z2);
	memset(z2->addr, 0, z2->len);
	REQUIRE_NOT_NULL(hm_malloc("walk", 1000, 0));
	hm_mempool_walk(walk_cb, &w);
	CHECK_EQ(w.n, 4);
	CHECK_EQ(w.strangers, 0);
	for (unsigned i = 0; i < 4; i++)
		CHECK(w.seen[i]);
	/* A destroyed pool is no longer listed. */
	CHECK_EQ(hm_mempool_destroy(w.pools[3]), 0);
	memset(&w.seen, 0, sizeof(w.seen));
	w.n = 0;
	w.pools[3] = NULL;
	hm_mempool_walk(walk_cb, &w);
	CHECK_EQ(w.n, 3);
	CHECK_EQ(w.strangers, 0);
	hm_mempool_walk(NULL, NULL);
	hm_cleanup();
}

static void test_dump(void)
{
	struct hm_mempool *mp;
	void *obj;
	char *buf = NULL;
	size_t len = 0;
	FILE *f;
	int x = 0;

	start();
	mp = hm_mempool_create("dumped-pool", 100, 64, 8, 0, NULL, NULL, HM_SOCKET_ANY, 0);
	REQUIRE_NOT_NULL(mp);
	REQUIRE_EQ(hm_mempool_get(mp, &obj), 0);
	CHECK(dump_has(mp, "dumped-pool"));
	CHECK(dump_has(mp, "100 objects of 64 bytes"));
	CHECK(dump_has(mp, ", 1 out;"));
	CHECK(dump_has(mp, "chunk 0"));
	hm_mempool_put(mp, obj);
	CHECK(dump_has(mp, ", 0 out;"));
	f = open_memstream(&buf, &len);
	REQUIRE_NOT_NULL(f);
	hm_mempool_dump(f, NULL);
	hm_mempool_dump(f, (struct hm_mempool *)&x);
	fclose(f);
	REQUIRE_NOT_NULL(buf);
	CHECK(strstr(buf, "not a mempool") != NULL);
	CHECK(strstr(buf, "dumped-pool") == NULL);
	free(buf);
	CHECK_EQ(hm_mempool_destroy(mp), 0);
	hm_cleanup();
}

static void test_stats(void)
{
	enum { N = 100, C = 16 };
	struct hm_mempool *mp;
	struct hm_mempool_stats st;
	void *objs[N + 100];
	int x = 0;

	start();
	mp = hm_mempool_create("stats", N, 64, C, 0, NULL, NULL, HM_SOCKET_ANY, 0);
	REQUIRE_NOT_NULL(mp);
	CHECK_EQ(hm_mempool_get_stats(mp, NULL), -EINVAL);
	CHECK_EQ(hm_mempool_get_stats(NULL, &st), -EINVAL);
	CHECK_EQ(hm_mempool_get_stats((struct hm_mempool *)&x, &st), -EINVAL);
	st = stats(mp);
	CHECK_EQ(st.get_calls + st.get_objs + st.get_fail_calls + st.get_fail_objs + st.put_calls +
			 st.put_objs + st.cache_hits + st.cache_misses + st.refused_puts,
		 0);
	/* An empty cache: a miss that fills it. */
	REQUIRE_EQ(hm_mempool_get(mp, &objs[0]), 0);
	/* Served by the cache: a hit. */
	REQUIRE_EQ(hm_mempool_get_bulk(mp, objs + 1, 4), 0);
	hm_mempool_put_bulk(mp, objs, 5);
	/* Larger than the cache: a miss. */
	REQUIRE_EQ(hm_mempool_get_bulk(mp, objs, 20), 0);
	/* More than there is: a failure. */
	CHECK_EQ(hm_mempool_get_bulk(mp, objs + 20, N + 50), -ENOENT);
	CHECK_EQ(hm_mempool_get(mp, &objs[20]), 0);
	hm_mempool_put_bulk(mp, objs, 20);
	hm_mempool_put(mp, objs[20]);
	st = stats(mp);
	CHECK_EQ(st.get_calls, 4);
	CHECK_EQ(st.get_objs, 1 + 4 + 20 + 1);
	CHECK_EQ(st.get_fail_calls, 1);
	CHECK_EQ(st.get_fail_objs, N + 50);
	CHECK_EQ(st.put_calls, 3);
	CHECK_EQ(st.put_objs, 5 + 20 + 1);
	CHECK_EQ(st.cache_hits, 2);
	CHECK_EQ(st.cache_misses, 2);
	CHECK_EQ(st.cache_hits + st.cache_misses, st.get_calls);
	CHECK_EQ(st.refused_puts, 0);
	/* Drained one by one and refilled: every get counted, the fails too. */
	for (unsigned i = 0; i < N; i++)
		REQUIRE_EQ(hm_mempool_get(mp, &objs[i]), 0);
	for (unsigned i = 0; i < 7; i++)
		CHECK_EQ(hm_mempool_get(mp, &objs[N]), -ENOENT);
	for (unsigned i = 0; i < N; i++)
		hm_mempool_put(mp, objs[i]);
	st = stats(mp);
	CHECK_EQ(st.get_calls, 4 + N);
	CHECK_EQ(st.get_objs, 26 + N);
	CHECK_EQ(st.get_fail_calls, 8);
	CHECK_EQ(st.get_fail_objs, N + 50 + 7);
	CHECK_EQ(st.put_calls, 3 + N);
	CHECK_EQ(st.put_objs, 26 + N);
	CHECK_EQ(st.cache_hits + st.cache_misses, st.get_calls);
	CHECK_GT(st.cache_hits, N / 2);
	CHECK_GE(st.cache_misses, N / C);
	CHECK(dump_has(mp, "refused puts 0"));
	COUNTS(mp, N, 0);
	CHECK_EQ(hm_mempool_audit(mp), 0);
	CHECK_EQ(hm_mempool_destroy(mp), 0);
	/* Refused puts (a checked pool) are counted as such. */
	mp = hm_mempool_create("stats", N, 64, C, 0, NULL, NULL, HM_SOCKET_ANY,
			       HM_MEMPOOL_F_CHECKED);
	REQUIRE_NOT_NULL(mp);
	REQUIRE_EQ(hm_mempool_get(mp, &objs[0]), 0);
	hm_mempool_put(mp, objs[0]);
	quiet();
	hm_mempool_put(mp, NULL);
	hm_mempool_put(mp, &x);
	hm_mempool_put(mp, objs[0]);
	CHECK_EQ(t_log_lines(), 3);
	loud();
	st = stats(mp);
	CHECK_EQ(st.refused_puts, 3);
	CHECK_EQ(st.get_calls, 1);
	CHECK_EQ(st.get_objs, 1);
	/* Refused objects are not counted as put. */
	CHECK_EQ(st.put_calls, 1);
	CHECK_EQ(st.put_objs, 1);
	CHECK(dump_has(mp, "refused puts 3"));
	COUNTS(mp, N, 0);
	CHECK_EQ(hm_mempool_audit(mp), 0);
	CHECK_EQ(hm_mempool_destroy(mp), 0);
	hm_cleanup();
}

/* Calls with no cache count in the pool's statistics; calls through a caller's cache, in it. */
static void test_stats_other_caches(void)
{
	enum { N = 64 };
	struct hm_mempool_cache *uc;
	struct hm_mempool *mp;
	struct hm_mempool_stats st;
	void *objs[N + 1];

	start();
	mp = hm_mempool_create("stats2", N, 64, 8, 0, NULL, NULL, HM_SOCKET_ANY, 0);
	REQUIRE_NOT_NULL(mp);
	/* No cache at all. */
	REQUIRE_EQ(hm_mempool_generic_get(mp, objs, 10, NULL), 0);
	CHECK_EQ(hm_mempool_generic_get(mp, objs + 10, N, NULL), -ENOENT);
	hm_mempool_generic_put(mp, objs, 10, NULL);
	st = stats(mp);
	CHECK_EQ(st.get_calls, 1);
	CHECK_EQ(st.get_objs, 10);
	CHECK_EQ(st.get_fail_calls, 1);
	CHECK_EQ(st.get_fail_objs, N);
	CHECK_EQ(st.put_calls, 1);
	CHECK_EQ(st.put_objs, 10);
	/* A cache of the caller's: counted there, not in the pool. */
	uc = hm_mempool_cache_create(16, HM_SOCKET_ANY);
	REQUIRE_NOT_NULL(uc);
	CHECK_EQ(hm_mempool_cache_get_stats(NULL, &st), -EINVAL);
	CHECK_EQ(hm_mempool_cache_get_stats(uc, NULL), -EINVAL);
	REQUIRE_EQ(hm_mempool_generic_get(mp, objs, 4, uc), 0);
	REQUIRE_EQ(hm_mempool_generic_get(mp, objs + 4, 4, uc), 0);
	hm_mempool_generic_put(mp, objs, 8, uc);
	REQUIRE_EQ(hm_mempool_cache_get_stats(uc, &st), 0);
	CHECK_EQ(st.size, sizeof(st));
	CHECK_EQ(st.version, 1);
	CHECK_EQ(st.get_calls, 2);
	CHECK_EQ(st.get_objs, 8);
	CHECK_EQ(st.put_calls, 1);
	CHECK_EQ(st.put_objs, 8);
	CHECK_EQ(st.cache_hits + st.cache_misses, 2);
	CHECK_GE(st.cache_misses, 1);
	st = stats(mp);
	CHECK_EQ(st.get_calls, 1);
	CHECK_EQ(st.put_calls, 1);
	hm_mempool_cache_flush(uc, mp);
	hm_mempool_cache_free(uc);
	COUNTS(mp, N, 0);
	CHECK_EQ(hm_mempool_destroy(mp), 0);
	hm_cleanup();
}

int main(int argc, char **argv)
{
	t_init(argc, argv);
	T_RUN(test_before_init);
	T_RUN(test_bad_args);
	T_RUN(test_lookup);
	T_RUN(test_fill_drain);
	T_RUN(test_obj_init);
	T_RUN(test_contents);
	T_RUN(test_layout);
	T_RUN(test_priv);
	T_RUN(test_backends);
	T_RUN(test_set_ops_errors);
	T_RUN(test_populate);
	T_RUN(test_populate_short);
	T_RUN(test_no_memory);
	T_RUN(test_cache_sizes);
	T_RUN(test_cache_and_backend);
	T_RUN(test_user_cache);
	T_RUN(test_misuse);
	T_RUN(test_overrun);
	T_RUN(test_destroy);
	T_RUN(test_walk);
	T_RUN(test_dump);
	T_RUN(test_stats);
	T_RUN(test_stats_other_caches);
	return t_done();
}
