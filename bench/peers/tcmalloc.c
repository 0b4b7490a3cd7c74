/* SPDX-License-Identifier: MIT */
/*
 * peers/tcmalloc.c - gperftools' tcmalloc (libtcmalloc_minimal) as a peer
 * of hugemem-bench, compiled when the build finds it (HM_BENCH_HAVE_TCMALLOC).
 * It replaces malloc too; this peer calls tc_malloc/tc_free, which are
 * tcmalloc's whichever library's malloc the process ended up with.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include "../bench.h"

#ifdef HM_BENCH_HAVE_TCMALLOC

#include <gperftools/tcmalloc.h>

static void *tcmalloc_alloc(size_t size)
{
	return tc_malloc(size);
}

static void tcmalloc_free(void *p)
{
	tc_free(p);
}

static const struct bench_malloc_ops tcmalloc_ops = {
	.name = "tcmalloc",
	.alloc = tcmalloc_alloc,
	.free = tcmalloc_free,
};

/* The slab suite's loops call these inline: tc_malloc and tc_free straight. */
BENCH_SLAB_INLINE void *tcmalloc_slab_alloc(void *pool, size_t size)
{
	(void)pool;
	return tc_malloc(size);
}

BENCH_SLAB_INLINE void tcmalloc_slab_free(void *pool, void *p)
{
	(void)pool;
	tc_free(p);
}

BENCH_SLAB_OPS(tcmalloc_slab_ops, "tcmalloc", tcmalloc_slab_alloc, tcmalloc_slab_free);

int bench_tcmalloc_malloc_setup(struct bench_ctx *ctx)
{
	return bench_malloc_prepare(ctx, &tcmalloc_ops);
}

int bench_tcmalloc_slab_setup(struct bench_ctx *ctx)
{
	return bench_slab_prepare(ctx, &tcmalloc_slab_ops, NULL);
}

#endif /* HM_BENCH_HAVE_TCMALLOC */
