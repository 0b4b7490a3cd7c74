/* SPDX-License-Identifier: MIT */
/*
 * slabs.c - the slab layer of a cache: making a slab (a heap block, its
 * free-index stack, its colour, the constructor over every object, its
 * entries in the page map), taking objects from the fullest partial slab
 * first, giving them back in O(1) each, and releasing empty slabs (the
 * destructor over every object, the pages back to the heap).
 *
 * Partial slabs sit in SLAB_BUCKETS lists by how full they are (bucket b
 * holds slabs with b/8 to (b+1)/8 of their objects out), with a bitmap of
 * the lists that are not empty, so "the fullest partial slab" is one bit
 * scan away, to within an eighth of a slab, and moving a slab between lists
 * as its count changes is O(1).
 *
 * Empty slabs are kept as a reserve: never more than max(2, slabs / 8)
 * (beyond that a free releases them at once), and the reap (magazine.c)
 * releases those that stayed unused for a whole interval.
 */
#include "slab/slab.h"

#include <inttypes.h>
#include <string.h>

static struct slab *at(uint64_t off)
{
	return hm__ptr(hm__shared(), off);
}

static uint64_t off_of(const struct slab *s)
{
	return hm__off(hm__shared(), s);
}

static void *obj_at(const struct cache *k, const struct slab *s, unsigned idx)
{
	return s->objs + (size_t)idx * k->stride + k->obj_off;
}

long hm__slab_index(const struct cache *k, const struct slab *s, const void *obj)
{
	const char *p = (const char *)obj - k->obj_off;
	size_t off;

	if (p < s->objs)
		return -1;
	off = (size_t)(p - s->objs);
	if (off % k->stride || off / k->stride >= k->per_slab)
		return -1;
	return (long)(off / k->stride);
}

/* ---- lists (under k->lock) ---- */

static void unlink_slab(struct cache *k, struct slab *s)
{
	if (s->prev)
		at(s->prev)->next = s->next;
	else
		k->head[s->list] = s->next;
	if (s->next)
		at(s->next)->prev = s->prev;
	if (--k->n_on[s->list] == 0 && s->list < SLAB_BUCKETS)
		k->partial_mask &= ~(1u << s->list);
	if (s->list == LIST_EMPTY && k->n_on[LIST_EMPTY] < k->min_empty)
		k->min_empty = k->n_on[LIST_EMPTY];
	s->list = LIST_NONE;
	s->next = s->prev = 0;
}

static void link_slab(struct cache *k, struct slab *s, unsigned list)
{
	s->list = list;
	s->prev = 0;
	s->next = k->head[list];
	if (s->next)
		at(s->next)->prev = off_of(s);
	k->head[list] = off_of(s);
	k->n_on[list]++;
	if (list < SLAB_BUCKETS)
		k->partial_mask |= 1u << list;
}

unsigned hm__slab_list_for(const struct cache *k, const struct slab *s)
{
	if (s->inuse == 0)
		return LIST_EMPTY;
	if (s->inuse == k->per_slab)
		return LIST_FULL;
	return (unsigned)((uint64_t)s->inuse * SLAB_BUCKETS / k->per_slab);
}

static void place(struct cache *k, struct slab *s)
{
	unsigned want = hm__slab_list_for(k, s);

	if (want != s->list) {
		if (s->list != LIST_NONE)
			unlink_slab(k, s);
		link_slab(k, s, want);
	}
}

/* Mark the pages of slab s in the page map (the cache's id), or clear them (0). */
static void map_slab(const struct cache *k, const struct slab *s, uint16_t v)
{
	uint16_t *map = (uint16_t *)(uintptr_t)k->pub.map;
	uint64_t g = ((uintptr_t)s - k->pub.map_lo) >> HM__SLAB_PAGE_SHIFT;

	for (uint64_t i = 0; i < (uint64_t)k->slab_bytes / SLAB_PAGE; i++)
		hm__store_relaxed(&map[g + i], v);
}

/* ---- making and releasing slabs (under no lock) ---- */

