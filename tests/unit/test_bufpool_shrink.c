/* SPDX-License-Identifier: MIT */
/*
 * test_bufpool_shrink.c - buffer pools short of memory: the graceful shrink
 * of hm_bufpool_create_min, and creation under injected OS failures.
 *
 *   - an instance with a 16 MiB memory limit asked for 64 MiB of buffers with
 *     a min_count that fits: the pool is made with fewer buffers than asked
 *     (count_asked keeps the request), at least min_count, a whole number of
 *     clusters, in several chunks; every index is handed out once, every
 *     buffer is its own and writable, addr and idx agree across the chunks;
 *     destroyed, it gives every block back, and the same request gets the
 *     same count again; for small and for 1 MiB buffers;
 *   - the same with a min_count that cannot fit, and plain hm_bufpool_create
 *     (min_count == count) short of memory: NULL and ENOMEM, nothing kept
 *     (live blocks, heap bytes in use and zones back to where they were, the
 *     name free, and the next request as good as before);
 *   - fault injection (mem/os.h): on a fresh instance region, the k-th OS
 *     call of the heap growth behind a create_min fails with ENOMEM, for
 *     every k until the creation makes fewer calls, with room for the whole
 *     pool and with memory short already (the failure hits while the request
 *     is halved): each run either gives a pool of at least min_count
 *     buffers, fully usable, or fails with ENOMEM and leaves nothing; the
 *     heap stays sound and the next creation gets what it would have on a
 *     fresh instance.
 */
#include "harness.h"
#include "internal.h"
#include "heap/heap.h"
#include "mem/os.h"
#include <hugemem.h>
#include <hugemem/bufpool.h>

#include <limits.h>
#include <stdlib.h>

#define MIB ((size_t)1 << 20)

static void start_with(size_t limit)
{
	struct hm_config c;

	hm_config_defaults(&c);
	c.no_huge = true;
	c.memory_limit = limit;
	c.prealloc = 0;
	REQUIRE_EQ(hm_init(&c), 0);
}

static void no_injection(void)
{
	hm__os_fail_nth(0, UINT_MAX, 0);
}

/* What the instance holds now, to compare with after a failed or destroyed pool. */
struct usage {
	uint64_t live_blocks;
	uint64_t used; /* heap bytes not free */
	unsigned zones;
};

/*
 * Bytes in use are the heaps' bytes less the free ones and less each chunk's
 * header and end sentinel: the heap keeps one wholly free chunk for the next
 * request (its hysteresis), which holds nothing.
 */
static struct usage usage_now(void)
{
	struct hm_malloc_stats st;
	struct usage u;
	uint64_t chunks = 0;

	REQUIRE_EQ(hm_malloc_get_stats(HM_SOCKET_ANY, &st), 0);
	for (unsigned i = 0; i < hm__heap_count(); i++) {
		struct hm_heap_stats hs;

		hm__heap_get_stats(hm__heap_get(i), &hs);
		chunks += hs.n_chunks;
	}
	u.live_blocks = st.live_blocks;
	u.used = st.heap_size - st.free_size - chunks * 2 * HM_HEAP_HDR;
	u.zones = hm_memzone_count();
	return u;
}

static void usage_is(struct usage want, const char *what, int line)
{
	struct usage u = usage_now();

	if (u.live_blocks != want.live_blocks || u.used != want.used || u.zones != want.zones)
		t_fail(__FILE__, line, false,
		       "%s: %llu live blocks, %llu bytes in use, %u zones; want %llu, %llu, %u",
		       what, (unsigned long long)u.live_blocks, (unsigned long long)u.used, u.zones,
		       (unsigned long long)want.live_blocks, (unsigned long long)want.used,
		       want.zones);
}
#define USAGE_IS(want, what) usage_is(want, what, __LINE__)

/* The heaps are sound: nothing smashed, every heap's audit passes. */
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

static struct hm_bufpool_info info_of(const struct hm_bufpool *bp)
{
	struct hm_bufpool_info in;

