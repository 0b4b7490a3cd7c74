/* SPDX-License-Identifier: MIT */
/*
 * debug.c - the checks of debug caches (HM_SLAB_F_DEBUG, and every cache in
 * a debug build). Each object's stride is laid out as
 *
 *   | state (8) | red zone (8) | object (size) | red zone (8) | padding |
 *
 * (the front part grows to the cache's alignment). The state word says
 * whether the object is free or live and, while live, which thread slot
 * allocated it; it changes with a compare-and-swap, so of two frees of one
 * object one is refused. Free objects of caches without a constructor are
 * filled with poison, checked when the object is next handed out: a write
 * after free is reported there (the object is still handed out). Red zones
 * are checked at free and by hm_slab_audit: an overrun is reported, the red
 * zone restored and the object freed.
 */
#include "slab/slab.h"

#include <inttypes.h>

#include <string.h>

#define STATE_FREE   UINT64_C(0xf7eef7ee00000000)
#define STATE_LIVE   UINT64_C(0x11fe11fe00000000)
#define STATE_MASK   UINT64_C(0xffffffff00000000)
#define REDZONE_BYTE 0xbbu
#define POISON_BYTE  0x6bu
#define REDZONE      8u

static _Atomic uint64_t *state_of(const void *obj)
{
	return (_Atomic uint64_t *)((char *)(uintptr_t)obj - 16);
}

static unsigned char *front_rz(const void *obj)
{
	return (unsigned char *)(uintptr_t)obj - REDZONE;
}

static unsigned char *rear_rz(const struct cache *k, const void *obj)
{
	return (unsigned char *)(uintptr_t)obj + k->size;
}

/* The first byte of [p, p + n) that is not b, or -1. */
static long first_not(const unsigned char *p, size_t n, unsigned char b)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != b)
			return (long)i;
	return -1;
}

void hm__slab_debug_init(const struct cache *k, void *obj)
{
	atomic_store_explicit(state_of(obj), STATE_FREE, memory_order_relaxed);
	memset(front_rz(obj), REDZONE_BYTE, REDZONE);
	memset(rear_rz(k, obj), REDZONE_BYTE, REDZONE);
	if (k->poison)
		memset(obj, POISON_BYTE, k->size);
}

/* Check and restore obj's red zones; false (reported) if one was damaged. */
static bool check_redzones(struct cache *k, const void *obj, const char *when)
{
	long f = first_not(front_rz(obj), REDZONE, REDZONE_BYTE);
	long r = first_not(rear_rz(k, obj), REDZONE, REDZONE_BYTE);

	if (f < 0 && r < 0)
		return true;
	atomic_fetch_add(&k->errors, 1);
	hm__err("slab %s: %s %p: the red zone %s it is overwritten (byte %ld)", k->pub.name, when,
		obj, r >= 0 ? "after" : "before", r >= 0 ? r : f);
	memset(front_rz(obj), REDZONE_BYTE, REDZONE);
	memset(rear_rz(k, obj), REDZONE_BYTE, REDZONE);
	return false;
}

void hm__slab_debug_alloc(struct cache *k, void *obj)
{
	_Atomic uint64_t *st = state_of(obj);
	uint64_t expect = STATE_FREE;
	int slot = hm__thread_slot();
	uint64_t live = STATE_LIVE | (uint32_t)(slot < 0 ? UINT32_MAX : (uint32_t)slot);

	if (!atomic_compare_exchange_strong(st, &expect, live)) {
		atomic_fetch_add(&k->errors, 1);
		hm__err("slab %s: alloc of %p: its state word is %#" PRIx64
			", not free (memory before the object was overwritten)",
			k->pub.name, obj, expect);
		atomic_store(st, live);
	}
	if (k->poison) {
		long i = first_not(obj, k->size, POISON_BYTE);
		if (i >= 0) {
			atomic_fetch_add(&k->errors, 1);
			hm__err("slab %s: alloc of %p: it was written after it was freed (byte "
				"%ld)",
				k->pub.name, obj, i);
		}
	}
	check_redzones(k, obj, "alloc of");
}

bool hm__slab_debug_free(struct cache *k, void *obj)
{
	_Atomic uint64_t *st = state_of(obj);
	uint64_t cur = atomic_load_explicit(st, memory_order_relaxed);

	for (;;) {
		if ((cur & STATE_MASK) != STATE_LIVE) {
			atomic_fetch_add(&k->errors, 1);
			hm__err("slab %s: free of %p refused: %s", k->pub.name, obj,
				cur == STATE_FREE ? "it is free already (double free)"
						  : "its state word is overwritten");
			return false;
		}
		if (atomic_compare_exchange_weak(st, &cur, STATE_FREE))
			break;
	}
	check_redzones(k, obj, "free of");
	if (k->poison)
		memset(obj, POISON_BYTE, k->size);
	return true;
}

int hm__slab_debug_check_free(const struct cache *k, const void *obj)
{
	uint64_t st = atomic_load_explicit(state_of(obj), memory_order_relaxed);
	long f = first_not(front_rz(obj), REDZONE, REDZONE_BYTE);
	long r = first_not(rear_rz(k, obj), REDZONE, REDZONE_BYTE);
	long p = k->poison ? first_not(obj, k->size, POISON_BYTE) : -1;

	if (st != STATE_FREE || f >= 0 || r >= 0 || p >= 0) {
		hm__err("slab %s: audit: free object %p: %s", k->pub.name, obj,
			st != STATE_FREE   ? "its state is not free"
			: f >= 0 || r >= 0 ? "a red zone is overwritten"
					   : "written after it was freed");
		return -EFAULT;
	}
	return 0;
}

int hm__slab_debug_owner(const struct cache *k, const void *obj)
{
	uint64_t st = atomic_load_explicit(state_of(obj), memory_order_relaxed);

	(void)k;
	if ((st & STATE_MASK) != STATE_LIVE)
		return -ENOENT;
	return (uint32_t)st == UINT32_MAX ? -ESRCH : (int)(uint32_t)st;
}
