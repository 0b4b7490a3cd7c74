/* SPDX-License-Identifier: MIT */
/*
 * hugemem/slab.h - slab object caches: the Linux slab allocator in user
 * space, with Bonwick's per-thread magazines in front, and the general
 * caches (kmalloc) on top.
 *
 * A cache holds objects of one size. It grows by slabs: runs of 4 KiB
 * pages taken from the heap (2^order pages, the order chosen so that less
 * than an eighth of a slab is left over beyond its header and free-index
 * array), each holding a whole number of
 * objects. A constructor, if given, runs once for each object when its
 * slab is made, and the destructor once when the slab is given back: an
 * object comes out of hm_slab_alloc as the constructor left it or as the
 * last hm_slab_free left it (object caching), never re-constructed.
 *
 * Free objects wait in three places: in each thread's two magazines (a
 * loaded one and the previous one, arrays of pointers), in the cache's
 * depot of full and empty magazines, and in the slabs. An alloc takes from
 * the calling thread's loaded magazine (no lock, no atomic read-modify-
 * write); when both its magazines are empty it swaps in a full magazine
 * from the depot, and only when the depot has none does it fill one from
 * the slabs, the fullest partial slab first. A free is the mirror image.
 * Every thread gets its magazines on its first alloc or free, without
 * registering; when it exits they go back to the depot, so no object is
 * stranded.
 *
 * Slabs are aligned to their size, so an object's slab is found from its
 * address alone; two bytes per 4 KiB page of hugemem memory (the page map)
 * name the cache whose slab covers the page, so hm_kfree finds the cache of
 * any pointer in O(1), and a free checks in one load that the object is
 * the cache's, without touching memory that is not a slab's.
 *
 * Shrinking: hm_slab_shrink gives back every empty slab and every magazine
 * of the depot. Without it, the slow paths reap: once a second at most
 * (hm_slab_set_reap_interval), a cache gives back the empty slabs and full
 * magazines it did not need during the last interval (its working set
 * stays), and it never keeps more than max(2, total/8) empty slabs.
 *
 * Checks: every free checks that the object lies in a slab of the cache
 * (a pointer from elsewhere or from another cache is refused, logged and
 * counted). Caches created with HM_SLAB_F_DEBUG, and every cache in a debug
 * build, also keep a red zone on each side of every object, poison free
 * objects (caches without a constructor; the poison is checked at the next
 * allocation), record the thread slot that allocated each live object, and
 * refuse a double free or an interior pointer; the cache stays consistent.
 *
 * The cache, its slabs and magazines live in hugemem memory: a cache is
 * found by name from every process of the instance, and its objects are
 * valid at the same address there. Thread safety: alloc and free from any
 * thread of any attached process; create, destroy and shrink of one cache
 * not concurrently with other use of it (shrink: with any use).
 */
#ifndef HUGEMEM_SLAB_H
#define HUGEMEM_SLAB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <hugemem/common.h>
#include <hugemem/atomic.h>
#include <hugemem/core.h>

