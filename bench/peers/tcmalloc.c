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

int bench_tcmalloc_malloc_setup(struct bench_ctx *ctx)
{
	return bench_malloc_prepare(ctx, &tcmalloc_ops);
}

#endif /* HM_BENCH_HAVE_TCMALLOC */
