/* SPDX-License-Identifier: MIT */
/*
 * magazine.c - the per-thread magazines of slab caches, the depot behind
 * them, and the slow paths of alloc and free (Bonwick and Adams, "Magazines
 * and Vmem", 2001). The fast paths, a round taken from or put into the
 * thread's loaded magazine, are inline in hugemem/slab.h.
 *
 * Each thread has a loaded and a previous magazine, each either full or
 * empty except the loaded one. An alloc that finds the loaded one empty
 * swaps in the previous one if it is full; else it gives its empty previous
 * magazine to the depot and loads a full one from there; and when the depot
 * has none, it fills a magazine from the slabs in one pass (one lock round
 * trip for a magazine's worth, where Bonwick takes one object). A free that
 * finds the loaded one full is the mirror image: the previous one if it is
 * empty, else a full one to the depot for an empty one, or a new empty
 * magazine from the heap; if there is no memory for one, the full magazine
 * goes back to the slabs and is reused.
 *
 * The reap: at most once per interval (hm_slab_set_reap_interval), a slow
 * path gives back what the cache did not use during the last interval: the
 * full and empty magazines the depot never went below, and the empty slabs
 * likewise (Bonwick's working set). No thread is needed for it.
 */
#include "slab/slab.h"
#include <hugemem/malloc.h>

#include <string.h>
#include <time.h>

static _Atomic unsigned reap_interval_ms = SLAB_REAP_DEFAULT;

void hm_slab_set_reap_interval(unsigned ms)
{
	atomic_store_explicit(&reap_interval_ms, ms, memory_order_relaxed);
}

static struct hm__slab_mag *mag_at(uint64_t off)
{
	return hm__ptr(hm__shared(), off);
}

static uint64_t mag_off(const struct hm__slab_mag *m)
{
	return hm__off(hm__shared(), m);
}

static size_t mag_bytes(const struct cache *k)
{
	return sizeof(struct hm__slab_mag) + (size_t)k->mag_size * sizeof(void *);
}

/* A new empty magazine, or NULL. */
static struct hm__slab_mag *mag_new(const struct cache *k)
{
	unsigned order[HM_SEGLISTS_MAX];
	unsigned n = hm__heap_order(k->socket, 0, order);

	for (unsigned i = 0; i < n; i++) {
		struct hm__slab_mag *m = hm__heap_alloc(hm__heap_get(order[i]), mag_bytes(k), 0, 0,
							HM_HEAP_KIND(HM_BLOCK_POOL));
		if (m) {
			m->next = 0;
			return m;
		}
	}
	return NULL;
}

static void mag_free(struct hm__slab_mag *m)
{
	hm__heap_free(m, HM_BLOCK_POOL, NULL, NULL);
}

/* ---- the depot (each takes the depot lock) ---- */

static void note_min(struct depot *d)
{
	if (d->n_full < d->min_full)
		d->min_full = d->n_full;
	if (d->n_empty < d->min_empty)
		d->min_empty = d->n_empty;
}

static void push(uint64_t *head, uint32_t *count, struct hm__slab_mag *m)
{
	m->next = *head;
	*head = mag_off(m);
	(*count)++;
}

static struct hm__slab_mag *pop(uint64_t *head, uint32_t *count)
{
	struct hm__slab_mag *m = mag_at(*head);

	if (m) {
		*head = m->next;
		(*count)--;
	}
	return m;
}

/* Exchange: give back give (full or empty, NULL for none), take a magazine of the other kind. */
static struct hm__slab_mag *depot_swap(struct cache *k, struct hm__slab_mag *give, bool give_full)
{
	struct depot *d = &k->depot;
	struct hm__slab_mag *m;

	hm__mutex_lock_spin(&d->lock);
	if (give_full)
		m = pop(&d->empty, &d->n_empty);
	else
		m = pop(&d->full, &d->n_full);
	if (m && give) {
		if (give_full)
			push(&d->full, &d->n_full, give);
		else
			push(&d->empty, &d->n_empty, give);
	}
	note_min(d);
	hm__mutex_unlock(&d->lock);
	return m;
}

