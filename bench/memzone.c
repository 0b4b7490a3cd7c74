/* SPDX-License-Identifier: MIT */
/*
 * memzone.c - the "memzone" suite: reserve N zones of 64 bytes named "z%u",
 * look every one up in a random order, free them all; ns per operation at
 * N = 100, 1,000, 2,000 and 10,000. Lookup should cost the same at every N
 * (hugemem hashes names; DPDK scans its zone array).
 *
 * One repetition runs reserve-lookup-free cycles until about ctx->target_ns
 * has passed, timing each phase of each cycle on its own; the values are
 * total phase time / operations. Names and the lookup order are made
 * before any timing. hugemem and DPDK run the very same loop,
 * bench_memzone_measure(), through struct bench_zone_ops; hugemem in one
 * instance per case (4 KiB pages, memory_limit 1 GiB), DPDK in a forked
 * child after rte_eal_init --no-huge (peers/dpdk.c).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hugemem.h>
#include "bench.h"

#define ZONE_LEN             64
#define ZONE_NAME_LEN        16
#define MEMZONE_MEMORY_LIMIT ((size_t)1 << 30)

/* What bench_memzone_prepare() makes, for one process. */
static struct {
	char (*names)[ZONE_NAME_LEN]; /* "z0" .. "z<n-1>" */
	const void **zones;           /* the reserved zones, by index */
	uint32_t *order;              /* lookup order, reshuffled every repetition */
	size_t n;
} zs;

int bench_memzone_prepare(struct bench_ctx *ctx)
{
	size_t i;

	zs.n = ctx->n;
	zs.names = calloc(zs.n, sizeof(*zs.names));
	zs.zones = calloc(zs.n, sizeof(*zs.zones));
	zs.order = calloc(zs.n, sizeof(*zs.order));
	if (!zs.names || !zs.zones || !zs.order) {
		bench_memzone_release(ctx);
		return bench_msg(ctx, -ENOMEM, "out of memory for %zu names", ctx->n);
	}
	for (i = 0; i < zs.n; i++) {
		snprintf(zs.names[i], ZONE_NAME_LEN, "z%u", (unsigned)i);
		zs.order[i] = (uint32_t)i;
	}
	return 0;
}

void bench_memzone_release(struct bench_ctx *ctx)
{
	(void)ctx;
	free(zs.names);
	free(zs.zones);
	free(zs.order);
	memset(&zs, 0, sizeof(zs));
}

/* Free zones [from, to) after a failure, so that teardown finds a clean table. */
static void free_range(const struct bench_zone_ops *ops, size_t from, size_t to)
{
	size_t i;

	for (i = from; i < to; i++)
		ops->free(zs.zones[i]);
}

int bench_memzone_measure(struct bench_ctx *ctx, const struct bench_zone_ops *ops, double *out)
{
	uint64_t t_res = 0, t_look = 0, t_free = 0, t0, t1, t2, t3, start;
	uint64_t rng = ctx->seed + ctx->rep;
	uintptr_t want, got;
	size_t i, n = zs.n, cycles = 0;

	bench_shuffle(zs.order, n, &rng);
	start = bench_now_ns();
	do {
		want = got = 0;
		t0 = bench_now_ns();
		for (i = 0; i < n; i++) {
			zs.zones[i] = ops->reserve(zs.names[i], ZONE_LEN);
			if (!zs.zones[i]) {
				bench_msg(ctx, -ENOMEM, "%s: reserve of zone %zu of %zu: %s",
					  ops->name, i, n, ops->last_error());
				free_range(ops, 0, i);
				return -ENOMEM;
			}
		}
		t1 = bench_now_ns();
		for (i = 0; i < n; i++)
			got ^= (uintptr_t)ops->lookup(zs.names[zs.order[i]]);
		t2 = bench_now_ns();
		for (i = 0; i < n; i++)
			if (ops->free(zs.zones[i]) != 0) {
				const char *why = ops->last_error();

				free_range(ops, i + 1, n);
				return bench_msg(ctx, -EINVAL, "%s: free of zone %zu: %s",
						 ops->name, i, why);
			}
		t3 = bench_now_ns();
		for (i = 0; i < n; i++)
			want ^= (uintptr_t)zs.zones[i];
		if (got != want)
			return bench_msg(ctx, -EINVAL, "%s: lookups returned the wrong zones",
					 ops->name);
		t_res += t1 - t0;
		t_look += t2 - t1;
		t_free += t3 - t2;
		cycles++;
	} while (bench_now_ns() - start < ctx->target_ns);

	out[0] = (double)t_res / (double)(cycles * n);
	out[1] = (double)t_look / (double)(cycles * n);
	out[2] = (double)t_free / (double)(cycles * n);
	return 0;
}

