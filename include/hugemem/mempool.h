/* SPDX-License-Identifier: MIT */
/*
 * hugemem/mempool.h - pools of fixed-size objects, created once, with a
 * cache for every thread in front of a shared backend: DPDK's rte_mempool.
 *
 * A pool holds n objects of elt_size bytes, cache-line aligned, each with a
 * small header (its pool, its IOVA) just before it. Free objects wait in
 * the backend, a lock-free ring (the default) or a stack (LIFO: the objects
 * handed out are the ones freed last, warm in the caches), and in the
 * per-thread caches: a get takes objects from the calling thread's cache,
 * refilling it from the backend in bulk when it runs dry; a put gives them
 * back to it, flushing it to the backend in bulk when it passes its
 * threshold. A cache hit touches only the calling thread's cache: no lock,
 * no atomic read-modify-write, no call. Every thread gets its cache on its
 * first get or put, without registering anything, and when it exits its
 * caches are flushed back to their pools, so no object is stranded.
 *
 * The pool, its caches and its objects live in hugemem memory; a pool is
 * found by name from every process of the instance, and its objects are
 * valid at the same addresses there.
 *
 * Checks: in release builds a put trusts its caller as DPDK's does (a
 * double put or a foreign pointer corrupts the pool); a pool created with
 * HM_MEMPOOL_F_CHECKED, and every pool in a debug build, checks each object
 * put (NULL, another pool's or no pool's object, an object already in the
 * pool, an overrun of its end in debug builds): it is refused, logged and
 * counted, and the pool stays consistent.
 *
 * Thread safety: get and put from any thread of any attached process (one
 * at a time with HM_MEMPOOL_F_SC_GET / SP_PUT). A user-owned cache is one
 * thread's at a time. Create, populate and destroy: not concurrently with
 * other use of the same pool.
 */
#ifndef HUGEMEM_MEMPOOL_H
#define HUGEMEM_MEMPOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <hugemem/common.h>
#include <hugemem/atomic.h>
#include <hugemem/core.h>
#include <hugemem/ring.h>

