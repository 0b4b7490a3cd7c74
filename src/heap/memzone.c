/* SPDX-License-Identifier: MIT */
/*
 * memzone.c - named zones: heap blocks with placement rules, in a table in
 * shared memory, found by name through an open-addressing hash.
 *
 * The table is an array of entries whose first member is the public
 * struct hm_memzone, so the pointer a user holds is valid in every attached
 * process and maps back to its entry in O(1). Entries never used yet are
 * handed out by a high-water mark, freed ones by a free list (indices), so
 * that a table of 65,536 zones costs nothing until it is used. The hash uses
 * linear probing with backward-shift deletion (no tombstones), so lookups
 * stay short however many zones come and go; its slots carry the name's hash
 * and double with the zones, so a lookup reads one slot line and one entry. One lock guards the table; it
 * is taken before a heap lock, never after.
 */
#include "heap/heap.h"

#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#define KNOWN_FLAGS                                                                     \
	(HM_MEMZONE_4KB | HM_MEMZONE_2MB | HM_MEMZONE_1GB | HM_MEMZONE_SIZE_HINT_ONLY | \
	 HM_MEMZONE_IOVA_CONTIG)
#define PAGE_FLAGS (HM_MEMZONE_4KB | HM_MEMZONE_2MB | HM_MEMZONE_1GB)

#include <hugemem/memzone.h>

/* 128 bytes, cache-line aligned: a lookup's name compare touches one line. */
struct zone_entry {
	struct hm_memzone mz; /* first: users hold a pointer to it */
	uint32_t used;
	uint32_t hash;
	uint32_t next_free; /* index + 1 of the next free entry, 0 at the end */
};

struct zone_table {
	struct hm_mutex lock;
	uint32_t max;       /* entries */
	uint32_t count;     /* live zones */
	uint32_t high;      /* entries ever used: [0, high) */
	uint32_t free_head; /* index + 1 of the first freed entry */
	uint32_t
		mask; /* hash slots in use - 1; a slot holds hash << 32 | (index + 1), 0 if empty */
	uint32_t max_mask; /* slots carved for the table - 1 (room for 2 x max at load 0.5) */
	uint64_t entries_off;
	uint64_t hash_off;
};

static struct zone_table *table(const struct hm_shared *sh)
{
	return hm__ptr(sh, sh->area_off[HM_AREA_MEMZONE]);
}

static struct zone_entry *entries(const struct hm_shared *sh, const struct zone_table *t)
{
	return hm__ptr(sh, t->entries_off);
}

static uint64_t *slots(const struct hm_shared *sh, const struct zone_table *t)
{
	return hm__ptr(sh, t->hash_off);
}

int hm__memzone_setup(struct hm_shared *sh)
{
	uint64_t hash_slots = 16;
	uint64_t toff, eoff, hoff;
	struct zone_table *t;

	while (hash_slots < (uint64_t)sh->max_zones * 2)
		hash_slots *= 2;
	toff = hm__shared_alloc(sh, sizeof(struct zone_table), 64);
	eoff = hm__shared_alloc(sh, sizeof(struct zone_entry) * sh->max_zones, 64);
	hoff = hm__shared_alloc(sh, sizeof(uint64_t) * hash_slots, 64);
	if (!toff || !eoff || !hoff)
		return -ENOMEM;
	sh->area_off[HM_AREA_MEMZONE] = toff;
	t = table(sh);
	t->max = sh->max_zones;
	t->max_mask = (uint32_t)(hash_slots - 1);
	t->mask = HM_MIN(63u, t->max_mask);
	t->entries_off = eoff;
	t->hash_off = hoff;
	return hm__mutex_init(&t->lock);
}

/* FNV-1a over the name. */
static uint32_t name_hash(const char *name)
{
	uint32_t h = 2166136261u;

	for (; *name; name++)
		h = (h ^ (uint8_t)*name) * 16777619u;
	return h;
}

