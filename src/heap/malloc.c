/* SPDX-License-Identifier: MIT */
/*
 * malloc.c - hm_malloc and friends: the public heap API over the TLSF heap
 * core (heap.c) and the thread caches (tcache.h), with block types,
 * per-type counters and limits.
 *
 * The fast paths. A request of a cached size (blocks below 128 KiB, align at
 * most a cache line, on the cache's node) pops a block from the calling
 * thread's cache; a free of a block of the cache's home heap claims it with
 * one compare-and-swap on its tag and pushes it onto the cache. Neither takes
 * a lock or makes a system call; the per-type counts are the thread's own.
 * Everything else (large or aligned requests, other nodes, a list that is
 * empty and cannot be refilled, any pointer that is not plainly a live block)
 * takes the slow path: the heap under its lock, which also finds and
 * reports every misuse.
 *
 * A request on the slow path picks its heaps in order (hm__heap_order: the
 * caller's node, larger pages first, 4 KiB pages when hugepages run out) and
 * takes the first block one of them gives; when none can, the thread gives
 * its own cache back and the caches of dead processes are reclaimed, and it
 * tries once more. Each block records its kind (malloc, not a zone) and its
 * type index in its header, so hm_free refuses zones' memory and finds the
 * type's counters in O(1).
 *
 * Types live in a table of HM_MALLOC_TYPES_MAX entries in the config region;
 * entry 0 is the untyped "". A new name is registered under a spinlock and
 * published by a release store of the count; lookups read the names without
 * a lock. Each process keeps a small cache from the caller's type pointer
 * (usually a string literal) to its index, checked against the name on every
 * hit, so a malloc does not scan the table.
 */
#include "heap/tcache.h"

#include <inttypes.h>
#include <string.h>

int hm__malloc_setup(struct hm_shared *sh)
{
	uint64_t off = hm__shared_alloc(sh, sizeof(struct hm_malloc_area), 64);

	if (!off)
		return -ENOMEM;
	sh->area_off[HM_AREA_MALLOC] = off;
	hm__spin_init(&hm__malloc_area(sh)->lock);
	atomic_store(&hm__malloc_area(sh)->n_types, 1); /* entry 0: untyped, name "" */
	return hm__tc_setup(sh, hm__malloc_area(sh));
}

int hm__malloc_attach(void)
{
	return hm__tc_attach_process();
}

/* --- types --- */

#define TYPE_CACHE 64

/* Process-local: pointer << 8 | index, 0 if empty. Checked against the name on use. */
static _Atomic uint64_t type_cache[TYPE_CACHE];

static unsigned cache_slot(const char *type)
{
	return (unsigned)(((uintptr_t)type >> 3) * 0x9e3779b97f4a7c15ull >> 58);
}

/* The index of type, or -ENOENT; create: register it if new (-ENOSPC when full). */
static int type_index(struct hm_malloc_area *a, const char *type, bool create)
{
	uint64_t c;
	unsigned n;
	size_t len;

	if (!type || !type[0])
		return 0;
	c = atomic_load_explicit(&type_cache[cache_slot(type)], memory_order_relaxed);
	if (c >> 8 == (uintptr_t)type) {
		unsigned idx = (unsigned)(c & 0xff);
		/* Acquire pairs with the release of n_types: the name is complete. */
		if (idx < atomic_load_explicit(&a->n_types, memory_order_acquire) &&
		    strncmp(a->types[idx].name, type, HM_NAME_MAX) == 0)
			return (int)idx;
	}
	len = strnlen(type, HM_NAME_MAX);
	if (len >= HM_NAME_MAX)
		return -EINVAL;
	n = atomic_load_explicit(&a->n_types, memory_order_acquire);
	for (unsigned i = 1; i < n; i++) {
		if (strncmp(a->types[i].name, type, HM_NAME_MAX) == 0) {
			atomic_store_explicit(&type_cache[cache_slot(type)],
					      (uint64_t)(uintptr_t)type << 8 | i,
					      memory_order_relaxed);
			return (int)i;
		}
	}
	if (!create)
		return -ENOENT;
	hm__spin_lock(&a->lock);
	n = atomic_load_explicit(&a->n_types, memory_order_relaxed);
	int idx = -1;
	for (unsigned i = 1; i < n && idx < 0; i++)
		if (strncmp(a->types[i].name, type, HM_NAME_MAX) == 0)
			idx = (int)i;
	if (idx < 0 && n < HM_MALLOC_TYPES_MAX) {
		memcpy(a->types[n].name, type, len + 1);
		/* Release: the name is written before the entry counts. */
		atomic_store_explicit(&a->n_types, n + 1, memory_order_release);
		idx = (int)n;
	}
	hm__spin_unlock(&a->lock);
	return idx < 0 ? -ENOSPC : idx;
}

