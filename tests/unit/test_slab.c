/* SPDX-License-Identifier: MIT */
/*
 * test_slab.c - slab object caches (hugemem/slab.h) in one thread, on 4 KiB
 * pages: the contract of the header and of the implementer's notes.
 *
 *   - before hm_init: ENXIO (create, lookup, kmalloc), nothing to walk;
 *   - create: every EINVAL (size 0 and above HM_SLAB_SIZE_MAX, align not a
 *     power of two or above HM_SLAB_ALIGN_MAX, unknown flags, NULL or empty
 *     name), ENAMETOOLONG at HM_SLAB_NAME_MAX, EEXIST, ENODEV; boundaries
 *     that work (size 1 and HM_SLAB_SIZE_MAX, align 1 and 4096, every flag);
 *     lookup (ENOENT, EINVAL, a zone that only looks like a cache);
 *     a zeroed struct that is not a cache is refused by every call;
 *   - geometry, for many shapes: stride (size rounded up to the alignment
 *     outside debug caches), slab size (a power of two of 4 KiB pages, less
 *     than an eighth wasted), objects per slab, every object aligned, inside
 *     its slab (found from its address alone), distinct; contents kept while
 *     allocated; objects of different caches and kmalloc never overlap;
 *   - colouring: slab k's first object at off0 + (k % colours) * 64, slabs
 *     filled in address order (without magazines);
 *   - constructor and destructor: once per object per slab made or given
 *     back, never on alloc; object caching (what the user left comes back),
 *     and poison instead in debug caches without a constructor; a failing
 *     constructor (ENOMEM, the slab's constructed objects destructed, nothing
 *     leaked, counted, alloc and alloc_bulk fail taking nothing, the next
 *     alloc works); a bulk that fails midway gives back what it took and
 *     counts no allocation or free;
 *   - shrink (bytes, heap blocks and free bytes given back, the thread's
 *     magazines after hm_thread_unregister), reaping past max(2, total/8)
 *     empty slabs, timed reaping with hm_slab_set_reap_interval (of empty
 *     slabs, and of full magazines left in the depot by a thread that exited);
 *   - destroy: -EBUSY with objects out (logged, the magazines emptied, the
 *     cache usable), 0 with objects only in magazines, the name free again,
 *     nothing leaked, -EINVAL for NULL, garbage and the kmalloc caches;
 *   - misuse, every build: free of NULL (nothing), of libc memory, a stack
 *     address, a heap block, another cache's object, a kmalloc object (each
 *     refused, logged once, counted, the audit clean); debug caches: double
 *     frees (also in a bulk), interior pointers, a write after free (found by
 *     the audit and at the next alloc of the object), a red zone of a free
 *     object overwritten (the same), overruns and underruns of one byte
 *     (found at free, the object freed all the same); owners;
 *   - bulk calls, statistics against what the test did, caches made and
 *     destroyed by the hundred (nothing left behind), walk, slabinfo,
 *     running out of memory, a cache on node 0, and a second instance that
 *     starts with no caches.
 */
#include "harness.h"
#include "internal.h"
#include <hugemem.h>
#include <hugemem/slab.h>

#include <pthread.h>
#include <stdlib.h>

#define MIB  ((size_t)1 << 20)
#define KIB  ((size_t)1 << 10)
#define PAGE ((size_t)4096)

#define DEFAULT_INTERVAL 1000u   /* ms: the library's default reap interval */
#define LONG_INTERVAL    600000u /* ms: no timed reaping within a test */

#define NO_MAG HM_SLAB_F_NO_MAGAZINES
#define DEBUG  HM_SLAB_F_DEBUG
#define HWC    HM_SLAB_F_HWCACHE_ALIGN

static void start_with(size_t limit)
{
	struct hm_config c;

	hm_config_defaults(&c);
	c.no_huge = true;
	c.memory_limit = limit;
	REQUIRE_EQ(hm_init(&c), 0);
	hm_slab_set_reap_interval(LONG_INTERVAL);
}

static void start(void)
{
	start_with(256 * MIB);
}

static void stop(void)
{
	hm_slab_set_reap_interval(DEFAULT_INTERVAL);
	hm_cleanup();
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

static struct hm_slab_stats stats(const struct hm_slab_cache *c)
{
	struct hm_slab_stats st;

	memset(&st, 0xee, sizeof(st));
	REQUIRE_EQ(hm_slab_get_stats(c, &st), 0);
	CHECK_EQ(st.size, sizeof(st));
	CHECK_EQ(st.version, 1);
	return st;
}

static struct hm_malloc_stats heap(void)
{
	struct hm_malloc_stats st;

	REQUIRE_EQ(hm_malloc_get_stats(HM_SOCKET_ANY, &st), 0);
	return st;
}

static size_t live_blocks(void)
{
	return heap().live_blocks;
}

static size_t slab_size(const struct hm_slab_stats *st)
{
	return (size_t)st->pages_per_slab * PAGE;
}

static uintptr_t slab_base(const struct hm_slab_stats *st, const void *p)
{
	return (uintptr_t)p & ~(uintptr_t)(slab_size(st) - 1);
}

/* Whether a cache of these flags is a debug cache in this build. */
static bool debug_cache(unsigned flags)
{
	return HM_DEBUG >= 1 || (flags & DEBUG);
}

static size_t eff_align(size_t align, unsigned flags)
{
	return align ? align : flags & HWC ? 64 : 8;
}

static struct hm_slab_cache *make_ctor(const char *name, size_t size, size_t align, unsigned flags,
				       hm_slab_ctor *ctor, hm_slab_dtor *dtor, void *arg)
{
	struct hm_slab_cache *c = hm_slab_create(name, size, align, flags, ctor, dtor, arg);

	if (!c)
		t_fail(__FILE__, __LINE__, true, "create %s (size %zu align %zu flags %#x): %s",
		       name, size, align, flags, strerror(errno));
	return c;
}

static struct hm_slab_cache *make(const char *name, size_t size, size_t align, unsigned flags)
{
	return make_ctor(name, size, align, flags, NULL, NULL, NULL);
}

/* The same, but a failure only fails the check (the caller goes on without the cache). */
static struct hm_slab_cache *make_try_at(const char *name, size_t size, size_t align,
					 unsigned flags, int line)
{
	struct hm_slab_cache *c = hm_slab_create(name, size, align, flags, NULL, NULL, NULL);

	if (!c)
		t_fail(__FILE__, line, false, "create %s (size %zu align %zu flags %#x): %s", name,
		       size, align, flags, strerror(errno));
	return c;
}
#define make_try(name, size, align, flags) make_try_at(name, size, align, flags, __LINE__)

/* A byte of the pattern of the object at a, at index i. */
static uint8_t pat(uintptr_t a, size_t i)
{
	uint32_t x = (uint32_t)(a >> 3) * 2654435761u + (uint32_t)i * 97u + 11u;

	return (uint8_t)((x >> 24) ^ x);
}

static void fill(void *p, size_t n)
{
	uint8_t *b = p;

	for (size_t i = 0; i < n; i++)
		b[i] = pat((uintptr_t)p, i);
}

static bool filled(const void *p, size_t n)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < n; i++)
		if (b[i] != pat((uintptr_t)p, i))
			return false;
	return true;
}

