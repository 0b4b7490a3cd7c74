/* SPDX-License-Identifier: MIT */
/*
 * bench.h - the shape of hugemem-bench: suites of cases, each case measured
 * for hugemem and for every peer, as medians of repetitions in one run.
 *
 * A suite (bench/<suite>.c) is a list of cases; a case is one workload
 * (one row label, one unit, up to BENCH_METRICS_MAX operations timed
 * together); each case names its implementations, hugemem first, then the
 * peers and reference floors. The driver (main.c) runs every
 * implementation R times (--reps), in process or in forked children as the
 * implementation asks, and prints the median, the minimum and the ratio
 * peer median / hugemem median (above 1: hugemem is faster).
 *
 * An implementation either measures itself (measure(): one repetition, one
 * value per operation, already in the case's unit) or gives a loop
 * (run(iters)) that the driver calibrates and times in ns/op. Peer code
 * lives in bench/peers/<peer>.c, compiled only when the build found the
 * peer (HM_BENCH_HAVE_<PEER>); BENCH_IF_<PEER>(fn) is fn then and NULL
 * otherwise, and an implementation without a measure() or run() prints
 * "peer not installed".
 *
 * To add a suite: write bench/<suite>.c defining bench_suite_<suite>, and
 * add X(<suite>) to BENCH_SUITES below (libuv's benchmark-list.h).
 *
 * Everything here runs on the benchmark's one thread, pinned to CPU 0 (the
 * 2-thread cases of the ring, mempool, slab and bufpool suites add a thread,
 * pinned to CPU 1).
 */
#ifndef HM_BENCH_H
#define HM_BENCH_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* The suites, in the order they run; --suite NAME picks one. */
#define BENCH_SUITES(X) \
	X(init)         \
	X(memzone)      \
	X(malloc)       \
	X(ring)         \
	X(mempool)      \
	X(slab)         \
	X(bufpool)

#define BENCH_METRICS_MAX  4 /* operations one case times together */
#define BENCH_REPS_DEFAULT 7 /* --reps */
#define BENCH_REPS_MAX     1000
#define BENCH_MSG_MAX      160 /* a skip or failure reason */

/* Return values of setup(), measure() and run(), besides 0 and -errno. */
#define BENCH_SKIP 1 /* not measurable here; ctx->msg says why */

/* bench_impl.flags */
#define BENCH_F_PEER     0x1u /* a peer or a reference: its failure does not fail the run */
#define BENCH_F_FORK     0x2u /* all repetitions in one forked child (setup/teardown there too) */
#define BENCH_F_FORK_REP 0x4u /* each repetition in its own fresh child: setup, measure, teardown */

/* Options from the command line, read-only once parsed. */
struct bench_opts {
	bool smoke;        /* --smoke: about 10 ms a case, 1-2 repetitions (CTest) */
	bool json;         /* --json: one JSON document on stdout */
	unsigned reps;     /* --reps N */
	uint64_t seed;     /* --seed N, else from the clock */
	const char *suite; /* --suite NAME, or NULL for all */
};

struct bench_case;
struct bench_impl;

/* What an implementation sees while one case runs. */
struct bench_ctx {
	const struct bench_opts *opts;
	const struct bench_case *c;
	const struct bench_impl *impl;
	size_t n;                /* the case's count (zones, objects); smoke-adjusted */
	size_t size;             /* the case's size in bytes; smoke-adjusted */
	size_t page_size;        /* the case's page size, 0 if it has none */
	uint64_t seed;           /* the run's seed */
	uint64_t target_ns;      /* how long one repetition should take, about */
	unsigned rep;            /* the repetition being measured, from 0 */
	void *state;             /* the implementation's, from setup() to teardown() */
	char msg[BENCH_MSG_MAX]; /* why setup/measure/run skipped or failed */
};

/*
 * One implementation of a case. setup() and teardown() are optional;
 * setup() returns 0, BENCH_SKIP or -errno (with ctx->msg set) and cleans up
 * after itself when it does not return 0. Exactly one of measure() and run()
 * is set for an installed implementation:
 *   measure(ctx, out)  one repetition: out[i] is metric i in the case's unit.
 *   run(ctx, iters)    do the case's single operation iters times; the
 *                      driver times it and reports ns/op.
 * Both return 0, BENCH_SKIP or -errno with ctx->msg set.
 */
