/* SPDX-License-Identifier: MIT */
/*
 * ring.c - the "ring" suite: hugemem's ring against DPDK's rte_ring, by the
 * method of DPDK's ring_perf_autotest (app/test/test_ring_perf.c), on rings
 * of BENCH_RING_SIZE = 4096 slots of pointers (4095 objects), one SP/SC
 * (HM_RING_SP_ENQ | HM_RING_SC_DEQ; RING_F_SP_ENQ | RING_F_SC_DEQ) and one
 * MP/MC (flags 0). Every figure is ns per object:
 *
 *   1 thread   on the empty ring, enqueue n objects and dequeue them, over
 *              and over: n = 1 with the single-object calls (hm_ring_enqueue
 *              and hm_ring_dequeue; rte_ring_enqueue and rte_ring_dequeue),
 *              n = 8, 32 and 128 with the bulk calls, n = 32 with the burst
 *              calls. ns per object enqueued and dequeued (so for n = 1, per
 *              enqueue+dequeue pair).
 *   2 threads  a producer on CPU 0 enqueues a fixed number of objects (2^22;
 *              2^15 under --smoke) in bulks of n = 8, 32 or 128, and a consumer
 *              thread on CPU 1 dequeues bulks of n until it has them all; each
 *              pauses while the ring is full or empty. ns per object moved,
 *              from the start signal to the consumer's last dequeue. The
 *              consumer must get exactly the count, the ring must be empty
 *              afterwards, and the last bulk must hold the producer's values.
 *
 * Both libraries are called through their generic calls (hm_ring_enqueue_bulk,
 * rte_ring_enqueue_bulk, ...), which pick the SP or MP path from the ring's
 * creation flags; n is a run-time argument, as in ring_perf_autotest, so no
 * loop is specialised for one n.
 *
 * The loops: an operation costs a few ns, so a function pointer per call
 * would distort it. Every timed loop is therefore written twice, textually
 * parallel, each calling its library's inline functions directly: the
 * hugemem_* loops below, and the dpdk_ring_* loops in peers/dpdk.c (same
 * statements, same order, same checks). What the libraries share is the
 * driver below (timing, the consumer thread, the checks), which calls one
 * loop per chunk through struct bench_ring_ops: one indirect call per 8,192
 * objects (1 thread) or per run (2 threads).
 *
 * A case times up to four operations, in the order of its metrics; each
 * gets about ctx->target_ns (30 ms) per repetition, a 1-thread one in chunks
 * of 8,192 objects with a clock read after each; under --smoke the case's
 * 2 ms is split between them. Each implementation runs in a forked child of
 * its own (BENCH_F_FORK), so the two take turns repetition by repetition:
 * hugemem after hm_init (4 KiB pages, memory_limit 64 MiB), DPDK after
 * rte_eal_init --no-huge -m 512 (peers/dpdk.c). The child's main thread is
 * the benchmark's, pinned to CPU 0; the consumer is a thread created for
 * each 2-thread measurement, pinned to CPU 1.
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

#define RING_MEMORY_LIMIT ((size_t)64 << 20)
#define CHUNK_OBJS        8192u               /* 1 thread: objects between two clock reads */
#define MOVE_COUNT        (UINT64_C(1) << 22) /* 2 threads: objects moved per measurement */
#define MOVE_COUNT_SMOKE  (UINT64_C(1) << 15)
#define BULK_MAX          128u /* the largest n of any case */
#define CONSUMER_CPU      1

enum ring_form { FORM_SINGLE, FORM_BULK, FORM_BURST };

/* One operation of a case: which ring, which calls, how many objects a call. */
struct ring_op {
	const char *metric; /* the case's metric name, checked in prepare */
	bool mpmc;          /* the MP/MC ring, else the SP/SC one */
	enum ring_form form;
	unsigned n;
};

/* What a case does, by the case's name. */
struct ring_spec {
	const char *name;
	unsigned threads; /* 1, or 2: producer and consumer */
	struct ring_op op[BENCH_METRICS_MAX];
};

#define SPSC false
#define MPMC true