/* Change one byte the library may have hidden from the memory checker (on purpose). */
static void damage(void *p)
{
	volatile uint8_t *b = p;

	hm_track_undefined(p, 1);
	hm_track_defined(p, 1);
	*b = (uint8_t)(*b ^ 0x5a);
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

static void shuffle(void **objs, unsigned n)
{
	for (unsigned i = n; i > 1; i--) {
		unsigned j = (unsigned)t_rand_below(i);
		void *t = objs[i - 1];

		objs[i - 1] = objs[j];
		objs[j] = t;
	}
}

/* Give the calling thread's magazines back (they go to the depot and the slabs). */
static void flush_magazines(void)
{
	CHECK_EQ(hm_thread_unregister(), 0);
}

/* Everything is free: give the thread's magazines back and shrink to nothing. */
static void shrink_to_zero(struct hm_slab_cache *c)
{
	struct hm_slab_stats st;
	size_t got;

	flush_magazines();
	st = stats(c);
	CHECK_EQ(st.active_objs, 0);
	got = hm_slab_shrink(c);
	CHECK_EQ(got, st.total_slabs * slab_size(&st));
	st = stats(c);
	CHECK_EQ(st.total_slabs, 0);
	CHECK_EQ(st.total_objs, 0);
	CHECK_EQ(st.active_slabs, 0);
	CHECK_EQ(st.depot_full, 0);
	CHECK_EQ(hm_slab_audit(c), 0);
}

static void count_cb(struct hm_slab_cache *c, void *arg)
{
	(void)c;
	(*(unsigned *)arg)++;
}

/* --- before hm_init, and every argument error --- */

static void test_before_init(void)
{
	struct hm_slab_stats st;
	unsigned n = 0;
	int rc;

	CHECK(!hm_initialized());
	CHECK_NULL_ERRNO(hm_slab_create("x", 64, 0, 0, NULL, NULL, NULL), ENXIO);
	CHECK_NULL_ERRNO(hm_slab_lookup("x"), ENXIO);
	CHECK_NULL_ERRNO(hm_kmalloc(64), ENXIO);
	CHECK_NULL_ERRNO(hm_kzalloc(64), ENXIO);
	CHECK_NULL_ERRNO(hm_krealloc(NULL, 64), ENXIO);
	hm_kfree(NULL);
	CHECK_EQ(hm_ksize(NULL), 0);
	rc = hm_slab_destroy(NULL);
	CHECK(rc == -ENXIO || rc == -EINVAL);
	CHECK_EQ(hm_slab_get_stats(NULL, &st), -EINVAL);
	hm_slab_walk(count_cb, &n);
	CHECK_EQ(n, 0);
	hm_slab_set_reap_interval(DEFAULT_INTERVAL);
	/* And nothing was left behind for the next init: no cache at all. */
	start();
	hm_slab_walk(count_cb, &n);
	CHECK_EQ(n, 0);
	CHECK_NULL_ERRNO(hm_slab_lookup("x"), ENOENT);
	stop();
}

static void test_bad_args(void)
{
	char name[HM_SLAB_NAME_MAX + 16];
	struct hm_slab_cache *c;
	unsigned n = 0;
	int e;

	start();
	quiet();
	CHECK_NULL_ERRNO(hm_slab_create("e", 0, 0, 0, NULL, NULL, NULL), EINVAL);
	CHECK_NULL_ERRNO(hm_slab_create("e", HM_SLAB_SIZE_MAX + 1, 0, 0, NULL, NULL, NULL), EINVAL);
	CHECK_NULL_ERRNO(hm_slab_create("e", SIZE_MAX, 0, 0, NULL, NULL, NULL), EINVAL);
	CHECK_NULL_ERRNO(hm_slab_create("e", (size_t)1 << 32, 0, 0, NULL, NULL, NULL), EINVAL);
	CHECK_NULL_ERRNO(hm_slab_create("e", 64, 3, 0, NULL, NULL, NULL), EINVAL);
	CHECK_NULL_ERRNO(hm_slab_create("e", 64, 12, 0, NULL, NULL, NULL), EINVAL);
	CHECK_NULL_ERRNO(hm_slab_create("e", 64, 8192, 0, NULL, NULL, NULL), EINVAL);
	CHECK_NULL_ERRNO(hm_slab_create("e", 64, (size_t)1 << 40, 0, NULL, NULL, NULL), EINVAL);
	CHECK_NULL_ERRNO(hm_slab_create("e", 64, SIZE_MAX, 0, NULL, NULL, NULL), EINVAL);
	CHECK_NULL_ERRNO(hm_slab_create("e", 64, 0, 0x100, NULL, NULL, NULL), EINVAL);
	CHECK_NULL_ERRNO(hm_slab_create("e", 64, 0, 0x8, NULL, NULL, NULL), EINVAL);
	CHECK_NULL_ERRNO(hm_slab_create("e", 64, 0, 0x10000, NULL, NULL, NULL), EINVAL);
	CHECK_NULL_ERRNO(hm_slab_create("e", 64, 0, 0x800000, NULL, NULL, NULL), EINVAL);
	CHECK_NULL_ERRNO(hm_slab_create(NULL, 64, 0, 0, NULL, NULL, NULL), EINVAL);
	CHECK_NULL_ERRNO(hm_slab_create("", 64, 0, 0, NULL, NULL, NULL), EINVAL);
	CHECK_NULL_ERRNO(hm_slab_create("e", 64, 0, HM_SLAB_F_NODE(200), NULL, NULL, NULL), ENODEV);
	CHECK_NULL_ERRNO(hm_slab_create("e", 64, 0, HM_SLAB_F_NODE(64), NULL, NULL, NULL), ENODEV);
	/* The library's own bit is not a flag for callers (it is also the node field's top bit). */
	errno = 0;
	CHECK_NULL(hm_slab_create("e", 64, 0, HM__SLAB_SLOW, NULL, NULL, NULL));
	e = errno;
	CHECK(e == EINVAL || e == ENODEV);
	/* The longest name fits; one more byte does not. */
	memset(name, 'n', sizeof(name));
	name[HM_SLAB_NAME_MAX - 1] = '\0';
	c = hm_slab_create(name, 64, 0, 0, NULL, NULL, NULL);
	REQUIRE_NOT_NULL(c);
	CHECK_STR_EQ(stats(c).name, name);
	CHECK_PTR_EQ(hm_slab_lookup(name), c);
	CHECK_NULL_ERRNO(hm_slab_create(name, 64, 0, 0, NULL, NULL, NULL), EEXIST);
	CHECK_NULL_ERRNO(hm_slab_create(name, 128, 16, NO_MAG, NULL, NULL, NULL), EEXIST);
	CHECK_EQ(hm_slab_destroy(c), 0);
	name[HM_SLAB_NAME_MAX - 1] = 'n';
	name[HM_SLAB_NAME_MAX] = '\0';
	CHECK_NULL_ERRNO(hm_slab_create(name, 64, 0, 0, NULL, NULL, NULL), ENAMETOOLONG);
	name[HM_SLAB_NAME_MAX + 8] = '\0';
	CHECK_NULL_ERRNO(hm_slab_create(name, 64, 0, 0, NULL, NULL, NULL), ENAMETOOLONG);
	loud();
	/* Boundaries that are fine. */
	{
		static const struct {
			size_t size, align;
			unsigned flags;
		} ok[] = {
			{1, 1, 0},
			{8, 0, 0},
			{HM_SLAB_SIZE_MAX, HM_SLAB_ALIGN_MAX, 0},
			{8, 0, HWC | DEBUG | NO_MAG | HM_SLAB_F_NODE(0)},
			{100, 2, 0},
			{1, 0, NO_MAG},
		};

		for (unsigned i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
			c = make_try("edge", ok[i].size, ok[i].align, ok[i].flags);
			if (c) {
				CHECK_EQ(stats(c).obj_size, ok[i].size);
				CHECK_EQ(hm_slab_destroy(c), 0);
			}
		}
	}
	/* No failure left a cache or a name behind. */
	CHECK_NULL_ERRNO(hm_slab_lookup("e"), ENOENT);
	hm_slab_walk(count_cb, &n);
	CHECK_EQ(n, 0);
	stop();
}

static void test_lookup(void)
{
	struct hm_slab_cache *a, *b;
	const struct hm_memzone *mz;

	start();
	a = make("look-a", 64, 0, 0);
	b = make("look-b", 64, 0, NO_MAG);
	CHECK(a != b);
	CHECK_PTR_EQ(hm_slab_lookup("look-a"), a);
	CHECK_PTR_EQ(hm_slab_lookup("look-b"), b);
	CHECK_STR_EQ(stats(a).name, "look-a");
	CHECK_NULL_ERRNO(hm_slab_lookup("look-c"), ENOENT);
	CHECK_NULL_ERRNO(hm_slab_lookup("look"), ENOENT);
	CHECK_NULL_ERRNO(hm_slab_lookup("Look-a"), ENOENT);
	CHECK_NULL_ERRNO(hm_slab_lookup(NULL), EINVAL);
	CHECK_NULL_ERRNO(hm_slab_lookup(""), EINVAL);
	/* A zone named as a cache's zone would be is not a cache. */
	mz = hm_memzone_reserve("SL_fake", 4096, HM_SOCKET_ANY, 0, 0, 0);
	if (mz) {
		memset(mz->addr, 0, mz->len);
		CHECK_NULL_ERRNO(hm_slab_lookup("fake"), ENOENT);
		CHECK_EQ(hm_slab_audit((struct hm_slab_cache *)mz->addr), -EINVAL);
		CHECK_EQ(hm_memzone_free(mz), 0);
	}
	/* Mempools and rings have names of their own. */
	REQUIRE_NOT_NULL(hm_ring_create("look-a", 64, HM_SOCKET_ANY, 0));
	CHECK_PTR_EQ(hm_slab_lookup("look-a"), a);
	CHECK_EQ(hm_slab_destroy(a), 0);
	CHECK_NULL_ERRNO(hm_slab_lookup("look-a"), ENOENT);
	CHECK_PTR_EQ(hm_slab_lookup("look-b"), b);
	CHECK_EQ(hm_slab_destroy(b), 0);
	CHECK_NULL_ERRNO(hm_slab_lookup("look-b"), ENOENT);
	stop();
}

/* A zeroed struct that is not a cache: every call refuses it. */
static void test_not_a_cache(void)
{
	struct hm_slab_cache *fake = calloc(1, 4096); /* larger than any cache's head */
	struct hm_slab_stats st;
	void *objs[4] = {NULL};
	uint64_t x = 0;

	REQUIRE_NOT_NULL(fake);
	start();
	quiet();
	CHECK_NULL_ERRNO(hm_slab_alloc(fake), EINVAL);
	errno = 0;
	CHECK_EQ(hm_slab_alloc_bulk(fake, objs, 4), 0);
	CHECK_EQ(errno, EINVAL);
	hm_slab_free(fake, &x);
	hm_slab_free_bulk(fake, (void *const *)objs, 0);
	CHECK_EQ(hm_slab_get_stats(fake, &st), -EINVAL);
	CHECK_EQ(hm_slab_audit(fake), -EINVAL);
	CHECK_EQ(hm_slab_audit(NULL), -EINVAL);
	CHECK_EQ(hm_slab_obj_owner(fake, &x), -EINVAL);
	CHECK_EQ(hm_slab_shrink(fake), 0);
	CHECK_EQ(hm_slab_shrink(NULL), 0);
	CHECK_EQ(hm_slab_destroy(fake), -EINVAL);
	CHECK_EQ(hm_slab_destroy(NULL), -EINVAL);
	CHECK_EQ(x, 0);
	loud();
	{
		struct hm_slab_cache *c = make("real", 64, 0, 0);

		CHECK_EQ(hm_slab_get_stats(c, NULL), -EINVAL);
		CHECK_EQ(hm_slab_destroy(c), 0);
	}
	stop();
	free(fake);
}

/* --- geometry, fill and drain --- */

struct shape {
	size_t size, align;
	unsigned flags;
	unsigned slabs; /* full slabs to allocate, then half a slab more */
};

static const struct shape shapes[] = {
	{1, 0, 0, 3},
	{8, 0, 0, 3},
	{13, 1, 0, 2},
	{13, 2, NO_MAG, 2},
	{24, 0, HWC, 3},
	{64, 64, 0, 3},
	{100, 0, NO_MAG, 4},
	{100, 16, DEBUG, 3},
	{200, 8, DEBUG | NO_MAG, 3},
	{1000, 16, 0, 3},
	{4000, 4096, 0, 3},
	{4096, 0, 0, 2},
	{4097, 0, NO_MAG, 2},
	{65536, 0, 0, 2},
	{100000, 32, HWC | DEBUG, 2},
	{HM_SLAB_SIZE_MAX, 0, NO_MAG, 2},
	{HM_SLAB_SIZE_MAX, 4096, 0, 1},
};

/* The geometry stats report for a cache of size, align and flags. */
static void check_geometry(const struct hm_slab_stats *st, size_t size, size_t align,
			   unsigned flags)
{
	size_t a = eff_align(align, flags), s = slab_size(st);

	CHECK_EQ(st->obj_size, size);
	CHECK_GE(st->stride, size);
	CHECK_EQ(st->stride % a, 0);
	/* Size rounded up to the alignment (at least 8 bytes: the header names no
	 * smaller stride, and "0 means 8"). */
	if (!debug_cache(flags))
		CHECK_EQ(st->stride, hm__align_up(size, a < 8 ? 8 : a));
	else
		CHECK_GT(st->stride, size); /* red zones */
	CHECK(hm__is_pow2(st->pages_per_slab));
	CHECK_GE(st->objs_per_slab, 1);
	/* The objects and the slab's first word (its cache) fit ... */
	CHECK_LE(st->objs_per_slab * st->stride + 8, s);
	/* ... and less than an eighth is left over beyond the slab's header and
	 * free-index array (counted here as at most 256 bytes and 2 per object,
	 * up to the alignment, and 64 bytes at the end). */
	{
		uint64_t left = s - st->objs_per_slab * st->stride;
		uint64_t books = hm__align_up(256 + 2 * st->objs_per_slab, a) + 64;

		CHECK_LT((left > books ? left - books : 0) * 8, s);
	}
	CHECK_GE(st->colours, 1);
	if (flags & NO_MAG)
		CHECK_EQ(st->magazine_size, 0);
	else
		CHECK_GT(st->magazine_size, 0);
}

/* Objects all aligned, inside their slabs, in slabs of the cache, a stride apart in one slab. */
static void check_objects(struct hm_slab_cache *c, const struct hm_slab_stats *st, void **objs,
			  unsigned n, size_t align, unsigned flags)
{
	size_t a = eff_align(align, flags), s = slab_size(st);
	unsigned bad_align = 0, bad_slab = 0, bad_mine = 0, bad_stride = 0, bad_cache = 0;
	void **sorted = malloc(n * sizeof(void *));

	REQUIRE_NOT_NULL(sorted);
	for (unsigned i = 0; i < n; i++) {
		uintptr_t p = (uintptr_t)objs[i], base = slab_base(st, objs[i]);

		if (p % a)
			bad_align++;
		if (p < base + 8 || p + st->obj_size > base + s)
			bad_slab++;
		if (!hm__slab_mine(c, objs[i]))
			bad_mine++;
		/* The slab's first word is its cache. */
		if (*(struct hm_slab_cache *const *)base != c)
			bad_cache++;
	}
	memcpy(sorted, objs, n * sizeof(void *));
	qsort(sorted, n, sizeof(void *), cmp_ptr);
	for (unsigned i = 1; i < n; i++) {
		uintptr_t p = (uintptr_t)sorted[i - 1], q = (uintptr_t)sorted[i];

		if (slab_base(st, sorted[i - 1]) == slab_base(st, sorted[i]) &&
		    (q - p) % st->stride != 0)
			bad_stride++;
		if (p + st->obj_size > q)
			bad_stride++;
	}
	CHECK_EQ(bad_align, 0);
	CHECK_EQ(bad_slab, 0);
	CHECK_EQ(bad_mine, 0);
	CHECK_EQ(bad_cache, 0);
	CHECK_EQ(bad_stride, 0);
	free(sorted);
}

static unsigned count_slabs(const struct hm_slab_stats *st, void **objs, unsigned n)
{
	uintptr_t *b = malloc((n ? n : 1) * sizeof(uintptr_t));
	unsigned k = 0;

	REQUIRE_NOT_NULL(b);
	for (unsigned i = 0; i < n; i++)
		b[i] = slab_base(st, objs[i]);
	qsort(b, n, sizeof(uintptr_t), cmp_ptr);
	for (unsigned i = 0; i < n; i++)
		k += i == 0 || b[i] != b[i - 1];
	free(b);
	return k;
}

static void fill_drain(const struct shape *sh, unsigned idx)
{
	struct hm_slab_cache *c;
	struct hm_slab_stats st;
	char name[32];
	unsigned n, bad = 0;
	void **objs;

	snprintf(name, sizeof(name), "fd%u", idx);
	c = make_try(name, sh->size, sh->align, sh->flags);
	if (!c)
		return;
	st = stats(c);
	CHECK_STR_EQ(st.name, name);
	CHECK_EQ(st.total_slabs, 0); /* no memory until the first alloc */
	CHECK_EQ(st.total_objs, 0);
	check_geometry(&st, sh->size, sh->align, sh->flags);
	n = sh->slabs * st.objs_per_slab + (st.objs_per_slab + 1) / 2;
	objs = calloc(n, sizeof(void *));
	REQUIRE_NOT_NULL(objs);
	for (unsigned i = 0; i < n; i++) {
		objs[i] = hm_slab_alloc(c);
		if (!objs[i]) {
			t_fail(__FILE__, __LINE__, true, "%s: alloc %u of %u: %s", name, i, n,
			       strerror(errno));
		}
		fill(objs[i], sh->size);
	}
	CHECK(all_distinct(objs, n));
	check_objects(c, &st, objs, n, sh->align, sh->flags);
	for (unsigned i = 0; i < n; i++)
		if (!filled(objs[i], sh->size))
			bad++;
	CHECK_EQ(bad, 0);
	st = stats(c);
	CHECK_EQ(st.active_objs, n);
	CHECK_EQ(st.allocs, n);
	CHECK_EQ(st.frees, 0);
	CHECK_GE(st.high_mark, n);
	CHECK_EQ(st.total_objs, st.total_slabs * st.objs_per_slab);
	CHECK_EQ(st.slabs_grown, st.total_slabs);
	CHECK_EQ(st.slabs_reaped, 0);
	CHECK_LE(st.active_slabs, st.total_slabs);
	CHECK_EQ(st.errors, 0);
	if (sh->flags & NO_MAG) {
		/* Filled one after the other: exactly the slabs needed. */
		CHECK_EQ(st.total_slabs, sh->slabs + 1);
		CHECK_EQ(st.active_slabs, sh->slabs + 1);
		CHECK_EQ(count_slabs(&st, objs, n), sh->slabs + 1);
	} else {
		CHECK_GE(st.total_slabs, sh->slabs + 1);
		CHECK_LE(count_slabs(&st, objs, n), st.active_slabs);
	}
	CHECK_EQ(hm_slab_audit(c), 0);
	/* Back in a shuffled order, one by one and in bulks. */
	shuffle(objs, n);
	for (unsigned i = 0; i < n / 2; i++)
		hm_slab_free(c, objs[i]);
	for (unsigned i = n / 2; i < n;) {
		unsigned k = 1 + (unsigned)t_rand_below(20);

		if (k > n - i)
			k = n - i;
		hm_slab_free_bulk(c, objs + i, k);
		i += k;
	}
	st = stats(c);
	CHECK_EQ(st.active_objs, 0);
	CHECK_EQ(st.frees, n);
	CHECK_EQ(st.errors, 0);
	CHECK_EQ(hm_slab_audit(c), 0);
	/* And all again, in one bulk. */
	REQUIRE_EQ(hm_slab_alloc_bulk(c, objs, n), n);
	CHECK(all_distinct(objs, n));
	check_objects(c, &st, objs, n, sh->align, sh->flags);
	CHECK_EQ(stats(c).active_objs, n);
	hm_slab_free_bulk(c, objs, n);
	shrink_to_zero(c);
	CHECK_EQ(hm_slab_destroy(c), 0);
	free(objs);
}

static void test_fill_drain(void)
{
	start();
	for (unsigned i = 0; i < sizeof(shapes) / sizeof(shapes[0]); i++)
		fill_drain(&shapes[i], i);
	stop();
}

/* Objects of several caches and of kmalloc, allocated interleaved: none overlaps another. */
struct piece {
	void *p;
	size_t size;
};

static int cmp_piece(const void *a, const void *b)
{
	const struct piece *x = a, *y = b;

	return (uintptr_t)x->p < (uintptr_t)y->p ? -1 : (uintptr_t)x->p > (uintptr_t)y->p;
}

static void test_no_overlap(void)
{
	enum { N = 3000, CACHES = 6 };
	static const size_t sizes[CACHES] = {8, 40, 100, 512, 3000, 20000};
	struct hm_slab_cache *c[CACHES];
	struct piece *pc = calloc(N, sizeof(*pc));
	int *owner = calloc(N, sizeof(int));
	unsigned bad = 0, failed = 0;

	REQUIRE_NOT_NULL(pc);
	REQUIRE_NOT_NULL(owner);
	start();
	for (unsigned i = 0; i < CACHES; i++) {
		char name[16];

		snprintf(name, sizeof(name), "ov%u", i);
		c[i] = make_try(name, sizes[i], 0, i % 2 ? NO_MAG : 0);
	}
	for (unsigned i = 0; i < N; i++) {
		unsigned k = (unsigned)t_rand_below(CACHES + 1);

		if (k < CACHES && !c[k])
			k = CACHES; /* (reported above) */
		if (k == CACHES) {
			pc[i].size = 1 + (size_t)t_rand_below(t_rand_below(4) ? 600 : 150000);
			pc[i].p = hm_kmalloc(pc[i].size);
		} else {
			pc[i].size = sizes[k];
			pc[i].p = hm_slab_alloc(c[k]);
		}
		if (!pc[i].p) {
			if (failed++ == 0)
				t_fail(__FILE__, __LINE__, false,
				       "alloc %u (source %u, size %zu): %s", i, k, pc[i].size,
				       strerror(errno));
			pc[i].size = 0;
		}
		owner[i] = (int)k;
		fill(pc[i].p, pc[i].size);
	}
	for (unsigned i = 0; i < N; i++)
		if (!filled(pc[i].p, pc[i].size))
			bad++;
	CHECK_EQ(bad, 0);
	for (unsigned i = 0; i < N; i++) {
		if (owner[i] == CACHES)
			hm_kfree(pc[i].p);
		else
			hm_slab_free(c[owner[i]], pc[i].p);
	}
	/* Freed above in allocation order, checked here in address order. */
	qsort(pc, N, sizeof(*pc), cmp_piece);
	for (unsigned i = 1; i < N; i++)
		if (pc[i - 1].p && (uintptr_t)pc[i - 1].p + pc[i - 1].size > (uintptr_t)pc[i].p)
			bad++;
	CHECK_EQ(bad, 0);
	CHECK_EQ(failed, 0);
	for (unsigned i = 0; i < CACHES; i++) {
		if (!c[i])
			continue;
		CHECK_EQ(stats(c[i]).active_objs, 0);
		CHECK_EQ(stats(c[i]).errors, 0);
		CHECK_EQ(hm_slab_audit(c[i]), 0);
		CHECK_EQ(hm_slab_destroy(c[i]), 0);
	}
	stop();
	free(pc);
	free(owner);
}

/* --- colouring --- */

/* Slab k's first object at off0 + (k % colours) * 64; returns the colours. */
static unsigned colours_of(size_t size, size_t align, unsigned flags)
{
	struct hm_slab_cache *c = make("colour", size, align, flags | NO_MAG);
	struct hm_slab_stats st = stats(c);
	unsigned n = st.objs_per_slab, k_slabs, bad_order = 0, bad_colour = 0, bad_fit = 0;
	size_t s = slab_size(&st);
	uintptr_t off0 = 0;
	void **objs;

	k_slabs = 2 * st.colours + 1;
	if (k_slabs > 40)
		k_slabs = 40;
	objs = calloc((size_t)n * k_slabs, sizeof(void *));
	REQUIRE_NOT_NULL(objs);
	for (unsigned i = 0; i < n * k_slabs; i++) {
		objs[i] = hm_slab_alloc(c);
		REQUIRE_NOT_NULL(objs[i]);
	}
	for (unsigned k = 0; k < k_slabs; k++) {
		void **o = objs + (size_t)k * n;
		uintptr_t base = slab_base(&st, o[0]), off = (uintptr_t)o[0] - base;

		/* A fresh slab hands its objects out in address order. */
		for (unsigned j = 1; j < n; j++)
			if (slab_base(&st, o[j]) != base ||
			    (uintptr_t)o[j] != (uintptr_t)o[j - 1] + st.stride)
				bad_order++;
		if (k == 0)
			off0 = off;
		if (eff_align(align, flags) <= 64 && off != off0 + (k % st.colours) * 64) {
			if (bad_colour++ == 0)
				t_fail(__FILE__, __LINE__, false,
				       "size %zu: slab %u at offset %#lx, want %#lx + %u * 64",
				       size, k, (unsigned long)off, (unsigned long)off0,
				       k % st.colours);
		}
		if (off + (size_t)n * st.stride > s)
			bad_fit++;
		if (k > 0 && slab_base(&st, o[-1]) == base)
			bad_order++;
	}
	CHECK_EQ(bad_order, 0);
	CHECK_EQ(bad_colour, 0);
	CHECK_EQ(bad_fit, 0);
	/* The last colour still fits in the slab. */
	CHECK_LE(off0 + (st.colours - 1) * 64 + (size_t)n * st.stride, s);
	CHECK_EQ(count_slabs(&st, objs, n * k_slabs), k_slabs);
	check_objects(c, &st, objs, n * k_slabs, align, flags);
	st = stats(c);
	CHECK_EQ(st.total_slabs, k_slabs);
	CHECK_EQ(st.slabs_grown, k_slabs);
	CHECK_EQ(st.active_slabs, k_slabs);
	CHECK_EQ(st.total_objs, (uint64_t)n * k_slabs);
	CHECK_EQ(st.active_objs, (uint64_t)n * k_slabs);
	hm_slab_free_bulk(c, objs, n * k_slabs);
	shrink_to_zero(c);
	CHECK_EQ(hm_slab_destroy(c), 0);
	free(objs);
	return st.colours;
}

static void test_colouring(void)
{
	static const struct {
		size_t size, align;
		unsigned flags;
	} s[] = {
		{200, 8, 0},  {600, 8, 0},    {72, 8, 0},     {1000, 0, 0},    {100, 0, HWC},
		{3000, 0, 0}, {24, 0, 0},     {1300, 0, 0},   {330, 0, DEBUG}, {2000, 64, 0},
		{520, 0, 0},  {5000, 128, 0}, {700, 4096, 0},
	};
	unsigned several = 0;

	start();
	for (unsigned i = 0; i < sizeof(s) / sizeof(s[0]); i++) {
		unsigned n = colours_of(s[i].size, s[i].align, s[i].flags);

		if (n > 2)
			several++;
	}
	/* Some of these shapes leave room for more than two colours. */
	CHECK_GE(several, 1);
	stop();
}

/* --- constructor and destructor --- */

#define VIRGIN 0xc7

struct cd {
	unsigned calls; /* constructor calls */
	unsigned ctors; /* that succeeded */
	unsigned dtors;
	unsigned fail_at; /* the call (counted from 1) that fails; 0: none */
	unsigned bad;
	size_t size;
};

static int ctor(void *obj, void *arg)
{
	struct cd *cd = arg;

	cd->calls++;
	if (cd->fail_at && cd->calls == cd->fail_at)
		return -ENOMEM;
	if ((uintptr_t)obj % 8)
		cd->bad++;
	memset(obj, VIRGIN, cd->size);
	cd->ctors++;
	return 0;
}

static void dtor(void *obj, void *arg)
{
	struct cd *cd = arg;

	if (!obj)
		cd->bad++;
	cd->dtors++;
}

static bool virgin(const void *p, size_t n)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < n; i++)
		if (b[i] != VIRGIN)
			return false;
	return true;
}