struct bench_impl {
	const char *name; /* "hugemem", "dpdk", "mmap+touch" */
	unsigned flags;   /* BENCH_F_* */
	int (*setup)(struct bench_ctx *ctx);
	int (*measure)(struct bench_ctx *ctx, double *out);
	int (*run)(struct bench_ctx *ctx, uint64_t iters);
	void (*teardown)(struct bench_ctx *ctx);
};

/* One workload. Its rows are "<name> <op>" for each metric and implementation. */
struct bench_case {
	const char *name;                       /* row label; n and size are appended */
	const char *unit;                       /* "ns/op" or "ms" */
	const char *metrics[BENCH_METRICS_MAX]; /* operation names; unused ones NULL */
	size_t n;                               /* count parameter, 0 if none */
	size_t size;                            /* byte parameter, 0 if none */
	size_t smoke_size;                      /* size under --smoke; 0: same as size */
	size_t page_size;                       /* page size parameter, 0 if none */
	int (*check)(struct bench_ctx *ctx);    /* optional: BENCH_SKIP for every impl */
	const struct bench_impl *impls;         /* hugemem first */
	unsigned n_impls;
};

struct bench_suite {
	const char *name;
	const char *note;    /* printed under the suite's header */
	unsigned smoke_reps; /* repetitions under --smoke; 0: 2 */
	const struct bench_case *cases;
	unsigned n_cases;
};

#define BENCH_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#define BENCH_DECLARE_SUITE(name) extern const struct bench_suite bench_suite_##name;
BENCH_SUITES(BENCH_DECLARE_SUITE)

/* Helpers from main.c. */

/* CLOCK_MONOTONIC in nanoseconds. */
uint64_t bench_now_ns(void);
/* Let the calling thread (a forked child) run on every CPU again: for cases,
 * like init, whose implementations may use several threads. */
void bench_unpin(void);

/* A small, fast generator for shuffles (splitmix64); state is any seed. */
uint64_t bench_rand(uint64_t *state);

/* Fisher-Yates shuffle of idx[0..n) with bench_rand(state). */
void bench_shuffle(uint32_t *idx, size_t n, uint64_t *state);

/* Free hugepages of page_size bytes from /sys/kernel/mm/hugepages, 0 if none or unknown. */
unsigned long bench_hugepages_free(size_t page_size);

/* Format a byte count as "512 MiB", "2 MiB", "4 KiB" into buf. */
const char *bench_size_str(char *buf, size_t len, size_t size);

/*
 * Set ctx->msg to the calling process's memory: "resident X MiB + hugetlb
 * Y MiB" (VmRSS and HugetlbPages); a row shows the note of its last repetition.
 */
void bench_note_memory(struct bench_ctx *ctx);

