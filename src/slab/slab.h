/* SPDX-License-Identifier: MIT */
/*
 * slab.h - the inside of a slab cache, shared by the files of src/slab:
 * cache.c (create, lookup, destroy, walk), slabs.c (the slab layer: grow,
 * take and give objects, release), magazine.c (the per-thread magazines,
 * the depot and the slow paths), debug.c (red zones, poison, owners),
 * info.c (statistics, slabinfo, audit) and kmalloc.c (the general caches).
 * Layer: slab; includes cache, heap, mem and util.
 *
 * A cache is one zone, "SL_" + its name:  | struct cache | local[n_slots] |
 *
 * A slab is a heap block (kind HM_BLOCK_SLAB) whose payload is aligned to
 * its size S = 4 KiB << order and is S - 32 bytes long, so that slabs taken
 * one after the other tile the heap: each one's last 32 bytes are the next
 * block's header. Its layout:
 *
 *   | struct slab | bufctl (small objects) | colour | object | object | ... | slack |
 *
 * where the objects area starts objs_off bytes in (aligned to the cache's
 * alignment), the first object colour bytes further, and bufctl is a stack
 * of the indices of the slab's free objects: on the slab for objects below
 * SLAB_OFFSLAB_MIN bytes, in a heap block of its own for larger ones.
 *
 * The page map (the slab area of the config region) has two bytes per 4 KiB
 * of every segment list's range: the id of the cache whose slab covers the
 * page, or 0. It is written under the cache's lock when a slab is made or
 * released. The area's table gives the cache of each id.
 *
 * Lock order: the cache-set list (thread exit), then a cache's depot lock,
 * then its slab lock, then the heap's; a constructor or destructor runs
 * with none of them held.
 */
#ifndef HM_SLAB_SLAB_H
#define HM_SLAB_SLAB_H

#include "internal.h"
#include "cache/cache.h"
#include "heap/heap.h"
#include "mem/mem.h"
#include "util/lock.h"
#include <hugemem/slab.h>

#include <stdatomic.h>

#define SLAB_PAGE          4096u
#define SLAB_ORDER_MAX     10u
#define SLAB_OBJS_MAX      65535u /* indices are 16 bits */
#define SLAB_HDR           64u    /* struct slab, rounded to a cache line */
#define SLAB_TAIL          HM_HEAP_HDR
#define SLAB_OFFSLAB_MIN   512u /* objects of this stride and up keep bufctl off the slab */
#define SLAB_BUCKETS       8u   /* partial slabs, by how full they are */
#define SLAB_COLOUR_STEP   64u
#define SLAB_EMPTY_KEEP    2u    /* empty slabs always kept (and total / 8) */
#define SLAB_REAP_DEFAULT  1000u /* ms */
#define SLAB_ZONE_PREFIX   "SL_"
#define SLAB_ZONE_PREFIX_N 3

/* Where a slab is: its list. */
enum slab_list {
	LIST_EMPTY = SLAB_BUCKETS, /* 0 .. SLAB_BUCKETS - 1: partial, by fullness */
	LIST_FULL = SLAB_BUCKETS + 1,
	LIST_NONE = SLAB_BUCKETS + 2, /* being made or released */
	LISTS = SLAB_BUCKETS + 2,
};

/* The head of every slab, at its base. */
struct slab {
	struct hm_slab_cache *cache; /* first: hm__slab_mine() reads it */
	uint64_t next, prev;         /* offsets: its list */
	uint32_t inuse;              /* objects out of the slab (callers' or in magazines) */
	uint32_t nfree;              /* entries of bufctl */
	uint32_t list;               /* enum slab_list */
	uint32_t colour;             /* bytes from the objects area to the first object */
	uint16_t *bufctl;            /* free object indices; bufctl[nfree - 1] goes next */
	char *objs;                  /* the first object's stride start */
};
_Static_assert(sizeof(struct slab) <= SLAB_HDR, "the slab header fits its line");

/* Full and empty magazines waiting for a thread. */
struct depot {
	struct hm_mutex lock;
	uint64_t full, empty;         /* offsets of the first magazine of each list */
	uint32_t n_full, n_empty;     /* magazines in each */
	uint32_t min_full, min_empty; /* the fewest since the last reap: the unused part */
};

struct cache {
	struct hm_slab_cache pub; /* first: read by the inline paths */
	/* The shape, fixed at create. */
	uint32_t size;     /* bytes asked */
	uint32_t align;    /* of every object */
	uint32_t stride;   /* bytes from one object to the next */
	uint32_t obj_off;  /* from a stride's start to the object (debug: the front red zone) */
	uint32_t per_slab; /* objects in a slab */
	uint32_t objs_off; /* from a slab's base to its objects area */
	uint32_t colours;  /* distinct colours */
	uint32_t colour_step;
	uint32_t mag_size; /* rounds of a magazine; 0: no magazines */
	uint32_t slab_bytes;
	bool debug;     /* red zones, poison, owners */
	bool poison;    /* debug and no constructor */
	bool offslab;   /* bufctl in a heap block of its own */
	bool general;   /* a kmalloc cache: not destroyed by the user */
	int32_t socket; /* HM_SOCKET_ANY or the node of HM_SLAB_F_NODE */
	hm_slab_ctor *ctor;
	hm_slab_dtor *dtor;
	void *arg;
	const void *
		code; /* &hm_slab_create in the creator: ctor and dtor are valid where it matches */
	const struct hm_memzone *zone;
	struct hm_cache_set set; /* the per-thread magazines, for the exit flush */

