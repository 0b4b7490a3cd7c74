/* SPDX-License-Identifier: MIT */
/*
 * test_malloc_tcache.c - the heap's thread caches, with real threads: a
 * freed block of a small size is held by the freeing thread's cache (counted
 * as free in the statistics, refused by validate and by a second free) and
 * handed out again by that thread; a thread that exits or unregisters gives
 * its cache back, so nothing is stranded however many threads come and go
 * while blocks flow between them; a cache gives its blocks back when memory
 * runs short; a type limit set while other threads hold uncounted bytes of
 * that type counts them; and the high-water mark is exact for one thread.
 */
#include "harness.h"
#include "internal.h"
#include "heap/tcache.h"
#include <hugemem.h>

#include <pthread.h>
#include <stdatomic.h>

#define MIB ((size_t)1 << 20)
#define KIB ((size_t)1 << 10)

static void start(size_t limit)
{
	struct hm_config c;

	hm_config_defaults(&c);
	c.no_huge = true;
	c.memory_limit = limit;
	REQUIRE_EQ(hm_init(&c), 0);
}

static void audit_all(void)
{
	for (unsigned i = 0; i < hm__heap_count(); i++)
		CHECK_EQ(hm__heap_audit(hm__heap_get(i)), 0);
}

static struct hm_malloc_stats stats(void)
{
	struct hm_malloc_stats st;

	REQUIRE_EQ(hm_malloc_get_stats(HM_SOCKET_ANY, &st), 0);
	return st;
}

static struct hm_malloc_type_stats tstats(const char *type)
{
	struct hm_malloc_type_stats ts;

	memset(&ts, 0, sizeof(ts));
	REQUIRE_EQ(hm_malloc_get_type_stats(type, &ts), 0);
	return ts;
}

/* Blocks and bytes held by every thread cache. */
static struct hm_tc_sums cached(void)
{
	struct hm_tc_sums s;

	hm__tc_sums(hm__shared(), -1, &s);
	return s;
}

static unsigned scaled(unsigned n)
{
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
	return n / 5 > 10 ? n / 5 : 10;
#else
	return t_exact_maps() ? n : (n / 20 > 10 ? n / 20 : 10); /* valgrind */
#endif
}

/* --- one thread: a free goes to the cache, the next malloc takes it back --- */

static void test_reuse(void)
{
	struct hm_malloc_stats st0, st1;
	size_t u = 0;
	void *p, *q;

	start(64 * MIB);
	p = hm_malloc("tc", 100, 0);
	REQUIRE_NOT_NULL(p);
	st0 = stats();
	hm_free(p);
	st1 = stats();
	/* Free for its user: one block fewer in use, its bytes free, held by a cache. */
	CHECK_EQ(st1.live_blocks, st0.live_blocks - 1);
	CHECK_EQ(st1.cached_blocks, st0.cached_blocks + 1);
	CHECK_GT(st1.cached_bytes, st0.cached_bytes);
	CHECK_EQ(st1.free_size, st0.free_size + (st1.cached_bytes - st0.cached_bytes));
	CHECK_EQ(st1.frees, st0.frees + 1);
	CHECK_EQ(tstats("tc").live_bytes, 0);
	CHECK_EQ(tstats("tc").live_blocks, 0);
	/* ... and not a live block. */
	CHECK_EQ(hm_malloc_validate(p, &u), -EINVAL);
	hm_log_set_sink(t_count_sink, NULL);
	t_log_lines_reset();
	CHECK_NULL_ERRNO(hm_realloc(p, 200, 0), EINVAL);
	CHECK_EQ(t_log_lines(), 1);
	hm_log_set_sink(NULL, NULL);
	/* The same size again: the same block, from the cache. */
	q = hm_malloc("tc", 100, 0);
	CHECK_PTR_EQ(q, p);
	CHECK_EQ(hm_malloc_validate(q, &u), 0);
	CHECK_GE(u, 100);
	CHECK_EQ(stats().cached_blocks, st0.cached_blocks);
	CHECK_EQ(tstats("tc").live_blocks, 1);
	hm_free(q);
	audit_all();
	hm_cleanup();
}