/* Set ctx->msg, printf-style; returns rc, so "return bench_msg(ctx, rc, ...)" reads well. */
int bench_msg(struct bench_ctx *ctx, int rc, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/*
 * Zone operations for bench_memzone_measure(), so that hugemem and DPDK run
 * the very same loop. Each takes and returns the peer's zone pointer as a
 * const void *; reserve and lookup return NULL on failure, free returns 0
 * or a nonzero error.
 */
struct bench_zone_ops {
	const char *name;
	const void *(*reserve)(const char *name, size_t len);
	const void *(*lookup)(const char *name);
	int (*free)(const void *zone);
	const char *(*last_error)(void); /* why the last reserve or free failed */
};

/*
 * The memzone workload (memzone.c): reserve ctx->n zones of 64 bytes named
 * "z%u", look each up in a random order, free them all; repeated until
 * each operation has run about ctx->target_ns worth. out[0..2] are ns per
 * reserve, lookup and free. setup() must have called
 * bench_memzone_prepare() in the same process.
 */
int bench_memzone_prepare(struct bench_ctx *ctx);
int bench_memzone_measure(struct bench_ctx *ctx, const struct bench_zone_ops *ops, double *out);
void bench_memzone_release(struct bench_ctx *ctx);

/*
 * An allocator for the malloc suite (malloc.c): hugemem and every peer run
 * the very same loops through these pointers. alloc returns NULL on failure;
 * free is never given NULL.
 */
struct bench_malloc_ops {
	const char *name;
	void *(*alloc)(size_t size);
	void (*free)(void *p);
};

/*
 * The malloc workloads (malloc.c), in the process that measures.
 * bench_malloc_prepare() draws the case's random slots and sizes and fills
 * its live set through ops (ctx->state); bench_malloc_measure() is one
 * repetition, out[0] ns per pair or per replace; bench_malloc_release()
 * frees the live set through ops and unmaps the rest.
 */
int bench_malloc_prepare(struct bench_ctx *ctx, const struct bench_malloc_ops *ops);
int bench_malloc_measure(struct bench_ctx *ctx, double *out);
void bench_malloc_release(struct bench_ctx *ctx);

/* The ring suite's rings, hugemem's and every peer's: slots (capacity one fewer). */
#define BENCH_RING_SIZE 4096

/*
 * A ring library for the ring suite (ring.c). The timed loops call the
 * library's inline enqueue and dequeue directly: each member is one whole
 * loop, written once per library in textually parallel functions (ring.c
 * for hugemem, peers/<peer>.c for the peer), so the indirect call through
 * this table comes once per chunk of thousands of objects, never per
 * operation. ring is the library's ring; objs has room for n pointers.
 *   single(ring, iters)     iters times: enqueue one object with the
 *                           single-object call, dequeue it with the other.
 *   bulk(ring, objs, n, iters), burst(...)
 *                           iters times: enqueue objs[0..n) in one bulk
 *                           (burst) call, dequeue n into objs in another.
 *   produce(ring, objs, n, count)
 *                           enqueue objs[0..n) in bulks until count objects
 *                           went in, pausing while the ring is full.
 *   consume(ring, objs, n, count)
 *                           dequeue bulks of n into objs until count objects
 *                           came out, pausing while it is empty; returns how
 *                           many came out.
 *   count(ring)             objects in the ring now.
 * single, bulk and burst return 0, or -EIO if a call moved fewer objects
 * than asked (the ring is empty when they start, so none should).
 */
struct bench_ring_ops {
	const char *name;
	int (*single)(void *ring, uint64_t iters);
	int (*bulk)(void *ring, void **objs, unsigned n, uint64_t iters);
	int (*burst)(void *ring, void **objs, unsigned n, uint64_t iters);
	void (*produce)(void *ring, void *const *objs, unsigned n, uint64_t count);
	uint64_t (*consume)(void *ring, void **objs, unsigned n, uint64_t count);
	unsigned (*count)(const void *ring);
};

/*
 * The ring workloads (ring.c), in the process that measures.
 * bench_ring_prepare() takes the implementation's two empty rings of
 * BENCH_RING_SIZE slots, spsc (single producer and consumer) and mpmc, and
 * its object buffers (ctx->state); bench_ring_measure() is one repetition
 * of the case, out[m] ns per object for each of its operations;
 * bench_ring_release() frees the buffers (the rings are the caller's).
 */
int bench_ring_prepare(struct bench_ctx *ctx, const struct bench_ring_ops *ops, void *spsc,
		       void *mpmc);
int bench_ring_measure(struct bench_ctx *ctx, double *out);
void bench_ring_release(struct bench_ctx *ctx);

/* The mempool suite's pools: objects, and objects a loop holds at most (mempool.c). */
#define BENCH_MEMPOOL_N    8191
#define BENCH_MEMPOOL_KEEP 128

/*
 * An object source for the mempool suite (mempool.c). loop(pool, objs, n,
 * iters) runs iters times: get BENCH_MEMPOOL_KEEP objects into objs in calls
 * of n, then put them all back in calls of n; 0, or -EIO if a get failed.
 * It is written once per library, textually parallel (mempool.c for hugemem,
 * peers/dpdk.c for DPDK), calling the library's inline calls directly.
 * launch(fn, arg) and wait(), if set, run fn(arg) on the second thread of a
 * 2-thread case (DPDK's lcore 1: rte_eal_remote_launch); NULL: a pthread on
 * CPU 1.
 */
struct bench_objs_ops {
	const char *name;
	int (*loop)(void *pool, void **objs, unsigned n, uint64_t iters);
	int (*launch)(int (*fn)(void *), void *arg);
	void (*wait)(void);
};

/*
 * The mempool workloads (mempool.c), in the process that measures.
 * bench_objs_spec() gives the case's object size and cache size;
 * bench_objs_two_lcores() whether it needs a second thread (DPDK: -l 0-1);
 * bench_objs_prepare() takes the implementation's pool (ctx->state);
 * bench_objs_malloc_prepare() makes a "pool" of malloc/free of the case's
 * size; bench_objs_measure() is one repetition (out[m] ns per object for
 * n = 1, 4, 32, 128); bench_objs_release() frees the state (the pool is the
 * caller's).
 */
void bench_objs_spec(const struct bench_ctx *ctx, size_t *elt_size, unsigned *cache_size);
bool bench_objs_two_lcores(const struct bench_ctx *ctx);
int bench_objs_prepare(struct bench_ctx *ctx, const struct bench_objs_ops *ops, void *pool);
int bench_objs_malloc_prepare(struct bench_ctx *ctx, const struct bench_malloc_ops *m);
int bench_objs_measure(struct bench_ctx *ctx, double *out);
void bench_objs_release(struct bench_ctx *ctx);

/*
 * The slab suite (slab.c): objects of one size allocated and freed on one
 * thread, in pairs or in batches; allocated on one thread and freed on
 * another; and blocks of a mix of sizes replaced at random.
 *
 * An allocation costs a few ns, so a call through a pointer per object
 * would distort it, and every implementation must still run the very same
 * loop. So each loop is written once, below, as an always_inline function
 * that takes the allocator's alloc and free as arguments, and
 * BENCH_SLAB_OPS() instantiates the loops for one allocator in the file that
 * knows its API (slab.c for hugemem's slab caches, kmalloc and mempool;
 * peers/<peer>.c for the others). There alloc and free are always_inline
 * functions passed as constants, which the compiler inlines into the loops
 * (-O2; the disassembly shows hugemem's fast paths inline, the peers' own
 * calls, mallocx, mi_malloc, tc_malloc, called straight, and no indirect
 * call but glibc's, whose malloc is a pointer from dlsym()). The driver calls one loop per chunk of thousands
 * of objects through struct bench_slab_ops.
 *
 * pool is the implementation's (a slab cache, a mempool; NULL for malloc),
 * size the case's object size; alloc returns NULL on failure, and free is
 * never given NULL.
 */
typedef void *bench_slab_alloc_fn(void *pool, size_t size);
typedef void bench_slab_free_fn(void *pool, void *p);

/* The cross-thread case's queue of objects (slab.c): single producer, single consumer. */
struct bench_xfer;

/* Objects the cross-thread loops move through the queue at a time. */
#define BENCH_XFER_BULK 32u

/* Put objs[0..n) on q, pausing while it is full. */
void bench_xfer_put(struct bench_xfer *q, void *const *objs, unsigned n);
/* Take n objects from q into objs, pausing while it has fewer: n, or 0 if the
 * producer gave up (bench_xfer_abort) and fewer than n are left. */
unsigned bench_xfer_get(struct bench_xfer *q, void **objs, unsigned n);

/* The random-replace workload: the live set and the drawn operations. */
struct bench_slab_mix {
	void **live;           /* the live blocks, by slot */
	const uint32_t *slot;  /* slot of the i-th replace, cycled */
	const uint32_t *size;  /* size of the i-th new block, cycled */
	size_t n_slot;         /* length of slot[] */
	size_t n_size;         /* length of size[], coprime with n_slot */
	size_t i_slot, i_size; /* the next entries, carried over between calls */
};

#define BENCH_SLAB_LOOP static inline __attribute__((always_inline))
/* How the allocators' alloc and free given to BENCH_SLAB_OPS are declared. */
#define BENCH_SLAB_INLINE static inline __attribute__((always_inline))

/* iters times: allocate an object, write its first byte, free it. */
BENCH_SLAB_LOOP int bench_slab_pairs_loop(void *pool, size_t size, uint64_t iters,
					  bench_slab_alloc_fn *alloc, bench_slab_free_fn *dealloc)
{
	for (uint64_t i = 0; i < iters; i++) {
		char *p = alloc(pool, size);

		if (__builtin_expect(p == NULL, 0))
			return -ENOMEM;
		p[0] = (char)i;
		dealloc(pool, p);
	}
	return 0;
}

/* iters times: allocate n objects into objs, writing each one's first byte,
 * then free them in the order they came. */
BENCH_SLAB_LOOP int bench_slab_batch_loop(void *pool, size_t size, void **objs, unsigned n,
					  uint64_t iters, bench_slab_alloc_fn *alloc,
					  bench_slab_free_fn *dealloc)
{
	for (uint64_t i = 0; i < iters; i++) {
		for (unsigned k = 0; k < n; k++) {
			char *p = alloc(pool, size);

			if (__builtin_expect(p == NULL, 0)) {
				while (k > 0)
					dealloc(pool, objs[--k]);
				return -ENOMEM;
			}
			p[0] = (char)k;
			objs[k] = p;
		}
		for (unsigned k = 0; k < n; k++)
			dealloc(pool, objs[k]);
	}
	return 0;
}

/*
 * The producer: count objects (a multiple of BENCH_XFER_BULK), each
 * allocated, given its sequence number in its first 8 bytes, and put on q
 * in bulks of BENCH_XFER_BULK through objs. 0, or -ENOMEM (the objects of
 * the unfinished bulk are freed; the caller aborts q).
 */
BENCH_SLAB_LOOP int bench_slab_produce_loop(void *pool, size_t size, struct bench_xfer *q,
					    void **objs, uint64_t count, bench_slab_alloc_fn *alloc,
					    bench_slab_free_fn *dealloc)
{
	for (uint64_t sent = 0; sent < count; sent += BENCH_XFER_BULK) {
		for (unsigned k = 0; k < BENCH_XFER_BULK; k++) {
			uint64_t seq = sent + k;
			void *p = alloc(pool, size);

			if (__builtin_expect(p == NULL, 0)) {
				while (k > 0)
					dealloc(pool, objs[--k]);
				return -ENOMEM;
			}
			memcpy(p, &seq, sizeof(seq));
			objs[k] = p;
		}
		bench_xfer_put(q, objs, BENCH_XFER_BULK);
	}
	return 0;
}

/*
 * The consumer: take bulks of BENCH_XFER_BULK from q through objs until
 * count objects came (or the producer gave up), read each one's sequence
 * number into *sum and free it. Returns the objects freed.
 */
BENCH_SLAB_LOOP uint64_t bench_slab_consume_loop(void *pool, struct bench_xfer *q, void **objs,
						 uint64_t count, uint64_t *sum,
						 bench_slab_free_fn *dealloc)
{
	uint64_t got, s = 0;

	for (got = 0; got < count; got += BENCH_XFER_BULK) {
		if (bench_xfer_get(q, objs, BENCH_XFER_BULK) == 0)
			break;
		for (unsigned k = 0; k < BENCH_XFER_BULK; k++) {
			uint64_t seq;

			memcpy(&seq, objs[k], sizeof(seq));
			s += seq;
			dealloc(pool, objs[k]);
		}
	}
	*sum = s;
	return got;
}

/* count random replaces: free the block of the next slot, allocate one of
 * the next size in its place and write its first byte. 0, or -ENOMEM (the
 * slot is left NULL). */
BENCH_SLAB_LOOP int bench_slab_mix_loop(void *pool, struct bench_slab_mix *m, uint64_t count,
					bench_slab_alloc_fn *alloc, bench_slab_free_fn *dealloc)
{
	size_t i_slot = m->i_slot, i_size = m->i_size;
	int rc = 0;

	for (uint64_t k = 0; k < count; k++) {
		uint32_t slot = m->slot[i_slot];
		char *p;

		dealloc(pool, m->live[slot]);
		p = alloc(pool, m->size[i_size]);
		m->live[slot] = p;
		if (__builtin_expect(p == NULL, 0)) {
			rc = -ENOMEM;
			break;
		}
		p[0] = (char)k;
		if (++i_slot == m->n_slot)
			i_slot = 0;
		if (++i_size == m->n_size)
			i_size = 0;
	}
	m->i_slot = i_slot;
	m->i_size = i_size;
	return rc;
}

/* One implementation of the slab suite: its loops, and its alloc and free for untimed work. */
struct bench_slab_ops {
	const char *name;
	int (*pairs)(void *pool, size_t size, uint64_t iters);
	int (*batch)(void *pool, size_t size, void **objs, unsigned n, uint64_t iters);
	int (*produce)(void *pool, size_t size, struct bench_xfer *q, void **objs, uint64_t count);
	uint64_t (*consume)(void *pool, struct bench_xfer *q, void **objs, uint64_t count,
			    uint64_t *sum);
	int (*mix)(void *pool, struct bench_slab_mix *m, uint64_t count);
	bench_slab_alloc_fn *alloc; /* setup and teardown: the live set of the mix */
	bench_slab_free_fn *free;
};

/*
 * BENCH_SLAB_OPS(var, "name", alloc_fn, free_fn): the loops above for one
 * allocator, alloc_fn and free_fn being its bench_slab_alloc_fn and
 * bench_slab_free_fn (BENCH_SLAB_INLINE: gcc inlines a plain static inline
 * function into some loops and not into others), and the struct
 * bench_slab_ops var that holds them.
 */
#define BENCH_SLAB_OPS(var, impl_name, alloc_fn, free_fn)                                        \
	static int var##_pairs(void *pool, size_t size, uint64_t iters)                          \
	{                                                                                        \
		return bench_slab_pairs_loop(pool, size, iters, alloc_fn, free_fn);              \
	}                                                                                        \
	static int var##_batch(void *pool, size_t size, void **objs, unsigned n, uint64_t iters) \
	{                                                                                        \
		return bench_slab_batch_loop(pool, size, objs, n, iters, alloc_fn, free_fn);     \
	}                                                                                        \
	static int var##_produce(void *pool, size_t size, struct bench_xfer *q, void **objs,     \
				 uint64_t count)                                                 \
	{                                                                                        \
		return bench_slab_produce_loop(pool, size, q, objs, count, alloc_fn, free_fn);   \
	}                                                                                        \
	static uint64_t var##_consume(void *pool, struct bench_xfer *q, void **objs,             \
				      uint64_t count, uint64_t *sum)                             \
	{                                                                                        \
		return bench_slab_consume_loop(pool, q, objs, count, sum, free_fn);              \
	}                                                                                        \
	static int var##_mix(void *pool, struct bench_slab_mix *m, uint64_t count)               \
	{                                                                                        \
		return bench_slab_mix_loop(pool, m, count, alloc_fn, free_fn);                   \
	}                                                                                        \
	static const struct bench_slab_ops var = {                                               \
		.name = (impl_name),                                                             \
		.pairs = var##_pairs,                                                            \
		.batch = var##_batch,                                                            \
		.produce = var##_produce,                                                        \
		.consume = var##_consume,                                                        \
		.mix = var##_mix,                                                                \
		.alloc = (alloc_fn),                                                             \
		.free = (free_fn),                                                               \
	}

