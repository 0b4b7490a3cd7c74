/* SPDX-License-Identifier: MIT */
/*
 * slab.c - the "slab" suite: hugemem's slab caches (hm_slab_alloc and
 * hm_slab_free) and general caches (hm_kmalloc and hm_kfree) against glibc
 * malloc, jemalloc, mimalloc, tcmalloc and hugemem's own mempool, on four
 * workloads:
 *
 *   pairs 16 B ... 2 KiB   allocate an object, write its first byte, free
 *                          it, over and over on one thread; ns per pair.
 *   batch 1000 x 64 B, 256 B
 *                          allocate 1,000 objects (writing the first byte
 *                          of each), then free them in the order they
 *                          came; ns per object (one alloc + one free).
 *   cross-thread 64 B      the benchmark's thread (CPU 0) allocates
 *                          XFER_COUNT objects (2^21; 2^14 under --smoke),
 *                          writes a sequence number into each and passes
 *                          them in bulks of 32 through a single-producer
 *                          single-consumer queue of 4,096 slots to a thread
 *                          on CPU 1, which reads each number and frees the
 *                          object: every object is freed by the thread that
 *                          did not allocate it. ns per object, from the
 *                          start signal to the consumer's last free. The
 *                          consumer must free exactly the count, and the
 *                          numbers must add up.
 *   kmalloc mix N=1000     1,000 live blocks of sizes log-uniform in 8 B to
 *                          4 KiB (2^x, x uniform in [3, 12)); each operation
 *                          frees a random live block and allocates one of a
 *                          new random size in its slot, writing its first
 *                          byte; ns per replace (one free + one alloc).
 *                          hugemem: hm_kmalloc and hm_kfree; the peers:
 *                          their malloc and free; no mempool row.
 *
 * The mix's randomness is drawn in setup from the run's seed (printed in the
 * header; --seed replays it), as in the malloc suite: 2^16 slot indices and
 * 2^16 - 1 sizes (coprime lengths), so every implementation replays the same
 * operations; setup fills the live set and runs 2N untimed replaces, and the
 * live set carries over from one repetition to the next.
 *
 * The loops: a pair costs a few ns, so a function pointer per call would
 * distort it. Each loop is written once, in bench.h (bench_slab_*_loop), and
 * BENCH_SLAB_OPS instantiates it for each implementation with that
 * allocator's calls inlined: below for hugemem (hm_slab_alloc/hm_slab_free,
 * hm_kmalloc/hm_kfree) and the mempool (hm_mempool_get/hm_mempool_put of
 * one object, spelled out), in peers/<peer>.c for glibc (libc.so.6's own malloc and free,
 * found with dlsym(): one indirect call each, as a call into a shared
 * library costs anyway), jemalloc (mallocx/dallocx), mimalloc
 * (mi_malloc/mi_free) and tcmalloc (tc_malloc/tc_free). We chose this over
 * struct bench_malloc_ops (the malloc suite's way): one text for every
 * implementation, and no call through a pointer per object for anyone. The
 * driver below calls one loop per chunk of thousands of objects.
 *
 * hugemem: hm_init with 4 KiB pages (no_huge) and memory_limit 1 GiB in the
 * child, then hm_slab_create("bench", size, 0, 0, NULL, NULL, NULL) for the
 * fixed-size cases; the kmalloc mix uses the general caches. hm_mempool:
 * the same hm_init, then a pool of BENCH_MEMPOOL_N (8,191) objects of the
 * case's size with a cache of 512 objects per thread, the default backend
 * (an MP/MC ring). Their rows note the share of allocs (and frees) the
 * thread's magazines (cache) did not serve, from the library's stats: a
 * slow path taken; an error the slab stats count (a refused free, bad
 * poison) fails the row. Under ThreadSanitizer the glibc row of the
 * cross-thread case is skipped (peers/glibc.c says why).
 *
 * Every implementation runs each case in a forked child of its own
 * (BENCH_F_FORK), so that jemalloc, mimalloc or tcmalloc replacing malloc in
 * the process distorts nobody, and they take turns repetition by
 * repetition. The suite's own buffers are mmap()ed, so no measured heap
 * holds them. A single-thread repetition runs chunks until about
 * ctx->target_ns (30 ms; 2 ms under --smoke) have passed.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>

#include <hugemem.h>
#include "bench.h"

#define SLAB_MEMORY_LIMIT ((size_t)1 << 30)
#define PAIRS_CHUNK       4096u               /* pairs between two clock reads */
#define BATCH_N           1000u               /* objects of a batch */
#define BATCH_CHUNK       16u                 /* batches between two clock reads */
#define XFER_SLOTS        4096u               /* the cross-thread queue, a power of two */
#define XFER_COUNT        (UINT64_C(1) << 21) /* objects moved per measurement */
#define XFER_COUNT_SMOKE  (UINT64_C(1) << 14)
#define XFER_ALIGN        128 /* the queue's sides on lines (and line pairs) of their own */
#define MIX_SIZE_MIN_LOG2 3   /* 8 B */
#define MIX_SIZE_MAX_LOG2 12  /* 4 KiB */
#define MIX_OPS_LEN       ((size_t)1 << 16) /* slot indices; sizes: one fewer */
#define MIX_OPS_LEN_SMOKE ((size_t)1 << 12)
#define MIX_CHUNK         256u /* replaces between two clock reads */
#define MIX_WARM_PASSES   2    /* untimed replaces after the fill, times N */
#define POOL_CACHE        512u
#define SECOND_CPU        1