/* The type of an allocation: a full table makes it untyped, with one warning. */
static unsigned alloc_type(struct hm_malloc_area *a, const char *type, int *err)
{
	static _Atomic bool warned;
	int idx = type_index(a, type, true);

	if (idx == -ENOSPC) {
		if (!atomic_exchange(&warned, true))
			hm__warn("%d malloc types exist: \"%s\" and later new names count as "
				 "untyped",
				 HM_MALLOC_TYPES_MAX, type);
		return 0;
	}
	if (idx < 0)
		*err = -idx;
	return idx < 0 ? 0 : (unsigned)idx;
}

/* --- counting: per thread where the type has no limit, in the shared entry where it has --- */

/* Raise t's high-water mark to at least v. */
static void raise_high_water(struct hm_type_entry *t, int64_t v)
{
	uint64_t hw = atomic_load_explicit(&t->high_water, memory_order_relaxed);

	while (v > 0 && (uint64_t)v > hw &&
	       !atomic_compare_exchange_weak_explicit(&t->high_water, &hw, (uint64_t)v,
						      memory_order_relaxed, memory_order_relaxed))
		;
}

/*
 * Add delta live bytes to type t in its entry; false (and nothing counted)
 * if a limit would pass. The check and the count are one compare-and-swap,
 * so an allocation that fits is never refused because another thread's,
 * which would not, counted itself for a moment. Relaxed: the counters order
 * nothing else.
 */
static bool count_shared(struct hm_type_entry *t, uint64_t limit, int64_t delta)
{
	int64_t live = atomic_load_explicit(&t->live_bytes, memory_order_relaxed);
	int64_t unfolded = atomic_load_explicit(&t->unfolded, memory_order_relaxed);

	do {
		int64_t total = live + unfolded + delta;

		if (limit && delta > 0 && total > 0 && (uint64_t)total > limit) {
			atomic_fetch_add_explicit(&t->refused, 1, memory_order_relaxed);
			return false;
		}
	} while (!atomic_compare_exchange_weak_explicit(
		&t->live_bytes, &live, live + delta, memory_order_relaxed, memory_order_relaxed));
	raise_high_water(t, live + delta + unfolded);
	return true;
}

/* The slow side of count(): a type with a limit, or a thread without a cache. */
static __attribute__((noinline)) bool count_slow(struct hm_malloc_area *a, struct hm_tcache *tc,
						 unsigned idx, int64_t delta, int op)
{
	struct hm_type_entry *t = &a->types[idx];

	if (tc)
		hm__tc_fold(a, tc, idx); /* a limit counts in the entry alone */
	if (!count_shared(t, atomic_load_explicit(&t->limit, memory_order_relaxed), delta))
		return false;
	if (op > 0)
		atomic_fetch_add_explicit(&t->allocs, 1, memory_order_relaxed);
	else if (op < 0)
		atomic_fetch_add_explicit(&t->frees, 1, memory_order_relaxed);
	return true;
}

/* A relaxed load and store of a counter that only the calling thread writes. */
#define BUMP(field, delta)                                                                    \
	atomic_store_explicit(&(field),                                                       \
			      atomic_load_explicit(&(field), memory_order_relaxed) + (delta), \
			      memory_order_relaxed)

/*
 * Count delta usable bytes of type idx, and an allocation (op > 0) or a free
 * (op < 0) or neither (0: a realloc in place), as the calling thread (tc,
 * NULL if it has no cache). False if the type's limit refuses it. Inline
 * with a constant op: the thread's own counters, with no read-modify-write.
 */
static inline __attribute__((always_inline)) bool
count(struct hm_malloc_area *a, struct hm_tcache *tc, unsigned idx, int64_t delta, int op)
{
	if (HM_LIKELY(tc && !atomic_load_explicit(&a->types[idx].limit, memory_order_relaxed))) {
		struct hm_tc_type *c = &tc->types[idx];
		int64_t v = atomic_load_explicit(&c->bytes, memory_order_relaxed) + delta;

		atomic_store_explicit(&c->bytes, v, memory_order_relaxed);
		if (op > 0) {
			BUMP(c->allocs, 1);
			if (v > atomic_load_explicit(&c->peak, memory_order_relaxed)) {
				atomic_store_explicit(&c->peak, v, memory_order_relaxed);
				if (HM_UNLIKELY(v > HM_TC_FOLD))
					hm__tc_fold(a, tc, idx);
			}
		} else if (op < 0) {
			BUMP(c->frees, 1);
			if (HM_UNLIKELY(v < -HM_TC_FOLD))
				hm__tc_fold(a, tc, idx);
		} else if (HM_UNLIKELY(v > HM_TC_FOLD || v < -HM_TC_FOLD)) {
			hm__tc_fold(a, tc, idx);
		}
		return true;
	}
	return count_slow(a, tc, idx, delta, op);
}