static void ctor_dtor(unsigned flags)
{
	enum { SIZE = 96 };
	struct cd cd = {.size = SIZE};
	struct hm_slab_cache *c = make_ctor("ctor", SIZE, 0, flags, ctor, dtor, &cd);
	struct hm_slab_stats st = stats(c);
	unsigned n = 3 * st.objs_per_slab, not_virgin = 0, kept = 0, other = 0;
	void **objs = calloc(n, sizeof(void *));

	REQUIRE_NOT_NULL(objs);
	CHECK_EQ(cd.calls, 0); /* no slab yet */
	objs[0] = hm_slab_alloc(c);
	REQUIRE_NOT_NULL(objs[0]);
	st = stats(c);
	CHECK_EQ(cd.ctors, st.slabs_grown * st.objs_per_slab);
	CHECK_GE(st.slabs_grown, 1);
	for (unsigned i = 1; i < n; i++) {
		objs[i] = hm_slab_alloc(c);
		REQUIRE_NOT_NULL(objs[i]);
	}
	st = stats(c);
	/* Once per object of every slab made, never on alloc. */
	CHECK_EQ(cd.ctors, st.slabs_grown * st.objs_per_slab);
	CHECK_EQ(cd.calls, cd.ctors);
	CHECK_EQ(cd.dtors, 0);
	for (unsigned i = 0; i < n; i++) {
		if (!virgin(objs[i], SIZE))
			not_virgin++;
		fill(objs[i], SIZE);
	}
	CHECK_EQ(not_virgin, 0);
	hm_slab_free_bulk(c, objs, n);
	st = stats(c);
	/* Slabs given back (reaping) are destructed, the others are not. */
	CHECK_EQ(cd.dtors, st.slabs_reaped * st.objs_per_slab);
	CHECK_EQ(cd.ctors - cd.dtors, st.total_objs);
	/* Out again: as the constructor left them, or as the user did; never re-constructed. */
	for (unsigned i = 0; i < n; i++) {
		objs[i] = hm_slab_alloc(c);
		REQUIRE_NOT_NULL(objs[i]);
		if (filled(objs[i], SIZE))
			kept++;
		else if (!virgin(objs[i], SIZE))
			other++;
	}
	CHECK_EQ(other, 0);
	CHECK_GT(kept, 0);
	st = stats(c);
	CHECK_EQ(cd.ctors - cd.dtors, st.total_objs);
	CHECK_EQ(cd.ctors, st.slabs_grown * st.objs_per_slab);
	hm_slab_free_bulk(c, objs, n);
	shrink_to_zero(c);
	CHECK_EQ(cd.dtors, cd.ctors);
	/* Destroy destructs what the cache still holds. */
	REQUIRE_NOT_NULL(objs[0] = hm_slab_alloc(c));
	hm_slab_free(c, objs[0]);
	CHECK_GT(cd.ctors, cd.dtors);
	CHECK_EQ(hm_slab_destroy(c), 0);
	CHECK_EQ(cd.dtors, cd.ctors);
	CHECK_EQ(cd.bad, 0);
	free(objs);
}