	/* The slab layer, under lock. */
	struct hm_mutex lock;
	uint64_t head[LISTS];  /* offsets of the first slab of each list */
	uint32_t n_on[LISTS];  /* slabs on each list */
	uint32_t partial_mask; /* bit b: bucket b is not empty */
	uint32_t colour_next;
	uint64_t n_slabs;
	uint64_t out;       /* objects out of the slabs */
	uint64_t high_mark; /* the most out has been */
	uint32_t min_empty; /* the fewest empty slabs since the last reap */
	uint32_t pad;
	uint64_t grown, reaped;

	struct depot depot;
	_Atomic uint64_t last_reap_ns;
	/* Calls made without magazines (NO_MAGAZINES, threads without a slot), and errors. */
	_Atomic uint64_t allocs, frees, errors;
	_Atomic bool warned_local;
};

static inline struct cache *cache_of(struct hm_slab_cache *c)
{
	return (struct cache *)c;
}

static inline struct slab *slab_of(const struct cache *k, const void *obj)
{
	return (struct slab *)((uintptr_t)obj & k->pub.slab_mask);
}

#define KMALLOC_CLASSES 52 /* 8 .. 64 by 8, then 4 per power of two up to 128 KiB */

/* The slab area of the config region. */
struct slab_area {
	struct hm_mutex lock;    /* making the general caches */
	struct hm_mutex id_lock; /* taking and freeing cache ids (inside lock) */
	uint64_t map_off;        /* the page map: uint16_t cache ids */
	uint64_t map_lo_off;     /* the address its first entry describes */
	uint64_t map_n;          /* its entries */
	uint64_t by_id_off;      /* struct hm_slab_cache *[HM_SLAB_CACHES_MAX + 1]: NULL if free */
	uint32_t id_hint;        /* where the next search for a free id starts (under lock) */
	uint32_t pad;
	_Atomic uint64_t kmalloc[KMALLOC_CLASSES]; /* offsets of the general caches, 0 until made */
};

struct slab_area *hm__slab_area(void);

/* hm_slab_create; general: a kmalloc cache, which hm_slab_destroy refuses. */
struct hm_slab_cache *hm__slab_create(const char *name, size_t size, size_t align, unsigned flags,
				      hm_slab_ctor *ctor, hm_slab_dtor *dtor, void *arg,
				      bool general);

/* Whether c is a live cache of this instance (its memory committed, its magic set). */
bool hm__slab_valid(const struct hm_slab_cache *c);

/* The page map's entry for addr: the id of the cache whose slab covers it, 0 if none. */
unsigned hm__slab_map_get(const void *addr);
/* The cache of the slab covering addr, or NULL. */
struct hm_slab_cache *hm__slab_cache_at(const void *addr);

/* Primary: the slab area of the config region. Every process: the exit flush. */
int hm__slab_setup(struct hm_shared *sh);
int hm__slab_attach(void);
void hm__slab_detach(void); /* hm_cleanup, before the memory goes */
/* The page map, for a cache being created: its pointer, first address and length. */
void hm__slab_map_of(const uint16_t **map, uintptr_t *lo, uint64_t *n);
/* The table of caches by id. */
struct hm_slab_cache **hm__slab_by_id(void);

/* kmalloc.c: fill the process's view of the general caches (hm_init), clear it (hm_cleanup). */
void hm__kmalloc_attach(void);
void hm__kmalloc_detach(void);

/* --- slabs.c: under no lock; each takes k->lock --- */

/* Up to n objects from the slabs, growing by a slab if none is free: how many (0: ENOMEM). */
unsigned hm__slabs_take(struct cache *k, void **objs, unsigned n);
/* Give n objects back to their slabs (each checked; the refused are logged and counted). */
void hm__slabs_give(struct cache *k, void *const *objs, unsigned n);
/* Release every empty slab (shrink, destroy). */
void hm__slabs_release_empty(struct cache *k);
/* The working-set reap of empty slabs (under no lock): release those unused since the last. */
void hm__slabs_reap(struct cache *k);
/* The list slab s belongs on for its count (under the lock). */
unsigned hm__slab_list_for(const struct cache *k, const struct slab *s);
/* Whether this process may run k's constructor and destructor. */
bool hm__slab_code_here(const struct cache *k);
/* The index of object obj in slab s, or -1 if obj is not on an object's start. */
long hm__slab_index(const struct cache *k, const struct slab *s, const void *obj);

/* --- magazine.c --- */

/* Give a thread's magazines back (the exit flush, destroy): full to the depot, the rest to the slabs. */
void hm__slab_flush_local(void *owner, void *local);
/* Give every magazine of the depot back: objects to the slabs, the magazines to the heap. */
void hm__slab_depot_drain(struct cache *k);
/* Run the reap if the interval has passed. */
void hm__slab_maybe_reap(struct cache *k);
/* Objects held by magazines (threads' and the depot's), a snapshot. */
uint64_t hm__slab_in_magazines(const struct cache *k);
/* Sum the threads' counters into st. */
void hm__slab_sum_counts(const struct cache *k, struct hm_slab_stats *st);

/* --- debug.c: debug caches --- */

/* Lay a free object out: red zones, state free, poison (at slab creation). */
void hm__slab_debug_init(const struct cache *k, void *obj);
/* An alloc hands obj out: check it was free and unharmed, mark it live with the owner. */
void hm__slab_debug_alloc(struct cache *k, void *obj);
/* A free of obj: false (logged, counted) if it is not live; else mark it free, poison it. */
bool hm__slab_debug_free(struct cache *k, void *obj);
/* Audit a free object: 0, or -EFAULT with a log line. */
int hm__slab_debug_check_free(const struct cache *k, const void *obj);
/* The owner of a live object, or -ENOENT if it is free. */
int hm__slab_debug_owner(const struct cache *k, const void *obj);

#endif /* HM_SLAB_SLAB_H */