	memset(&in, 0xee, sizeof(in));
	REQUIRE_EQ(hm_bufpool_info(bp, &in), 0);
	return in;
}

/* The info of a pool made by create_min(count, min_count, buf_size): consistent. */
static void shape_ok(const struct hm_bufpool *bp, unsigned count, unsigned min_count,
		     size_t buf_size, int line)
{
	struct hm_bufpool_info in = info_of(bp);
	size_t size = (buf_size + 63) / 64 * 64, cs = 0;
	unsigned per = 0;

	REQUIRE_EQ(hm_bufpool_cluster_shape(size, &per, &cs), 0);
	if (in.count_asked != count || in.count < min_count || in.count % per != 0 ||
	    in.count > (count + per - 1) / per * per || in.bufs_per_cluster != per ||
	    in.cluster_size != cs || in.buf_size != size || in.clusters * per != in.count ||
	    in.memory != in.clusters * cs || in.waste != in.memory - in.count * size ||
	    in.free != in.count - HM_BUFPOOL_RESERVED || in.chunks < 1 || in.chunks > in.clusters ||
	    hm_bufpool_count(bp) != in.count)
		t_fail(__FILE__, line, false,
		       "pool %s (%u asked, min %u, %zu bytes): count %llu (asked %llu), per %llu, "
		       "clusters %llu, memory %llu, waste %llu, free %llu, chunks %llu",
		       in.name, count, min_count, buf_size, (unsigned long long)in.count,
		       (unsigned long long)in.count_asked, (unsigned long long)in.bufs_per_cluster,
		       (unsigned long long)in.clusters, (unsigned long long)in.memory,
		       (unsigned long long)in.waste, (unsigned long long)in.free,
		       (unsigned long long)in.chunks);
}

static uint64_t word_of(uint32_t idx, size_t w)
{
	return ((uint64_t)idx << 32 | w) * 0x9e3779b97f4a7c15ull;
}

/*
 * Use all of bp: every buffer's address and index agree (first, middle and
 * last byte), every byte of every buffer holds its own pattern, every index
 * of [2, count) is handed out once; all given back.
 */
static void use_all(struct hm_bufpool *bp, int line)
{
	unsigned count = hm_bufpool_count(bp), got = 0, bad = 0;
	size_t size = bp->buf_size;
	uint32_t *idx = calloc(count + 1, sizeof(uint32_t)), i;
	uint8_t *seen = calloc(count, 1);

	REQUIRE_NOT_NULL(idx);
	REQUIRE_NOT_NULL(seen);
	for (uint32_t k = 0; k < count; k++) {
		char *p = hm_bufpool_addr(bp, k);
		uint64_t *w = (uint64_t *)(void *)p;

		if ((uintptr_t)p % 64 || hm_bufpool_idx(bp, p) != k ||
		    hm_bufpool_idx(bp, p + size / 2) != k || hm_bufpool_idx(bp, p + size - 1) != k)
			bad++;
		for (size_t j = 0; j < size / 8; j++)
			w[j] = word_of(k, j);
	}
	if (bad)
		t_fail(__FILE__, line, false, "%u buffers whose address and index disagree", bad);
	bad = 0;
	for (uint32_t k = 0; k < count; k++) {
		const uint64_t *w = hm_bufpool_addr(bp, k);

		for (size_t j = 0; j < size / 8; j++) {
			if (w[j] != word_of(k, j)) {
				bad++;
				break;
			}
		}
	}
	if (bad)
		t_fail(__FILE__, line, false, "%u buffers overwritten by others", bad);
	bad = 0;
	if (hm_bufpool_free_count(bp) != count - HM_BUFPOOL_RESERVED)
		t_fail(__FILE__, line, false, "free_count %u of %u", hm_bufpool_free_count(bp),
		       count);
	while (got <= count && (i = hm_bufpool_alloc(bp)) != 0) {
		if (i < HM_BUFPOOL_RESERVED || i >= count || seen[i]++)
			bad++;
		idx[got++] = i;
	}
	if (got != count - HM_BUFPOOL_RESERVED || bad)
		t_fail(__FILE__, line, false,
		       "drain: %u indices of %u, %u reserved, out of range or twice", got,
		       count - HM_BUFPOOL_RESERVED, bad);
	for (unsigned k = 0; k < got;) {
		unsigned n = 1 + (unsigned)t_rand_below(100);

		if (n > got - k)
			n = got - k;

		hm_bufpool_free_bulk(bp, idx + k, n);
		k += n;
	}
	if (hm_bufpool_free_count(bp) != count - HM_BUFPOOL_RESERVED)
		t_fail(__FILE__, line, false, "free_count %u of %u after all came back",
		       hm_bufpool_free_count(bp), count);
	free(idx);
	free(seen);
}
#define USE_ALL(bp) use_all(bp, __LINE__)

