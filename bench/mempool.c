/* SPDX-License-Identifier: MIT */
/*
 * mempool.c - the "mempool" suite: hugemem's mempool against DPDK's
 * rte_mempool and against malloc and free of the same size (glibc, jemalloc,
 * mimalloc), by the method of DPDK's mempool_perf_autotest
 * (app/test/test_mempool_perf.c): each iteration gets BENCH_MEMPOOL_KEEP
 * (128) objects in calls of n objects and then puts them all back in calls
 * of n, for n = 1, 4, 32 and 128. The figure is ns per object, one get and
 * one put; neither touches the objects.
 *
 * Cases: objects of 64 and 2,048 bytes; a cache of 512 objects per thread or
 * none; one thread, or two (on CPUs 0 and 1, running the loop on the same
 * pool at once; the figure is the mean of the two threads' ns per object);
 * and a thread the library was never told of: for hugemem a new thread that
 * never called hugemem (its first get takes a slot and a cache), for DPDK a
 * thread that is not an EAL lcore, which gets no cache (rte_lcore_id() is
 * LCORE_ID_ANY), the case DPDK's documentation warns about.
 *
 * Pools: BENCH_MEMPOOL_N (8,191) objects, the default backend (a
 * multi-producer multi-consumer ring) for both libraries; hugemem on 4 KiB
 * pages after hm_init (memory_limit 256 MiB), DPDK after rte_eal_init
 * --no-huge -m 512 -l 0-1 (peers/dpdk.c), each in a child of its own, taking
 * turns repetition by repetition. The malloc peers allocate and free
 * objects of the case's size through struct bench_malloc_ops.
 *
 * The loops: a get of one object costs a few ns, so a function pointer per
 * call would distort it. hugemem's loop below and DPDK's in peers/dpdk.c are
 * written twice, textually parallel, each calling its library's inline
 * functions directly; the malloc peers go through two function pointers per
 * object, as in the malloc suite. The driver calls one loop per chunk of
 * iterations through struct bench_objs_ops.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <hugemem.h>
#include "bench.h"

#define MEMPOOL_MEMORY_LIMIT ((size_t)256 << 20)
#define CHUNK_OBJS           (1u << 16) /* objects between two clock reads */
#define SECOND_CPU           1

enum objs_threads { ONE_THREAD, TWO_THREADS, UNREGISTERED };

/* What a case does, by the case's name. */
struct objs_spec {
	const char *name;
	size_t elt_size;
	unsigned cache_size;
	enum objs_threads threads;
};

static const struct objs_spec objs_specs[] = {
	{"64 B, cache 512, 1 thread", 64, 512, ONE_THREAD},
	{"64 B, no cache, 1 thread", 64, 0, ONE_THREAD},
	{"2 KiB, cache 512, 1 thread", 2048, 512, ONE_THREAD},
	{"2 KiB, no cache, 1 thread", 2048, 0, ONE_THREAD},
	{"64 B, cache 512, 2 threads", 64, 512, TWO_THREADS},
	{"64 B, no cache, 2 threads", 64, 0, TWO_THREADS},
	{"2 KiB, cache 512, 2 threads", 2048, 512, TWO_THREADS},
	{"2 KiB, no cache, 2 threads", 2048, 0, TWO_THREADS},
	{"64 B, cache 512, unregistered thread", 64, 512, UNREGISTERED},
};

static const unsigned objs_bulks[] = {1, 4, 32, 128};

/* One implementation's pool, in the child that measures it. */
struct objs_state {
	const struct bench_objs_ops *ops;
	const struct objs_spec *spec;
	void *pool;
	void **objs[2]; /* BENCH_MEMPOOL_KEEP pointers for each thread */
};

static const struct objs_spec *spec_of(const char *name)
{
	for (size_t i = 0; i < BENCH_ARRAY_SIZE(objs_specs); i++)
		if (strcmp(objs_specs[i].name, name) == 0)
			return &objs_specs[i];
	return NULL;
}

void bench_objs_spec(const struct bench_ctx *ctx, size_t *elt_size, unsigned *cache_size)
{
	const struct objs_spec *s = spec_of(ctx->c->name);

	*elt_size = s ? s->elt_size : 64;
	*cache_size = s ? s->cache_size : 0;
}

bool bench_objs_two_lcores(const struct bench_ctx *ctx)
{
	const struct objs_spec *s = spec_of(ctx->c->name);

	return s && s->threads == TWO_THREADS;
}

