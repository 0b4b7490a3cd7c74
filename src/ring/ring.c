/* SPDX-License-Identifier: MIT */
/*
 * ring.c - creating, finding and destroying rings (hugemem/ring.h); the
 * enqueue and dequeue paths are inline in the header.
 *
 * A ring is one zone, named "RG_" + its name: the struct hm_ring, then the
 * slots, cache-line aligned. So a ring is registered by name in the zone
 * table, found from every process through the zone hash, listed by the zone
 * walk, and its name is free again when the zone is. Layer: ring; includes
 * heap (zones), mem and util. No lock of its own: the zone table's lock makes
 * create and destroy of one name exclusive.
 */
#include "internal.h"
#include "mem/mem.h"
#include <hugemem/memzone.h>
#include <hugemem/ring.h>

#include <inttypes.h>
#include <sched.h>
#include <string.h>

#define SPINS 256u /* pauses between yields while waiting to publish */

#define ZONE_PREFIX     "RG_"
#define ZONE_PREFIX_LEN 3
#define ESIZE_MAX       65536u
#define KNOWN_FLAGS     (HM_RING_SP_ENQ | HM_RING_SC_DEQ | HM_RING_EXACT_SZ)

_Static_assert(sizeof(struct hm_ring) % HM_CACHE_LINE == 0, "slots start on a cache line");
_Static_assert(HM_RING_NAME_MAX + ZONE_PREFIX_LEN == HM_NAME_MAX, "a ring's zone name fits");

void hm__ring_wait_tail(const uint32_t *tail, uint32_t from)
{
	/* The claimer before us may have lost its CPU between its claim and its
	 * publish. Spinning on, with more threads than CPUs, every waiter would burn
	 * its time slice in turn while it waits for a CPU, and the ring crawl (for
	 * minutes in tests): so after a while we give the CPU away. Acquire, as A4
	 * in hm__ring_publish. */
	for (unsigned spins = 1; hm__load_acquire(tail) != from; spins++) {
		if (spins % SPINS)
			hm__pause();
		else
			sched_yield();
	}
}

/* The zone name of ring name into buf[HM_NAME_MAX]; 0, -EINVAL or -ENAMETOOLONG. */
static int zone_name(char *buf, const char *name)
{
	size_t len;

	if (!name || !name[0])
		return -EINVAL;
	len = strnlen(name, HM_RING_NAME_MAX);
	if (len >= HM_RING_NAME_MAX)
		return -ENAMETOOLONG;
	memcpy(buf, ZONE_PREFIX, ZONE_PREFIX_LEN);
	memcpy(buf + ZONE_PREFIX_LEN, name, len + 1);
	return 0;
}

/* The slots for count (power of two unless exact) and the capacity; false if count is bad. */
static bool sizing(unsigned count, unsigned flags, uint32_t *size, uint32_t *capacity)
{
	if (count == 0 || count > HM_RING_COUNT_MAX)
		return false;
	if (flags & HM_RING_EXACT_SZ) {
		uint32_t s = 1;

		while (s < count + 1)
			s <<= 1;
		*size = s;
		*capacity = count;
		return true;
	}
	if (count & (count - 1))
		return false;
	*size = count;
	*capacity = count - 1;
	return true;
}

/* Whether esize, count and flags make a ring; its slots and capacity if so. */
static bool valid(unsigned esize, unsigned count, unsigned flags, uint32_t *size,
		  uint32_t *capacity)
{
	return !(flags & ~KNOWN_FLAGS) && esize != 0 && esize % 4 == 0 && esize <= ESIZE_MAX &&
	       sizing(count, flags, size, capacity);
}

/* Make mem a ring of the given shape (validated), unpublished until its magic is set. */
static struct hm_ring *format(void *mem, const char *name, unsigned esize, uint32_t size,
			      uint32_t capacity, unsigned flags, const void *zone)
{
	struct hm_ring *r = mem;

	memset(r, 0, sizeof(*r));
	memcpy(r->name, name, strlen(name) + 1);
	r->flags = flags;
	r->size = size;
	r->mask = size - 1;
	r->capacity = capacity;
	r->esize = esize;
	r->zone = zone;
	r->prod.single = (flags & HM_RING_SP_ENQ) != 0;
	r->cons.single = (flags & HM_RING_SC_DEQ) != 0;
	/* Release: pairs with the acquire in is_ring(), so whoever sees the magic
	 * sees the ring whole (the zone is published under the zone table's lock). */
	hm__store_release(&r->magic, HM__RING_MAGIC);
	return r;
}

size_t hm_ring_memsize(unsigned esize, unsigned count, unsigned flags)
{
	uint32_t size, capacity;

	if (!valid(esize, count, flags, &size, &capacity))
		return 0;
	return sizeof(struct hm_ring) + (size_t)size * esize;
}

struct hm_ring *hm_ring_init(void *mem, const char *name, unsigned esize, unsigned count,
			     unsigned flags)
{
	char zname[HM_NAME_MAX];
	uint32_t size, capacity;
	int rc;

	if ((rc = zone_name(zname, name)) != 0)
		return hm__null_errno(rc);
	if (!mem || (uintptr_t)mem % HM_CACHE_LINE || !valid(esize, count, flags, &size, &capacity))
		return hm__null_errno(EINVAL);
	return format(mem, name, esize, size, capacity, flags, NULL);
}

