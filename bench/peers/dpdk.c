/* SPDX-License-Identifier: MIT */
/*
 * peers/dpdk.c - DPDK as a peer of hugemem-bench: every DPDK call of the
 * benchmark lives here. The build compiles this file only when pkg-config
 * finds libdpdk, and then defines HM_BENCH_HAVE_DPDK; without it the file
 * is empty and the rows print "peer not installed".
 *
 * rte_eal_init() works once per process, so every function here runs in a
 * forked child (BENCH_F_FORK_REP or BENCH_F_FORK). The EAL arguments give
 * DPDK the same amount of memory as hugemem and nothing else to do
 * (checked with DPDK 22.11):
 *   4 KiB pages: --no-pci --no-huge -m <MiB> --no-shconf
 *   2 MiB pages: --no-pci -m <MiB> --in-memory   (hugepages from a memfd, no mount)
 * plus -l 0 (one lcore: CPU 0, where the benchmark is pinned; the ring
 * suite's consumer on CPU 1 is a plain pthread, as rte_ring needs no lcore),
 * --no-telemetry (no socket, so parallel runs cannot collide) and
 * --log-level=error. 22.11 refuses --log-level=0 (its levels run from 1,
 * emergency, to 8, debug), says so, and goes on at the default level.
 *
 * Not the same work, and the rows show it ("resident ... MiB"): with
 * --no-huge DPDK maps -m but does not fault it in, while on hugepages it
 * does. A Debian build of DPDK also dlopen()s every driver of its plugin
 * directory in rte_eal_init(), and where CPUID does not give the TSC
 * frequency it sleeps 100 ms to measure it; both count, as they do for
 * any DPDK program on that machine.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include "../bench.h"

#ifdef HM_BENCH_HAVE_DPDK

#include <errno.h>
#include <stdio.h>
#include <string.h>

/*
 * DPDK 22.11's headers pass our warning list with gcc 12 and clang 14 on
 * x86-64; -Wcast-align is relaxed for them only, for strict-alignment targets.
 */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wcast-align"
#include <rte_config.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_mempool.h>
#include <rte_memzone.h>
#include <rte_pause.h>
#include <rte_ring.h>
#include <rte_version.h>
#pragma GCC diagnostic pop

#define DPDK_ARGS_MAX       16
#define DPDK_MEMZONE_MEMORY (512u << 20)
#define DPDK_MALLOC_MEMORY  ((size_t)2048 << 20)
#define DPDK_RING_MEMORY    (512u << 20)
#define DPDK_MEMPOOL_MEMORY (512u << 20)

/* Split the argument line (modified in place) into argv; argv[0] is the program. */
static int split_args(char *line, char **argv)
{
	int argc = 0;
	char *save = NULL, *tok;

	for (tok = strtok_r(line, " ", &save); tok && argc < DPDK_ARGS_MAX - 1;
	     tok = strtok_r(NULL, " ", &save))
		argv[argc++] = tok;
	argv[argc] = NULL;
	return argc;
}

/*
 * rte_eal_init() with size bytes of page_size pages, on the lcores given
 * ("0", or "0-1"); 0 or a negative rte_errno.
 */
static int eal_start_on(struct bench_ctx *ctx, size_t size, size_t page_size, const char *lcores)
{
	char line[256], *argv[DPDK_ARGS_MAX];
	int argc, rc;

	snprintf(line, sizeof(line),
		 "hugemem-bench --no-pci %s -m %zu -l %s --no-telemetry --log-level=error",
		 page_size > 4096 ? "--in-memory" : "--no-huge --no-shconf", size >> 20, lcores);
	argc = split_args(line, argv);
	rc = rte_eal_init(argc, argv);
	if (rc < 0)
		return bench_msg(ctx, -rte_errno ? -rte_errno : -1, "rte_eal_init: %s",
				 rte_strerror(rte_errno));
	return 0;
}

static int eal_start(struct bench_ctx *ctx, size_t size, size_t page_size)
{
	return eal_start_on(ctx, size, page_size, "0");
}

const char *bench_dpdk_version(void)
{
	const char *v = rte_version();

	return strncmp(v, "DPDK ", 5) == 0 ? v + 5 : v;
}

int bench_dpdk_init_measure(struct bench_ctx *ctx, double *out)
{
	uint64_t t0, t1;
	int rc;

	bench_unpin(); /* as for every init row; -l 0 then pins DPDK's main lcore itself */
	t0 = bench_now_ns();
	rc = eal_start(ctx, ctx->size, ctx->page_size);
	t1 = bench_now_ns();
	if (rc != 0)
		return rc;
	bench_note_memory(ctx);
	rte_eal_cleanup();
	out[0] = (double)(t1 - t0) / 1e6;
	return 0;
}

/* ---- memzone ---- */