/* --- debug builds: a trailer cookie after every block, poison on free --- */

#if HM_DEBUG >= 1
#define TRAILER 8u /* bytes at the end of each block, holding a cookie */
#define POISON  0x6b
#else
#define TRAILER 0u
#endif

/* Bytes the caller may use in block b. */
static inline size_t usable_of(const struct hm_heap_block *b)
{
	return hm__heap_usable(b) - TRAILER;
}

#if HM_DEBUG >= 1
static uint64_t trailer_cookie(const void *p)
{
	return UINT64_C(0x7e11e47a11c0ffee) ^ (uintptr_t)p;
}

/* Write the trailer of the block at payload p, which has heap_usable bytes (trailer included). */
static void set_trailer(void *p, size_t heap_usable)
{
	uint64_t c = trailer_cookie(p);

	memcpy((char *)p + heap_usable - TRAILER, &c, sizeof(c));
}

static bool trailer_intact(const struct hm_heap_block *b)
{
	uint64_t c;

	memcpy(&c, (const char *)(b + 1) + usable_of(b), sizeof(c));
	return c == trailer_cookie(b + 1);
}

static void poison(void *p, size_t usable)
{
	memset(p, POISON, usable);
}
#else
static inline void set_trailer(void *p, size_t heap_usable)
{
	(void)p;
	(void)heap_usable;
}

static inline bool trailer_intact(const struct hm_heap_block *b)
{
	(void)b;
	return true;
}

static inline void poison(void *p, size_t usable)
{
	(void)p;
	(void)usable;
}
#endif

/* Log and count a smashed trailer found by what on the block of payload p. */
static void report_trailer(struct hm_malloc_area *a, const void *p, size_t usable, const char *what)
{
	atomic_fetch_add(&a->corruptions, 1);
	hm__err("%s(%p): the trailer after its %zu bytes is smashed (buffer overrun)", what, p,
		usable);
}

/*
 * Tell ASan or Valgrind that the block at payload p (usable bytes for the
 * caller) is free: a use of it is then reported (the heap opens up its
 * free-list links again when it takes the block back). Only in a private
 * instance: a checker's shadow memory belongs to one process,
 * and another process may reuse the memory (and write headers into it)
 * without this one's checker knowing, which would then report that legal use.
 */
static inline void forget(const struct hm_shared *sh, char *p, size_t usable)
{
	if (!sh->shared)
		hm_track_noaccess(p, usable + TRAILER);
}

/* --- allocation --- */

/* A size or alignment that no heap can hold: malloc refuses it with ENOMEM. */
static bool beyond_heap(size_t size, size_t align)
{
	return size > HM_HEAP_MAX_SIZE - TRAILER || align > HM_HEAP_MAX_SIZE;
}

/* The outcome of a cache's attempt at a request. */
enum { CACHE_MISS, CACHE_HIT, CACHE_REFUSED };

/* Pop a block of list bin of tc for type idx into *out: CACHE_MISS if the list is empty and cannot be refilled. */
static inline __attribute__((always_inline)) int
cache_alloc(struct hm_shared *sh, struct hm_tcache *tc, unsigned idx, unsigned bin, void **out)
{
	struct hm_tc_bin *l = &tc->bins[bin];
	struct hm_heap_block *b;
	uint64_t bs;

	if (HM_UNLIKELY(!l->head) && !hm__tc_refill(tc, bin))
		return CACHE_MISS;
	b = hm__at(sh, l->head);
	bs = b->size & ~UINT64_C(1);
	if (HM_UNLIKELY(
		    !count(hm__malloc_area(sh), tc, idx, (int64_t)(bs - HM_HEAP_HDR - TRAILER), 1)))
		return CACHE_REFUSED;
	l->head = b->link;
	BUMP(l->count, -1);
	BUMP(tc->n_bytes, -bs);
	b->user = idx;
	/* The block may have been freed and poisoned: it is the caller's now. */
	hm_track_undefined(b + 1, bs - HM_HEAP_HDR);
	/* Release: pairs with the acquire of a claiming CAS in hm_free, which then
	 * sees user as written here. */
	atomic_store_explicit(&b->tag,
			      hm__heap_retag(atomic_load_explicit(&b->tag, memory_order_relaxed),
					     HM_BLOCK_MALLOC),
			      memory_order_release);
	set_trailer(b + 1, bs - HM_HEAP_HDR);
	*out = b + 1;
	return CACHE_HIT;
}