/*
 * The slab workloads (slab.c), in the process that measures.
 * bench_slab_prepare() takes the implementation's ops and pool and sets up
 * the case's buffers (the mix: draws its sizes and slots from the run's
 * seed and fills the live set; ctx->state); bench_slab_measure() is one
 * repetition, out[0] in ns per pair, per object or per replace;
 * bench_slab_release() frees the live set and the buffers (the pool is the
 * caller's).
 */
int bench_slab_prepare(struct bench_ctx *ctx, const struct bench_slab_ops *ops, void *pool);
/* Whether the case frees on a second thread what the first allocated. */
bool bench_slab_two_threads(const struct bench_ctx *ctx);
int bench_slab_measure(struct bench_ctx *ctx, double *out);
void bench_slab_release(struct bench_ctx *ctx);

/*
 * The bufpool suite (bufpool.c): hugemem's buffer pool (index-addressed
 * buffers, netmap's allocator) against hugemem's mempool and DPDK's
 * rte_mempool on buffers of BENCH_BUFPOOL_SIZE bytes. hm_bufpool_create asks
 * for BENCH_BUFPOOL_COUNT buffers (indices 0 and 1 reserved); the mempools
 * hold BENCH_MEMPOOL_N objects with a cache of BENCH_BUFPOOL_CACHE.
 * BENCH_BUFPOOL_LOOKUPS buffers are looked up: every usable one of the
 * buffer pool, as many of the mempools'.
 */
