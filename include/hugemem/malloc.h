/* SPDX-License-Identifier: MIT */
/*
 * hugemem/malloc.h - the heap: malloc and friends over hugemem memory, per
 * NUMA node, usable from every thread of every attached process.
 *
 * Blocks come from one TLSF heap per (page size, NUMA node): malloc and free
 * take the same few steps whatever the number of blocks, and the memory of
 * a block is valid at the same address in every process of the instance.
 * In front of the heaps, every thread has a cache of free blocks below
 * 128 KiB: a malloc of such a size (align at most a cache line, on the
 * thread's node) takes one, and a free gives one back, without a lock. A
 * cached block is free for its user (a second free of it is refused) but
 * still holds its memory; the cache goes back to the heap when the thread
 * exits or when memory runs short. Every block has a type, a name given at
 * allocation ("" or NULL for none); per-type counters and limits are kept in
 * shared memory.
 *
 * Errors: pointer functions return NULL and set errno; int functions return
 * 0 or a negative errno. Freeing a pointer that is not a live block (foreign,
 * already freed, a zone's memory, a smashed header) is refused with a log line
 * and counted; the heap stays consistent.
 */
#ifndef HUGEMEM_MALLOC_H
#define HUGEMEM_MALLOC_H

#include <stdio.h>
#include <hugemem/common.h>

#ifdef __cplusplus
extern "C" {
#endif

#define HM_MALLOC_TYPES_MAX 64 /* distinct type names an instance tracks */

/*
 * Allocate size bytes aligned to align (0: a cache line; else a power of
 * two), of type type (NULL or "": untyped), on the caller's NUMA node, or on
 * any node if that one has no memory left. hm_zmalloc zeroes the memory;
 * hm_calloc allocates n * size bytes, zeroed, and checks the product for
 * overflow. Returns the memory, or NULL with errno:
 *   EINVAL  size 0, align not a power of two, n * size overflows, a type name
 *           of HM_NAME_MAX bytes or more
 *   ENOMEM  no memory, or the type's limit (hm_malloc_set_limit) would be passed
 *   ENXIO   hm_init has not been called
 * Thread safety: any thread of any attached process.
 */
HM_API void *hm_malloc(const char *type, size_t size, size_t align);
HM_API void *hm_zmalloc(const char *type, size_t size, size_t align);
HM_API void *hm_calloc(const char *type, size_t n, size_t size, size_t align);

/* The same on NUMA node socket (HM_SOCKET_ANY: as above); ENODEV if socket is not a node of the instance. */
HM_API void *hm_malloc_socket(const char *type, size_t size, size_t align, int socket);
HM_API void *hm_zmalloc_socket(const char *type, size_t size, size_t align, int socket);
HM_API void *hm_calloc_socket(const char *type, size_t n, size_t size, size_t align, int socket);

/*
 * Resize the block p to size bytes, keeping its type, its contents (up to
 * the smaller size) and alignment align (0: a cache line). It grows in place
 * when the next block is free in the heap and large enough (a block held by
 * a thread cache is not), shrinks in place, and moves otherwise. p NULL: hm_malloc(NULL, size, align). Returns the block, or NULL
 * with errno EINVAL (size 0, align not a power of two, p not a live block),
 * ENOMEM or ENXIO; on failure p is untouched and still valid.
 */
HM_API void *hm_realloc(void *p, size_t size, size_t align);

/* Free a block; NULL does nothing. A pointer that is not a live block is refused (logged, counted). */
HM_API void hm_free(void *p);

/*
 * Whether p is a live block of the heap: 0 and, if size is not NULL, the
 * bytes usable at p; -EINVAL for anything else (interior, freed, foreign
 * pointers, zones' memory); -ENXIO before hm_init.
 */
HM_API int hm_malloc_validate(const void *p, size_t *size);

/*
 * Limit the live bytes of type to max (0: no limit), counted in usable bytes
 * across every node, thread and process; allocations that would pass it fail
 * with ENOMEM, and an allocation within it is never refused. A type with a
 * limit is counted in shared memory on every malloc and free (an atomic
 * compare-and-swap), where others are counted by each thread alone. The type
 * is created if it is new. Returns 0, or -EINVAL (NULL or
 * empty type, name too long), -ENOSPC (HM_MALLOC_TYPES_MAX types exist),
 * -ENXIO. A limit below the live bytes refuses new allocations until
 * enough are freed.
 */
HM_API int hm_malloc_set_limit(const char *type, size_t max);

/* The heaps of one NUMA node, summed: a versioned record (size and version first). */
struct hm_malloc_stats {
	uint32_t size;         /* sizeof(struct hm_malloc_stats) of the library */
	uint32_t version;      /* 1 */
	uint64_t heap_size;    /* bytes of memory the heaps hold */
	uint64_t free_size;    /* of which free */
	uint64_t largest_free; /* the largest free block (payload bytes) */
	uint64_t live_blocks;  /* blocks in use: malloc blocks and zones */
	uint64_t free_blocks;
	uint64_t allocs; /* successful allocations, since init */
	uint64_t frees;
	uint64_t errors;        /* refused frees and detected corruption */
	uint64_t cached_blocks; /* of free_blocks: held by thread caches (free_size counts them) */
	uint64_t cached_bytes;  /* their bytes, headers included */
};

/* Statistics of the heaps of socket (HM_SOCKET_ANY: all of them). 0, -EINVAL (st NULL), -ENODEV, -ENXIO. */
HM_API int hm_malloc_get_stats(int socket, struct hm_malloc_stats *st);

/* One type's counters. */
struct hm_malloc_type_stats {
	char name[HM_NAME_MAX]; /* "" for untyped blocks */
	uint64_t live_bytes;    /* usable bytes of its live blocks */
	uint64_t high_water;    /* the most live_bytes has been: exact if one thread uses the
				 * type, else within 64 KiB per thread above the true peak */
	uint64_t limit;         /* 0: none */
	uint64_t live_blocks;
	uint64_t allocs, frees;
	uint64_t refused; /* allocations refused by the limit */
};

/* A type's counters by name (NULL or "": untyped). 0, -ENOENT (never used), -EINVAL, -ENXIO. */
HM_API int hm_malloc_get_type_stats(const char *type, struct hm_malloc_type_stats *st);

/* Print the heap statistics of every node, then every type (or only type, if not NULL). */
HM_API void hm_malloc_dump_stats(FILE *f, const char *type);

/*
 * Print every heap (one per page size and node): its counters, what thread
 * caches hold of it, and each chunk of pages it holds with its blocks in use
 * and free and its largest free block. O(blocks); for debugging.
 */
HM_API void hm_malloc_dump_heaps(FILE *f);

#ifdef __cplusplus
}
#endif

#endif /* HUGEMEM_MALLOC_H */
