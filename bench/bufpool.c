/* SPDX-License-Identifier: MIT */
/*
 * bufpool.c - the "bufpool" suite: hugemem's buffer pool (netmap's
 * allocator: buffers named by 32-bit indices, a lookup table from index to
 * address and IOVA) against hugemem's mempool and DPDK's rte_mempool with a
 * cache, on buffers of 2,048 bytes (netmap's default).
 *
 * Alloc and free, by the method of the mempool suite (DPDK's
 * mempool_perf_autotest): each iteration takes BENCH_MEMPOOL_KEEP (128)
 * buffers in calls of n and then gives them all back in calls of n, the
 * last taken first; the figure is ns per buffer (one alloc and one free),
 * and no buffer is touched. Three operations:
 *
 *   single   the one-buffer calls: hm_bufpool_alloc/hm_bufpool_free,
 *            hm_mempool_get/hm_mempool_put, rte_mempool_get/rte_mempool_put.
 *   bulk 1   the bulk calls with n = 1 (n a run-time argument, as in the
 *   bulk 32  mempool suite): hm_bufpool_alloc_bulk/free_bulk,
 *            hm_mempool_get_bulk/put_bulk, rte_mempool_get_bulk/put_bulk;
 *            DPDK's loop is the mempool suite's (peers/dpdk.c).
 *
 * Cases: one thread; and two threads (CPUs 0 and 1) running the loop on the
 * same pool at once, the figure being the mean of the two threads' ns per
 * buffer. The second thread is a pthread pinned to CPU 1 for hugemem (a new
 * one per measurement: its first call takes a thread slot and a cache) and
 * EAL lcore 1 for DPDK (rte_eal_remote_launch), which has a cache of its own.
 *
 * Lookups: setup takes BENCH_BUFPOOL_LOOKUPS (8,190) buffers out of the
 * pool, every usable buffer of the buffer pool (and all but one object of
 * each mempool), since a caller looks up the buffers it holds (and the
 * asan build poisons a free mempool object); teardown gives them back. The
 * stream is those buffers, each once, in a pseudo-random order drawn from
 * the run's seed, precomputed: the same permutation of positions in address
 * order for every implementation. A pass reads the stream from start to
 * end and sums what it gets. Three operations:
 *
 *   addr     hugemem: hm_bufpool_addr(bp, idx), one load from the lookup
 *            table (and the range check); the buffer is not touched. The
 *            mempools hand out pointers already, so their equivalent of an
 *            index is a table the user builds: tab[i] is the i-th of the
 *            objects taken, in address order (bench_bufs_table_take), and
 *            the loop is tab[i].
 *   touch    the same, but the loop sums the buffer's first byte, not its
 *            address: index load, lookup, one byte of the buffer (one line
 *            of a random 4 KiB page each time: 16 MiB of buffers on 4 KiB
 *            pages, so this is mostly the TLB and the caches, for everyone).
 *            The buffer pool's buffers are never written before: the
 *            warm-up repetition faults their pages in (under --smoke, with
 *            no warm-up, the first repetition pays for it).
 *   iova     hugemem: hm_bufpool_iova(bp, idx), the same table entry as the
 *            address. The mempools: tab[i] and then hm_mempool_virt2iova /
 *            rte_mempool_virt2iova, which read the object's header, just
 *            before the object: a load in the buffer's memory, as touch does.
 *
 * The table loops (addr and touch over tab[]) are the same functions for
 * both mempools (bench_bufs_table_addr, bench_bufs_table_touch, compiled
 * here); the IOVA loops call each library's own inline function.
 *
 * Pools: hugemem after hm_init on 4 KiB pages (no_huge, memory_limit
 * 256 MiB): hm_bufpool_create("bench", 8192, 2048, HM_SOCKET_ANY, 0), 8,192
 * buffers of which indices 0 and 1 are reserved (8,190 to hand out), two to
 * a 4 KiB cluster; hm_mempool_create("bench", 8191, 2048, 512, 0, ...) after
 * the same hm_init. DPDK after rte_eal_init --no-huge -m 512 (-l 0, or -l 0-1
 * for the 2-thread case; peers/dpdk.c): rte_mempool_create("bench", 8191,
 * 2048, 512, 0, ...), the default backend (an MP/MC ring) for both mempools.
 * The buffer pool's per-thread cache holds HM_BUFPOOL_CACHE_SIZE (256)
 * indices after a refill and flushes past 384; the mempools' 512 (flush past
 * 768). A loop keeps at most 128 buffers out, so every call of every
 * implementation is a hit in its thread's cache after the first refill.
 *
 * The loops: an alloc costs a few ns, so a function pointer per call would
 * distort it. Each library's loops are written once, textually parallel
 * (below for the buffer pool and hugemem's mempool, peers/dpdk.c for DPDK),
 * calling the library's inline functions directly, and inlined whole
 * (BUFS_LOOP below; the disassembly shows no call in a loop but the
 * libraries' slow paths, hm_thread_id's first call and, for a run-time n,
 * memcpy); the driver calls one loop per chunk of 65,536 buffers (or one
 * pass of the lookup stream) through struct bench_bufs_ops.
 *
 * Every implementation runs in a forked child of its own (BENCH_F_FORK) and
 * they take turns repetition by repetition. After each repetition the
 * buffer pool must have all its buffers free (in the bitmap and the caches)
 * and no free refused, or the row fails; the hm_mempool rows of the alloc
 * cases note the share of gets its caches did not serve.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <hugemem.h>
#include "bench.h"

/*
 * The timed loops of the buffer pool and of hugemem's mempool: their public
 * calls are plain static inline, and gcc leaves them out of line (a call
 * per buffer) as soon as the file calls them from more than one place, as
 * this one does (setup takes and gives buffers too). flatten inlines every
 * call the loop makes into it, down to the library's out-of-line slow
 * paths, which stay calls. DPDK's calls are __rte_always_inline already.
 */