#define BENCH_BUFPOOL_COUNT   8192u
#define BENCH_BUFPOOL_SIZE    2048u
#define BENCH_BUFPOOL_CACHE   512u
#define BENCH_BUFPOOL_LOOKUPS (BENCH_BUFPOOL_COUNT - 2u)

/*
 * A buffer source for the bufpool suite. Like struct bench_objs_ops, each
 * member is one whole loop, written once per library, textually parallel
 * (bufpool.c for the buffer pool and hugemem's mempool, peers/dpdk.c for
 * DPDK), calling the library's inline calls directly; the driver calls one
 * loop per chunk of thousands of buffers. objs has room for
 * BENCH_MEMPOOL_KEEP pointers (the buffer pool keeps uint32_t indices in it).
 *   single(pool, objs, iters)     iters times: take BENCH_MEMPOOL_KEEP
 *                                 buffers with the one-buffer call, then give
 *                                 them back with the other, last first.
 *   bulk(pool, objs, n, iters)    the same in calls of n (the mempool
 *                                 suite's loop); 0, or -EIO if a take failed.
 *   addr, touch, iova(map, stream, n)
 *                                 for each of stream[0..n): the buffer's
 *                                 address (addr), a read of the buffer's
 *                                 first byte at that address (touch), its
 *                                 IOVA (iova); returns the sum of what it
 *                                 got, so that nothing is left out. map is
 *                                 the buffer pool itself, or a mempool's
 *                                 table of its objects, stream a permutation
 *                                 of the buffers' indices (of the table's
 *                                 positions).
 *   launch(fn, arg), wait()       as in struct bench_objs_ops.
 */