_Static_assert(XFER_COUNT % BENCH_XFER_BULK == 0 && XFER_COUNT_SMOKE % BENCH_XFER_BULK == 0,
	       "the producer moves whole bulks");
_Static_assert(XFER_SLOTS % BENCH_XFER_BULK == 0, "a bulk never wraps the queue");

enum slab_kind { KIND_PAIRS, KIND_BATCH, KIND_XTHREAD, KIND_MIX };

/* What a case does, by the case's name. */
static const struct {
	const char *name;
	enum slab_kind kind;
} slab_kinds[] = {
	{"pairs", KIND_PAIRS},
	{"batch 1000 x", KIND_BATCH},
	{"cross-thread", KIND_XTHREAD},
	{"kmalloc mix", KIND_MIX},
};

static int kind_of(const struct bench_ctx *ctx, enum slab_kind *kind)
{
	for (size_t i = 0; i < BENCH_ARRAY_SIZE(slab_kinds); i++)
		if (strcmp(slab_kinds[i].name, ctx->c->name) == 0) {
			*kind = slab_kinds[i].kind;
			return 0;
		}
	return -EINVAL;
}

bool bench_slab_two_threads(const struct bench_ctx *ctx)
{
	enum slab_kind kind;

	return kind_of(ctx, &kind) == 0 && kind == KIND_XTHREAD;
}

/* ---- the cross-thread queue ---- */

static inline void cpu_pause(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#endif
}

/*
 * Lamport's queue: the producer owns tail, the consumer head, each reading
 * the other's only when its own copy says the queue is full or empty.
 */
struct bench_xfer {
	_Alignas(XFER_ALIGN) atomic_uint_fast64_t tail; /* objects put; the producer's */
	uint64_t head_seen;                             /* the producer's last look at head */
	_Alignas(XFER_ALIGN) atomic_uint_fast64_t head; /* objects taken; the consumer's */
	uint64_t tail_seen;                             /* the consumer's last look at tail */
	_Alignas(XFER_ALIGN) atomic_bool aborted;       /* the producer gave up */
	_Alignas(XFER_ALIGN) void *slot[XFER_SLOTS];
};

static void xfer_reset(struct bench_xfer *q)
{
	atomic_init(&q->tail, 0);
	atomic_init(&q->head, 0);
	atomic_init(&q->aborted, false);
	q->head_seen = q->tail_seen = 0;
}

void bench_xfer_put(struct bench_xfer *q, void *const *objs, unsigned n)
{
	/* Relaxed: only this thread writes tail. */
	uint64_t tail = atomic_load_explicit(&q->tail, memory_order_relaxed);

	while (tail + n - q->head_seen > XFER_SLOTS) {
		/* X1: acquire, pairs with X4: the consumer has read the slots it
		 * gave back before we overwrite them. */
		q->head_seen = atomic_load_explicit(&q->head, memory_order_acquire);
		if (tail + n - q->head_seen > XFER_SLOTS)
			cpu_pause();
	}
	for (unsigned k = 0; k < n; k++)
		q->slot[(tail + k) & (XFER_SLOTS - 1)] = objs[k];
	/* X2: release, pairs with X3: the slots (and the objects' contents) are
	 * written before the consumer sees them. */
	atomic_store_explicit(&q->tail, tail + n, memory_order_release);
}

