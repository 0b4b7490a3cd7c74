/* SPDX-License-Identifier: MIT */
/*
 * hugemem/ring.h - a bounded lock-free FIFO of pointers, or of elements of
 * any size that is a multiple of 4 bytes: DPDK's rte_ring.
 *
 * A ring is a power-of-two array of slots with a producer side and a
 * consumer side, each a head (where the next enqueue or dequeue claims its
 * slots) and a tail (what that side has finished and handed to the other).
 * Several producers (or consumers) claim slots with a compare-and-swap on
 * their head and publish them in order through their tail; a ring created
 * single-producer (or single-consumer) skips the compare-and-swap. _bulk
 * calls move all of n or nothing; _burst calls move as many as they can.
 *
 * A ring lives in a zone of hugemem memory named "RG_" + its name, so every
 * process of the instance finds it by name and uses it at the same address.
 *
 * Thread safety: enqueues from any threads of any processes at once unless
 * the ring was created with HM_RING_SP_ENQ (then one at a time), and the
 * same for dequeues and HM_RING_SC_DEQ. Enqueue and dequeue may always run
 * together. Create, destroy and reset: not concurrently with use. A thread
 * that loses its CPU (or dies) between claiming its slots and publishing
 * them holds up the later claimers of its side until it publishes; they
 * spin, then yield the CPU, while they wait.
 */
#ifndef HUGEMEM_RING_H
#define HUGEMEM_RING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <hugemem/common.h>
#include <hugemem/atomic.h>

