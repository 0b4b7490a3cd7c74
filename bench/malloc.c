/* SPDX-License-Identifier: MIT */
/*
 * malloc.c - the "malloc" suite: hugemem's heap against glibc malloc,
 * jemalloc, mimalloc, tcmalloc and DPDK's rte_malloc, on two workloads:
 *
 *   pairs 64 B       malloc(64), write its first byte, free; ns per pair.
 *   random N=...     N live blocks (1,000, 10,000, 100,000) of sizes
 *                    log-uniform in 16 B to 64 KiB; each operation frees a
 *                    random live block and allocates one of a new random size
 *                    in its place, writing its first byte; ns per replace
 *                    (one free + one malloc).
 *
 * Everything random is drawn in setup, before any timing, from the run's
 * seed, so every implementation replays the very same operations: an array
 * of slot indices (uniform in [0, N)) and an array of sizes, of coprime
 * lengths, so that a slot is not refilled with the size it was freed with
 * when the arrays wrap. Setup also fills the live set and then runs 2N
 * untimed replaces, so that every allocator is timed in its steady state
 * rather than in the packed layout of the fill; the live set carries over
 * from one repetition to the next. The arrays and the live-set table are
 * mmap()ed, so no measured heap holds them.
 *
 * Every implementation runs the same loops through struct bench_malloc_ops
 * (two function pointers, so the indirect call costs all of them the same),
 * each in its own forked child per case (BENCH_F_FORK): every allocator
 * starts each case from a fresh process. hugemem: hm_malloc(NULL, size, 0)
 * and hm_free in an instance with memory_limit 8 GiB and no prealloc, on
 * 2 MiB pages when some are free, else on 4 KiB pages. The peers live in
 * bench/peers/: glibc through libc.so.6's own malloc and free, found with
 * dlsym() (jemalloc, mimalloc and tcmalloc, once linked, replace malloc, and
 * the last two __libc_malloc as well), jemalloc through mallocx/dallocx,
 * mimalloc through mi_malloc/mi_free, tcmalloc through tc_malloc/tc_free,
 * DPDK through rte_malloc(NULL, size, 0)/rte_free after rte_eal_init
 * --no-huge -m 2048. Alignment: hugemem and DPDK give a cache line (64 B)
 * by default, the others 16 B.
 *
 * Under --smoke the live sets are N/100 (at least 100) and the arrays small.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <errno.h>
#include <math.h>
#include <string.h>
#include <sys/mman.h>

#include <hugemem.h>
#include "bench.h"

#define PAIR_SIZE           64
#define SIZE_MIN_LOG2       4  /* 16 B */
#define SIZE_MAX_LOG2       16 /* 64 KiB */
#define MALLOC_MEMORY_LIMIT ((size_t)8 << 30)
#define OPS_LEN             ((size_t)1 << 20) /* slot indices; sizes: one fewer */
#define OPS_LEN_SMOKE       ((size_t)1 << 14)
#define SMOKE_LIVE_DIV      100
#define SMOKE_LIVE_MIN      100
#define CHUNK               256 /* operations between two clock reads */
#define WARM_PASSES         2   /* untimed replaces after the fill, times N */

/* One implementation's workload, in the child that measures it. */
struct malloc_state {
	const struct bench_malloc_ops *ops;
	size_t n;       /* live blocks; 0: the pairs case */
	void **live;    /* the live set, by slot */
	uint32_t *slot; /* slot of the i-th replace, cycled */
	uint32_t *size; /* size of the i-th new block, cycled */
	size_t n_slot;  /* length of slot[] */
	size_t n_size;  /* length of size[], n_slot - 1: coprime with it */
	size_t i_slot;  /* next entries, carried over between repetitions */
	size_t i_size;
	size_t live_len; /* bytes mapped for live[] */
	size_t arrays_len;
};