static const void *dpdk_reserve(const char *name, size_t len)
{
	return rte_memzone_reserve(name, len, SOCKET_ID_ANY, 0);
}

static const void *dpdk_lookup(const char *name)
{
	return rte_memzone_lookup(name);
}

static int dpdk_free(const void *zone)
{
	return rte_memzone_free(zone);
}

static const char *dpdk_error(void)
{
	return rte_strerror(rte_errno);
}

static const struct bench_zone_ops dpdk_ops = {
	.name = "dpdk",
	.reserve = dpdk_reserve,
	.lookup = dpdk_lookup,
	.free = dpdk_free,
	.last_error = dpdk_error,
};

static void count_zone(const struct rte_memzone *mz, void *arg)
{
	(void)mz;
	++*(unsigned *)arg;
}

int bench_dpdk_memzone_setup(struct bench_ctx *ctx)
{
	unsigned used = 0;
	int rc;

	if (ctx->n > RTE_MAX_MEMZONE)
		return bench_msg(ctx, BENCH_SKIP, "DPDK holds at most %d zones (RTE_MAX_MEMZONE)",
				 RTE_MAX_MEMZONE);
	rc = eal_start(ctx, DPDK_MEMZONE_MEMORY, 4096);
	if (rc != 0)
		return rc;
	rte_memzone_walk(count_zone, &used);
	if (ctx->n + used > RTE_MAX_MEMZONE) {
		rte_eal_cleanup();
		return bench_msg(ctx, BENCH_SKIP,
				 "DPDK holds at most %d zones (RTE_MAX_MEMZONE), %u taken by EAL",
				 RTE_MAX_MEMZONE, used);
	}
	rc = bench_memzone_prepare(ctx);
	if (rc != 0)
		rte_eal_cleanup();
	return rc;
}

int bench_dpdk_memzone_measure(struct bench_ctx *ctx, double *out)
{
	return bench_memzone_measure(ctx, &dpdk_ops, out);
}

void bench_dpdk_memzone_teardown(struct bench_ctx *ctx)
{
	bench_memzone_release(ctx);
	rte_eal_cleanup();
}

/* ---- malloc ---- */

static void *dpdk_alloc(size_t size)
{
	return rte_malloc(NULL, size, 0);
}

static void dpdk_free_block(void *p)
{
	rte_free(p);
}

static const struct bench_malloc_ops dpdk_malloc_ops = {
	.name = "dpdk",
	.alloc = dpdk_alloc,
	.free = dpdk_free_block,
};

/*
 * 2 GiB of 4 KiB pages: 100,000 live blocks of 16 B to 64 KiB, log-uniform,
 * hold about 750 MiB (the mean size is 65520 / ln 4096, about 7.7 KiB).
 */
int bench_dpdk_malloc_setup(struct bench_ctx *ctx)
{
	int rc = eal_start(ctx, DPDK_MALLOC_MEMORY, 4096);

	if (rc != 0)
		return rc;
	rc = bench_malloc_prepare(ctx, &dpdk_malloc_ops);
	if (rc != 0)
		rte_eal_cleanup();
	return rc;
}

void bench_dpdk_malloc_teardown(struct bench_ctx *ctx)
{
	bench_malloc_release(ctx);
	rte_eal_cleanup();
}

/*
 * ---- ring ----
 *
 * Textually parallel to the hugemem_* loops of ring.c: the same statements
 * with rte_ring's generic calls, which pick the SP or MP path from the flags
 * the ring was created with, as hugemem's do. Change one, change the other.
 */

static int dpdk_ring_single(void *ring, uint64_t iters)
{
	struct rte_ring *r = ring;
	void *obj = (void *)1;
	unsigned bad = 0;
	uint64_t i;

	for (i = 0; i < iters; i++) {
		bad |= rte_ring_enqueue(r, obj) != 0;
		bad |= rte_ring_dequeue(r, &obj) != 0;
	}
	return bad ? -EIO : 0;
}

static int dpdk_ring_bulk(void *ring, void **objs, unsigned n, uint64_t iters)
{
	struct rte_ring *r = ring;
	unsigned bad = 0;
	uint64_t i;

	for (i = 0; i < iters; i++) {
		bad |= rte_ring_enqueue_bulk(r, objs, n, NULL) != n;
		bad |= rte_ring_dequeue_bulk(r, objs, n, NULL) != n;
	}
	return bad ? -EIO : 0;
}

static int dpdk_ring_burst(void *ring, void **objs, unsigned n, uint64_t iters)
{
	struct rte_ring *r = ring;
	unsigned bad = 0;
	uint64_t i;

	for (i = 0; i < iters; i++) {
		bad |= rte_ring_enqueue_burst(r, objs, n, NULL) != n;
		bad |= rte_ring_dequeue_burst(r, objs, n, NULL) != n;
	}
	return bad ? -EIO : 0;
}

