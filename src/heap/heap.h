/* SPDX-License-Identifier: MIT */
/*
 * heap.h - the heap core: one two-level segregated-fit (TLSF) heap per
 * segment list, i.e. per (page size, NUMA node), in shared memory, and the
 * zone table on top of it. Layer: heap; includes mem and util.
 *
 * Blocks are multiples of HM_HEAP_UNIT (a cache line) bytes and start with a
 * 32-byte header, so every payload is cache-line aligned. Free blocks sit in
 * one of FL x SL size classes; two bitmaps find the first non-empty class
 * that fits in O(1), and a free block merges with both neighbours at once.
 * A chunk is a run of pages committed from the segment list:
 *
 *   | chunk header 32 B | block | block | ... | end sentinel 32 B |
 *
 * Links (free lists, previous block, chunk list) are offsets from the
 * instance base. Thread safety: each heap has its own process-shared lock;
 * lock order: heap lock, then the memory layer's lock.
 */
#ifndef HM_HEAP_HEAP_H
#define HM_HEAP_HEAP_H

#include "internal.h"
#include "mem/mem.h"
#include "util/lock.h"

#define HM_HEAP_UNIT     64u /* block granularity and the default alignment */
#define HM_HEAP_HDR      32u /* block header size */
#define HM_HEAP_SL_LOG   4
#define HM_HEAP_SL       (1u << HM_HEAP_SL_LOG) /* second-level classes per power of two */
#define HM_HEAP_FL       40u /* first-level classes: blocks up to 2^(FL + 5) units */
#define HM_HEAP_MAX_SIZE (UINT64_C(1) << 44) /* the largest block */

/* The header in front of every payload. */
struct hm_heap_block {
	uint64_t prev;   /* offset of the previous block in the chunk, 0 for the first */
	uint64_t size;   /* bytes, header included; bit 0: free */
	uint32_t cookie; /* HM_HEAP_COOKIE ^ low bits of the block's offset; 0 once merged away */
	uint16_t heap;   /* index of the owning heap */
	uint16_t flags;  /* for the layers above */
	uint32_t user;   /* for the layers above */
	uint32_t pad;
};

/* The header of a chunk (its first 32 bytes). */
struct hm_heap_chunk {
	uint64_t next, prev; /* offsets in the heap's chunk list */
	uint64_t len;        /* bytes, header and sentinel included */
	uint32_t pinned;     /* preallocated: never released */
	uint32_t pad;
};

struct hm_heap_stats {
	uint64_t heap_size;    /* bytes in chunks */
	uint64_t free_size;    /* bytes in free blocks, headers included */
	uint64_t largest_free; /* the largest free block's payload */
	uint64_t n_free_blocks;
	uint64_t n_used_blocks;
	uint64_t n_chunks;
	uint64_t allocs, frees, grows, releases, errors;
};

struct hm_heap {
	struct hm_mutex lock;
	uint32_t index; /* the segment list it takes pages from */
	int32_t socket;
	uint64_t page_size;
	uint64_t fl_bitmap;
	uint32_t sl_bitmap[HM_HEAP_FL];
	uint64_t head[HM_HEAP_FL][HM_HEAP_SL]; /* free-list heads (offsets) */
	uint64_t chunks;                       /* first chunk */
	uint64_t n_empty; /* unpinned chunks that are wholly free (kept for hysteresis) */
	struct hm_heap_stats st;
};

/* Primary: carve the heaps from the config region and hand them the prealloc. */
int hm__heap_setup(struct hm_shared *sh);

/* The heap of segment list index, or NULL. */
struct hm_heap *hm__heap_get(unsigned index);
unsigned hm__heap_count(void);

/* Flags of hm__heap_alloc(). */
#define HM_HEAP_CONTIG  0x1u                 /* the block is IOVA-contiguous */
#define HM_HEAP_FIT     0x2u                 /* look at every free block before growing the heap */
#define HM_HEAP_KIND(k) ((unsigned)(k) << 8) /* record the block's kind (below) */

/* What a block is for, kept in its header: a free of the wrong kind is refused. */
enum hm_block_kind {
	HM_BLOCK_ANY = 0,    /* to hm__heap_free: whatever kind */
	HM_BLOCK_MALLOC = 1, /* hm_malloc and friends */
	HM_BLOCK_ZONE = 2,   /* a memzone */
};

/*
 * Allocate size bytes aligned to align (a power of two; below HM_HEAP_UNIT
 * means HM_HEAP_UNIT), never crossing a multiple of bound (0: no bound), with
 * HM_HEAP_* flags; grows the heap by committing pages if needed. Returns the
 * payload, or NULL with errno ENOMEM, or EINVAL for size 0, sizes beyond
 * HM_HEAP_MAX_SIZE or an alignment or bound that is not a power of two.
 */
void *hm__heap_alloc(struct hm_heap *h, size_t size, size_t align, size_t bound, unsigned flags);

/*
 * Free a payload; 0, or -EINVAL (logged, counted) for a pointer that is not a
 * live block of kind (HM_BLOCK_ANY: of any kind).
 */
int hm__heap_free(void *p, enum hm_block_kind kind);

/*
 * Resize live block p in place to hold size bytes: shrink it (the tail goes
 * back to the heap, merged with a free neighbour), or grow it into a free
 * next block. 0, or -ENOMEM if it cannot grow in place. The caller owns p.
 */
int hm__heap_resize(void *p, size_t size);

/*
 * The heaps to try for a request, in order, into order[HM_SEGLISTS_MAX]:
 * those of the page sizes the HM_MEMZONE_* page flags ask (all sizes, larger
 * first, when none is asked), on socket or else (HM_SOCKET_ANY) the caller's
 * node first; then, with HM_MEMZONE_SIZE_HINT_ONLY, the other page sizes.
 * Returns how many.
 */
unsigned hm__heap_order(int socket, unsigned flags, unsigned *order);

/* The live block of payload p: its header, or NULL if p is not one (not logged). */
struct hm_heap_block *hm__heap_block_of(const void *p);

/* Bytes usable at payload p of a live block. */
static inline size_t hm__heap_usable(const struct hm_heap_block *b)
{
	return (size_t)((b->size & ~(uint64_t)1) - HM_HEAP_HDR);
}

/*
 * The longest len that hm__heap_alloc(h, len, align, bound, false) can
 * satisfy from memory already committed, without growing: 0 if none.
 */
size_t hm__heap_largest(struct hm_heap *h, size_t align, size_t bound);

void hm__heap_get_stats(struct hm_heap *h, struct hm_heap_stats *st);

/* Check every chunk, block and free list of h; 0, or -EFAULT with a log line saying what is wrong. */
int hm__heap_audit(struct hm_heap *h);

/* --- zones (memzone.c) and malloc (malloc.c): primary setup --- */
int hm__memzone_setup(struct hm_shared *sh);
int hm__malloc_setup(struct hm_shared *sh);

#endif /* HM_HEAP_HEAP_H */