static const struct ring_spec ring_specs[] = {
	{"SP/SC 1 thread",
	 1,
	 {{"single", SPSC, FORM_SINGLE, 1},
	  {"bulk 8", SPSC, FORM_BULK, 8},
	  {"bulk 32", SPSC, FORM_BULK, 32},
	  {"bulk 128", SPSC, FORM_BULK, 128}}},
	{"MP/MC 1 thread",
	 1,
	 {{"single", MPMC, FORM_SINGLE, 1},
	  {"bulk 8", MPMC, FORM_BULK, 8},
	  {"bulk 32", MPMC, FORM_BULK, 32},
	  {"bulk 128", MPMC, FORM_BULK, 128}}},
	{"burst 32 1 thread",
	 1,
	 {{"SP/SC", SPSC, FORM_BURST, 32}, {"MP/MC", MPMC, FORM_BURST, 32}}},
	{"SP/SC 2 threads",
	 2,
	 {{"bulk 8", SPSC, FORM_BULK, 8},
	  {"bulk 32", SPSC, FORM_BULK, 32},
	  {"bulk 128", SPSC, FORM_BULK, 128}}},
	{"MP/MC 2 threads",
	 2,
	 {{"bulk 8", MPMC, FORM_BULK, 8},
	  {"bulk 32", MPMC, FORM_BULK, 32},
	  {"bulk 128", MPMC, FORM_BULK, 128}}},
};

/* One implementation's rings and buffers, in the child that measures it. */
struct ring_state {
	const struct bench_ring_ops *ops;
	const struct ring_spec *spec;
	void *ring[2];     /* [0] SP/SC, [1] MP/MC */
	void **prod_objs;  /* the objects enqueued: 1 .. BULK_MAX, on lines of their own */
	void **cons_objs;  /* where the consumer thread dequeues */
	void **local_objs; /* where a 1-thread loop dequeues */
};

/* The consumer of a 2-thread measurement, shared with its thread. */
struct consumer {
	const struct bench_ring_ops *ops;
	void *ring;
	void **objs;
	unsigned n;
	uint64_t count;
	uint64_t got; /* objects it dequeued; read after done */
	atomic_uint ready;
	atomic_uint go;
	atomic_uint done;
};

static inline void cpu_pause(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#endif
}

/* ---- the driver, shared by every implementation ---- */

static void **alloc_objs(void)
{
	void **p = aligned_alloc(HM_CACHE_LINE, BULK_MAX * sizeof(void *));

	if (p)
		memset(p, 0, BULK_MAX * sizeof(void *));
	return p;
}

void bench_ring_release(struct bench_ctx *ctx)
{
	struct ring_state *st = ctx->state;

	if (!st)
		return;
	free(st->prod_objs);
	free(st->cons_objs);
	free(st->local_objs);
	free(st);
	ctx->state = NULL;
}

int bench_ring_prepare(struct bench_ctx *ctx, const struct bench_ring_ops *ops, void *spsc,
		       void *mpmc)
{
	const struct ring_spec *spec = NULL;
	struct ring_state *st;
	unsigned i, m;

	for (i = 0; i < BENCH_ARRAY_SIZE(ring_specs); i++)
		if (strcmp(ring_specs[i].name, ctx->c->name) == 0)
			spec = &ring_specs[i];
	for (m = 0; spec && m < BENCH_METRICS_MAX; m++)
		if ((spec->op[m].metric == NULL) != (ctx->c->metrics[m] == NULL) ||
		    (spec->op[m].metric && strcmp(spec->op[m].metric, ctx->c->metrics[m]) != 0))
			spec = NULL;
	if (!spec)
		return bench_msg(ctx, -EINVAL, "no ring workload matches case %s", ctx->c->name);

	st = calloc(1, sizeof(*st));
	if (!st)
		return bench_msg(ctx, -ENOMEM, "out of memory");
	ctx->state = st;
	st->ops = ops;
	st->spec = spec;
	st->ring[0] = spsc;
	st->ring[1] = mpmc;
	st->prod_objs = alloc_objs();
	st->cons_objs = alloc_objs();
	st->local_objs = alloc_objs();
	if (!st->prod_objs || !st->cons_objs || !st->local_objs) {
		bench_ring_release(ctx);
		return bench_msg(ctx, -ENOMEM, "out of memory");
	}
	for (i = 0; i < BULK_MAX; i++)
		st->prod_objs[i] = (void *)(uintptr_t)(i + 1);
	if (ops->count(spsc) != 0 || ops->count(mpmc) != 0) {
		bench_ring_release(ctx);
		return bench_msg(ctx, -EINVAL, "%s: a new ring is not empty", ops->name);
	}
	return 0;
}