/* The slow path: the heaps of socket in order, under their locks. NULL with errno on failure. */
static __attribute__((noinline)) void *alloc_slow(struct hm_shared *sh, struct hm_tcache *tc,
						  unsigned idx, size_t size, size_t align,
						  int socket)
{
	struct hm_malloc_area *a = hm__malloc_area(sh);
	unsigned order[HM_SEGLISTS_MAX];
	unsigned n = hm__heap_order(socket, 0, order);
	size_t hu = 0; /* bytes usable in the block, trailer included */
	void *p = NULL;

	for (unsigned round = 0; round < 2 && !p; round++) {
		if (round) {
			/* Out of memory: give back what the caches of this thread and of
			 * dead processes hold, and look once more. */
			hm__tc_flush_mine();
			hm__threads_reclaim_dead();
		}
		for (unsigned k = 0; k < n && !p; k++) {
			p = hm__heap_alloc_sized(hm__heap_get(order[k]), size + TRAILER, align, 0,
						 HM_HEAP_KIND(HM_BLOCK_MALLOC) | HM_HEAP_USER(idx),
						 &hu);
			if (!p && errno != ENOMEM)
				return NULL;
			/* A cache that holds nothing moves to the heap that has memory. */
			if (p && tc && k > 0 && socket == HM_SOCKET_ANY &&
			    !atomic_load_explicit(&tc->n_bytes, memory_order_relaxed))
				atomic_store_explicit(&tc->home, order[k] + 1,
						      memory_order_relaxed);
		}
	}
	if (!p)
		return hm__null_errno(ENOMEM);
	set_trailer(p, hu);
	if (!count(a, tc, idx, (int64_t)(hu - TRAILER), 1)) {
		hm__heap_free(p, HM_BLOCK_MALLOC, NULL, NULL);
		hm__debug("malloc of %zu bytes of type \"%s\": its limit of %" PRIu64 " is reached",
			  size, a->types[idx].name, atomic_load(&a->types[idx].limit));
		return hm__null_errno(ENOMEM);
	}
	return p;
}

/* Allocate for type index idx: the thread cache when it can serve the request, else the slow path. */
static inline __attribute__((always_inline)) void *
alloc_typed(struct hm_shared *sh, unsigned idx, size_t size, size_t align, int socket)
{
	struct hm_tcache *tc = hm__tc_get();

	if (HM_LIKELY(tc && align <= HM_HEAP_UNIT)) {
		unsigned bin = hm__tc_bin(hm__heap_need(size + TRAILER));
		void *p;

		if (HM_LIKELY(bin < HM_TC_BINS) &&
		    (socket == HM_SOCKET_ANY || sh->n_sockets == 1 ||
		     hm__heap_get(atomic_load_explicit(&tc->home, memory_order_relaxed) - 1)
				     ->socket == socket)) {
			switch (cache_alloc(sh, tc, idx, bin, &p)) {
			case CACHE_HIT:
				return p;
			case CACHE_REFUSED:
				return hm__null_errno(ENOMEM);
			default:
				break;
			}
		}
	}
	return alloc_slow(sh, tc, idx, size, align, socket);
}

/* Every request that the fast path of hm_malloc_socket does not serve. */
static __attribute__((noinline)) void *malloc_general(const char *type, size_t size, size_t align,
						      int socket)
{
	struct hm_shared *sh = hm__proc.sh;
	unsigned idx = 0;

	if (HM_UNLIKELY(!sh))
		return hm__null_errno(ENXIO);
	/* One test for the common case: 0 < size <= the heap's largest, align 0 or a power of two. */
	if (HM_UNLIKELY(size - 1 >= HM_HEAP_MAX_SIZE - TRAILER || (align & (align - 1)) ||
			align > HM_HEAP_MAX_SIZE)) {
		if (size == 0 || (align & (align - 1)))
			return hm__null_errno(EINVAL);
		return hm__null_errno(ENOMEM);
	}
	if (HM_UNLIKELY(socket != HM_SOCKET_ANY) && !hm_socket_valid(socket))
		return hm__null_errno(ENODEV);
	if (type && type[0]) {
		int err = 0;

		idx = alloc_type(hm__malloc_area(sh), type, &err);
		if (err)
			return hm__null_errno(err);
	}
	return alloc_typed(sh, idx, size, align, socket);
}