void bench_objs_release(struct bench_ctx *ctx)
{
	struct objs_state *st = ctx->state;

	if (!st)
		return;
	for (unsigned t = 0; t < 2; t++)
		free(st->objs[t]);
	free(st);
	ctx->state = NULL;
}

int bench_objs_prepare(struct bench_ctx *ctx, const struct bench_objs_ops *ops, void *pool)
{
	struct objs_state *st = calloc(1, sizeof(*st));

	if (!st)
		return bench_msg(ctx, -ENOMEM, "out of memory");
	st->ops = ops;
	st->pool = pool;
	st->spec = spec_of(ctx->c->name);
	ctx->state = st;
	for (unsigned t = 0; t < 2; t++) {
		st->objs[t] = calloc(BENCH_MEMPOOL_KEEP, sizeof(void *));
		if (!st->objs[t]) {
			bench_objs_release(ctx);
			return bench_msg(ctx, -ENOMEM, "out of memory");
		}
	}
	if (!st->spec) {
		bench_objs_release(ctx);
		return bench_msg(ctx, -EINVAL, "no spec for case \"%s\"", ctx->c->name);
	}
	return 0;
}

/* Loops of n-object calls until budget_ns have passed; ns per object into *out. */
static int time_loop(const struct objs_state *st, void **objs, unsigned n, uint64_t budget_ns,
		     double *out)
{
	uint64_t iters = CHUNK_OBJS / BENCH_MEMPOOL_KEEP, done = 0, t0, t1;
	int rc;

	t0 = bench_now_ns();
	do {
		rc = st->ops->loop(st->pool, objs, n, iters);
		if (rc != 0)
			return rc;
		done += iters;
		t1 = bench_now_ns();
	} while (t1 - t0 < budget_ns);
	*out = (double)(t1 - t0) / (double)(done * BENCH_MEMPOOL_KEEP);
	return 0;
}

/* The second thread of a 2-thread measurement, or the unregistered one. */
struct worker {
	const struct objs_state *st;
	unsigned n;
	uint64_t budget_ns;
	bool pin;
	atomic_uint *ready; /* both threads wait here, then start together */
	double out;
	int rc;
};

static void start_together(atomic_uint *ready, unsigned total)
{
	atomic_fetch_add(ready, 1);
	while (atomic_load(ready) < total)
		;
}

static int worker_main(void *arg)
{
	struct worker *w = arg;

	start_together(w->ready, w->pin ? 2 : 1);
	w->rc = time_loop(w->st, w->st->objs[1], w->n, w->budget_ns, &w->out);
	return 0;
}

static void *worker_thread(void *arg)
{
	struct worker *w = arg;

	if (w->pin) {
		cpu_set_t set;

		CPU_ZERO(&set);
		CPU_SET(SECOND_CPU, &set);
		pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
	}
	worker_main(w);
	return NULL;
}

/* One metric of a 2-thread case: both threads, mean ns per object. */
static int time_two(struct bench_ctx *ctx, const struct objs_state *st, unsigned n,
		    uint64_t budget_ns, double *out)
{
	atomic_uint ready = 0;
	struct worker w = {.st = st, .n = n, .budget_ns = budget_ns, .pin = true, .ready = &ready};
	pthread_t t;
	double mine;
	int rc;

	if (st->ops->launch) {
		rc = st->ops->launch(worker_main, &w);
	} else {
		rc = pthread_create(&t, NULL, worker_thread, &w);
		rc = rc ? -rc : 0;
	}
	if (rc != 0)
		return bench_msg(ctx, rc, "cannot start the second thread");
	start_together(&ready, 2);
	rc = time_loop(st, st->objs[0], n, budget_ns, &mine);
	if (st->ops->launch)
		st->ops->wait();
	else
		pthread_join(t, NULL);
	if (rc == 0)
		rc = w.rc;
	if (rc != 0)
		return bench_msg(ctx, rc, "%s: a get failed", st->ops->name);
	*out = (mine + w.out) / 2;
	return 0;
}