#ifdef __cplusplus
extern "C" {
#endif

#define HM_MEMPOOL_F_SP_PUT         0x0001u /* one thread at a time puts to the backend */
#define HM_MEMPOOL_F_SC_GET         0x0002u /* one thread at a time gets from the backend */
#define HM_MEMPOOL_F_NO_CACHE_ALIGN 0x0004u /* objects 8-byte aligned, packed, not on cache lines */
#define HM_MEMPOOL_F_IOVA_CONTIG    0x0008u /* no object spans IOVA-discontiguous memory */
#define HM_MEMPOOL_F_NO_IOVA        0x0010u /* the objects' IOVA is not needed (HM_BAD_IOVA) */
#define HM_MEMPOOL_F_STACK          0x0020u /* the backend is a stack, not a ring */
#define HM_MEMPOOL_F_CHECKED        0x0040u /* check every object put, in every build */

#define HM_MEMPOOL_CACHE_MAX 512u              /* the largest cache_size */
#define HM_MEMPOOL_NAME_MAX  (HM_NAME_MAX - 3) /* bytes of a pool's name, NUL included ("MP_") */
#define HM_MEMPOOL_N_MAX     (1u << 30)        /* the most objects in a pool */

struct hm_mempool;
struct hm_mempool_cache;

/* Called for each object (obj_init, hm_mempool_obj_iter) with its index. */
typedef void hm_mempool_obj_cb(struct hm_mempool *mp, void *arg, void *obj, unsigned idx);
/* Called for each chunk of memory the pool's objects lie in (hm_mempool_mem_iter). */
typedef void hm_mempool_mem_cb(struct hm_mempool *mp, void *arg, void *addr, uint64_t iova,
			       size_t len, unsigned idx);

/*
 * hm_mempool_create() - create a pool of n objects of elt_size bytes on
 * NUMA node socket (HM_SOCKET_ANY: the caller's, or any), with a cache of
 * cache_size objects per thread (0: none) and priv_size bytes of private
 * data for the caller (hm_mempool_get_priv). obj_init, if not NULL, is
 * called once for each object, with arg. Flags: HM_MEMPOOL_F_*.
 *
 * Thread safety: any thread of any attached process.
 * Returns: the pool, or NULL with errno set to
 *   EINVAL        n is 0 or above HM_MEMPOOL_N_MAX, elt_size is 0 or 2 GiB or more,
 *                 priv_size is 4 GiB or more, cache_size is above HM_MEMPOOL_CACHE_MAX
 *                 or above n, unknown flags, name NULL or empty
 *   ENAMETOOLONG  name is HM_MEMPOOL_NAME_MAX bytes or longer
 *   EEXIST        a pool with this name exists
 *   ENODEV        socket is not a node of the instance
 *   ENOMEM        no memory for it
 *   ENXIO         hm_init has not been called
 */
HM_API struct hm_mempool *hm_mempool_create(const char *name, unsigned n, size_t elt_size,
					    unsigned cache_size, size_t priv_size,
					    hm_mempool_obj_cb *obj_init, void *arg, int socket,
					    unsigned flags);

/*
 * A pool with no objects yet: give it memory with hm_mempool_populate_default
 * (hugemem memory on its node) or hm_mempool_populate (memory of the
 * caller's), then, if wanted, run an init over hm_mempool_obj_iter. Same
 * errors as hm_mempool_create.
 */
HM_API struct hm_mempool *hm_mempool_create_empty(const char *name, unsigned n, size_t elt_size,
						  unsigned cache_size, size_t priv_size, int socket,
						  unsigned flags);

/*
 * Choose the backend of an empty pool by name: "ring_mp_mc" (the default),
 * "ring_sp_sc", "ring_mp_sc", "ring_sp_mc" or "stack". 0, or -EINVAL (unknown
 * name, NULL pool), -EBUSY (the pool has objects already).
 */
HM_API int hm_mempool_set_ops_byname(struct hm_mempool *mp, const char *name);

/*
 * Fill the pool with hugemem memory on its node, up to its n objects.
 * Returns the number of objects added, or -ENOMEM (then none is added),
 * -EINVAL (not a pool).
 */
HM_API int hm_mempool_populate_default(struct hm_mempool *mp);

/*
 * Add the objects that fit in [addr, addr + len), memory of the caller's
 * (hugemem memory, a zone's, or any other; it must outlive the pool and is
 * not freed by destroy). IOVAs come from hm_virt2iova (HM_BAD_IOVA outside
 * hugemem memory). A pool's objects lie in at most 64 chunks, whichever call
 * added them. Returns the number of objects added (up to what the pool still
 * lacks), or -EINVAL (addr NULL, no room for one object, 64 chunks already,
 * not a pool), -ENOSPC (the pool is full already).
 */
HM_API int hm_mempool_populate(struct hm_mempool *mp, void *addr, size_t len);

/* The pool named name, or NULL with errno ENOENT, EINVAL (bad name), ENXIO. */
HM_API struct hm_mempool *hm_mempool_lookup(const char *name);

/*
 * Free the pool, its caches and the memory it allocated. 0, or -EBUSY while
 * objects are out (hm_mempool_in_use_count; the pool is untouched), -EINVAL
 * (not a pool), -ENXIO. hm_mempool_destroy_force frees it all the same.
 */
HM_API int hm_mempool_destroy(struct hm_mempool *mp);
HM_API int hm_mempool_destroy_force(struct hm_mempool *mp);

/*
 * A cache owned by the caller, for hm_mempool_generic_get/put (for threads
 * that want several, or one per pool they choose). size: at most
 * HM_MEMPOOL_CACHE_MAX. NULL with errno EINVAL or ENOMEM. Objects in it are in
 * use from the pool's view: flush it to the pool before freeing it.
 */
HM_API struct hm_mempool_cache *hm_mempool_cache_create(unsigned size, int socket);
HM_API void hm_mempool_cache_flush(struct hm_mempool_cache *cache, struct hm_mempool *mp);
HM_API void hm_mempool_cache_free(struct hm_mempool_cache *cache);

/*
 * The operations, inline below the divider:
 *
 *   int  hm_mempool_get_bulk(mp, void **objs, n)   0, or -ENOENT: none taken
 *   int  hm_mempool_get(mp, void **obj)
 *   void hm_mempool_put_bulk(mp, void *const *objs, n)
 *   void hm_mempool_put(mp, void *obj)
 *   int  hm_mempool_generic_get(mp, objs, n, cache)  with a cache of the caller's (NULL: none)
 *   void hm_mempool_generic_put(mp, objs, n, cache)
 *   struct hm_mempool *hm_mempool_from_obj(obj)      the pool an object belongs to
 *   uint64_t hm_mempool_virt2iova(obj)               its IOVA
 *
 * A get is all or nothing: -ENOENT when the pool and the calling thread's
 * cache together hold fewer than n (nothing is taken).
 */

/*
 * Free objects: in the backend and in every thread's cache (not in
 * caller-owned caches). Objects in the cache of a thread of a process that
 * died count as free, though no one can get them until its slot is
 * reclaimed: a get that finds the pool empty reclaims dead processes' slots,
 * at most every 100 ms in each process.
 */
HM_API unsigned hm_mempool_avail_count(const struct hm_mempool *mp);
/* Objects out: n - hm_mempool_avail_count. */
HM_API unsigned hm_mempool_in_use_count(const struct hm_mempool *mp);

/* The private area (priv_size bytes, zeroed at creation), or NULL if priv_size was 0. */
HM_API void *hm_mempool_get_priv(struct hm_mempool *mp);

/* Call cb for every object of the pool, in index order; returns how many. */
HM_API unsigned hm_mempool_obj_iter(struct hm_mempool *mp, hm_mempool_obj_cb *cb, void *arg);
/* Call cb for every chunk of memory of the pool; returns how many. */
HM_API unsigned hm_mempool_mem_iter(struct hm_mempool *mp, hm_mempool_mem_cb *cb, void *arg);

/* Call cb for every pool of the instance. */
typedef void hm_mempool_walk_cb(struct hm_mempool *mp, void *arg);
HM_API void hm_mempool_walk(hm_mempool_walk_cb *cb, void *arg);

/*
 * Check the pool: the caches' lengths, the count of free objects, and (in
 * checked pools and debug builds) every object's header and end cookie.
 * 0, or -EFAULT with a log line for each problem found, -EINVAL (not a pool).
 * Thread safety: while no other thread or process gets or puts objects of
 * the pool (the objects marked free are compared with the count of free ones).
 */
HM_API int hm_mempool_audit(struct hm_mempool *mp);

/* Print the pool: its shape, backend, counts, caches and statistics. */
HM_API void hm_mempool_dump(FILE *f, struct hm_mempool *mp);

/*
 * A pool's counters, summed over every thread's cache and the calls made
 * with no cache; a versioned record (size and version first). Calls through
 * a cache of the caller's are counted in that cache (hm_mempool_cache_get_stats).
 */
struct hm_mempool_stats {
	uint32_t size;                          /* sizeof(struct hm_mempool_stats) of the library */
	uint32_t version;                       /* 1 */
	uint64_t get_calls, get_objs;           /* successful gets */
	uint64_t get_fail_calls, get_fail_objs; /* refused for want of objects */
	uint64_t put_calls, put_objs;
	uint64_t cache_hits;   /* gets served from the calling thread's cache alone */
	uint64_t cache_misses; /* gets that went to the backend */
	uint64_t refused_puts; /* objects refused by a check (checked pools, debug builds) */
};

/* 0, or -EINVAL (not a pool, st NULL). */
HM_API int hm_mempool_get_stats(const struct hm_mempool *mp, struct hm_mempool_stats *st);

/* The counters of the calls made through a caller-owned cache. 0, or -EINVAL (NULL). */
HM_API int hm_mempool_cache_get_stats(const struct hm_mempool_cache *cache,
				      struct hm_mempool_stats *st);

/* ---- Fast path: implementation, not API. Fields may change. ---- */

#define HM__MEMPOOL_MAGIC 0x4d504f4fu /* "MPOO" */
#define HM__MEMPOOL_SLOW  0x80000000u /* every get and put takes the out-of-line path */

/* A thread's counters of one pool, or a user cache's: written by its thread only. */
struct hm__mempool_counts {
	uint64_t get_calls, get_objs, get_fail_calls, get_fail_objs;
	uint64_t put_calls, put_objs, cache_misses, refused_puts; /* hits: get_calls - misses */
};

/* A stack of free objects: a thread's cache of one pool, or one the caller owns. */
struct hm_mempool_cache {
	uint32_t size;        /* a refill fills it up to this */
	uint32_t flushthresh; /* a put that would pass this flushes it first */
	uint32_t len;         /* objects in it (read by other threads for the counts) */
	uint32_t capacity;    /* of objs */
	struct hm__mempool_counts counts;
	void *objs[]; /* capacity pointers; objs[len - 1] is handed out next */
};

/* The 32 bytes before every object. */
struct hm_mempool_objhdr {
	struct hm_mempool *mp; /* its pool */
	uint64_t iova;         /* its IOVA, HM_BAD_IOVA if unknown or not wanted */
	uint64_t cookie;       /* checked pools: whether the object is in the pool or out */
	uint32_t idx;          /* its index in the pool */
	uint32_t owner;        /* debug builds: 1 + the slot of the thread that got it */
};

struct hm_mempool {
	char name[HM_NAME_MAX];
	uint32_t magic;      /* HM__MEMPOOL_MAGIC while the pool exists */
	uint32_t flags;      /* HM_MEMPOOL_F_*, and HM__MEMPOOL_SLOW */
	uint32_t size;       /* objects, when populated */
	uint32_t cache_size; /* of every thread's cache */
	uint32_t elt_size;
	uint32_t n_slots;                /* entries of local[] (thread slots of the instance) */
	struct hm_mempool_cache **local; /* per thread slot, NULL until its first get or put */
	struct hm_ring *ring;            /* the backend if it is a ring (NULL: a stack) */
};

/* The calling thread's cache of mp, or NULL (the slow path then sets it up). */
static inline struct hm_mempool_cache *hm__mempool_local(struct hm_mempool *mp)
{
	int slot = hm__thread_slot();

	/* Acquire pairs with the release that published the cache (the first use). */
	return slot >= 0 && (unsigned)slot < mp->n_slots ? hm__load_acquire(&mp->local[slot])
							 : NULL;
}

HM_API int hm__mempool_get_slow(struct hm_mempool *mp, void **objs, unsigned n,
				struct hm_mempool_cache *cache, bool own);
HM_API void hm__mempool_put_slow(struct hm_mempool *mp, void *const *objs, unsigned n,
				 struct hm_mempool_cache *cache, bool own);

/*
 * A get: from the cache when it holds n; for a pool without caches
 * (cache_size 0), from the ring straight. The counters are the calling
 * thread's (hm__bump: relaxed stores, for readers); a hit is a get that is
 * not counted as a miss.
 */
static inline __attribute__((always_inline)) int hm__mempool_get(struct hm_mempool *mp, void **objs,
								 unsigned n,
								 struct hm_mempool_cache *c,
								 bool own)
{
	if (__builtin_expect(c != NULL && !(mp->flags & HM__MEMPOOL_SLOW), 1)) {
		/* Relaxed: the cache is this thread's; others only read len for counts. */
		uint32_t len = hm__load_relaxed(&c->len);

		if (__builtin_expect(n <= len, 1)) {
			/* The n put last, in the order they were put. */
			len -= n;
			hm__copy_ptrs(objs, &c->objs[len], n);
			hm__store_relaxed(&c->len, len);
			hm__bump(&c->counts.get_calls, 1);
			hm__bump(&c->counts.get_objs, n);
			return 0;
		}
		if (c->size == 0 && mp->ring &&
		    hm_ring_dequeue_bulk(mp->ring, objs, n, NULL) == n) {
			hm__bump(&c->counts.get_calls, 1);
			hm__bump(&c->counts.get_objs, n);
			hm__bump(&c->counts.cache_misses, 1);
			return 0;
		}
	}
	return hm__mempool_get_slow(mp, objs, n, c, own);
}

/* A put: into the cache while it stays under its threshold; without caches, to the ring. */
static inline __attribute__((always_inline)) void hm__mempool_put(struct hm_mempool *mp,
								  void *const *objs, unsigned n,
								  struct hm_mempool_cache *c,
								  bool own)
{
	if (__builtin_expect(c != NULL && !(mp->flags & HM__MEMPOOL_SLOW), 1)) {
		uint32_t len = hm__load_relaxed(&c->len);

		if (__builtin_expect(len + n <= c->flushthresh, 1)) {
			hm__copy_ptrs(&c->objs[len], objs, n);
			hm__store_relaxed(&c->len, len + n);
			hm__bump(&c->counts.put_calls, 1);
			hm__bump(&c->counts.put_objs, n);
			return;
		}
		if (c->size == 0 && mp->ring &&
		    hm_ring_enqueue_bulk(mp->ring, objs, n, NULL) == n) {
			hm__bump(&c->counts.put_calls, 1);
			hm__bump(&c->counts.put_objs, n);
			return;
		}
	}
	hm__mempool_put_slow(mp, objs, n, c, own);
}

static inline int hm_mempool_get_bulk(struct hm_mempool *mp, void **objs, unsigned n)
{
	return hm__mempool_get(mp, objs, n, hm__mempool_local(mp), true);
}

static inline int hm_mempool_get(struct hm_mempool *mp, void **obj)
{
	return hm__mempool_get(mp, obj, 1, hm__mempool_local(mp), true);
}

static inline void hm_mempool_put_bulk(struct hm_mempool *mp, void *const *objs, unsigned n)
{
	hm__mempool_put(mp, objs, n, hm__mempool_local(mp), true);
}

static inline void hm_mempool_put(struct hm_mempool *mp, void *obj)
{
	hm__mempool_put(mp, &obj, 1, hm__mempool_local(mp), true);
}

static inline int hm_mempool_generic_get(struct hm_mempool *mp, void **objs, unsigned n,
					 struct hm_mempool_cache *cache)
{
	return hm__mempool_get(mp, objs, n, cache, false);
}

static inline void hm_mempool_generic_put(struct hm_mempool *mp, void *const *objs, unsigned n,
					  struct hm_mempool_cache *cache)
{
	hm__mempool_put(mp, objs, n, cache, false);
}

static inline struct hm_mempool *hm_mempool_from_obj(const void *obj)
{
	return ((const struct hm_mempool_objhdr *)obj - 1)->mp;
}

static inline uint64_t hm_mempool_virt2iova(const void *obj)
{
	return ((const struct hm_mempool_objhdr *)obj - 1)->iova;
}

#ifdef __cplusplus
}
#endif

#endif /* HUGEMEM_MEMPOOL_H */