#define BUFS_LOOP static __attribute__((flatten))

#define BUFPOOL_MEMORY_LIMIT ((size_t)256 << 20)
#define CHUNK_BUFS           (1u << 16) /* buffers between two clock reads */
#define SECOND_CPU           1

enum bufs_kind { KIND_ONE, KIND_TWO, KIND_LOOKUP };

/* What a case does, by the case's name. */
static const struct {
	const char *name;
	enum bufs_kind kind;
} bufs_kinds[] = {
	{"2 KiB, 1 thread", KIND_ONE},
	{"2 KiB, 2 threads", KIND_TWO},
	{"lookup 2 KiB", KIND_LOOKUP},
};

/* The operations of the alloc cases: 0 for the one-buffer calls, else n of the bulk calls. */
static const unsigned bufs_bulks[] = {0, 1, 32};

static int kind_of(const struct bench_ctx *ctx, enum bufs_kind *kind)
{
	for (size_t i = 0; i < BENCH_ARRAY_SIZE(bufs_kinds); i++)
		if (strcmp(bufs_kinds[i].name, ctx->c->name) == 0) {
			*kind = bufs_kinds[i].kind;
			return 0;
		}
	return -EINVAL;
}

bool bench_bufs_two_threads(const struct bench_ctx *ctx)
{
	enum bufs_kind kind;

	return kind_of(ctx, &kind) == 0 && kind == KIND_TWO;
}

bool bench_bufs_lookups(const struct bench_ctx *ctx)
{
	enum bufs_kind kind;

	return kind_of(ctx, &kind) == 0 && kind == KIND_LOOKUP;
}

/* One implementation's pool, in the child that measures it. */
struct bufs_state {
	const struct bench_bufs_ops *ops;
	enum bufs_kind kind;
	void *pool;
	const void *map;
	void **objs[2];   /* BENCH_MEMPOOL_KEEP slots for each thread */
	uint32_t *stream; /* BENCH_BUFPOOL_LOOKUPS indices */
	uint64_t sink;    /* the lookups' sums, so that none is left out */
};

void bench_bufs_release(struct bench_ctx *ctx)
{
	struct bufs_state *st = ctx->state;

	if (!st)
		return;
	for (unsigned t = 0; t < 2; t++)
		free(st->objs[t]);
	free(st->stream);
	free(st);
	ctx->state = NULL;
}