void *hm_malloc_socket(const char *type, size_t size, size_t align, int socket)
{
	struct hm_shared *sh = hm__proc.sh;
	struct hm_tcache *tc;
	void *p;

	/* The fast path, in a function small enough to need almost no registers
	 * saved: an untyped request of a cached size on any node, whose list in
	 * the calling thread's cache is not empty. */
	if (HM_LIKELY(sh && socket == HM_SOCKET_ANY && (!type || !type[0]) &&
		      align <= HM_HEAP_UNIT && !(align & (align - 1)) &&
		      size - 1 < HM_TC_MAX_BLOCK && (tc = hm__tc_get()) != NULL)) {
		unsigned bin = hm__tc_bin(hm__heap_need(size + TRAILER));

		if (HM_LIKELY(bin < HM_TC_BINS && tc->bins[bin].head) &&
		    cache_alloc(sh, tc, 0, bin, &p) == CACHE_HIT)
			return p;
	}
	return malloc_general(type, size, align, socket);
}

void *hm_malloc(const char *type, size_t size, size_t align)
{
	return hm_malloc_socket(type, size, align, HM_SOCKET_ANY);
}

void *hm_zmalloc_socket(const char *type, size_t size, size_t align, int socket)
{
	void *p = hm_malloc_socket(type, size, align, socket);

	if (p)
		memset(p, 0, size);
	return p;
}

void *hm_zmalloc(const char *type, size_t size, size_t align)
{
	return hm_zmalloc_socket(type, size, align, HM_SOCKET_ANY);
}

void *hm_calloc_socket(const char *type, size_t n, size_t size, size_t align, int socket)
{
	size_t total;

	if (__builtin_mul_overflow(n, size, &total))
		return hm__null_errno(EINVAL);
	return hm_zmalloc_socket(type, total, align, socket);
}

void *hm_calloc(const char *type, size_t n, size_t size, size_t align)
{
	return hm_calloc_socket(type, n, size, align, HM_SOCKET_ANY);
}

/* --- free --- */

/* What a look at a live block (under its heap's lock) found. */
struct block_info {
	unsigned type;   /* its type index */
	uint64_t usable; /* bytes the caller may use */
	bool smashed;    /* its trailer was overwritten */
	bool shared;     /* hm_free: the instance is shared (see forget()) */
	void *copy_to;   /* realloc: copy min(usable, copy_len) bytes here */
	size_t copy_len;
};

/* The slow free, before the heap frees b under its lock: read what the free needs, then poison. */
static int before_free(struct hm_heap_block *b, void *arg)
{
	struct block_info *bi = arg;
	char *p = (char *)(b + 1);

	bi->type = b->user < HM_MALLOC_TYPES_MAX ? b->user : 0;
	bi->usable = usable_of(b);
	bi->smashed = !trailer_intact(b);
	poison(p, bi->usable);
	if (!bi->shared)
		hm_track_noaccess(p, bi->usable + TRAILER);
	return 0;
}

/* Every free that the fast path did not take: the heap checks p under its lock. */
static __attribute__((noinline)) void free_slow(struct hm_shared *sh, void *p)
{
	struct hm_malloc_area *a = hm__malloc_area(sh);
	struct block_info bi = {.shared = sh->shared};

	if (!hm__heap_at(p)) {
		atomic_fetch_add(&a->bad_frees, 1);
		hm__err("hm_free(%p): not hugemem memory (a foreign pointer)", p);
		return;
	}
	/* The heap checks, under its lock, that p is a live malloc block: of two
	 * threads freeing it at once, one is refused (logged and counted there). */
	if (hm__heap_free(p, HM_BLOCK_MALLOC, before_free, &bi) != 0)
		return;
	/* A smashed trailer is reported; the block is still freed, as its header
	 * (checked by the heap) is intact. */
	if (bi.smashed)
		report_trailer(a, p, bi.usable, "hm_free");
	count(a, hm__tc_get(), bi.type, -(int64_t)bi.usable, -1);
}