/* A constructor that fails: ENOMEM, the slab's constructed objects destructed, nothing kept. */
static void ctor_fails_no_mag(unsigned flags)
{
	enum { SIZE = 200 };
	struct cd cd = {.size = SIZE};
	struct hm_slab_cache *c = make_ctor("ctorfail", SIZE, 0, flags | NO_MAG, ctor, dtor, &cd);
	struct hm_slab_stats st0, st;
	unsigned n, ctors0, dtors0;
	size_t blocks0;
	void **objs, *p;

	/* Slab 0, full. */
	p = hm_slab_alloc(c);
	REQUIRE_NOT_NULL(p);
	st0 = stats(c);
	n = st0.objs_per_slab;
	REQUIRE_GE(n, 4);
	objs = calloc(n + 8, sizeof(void *));
	REQUIRE_NOT_NULL(objs);
	objs[0] = p;
	for (unsigned i = 1; i < n; i++)
		REQUIRE_NOT_NULL(objs[i] = hm_slab_alloc(c));
	st0 = stats(c);
	CHECK_EQ(st0.total_slabs, 1);
	blocks0 = live_blocks();
	/* The next slab's third object fails. */
	ctors0 = cd.ctors;
	dtors0 = cd.dtors;
	cd.fail_at = cd.calls + 3;
	quiet();
	CHECK_NULL_ERRNO(hm_slab_alloc(c), ENOMEM);
	loud();
	CHECK_EQ(cd.ctors - ctors0, 2);
	CHECK_EQ(cd.dtors - dtors0, 2);
	st = stats(c);
	CHECK_EQ(st.errors, st0.errors + 1);
	CHECK_EQ(st.total_slabs, 1);
	CHECK_EQ(st.total_objs, n);
	CHECK_EQ(st.active_objs, n);
	CHECK_EQ(st.slabs_grown, 1);
	CHECK_EQ(live_blocks(), blocks0);
	/* Its first object fails: nothing to destruct. A bulk takes nothing. */
	cd.fail_at = cd.calls + 1;
	dtors0 = cd.dtors;
	quiet();
	errno = 0;
	CHECK_EQ(hm_slab_alloc_bulk(c, objs + n, 5), 0);
	CHECK_EQ(errno, ENOMEM);
	loud();
	CHECK_EQ(cd.dtors, dtors0);
	st = stats(c);
	CHECK_EQ(st.errors, st0.errors + 2);
	CHECK_EQ(st.active_objs, n);
	CHECK_EQ(st.allocs, n);
	CHECK_EQ(live_blocks(), blocks0);
	CHECK_EQ(hm_slab_audit(c), 0);
	/* The constructor works again: so does alloc. */
	cd.fail_at = 0;
	REQUIRE_NOT_NULL(objs[n] = hm_slab_alloc(c));
	CHECK(virgin(objs[n], SIZE));
	st = stats(c);
	CHECK_EQ(st.total_slabs, 2);
	CHECK_EQ(st.slabs_grown, 2);
	CHECK_EQ(cd.ctors - cd.dtors, 2 * n);
	hm_slab_free_bulk(c, objs, n + 1);
	CHECK_EQ(stats(c).active_objs, 0);
	CHECK_EQ(hm_slab_destroy(c), 0);
	CHECK_EQ(cd.ctors, cd.dtors);
	CHECK_EQ(cd.bad, 0);
	free(objs);
}

/* The same through the magazines: the first slab fails. */
static void ctor_fails_mag(unsigned flags)
{
	struct cd cd = {.size = 64, .fail_at = 3};
	struct hm_slab_cache *c = make_ctor("ctorfail", 64, 0, flags, ctor, dtor, &cd);
	struct hm_slab_stats st;
	void *p;

	quiet();
	CHECK_NULL_ERRNO(hm_slab_alloc(c), ENOMEM);
	loud();
	CHECK_EQ(cd.ctors, 2);
	CHECK_EQ(cd.dtors, 2);
	st = stats(c);
	CHECK_EQ(st.errors, 1);
	CHECK_EQ(st.total_slabs, 0);
	CHECK_EQ(st.active_objs, 0);
	p = hm_slab_alloc(c);
	REQUIRE_NOT_NULL(p);
	CHECK(virgin(p, 64));
	st = stats(c);
	CHECK_EQ(cd.ctors - cd.dtors, st.total_objs);
	hm_slab_free(c, p);
	CHECK_EQ(hm_slab_destroy(c), 0);
	CHECK_EQ(cd.ctors, cd.dtors);
}

/*
 * A bulk is all or nothing: one that takes some objects and then cannot grow
 * (the constructor fails) gives them back, and counts no allocation or free.
 */
static void bulk_fails_midway(unsigned flags)
{
	enum { SIZE = 64 };
	struct cd cd = {.size = SIZE};
	struct hm_slab_cache *c = make_ctor("bulkfail", SIZE, 0, flags, ctor, dtor, &cd);
	struct hm_slab_stats st0, st;
	unsigned n, avail, want;
	void **objs;
	void *first;

	REQUIRE_NOT_NULL(first = hm_slab_alloc(c));
	st0 = stats(c);
	n = st0.objs_per_slab;
	REQUIRE_EQ(st0.total_slabs, 1);
	/* Without magazines three are left in the slab; with them, what the
	 * magazines took of it (all of it: one slab is less than a magazine). */
	objs = calloc(2 * n + 16, sizeof(void *)); /* n kept, then a bulk of up to n + 4 */
	REQUIRE_NOT_NULL(objs);
	if (flags & NO_MAG) {
		for (unsigned i = 0; i < n - 4; i++)
			REQUIRE_NOT_NULL(objs[i] = hm_slab_alloc(c));
		avail = 3;
	} else {
		avail = n - 1;
	}
	st0 = stats(c);
	CHECK_EQ(st0.total_objs - st0.active_objs, avail);
	want = avail + 5;
	cd.fail_at = cd.calls + 1; /* the next slab cannot be made */
	quiet();
	errno = 0;
	CHECK_EQ(hm_slab_alloc_bulk(c, objs + n, want), 0);
	CHECK_EQ(errno, ENOMEM);
	loud();
	st = stats(c);
	CHECK_EQ(st.active_objs, st0.active_objs);
	CHECK_EQ(st.allocs, st0.allocs);
	CHECK_EQ(st.frees, st0.frees);
	CHECK_EQ(st.errors, st0.errors + 1);
	CHECK_EQ(st.total_slabs, 1);
	CHECK_EQ(hm_slab_audit(c), 0);
	/* What is left is still there, one by one. */
	cd.fail_at = 0;
	REQUIRE_EQ(hm_slab_alloc_bulk(c, objs + n, avail), avail);
	CHECK_EQ(stats(c).total_slabs, 1);
	hm_slab_free_bulk(c, objs + n, avail);
	if (flags & NO_MAG)
		hm_slab_free_bulk(c, objs, n - 4);
	hm_slab_free(c, first);
	CHECK_EQ(stats(c).active_objs, 0);
	CHECK_EQ(hm_slab_destroy(c), 0);
	CHECK_EQ(cd.ctors, cd.dtors);
	free(objs);
}

static void test_ctor_dtor(void)
{
	start();
	ctor_dtor(NO_MAG);
	ctor_dtor(0);
	ctor_dtor(DEBUG);
	ctor_dtor(DEBUG | NO_MAG | HWC);
	ctor_fails_no_mag(0);
	ctor_fails_no_mag(DEBUG);
	ctor_fails_mag(0);
	ctor_fails_mag(DEBUG);
	stop();
}

static void test_bulk_all_or_nothing(void)
{
	start();
	bulk_fails_midway(NO_MAG);
	bulk_fails_midway(DEBUG | NO_MAG);
	bulk_fails_midway(0);
	bulk_fails_midway(DEBUG);
	stop();
}

/* Without a constructor: contents kept (object caching), or poisoned in debug caches. */
static void caching(unsigned flags)
{
	enum { SIZE = 200 };
	struct hm_slab_cache *c = make("caching", SIZE, 0, flags);
	struct hm_slab_stats st = stats(c);
	unsigned n = st.objs_per_slab, back = 0, kept = 0;
	void **objs = calloc(n, sizeof(void *)), **freed = calloc(n, sizeof(void *));

	REQUIRE_NOT_NULL(objs);
	REQUIRE_NOT_NULL(freed);
	for (unsigned i = 0; i < n; i++) {
		REQUIRE_NOT_NULL(objs[i] = hm_slab_alloc(c));
		fill(objs[i], SIZE);
	}
	for (unsigned i = 0; i < n; i++)
		hm_slab_free(c, objs[i]);
	memcpy(freed, objs, n * sizeof(void *));
	qsort(freed, n, sizeof(void *), cmp_ptr);
	/* Those that come back hold what was left in them, or the poison. */
	for (unsigned i = 0; i < n; i++) {
		REQUIRE_NOT_NULL(objs[i] = hm_slab_alloc(c));
		if (bsearch(&objs[i], freed, n, sizeof(void *), cmp_ptr)) {
			back++;
			kept += filled(objs[i], SIZE);
		}
	}
	CHECK_GT(back, 0);
	if (debug_cache(flags))
		CHECK_EQ(kept, 0);
	else
		CHECK_EQ(kept, back);
	CHECK_EQ(stats(c).errors, 0);
	hm_slab_free_bulk(c, objs, n);
	CHECK_EQ(hm_slab_destroy(c), 0);
	free(objs);
	free(freed);
}

static void test_object_caching(void)
{
	start();
	caching(0);
	caching(NO_MAG);
	caching(HWC);
	caching(DEBUG);
	caching(DEBUG | NO_MAG);
	stop();
}