static void *map(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

/* A size log-uniform in [16, 65536): 2^x with x uniform in [4, 16). */
static uint32_t log_uniform(uint64_t *rng)
{
	double u = (double)(bench_rand(rng) >> 11) * 0x1p-53;

	return (uint32_t)exp2(SIZE_MIN_LOG2 + (SIZE_MAX_LOG2 - SIZE_MIN_LOG2) * u);
}

/* count malloc(64)/free pairs. */
static int pairs(struct malloc_state *st, unsigned count)
{
	unsigned k;

	for (k = 0; k < count; k++) {
		char *p = st->ops->alloc(PAIR_SIZE);

		if (!p)
			return -ENOMEM;
		p[0] = (char)k;
		st->ops->free(p);
	}
	return 0;
}

/* count random replaces: free a live block, allocate a new one in its slot. */
static int replaces(struct malloc_state *st, size_t count)
{
	size_t i_slot = st->i_slot, i_size = st->i_size, k;
	int rc = 0;

	for (k = 0; k < count; k++) {
		uint32_t slot = st->slot[i_slot];
		char *p;

		st->ops->free(st->live[slot]);
		p = st->ops->alloc(st->size[i_size]);
		st->live[slot] = p;
		if (!p) {
			rc = -ENOMEM;
			break;
		}
		p[0] = (char)k;
		if (++i_slot == st->n_slot)
			i_slot = 0;
		if (++i_size == st->n_size)
			i_size = 0;
	}
	st->i_slot = i_slot;
	st->i_size = i_size;
	return rc;
}

static void release_state(struct malloc_state *st)
{
	size_t i;

	if (st->live) {
		for (i = 0; i < st->n; i++)
			if (st->live[i])
				st->ops->free(st->live[i]);
		munmap(st->live, st->live_len);
	}
	if (st->slot)
		munmap(st->slot, st->arrays_len);
	munmap(st, sizeof(*st));
}

int bench_malloc_prepare(struct bench_ctx *ctx, const struct bench_malloc_ops *ops)
{
	struct malloc_state *st;
	uint64_t rng = ctx->seed;
	size_t i, n = ctx->n;

	st = map(sizeof(*st));
	if (!st)
		return bench_msg(ctx, -ENOMEM, "mmap: %s", strerror(errno));
	memset(st, 0, sizeof(*st));
	st->ops = ops;
	ctx->state = st;
	if (n == 0)
		return 0;

	if (ctx->opts->smoke)
		n = n / SMOKE_LIVE_DIV > SMOKE_LIVE_MIN ? n / SMOKE_LIVE_DIV : SMOKE_LIVE_MIN;
	st->n_slot = ctx->opts->smoke ? OPS_LEN_SMOKE : OPS_LEN;
	st->n_size = st->n_slot - 1;
	st->arrays_len = (st->n_slot + st->n_size) * sizeof(uint32_t);
	st->live_len = n * sizeof(void *);
	st->slot = map(st->arrays_len);
	st->live = map(st->live_len);
	if (!st->slot || !st->live) {
		release_state(st);
		ctx->state = NULL;
		return bench_msg(ctx, -ENOMEM, "mmap of the workload arrays: %s", strerror(errno));
	}
	st->size = st->slot + st->n_slot;
	for (i = 0; i < st->n_slot; i++)
		st->slot[i] = (uint32_t)(bench_rand(&rng) % n);
	for (i = 0; i < st->n_size; i++)
		st->size[i] = log_uniform(&rng);

	/* The initial live set takes the first n sizes. */
	for (i = 0; i < n; i++) {
		size_t sz = st->size[i % st->n_size];
		char *p = ops->alloc(sz);

		if (!p) {
			release_state(st);
			ctx->state = NULL;
			return bench_msg(ctx, -ENOMEM, "%s: fill: malloc(%zu) failed with %zu live",
					 ops->name, sz, i);
		}
		p[0] = (char)i;
		st->live[i] = p;
		st->n = i + 1;
	}
	st->i_size = n % st->n_size;
	/* Then WARM_PASSES * n replaces, untimed: every implementation is measured in
	 * its steady state, not in the packed layout of the fill. */
	if (replaces(st, WARM_PASSES * n) != 0) {
		size_t want = st->size[st->i_size];

		release_state(st);
		ctx->state = NULL;
		return bench_msg(ctx, -ENOMEM, "%s: warming up, malloc(%zu) failed with %zu live",
				 ops->name, want, n - 1);
	}
	return 0;
}

void bench_malloc_release(struct bench_ctx *ctx)
{
	if (ctx->state)
		release_state(ctx->state);
	ctx->state = NULL;
}

int bench_malloc_measure(struct bench_ctx *ctx, double *out)
{
	struct malloc_state *st = ctx->state;
	uint64_t start = bench_now_ns(), t0, t1, total = 0, done = 0;
	int rc;

	do {
		t0 = bench_now_ns();
		rc = st->n ? replaces(st, CHUNK) : pairs(st, CHUNK);
		t1 = bench_now_ns();
		if (rc != 0) {
			size_t want = st->n ? st->size[st->i_size] : PAIR_SIZE;

			return bench_msg(ctx, rc, "%s: malloc(%zu) failed with %zu live",
					 st->ops->name, want, st->n ? st->n - 1 : 0);
		}
		total += t1 - t0;
		done += CHUNK;
	} while (t1 - start < ctx->target_ns);

	out[0] = (double)total / (double)done;
	bench_note_memory(ctx);
	return 0;
}

/* ---- hugemem ---- */

static void *hugemem_alloc(size_t size)
{
	return hm_malloc(NULL, size, 0);
}

static void hugemem_free(void *p)
{
	hm_free(p);
}

static const struct bench_malloc_ops hugemem_ops = {
	.name = "hugemem",
	.alloc = hugemem_alloc,
	.free = hugemem_free,
};

static int hugemem_setup(struct bench_ctx *ctx)
{
	struct hm_config cfg;
	int rc;

	hm_config_defaults(&cfg);
	cfg.memory_limit = MALLOC_MEMORY_LIMIT;
	cfg.prealloc = 0;
	/* What the default page size does without free hugepages, minus its warning. */
	if (bench_hugepages_free(HM_PAGE_SIZE_2M) == 0)
		cfg.no_huge = true;
	rc = hm_init(&cfg);
	if (rc != 0)
		return bench_msg(ctx, rc, "hm_init: %s", hm_strerror(rc));
	rc = bench_malloc_prepare(ctx, &hugemem_ops);
	if (rc != 0)
		hm_cleanup();
	return rc;
}

static void hugemem_teardown(struct bench_ctx *ctx)
{
	bench_malloc_release(ctx);
	hm_cleanup();
}

static const struct bench_impl malloc_impls[] = {
	{.name = "hugemem",
	 .flags = BENCH_F_FORK,
	 .setup = hugemem_setup,
	 .measure = bench_malloc_measure,
	 .teardown = hugemem_teardown},
	{.name = "glibc",
	 .flags = BENCH_F_PEER | BENCH_F_FORK,
	 .setup = BENCH_IF_GLIBC(bench_glibc_malloc_setup),
	 .measure = BENCH_IF_GLIBC(bench_malloc_measure),
	 .teardown = BENCH_IF_GLIBC(bench_malloc_release)},
	{.name = "jemalloc",
	 .flags = BENCH_F_PEER | BENCH_F_FORK,
	 .setup = BENCH_IF_JEMALLOC(bench_jemalloc_malloc_setup),
	 .measure = BENCH_IF_JEMALLOC(bench_malloc_measure),
	 .teardown = BENCH_IF_JEMALLOC(bench_malloc_release)},
	{.name = "mimalloc",
	 .flags = BENCH_F_PEER | BENCH_F_FORK,
	 .setup = BENCH_IF_MIMALLOC(bench_mimalloc_malloc_setup),
	 .measure = BENCH_IF_MIMALLOC(bench_malloc_measure),
	 .teardown = BENCH_IF_MIMALLOC(bench_malloc_release)},
	{.name = "tcmalloc",
	 .flags = BENCH_F_PEER | BENCH_F_FORK,
	 .setup = BENCH_IF_TCMALLOC(bench_tcmalloc_malloc_setup),
	 .measure = BENCH_IF_TCMALLOC(bench_malloc_measure),
	 .teardown = BENCH_IF_TCMALLOC(bench_malloc_release)},
	{.name = "dpdk",
	 .flags = BENCH_F_PEER | BENCH_F_FORK,
	 .setup = BENCH_IF_DPDK(bench_dpdk_malloc_setup),
	 .measure = BENCH_IF_DPDK(bench_malloc_measure),
	 .teardown = BENCH_IF_DPDK(bench_dpdk_malloc_teardown)},
};

#define MALLOC_CASE(label, metric, count, bytes)                                                   \
	{                                                                                          \
		.name = (label), .unit = "ns/op", .metrics = {(metric)}, .n = (count),             \
		.size = (bytes), .impls = malloc_impls, .n_impls = BENCH_ARRAY_SIZE(malloc_impls), \
	}

static const struct bench_case malloc_cases[] = {
	MALLOC_CASE("pairs", "pair", 0, PAIR_SIZE),
	MALLOC_CASE("random", "replace", 1000, 0),
	MALLOC_CASE("random", "replace", 10000, 0),
	MALLOC_CASE("random", "replace", 100000, 0),
};

const struct bench_suite bench_suite_malloc = {
	.name = "malloc",
	.note = "malloc(64)+free pairs; random replace (free a random live block, malloc a "
		"log-uniform 16 B-64 KiB one) with N live; one child per case and implementation "
		"(--smoke: N/100 live)",
	.cases = malloc_cases,
	.n_cases = BENCH_ARRAY_SIZE(malloc_cases),
};
