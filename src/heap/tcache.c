/* SPDX-License-Identifier: MIT */
/*
 * tcache.c - the slow paths of the heap's thread caches (see tcache.h):
 * attaching a thread to its cache, refilling a list with a run of blocks,
 * giving lists back, folding a thread's type counts into the shared entries,
 * the exit hook, and the sums that the statistics read.
 *
 * The fast paths (a hit in hm_malloc, a push in hm_free) are in malloc.c.
 * Locks: a refill or a flush takes the home heap's lock once, for the whole
 * run; nothing here holds two locks.
 */
#include "heap/tcache.h"

#include <string.h>

_Static_assert(sizeof(struct hm_tcache) <= HM_THREAD_AREA_SIZE,
	       "a thread cache fits in the config region's share of a thread slot");

__thread struct hm_tcache *hm__tc_tls __attribute__((tls_model("initial-exec")));
__thread uint64_t hm__tc_tls_generation __attribute__((tls_model("initial-exec")));

/* Relaxed load and store of a counter that only one thread writes. */
static inline uint64_t get(_Atomic uint64_t *c)
{
	return atomic_load_explicit(c, memory_order_relaxed);
}

static inline void put(_Atomic uint64_t *c, uint64_t v)
{
	atomic_store_explicit(c, v, memory_order_relaxed);
}

static struct hm_heap *home_heap(const struct hm_tcache *tc)
{
	return hm__heap_get(
		atomic_load_explicit(&((struct hm_tcache *)tc)->home, memory_order_relaxed) - 1);
}

struct hm_tcache *hm__tc_attach(void)
{
	struct hm_shared *sh = hm__shared();
	struct hm_tcache *tc = NULL;
	int slot = sh ? hm_thread_id() : -1;

	if (slot >= 0) {
		tc = hm__tcache(sh, (unsigned)slot);
		if (!atomic_load_explicit(&tc->home, memory_order_relaxed)) {
			unsigned order[HM_SEGLISTS_MAX];
			unsigned n = hm__heap_order(HM_SOCKET_ANY, 0, order);

			tc->slot = (uint32_t)slot;
			for (unsigned bin = 0; bin < HM_TC_BINS; bin++)
				tc->bins[bin].max = hm__tc_bin_max(bin);
			if (n == 0)
				tc = NULL;
			else
				atomic_store_explicit(&tc->home, order[0] + 1,
						      memory_order_relaxed);
		}
	}
	/* Without a slot (all taken) the thread goes without a cache, and does not
	 * try again until the next hm_init. */
	hm__tc_tls = tc;
	hm__tc_tls_generation = hm__proc.generation;
	return tc;
}

/* The link of a cached block: the offset of the next block of its list. */
static inline uint64_t *link_of(struct hm_heap_block *b)
{
	return &b->link;
}

unsigned hm__tc_refill(struct hm_tcache *tc, unsigned bin)
{
	struct hm_shared *sh = hm__shared();
	struct hm_heap *h = home_heap(tc);
	struct hm_tc_bin *l = &tc->bins[bin];
	void *out[HM_TC_BIN_MAX];
	unsigned want = l->max / 2, n;
	uint64_t bytes = 0;

	if (!h)
		return 0;
	n = hm__heap_alloc_run(h, hm__tc_bin_size(bin), want ? want : 1, out);
	/* Pushed last to first, so the lowest address is handed out first. */
	for (unsigned i = n; i-- > 0;) {
		struct hm_heap_block *b = (struct hm_heap_block *)((char *)out[i] - HM_HEAP_HDR);

		*link_of(b) = l->head;
		l->head = hm__off(sh, b);
		bytes += b->size & ~UINT64_C(1);
	}
	atomic_store_explicit(&l->count, atomic_load_explicit(&l->count, memory_order_relaxed) + n,
			      memory_order_relaxed);
	put(&tc->n_bytes, get(&tc->n_bytes) + bytes);
	put(&tc->refilled, get(&tc->refilled) + n);
	return n;
}

