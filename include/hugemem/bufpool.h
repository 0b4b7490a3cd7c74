/* SPDX-License-Identifier: MIT */
/*
 * hugemem/bufpool.h - buffer pools: netmap's allocator, index-addressed and
 * shareable.
 *
 * A pool holds count buffers of buf_size bytes (rounded up to a cache
 * line), each named by a 32-bit index. Buffers lie in clusters: runs of
 * whole 4 KiB pages, each holding the smallest number of buffers whose
 * total is a whole number of pages (netmap's rule), or, when no such number
 * fits in HM_BUFPOOL_CLUSTER_MAX, the number that wastes least at the end of
 * the cluster's last page. The pool's real count is a whole number of
 * clusters, at least the count asked for.
 *
 * A lookup table, filled at creation, gives each index's address and IOVA
 * in one load (hm_bufpool_addr, hm_bufpool_iova); hm_bufpool_idx gives the
 * index back. Free buffers are the set bits of a bitmap, taken with
 * word-wide scans from a moving hint and atomic bit operations (no lock),
 * with a cache of free indices per thread in front of it (made on the
 * thread's first call, given back when the thread exits).
 *
 * Indices 0 and 1 are reserved: they have buffers (0 is where an index
 * out of range points, as in netmap) but are never handed out, and 0 means
 * "no buffer". A free of an index out of range or reserved is refused,
 * logged and counted, and changes nothing. An index freed twice is refused
 * the same way when it reaches the bitmap, which never takes a free index
 * twice: at once in a pool without caches, when the thread's cache is
 * flushed otherwise (until then both copies may be handed out, as DPDK's
 * mempool and netmap's allocator would). A checked pool
 * (HM_BUFPOOL_F_CHECKED, and every pool in a debug build) keeps a state byte
 * per buffer and refuses the second free at the call itself, for a few ns
 * per index.
 *
 * The pool lives in hugemem memory and is found by name from every process
 * of the instance. Its shared state holds only indices and offsets (from
 * the pool itself), never pointers, so a process that maps the instance at
 * another address reads the same buffers by index.
 *
 * Thread safety: alloc and free from any thread of any attached process;
 * create and destroy of one pool not concurrently with other use of it.
 */
