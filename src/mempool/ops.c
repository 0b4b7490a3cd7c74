/* SPDX-License-Identifier: MIT */
/*
 * ops.c - the slow paths of mempool get and put (the fast paths, a hit in
 * the calling thread's cache, are inline in hugemem/mempool.h), the two
 * backends, the per-object checks of checked pools, and the caches.
 *
 * A get that its cache cannot serve refills the cache from the backend with
 * size + n - len objects in one bulk move and takes n of them; if the
 * backend has not that many, it tries to take n straight from the backend,
 * and failing that what the cache holds plus the rest from the backend (all
 * or nothing: -ENOENT only when the cache and the backend together have too
 * few). A put that would pass the cache's flush threshold first gives the
 * whole cache to the backend, then keeps the n objects (DPDK's policy).
 * Requests larger than the cache go straight to the backend.
 *
 * Checked pools (and every pool in a debug build) take this path for every
 * get and put: each object put must be one of the pool's (by address, before
 * its header is read), and its header's cookie must say it is out; it is
 * turned "in" with a compare-and-swap, so of two puts of one object one is
 * refused. Refused objects are logged and counted and never reach the pool.
 */
#include "mempool/pool.h"

#include <string.h>
#include <time.h>

#define BATCH 64 /* objects checked at a time */

/* ---- backends ---- */

unsigned hm__pool_backend_put(struct pool *p, void *const *objs, unsigned n)
{
	unsigned done;

	if (n == 0)
		return 0;
	if (p->backend == BACKEND_RING) {
		done = hm_ring_enqueue_bulk(p->pub.ring, objs, n, NULL);
	} else {
		struct pool_stack *s = p->stack;

		hm__mutex_lock(&s->lock);
		done = s->len + n <= s->cap ? n : 0;
		if (done) {
			memcpy(&s->objs[s->len], objs, n * sizeof(void *));
			s->len += n;
		}
		hm__mutex_unlock(&s->lock);
	}
	if (done != n) {
		/* More objects than the pool has: some were put twice, or are not its. */
		atomic_fetch_add(&p->overflows, n);
		hm__err("mempool %s: the backend has no room for %u objects: objects were put "
			"twice or are not the pool's (they are dropped)",
			p->pub.name, n);
	}
	return done;
}

unsigned hm__pool_backend_get(struct pool *p, void **objs, unsigned n)
{
	unsigned done;

	if (n == 0)
		return 0;
	if (p->backend == BACKEND_RING)
		return hm_ring_dequeue_bulk(p->pub.ring, objs, n, NULL);
	struct pool_stack *s = p->stack;

	hm__mutex_lock(&s->lock);
	done = n <= s->len ? n : 0;
	if (done) {
		s->len -= n;
		/* The last put, first out. */
		for (unsigned i = 0; i < n; i++)
			objs[i] = s->objs[s->len + n - 1 - i];
	}
	hm__mutex_unlock(&s->lock);
	return done;
}

unsigned hm__pool_backend_count(const struct pool *p)
{
	if (p->backend == BACKEND_RING)
		return hm_ring_count(p->pub.ring);
	/* Relaxed: a snapshot. */
	return atomic_load_explicit((_Atomic uint32_t *)&p->stack->len, memory_order_relaxed);
}

/* ---- caches ---- */

struct hm_mempool_cache *hm__pool_cache_new(unsigned size, int socket)
{
	/* Room for a refill of size + n (n <= size) objects, and for the flush threshold. */
	unsigned capacity = size ? 2 * size : 0;
	struct hm_mempool_cache *c;

	c = hm_zmalloc_socket("mempool cache",
			      sizeof(*c) + (size_t)(capacity ? capacity : 1) * sizeof(void *), 0,
			      socket);
	if (!c && socket != HM_SOCKET_ANY)
		c = hm_zmalloc("mempool cache",
			       sizeof(*c) + (size_t)(capacity ? capacity : 1) * sizeof(void *), 0);
	if (!c)
		return NULL;
	c->size = size;
	c->flushthresh = size * 3 / 2;
	c->capacity = capacity;
	return c;
}

/* The calling thread's cache of p, made on its first use; NULL without a slot or memory. */
static struct hm_mempool_cache *local_cache(struct pool *p)
{
	int slot = hm__thread_slot();
	struct hm_mempool_cache *c;

	if (slot < 0 || (unsigned)slot >= p->pub.n_slots)
		return NULL;
	c = hm__load_acquire(&p->pub.local[slot]);
	if (c)
		return c;
	c = hm__pool_cache_new(p->pub.cache_size, p->socket);
	if (!c) {
		if (!atomic_exchange(&p->warned_cache, true))
			hm__warn("mempool %s: no memory for the cache of thread slot %d: it goes "
				 "without (said once per pool)",
				 p->pub.name, slot);
		return NULL;
	}
	/* Release: pairs with the acquires of the fast path, the exit flush and the
	 * counts: whoever sees the pointer sees the cache made. */
	hm__store_release(&p->pub.local[slot], c);
	return c;
}