/* The fast free: b (of heap index heap, the cache's home) was claimed for tc. */
static inline __attribute__((always_inline)) void
cache_free(struct hm_shared *sh, struct hm_tcache *tc, unsigned heap, struct hm_heap_block *b)
{
	struct hm_malloc_area *a = hm__malloc_area(sh);
	uint64_t bs = b->size & ~UINT64_C(1);
	unsigned idx = b->user < HM_MALLOC_TYPES_MAX ? b->user : 0;
	size_t usable = (size_t)(bs - HM_HEAP_HDR - TRAILER);
	char *p = (char *)(b + 1);

	if (HM_UNLIKELY(!trailer_intact(b)))
		report_trailer(a, p, usable, "hm_free");
	poison(p, usable);
	forget(sh, p, usable);
	count(a, tc, idx, -(int64_t)usable, -1);
	BUMP(tc->frees, 1);
	if (HM_UNLIKELY(bs >= HM_TC_MAX_BLOCK)) {
		/* Too large for a list: straight back to the heap. */
		void *one = p;

		BUMP(tc->flushed, 1);
		hm__heap_free_run(hm__heap_get(heap), &one, 1);
		return;
	}
	unsigned bin = hm__heap_class_index(bs);
	struct hm_tc_bin *l = &tc->bins[bin];
	uint32_t n = atomic_load_explicit(&l->count, memory_order_relaxed) + 1;

	b->link = l->head;
	l->head = hm__off_of(sh, b);
	atomic_store_explicit(&l->count, n, memory_order_relaxed);
	BUMP(tc->n_bytes, bs);
	if (HM_UNLIKELY(n > l->max))
		hm__tc_flush_bin(tc, bin, l->max / 2);
}

void hm_free(void *p)
{
	struct hm_shared *sh = hm__proc.sh;
	struct hm_heap_block *b;
	struct hm_tcache *tc;
	int i;

	if (!p)
		return;
	if (HM_UNLIKELY(!sh)) {
		hm__err("hm_free(%p) before hm_init", p);
		return;
	}
	b = (struct hm_heap_block *)((uintptr_t)p - HM_HEAP_HDR);
	/* The fast path takes only a plainly live malloc block of the cache's home
	 * heap, in a committed page (read nothing before that is known), and
	 * claims it with a CAS on its tag: of two frees of one pointer, one wins.
	 * Acquire pairs with the release that set the tag (the allocation), so the
	 * header read after it is the allocation's. */
	i = hm__seglist_of(sh, b);
	if (HM_LIKELY(i >= 0 && (uintptr_t)p % HM_HEAP_UNIT == 0 &&
		      hm__seglist_committed(sh, (unsigned)i, b)) &&
	    (tc = hm__tc_get()) != NULL &&
	    atomic_load_explicit(&tc->home, memory_order_relaxed) == (uint32_t)i + 1) {
		uint64_t t = hm__heap_peek_tag(b);

		if (HM_LIKELY(t == HM_HEAP_TAG(hm__heap_cookie(sh, b), i, HM_BLOCK_MALLOC)) &&
		    atomic_compare_exchange_strong_explicit(
			    &b->tag, &t, hm__heap_retag(t, HM_BLOCK_CACHED), memory_order_acquire,
			    memory_order_relaxed)) {
			cache_free(sh, tc, (unsigned)i, b);
			return;
		}
	}
	free_slow(sh, p);
}

/* --- validate, realloc --- */

/* hm_malloc_validate and hm_realloc: what malloc block b holds; -EINVAL for any other kind. */
static int look(struct hm_heap_block *b, void *arg)
{
	struct block_info *bi = arg;
	unsigned kind = HM_HEAP_TAG_KIND(atomic_load_explicit(&b->tag, memory_order_relaxed));

	if (kind != HM_BLOCK_MALLOC || b->user >= HM_MALLOC_TYPES_MAX)
		return -EINVAL;
	bi->type = b->user;
	bi->usable = usable_of(b);
	bi->smashed = !trailer_intact(b);
	if (bi->copy_to)
		memcpy(bi->copy_to, b + 1, HM_MIN(bi->usable, bi->copy_len));
	return 0;
}

int hm_malloc_validate(const void *p, size_t *size)
{
	struct hm_shared *sh = hm__shared();
	struct block_info bi = {0};

	if (!sh)
		return -ENXIO;
	if (hm__heap_inspect(p, look, &bi) != 0)
		return -EINVAL;
	if (bi.smashed) {
		report_trailer(hm__malloc_area(sh), p, bi.usable, "hm_malloc_validate");
		return -EFAULT;
	}
	if (size)
		*size = bi.usable;
	return 0;
}