unsigned bench_xfer_get(struct bench_xfer *q, void **objs, unsigned n)
{
	/* Relaxed: only this thread writes head. */
	uint64_t head = atomic_load_explicit(&q->head, memory_order_relaxed);

	while (q->tail_seen - head < n) {
		/* X3: acquire, pairs with X2. */
		q->tail_seen = atomic_load_explicit(&q->tail, memory_order_acquire);
		if (q->tail_seen - head >= n)
			break;
		/* X5: acquire, pairs with X6: once aborted is seen, tail is final. */
		if (atomic_load_explicit(&q->aborted, memory_order_acquire)) {
			q->tail_seen = atomic_load_explicit(&q->tail, memory_order_acquire);
			if (q->tail_seen - head < n)
				return 0;
			break;
		}
		cpu_pause();
	}
	for (unsigned k = 0; k < n; k++)
		objs[k] = q->slot[(head + k) & (XFER_SLOTS - 1)];
	/* X4: release, pairs with X1. */
	atomic_store_explicit(&q->head, head + n, memory_order_release);
	return n;
}

/* The producer failed: let the consumer take what was put, then stop. */
static void xfer_abort(struct bench_xfer *q)
{
	/* X6: release, pairs with X5. */
	atomic_store_explicit(&q->aborted, true, memory_order_release);
}

/* ---- the driver, shared by every implementation ---- */

/* One implementation's workload, in the child that measures it. */
struct slab_state {
	const struct bench_slab_ops *ops;
	void *pool;
	enum slab_kind kind;
	size_t size;
	void **objs;          /* BATCH_N pointers: a batch, or the producer's bulk */
	void **cons_objs;     /* the consumer's bulk */
	struct bench_xfer *q; /* the cross-thread case */
	struct bench_slab_mix mix;
	size_t mix_n;         /* live blocks of the mix so far */
	size_t mix_live_len;  /* bytes mapped for mix.live */
	uint32_t *mix_arrays; /* slot[] then size[], one mapping */
	size_t mix_arrays_len;
};

