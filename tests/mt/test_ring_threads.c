/* SPDX-License-Identifier: MIT */
/*
 * test_ring_threads.c - rings used by real threads at once: producers
 * enqueue values tagged with their producer and a sequence number, in
 * random sizes with bulk, burst and single calls; consumers dequeue the same
 * way and record what they get. For MP/MC (4 producers, 4 consumers, on a
 * big ring and on a ring of 8 slots), SP/SC (1 + 1), MP/SC (4 + 1), SP/MC
 * (1 + 4) and a multi-producer ring of 16-byte elements (of a capacity that
 * is no power of two), checked: every value came out exactly once (none
 * lost, none twice, none made up), each consumer saw each producer's values
 * in the order they went in, a bulk call moved all or nothing, free_space
 * and available stayed within the capacity, the 16-byte elements came out
 * whole, and the ring is empty at the end.
 *
 * HUGEMEM_TEST_SCALE (a factor) changes the number of values; sanitizer and
 * valgrind runs move fewer.
 */
#include "harness.h"
#include <hugemem.h>

#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdlib.h>

#define MIB        ((size_t)1 << 20)
#define N_PROD_MAX 4
#define N_CONS_MAX 4
#define BATCH_MAX  32 /* the most values one call moves */

static void start(void)
{
	struct hm_config c;

	hm_config_defaults(&c);
	c.no_huge = true;
	c.memory_limit = 256 * MIB;
	REQUIRE_EQ(hm_init(&c), 0);
}

static double scale(void)
{
	return t_scale(0.2, 0.02);
}

static unsigned scaled(unsigned n)
{
	double v = n * scale();

	return v < 200 ? 200 : (unsigned)v;
}

/* ---- failures seen in threads: counted, the first one kept ---- */

static atomic_uint errors;
static pthread_mutex_t first_lock = PTHREAD_MUTEX_INITIALIZER;
static char first_error[256];