static void *heap_block(const struct cache *k, size_t size, size_t align, enum hm_block_kind kind)
{
	unsigned order[HM_SEGLISTS_MAX];
	unsigned n = hm__heap_order(k->socket, 0, order);

	for (unsigned i = 0; i < n; i++) {
		void *b =
			hm__heap_alloc(hm__heap_get(order[i]), size, align, 0, HM_HEAP_KIND(kind));
		if (b)
			return b;
	}
	return NULL;
}

static void free_memory(const struct cache *k, struct slab *s)
{
	if (k->offslab)
		hm__heap_free(s->bufctl, HM_BLOCK_POOL, NULL, NULL);
	hm__heap_free(s, HM_BLOCK_SLAB, NULL, NULL);
}

/* A new slab, its objects constructed, on no list; NULL with errno ENOMEM. */
static struct slab *grow(struct cache *k)
{
	struct slab *s;
	uint32_t colour;

	if ((k->ctor || k->dtor) && !hm__slab_code_here(k)) {
		atomic_fetch_add(&k->errors, 1);
		hm__err("slab %s: cannot grow in this process: its constructor and destructor "
			"are the creating program's",
			k->pub.name);
		return hm__null_errno(ENOMEM);
	}
	s = heap_block(k, k->slab_bytes - SLAB_TAIL, k->slab_bytes, HM_BLOCK_SLAB);
	if (!s)
		return hm__null_errno(ENOMEM);
	s->bufctl = k->offslab ? heap_block(k, k->per_slab * sizeof(uint16_t), 0, HM_BLOCK_POOL)
			       : (uint16_t *)((char *)s + SLAB_HDR);
	if (!s->bufctl) {
		hm__heap_free(s, HM_BLOCK_SLAB, NULL, NULL);
		return hm__null_errno(ENOMEM);
	}
	colour = hm__fetch_add_relaxed(&k->colour_next, 1) % k->colours;
	s->cache = &k->pub;
	s->next = s->prev = 0;
	s->inuse = 0;
	s->nfree = k->per_slab;
	s->list = LIST_NONE;
	s->colour = colour * k->colour_step;
	s->objs = (char *)s + k->objs_off + s->colour;
	/* The first pop hands out object 0, then 1, ...: a new slab fills in address order. */
	for (unsigned i = 0; i < k->per_slab; i++)
		s->bufctl[i] = (uint16_t)(k->per_slab - 1 - i);
	if (k->debug)
		for (unsigned i = 0; i < k->per_slab; i++)
			hm__slab_debug_init(k, obj_at(k, s, i));
	if (k->ctor) {
		for (unsigned i = 0; i < k->per_slab; i++) {
			int rc = k->ctor(obj_at(k, s, i), k->arg);

			if (rc == 0)
				continue;
			/* Undo: what was constructed is destructed, the memory goes back. */
			if (k->dtor)
				while (i-- > 0)
					k->dtor(obj_at(k, s, i), k->arg);
			free_memory(k, s);
			atomic_fetch_add(&k->errors, 1);
			hm__warn("slab %s: the constructor failed (%s): no slab made", k->pub.name,
				 hm_strerror(rc < 0 ? rc : -rc));
			return hm__null_errno(ENOMEM);
		}
	}
	return s;
}

/* Destruct slab s's objects and give its memory back (it is on no list, out of the map). */
static void destroy_slab(struct cache *k, struct slab *s)
{
	if (k->dtor)
		for (unsigned i = 0; i < k->per_slab; i++)
			k->dtor(obj_at(k, s, i), k->arg);
	free_memory(k, s);
}

/* Take up to n empty slabs off the empty list into a chain (by next); under the lock. */
static struct slab *detach_empty(struct cache *k, uint64_t n)
{
	struct slab *chain = NULL;

	while (n-- > 0 && k->head[LIST_EMPTY]) {
		struct slab *s = at(k->head[LIST_EMPTY]);

		unlink_slab(k, s);
		map_slab(k, s, 0);
		k->n_slabs--;
		k->reaped++;
		s->next = off_of(chain);
		chain = s;
	}
	return chain;
}

