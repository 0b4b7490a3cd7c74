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
#include <stdio.h>

#define HM_HEAP_UNIT     64u /* block granularity and the default alignment */
#define HM_HEAP_HDR      32u /* block header size */
#define HM_HEAP_SL_LOG   4
#define HM_HEAP_SL       (1u << HM_HEAP_SL_LOG) /* second-level classes per power of two */
#define HM_HEAP_FL       40u /* first-level classes: blocks up to 2^(FL + 5) units */
#define HM_HEAP_MAX_SIZE (UINT64_C(1) << 44) /* the largest block */

/*
 * The header in front of every payload. tag is one atomic word so that the
 * lock-free free of a thread cache (tcache.c) can claim a live block with one
 * compare-and-swap: of two threads freeing the same pointer, one wins. The
 * heap core writes it under the heap lock, with relaxed atomic stores.
 */
struct hm_heap_block {
	uint64_t prev;        /* offset of the previous block in the chunk, 0 for the first */
	uint64_t size;        /* bytes, header included; bit 0: free */
	_Atomic uint64_t tag; /* HM_HEAP_TAG(cookie, heap, kind); 0 once merged away */
	union {
		struct {
			uint32_t user; /* for the layers above (malloc: the type index) */
			uint32_t pad;
		};
		/* While the block is cached (HM_BLOCK_CACHED): the offset of the next
		 * block of its thread cache's list. In the header rather than the
		 * payload, so that a cache hit and a cached free touch one line. */
		uint64_t link;
	};
};

/* A block's tag: its cookie (HM_HEAP_COOKIE ^ low bits of its offset), heap index and kind. */
#define HM_HEAP_TAG(cookie, heap, kind) \
	((uint64_t)(cookie) | (uint64_t)(heap) << 32 | (uint64_t)(kind) << 48)
#define HM_HEAP_TAG_COOKIE(t) ((uint32_t)(t))
#define HM_HEAP_TAG_HEAP(t)   ((unsigned)((t) >> 32) & 0xffffu)
#define HM_HEAP_TAG_KIND(t)   ((unsigned)((t) >> 48))
#define HM_HEAP_COOKIE        UINT32_C(0xa110c8ed)
#define HM_HEAP_TAG_KIND_MASK (UINT64_C(0xffff) << 48)

/* The cookie of a block header at b: it differs from one address to the next. */
static inline uint32_t hm__heap_cookie(const struct hm_shared *sh, const void *b)
{
	return HM_HEAP_COOKIE ^ (uint32_t)(hm__off_of(sh, b) >> 5);
}

/*
 * A block's tag, read where the header may lie in memory that the checkers
 * were told is free (a stale or foreign pointer given to hm_free): neither
 * ASan nor Valgrind sees this read.
 */
static inline HM_NO_TRACK uint64_t hm__heap_peek_tag(const struct hm_heap_block *b)
{
	uint64_t t;

	hm_track_quiet_begin();
	t = atomic_load_explicit(&((struct hm_heap_block *)b)->tag, memory_order_relaxed);
	hm_track_quiet_end();
	hm_track_defined(&t, sizeof(t));
	return t;
}

/* The tag with its kind replaced. */
static inline uint64_t hm__heap_retag(uint64_t tag, unsigned kind)
{
	return (tag & ~HM_HEAP_TAG_KIND_MASK) | (uint64_t)kind << 48;
}

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
	uint64_t run_allocs, run_frees; /* blocks handed to and taken back from thread caches */
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
#define HM_HEAP_CONTIG  0x1u                  /* the block is IOVA-contiguous */
#define HM_HEAP_FIT     0x2u                  /* look at every free block before growing the heap */
#define HM_HEAP_KIND(k) ((unsigned)(k) << 8)  /* record the block's kind (below) */
#define HM_HEAP_USER(u) ((unsigned)(u) << 16) /* and its user field (below 65536) */

