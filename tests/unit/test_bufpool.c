/* SPDX-License-Identifier: MIT */
/*
 * test_bufpool.c - buffer pools (hugemem/bufpool.h) in one thread, on 4 KiB
 * pages: the shape, every errno, the index discipline and the tables.
 *
 *   - hm_bufpool_cluster_shape against a brute-force reference for every
 *     buffer size from 64 B to HM_BUFPOOL_BUF_MAX in steps of 64 (the least
 *     waste over every n with n * size <= HM_BUFPOOL_CLUSTER_MAX; the smallest
 *     n of zero waste when there is one, which is always so up to 64 KiB),
 *     and its -EINVAL cases; also before hm_init;
 *   - create: buf_size rounded to 64, the real count the smallest multiple of
 *     bufs_per_cluster at least the count asked, the info fields consistent,
 *     for fixed and random shapes; every EINVAL (count, buf_size, flags, name,
 *     create_min's min_count), ENAMETOOLONG at HM_BUFPOOL_NAME_MAX, EEXIST,
 *     ENODEV, ENOMEM, ENXIO before hm_init; lookup (ENOENT, EINVAL, a zone
 *     that only looks like a pool);
 *   - indices 0 and 1 never handed out: the pool drained one by one and in
 *     random bulks hands out every index of [2, count) exactly once, with
 *     and without HM_BUFPOOL_F_NO_CACHE, free_count right at every step (it
 *     counts what sits in the thread's cache); alloc_bulk all or nothing; a
 *     bulk larger than the thread's cache served when that many are free;
 *   - refused frees: reserved and out-of-range indices, alone and inside
 *     free_bulk arrays (also across the 64-index batches): refused at the
 *     call, logged and counted one for one, the valid ones freed; double
 *     frees (of an index in the cache, in the bitmap, twice in one array):
 *     refused at the call in checked pools (HM_BUFPOOL_F_CHECKED, every pool
 *     of a debug build) and in pools without caches, else once the thread's
 *     cache reaches the bitmap (forced with hm_thread_unregister); after
 *     that the pool hands out every index once; for every kind of pool;
 *   - the tables: addr -> idx -> addr for every buffer (and for any address
 *     inside one, and random addresses around the pool: idx is 0 exactly
 *     outside every buffer but 0), the layout of clusters, 64-byte
 *     alignment, every byte of every buffer writable without overlap; addr
 *     and iova of an index out of range are buffer 0's; IOVAs in AUTO, VA
 *     and (where the pagemap allows it) PA mode: hm_virt2iova of the buffer,
 *     HM_BAD_IOVA exactly for a buffer across a physical break; with
 *     HM_BUFPOOL_F_IOVA_CONTIG every buffer has its IOVA;
 *   - the counters (allocs, frees) against what the test did;
 *   - after every test, the heaps are sound (no smashed block, every audit
 *     passes), and a thread's cache never holds more than its capacity;
 *   - destroy: -EBUSY with buffers out (logged, the pool still usable), 0
 *     once all are back (some in the thread's cache), -EINVAL for NULL,
 *     destroyed, foreign and garbage pointers, the name free and the memory
 *     given back after; walk (pools only), dump.
 */
#include "harness.h"
#include "internal.h"
#include "heap/heap.h"
#include <hugemem.h>
#include <hugemem/bufpool.h>

#include <stdlib.h>

#define MIB  ((size_t)1 << 20)
#define KIB  ((size_t)1 << 10)
#define PAGE 4096u

static void start_cfg(size_t limit, enum hm_iova_mode mode)
{
	struct hm_config c;

	hm_config_defaults(&c);
	c.no_huge = true;
	c.memory_limit = limit;
	c.iova_mode = mode;
	REQUIRE_EQ(hm_init(&c), 0);
}

