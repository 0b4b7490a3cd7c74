/* SPDX-License-Identifier: MIT */
/*
 * info.c - what a slab cache can tell: its statistics, the slabinfo table,
 * the audit of its slabs and depot, shrinking, and the owner of an object
 * in debug caches.
 */
#include "slab/slab.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

int hm_slab_get_stats(const struct hm_slab_cache *c, struct hm_slab_stats *st)
{
	struct cache *k = (struct cache *)(uintptr_t)c;
	uint64_t mags;

	if (!st || !hm__slab_valid(c))
		return -EINVAL;
	memset(st, 0, sizeof(*st));
	st->size = sizeof(*st);
	st->version = 1;
	memcpy(st->name, c->name, sizeof(st->name));
	st->obj_size = k->size;
	st->stride = k->stride;
	st->objs_per_slab = k->per_slab;
	st->pages_per_slab = k->slab_bytes / SLAB_PAGE;
	st->colours = k->colours;
	st->magazine_size = k->mag_size;
	hm__slab_sum_counts(k, st);
	hm__mutex_lock(&k->depot.lock);
	st->depot_full = k->depot.n_full;
	st->depot_empty = k->depot.n_empty;
	hm__mutex_unlock(&k->depot.lock);
	mags = hm__slab_in_magazines(k);
	hm__mutex_lock(&k->lock);
	st->total_slabs = k->n_slabs;
	st->active_slabs = k->n_slabs - k->n_on[LIST_EMPTY];
	st->total_objs = k->n_slabs * k->per_slab;
	st->active_objs = k->out > mags ? k->out - mags : 0;
	st->high_mark = k->high_mark;
	st->slabs_grown = k->grown;
	st->slabs_reaped = k->reaped;
	hm__mutex_unlock(&k->lock);
	st->errors = atomic_load_explicit(&k->errors, memory_order_relaxed);
	return 0;
}

size_t hm_slab_shrink(struct hm_slab_cache *c)
{
	struct cache *k = cache_of(c);
	uint64_t before;

	if (!hm__slab_valid(c))
		return 0;
	/* Slabs that a drained magazine empties are released on the way (beyond the
	 * reserve), so the bytes are counted from the cache's count of releases. */
	hm__mutex_lock(&k->lock);
	before = k->reaped;
	hm__mutex_unlock(&k->lock);
	/* The calling thread's magazines first: their objects may be all that keeps a slab. */
	if (k->mag_size) {
		int slot = hm__thread_slot();
		struct hm__slab_local *l = slot >= 0 && (unsigned)slot < c->n_slots
						   ? hm__load_acquire(&c->local[slot])
						   : NULL;
		if (l)
			hm__slab_flush_local(k, l);
	}
	hm__slab_depot_drain(k);
	hm__slabs_release_empty(k);
	hm__mutex_lock(&k->lock);
	before = k->reaped - before;
	hm__mutex_unlock(&k->lock);
	return (size_t)before * k->slab_bytes;
}

int hm_slab_obj_owner(struct hm_slab_cache *c, const void *obj)
{
	struct cache *k = cache_of(c);

	if (!hm__slab_valid(c) || !obj || !hm__slab_mine(c, obj) ||
	    hm__slab_index(k, slab_of(k, obj), obj) < 0)
		return -EINVAL;
	if (!k->debug)
		return -ENOTSUP;
	return hm__slab_debug_owner(k, obj);
}

/* ---- slabinfo ---- */

static void info_row(struct hm_slab_cache *c, void *arg)
{
	FILE *f = arg;
	struct hm_slab_stats st;

	if (hm_slab_get_stats(c, &st) != 0)
		return;
	fprintf(f,
		"%-24s %10" PRIu64 " %10" PRIu64 " %8" PRIu64 " %6u %6u %5u : slabdata %8" PRIu64
		" %8" PRIu64 " : stats %10" PRIu64 " %10" PRIu64 " %7" PRIu64 " %7" PRIu64
		" : magazines %10" PRIu64 " %10" PRIu64 "\n",
		st.name, st.active_objs, st.total_objs, st.obj_size, st.objs_per_slab,
		st.pages_per_slab, st.magazine_size, st.active_slabs, st.total_slabs, st.allocs,
		st.high_mark, st.slabs_grown, st.slabs_reaped, st.alloc_hits + st.free_hits,
		st.alloc_misses + st.free_misses);
}

