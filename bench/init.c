/* SPDX-License-Identifier: MIT */
/*
 * init.c - the "init" suite: how long it takes to start an instance that
 * preallocates 512 MiB (32 MiB under --smoke), on 4 KiB pages and on 2 MiB
 * hugepages, against DPDK's rte_eal_init() with the same memory and
 * against the floor: memfd_create + mmap + touching every page, or
 * MAP_POPULATE instead of the touching.
 *
 * rte_eal_init() works once per process, so every repetition of every
 * implementation runs in a fresh forked child (BENCH_F_FORK_REP), hugemem's
 * too, so that all of them start from the same state. The child times the
 * one call with CLOCK_MONOTONIC; cleanup is not timed. Results are in ms.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>

#include <hugemem.h>
#include "bench.h"

#define INIT_SIZE            (512u << 20)
#define INIT_SMOKE_SIZE      (32u << 20)
#define INIT_MEMORY_LIMIT    ((size_t)1 << 30)
#define INIT_SPARE_HUGEPAGES 16 /* free beyond the preallocation, for the rest of init */

#ifndef MFD_HUGETLB
#define MFD_HUGETLB 0x0004u
#endif
#ifndef MFD_HUGE_SHIFT
#define MFD_HUGE_SHIFT 26
#endif

/* The case's check: enough free hugepages for the preallocation and a margin. */
static int need_hugepages(struct bench_ctx *ctx)
{
	unsigned long need = ctx->size / ctx->page_size + INIT_SPARE_HUGEPAGES;
	unsigned long have = bench_hugepages_free(ctx->page_size);
	char ps[32];

	if (have >= need)
		return 0;
	return bench_msg(ctx, BENCH_SKIP, "needs %lu free %s hugepages, %lu free", need,
			 bench_size_str(ps, sizeof(ps), ctx->page_size), have);
}

/* prealloc: commit, touch and lock the memory at init; else only reserve it. */
static int hugemem_init(struct bench_ctx *ctx, double *out, bool prealloc)
{
	struct hm_config cfg;
	uint64_t t0, t1;
	int rc;

	bench_unpin();
	hm_config_defaults(&cfg);
	cfg.prealloc = prealloc ? ctx->size : 0;
	cfg.memory_limit = prealloc ? INIT_MEMORY_LIMIT : ctx->size;
	if (ctx->page_size == HM_PAGE_SIZE_4K)
		cfg.no_huge = true;
	else
		cfg.page_size = ctx->page_size;

	t0 = bench_now_ns();
	rc = hm_init(&cfg);
	t1 = bench_now_ns();
	if (rc != 0)
		return bench_msg(ctx, rc, "hm_init: %s", hm_strerror(rc));
	bench_note_memory(ctx);
	hm_cleanup();
	out[0] = (double)(t1 - t0) / 1e6;
	return 0;
}

static int hugemem_measure(struct bench_ctx *ctx, double *out)
{
	return hugemem_init(ctx, out, true);
}

/*
 * What DPDK's --no-huge -m does: reserve the memory, touch none of it
 * (hugemem then commits pages on demand, up to the limit).
 */
static int hugemem_lazy_measure(struct bench_ctx *ctx, double *out)
{
	return hugemem_init(ctx, out, false);
}

/*
 * The floor: a memfd of the case's page size, mapped, and every page
 * faulted in, either by writing a byte to each (touch) or by MAP_POPULATE
 * (one system call; usually faster, as the kernel fills the page tables in
 * a batch).
 */
static int mmap_measure(struct bench_ctx *ctx, double *out, bool populate)
{
	unsigned flags = MFD_CLOEXEC;
	volatile char *p;
	uint64_t t0, t1;
	size_t off;
	void *addr;
	int fd, err;

	bench_unpin();
	if (ctx->page_size > HM_PAGE_SIZE_4K)
		flags |= MFD_HUGETLB | ((unsigned)__builtin_ctzl(ctx->page_size) << MFD_HUGE_SHIFT);

	t0 = bench_now_ns();
	fd = memfd_create("hugemem-bench", flags);
	if (fd < 0)
		return bench_msg(ctx, -errno, "memfd_create: %s", strerror(errno));
	if (ftruncate(fd, (off_t)ctx->size) != 0) {
		err = errno;
		close(fd);
		return bench_msg(ctx, -err, "ftruncate: %s", strerror(err));
	}
	addr = mmap(NULL, ctx->size, PROT_READ | PROT_WRITE,
		    MAP_SHARED | (populate ? MAP_POPULATE : 0), fd, 0);
	if (addr == MAP_FAILED) {
		err = errno;
		close(fd);
		return bench_msg(ctx, -err, "mmap: %s", strerror(err));
	}
	p = addr;
	for (off = 0; !populate && off < ctx->size; off += ctx->page_size)
		p[off] = 1;
	t1 = bench_now_ns();

	bench_note_memory(ctx);
	munmap(addr, ctx->size);
	close(fd);
	out[0] = (double)(t1 - t0) / 1e6;
	return 0;
}

static int touch_measure(struct bench_ctx *ctx, double *out)
{
	return mmap_measure(ctx, out, false);
}

static int populate_measure(struct bench_ctx *ctx, double *out)
{
	return mmap_measure(ctx, out, true);
}

static const struct bench_impl init_impls[] = {
	{.name = "hugemem", .flags = BENCH_F_FORK_REP, .measure = hugemem_measure},
	{.name = "dpdk",
	 .flags = BENCH_F_PEER | BENCH_F_FORK_REP,
	 .measure = BENCH_IF_DPDK(bench_dpdk_init_measure)},
	{.name = "hugemem-lazy", .flags = BENCH_F_FORK_REP, .measure = hugemem_lazy_measure},
	{.name = "mmap+touch", .flags = BENCH_F_PEER | BENCH_F_FORK_REP, .measure = touch_measure},
	{.name = "mmap+populate",
	 .flags = BENCH_F_PEER | BENCH_F_FORK_REP,
	 .measure = populate_measure},
};

static const struct bench_case init_cases[] = {
	{
		.name = "4 KiB pages",
		.unit = "ms",
		.metrics = {"init"},
		.size = INIT_SIZE,
		.smoke_size = INIT_SMOKE_SIZE,
		.page_size = HM_PAGE_SIZE_4K,
		.impls = init_impls,
		.n_impls = BENCH_ARRAY_SIZE(init_impls),
	},
	{
		.name = "2 MiB pages",
		.unit = "ms",
		.metrics = {"init"},
		.size = INIT_SIZE,
		.smoke_size = INIT_SMOKE_SIZE,
		.page_size = HM_PAGE_SIZE_2M,
		.check = need_hugepages,
		.impls = init_impls,
		.n_impls = BENCH_ARRAY_SIZE(init_impls),
	},
};

const struct bench_suite bench_suite_init = {
	.name = "init",
	.note = "hm_init with that much preallocated (memory_limit 1 GiB) vs rte_eal_init -m, "
		"each repetition in a fresh child; mmap+touch and mmap+populate of a memfd are the "
		"floor",
	.smoke_reps = 1,
	.cases = init_cases,
	.n_cases = BENCH_ARRAY_SIZE(init_cases),
};