int bench_bufs_prepare(struct bench_ctx *ctx, const struct bench_bufs_ops *ops, void *pool,
		       const void *map, const uint32_t *names)
{
	struct bufs_state *st = calloc(1, sizeof(*st));
	uint64_t rng = ctx->seed;
	int rc;

	if (!st)
		return bench_msg(ctx, -ENOMEM, "out of memory");
	st->ops = ops;
	st->pool = pool;
	st->map = map;
	ctx->state = st;
	rc = kind_of(ctx, &st->kind);
	if (rc != 0) {
		bench_bufs_release(ctx);
		return bench_msg(ctx, rc, "no bufpool workload for case \"%s\"", ctx->c->name);
	}
	for (unsigned t = 0; t < 2; t++)
		st->objs[t] = calloc(BENCH_MEMPOOL_KEEP, sizeof(void *));
	st->stream = calloc(BENCH_BUFPOOL_LOOKUPS, sizeof(uint32_t));
	if (!st->objs[0] || !st->objs[1] || !st->stream) {
		bench_bufs_release(ctx);
		return bench_msg(ctx, -ENOMEM, "out of memory");
	}
	/* The same permutation for everyone: of 0..n-1, then named. */
	for (uint32_t i = 0; i < BENCH_BUFPOOL_LOOKUPS; i++)
		st->stream[i] = i;
	bench_shuffle(st->stream, BENCH_BUFPOOL_LOOKUPS, &rng);
	if (names)
		for (uint32_t i = 0; i < BENCH_BUFPOOL_LOOKUPS; i++)
			st->stream[i] = names[st->stream[i]];
	return 0;
}

/* ---- the driver, shared by every implementation ---- */

/* Alloc/free loops of operation m until budget_ns have passed; ns per buffer into *out. */
static int time_loop(const struct bufs_state *st, void **objs, unsigned m, uint64_t budget_ns,
		     double *out)
{
	uint64_t iters = CHUNK_BUFS / BENCH_MEMPOOL_KEEP, done = 0, t0, t1;
	unsigned n = bufs_bulks[m];
	int rc;

	t0 = bench_now_ns();
	do {
		rc = n == 0 ? st->ops->single(st->pool, objs, iters)
			    : st->ops->bulk(st->pool, objs, n, iters);
		if (rc != 0)
			return rc;
		done += iters;
		t1 = bench_now_ns();
	} while (t1 - t0 < budget_ns);
	*out = (double)(t1 - t0) / (double)(done * BENCH_MEMPOOL_KEEP);
	return 0;
}

/* The second thread of a 2-thread measurement. */
struct worker {
	const struct bufs_state *st;
	unsigned m;
	uint64_t budget_ns;
	atomic_uint *ready; /* both threads wait here, then start together */
	double out;
	int rc;
};

static void start_together(atomic_uint *ready)
{
	atomic_fetch_add(ready, 1);
	while (atomic_load(ready) < 2)
		;
}

static int worker_main(void *arg)
{
	struct worker *w = arg;

	start_together(w->ready);
	w->rc = time_loop(w->st, w->st->objs[1], w->m, w->budget_ns, &w->out);
	return 0;
}

static void *worker_thread(void *arg)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(SECOND_CPU, &set);
	pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
	worker_main(arg);
	return NULL;
}

/* One operation of the 2-thread case: both threads, mean ns per buffer. */
static int time_two(struct bench_ctx *ctx, const struct bufs_state *st, unsigned m,
		    uint64_t budget_ns, double *out)
{
	atomic_uint ready = 0;
	struct worker w = {.st = st, .m = m, .budget_ns = budget_ns, .ready = &ready};
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
	start_together(&ready);
	rc = time_loop(st, st->objs[0], m, budget_ns, &mine);
	if (st->ops->launch)
		st->ops->wait();
	else
		pthread_join(t, NULL);
	if (rc == 0)
		rc = w.rc;
	if (rc != 0)
		return rc;
	*out = (mine + w.out) / 2;
	return 0;
}

/* Passes over the lookup stream with operation m until budget_ns; ns per lookup. */
static void time_lookups(struct bufs_state *st, unsigned m, uint64_t budget_ns, double *out)
{
	uint64_t (*pass)(const void *, const uint32_t *, size_t) = st->ops->iova;
	uint64_t done = 0, sum = 0, t0, t1;

	if (m == 0)
		pass = st->ops->addr;
	else if (m == 1)
		pass = st->ops->touch;

	t0 = bench_now_ns();
	do {
		sum += pass(st->map, st->stream, BENCH_BUFPOOL_LOOKUPS);
		done += BENCH_BUFPOOL_LOOKUPS;
		t1 = bench_now_ns();
	} while (t1 - t0 < budget_ns);
	st->sink += sum;
	*out = (double)(t1 - t0) / (double)done;
}