/* One metric of the unregistered case: a new plain thread each time. */
static int time_unregistered(struct bench_ctx *ctx, const struct objs_state *st, unsigned n,
			     uint64_t budget_ns, double *out)
{
	atomic_uint ready = 0;
	struct worker w = {.st = st, .n = n, .budget_ns = budget_ns, .pin = false, .ready = &ready};
	pthread_t t;
	int rc = pthread_create(&t, NULL, worker_thread, &w);

	if (rc != 0)
		return bench_msg(ctx, -rc, "pthread_create: %s", strerror(rc));
	pthread_join(t, NULL);
	if (w.rc != 0)
		return bench_msg(ctx, w.rc, "%s: a get failed", st->ops->name);
	*out = w.out;
	return 0;
}

int bench_objs_measure(struct bench_ctx *ctx, double *out)
{
	struct objs_state *st = ctx->state;
	unsigned nm = BENCH_ARRAY_SIZE(objs_bulks);
	uint64_t budget = ctx->opts->smoke ? ctx->target_ns / nm : ctx->target_ns;
	int rc = 0;

	for (unsigned m = 0; m < nm && rc == 0; m++) {
		unsigned n = objs_bulks[m];

		if (st->spec->threads == TWO_THREADS)
			rc = time_two(ctx, st, n, budget, &out[m]);
		else if (st->spec->threads == UNREGISTERED)
			rc = time_unregistered(ctx, st, n, budget, &out[m]);
		else
			rc = time_loop(st, st->objs[0], n, budget, &out[m]);
		if (rc != 0 && !ctx->msg[0])
			bench_msg(ctx, rc, "%s: a get failed with n = %u", st->ops->name, n);
	}
	return rc;
}

/* A 2-thread case needs a second CPU. */
static int need_two_cpus(struct bench_ctx *ctx)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	if (n > SECOND_CPU)
		return 0;
	return bench_msg(ctx, BENCH_SKIP, "needs CPU %d for the second thread, %ld online",
			 SECOND_CPU, n);
}

/* ---- the malloc peers: malloc and free of the case's size ---- */

struct malloc_pool {
	const struct bench_malloc_ops *m;
	size_t size;
};

static int malloc_loop(void *pool, void **objs, unsigned n, uint64_t iters)
{
	const struct malloc_pool *mp = pool;
	unsigned bad = 0;

	for (uint64_t i = 0; i < iters; i++) {
		for (unsigned idx = 0; idx < BENCH_MEMPOOL_KEEP; idx += n)
			for (unsigned k = 0; k < n; k++)
				bad |= (objs[idx + k] = mp->m->alloc(mp->size)) == NULL;
		for (unsigned idx = BENCH_MEMPOOL_KEEP; idx > 0;) {
			idx -= n;
			for (unsigned k = 0; k < n; k++)
				mp->m->free(objs[idx + k]);
		}
	}
	return bad ? -ENOMEM : 0;
}

static const struct bench_objs_ops malloc_objs_ops = {.name = "malloc", .loop = malloc_loop};

int bench_objs_malloc_prepare(struct bench_ctx *ctx, const struct bench_malloc_ops *m)
{
	static struct malloc_pool mp; /* one per child */
	unsigned cache;

	mp.m = m;
	bench_objs_spec(ctx, &mp.size, &cache);
	return bench_objs_prepare(ctx, &malloc_objs_ops, &mp);
}

/*
 * ---- hugemem ----
 *
 * Textually parallel to dpdk_mempool_loop in peers/dpdk.c: change one,
 * change the other.
 */

static int hugemem_loop(void *pool, void **objs, unsigned n, uint64_t iters)
{
	struct hm_mempool *mp = pool;
	unsigned bad = 0;

	for (uint64_t i = 0; i < iters; i++) {
		for (unsigned idx = 0; idx < BENCH_MEMPOOL_KEEP; idx += n)
			bad |= hm_mempool_get_bulk(mp, &objs[idx], n) != 0;
		for (unsigned idx = BENCH_MEMPOOL_KEEP; idx > 0;) {
			idx -= n;
			hm_mempool_put_bulk(mp, &objs[idx], n);
		}
	}
	return bad ? -EIO : 0;
}

static const struct bench_objs_ops hugemem_ops = {.name = "hugemem", .loop = hugemem_loop};

static struct hm_mempool *hugemem_pool;