#ifndef HUGEMEM_BUFPOOL_H
#define HUGEMEM_BUFPOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <hugemem/common.h>
#include <hugemem/atomic.h>
#include <hugemem/core.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#ifdef __cplusplus
extern "C" {
#endif

#define HM_BUFPOOL_F_NO_CACHE    0x0001u /* no per-thread caches: every call goes to the bitmap */
#define HM_BUFPOOL_F_IOVA_CONTIG 0x0002u /* physical IOVAs: every chunk IOVA-contiguous */
#define HM_BUFPOOL_F_CHECKED     0x0004u /* refuse a double free at the call, in every build */

#define HM_BUFPOOL_NAME_MAX    (HM_NAME_MAX - 3) /* bytes of a pool's name, NUL included ("BP_") */
#define HM_BUFPOOL_CLUSTER_MAX (4u << 20)        /* the largest cluster (netmap's MAX_CLUSTSIZE) */
#define HM_BUFPOOL_BUF_MAX     (1u << 20)        /* the largest buffer */
#define HM_BUFPOOL_COUNT_MAX   ((1u << 31) - 1)  /* the most buffers in a pool */
#define HM_BUFPOOL_CACHE_SIZE  256u              /* indices a thread's cache holds after a refill */
#define HM_BUFPOOL_RESERVED    2u                /* indices 0 and 1 */

struct hm_bufpool;

/*
 * hm_bufpool_create() - a pool of at least count buffers (indices 0 to
 * count - 1, of which 0 and 1 are reserved) of buf_size bytes on NUMA node
 * socket (HM_SOCKET_ANY: the caller's, or any). Flags: HM_BUFPOOL_F_*.
 * Fails cleanly (nothing kept) if it cannot have them all.
 *
 * Returns: the pool, or NULL with errno set to
 *   EINVAL        count below 3 or above HM_BUFPOOL_COUNT_MAX, buf_size 0 or
 *                 above HM_BUFPOOL_BUF_MAX, unknown flags, name NULL or empty
 *   ENAMETOOLONG  name is HM_BUFPOOL_NAME_MAX bytes or longer
 *   EEXIST        a pool with this name exists
 *   ENODEV        socket is not a node of the instance
 *   ENOMEM        no memory for count buffers
 *   ENXIO         hm_init has not been called
 */
HM_API struct hm_bufpool *hm_bufpool_create(const char *name, unsigned count, size_t buf_size,
					    int socket, unsigned flags);

/*
 * The same, shrinking gracefully: when memory runs out while the buffers
 * are being placed, the pool keeps the clusters it got if they hold at
 * least min_count buffers (hm_bufpool_count tells how many it has), and
 * fails with ENOMEM, keeping nothing, otherwise. min_count: at least 3, at
 * most count.
 */
HM_API struct hm_bufpool *hm_bufpool_create_min(const char *name, unsigned count,
						unsigned min_count, size_t buf_size, int socket,
						unsigned flags);

/* The pool named name, or NULL with errno ENOENT, EINVAL (bad name), ENXIO. */
HM_API struct hm_bufpool *hm_bufpool_lookup(const char *name);

/*
 * Free the pool and its memory. 0, or -EBUSY while buffers are out (a log
 * line says how many; the pool is untouched, apart from the calling
 * thread's cache, given back), -EINVAL (not a pool), -ENXIO.
 */
HM_API int hm_bufpool_destroy(struct hm_bufpool *bp);

/*
 * The operations, inline below the divider:
 *
 *   uint32_t hm_bufpool_alloc(bp)                   an index, 0 if none is free
 *   unsigned hm_bufpool_alloc_bulk(bp, idx, n)      n indices into idx[], or 0 (none taken)
 *   void     hm_bufpool_free(bp, idx)
 *   void     hm_bufpool_free_bulk(bp, idx, n)
 *   void    *hm_bufpool_addr(bp, idx)               buffer idx (buffer 0 for idx out of range)
 *   uint64_t hm_bufpool_iova(bp, idx)               its IOVA (HM_BAD_IOVA if unknown)
 */

/* The index of the buffer holding addr (anywhere in it), or 0 if addr is in none. */
HM_API uint32_t hm_bufpool_idx(const struct hm_bufpool *bp, const void *addr);

/* Buffers in the pool (indices 0 to count - 1), and of them free (in the bitmap and caches). */
HM_API unsigned hm_bufpool_count(const struct hm_bufpool *bp);
HM_API unsigned hm_bufpool_free_count(const struct hm_bufpool *bp);

struct hm_bufpool_info {
	uint32_t size;    /* sizeof(struct hm_bufpool_info) of the library */
	uint32_t version; /* 1 */
	char name[HM_NAME_MAX];
	uint64_t count;        /* buffers, reserved ones included */
	uint64_t count_asked;  /* what create asked for */
	uint64_t free;         /* free buffers: in the bitmap and the threads' caches */
	uint64_t buf_size;     /* bytes of a buffer (rounded to a cache line) */
	uint64_t cluster_size; /* bytes of a cluster (whole 4 KiB pages) */
	uint64_t bufs_per_cluster;
	uint64_t clusters;
	uint64_t memory;        /* bytes of the clusters */
	uint64_t waste;         /* bytes of them that hold no buffer */
	uint64_t chunks;        /* heap blocks the clusters lie in */
	uint64_t allocs, frees; /* indices, counted one by one */
	uint64_t refused;       /* frees refused (out of range, reserved, already free) */
};

/* 0, or -EINVAL (not a pool, info NULL). */
HM_API int hm_bufpool_info(const struct hm_bufpool *bp, struct hm_bufpool_info *info);

/* Print the pool: its shape, counts and chunks. */
HM_API void hm_bufpool_dump(FILE *f, const struct hm_bufpool *bp);

/* Call cb for every pool of the instance. */
typedef void hm_bufpool_walk_cb(struct hm_bufpool *bp, void *arg);
HM_API void hm_bufpool_walk(hm_bufpool_walk_cb *cb, void *arg);

/*
 * The cluster shape netmap's rule gives for buffers of buf_size bytes (a
 * multiple of a cache line): buffers per cluster, and the cluster's bytes.
 * 0, or -EINVAL (buf_size 0, not a multiple of 64, or above HM_BUFPOOL_BUF_MAX).
 */
HM_API int hm_bufpool_cluster_shape(size_t buf_size, unsigned *per_cluster, size_t *cluster_size);

/* ---- Fast path: implementation, not API. Fields may change. ---- */

#define HM__BUFPOOL_MAGIC   0x42504f4fu /* "BPOO" */
#define HM__BUFPOOL_CHECKED 0x80000000u /* every alloc and free takes the out-of-line path */

/* One entry of the lookup table: the buffer's offset from the pool, and its IOVA. */
struct hm__bufpool_lut {
	int64_t off;
	uint64_t iova;
};

/* A thread's cache of free indices. */
struct hm__bufpool_cache {
	uint32_t len;         /* indices in it (read by other threads for the counts) */
	uint32_t size;        /* a refill fills it up to this */
	uint32_t flushthresh; /* a free that would pass this flushes first */
	uint32_t pad;
	uint64_t allocs, frees; /* written by its thread only */
	uint32_t idx[];         /* capacity: 2 * size */
};

struct hm_bufpool {
	char name[HM_NAME_MAX];
	uint32_t magic; /* HM__BUFPOOL_MAGIC while the pool exists */
	uint32_t flags;
	uint32_t count;    /* buffers, reserved included */
	uint32_t buf_size; /* bytes */
	uint64_t lut_off;  /* from the pool to its lookup table (count entries) */
	uint64_t
		state_off; /* from the pool to one byte per buffer: 1 while it is out (checked pools) */
	uint32_t n_slots; /* entries of the caches table */
	uint32_t pad;
	uint64_t caches_off; /* from the pool to the per-thread-slot cache table */
};

static inline const struct hm__bufpool_lut *hm__bufpool_lut_of(const struct hm_bufpool *bp)
{
	return (const struct hm__bufpool_lut *)(const void *)((const char *)bp + bp->lut_off);
}

static inline __attribute__((always_inline)) void *hm_bufpool_addr(const struct hm_bufpool *bp,
								   uint32_t idx)
{
	const struct hm__bufpool_lut *lut = hm__bufpool_lut_of(bp);

	return (char *)(uintptr_t)bp + lut[idx < bp->count ? idx : 0].off;
}

static inline __attribute__((always_inline)) uint64_t hm_bufpool_iova(const struct hm_bufpool *bp,
								      uint32_t idx)
{
	return hm__bufpool_lut_of(bp)[idx < bp->count ? idx : 0].iova;
}

static inline uint8_t *hm__bufpool_state(struct hm_bufpool *bp)
{
	return (uint8_t *)bp + bp->state_off;
}

/* The calling thread's cache, or NULL (the slow path then makes it). */
static inline struct hm__bufpool_cache *hm__bufpool_local(struct hm_bufpool *bp)
{
	struct hm__bufpool_cache **t =
		(struct hm__bufpool_cache **)(void *)((char *)bp + bp->caches_off);
	int slot = hm__thread_slot();

	/* Acquire pairs with the release that published the cache (the first use). */
	return slot >= 0 && (unsigned)slot < bp->n_slots ? hm__load_acquire(&t[slot]) : NULL;
}

/*
 * Whether any of idx[0..n) is reserved or out of range, for count buffers
 * (3 <= count < 2^31). With x = idx - 2 and lim = count - 3, an index is
 * bad exactly when x >= 2^31 (0, 1, or far out) or lim - x < 0: the sign
 * bit of x | (lim - x). That is two subtractions and two ors, four indices
 * at a time with SSE2: the plain compare loop cost 0.5 ns per index, as much
 * as the rest of a bulk free (measured on 32-index bulks).
 */
static inline bool hm__bufpool_any_bad(const uint32_t *idx, unsigned n, uint32_t count)
{
	const uint32_t lim = count - HM_BUFPOOL_RESERVED - 1;
	uint32_t acc = 0;
	unsigned i = 0;

#if defined(__SSE2__)
	const __m128i two = _mm_set1_epi32((int)HM_BUFPOOL_RESERVED);
	const __m128i vlim = _mm_set1_epi32((int)lim);
	__m128i a = _mm_setzero_si128();

	for (; i + 4 <= n; i += 4) {
		__m128i x = _mm_sub_epi32(_mm_loadu_si128((const __m128i *)(const void *)(idx + i)),
					  two);
		a = _mm_or_si128(a, _mm_or_si128(x, _mm_sub_epi32(vlim, x)));
	}
	acc = (uint32_t)_mm_movemask_ps(_mm_castsi128_ps(a));
#endif
	for (; i < n; i++) {
		uint32_t x = idx[i] - HM_BUFPOOL_RESERVED;
		acc |= (x | (lim - x)) >> 31;
	}
	return acc != 0;
}

HM_API unsigned hm__bufpool_alloc_slow(struct hm_bufpool *bp, struct hm__bufpool_cache *c,
				       uint32_t *idx, unsigned n);
HM_API void hm__bufpool_free_slow(struct hm_bufpool *bp, struct hm__bufpool_cache *c,
				  const uint32_t *idx, unsigned n);

static inline __attribute__((always_inline)) unsigned
hm_bufpool_alloc_bulk(struct hm_bufpool *bp, uint32_t *idx, unsigned n)
{
	struct hm__bufpool_cache *c = hm__bufpool_local(bp);

	if (__builtin_expect(c != NULL && !(bp->flags & HM__BUFPOOL_CHECKED), 1)) {
		/* Relaxed: the cache is this thread's; others only read len for counts. */
		uint32_t len = hm__load_relaxed(&c->len);

		if (__builtin_expect(n <= len, 1)) {
			len -= n;
			hm__copy_u32(idx, &c->idx[len], n);
			hm__store_relaxed(&c->len, len);
			hm__bump(&c->allocs, n);
			return n;
		}
	}
	return hm__bufpool_alloc_slow(bp, c, idx, n);
}

static inline __attribute__((always_inline)) uint32_t hm_bufpool_alloc(struct hm_bufpool *bp)
{
	uint32_t idx;

	return hm_bufpool_alloc_bulk(bp, &idx, 1) ? idx : 0;
}

static inline __attribute__((always_inline)) void
hm_bufpool_free_bulk(struct hm_bufpool *bp, const uint32_t *idx, unsigned n)
{
	struct hm__bufpool_cache *c = hm__bufpool_local(bp);

	if (__builtin_expect(c != NULL && !(bp->flags & HM__BUFPOOL_CHECKED), 1)) {
		uint32_t len = hm__load_relaxed(&c->len);

		if (__builtin_expect(len + n <= c->flushthresh, 1)) {
			if (__builtin_expect(!hm__bufpool_any_bad(idx, n, bp->count), 1)) {
				hm__copy_u32(&c->idx[len], idx, n);
				hm__store_relaxed(&c->len, len + n);
				hm__bump(&c->frees, n);
				return;
			}
		}
	}
	hm__bufpool_free_slow(bp, c, idx, n);
}

static inline __attribute__((always_inline)) void hm_bufpool_free(struct hm_bufpool *bp,
								  uint32_t idx)
{
	hm_bufpool_free_bulk(bp, &idx, 1);
}

#ifdef __cplusplus
}
#endif

#endif /* HUGEMEM_BUFPOOL_H */