void *hm_realloc(void *p, size_t size, size_t align)
{
	struct hm_shared *sh = hm__shared();
	struct block_info bi = {0};
	struct hm_malloc_area *a;
	uint64_t now;
	size_t hu;
	void *q;

	if (!sh)
		return hm__null_errno(ENXIO);
	if (!p)
		return hm_malloc(NULL, size, align);
	if (size == 0 || (align && !hm__is_pow2(align)))
		return hm__null_errno(EINVAL);
	a = hm__malloc_area(sh);
	if (hm__heap_inspect(p, look, &bi) != 0) {
		hm__err("hm_realloc(%p): not a live block", p);
		return hm__null_errno(EINVAL);
	}
	if (bi.smashed)
		report_trailer(a, p, bi.usable, "hm_realloc");
	if (beyond_heap(size, align))
		return hm__null_errno(ENOMEM);
	if ((uintptr_t)p % (align ? align : HM_CACHE_LINE) == 0 &&
	    hm__heap_resize(p, size + TRAILER, &hu) == 0) {
		now = hu - TRAILER;
		if (!count(a, hm__tc_get(), bi.type, (int64_t)now - (int64_t)bi.usable, 0)) {
			/* Back within the limit: shrinking to the old size always fits. */
			if (hm__heap_resize(p, (size_t)bi.usable + TRAILER, &hu) == 0)
				set_trailer(p, hu);
			return hm__null_errno(ENOMEM);
		}
		set_trailer(p, hu);
		return p;
	}
	/* Move, on the node of the old block, keeping the type. */
	int socket = hm__heap_at(p)->socket;
	q = alloc_typed(sh, bi.type, size, align, socket);
	if (!q && sh->n_sockets > 1 && errno == ENOMEM)
		q = alloc_typed(sh, bi.type, size, align, HM_SOCKET_ANY);
	if (!q)
		return NULL;
	/* Copy under p's heap lock, which also checks that p is still live (another
	 * thread may have freed it since the look above). */
	bi.copy_to = q;
	bi.copy_len = size;
	if (hm__heap_inspect(p, look, &bi) != 0) {
		hm_free(q);
		hm__err("hm_realloc(%p): freed by another thread meanwhile", p);
		return hm__null_errno(EINVAL);
	}
	hm_free(p);
	return q;
}

/* --- limits and statistics --- */

int hm_malloc_set_limit(const char *type, size_t max)
{
	struct hm_shared *sh = hm__shared();
	struct hm_type_entry *t;
	int64_t pending, peaks;
	uint64_t allocs, frees;
	int idx;

	if (!sh)
		return -ENXIO;
	if (!type || !type[0])
		return -EINVAL;
	idx = type_index(hm__malloc_area(sh), type, true);
	if (idx < 0)
		return idx;
	t = &hm__malloc_area(sh)->types[idx];
	/* The bytes threads counted as their own and have not folded in yet count
	 * against the limit too; each thread folds its count at its next use of
	 * the type, moving it from here into the entry. */
	hm__tc_type_sums(sh, (unsigned)idx, &pending, &peaks, &allocs, &frees);
	atomic_store(&t->unfolded, pending);
	atomic_store(&t->limit, (uint64_t)max);
	return 0;
}

int hm_malloc_get_stats(int socket, struct hm_malloc_stats *st)
{
	struct hm_shared *sh = hm__shared();
	struct hm_heap_stats hs;
	struct hm_tc_sums tcs;

	if (!sh)
		return -ENXIO;
	if (!st)
		return -EINVAL;
	if (socket != HM_SOCKET_ANY && !hm_socket_valid(socket))
		return -ENODEV;
	memset(st, 0, sizeof(*st));
	st->size = sizeof(*st);
	st->version = 1;
	for (unsigned i = 0; i < hm__heap_count(); i++) {
		struct hm_heap *h = hm__heap_get(i);

		if (socket != HM_SOCKET_ANY && h->socket != socket)
			continue;
		hm__heap_get_stats(h, &hs);
		/* Blocks in thread caches are free for their users, in use for the heap. */
		hm__tc_sums(sh, (int)i, &tcs);
		st->heap_size += hs.heap_size;
		st->free_size += hs.free_size + tcs.bytes;
		st->largest_free = HM_MAX(st->largest_free, hs.largest_free);
		st->live_blocks += hs.n_used_blocks - tcs.blocks;
		st->free_blocks += hs.n_free_blocks + tcs.blocks;
		st->allocs += hs.allocs + tcs.allocs;
		st->frees += hs.frees + tcs.frees;
		st->errors += hs.errors;
		st->cached_blocks += tcs.blocks;
		st->cached_bytes += tcs.bytes;
	}
	st->errors += atomic_load(&hm__malloc_area(sh)->bad_frees) +
		      atomic_load(&hm__malloc_area(sh)->corruptions);
	return 0;
}