/* The hash slot holding name, or the empty slot where it would go. */
static uint32_t probe(const struct hm_shared *sh, const struct zone_table *t, const char *name,
		      uint32_t hash, bool *found)
{
	const uint64_t *s = slots(sh, t);
	const struct zone_entry *e = entries(sh, t);

	/* The slot carries the hash, so an entry (another cache line) is read
	 * only when its hash matches: one miss in the slots, one in the entry. */
	for (uint32_t i = hash & t->mask;; i = (i + 1) & t->mask) {
		if (s[i] == 0) {
			*found = false;
			return i;
		}
		if ((uint32_t)(s[i] >> 32) != hash)
			continue;
		const struct zone_entry *z = &e[(uint32_t)s[i] - 1];
		if (strncmp(z->mz.name, name, HM_NAME_MAX) == 0) {
			*found = true;
			return i;
		}
	}
}

/* Remove slot i, shifting later entries of the same run back into the hole. */
static void unhash(const struct hm_shared *sh, struct zone_table *t, uint32_t i)
{
	uint64_t *s = slots(sh, t);
	uint32_t j = i;

	for (;;) {
		j = (j + 1) & t->mask;
		if (s[j] == 0)
			break;
		uint32_t home = (uint32_t)(s[j] >> 32) & t->mask;
		/* Move j into the hole i unless its home lies cyclically in (i, j]. */
		bool stays = i <= j ? (home > i && home <= j) : (home > i || home <= j);
		if (!stays) {
			s[i] = s[j];
			i = j;
		}
	}
	s[i] = 0;
}

/*
 * Double the slots in use and put every live zone back. The slots stay at
 * most half full, and only as many as needed are in use, so that lookups
 * touch few cache lines and pages however large max_zones is. O(zones), at
 * each doubling: amortised O(1) per reserve.
 */
static void grow_hash(const struct hm_shared *sh, struct zone_table *t)
{
	uint64_t *s = slots(sh, t);
	const struct zone_entry *e = entries(sh, t);

	t->mask = t->mask * 2 + 1;
	memset(s, 0, ((size_t)t->mask + 1) * sizeof(*s));
	for (uint32_t k = 0; k < t->high; k++) {
		if (!e[k].used)
			continue;
		uint32_t i = e[k].hash & t->mask;
		while (s[i])
			i = (i + 1) & t->mask;
		s[i] = (uint64_t)e[k].hash << 32 | (k + 1);
	}
}

static struct zone_entry *new_entry(struct zone_table *t, const struct hm_shared *sh)
{
	struct zone_entry *e = entries(sh, t);
	struct zone_entry *z;

	if (t->free_head) {
		z = &e[t->free_head - 1];
		t->free_head = z->next_free;
	} else if (t->high < t->max) {
		z = &e[t->high++];
	} else {
		return NULL;
	}
	return z;
}

/* Allocate the zone's memory from the first heap that has it. */
static void *zone_memory(const struct hm_shared *sh, size_t *len, int socket, unsigned flags,
			 size_t align, size_t bound, unsigned *heap)
{
	unsigned order[HM_SEGLISTS_MAX];
	unsigned n = hm__heap_order(socket, flags, order);
	/* Zones are control-plane calls: look at every free block before growing. */
	unsigned hflags = HM_HEAP_FIT | HM_HEAP_KIND(HM_BLOCK_ZONE) |
			  (flags & HM_MEMZONE_IOVA_CONTIG ? HM_HEAP_CONTIG : 0);
	static _Atomic bool warned;

	if (*len == 0) {
		/* The largest free block already mapped, among the heaps allowed. */
		size_t best = 0;
		for (unsigned k = 0; k < n; k++) {
			size_t l = hm__heap_largest(hm__heap_get(order[k]), align, bound);
			if (l > best) {
				best = l;
				order[0] = order[k];
			}
		}
		if (best == 0)
			return hm__null_errno(ENOMEM);
		n = 1;
		*len = best;
	}
	for (unsigned k = 0; k < n; k++) {
		struct hm_heap *h = hm__heap_get(order[k]);
		void *p = hm__heap_alloc(h, *len, align, bound, hflags);
		if (p) {
			if (k > 0 && h->page_size < sh->seglists[order[0]].page_size &&
			    !atomic_exchange(&warned, true))
				hm__warn("out of %" PRIu64 " KiB hugepages: zones now use %" PRIu64
					 " KiB pages",
					 sh->seglists[order[0]].page_size >> 10,
					 h->page_size >> 10);
			*heap = order[k];
			return p;
		}
		if (errno != ENOMEM)
			return NULL;
	}
	return hm__null_errno(ENOMEM);
}