/* A second free of a block the cache holds: refused, logged once, counted; the cache intact. */
static void test_double_free_cached(void)
{
	struct hm_malloc_stats st0, st1;
	void *p, *q, *r;

	start(64 * MIB);
	p = hm_malloc(NULL, 64, 0);
	REQUIRE_NOT_NULL(p);
	hm_free(p);
	st0 = stats();
	hm_log_set_sink(t_count_sink, NULL);
	t_log_lines_reset();
	hm_free(p);
	CHECK_EQ(t_log_lines(), 1);
	hm_log_set_sink(NULL, NULL);
	st1 = stats();
	CHECK_EQ(st1.errors, st0.errors + 1);
	CHECK_EQ(st1.cached_blocks, st0.cached_blocks);
	CHECK_EQ(st1.frees, st0.frees);
	/* Handed out once, not twice. */
	q = hm_malloc(NULL, 64, 0);
	r = hm_malloc(NULL, 64, 0);
	REQUIRE_NOT_NULL(q);
	REQUIRE_NOT_NULL(r);
	CHECK(q != r);
	hm_free(q);
	hm_free(r);
	audit_all();
	hm_cleanup();
}

/* Many frees of one size: the list passes its limit and gives half back to the heap. */
static void test_list_limit(void)
{
	enum { N = 300 };
	void *p[N];
	unsigned bin = hm__tc_bin(hm__heap_need(256)); /* a debug trailer changes nothing here */

	start(64 * MIB);
	for (unsigned i = 0; i < N; i++)
		REQUIRE_NOT_NULL(p[i] = hm_malloc(NULL, 256, 0));
	for (unsigned i = 0; i < N; i++)
		hm_free(p[i]);
	CHECK_LE(cached().blocks, hm__tc_bin_max(bin) + 1);
	CHECK_GT(cached().blocks, 0);
	CHECK_EQ(stats().live_blocks, 0);
	audit_all();
	hm_cleanup();
}

/* High-water marks: exact for one thread, through caches and folds. */
static void test_high_water(void)
{
	void *p[3];
	size_t u[3], total = 0;
	struct hm_malloc_type_stats ts;

	start(64 * MIB);
	for (unsigned i = 0; i < 3; i++) {
		REQUIRE_NOT_NULL(p[i] = hm_malloc("hw", 1000, 0));
		REQUIRE_EQ(hm_malloc_validate(p[i], &u[i]), 0);
		total += u[i];
	}
	hm_free(p[0]);
	hm_free(p[1]);
	ts = tstats("hw");
	CHECK_EQ(ts.high_water, total);
	CHECK_EQ(ts.live_bytes, u[2]);
	hm_free(p[2]);
	/* Past the fold threshold and back: the peak stays exact. */
	enum { BIG = 40 };
	void *q[BIG];
	size_t peak = 0;
	for (unsigned i = 0; i < BIG; i++) {
		size_t n;

		REQUIRE_NOT_NULL(q[i] = hm_malloc("hw", 8000, 0));
		REQUIRE_EQ(hm_malloc_validate(q[i], &n), 0);
		peak += n;
	}
	for (unsigned i = 0; i < BIG; i++)
		hm_free(q[i]);
	ts = tstats("hw");
	CHECK_EQ(ts.high_water, HM_MAX(peak, total));
	CHECK_EQ(ts.live_bytes, 0);
	CHECK_EQ(ts.allocs, 3 + BIG);
	CHECK_EQ(ts.frees, 3 + BIG);
	hm_cleanup();
}

/* --- threads come and go while blocks flow between them --- */

#define RING 256

static struct {
	_Atomic(void *) item[RING];
	atomic_uint head, tail; /* a bounded MPMC queue of blocks, by CAS on the slots */
} q;
static atomic_uint errors;
static atomic_ullong moved;
static unsigned n_rounds;

/* Put p in an empty slot; false if the queue stays full. */
static bool q_put(void *p)
{
	for (unsigned tries = 0; tries < 4 * RING; tries++) {
		unsigned i = atomic_fetch_add(&q.head, 1) % RING;
		void *expect = NULL;

		if (atomic_compare_exchange_strong(&q.item[i], &expect, p))
			return true;
	}
	return false;
}

static void *q_take(void)
{
	for (unsigned tries = 0; tries < RING; tries++) {
		unsigned i = atomic_fetch_add(&q.tail, 1) % RING;
		void *p = atomic_exchange(&q.item[i], NULL);

		if (p)
			return p;
	}
	return NULL;
}