static void dpdk_ring_produce(void *ring, void *const *objs, unsigned n, uint64_t count)
{
	struct rte_ring *r = ring;
	uint64_t sent;

	for (sent = 0; sent < count; sent += n)
		while (rte_ring_enqueue_bulk(r, objs, n, NULL) == 0)
			rte_pause();
}

static uint64_t dpdk_ring_consume(void *ring, void **objs, unsigned n, uint64_t count)
{
	struct rte_ring *r = ring;
	uint64_t got;

	for (got = 0; got < count; got += n)
		while (rte_ring_dequeue_bulk(r, objs, n, NULL) == 0)
			rte_pause();
	return got;
}

static unsigned dpdk_ring_count(const void *ring)
{
	return rte_ring_count(ring);
}

static const struct bench_ring_ops dpdk_ring_ops = {
	.name = "dpdk",
	.single = dpdk_ring_single,
	.bulk = dpdk_ring_bulk,
	.burst = dpdk_ring_burst,
	.produce = dpdk_ring_produce,
	.consume = dpdk_ring_consume,
	.count = dpdk_ring_count,
};

static struct rte_ring *dpdk_rings[2];

static void dpdk_free_rings(void)
{
	for (unsigned i = 0; i < 2; i++)
		rte_ring_free(dpdk_rings[i]); /* NULL is ignored */
	memset(dpdk_rings, 0, sizeof(dpdk_rings));
}

int bench_dpdk_ring_setup(struct bench_ctx *ctx)
{
	int rc = eal_start(ctx, DPDK_RING_MEMORY, 4096);

	if (rc != 0)
		return rc;
	dpdk_rings[0] = rte_ring_create("bench_spsc", BENCH_RING_SIZE, SOCKET_ID_ANY,
					RING_F_SP_ENQ | RING_F_SC_DEQ);
	dpdk_rings[1] = rte_ring_create("bench_mpmc", BENCH_RING_SIZE, SOCKET_ID_ANY, 0);
	if (!dpdk_rings[0] || !dpdk_rings[1]) {
		rc = bench_msg(ctx, -rte_errno ? -rte_errno : -ENOMEM, "rte_ring_create: %s",
			       rte_strerror(rte_errno));
		dpdk_free_rings();
		rte_eal_cleanup();
		return rc;
	}
	rc = bench_ring_prepare(ctx, &dpdk_ring_ops, dpdk_rings[0], dpdk_rings[1]);
	if (rc != 0) {
		dpdk_free_rings();
		rte_eal_cleanup();
	}
	return rc;
}

void bench_dpdk_ring_teardown(struct bench_ctx *ctx)
{
	bench_ring_release(ctx);
	dpdk_free_rings();
	rte_eal_cleanup();
}

/*
 * ---- mempool ----
 *
 * Textually parallel to hugemem_loop in mempool.c: change one, change the
 * other. rte_mempool_get_bulk and put_bulk use the calling lcore's cache,
 * none on a thread that is not an lcore.
 */

static int dpdk_mempool_loop(void *pool, void **objs, unsigned n, uint64_t iters)
{
	struct rte_mempool *mp = pool;
	unsigned bad = 0;

	for (uint64_t i = 0; i < iters; i++) {
		for (unsigned idx = 0; idx < BENCH_MEMPOOL_KEEP; idx += n)
			bad |= rte_mempool_get_bulk(mp, &objs[idx], n) != 0;
		for (unsigned idx = BENCH_MEMPOOL_KEEP; idx > 0;) {
			idx -= n;
			rte_mempool_put_bulk(mp, &objs[idx], n);
		}
	}
	return bad ? -EIO : 0;
}

/* The second thread of a 2-thread case: lcore 1, which has a cache of its own. */
static int dpdk_launch(int (*fn)(void *), void *arg)
{
	return rte_eal_remote_launch(fn, arg, 1);
}

static void dpdk_wait(void)
{
	rte_eal_wait_lcore(1);
}

static const struct bench_objs_ops dpdk_objs_ops = {
	.name = "dpdk",
	.loop = dpdk_mempool_loop,
	.launch = dpdk_launch,
	.wait = dpdk_wait,
};

static struct rte_mempool *dpdk_pool;

int bench_dpdk_mempool_setup(struct bench_ctx *ctx)
{
	size_t elt;
	unsigned cache;
	int rc = eal_start_on(ctx, DPDK_MEMPOOL_MEMORY, 4096,
			      bench_objs_two_lcores(ctx) ? "0-1" : "0");

	if (rc != 0)
		return rc;
	bench_objs_spec(ctx, &elt, &cache);
	dpdk_pool = rte_mempool_create("bench", BENCH_MEMPOOL_N, (unsigned)elt, cache, 0, NULL,
				       NULL, NULL, NULL, SOCKET_ID_ANY, 0);
	if (!dpdk_pool) {
		rc = bench_msg(ctx, -rte_errno ? -rte_errno : -ENOMEM, "rte_mempool_create: %s",
			       rte_strerror(rte_errno));
		rte_eal_cleanup();
		return rc;
	}
	rc = bench_objs_prepare(ctx, &dpdk_objs_ops, dpdk_pool);
	if (rc != 0) {
		rte_mempool_free(dpdk_pool);
		rte_eal_cleanup();
	}
	return rc;
}

