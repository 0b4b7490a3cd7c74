/* SPDX-License-Identifier: MIT */
/*
 * cache.h - the per-thread caches of the layers above (mempool, slab): a
 * registry of cache sets, so that the caches of a thread go back to their
 * pools when the thread's slot is released. Layer: cache; includes ring,
 * heap, mem and util.
 *
 * A cache set belongs to one pool and lives inside it (in shared memory):
 * an array of per-thread-slot cache pointers, which the pool fills on each
 * thread's first use, and links into the list of every set of the instance.
 * The cache layer knows nothing of what a cache holds: each kind of pool
 * registers, in every process, the function that gives one thread's cache
 * back to its pool, and the exit hook of the thread-slot layer calls it for
 * the slot's cache in every set. That hook runs in the exiting thread, in the
 * thread calling hm_thread_unregister or hm_cleanup, or in the process that
 * reclaims the slot of a dead one, so no object is stranded in the cache of
 * a thread that is gone.
 *
 * Lock order: the set list's lock, then whatever the flush function takes
 * (the pool's backend lock); never the reverse.
 */
#ifndef HM_CACHE_CACHE_H
#define HM_CACHE_CACHE_H

#include "internal.h"
#include "mem/mem.h"

/* Kinds of cache sets; the index of their flush function. */
enum hm_cache_kind {
	HM_CACHE_KIND_MEMPOOL = 0,
	HM_CACHE_KIND_SLAB = 1,
	HM_CACHE_KIND_BUFPOOL = 2,
	HM_CACHE_KINDS = 4,
};

/* One pool's per-thread caches, inside the pool. */
struct hm_cache_set {
	uint64_t next, prev;   /* offsets: the list of every set (under the list lock) */
	uint32_t kind;         /* enum hm_cache_kind */
	uint32_t n_slots;      /* entries of the caches array (max_threads) */
	void *owner;           /* the pool (valid in every process: same addresses) */
	void *_Atomic *caches; /* per thread slot: its cache, NULL until its first use */
};

/* Give one thread's cache (of a set of this kind) back to its pool. */
typedef void hm__cache_flush_fn(void *owner, void *cache);

/* Every process: the flush function of kind. 0, -EINVAL. */
int hm__cache_register_kind(enum hm_cache_kind kind, hm__cache_flush_fn *fn);

/* Link set into the list / take it out (the pool is being destroyed). */
void hm__cache_set_add(struct hm_cache_set *set);
void hm__cache_set_remove(struct hm_cache_set *set);

/* Primary: the cache area of the config region. Every process: the exit hook. */
int hm__cache_setup(struct hm_shared *sh);
int hm__cache_attach(void);

#endif /* HM_CACHE_CACHE_H */