/* One 1-thread operation for about budget ns: ns per object in *out. */
static int time_one_thread(struct bench_ctx *ctx, const struct ring_op *op, uint64_t budget,
			   double *out)
{
	struct ring_state *st = ctx->state;
	const struct bench_ring_ops *ops = st->ops;
	void *ring = st->ring[op->mpmc];
	uint64_t iters = CHUNK_OBJS / op->n, done = 0, start, now;
	void **objs = st->local_objs;
	int rc;

	/* The objects the loops enqueue: objs is also where they dequeue. */
	memcpy(objs, st->prod_objs, op->n * sizeof(void *));
	start = bench_now_ns();
	do {
		switch (op->form) {
		case FORM_SINGLE:
			rc = ops->single(ring, iters);
			break;
		case FORM_BULK:
			rc = ops->bulk(ring, objs, op->n, iters);
			break;
		default:
			rc = ops->burst(ring, objs, op->n, iters);
			break;
		}
		now = bench_now_ns();
		if (rc != 0)
			return bench_msg(ctx, rc, "%s: %s: a call on the empty ring moved too few",
					 ops->name, op->metric);
		done += iters;
	} while (now - start < budget);

	if (ops->count(ring) != 0)
		return bench_msg(ctx, -EIO, "%s: %s: the ring is not empty afterwards", ops->name,
				 op->metric);
	*out = (double)(now - start) / (double)(done * op->n);
	return 0;
}

static void *consumer_main(void *arg)
{
	struct consumer *c = arg;

	/* Relaxed: ready and go are only signals; everything the consumer reads
	 * was written before pthread_create(), which orders it. */
	atomic_store_explicit(&c->ready, 1, memory_order_relaxed);
	while (!atomic_load_explicit(&c->go, memory_order_relaxed))
		cpu_pause();
	c->got = c->ops->consume(c->ring, c->objs, c->n, c->count);
	/* D1: release, pairs with D2 in the producer: got and the objects in
	 * objs are written before the producer reads them. */
	atomic_store_explicit(&c->done, 1, memory_order_release);
	return NULL;
}

/* One 2-thread operation: count objects from CPU 0 to CPU 1; ns per object in *out. */
static int time_two_threads(struct bench_ctx *ctx, const struct ring_op *op, double *out)
{
	struct ring_state *st = ctx->state;
	const struct bench_ring_ops *ops = st->ops;
	struct consumer c;
	pthread_attr_t attr;
	pthread_t tid;
	cpu_set_t set;
	uint64_t t0, t1;
	int rc;

	memset(&c, 0, sizeof(c));
	c.ops = ops;
	c.ring = st->ring[op->mpmc];
	c.objs = st->cons_objs;
	c.n = op->n;
	c.count = ctx->opts->smoke ? MOVE_COUNT_SMOKE : MOVE_COUNT;
	memset(c.objs, 0, BULK_MAX * sizeof(void *));
	atomic_init(&c.ready, 0);
	atomic_init(&c.go, 0);
	atomic_init(&c.done, 0);

	CPU_ZERO(&set);
	CPU_SET(CONSUMER_CPU, &set);
	rc = pthread_attr_init(&attr);
	if (rc == 0) {
		rc = pthread_attr_setaffinity_np(&attr, sizeof(set), &set);
		if (rc == 0)
			rc = pthread_create(&tid, &attr, consumer_main, &c);
		pthread_attr_destroy(&attr);
	}
	if (rc != 0)
		return bench_msg(ctx, rc == EINVAL ? BENCH_SKIP : -rc,
				 "no consumer thread on CPU %d: %s", CONSUMER_CPU, strerror(rc));

	/* Relaxed: see consumer_main(). */
	while (!atomic_load_explicit(&c.ready, memory_order_relaxed))
		cpu_pause();
	t0 = bench_now_ns();
	atomic_store_explicit(&c.go, 1, memory_order_relaxed);
	ops->produce(c.ring, st->prod_objs, op->n, c.count);
	/* D2: acquire, pairs with D1 in the consumer. */
	while (!atomic_load_explicit(&c.done, memory_order_acquire))
		cpu_pause();
	t1 = bench_now_ns();
	pthread_join(tid, NULL);

	if (c.got != c.count)
		return bench_msg(ctx, -EIO, "%s: %s: the consumer got %llu objects of %llu",
				 ops->name, op->metric, (unsigned long long)c.got,
				 (unsigned long long)c.count);
	if (ops->count(c.ring) != 0)
		return bench_msg(ctx, -EIO, "%s: %s: %u objects left in the ring", ops->name,
				 op->metric, ops->count(c.ring));
	if (memcmp(c.objs, st->prod_objs, op->n * sizeof(void *)) != 0)
		return bench_msg(ctx, -EIO, "%s: %s: the last bulk is not what was enqueued",
				 ops->name, op->metric);
	*out = (double)(t1 - t0) / (double)c.count;
	return 0;
}