void bench_dpdk_mempool_teardown(struct bench_ctx *ctx)
{
	bench_objs_release(ctx);
	rte_mempool_free(dpdk_pool);
	rte_eal_cleanup();
}

/*
 * ---- bufpool ----
 *
 * An rte_mempool of 2 KiB objects with a cache, against hugemem's buffer
 * pool. Textually parallel to hugemem_single and mempool_single in
 * bufpool.c: change one, change the others. The bulk loop is the mempool
 * suite's dpdk_mempool_loop; the address lookups are bufpool.c's table
 * loops, over a table of objects taken out of the pool at setup.
 */

static int dpdk_bufs_single(void *pool, void **objs, uint64_t iters)
{
	struct rte_mempool *mp = pool;
	unsigned bad = 0;

	for (uint64_t i = 0; i < iters; i++) {
		for (unsigned k = 0; k < BENCH_MEMPOOL_KEEP; k++)
			bad |= rte_mempool_get(mp, &objs[k]) != 0;
		for (unsigned k = BENCH_MEMPOOL_KEEP; k > 0;)
			rte_mempool_put(mp, objs[--k]);
	}
	return bad ? -EIO : 0;
}

/* The object's IOVA from its header, just before it (tab[i] first). */
static uint64_t dpdk_bufs_iova(const void *map, const uint32_t *stream, size_t n)
{
	void *const *tab = map;
	uint64_t sum = 0;

	for (size_t i = 0; i < n; i++)
		sum += rte_mempool_virt2iova(tab[stream[i]]);
	return sum;
}

static const struct bench_bufs_ops dpdk_bufs_ops = {
	.name = "dpdk",
	.single = dpdk_bufs_single,
	.bulk = dpdk_mempool_loop,
	.addr = bench_bufs_table_addr,
	.touch = bench_bufs_table_touch,
	.iova = dpdk_bufs_iova,
	.launch = dpdk_launch,
	.wait = dpdk_wait,
};

static void **dpdk_bufs_table; /* the lookup case: its objects, out, in address order */

static int dpdk_get_one(void *pool, void **obj)
{
	return rte_mempool_get(pool, obj);
}

static void dpdk_put_one(void *pool, void *obj)
{
	rte_mempool_put(pool, obj);
}

int bench_dpdk_bufpool_setup(struct bench_ctx *ctx)
{
	int rc = eal_start_on(ctx, DPDK_MEMPOOL_MEMORY, 4096,
			      bench_bufs_two_threads(ctx) ? "0-1" : "0");

	if (rc != 0)
		return rc;
	dpdk_pool = rte_mempool_create("bench", BENCH_MEMPOOL_N, BENCH_BUFPOOL_SIZE,
				       BENCH_BUFPOOL_CACHE, 0, NULL, NULL, NULL, NULL,
				       SOCKET_ID_ANY, 0);
	if (!dpdk_pool) {
		rc = bench_msg(ctx, -rte_errno ? -rte_errno : -ENOMEM, "rte_mempool_create: %s",
			       rte_strerror(rte_errno));
		rte_eal_cleanup();
		return rc;
	}
	if (bench_bufs_lookups(ctx)) {
		dpdk_bufs_table = bench_bufs_table_take(ctx, dpdk_pool, dpdk_get_one, dpdk_put_one);
		if (!dpdk_bufs_table)
			rc = -ENOMEM;
	}
	if (rc == 0)
		rc = bench_bufs_prepare(ctx, &dpdk_bufs_ops, dpdk_pool, dpdk_bufs_table, NULL);
	if (rc != 0) {
		bench_bufs_table_give(dpdk_bufs_table, BENCH_BUFPOOL_LOOKUPS, dpdk_pool,
				      dpdk_put_one);
		dpdk_bufs_table = NULL;
		rte_mempool_free(dpdk_pool);
		rte_eal_cleanup();
	}
	return rc;
}

void bench_dpdk_bufpool_teardown(struct bench_ctx *ctx)
{
	bench_bufs_release(ctx);
	bench_bufs_table_give(dpdk_bufs_table, BENCH_BUFPOOL_LOOKUPS, dpdk_pool, dpdk_put_one);
	dpdk_bufs_table = NULL;
	rte_mempool_free(dpdk_pool);
	rte_eal_cleanup();
}

#endif /* HM_BENCH_HAVE_DPDK */