static void *map(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

static void unmap(void *p, size_t len)
{
	if (p)
		munmap(p, len);
}

/* A size log-uniform in [8, 4096): 2^x with x uniform in [3, 12). */
static uint32_t log_uniform(uint64_t *rng)
{
	double u = (double)(bench_rand(rng) >> 11) * 0x1p-53;

	return (uint32_t)exp2(MIX_SIZE_MIN_LOG2 + (MIX_SIZE_MAX_LOG2 - MIX_SIZE_MIN_LOG2) * u);
}

static void release_state(struct slab_state *st)
{
	if (st->mix.live) {
		for (size_t i = 0; i < st->mix_n; i++)
			if (st->mix.live[i])
				st->ops->free(st->pool, st->mix.live[i]);
		unmap(st->mix.live, st->mix_live_len);
	}
	unmap(st->mix_arrays, st->mix_arrays_len);
	unmap(st->objs, BATCH_N * sizeof(void *));
	unmap(st->cons_objs, BATCH_N * sizeof(void *));
	unmap(st->q, sizeof(*st->q));
	munmap(st, sizeof(*st));
}

void bench_slab_release(struct bench_ctx *ctx)
{
	if (ctx->state)
		release_state(ctx->state);
	ctx->state = NULL;
}

/* The mix: draw the operations, fill the live set, warm it up. */
static int prepare_mix(struct bench_ctx *ctx, struct slab_state *st)
{
	struct bench_slab_mix *m = &st->mix;
	uint64_t rng = ctx->seed;
	size_t n = ctx->n, i;
	uint32_t *slot, *size;

	m->n_slot = ctx->opts->smoke ? MIX_OPS_LEN_SMOKE : MIX_OPS_LEN;
	m->n_size = m->n_slot - 1;
	st->mix_arrays_len = (m->n_slot + m->n_size) * sizeof(uint32_t);
	st->mix_arrays = map(st->mix_arrays_len);
	st->mix_live_len = n * sizeof(void *);
	m->live = map(st->mix_live_len);
	if (!st->mix_arrays || !m->live)
		return bench_msg(ctx, -ENOMEM, "mmap of the workload arrays: %s", strerror(errno));
	slot = st->mix_arrays;
	size = slot + m->n_slot;
	for (i = 0; i < m->n_slot; i++)
		slot[i] = (uint32_t)(bench_rand(&rng) % n);
	for (i = 0; i < m->n_size; i++)
		size[i] = log_uniform(&rng);
	m->slot = slot;
	m->size = size;

	/* The initial live set takes the first n sizes. */
	for (i = 0; i < n; i++) {
		char *p = st->ops->alloc(st->pool, size[i % m->n_size]);

		if (!p)
			return bench_msg(ctx, -ENOMEM, "%s: fill: alloc(%u) failed with %zu live",
					 st->ops->name, size[i % m->n_size], i);
		p[0] = (char)i;
		m->live[i] = p;
		st->mix_n = i + 1;
	}
	m->i_size = n % m->n_size;
	/* Then MIX_WARM_PASSES * n replaces, untimed: every implementation is
	 * measured in its steady state, not in the packed layout of the fill. */
	if (st->ops->mix(st->pool, m, MIX_WARM_PASSES * n) != 0)
		return bench_msg(ctx, -ENOMEM, "%s: warming up, alloc(%u) failed", st->ops->name,
				 m->size[m->i_size]);
	return 0;
}

int bench_slab_prepare(struct bench_ctx *ctx, const struct bench_slab_ops *ops, void *pool)
{
	struct slab_state *st;
	int rc;

	st = map(sizeof(*st));
	if (!st)
		return bench_msg(ctx, -ENOMEM, "mmap: %s", strerror(errno));
	memset(st, 0, sizeof(*st));
	st->ops = ops;
	st->pool = pool;
	st->size = ctx->size;
	if (kind_of(ctx, &st->kind) != 0) {
		munmap(st, sizeof(*st));
		return bench_msg(ctx, -EINVAL, "no slab workload for case \"%s\"", ctx->c->name);
	}
	ctx->state = st;
	st->objs = map(BATCH_N * sizeof(void *));
	st->cons_objs = map(BATCH_N * sizeof(void *));
	if (st->kind == KIND_XTHREAD)
		st->q = map(sizeof(*st->q));
	if (!st->objs || !st->cons_objs || (st->kind == KIND_XTHREAD && !st->q))
		rc = bench_msg(ctx, -ENOMEM, "mmap: %s", strerror(errno));
	else if (st->kind == KIND_XTHREAD && st->size < sizeof(uint64_t))
		rc = bench_msg(ctx, -EINVAL, "cross-thread objects hold 8 bytes at least");
	else
		rc = st->kind == KIND_MIX ? prepare_mix(ctx, st) : 0;
	if (rc != 0)
		bench_slab_release(ctx);
	return rc;
}

/* The consumer of a cross-thread measurement, shared with its thread. */
struct consumer {
	const struct slab_state *st;
	uint64_t count;
	uint64_t got; /* objects freed; read after done */
	uint64_t sum; /* of their sequence numbers */
	atomic_uint ready;
	atomic_uint go;
	atomic_uint done;
};

static void *consumer_main(void *arg)
{
	struct consumer *c = arg;
	const struct slab_state *st = c->st;

	/* Relaxed: ready and go are only signals; everything the consumer reads
	 * was written before pthread_create(), which orders it. */
	atomic_store_explicit(&c->ready, 1, memory_order_relaxed);
	while (!atomic_load_explicit(&c->go, memory_order_relaxed))
		cpu_pause();
	c->got = st->ops->consume(st->pool, st->q, st->cons_objs, c->count, &c->sum);
	/* D1: release, pairs with D2 in the producer: got and sum are written
	 * before the producer reads them. */
	atomic_store_explicit(&c->done, 1, memory_order_release);
	return NULL;
}

/* One cross-thread measurement: count objects from CPU 0 to CPU 1; ns per object. */
static int time_cross_thread(struct bench_ctx *ctx, struct slab_state *st, double *out)
{
	struct consumer c;
	pthread_attr_t attr;
	pthread_t tid;
	cpu_set_t set;
	uint64_t t0, t1;
	int rc, prc;

	memset(&c, 0, sizeof(c));
	c.st = st;
	c.count = ctx->opts->smoke ? XFER_COUNT_SMOKE : XFER_COUNT;
	atomic_init(&c.ready, 0);
	atomic_init(&c.go, 0);
	atomic_init(&c.done, 0);
	xfer_reset(st->q);

	CPU_ZERO(&set);
	CPU_SET(SECOND_CPU, &set);
	rc = pthread_attr_init(&attr);
	if (rc == 0) {
		rc = pthread_attr_setaffinity_np(&attr, sizeof(set), &set);
		if (rc == 0)
			rc = pthread_create(&tid, &attr, consumer_main, &c);
		pthread_attr_destroy(&attr);
	}
	if (rc != 0)
		return bench_msg(ctx, rc == EINVAL ? BENCH_SKIP : -rc,
				 "no consumer thread on CPU %d: %s", SECOND_CPU, strerror(rc));

	/* Relaxed: see consumer_main(). */
	while (!atomic_load_explicit(&c.ready, memory_order_relaxed))
		cpu_pause();
	t0 = bench_now_ns();
	atomic_store_explicit(&c.go, 1, memory_order_relaxed);
	prc = st->ops->produce(st->pool, st->size, st->q, st->objs, c.count);
	if (prc != 0)
		xfer_abort(st->q);
	/* D2: acquire, pairs with D1 in the consumer. */
	while (!atomic_load_explicit(&c.done, memory_order_acquire))
		cpu_pause();
	t1 = bench_now_ns();
	pthread_join(tid, NULL);

	if (prc != 0)
		return bench_msg(ctx, prc, "%s: alloc(%zu) failed in the producer", st->ops->name,
				 st->size);
	if (c.got != c.count)
		return bench_msg(ctx, -EIO, "%s: the consumer freed %llu objects of %llu",
				 st->ops->name, (unsigned long long)c.got,
				 (unsigned long long)c.count);
	if (c.sum != c.count * (c.count - 1) / 2)
		return bench_msg(ctx, -EIO,
				 "%s: the sequence numbers the consumer read add up to %llu, "
				 "not %llu",
				 st->ops->name, (unsigned long long)c.sum,
				 (unsigned long long)(c.count * (c.count - 1) / 2));
	*out = (double)(t1 - t0) / (double)c.count;
	return 0;
}

int bench_slab_measure(struct bench_ctx *ctx, double *out)
{
	struct slab_state *st = ctx->state;
	const struct bench_slab_ops *ops = st->ops;
	uint64_t done = 0, t0, t1;
	int rc = 0;

	if (st->kind == KIND_XTHREAD) {
		rc = time_cross_thread(ctx, st, out);
		if (rc == 0)
			bench_note_memory(ctx);
		return rc;
	}
	t0 = bench_now_ns();
	do {
		switch (st->kind) {
		case KIND_PAIRS:
			rc = ops->pairs(st->pool, st->size, PAIRS_CHUNK);
			done += PAIRS_CHUNK;
			break;
		case KIND_BATCH:
			rc = ops->batch(st->pool, st->size, st->objs, BATCH_N, BATCH_CHUNK);
			done += (uint64_t)BATCH_CHUNK * BATCH_N;
			break;
		default:
			rc = ops->mix(st->pool, &st->mix, MIX_CHUNK);
			done += MIX_CHUNK;
			break;
		}
		t1 = bench_now_ns();
	} while (rc == 0 && t1 - t0 < ctx->target_ns);
	if (rc != 0) {
		size_t want = st->kind == KIND_MIX ? st->mix.size[st->mix.i_size] : st->size;

		return bench_msg(ctx, rc, "%s: alloc(%zu) failed", ops->name, want);
	}
	*out = (double)(t1 - t0) / (double)done;
	bench_note_memory(ctx);
	return 0;
}

/* A 2-thread case needs a second CPU. */
static int need_two_cpus(struct bench_ctx *ctx)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	if (n > SECOND_CPU)
		return 0;
	return bench_msg(ctx, BENCH_SKIP, "needs CPU %d for the consumer, %ld online", SECOND_CPU,
			 n);
}