int bench_ring_measure(struct bench_ctx *ctx, double *out)
{
	struct ring_state *st = ctx->state;
	const struct ring_spec *spec = st->spec;
	unsigned nm = 0, m;
	uint64_t budget;
	int rc;

	while (nm < BENCH_METRICS_MAX && spec->op[nm].metric)
		nm++;
	budget = ctx->opts->smoke ? ctx->target_ns / nm : ctx->target_ns;
	for (m = 0; m < nm; m++) {
		if (spec->threads == 2)
			rc = time_two_threads(ctx, &spec->op[m], &out[m]);
		else
			rc = time_one_thread(ctx, &spec->op[m], budget, &out[m]);
		if (rc != 0)
			return rc;
	}
	return 0;
}

/* A 2-thread case needs a second CPU for the consumer. */
static int need_two_cpus(struct bench_ctx *ctx)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	if (n > CONSUMER_CPU)
		return 0;
	return bench_msg(ctx, BENCH_SKIP, "needs CPU %d for the consumer, %ld online", CONSUMER_CPU,
			 n);
}

/*
 * ---- hugemem ----
 *
 * Textually parallel to the dpdk_ring_* loops of peers/dpdk.c: change one,
 * change the other.
 */

static int hugemem_single(void *ring, uint64_t iters)
{
	struct hm_ring *r = ring;
	void *obj = (void *)1;
	unsigned bad = 0;
	uint64_t i;

	for (i = 0; i < iters; i++) {
		bad |= hm_ring_enqueue(r, obj) != 0;
		bad |= hm_ring_dequeue(r, &obj) != 0;
	}
	return bad ? -EIO : 0;
}

static int hugemem_bulk(void *ring, void **objs, unsigned n, uint64_t iters)
{
	struct hm_ring *r = ring;
	unsigned bad = 0;
	uint64_t i;

	for (i = 0; i < iters; i++) {
		bad |= hm_ring_enqueue_bulk(r, objs, n, NULL) != n;
		bad |= hm_ring_dequeue_bulk(r, objs, n, NULL) != n;
	}
	return bad ? -EIO : 0;
}

static int hugemem_burst(void *ring, void **objs, unsigned n, uint64_t iters)
{
	struct hm_ring *r = ring;
	unsigned bad = 0;
	uint64_t i;

	for (i = 0; i < iters; i++) {
		bad |= hm_ring_enqueue_burst(r, objs, n, NULL) != n;
		bad |= hm_ring_dequeue_burst(r, objs, n, NULL) != n;
	}
	return bad ? -EIO : 0;
}

static void hugemem_produce(void *ring, void *const *objs, unsigned n, uint64_t count)
{
	struct hm_ring *r = ring;
	uint64_t sent;

	for (sent = 0; sent < count; sent += n)
		while (hm_ring_enqueue_bulk(r, objs, n, NULL) == 0)
			cpu_pause();
}

static uint64_t hugemem_consume(void *ring, void **objs, unsigned n, uint64_t count)
{
	struct hm_ring *r = ring;
	uint64_t got;

	for (got = 0; got < count; got += n)
		while (hm_ring_dequeue_bulk(r, objs, n, NULL) == 0)
			cpu_pause();
	return got;
}