void hm__pool_flush_cache(void *owner, void *cache)
{
	struct pool *p = owner;
	struct hm_mempool_cache *c = cache;
	uint32_t len = hm__load_relaxed(&c->len);

	if (len) {
		hm__pool_backend_put(p, c->objs, len);
		hm__store_relaxed(&c->len, 0);
	}
}

struct hm_mempool_cache *hm_mempool_cache_create(unsigned size, int socket)
{
	if (size > HM_MEMPOOL_CACHE_MAX || (socket != HM_SOCKET_ANY && !hm_socket_valid(socket)))
		return hm__null_errno(EINVAL);
	if (!hm__shared())
		return hm__null_errno(ENXIO);
	return hm__pool_cache_new(size, socket);
}

void hm_mempool_cache_flush(struct hm_mempool_cache *cache, struct hm_mempool *mp)
{
	if (!cache || !hm__pool_valid(mp))
		return;
	hm__pool_flush_cache(pool_of(mp), cache);
}

void hm_mempool_cache_free(struct hm_mempool_cache *cache)
{
	hm_free(cache);
}

/* ---- checks (checked pools) ---- */

bool hm__pool_owns(const struct pool *p, const void *obj)
{
	const char *o = obj;

	for (unsigned i = 0; i < p->n_chunks; i++) {
		const struct pool_chunk *c = &p->chunks[i];
		size_t off;

		if (o < c->objs)
			continue;
		off = (size_t)(o - c->objs);
		if (off / p->stride < c->count && off % p->stride == 0)
			return true;
	}
	return false;
}

/* Mark n objects handed out (checked pools); they were all in. */
static void mark_out(struct pool *p, void **objs, unsigned n)
{
	int slot = hm__thread_slot();

	for (unsigned i = 0; i < n; i++) {
		struct hm_mempool_objhdr *h = hdr_of(objs[i]);

		/* Open to the checkers again. Its contents are as the pool kept them (what
		 * obj_init wrote, say): defined, not undefined as new memory would be. */
		if (p->track) {
			hm_track_undefined(objs[i], p->pub.elt_size);
			hm_track_defined(objs[i], p->pub.elt_size);
		}
		if (p->checked) {
			atomic_store_explicit((_Atomic uint64_t *)&h->cookie, POOL_COOKIE_OUT,
					      memory_order_relaxed);
			h->owner = slot >= 0 ? (uint32_t)slot + 1 : 0;
		}
	}
}

/*
 * Check objs[0..n) for a put to p, into ok[] (at most n); the refused are
 * logged and counted. Returns how many passed.
 */
static unsigned admit(struct pool *p, void *const *objs, unsigned n, void **ok,
		      struct hm_mempool_cache *c)
{
	unsigned k = 0;

	for (unsigned i = 0; i < n; i++) {
		char *obj = objs[i];
		const char *why = NULL;

		if (p->checked) {
			uint64_t expect = POOL_COOKIE_OUT;

			if (!obj)
				why = "NULL";
			else if (!hm__pool_owns(p, obj))
				why = "not one of its objects (another pool's, or none)";
			else if (!atomic_compare_exchange_strong_explicit(
					 (_Atomic uint64_t *)&hdr_of(obj)->cookie, &expect,
					 POOL_COOKIE_IN, memory_order_relaxed,
					 memory_order_relaxed))
				why = expect == POOL_COOKIE_IN
					      ? "already in the pool (a double put)"
					      : "its header is damaged";
			if (!why && p->trailer_size) {
				uint64_t e;

				memcpy(&e, obj + p->pub.elt_size, sizeof(e));
				if (e != POOL_END_COOKIE) {
					/* Reported; the object is taken back all the same. */
					hm__err("mempool %s: put of %p: the bytes after its %u are "
						"overwritten (an overrun)",
						p->pub.name, (void *)obj, p->pub.elt_size);
					memcpy(obj + p->pub.elt_size, &(uint64_t){POOL_END_COOKIE},
					       sizeof(uint64_t));
				}
			}
		}
		if (why) {
			hm__err("mempool %s: put of %p refused: %s", p->pub.name, (void *)obj, why);
			if (c)
				hm__bump(&c->counts.refused_puts, 1);
			else
				atomic_fetch_add(&p->refused, 1);
			continue;
		}
		if (p->track)
			hm_track_noaccess(obj, p->pub.elt_size);
		ok[k++] = obj;
	}
	return k;
}

/* ---- the slow paths ---- */