static void bad(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void bad(const char *fmt, ...)
{
	if (atomic_fetch_add(&errors, 1) == 0) {
		va_list ap;

		pthread_mutex_lock(&first_lock);
		va_start(ap, fmt);
		vsnprintf(first_error, sizeof(first_error), fmt, ap);
		va_end(ap);
		pthread_mutex_unlock(&first_lock);
	}
}

static void no_errors(const char *what)
{
	unsigned n = atomic_load(&errors);

	if (n) {
		pthread_mutex_lock(&first_lock);
		t_fail(__FILE__, __LINE__, false, "%s: %u failures in threads; the first: %s", what,
		       n, first_error);
		pthread_mutex_unlock(&first_lock);
	}
	atomic_store(&errors, 0);
}

/* ---- one run: a ring, its producers and consumers ---- */

/* A value: producer p (from 1) in the high half, its sequence number in the low. */
static uint64_t tag_of(unsigned p, uint32_t seq)
{
	return (uint64_t)(p + 1) << 32 | seq;
}

/* The second half of a 16-byte element, so that a torn element shows. */
static uint64_t check_of(uint64_t tag)
{
	return ~tag * 0x9e3779b97f4a7c15ull;
}

struct elem16 {
	uint64_t tag;
	uint64_t check;
};

struct run {
	const char *what;
	struct hm_ring *r;
	bool wide;         /* 16-byte elements (the _elem calls), else pointers */
	unsigned n_prod;   /* producer threads */
	unsigned n_cons;   /* consumer threads */
	uint32_t per_prod; /* values each producer enqueues */
	unsigned cap;      /* the ring's capacity */
	pthread_barrier_t go;
	atomic_uint consumed;          /* values dequeued so far, by all consumers */
	atomic_uchar *seen;            /* times each value came out: [p * per_prod + seq] */
	unsigned long got[N_CONS_MAX]; /* values each consumer took (its own slot) */
};

struct role {
	struct run *run;
	unsigned id;
};

/* Move up to n values in or out with a random kind of call; how many moved. */
static unsigned move(struct run *run, bool in, void *buf, unsigned n)
{
	unsigned kind = (unsigned)t_rand_below(3), moved, left = 0;
	bool bulk = kind == 0;

	if (kind == 2 && !run->wide) { /* single */
		int rc = in ? hm_ring_enqueue(run->r, *(void **)buf)
			    : hm_ring_dequeue(run->r, (void **)buf);

		if (rc != 0 && rc != (in ? -ENOBUFS : -ENOENT))
			bad("%s: single %s returned %d", run->what, in ? "enqueue" : "dequeue", rc);
		return rc == 0;
	}
	if (run->wide)
		moved = in     ? bulk ? hm_ring_enqueue_bulk_elem(run->r, buf, 16, n, &left)
				      : hm_ring_enqueue_burst_elem(run->r, buf, 16, n, &left)
			    : bulk ? hm_ring_dequeue_bulk_elem(run->r, buf, 16, n, &left)
			       : hm_ring_dequeue_burst_elem(run->r, buf, 16, n, &left);
	else
		moved = in     ? bulk ? hm_ring_enqueue_bulk(run->r, buf, n, &left)
				      : hm_ring_enqueue_burst(run->r, buf, n, &left)
			    : bulk ? hm_ring_dequeue_bulk(run->r, buf, n, &left)
			       : hm_ring_dequeue_burst(run->r, buf, n, &left);
	if (moved > n || (bulk && moved != 0 && moved != n))
		bad("%s: %s %s of %u moved %u", run->what, bulk ? "bulk" : "burst",
		    in ? "enqueue" : "dequeue", n, moved);
	if (left > run->cap)
		bad("%s: %s left %u, more than the capacity %u", run->what,
		    in ? "enqueue" : "dequeue", left, run->cap);
	return moved;
}

static void *producer(void *arg)
{
	struct role *role = arg;
	struct run *run = role->run;
	struct elem16 wide[BATCH_MAX];
	void *ptrs[BATCH_MAX];
	uint32_t seq = 0;

	pthread_barrier_wait(&run->go);
	while (seq < run->per_prod) {
		unsigned n = 1 + (unsigned)t_rand_below(BATCH_MAX), moved;

		if (n > run->per_prod - seq)
			n = run->per_prod - seq;
		for (unsigned i = 0; i < n; i++) {
			uint64_t tag = tag_of(role->id, seq + i);

			wide[i].tag = tag;
			wide[i].check = check_of(tag);
			ptrs[i] = (void *)(uintptr_t)tag;
		}
		moved = move(run, true, run->wide ? (void *)wide : (void *)ptrs, n);
		seq += moved;
		if (moved == 0)
			sched_yield();
	}
	return NULL;
}

/* Check and record one value that consumer id dequeued; last[] is its per-producer order. */
static void record(struct run *run, unsigned id, uint64_t tag, uint64_t check, int64_t *last)
{
	unsigned p = (unsigned)(tag >> 32) - 1;
	uint32_t seq = (uint32_t)tag;

	if (run->wide && check != check_of(tag)) {
		bad("%s: consumer %u got a torn element %#llx/%#llx", run->what, id,
		    (unsigned long long)tag, (unsigned long long)check);
		return;
	}
	if (p >= run->n_prod || seq >= run->per_prod) {
		bad("%s: consumer %u got %#llx, which nobody enqueued", run->what, id,
		    (unsigned long long)tag);
		return;
	}
	if ((int64_t)seq <= last[p])
		bad("%s: consumer %u got value %u of producer %u after its value %lld", run->what,
		    id, seq, p, (long long)last[p]);
	last[p] = seq;
	if (atomic_fetch_add(&run->seen[(size_t)p * run->per_prod + seq], 1) != 0)
		bad("%s: value %u of producer %u came out twice", run->what, seq, p);
}

static void *consumer(void *arg)
{
	struct role *role = arg;
	struct run *run = role->run;
	unsigned total = run->n_prod * run->per_prod;
	struct elem16 wide[BATCH_MAX];
	void *ptrs[BATCH_MAX];
	int64_t last[N_PROD_MAX];
	unsigned long got = 0;

	for (unsigned p = 0; p < N_PROD_MAX; p++)
		last[p] = -1;
	pthread_barrier_wait(&run->go);
	while (atomic_load(&run->consumed) < total) {
		unsigned n = 1 + (unsigned)t_rand_below(BATCH_MAX), moved;

		moved = move(run, false, run->wide ? (void *)wide : (void *)ptrs, n);
		for (unsigned i = 0; i < moved; i++) {
			if (run->wide)
				record(run, role->id, wide[i].tag, wide[i].check, last);
			else
				record(run, role->id, (uint64_t)(uintptr_t)ptrs[i], 0, last);
		}
		got += moved;
		if (moved)
			atomic_fetch_add(&run->consumed, moved);
		else
			sched_yield();
	}
	run->got[role->id] = got;
	return NULL;
}

static void run_one(const char *what, unsigned count, unsigned flags, bool wide, unsigned n_prod,
		    unsigned n_cons, unsigned per_prod)
{
	pthread_t t[N_PROD_MAX + N_CONS_MAX];
	struct role roles[N_PROD_MAX + N_CONS_MAX];
	struct run *run = calloc(1, sizeof(*run));
	unsigned n = n_prod + n_cons, total = n_prod * per_prod;
	unsigned long sum = 0;

	REQUIRE_NOT_NULL(run);
	REQUIRE(n_prod <= N_PROD_MAX && n_cons <= N_CONS_MAX);
	run->what = what;
	run->wide = wide;
	run->n_prod = n_prod;
	run->n_cons = n_cons;
	run->per_prod = per_prod;
	run->r = wide ? hm_ring_create_elem(what, 16, count, HM_SOCKET_ANY, flags)
		      : hm_ring_create(what, count, HM_SOCKET_ANY, flags);
	REQUIRE_NOT_NULL(run->r);
	run->cap = hm_ring_capacity(run->r);
	run->seen = calloc(total, sizeof(*run->seen));
	REQUIRE_NOT_NULL(run->seen);
	atomic_init(&run->consumed, 0);
	REQUIRE_EQ(pthread_barrier_init(&run->go, NULL, n), 0);
	for (unsigned i = 0; i < n; i++) {
		roles[i].run = run;
		roles[i].id = i < n_prod ? i : i - n_prod;
		REQUIRE_EQ(pthread_create(&t[i], NULL, i < n_prod ? producer : consumer, &roles[i]),
			   0);
	}
	for (unsigned i = 0; i < n; i++)
		REQUIRE_EQ(pthread_join(t[i], NULL), 0);
	pthread_barrier_destroy(&run->go);
	no_errors(what);

	/* Conservation: all out, each exactly once; nothing left in the ring. */
	CHECK_EQ(atomic_load(&run->consumed), total);
	for (unsigned c = 0; c < n_cons; c++)
		sum += run->got[c];
	CHECK_EQ(sum, total);
	for (unsigned i = 0; i < total; i++) {
		if (atomic_load(&run->seen[i]) != 1) {
			t_fail(__FILE__, __LINE__, false,
			       "%s: value %u of producer %u came out %u times", what, i % per_prod,
			       i / per_prod, (unsigned)atomic_load(&run->seen[i]));
			break;
		}
	}
	CHECK_EQ(hm_ring_count(run->r), 0);
	CHECK(hm_ring_empty(run->r));
	CHECK_EQ(hm_ring_free_count(run->r), run->cap);
	CHECK_EQ(hm_ring_destroy(run->r), 0);
	free(run->seen);
	free(run);
}

static void test_mpmc(void)
{
	start();
	run_one("mpmc-big", 8192, 0, false, 4, 4, scaled(250000));
	hm_cleanup();
}

static void test_mpmc_small(void)
{
	/* 7 usable slots for 8 threads: full and empty all the time. */
	start();
	run_one("mpmc-8", 8, 0, false, 4, 4, scaled(100000));
	hm_cleanup();
}

static void test_spsc(void)
{
	start();
	run_one("spsc", 1024, HM_RING_SP_ENQ | HM_RING_SC_DEQ, false, 1, 1, scaled(1000000));
	run_one("spsc-small", 4, HM_RING_SP_ENQ | HM_RING_SC_DEQ, false, 1, 1, scaled(200000));
	hm_cleanup();
}

static void test_mpsc(void)
{
	start();
	run_one("mpsc", 512, HM_RING_SC_DEQ, false, 4, 1, scaled(200000));
	hm_cleanup();
}

static void test_spmc(void)
{
	start();
	run_one("spmc", 512, HM_RING_SP_ENQ, false, 1, 4, scaled(800000));
	hm_cleanup();
}

static void test_mp_elem16(void)
{
	start();
	run_one("mpmc-16B", 1000, HM_RING_EXACT_SZ, true, 4, 4, scaled(200000));
	run_one("mpsc-16B", 100, HM_RING_EXACT_SZ | HM_RING_SC_DEQ, true, 4, 1, scaled(100000));
	hm_cleanup();
}

int main(int argc, char **argv)
{
	t_init(argc, argv);
	T_RUN(test_mpmc);
	T_RUN(test_mpmc_small);
	T_RUN(test_spsc);
	T_RUN(test_mpsc);
	T_RUN(test_spmc);
	T_RUN(test_mp_elem16);
	return t_done();
}