/* --- shrink and reaping --- */

static void test_shrink_no_mag(void)
{
	enum { K = 6 };
	struct hm_slab_cache *c;
	struct hm_slab_stats st;
	struct hm_malloc_stats h0;
	unsigned n;
	size_t blocks0, s;
	void **objs;

	start();
	c = make("shrink", 256, 0, NO_MAG);
	st = stats(c);
	n = st.objs_per_slab;
	s = slab_size(&st);
	objs = calloc((size_t)n * K, sizeof(void *));
	REQUIRE_NOT_NULL(objs);
	for (unsigned i = 0; i < n * K; i++)
		REQUIRE_NOT_NULL(objs[i] = hm_slab_alloc(c));
	CHECK_EQ(count_slabs(&st, objs, n * K), K);
	CHECK_EQ(stats(c).total_slabs, K);
	CHECK_EQ(hm_slab_shrink(c), 0); /* nothing empty */
	blocks0 = live_blocks();
	/* Empty slabs 1 to 5: it keeps max(2, 6 / 8) of them, the rest go at once. */
	hm_slab_free_bulk(c, objs + n, n * (K - 1));
	st = stats(c);
	CHECK_EQ(st.total_slabs, 3);
	CHECK_EQ(st.active_slabs, 1);
	CHECK_EQ(st.slabs_reaped, 3);
	CHECK_EQ(st.total_objs, 3 * n);
	CHECK_EQ(st.active_objs, n);
	CHECK_EQ(live_blocks(), blocks0 - 3);
	/* Shrink gives back the two empty ones, and says how much. */
	h0 = heap();
	CHECK_EQ(hm_slab_shrink(c), 2 * s);
	st = stats(c);
	CHECK_EQ(st.total_slabs, 1);
	CHECK_EQ(st.slabs_reaped, 5);
	CHECK_EQ(live_blocks(), h0.live_blocks - 2);
	CHECK_GT(heap().free_size, h0.free_size);
	CHECK_EQ(hm_slab_shrink(c), 0);
	CHECK_EQ(hm_slab_audit(c), 0);
	/* The last one. */
	hm_slab_free_bulk(c, objs, n);
	st = stats(c);
	CHECK_EQ(st.total_slabs, 1);
	CHECK_EQ(st.active_slabs, 0);
	CHECK_EQ(hm_slab_shrink(c), s);
	st = stats(c);
	CHECK_EQ(st.total_slabs, 0);
	CHECK_EQ(st.total_objs, 0);
	CHECK_EQ(st.slabs_reaped, 6);
	CHECK_EQ(live_blocks(), blocks0 - 6);
	/* And it grows again. */
	REQUIRE_NOT_NULL(objs[0] = hm_slab_alloc(c));
	st = stats(c);
	CHECK_EQ(st.slabs_grown, K + 1);
	CHECK_EQ(st.total_slabs, 1);
	hm_slab_free(c, objs[0]);
	CHECK_EQ(hm_slab_destroy(c), 0);
	free(objs);
	stop();
}

static void test_shrink_magazines(void)
{
	struct hm_slab_cache *c;
	struct hm_slab_stats st;
	unsigned n;
	size_t got, s, before;
	void **objs;

	start();
	c = make("shrinkm", 128, 0, 0);
	st = stats(c);
	n = 8 * st.objs_per_slab;
	s = slab_size(&st);
	objs = calloc(n, sizeof(void *));
	REQUIRE_NOT_NULL(objs);
	for (unsigned i = 0; i < n; i++)
		REQUIRE_NOT_NULL(objs[i] = hm_slab_alloc(c));
	for (unsigned i = 0; i < n; i++)
		hm_slab_free(c, objs[i]);
	st = stats(c);
	CHECK_EQ(st.active_objs, 0);
	before = st.total_slabs;
	/* The depot's magazines go back to their slabs; empty slabs to the heap. */
	got = hm_slab_shrink(c);
	st = stats(c);
	CHECK_EQ(got, (before - st.total_slabs) * s);
	CHECK_EQ(st.depot_full, 0);
	CHECK_EQ(st.total_objs, st.total_slabs * st.objs_per_slab);
	/* What is left is in this thread's two magazines at most. */
	CHECK_LE(st.total_slabs, 2 * st.magazine_size);
	CHECK_EQ(hm_slab_audit(c), 0);
	shrink_to_zero(c);
	CHECK_EQ(stats(c).slabs_reaped, stats(c).slabs_grown);
	CHECK_EQ(hm_slab_destroy(c), 0);
	free(objs);
	stop();
}

static void test_reap_limit(void)
{
	enum { K = 50 };
	struct hm_slab_cache *c;
	struct hm_slab_stats st;
	unsigned n;
	void **objs;

	start();
	c = make("reap", 500, 0, NO_MAG);
	n = stats(c).objs_per_slab;
	objs = calloc((size_t)n * K, sizeof(void *));
	REQUIRE_NOT_NULL(objs);
	for (unsigned i = 0; i < n * K; i++)
		REQUIRE_NOT_NULL(objs[i] = hm_slab_alloc(c));
	CHECK_EQ(stats(c).total_slabs, K);
	shuffle(objs, n * K);
	for (unsigned i = 0; i < n * K; i++)
		hm_slab_free(c, objs[i]);
	st = stats(c);
	CHECK_LE(st.total_slabs, 2);
	CHECK_EQ(st.slabs_reaped, K - st.total_slabs);
	CHECK_EQ(st.active_slabs, 0);
	CHECK_EQ(st.active_objs, 0);
	CHECK_EQ(hm_slab_audit(c), 0);
	CHECK_EQ(hm_slab_destroy(c), 0);
	free(objs);
	stop();
}

static void test_reap_interval(void)
{
	enum { K = 20, MS = 100 };
	struct hm_slab_cache *c;
	struct hm_slab_stats st;
	unsigned n;
	void **objs;

	start();
	c = make("reapt", 700, 0, NO_MAG);
	n = stats(c).objs_per_slab;
	objs = calloc((size_t)n * K, sizeof(void *));
	REQUIRE_NOT_NULL(objs);
	for (unsigned i = 0; i < n * K; i++)
		REQUIRE_NOT_NULL(objs[i] = hm_slab_alloc(c));
	hm_slab_set_reap_interval(0); /* never */
	hm_slab_free_bulk(c, objs, n * K);
	st = stats(c);
	CHECK_LE(st.total_slabs, 2);
	/* With no interval, the empty slabs kept stay however long they wait. */
	for (unsigned i = 0; i < 2; i++) {
		void *p;

		t_sleep_ms(MS + MS / 2);
		REQUIRE_NOT_NULL(p = hm_slab_alloc(c));
		hm_slab_free(c, p);
	}
	CHECK_EQ(stats(c).total_slabs, st.total_slabs);
	hm_slab_set_reap_interval(MS);
	/* Slabs unused for a whole interval go; the working set (one) stays. */
	for (unsigned i = 0; i < 3; i++) {
		void *p;

		t_sleep_ms(MS + MS / 2);
		REQUIRE_NOT_NULL(p = hm_slab_alloc(c));
		hm_slab_free(c, p);
	}
	st = stats(c);
	CHECK_LE(st.total_slabs, 1);
	CHECK_EQ(st.slabs_reaped, st.slabs_grown - st.total_slabs);
	CHECK_EQ(st.active_objs, 0);
	CHECK_EQ(hm_slab_audit(c), 0);
	CHECK_EQ(hm_slab_destroy(c), 0);
	free(objs);
	stop(); /* restores the default interval */
}

/* Full magazines in the depot that no one needs for a whole interval go too. */
struct churner {
	struct hm_slab_cache *c;
	unsigned n;
	unsigned failed;
};

static void *alloc_free_exit(void *arg)
{
	struct churner *w = arg;
	void **objs = calloc(w->n, sizeof(void *));

	if (!objs) {
		w->failed++;
		return NULL;
	}
	for (unsigned i = 0; i < w->n; i++)
		if (!(objs[i] = hm_slab_alloc(w->c)))
			w->failed++;
	for (unsigned i = 0; i < w->n; i++)
		hm_slab_free(w->c, objs[i]);
	free(objs);
	return NULL; /* its magazines go to the depot */
}

static void test_reap_interval_depot(void)
{
	enum { MS = 100 };
	struct hm_slab_cache *c;
	struct hm_slab_stats st0, st;
	struct churner w = {0};
	pthread_t tid;
	unsigned mag, k;
	void **objs;

	start();
	c = make("reapd", 64, 0, 0);
	mag = stats(c).magazine_size;
	REQUIRE_GE(mag, 1);
	w.c = c;
	w.n = 20 * mag;
	REQUIRE_EQ(pthread_create(&tid, NULL, alloc_free_exit, &w), 0);
	REQUIRE_EQ(pthread_join(tid, NULL), 0);
	CHECK_EQ(w.failed, 0);
	st0 = stats(c);
	CHECK_EQ(st0.active_objs, 0);
	CHECK_GE(st0.depot_full, 10);
	k = 2 * mag + 1;
	objs = calloc(k, sizeof(void *));
	REQUIRE_NOT_NULL(objs);
	hm_slab_set_reap_interval(MS);
	/* Bulks larger than the magazines hold: slow paths, a small working set. */
	for (unsigned i = 0; i < 4; i++) {
		t_sleep_ms(MS + MS / 2);
		REQUIRE_EQ(hm_slab_alloc_bulk(c, objs, k), k);
		hm_slab_free_bulk(c, objs, k);
	}
	st = stats(c);
	CHECK_LE(st.depot_full, 4);
	CHECK_LT(st.total_slabs, st0.total_slabs);
	CHECK_GT(st.slabs_reaped, 0);
	CHECK_EQ(st.active_objs, 0);
	CHECK_EQ(hm_slab_audit(c), 0);
	CHECK_EQ(hm_slab_destroy(c), 0);
	free(objs);
	stop(); /* restores the default interval */
}

/* --- destroy --- */

static void test_destroy(void)
{
	enum { N = 100 };
	struct cd cd = {.size = 128};
	struct hm_slab_cache *c, *k;
	void *objs[N + 3], *km;
	char *libc = calloc(1, 4096);
	size_t blocks0;

	REQUIRE_NOT_NULL(libc);
	start();
	blocks0 = live_blocks();
	c = make_ctor("destroy", 128, 0, 0, ctor, dtor, &cd);
	for (unsigned i = 0; i < 3; i++)
		REQUIRE_NOT_NULL(objs[i] = hm_slab_alloc(c));
	/* Objects out: refused, logged, the cache as it was and usable. */
	quiet();
	CHECK_EQ(hm_slab_destroy(c), -EBUSY);
	CHECK_EQ(t_log_lines(), 1);
	loud();
	CHECK_PTR_EQ(hm_slab_lookup("destroy"), c);
	CHECK_EQ(stats(c).active_objs, 3);
	CHECK_EQ(hm_slab_audit(c), 0);
	for (unsigned i = 3; i < N + 3; i++)
		REQUIRE_NOT_NULL(objs[i] = hm_slab_alloc(c));
	CHECK(all_distinct(objs, N + 3));
	hm_slab_free_bulk(c, objs, N + 2);
	quiet();
	CHECK_EQ(hm_slab_destroy(c), -EBUSY); /* one still out */
	loud();
	/* Refused, it has emptied the magazines (this thread's, the depot). */
	{
		struct hm__slab_local *l = hm__slab_local_of(c);
		struct hm_slab_stats st = stats(c);

		CHECK(l == NULL || (l->rounds == 0 && l->prounds == 0));
		CHECK_EQ(st.depot_full, 0);
		CHECK_EQ(st.active_objs, 1);
		CHECK_EQ(hm_slab_audit(c), 0);
	}
	/* And it is still usable. */
	REQUIRE_EQ(hm_slab_alloc_bulk(c, objs, N + 2), N + 2);
	hm_slab_free_bulk(c, objs, N + 2);
	hm_slab_free(c, objs[N + 2]);
	/* Objects in the magazines only: nothing is out. */
	CHECK_EQ(hm_slab_destroy(c), 0);
	CHECK_EQ(cd.dtors, cd.ctors);
	CHECK_NULL_ERRNO(hm_slab_lookup("destroy"), ENOENT);
	CHECK_EQ(live_blocks(), blocks0);
	/* A destroyed cache is not a cache any more. */
	{
		struct hm_slab_stats st;

		quiet();
		CHECK_EQ(hm_slab_destroy(c), -EINVAL);
		CHECK_EQ(hm_slab_get_stats(c, &st), -EINVAL);
		CHECK_EQ(hm_slab_audit(c), -EINVAL);
		CHECK_EQ(hm_slab_shrink(c), 0);
		loud();
	}
	/* The name is free again, for another shape. */
	c = make("destroy", 32, 16, NO_MAG);
	REQUIRE_NOT_NULL(objs[0] = hm_slab_alloc(c));
	CHECK_EQ((uintptr_t)objs[0] % 16, 0);
	hm_slab_free(c, objs[0]);
	CHECK_EQ(hm_slab_destroy(c), 0);
	CHECK_EQ(live_blocks(), blocks0);
	/* Not caches. */
	quiet();
	CHECK_EQ(hm_slab_destroy(NULL), -EINVAL);
	CHECK_EQ(hm_slab_destroy((struct hm_slab_cache *)libc), -EINVAL);
	/* A general cache of kmalloc, busy or not. */
	km = hm_kmalloc(64);
	REQUIRE_NOT_NULL(km);
	k = hm_slab_lookup("kmalloc-64");
	REQUIRE_NOT_NULL(k);
	CHECK_EQ(hm_slab_destroy(k), -EINVAL);
	hm_kfree(km);
	CHECK_EQ(hm_slab_destroy(k), -EINVAL);
	loud();
	CHECK_PTR_EQ(hm_slab_lookup("kmalloc-64"), k);
	REQUIRE_NOT_NULL(km = hm_kmalloc(64));
	hm_kfree(km);
	stop();
	free(libc);
}