static void destroy_chain(struct cache *k, struct slab *chain)
{
	while (chain) {
		struct slab *next = at(chain->next);

		destroy_slab(k, chain);
		chain = next;
	}
}

/* Whether this process may release k's slabs (their destructor runs here). */
static bool may_release(const struct cache *k)
{
	return !k->dtor || hm__slab_code_here(k);
}

void hm__slabs_release_empty(struct cache *k)
{
	struct slab *chain;

	if (!may_release(k))
		return;
	hm__mutex_lock(&k->lock);
	chain = detach_empty(k, k->n_on[LIST_EMPTY]);
	hm__mutex_unlock(&k->lock);
	destroy_chain(k, chain);
}

void hm__slabs_reap(struct cache *k)
{
	struct slab *chain;

	if (!may_release(k))
		return;
	hm__mutex_lock(&k->lock);
	/* The empty slabs that no one took during the whole interval. */
	chain = detach_empty(k, HM_MIN(k->min_empty, k->n_on[LIST_EMPTY]));
	k->min_empty = k->n_on[LIST_EMPTY];
	hm__mutex_unlock(&k->lock);
	destroy_chain(k, chain);
}

/* ---- taking and giving objects ---- */

/* Up to n objects from the fullest slabs; under the lock. */
static unsigned take_locked(struct cache *k, void **objs, unsigned n)
{
	unsigned got = 0;

	while (got < n) {
		struct slab *s;

		if (k->partial_mask)
			s = at(k->head[31 - __builtin_clz(k->partial_mask)]);
		else if (k->head[LIST_EMPTY])
			s = at(k->head[LIST_EMPTY]);
		else
			break;
		unsigned t = HM_MIN(n - got, s->nfree);
		for (unsigned i = 0; i < t; i++)
			objs[got++] = obj_at(k, s, s->bufctl[--s->nfree]);
		s->inuse += t;
		k->out += t;
		place(k, s);
	}
	if (k->out > k->high_mark)
		k->high_mark = k->out;
	return got;
}

unsigned hm__slabs_take(struct cache *k, void **objs, unsigned n)
{
	unsigned got;
	struct slab *s;

	hm__mutex_lock(&k->lock);
	got = take_locked(k, objs, n);
	hm__mutex_unlock(&k->lock);
	if (got || n == 0)
		return got;
	s = grow(k);
	if (!s)
		return 0;
	hm__mutex_lock(&k->lock);
	map_slab(k, s, (uint16_t)k->pub.id);
	k->n_slabs++;
	k->grown++;
	place(k, s);
	got = take_locked(k, objs, n);
	hm__mutex_unlock(&k->lock);
	return got;
}

void hm__slabs_give(struct cache *k, void *const *objs, unsigned n)
{
	struct slab *chain = NULL;
	unsigned refused = 0;
	uint64_t keep;

	hm__mutex_lock(&k->lock);
	for (unsigned i = 0; i < n; i++) {
		struct slab *s = slab_of(k, objs[i]);
		long idx = hm__slab_index(k, s, objs[i]);

		/* The caller checked that the object lies in one of k's slabs; here, that
		 * it is an object's start, and that its slab has room for one more free
		 * index (a double free in a release build would overflow it). */
		if (idx < 0 || s->nfree >= k->per_slab) {
			if (refused++ == 0)
				hm__err("slab %s: %p is %s: refused", k->pub.name, objs[i],
					idx < 0 ? "not the start of an object"
						: "free already (its slab is whole)");
			continue;
		}
		s->bufctl[s->nfree++] = (uint16_t)idx;
		s->inuse--;
		k->out--;
		place(k, s);
	}
	keep = HM_MAX(SLAB_EMPTY_KEEP, k->n_slabs / 8);
	if (k->n_on[LIST_EMPTY] > keep && may_release(k))
		chain = detach_empty(k, k->n_on[LIST_EMPTY] - keep);
	hm__mutex_unlock(&k->lock);
	if (refused)
		atomic_fetch_add(&k->errors, refused);
	destroy_chain(k, chain);
}