const struct hm_memzone *hm_memzone_reserve(const char *name, size_t len, int socket,
					    unsigned flags, size_t align, size_t bound)
{
	struct hm_shared *sh = hm__shared();
	char nm[HM_NAME_MAX];
	struct zone_table *t;
	struct zone_entry *z;
	uint32_t hash, slot;
	unsigned heap;
	bool found;
	void *p;
	int rc;

	if (!sh)
		return hm__null_errno(ENXIO);
	if ((rc = hm__name_copy(nm, name)) != 0)
		return hm__null_errno(rc);
	if (flags & ~KNOWN_FLAGS || (align && !hm__is_pow2(align)) || len > HM_HEAP_MAX_SIZE ||
	    (bound && (!hm__is_pow2(bound) || bound < len)) || align > HM_HEAP_MAX_SIZE)
		return hm__null_errno(EINVAL);
	if (socket != HM_SOCKET_ANY && !hm_socket_valid(socket))
		return hm__null_errno(ENODEV);
	if (align == 0)
		align = HM_CACHE_LINE;

	t = table(sh);
	hash = name_hash(nm);
	hm__mutex_lock(&t->lock);
	slot = probe(sh, t, nm, hash, &found);
	if (found) {
		hm__mutex_unlock(&t->lock);
		return hm__null_errno(EEXIST);
	}
	if (t->count >= t->max) {
		hm__mutex_unlock(&t->lock);
		hm__err("zone table full (%u zones; see hm_config.max_zones)", t->max);
		return hm__null_errno(ENOSPC);
	}
	p = zone_memory(sh, &len, socket, flags, align, bound, &heap);
	if (!p) {
		rc = errno;
		hm__mutex_unlock(&t->lock);
		return hm__null_errno(rc);
	}
	z = new_entry(t, sh);
	if (!z) {
		/* count < max guarantees an entry; reaching here means the table is corrupt. */
		hm__mutex_unlock(&t->lock);
		hm__heap_free(p, HM_BLOCK_ZONE, NULL, NULL);
		hm__err("zone table: no free entry although %u of %u are used", t->count, t->max);
		return hm__null_errno(EFAULT);
	}
	memset(&z->mz, 0, sizeof(z->mz));
	memcpy(z->mz.name, nm, sizeof(nm));
	z->mz.addr = p;
	z->mz.iova = hm_virt2iova(p);
	z->mz.len = len;
	z->mz.page_size = sh->seglists[heap].page_size;
	z->mz.socket = sh->seglists[heap].socket;
	z->mz.flags = flags;
	z->hash = hash;
	z->next_free = 0;
	if ((t->count + 1) * 2 > t->mask + 1 && t->mask < t->max_mask) {
		grow_hash(sh, t);
		slot = probe(sh, t, nm, hash, &found);
	}
	z->used = 1;
	slots(sh, t)[slot] = (uint64_t)hash << 32 | ((uint32_t)(z - entries(sh, t)) + 1);
	t->count++;
	hm__mutex_unlock(&t->lock);
	return &z->mz;
}