/* --- misuse --- */

/* A free that c must refuse: logged once, counted, nothing else changes. */
static void refused_at(struct hm_slab_cache *c, void *p, int line)
{
	struct hm_slab_stats a = stats(c), b;
	unsigned lines;

	t_log_lines_reset();
	hm_slab_free(c, p);
	lines = t_log_lines();
	b = stats(c);
	if (lines != 1 || b.errors != a.errors + 1 || b.active_objs != a.active_objs ||
	    b.frees != a.frees)
		t_fail(__FILE__, line, false,
		       "free of %p: %u log lines, errors %llu -> %llu, active %llu -> %llu, "
		       "frees %llu -> %llu",
		       p, lines, (unsigned long long)a.errors, (unsigned long long)b.errors,
		       (unsigned long long)a.active_objs, (unsigned long long)b.active_objs,
		       (unsigned long long)a.frees, (unsigned long long)b.frees);
	t_log_lines_reset();
	if (hm_slab_audit(c) != 0 || t_log_lines() != 0)
		t_fail(__FILE__, line, false, "after the free of %p the audit fails", p);
}
#define REFUSED(c, p) refused_at(c, p, __LINE__)

static void misuse(size_t size, unsigned flags)
{
	struct hm_slab_cache *c = make("misuse", size, 0, flags);
	struct hm_slab_cache *other = make("other", size, 0, flags);
	struct hm_slab_stats st;
	uint64_t stack[16];
	char *libc = malloc(size);
	char *blk = hm_malloc("misuse", size, 0);
	char *page = hm_malloc("misuse", 4096, 4096);
	void *mine[4], *theirs, *km, **objs;
	unsigned n;

	REQUIRE_NOT_NULL(libc);
	REQUIRE_NOT_NULL(blk);
	REQUIRE_NOT_NULL(page);
	memset(libc, 0, size);
	memset(blk, 0, size);
	memset(page, 0, 4096);
	memset(stack, 0, sizeof(stack));
	for (unsigned i = 0; i < 4; i++)
		REQUIRE_NOT_NULL(mine[i] = hm_slab_alloc(c));
	REQUIRE_NOT_NULL(theirs = hm_slab_alloc(other));
	REQUIRE_NOT_NULL(km = hm_kmalloc(size));
	quiet();
	/* NULL: nothing at all. */
	st = stats(c);
	hm_slab_free(c, NULL);
	CHECK_EQ(t_log_lines(), 0);
	CHECK_EQ(stats(c).errors, st.errors);
	CHECK_EQ(stats(c).frees, st.frees);
	/* Pointers from elsewhere, in every build. */
	REFUSED(c, libc);
	REFUSED(c, stack);
	REFUSED(c, blk);
	REFUSED(c, page);
	REFUSED(c, theirs);
	REFUSED(c, km);
	REFUSED(c, c);
	if (debug_cache(flags)) {
		/* Interior pointers. */
		REFUSED(c, (char *)mine[0] + 1);
		REFUSED(c, (char *)mine[0] + 8);
		REFUSED(c, (char *)mine[0] + size - 1);
		/* A double free: the first is taken, the second refused. */
		t_log_lines_reset();
		hm_slab_free(c, mine[1]);
		CHECK_EQ(t_log_lines(), 0);
		REFUSED(c, mine[1]);
		/* Twice in one bulk. */
		{
			void *twice[2] = {mine[2], mine[2]};

			st = stats(c);
			t_log_lines_reset();
			hm_slab_free_bulk(c, twice, 2);
			CHECK_EQ(t_log_lines(), 1);
			CHECK_EQ(stats(c).errors, st.errors + 1);
			CHECK_EQ(stats(c).active_objs, st.active_objs - 1);
		}
		REFUSED(c, mine[2]);
	} else {
		hm_slab_free(c, mine[1]);
		hm_slab_free(c, mine[2]);
	}
	/* A bulk with good objects amid foreign ones: only the foreign refused. */
	{
		void *mix[4] = {libc, mine[3], stack, theirs};

		st = stats(c);
		t_log_lines_reset();
		hm_slab_free_bulk(c, mix, 4);
		CHECK_EQ(t_log_lines(), 3);
		CHECK_EQ(stats(c).errors, st.errors + 3);
		CHECK_EQ(stats(c).active_objs, st.active_objs - 1);
		CHECK_EQ(stats(c).frees, st.frees + 1);
	}
	/* The other cache is untouched: its object is still out, and goes back. */
	CHECK_EQ(stats(other).errors, 0);
	CHECK_EQ(stats(other).active_objs, 1);
	t_log_lines_reset();
	hm_slab_free(other, theirs);
	hm_kfree(km);
	CHECK_EQ(t_log_lines(), 0);
	CHECK_EQ(stats(other).active_objs, 0);
	loud();
	/* mine[0] is the only one out; no object is handed out twice. */
	st = stats(c);
	CHECK_EQ(st.active_objs, 1);
	n = 2 * st.objs_per_slab + 2 * st.magazine_size + 4;
	objs = calloc(n + 1, sizeof(void *));
	REQUIRE_NOT_NULL(objs);
	for (unsigned i = 0; i < n; i++)
		REQUIRE_NOT_NULL(objs[i] = hm_slab_alloc(c));
	objs[n] = mine[0];
	CHECK(all_distinct(objs, n + 1));
	hm_slab_free_bulk(c, objs, n + 1);
	st = stats(c);
	CHECK_EQ(st.active_objs, 0);
	CHECK_EQ(hm_slab_audit(c), 0);
	CHECK_EQ(hm_slab_destroy(c), 0);
	CHECK_EQ(hm_slab_destroy(other), 0);
	hm_free(blk);
	hm_free(page);
	free(libc);
	free(objs);
}

static void test_misuse(void)
{
	start();
	misuse(64, 0);
	misuse(100, NO_MAG);
	misuse(64, HWC);
	misuse(64, DEBUG);
	misuse(100, DEBUG | NO_MAG);
	misuse(4000, DEBUG);
	stop();
}

/* Debug caches: a write after free, overruns and underruns. */
static void damage_checks(size_t size, unsigned flags)
{
	struct hm_slab_cache *c = make("damage", size, 0, flags | DEBUG | NO_MAG);
	struct hm_slab_stats st = stats(c);
	unsigned n = st.objs_per_slab;
	void **objs = calloc(n, sizeof(void *)), *q;
	char *victim;

	REQUIRE_NOT_NULL(objs);
	REQUIRE_GE(n, 4);
	/* Slab 0, full. */
	for (unsigned i = 0; i < n; i++)
		REQUIRE_NOT_NULL(objs[i] = hm_slab_alloc(c));
	CHECK_EQ(count_slabs(&st, objs, n), 1);
	quiet();
	/* A write after free: the audit sees it ... */
	victim = objs[1];
	hm_slab_free(c, victim);
	CHECK_EQ(t_log_lines(), 0);
	CHECK_EQ(hm_slab_audit(c), 0);
	damage(victim + size / 2);
	t_log_lines_reset();
	CHECK_EQ(hm_slab_audit(c), -EFAULT);
	CHECK_GE(t_log_lines(), 1);
	/* ... and so does the next alloc of that object (the only free one of the
	 * only partial slab). */
	st = stats(c);
	t_log_lines_reset();
	q = hm_slab_alloc(c);
	CHECK_PTR_EQ(q, victim);
	CHECK_EQ(t_log_lines(), 1);
	CHECK_EQ(stats(c).errors, st.errors + 1);
	REQUIRE_NOT_NULL(q);
	objs[1] = q;
	/* Freed again, it is sound. */
	hm_slab_free(c, objs[1]);
	t_log_lines_reset();
	CHECK_EQ(hm_slab_audit(c), 0);
	CHECK_EQ(t_log_lines(), 0);
	REQUIRE_NOT_NULL(objs[1] = hm_slab_alloc(c));
	/* A write after free at the object's last byte. */
	hm_slab_free(c, objs[1]);
	damage((char *)objs[1] + size - 1);
	st = stats(c);
	t_log_lines_reset();
	q = hm_slab_alloc(c);
	CHECK_PTR_EQ(q, objs[1]);
	CHECK_EQ(t_log_lines(), 1);
	CHECK_EQ(stats(c).errors, st.errors + 1);
	REQUIRE_NOT_NULL(q);
	objs[1] = q;
	/* The red zone of a free object: the audit and the next alloc see it. */
	hm_slab_free(c, objs[1]);
	damage((char *)objs[1] + size);
	t_log_lines_reset();
	CHECK_EQ(hm_slab_audit(c), -EFAULT);
	CHECK_GE(t_log_lines(), 1);
	st = stats(c);
	t_log_lines_reset();
	q = hm_slab_alloc(c);
	CHECK_PTR_EQ(q, objs[1]);
	CHECK_EQ(t_log_lines(), 1);
	CHECK_EQ(stats(c).errors, st.errors + 1);
	REQUIRE_NOT_NULL(q);
	objs[1] = q;
	hm_slab_free(c, objs[1]);
	t_log_lines_reset();
	CHECK_EQ(hm_slab_audit(c), 0); /* repaired */
	CHECK_EQ(t_log_lines(), 0);
	REQUIRE_NOT_NULL(objs[1] = hm_slab_alloc(c));
	/* One byte past the end: found at free, the object freed all the same. */
	victim = objs[2];
	damage(victim + size);
	st = stats(c);
	t_log_lines_reset();
	hm_slab_free(c, victim);
	CHECK_EQ(t_log_lines(), 1);
	CHECK_EQ(stats(c).errors, st.errors + 1);
	CHECK_EQ(stats(c).active_objs, st.active_objs - 1);
	CHECK_EQ(stats(c).frees, st.frees + 1);
	t_log_lines_reset();
	CHECK_EQ(hm_slab_audit(c), 0);
	CHECK_EQ(t_log_lines(), 0);
	/* One byte before the start (red zones are on both sides). */
	victim = objs[3];
	damage(victim - 1);
	st = stats(c);
	t_log_lines_reset();
	hm_slab_free(c, victim);
	CHECK_EQ(t_log_lines(), 1);
	CHECK_EQ(stats(c).errors, st.errors + 1);
	CHECK_EQ(stats(c).active_objs, st.active_objs - 1);
	t_log_lines_reset();
	CHECK_EQ(hm_slab_audit(c), 0);
	CHECK_EQ(t_log_lines(), 0);
	loud();
	/* Both come out again, sound. */
	REQUIRE_NOT_NULL(objs[2] = hm_slab_alloc(c));
	REQUIRE_NOT_NULL(objs[3] = hm_slab_alloc(c));
	CHECK(all_distinct(objs, n));
	CHECK_EQ(count_slabs(&st, objs, n), 1);
	st = stats(c);
	CHECK_EQ(st.active_objs, n);
	CHECK_EQ(st.total_slabs, 1);
	hm_slab_free_bulk(c, objs, n);
	CHECK_EQ(hm_slab_audit(c), 0);
	CHECK_EQ(hm_slab_destroy(c), 0);
	free(objs);
}

