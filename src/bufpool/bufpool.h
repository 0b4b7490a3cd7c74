/* SPDX-License-Identifier: MIT */
/*
 * bufpool.h - the inside of a buffer pool, shared by bufpool.c (shape,
 * create, lookup, destroy, info, walk) and ops.c (the bitmap, the
 * per-thread caches, the slow paths). Layer: bufpool; includes cache,
 * heap, mem and util.
 *
 * A pool is one zone, "BP_" + its name:
 *
 *   | struct bufpool | caches[n_slots] | chunks[max_chunks] | lut[count] |
 *   | bitmap (1 = free) | state (1 byte per buffer: 1 while out) |
 *
 * and its buffers lie in chunks: heap blocks of kind pool, page-aligned,
 * each a whole number of clusters. Everything that names a buffer (the
 * lookup table, the chunk table) is an offset from the pool or an index.
 */
#ifndef HM_BUFPOOL_BUFPOOL_H
#define HM_BUFPOOL_BUFPOOL_H

#include "internal.h"
#include "cache/cache.h"
#include "heap/heap.h"
#include "mem/mem.h"
#include <hugemem/bufpool.h>

#include <stdatomic.h>

#define BP_PAGE       4096u
#define BP_CHUNKS_MAX 4096u

/* A heap block holding whole clusters. */
struct bp_chunk {
	int64_t off;    /* from the pool */
	uint64_t len;   /* bytes */
	uint32_t first; /* index of its first buffer */
	uint32_t n;     /* buffers in it */
};

struct bufpool {
	struct hm_bufpool pub; /* first: read by the inline paths */
	uint32_t count_asked;
	uint32_t per_cluster;
	uint64_t cluster_size;
	uint32_t n_clusters;
	uint32_t n_chunks;
	int32_t socket;
	uint32_t n_words;      /* of the bitmap */
	uint64_t bitmap_off;   /* from the pool: _Atomic uint64_t words */
	uint64_t chunks_off;   /* from the pool: struct bp_chunk[n_chunks], sorted by off */
	_Atomic uint32_t hint; /* the bitmap word the next scan starts at */
	uint32_t pad;
	struct hm_cache_set set; /* the per-thread caches, for the exit flush */
	/* Calls made without a cache, and refused frees. */
	_Atomic uint64_t allocs, frees, refused;
	_Atomic bool warned_cache;
};

static inline struct bufpool *bp_of(struct hm_bufpool *bp)
{
	return (struct bufpool *)bp;
}

static inline _Atomic uint64_t *bp_bitmap(const struct bufpool *p)
{
	return (_Atomic uint64_t *)((char *)(uintptr_t)p + p->bitmap_off);
}

static inline struct bp_chunk *bp_chunks(const struct bufpool *p)
{
	return (struct bp_chunk *)((char *)(uintptr_t)p + p->chunks_off);
}

static inline struct hm__bufpool_cache **bp_caches(const struct bufpool *p)
{
	return (struct hm__bufpool_cache **)((char *)(uintptr_t)p + p->pub.caches_off);
}

/* Whether bp is a live pool of this instance. */
bool hm__bufpool_valid(const struct hm_bufpool *bp);

/*
 * ops.c: the bitmap. Take up to n free indices (how many). Give n back (in
 * range, checked before): returns how many it took; an index already free,
 * or twice in idx, is refused, logged and counted.
 */
unsigned hm__bp_bitmap_take(struct bufpool *p, uint32_t *idx, unsigned n);
unsigned hm__bp_bitmap_give(struct bufpool *p, const uint32_t *idx, unsigned n);
/* Free indices in the bitmap, and in the threads' caches. */
uint64_t hm__bp_bitmap_count(const struct bufpool *p);
uint64_t hm__bp_cached(const struct bufpool *p);
/* The exit flush: a thread's cache back to the bitmap. */
void hm__bp_flush_cache(void *owner, void *cache);

/* Every process, at hm_init: register the exit flush with the cache layer. */
int hm__bufpool_attach(void);

#endif /* HM_BUFPOOL_BUFPOOL_H */
