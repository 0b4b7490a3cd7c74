/* SPDX-License-Identifier: MIT */
/*
 * malloc.c - hm_malloc and friends: the public heap API over the TLSF heap
 * core (heap.c), with block types, per-type counters and limits.
 *
 * A request picks its heaps in order (hm__heap_order: the caller's node,
 * larger pages first, 4 KiB pages when hugepages run out) and takes the
 * first block one of them gives. Each block records its kind (malloc, not a
 * zone) and its type index in its header, so hm_free refuses zones' memory
 * and finds the type's counters in O(1).
 *
 * Types live in a table of HM_MALLOC_TYPES_MAX entries in the config region;
 * entry 0 is the untyped "". A new name is registered under a spinlock and
 * published by a release store of the count; lookups read the names without
 * a lock. Each process keeps a small cache from the caller's type pointer
 * (usually a string literal) to its index, checked against the name on every
 * hit, so a malloc does not scan the table. Counters are atomics in shared
 * memory: a type limit holds across every thread and process.
 */
#include "heap/heap.h"
#include <hugemem/malloc.h>

#include <inttypes.h>
#include <stdatomic.h>
#include <string.h>

struct type_entry {
	char name[HM_NAME_MAX];
	_Atomic uint64_t live_bytes;
	_Atomic uint64_t high_water;
	_Atomic uint64_t limit; /* 0: none */
	_Atomic uint64_t allocs;
	_Atomic uint64_t frees;
	_Atomic uint64_t refused;
	uint64_t pad[2];
};

struct malloc_area {
	struct hm_spinlock lock;      /* registration of types */
	_Atomic uint32_t n_types;     /* entries [0, n_types) are registered */
	_Atomic uint64_t bad_frees;   /* frees of pointers that were no block at all */
	_Atomic uint64_t corruptions; /* smashed trailers (debug builds) */
	struct type_entry types[HM_MALLOC_TYPES_MAX];
};

static struct malloc_area *area(const struct hm_shared *sh)
{
	return hm__ptr(sh, sh->area_off[HM_AREA_MALLOC]);
}