/*
 * The cached block at off, or NULL if off is not one: checked before its
 * link is read, since the list of a thread that died in the middle of a push
 * or a pop may end anywhere.
 */
static struct hm_heap_block *cached_at(const struct hm_shared *sh, unsigned heap, uint64_t off)
{
	struct hm_heap_block *b = hm__ptr(sh, off);

	if (!b || off % HM_HEAP_UNIT != HM_HEAP_UNIT - HM_HEAP_HDR ||
	    hm__seglist_of(sh, b) != (int)heap || !hm__seglist_committed(sh, heap, b))
		return NULL;
	uint64_t t = hm__heap_peek_tag(b);
	if (HM_HEAP_TAG_KIND(t) != HM_BLOCK_CACHED ||
	    HM_HEAP_TAG_COOKIE(t) != hm__heap_cookie(sh, b))
		return NULL;
	return b;
}

void hm__tc_flush_bin(struct hm_tcache *tc, unsigned bin, unsigned keep)
{
	struct hm_shared *sh = hm__shared();
	struct hm_heap *h = home_heap(tc);
	void *batch[HM_TC_BIN_MAX];
	uint64_t *cut = &tc->bins[bin].head, bytes = 0, blocks = 0;
	unsigned n = 0, kept = 0;

	if (!h)
		return;
	/* Keep the first keep blocks: the most recently freed, warm in the cache. */
	while (*cut && kept < keep) {
		struct hm_heap_block *b = cached_at(sh, h->index, *cut);
		if (!b)
			break;
		cut = link_of(b);
		kept++;
	}
	uint64_t off = *cut;
	*cut = 0;
	while (off) {
		struct hm_heap_block *b = cached_at(sh, h->index, off);
		if (!b) {
			hm__err("thread cache of slot %u: list %u is broken at %#llx: the rest of "
				"it "
				"is left out",
				tc->slot, bin, (unsigned long long)off);
			break;
		}
		off = *link_of(b);
		bytes += b->size & ~UINT64_C(1);
		blocks++;
		batch[n++] = b + 1;
		if (n == HM_TC_BIN_MAX) {
			hm__heap_free_run(h, batch, n);
			n = 0;
		}
	}
	if (n)
		hm__heap_free_run(h, batch, n);
	atomic_store_explicit(&tc->bins[bin].count, kept, memory_order_relaxed);
	put(&tc->n_bytes, get(&tc->n_bytes) - bytes);
	put(&tc->flushed, get(&tc->flushed) + blocks);
}

void hm__tc_flush(struct hm_tcache *tc)
{
	for (unsigned bin = 0; bin < HM_TC_BINS; bin++)
		if (tc->bins[bin].head)
			hm__tc_flush_bin(tc, bin, 0);
}

void hm__tc_flush_mine(void)
{
	struct hm_shared *sh = hm__shared();

	if (sh && hm__tc_tls_generation == hm__proc.generation && hm__tc_tls)
		hm__tc_flush(hm__tc_tls);
}

/* Raise t's high-water mark to at least v. */
static void raise_high_water(struct hm_type_entry *t, int64_t v)
{
	uint64_t hw = atomic_load_explicit(&t->high_water, memory_order_relaxed);

	while (v > 0 && (uint64_t)v > hw &&
	       !atomic_compare_exchange_weak_explicit(&t->high_water, &hw, (uint64_t)v,
						      memory_order_relaxed, memory_order_relaxed))
		;
}