/* Put "what; " in front of the memory note of a row. */
static void prefix_note(struct bench_ctx *ctx, const char *what)
{
	char mem[BENCH_MSG_MAX];

	memcpy(mem, ctx->msg, sizeof(mem));
	mem[sizeof(mem) - 1] = '\0';
	/* A note too long for the row is cut short, which is fine. */
	if (snprintf(ctx->msg, sizeof(ctx->msg), "%s%s%s", what, mem[0] ? "; " : "", mem) < 0)
		ctx->msg[0] = '\0';
}

static double percent(uint64_t part, uint64_t whole)
{
	return whole ? 100.0 * (double)part / (double)whole : 0.0;
}

/* ---- hugemem: slab caches and kmalloc ---- */

BENCH_SLAB_INLINE void *hugemem_slab_alloc(void *pool, size_t size)
{
	(void)size;
	return hm_slab_alloc(pool);
}

BENCH_SLAB_INLINE void hugemem_slab_free(void *pool, void *p)
{
	hm_slab_free(pool, p);
}

BENCH_SLAB_OPS(hugemem_slab_ops, "hugemem", hugemem_slab_alloc, hugemem_slab_free);

BENCH_SLAB_INLINE void *hugemem_kmalloc(void *pool, size_t size)
{
	(void)pool;
	return hm_kmalloc(size);
}