int hm__malloc_setup(struct hm_shared *sh)
{
	uint64_t off = hm__shared_alloc(sh, sizeof(struct malloc_area), 64);

	if (!off)
		return -ENOMEM;
	sh->area_off[HM_AREA_MALLOC] = off;
	hm__spin_init(&area(sh)->lock);
	atomic_store(&area(sh)->n_types, 1); /* entry 0: untyped, name "" */
	return 0;
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
static int type_index(struct malloc_area *a, const char *type, bool create)
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
static unsigned alloc_type(struct malloc_area *a, const char *type, int *err)
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

/* Count usable bytes for type t; false (and nothing counted) if its limit would pass. */
static bool charge(struct type_entry *t, uint64_t bytes)
{
	uint64_t limit = atomic_load_explicit(&t->limit, memory_order_relaxed);
	uint64_t live =
		atomic_fetch_add_explicit(&t->live_bytes, bytes, memory_order_relaxed) + bytes;
	uint64_t hw;

	if (limit && live > limit) {
		atomic_fetch_sub_explicit(&t->live_bytes, bytes, memory_order_relaxed);
		atomic_fetch_add_explicit(&t->refused, 1, memory_order_relaxed);
		return false;
	}
	hw = atomic_load_explicit(&t->high_water, memory_order_relaxed);
	while (live > hw &&
	       !atomic_compare_exchange_weak_explicit(&t->high_water, &hw, live,
						      memory_order_relaxed, memory_order_relaxed))
		;
	return true;
}

static void uncharge(struct type_entry *t, uint64_t bytes)
{
	atomic_fetch_sub_explicit(&t->live_bytes, bytes, memory_order_relaxed);
}

/* --- debug builds: a trailer cookie after every block, poison on free --- */

#if HM_DEBUG >= 1
#define TRAILER 8u /* bytes at the end of each block, holding a cookie */
#define POISON  0x6b
#else
#define TRAILER 0u
#endif

/* Bytes the caller may use in block b. */
static size_t usable_of(const struct hm_heap_block *b)
{
	return hm__heap_usable(b) - TRAILER;
}

#if HM_DEBUG >= 1
static uint64_t trailer_cookie(const struct hm_heap_block *b)
{
	return UINT64_C(0x7e11e47a11c0ffee) ^ (uintptr_t)b;
}

static void set_trailer(struct hm_heap_block *b)
{
	uint64_t c = trailer_cookie(b);

	memcpy((char *)(b + 1) + usable_of(b), &c, sizeof(c));
}

/* Whether b's trailer is intact; if not, log the overrun and count it. */
static bool trailer_ok(struct malloc_area *a, const struct hm_heap_block *b, const char *what)
{
	uint64_t c;

	memcpy(&c, (const char *)(b + 1) + usable_of(b), sizeof(c));
	if (c == trailer_cookie(b))
		return true;
	atomic_fetch_add(&a->corruptions, 1);
	hm__err("%s(%p): the trailer after its %zu bytes is smashed (buffer overrun)", what,
		(const void *)(b + 1), usable_of(b));
	return false;
}
#else
static void set_trailer(struct hm_heap_block *b)
{
	(void)b;
}

static bool trailer_ok(struct malloc_area *a, const struct hm_heap_block *b, const char *what)
{
	(void)a;
	(void)b;
	(void)what;
	return true;
}
#endif

/* --- allocation --- */

/* The heap order for HM_SOCKET_ANY on a one-node instance, computed once per instance. */
static struct {
	uint64_t generation;
	unsigned n;
	unsigned order[HM_SEGLISTS_MAX];
} any_order;

static unsigned heap_order(const struct hm_shared *sh, int socket, unsigned *order)
{
	if (socket != HM_SOCKET_ANY || sh->n_sockets > 1)
		return hm__heap_order(socket, 0, order);
	/* Benign race: two threads may fill it at once with the same values. */
	if (any_order.generation != hm__proc.generation) {
		any_order.n = hm__heap_order(HM_SOCKET_ANY, 0, any_order.order);
		any_order.generation = hm__proc.generation;
	}
	memcpy(order, any_order.order, any_order.n * sizeof(*order));
	return any_order.n;
}

/* Allocate for type index idx; NULL with errno on failure. */
static void *alloc_typed(struct hm_shared *sh, unsigned idx, size_t size, size_t align, int socket)
{
	struct malloc_area *a = area(sh);
	unsigned order[HM_SEGLISTS_MAX];
	unsigned n = heap_order(sh, socket, order);
	void *p = NULL;

	for (unsigned k = 0; k < n && !p; k++) {
		p = hm__heap_alloc(hm__heap_get(order[k]), size + TRAILER, align, 0,
				   HM_HEAP_KIND(HM_BLOCK_MALLOC));
		if (!p && errno != ENOMEM)
			return NULL;
	}
	if (!p)
		return hm__null_errno(ENOMEM);
	struct hm_heap_block *b = (struct hm_heap_block *)((char *)p - HM_HEAP_HDR);
	struct type_entry *t = &a->types[idx];

	b->user = idx;
	set_trailer(b);
	if (!charge(t, usable_of(b))) {
		hm__heap_free(p, HM_BLOCK_MALLOC);
		hm__debug("malloc of %zu bytes of type \"%s\": its limit of %" PRIu64 " is reached",
			  size, t->name, atomic_load(&t->limit));
		return hm__null_errno(ENOMEM);
	}
	atomic_fetch_add_explicit(&t->allocs, 1, memory_order_relaxed);
	return p;
}

void *hm_malloc_socket(const char *type, size_t size, size_t align, int socket)
{
	struct hm_shared *sh = hm__shared();
	int err = 0;
	unsigned idx;

	if (!sh)
		return hm__null_errno(ENXIO);
	if (size == 0 || (align && !hm__is_pow2(align)))
		return hm__null_errno(EINVAL);
	if (socket != HM_SOCKET_ANY && !hm_socket_valid(socket))
		return hm__null_errno(ENODEV);
	idx = alloc_type(area(sh), type, &err);
	if (err)
		return hm__null_errno(err);
	return alloc_typed(sh, idx, size, align, socket);
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

/* The malloc block at p, or NULL (not logged). */
static struct hm_heap_block *malloc_block(const void *p)
{
	struct hm_heap_block *b = hm__heap_block_of(p);

	return b && b->flags == HM_BLOCK_MALLOC && b->user < HM_MALLOC_TYPES_MAX ? b : NULL;
}

void hm_free(void *p)
{
	struct hm_shared *sh = hm__shared();
	struct hm_heap_block *b;
	struct type_entry *t;
	uint64_t usable;

	if (!p)
		return;
	if (!sh) {
		hm__err("hm_free(%p) before hm_init", p);
		return;
	}
	b = hm__heap_block_of(p);
	if (!b) {
		atomic_fetch_add(&area(sh)->bad_frees, 1);
		hm__err("hm_free(%p): not a live block (foreign pointer, double free or smashed "
			"header)",
			p);
		return;
	}
	/* Read before the free: after it the header may belong to someone else. */
	t = &area(sh)->types[b->user < HM_MALLOC_TYPES_MAX ? b->user : 0];
	usable = usable_of(b);
	if (b->flags == HM_BLOCK_MALLOC) {
		/* A smashed trailer is reported; the block is still freed, as its
		 * header (checked by the heap) is intact. */
		trailer_ok(area(sh), b, "hm_free");
#if HM_DEBUG >= 1
		memset(p, POISON, usable);
#endif
		/* From here a use of the block is reported by ASan or Valgrind; the
		 * first 16 bytes stay open for the heap's free-list links. */
		if (usable + TRAILER > 16)
			hm_track_noaccess((char *)p + 16, usable + TRAILER - 16);
	}
	if (hm__heap_free(p, HM_BLOCK_MALLOC) != 0)
		return; /* refused, logged and counted by the heap */
	uncharge(t, usable);
	atomic_fetch_add_explicit(&t->frees, 1, memory_order_relaxed);
}

int hm_malloc_validate(const void *p, size_t *size)
{
	struct hm_heap_block *b;

	if (!hm__shared())
		return -ENXIO;
	b = malloc_block(p);
	if (!b)
		return -EINVAL;
	if (!trailer_ok(area(hm__shared()), b, "hm_malloc_validate"))
		return -EFAULT;
	if (size)
		*size = usable_of(b);
	return 0;
}

void *hm_realloc(void *p, size_t size, size_t align)
{
	struct hm_shared *sh = hm__shared();
	struct hm_heap_block *b;
	struct type_entry *t;
	uint64_t old, now;
	void *q;

	if (!sh)
		return hm__null_errno(ENXIO);
	if (!p)
		return hm_malloc(NULL, size, align);
	if (size == 0 || (align && !hm__is_pow2(align)))
		return hm__null_errno(EINVAL);
	b = malloc_block(p);
	if (!b) {
		hm__err("hm_realloc(%p): not a live block", p);
		return hm__null_errno(EINVAL);
	}
	t = &area(sh)->types[b->user];
	old = usable_of(b);
	trailer_ok(area(sh), b, "hm_realloc");
	if ((uintptr_t)p % (align ? align : HM_CACHE_LINE) == 0 &&
	    hm__heap_resize(p, size + TRAILER) == 0) {
		now = usable_of(b);
		/* Grown into a neighbour that was freed (and poisoned): open it up. */
		hm_track_undefined(p, hm__heap_usable(b));
		if (now > old && !charge(t, now - old)) {
			/* Back within the limit: shrinking to the old size always fits. */
			hm__heap_resize(p, (size_t)old + TRAILER);
			set_trailer(b);
			return hm__null_errno(ENOMEM);
		}
		if (now < old)
			uncharge(t, old - now);
		set_trailer(b);
		return p;
	}
	/* Move, on the node of the old block, keeping the type. */
	q = alloc_typed(sh, b->user, size, align, hm__heap_get(b->heap)->socket);
	if (!q && sh->n_sockets > 1 && errno == ENOMEM)
		q = alloc_typed(sh, b->user, size, align, HM_SOCKET_ANY);
	if (!q)
		return NULL;
	memcpy(q, p, HM_MIN(old, size));
	hm_free(p);
	return q;
}

/* --- limits and statistics --- */

int hm_malloc_set_limit(const char *type, size_t max)
{
	struct hm_shared *sh = hm__shared();
	int idx;

	if (!sh)
		return -ENXIO;
	if (!type || !type[0])
		return -EINVAL;
	idx = type_index(area(sh), type, true);
	if (idx < 0)
		return idx;
	atomic_store(&area(sh)->types[idx].limit, (uint64_t)max);
	return 0;
}

int hm_malloc_get_stats(int socket, struct hm_malloc_stats *st)
{
	struct hm_shared *sh = hm__shared();
	struct hm_heap_stats hs;

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
		st->heap_size += hs.heap_size;
		st->free_size += hs.free_size;
		st->largest_free = HM_MAX(st->largest_free, hs.largest_free);
		st->live_blocks += hs.n_used_blocks;
		st->free_blocks += hs.n_free_blocks;
		st->allocs += hs.allocs;
		st->frees += hs.frees;
		st->errors += hs.errors;
	}
	st->errors += atomic_load(&area(sh)->bad_frees) + atomic_load(&area(sh)->corruptions);
	return 0;
}

static void type_stats(struct type_entry *t, struct hm_malloc_type_stats *st)
{
	memcpy(st->name, t->name, HM_NAME_MAX);
	st->live_bytes = atomic_load(&t->live_bytes);
	st->high_water = atomic_load(&t->high_water);
	st->limit = atomic_load(&t->limit);
	st->allocs = atomic_load(&t->allocs);
	st->frees = atomic_load(&t->frees);
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
	idx = type_index(area(sh), type, false);
	if (idx < 0)
		return idx;
	type_stats(&area(sh)->types[idx], st);
	return 0;
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
			"), %" PRIu64 " blocks in use, %" PRIu64 " free; %" PRIu64
			" allocs, %" PRIu64 " frees, %" PRIu64 " errors\n",
			sh->sockets[k], st.heap_size, st.free_size, st.largest_free, st.live_blocks,
			st.free_blocks, st.allocs, st.frees, st.errors);
	}
	unsigned n = atomic_load_explicit(&area(sh)->n_types, memory_order_acquire);
	for (unsigned i = 0; i < n; i++) {
		struct type_entry *t = &area(sh)->types[i];

		if (type && strncmp(t->name, type, HM_NAME_MAX) != 0)
			continue;
		type_stats(t, &ts);
		fprintf(f,
			"  type %-24s %" PRIu64 " bytes live in %" PRIu64 " blocks (high %" PRIu64
			", limit %" PRIu64 "), %" PRIu64 " allocs, %" PRIu64 " frees, %" PRIu64
			" refused\n",
			i ? ts.name : "(untyped)", ts.live_bytes, ts.live_blocks, ts.high_water,
			ts.limit, ts.allocs, ts.frees, ts.refused);
	}
}