void hm_slabinfo(FILE *f)
{
	if (!f)
		return;
	fprintf(f, "slabinfo - version: 2.1 (hugemem)\n");
	fprintf(f,
		"# %-22s %10s %10s %8s %6s %6s %5s : slabdata %8s %8s : stats %10s %10s %7s %7s "
		": magazines %10s %10s\n",
		"name", "<active_objs>", "<num_objs>", "<objsize>", "<objperslab>",
		"<pagesperslab>", "<magsize>", "<active_slabs>", "<num_slabs>", "<allocs>",
		"<highobj>", "<grown>", "<reaped>", "<hits>", "<misses>");
	hm_slab_walk(info_row, f);
}

/* ---- audit ---- */

struct audit {
	struct cache *k;
	int bad;
	uint64_t out;
	unsigned char *seen; /* per object of the slab being checked */
};

static void bad(struct audit *a, const char *what, const void *where)
{
	a->bad++;
	hm__err("slab %s: audit: %s (%p)", a->k->pub.name, what, where);
}

static void audit_slab(struct audit *a, struct slab *s, unsigned list)
{
	struct cache *k = a->k;

	if (s->cache != &k->pub)
		return bad(a, "a slab on the cache's list belongs to another cache", s);
	if (s->list != list)
		bad(a, "a slab's list field disagrees with the list it is on", s);
	if (s->inuse + s->nfree != k->per_slab)
		bad(a, "a slab's objects out and free do not add up", s);
	if (hm__slab_map_get(s) != k->pub.id ||
	    hm__slab_map_get((char *)s + k->slab_bytes - 1) != k->pub.id)
		bad(a, "a slab's pages are not in the page map", s);
	memset(a->seen, 0, k->per_slab);
	for (unsigned i = 0; i < s->nfree && i < k->per_slab; i++) {
		unsigned idx = s->bufctl[i];
		if (idx >= k->per_slab || a->seen[idx]++) {
			bad(a, "a slab's free indices are out of range or repeated", s);
			break;
		}
		if (k->debug && hm__slab_debug_check_free(k, s->objs + (size_t)idx * k->stride +
								     k->obj_off) != 0)
			a->bad++;
	}
	a->out += s->inuse;
}

/* The depot: its lists against their counts, and every round one of the cache's free objects. */
static void audit_depot(struct audit *a)
{
	struct cache *k = a->k;
	struct depot *d = &k->depot;
	struct hm_shared *sh = hm__shared();
	uint64_t n_full = 0, n_empty = 0;

	if (!k->mag_size)
		return;
	hm__mutex_lock(&d->lock);
	for (uint64_t o = d->full; o && n_full <= d->n_full; n_full++) {
		struct hm__slab_mag *m = hm__ptr(sh, o);
		for (unsigned i = 0; i < k->mag_size; i++) {
			if (!hm__slab_mine(&k->pub, m->rounds[i]))
				bad(a, "a magazine of the depot holds a foreign pointer",
				    m->rounds[i]);
			else if (k->debug && hm__slab_debug_check_free(k, m->rounds[i]) != 0)
				a->bad++;
		}
		o = m->next;
	}
	for (uint64_t o = d->empty; o && n_empty <= d->n_empty; n_empty++)
		o = ((struct hm__slab_mag *)hm__ptr(sh, o))->next;
	if (n_full != d->n_full || n_empty != d->n_empty)
		bad(a, "the depot's magazine counts are wrong", d);
	hm__mutex_unlock(&d->lock);
}

int hm_slab_audit(struct hm_slab_cache *c)
{
	struct cache *k = cache_of(c);
	struct hm_shared *sh = hm__shared();
	struct audit a = {.k = k};
	uint64_t slabs = 0;

	if (!hm__slab_valid(c))
		return -EINVAL;
	a.seen = malloc(k->per_slab);
	if (!a.seen)
		return -ENOMEM;
	hm__mutex_lock(&k->lock);
	for (unsigned list = 0; list < LISTS; list++) {
		uint64_t n = 0;
		for (uint64_t o = k->head[list]; o;
		     o = ((struct slab *)hm__ptr(sh, o))->next, n++) {
			struct slab *s = hm__ptr(sh, o);
			if (n > k->n_slabs) {
				bad(&a, "a slab list loops", s);
				break;
			}
			audit_slab(&a, s, list);
			if (hm__slab_list_for(k, s) != list)
				bad(&a, "a slab is on the wrong list for its count", s);
		}
		if (n != k->n_on[list])
			bad(&a, "a slab list's count is wrong", k);
		slabs += n;
	}
	if (slabs != k->n_slabs)
		bad(&a, "the cache's slab count is wrong", k);
	if (a.out != k->out)
		bad(&a, "the objects out of the slabs do not add up", k);
	hm__mutex_unlock(&k->lock);
	audit_depot(&a);
	free(a.seen);
	return a.bad ? -EFAULT : 0;
}