void hm__tc_fold(struct hm_malloc_area *a, struct hm_tcache *tc, unsigned idx)
{
	struct hm_tc_type *c = &tc->types[idx];
	struct hm_type_entry *t = &a->types[idx];
	int64_t d = atomic_load_explicit(&c->bytes, memory_order_relaxed);
	int64_t peak = atomic_load_explicit(&c->peak, memory_order_relaxed);
	uint64_t allocs = get(&c->allocs), frees = get(&c->frees);

	if (!d && !peak && !allocs && !frees)
		return;
	/* Relaxed: the counters order nothing else. */
	int64_t before = atomic_fetch_add_explicit(&t->live_bytes, d, memory_order_relaxed);
	if (atomic_load_explicit(&t->limit, memory_order_relaxed))
		atomic_fetch_sub_explicit(&t->unfolded, d, memory_order_relaxed);
	/* The thread's peak since its last fold, on top of what was folded then. */
	raise_high_water(t, before + peak);
	atomic_fetch_add_explicit(&t->allocs, allocs, memory_order_relaxed);
	atomic_fetch_add_explicit(&t->frees, frees, memory_order_relaxed);
	atomic_store_explicit(&c->bytes, 0, memory_order_relaxed);
	atomic_store_explicit(&c->peak, 0, memory_order_relaxed);
	put(&c->allocs, 0);
	put(&c->frees, 0);
}

/*
 * The exit hook of the thread slot layer: the thread of slot is gone (or
 * unregistered, or its process died and another reclaims the slot). Its
 * blocks go back to the heap, its counts into the shared entries, and the
 * cache is left empty for the slot's next owner.
 */
static void on_thread_exit(int slot)
{
	struct hm_shared *sh = hm__shared();
	struct hm_tcache *tc;
	struct hm_heap *h;

	if (!sh || slot < 0 || (unsigned)slot >= sh->max_threads)
		return;
	tc = hm__tcache(sh, (unsigned)slot);
	h = home_heap(tc);
	if (h) {
		struct hm_malloc_area *a = hm__malloc_area(sh);
		unsigned n_types = atomic_load_explicit(&a->n_types, memory_order_acquire);

		hm__tc_flush(tc);
		for (unsigned i = 0; i < n_types && i < HM_MALLOC_TYPES_MAX; i++)
			hm__tc_fold(a, tc, i);
		hm__heap_add_counts(h, get(&tc->refilled) + get(&tc->frees) - get(&tc->flushed),
				    get(&tc->frees));
	}
	memset(tc, 0, sizeof(*tc));
	if (hm__tc_tls == tc) {
		hm__tc_tls = NULL;
		hm__tc_tls_generation = 0; /* attach again if the thread allocates after this */
	}
}

void hm__tc_sums(const struct hm_shared *sh, int index, struct hm_tc_sums *out)
{
	memset(out, 0, sizeof(*out));
	for (unsigned s = 0; s < sh->max_threads; s++) {
		struct hm_tcache *tc = hm__tcache(sh, s);
		uint32_t home = atomic_load_explicit(&tc->home, memory_order_relaxed);

		if (!home || (index >= 0 && home != (uint32_t)index + 1))
			continue;
		uint64_t held = 0;

		for (unsigned bin = 0; bin < HM_TC_BINS; bin++)
			held += atomic_load_explicit(&tc->bins[bin].count, memory_order_relaxed);
		out->blocks += held;
		out->bytes += get(&tc->n_bytes);
		out->allocs += get(&tc->refilled) + get(&tc->frees) - get(&tc->flushed) - held;
		out->frees += get(&tc->frees);
	}
}

void hm__tc_type_sums(const struct hm_shared *sh, unsigned idx, int64_t *bytes, int64_t *peaks,
		      uint64_t *allocs, uint64_t *frees)
{
	*bytes = *peaks = 0;
	*allocs = *frees = 0;
	for (unsigned s = 0; s < sh->max_threads; s++) {
		struct hm_tc_type *c = &hm__tcache(sh, s)->types[idx];

		*bytes += atomic_load_explicit(&c->bytes, memory_order_relaxed);
		*peaks += atomic_load_explicit(&c->peak, memory_order_relaxed);
		*allocs += get(&c->allocs);
		*frees += get(&c->frees);
	}
}

int hm__tc_setup(struct hm_shared *sh, struct hm_malloc_area *a)
{
	a->tcaches_off = hm__shared_alloc(sh, sizeof(struct hm_tcache) * sh->max_threads, 64);
	return a->tcaches_off ? 0 : -ENOMEM;
}

int hm__tc_attach_process(void)
{
	return hm__thread_on_exit(on_thread_exit);
}