const struct hm_memzone *hm_memzone_lookup(const char *name)
{
	struct hm_shared *sh = hm__shared();
	struct zone_table *t;
	const struct hm_memzone *mz = NULL;
	uint32_t slot;
	bool found;

	if (!sh)
		return hm__null_errno(ENXIO);
	if (!name)
		return hm__null_errno(EINVAL);
	if (strnlen(name, HM_NAME_MAX) >= HM_NAME_MAX)
		return hm__null_errno(ENOENT);
	t = table(sh);
	hm__mutex_lock(&t->lock);
	slot = probe(sh, t, name, name_hash(name), &found);
	if (found)
		mz = &entries(sh, t)[(uint32_t)slots(sh, t)[slot] - 1].mz;
	hm__mutex_unlock(&t->lock);
	return mz ? mz : hm__null_errno(ENOENT);
}

/* The entry of a zone pointer, or NULL if it is not the address of one. */
static struct zone_entry *entry_of(const struct hm_shared *sh, const struct zone_table *t,
				   const struct hm_memzone *mz)
{
	uintptr_t base = (uintptr_t)entries(sh, t);
	uintptr_t p = (uintptr_t)mz;

	if (p < base || (p - base) % sizeof(struct zone_entry) ||
	    (p - base) / sizeof(struct zone_entry) >= t->high)
		return NULL;
	return (struct zone_entry *)p;
}

int hm_memzone_free(const struct hm_memzone *mz)
{
	struct hm_shared *sh = hm__shared();
	struct zone_table *t;
	struct zone_entry *z;
	uint32_t slot;
	bool found;
	int rc;

	if (!sh)
		return -ENXIO;
	t = table(sh);
	hm__mutex_lock(&t->lock);
	z = mz ? entry_of(sh, t, mz) : NULL;
	if (!z || !z->used) {
		hm__mutex_unlock(&t->lock);
		hm__err("memzone free of %p: not a live zone", (const void *)mz);
		return -EINVAL;
	}
	slot = probe(sh, t, z->mz.name, z->hash, &found);
	HM_ASSERT(found);
	rc = hm__heap_free(z->mz.addr, HM_BLOCK_ZONE, NULL, NULL);
	if (rc) {
		hm__mutex_unlock(&t->lock);
		hm__err("memzone \"%s\": its memory at %p is corrupt", z->mz.name, z->mz.addr);
		return rc;
	}
	if (found)
		unhash(sh, t, slot);
	z->used = 0;
	z->mz.name[0] = '\0';
	z->mz.addr = NULL;
	z->next_free = t->free_head;
	t->free_head = (uint32_t)(z - entries(sh, t)) + 1;
	t->count--;
	hm__mutex_unlock(&t->lock);
	return 0;
}

void hm_memzone_walk(hm_memzone_walk_cb *cb, void *arg)
{
	struct hm_shared *sh = hm__shared();
	struct zone_table *t;

	if (!sh || !cb)
		return;
	t = table(sh);
	hm__mutex_lock(&t->lock);
	for (uint32_t i = 0; i < t->high; i++) {
		struct zone_entry *z = &entries(sh, t)[i];
		if (z->used)
			cb(&z->mz, arg);
	}
	hm__mutex_unlock(&t->lock);
}

unsigned hm_memzone_count(void)
{
	struct hm_shared *sh = hm__shared();
	unsigned n;

	if (!sh)
		return 0;
	hm__mutex_lock(&table(sh)->lock);
	n = table(sh)->count;
	hm__mutex_unlock(&table(sh)->lock);
	return n;
}

static void dump_one(const struct hm_memzone *mz, void *arg)
{
	fprintf(arg, "  %-31s %p iova %#" PRIx64 " len %zu page %zu KiB socket %d flags %#x\n",
		mz->name, mz->addr, mz->iova, mz->len, mz->page_size >> 10, mz->socket, mz->flags);
}

void hm_memzone_dump(FILE *f)
{
	fprintf(f, "zones: %u\n", hm_memzone_count());
	hm_memzone_walk(dump_one, f);
}