struct bench_bufs_ops {
	const char *name;
	int (*single)(void *pool, void **objs, uint64_t iters);
	int (*bulk)(void *pool, void **objs, unsigned n, uint64_t iters);
	uint64_t (*addr)(const void *map, const uint32_t *stream, size_t n);
	uint64_t (*touch)(const void *map, const uint32_t *stream, size_t n);
	uint64_t (*iova)(const void *map, const uint32_t *stream, size_t n);
	int (*launch)(int (*fn)(void *), void *arg);
	void (*wait)(void);
};

/*
 * The bufpool workloads (bufpool.c), in the process that measures.
 * bench_bufs_two_threads() whether the case needs a second thread (DPDK:
 * -l 0-1), bench_bufs_lookups() whether it is the lookup case, whose setup
 * takes the BENCH_BUFPOOL_LOOKUPS buffers looked up out of the pool (the
 * lookups read buffers their caller holds; a free object may be poisoned)
 * and gives them back at teardown. bench_bufs_prepare() takes the
 * implementation's pool and map and draws the lookup stream from the run's
 * seed (ctx->state): a permutation of 0..BENCH_BUFPOOL_LOOKUPS-1, each i
 * replaced by names[i] (the buffer pool's indices held, in index order), or
 * kept as is (names NULL: positions in a table). bench_bufs_measure() is one
 * repetition (out[m] ns per buffer or per lookup); bench_bufs_release()
 * frees the state (pool and map are the caller's).
 *
 * For both mempools: bench_bufs_table_take() gets BENCH_BUFPOOL_LOOKUPS
 * objects with get (0 or an error, one object) into a new table, sorted by
 * address, so that a position in it stands for a buffer as an index does
 * (NULL and ctx->msg set if the pool ran short: the objects taken are put
 * back); bench_bufs_table_give() puts n of them back and frees the table
 * (NULL: nothing). bench_bufs_table_addr and bench_bufs_table_touch are the
 * addr and touch loops over such a table (map: void *const *).
 */