/* ---- hugemem ---- */

static const void *hugemem_reserve(const char *name, size_t len)
{
	return hm_memzone_reserve(name, len, HM_SOCKET_ANY, 0, 0, 0);
}

static const void *hugemem_lookup(const char *name)
{
	return hm_memzone_lookup(name);
}

static int hugemem_free(const void *zone)
{
	int rc = hm_memzone_free(zone);

	if (rc != 0)
		errno = -rc;
	return rc;
}

static const char *hugemem_error(void)
{
	return hm_strerror(errno);
}

static const struct bench_zone_ops hugemem_ops = {
	.name = "hugemem",
	.reserve = hugemem_reserve,
	.lookup = hugemem_lookup,
	.free = hugemem_free,
	.last_error = hugemem_error,
};

static int hugemem_setup(struct bench_ctx *ctx)
{
	struct hm_config cfg;
	int rc;

	hm_config_defaults(&cfg);
	cfg.no_huge = true;
	cfg.memory_limit = MEMZONE_MEMORY_LIMIT;
	rc = hm_init(&cfg);
	if (rc != 0)
		return bench_msg(ctx, rc, "hm_init: %s", hm_strerror(rc));
	rc = bench_memzone_prepare(ctx);
	if (rc != 0)
		hm_cleanup();
	return rc;
}

static int hugemem_measure(struct bench_ctx *ctx, double *out)
{
	return bench_memzone_measure(ctx, &hugemem_ops, out);
}

static void hugemem_teardown(struct bench_ctx *ctx)
{
	bench_memzone_release(ctx);
	hm_cleanup();
}

static const struct bench_impl memzone_impls[] = {
	{.name = "hugemem",
	 .setup = hugemem_setup,
	 .measure = hugemem_measure,
	 .teardown = hugemem_teardown},
	{.name = "dpdk",
	 .flags = BENCH_F_PEER | BENCH_F_FORK,
	 .setup = BENCH_IF_DPDK(bench_dpdk_memzone_setup),
	 .measure = BENCH_IF_DPDK(bench_dpdk_memzone_measure),
	 .teardown = BENCH_IF_DPDK(bench_dpdk_memzone_teardown)},
};

#define MEMZONE_CASE(count)                                                              \
	{                                                                                \
		.unit = "ns/op", .metrics = {"reserve", "lookup", "free"}, .n = (count), \
		.impls = memzone_impls, .n_impls = BENCH_ARRAY_SIZE(memzone_impls),      \
	}

static const struct bench_case memzone_cases[] = {
	MEMZONE_CASE(100),
	MEMZONE_CASE(1000),
	MEMZONE_CASE(2000),
	MEMZONE_CASE(10000),
};

const struct bench_suite bench_suite_memzone = {
	.name = "memzone",
	.note = "N zones of 64 B named z%u: reserve all, look up in random order, free all; "
		"DPDK 22.11 holds at most 2,560 zones (RTE_MAX_MEMZONE), so it stops at N=2000",
	.cases = memzone_cases,
	.n_cases = BENCH_ARRAY_SIZE(memzone_cases),
};
