/* SPDX-License-Identifier: MIT */
/*
 * ops.c - the alloc and free paths of buffer pools beyond the inline ones
 * (a hit in the calling thread's cache, in hugemem/bufpool.h): the free
 * bitmap, the per-thread caches and their refills and flushes, and the
 * checks of every index freed.
 *
 * The bitmap has a bit per buffer, 1 while it is free (not out and not in
 * any thread's cache). A take scans whole words from the hint, the word
 * where the last scan stopped, and claims the bits it wants from a word
 * with one compare-and-swap (acquire: it pairs with the release of the
 * give that set them, so the buffer's last user is done with it). A give
 * sets the bits of each run of indices in one word with one fetch-or
 * (release); a bit that was set already was an index freed twice: it is
 * reported, and the fetch-or changed nothing for it.
 *
 * Every index freed is checked first: in range and not reserved; in
 * checked pools also out (its state byte 1). States are plain bytes,
 * written by the thread that allocates or frees the buffer: two threads
 * freeing one index at the same instant may both pass (that misuse alone is
 * not caught there); the bitmap's fetch-or still refuses the second when
 * both reach it.
 */
#include "bufpool/bufpool.h"
#include <hugemem/malloc.h>

#include <string.h>

/* ---- the bitmap ---- */

/* The lowest k set bits of v (v has at least k). */
static uint64_t lowest_bits(uint64_t v, unsigned k)
{
	uint64_t t = 0;

	while (k-- > 0) {
		uint64_t b = v & (~v + 1);
		t |= b;
		v ^= b;
	}
	return t;
}

unsigned hm__bp_bitmap_take(struct bufpool *p, uint32_t *idx, unsigned n)
{
	_Atomic uint64_t *bm = bp_bitmap(p);
	uint32_t words = p->n_words;
	uint32_t w = atomic_load_explicit(&p->hint, memory_order_relaxed);
	unsigned got = 0;

	if (w >= words)
		w = 0;
	for (uint32_t scanned = 0; scanned < words && got < n; scanned++) {
		uint64_t v = atomic_load_explicit(&bm[w], memory_order_relaxed);

		while (v && got < n) {
			unsigned want = n - got;
			uint64_t take = (unsigned)__builtin_popcountll(v) <= want
						? v
						: lowest_bits(v, want);

			/* Acquire pairs with the release of the give that set these bits. */
			if (atomic_compare_exchange_weak_explicit(&bm[w], &v, v & ~take,
								  memory_order_acquire,
								  memory_order_relaxed)) {
				while (take) {
					idx[got++] = w * 64 + (uint32_t)__builtin_ctzll(take);
					take &= take - 1;
				}
				break;
			}
		}
		if (got < n)
			w = w + 1 == words ? 0 : w + 1;
	}
	atomic_store_explicit(&p->hint, w, memory_order_relaxed);
	return got;
}

static void refuse_twice(struct bufpool *p, uint32_t idx)
{
	hm__err("bufpool %s: free of index %u refused: free already (freed twice)", p->pub.name,
		idx);
}

unsigned hm__bp_bitmap_give(struct bufpool *p, const uint32_t *idx, unsigned n)
{
	_Atomic uint64_t *bm = bp_bitmap(p);
	unsigned refused = 0;

	for (unsigned i = 0; i < n;) {
		uint32_t w = idx[i] / 64;
		uint64_t mask = 0, old, dup;

		/* A run of indices in one word: one fetch-or. An index twice in the
		 * run is a double free as much as one already set in the word. */
		for (; i < n && idx[i] / 64 == w; i++) {
			uint64_t b = UINT64_C(1) << (idx[i] % 64);
			if (mask & b) {
				refused++;
				refuse_twice(p, idx[i]);
				continue;
			}
			mask |= b;
		}
		/* Release pairs with the acquire of the take that claims these bits. */
		old = atomic_fetch_or_explicit(&bm[w], mask, memory_order_release);
		for (dup = old & mask; dup; dup &= dup - 1) {
			refused++;
			refuse_twice(p, w * 64 + (uint32_t)__builtin_ctzll(dup));
		}
	}
	if (refused)
		atomic_fetch_add(&p->refused, refused);
	return n - refused;
}

uint64_t hm__bp_bitmap_count(const struct bufpool *p)
{
	const _Atomic uint64_t *bm = bp_bitmap(p);
	uint64_t n = 0;

	for (uint32_t w = 0; w < p->n_words; w++)
		n += (uint64_t)__builtin_popcountll(
			atomic_load_explicit((_Atomic uint64_t *)&bm[w], memory_order_relaxed));
	return n;
}

uint64_t hm__bp_cached(const struct bufpool *p)
{
	struct hm__bufpool_cache **caches = bp_caches(p);
	uint64_t n = 0;

	for (uint32_t s = 0; s < p->pub.n_slots; s++) {
		const struct hm__bufpool_cache *c = hm__load_acquire(&caches[s]);
		if (c)
			n += hm__load_relaxed(&c->len);
	}
	return n;
}

/* ---- caches ---- */

/* The calling thread's cache, made on first use; NULL without a slot, caches or memory. */
static struct hm__bufpool_cache *local_cache(struct bufpool *p)
{
	struct hm__bufpool_cache **caches = bp_caches(p);
	int slot = hm__thread_slot();
	struct hm__bufpool_cache *c;
	size_t bytes = sizeof(*c) + 2 * HM_BUFPOOL_CACHE_SIZE * sizeof(uint32_t);