static void depot_put(struct cache *k, struct hm__slab_mag *m, bool full)
{
	struct depot *d = &k->depot;

	hm__mutex_lock_spin(&d->lock);
	if (full)
		push(&d->full, &d->n_full, m);
	else
		push(&d->empty, &d->n_empty, m);
	hm__mutex_unlock(&d->lock);
}

/* Take up to n_full full and n_empty empty magazines off the depot into chains. */
static void depot_take(struct cache *k, uint32_t n_full, uint32_t n_empty,
		       struct hm__slab_mag **full, struct hm__slab_mag **empty)
{
	struct depot *d = &k->depot;

	*full = *empty = NULL;
	hm__mutex_lock_spin(&d->lock);
	while (n_full-- > 0 && d->full) {
		struct hm__slab_mag *m = pop(&d->full, &d->n_full);
		m->next = mag_off(*full);
		*full = m;
	}
	while (n_empty-- > 0 && d->empty) {
		struct hm__slab_mag *m = pop(&d->empty, &d->n_empty);
		m->next = mag_off(*empty);
		*empty = m;
	}
	d->min_full = d->n_full;
	d->min_empty = d->n_empty;
	hm__mutex_unlock(&d->lock);
}

/* Free chains of magazines (full ones' objects to the slabs first). */
static void free_chains(struct cache *k, struct hm__slab_mag *full, struct hm__slab_mag *empty)
{
	for (struct hm__slab_mag *m = full, *next; m; m = next) {
		next = mag_at(m->next);
		hm__slabs_give(k, m->rounds, k->mag_size);
		mag_free(m);
	}
	for (struct hm__slab_mag *m = empty, *next; m; m = next) {
		next = mag_at(m->next);
		mag_free(m);
	}
}

void hm__slab_depot_drain(struct cache *k)
{
	struct hm__slab_mag *full, *empty;

	if (!k->mag_size)
		return;
	depot_take(k, UINT32_MAX, UINT32_MAX, &full, &empty);
	free_chains(k, full, empty);
}

/* ---- the reap ---- */

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/*
 * The magazines of threads of processes that died go back to their caches
 * when their slots are reclaimed: done here, at most every RECLAIM_NS in
 * this process, so that no object stays stranded in a dead thread's
 * magazines for longer than a reap interval.
 */
#define RECLAIM_NS UINT64_C(100000000)

static void reclaim_dead(uint64_t now)
{
	static _Atomic uint64_t last;
	uint64_t prev = atomic_load_explicit(&last, memory_order_relaxed);

	if (now - prev < RECLAIM_NS ||
	    !atomic_compare_exchange_strong_explicit(&last, &prev, now, memory_order_relaxed,
						     memory_order_relaxed))
		return;
	hm__threads_reclaim_dead();
}

void hm__slab_maybe_reap(struct cache *k)
{
	unsigned ms = atomic_load_explicit(&reap_interval_ms, memory_order_relaxed);
	uint64_t now, last;

	if (ms == 0)
		return;
	now = now_ns();
	last = atomic_load_explicit(&k->last_reap_ns, memory_order_relaxed);
	if (now - last < (uint64_t)ms * 1000000u)
		return;
	/* One reaper per interval: the one that moves the stamp. */
	if (!atomic_compare_exchange_strong(&k->last_reap_ns, &last, now))
		return;
	reclaim_dead(now);
	if (k->mag_size) {
		struct hm__slab_mag *full, *empty;
		struct depot *d = &k->depot;
		uint32_t nf, ne;

		hm__mutex_lock_spin(&d->lock);
		nf = d->min_full;
		ne = d->min_empty;
		hm__mutex_unlock(&d->lock);
		depot_take(k, nf, ne, &full, &empty);
		free_chains(k, full, empty);
	}
	hm__slabs_reap(k);
}