BENCH_SLAB_INLINE void hugemem_kfree(void *pool, void *p)
{
	(void)pool;
	hm_kfree(p);
}

BENCH_SLAB_OPS(hugemem_kmalloc_ops, "hugemem", hugemem_kmalloc, hugemem_kfree);

static struct hm_slab_cache *hugemem_cache; /* the fixed-size cases' */

static int hugemem_init(struct bench_ctx *ctx)
{
	struct hm_config cfg;
	int rc;

	hm_config_defaults(&cfg);
	cfg.no_huge = true;
	cfg.memory_limit = SLAB_MEMORY_LIMIT;
	rc = hm_init(&cfg);
	if (rc != 0)
		return bench_msg(ctx, rc, "hm_init: %s", hm_strerror(rc));
	return 0;
}

static int hugemem_setup(struct bench_ctx *ctx)
{
	enum slab_kind kind;
	int rc = kind_of(ctx, &kind);

	if (rc != 0)
		return bench_msg(ctx, rc, "no slab workload for case \"%s\"", ctx->c->name);
	rc = hugemem_init(ctx);
	if (rc != 0)
		return rc;
	if (kind == KIND_MIX) {
		rc = bench_slab_prepare(ctx, &hugemem_kmalloc_ops, NULL);
		if (rc != 0)
			hm_cleanup();
		return rc;
	}
	hugemem_cache = hm_slab_create("bench", ctx->size, 0, 0, NULL, NULL, NULL);
	if (!hugemem_cache) {
		rc = -errno;
		hm_cleanup();
		return bench_msg(ctx, rc, "hm_slab_create: %s", hm_strerror(-rc));
	}
	rc = bench_slab_prepare(ctx, &hugemem_slab_ops, hugemem_cache);
	if (rc != 0) {
		hm_slab_destroy(hugemem_cache);
		hugemem_cache = NULL;
		hm_cleanup();
	}
	return rc;
}

/* The counters of every general cache, summed. */
struct kmalloc_sums {
	unsigned caches;
	uint64_t allocs, frees, alloc_misses, free_misses, errors;
};

static void sum_kmalloc(struct hm_slab_cache *c, void *arg)
{
	struct kmalloc_sums *s = arg;
	struct hm_slab_stats st;

	memset(&st, 0, sizeof(st));
	if (hm_slab_get_stats(c, &st) != 0 || strncmp(st.name, "kmalloc-", 8) != 0)
		return;
	s->caches++;
	s->allocs += st.allocs;
	s->frees += st.frees;
	s->alloc_misses += st.alloc_misses;
	s->free_misses += st.free_misses;
	s->errors += st.errors;
}

/*
 * One repetition, then the library's own view of it: the share of allocs
 * and frees its magazines did not serve (a slow path taken), noted in the
 * row; an error it counted (a refused free, bad poison) fails the row.
 */
static int hugemem_measure(struct bench_ctx *ctx, double *out)
{
	char note[BENCH_MSG_MAX];
	int rc = bench_slab_measure(ctx, out);

	if (rc != 0)
		return rc;
	if (hugemem_cache) {
		struct hm_slab_stats st;

		memset(&st, 0, sizeof(st));
		rc = hm_slab_get_stats(hugemem_cache, &st);
		if (rc != 0)
			return bench_msg(ctx, rc, "hm_slab_get_stats: %s", hm_strerror(rc));
		if (st.errors != 0)
			return bench_msg(ctx, -EIO, "the cache counted %llu errors",
					 (unsigned long long)st.errors);
		snprintf(note, sizeof(note), "misses alloc %.2f%% free %.2f%%, %llu slabs",
			 percent(st.alloc_misses, st.allocs), percent(st.free_misses, st.frees),
			 (unsigned long long)st.total_slabs);
	} else {
		struct kmalloc_sums s;

		memset(&s, 0, sizeof(s));
		hm_slab_walk(sum_kmalloc, &s);
		if (s.errors != 0)
			return bench_msg(ctx, -EIO, "the kmalloc caches counted %llu errors",
					 (unsigned long long)s.errors);
		snprintf(note, sizeof(note), "misses alloc %.2f%% free %.2f%%, %u caches",
			 percent(s.alloc_misses, s.allocs), percent(s.free_misses, s.frees),
			 s.caches);
	}
	prefix_note(ctx, note);
	return 0;
}

