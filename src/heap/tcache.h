/* SPDX-License-Identifier: MIT */
/*
 * tcache.h - the heap's thread caches and the malloc area they live in.
 * Layer: heap; includes mem and util.
 *
 * Every thread slot has a thread cache in shared memory: for each of the
 * heap's 128 smallest size classes (blocks below 128 KiB), a LIFO list of
 * blocks that their users have freed, linked through the blocks' first
 * payload word (an offset). hm_malloc takes from the list of its class and
 * hm_free pushes onto it, with no lock: a cache hit touches only the calling
 * thread's cache and the block. A cached block stays "in use" for the heap,
 * with kind HM_BLOCK_CACHED in its tag, so hm_malloc_validate and a second
 * hm_free refuse it. A list that runs dry is refilled with a run of blocks
 * cut from one free block (hm__heap_alloc_run); one that passes its limit
 * gives half back (hm__heap_free_run). Each cache serves one heap, its home:
 * the first heap of the thread's order when it first allocated; blocks of
 * other heaps go straight back to their heap.
 *
 * The per-type counters of malloc are per thread too: each cache counts, for
 * each type, the bytes its thread allocated minus those it freed, and the
 * type's shared entry holds what has been folded in (a thread folds when its
 * count passes +/-64 KiB, when the type has a limit, and when it exits). A
 * type's live bytes are the entry's plus every cache's. Types with a limit
 * are counted in the entry alone, with a compare-and-swap, so that the
 * limit holds exactly across threads and processes.
 *
 * When a thread exits (or unregisters, or the slot of a dead process is
 * reclaimed) its cache goes back to the heap and its counts are folded in:
 * no block is stranded in the cache of a thread that is gone.
 */
#ifndef HM_HEAP_TCACHE_H
#define HM_HEAP_TCACHE_H

#include "heap/heap.h"
#include <hugemem/malloc.h>
#include <stdatomic.h>

#define HM_TC_BINS      128u                            /* size classes with a list */
#define HM_TC_MAX_BLOCK (UINT64_C(2048) * HM_HEAP_UNIT) /* 128 KiB: smaller blocks are cached */
#define HM_TC_BIN_BYTES (UINT64_C(64) << 10)            /* a list holds about this many bytes ... */
#define HM_TC_BIN_MAX   64u                             /* ... and at most this many blocks */
#define HM_TC_BIN_MIN   2u                              /* ... and at least this many */
#define HM_TC_FOLD      (INT64_C(64) << 10) /* a thread's type count folds past +/- this */

/* One malloc type's shared counters (what threads have folded in). */
struct hm_type_entry {
	char name[HM_NAME_MAX];
	_Atomic int64_t live_bytes; /* folded; the live bytes add every cache's count */
	_Atomic uint64_t high_water;
	_Atomic uint64_t limit;   /* 0: none */
	_Atomic int64_t unfolded; /* with a limit: caches' counts not folded in yet */
	_Atomic uint64_t allocs;  /* folded */
	_Atomic uint64_t frees;   /* folded */
	_Atomic uint64_t refused;
};

/* One type's counts by one thread; written by that thread only. */
struct hm_tc_type {
	_Atomic int64_t bytes; /* usable bytes allocated minus freed, since the last fold */
	_Atomic int64_t peak;  /* the most bytes has been since the last fold (at least 0) */
	_Atomic uint64_t allocs;
	_Atomic uint64_t frees;
};

/* One list of a thread cache: 16 bytes, so a hit touches one line of the cache for it. */
struct hm_tc_bin {
	uint64_t head;          /* offset of its first block, 0: empty */
	_Atomic uint32_t count; /* blocks in it (statistics read it) */
	uint32_t max;           /* the most it holds before it gives half back */
};

/*
 * A thread cache. The lists' heads are the owner's alone (and, when the
 * owner is gone, the reclaimer's); the atomics are written by the owner
 * only, with relaxed stores, and read by anyone for statistics (hugemem-info
 * too). The mallocs it served are not counted on the fast path but follow
 * from the others: refilled + frees - flushed - the blocks it holds.
 */
struct hm_tcache {
	_Atomic uint32_t home;     /* heap index + 1 of the heap it caches; 0: none */
	uint32_t slot;             /* its thread slot */
	_Atomic uint64_t n_bytes;  /* block bytes held, headers included */
	_Atomic uint64_t frees;    /* frees it took */
	_Atomic uint64_t refilled; /* blocks it took from the heap in runs */
	_Atomic uint64_t flushed;  /* blocks it gave back to the heap */
	struct hm_tc_bin bins[HM_TC_BINS];
	struct hm_tc_type types[HM_MALLOC_TYPES_MAX];
};