#ifdef __cplusplus
extern "C" {
#endif

#define HM_SLAB_F_HWCACHE_ALIGN 0x0001u /* objects start on cache lines */
#define HM_SLAB_F_DEBUG         0x0002u /* red zones, poison, owners, double-free checks */
#define HM_SLAB_F_NO_MAGAZINES  0x0004u /* no per-thread magazines: every call takes the lock */
/* Slabs on NUMA node n (else the caller's node, or any). */
#define HM_SLAB_F_NODE(n) (((unsigned)(n) + 1u) << 24)

#define HM_SLAB_SIZE_MAX   (256u << 10)      /* the largest object */
#define HM_SLAB_ALIGN_MAX  4096u             /* the largest alignment */
#define HM_SLAB_NAME_MAX   (HM_NAME_MAX - 3) /* bytes of a cache name, NUL included ("SL_") */
#define HM_KMALLOC_MAX     (128u << 10)      /* larger hm_kmalloc sizes go to the heap */
#define HM_SLAB_CACHES_MAX 65535u            /* caches an instance holds at once */

struct hm_slab_cache;

/* Construct obj: 0, or a negative errno (the slab is not made, the alloc fails with ENOMEM). */
typedef int hm_slab_ctor(void *obj, void *arg);
typedef void hm_slab_dtor(void *obj, void *arg);

/*
 * hm_slab_create() - a cache of objects of size bytes aligned to align (0:
 * 8 bytes, or a cache line with HM_SLAB_F_HWCACHE_ALIGN; else a power of two
 * up to HM_SLAB_ALIGN_MAX), with ctor and dtor (each may be NULL) called
 * with arg. Flags: HM_SLAB_F_*. No memory is taken until the first alloc.
 *
 * Returns: the cache, or NULL with errno set to
 *   EINVAL        size 0 or above HM_SLAB_SIZE_MAX, align not a power of two
 *                 or above HM_SLAB_ALIGN_MAX, unknown flags, name NULL or empty
 *   ENAMETOOLONG  name is HM_SLAB_NAME_MAX bytes or longer
 *   EEXIST        a cache with this name exists
 *   ENODEV        the node of HM_SLAB_F_NODE is not a node of the instance
 *   ENOSPC        HM_SLAB_CACHES_MAX caches exist already
 *   ENOMEM        no memory for it
 *   ENXIO         hm_init has not been called
 */
HM_API struct hm_slab_cache *hm_slab_create(const char *name, size_t size, size_t align,
					    unsigned flags, hm_slab_ctor *ctor, hm_slab_dtor *dtor,
					    void *arg);

/* The cache named name, or NULL with errno ENOENT, EINVAL (bad name), ENXIO. */
HM_API struct hm_slab_cache *hm_slab_lookup(const char *name);

/*
 * Give every magazine and slab back (destructing the objects) and free the
 * cache. 0, or -EBUSY while objects are allocated (a log line says how
 * many; the cache is left usable, its magazines emptied), -EINVAL (not a
 * cache, or a general cache of hm_kmalloc), -ENXIO.
 */
HM_API int hm_slab_destroy(struct hm_slab_cache *c);

/*
 * The operations, inline below the divider:
 *
 *   void *hm_slab_alloc(c)                 an object, or NULL with errno ENOMEM
 *                                          (EINVAL: not a cache)
 *   void  hm_slab_free(c, obj)             NULL does nothing
 *   unsigned hm_slab_alloc_bulk(c, objs, n)   n, or 0 (none taken; errno ENOMEM)
 *   void  hm_slab_free_bulk(c, objs, n)
 *
 * A free of an object that is not one of c's is refused: logged, counted in
 * the cache's errors, and nothing changes.
 */

/*
 * Give back every empty slab (destructing its objects; their pages go back
 * to the heap) and every magazine in the depot (its objects to their
 * slabs first). Returns the bytes given back to the heap.
 */
HM_API size_t hm_slab_shrink(struct hm_slab_cache *c);

/* How often the slow paths reap, in milliseconds (0: never); for every cache of this process. */
HM_API void hm_slab_set_reap_interval(unsigned ms);

/*
 * A cache's counters; a versioned record (size and version first). Object
 * counts are snapshots: other threads may be allocating meanwhile.
 */
struct hm_slab_stats {
	uint32_t size;    /* sizeof(struct hm_slab_stats) of the library */
	uint32_t version; /* 1 */
	char name[HM_NAME_MAX];
	uint64_t obj_size; /* bytes asked for */
	uint64_t stride;   /* bytes from one object to the next (alignment, red zones) */
	uint32_t objs_per_slab;
	uint32_t pages_per_slab; /* 4 KiB pages */
	uint32_t colours;        /* distinct first-object offsets, a cache line apart */
	uint32_t magazine_size;  /* objects per magazine, 0 without magazines */
	uint64_t active_objs;    /* allocated: in the callers' hands */
	uint64_t total_objs;     /* in all slabs */
	uint64_t active_slabs;   /* full and partial slabs */
	uint64_t total_slabs;
	uint64_t allocs, frees; /* successful calls, objects counted one by one */
	uint64_t high_mark;     /* the most objects ever taken out of the slabs at once */
	uint64_t slabs_grown, slabs_reaped;
	uint64_t alloc_hits, alloc_misses; /* allocs served by the thread's magazines, or not */
	uint64_t free_hits, free_misses;
	uint64_t depot_full, depot_empty; /* magazines in the depot now */
	uint64_t errors;                  /* refused frees, failed constructors, bad poison */
};

/* 0, or -EINVAL (not a cache, st NULL). */
HM_API int hm_slab_get_stats(const struct hm_slab_cache *c, struct hm_slab_stats *st);

/*
 * Check a cache: every slab's lists, counts and free indices, the depot,
 * and in debug caches every free object's red zones and poison. 0, or
 * -EFAULT with a log line for each problem, -EINVAL (not a cache). While
 * no other thread uses the cache.
 */
HM_API int hm_slab_audit(struct hm_slab_cache *c);

/*
 * The thread slot that allocated obj, a live object of debug cache c: the
 * slot (0 or more), or -ENOENT (obj is free), -ESRCH (the thread that
 * allocated it had no slot), -EINVAL (not an object of c), -ENOTSUP (c keeps
 * no owners: not a debug cache).
 */
HM_API int hm_slab_obj_owner(struct hm_slab_cache *c, const void *obj);

/* Call cb for every cache of the instance (the general caches too). */
typedef void hm_slab_walk_cb(struct hm_slab_cache *c, void *arg);
HM_API void hm_slab_walk(hm_slab_walk_cb *cb, void *arg);

/*
 * Print a /proc/slabinfo-style table of every cache: a version line, a
 * header row, then one row per cache (name, active and total objects, object
 * size, objects per slab, pages per slab, magazine size, active and total
 * slabs, allocations, high mark, slabs grown and reaped, magazine hits and
 * misses).
 */
HM_API void hm_slabinfo(FILE *f);

/*
 * General caches, the kmalloc of user space: size classes every 8 bytes up
 * to 64, then four per power of two (80, 96, 112, 128, 160, ...) up to
 * HM_KMALLOC_MAX, so that above 32 bytes no class wastes more than a fifth
 * of itself. Each class is a slab cache "kmalloc-<size>", made on its first
 * use; larger sizes go to the heap (hm_malloc, type "kmalloc"). Memory is
 * aligned to 8 bytes, and to the largest power of two dividing the class
 * size up to a cache line (a 64-byte class gives 64-byte alignment).
 *
 * hm_kmalloc: NULL with errno EINVAL (size 0), ENOMEM, ENXIO. hm_kzalloc
 * zeroes. hm_krealloc keeps the block when its class still fits and moves
 * it otherwise (p NULL: hm_kmalloc; on failure p is untouched). hm_kfree
 * finds the cache from the pointer in O(1); NULL does nothing; a pointer
 * that is neither a slab object nor a heap block is refused and logged.
 * hm_ksize: the usable bytes at p (0 for anything else).
 */
HM_API void *hm_kzalloc(size_t size);
HM_API void *hm_krealloc(void *p, size_t size);
HM_API size_t hm_ksize(const void *p);
/* hm_kmalloc and hm_kfree are inline, below the divider. */

/* ---- Fast path: implementation, not API. Fields may change. ---- */

#define HM__SLAB_MAGIC      0x534c4142u /* "SLAB" */
#define HM__SLAB_SLOW       0x80000000u /* every alloc and free takes the out-of-line path */
#define HM__SLAB_PAGE_SHIFT 12          /* the page map's granule: 4 KiB */

/* A magazine: an array of free objects, in the depot or loaded in a thread. */
struct hm__slab_mag {
	uint64_t next; /* offset of the next magazine of its depot list */
	uint64_t pad;
	void *rounds[]; /* magazine_size pointers */
};

/* One thread's counters of one cache: written by that thread only. */
struct hm__slab_counts {
	uint64_t allocs, frees, alloc_misses, free_misses;
};

/* One thread's magazines of one cache. */
struct hm__slab_local {
	uint32_t rounds;   /* objects in loaded (read by other threads for the counts) */
	uint32_t prounds;  /* objects in previous */
	uint32_t mag_size; /* objects a magazine holds */
	uint32_t pad;
	struct hm__slab_mag *loaded, *previous; /* NULL: none yet */
	struct hm__slab_counts counts;
};

struct hm_slab_cache {
	char name[HM_NAME_MAX];
	uint32_t magic; /* HM__SLAB_MAGIC while the cache exists */
	uint32_t flags; /* HM_SLAB_F_*, and HM__SLAB_SLOW */
	uint32_t obj_size;
	uint32_t order;      /* a slab is 4 KiB << order bytes, aligned to that */
	uintptr_t slab_mask; /* ~(slab bytes - 1) */
	/* The page map: map[(addr - map_lo) >> 12] is the id of the cache whose
	 * slab holds addr, 0 if none; map_n entries. */
	const uint16_t *map;
	uintptr_t map_lo;
	uint64_t map_n;
	uint32_t n_slots;              /* entries of local[] (thread slots of the instance) */
	uint32_t id;                   /* 1 to HM_SLAB_CACHES_MAX: this cache in the page map */
	struct hm__slab_local **local; /* per thread slot, NULL until its first use */
};

/*
 * Whether obj lies in a slab of c: one load of the page map (reading the
 * slab's first word as well cost a free 1 ns, a quarter of a pair).
 */
static inline bool hm__slab_mine(const struct hm_slab_cache *c, const void *obj)
{
	uintptr_t g = ((uintptr_t)obj - c->map_lo) >> HM__SLAB_PAGE_SHIFT;

	/* Relaxed: a slab's map entries are written before any object of it is
	 * handed out (under the cache's lock), and cleared after its last one is
	 * back; a racing reader is a misuse and at worst refuses. */
	return g < c->map_n && hm__load_relaxed(&c->map[g]) == c->id;
}

/* The calling thread's magazines of c, or NULL (the slow path then sets them up). */
static inline struct hm__slab_local *hm__slab_local_of(struct hm_slab_cache *c)
{
	int slot = hm__thread_slot();

	/* Acquire pairs with the release that published the magazines (the first use). */
	return slot >= 0 && (unsigned)slot < c->n_slots ? hm__load_acquire(&c->local[slot]) : NULL;
}

HM_API void *hm__slab_alloc_slow(struct hm_slab_cache *c, struct hm__slab_local *l);
HM_API void hm__slab_free_slow(struct hm_slab_cache *c, struct hm__slab_local *l, void *obj);
HM_API unsigned hm__slab_alloc_bulk_slow(struct hm_slab_cache *c, struct hm__slab_local *l,
					 void **objs, unsigned n);
HM_API void hm__slab_free_bulk_slow(struct hm_slab_cache *c, struct hm__slab_local *l,
				    void *const *objs, unsigned n);

static inline __attribute__((always_inline)) void *hm_slab_alloc(struct hm_slab_cache *c)
{
	struct hm__slab_local *l = hm__slab_local_of(c);

	if (__builtin_expect(l != NULL && !(c->flags & HM__SLAB_SLOW), 1)) {
		/* Relaxed: the magazines are this thread's; others only read the count. */
		uint32_t r = hm__load_relaxed(&l->rounds);

		if (__builtin_expect(r != 0, 1)) {
			hm__store_relaxed(&l->rounds, r - 1);
			hm__bump(&l->counts.allocs, 1);
			return l->loaded->rounds[r - 1];
		}
	}
	return hm__slab_alloc_slow(c, l);
}

static inline __attribute__((always_inline)) void hm_slab_free(struct hm_slab_cache *c, void *obj)
{
	struct hm__slab_local *l = hm__slab_local_of(c);

	if (__builtin_expect(l != NULL && !(c->flags & HM__SLAB_SLOW), 1)) {
		uint32_t r = hm__load_relaxed(&l->rounds);

		if (__builtin_expect(r < l->mag_size && hm__slab_mine(c, obj), 1)) {
			l->loaded->rounds[r] = obj;
			hm__store_relaxed(&l->rounds, r + 1);
			hm__bump(&l->counts.frees, 1);
			return;
		}
	}
	hm__slab_free_slow(c, l, obj);
}

static inline unsigned hm_slab_alloc_bulk(struct hm_slab_cache *c, void **objs, unsigned n)
{
	struct hm__slab_local *l = hm__slab_local_of(c);

	if (__builtin_expect(l != NULL && !(c->flags & HM__SLAB_SLOW), 1)) {
		uint32_t r = hm__load_relaxed(&l->rounds);

		if (__builtin_expect(n <= r, 1)) {
			r -= n;
			hm__copy_ptrs(objs, &l->loaded->rounds[r], n);
			hm__store_relaxed(&l->rounds, r);
			hm__bump(&l->counts.allocs, n);
			return n;
		}
	}
	return hm__slab_alloc_bulk_slow(c, l, objs, n);
}

static inline void hm_slab_free_bulk(struct hm_slab_cache *c, void *const *objs, unsigned n)
{
	struct hm__slab_local *l = hm__slab_local_of(c);

	if (__builtin_expect(l != NULL && !(c->flags & HM__SLAB_SLOW), 1)) {
		uint32_t r = hm__load_relaxed(&l->rounds);

		if (__builtin_expect(r + n <= l->mag_size, 1)) {
			unsigned i = 0;

			while (i < n && hm__slab_mine(c, objs[i]))
				i++;
			if (__builtin_expect(i == n, 1)) {
				hm__copy_ptrs(&l->loaded->rounds[r], objs, n);
				hm__store_relaxed(&l->rounds, r + n);
				hm__bump(&l->counts.frees, n);
				return;
			}
		}
	}
	hm__slab_free_bulk_slow(c, l, objs, n);
}

/* ---- kmalloc: the process's view of the general caches ---- */

#define HM__KMALLOC_CLASSES 52

/*
 * Set by hm_init (the page map) and by the first hm_kmalloc of each class
 * in this process (its cache); cleared by hm_cleanup, which leaves map_n 0
 * so that every call takes the out-of-line path.
 */
struct hm__kmalloc_view {
	const uint16_t *map; /* the page map, as in struct hm_slab_cache */
	uintptr_t map_lo;
	uint64_t map_n;
	struct hm_slab_cache **by_id; /* every cache of the instance, by id (in shared memory) */
	struct hm_slab_cache *caches[HM__KMALLOC_CLASSES]; /* NULL until this process's first use */
};
HM_API extern struct hm__kmalloc_view hm__kmalloc;

HM_API void *hm__kmalloc_slow(size_t size);
HM_API void hm__kfree_slow(void *p);

/* The class of size, 1 <= size <= HM_KMALLOC_MAX: 8 by 8 to 64, then 4 per power of two. */
static inline unsigned hm__kmalloc_class(size_t size)
{
	unsigned t;

	if (size <= 64)
		return (unsigned)((size + 7) >> 3) - 1;
	t = 63u - (unsigned)__builtin_clzll((unsigned long long)(size - 1));
	return 8 + (t - 6) * 4 + (unsigned)(((size - 1) >> (t - 2)) & 3);
}

static inline void *hm_kmalloc(size_t size)
{
	if (__builtin_expect(size - 1 < HM_KMALLOC_MAX, 1)) {
		/* Acquire pairs with the release that filled the entry (the slow path). */
		struct hm_slab_cache *c =
			hm__load_acquire(&hm__kmalloc.caches[hm__kmalloc_class(size)]);

		if (__builtin_expect(c != NULL, 1))
			return hm_slab_alloc(c);
	}
	return hm__kmalloc_slow(size);
}

/*
 * The page map names the cache whose slab holds p: the free goes straight
 * into that cache's magazine. Anything else (NULL, heap blocks, foreign
 * pointers, debug caches, a full magazine) goes out of line.
 */
static inline void hm_kfree(void *p)
{
	uintptr_t g = ((uintptr_t)p - hm__kmalloc.map_lo) >> HM__SLAB_PAGE_SHIFT;

	if (__builtin_expect(g < hm__kmalloc.map_n, 1)) {
		unsigned id = hm__load_relaxed(&hm__kmalloc.map[g]);

		if (__builtin_expect(id != 0, 1)) {
			/* Relaxed: the entry was set before the cache's first slab was
			 * mapped, and p came out of that slab. */
			struct hm_slab_cache *c = hm__load_relaxed(&hm__kmalloc.by_id[id]);
			struct hm__slab_local *l = hm__slab_local_of(c);

			if (__builtin_expect(l != NULL && !(c->flags & HM__SLAB_SLOW), 1)) {
				uint32_t r = hm__load_relaxed(&l->rounds);

				if (__builtin_expect(r < l->mag_size, 1)) {
					l->loaded->rounds[r] = p;
					hm__store_relaxed(&l->rounds, r + 1);
					hm__bump(&l->counts.frees, 1);
					return;
				}
			}
			hm__slab_free_slow(c, l, p);
			return;
		}
	}
	hm__kfree_slow(p);
}

#ifdef __cplusplus
}
#endif

#endif /* HUGEMEM_SLAB_H */