/* ---- per-thread magazines ---- */

/* The calling thread's magazines of k, made on first use; NULL without a slot or memory. */
static struct hm__slab_local *local_get(struct cache *k)
{
	int slot = hm__thread_slot();
	struct hm__slab_local *l;

	if (!k->mag_size || slot < 0 || (unsigned)slot >= k->pub.n_slots)
		return NULL;
	l = hm__load_acquire(&k->pub.local[slot]);
	if (l)
		return l;
	l = hm_zmalloc_socket("slab magazines", sizeof(*l), 0, k->socket);
	if (!l && k->socket != HM_SOCKET_ANY)
		l = hm_zmalloc("slab magazines", sizeof(*l), 0);
	if (!l) {
		if (!atomic_exchange(&k->warned_local, true))
			hm__warn("slab %s: no memory for the magazines of thread slot %d: it goes "
				 "without (said once per cache)",
				 k->pub.name, slot);
		return NULL;
	}
	/* Release: pairs with the acquires of the fast path and of the exit flush. */
	hm__store_release(&k->pub.local[slot], l);
	return l;
}

/* Load magazine m with r rounds (the fast path reads mag_size as the loaded one's room). */
static void load(struct hm__slab_local *l, struct hm__slab_mag *m, uint32_t r, uint32_t size)
{
	l->loaded = m;
	hm__store_relaxed(&l->rounds, r);
	l->mag_size = m ? size : 0;
}

static void swap_previous(struct hm__slab_local *l, uint32_t size)
{
	struct hm__slab_mag *m = l->previous;
	uint32_t r = l->prounds;

	l->previous = l->loaded;
	hm__store_relaxed(&l->prounds, hm__load_relaxed(&l->rounds));
	load(l, m, r, size);
}

/* Refill the loaded magazine (it is empty); false if there are no objects. */
static bool refill(struct cache *k, struct hm__slab_local *l)
{
	const uint32_t M = k->mag_size;
	struct hm__slab_mag *m;
	unsigned got;

	if (l->previous && l->prounds == M) {
		swap_previous(l, M);
		return true;
	}
	/* Give the empty previous magazine to the depot for a full one. */
	m = depot_swap(k, l->previous, false);
	if (m) {
		/* The depot has the previous one now; the empty loaded one takes its place. */
		l->previous = l->loaded;
		hm__store_relaxed(&l->prounds, 0);
		load(l, m, M, M);
		return true;
	}
	/* None in the depot: fill the loaded (or a new) magazine from the slabs. */
	if (!l->loaded) {
		m = depot_swap(k, NULL, true); /* an empty one */
		if (!m)
			m = mag_new(k);
		if (!m)
			return false;
		load(l, m, 0, M);
	}
	got = hm__slabs_take(k, l->loaded->rounds, M);
	hm__store_relaxed(&l->rounds, got);
	return got != 0;
}

/* Make room in the loaded magazine (it is full); false if there is none. */
static bool make_room(struct cache *k, struct hm__slab_local *l)
{
	const uint32_t M = k->mag_size;
	struct hm__slab_mag *m;

	if (l->loaded == NULL) {
		m = depot_swap(k, NULL, true);
		if (!m)
			m = mag_new(k);
		if (!m)
			return false;
		load(l, m, 0, M);
		return true;
	}
	if (l->previous && l->prounds == 0) {
		swap_previous(l, M);
		return true;
	}
	/* Give the full previous magazine to the depot for an empty one. */
	if (l->previous) {
		m = depot_swap(k, l->previous, true);
		if (!m && (m = mag_new(k)) != NULL)
			depot_put(k, l->previous, true);
		if (m) {
			l->previous = l->loaded;
			hm__store_relaxed(&l->prounds, M);
			load(l, m, 0, M);
			return true;
		}
	} else {
		m = depot_swap(k, NULL, true);
		if (!m)
			m = mag_new(k);
		if (m) {
			l->previous = l->loaded;
			hm__store_relaxed(&l->prounds, M);
			load(l, m, 0, M);
			return true;
		}
	}
	/* No memory for a magazine: the loaded one's objects go back to the slabs. */
	hm__slabs_give(k, l->loaded->rounds, M);
	hm__store_relaxed(&l->rounds, 0);
	return true;
}