static unsigned hugemem_count(const void *ring)
{
	return hm_ring_count(ring);
}

static const struct bench_ring_ops hugemem_ops = {
	.name = "hugemem",
	.single = hugemem_single,
	.bulk = hugemem_bulk,
	.burst = hugemem_burst,
	.produce = hugemem_produce,
	.consume = hugemem_consume,
	.count = hugemem_count,
};

static struct hm_ring *hugemem_rings[2];

static void hugemem_free_rings(void)
{
	for (unsigned i = 0; i < 2; i++)
		if (hugemem_rings[i])
			hm_ring_destroy(hugemem_rings[i]);
	memset(hugemem_rings, 0, sizeof(hugemem_rings));
}

static int hugemem_setup(struct bench_ctx *ctx)
{
	struct hm_config cfg;
	int rc;

	hm_config_defaults(&cfg);
	cfg.no_huge = true;
	cfg.memory_limit = RING_MEMORY_LIMIT;
	rc = hm_init(&cfg);
	if (rc != 0)
		return bench_msg(ctx, rc, "hm_init: %s", hm_strerror(rc));
	hugemem_rings[0] = hm_ring_create("bench_spsc", BENCH_RING_SIZE, HM_SOCKET_ANY,
					  HM_RING_SP_ENQ | HM_RING_SC_DEQ);
	hugemem_rings[1] = hm_ring_create("bench_mpmc", BENCH_RING_SIZE, HM_SOCKET_ANY, 0);
	if (!hugemem_rings[0] || !hugemem_rings[1]) {
		rc = -errno;
		hugemem_free_rings();
		hm_cleanup();
		return bench_msg(ctx, rc, "hm_ring_create: %s", hm_strerror(-rc));
	}
	rc = bench_ring_prepare(ctx, &hugemem_ops, hugemem_rings[0], hugemem_rings[1]);
	if (rc != 0) {
		hugemem_free_rings();
		hm_cleanup();
	}
	return rc;
}

static void hugemem_teardown(struct bench_ctx *ctx)
{
	bench_ring_release(ctx);
	hugemem_free_rings();
	hm_cleanup();
}

static const struct bench_impl ring_impls[] = {
	{.name = "hugemem",
	 .flags = BENCH_F_FORK,
	 .setup = hugemem_setup,
	 .measure = bench_ring_measure,
	 .teardown = hugemem_teardown},
	{.name = "dpdk",
	 .flags = BENCH_F_PEER | BENCH_F_FORK,
	 .setup = BENCH_IF_DPDK(bench_dpdk_ring_setup),
	 .measure = BENCH_IF_DPDK(bench_ring_measure),
	 .teardown = BENCH_IF_DPDK(bench_dpdk_ring_teardown)},
};

/* The names and metrics must match ring_specs[] (checked in bench_ring_prepare). */
#define RING_CASE(label, check_fn, ...)                                                         \
	{                                                                                       \
		.name = (label), .unit = "ns/obj", .metrics = {__VA_ARGS__}, .check = check_fn, \
		.impls = ring_impls, .n_impls = BENCH_ARRAY_SIZE(ring_impls),                   \
	}

static const struct bench_case ring_cases[] = {
	RING_CASE("SP/SC 1 thread", NULL, "single", "bulk 8", "bulk 32", "bulk 128"),
	RING_CASE("MP/MC 1 thread", NULL, "single", "bulk 8", "bulk 32", "bulk 128"),
	RING_CASE("burst 32 1 thread", NULL, "SP/SC", "MP/MC"),
	RING_CASE("SP/SC 2 threads", need_two_cpus, "bulk 8", "bulk 32", "bulk 128"),
	RING_CASE("MP/MC 2 threads", need_two_cpus, "bulk 8", "bulk 32", "bulk 128"),
};

const struct bench_suite bench_suite_ring = {
	.name = "ring",
	.note = "rings of 4096 pointers, DPDK's ring_perf_autotest loops; 1 thread: enqueue n, "
		"dequeue n, ns per object enqueued+dequeued; 2 threads: producer on CPU 0, "
		"consumer on CPU 1, ns per object moved (2^22 objects; --smoke 2^15)",
	.cases = ring_cases,
	.n_cases = BENCH_ARRAY_SIZE(ring_cases),
};