/*
 * A type's counters: its entry plus every thread's own counts. The
 * high-water mark is the entry's, or the entry's live bytes plus every
 * thread's peak since its last fold if that is more: exact when one thread
 * uses the type, never below the true peak, and above it by at most
 * HM_TC_FOLD per thread.
 */
static void type_stats(const struct hm_shared *sh, unsigned idx, struct hm_malloc_type_stats *st)
{
	struct hm_type_entry *t = &hm__malloc_area(sh)->types[idx];
	int64_t bytes, peaks, live;
	uint64_t allocs, frees;

	hm__tc_type_sums(sh, idx, &bytes, &peaks, &allocs, &frees);
	memcpy(st->name, t->name, HM_NAME_MAX);
	live = atomic_load(&t->live_bytes);
	st->live_bytes = live + bytes > 0 ? (uint64_t)(live + bytes) : 0;
	st->high_water = HM_MAX(atomic_load(&t->high_water),
				live + peaks > 0 ? (uint64_t)(live + peaks) : 0);
	st->high_water = HM_MAX(st->high_water, st->live_bytes);
	st->limit = atomic_load(&t->limit);
	st->allocs = atomic_load(&t->allocs) + allocs;
	st->frees = atomic_load(&t->frees) + frees;
	st->live_blocks = st->allocs - st->frees;
	st->refused = atomic_load(&t->refused);
}

int hm_malloc_get_type_stats(const char *type, struct hm_malloc_type_stats *st)
{
	struct hm_shared *sh = hm__shared();
	int idx;

	if (!sh)
		return -ENXIO;
	if (!st)
		return -EINVAL;
	idx = type_index(hm__malloc_area(sh), type, false);
	if (idx < 0)
		return idx;
	type_stats(sh, (unsigned)idx, st);
	return 0;
}

void hm_malloc_dump_heaps(FILE *f)
{
	struct hm_shared *sh = hm__shared();
	struct hm_tc_sums tcs;

	if (!sh) {
		fprintf(f, "hugemem: no instance\n");
		return;
	}
	for (unsigned i = 0; i < hm__heap_count(); i++) {
		hm__heap_dump(hm__heap_get(i), f);
		hm__tc_sums(sh, (int)i, &tcs);
		fprintf(f,
			"  thread caches: %" PRIu64 " blocks (%" PRIu64
			" bytes) free in them; %" PRIu64 " allocs and %" PRIu64 " frees served\n",
			tcs.blocks, tcs.bytes, tcs.allocs, tcs.frees);
	}
}

void hm_malloc_dump_stats(FILE *f, const char *type)
{
	struct hm_shared *sh = hm__shared();
	struct hm_malloc_type_stats ts;
	struct hm_malloc_stats st;

	if (!sh) {
		fprintf(f, "hugemem: no instance\n");
		return;
	}
	for (unsigned k = 0; k < sh->n_sockets; k++) {
		hm_malloc_get_stats(sh->sockets[k], &st);
		fprintf(f,
			"heap of node %d: %" PRIu64 " bytes, %" PRIu64 " free (largest %" PRIu64
			"), %" PRIu64 " blocks in use, %" PRIu64 " free (%" PRIu64
			" of them, %" PRIu64 " bytes, in thread caches); %" PRIu64
			" allocs, %" PRIu64 " frees, %" PRIu64 " errors\n",
			sh->sockets[k], st.heap_size, st.free_size, st.largest_free, st.live_blocks,
			st.free_blocks, st.cached_blocks, st.cached_bytes, st.allocs, st.frees,
			st.errors);
	}
	unsigned n = atomic_load_explicit(&hm__malloc_area(sh)->n_types, memory_order_acquire);
	for (unsigned i = 0; i < n; i++) {
		struct hm_type_entry *t = &hm__malloc_area(sh)->types[i];

		if (type && strncmp(t->name, type, HM_NAME_MAX) != 0)
			continue;
		type_stats(sh, i, &ts);
		fprintf(f,
			"  type %-24s %" PRIu64 " bytes live in %" PRIu64 " blocks (high %" PRIu64
			", limit %" PRIu64 "), %" PRIu64 " allocs, %" PRIu64 " frees, %" PRIu64
			" refused\n",
			i ? ts.name : "(untyped)", ts.live_bytes, ts.live_blocks, ts.high_water,
			ts.limit, ts.allocs, ts.frees, ts.refused);
	}
}