static void hugemem_teardown(struct bench_ctx *ctx)
{
	bench_slab_release(ctx);
	if (hugemem_cache)
		hm_slab_destroy(hugemem_cache);
	hugemem_cache = NULL;
	hm_cleanup();
}

/* ---- hugemem's mempool: get and put of one object ---- */

/*
 * hm_mempool_get and hm_mempool_put spelled out: they are plain static
 * inline, and gcc leaves them out of line in some of the loops; the calls
 * they make are always_inline.
 */
BENCH_SLAB_INLINE void *mempool_get(void *pool, size_t size)
{
	void *obj;

	(void)size;
	return hm__mempool_get(pool, &obj, 1, hm__mempool_local(pool), true) == 0 ? obj : NULL;
}

BENCH_SLAB_INLINE void mempool_put(void *pool, void *p)
{
	hm__mempool_put(pool, &p, 1, hm__mempool_local(pool), true);
}

BENCH_SLAB_OPS(mempool_ops, "hm_mempool", mempool_get, mempool_put);

static struct hm_mempool *mempool_pool;

static int mempool_setup(struct bench_ctx *ctx)
{
	int rc = hugemem_init(ctx);

	if (rc != 0)
		return rc;
	mempool_pool = hm_mempool_create("bench", BENCH_MEMPOOL_N, ctx->size, POOL_CACHE, 0, NULL,
					 NULL, HM_SOCKET_ANY, 0);
	if (!mempool_pool) {
		rc = -errno;
		hm_cleanup();
		return bench_msg(ctx, rc, "hm_mempool_create: %s", hm_strerror(-rc));
	}
	rc = bench_slab_prepare(ctx, &mempool_ops, mempool_pool);
	if (rc != 0) {
		hm_mempool_destroy_force(mempool_pool);
		hm_cleanup();
	}
	return rc;
}

/* One repetition; the row notes the share of gets the threads' caches did not serve. */
static int mempool_measure(struct bench_ctx *ctx, double *out)
{
	struct hm_mempool_stats st;
	char note[BENCH_MSG_MAX];
	int rc = bench_slab_measure(ctx, out);

	if (rc != 0)
		return rc;
	memset(&st, 0, sizeof(st));
	if (hm_mempool_get_stats(mempool_pool, &st) == 0) {
		snprintf(note, sizeof(note), "cache misses %.2f%% of gets",
			 percent(st.cache_misses, st.get_calls));
		prefix_note(ctx, note);
	}
	return 0;
}

static void mempool_teardown(struct bench_ctx *ctx)
{
	bench_slab_release(ctx);
	hm_mempool_destroy(mempool_pool);
	hm_cleanup();
}

/* ---- the cases ---- */

/* The fixed-size cases: hugemem's slab cache, the malloc peers, hugemem's mempool. */
static const struct bench_impl fixed_impls[] = {
	{.name = "hugemem",
	 .flags = BENCH_F_FORK,
	 .setup = hugemem_setup,
	 .measure = hugemem_measure,
	 .teardown = hugemem_teardown},
	{.name = "glibc",
	 .flags = BENCH_F_PEER | BENCH_F_FORK,
	 .setup = BENCH_IF_GLIBC(bench_glibc_slab_setup),
	 .measure = BENCH_IF_GLIBC(bench_slab_measure),
	 .teardown = BENCH_IF_GLIBC(bench_slab_release)},
	{.name = "jemalloc",
	 .flags = BENCH_F_PEER | BENCH_F_FORK,
	 .setup = BENCH_IF_JEMALLOC(bench_jemalloc_slab_setup),
	 .measure = BENCH_IF_JEMALLOC(bench_slab_measure),
	 .teardown = BENCH_IF_JEMALLOC(bench_slab_release)},
	{.name = "mimalloc",
	 .flags = BENCH_F_PEER | BENCH_F_FORK,
	 .setup = BENCH_IF_MIMALLOC(bench_mimalloc_slab_setup),
	 .measure = BENCH_IF_MIMALLOC(bench_slab_measure),
	 .teardown = BENCH_IF_MIMALLOC(bench_slab_release)},
	{.name = "tcmalloc",
	 .flags = BENCH_F_PEER | BENCH_F_FORK,
	 .setup = BENCH_IF_TCMALLOC(bench_tcmalloc_slab_setup),
	 .measure = BENCH_IF_TCMALLOC(bench_slab_measure),
	 .teardown = BENCH_IF_TCMALLOC(bench_slab_release)},
	{.name = "hm_mempool",
	 .flags = BENCH_F_PEER | BENCH_F_FORK,
	 .setup = mempool_setup,
	 .measure = mempool_measure,
	 .teardown = mempool_teardown},
};

