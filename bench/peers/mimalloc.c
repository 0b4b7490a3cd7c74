/* SPDX-License-Identifier: MIT */
/*
 * peers/mimalloc.c - mimalloc as a peer of hugemem-bench, compiled when the
 * build finds it (HM_BENCH_HAVE_MIMALLOC). Debian's libmimalloc also
 * replaces malloc; this peer calls mi_malloc/mi_free, which are mimalloc's
 * whichever library's malloc the process ended up with.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include "../bench.h"

#ifdef HM_BENCH_HAVE_MIMALLOC

#include <mimalloc.h>

static void *mimalloc_alloc(size_t size)
{
	return mi_malloc(size);
}

static void mimalloc_free(void *p)
{
	mi_free(p);
}

static const struct bench_malloc_ops mimalloc_ops = {
	.name = "mimalloc",
	.alloc = mimalloc_alloc,
	.free = mimalloc_free,
};

/* The slab suite's loops call these inline: mi_malloc and mi_free straight. */
BENCH_SLAB_INLINE void *mimalloc_slab_alloc(void *pool, size_t size)
{
	(void)pool;
	return mi_malloc(size);
}

BENCH_SLAB_INLINE void mimalloc_slab_free(void *pool, void *p)
{
	(void)pool;
	mi_free(p);
}

BENCH_SLAB_OPS(mimalloc_slab_ops, "mimalloc", mimalloc_slab_alloc, mimalloc_slab_free);

int bench_mimalloc_malloc_setup(struct bench_ctx *ctx)
{
	return bench_malloc_prepare(ctx, &mimalloc_ops);
}

int bench_mimalloc_objs_setup(struct bench_ctx *ctx)
{
	return bench_objs_malloc_prepare(ctx, &mimalloc_ops);
}

int bench_mimalloc_slab_setup(struct bench_ctx *ctx)
{
	return bench_slab_prepare(ctx, &mimalloc_slab_ops, NULL);
}

#endif /* HM_BENCH_HAVE_MIMALLOC */