struct hm_ring *hm_ring_create_elem(const char *name, unsigned esize, unsigned count, int socket,
				    unsigned flags)
{
	char zname[HM_NAME_MAX];
	const struct hm_memzone *mz;
	uint32_t size, capacity;
	int rc;

	if (!hm__shared())
		return hm__null_errno(ENXIO);
	if ((rc = zone_name(zname, name)) != 0)
		return hm__null_errno(rc);
	if (!valid(esize, count, flags, &size, &capacity)) {
		hm__debug("ring %s: bad count %u, element size %u or flags %#x", name, count, esize,
			  flags);
		return hm__null_errno(EINVAL);
	}
	if (socket != HM_SOCKET_ANY && !hm_socket_valid(socket))
		return hm__null_errno(ENODEV);
	mz = hm_memzone_reserve(zname, sizeof(struct hm_ring) + (size_t)size * esize, socket, 0,
				HM_CACHE_LINE, 0);
	if (!mz)
		return NULL; /* errno from the zone: EEXIST, ENOMEM */
	return format(mz->addr, name, esize, size, capacity, flags, mz);
}

struct hm_ring *hm_ring_create(const char *name, unsigned count, int socket, unsigned flags)
{
	return hm_ring_create_elem(name, sizeof(void *), count, socket, flags);
}

/* Whether r is a ring of this instance: in committed memory, with the magic. */
static bool is_ring(const struct hm_ring *r)
{
	const struct hm_shared *sh = hm__shared();
	const char *end = (const char *)(r + 1) - 1;
	int i = sh && r ? hm__seglist_of(sh, r) : -1;

	if (i < 0 || hm__seglist_of(sh, end) != i || !hm__seglist_committed(sh, (unsigned)i, r) ||
	    !hm__seglist_committed(sh, (unsigned)i, end))
		return false;
	return hm__load_acquire(&r->magic) == HM__RING_MAGIC;
}

struct hm_ring *hm_ring_lookup(const char *name)
{
	char zname[HM_NAME_MAX];
	const struct hm_memzone *mz;
	int rc;

	if (!hm__shared())
		return hm__null_errno(ENXIO);
	if ((rc = zone_name(zname, name)) != 0)
		return hm__null_errno(rc == -ENAMETOOLONG ? ENOENT : -rc);
	mz = hm_memzone_lookup(zname);
	if (!mz)
		return NULL; /* ENOENT */
	if (!is_ring(mz->addr))
		return hm__null_errno(ENOENT);
	return mz->addr;
}

int hm_ring_destroy(struct hm_ring *r)
{
	const struct hm_memzone *mz;

	if (!hm__shared())
		return -ENXIO;
	if (!is_ring(r)) {
		hm__err("hm_ring_destroy(%p): not a ring", (void *)r);
		return -EINVAL;
	}
	mz = r->zone;
	if (!mz) {
		hm__err("hm_ring_destroy(%p): ring %s was made by hm_ring_init: its memory is its "
			"maker's",
			(void *)r, r->name);
		return -EINVAL;
	}
	if (mz->addr != r) {
		hm__err("hm_ring_destroy(%p): its header is damaged", (void *)r);
		return -EINVAL;
	}
	/* A stale pointer to the ring is refused from here on. */
	hm__store_release(&r->magic, 0);
	return hm_memzone_free(mz);
}

void hm_ring_reset(struct hm_ring *r)
{
	/* The magic alone: a ring of hm_ring_init may lie in any memory. */
	if (!r || hm__load_acquire(&r->magic) != HM__RING_MAGIC)
		return;
	/* Relaxed: nobody may use the ring meanwhile (see hugemem/ring.h). */
	hm__store_relaxed(&r->prod.head, 0);
	hm__store_relaxed(&r->prod.tail, 0);
	hm__store_relaxed(&r->cons.head, 0);
	hm__store_relaxed(&r->cons.tail, 0);
}

struct walk_arg {
	hm_ring_walk_cb *cb;
	void *arg;
};

static void walk_zone(const struct hm_memzone *mz, void *arg)
{
	struct walk_arg *w = arg;

	if (strncmp(mz->name, ZONE_PREFIX, ZONE_PREFIX_LEN) == 0 && is_ring(mz->addr))
		w->cb(mz->addr, w->arg);
}

void hm_ring_walk(hm_ring_walk_cb *cb, void *arg)
{
	struct walk_arg w = {cb, arg};

	if (cb && hm__shared())
		hm_memzone_walk(walk_zone, &w);
}

void hm_ring_dump(FILE *f, const struct hm_ring *r)
{
	if (!r || hm__load_acquire(&r->magic) != HM__RING_MAGIC) {
		fprintf(f, "ring %p: not a ring\n", (const void *)r);
		return;
	}
	fprintf(f,
		"ring %s: %u slots of %u bytes, capacity %u, %s producer%s, %s consumer%s; "
		"%u in it, %u free; prod head %u tail %u, cons head %u tail %u\n",
		r->name, r->size, r->esize, r->capacity, r->prod.single ? "single" : "multi",
		r->prod.single ? "" : "s", r->cons.single ? "single" : "multi",
		r->cons.single ? "" : "s", hm_ring_count(r), hm_ring_free_count(r),
		hm__load_relaxed(&r->prod.head), hm__load_relaxed(&r->prod.tail),
		hm__load_relaxed(&r->cons.head), hm__load_relaxed(&r->cons.tail));
}