/* The kmalloc mix: hugemem's general caches and the malloc peers. */
static const struct bench_impl mix_impls[] = {
	{.name = "hugemem",
	 .flags = BENCH_F_FORK,
	 .setup = hugemem_setup,
	 .measure = hugemem_measure,
	 .teardown = hugemem_teardown},
	{.name = "glibc",
	 .flags = BENCH_F_PEER | BENCH_F_FORK,
	 .setup = BENCH_IF_GLIBC(bench_glibc_slab_setup),
	 .measure = BENCH_IF_GLIBC(bench_slab_measure),
	 .teardown = BENCH_IF_GLIBC(bench_slab_release)},
	{.name = "jemalloc",
	 .flags = BENCH_F_PEER | BENCH_F_FORK,
	 .setup = BENCH_IF_JEMALLOC(bench_jemalloc_slab_setup),
	 .measure = BENCH_IF_JEMALLOC(bench_slab_measure),
	 .teardown = BENCH_IF_JEMALLOC(bench_slab_release)},
	{.name = "mimalloc",
	 .flags = BENCH_F_PEER | BENCH_F_FORK,
	 .setup = BENCH_IF_MIMALLOC(bench_mimalloc_slab_setup),
	 .measure = BENCH_IF_MIMALLOC(bench_slab_measure),
	 .teardown = BENCH_IF_MIMALLOC(bench_slab_release)},
	{.name = "tcmalloc",
	 .flags = BENCH_F_PEER | BENCH_F_FORK,
	 .setup = BENCH_IF_TCMALLOC(bench_tcmalloc_slab_setup),
	 .measure = BENCH_IF_TCMALLOC(bench_slab_measure),
	 .teardown = BENCH_IF_TCMALLOC(bench_slab_release)},
};

#define SLAB_CASE(label, unit_name, metric, count, bytes, check_fn, impl_list)             \
	{                                                                                  \
		.name = (label), .unit = (unit_name), .metrics = {(metric)}, .n = (count), \
		.size = (bytes), .check = (check_fn), .impls = (impl_list),                \
		.n_impls = BENCH_ARRAY_SIZE(impl_list),                                    \
	}

/* The names must match slab_kinds[]. */
static const struct bench_case slab_cases[] = {
	SLAB_CASE("pairs", "ns/op", "pair", 0, 16, NULL, fixed_impls),
	SLAB_CASE("pairs", "ns/op", "pair", 0, 64, NULL, fixed_impls),
	SLAB_CASE("pairs", "ns/op", "pair", 0, 256, NULL, fixed_impls),
	SLAB_CASE("pairs", "ns/op", "pair", 0, 2048, NULL, fixed_impls),
	SLAB_CASE("batch 1000 x", "ns/obj", "object", 0, 64, NULL, fixed_impls),
	SLAB_CASE("batch 1000 x", "ns/obj", "object", 0, 256, NULL, fixed_impls),
	SLAB_CASE("cross-thread", "ns/obj", "object", 0, 64, need_two_cpus, fixed_impls),
	SLAB_CASE("kmalloc mix", "ns/op", "replace", 1000, 0, NULL, mix_impls),
};

const struct bench_suite bench_suite_slab = {
	.name = "slab",
	.note = "fixed-size alloc+free pairs; batches of 1000 allocs then 1000 frees; "
		"cross-thread: alloc on CPU 0, free on CPU 1 (2^21 objects; --smoke 2^14); "
		"kmalloc mix: random replace of N live blocks of 8 B-4 KiB; "
		"one child per case and implementation",
	.cases = slab_cases,
	.n_cases = BENCH_ARRAY_SIZE(slab_cases),
};