#ifdef __cplusplus
extern "C" {
#endif

#define HM_RING_SP_ENQ 0x0001u /* one producer at a time: no compare-and-swap on enqueue */
#define HM_RING_SC_DEQ 0x0002u /* one consumer at a time: no compare-and-swap on dequeue */
#define HM_RING_EXACT_SZ \
	0x0004u                      /* capacity is count exactly (else count is a power of two
				     * and the capacity count - 1) */
#define HM_RING_COUNT_MAX (1u << 30) /* the largest count */
#define HM_RING_NAME_MAX  (HM_NAME_MAX - 3) /* bytes of a ring's name, NUL included ("RG_") */

struct hm_ring;

/*
 * hm_ring_create() - create a named ring of pointers on NUMA node socket
 * (HM_SOCKET_ANY: the caller's, or any).
 *
 * count is the number of slots, a power of two, of which count - 1 can be
 * used; with HM_RING_EXACT_SZ it is the capacity itself, any number, and the
 * slots are the next power of two above it.
 *
 * Thread safety: any thread of any attached process.
 * Returns: the ring, or NULL with errno set to
 *   EINVAL        count is 0, above HM_RING_COUNT_MAX, or not a power of two
 *                 without HM_RING_EXACT_SZ; unknown flags; name NULL or empty
 *   ENAMETOOLONG  name is HM_RING_NAME_MAX bytes or longer
 *   EEXIST        a ring with this name exists
 *   ENODEV        socket is not a node of the instance
 *   ENOMEM        no memory for it
 *   ENXIO         hm_init has not been called
 */
HM_API struct hm_ring *hm_ring_create(const char *name, unsigned count, int socket, unsigned flags);

/*
 * The same for elements of esize bytes (a multiple of 4, at most 65536),
 * moved with the _elem calls below. EINVAL also for a bad esize.
 */
HM_API struct hm_ring *hm_ring_create_elem(const char *name, unsigned esize, unsigned count,
					   int socket, unsigned flags);

/*
 * A ring in memory the caller provides (for instance inside another
 * object): hm_ring_memsize() bytes for count elements of esize, cache-line
 * aligned; then hm_ring_init() makes it a ring with the same rules as
 * hm_ring_create(). Such a ring has no zone: lookup does not find it,
 * walk does not list it and destroy refuses it; its memory is the caller's.
 * memsize returns 0 for a bad count, esize or flags; init returns NULL with
 * errno EINVAL (also for mem NULL or not cache-line aligned) or ENAMETOOLONG.
 */
HM_API size_t hm_ring_memsize(unsigned esize, unsigned count, unsigned flags);
HM_API struct hm_ring *hm_ring_init(void *mem, const char *name, unsigned esize, unsigned count,
				    unsigned flags);

/* The ring named name, or NULL with errno ENOENT (none), EINVAL (bad name), ENXIO. */
HM_API struct hm_ring *hm_ring_lookup(const char *name);

/*
 * Free the ring and its name. 0, or -EINVAL if r is NULL or not a ring, -ENXIO.
 * Nothing may use the ring any more, in any process.
 */
HM_API int hm_ring_destroy(struct hm_ring *r);

/* Empty the ring. Not while anyone enqueues or dequeues. */
HM_API void hm_ring_reset(struct hm_ring *r);

/* Call cb for every ring of the instance. */
typedef void hm_ring_walk_cb(struct hm_ring *r, void *arg);
HM_API void hm_ring_walk(hm_ring_walk_cb *cb, void *arg);

/* Print the ring's name, flags, size, heads and tails, and what it holds. */
HM_API void hm_ring_dump(FILE *f, const struct hm_ring *r);

/*
 * The operations, all inline (below the divider):
 *
 *   unsigned hm_ring_enqueue_bulk(r, void *const *objs, n, unsigned *free_space)
 *   unsigned hm_ring_enqueue_burst(r, void *const *objs, n, unsigned *free_space)
 *   unsigned hm_ring_dequeue_bulk(r, void **objs, n, unsigned *available)
 *   unsigned hm_ring_dequeue_burst(r, void **objs, n, unsigned *available)
 *   int      hm_ring_enqueue(r, void *obj)       0, or -ENOBUFS when full
 *   int      hm_ring_dequeue(r, void **obj)      0, or -ENOENT when empty
 *
 * return how many objects moved (bulk: n or 0) and, if free_space or
 * available is not NULL, what is left after the call: the free slots after
 * an enqueue, the objects still there after a dequeue. They move nothing on
 * a ring whose elements are not pointer-sized. The _elem forms take a
 * pointer to an array of elements and their size, which must be the ring's
 * (else nothing moves):
 *
 *   unsigned hm_ring_enqueue_bulk_elem(r, const void *objs, esize, n, free_space)
 *   ... _burst_elem, hm_ring_dequeue_bulk_elem, hm_ring_dequeue_burst_elem
 *
 * and the queries: hm_ring_count, hm_ring_free_count, hm_ring_capacity,
 * hm_ring_empty, hm_ring_full, hm_ring_name, hm_ring_esize.
 */

/* ---- Fast path: implementation, not API. Fields may change. ---- */

#define HM__RING_MAGIC 0x52494e47u /* "RING" */

/*
 * The enqueue and dequeue calls and their helpers are always inlined, as
 * DPDK's are: a call per enqueue or dequeue costs more than the operation
 * (left to itself, gcc inlines a size check and calls the rest), and only
 * once they are inlined do the element size, the direction and the
 * bulk/burst choice become constants, and a single object stay in a register.
 */
#define HM__RING_INLINE static inline __attribute__((always_inline))

/*
 * Single producer or consumer is laid out as the straight path: the other
 * pays taken branches beside its locked compare-and-swap, which costs
 * several times more. (gcc's own layout, the compare-and-swap straight,
 * made an SP/SC single-object enqueue and dequeue 1.3-1.7x slower.)
 */
#define HM__RING_SINGLE(single) __builtin_expect(!!(single), 1)

/* One side of a ring, on a cache line of its own. */
struct hm__ring_side {
	uint32_t head;   /* the next slot this side claims (atomic) */
	uint32_t tail;   /* slots before it are done and the other side's (atomic) */
	uint32_t single; /* one thread at a time: claims without a compare-and-swap */
	uint32_t pad;
} __attribute__((aligned(HM_CACHE_LINE)));

struct hm_ring {
	char name[HM_NAME_MAX];
	uint32_t magic;           /* HM__RING_MAGIC while the ring exists */
	uint32_t flags;           /* HM_RING_* given at creation */
	uint32_t size;            /* slots, a power of two */
	uint32_t mask;            /* size - 1 */
	uint32_t capacity;        /* the most it holds */
	uint32_t esize;           /* bytes per element */
	const void *zone;         /* the zone it lives in (struct hm_memzone) */
	char pad0[HM_CACHE_LINE]; /* keeps the sides off the header's line and its neighbour */
	struct hm__ring_side prod;
	char pad1[HM_CACHE_LINE];
	struct hm__ring_side cons;
	char pad2[HM_CACHE_LINE];
	/* the slots follow, cache-line aligned */
};

HM__RING_INLINE void *hm__ring_slots(const struct hm_ring *r)
{
	return (void *)((const char *)r + sizeof(struct hm_ring));
}

/*
 * Claim up to n slots on side `me` against the other side's tail: the old
 * and new head in *from and *to, how many (0 if none, or fewer than n for a
 * bulk call). enqueue: the room is capacity + other tail - head; dequeue:
 * other tail - head. single is me->single, read once by the caller.
 */
HM__RING_INLINE unsigned hm__ring_claim(struct hm_ring *r, struct hm__ring_side *me,
					struct hm__ring_side *other, bool single, bool enqueue,
					unsigned n, bool all, uint32_t *from, uint32_t *to,
					unsigned *left)
{
	uint32_t head, room;
	unsigned k;

	/* A1: acquire, pairs with C1 (a competing claim's CAS): the other side's
	 * tail that claim saw happens before our read of it below, so the room
	 * we compute from a head that claim set is never negative. */
	head = hm__load_acquire(&me->head);
	for (;;) {
		/* A2: acquire, pairs with R1 (the other side's release of its tail):
		 * an enqueue then sees the slots the consumers are done reading, a
		 * dequeue the objects the producers wrote. */
		uint32_t other_tail = hm__load_acquire(&other->tail);

		room = enqueue ? r->capacity + other_tail - head : other_tail - head;
		k = n <= room ? n : all ? 0 : room;
		if (k == 0) {
			/* A3: acquire, as A1. Between our reads of the head (A1) and of the
			 * other side's tail (A2), others of our side may have claimed and
			 * published past our head, and the other side used those slots:
			 * room then mixes two moments and can exceed the capacity. A
			 * compare-and-swap would fail on such a head; with none to make
			 * (k == 0), check that the head has not moved, else read both
			 * again. A head unchanged since A1 makes room true as of A2. */
			uint32_t now = hm__load_acquire(&me->head);

			if (now != head) {
				head = now;
				continue;
			}
			*left = room;
			return 0;
		}
		*from = head;
		*to = head + k;
		if (HM__RING_SINGLE(single)) {
			/* Relaxed: no other thread of this side reads it but ours. */
			hm__store_relaxed(&me->head, head + k);
			break;
		}
		/* C1: acquire and release; on failure head is reloaded with acquire
		 * (A1 again). The release pairs with A1 in the next claimer. */
		if (hm__cas_acq_rel(&me->head, &head, head + k))
			break;
		hm__pause();
	}
	*left = room - k;
	return k;
}

/*
 * Wait, out of line, until *tail is from (A4 acquire, as in hm__ring_publish):
 * spins, then yields the CPU now and then (ring.c).
 */
HM_API void hm__ring_wait_tail(const uint32_t *tail, uint32_t from);

/*
 * Publish slots [from, to) of side me once the claims before ours are
 * published (single: me->single, as for the claim).
 */
HM__RING_INLINE void hm__ring_publish(struct hm__ring_side *me, bool single, uint32_t from,
				      uint32_t to)
{
	/* A4: acquire, pairs with R1 of the claimer before us: its slot accesses
	 * then happen before our release below, so the other side, acquiring our
	 * tail (A2), is ordered after theirs too. A relaxed wait would not do: a
	 * plain release store does not carry forward an earlier store's release. */
	if (!HM__RING_SINGLE(single) && __builtin_expect(hm__load_acquire(&me->tail) != from, 0))
		hm__ring_wait_tail(&me->tail, from);
	/* R1: release, pairs with A2 on the other side: our slot writes (enqueue)
	 * or reads (dequeue) happen before the other side uses the slots. */
	hm__store_release(&me->tail, to);
}

/* The ring's slots are copied with hm__copy_ptrs (hugemem/common.h), dst and src never
 * overlapping: one is the ring's slots, the other the caller's array. */
#define hm__ring_copy_ptrs hm__copy_ptrs

/*
 * Copy n elements of es bytes (the ring's; a constant sizeof(void *) for the
 * pointer calls) between the ring's slots from slot index idx and buf.
 */
HM__RING_INLINE void hm__ring_copy(struct hm_ring *r, uint32_t idx, void *buf, unsigned n,
				   size_t es, bool into_ring)
{
	uint32_t at = idx & r->mask, first = n <= r->size - at ? n : r->size - at;
	char *slots = (char *)hm__ring_slots(r), *b = (char *)buf;

	/* Pointer-sized elements are copied as pointers, if buf is aligned for them:
	 * an _elem caller's array of 8-byte elements need only be 4-byte aligned,
	 * and a misaligned access through a pointer is undefined, whatever its type. */
	if (es == sizeof(void *) && (uintptr_t)buf % sizeof(void *) == 0) {
		/* One object (the single-object calls: n is a constant there) never
		 * wraps, as at < size; said outright, it lets the object stay in a
		 * register. */
		if (n == 1) {
			if (into_ring)
				hm__ring_copy_ptrs(slots + at * es, b, 1);
			else
				hm__ring_copy_ptrs(b, slots + at * es, 1);
			return;
		}
		if (into_ring) {
			hm__ring_copy_ptrs(slots + at * es, b, first);
			hm__ring_copy_ptrs(slots, b + first * es, n - first);
		} else {
			hm__ring_copy_ptrs(b, slots + at * es, first);
			hm__ring_copy_ptrs(b + first * es, slots, n - first);
		}
		return;
	}
	if (into_ring) {
		memcpy(slots + at * es, b, first * es);
		memcpy(slots, b + first * es, (n - first) * es);
	} else {
		memcpy(b, slots + at * es, first * es);
		memcpy(b + first * es, slots, (n - first) * es);
	}
}

/* Enqueue n elements of es bytes, the ring's element size. */
HM__RING_INLINE unsigned hm__ring_enqueue(struct hm_ring *r, const void *objs, size_t es,
					  unsigned n, bool all, unsigned *free_space)
{
	/* A plain read, once: single is set at creation and never written again. */
	bool single = r->prod.single != 0;
	uint32_t from = 0, to = 0;
	unsigned left,
		k = hm__ring_claim(r, &r->prod, &r->cons, single, true, n, all, &from, &to, &left);

	if (k) {
		hm__ring_copy(r, from, (void *)objs, k, es, true);
		hm__ring_publish(&r->prod, single, from, to);
	}
	if (free_space)
		*free_space = left;
	return k;
}

/* Dequeue n elements of es bytes, the ring's element size. */
HM__RING_INLINE unsigned hm__ring_dequeue(struct hm_ring *r, void *objs, size_t es, unsigned n,
					  bool all, unsigned *available)
{
	/* A plain read, once, as in hm__ring_enqueue(). */
	bool single = r->cons.single != 0;
	uint32_t from = 0, to = 0;
	unsigned left,
		k = hm__ring_claim(r, &r->cons, &r->prod, single, false, n, all, &from, &to, &left);

	if (k) {
		hm__ring_copy(r, from, objs, k, es, false);
		hm__ring_publish(&r->cons, single, from, to);
	}
	if (available)
		*available = left;
	return k;
}

/* The pointer calls work on rings of pointer-sized elements only. */
#define HM__RING_PTRS(r) ((r)->esize == sizeof(void *))

HM__RING_INLINE unsigned hm_ring_enqueue_bulk(struct hm_ring *r, void *const *objs, unsigned n,
					      unsigned *free_space)
{
	return HM__RING_PTRS(r) ? hm__ring_enqueue(r, objs, sizeof(void *), n, true, free_space)
				: 0;
}

HM__RING_INLINE unsigned hm_ring_enqueue_burst(struct hm_ring *r, void *const *objs, unsigned n,
					       unsigned *free_space)
{
	return HM__RING_PTRS(r) ? hm__ring_enqueue(r, objs, sizeof(void *), n, false, free_space)
				: 0;
}

HM__RING_INLINE unsigned hm_ring_dequeue_bulk(struct hm_ring *r, void **objs, unsigned n,
					      unsigned *available)
{
	return HM__RING_PTRS(r) ? hm__ring_dequeue(r, objs, sizeof(void *), n, true, available) : 0;
}

HM__RING_INLINE unsigned hm_ring_dequeue_burst(struct hm_ring *r, void **objs, unsigned n,
					       unsigned *available)
{
	return HM__RING_PTRS(r) ? hm__ring_dequeue(r, objs, sizeof(void *), n, false, available)
				: 0;
}

HM__RING_INLINE int hm_ring_enqueue(struct hm_ring *r, void *obj)
{
	return HM__RING_PTRS(r) && hm__ring_enqueue(r, &obj, sizeof(void *), 1, true, NULL)
		       ? 0
		       : -ENOBUFS;
}

HM__RING_INLINE int hm_ring_dequeue(struct hm_ring *r, void **obj)
{
	return HM__RING_PTRS(r) && hm__ring_dequeue(r, obj, sizeof(void *), 1, true, NULL)
		       ? 0
		       : -ENOENT;
}

HM__RING_INLINE unsigned hm_ring_enqueue_bulk_elem(struct hm_ring *r, const void *objs,
						   unsigned esize, unsigned n, unsigned *free_space)
{
	return esize == r->esize ? hm__ring_enqueue(r, objs, esize, n, true, free_space) : 0;
}

HM__RING_INLINE unsigned hm_ring_enqueue_burst_elem(struct hm_ring *r, const void *objs,
						    unsigned esize, unsigned n,
						    unsigned *free_space)
{
	return esize == r->esize ? hm__ring_enqueue(r, objs, esize, n, false, free_space) : 0;
}

HM__RING_INLINE unsigned hm_ring_dequeue_bulk_elem(struct hm_ring *r, void *objs, unsigned esize,
						   unsigned n, unsigned *available)
{
	return esize == r->esize ? hm__ring_dequeue(r, objs, esize, n, true, available) : 0;
}

HM__RING_INLINE unsigned hm_ring_dequeue_burst_elem(struct hm_ring *r, void *objs, unsigned esize,
						    unsigned n, unsigned *available)
{
	return esize == r->esize ? hm__ring_dequeue(r, objs, esize, n, false, available) : 0;
}

/* Objects in the ring now (a snapshot: it may change as soon as it is read). */
static inline unsigned hm_ring_count(const struct hm_ring *r)
{
	/* Relaxed: a snapshot; the count is clamped, as the two tails are read apart. */
	uint32_t n = hm__load_relaxed(&r->prod.tail) - hm__load_relaxed(&r->cons.tail);

	return n > r->capacity ? r->capacity : n;
}

static inline unsigned hm_ring_free_count(const struct hm_ring *r)
{
	return r->capacity - hm_ring_count(r);
}

static inline unsigned hm_ring_capacity(const struct hm_ring *r)
{
	return r->capacity;
}

static inline bool hm_ring_empty(const struct hm_ring *r)
{
	return hm_ring_count(r) == 0;
}

static inline bool hm_ring_full(const struct hm_ring *r)
{
	return hm_ring_count(r) == r->capacity;
}

static inline const char *hm_ring_name(const struct hm_ring *r)
{
	return r->name;
}

static inline unsigned hm_ring_esize(const struct hm_ring *r)
{
	return r->esize;
}

#ifdef __cplusplus
}
#endif

#endif /* HUGEMEM_RING_H */