/* A get through cache c (may be NULL): 0 and n objects, or -ENOENT and none. */
static int get_objs(struct pool *p, void **objs, unsigned n, struct hm_mempool_cache *c)
{
	uint32_t len;

	if (c && c->size && n <= c->size) {
		len = hm__load_relaxed(&c->len);
		if (n > len) {
			unsigned want = c->size + n - len;

			if (hm__pool_backend_get(p, &c->objs[len], want) == want)
				len += want;
		}
		if (n <= len) {
			/* As the inline path takes them: the n put last, in their order. */
			len -= n;
			hm__copy_ptrs(objs, &c->objs[len], n);
			hm__store_relaxed(&c->len, len);
			return 0;
		}
	}
	if (hm__pool_backend_get(p, objs, n) == n)
		return 0;
	/* The backend alone has too few: the cache's objects make up the rest (all or
	 * nothing counts both). */
	len = c ? hm__load_relaxed(&c->len) : 0;
	if (len) {
		unsigned from_cache = len < n ? len : n;

		if (hm__pool_backend_get(p, objs, n - from_cache) == n - from_cache) {
			len -= from_cache;
			hm__copy_ptrs(objs + n - from_cache, &c->objs[len], from_cache);
			hm__store_relaxed(&c->len, len);
			return 0;
		}
	}
	return -ENOENT;
}

/*
 * Give back what the caches of dead processes' threads hold, at most every
 * RECLAIM_NS in this process: a pool found empty may have its objects
 * stranded there, and an empty pool is polled in a loop by a busy data plane.
 * Returns whether it looked (and so whether a retry may find something).
 */
#define RECLAIM_NS (100u * 1000 * 1000)
static bool reclaim_now_and_then(void)
{
	static _Atomic uint64_t last;
	struct timespec t;
	uint64_t now, prev;

	clock_gettime(CLOCK_MONOTONIC, &t);
	now = (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
	prev = atomic_load_explicit(&last, memory_order_relaxed);
	if (now - prev < RECLAIM_NS ||
	    !atomic_compare_exchange_strong_explicit(&last, &prev, now, memory_order_relaxed,
						     memory_order_relaxed))
		return false;
	return hm__threads_reclaim_dead() > 0;
}

int hm__mempool_get_slow(struct hm_mempool *mp, void **objs, unsigned n, struct hm_mempool_cache *c,
			 bool own)
{
	struct pool *p = pool_of(mp);
	bool hit;
	int rc;

	if (n == 0)
		return 0;
	if (own && !c)
		c = local_cache(p);
	hit = c && n <= hm__load_relaxed(&c->len);
	rc = get_objs(p, objs, n, c);
	if (rc != 0 && reclaim_now_and_then())
		rc = get_objs(p, objs, n, c);
	if (c) {
		if (rc == 0) {
			hm__bump(&c->counts.get_calls, 1);
			hm__bump(&c->counts.get_objs, n);
			if (!hit)
				hm__bump(&c->counts.cache_misses, 1);
		} else {
			hm__bump(&c->counts.get_fail_calls, 1);
			hm__bump(&c->counts.get_fail_objs, n);
		}
	} else {
		atomic_fetch_add(rc == 0 ? &p->get_calls : &p->get_fail_calls, 1);
		atomic_fetch_add(rc == 0 ? &p->get_objs : &p->get_fail_objs, n);
	}
	if (rc == 0 && (p->checked || p->track))
		mark_out(p, objs, n);
	return rc;
}

/* A put of objects that passed the checks, through cache c (may be NULL). */
static void put_objs(struct pool *p, void *const *objs, unsigned n, struct hm_mempool_cache *c)
{
	if (c && c->size && n <= c->size) {
		uint32_t len = hm__load_relaxed(&c->len);

		if (len + n > c->flushthresh) {
			hm__pool_backend_put(p, c->objs, len);
			len = 0;
		}
		hm__copy_ptrs(&c->objs[len], objs, n);
		hm__store_relaxed(&c->len, len + n);
		return;
	}
	hm__pool_backend_put(p, objs, n);
}

void hm__mempool_put_slow(struct hm_mempool *mp, void *const *objs, unsigned n,
			  struct hm_mempool_cache *c, bool own)
{
	struct pool *p = pool_of(mp);

	unsigned taken = 0;

	if (n == 0)
		return;
	if (own && !c)
		c = local_cache(p);
	if (!p->checked && !p->track) {
		put_objs(p, objs, n, c);
		taken = n;
	} else {
		for (unsigned done = 0; done < n;) {
			void *ok[BATCH];
			unsigned k = n - done < BATCH ? n - done : BATCH;
			unsigned passed = admit(p, objs + done, k, ok, c);

			put_objs(p, ok, passed, c);
			taken += passed;
			done += k;
		}
	}
	/* Refused objects are counted as refused, not as put. */
	if (!taken)
		return;
	if (c) {
		hm__bump(&c->counts.put_calls, 1);
		hm__bump(&c->counts.put_objs, taken);
	} else {
		atomic_fetch_add(&p->put_calls, 1);
		atomic_fetch_add(&p->put_objs, taken);
	}
}