	if (slot < 0 || (unsigned)slot >= p->pub.n_slots)
		return NULL;
	c = hm__load_acquire(&caches[slot]);
	if (c)
		return c;
	c = hm_zmalloc_socket("bufpool cache", bytes, 0, p->socket);
	if (!c && p->socket != HM_SOCKET_ANY)
		c = hm_zmalloc("bufpool cache", bytes, 0);
	if (!c) {
		if (!atomic_exchange(&p->warned_cache, true))
			hm__warn("bufpool %s: no memory for the cache of thread slot %d: it goes "
				 "without (said once per pool)",
				 p->pub.name, slot);
		return NULL;
	}
	c->size = HM_BUFPOOL_CACHE_SIZE;
	c->flushthresh = HM_BUFPOOL_CACHE_SIZE * 3 / 2;
	/* Release: pairs with the acquires of the fast path, the exit flush and the counts. */
	hm__store_release(&caches[slot], c);
	return c;
}

void hm__bp_flush_cache(void *owner, void *cache)
{
	struct bufpool *p = owner;
	struct hm__bufpool_cache *c = cache;
	uint32_t len = hm__load_relaxed(&c->len);

	if (len) {
		hm__bp_bitmap_give(p, c->idx, len);
		hm__store_relaxed(&c->len, 0);
	}
}

/* ---- the slow paths ---- */

static void mark_out(struct bufpool *p, const uint32_t *idx, unsigned n)
{
	uint8_t *state = hm__bufpool_state(&p->pub);

	if (!(p->pub.flags & HM__BUFPOOL_CHECKED))
		return;
	for (unsigned i = 0; i < n; i++)
		state[idx[i]] = 1;
}

unsigned hm__bufpool_alloc_slow(struct hm_bufpool *bp, struct hm__bufpool_cache *c, uint32_t *idx,
				unsigned n)
{
	struct bufpool *p = bp_of(bp);
	unsigned got;

	if (n == 0)
		return 0;
	if (!hm__bufpool_valid(bp)) {
		errno = EINVAL;
		return 0;
	}
	if (!c)
		c = local_cache(p);
	if (c) {
		uint32_t len = hm__load_relaxed(&c->len);

		/* Refill up to size, plus what this call takes, when that fits (checked
		 * pools come here with the cache holding enough already). */
		if (len < n && n <= c->size)
			len += hm__bp_bitmap_take(p, &c->idx[len], c->size + n - len);
		if (len >= n) {
			len -= n;
			memcpy(idx, &c->idx[len], n * sizeof(*idx));
			hm__store_relaxed(&c->len, len);
			mark_out(p, idx, n);
			hm__bump(&c->allocs, n);
			return n;
		}
		/* Larger than the cache, or the bitmap ran short: the rest from the
		 * bitmap, then all the cache holds. */
		got = hm__bp_bitmap_take(p, idx, n - len);
		if (got < n - len) {
			hm__store_relaxed(&c->len, len);
			hm__bp_bitmap_give(p, idx, got);
			errno = ENOMEM;
			return 0;
		}
		memcpy(&idx[got], c->idx, len * sizeof(*idx));
		hm__store_relaxed(&c->len, 0);
		mark_out(p, idx, n);
		hm__bump(&c->allocs, n);
		return n;
	}
	got = hm__bp_bitmap_take(p, idx, n);
	if (got < n) {
		/* All or nothing. */
		hm__bp_bitmap_give(p, idx, got);
		errno = ENOMEM;
		return 0;
	}
	mark_out(p, idx, n);
	atomic_fetch_add(&p->allocs, n);
	return n;
}

/* Whether idx may be freed: in range, not reserved, out. Logged and counted if not. */
static bool check_free(struct bufpool *p, uint32_t idx)
{
	const char *why = NULL;

	if (idx >= p->pub.count)
		why = "out of range";
	else if (idx < HM_BUFPOOL_RESERVED)
		why = "reserved";
	else if ((p->pub.flags & HM__BUFPOOL_CHECKED) && hm__bufpool_state(&p->pub)[idx] != 1)
		why = "free already";
	if (!why)
		return true;
	atomic_fetch_add(&p->refused, 1);
	hm__err("bufpool %s: free of index %u refused: %s (the pool has %u)", p->pub.name, idx, why,
		p->pub.count);
	return false;
}

void hm__bufpool_free_slow(struct hm_bufpool *bp, struct hm__bufpool_cache *c, const uint32_t *idx,
			   unsigned n)
{
	struct bufpool *p = bp_of(bp);
	uint8_t *state;
	uint32_t ok[64];

	if (n == 0)
		return;
	if (!hm__bufpool_valid(bp)) {
		hm__err("bufpool: free of %u indices to %p refused: not a pool", n, (void *)bp);
		return;
	}
	state = bp->flags & HM__BUFPOOL_CHECKED ? hm__bufpool_state(bp) : NULL;
	if (!c)
		c = local_cache(p);
	/* In batches: check each, mark it free, then cache or give back the good ones. */
	for (unsigned i = 0; i < n;) {
		unsigned k = 0;

		for (; i < n && k < 64; i++) {
			if (!check_free(p, idx[i]))
				continue;
			if (state)
				state[idx[i]] = 0;
			ok[k++] = idx[i];
		}
		if (!c) {
			atomic_fetch_add(&p->frees, hm__bp_bitmap_give(p, ok, k));
			continue;
		}
		uint32_t len = hm__load_relaxed(&c->len);
		if (len + k > c->flushthresh) {
			/* DPDK's policy: the whole cache goes back, then it keeps these. */
			hm__bp_bitmap_give(p, c->idx, len);
			len = 0;
		}
		memcpy(&c->idx[len], ok, k * sizeof(*ok));
		hm__store_relaxed(&c->len, len + k);
		hm__bump(&c->frees, k);
	}
}
