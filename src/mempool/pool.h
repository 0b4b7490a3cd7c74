/* SPDX-License-Identifier: MIT */
/*
 * pool.h - the inside of a mempool, shared by mempool.c (create, populate,
 * destroy, iterate, audit) and ops.c (the slow paths of get and put, the
 * backends, the checks). Layer: mempool; includes cache, ring, heap, mem,
 * util.
 *
 * A pool is one zone, "MP_" + its name:
 *
 *   | struct pool (the public struct hm_mempool first) | local[n_slots] |
 *   | private area | backend (a ring, or a stack of pointers) |
 *
 * and its objects lie in chunks: heap blocks it allocated, or memory the
 * caller gave to hm_mempool_populate. Each object has its header
 * (struct hm_mempool_objhdr) just before it: in cache-aligned pools the
 * object starts on a cache line and its header fills the end of the line
 * before; with HM_MEMPOOL_F_NO_CACHE_ALIGN the header and object are packed.
 * Checked pools (HM_MEMPOOL_F_CHECKED, or every pool in a debug build) keep
 * in each header whether the object is in the pool or out, changed with a
 * compare-and-swap, and in debug builds an end cookie after each object.
 */
#ifndef HM_MEMPOOL_POOL_H
#define HM_MEMPOOL_POOL_H

#include "internal.h"
#include "cache/cache.h"
#include "mem/mem.h"
#include "util/lock.h"
#include <hugemem/malloc.h>
#include <hugemem/mempool.h>
#include <hugemem/ring.h>

#include <stdatomic.h>

#define POOL_CHUNKS_MAX 64
#define POOL_COOKIE_IN  UINT64_C(0x1e5f7ee0b1ec7a1d) /* the object is in the pool */
#define POOL_COOKIE_OUT UINT64_C(0x0b1ec7ab0a7d0a7e) /* the object is out */
#define POOL_END_COOKIE UINT64_C(0xe11dc00c1ee5a1ed) /* after each object, in debug builds */

#if HM_DEBUG >= 1
#define POOL_TRAILER 8u
#else
#define POOL_TRAILER 0u
#endif

enum pool_backend {
	BACKEND_RING = 0,
	BACKEND_STACK = 1,
};

/*
 * The stack backend: a LIFO array of free objects under a robust mutex, so
 * that a process killed while it holds the lock does not hang the others
 * (the stack is taken in bulk, on cache refills and flushes only).
 */
struct pool_stack {
	struct hm_mutex lock;
	uint32_t len;
	uint32_t cap;
	void *objs[];
};

/* A run of memory holding objects. */
struct pool_chunk {
	char *addr; /* its start */
	size_t len;
	uint64_t iova;  /* of addr, HM_BAD_IOVA if unknown */
	uint32_t first; /* the index of its first object */
	uint32_t count; /* objects in it */
	char *objs;     /* the first object */
	bool owned;     /* a heap block of the pool's: freed by destroy */
};

struct pool {
	struct hm_mempool pub; /* first: the public part, read by the inline paths */
	uint32_t header_size;  /* bytes before each object in its stride */
	uint32_t trailer_size; /* the end cookie, debug builds */
	uint32_t stride;       /* bytes from one object to the next in a chunk */
	uint32_t populated;    /* objects added so far */
	uint32_t priv_size;
	int32_t socket;
	uint32_t backend; /* enum pool_backend */
	bool checked;     /* objects carry in/out cookies */
	bool track;       /* tell ASan or Valgrind which objects are out */
	const struct hm_memzone *zone;
	struct pool_stack *stack; /* BACKEND_STACK */
	void *priv;
	struct hm_cache_set set;    /* the per-thread caches, for the exit flush */
	_Atomic uint64_t refused;   /* objects a check refused (summed into the stats) */
	_Atomic uint64_t overflows; /* objects the backend had no room for (double puts) */
	_Atomic bool warned_cache;  /* the "no memory for a thread's cache" warning was given */
	/* Gets and puts made without any cache (generic calls with NULL, threads without a slot). */
	_Atomic uint64_t get_calls, get_objs, get_fail_calls, get_fail_objs, put_calls, put_objs;
	uint32_t n_chunks;
	struct pool_chunk chunks[POOL_CHUNKS_MAX];
};

static inline struct pool *pool_of(struct hm_mempool *mp)
{
	return (struct pool *)mp;
}

static inline struct hm_mempool_objhdr *hdr_of(const void *obj)
{
	return (struct hm_mempool_objhdr *)obj - 1;
}

/* Whether mp is a live pool of this instance (its memory committed, its magic set). */
bool hm__pool_valid(const struct hm_mempool *mp);

/* The object of pool p at obj, checked by address alone: in a chunk, on an object's start. */
bool hm__pool_owns(const struct pool *p, const void *obj);

/* Backend: move n objects in or out, all or nothing; the count of objects in it. */
unsigned hm__pool_backend_put(struct pool *p, void *const *objs, unsigned n);
unsigned hm__pool_backend_get(struct pool *p, void **objs, unsigned n);
unsigned hm__pool_backend_count(const struct pool *p);

/* A cache of size objects for pool p's node; NULL with errno. */
struct hm_mempool_cache *hm__pool_cache_new(unsigned size, int socket);

/* The exit flush of the cache layer: one thread's cache back to its pool. */
void hm__pool_flush_cache(void *owner, void *cache);

/* Every process, at hm_init: register the exit flush with the cache layer. */
int hm__mempool_attach(void);

#endif /* HM_MEMPOOL_POOL_H */