void hm__slab_flush_local(void *owner, void *local)
{
	struct cache *k = owner;
	struct hm__slab_local *l = local;
	struct hm__slab_mag *mags[2] = {l->loaded, l->previous};
	uint32_t rounds[2] = {hm__load_relaxed(&l->rounds), l->prounds};

	for (unsigned i = 0; i < 2; i++) {
		if (!mags[i])
			continue;
		if (rounds[i] == k->mag_size) {
			depot_put(k, mags[i], true);
			continue;
		}
		if (rounds[i])
			hm__slabs_give(k, mags[i]->rounds, rounds[i]);
		depot_put(k, mags[i], false);
	}
	l->previous = NULL;
	hm__store_relaxed(&l->prounds, 0);
	load(l, NULL, 0, 0);
}

/* ---- the slow paths ---- */

/* The objects refused by a check: logged by the caller, counted here. */
static void refuse(struct cache *k, const void *obj, const char *why)
{
	atomic_fetch_add(&k->errors, 1);
	hm__err("slab %s: free of %p refused: %s", k->pub.name, obj, why);
}

/* Check a free: the object must be one of k's (and in debug caches, live). */
static bool free_ok(struct cache *k, void *obj)
{
	if (!hm__slab_mine(&k->pub, obj)) {
		unsigned e = hm__slab_map_get(obj);

		refuse(k, obj, e ? "it is another cache's object" : "it is not a slab object");
		return false;
	}
	if (k->debug) {
		if (hm__slab_index(k, slab_of(k, obj), obj) < 0) {
			refuse(k, obj, "it is not the start of an object");
			return false;
		}
		return hm__slab_debug_free(k, obj);
	}
	return true;
}

/*
 * One object out, through the thread's magazines if it has them (l, made on
 * first use), else from the slabs; NULL if there is none. Counts only the
 * magazine misses: the callers count what they hand out.
 */
static void *take_one(struct cache *k, struct hm__slab_local *l)
{
	void *obj;

	if (l) {
		uint32_t r = hm__load_relaxed(&l->rounds);

		if (r == 0) {
			hm__bump(&l->counts.alloc_misses, 1);
			if (!refill(k, l))
				return NULL;
			r = hm__load_relaxed(&l->rounds);
		}
		obj = l->loaded->rounds[r - 1];
		hm__store_relaxed(&l->rounds, r - 1);
	} else if (hm__slabs_take(k, &obj, 1) != 1) {
		return NULL;
	}
	if (k->debug)
		hm__slab_debug_alloc(k, obj);
	return obj;
}

/* One object (checked already) back, through the magazines if there are any. */
static void give_one(struct cache *k, struct hm__slab_local *l, void *obj)
{
	if (l) {
		uint32_t r = hm__load_relaxed(&l->rounds);

		if (r >= l->mag_size) {
			hm__bump(&l->counts.free_misses, 1);
			if (!make_room(k, l)) {
				hm__slabs_give(k, &obj, 1);
				return;
			}
			r = hm__load_relaxed(&l->rounds);
		}
		l->loaded->rounds[r] = obj;
		hm__store_relaxed(&l->rounds, r + 1);
	} else {
		hm__slabs_give(k, &obj, 1);
	}
}

static void count_allocs(struct cache *k, struct hm__slab_local *l, unsigned n)
{
	if (l)
		hm__bump(&l->counts.allocs, n);
	else
		atomic_fetch_add(&k->allocs, n);
}

static void count_frees(struct cache *k, struct hm__slab_local *l, unsigned n)
{
	if (l)
		hm__bump(&l->counts.frees, n);
	else
		atomic_fetch_add(&k->frees, n);
}