/* A block's contents: its own address, in every word. */
static void stamp(void *p, size_t len)
{
	for (size_t i = 0; i < len / 8; i++)
		((uint64_t *)p)[i] = (uintptr_t)p;
}

static bool stamped(const void *p, size_t len)
{
	for (size_t i = 0; i < len / 8; i++)
		if (((const uint64_t *)p)[i] != (uintptr_t)p)
			return false;
	return true;
}

/* A short-lived thread: allocates some blocks, frees some of its own and some others'. */
static void *churn_thread(void *arg)
{
	uint64_t rng = (uintptr_t)arg * 0x9e3779b97f4a7c15ull + 1;

	for (unsigned k = 0; k < 200; k++) {
		rng ^= rng << 13;
		rng ^= rng >> 7;
		rng ^= rng << 17;
		size_t len = 8 + (rng % 2000) * 8;
		void *p = hm_malloc("churn", len, 0);

		if (!p) {
			atomic_fetch_add(&errors, 1);
			continue;
		}
		stamp(p, 64 < len ? 64 : len);
		if (rng & 1) {
			hm_free(p); /* into this thread's cache */
		} else if (!q_put(p)) {
			hm_free(p);
		}
		void *o = (rng & 2) ? q_take() : NULL; /* another thread's block */
		if (o) {
			if (!stamped(o, 8))
				atomic_fetch_add(&errors, 1);
			hm_free(o);
			atomic_fetch_add(&moved, 1);
		}
	}
	return NULL;
}

static void test_thread_churn(void)
{
	struct hm_malloc_type_stats ts;
	struct hm_malloc_stats st;
	struct hm_tc_sums s;
	void *p;

	start(256 * MIB);
	n_rounds = scaled(300);
	for (unsigned r = 0; r < n_rounds; r++) {
		pthread_t t[2];

		for (unsigned i = 0; i < 2; i++)
			REQUIRE_EQ(pthread_create(&t[i], NULL, churn_thread,
						  (void *)(uintptr_t)(r * 2 + i + 1)),
				   0);
		for (unsigned i = 0; i < 2; i++)
			REQUIRE_EQ(pthread_join(t[i], NULL), 0);
		/* Every thread is gone: no cache holds anything. */
		s = cached();
		if (s.blocks || s.bytes) {
			t_fail(__FILE__, __LINE__, false,
			       "round %u: %llu blocks (%llu bytes) stranded in the caches of "
			       "exited "
			       "threads",
			       r, (unsigned long long)s.blocks, (unsigned long long)s.bytes);
			break;
		}
	}
	printf("%u rounds, %llu blocks freed by another thread\n", n_rounds,
	       (unsigned long long)atomic_load(&moved));
	CHECK_EQ(atomic_load(&errors), 0);
	while ((p = q_take()) != NULL)
		hm_free(p);
	for (unsigned i = 0; i < RING; i++)
		if ((p = atomic_exchange(&q.item[i], NULL)) != NULL)
			hm_free(p);
	/* The main thread's own cache took the queue's last blocks. */
	hm__tc_flush_mine();
	st = stats();
	CHECK_EQ(st.live_blocks, 0);
	CHECK_EQ(st.cached_blocks, 0);
	CHECK_EQ(st.allocs, st.frees);
	ts = tstats("churn");
	CHECK_EQ(ts.live_bytes, 0);
	CHECK_EQ(ts.live_blocks, 0);
	CHECK_EQ(ts.allocs, ts.frees);
	CHECK_GT(ts.allocs, 0);
	audit_all();
	hm_cleanup();
}

/* hm_thread_unregister gives the cache back too. */
static void *unregister_thread(void *arg)
{
	void *p[10];

	(void)arg;
	for (unsigned i = 0; i < 10; i++)
		p[i] = hm_malloc(NULL, 500, 0);
	for (unsigned i = 0; i < 10; i++)
		hm_free(p[i]);
	if (cached().blocks < 10)
		atomic_fetch_add(&errors, 1); /* the frees were not cached */
	if (hm_thread_unregister() != 0 || cached().blocks != 0)
		atomic_fetch_add(&errors, 1);
	/* Allocating again registers again, with a cache of its own. */
	void *r = hm_malloc(NULL, 500, 0);
	hm_free(r);
	if (!r)
		atomic_fetch_add(&errors, 1);
	return NULL;
}