bool bench_bufs_two_threads(const struct bench_ctx *ctx);
bool bench_bufs_lookups(const struct bench_ctx *ctx);
int bench_bufs_prepare(struct bench_ctx *ctx, const struct bench_bufs_ops *ops, void *pool,
		       const void *map, const uint32_t *names);
int bench_bufs_measure(struct bench_ctx *ctx, double *out);
void bench_bufs_release(struct bench_ctx *ctx);
void **bench_bufs_table_take(struct bench_ctx *ctx, void *pool, int (*get)(void *, void **),
			     void (*put)(void *, void *));
void bench_bufs_table_give(void **tab, unsigned n, void *pool, void (*put)(void *, void *));
uint64_t bench_bufs_table_addr(const void *map, const uint32_t *stream, size_t n);
uint64_t bench_bufs_table_touch(const void *map, const uint32_t *stream, size_t n);

/*
 * Peers. Each group is defined in bench/peers/<peer>.c, which the build
 * compiles only when it found the peer and then defines HM_BENCH_HAVE_<PEER>.
 * Refer to them through BENCH_IF_<PEER>() so that a build without the peer
 * still links.
 */
#ifdef HM_BENCH_HAVE_GLIBC
#define BENCH_IF_GLIBC(fn) (fn)
#else
#define BENCH_IF_GLIBC(fn) NULL
#endif
#ifdef HM_BENCH_HAVE_DPDK
#define BENCH_IF_DPDK(fn) (fn)
#else
#define BENCH_IF_DPDK(fn) NULL
#endif
#ifdef HM_BENCH_HAVE_JEMALLOC
#define BENCH_IF_JEMALLOC(fn) (fn)
#else
#define BENCH_IF_JEMALLOC(fn) NULL
#endif
#ifdef HM_BENCH_HAVE_MIMALLOC
#define BENCH_IF_MIMALLOC(fn) (fn)
#else
#define BENCH_IF_MIMALLOC(fn) NULL
#endif
#ifdef HM_BENCH_HAVE_TCMALLOC
#define BENCH_IF_TCMALLOC(fn) (fn)
#else
#define BENCH_IF_TCMALLOC(fn) NULL
#endif