static int hugemem_setup(struct bench_ctx *ctx)
{
	struct hm_config cfg;
	size_t elt;
	unsigned cache;
	int rc;

	hm_config_defaults(&cfg);
	cfg.no_huge = true;
	cfg.memory_limit = MEMPOOL_MEMORY_LIMIT;
	rc = hm_init(&cfg);
	if (rc != 0)
		return bench_msg(ctx, rc, "hm_init: %s", hm_strerror(rc));
	bench_objs_spec(ctx, &elt, &cache);
	hugemem_pool = hm_mempool_create("bench", BENCH_MEMPOOL_N, elt, cache, 0, NULL, NULL,
					 HM_SOCKET_ANY, 0);
	if (!hugemem_pool) {
		rc = -errno;
		hm_cleanup();
		return bench_msg(ctx, rc, "hm_mempool_create: %s", hm_strerror(-rc));
	}
	rc = bench_objs_prepare(ctx, &hugemem_ops, hugemem_pool);
	if (rc != 0) {
		hm_mempool_destroy_force(hugemem_pool);
		hm_cleanup();
	}
	return rc;
}

static void hugemem_teardown(struct bench_ctx *ctx)
{
	bench_objs_release(ctx);
	hm_mempool_destroy(hugemem_pool);
	hm_cleanup();
}

static const struct bench_impl mempool_impls[] = {
	{.name = "hugemem",
	 .flags = BENCH_F_FORK,
	 .setup = hugemem_setup,
	 .measure = bench_objs_measure,
	 .teardown = hugemem_teardown},
	{.name = "dpdk",
	 .flags = BENCH_F_PEER | BENCH_F_FORK,
	 .setup = BENCH_IF_DPDK(bench_dpdk_mempool_setup),
	 .measure = BENCH_IF_DPDK(bench_objs_measure),
	 .teardown = BENCH_IF_DPDK(bench_dpdk_mempool_teardown)},
	{.name = "glibc",
	 .flags = BENCH_F_PEER | BENCH_F_FORK,
	 .setup = BENCH_IF_GLIBC(bench_glibc_objs_setup),
	 .measure = BENCH_IF_GLIBC(bench_objs_measure),
	 .teardown = BENCH_IF_GLIBC(bench_objs_release)},
	{.name = "jemalloc",
	 .flags = BENCH_F_PEER | BENCH_F_FORK,
	 .setup = BENCH_IF_JEMALLOC(bench_jemalloc_objs_setup),
	 .measure = BENCH_IF_JEMALLOC(bench_objs_measure),
	 .teardown = BENCH_IF_JEMALLOC(bench_objs_release)},
	{.name = "mimalloc",
	 .flags = BENCH_F_PEER | BENCH_F_FORK,
	 .setup = BENCH_IF_MIMALLOC(bench_mimalloc_objs_setup),
	 .measure = BENCH_IF_MIMALLOC(bench_objs_measure),
	 .teardown = BENCH_IF_MIMALLOC(bench_objs_release)},
};

#define MEMPOOL_CASE(label, check_fn)                                                      \
	{                                                                                  \
		.name = (label), .unit = "ns/obj",                                         \
		.metrics = {"bulk 1", "bulk 4", "bulk 32", "bulk 128"}, .check = check_fn, \
		.impls = mempool_impls, .n_impls = BENCH_ARRAY_SIZE(mempool_impls),        \
	}

/* The names must match objs_specs[]. */
static const struct bench_case mempool_cases[] = {
	MEMPOOL_CASE("64 B, cache 512, 1 thread", NULL),
	MEMPOOL_CASE("64 B, no cache, 1 thread", NULL),
	MEMPOOL_CASE("2 KiB, cache 512, 1 thread", NULL),
	MEMPOOL_CASE("2 KiB, no cache, 1 thread", NULL),
	MEMPOOL_CASE("64 B, cache 512, 2 threads", need_two_cpus),
	MEMPOOL_CASE("64 B, no cache, 2 threads", need_two_cpus),
	MEMPOOL_CASE("2 KiB, cache 512, 2 threads", need_two_cpus),
	MEMPOOL_CASE("2 KiB, no cache, 2 threads", need_two_cpus),
	MEMPOOL_CASE("64 B, cache 512, unregistered thread", NULL),
};

const struct bench_suite bench_suite_mempool = {
	.name = "mempool",
	.note = "get 128 objects in calls of n, put them back in calls of n "
		"(mempool_perf_autotest); "
		"ns per object; malloc peers: malloc and free of the same size",
	.cases = mempool_cases,
	.n_cases = BENCH_ARRAY_SIZE(mempool_cases),
};