static void test_unregister(void)
{
	pthread_t t;

	start(64 * MIB);
	atomic_store(&errors, 0);
	REQUIRE_EQ(pthread_create(&t, NULL, unregister_thread, NULL), 0);
	REQUIRE_EQ(pthread_join(t, NULL), 0);
	CHECK_EQ(atomic_load(&errors), 0);
	CHECK_EQ(cached().blocks, 0);
	CHECK_EQ(stats().live_blocks, 0);
	audit_all();
	hm_cleanup();
}

/* --- memory runs short: the caller's cache gives its blocks back first --- */

static void test_flush_on_enomem(void)
{
	enum { N = 64 };
	struct hm_malloc_stats st;
	void *p[N], *big;

	/* One 2 MiB chunk in all. */
	start(2 * MIB);
	for (unsigned i = 0; i < N; i++)
		REQUIRE_NOT_NULL(p[i] = hm_malloc(NULL, 1000, 0));
	for (unsigned i = 0; i < N; i++)
		hm_free(p[i]);
	REQUIRE(cached().blocks > 0);
	/* Nearly the whole chunk: only if the cached blocks go back first. */
	big = hm_malloc(NULL, 2 * MIB - 64 * KIB, 0);
	REQUIRE_NOT_NULL(big);
	CHECK_EQ(cached().blocks, 0);
	hm_free(big);
	st = stats();
	CHECK_EQ(st.live_blocks, 0);
	audit_all();
	hm_cleanup();
}

/* --- a limit set while another thread holds uncounted bytes of the type --- */

static pthread_barrier_t barrier;
static void *held[4];
static size_t held_usable;

static void *holder_thread(void *arg)
{
	(void)arg;
	for (unsigned i = 0; i < 4; i++) {
		held[i] = hm_malloc("late", 1000, 0);
		if (!held[i] || hm_malloc_validate(held[i], &held_usable) != 0)
			atomic_fetch_add(&errors, 1);
	}
	pthread_barrier_wait(&barrier); /* the blocks are live */
	pthread_barrier_wait(&barrier); /* the main thread set the limit and tried */
	for (unsigned i = 0; i < 4; i++)
		hm_free(held[i]);
	pthread_barrier_wait(&barrier); /* freed */
	return NULL;
}

static void test_late_limit(void)
{
	pthread_t t;
	void *a, *b;

	start(64 * MIB);
	atomic_store(&errors, 0);
	REQUIRE_EQ(pthread_barrier_init(&barrier, NULL, 2), 0);
	REQUIRE_EQ(pthread_create(&t, NULL, holder_thread, NULL), 0);
	pthread_barrier_wait(&barrier);
	CHECK_EQ(tstats("late").live_bytes, 4 * held_usable);
	/* Room for one more block of the same size, not two. */
	REQUIRE_EQ(hm_malloc_set_limit("late", 5 * held_usable), 0);
	a = hm_malloc("late", 1000, 0);
	CHECK(a != NULL);
	CHECK_NULL_ERRNO(hm_malloc("late", 1000, 0), ENOMEM);
	pthread_barrier_wait(&barrier);
	pthread_barrier_wait(&barrier);
	/* The holder's frees made room again. */
	b = hm_malloc("late", 1000, 0);
	CHECK(b != NULL);
	REQUIRE_EQ(pthread_join(t, NULL), 0);
	pthread_barrier_destroy(&barrier);
	hm_free(a);
	hm_free(b);
	CHECK_EQ(atomic_load(&errors), 0);
	CHECK_EQ(tstats("late").live_bytes, 0);
	CHECK_EQ(tstats("late").refused, 1);
	audit_all();
	hm_cleanup();
}

int main(int argc, char **argv)
{
	t_init(argc, argv);
	T_RUN(test_reuse);
	T_RUN(test_double_free_cached);
	T_RUN(test_list_limit);
	T_RUN(test_high_water);
	T_RUN(test_thread_churn);
	T_RUN(test_unregister);
	T_RUN(test_flush_on_enomem);
	T_RUN(test_late_limit);
	return t_done();
}
