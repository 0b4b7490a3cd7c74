/* SPDX-License-Identifier: MIT */
/*
 * cache.c - the registry of cache sets and the exit hook that gives a gone
 * thread's caches back to their pools (see cache.h).
 */
#include "cache/cache.h"

#include <stdatomic.h>

/* The cache area of the config region. */
struct cache_area {
	struct hm_mutex lock; /* the list of sets */
	uint64_t head;        /* offset of the first set, 0 if none */
	uint64_t n_sets;
};

/* Per process: what gives a cache of each kind back. */
static hm__cache_flush_fn *flush_fns[HM_CACHE_KINDS];

static struct cache_area *area(const struct hm_shared *sh)
{
	return hm__ptr(sh, sh->area_off[HM_AREA_CACHE]);
}

int hm__cache_register_kind(enum hm_cache_kind kind, hm__cache_flush_fn *fn)
{
	if ((unsigned)kind >= HM_CACHE_KINDS || !fn)
		return -EINVAL;
	flush_fns[kind] = fn;
	return 0;
}

void hm__cache_set_add(struct hm_cache_set *set)
{
	struct hm_shared *sh = hm__shared();
	struct cache_area *a = area(sh);

	hm__mutex_lock(&a->lock);
	set->prev = 0;
	set->next = a->head;
	if (a->head)
		((struct hm_cache_set *)hm__ptr(sh, a->head))->prev = hm__off(sh, set);
	a->head = hm__off(sh, set);
	a->n_sets++;
	hm__mutex_unlock(&a->lock);
}

void hm__cache_set_remove(struct hm_cache_set *set)
{
	struct hm_shared *sh = hm__shared();
	struct cache_area *a = area(sh);

	hm__mutex_lock(&a->lock);
	if (set->prev)
		((struct hm_cache_set *)hm__ptr(sh, set->prev))->next = set->next;
	else
		a->head = set->next;
	if (set->next)
		((struct hm_cache_set *)hm__ptr(sh, set->next))->prev = set->prev;
	set->next = set->prev = 0;
	a->n_sets--;
	hm__mutex_unlock(&a->lock);
}

/* The slot's thread is gone: every cache it had goes back to its pool. */
static void on_thread_exit(int slot)
{
	struct hm_shared *sh = hm__shared();
	struct cache_area *a;

	if (!sh || slot < 0)
		return;
	a = area(sh);
	hm__mutex_lock(&a->lock);
	for (uint64_t o = a->head; o; o = ((struct hm_cache_set *)hm__ptr(sh, o))->next) {
		struct hm_cache_set *set = hm__ptr(sh, o);
		void *c;

		if ((unsigned)slot >= set->n_slots || set->kind >= HM_CACHE_KINDS)
			continue;
		/* Acquire pairs with the release that published the cache: its
		 * contents, as the thread left them, are visible. */
		c = atomic_load_explicit(&set->caches[slot], memory_order_acquire);
		if (c && flush_fns[set->kind])
			flush_fns[set->kind](set->owner, c);
	}
	hm__mutex_unlock(&a->lock);
}

int hm__cache_setup(struct hm_shared *sh)
{
	uint64_t off = hm__shared_alloc(sh, sizeof(struct cache_area), 64);

	if (!off)
		return -ENOMEM;
	sh->area_off[HM_AREA_CACHE] = off;
	return hm__mutex_init(&area(sh)->lock);
}

int hm__cache_attach(void)
{
	return hm__thread_on_exit(on_thread_exit);
}