static void test_debug_damage(void)
{
	start();
	damage_checks(100, 0);
	damage_checks(64, 0);
	damage_checks(24, HWC);
	damage_checks(1000, 0);
	stop();
}

/* Owners: the allocating thread's slot, -ENOENT once free, -EINVAL for strangers. */
struct owner_arg {
	struct hm_slab_cache *c;
	void *obj;
	int slot;
};

static void *owner_thread(void *arg)
{
	struct owner_arg *a = arg;

	a->slot = hm_thread_id();
	a->obj = hm_slab_alloc(a->c);
	return NULL;
}

static void owners(unsigned flags)
{
	struct hm_slab_cache *c = make("owner", 80, 0, flags);
	struct hm_slab_cache *other = make("owner2", 80, 0, flags);
	struct owner_arg a = {.c = c, .slot = -1};
	pthread_t tid;
	void *p, *q, *theirs;
	uint64_t x = 0;
	int me = hm_thread_id();

	REQUIRE_GE(me, 0);
	REQUIRE_NOT_NULL(p = hm_slab_alloc(c));
	REQUIRE_NOT_NULL(q = hm_slab_alloc(c));
	REQUIRE_NOT_NULL(theirs = hm_slab_alloc(other));
	if (!debug_cache(flags)) {
		CHECK_EQ(hm_slab_obj_owner(c, p), -ENOTSUP);
		hm_slab_free(c, q);
		goto out;
	}
	CHECK_EQ(hm_slab_obj_owner(c, p), me);
	CHECK_EQ(hm_slab_obj_owner(c, q), me);
	CHECK_EQ(hm_slab_obj_owner(c, (char *)p + 1), -EINVAL);
	CHECK_EQ(hm_slab_obj_owner(c, theirs), -EINVAL);
	CHECK_EQ(hm_slab_obj_owner(c, &x), -EINVAL);
	CHECK_EQ(hm_slab_obj_owner(c, NULL), -EINVAL);
	hm_slab_free(c, q);
	CHECK_EQ(hm_slab_obj_owner(c, q), -ENOENT);
	/* Another thread's object, freed here. */
	REQUIRE_EQ(pthread_create(&tid, NULL, owner_thread, &a), 0);
	REQUIRE_EQ(pthread_join(tid, NULL), 0);
	REQUIRE_NOT_NULL(a.obj);
	REQUIRE_GE(a.slot, 0);
	CHECK_NE(a.slot, me);
	CHECK_EQ(hm_slab_obj_owner(c, a.obj), a.slot);
	hm_slab_free(c, a.obj);
	CHECK_EQ(hm_slab_obj_owner(c, a.obj), -ENOENT);
	CHECK_EQ(stats(c).errors, 0);
out:
	hm_slab_free(c, p);
	hm_slab_free(other, theirs);
	CHECK_EQ(stats(c).active_objs, 0);
	CHECK_EQ(hm_slab_destroy(c), 0);
	CHECK_EQ(hm_slab_destroy(other), 0);
}

static void test_owner(void)
{
	start();
	owners(DEBUG);
	owners(DEBUG | NO_MAG);
	owners(0);
	owners(NO_MAG);
	stop();
}

/* --- bulk calls --- */

static void test_bulk(void)
{
	enum { MAX = 3000 };
	static const unsigned flags[] = {0, NO_MAG, DEBUG, HWC};
	void **objs = calloc(MAX, sizeof(void *));

	REQUIRE_NOT_NULL(objs);
	start();
	for (unsigned f = 0; f < 4; f++) {
		struct hm_slab_cache *c = make("bulk", 48, 0, flags[f]);
		struct hm_slab_stats st = stats(c);
		unsigned held = 0, bad = 0;
		uint64_t allocs = 0, frees = 0;

		for (unsigned round = 0; round < 300; round++) {
			if (held < MAX / 2 || (held < MAX && t_rand_below(2))) {
				unsigned k = 1 + (unsigned)t_rand_below(
							 t_rand_below(4) ? 2 * st.magazine_size + 2
									 : 3 * st.objs_per_slab);

				if (k > MAX - held)
					k = MAX - held;
				REQUIRE_EQ(hm_slab_alloc_bulk(c, objs + held, k), k);
				for (unsigned i = held; i < held + k; i++) {
					if (!hm__slab_mine(c, objs[i]))
						bad++;
					fill(objs[i], 48);
				}
				held += k;
				allocs += k;
			} else {
				unsigned k = 1 + (unsigned)t_rand_below(held);

				for (unsigned i = held - k; i < held; i++)
					bad += !filled(objs[i], 48);
				hm_slab_free_bulk(c, objs + held - k, k);
				held -= k;
				frees += k;
			}
			if (stats(c).active_objs != held) {
				t_fail(__FILE__, __LINE__, false, "flags %#x: %llu active, %u held",
				       flags[f], (unsigned long long)stats(c).active_objs, held);
				break;
			}
		}
		CHECK_EQ(bad, 0);
		CHECK(all_distinct(objs, held));
		/* Bulks of none: nothing happens. */
		CHECK_EQ(hm_slab_alloc_bulk(c, objs + held, 0), 0);
		hm_slab_free_bulk(c, objs, 0);
		CHECK_EQ(stats(c).active_objs, held);
		CHECK_EQ(stats(c).allocs, allocs);
		CHECK_EQ(stats(c).frees, frees);
		/* Bulks of one. */
		if (held < MAX) {
			REQUIRE_EQ(hm_slab_alloc_bulk(c, objs + held, 1), 1);
			held++;
			allocs++;
		}
		hm_slab_free_bulk(c, objs + held - 1, 1);
		held--;
		frees++;
		hm_slab_free_bulk(c, objs, held);
		frees += held;
		st = stats(c);
		CHECK_EQ(st.allocs, allocs);
		CHECK_EQ(st.frees, frees);
		CHECK_EQ(st.active_objs, 0);
		CHECK_EQ(st.errors, 0);
		CHECK_GE(st.high_mark, MAX / 2);
		CHECK_EQ(hm_slab_audit(c), 0);
		shrink_to_zero(c);
		CHECK_EQ(hm_slab_destroy(c), 0);
	}
	stop();
	free(objs);
}

/* --- statistics --- */

static void test_stats(void)
{
	enum { N = 1000 };
	struct hm_slab_cache *c;
	struct hm_slab_stats st;
	void *objs[N];

	start();
	c = make("stats", 64, 0, 0);
	st = stats(c);
	CHECK_STR_EQ(st.name, "stats");
	CHECK_EQ(st.obj_size, 64);
	CHECK_EQ(st.active_objs + st.total_objs + st.active_slabs + st.total_slabs + st.allocs +
			 st.frees + st.high_mark + st.slabs_grown + st.slabs_reaped +
			 st.alloc_hits + st.alloc_misses + st.free_hits + st.free_misses +
			 st.depot_full + st.depot_empty + st.errors,
		 0);
	for (unsigned i = 0; i < N; i++)
		REQUIRE_NOT_NULL(objs[i] = hm_slab_alloc(c));
	st = stats(c);
	CHECK_EQ(st.active_objs, N);
	CHECK_EQ(st.allocs, N);
	CHECK_EQ(st.alloc_hits + st.alloc_misses, N);
	CHECK_GE(st.alloc_misses, 1);
	CHECK_GE(st.alloc_misses, N / (2 * st.magazine_size + 1));
	if (st.magazine_size > 1)
		CHECK_GT(st.alloc_hits, 0);
	CHECK_GE(st.high_mark, N);
	CHECK_EQ(st.total_objs, st.total_slabs * st.objs_per_slab);
	CHECK_GE(st.total_objs, N);
	CHECK_EQ(st.slabs_grown, st.total_slabs);
	CHECK_LE(st.active_slabs, st.total_slabs);
	CHECK_GE(st.active_slabs, (N + st.objs_per_slab - 1) / st.objs_per_slab);
	for (unsigned i = 0; i < N / 2; i++)
		hm_slab_free(c, objs[i]);
	st = stats(c);
	CHECK_EQ(st.active_objs, N / 2);
	CHECK_EQ(st.frees, N / 2);
	CHECK_EQ(st.free_hits + st.free_misses, N / 2);
	REQUIRE_EQ(hm_slab_alloc_bulk(c, objs, 200), 200);
	st = stats(c);
	CHECK_EQ(st.allocs, N + 200);
	CHECK_EQ(st.active_objs, N / 2 + 200);
	hm_slab_free_bulk(c, objs, 200);
	hm_slab_free_bulk(c, objs + N / 2, N / 2);
	st = stats(c);
	CHECK_EQ(st.frees, N + 200);
	CHECK_EQ(st.active_objs, 0);
	CHECK_GE(st.high_mark, N);
	CHECK_EQ(st.errors, 0);
	CHECK_EQ(hm_slab_destroy(c), 0);

	/* Without magazines every count is exact. */
	c = make("stats", 300, 0, NO_MAG);
	st = stats(c);
	{
		unsigned n = st.objs_per_slab, total = 2 * n + n / 2;

		CHECK_EQ(st.magazine_size, 0);
		REQUIRE(total <= N);
		for (unsigned i = 0; i < total; i++)
			REQUIRE_NOT_NULL(objs[i] = hm_slab_alloc(c));
		st = stats(c);
		CHECK_EQ(st.total_slabs, 3);
		CHECK_EQ(st.active_slabs, 3);
		CHECK_EQ(st.total_objs, 3 * n);
		CHECK_EQ(st.active_objs, total);
		CHECK_EQ(st.high_mark, total);
		CHECK_EQ(st.depot_full + st.depot_empty, 0);
		/* The last, partial slab emptied: kept, not active. */
		hm_slab_free_bulk(c, objs + 2 * n, total - 2 * n);
		st = stats(c);
		CHECK_EQ(st.total_slabs, 3);
		CHECK_EQ(st.active_slabs, 2);
		CHECK_EQ(st.active_objs, 2 * n);
		CHECK_EQ(st.high_mark, total);
		CHECK_EQ(st.frees, total - 2 * n);
		hm_slab_free_bulk(c, objs, 2 * n);
		st = stats(c);
		CHECK_EQ(st.active_slabs, 0);
		CHECK_EQ(st.active_objs, 0);
		CHECK_EQ(st.allocs, total);
		CHECK_EQ(st.frees, total);
		CHECK_EQ(st.slabs_grown, 3);
		CHECK_EQ(st.slabs_reaped + st.total_slabs, 3);
	}
	CHECK_EQ(hm_slab_destroy(c), 0);
	stop();
}

/* Caches made and destroyed by the hundred leave nothing behind. */
static void test_many_caches(void)
{
	enum { N = 200 };
	struct hm_slab_cache **c = calloc(N, sizeof(*c));
	size_t blocks0;
	unsigned zones0, n = 0;

	REQUIRE_NOT_NULL(c);
	start();
	blocks0 = live_blocks();
	zones0 = hm_memzone_count();
	for (unsigned round = 0; round < 3; round++) {
		for (unsigned i = 0; i < N; i++) {
			char name[32];
			void *p;

			snprintf(name, sizeof(name), "many-%u", i);
			c[i] = make(name, 16 + 8 * (i % 50), 0, i % 3 == 0 ? NO_MAG : 0);
			REQUIRE_NOT_NULL(p = hm_slab_alloc(c[i]));
			hm_slab_free(c[i], p);
		}
		n = 0;
		hm_slab_walk(count_cb, &n);
		CHECK_EQ(n, N);
		for (unsigned i = 0; i < N; i++) {
			char name[32];

			snprintf(name, sizeof(name), "many-%u", i);
			CHECK_PTR_EQ(hm_slab_lookup(name), c[i]);
			CHECK_EQ(hm_slab_destroy(c[i]), 0);
		}
		n = 0;
		hm_slab_walk(count_cb, &n);
		CHECK_EQ(n, 0);
		CHECK_EQ(live_blocks(), blocks0);
		CHECK_EQ(hm_memzone_count(), zones0);
	}
	stop();
	free(c);
}