/* The malloc area of the config region. */
struct hm_malloc_area {
	struct hm_spinlock lock;      /* registration of types */
	_Atomic uint32_t n_types;     /* entries [0, n_types) are registered */
	_Atomic uint64_t bad_frees;   /* frees of pointers that were no block at all */
	_Atomic uint64_t corruptions; /* smashed trailers (debug builds) */
	uint64_t tcaches_off;         /* struct hm_tcache[max_threads] */
	struct hm_type_entry types[HM_MALLOC_TYPES_MAX];
};

static inline struct hm_malloc_area *hm__malloc_area(const struct hm_shared *sh)
{
	return hm__at(sh, sh->area_off[HM_AREA_MALLOC]);
}

static inline struct hm_tcache *hm__tcache(const struct hm_shared *sh, unsigned slot)
{
	return (struct hm_tcache *)hm__at(sh, hm__malloc_area(sh)->tcaches_off) + slot;
}

/*
 * The list of a request of need block bytes (hm__heap_need): the class whose
 * start is need rounded up (hm__heap_round), so every block of its list
 * holds the request; HM_TC_BINS if the request is too large to be cached.
 */
static inline unsigned hm__tc_bin(uint64_t need)
{
	uint64_t u = need / HM_HEAP_UNIT;

	if (u < HM_HEAP_SL)
		return (unsigned)u;
	unsigned t = 63u - (unsigned)__builtin_clzll(u), shift = t - HM_HEAP_SL_LOG;
	uint64_t top = (u + (UINT64_C(1) << shift) - 1) >> shift; /* 16..32 */
	uint64_t bin = (uint64_t)(t - HM_HEAP_SL_LOG + 1) * HM_HEAP_SL + top - HM_HEAP_SL;

	return bin < HM_TC_BINS ? (unsigned)bin : HM_TC_BINS;
}

/* The block bytes of list bin: the start of its class. */
static inline uint64_t hm__tc_bin_size(unsigned bin)
{
	unsigned fl = bin / HM_HEAP_SL, sl = bin % HM_HEAP_SL;

	if (fl == 0)
		return (uint64_t)sl * HM_HEAP_UNIT;
	return ((uint64_t)(HM_HEAP_SL + sl) << (fl - 1)) * HM_HEAP_UNIT;
}

/* The most blocks list bin holds before it gives half back (list 0, of size 0, is never used). */
static inline unsigned hm__tc_bin_max(unsigned bin)
{
	uint64_t size = hm__tc_bin_size(bin);
	uint64_t n = size ? HM_TC_BIN_BYTES / size : 0;

	return n > HM_TC_BIN_MAX ? HM_TC_BIN_MAX : n < HM_TC_BIN_MIN ? HM_TC_BIN_MIN : (unsigned)n;
}

/* The calling thread's cache (set up on first use), or NULL if it has no slot. */
extern __thread struct hm_tcache *hm__tc_tls __attribute__((tls_model("initial-exec")));
extern __thread uint64_t hm__tc_tls_generation __attribute__((tls_model("initial-exec")));
struct hm_tcache *hm__tc_attach(void);

static inline struct hm_tcache *hm__tc_get(void)
{
	if (HM_LIKELY(hm__tc_tls_generation == hm__proc.generation))
		return hm__tc_tls;
	return hm__tc_attach();
}

/* Refill list bin of tc from its home heap: how many blocks it now holds (0: none to be had). */
unsigned hm__tc_refill(struct hm_tcache *tc, unsigned bin);

/* Give list bin of tc back to the heap down to keep blocks (the most recently freed stay). */
void hm__tc_flush_bin(struct hm_tcache *tc, unsigned bin, unsigned keep);

/* Give every list of tc back to the heap. */
void hm__tc_flush(struct hm_tcache *tc);

/* Give the calling thread's cache back to the heap (when memory runs short). */
void hm__tc_flush_mine(void);

/* Fold tc's counts of type idx into the type's entry (the owner, or the reclaimer). */
void hm__tc_fold(struct hm_malloc_area *a, struct hm_tcache *tc, unsigned idx);

/* The sums over every cache whose home is heap index (or every cache, for index < 0). */
struct hm_tc_sums {
	uint64_t blocks, bytes, allocs, frees;
};
void hm__tc_sums(const struct hm_shared *sh, int index, struct hm_tc_sums *out);

/* A type's counts summed over every cache: bytes (signed), peaks, allocs, frees. */
void hm__tc_type_sums(const struct hm_shared *sh, unsigned idx, int64_t *bytes, int64_t *peaks,
		      uint64_t *allocs, uint64_t *frees);

/* Primary: carve the caches from the config region. Every process: register the exit hook. */
int hm__tc_setup(struct hm_shared *sh, struct hm_malloc_area *a);
int hm__tc_attach_process(void);

#endif /* HM_HEAP_TCACHE_H */