/* peers/dpdk.c: "22.11.x" */
const char *bench_dpdk_version(void);
/* init suite: rte_eal_init() in ms for ctx->size bytes of ctx->page_size pages, then cleanup. */
int bench_dpdk_init_measure(struct bench_ctx *ctx, double *out);
/* memzone suite, in a BENCH_F_FORK child: rte_eal_init --no-huge, the zone loop, cleanup. */
int bench_dpdk_memzone_setup(struct bench_ctx *ctx);
int bench_dpdk_memzone_measure(struct bench_ctx *ctx, double *out);
void bench_dpdk_memzone_teardown(struct bench_ctx *ctx);
/*
 * malloc suite, in a BENCH_F_FORK child: rte_eal_init --no-huge -m 2048, then
 * bench_malloc_prepare() with rte_malloc(NULL, size, 0)/rte_free; teardown
 * frees the live set and calls rte_eal_cleanup().
 */
int bench_dpdk_malloc_setup(struct bench_ctx *ctx);
void bench_dpdk_malloc_teardown(struct bench_ctx *ctx);

/*
 * ring suite, in a BENCH_F_FORK child: rte_eal_init --no-huge -m 512, two
 * rte_rings of BENCH_RING_SIZE (RING_F_SP_ENQ | RING_F_SC_DEQ, and 0), then
 * bench_ring_prepare() with loops over rte_ring's calls; teardown frees the
 * rings and calls rte_eal_cleanup().
 */
int bench_dpdk_ring_setup(struct bench_ctx *ctx);
void bench_dpdk_ring_teardown(struct bench_ctx *ctx);

/*
 * mempool suite, in a BENCH_F_FORK child: rte_eal_init --no-huge -m 512
 * -l 0-1 (-l 0 for the 1-thread cases), an rte_mempool of BENCH_MEMPOOL_N
 * objects with the case's size and cache, then bench_objs_prepare() with a
 * loop over rte_mempool_get_bulk/put_bulk; teardown frees the pool and calls
 * rte_eal_cleanup().
 */
int bench_dpdk_mempool_setup(struct bench_ctx *ctx);
void bench_dpdk_mempool_teardown(struct bench_ctx *ctx);

/*
 * bufpool suite, in a BENCH_F_FORK child: rte_eal_init --no-huge -m 512
 * -l 0-1 (-l 0 for the 1-thread cases), an rte_mempool of BENCH_MEMPOOL_N
 * objects of BENCH_BUFPOOL_SIZE bytes with a cache of BENCH_BUFPOOL_CACHE
 * (the lookup case: BENCH_BUFPOOL_LOOKUPS of them taken into a table, with
 * bench_bufs_table_take), then bench_bufs_prepare() with loops over
 * rte_mempool_get/put, the mempool suite's get_bulk/put_bulk loop and
 * rte_mempool_virt2iova; teardown puts the table's objects back, frees the
 * pool and calls rte_eal_cleanup().
 */
int bench_dpdk_bufpool_setup(struct bench_ctx *ctx);
void bench_dpdk_bufpool_teardown(struct bench_ctx *ctx);

/*
 * malloc suite, the other allocators: bench_malloc_prepare() with the
 * allocator's own entry points, which linking jemalloc, mimalloc or tcmalloc
 * does not replace. peers/glibc.c: libc.so.6's malloc/free, through dlsym()
 * (mimalloc and tcmalloc replace __libc_malloc too); peers/jemalloc.c:
 * mallocx/dallocx; peers/mimalloc.c: mi_malloc/mi_free; peers/tcmalloc.c:
 * tc_malloc/tc_free. glibc's skips if libc.so.6's own malloc cannot be found.
 */
int bench_glibc_malloc_setup(struct bench_ctx *ctx);
int bench_jemalloc_malloc_setup(struct bench_ctx *ctx);
int bench_mimalloc_malloc_setup(struct bench_ctx *ctx);
int bench_tcmalloc_malloc_setup(struct bench_ctx *ctx);

/* mempool suite: bench_objs_malloc_prepare() with the same entry points. */
int bench_glibc_objs_setup(struct bench_ctx *ctx);
int bench_jemalloc_objs_setup(struct bench_ctx *ctx);
int bench_mimalloc_objs_setup(struct bench_ctx *ctx);

/*
 * slab suite: bench_slab_prepare() with the loops of BENCH_SLAB_OPS over the
 * same entry points, called directly (inlined into the loops), not through
 * struct bench_malloc_ops.
 */
int bench_glibc_slab_setup(struct bench_ctx *ctx);
int bench_jemalloc_slab_setup(struct bench_ctx *ctx);
int bench_mimalloc_slab_setup(struct bench_ctx *ctx);
int bench_tcmalloc_slab_setup(struct bench_ctx *ctx);

#endif /* HM_BENCH_H */