/* --- the graceful shrink --- */

/*
 * Ask for count buffers of size in a 16 MiB instance, with min_count
 * fitting: fewer than asked, at least min_count; destroyed, nothing left;
 * asked again, at least min_count again. Returns the count the pool had.
 */
static unsigned shrink_fits(unsigned count, unsigned min_count, size_t size)
{
	struct usage u0 = usage_now();
	struct hm_bufpool *bp;
	struct hm_bufpool_info in;
	unsigned got;

	bp = hm_bufpool_create_min("shrink", count, min_count, size, HM_SOCKET_ANY, 0);
	REQUIRE_NOT_NULL(bp);
	shape_ok(bp, count, min_count, size, __LINE__);
	in = info_of(bp);
	got = (unsigned)in.count;
	printf("%u x %zu asked, min %u: %u buffers in %llu chunks (%llu KiB)\n", count, size,
	       min_count, got, (unsigned long long)in.chunks,
	       (unsigned long long)(in.memory >> 10));
	CHECK_LT(got, count);
	CHECK_GE(got, min_count);
	CHECK_LE(in.memory, 16 * MIB);
	CHECK_PTR_EQ(hm_bufpool_lookup("shrink"), bp);
	/* The thread may have no cache (no memory left for one): usable all the same. */
	hm_log_set_sink(t_count_sink, NULL);
	USE_ALL(bp);
	hm_log_set_sink(NULL, NULL);
	CHECK_EQ(hm_bufpool_destroy(bp), 0);
	USAGE_IS(u0, "after destroy");
	HEAP_OK();
	/* Nothing was kept: the same request succeeds again (the heap keeps one empty
	 * chunk of the pool, so its chunks lie otherwise now and the count may differ). */
	bp = hm_bufpool_create_min("shrink", count, min_count, size, HM_SOCKET_ANY, 0);
	REQUIRE_NOT_NULL(bp);
	shape_ok(bp, count, min_count, size, __LINE__);
	CHECK_EQ(hm_bufpool_destroy(bp), 0);
	USAGE_IS(u0, "after the second destroy");
	return got;
}

static void test_shrink(void)
{
	static const struct {
		unsigned count, min_count;
		size_t size;
	} cases[] = {
		/* 64 MiB of 2 KiB buffers (two per 4 KiB cluster), at least 2 MiB of them. */
		{32768, 1024, 2048},
		/* 3 is the least min_count. */
		{32768, 3, 2048},
		/* 64-byte buffers (64 per cluster), min_count not a multiple of that: 32 MiB,
		 * as the tables (16 bytes of lookup table a buffer) are made for the count
		 * asked, before the buffers are placed. */
		{1u << 19, 1000, 64},
		/* 1 MiB buffers (one per cluster): 64 asked, 4 at least. */
		{64, 4, HM_BUFPOOL_BUF_MAX},
		/* 65600 bytes: 63 per cluster of almost 4 MiB, 3 clusters at most. */
		{1000, 63, 65600},
	};

	/* Each on a fresh instance: the heap keeps one empty chunk of the last pool. */
	for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		start_with(16 * MIB);
		shrink_fits(cases[i].count, cases[i].min_count, cases[i].size);
		HEAP_OK();
		hm_cleanup();
	}
}

