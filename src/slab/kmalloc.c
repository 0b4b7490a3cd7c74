/* SPDX-License-Identifier: MIT */
/*
 * kmalloc.c - the general caches: hm_kmalloc and friends over one slab
 * cache per size class, made on first use (by whichever process needs it
 * first, under the slab area's lock) and found by every process through
 * the table of the slab area. Sizes above HM_KMALLOC_MAX go to the heap.
 *
 * Classes: 8 to 64 bytes every 8, then four per power of two, 2^t times
 * 5/4, 6/4, 7/4 and 2, up to 128 KiB: 52 classes, and a request just above
 * a class boundary wastes less than a fifth of its class from 64 bytes up.
 *
 * hm_kfree finds the cache of a pointer in the page map: its entry is the
 * id of the cache whose slab holds it, and the slab area's table gives the
 * cache. A pointer
 * the map does not know is handed to hm_free, which takes heap blocks and
 * refuses (and logs) anything else.
 */
#include "slab/slab.h"
#include <hugemem/malloc.h>

#include <stdio.h>
#include <string.h>

#define SMALL_MAX  64u
#define SMALL_STEP 8u

struct hm__kmalloc_view hm__kmalloc;

static size_t class_size(unsigned i)
{
	unsigned j, t;

	if (i < SMALL_MAX / SMALL_STEP)
		return (size_t)(i + 1) * SMALL_STEP;
	j = i - SMALL_MAX / SMALL_STEP;
	t = 6 + j / 4;
	return ((size_t)1 << t) + (size_t)(j % 4 + 1) * ((size_t)1 << (t - 2));
}

_Static_assert(KMALLOC_CLASSES == SMALL_MAX / SMALL_STEP + 11 * 4, "classes up to 128 KiB");
_Static_assert(KMALLOC_CLASSES == HM__KMALLOC_CLASSES, "the process view has every class");

void hm__kmalloc_attach(void)
{
	hm__slab_map_of(&hm__kmalloc.map, &hm__kmalloc.map_lo, &hm__kmalloc.map_n);
	hm__kmalloc.by_id = hm__slab_by_id();
}

void hm__kmalloc_detach(void)
{
	hm__store_relaxed(&hm__kmalloc.map_n, 0);
	for (unsigned i = 0; i < KMALLOC_CLASSES; i++)
		hm__store_relaxed(&hm__kmalloc.caches[i], NULL);
}

/* The general cache of class i, made if it is not yet; NULL with errno. */
static struct hm_slab_cache *general(unsigned i)
{
	struct hm_shared *sh = hm__shared();
	struct slab_area *a;
	struct hm_slab_cache *c;
	uint64_t off;
	size_t size = class_size(i);
	size_t low = size & (~size + 1);
	char name[HM_SLAB_NAME_MAX];

	if (!sh)
		return hm__null_errno(ENXIO);
	a = hm__slab_area();
	/* Acquire pairs with the release below: who sees the offset sees the cache. */
	off = atomic_load_explicit(&a->kmalloc[i], memory_order_acquire);
	if (HM_LIKELY(off))
		return hm__ptr(sh, off);
	hm__mutex_lock(&a->lock);
	off = atomic_load_explicit(&a->kmalloc[i], memory_order_relaxed);
	if (!off) {
		snprintf(name, sizeof(name), "kmalloc-%zu", size);
		c = hm__slab_create(name, size, HM_MIN(low, (size_t)HM_CACHE_LINE), 0, NULL, NULL,
				    NULL, true);
		if (c) {
			off = hm__off(sh, c);
			atomic_store_explicit(&a->kmalloc[i], off, memory_order_release);
		}
	}
	hm__mutex_unlock(&a->lock);
	return off ? hm__ptr(sh, off) : NULL;
}

void *hm__kmalloc_slow(size_t size)
{
	struct hm_slab_cache *c;
	unsigned i;

	if (size == 0)
		return hm__null_errno(EINVAL);
	if (size > HM_KMALLOC_MAX)
		return hm_malloc("kmalloc", size, 0);
	i = hm__kmalloc_class(size);
	c = general(i);
	if (!c)
		return NULL;
	/* Release: pairs with the acquire of hm_kmalloc() in this process's other threads. */
	hm__store_release(&hm__kmalloc.caches[i], c);
	return hm_slab_alloc(c);
}

void *hm_kzalloc(size_t size)
{
	void *p = hm_kmalloc(size);

	if (p)
		memset(p, 0, size);
	return p;
}

void hm__kfree_slow(void *p)
{
	struct hm_slab_cache *c;

	if (!p)
		return;
	c = hm__slab_cache_at(p);
	if (c)
		hm_slab_free(c, p);
	else
		hm_free(p);
}

size_t hm_ksize(const void *p)
{
	struct hm_slab_cache *c;
	size_t size;

	if (!p || !hm__shared())
		return 0;
	c = hm__slab_cache_at(p);
	if (c) {
		struct cache *k = cache_of(c);
		return hm__slab_valid(c) && hm__slab_index(k, slab_of(k, p), p) >= 0 ? k->size : 0;
	}
	return hm_malloc_validate(p, &size) == 0 ? size : 0;
}

void *hm_krealloc(void *p, size_t size)
{
	struct hm_slab_cache *c;
	size_t old;
	void *n;

	if (!p)
		return hm_kmalloc(size);
	if (size == 0)
		return hm__null_errno(EINVAL);
	old = hm_ksize(p);
	if (old == 0) {
		hm__err("hm_krealloc: %p is neither a slab object nor a heap block", p);
		return hm__null_errno(EINVAL);
	}
	c = hm__slab_cache_at(p);
	if (c && cache_of(c)->general && size <= HM_KMALLOC_MAX &&
	    class_size(hm__kmalloc_class(size)) == old)
		return p;
	if (!c && size > HM_KMALLOC_MAX)
		return hm_realloc(p, size, 0);
	n = hm_kmalloc(size);
	if (!n)
		return NULL;
	memcpy(n, p, HM_MIN(old, size));
	hm_kfree(p);
	return n;
}