static void start(void)
{
	start_cfg(256 * MIB, HM_IOVA_AUTO);
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

static struct hm_bufpool_info info_of(const struct hm_bufpool *bp)
{
	struct hm_bufpool_info in;

	memset(&in, 0xee, sizeof(in));
	REQUIRE_EQ(hm_bufpool_info(bp, &in), 0);
	CHECK_EQ(in.size, sizeof(in));
	CHECK_EQ(in.version, 1);
	return in;
}

static size_t live_blocks(void)
{
	struct hm_malloc_stats st;

	REQUIRE_EQ(hm_malloc_get_stats(HM_SOCKET_ANY, &st), 0);
	return st.live_blocks;
}

/*
 * The heaps are sound: no corruption found by malloc (a smashed trailer, a
 * refused free) and every heap's audit passes. A pool writing past its own
 * blocks shows here.
 */
static void heap_ok(int line)
{
	struct hm_malloc_stats st;

	REQUIRE_EQ(hm_malloc_get_stats(HM_SOCKET_ANY, &st), 0);
	if (st.errors != 0)
		t_fail(__FILE__, line, false, "the heaps report %llu errors (corruption)",
		       (unsigned long long)st.errors);
	for (unsigned i = 0; i < hm__heap_count(); i++)
		if (hm__heap_audit(hm__heap_get(i)) != 0)
			t_fail(__FILE__, line, false, "heap %u fails its audit", i);
}
#define HEAP_OK() heap_ok(__LINE__)

/* Indices in the calling thread's cache of bp (0 if it has none). */
static unsigned my_cache_len(struct hm_bufpool *bp)
{
	struct hm__bufpool_cache *c = hm__bufpool_local(bp);

	return c ? hm__load_relaxed(&c->len) : 0;
}

/* The calling thread's cache holds no more than its capacity (2 * HM_BUFPOOL_CACHE_SIZE). */
static bool cache_bounded(struct hm_bufpool *bp, int line)
{
	unsigned len = my_cache_len(bp);

	if (len <= 2 * HM_BUFPOOL_CACHE_SIZE)
		return true;
	t_fail(__FILE__, line, false,
	       "this thread's cache holds %u indices, past its capacity of %u (an overrun)", len,
	       2 * HM_BUFPOOL_CACHE_SIZE);
	return false;
}
#define CACHE_BOUNDED(bp) ((void)cache_bounded(bp, __LINE__))

static uint64_t round_up(uint64_t x, uint64_t a)
{
	return (x + a - 1) / a * a;
}

/* How many of idx[0..n) are bad: outside [2, count), or given before. */
static unsigned bad_indices(const uint32_t *idx, unsigned n, unsigned count)
{
	uint8_t *seen = calloc(count ? count : 1, 1);
	unsigned bad = 0;

	REQUIRE_NOT_NULL(seen);
	for (unsigned i = 0; i < n; i++) {
		if (idx[i] < HM_BUFPOOL_RESERVED || idx[i] >= count || seen[idx[i]]++)
			bad++;
	}
	free(seen);
	return bad;
}

static void shuffle(uint32_t *idx, unsigned n)
{
	for (unsigned i = n; i > 1; i--) {
		unsigned j = (unsigned)t_rand_below(i);
		uint32_t t = idx[i - 1];

		idx[i - 1] = idx[j];
		idx[j] = t;
	}
}

/* Give idx[0..n) back, one by one and in random bulks. */
static void give_back(struct hm_bufpool *bp, const uint32_t *idx, unsigned n)
{
	for (unsigned i = 0; i < n;) {
		unsigned k = 1 + (unsigned)t_rand_below(t_rand_below(4) ? 32 : 200);

		if (k > n - i)
			k = n - i;
		if (k == 1 && t_rand_below(2))
			hm_bufpool_free(bp, idx[i]);
		else
			hm_bufpool_free_bulk(bp, idx + i, k);
		i += k;
	}
}

/*
 * Every index of bp but the reserved ones is free: alloc hands each of
 * [2, count) out exactly once, then 0; give them all back.
 */
static void all_once(struct hm_bufpool *bp, int line)
{
	unsigned count = hm_bufpool_count(bp), got = 0, bad;
	uint32_t *idx = calloc(count + 1, sizeof(uint32_t)), i;

	REQUIRE_NOT_NULL(idx);
	if (hm_bufpool_free_count(bp) != count - HM_BUFPOOL_RESERVED)
		t_fail(__FILE__, line, false, "free_count %u, want %u", hm_bufpool_free_count(bp),
		       count - HM_BUFPOOL_RESERVED);
	while (got <= count && (i = hm_bufpool_alloc(bp)) != 0)
		idx[got++] = i;
	bad = bad_indices(idx, got, count);
	if (got != count - HM_BUFPOOL_RESERVED || bad != 0)
		t_fail(__FILE__, line, false,
		       "drain: %u indices handed out (want %u), %u reserved, out of range or "
		       "twice",
		       got, count - HM_BUFPOOL_RESERVED, bad);
	if (hm_bufpool_free_count(bp) != 0)
		t_fail(__FILE__, line, false, "free_count %u after a drain",
		       hm_bufpool_free_count(bp));
	shuffle(idx, got);
	give_back(bp, idx, got);
	free(idx);
}
#define ALL_ONCE(bp) all_once(bp, __LINE__)

/* --- the cluster shape --- */

/* The brute-force reference: the least waste over every n, and the smallest n with it. */
static void reference_shape(uint64_t size, uint64_t *best_waste, uint64_t *first_best)
{
	*best_waste = UINT64_MAX;
	*first_best = 0;
	for (uint64_t n = 1; n * size <= HM_BUFPOOL_CLUSTER_MAX; n++) {
		uint64_t waste = round_up(n * size, PAGE) - n * size;

		if (waste < *best_waste) {
			*best_waste = waste;
			*first_best = n;
		}
	}
}

static void check_shapes(void)
{
	unsigned wrong = 0;

	for (size_t size = 64; size <= HM_BUFPOOL_BUF_MAX; size += 64) {
		uint64_t best, first, waste, total;
		unsigned per = 0;
		size_t cs = 0;
		int rc = hm_bufpool_cluster_shape(size, &per, &cs);

		reference_shape(size, &best, &first);
		total = (uint64_t)per * size;
		waste = round_up(total, PAGE) - total;
		if (rc != 0 || per == 0 || total > HM_BUFPOOL_CLUSTER_MAX || waste != best ||
		    cs != round_up(total, PAGE) || (best == 0 && per != first) ||
		    (size <= 64 * KIB && best != 0)) {
			if (wrong++ < 5)
				t_fail(__FILE__, __LINE__, false,
				       "size %zu: rc %d, per %u, cluster %zu (waste %llu); "
				       "reference: least waste %llu, first at n = %llu",
				       size, rc, per, cs, (unsigned long long)waste,
				       (unsigned long long)best, (unsigned long long)first);
		}
	}
	CHECK_EQ(wrong, 0);
}

static void test_cluster_shape(void)
{
	unsigned per = 77;
	size_t cs = 77;

	/* A pure function: also before hm_init. */
	CHECK(!hm_initialized());
	check_shapes();
	/* A few by hand (netmap's rule). */
	CHECK_EQ(hm_bufpool_cluster_shape(64, &per, &cs), 0);
	CHECK_EQ(per, 64);
	CHECK_EQ(cs, 4096);
	CHECK_EQ(hm_bufpool_cluster_shape(2048, &per, &cs), 0);
	CHECK_EQ(per, 2);
	CHECK_EQ(cs, 4096);
	CHECK_EQ(hm_bufpool_cluster_shape(192, &per, &cs), 0);
	CHECK_EQ(per, 64);
	CHECK_EQ(cs, 3 * 4096);
	CHECK_EQ(hm_bufpool_cluster_shape(HM_BUFPOOL_BUF_MAX, &per, &cs), 0);
	CHECK_EQ(per, 1);
	CHECK_EQ(cs, HM_BUFPOOL_BUF_MAX);
	/* Errors leave the outputs alone. */
	per = 77;
	cs = 77;
	CHECK_EQ(hm_bufpool_cluster_shape(0, &per, &cs), -EINVAL);
	CHECK_EQ(hm_bufpool_cluster_shape(1, &per, &cs), -EINVAL);
	CHECK_EQ(hm_bufpool_cluster_shape(100, &per, &cs), -EINVAL);
	CHECK_EQ(hm_bufpool_cluster_shape(64 + 32, &per, &cs), -EINVAL);
	CHECK_EQ(hm_bufpool_cluster_shape(HM_BUFPOOL_BUF_MAX + 64, &per, &cs), -EINVAL);
	CHECK_EQ(hm_bufpool_cluster_shape((size_t)1 << 40, &per, &cs), -EINVAL);
	CHECK_EQ(hm_bufpool_cluster_shape(64, NULL, &cs), -EINVAL);
	CHECK_EQ(hm_bufpool_cluster_shape(64, &per, NULL), -EINVAL);
	CHECK_EQ(hm_bufpool_cluster_shape(64, NULL, NULL), -EINVAL);
	CHECK_EQ(per, 77);
	CHECK_EQ(cs, 77);
}

/* --- before hm_init --- */

static void walk_count_cb(struct hm_bufpool *bp, void *arg)
{
	(void)bp;
	(*(unsigned *)arg)++;
}

static void test_before_init(void)
{
	struct hm_bufpool_info in;
	unsigned walked = 0;
	int x = 0;

	CHECK(!hm_initialized());
	CHECK_NULL_ERRNO(hm_bufpool_create("x", 100, 64, HM_SOCKET_ANY, 0), ENXIO);
	CHECK_NULL_ERRNO(hm_bufpool_create_min("x", 100, 10, 64, HM_SOCKET_ANY, 0), ENXIO);
	CHECK_NULL_ERRNO(hm_bufpool_lookup("x"), ENXIO);
	CHECK_EQ(hm_bufpool_destroy(NULL), -ENXIO);
	CHECK_EQ(hm_bufpool_destroy((struct hm_bufpool *)&x), -ENXIO);
	CHECK_EQ(hm_bufpool_info((struct hm_bufpool *)&x, &in), -EINVAL);
	CHECK_EQ(hm_bufpool_count(NULL), 0);
	CHECK_EQ(hm_bufpool_free_count(NULL), 0);
	CHECK_EQ(hm_bufpool_idx(NULL, &x), 0);
	hm_bufpool_walk(walk_count_cb, &walked);
	CHECK_EQ(walked, 0);
	hm_bufpool_walk(NULL, NULL);
}

/* --- create: the shape --- */

/* Create a pool of count x buf_size and check its shape against cluster_shape; the pool. */
static struct hm_bufpool *create_checked(const char *name, unsigned count, unsigned min_count,
					 size_t buf_size, unsigned flags, int line)
{
	struct hm_bufpool *bp =
		hm_bufpool_create_min(name, count, min_count, buf_size, HM_SOCKET_ANY, flags);
	struct hm_bufpool_info in;
	size_t size = (size_t)round_up(buf_size, 64), cs = 0;
	unsigned per = 0;

	if (!bp) {
		t_fail(__FILE__, line, true, "create %s (%u x %zu): %s", name, count, buf_size,
		       strerror(errno));
		return NULL;
	}
	REQUIRE_EQ(hm_bufpool_cluster_shape(size, &per, &cs), 0);
	in = info_of(bp);
	if (strcmp(in.name, name) != 0 || in.buf_size != size || in.bufs_per_cluster != per ||
	    in.cluster_size != cs || in.count_asked != count || in.count % per != 0 ||
	    in.count < count || in.count - per >= count || in.count != hm_bufpool_count(bp) ||
	    in.clusters * per != in.count || in.memory != in.clusters * cs ||
	    in.waste != in.memory - in.count * in.buf_size ||
	    in.free != in.count - HM_BUFPOOL_RESERVED ||
	    hm_bufpool_free_count(bp) != in.count - HM_BUFPOOL_RESERVED || in.chunks < 1 ||
	    in.chunks > in.clusters || in.allocs != 0 || in.frees != 0 || in.refused != 0 ||
	    bp->count != in.count || bp->buf_size != size) {
		t_fail(__FILE__, line, false,
		       "pool %s (%u x %zu asked; shape %u per %zu-byte cluster): name %s, "
		       "count %llu (asked %llu), buf_size %llu, per %llu, cluster %llu, clusters "
		       "%llu, memory %llu, waste %llu, free %llu (free_count %u), chunks %llu, "
		       "allocs %llu, frees %llu, refused %llu",
		       name, count, buf_size, per, cs, in.name, (unsigned long long)in.count,
		       (unsigned long long)in.count_asked, (unsigned long long)in.buf_size,
		       (unsigned long long)in.bufs_per_cluster, (unsigned long long)in.cluster_size,
		       (unsigned long long)in.clusters, (unsigned long long)in.memory,
		       (unsigned long long)in.waste, (unsigned long long)in.free,
		       hm_bufpool_free_count(bp), (unsigned long long)in.chunks,
		       (unsigned long long)in.allocs, (unsigned long long)in.frees,
		       (unsigned long long)in.refused);
	}
	return bp;
}
#define CREATE(name, count, size, flags) create_checked(name, count, count, size, flags, __LINE__)

static void test_create_shape(void)
{
	static const struct {
		unsigned count;
		size_t size;
	} fixed[] = {
		{3, 1},
		{3, 64},
		{3, 4096},
		{64, 64},
		{65, 64},
		{100, 1},
		{100, 63},
		{100, 65},
		{1000, 200},
		{777, 2048},
		{300, 2049},
		{50, 4095},
		{50, 12288},
		{7, 65600},
		{3, 1000000},
		{5, HM_BUFPOOL_BUF_MAX - 1},
		{5, HM_BUFPOOL_BUF_MAX},
		{10000, 64},
		{4097, 192},
		{129, 4160},
	};

	start();
	for (unsigned i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++) {
		struct hm_bufpool *bp = CREATE("shape", fixed[i].count, fixed[i].size, 0);

		CHECK_EQ(hm_bufpool_destroy(bp), 0);
	}
	/* Random shapes, up to about 8 MiB each. */
	for (unsigned r = 0; r < 60; r++) {
		size_t size = t_rand_below(3) ? 1 + t_rand_below(8192)
					      : 1 + t_rand_below(HM_BUFPOOL_BUF_MAX);
		size_t max = 8 * MIB / round_up(size, 64);
		unsigned count = 3 + (unsigned)t_rand_below(max > 3 ? max - 2 : 1);
		unsigned flags = t_rand_below(2) ? HM_BUFPOOL_F_NO_CACHE : 0;
		struct hm_bufpool *bp = CREATE("random", count, size, flags);

		CHECK_EQ(hm_bufpool_destroy(bp), 0);
	}
	HEAP_OK();
	hm_cleanup();
}

/* --- argument errors --- */

static void test_bad_args(void)
{
	char longname[HM_BUFPOOL_NAME_MAX + 8];
	struct hm_bufpool *bp, *bp2;
	struct hm_bufpool_info in;

	start();
	quiet();
	/* count */
	CHECK_NULL_ERRNO(hm_bufpool_create("b", 0, 64, HM_SOCKET_ANY, 0), EINVAL);
	CHECK_NULL_ERRNO(hm_bufpool_create("b", 1, 64, HM_SOCKET_ANY, 0), EINVAL);
	CHECK_NULL_ERRNO(hm_bufpool_create("b", 2, 64, HM_SOCKET_ANY, 0), EINVAL);
	CHECK_NULL_ERRNO(hm_bufpool_create("b", HM_BUFPOOL_COUNT_MAX + 1u, 4096, HM_SOCKET_ANY, 0),
			 EINVAL);
	CHECK_NULL_ERRNO(hm_bufpool_create("b", UINT32_MAX, 64, HM_SOCKET_ANY, 0), EINVAL);
	/* buf_size */
	CHECK_NULL_ERRNO(hm_bufpool_create("b", 100, 0, HM_SOCKET_ANY, 0), EINVAL);
	CHECK_NULL_ERRNO(hm_bufpool_create("b", 100, HM_BUFPOOL_BUF_MAX + 1, HM_SOCKET_ANY, 0),
			 EINVAL);
	CHECK_NULL_ERRNO(hm_bufpool_create("b", 100, SIZE_MAX, HM_SOCKET_ANY, 0), EINVAL);
	CHECK_NULL_ERRNO(hm_bufpool_create("b", 100, SIZE_MAX - 62, HM_SOCKET_ANY, 0), EINVAL);
	/* flags */
	CHECK_NULL_ERRNO(hm_bufpool_create("b", 100, 64, HM_SOCKET_ANY, 0x8), EINVAL);
	CHECK_NULL_ERRNO(hm_bufpool_create("b", 100, 64, HM_SOCKET_ANY, 0x8 | HM_BUFPOOL_F_CHECKED),
			 EINVAL);
	CHECK_NULL_ERRNO(hm_bufpool_create("b", 100, 64, HM_SOCKET_ANY, 0x80000000u), EINVAL);
	CHECK_NULL_ERRNO(hm_bufpool_create("b", 100, 64, HM_SOCKET_ANY, ~0u), EINVAL);
	/* name */
	CHECK_NULL_ERRNO(hm_bufpool_create(NULL, 100, 64, HM_SOCKET_ANY, 0), EINVAL);
	CHECK_NULL_ERRNO(hm_bufpool_create("", 100, 64, HM_SOCKET_ANY, 0), EINVAL);
	memset(longname, 'n', sizeof(longname));
	longname[HM_BUFPOOL_NAME_MAX] = '\0';
	CHECK_NULL_ERRNO(hm_bufpool_create(longname, 100, 64, HM_SOCKET_ANY, 0), ENAMETOOLONG);
	longname[HM_BUFPOOL_NAME_MAX + 5] = '\0';
	longname[HM_BUFPOOL_NAME_MAX] = 'n';
	CHECK_NULL_ERRNO(hm_bufpool_create(longname, 100, 64, HM_SOCKET_ANY, 0), ENAMETOOLONG);
	/* The longest name that fits. */
	longname[HM_BUFPOOL_NAME_MAX - 1] = '\0';
	bp = hm_bufpool_create(longname, 100, 64, HM_SOCKET_ANY, 0);
	REQUIRE_NOT_NULL(bp);
	in = info_of(bp);
	CHECK_STR_EQ(in.name, longname);
	CHECK_STR_EQ(bp->name, longname);
	CHECK_PTR_EQ(hm_bufpool_lookup(longname), bp);
	CHECK_NULL_ERRNO(hm_bufpool_create(longname, 100, 64, HM_SOCKET_ANY, 0), EEXIST);
	CHECK_EQ(hm_bufpool_destroy(bp), 0);
	/* socket */
	CHECK_NULL_ERRNO(hm_bufpool_create("b", 100, 64, 200, 0), ENODEV);
	CHECK_NULL_ERRNO(hm_bufpool_create_min("b", 100, 10, 64, 200, 0), ENODEV);
	/* create_min's min_count */
	CHECK_NULL_ERRNO(hm_bufpool_create_min("b", 100, 101, 64, HM_SOCKET_ANY, 0), EINVAL);
	CHECK_NULL_ERRNO(hm_bufpool_create_min("b", 100, UINT32_MAX, 64, HM_SOCKET_ANY, 0), EINVAL);
	CHECK_NULL_ERRNO(hm_bufpool_create_min("b", 100, 2, 64, HM_SOCKET_ANY, 0), EINVAL);
	CHECK_NULL_ERRNO(hm_bufpool_create_min("b", 100, 0, 64, HM_SOCKET_ANY, 0), EINVAL);
	CHECK_NULL_ERRNO(hm_bufpool_create_min("b", 2, 2, 64, HM_SOCKET_ANY, 0), EINVAL);
	CHECK_NULL_ERRNO(hm_bufpool_create_min(NULL, 100, 10, 64, HM_SOCKET_ANY, 0), EINVAL);
	CHECK_NULL_ERRNO(hm_bufpool_create_min("b", 100, 10, 0, HM_SOCKET_ANY, 0), EINVAL);
	CHECK_NULL_ERRNO(hm_bufpool_create_min("b", 100, 10, 64, HM_SOCKET_ANY, 0x100), EINVAL);
	CHECK_NULL_ERRNO(
		hm_bufpool_create_min("b", 100, 10, 64, HM_SOCKET_ANY, HM__BUFPOOL_CHECKED),
		EINVAL);
	/* Too much memory for the instance: the largest count with one buffer per cluster. */
	CHECK_NULL_ERRNO(hm_bufpool_create("b", HM_BUFPOOL_COUNT_MAX, 4096, HM_SOCKET_ANY, 0),
			 ENOMEM);
	CHECK_NULL_ERRNO(hm_bufpool_create("b", 1u << 20, 4096, HM_SOCKET_ANY, 0), ENOMEM);
	/* None of that left a pool or a zone behind. */
	CHECK_NULL_ERRNO(hm_bufpool_lookup("b"), ENOENT);
	CHECK_EQ(hm_memzone_count(), 0);
	/* min_count == count and 3 are fine. */
	bp = create_checked("b", 100, 100, 64, 0, __LINE__);
	bp2 = create_checked("b3", 3, 3, 64, HM_BUFPOOL_F_NO_CACHE, __LINE__);
	/* A duplicate, also through create_min and with other arguments. */
	CHECK_NULL_ERRNO(hm_bufpool_create("b", 100, 64, HM_SOCKET_ANY, 0), EEXIST);
	CHECK_NULL_ERRNO(hm_bufpool_create("b", 5000, 2048, HM_SOCKET_ANY, HM_BUFPOOL_F_NO_CACHE),
			 EEXIST);
	CHECK_NULL_ERRNO(hm_bufpool_create_min("b3", 100, 3, 64, HM_SOCKET_ANY, 0), EEXIST);
	loud();
	CHECK_EQ(hm_bufpool_destroy(bp), 0);
	CHECK_EQ(hm_bufpool_destroy(bp2), 0);
	/* Every known flag together is accepted (ENOMEM at worst: no contiguous memory). */
	errno = 0;
	bp = hm_bufpool_create("all", 100, 64, HM_SOCKET_ANY,
			       HM_BUFPOOL_F_NO_CACHE | HM_BUFPOOL_F_IOVA_CONTIG |
				       HM_BUFPOOL_F_CHECKED);
	if (!bp) {
		CHECK_EQ(errno, ENOMEM);
		printf("note: no IOVA-contiguous memory for a 100-buffer pool (%s)\n",
		       strerror(errno));
	} else {
		CHECK_EQ(hm_bufpool_destroy(bp), 0);
	}
	/* A node of the instance is fine. */
	bp = hm_bufpool_create("sock", 100, 64, 0, 0);
	if (bp)
		CHECK_EQ(hm_bufpool_destroy(bp), 0);
	else
		CHECK_EQ(errno, ENODEV); /* node 0 is not the instance's */
	HEAP_OK();
	hm_cleanup();
}

/* --- lookup --- */

static void test_lookup(void)
{
	char longname[HM_BUFPOOL_NAME_MAX + 1];
	const struct hm_memzone *mz;
	struct hm_bufpool *a, *b;

	start();
	a = CREATE("alpha", 100, 64, 0);
	b = CREATE("beta", 100, 128, HM_BUFPOOL_F_NO_CACHE);
	CHECK_PTR_EQ(hm_bufpool_lookup("alpha"), a);
	CHECK_PTR_EQ(hm_bufpool_lookup("beta"), b);
	CHECK_NULL_ERRNO(hm_bufpool_lookup("gamma"), ENOENT);
	CHECK_NULL_ERRNO(hm_bufpool_lookup("alph"), ENOENT);
	CHECK_NULL_ERRNO(hm_bufpool_lookup("alphaa"), ENOENT);
	CHECK_NULL_ERRNO(hm_bufpool_lookup(NULL), EINVAL);
	CHECK_NULL_ERRNO(hm_bufpool_lookup(""), EINVAL);
	memset(longname, 'a', sizeof(longname));
	longname[HM_BUFPOOL_NAME_MAX] = '\0';
	errno = 0;
	CHECK_NULL(hm_bufpool_lookup(longname));
	CHECK(errno == ENOENT || errno == EINVAL);
	/* The pools' zones are not pools by their zone names. */
	CHECK_NULL_ERRNO(hm_bufpool_lookup("BP_alpha"), ENOENT);
	/* A zone named like a pool's, that is not one. */
	mz = hm_memzone_reserve("BP_fake", 8192, HM_SOCKET_ANY, 0, 0, 0);
	REQUIRE_NOT_NULL(mz);
	memset(mz->addr, 0, mz->len);
	CHECK_NULL_ERRNO(hm_bufpool_lookup("fake"), ENOENT);
	CHECK_EQ(hm_bufpool_destroy(mz->addr), -EINVAL);
	/* A ring is not a pool either. */
	REQUIRE_NOT_NULL(hm_ring_create("ring", 64, HM_SOCKET_ANY, 0));
	CHECK_NULL_ERRNO(hm_bufpool_lookup("ring"), ENOENT);
	CHECK_EQ(hm_bufpool_destroy(a), 0);
	CHECK_NULL_ERRNO(hm_bufpool_lookup("alpha"), ENOENT);
	CHECK_PTR_EQ(hm_bufpool_lookup("beta"), b);
	CHECK_EQ(hm_bufpool_destroy(b), 0);
	HEAP_OK();
	hm_cleanup();
}

/* --- drain and refill --- */

/*
 * Drain a pool one by one, then in random bulks of at most the cache's size,
 * checking free_count at every step, that a bulk asking for more than is
 * free takes nothing, and that every index of [2, count) comes out once.
 */
static void drain(unsigned count_ask, size_t size, unsigned flags)
{
	struct hm_bufpool *bp = CREATE("drain", count_ask, size, flags);
	unsigned count = hm_bufpool_count(bp), got, wrong = 0, fails = 0;
	uint32_t *idx = calloc(count + HM_BUFPOOL_CACHE_SIZE + 1, sizeof(uint32_t)), i;
	struct hm_bufpool_info in;

	REQUIRE_NOT_NULL(idx);
	/* One by one. */
	for (got = 0; got <= count && (i = hm_bufpool_alloc(bp)) != 0; got++) {
		idx[got] = i;
		if (hm_bufpool_free_count(bp) != count - HM_BUFPOOL_RESERVED - got - 1 &&
		    wrong++ == 0)
			t_fail(__FILE__, __LINE__, false,
			       "pool %u x %zu, flags %#x: free_count %u after %u allocs, of %u",
			       count, size, flags, hm_bufpool_free_count(bp), got + 1, count);
		CACHE_BOUNDED(bp);
	}
	CHECK_EQ(got, count - HM_BUFPOOL_RESERVED);
	CHECK_EQ(bad_indices(idx, got, count), 0);
	CHECK_EQ(hm_bufpool_alloc(bp), 0);
	CHECK_EQ(hm_bufpool_alloc_bulk(bp, idx + got, 1), 0);
	CHECK_EQ(hm_bufpool_alloc_bulk(bp, idx + got, 2), 0);
	CHECK_EQ(hm_bufpool_free_count(bp), 0);
	in = info_of(bp);
	CHECK_EQ(in.free, 0);
	CHECK_EQ(in.allocs, got);
	/* Back in a random order, one by one: free_count follows. */
	shuffle(idx, got);
	for (unsigned k = 0; k < got; k++) {
		hm_bufpool_free(bp, idx[k]);
		if (hm_bufpool_free_count(bp) != k + 1 && wrong++ == 0)
			t_fail(__FILE__, __LINE__, false,
			       "pool %u x %zu, flags %#x: free_count %u after %u frees", count,
			       size, flags, hm_bufpool_free_count(bp), k + 1);
	}
	CHECK_EQ(hm_bufpool_free_count(bp), count - HM_BUFPOOL_RESERVED);

	/* In random bulks until none is free; one asking for more takes nothing. */
	got = 0;
	for (;;) {
		unsigned fc = hm_bufpool_free_count(bp), r;
		unsigned k =
			1 + (unsigned)t_rand_below(t_rand_below(4) ? 40 : HM_BUFPOOL_CACHE_SIZE);

		if (fc != count - HM_BUFPOOL_RESERVED - got) {
			t_fail(__FILE__, __LINE__, false,
			       "pool %u x %zu, flags %#x: free_count %u with %u out", count, size,
			       flags, fc, got);
			break;
		}
		if (fc == 0) {
			CHECK_EQ(hm_bufpool_alloc_bulk(bp, idx + got, k), 0);
			break;
		}
		if (k > fc && t_rand_below(2))
			k = fc;
		r = hm_bufpool_alloc_bulk(bp, idx + got, k);
		if (!cache_bounded(bp, __LINE__)) {
			/* Memory past the cache is overwritten: leave this instance as it is. */
			free(idx);
			return;
		}
		if (k <= fc) {
			if (r != k) {
				t_fail(__FILE__, __LINE__, false,
				       "pool %u x %zu, flags %#x: alloc_bulk(%u) gave %u with %u "
				       "free",
				       count, size, flags, k, r, fc);
				break;
			}
			got += k;
		} else {
			if (r != 0 || hm_bufpool_free_count(bp) != fc)
				t_fail(__FILE__, __LINE__, false,
				       "pool %u x %zu, flags %#x: alloc_bulk(%u) with %u free gave "
				       "%u and left %u free",
				       count, size, flags, k, fc, r, hm_bufpool_free_count(bp));
			fails++;
		}
	}
	CHECK_EQ(got, count - HM_BUFPOOL_RESERVED);
	CHECK_EQ(bad_indices(idx, got, count), 0);
	CHECK_EQ(hm_bufpool_alloc(bp), 0);
	in = info_of(bp);
	CHECK_EQ(in.refused, 0);
	CHECK_EQ(in.allocs, 2 * (uint64_t)got);
	CHECK_EQ(in.frees, got);
	/* Back in random bulks; then every index once more. */
	shuffle(idx, got);
	give_back(bp, idx, got);
	CHECK_EQ(hm_bufpool_free_count(bp), count - HM_BUFPOOL_RESERVED);
	ALL_ONCE(bp);
	CHECK_EQ(info_of(bp).refused, 0);
	CHECK_EQ(hm_bufpool_destroy(bp), 0);
	free(idx);
	(void)fails;
}

static void test_drain(void)
{
	static const unsigned modes[] = {0, HM_BUFPOOL_F_NO_CACHE, HM_BUFPOOL_F_CHECKED};

	static const struct {
		unsigned count;
		size_t size;
	} shapes[] = {
		{3, 4096},    /* one buffer to hand out */
		{3, 64},      /* one cluster of 64 */
		{1000, 64},   /* 1024 */
		{3000, 2048}, /* 3000, two per cluster */
		{700, 200},   /* 256 bytes: 704 */
		{5000, 192},  /* 5056 */
		{40, 65600},  /* 63 per cluster, with waste */
	};

	/* An instance for each, so that a failure in one leaves the others alone. */
	for (unsigned f = 0; f < 3; f++) {
		for (unsigned i = 0; i < sizeof(shapes) / sizeof(shapes[0]); i++) {
			start();
			drain(shapes[i].count, shapes[i].size, modes[f]);
			HEAP_OK();
			hm_cleanup();
		}
	}
}

/* A bulk asking for more than is free takes nothing, also right after a refill. */
static void all_or_nothing(unsigned flags)
{
	struct hm_bufpool *bp = CREATE("aon", 600, 128, flags);
	unsigned count = hm_bufpool_count(bp), fc;
	uint32_t *idx = calloc(count + 1, sizeof(uint32_t));
	struct hm_bufpool_info in0;

	REQUIRE_NOT_NULL(idx);
	fc = count - HM_BUFPOOL_RESERVED;
	CHECK_EQ(hm_bufpool_alloc_bulk(bp, idx, fc + 1), 0);
	CHECK_EQ(hm_bufpool_alloc_bulk(bp, idx, count), 0);
	CHECK_EQ(hm_bufpool_alloc_bulk(bp, idx, UINT32_MAX / 8), 0);
	CHECK_EQ(hm_bufpool_free_count(bp), fc);
	/* Take all but 10, then ask for 11, 50, 300: nothing; then exactly 10. */
	REQUIRE_EQ(hm_bufpool_alloc_bulk(bp, idx, 100), 100);
	REQUIRE_EQ(hm_bufpool_alloc_bulk(bp, idx + 100, 1), 1);
	for (unsigned got = 101; got < fc - 10;) {
		unsigned k = HM_MIN(fc - 10 - got, 50u);

		REQUIRE_EQ(hm_bufpool_alloc_bulk(bp, idx + got, k), k);
		got += k;
	}
	CHECK_EQ(hm_bufpool_free_count(bp), 10);
	in0 = info_of(bp);
	CHECK_EQ(hm_bufpool_alloc_bulk(bp, idx + fc - 10, 11), 0);
	CHECK_EQ(hm_bufpool_free_count(bp), 10);
	CHECK_EQ(hm_bufpool_alloc_bulk(bp, idx + fc - 10, 50), 0);
	CHECK_EQ(hm_bufpool_free_count(bp), 10);
	CHECK_EQ(hm_bufpool_alloc_bulk(bp, idx + fc - 10, 300), 0);
	CHECK_EQ(hm_bufpool_free_count(bp), 10);
	/* Failed bulks are no allocs, and what they gave back is no refused free. */
	CHECK_EQ(info_of(bp).allocs, in0.allocs);
	CHECK_EQ(info_of(bp).refused, 0);
	CHECK_EQ(hm_bufpool_alloc_bulk(bp, idx + fc - 10, 10), 10);
	CHECK_EQ(hm_bufpool_free_count(bp), 0);
	CHECK_EQ(hm_bufpool_alloc(bp), 0);
	CHECK_EQ(bad_indices(idx, fc, count), 0);
	give_back(bp, idx, fc);
	ALL_ONCE(bp);
	CHECK_EQ(info_of(bp).refused, 0);
	CHECK_EQ(hm_bufpool_destroy(bp), 0);
	free(idx);
}

static void test_all_or_nothing(void)
{
	start();
	all_or_nothing(0);
	all_or_nothing(HM_BUFPOOL_F_NO_CACHE);
	all_or_nothing(HM_BUFPOOL_F_CHECKED);
	HEAP_OK();
	hm_cleanup();
}

/*
 * A bulk larger than a thread's cache (HM_BUFPOOL_CACHE_SIZE) is served when
 * that many are free, also when some of them sit in the calling thread's own
 * cache (free_count counts them): the thread is alone, nothing else holds
 * any.
 */
static void test_bulk_beyond_cache(void)
{
	struct hm_bufpool *bp;
	unsigned count, fc, r;
	uint32_t *idx;

	start();
	bp = CREATE("beyond", 2000, 64, 0);
	count = hm_bufpool_count(bp);
	idx = calloc(count + 1, sizeof(uint32_t));
	REQUIRE_NOT_NULL(idx);
	/* One alloc and its free: the thread's cache holds a refill's worth now. */
	idx[0] = hm_bufpool_alloc(bp);
	REQUIRE_NE(idx[0], 0);
	hm_bufpool_free(bp, idx[0]);
	fc = hm_bufpool_free_count(bp);
	CHECK_EQ(fc, count - HM_BUFPOOL_RESERVED);
	/* Every free index at once. */
	r = hm_bufpool_alloc_bulk(bp, idx, fc);
	if (r != fc)
		t_fail(__FILE__, __LINE__, false,
		       "alloc_bulk(%u) with %u free, one thread: gave %u (free_count now %u)", fc,
		       fc, r, hm_bufpool_free_count(bp));
	if (r == fc) {
		CHECK_EQ(bad_indices(idx, r, count), 0);
		CHECK_EQ(hm_bufpool_free_count(bp), 0);
		give_back(bp, idx, r);
	}
	/* The same for a bulk just above the cache's size, with the cache holding some. */
	REQUIRE_EQ(hm_bufpool_alloc_bulk(bp, idx, 10), 10);
	hm_bufpool_free_bulk(bp, idx, 10);
	r = 0;
	for (unsigned got = 0; got < fc - (HM_BUFPOOL_CACHE_SIZE + 1);) {
		unsigned k = HM_MIN(fc - (HM_BUFPOOL_CACHE_SIZE + 1) - got, 64u);

		REQUIRE_EQ(hm_bufpool_alloc_bulk(bp, idx + got, k), k);
		got += k;
	}
	CHECK_EQ(hm_bufpool_free_count(bp), HM_BUFPOOL_CACHE_SIZE + 1);
	r = hm_bufpool_alloc_bulk(bp, idx + fc - (HM_BUFPOOL_CACHE_SIZE + 1),
				  HM_BUFPOOL_CACHE_SIZE + 1);
	if (r != HM_BUFPOOL_CACHE_SIZE + 1)
		t_fail(__FILE__, __LINE__, false,
		       "alloc_bulk(%u) with %u free, one thread: gave %u (free_count now %u)",
		       HM_BUFPOOL_CACHE_SIZE + 1, HM_BUFPOOL_CACHE_SIZE + 1, r,
		       hm_bufpool_free_count(bp));
	give_back(bp, idx, r ? fc : fc - (HM_BUFPOOL_CACHE_SIZE + 1));
	ALL_ONCE(bp);
	CHECK_EQ(hm_bufpool_destroy(bp), 0);
	free(idx);
	HEAP_OK();
	hm_cleanup();
}

/* --- refused frees --- */

/* Whether a pool made with flags refuses a double free at the call (header: checked pools). */
static bool checked(unsigned flags)
{
	return (flags & HM_BUFPOOL_F_CHECKED) || HM_DEBUG >= 1;
}

/*
 * Whether a double free is refused at the call itself: in a checked pool, and
 * in a pool without caches (it goes to the bitmap at once).
 */
static bool refused_at_call(unsigned flags)
{
	return checked(flags) || (flags & HM_BUFPOOL_F_NO_CACHE);
}

/* Send this thread's caches to the bitmap (its slot is released; the next call takes one). */
static void settle(void)
{
	CHECK_EQ(hm_thread_unregister(), 0);
}

static void refused(unsigned flags)
{
	struct hm_bufpool *bp = CREATE("refuse", 500, 128, flags);
	unsigned count = hm_bufpool_count(bp), lines, fc, nref;
	bool now = refused_at_call(flags);
	uint64_t ref;
	uint32_t a, b, c, d, never, big[200], held[150];

	CHECK_EQ(!!(bp->flags & HM__BUFPOOL_CHECKED), checked(flags));
	quiet();
	a = hm_bufpool_alloc(bp);
	b = hm_bufpool_alloc(bp);
	c = hm_bufpool_alloc(bp);
	d = hm_bufpool_alloc(bp);
	REQUIRE(a && b && c && d);
	/* An index never handed out: free since the pool was made. */
	never = count - 1;
	if (never == a || never == b || never == c || never == d)
		never = count - 5;
	fc = hm_bufpool_free_count(bp);
	CHECK_EQ(fc, count - HM_BUFPOOL_RESERVED - 4);

	/* Reserved and out of range, one at a time: refused, logged, counted, at the call. */
	hm_bufpool_free(bp, 0);
	hm_bufpool_free(bp, 1);
	hm_bufpool_free(bp, count);
	hm_bufpool_free(bp, count + 1000);
	hm_bufpool_free(bp, UINT32_MAX);
	hm_bufpool_free(bp, 0x80000000u);
	CHECK_EQ(t_log_lines(), 6);
	CHECK_EQ(info_of(bp).refused, 6);
	CHECK_EQ(info_of(bp).frees, 0);
	CHECK_EQ(hm_bufpool_free_count(bp), fc);

	/* In a bulk: the valid ones (b, c) freed, the rest refused. */
	{
		uint32_t mixed[] = {b, 0, c, UINT32_MAX, 1, count};

		hm_bufpool_free_bulk(bp, mixed, sizeof(mixed) / sizeof(mixed[0]));
	}
	CHECK_EQ(t_log_lines(), 6 + 4);
	CHECK_EQ(info_of(bp).refused, 6 + 4);
	CHECK_EQ(info_of(bp).frees, 2);
	CHECK_EQ(hm_bufpool_free_count(bp), fc + 2);

	/* Double frees: b again (free, maybe in this thread's cache), never (free in the
	 * bitmap), a twice in one bulk, d twice in a bulk with a bad one. */
	hm_bufpool_free(bp, b);
	hm_bufpool_free(bp, never);
	hm_bufpool_free_bulk(bp, (uint32_t[]){a, a}, 2);
	hm_bufpool_free_bulk(bp, (uint32_t[]){d, 0, d}, 3);
	nref = 6 + 4 + 1 + 1 + 1 + 2;
	if (now) {
		CHECK_EQ(t_log_lines(), nref);
		CHECK_EQ(info_of(bp).refused, nref);
		CHECK_EQ(info_of(bp).frees, 4);
		CHECK_EQ(hm_bufpool_free_count(bp), count - HM_BUFPOOL_RESERVED);
	}
	/* Once this thread's cache has gone to the bitmap, in any pool. */
	settle();
	CHECK_EQ(t_log_lines(), nref);
	CHECK_EQ(info_of(bp).refused, nref);
	CHECK_EQ(hm_bufpool_free_count(bp), count - HM_BUFPOOL_RESERVED);
	CHECK_EQ(info_of(bp).allocs, 4);
	lines = t_log_lines();
	ref = info_of(bp).refused;
	CHECK_EQ(lines, ref);
	ALL_ONCE(bp);

	/* A large bulk (several batches of 64) with bad ones spread over it. */
	REQUIRE_EQ(hm_bufpool_alloc_bulk(bp, held, 100), 100);
	REQUIRE_EQ(hm_bufpool_alloc_bulk(bp, held + 100, 50), 50);
	{
		unsigned k = 0, bad = 0, dups = 0;

		for (unsigned i = 0; i < 150; i++) {
			/* Bad ones at 0, 63, 64, 65, 127, 128 (batch edges) and every 31st. */
			if (k == 0 || k == 63 || k == 64 || k == 65 || k == 127 || k == 128 ||
			    k % 31 == 30) {
				static const uint32_t junk[] = {0, 1, UINT32_MAX, 0x80000000u};
				uint32_t v = k % 5 == 0 ? count + (uint32_t)k : junk[k % 4];

				big[k++] = v;
				bad++;
			}
			big[k++] = held[i];
		}
		/* Two freed earlier in this very array, given again at its end. */
		big[k++] = held[3];
		big[k++] = held[140];
		dups = 2;
		REQUIRE(k <= sizeof(big) / sizeof(big[0]));
		fc = hm_bufpool_free_count(bp);
		hm_bufpool_free_bulk(bp, big, k);
		if (now) {
			CHECK_EQ(t_log_lines(), lines + bad + dups);
			CHECK_EQ(info_of(bp).refused, ref + bad + dups);
			CHECK_EQ(hm_bufpool_free_count(bp), fc + 150);
		} else {
			/* The bad ones at once; the second copies when they reach the bitmap. */
			CHECK_EQ(t_log_lines(), lines + bad);
			CHECK_EQ(info_of(bp).refused, ref + bad);
		}
		settle();
		CHECK_EQ(t_log_lines(), lines + bad + dups);
		CHECK_EQ(info_of(bp).refused, ref + bad + dups);
		CHECK_EQ(hm_bufpool_free_count(bp), fc + 150);
	}
	ALL_ONCE(bp);
	/* A bulk larger than the cache's flush threshold, all valid. */
	{
		uint32_t *all = calloc(count, sizeof(uint32_t));
		unsigned n = count - HM_BUFPOOL_RESERVED;

		REQUIRE_NOT_NULL(all);
		for (unsigned got = 0; got < n;) {
			unsigned k = HM_MIN(n - got, 100u);

			REQUIRE_EQ(hm_bufpool_alloc_bulk(bp, all + got, k), k);
			got += k;
		}
		lines = t_log_lines();
		hm_bufpool_free_bulk(bp, all, n);
		CHECK_EQ(hm_bufpool_free_count(bp), n);
		CHECK_EQ(t_log_lines(), lines);
		free(all);
	}
	ALL_ONCE(bp);
	loud();
	CHECK_EQ(hm_bufpool_destroy(bp), 0);
}

static void test_refused(void)
{
	start();
	refused(0);
	refused(HM_BUFPOOL_F_NO_CACHE);
	refused(HM_BUFPOOL_F_CHECKED);
	refused(HM_BUFPOOL_F_CHECKED | HM_BUFPOOL_F_NO_CACHE);
	HEAP_OK();
	hm_cleanup();
}

/*
 * One index twice in one free_bulk array of valid frees: the first frees it,
 * the second is the free of an index already free, refused like any other
 * (at the call in a checked pool or one without caches, else when the
 * thread's cache reaches the bitmap, which takes the index only once).
 */
static void twice_in_one_bulk(unsigned flags)
{
	struct hm_bufpool *bp = CREATE("twice", 300, 64, flags);
	unsigned count = hm_bufpool_count(bp);
	bool now = refused_at_call(flags);
	uint32_t x, y, z;

	quiet();
	x = hm_bufpool_alloc(bp);
	y = hm_bufpool_alloc(bp);
	z = hm_bufpool_alloc(bp);
	REQUIRE(x && y && z);
	hm_bufpool_free_bulk(bp, (uint32_t[]){x, x}, 2);
	if (now) {
		CHECK_EQ(info_of(bp).refused, 1);
		CHECK_EQ(t_log_lines(), 1);
		CHECK_EQ(info_of(bp).frees, 1);
		CHECK_EQ(hm_bufpool_free_count(bp), count - HM_BUFPOOL_RESERVED - 2);
	}
	hm_bufpool_free_bulk(bp, (uint32_t[]){y, z, y}, 3);
	if (now) {
		CHECK_EQ(info_of(bp).refused, 2);
		CHECK_EQ(t_log_lines(), 2);
		CHECK_EQ(info_of(bp).frees, 3);
		CHECK_EQ(hm_bufpool_free_count(bp), count - HM_BUFPOOL_RESERVED);
	}
	settle();
	CHECK_EQ(info_of(bp).refused, 2);
	CHECK_EQ(t_log_lines(), 2);
	CHECK_EQ(hm_bufpool_free_count(bp), count - HM_BUFPOOL_RESERVED);
	/* No index handed out twice after that. */
	ALL_ONCE(bp);
	loud();
	CHECK_EQ(hm_bufpool_destroy(bp), 0);
}

static void test_twice_in_one_bulk(void)
{
	start();
	twice_in_one_bulk(HM_BUFPOOL_F_NO_CACHE);
	twice_in_one_bulk(0);
	twice_in_one_bulk(HM_BUFPOOL_F_CHECKED);
	twice_in_one_bulk(HM_BUFPOOL_F_CHECKED | HM_BUFPOOL_F_NO_CACHE);
	HEAP_OK();
	hm_cleanup();
}

/* --- the tables: addresses and indices --- */

struct ent {
	uintptr_t a;
	uint32_t i;
};

static int cmp_ent(const void *x, const void *y)
{
	const struct ent *p = x, *q = y;

	return (p->a > q->a) - (p->a < q->a);
}

/* The index of the buffer holding p by the sorted table (0 if none), the reference for idx. */
static uint32_t ref_idx(const struct ent *e, unsigned n, size_t size, uintptr_t p)
{
	unsigned lo = 0, hi = n;

	while (lo < hi) {
		unsigned mid = (lo + hi) / 2;

		if (e[mid].a <= p)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo && p - e[lo - 1].a < size ? e[lo - 1].i : 0;
}

static uint64_t word_of(uint32_t idx, size_t w)
{
	return ((uint64_t)idx << 32 | w) * 0x9e3779b97f4a7c15ull;
}

static void addr_idx(unsigned count_ask, size_t buf_size, unsigned flags)
{
	struct hm_bufpool *bp = CREATE("addr", count_ask, buf_size, flags);
	struct hm_bufpool_info in = info_of(bp);
	unsigned count = (unsigned)in.count, per = (unsigned)in.bufs_per_cluster, wrong = 0;
	size_t size = (size_t)in.buf_size;
	struct ent *e = calloc(count, sizeof(*e));
	uintptr_t lo, hi;
	int local = 0;

	REQUIRE_NOT_NULL(e);
	for (uint32_t i = 0; i < count; i++) {
		char *p = hm_bufpool_addr(bp, i);
		bool ok = p != NULL && (uintptr_t)p % 64 == 0 && hm_bufpool_idx(bp, p) == i &&
			  hm_bufpool_idx(bp, p + size / 2) == i &&
			  hm_bufpool_idx(bp, p + size - 1) == i && hm_bufpool_idx(bp, p + 1) == i;

		/* A cluster starts on a page; its buffers follow each other. */
		if (i % per == 0)
			ok &= (uintptr_t)p % PAGE == 0;
		else
			ok &= p == (char *)hm_bufpool_addr(bp, i - 1) + size;
		/* The unused end of a cluster is in no buffer. */
		if (i % per == per - 1 && in.cluster_size > (uint64_t)per * size)
			ok &= hm_bufpool_idx(bp, p + size) == 0 &&
			      hm_bufpool_idx(bp, (char *)hm_bufpool_addr(bp, i - (per - 1)) +
							 in.cluster_size - 1) == 0;
		if (!ok && wrong++ < 5)
			t_fail(__FILE__, __LINE__, false,
			       "pool %u x %zu: buffer %u at %p: idx %u, %u (middle), %u (last "
			       "byte)",
			       count, size, i, (void *)p, hm_bufpool_idx(bp, p),
			       hm_bufpool_idx(bp, p + size / 2), hm_bufpool_idx(bp, p + size - 1));
		e[i].a = (uintptr_t)p;
		e[i].i = i;
	}
	CHECK_EQ(wrong, 0);
	/* Distinct, and none overlaps the next. */
	qsort(e, count, sizeof(*e), cmp_ent);
	for (unsigned j = 1; j < count; j++) {
		if (e[j].a < e[j - 1].a + size && wrong++ < 5)
			t_fail(__FILE__, __LINE__, false,
			       "pool %u x %zu: buffers %u (%#lx) and %u (%#lx) overlap", count,
			       size, e[j - 1].i, (unsigned long)e[j - 1].a, e[j].i,
			       (unsigned long)e[j].a);
	}
	CHECK_EQ(wrong, 0);
	/* Out of range: buffer 0. */
	CHECK_PTR_EQ(hm_bufpool_addr(bp, count), hm_bufpool_addr(bp, 0));
	CHECK_PTR_EQ(hm_bufpool_addr(bp, count + 1000), hm_bufpool_addr(bp, 0));
	CHECK_PTR_EQ(hm_bufpool_addr(bp, UINT32_MAX), hm_bufpool_addr(bp, 0));
	CHECK_UEQ(hm_bufpool_iova(bp, count), hm_bufpool_iova(bp, 0));
	CHECK_UEQ(hm_bufpool_iova(bp, UINT32_MAX), hm_bufpool_iova(bp, 0));
	/* In no buffer. */
	CHECK_EQ(hm_bufpool_idx(bp, &local), 0);
	CHECK_EQ(hm_bufpool_idx(bp, bp), 0);
	CHECK_EQ(hm_bufpool_idx(bp, (char *)bp + sizeof(*bp)), 0);
	CHECK_EQ(hm_bufpool_idx(bp, &in), 0);
	CHECK_EQ(hm_bufpool_idx(bp, NULL), 0);
	CHECK_EQ(hm_bufpool_idx(bp, (void *)(uintptr_t)(e[count - 1].a + size)),
		 ref_idx(e, count, size, e[count - 1].a + size));
	CHECK_EQ(hm_bufpool_idx(bp, (void *)(uintptr_t)(e[0].a - 1)), 0);
	/* Random addresses around the buffers: idx agrees with the table. */
	lo = e[0].a - 8192;
	hi = e[count - 1].a + size + 8192;
	for (unsigned r = 0; r < 20000; r++) {
		uintptr_t p = lo + (uintptr_t)t_rand_below(hi - lo);
		uint32_t want = ref_idx(e, count, size, p), got = hm_bufpool_idx(bp, (void *)p);

		if (got != want && wrong++ < 5)
			t_fail(__FILE__, __LINE__, false,
			       "pool %u x %zu: idx(%#lx) is %u, the buffer there is %u", count,
			       size, (unsigned long)p, got, want);
	}
	CHECK_EQ(wrong, 0);
	/* Every byte of every buffer (0 and 1 too) is writable and its own. */
	for (uint32_t i = 0; i < count; i++) {
		uint64_t *w = hm_bufpool_addr(bp, i);

		for (size_t k = 0; k < size / 8; k++)
			w[k] = word_of(i, k);
	}
	for (uint32_t i = 0; i < count; i++) {
		const uint64_t *w = hm_bufpool_addr(bp, i);
		size_t k = 0;

		while (k < size / 8 && w[k] == word_of(i, k))
			k++;
		if (k != size / 8 && wrong++ < 5)
			t_fail(__FILE__, __LINE__, false,
			       "pool %u x %zu: buffer %u changed at byte %zu", count, size, i,
			       k * 8);
	}
	CHECK_EQ(wrong, 0);
	/* The contents stay across alloc and free: the pool does not write buffers. */
	{
		uint32_t i = hm_bufpool_alloc(bp);
		const uint64_t *w = hm_bufpool_addr(bp, i);

		REQUIRE_NE(i, 0);
		CHECK_UEQ(w[0], word_of(i, 0));
		CHECK_UEQ(w[size / 8 - 1], word_of(i, size / 8 - 1));
		hm_bufpool_free(bp, i);
	}
	CHECK_EQ(hm_bufpool_destroy(bp), 0);
	free(e);
}

static void test_addr_idx(void)
{
	start();
	addr_idx(3, 64, 0);
	addr_idx(1000, 64, 0);
	addr_idx(600, 2048, HM_BUFPOOL_F_NO_CACHE);
	addr_idx(100, 4096, 0);
	addr_idx(500, 192, 0);
	addr_idx(300, 1000, 0);
	addr_idx(129, 4160, 0);
	addr_idx(70, 65600, 0); /* waste at each cluster's end */
	addr_idx(3, 1500000 / 2, 0);
	addr_idx(5, HM_BUFPOOL_BUF_MAX, 0);
	HEAP_OK();
	hm_cleanup();
}

/* --- IOVAs --- */

/* What iova(i) must be: the buffer's IOVA if its pages are physically adjacent, else none. */
static uint64_t expected_iova(const char *p, size_t size, size_t page, bool pa)
{
	uint64_t v = hm_virt2iova(p);

	if (!pa || v == HM_BAD_IOVA)
		return v;
	for (uintptr_t b = ((uintptr_t)p / page + 1) * page; b < (uintptr_t)p + size; b += page)
		if (hm_virt2iova((const void *)b) != v + (b - (uintptr_t)p))
			return HM_BAD_IOVA;
	return v;
}

static void iovas(unsigned count_ask, size_t size_ask, const struct hm_mem_info *mi,
		  unsigned *straddling)
{
	struct hm_bufpool *bp = CREATE("iova", count_ask, size_ask, 0);
	unsigned count = hm_bufpool_count(bp), wrong = 0;
	size_t size = bp->buf_size;

	for (uint32_t i = 0; i < count; i++) {
		const char *p = hm_bufpool_addr(bp, i);
		uint64_t io = hm_bufpool_iova(bp, i), v = hm_virt2iova(p);
		uint64_t want = expected_iova(p, size, mi->page_size, mi->iova_pa);

		if (v == HM_BAD_IOVA || (!mi->iova_pa && (io != (uintptr_t)p || v != io)) ||
		    io != want) {
			if (wrong++ < 5)
				t_fail(__FILE__, __LINE__, false,
				       "pool %u x %zu, %s: buffer %u at %p: iova %#llx, virt2iova "
				       "%#llx, want %#llx",
				       count, size, mi->iova_pa ? "PA" : "VA", i, (const void *)p,
				       (unsigned long long)io, (unsigned long long)v,
				       (unsigned long long)want);
		}
		if (io == HM_BAD_IOVA)
			(*straddling)++;
	}
	CHECK_EQ(wrong, 0);
	CHECK_EQ(hm_bufpool_destroy(bp), 0);
}

static void iova_mode(enum hm_iova_mode mode)
{
	struct hm_mem_info mi;
	unsigned straddling = 0;
	struct hm_bufpool *bp;

	if (mode == HM_IOVA_PA) {
		struct hm_config c;
		int rc;

		hm_config_defaults(&c);
		c.no_huge = true;
		c.memory_limit = 256 * MIB;
		c.iova_mode = HM_IOVA_PA;
		hm_log_set_sink(t_count_sink, NULL);
		rc = hm_init(&c);
		hm_log_set_sink(NULL, NULL);
		if (rc != 0) {
			printf("note: no PA mode here (%s): its IOVAs are not checked\n",
			       hm_strerror(rc));
			return;
		}
	} else {
		start_cfg(256 * MIB, mode);
	}
	REQUIRE_EQ(hm_mem_get_info(&mi), 0);
	if (mode == HM_IOVA_PA)
		CHECK(mi.iova_pa);
	if (mode == HM_IOVA_VA)
		CHECK(!mi.iova_pa);
	printf("IOVA mode %s, page size %zu\n", mi.iova_pa ? "PA" : "VA", mi.page_size);
	iovas(800, 192, &mi, &straddling);
	iovas(300, 2048, &mi, &straddling);
	iovas(40, 12288, &mi, &straddling);
	iovas(20, 65600, &mi, &straddling);
	iovas(4, HM_BUFPOOL_BUF_MAX, &mi, &straddling);
	if (!mi.iova_pa)
		CHECK_EQ(straddling, 0);
	else
		printf("PA: %u buffers across a physical break\n", straddling);
	/* Contiguous chunks: every buffer has its IOVA, following each other in a cluster
	 * (of three pages; else of one, which any page can hold). */
	bp = hm_bufpool_create("contig", 256, 192, HM_SOCKET_ANY, HM_BUFPOOL_F_IOVA_CONTIG);
	if (!bp) {
		CHECK_EQ(errno, ENOMEM);
		printf("note: no IOVA-contiguous memory for 256 x 192 (%s)\n", strerror(errno));
		bp = hm_bufpool_create("contig", 64, 64, HM_SOCKET_ANY, HM_BUFPOOL_F_IOVA_CONTIG);
		if (!bp)
			printf("note: no IOVA-contiguous memory for 64 x 64 either (%s)\n",
			       strerror(errno));
	}
	if (bp) {
		unsigned wrong = 0, per = (unsigned)info_of(bp).bufs_per_cluster;

		for (uint32_t i = 0; i < bp->count; i++) {
			const char *p = hm_bufpool_addr(bp, i);
			uint64_t io = hm_bufpool_iova(bp, i);

			if ((io == HM_BAD_IOVA || io != hm_virt2iova(p) ||
			     (i % per && io != hm_bufpool_iova(bp, i - 1) + bp->buf_size)) &&
			    wrong++ < 5)
				t_fail(__FILE__, __LINE__, false,
				       "contig pool: buffer %u at %p: iova %#llx, virt2iova %#llx",
				       i, (const void *)p, (unsigned long long)io,
				       (unsigned long long)hm_virt2iova(p));
		}
		CHECK_EQ(wrong, 0);
		CHECK_EQ(hm_bufpool_destroy(bp), 0);
	}
	HEAP_OK();
	hm_cleanup();
}

static void test_iova(void)
{
	iova_mode(HM_IOVA_AUTO);
	iova_mode(HM_IOVA_VA);
	iova_mode(HM_IOVA_PA);
}

/* --- counters --- */

static void counters(unsigned flags)
{
	struct hm_bufpool *bp = CREATE("counters", 400, 64, flags);
	struct hm_bufpool_info in;
	uint32_t idx[1100];

	for (unsigned i = 0; i < 10; i++)
		idx[i] = hm_bufpool_alloc(bp);
	REQUIRE_EQ(hm_bufpool_alloc_bulk(bp, idx + 10, 20), 20);
	REQUIRE_EQ(hm_bufpool_alloc_bulk(bp, idx + 30, 30), 30);
	CHECK_EQ(hm_bufpool_alloc_bulk(bp, idx + 60, 1000), 0); /* fails: not counted */
	in = info_of(bp);
	CHECK_EQ(in.allocs, 60);
	CHECK_EQ(in.frees, 0);
	CHECK_EQ(in.free, hm_bufpool_count(bp) - HM_BUFPOOL_RESERVED - 60);
	for (unsigned i = 0; i < 5; i++)
		hm_bufpool_free(bp, idx[i]);
	hm_bufpool_free_bulk(bp, idx + 5, 25);
	hm_bufpool_free_bulk(bp, idx + 30, 30);
	in = info_of(bp);
	CHECK_EQ(in.allocs, 60);
	CHECK_EQ(in.frees, 60);
	CHECK_EQ(in.refused, 0);
	CHECK_EQ(in.free, hm_bufpool_count(bp) - HM_BUFPOOL_RESERVED);
	CHECK_EQ(hm_bufpool_info(bp, NULL), -EINVAL);
	CHECK_EQ(hm_bufpool_info(NULL, &in), -EINVAL);
	CHECK_EQ(hm_bufpool_destroy(bp), 0);
}

static void test_counters(void)
{
	start();
	counters(0);
	counters(HM_BUFPOOL_F_NO_CACHE);
	counters(HM_BUFPOOL_F_CHECKED);
	HEAP_OK();
	hm_cleanup();
}

/* --- destroy --- */

static void destroy_case(unsigned flags)
{
	size_t blocks0 = live_blocks();
	unsigned zones0 = hm_memzone_count(), count;
	struct hm_bufpool *bp;
	uint32_t out[3], more;
	int x = 0;
	void *garbage;

	bp = CREATE("d", 300, 256, flags);
	count = hm_bufpool_count(bp);
	REQUIRE_EQ(hm_bufpool_alloc_bulk(bp, out, 3), 3);
	quiet();
	CHECK_EQ(hm_bufpool_destroy(bp), -EBUSY);
	CHECK_EQ(t_log_lines(), 1);
	hm_bufpool_free(bp, out[0]);
	CHECK_EQ(hm_bufpool_destroy(bp), -EBUSY);
	CHECK_EQ(t_log_lines(), 2);
	loud();
	/* Untouched: found, counted, usable. */
	CHECK_PTR_EQ(hm_bufpool_lookup("d"), bp);
	CHECK_EQ(hm_bufpool_count(bp), count);
	CHECK_EQ(hm_bufpool_free_count(bp), count - HM_BUFPOOL_RESERVED - 2);
	more = hm_bufpool_alloc(bp);
	CHECK_NE(more, 0);
	CHECK(more != out[1] && more != out[2]);
	hm_bufpool_free(bp, more);
	/* All back, the last ones in this thread's cache (with one). */
	hm_bufpool_free_bulk(bp, out + 1, 2);
	CHECK_EQ(hm_bufpool_free_count(bp), count - HM_BUFPOOL_RESERVED);
	CHECK_EQ(hm_bufpool_destroy(bp), 0);
	CHECK_NULL_ERRNO(hm_bufpool_lookup("d"), ENOENT);
	/* Not a pool any more, or never one. */
	CHECK_EQ(hm_bufpool_destroy(bp), -EINVAL);
	CHECK_EQ(hm_bufpool_destroy(NULL), -EINVAL);
	CHECK_EQ(hm_bufpool_destroy((struct hm_bufpool *)&x), -EINVAL);
	CHECK_EQ(hm_bufpool_destroy((struct hm_bufpool *)(uintptr_t)64), -EINVAL);
	garbage = hm_malloc("garbage", 4096, 0);
	REQUIRE_NOT_NULL(garbage);
	memset(garbage, 0x5a, 4096);
	CHECK_EQ(hm_bufpool_destroy(garbage), -EINVAL);
	memset(garbage, 0, 4096);
	CHECK_EQ(hm_bufpool_destroy(garbage), -EINVAL);
	hm_free(garbage);
	/* Everything given back: blocks (chunks, caches) and the zone. */
	CHECK_EQ(live_blocks(), blocks0);
	CHECK_EQ(hm_memzone_count(), zones0);
	/* The name is free again. */
	bp = CREATE("d", 300, 256, flags);
	ALL_ONCE(bp);
	CHECK_EQ(hm_bufpool_destroy(bp), 0);
	CHECK_EQ(live_blocks(), blocks0);
}

static void test_destroy(void)
{
	start();
	destroy_case(0);
	destroy_case(HM_BUFPOOL_F_NO_CACHE);
	destroy_case(HM_BUFPOOL_F_CHECKED);
	HEAP_OK();
	hm_cleanup();
}

/* --- walk and dump --- */

struct walk_arg {
	unsigned n;
	struct hm_bufpool *seen[8];
};

static void walk_cb(struct hm_bufpool *bp, void *arg)
{
	struct walk_arg *w = arg;

	if (w->n < 8)
		w->seen[w->n] = bp;
	w->n++;
}

static bool walked(const struct walk_arg *w, const struct hm_bufpool *bp)
{
	for (unsigned i = 0; i < w->n && i < 8; i++)
		if (w->seen[i] == bp)
			return true;
	return false;
}

static void test_walk(void)
{
	struct walk_arg w = {0};
	struct hm_bufpool *a, *b;
	const struct hm_memzone *fake;

	start();
	hm_bufpool_walk(walk_cb, &w);
	CHECK_EQ(w.n, 0);
	a = CREATE("w1", 100, 64, 0);
	b = CREATE("w2", 100, 64, HM_BUFPOOL_F_NO_CACHE);
	/* Zones that are not pools: a plain one, a ring's, one named like a pool's. */
	REQUIRE_NOT_NULL(hm_memzone_reserve("plain", 1000, HM_SOCKET_ANY, 0, 0, 0));
	REQUIRE_NOT_NULL(hm_ring_create("r", 64, HM_SOCKET_ANY, 0));
	fake = hm_memzone_reserve("BP_fake", 8192, HM_SOCKET_ANY, 0, 0, 0);
	REQUIRE_NOT_NULL(fake);
	memset(fake->addr, 0, fake->len);
	REQUIRE_NOT_NULL(hm_malloc("walk", 1000, 0));
	hm_bufpool_walk(walk_cb, &w);
	CHECK_EQ(w.n, 2);
	CHECK(walked(&w, a));
	CHECK(walked(&w, b));
	CHECK_EQ(hm_bufpool_destroy(a), 0);
	memset(&w, 0, sizeof(w));
	hm_bufpool_walk(walk_cb, &w);
	CHECK_EQ(w.n, 1);
	CHECK(walked(&w, b));
	hm_bufpool_walk(NULL, NULL);
	CHECK_EQ(hm_bufpool_destroy(b), 0);
	memset(&w, 0, sizeof(w));
	hm_bufpool_walk(walk_cb, &w);
	CHECK_EQ(w.n, 0);
	HEAP_OK();
	hm_cleanup();
}

static bool dump_has(const struct hm_bufpool *bp, const char *text)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	bool found;

	REQUIRE_NOT_NULL(f);
	hm_bufpool_dump(f, bp);
	fclose(f);
	found = buf && strstr(buf, text) != NULL;
	if (!found)
		printf("dump without \"%s\":\n%s", text, buf ? buf : "(nothing)\n");
	free(buf);
	return found;
}

static void test_dump(void)
{
	struct hm_bufpool *bp;
	char want[160];
	uint32_t idx[7];
	unsigned count;
	int x = 0;

	start();
	bp = CREATE("dumped", 1000, 100, 0);
	count = hm_bufpool_count(bp);
	REQUIRE_EQ(hm_bufpool_alloc_bulk(bp, idx, 7), 7);
	quiet();
	hm_bufpool_free(bp, 0);
	loud();
	snprintf(want, sizeof(want),
		 "bufpool dumped: %u buffers of 128 bytes (1000 asked), %u free", count,
		 count - HM_BUFPOOL_RESERVED - 7);
	CHECK(dump_has(bp, want));
	CHECK(dump_has(bp, "refused 1"));
	CHECK(dump_has(bp, "allocs 7"));
	CHECK(dump_has(bp, "chunk 0:"));
	snprintf(want, sizeof(want), "buffers 0..%u", count - 1);
	CHECK(dump_has(bp, want));
	CHECK(dump_has(NULL, "not a pool"));
	CHECK(dump_has((struct hm_bufpool *)&x, "not a pool"));
	hm_bufpool_dump(NULL, bp);
	hm_bufpool_free_bulk(bp, idx, 7);
	CHECK_EQ(hm_bufpool_destroy(bp), 0);
	CHECK(dump_has(bp, "not a pool"));
	HEAP_OK();
	hm_cleanup();
}

int main(int argc, char **argv)
{
	t_init(argc, argv);
	T_RUN(test_cluster_shape);
	T_RUN(test_before_init);
	T_RUN(test_create_shape);
	T_RUN(test_bad_args);
	T_RUN(test_lookup);
	T_RUN(test_drain);
	T_RUN(test_all_or_nothing);
	T_RUN(test_bulk_beyond_cache);
	T_RUN(test_refused);
	T_RUN(test_twice_in_one_bulk);
	T_RUN(test_addr_idx);
	T_RUN(test_iova);
	T_RUN(test_counters);
	T_RUN(test_destroy);
	T_RUN(test_walk);
	T_RUN(test_dump);
	return t_done();
}