/* What a block is for, kept in its header: a free of the wrong kind is refused. */
enum hm_block_kind {
	HM_BLOCK_ANY = 0,    /* to hm__heap_free: whatever kind */
	HM_BLOCK_MALLOC = 1, /* hm_malloc and friends */
	HM_BLOCK_ZONE = 2,   /* a memzone */
	HM_BLOCK_CACHED = 3, /* free for its user, held by a thread cache (tcache.c) */
	HM_BLOCK_POOL = 4,   /* memory of a pool of the layers above (mempool objects) */
	HM_BLOCK_SLAB = 5,   /* a slab of a slab cache (its base is read by hm_kfree) */
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
 * hm__heap_alloc, and the bytes usable at the payload into *usable, read
 * under the heap lock (by the time the caller reads the header, a racing
 * misuse, such as a double free of the same address, may have changed it).
 */
void *hm__heap_alloc_sized(struct hm_heap *h, size_t size, size_t align, size_t bound,
			   unsigned flags, size_t *usable);

/* Called under the heap lock with a live block (hm__heap_free, hm__heap_inspect). */
typedef int hm__heap_block_fn(struct hm_heap_block *b, void *arg);

/*
 * Free a payload; 0, or -EINVAL (logged; counted in the heap's errors when p
 * lies in a heap) for a pointer that is not a live block of kind
 * (HM_BLOCK_ANY: of any kind). before, if not NULL, runs first, under the
 * heap lock, on the block found live: the one moment its header and payload
 * are known to be the caller's (its return value is ignored).
 */
int hm__heap_free(void *p, enum hm_block_kind kind, hm__heap_block_fn *before, void *arg);

/*
 * Run fn(b, arg) under the heap lock if p is the payload of live block b and
 * return what fn returns; -EINVAL if it is not a live block, -ENOENT if p is
 * not in any heap's range. Not logged.
 */
int hm__heap_inspect(const void *p, hm__heap_block_fn *fn, void *arg);

/* The heap whose address range holds p, found from the address alone; NULL if none. */
struct hm_heap *hm__heap_at(const void *p);

/*
 * Resize live block p in place to hold size bytes: shrink it (the tail goes
 * back to the heap, merged with a free neighbour), or grow it into a free
 * next block. 0 and the bytes now usable at p in *usable (read under the
 * lock), -ENOMEM if it cannot grow in place, or -EINVAL if p is not a live
 * block (*usable is set only on success). The caller owns p.
 */
int hm__heap_resize(void *p, size_t size, size_t *usable);

/*
 * The heaps to try for a request, in order, into order[HM_SEGLISTS_MAX]:
 * those of the page sizes the HM_MEMZONE_* page flags ask (all sizes, larger
 * first, when none is asked), on socket or else (HM_SOCKET_ANY) the caller's
 * node first; then, with HM_MEMZONE_SIZE_HINT_ONLY, the other page sizes.
 * Returns how many.
 */
unsigned hm__heap_order(int socket, unsigned flags, unsigned *order);

/*
 * The live block of payload p: its header, or NULL if p is not one (not
 * logged). Without the heap lock: for tests and for pointers the caller owns.
 */
struct hm_heap_block *hm__heap_block_of(const void *p);

/* Bytes usable at payload p of a live block. */
static inline size_t hm__heap_usable(const struct hm_heap_block *b)
{
	return (size_t)((b->size & ~(uint64_t)1) - HM_HEAP_HDR);
}

/*
 * Size classes. A block of u units (u = size / 64) with u < 16 is in class
 * (0, u); otherwise, with t = floor(log2(u)), in first-level class t - 3 and
 * second-level class (u >> (t - 4)) - 16. hm__heap_class_index() numbers
 * them fl * 16 + sl.
 */
static inline void hm__heap_mapping(uint64_t size, unsigned *fl, unsigned *sl)
{
	uint64_t u = size / HM_HEAP_UNIT;

	if (u < HM_HEAP_SL) {
		*fl = 0;
		*sl = (unsigned)u;
	} else {
		unsigned t = 63u - (unsigned)__builtin_clzll(u);
		*fl = t - HM_HEAP_SL_LOG + 1;
		*sl = (unsigned)(u >> (t - HM_HEAP_SL_LOG)) - HM_HEAP_SL;
	}
}

static inline unsigned hm__heap_class_index(uint64_t size)
{
	unsigned fl, sl;

	hm__heap_mapping(size, &fl, &sl);
	return fl * HM_HEAP_SL + sl;
}

/* size (a multiple of the unit) rounded up to the start of the next class:
 * every block of that class holds size. */
static inline uint64_t hm__heap_round(uint64_t size)
{
	uint64_t u = size / HM_HEAP_UNIT;

	if (u >= HM_HEAP_SL) {
		unsigned t = 63u - (unsigned)__builtin_clzll(u);
		u += (UINT64_C(1) << (t - HM_HEAP_SL_LOG)) - 1;
		u &= ~((UINT64_C(1) << (63u - (unsigned)__builtin_clzll(u) - HM_HEAP_SL_LOG)) - 1);
	}
	return u * HM_HEAP_UNIT;
}

/* The block bytes (header included, in whole units) that hold a payload of size bytes. */
static inline uint64_t hm__heap_need(uint64_t size)
{
	return (size + HM_HEAP_HDR + HM_HEAP_UNIT - 1) & ~(uint64_t)(HM_HEAP_UNIT - 1);
}

/*
 * For a thread cache: up to n blocks of exactly bsize block bytes (a
 * multiple of the unit), cut from one free block when one is large enough
 * (fewer when the largest run is shorter; the heap grows if it has none).
 * Each is marked HM_BLOCK_CACHED; their payloads go to out[]. Returns how
 * many (0: out of memory). One lock round trip for all of them.
 */
unsigned hm__heap_alloc_run(struct hm_heap *h, uint64_t bsize, unsigned n, void **out);

/*
 * Free n HM_BLOCK_CACHED blocks of heap h (payloads in p[]), under one lock
 * round trip. Blocks that are not cached blocks of h are refused (logged,
 * counted) and left alone.
 */
void hm__heap_free_run(struct hm_heap *h, void *const *p, unsigned n);

/*
 * The longest len that hm__heap_alloc(h, len, align, bound, false) can
 * satisfy from memory already committed, without growing: 0 if none.
 */
size_t hm__heap_largest(struct hm_heap *h, size_t align, size_t bound);

void hm__heap_get_stats(struct hm_heap *h, struct hm_heap_stats *st);

/*
 * Print heap h: its counters, then each chunk (address, length, blocks in
 * use and free, its largest free block). O(blocks), under the heap lock.
 */
void hm__heap_dump(struct hm_heap *h, FILE *f);

/* Add a gone thread cache's allocations and frees to h's counts (under its lock). */
void hm__heap_add_counts(struct hm_heap *h, uint64_t allocs, uint64_t frees);

/* Check every chunk, block and free list of h; 0, or -EFAULT with a log line saying what is wrong. */
int hm__heap_audit(struct hm_heap *h);

/* --- zones (memzone.c) and malloc (malloc.c): primary setup --- */
int hm__memzone_setup(struct hm_shared *sh);
int hm__malloc_setup(struct hm_shared *sh);
/* Every process, after setup or attach: register what malloc needs per process (the thread exit hook). */
int hm__malloc_attach(void);

#endif /* HM_HEAP_HEAP_H */