/* Short of memory with a min_count that cannot fit, or without create_min: nothing kept. */
static void test_shrink_fails(void)
{
	struct usage u0;
	struct hm_bufpool *bp;
	unsigned first;

	start_with(16 * MIB);
	u0 = usage_now();
	first = shrink_fits(32768, 1024, 2048);
	hm_log_set_sink(t_count_sink, NULL);
	CHECK_NULL_ERRNO(hm_bufpool_create_min("shrink", 32768, 16384, 2048, HM_SOCKET_ANY, 0),
			 ENOMEM);
	USAGE_IS(u0, "after a create_min short of its min_count");
	CHECK_NULL_ERRNO(hm_bufpool_lookup("shrink"), ENOENT);
	/* 8192 buffers of 2 KiB fill 16 MiB with no room for the tables: never there. */
	CHECK_GT(8192, first);
	CHECK_NULL_ERRNO(hm_bufpool_create_min("shrink", 32768, 8192, 2048, HM_SOCKET_ANY,
					       HM_BUFPOOL_F_NO_CACHE),
			 ENOMEM);
	USAGE_IS(u0, "after a create_min just short of its min_count");
	CHECK_NULL_ERRNO(hm_bufpool_create("shrink", 32768, 2048, HM_SOCKET_ANY, 0), ENOMEM);
	USAGE_IS(u0, "after a create short of memory");
	CHECK_NULL_ERRNO(hm_bufpool_create("shrink", 64, HM_BUFPOOL_BUF_MAX, HM_SOCKET_ANY, 0),
			 ENOMEM);
	USAGE_IS(u0, "after a create short of memory (1 MiB buffers)");
	CHECK_NULL_ERRNO(hm_bufpool_lookup("shrink"), ENOENT);
	hm_log_set_sink(NULL, NULL);
	HEAP_OK();
	/* The name is free, and the memory is there. */
	bp = hm_bufpool_create_min("shrink", 32768, 1024, 2048, HM_SOCKET_ANY, 0);
	REQUIRE_NOT_NULL(bp);
	shape_ok(bp, 32768, 1024, 2048, __LINE__);
	CHECK_EQ(hm_bufpool_destroy(bp), 0);
	/* A pool that fits whole is made whole. */
	bp = hm_bufpool_create("whole", 2048, 2048, HM_SOCKET_ANY, 0);
	REQUIRE_NOT_NULL(bp);
	CHECK_EQ(hm_bufpool_count(bp), 2048);
	USE_ALL(bp);
	CHECK_EQ(hm_bufpool_destroy(bp), 0);
	USAGE_IS(u0, "at the end");
	HEAP_OK();
	hm_cleanup();
}

/* --- fault injection --- */

/* What a create_min of count x size (at least min_count) gets on a fresh instance of limit. */
static unsigned reference_count(size_t limit, unsigned count, unsigned min_count, size_t size,
				unsigned flags)
{
	struct hm_bufpool *bp;
	unsigned n;

	start_with(limit);
	hm_log_set_sink(t_count_sink, NULL);
	bp = hm_bufpool_create_min("fault", count, min_count, size, HM_SOCKET_ANY, flags);
	hm_log_set_sink(NULL, NULL);
	REQUIRE_NOT_NULL(bp);
	n = hm_bufpool_count(bp);
	CHECK_EQ(hm_bufpool_destroy(bp), 0);
	hm_cleanup();
	return n;
}

/*
 * On a fresh instance of limit (no prealloc: every block grows the heap),
 * fail the n-th OS call of the growth behind a create_min, for n = 0, 1, ...
 * until the creation makes n calls or fewer. Each run gives a usable pool of
 * at least min_count (0: as many as a fresh instance gives, so that any loss
 * is a failure), or ENOMEM and nothing; then a creation without injection
 * works (whole, when the whole pool fits).
 */
