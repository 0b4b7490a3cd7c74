/* SPDX-License-Identifier: MIT */
/*
 * peers/jemalloc.c - jemalloc as a peer of hugemem-bench, compiled when the
 * build finds libjemalloc and <jemalloc/jemalloc.h> (HM_BENCH_HAVE_JEMALLOC).
 *
 * Debian's libjemalloc has no prefix: it replaces malloc for the whole
 * process. This peer calls its own non-standard API, mallocx/dallocx with no
 * flags, which is jemalloc whichever library's malloc the process ended up
 * with.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include "../bench.h"

#ifdef HM_BENCH_HAVE_JEMALLOC

#include <jemalloc/jemalloc.h>

static void *jemalloc_alloc(size_t size)
{
	return mallocx(size, 0);
}

static void jemalloc_free(void *p)
{
	dallocx(p, 0);
}

static const struct bench_malloc_ops jemalloc_ops = {
	.name = "jemalloc",
	.alloc = jemalloc_alloc,
	.free = jemalloc_free,
};

/* The slab suite's loops call these inline: mallocx and dallocx straight. */
BENCH_SLAB_INLINE void *jemalloc_slab_alloc(void *pool, size_t size)
{
	(void)pool;
	return mallocx(size, 0);
}

BENCH_SLAB_INLINE void jemalloc_slab_free(void *pool, void *p)
{
	(void)pool;
	dallocx(p, 0);
}

BENCH_SLAB_OPS(jemalloc_slab_ops, "jemalloc", jemalloc_slab_alloc, jemalloc_slab_free);

int bench_jemalloc_malloc_setup(struct bench_ctx *ctx)
{
	return bench_malloc_prepare(ctx, &jemalloc_ops);
}

int bench_jemalloc_objs_setup(struct bench_ctx *ctx)
{
	return bench_objs_malloc_prepare(ctx, &jemalloc_ops);
}

int bench_jemalloc_slab_setup(struct bench_ctx *ctx)
{
	return bench_slab_prepare(ctx, &jemalloc_slab_ops, NULL);
}

#endif /* HM_BENCH_HAVE_JEMALLOC */