int bench_bufs_measure(struct bench_ctx *ctx, double *out)
{
	struct bufs_state *st = ctx->state;
	unsigned nm = BENCH_ARRAY_SIZE(bufs_bulks);
	uint64_t budget = ctx->opts->smoke ? ctx->target_ns / nm : ctx->target_ns;
	int rc = 0;

	for (unsigned m = 0; m < nm && rc == 0; m++) {
		if (st->kind == KIND_LOOKUP)
			time_lookups(st, m, budget, &out[m]);
		else if (st->kind == KIND_TWO)
			rc = time_two(ctx, st, m, budget, &out[m]);
		else
			rc = time_loop(st, st->objs[0], m, budget, &out[m]);
		if (rc != 0 && !ctx->msg[0]) {
			if (bufs_bulks[m] == 0)
				bench_msg(ctx, rc, "%s: a one-buffer alloc failed", st->ops->name);
			else
				bench_msg(ctx, rc, "%s: an alloc of %u failed", st->ops->name,
					  bufs_bulks[m]);
		}
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

/* ---- the table loops, for both mempools ---- */

uint64_t bench_bufs_table_addr(const void *map, const uint32_t *stream, size_t n)
{
	void *const *tab = map;
	uint64_t sum = 0;

	for (size_t i = 0; i < n; i++)
		sum += (uintptr_t)tab[stream[i]];
	return sum;
}

uint64_t bench_bufs_table_touch(const void *map, const uint32_t *stream, size_t n)
{
	void *const *tab = map;
	uint64_t sum = 0;

	for (size_t i = 0; i < n; i++) {
		const unsigned char *p = tab[stream[i]];

		sum += p[0];
	}
	return sum;
}

static int cmp_ptr(const void *a, const void *b)
{
	void *const *pa = a, *const *pb = b;
	uintptr_t x = (uintptr_t)pa[0], y = (uintptr_t)pb[0];

	return (x > y) - (x < y);
}

void **bench_bufs_table_take(struct bench_ctx *ctx, void *pool, int (*get)(void *, void **),
			     void (*put)(void *, void *))
{
	void **tab = calloc(BENCH_BUFPOOL_LOOKUPS, sizeof(void *));
	unsigned n;

	if (!tab) {
		bench_msg(ctx, -ENOMEM, "out of memory");
		return NULL;
	}
	for (n = 0; n < BENCH_BUFPOOL_LOOKUPS; n++)
		if (get(pool, &tab[n]) != 0)
			break;
	if (n < BENCH_BUFPOOL_LOOKUPS) {
		bench_msg(ctx, -ENOMEM, "only %u objects of %u to look up", n,
			  BENCH_BUFPOOL_LOOKUPS);
		bench_bufs_table_give(tab, n, pool, put);
		return NULL;
	}
	qsort(tab, n, sizeof(*tab), cmp_ptr);
	return tab;
}

void bench_bufs_table_give(void **tab, unsigned n, void *pool, void (*put)(void *, void *))
{
	if (!tab)
		return;
	for (unsigned i = 0; put && i < n; i++)
		put(pool, tab[i]);
	free(tab);
}

/* ---- hugemem's buffer pool ---- */

/*
 * Textually parallel to the hm_mempool loops below and to dpdk_bufs_single
 * and dpdk_mempool_loop in peers/dpdk.c: change one, change the others.
 * The indices live in objs, BENCH_MEMPOOL_KEEP pointers' worth of room.
 */

BUFS_LOOP int hugemem_single(void *pool, void **objs, uint64_t iters)
{
	struct hm_bufpool *bp = pool;
	uint32_t *idx = (uint32_t *)(void *)objs;
	unsigned bad = 0;

	for (uint64_t i = 0; i < iters; i++) {
		for (unsigned k = 0; k < BENCH_MEMPOOL_KEEP; k++)
			bad |= (idx[k] = hm_bufpool_alloc(bp)) == 0;
		for (unsigned k = BENCH_MEMPOOL_KEEP; k > 0;)
			hm_bufpool_free(bp, idx[--k]);
	}
	return bad ? -EIO : 0;
}

BUFS_LOOP int hugemem_bulk(void *pool, void **objs, unsigned n, uint64_t iters)
{
	struct hm_bufpool *bp = pool;
	uint32_t *idx = (uint32_t *)(void *)objs;
	unsigned bad = 0;

	for (uint64_t i = 0; i < iters; i++) {
		for (unsigned k = 0; k < BENCH_MEMPOOL_KEEP; k += n)
			bad |= hm_bufpool_alloc_bulk(bp, &idx[k], n) != n;
		for (unsigned k = BENCH_MEMPOOL_KEEP; k > 0;) {
			k -= n;
			hm_bufpool_free_bulk(bp, &idx[k], n);
		}
	}
	return bad ? -EIO : 0;
}

BUFS_LOOP uint64_t hugemem_addr(const void *map, const uint32_t *stream, size_t n)
{
	const struct hm_bufpool *bp = map;
	uint64_t sum = 0;

	for (size_t i = 0; i < n; i++)
		sum += (uintptr_t)hm_bufpool_addr(bp, stream[i]);
	return sum;
}

BUFS_LOOP uint64_t hugemem_touch(const void *map, const uint32_t *stream, size_t n)
{
	const struct hm_bufpool *bp = map;
	uint64_t sum = 0;

	for (size_t i = 0; i < n; i++) {
		const unsigned char *p = hm_bufpool_addr(bp, stream[i]);

		sum += p[0];
	}
	return sum;
}

BUFS_LOOP uint64_t hugemem_iova(const void *map, const uint32_t *stream, size_t n)
{
	const struct hm_bufpool *bp = map;
	uint64_t sum = 0;

	for (size_t i = 0; i < n; i++)
		sum += hm_bufpool_iova(bp, stream[i]);
	return sum;
}

static const struct bench_bufs_ops hugemem_ops = {
	.name = "hugemem",
	.single = hugemem_single,
	.bulk = hugemem_bulk,
	.addr = hugemem_addr,
	.touch = hugemem_touch,
	.iova = hugemem_iova,
};

static struct hm_bufpool *hugemem_pool;
static uint32_t *hugemem_held; /* the lookup case: every buffer, out, in index order */
static unsigned hugemem_n_held;

static int hugemem_init(struct bench_ctx *ctx)
{
	struct hm_config cfg;
	int rc;

	hm_config_defaults(&cfg);
	cfg.no_huge = true;
	cfg.memory_limit = BUFPOOL_MEMORY_LIMIT;
	rc = hm_init(&cfg);
	if (rc != 0)
		return bench_msg(ctx, rc, "hm_init: %s", hm_strerror(rc));
	return 0;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return (x > y) - (x < y);
}

/* The lookup case: take BENCH_BUFPOOL_LOOKUPS buffers, so that those looked up are out. */
static int hugemem_hold(struct bench_ctx *ctx)
{
	hugemem_held = calloc(BENCH_BUFPOOL_LOOKUPS, sizeof(uint32_t));
	if (!hugemem_held)
		return bench_msg(ctx, -ENOMEM, "out of memory");
	for (; hugemem_n_held < BENCH_BUFPOOL_LOOKUPS; hugemem_n_held++) {
		uint32_t idx = hm_bufpool_alloc(hugemem_pool);

		if (idx == 0)
			return bench_msg(ctx, -ENOMEM, "only %u buffers of %u to look up",
					 hugemem_n_held, BENCH_BUFPOOL_LOOKUPS);
		hugemem_held[hugemem_n_held] = idx;
	}
	qsort(hugemem_held, hugemem_n_held, sizeof(*hugemem_held), cmp_u32);
	return 0;
}

static void hugemem_release(void)
{
	if (hugemem_held)
		hm_bufpool_free_bulk(hugemem_pool, hugemem_held, hugemem_n_held);
	free(hugemem_held);
	hugemem_held = NULL;
	hugemem_n_held = 0;
	hm_bufpool_destroy(hugemem_pool);
	hugemem_pool = NULL;
	hm_cleanup();
}

static int hugemem_setup(struct bench_ctx *ctx)
{
	int rc = hugemem_init(ctx);

	if (rc != 0)
		return rc;
	hugemem_pool = hm_bufpool_create("bench", BENCH_BUFPOOL_COUNT, BENCH_BUFPOOL_SIZE,
					 HM_SOCKET_ANY, 0);
	if (!hugemem_pool) {
		rc = -errno;
		hm_cleanup();
		return bench_msg(ctx, rc, "hm_bufpool_create: %s", hm_strerror(-rc));
	}
	if (bench_bufs_lookups(ctx))
		rc = hugemem_hold(ctx);
	if (rc == 0)
		rc = bench_bufs_prepare(ctx, &hugemem_ops, hugemem_pool, hugemem_pool,
					hugemem_held);
	if (rc != 0)
		hugemem_release();
	return rc;
}

/*
 * One repetition, then the pool's own view: every buffer back (all but
 * those the lookup case holds), no free refused.
 */
static int hugemem_measure(struct bench_ctx *ctx, double *out)
{
	struct hm_bufpool_info info;
	int rc = bench_bufs_measure(ctx, out);

	if (rc != 0)
		return rc;
	memset(&info, 0, sizeof(info));
	rc = hm_bufpool_info(hugemem_pool, &info);
	if (rc != 0)
		return bench_msg(ctx, rc, "hm_bufpool_info: %s", hm_strerror(rc));
	if (info.refused != 0)
		return bench_msg(ctx, -EIO, "the pool refused %llu frees",
				 (unsigned long long)info.refused);
	if (info.free != info.count - HM_BUFPOOL_RESERVED - hugemem_n_held)
		return bench_msg(
			ctx, -EIO, "%llu of %llu buffers free after the repetition",
			(unsigned long long)info.free,
			(unsigned long long)(info.count - HM_BUFPOOL_RESERVED - hugemem_n_held));
	return 0;
}

static void hugemem_teardown(struct bench_ctx *ctx)
{
	bench_bufs_release(ctx);
	hugemem_release();
}

/* ---- hugemem's mempool ---- */

/* Textually parallel to the loops above and to peers/dpdk.c's. */

BUFS_LOOP int mempool_single(void *pool, void **objs, uint64_t iters)
{
	struct hm_mempool *mp = pool;
	unsigned bad = 0;

	for (uint64_t i = 0; i < iters; i++) {
		for (unsigned k = 0; k < BENCH_MEMPOOL_KEEP; k++)
			bad |= hm_mempool_get(mp, &objs[k]) != 0;
		for (unsigned k = BENCH_MEMPOOL_KEEP; k > 0;)
			hm_mempool_put(mp, objs[--k]);
	}
	return bad ? -EIO : 0;
}

/* The mempool suite's hugemem_loop. */
BUFS_LOOP int mempool_bulk(void *pool, void **objs, unsigned n, uint64_t iters)
{
	struct hm_mempool *mp = pool;
	unsigned bad = 0;

	for (uint64_t i = 0; i < iters; i++) {
		for (unsigned k = 0; k < BENCH_MEMPOOL_KEEP; k += n)
			bad |= hm_mempool_get_bulk(mp, &objs[k], n) != 0;
		for (unsigned k = BENCH_MEMPOOL_KEEP; k > 0;) {
			k -= n;
			hm_mempool_put_bulk(mp, &objs[k], n);
		}
	}
	return bad ? -EIO : 0;
}

BUFS_LOOP uint64_t mempool_iova(const void *map, const uint32_t *stream, size_t n)
{
	void *const *tab = map;
	uint64_t sum = 0;

	for (size_t i = 0; i < n; i++)
		sum += hm_mempool_virt2iova(tab[stream[i]]);
	return sum;
}

static const struct bench_bufs_ops mempool_ops = {
	.name = "hm_mempool",
	.single = mempool_single,
	.bulk = mempool_bulk,
	.addr = bench_bufs_table_addr,
	.touch = bench_bufs_table_touch,
	.iova = mempool_iova,
};

static struct hm_mempool *mempool_pool;
static void **mempool_table; /* the lookup case: its objects, out, in address order */

static int mempool_get_one(void *pool, void **obj)
{
	return hm_mempool_get(pool, obj);
}

static void mempool_put_one(void *pool, void *obj)
{
	hm_mempool_put(pool, obj);
}

static int mempool_setup(struct bench_ctx *ctx)
{
	int rc = hugemem_init(ctx);

	if (rc != 0)
		return rc;
	mempool_pool = hm_mempool_create("bench", BENCH_MEMPOOL_N, BENCH_BUFPOOL_SIZE,
					 BENCH_BUFPOOL_CACHE, 0, NULL, NULL, HM_SOCKET_ANY, 0);
	if (!mempool_pool) {
		rc = -errno;
		hm_cleanup();
		return bench_msg(ctx, rc, "hm_mempool_create: %s", hm_strerror(-rc));
	}
	if (bench_bufs_lookups(ctx)) {
		mempool_table =
			bench_bufs_table_take(ctx, mempool_pool, mempool_get_one, mempool_put_one);
		if (!mempool_table)
			rc = -ENOMEM;
	}
	if (rc == 0)
		rc = bench_bufs_prepare(ctx, &mempool_ops, mempool_pool, mempool_table, NULL);
	if (rc != 0) {
		bench_bufs_table_give(mempool_table, BENCH_BUFPOOL_LOOKUPS, mempool_pool,
				      mempool_put_one);
		mempool_table = NULL;
		hm_mempool_destroy_force(mempool_pool);
		hm_cleanup();
	}
	return rc;
}

/* One repetition; the row notes the share of gets the threads' caches did not serve. */
static int mempool_measure(struct bench_ctx *ctx, double *out)
{
	struct hm_mempool_stats st;
	int rc = bench_bufs_measure(ctx, out);

	if (rc != 0)
		return rc;
	memset(&st, 0, sizeof(st));
	/* Not in the lookup case: its gets are the setup's. */
	if (!bench_bufs_lookups(ctx) && hm_mempool_get_stats(mempool_pool, &st) == 0 &&
	    st.get_calls)
		bench_msg(ctx, 0, "cache misses %.2f%% of gets",
			  100.0 * (double)st.cache_misses / (double)st.get_calls);
	return 0;
}

static void mempool_teardown(struct bench_ctx *ctx)
{
	bench_bufs_release(ctx);
	bench_bufs_table_give(mempool_table, BENCH_BUFPOOL_LOOKUPS, mempool_pool, mempool_put_one);
	mempool_table = NULL;
	hm_mempool_destroy(mempool_pool);
	hm_cleanup();
}

/* ---- the cases ---- */

static const struct bench_impl bufpool_impls[] = {
	{.name = "hugemem",
	 .flags = BENCH_F_FORK,
	 .setup = hugemem_setup,
	 .measure = hugemem_measure,
	 .teardown = hugemem_teardown},
	{.name = "hm_mempool",
	 .flags = BENCH_F_PEER | BENCH_F_FORK,
	 .setup = mempool_setup,
	 .measure = mempool_measure,
	 .teardown = mempool_teardown},
	{.name = "dpdk",
	 .flags = BENCH_F_PEER | BENCH_F_FORK,
	 .setup = BENCH_IF_DPDK(bench_dpdk_bufpool_setup),
	 .measure = BENCH_IF_DPDK(bench_bufs_measure),
	 .teardown = BENCH_IF_DPDK(bench_dpdk_bufpool_teardown)},
};

#define BUFPOOL_CASE(label, unit_name, m0, m1, m2, check_fn)                         \
	{                                                                            \
		.name = (label), .unit = (unit_name), .metrics = {(m0), (m1), (m2)}, \
		.check = (check_fn), .impls = bufpool_impls,                         \
		.n_impls = BENCH_ARRAY_SIZE(bufpool_impls),                          \
	}

/* The names must match bufs_kinds[]. */
static const struct bench_case bufpool_cases[] = {
	BUFPOOL_CASE("2 KiB, 1 thread", "ns/buf", "single", "bulk 1", "bulk 32", NULL),
	BUFPOOL_CASE("2 KiB, 2 threads", "ns/buf", "single", "bulk 1", "bulk 32", need_two_cpus),
	BUFPOOL_CASE("lookup 2 KiB", "ns/op", "addr", "touch", "iova", NULL),
};

const struct bench_suite bench_suite_bufpool = {
	.name = "bufpool",
	.note = "take 128 buffers of 2 KiB in calls of n, give them back in calls of n; "
		"ns per buffer; lookup: index -> address (and a read of its first byte), "
		"-> IOVA, for 8190 indices in a random order; mempools: a table of their objects",
	.cases = bufpool_cases,
	.n_cases = BENCH_ARRAY_SIZE(bufpool_cases),
};