static void walk_create(size_t limit, unsigned count, unsigned min_count, size_t size,
			unsigned flags)
{
	const unsigned ops = HM_OS_MMAP | HM_OS_FALLOCATE | HM_OS_POPULATE | HM_OS_MBIND;
	unsigned n, failures = 0, as_ref = 0, fewer = 0;
	unsigned ref = reference_count(limit, count, min_count ? min_count : 3, size, flags);
	unsigned real = 0;
	size_t cs;

	REQUIRE_EQ(hm_bufpool_cluster_shape((size + 63) / 64 * 64, &real, &cs), 0);
	real = (count + real - 1) / real * real; /* the whole pool */
	if (!min_count)
		min_count = ref;
	for (n = 0; n < 60; n++) {
		struct hm_bufpool *bp;
		struct usage u0;
		unsigned before, made;
		int e;

		start_with(limit);
		u0 = usage_now();
		hm_log_set_sink(t_count_sink, NULL);
		before = hm__os_calls(ops);
		hm__os_fail_nth(ops, n, ENOMEM);
		errno = 0;
		bp = hm_bufpool_create_min("fault", count, min_count, size, HM_SOCKET_ANY, flags);
		e = errno;
		made = hm__os_calls(ops) - before;
		no_injection();
		if (bp) {
			shape_ok(bp, count, min_count, size, __LINE__);
			if (hm_bufpool_count(bp) >= ref)
				as_ref++;
			else
				fewer++;
			USE_ALL(bp);
			CHECK_EQ(hm_bufpool_destroy(bp), 0);
			USAGE_IS(u0, "after destroy");
		} else {
			failures++;
			if (e != ENOMEM)
				t_fail(__FILE__, __LINE__, false,
				       "OS call %u of the growth fails: create_min gave errno %s",
				       n, strerror(e));
			USAGE_IS(u0, "after a failed create_min");
			CHECK_NULL_ERRNO(hm_bufpool_lookup("fault"), ENOENT);
		}
		HEAP_OK();
		/* The next creation works. */
		bp = hm_bufpool_create_min("fault", count, HM_MIN(min_count, ref / 2 + 3), size,
					   HM_SOCKET_ANY, flags);
		REQUIRE_NOT_NULL(bp);
		if (ref == real)
			CHECK_EQ(hm_bufpool_count(bp), real);
		CHECK_EQ(hm_bufpool_destroy(bp), 0);
		USAGE_IS(u0, "after the next creation");
		HEAP_OK();
		hm_log_set_sink(NULL, NULL);
		hm_cleanup();
		if (made <= n)
			break; /* nothing failed */
	}
	printf("create_min %u x %zu (min %u, limit %zu MiB, flags %#x): %u OS calls failed in "
	       "turn: %u refused, %u as many as without, %u fewer\n",
	       count, size, min_count, limit >> 20, flags, n, failures, as_ref, fewer);
	CHECK_LT(n, 60);
	CHECK_GE(n, 2); /* at least the tables' zone and a chunk of buffers grow the heap */
}

static void test_faults(void)
{
	/* Room for all: 8 MiB of 2 KiB buffers. */
	walk_create(64 * MIB, 4096, 1000, 2048, 0);
	walk_create(64 * MIB, 4096, 4096, 2048, HM_BUFPOOL_F_NO_CACHE);
	/* Short of memory already: the failures hit while the request is halved. */
	walk_create(16 * MIB, 32768, 1024, 2048, 0);
	/* The same with min_count all that fits: a failure that costs a cluster is ENOMEM. */
	walk_create(16 * MIB, 32768, 0, 2048, 0);
	/* 1 MiB buffers, one cluster each. */
	walk_create(16 * MIB, 64, 4, HM_BUFPOOL_BUF_MAX, HM_BUFPOOL_F_CHECKED);
	walk_create(16 * MIB, 64, 0, HM_BUFPOOL_BUF_MAX, 0);
}

int main(int argc, char **argv)
{
	t_init(argc, argv);
	T_RUN(test_shrink);
	T_RUN(test_shrink_fails);
	T_RUN(test_faults);
	return t_done();
}