/* The cache, checked, and the caller's magazines; NULL with errno if c is not a cache. */
static struct cache *enter(struct hm_slab_cache *c, struct hm__slab_local **l)
{
	struct cache *k = cache_of(c);

	if (!hm__shared())
		return hm__null_errno(ENXIO);
	if (!hm__slab_valid(c))
		return hm__null_errno(EINVAL);
	hm__slab_maybe_reap(k);
	if (!*l)
		*l = local_get(k);
	return k;
}

void *hm__slab_alloc_slow(struct hm_slab_cache *c, struct hm__slab_local *l)
{
	struct cache *k = enter(c, &l);
	void *obj;

	if (!k)
		return NULL;
	obj = take_one(k, l);
	if (!obj)
		return hm__null_errno(ENOMEM);
	count_allocs(k, l, 1);
	return obj;
}

void hm__slab_free_slow(struct hm_slab_cache *c, struct hm__slab_local *l, void *obj)
{
	struct cache *k;

	if (!obj)
		return;
	if (!hm__shared() || !hm__slab_valid(c)) {
		hm__err("slab: free of %p to %p refused: not a cache", obj, (void *)c);
		return;
	}
	k = cache_of(c);
	if (!free_ok(k, obj))
		return;
	k = enter(c, &l);
	give_one(k, l, obj);
	count_frees(k, l, 1);
}

unsigned hm__slab_alloc_bulk_slow(struct hm_slab_cache *c, struct hm__slab_local *l, void **objs,
				  unsigned n)
{
	struct cache *k = enter(c, &l);

	if (!k)
		return 0;
	for (unsigned i = 0; i < n; i++) {
		objs[i] = take_one(k, l);
		if (!objs[i]) {
			/* All or nothing: what was taken goes back, and nothing is counted. */
			for (unsigned j = i; j-- > 0;) {
				if (k->debug)
					hm__slab_debug_free(k, objs[j]);
				give_one(k, l, objs[j]);
			}
			errno = ENOMEM;
			return 0;
		}
	}
	count_allocs(k, l, n);
	return n;
}

void hm__slab_free_bulk_slow(struct hm_slab_cache *c, struct hm__slab_local *l, void *const *objs,
			     unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		hm__slab_free_slow(c, l, objs[i]);
}

/* ---- counts ---- */

uint64_t hm__slab_in_magazines(const struct cache *k)
{
	uint64_t n = 0;

	if (!k->mag_size)
		return 0;
	for (unsigned s = 0; s < k->pub.n_slots; s++) {
		const struct hm__slab_local *l = hm__load_acquire(&k->pub.local[s]);
		if (l)
			n += hm__load_relaxed(&l->rounds) + hm__load_relaxed(&l->prounds);
	}
	return n + (uint64_t)hm__load_relaxed(&k->depot.n_full) * k->mag_size;
}

void hm__slab_sum_counts(const struct cache *k, struct hm_slab_stats *st)
{
	uint64_t allocs = 0, frees = 0, amiss = 0, fmiss = 0;

	for (unsigned s = 0; s < k->pub.n_slots; s++) {
		const struct hm__slab_local *l = hm__load_acquire(&k->pub.local[s]);
		if (!l)
			continue;
		allocs += hm__load_relaxed(&l->counts.allocs);
		frees += hm__load_relaxed(&l->counts.frees);
		amiss += hm__load_relaxed(&l->counts.alloc_misses);
		fmiss += hm__load_relaxed(&l->counts.free_misses);
	}
	st->alloc_hits = allocs - amiss;
	st->free_hits = frees - fmiss;
	st->alloc_misses = amiss + atomic_load_explicit(&k->allocs, memory_order_relaxed);
	st->free_misses = fmiss + atomic_load_explicit(&k->frees, memory_order_relaxed);
	st->allocs = allocs + atomic_load_explicit(&k->allocs, memory_order_relaxed);
	st->frees = frees + atomic_load_explicit(&k->frees, memory_order_relaxed);
}