/* --- walk and slabinfo --- */

struct walk_arg {
	unsigned n;
	struct hm_slab_cache *caches[4];
	bool seen[4];
	unsigned kmalloc64;
	unsigned strangers;
};

static void walk_cb(struct hm_slab_cache *c, void *arg)
{
	struct walk_arg *w = arg;
	struct hm_slab_stats st;

	w->n++;
	for (unsigned i = 0; i < 4; i++) {
		if (w->caches[i] && w->caches[i] == c) {
			w->seen[i] = true;
			return;
		}
	}
	if (hm_slab_get_stats(c, &st) == 0 && strcmp(st.name, "kmalloc-64") == 0)
		w->kmalloc64++;
	else
		w->strangers++;
}

static void test_walk(void)
{
	struct walk_arg w = {0};
	void *km;

	start();
	hm_slab_walk(walk_cb, &w);
	CHECK_EQ(w.n, 0);
	w.caches[0] = make("w0", 24, 0, 0);
	w.caches[1] = make("w1", 800, 0, NO_MAG);
	w.caches[2] = make("w2", 8000, 64, DEBUG);
	w.caches[3] = make("w3", 80, 0, 0);
	/* Things that are not caches: a ring, a mempool, a heap block. */
	REQUIRE_NOT_NULL(hm_ring_create("w0", 64, HM_SOCKET_ANY, 0));
	REQUIRE_NOT_NULL(hm_mempool_create("w1", 10, 8, 0, 0, NULL, NULL, HM_SOCKET_ANY, 0));
	REQUIRE_NOT_NULL(hm_malloc("walk", 1000, 0));
	hm_slab_walk(walk_cb, &w);
	CHECK_EQ(w.n, 4);
	CHECK_EQ(w.strangers, 0);
	for (unsigned i = 0; i < 4; i++)
		CHECK(w.seen[i]);
	/* A general cache, once used. */
	REQUIRE_NOT_NULL(km = hm_kmalloc(64));
	memset(&w.seen, 0, sizeof(w.seen));
	w.n = 0;
	hm_slab_walk(walk_cb, &w);
	CHECK_EQ(w.n, 5);
	CHECK_EQ(w.kmalloc64, 1);
	CHECK_EQ(w.strangers, 0);
	hm_kfree(km);
	/* A destroyed cache is no longer listed. */
	CHECK_EQ(hm_slab_destroy(w.caches[3]), 0);
	w.caches[3] = NULL;
	memset(&w.seen, 0, sizeof(w.seen));
	w.n = 0;
	w.kmalloc64 = 0;
	hm_slab_walk(walk_cb, &w);
	CHECK_EQ(w.n, 4);
	CHECK_EQ(w.strangers, 0);
	CHECK(w.seen[0] && w.seen[1] && w.seen[2]);
	stop();
}

/* The row of cache name in slabinfo text, or NULL. */
static const char *row_of(const char *text, const char *name)
{
	size_t len = strlen(name);

	for (const char *l = text; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
		if (strncmp(l, name, len) == 0 && (l[len] == ' ' || l[len] == '\t'))
			return l;
	return NULL;
}

/* The first n numbers after the name in row. */
static unsigned row_numbers(const char *row, unsigned long long *v, unsigned n)
{
	const char *p = row;
	unsigned k = 0;

	while (*p && *p != ' ' && *p != '\t')
		p++;
	while (k < n && *p && *p != '\n') {
		char *end;

		while (*p == ' ' || *p == '\t' || *p == ':' || *p == '|')
			p++;
		if (*p < '0' || *p > '9')
			break;
		v[k++] = strtoull(p, &end, 10);
		p = end;
	}
	return k;
}

static char *slabinfo_text(void)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	REQUIRE_NOT_NULL(f);
	hm_slabinfo(f);
	REQUIRE_EQ(fclose(f), 0);
	REQUIRE_NOT_NULL(buf);
	return buf;
}

static void test_slabinfo(void)
{
	struct hm_slab_cache *a, *b;
	struct hm_slab_stats sa, sb;
	void *objs[10], *km;
	char *text, *nl;
	unsigned long long v[5];
	unsigned lines = 0;

	start();
	a = make("info-a", 100, 0, 0);
	b = make("info-b", 3000, 0, NO_MAG);
	for (unsigned i = 0; i < 10; i++)
		REQUIRE_NOT_NULL(objs[i] = hm_slab_alloc(i % 2 ? a : b));
	REQUIRE_NOT_NULL(km = hm_kmalloc(64));
	sa = stats(a);
	sb = stats(b);
	text = slabinfo_text();
	for (const char *p = text; *p; p++)
		lines += *p == '\n';
	/* A version line, a header row, one row per cache (three). */
	CHECK_GE(lines, 5);
	nl = strchr(text, '\n');
	REQUIRE_NOT_NULL(nl);
	CHECK(strcasestr(text, "version") != NULL && strcasestr(text, "version") < nl);
	CHECK(strcasestr(nl + 1, "name") != NULL);
	CHECK(row_of(text, "info-a") > nl + 1);
	CHECK(row_of(text, "info-b") > nl + 1);
	CHECK(row_of(text, "kmalloc-64") > nl + 1);
	/* Name, active and total objects, object size, objects and pages per slab. */
	if (row_of(text, "info-a")) {
		CHECK_EQ(row_numbers(row_of(text, "info-a"), v, 5), 5);
		CHECK_EQ(v[0], sa.active_objs);
		CHECK_EQ(v[1], sa.total_objs);
		CHECK_EQ(v[2], 100);
		CHECK_EQ(v[3], sa.objs_per_slab);
		CHECK_EQ(v[4], sa.pages_per_slab);
	}
	if (row_of(text, "info-b")) {
		CHECK_EQ(row_numbers(row_of(text, "info-b"), v, 5), 5);
		CHECK_EQ(v[0], 5);
		CHECK_EQ(v[1], sb.total_objs);
		CHECK_EQ(v[2], 3000);
		CHECK_EQ(v[3], sb.objs_per_slab);
		CHECK_EQ(v[4], sb.pages_per_slab);
	}
	free(text);
	/* A destroyed cache has no row. */
	for (unsigned i = 0; i < 10; i++)
		hm_slab_free(i % 2 ? a : b, objs[i]);
	CHECK_EQ(hm_slab_destroy(b), 0);
	text = slabinfo_text();
	CHECK(row_of(text, "info-a") != NULL);
	CHECK(row_of(text, "info-b") == NULL);
	free(text);
	hm_kfree(km);
	stop();
}

/* --- out of memory, node, a second instance --- */

static void test_no_memory(void)
{
	enum { MAX = 1024 };
	struct hm_slab_cache *c;
	struct hm_slab_stats st;
	void **objs = calloc(MAX, sizeof(void *));
	unsigned n = 0;
	size_t blocks0;
	int e = 0;

	REQUIRE_NOT_NULL(objs);
	start_with(64 * MIB);
	blocks0 = live_blocks();
	c = make("oom", 128 * KIB, 0, 0);
	quiet();
	while (n < MAX) {
		errno = 0;
		objs[n] = hm_slab_alloc(c);
		if (!objs[n]) {
			e = errno;
			break;
		}
		memset(objs[n++], 0x11, 64);
	}
	CHECK_EQ(e, ENOMEM);
	CHECK_GT(n, 16);
	CHECK_LT(n, MAX);
	/* A bulk that cannot be served takes nothing. */
	st = stats(c);
	errno = 0;
	CHECK_EQ(hm_slab_alloc_bulk(c, objs + n, 4 * st.objs_per_slab + 4), 0);
	CHECK_EQ(errno, ENOMEM);
	CHECK_EQ(stats(c).active_objs, st.active_objs);
	CHECK_EQ(stats(c).allocs, st.allocs);
	loud();
	CHECK_EQ(st.active_objs, n);
	CHECK_EQ(hm_slab_audit(c), 0);
	hm_slab_free_bulk(c, objs, n);
	shrink_to_zero(c);
	/* The memory is the heap's again: a large block fits. */
	{
		void *big = hm_malloc(NULL, 16 * MIB, 0);

		CHECK(big != NULL);
		hm_free(big);
	}
	REQUIRE_NOT_NULL(objs[0] = hm_slab_alloc(c));
	hm_slab_free(c, objs[0]);
	CHECK_EQ(hm_slab_destroy(c), 0);
	CHECK_EQ(live_blocks(), blocks0);
	stop();
	free(objs);
}

static void test_node(void)
{
	struct hm_slab_cache *c;
	void *objs[64];
	unsigned bad = 0;

	start();
	REQUIRE(hm_socket_valid(0));
	c = make("node0", 256, 0, HM_SLAB_F_NODE(0));
	for (unsigned i = 0; i < 64; i++) {
		REQUIRE_NOT_NULL(objs[i] = hm_slab_alloc(c));
		if (hm_socket_of(objs[i]) != 0)
			bad++;
	}
	CHECK_EQ(bad, 0);
	hm_slab_free_bulk(c, objs, 64);
	CHECK_EQ(hm_slab_destroy(c), 0);
	stop();
}

/* hm_cleanup ends every cache; the next instance starts with none. */
static void test_second_instance(void)
{
	struct hm_slab_cache *c;
	void *p, *km;
	unsigned n = 0;

	start();
	c = make("again", 64, 0, 0);
	REQUIRE_NOT_NULL(p = hm_slab_alloc(c));
	REQUIRE_NOT_NULL(km = hm_kmalloc(100));
	stop();
	start();
	hm_slab_walk(count_cb, &n);
	CHECK_EQ(n, 0);
	CHECK_NULL_ERRNO(hm_slab_lookup("again"), ENOENT);
	CHECK_NULL_ERRNO(hm_slab_lookup("kmalloc-112"), ENOENT);
	c = make("again", 64, 0, 0);
	REQUIRE_NOT_NULL(p = hm_slab_alloc(c));
	REQUIRE_NOT_NULL(km = hm_kmalloc(100));
	CHECK_EQ(hm_ksize(km), 112);
	CHECK(hm_slab_lookup("kmalloc-112") != NULL);
	hm_kfree(km);
	hm_slab_free(c, p);
	CHECK_EQ(stats(c).active_objs, 0);
	CHECK_EQ(hm_slab_destroy(c), 0);
	stop();
}

int main(int argc, char **argv)
{
	t_init(argc, argv);
	T_RUN(test_before_init);
	T_RUN(test_bad_args);
	T_RUN(test_lookup);
	T_RUN(test_not_a_cache);
	T_RUN(test_fill_drain);
	T_RUN(test_no_overlap);
	T_RUN(test_colouring);
	T_RUN(test_ctor_dtor);
	T_RUN(test_bulk_all_or_nothing);
	T_RUN(test_object_caching);
	T_RUN(test_shrink_no_mag);
	T_RUN(test_shrink_magazines);
	T_RUN(test_reap_limit);
	T_RUN(test_reap_interval);
	T_RUN(test_reap_interval_depot);
	T_RUN(test_destroy);
	T_RUN(test_misuse);
	T_RUN(test_debug_damage);
	T_RUN(test_owner);
	T_RUN(test_bulk);
	T_RUN(test_stats);
	T_RUN(test_many_caches);
	T_RUN(test_walk);
	T_RUN(test_slabinfo);
	T_RUN(test_no_memory);
	T_RUN(test_node);
	T_RUN(test_second_instance);
	return t_done();
}
