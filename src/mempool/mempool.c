/* SPDX-License-Identifier: MIT */
/*
 * mempool.c - creating, filling, finding, walking, checking and destroying
 * mempools (see pool.h for their layout; ops.c has the get and put paths).
 *
 * Memory: the pool itself is a zone (so it is registered by name, found
 * from every process, listed by walks); its objects lie in chunks: blocks of
 * the heap (kind HM_BLOCK_POOL, so hm_free refuses them) that
 * hm_mempool_populate_default takes on the pool's node, as few as the heap
 * allows (a chunk that cannot be had whole is asked for in halves), or
 * memory the caller hands to hm_mempool_populate. With HM_MEMPOOL_F_IOVA_CONTIG
 * on an instance whose IOVAs are physical, every chunk is IOVA-contiguous,
 * so no object spans a break. Create and destroy of one name are exclusive
 * through the zone table's lock; a pool is not used while it is created,
 * populated or destroyed.
 */
#include "mempool/pool.h"
#include "heap/heap.h"
#include <hugemem/memzone.h>

#include <inttypes.h>
#include <string.h>

#define ZONE_PREFIX     "MP_"
#define ZONE_PREFIX_LEN 3
#define KNOWN_FLAGS                                                                \
	(HM_MEMPOOL_F_SP_PUT | HM_MEMPOOL_F_SC_GET | HM_MEMPOOL_F_NO_CACHE_ALIGN | \
	 HM_MEMPOOL_F_IOVA_CONTIG | HM_MEMPOOL_F_NO_IOVA | HM_MEMPOOL_F_STACK |    \
	 HM_MEMPOOL_F_CHECKED)

_Static_assert(sizeof(struct hm_mempool_objhdr) == 32, "object header size");
_Static_assert(HM_MEMPOOL_NAME_MAX + ZONE_PREFIX_LEN == HM_NAME_MAX, "a pool's zone name fits");

/* The zone name of pool name into buf[HM_NAME_MAX]; 0, -EINVAL or -ENAMETOOLONG. */
static int zone_name(char *buf, const char *name)
{
	size_t len;

	if (!name || !name[0])
		return -EINVAL;
	len = strnlen(name, HM_MEMPOOL_NAME_MAX);
	if (len >= HM_MEMPOOL_NAME_MAX)
		return -ENAMETOOLONG;
	memcpy(buf, ZONE_PREFIX, ZONE_PREFIX_LEN);
	memcpy(buf + ZONE_PREFIX_LEN, name, len + 1);
	return 0;
}

bool hm__pool_valid(const struct hm_mempool *mp)
{
	const struct hm_shared *sh = hm__shared();
	const char *end = (const char *)mp + sizeof(struct pool) - 1;
	int i = sh && mp ? hm__seglist_of(sh, mp) : -1;

	if (i < 0 || hm__seglist_of(sh, end) != i || !hm__seglist_committed(sh, (unsigned)i, mp) ||
	    !hm__seglist_committed(sh, (unsigned)i, end))
		return false;
	return hm__load_acquire(&mp->magic) == HM__MEMPOOL_MAGIC;
}

/* The bytes of the backend for n objects. */
static size_t backend_size(unsigned backend, unsigned n, unsigned ring_flags)
{
	if (backend == BACKEND_STACK)
		return sizeof(struct pool_stack) + (size_t)n * sizeof(void *);
	return hm_ring_memsize(sizeof(void *), n, HM_RING_EXACT_SZ | ring_flags);
}

static unsigned ring_flags_of(unsigned flags)
{
	return (flags & HM_MEMPOOL_F_SP_PUT ? HM_RING_SP_ENQ : 0) |
	       (flags & HM_MEMPOOL_F_SC_GET ? HM_RING_SC_DEQ : 0);
}

/* Make the backend at p's backend offset; false if it cannot be. */
static bool backend_init(struct pool *p, char *at)
{
	if (p->backend == BACKEND_STACK) {
		p->stack = (struct pool_stack *)at;
		p->pub.ring = NULL;
		if (hm__mutex_init(&p->stack->lock) != 0)
			return false;
		p->stack->len = 0;
		p->stack->cap = p->pub.size;
		return true;
	}
	p->stack = NULL;
	p->pub.ring = hm_ring_init(at, "mempool", sizeof(void *), p->pub.size,
				   HM_RING_EXACT_SZ | ring_flags_of(p->pub.flags));
	return p->pub.ring != NULL;
}

struct hm_mempool *hm_mempool_create_empty(const char *name, unsigned n, size_t elt_size,
					   unsigned cache_size, size_t priv_size, int socket,
					   unsigned flags)
{
	struct hm_shared *sh = hm__shared();
	char zname[HM_NAME_MAX];
	const struct hm_memzone *mz;
	size_t slots_off, priv_off, backend_off, total, ring_size, stack_size;
	unsigned backend = flags & HM_MEMPOOL_F_STACK ? BACKEND_STACK : BACKEND_RING;
	struct pool *p;
	int rc;

	if (!sh)
		return hm__null_errno(ENXIO);
	if ((rc = zone_name(zname, name)) != 0)
		return hm__null_errno(rc);
	if (n == 0 || n > HM_MEMPOOL_N_MAX || elt_size == 0 || elt_size > UINT32_MAX / 2 ||
	    cache_size > HM_MEMPOOL_CACHE_MAX || cache_size > n || (flags & ~KNOWN_FLAGS) ||
	    priv_size > UINT32_MAX) {
		hm__debug("mempool %s: bad n %u, elt_size %zu, cache_size %u or flags %#x", name, n,
			  elt_size, cache_size, flags);
		return hm__null_errno(EINVAL);
	}
	if (socket != HM_SOCKET_ANY && !hm_socket_valid(socket))
		return hm__null_errno(ENODEV);
	slots_off = hm__align_up(sizeof(struct pool), HM_CACHE_LINE);
	priv_off = hm__align_up(slots_off + sh->max_threads * sizeof(void *), HM_CACHE_LINE);
	backend_off = hm__align_up(priv_off + priv_size, HM_CACHE_LINE);
	/* Room for either backend: hm_mempool_set_ops_byname may switch an empty pool. */
	ring_size = backend_size(BACKEND_RING, n, ring_flags_of(flags));
	stack_size = backend_size(BACKEND_STACK, n, 0);
	total = backend_off + (ring_size > stack_size ? ring_size : stack_size);
	mz = hm_memzone_reserve(zname, total, socket, 0, HM_CACHE_LINE, 0);
	if (!mz)
		return NULL; /* EEXIST, ENOMEM */
	p = mz->addr;
	memset(p, 0, backend_off);
	memcpy(p->pub.name, name, strlen(name) + 1);
	p->pub.flags = flags;
	p->pub.size = n;
	p->pub.cache_size = cache_size;
	p->pub.elt_size = (uint32_t)elt_size;
	p->pub.n_slots = sh->max_threads;
	p->pub.local = (struct hm_mempool_cache **)((char *)p + slots_off);
	p->checked = (flags & HM_MEMPOOL_F_CHECKED) || HM_DEBUG >= 1;
#if defined(HM_TRACK_ASAN) || defined(HM_TRACK_VALGRIND)
	/* A checker's shadow is one process's: only a private instance is told. */
	p->track = !sh->shared;
#endif
	if (p->checked || p->track)
		p->pub.flags |= HM__MEMPOOL_SLOW;
	p->trailer_size = POOL_TRAILER;
	if (flags & HM_MEMPOOL_F_NO_CACHE_ALIGN) {
		p->header_size = sizeof(struct hm_mempool_objhdr);
		p->stride = (uint32_t)hm__align_up(p->header_size + elt_size + p->trailer_size, 8);
	} else {
		p->header_size = HM_CACHE_LINE;
		p->stride = (uint32_t)(HM_CACHE_LINE +
				       hm__align_up(elt_size + p->trailer_size, HM_CACHE_LINE));
	}
	p->priv_size = (uint32_t)priv_size;
	p->priv = priv_size ? (char *)p + priv_off : NULL;
	p->socket = socket;
	p->backend = backend;
	p->zone = mz;
	p->set.kind = HM_CACHE_KIND_MEMPOOL;
	p->set.n_slots = sh->max_threads;
	p->set.owner = p;
	p->set.caches = (void *_Atomic *)p->pub.local;
	if (!backend_init(p, (char *)p + backend_off)) {
		hm_memzone_free(mz);
		return hm__null_errno(EINVAL);
	}
	hm__cache_set_add(&p->set);
	/* Release: pairs with the acquire in hm__pool_valid(): who sees the magic sees the pool. */
	hm__store_release(&p->pub.magic, HM__MEMPOOL_MAGIC);
	return &p->pub;
}

int hm_mempool_set_ops_byname(struct hm_mempool *mp, const char *name)
{
	static const struct {
		const char *name;
		unsigned backend, flags;
	} ops[] = {
		{"ring_mp_mc", BACKEND_RING, 0},
		{"ring_sp_sc", BACKEND_RING, HM_MEMPOOL_F_SP_PUT | HM_MEMPOOL_F_SC_GET},
		{"ring_mp_sc", BACKEND_RING, HM_MEMPOOL_F_SC_GET},
		{"ring_sp_mc", BACKEND_RING, HM_MEMPOOL_F_SP_PUT},
		{"stack", BACKEND_STACK, 0},
	};
	struct pool *p = pool_of(mp);
	const unsigned mask = HM_MEMPOOL_F_SP_PUT | HM_MEMPOOL_F_SC_GET | HM_MEMPOOL_F_STACK;

	if (!hm__pool_valid(mp) || !name)
		return -EINVAL;
	if (p->populated)
		return -EBUSY;
	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
		if (strcmp(ops[i].name, name) != 0)
			continue;
		/* The backend's memory was sized for the ring or the stack it was made
		 * with; switching needs the other's room. */
		char *at = p->pub.ring ? (char *)p->pub.ring : (char *)p->stack;
		size_t room = (size_t)((char *)p->zone->addr + p->zone->len - at);
		unsigned flags = (mp->flags & ~mask) | ops[i].flags |
				 (ops[i].backend == BACKEND_STACK ? HM_MEMPOOL_F_STACK : 0);

		if (backend_size(ops[i].backend, mp->size, ring_flags_of(flags)) > room) {
			hm__err("mempool %s: no room to switch to backend %s", mp->name, name);
			return -ENOMEM;
		}
		mp->flags = flags;
		p->backend = ops[i].backend;
		return backend_init(p, at) ? 0 : -EINVAL;
	}
	return -EINVAL;
}

/* IOVA of a byte of hugemem memory, or HM_BAD_IOVA (not wanted, or not hugemem). */
static uint64_t iova_at(const struct pool *p, const void *addr)
{
	return p->pub.flags & HM_MEMPOOL_F_NO_IOVA ? HM_BAD_IOVA : hm_virt2iova(addr);
}

/*
 * Lay objects out in [addr, addr + len) up to what the pool still lacks, and
 * give them to the backend. Returns how many, 0 if none fits.
 */
static unsigned add_chunk(struct pool *p, char *addr, size_t len, bool owned)
{
	struct pool_chunk *c;
	char *first = (char *)hm__align_up(
			      (uintptr_t)addr,
			      p->pub.flags & HM_MEMPOOL_F_NO_CACHE_ALIGN ? 8 : HM_CACHE_LINE) +
		      p->header_size;
	unsigned want = p->pub.size - p->populated, k = 0;
	void *batch[64];
	unsigned nb = 0;

	if (p->n_chunks == POOL_CHUNKS_MAX || first - p->header_size + p->stride > addr + len)
		return 0;
	c = &p->chunks[p->n_chunks];
	c->addr = addr;
	c->len = len;
	c->iova = iova_at(p, addr);
	c->first = p->populated;
	c->objs = first;
	c->owned = owned;
	for (char *obj = first; k < want && obj - p->header_size + p->stride <= addr + len;
	     obj += p->stride, k++) {
		struct hm_mempool_objhdr *h = hdr_of(obj);

		h->mp = &p->pub;
		h->iova = iova_at(p, obj);
		h->cookie = p->checked ? POOL_COOKIE_IN : 0;
		h->idx = p->populated + k;
		h->owner = 0;
		if (p->trailer_size) {
			uint64_t e = POOL_END_COOKIE;
			memcpy(obj + p->pub.elt_size, &e, sizeof(e));
		}
		batch[nb++] = obj;
		if (nb == 64) {
			hm__pool_backend_put(p, batch, nb);
			nb = 0;
		}
	}
	if (nb)
		hm__pool_backend_put(p, batch, nb);
	c->count = k;
	p->populated += k;
	p->n_chunks++;
	if (p->track) {
		/* Free objects are no one's to touch; headers stay readable. */
		for (unsigned i = 0; i < k; i++)
			hm_track_noaccess(first + (size_t)i * p->stride, p->pub.elt_size);
	}
	return k;
}

int hm_mempool_populate(struct hm_mempool *mp, void *addr, size_t len)
{
	struct pool *p = pool_of(mp);
	unsigned k;

	if (!hm__pool_valid(mp) || !addr)
		return -EINVAL;
	if (p->populated == mp->size)
		return -ENOSPC;
	k = add_chunk(p, addr, len, false);
	return k ? (int)k : -EINVAL;
}

/* A heap block of len bytes for objects, on the pool's node; NULL if none. */
static void *chunk_alloc(struct pool *p, size_t len, bool contig)
{
	unsigned order[HM_SEGLISTS_MAX];
	unsigned n = hm__heap_order(p->socket, 0, order);
	unsigned flags = HM_HEAP_KIND(HM_BLOCK_POOL) | (contig ? HM_HEAP_CONTIG : 0);

	for (unsigned k = 0; k < n; k++) {
		void *b = hm__heap_alloc(hm__heap_get(order[k]), len, HM_CACHE_LINE, 0, flags);
		if (b)
			return b;
	}
	return NULL;
}

static void chunk_free(void *b)
{
	hm__heap_free(b, HM_BLOCK_POOL, NULL, NULL);
}

int hm_mempool_populate_default(struct hm_mempool *mp)
{
	struct pool *p = pool_of(mp);
	struct hm_mem_info mi;
	unsigned added = 0, before;
	bool contig;

	if (!hm__pool_valid(mp))
		return -EINVAL;
	before = p->populated;
	contig = (mp->flags & HM_MEMPOOL_F_IOVA_CONTIG) && !(mp->flags & HM_MEMPOOL_F_NO_IOVA) &&
		 hm_mem_get_info(&mi) == 0 && mi.iova_pa;
	while (p->populated < mp->size) {
		unsigned want = mp->size - p->populated;
		size_t len = (size_t)want * p->stride + HM_CACHE_LINE;
		void *b = NULL;

		/* As much as the heap gives whole, halving down to one object. */
		while (!b && p->n_chunks < POOL_CHUNKS_MAX) {
			b = chunk_alloc(p, len, contig);
			if (!b) {
				if (len <= (size_t)p->stride + HM_CACHE_LINE)
					break;
				want = want > 1 ? want / 2 : 1;
				len = (size_t)want * p->stride + HM_CACHE_LINE;
			}
		}
		if (!b)
			break;
		added += add_chunk(p, b, len, true);
	}
	if (p->populated < mp->size) {
		/* All or nothing: take back what this call added. */
		hm__err("mempool %s: memory for %u of its %u objects only", mp->name, p->populated,
			mp->size);
		/*
		 * The backend holds them all (the pool is not used meanwhile), behind
		 * those added before this call in a ring, on top of them in a stack:
		 * take objects out until every one of this call's is dropped, and put
		 * the earlier ones back (to the ring's tail, behind the new ones).
		 */
		for (unsigned left = p->populated - before; left;) {
			void *batch[64];
			unsigned k = left < 64 ? left : 64, keep = 0;

			if (hm__pool_backend_get(p, batch, k) != k)
				break;
			for (unsigned i = 0; i < k; i++) {
				if (hdr_of(batch[i])->idx >= before)
					left--;
				else
					batch[keep++] = batch[i];
			}
			hm__pool_backend_put(p, batch, keep);
		}
		while (p->n_chunks && p->chunks[p->n_chunks - 1].first >= before) {
			struct pool_chunk *c = &p->chunks[--p->n_chunks];

			p->populated -= c->count;
			if (c->owned)
				chunk_free(c->addr);
		}
		return -ENOMEM;
	}
	return (int)added;
}

int hm__mempool_attach(void)
{
	return hm__cache_register_kind(HM_CACHE_KIND_MEMPOOL, hm__pool_flush_cache);
}

struct hm_mempool *hm_mempool_create(const char *name, unsigned n, size_t elt_size,
				     unsigned cache_size, size_t priv_size,
				     hm_mempool_obj_cb *obj_init, void *arg, int socket,
				     unsigned flags)
{
	struct hm_mempool *mp =
		hm_mempool_create_empty(name, n, elt_size, cache_size, priv_size, socket, flags);
	int rc;

	if (!mp)
		return NULL;
	rc = hm_mempool_populate_default(mp);
	if (rc < 0) {
		hm_mempool_destroy_force(mp);
		return hm__null_errno(rc);
	}
	if (obj_init)
		hm_mempool_obj_iter(mp, obj_init, arg);
	return mp;
}

struct hm_mempool *hm_mempool_lookup(const char *name)
{
	char zname[HM_NAME_MAX];
	const struct hm_memzone *mz;
	int rc;

	if (!hm__shared())
		return hm__null_errno(ENXIO);
	if ((rc = zone_name(zname, name)) != 0)
		return hm__null_errno(rc == -ENAMETOOLONG ? ENOENT : -rc);
	mz = hm_memzone_lookup(zname);
	if (!mz)
		return NULL;
	if (!hm__pool_valid(mz->addr))
		return hm__null_errno(ENOENT);
	return mz->addr;
}

static int destroy(struct hm_mempool *mp, bool force)
{
	struct pool *p = pool_of(mp);
	unsigned out;

	if (!hm__shared())
		return -ENXIO;
	if (!hm__pool_valid(mp)) {
		hm__err("hm_mempool_destroy(%p): not a mempool", (void *)mp);
		return -EINVAL;
	}
	out = hm_mempool_in_use_count(mp);
	if (out && !force) {
		hm__err("mempool %s: %u objects are out: not destroyed", mp->name, out);
		return -EBUSY;
	}
	/* No exit flush reaches the pool after this, nor a new user. */
	hm__cache_set_remove(&p->set);
	hm__store_release(&mp->magic, 0);
	for (unsigned s = 0; s < mp->n_slots; s++)
		if (mp->local[s])
			hm_free(mp->local[s]);
	for (unsigned i = 0; i < p->n_chunks; i++) {
		if (p->chunks[i].owned) {
			chunk_free(p->chunks[i].addr);
		} else if (p->track) {
			/* The caller's memory is the caller's again: its free objects are
			 * no longer poisoned for the checkers. */
			hm_track_undefined(p->chunks[i].addr, p->chunks[i].len);
			hm_track_defined(p->chunks[i].addr, p->chunks[i].len);
		}
	}
	return hm_memzone_free(p->zone);
}

int hm_mempool_destroy(struct hm_mempool *mp)
{
	return destroy(mp, false);
}

int hm_mempool_destroy_force(struct hm_mempool *mp)
{
	return destroy(mp, true);
}

unsigned hm_mempool_avail_count(const struct hm_mempool *mp)
{
	const struct pool *p = (const struct pool *)mp;
	uint64_t n;

	if (!hm__pool_valid(mp))
		return 0;
	n = hm__pool_backend_count(p);
	for (unsigned s = 0; s < mp->n_slots; s++) {
		const struct hm_mempool_cache *c = hm__load_acquire(&mp->local[s]);
		if (c)
			n += hm__load_relaxed(&c->len);
	}
	return n > p->populated ? p->populated : (unsigned)n;
}

unsigned hm_mempool_in_use_count(const struct hm_mempool *mp)
{
	if (!hm__pool_valid(mp))
		return 0;
	return ((const struct pool *)mp)->populated - hm_mempool_avail_count(mp);
}

void *hm_mempool_get_priv(struct hm_mempool *mp)
{
	return hm__pool_valid(mp) ? pool_of(mp)->priv : NULL;
}

unsigned hm_mempool_obj_iter(struct hm_mempool *mp, hm_mempool_obj_cb *cb, void *arg)
{
	struct pool *p = pool_of(mp);
	unsigned n = 0;

	if (!hm__pool_valid(mp) || !cb)
		return 0;
	for (unsigned i = 0; i < p->n_chunks; i++) {
		struct pool_chunk *c = &p->chunks[i];

		for (unsigned k = 0; k < c->count; k++, n++) {
			char *obj = c->objs + (size_t)k * p->stride;

			/* A free object may be poisoned for the checkers: the callback may touch
			 * it, and read what the pool kept in it. */
			if (p->track) {
				hm_track_undefined(obj, mp->elt_size);
				hm_track_defined(obj, mp->elt_size);
			}
			cb(mp, arg, obj, c->first + k);
			/* Poisoned again if known to be free: only checked pools keep the
			 * cookie (in an unchecked one the object may be out, its user's). */
			if (p->track && hdr_of(obj)->cookie == POOL_COOKIE_IN)
				hm_track_noaccess(obj, mp->elt_size);
		}
	}
	return n;
}

unsigned hm_mempool_mem_iter(struct hm_mempool *mp, hm_mempool_mem_cb *cb, void *arg)
{
	struct pool *p = pool_of(mp);

	if (!hm__pool_valid(mp) || !cb)
		return 0;
	for (unsigned i = 0; i < p->n_chunks; i++)
		cb(mp, arg, p->chunks[i].addr, p->chunks[i].iova, p->chunks[i].len, i);
	return p->n_chunks;
}

struct walk_arg {
	hm_mempool_walk_cb *cb;
	void *arg;
};

static void walk_zone(const struct hm_memzone *mz, void *arg)
{
	struct walk_arg *w = arg;

	if (strncmp(mz->name, ZONE_PREFIX, ZONE_PREFIX_LEN) == 0 && hm__pool_valid(mz->addr))
		w->cb(mz->addr, w->arg);
}

void hm_mempool_walk(hm_mempool_walk_cb *cb, void *arg)
{
	struct walk_arg w = {cb, arg};

	if (cb && hm__shared())
		hm_memzone_walk(walk_zone, &w);
}

/* Add the counts of cache c into st. */
static void add_counts(struct hm_mempool_stats *st, const struct hm_mempool_cache *c)
{
	const struct hm__mempool_counts *k = &c->counts;

	st->get_calls += hm__load_relaxed(&k->get_calls);
	st->get_objs += hm__load_relaxed(&k->get_objs);
	st->get_fail_calls += hm__load_relaxed(&k->get_fail_calls);
	st->get_fail_objs += hm__load_relaxed(&k->get_fail_objs);
	st->put_calls += hm__load_relaxed(&k->put_calls);
	st->put_objs += hm__load_relaxed(&k->put_objs);
	/* Every successful get through a cache that is not a miss is a hit. */
	st->cache_hits += hm__load_relaxed(&k->get_calls) - hm__load_relaxed(&k->cache_misses);
	st->cache_misses += hm__load_relaxed(&k->cache_misses);
	st->refused_puts += hm__load_relaxed(&k->refused_puts);
}

int hm_mempool_cache_get_stats(const struct hm_mempool_cache *cache, struct hm_mempool_stats *st)
{
	if (!cache || !st)
		return -EINVAL;
	memset(st, 0, sizeof(*st));
	st->size = sizeof(*st);
	st->version = 1;
	add_counts(st, cache);
	return 0;
}

int hm_mempool_get_stats(const struct hm_mempool *mp, struct hm_mempool_stats *st)
{
	const struct pool *p = (const struct pool *)mp;

	if (!hm__pool_valid(mp) || !st)
		return -EINVAL;
	memset(st, 0, sizeof(*st));
	st->size = sizeof(*st);
	st->version = 1;
	for (unsigned s = 0; s < mp->n_slots; s++) {
		const struct hm_mempool_cache *c = hm__load_acquire(&mp->local[s]);

		if (c)
			add_counts(st, c);
	}
	st->refused_puts += atomic_load(&p->refused);
	st->get_calls += atomic_load(&p->get_calls);
	st->get_objs += atomic_load(&p->get_objs);
	st->get_fail_calls += atomic_load(&p->get_fail_calls);
	st->get_fail_objs += atomic_load(&p->get_fail_objs);
	st->put_calls += atomic_load(&p->put_calls);
	st->put_objs += atomic_load(&p->put_objs);
	return 0;
}

/* Whether obj's header is its pool's, and its cookies are whole (checked pools). */
static bool obj_sound(const struct pool *p, const char *obj, unsigned idx, bool *in)
{
	const struct hm_mempool_objhdr *h = hdr_of(obj);
	uint64_t cookie =
		atomic_load_explicit((_Atomic uint64_t *)&h->cookie, memory_order_relaxed);
	bool ok = h->mp == &p->pub && h->idx == idx;

	if (p->checked)
		ok = ok && (cookie == POOL_COOKIE_IN || cookie == POOL_COOKIE_OUT);
	*in = cookie == POOL_COOKIE_IN;
	if (ok && p->trailer_size) {
		uint64_t e;

		memcpy(&e, obj + p->pub.elt_size, sizeof(e));
		ok = e == POOL_END_COOKIE;
	}
	return ok;
}

int hm_mempool_audit(struct hm_mempool *mp)
{
	struct pool *p = pool_of(mp);
	unsigned in = 0, bad = 0, avail;
	int rc = 0;

	if (!hm__pool_valid(mp))
		return -EINVAL;
	for (unsigned s = 0; s < mp->n_slots; s++) {
		const struct hm_mempool_cache *c = hm__load_acquire(&mp->local[s]);

		if (c && (c->len > c->capacity || c->flushthresh > c->capacity)) {
			hm__err("mempool %s: the cache of thread slot %u holds %u of %u", mp->name,
				s, c->len, c->capacity);
			rc = -EFAULT;
		}
	}
	for (unsigned i = 0; i < p->n_chunks; i++) {
		struct pool_chunk *c = &p->chunks[i];

		for (unsigned k = 0; k < c->count; k++) {
			const char *obj = c->objs + (size_t)k * p->stride;
			bool is_in;

			if (!obj_sound(p, obj, c->first + k, &is_in)) {
				if (bad++ < 8)
					hm__err("mempool %s: object %u at %p: its header or end "
						"cookie is damaged (an overrun?)",
						mp->name, c->first + k, (const void *)obj);
				rc = -EFAULT;
			}
			in += is_in;
		}
	}
	avail = hm_mempool_avail_count(mp);
	if (p->checked && in != avail) {
		hm__err("mempool %s: %u objects are marked free, %u are in the pool and its "
			"caches",
			mp->name, in, avail);
		rc = -EFAULT;
	}
	if (avail > p->populated) {
		hm__err("mempool %s: %u free of %u", mp->name, avail, p->populated);
		rc = -EFAULT;
	}
	return rc;
}

void hm_mempool_dump(FILE *f, struct hm_mempool *mp)
{
	struct pool *p = pool_of(mp);
	struct hm_mempool_stats st;
	unsigned caches = 0;

	if (!hm__pool_valid(mp)) {
		fprintf(f, "mempool %p: not a mempool\n", (void *)mp);
		return;
	}
	for (unsigned s = 0; s < mp->n_slots; s++)
		caches += hm__load_acquire(&mp->local[s]) != NULL;
	hm_mempool_get_stats(mp, &st);
	fprintf(f,
		"mempool %s: %u objects of %u bytes (stride %u), %u populated in %u chunks, %u "
		"free (%u in the backend), %u out; backend %s%s; cache %u per thread, %u "
		"threads with one; %s\n",
		mp->name, mp->size, mp->elt_size, p->stride, p->populated, p->n_chunks,
		hm_mempool_avail_count(mp), hm__pool_backend_count(p), hm_mempool_in_use_count(mp),
		p->backend == BACKEND_STACK ? "stack" : "ring",
		p->backend == BACKEND_STACK
			? ""
			: (mp->flags & HM_MEMPOOL_F_SP_PUT
				   ? (mp->flags & HM_MEMPOOL_F_SC_GET ? " sp/sc" : " sp/mc")
				   : (mp->flags & HM_MEMPOOL_F_SC_GET ? " mp/sc" : " mp/mc")),
		mp->cache_size, caches, p->checked ? "checked" : "unchecked");
	fprintf(f,
		"  gets %" PRIu64 " (%" PRIu64 " objects), failed %" PRIu64 " (%" PRIu64
		"); puts %" PRIu64 " (%" PRIu64 " objects); cache hits %" PRIu64 ", misses %" PRIu64
		"; refused puts %" PRIu64 ", backend overflows %" PRIu64 "\n",
		st.get_calls, st.get_objs, st.get_fail_calls, st.get_fail_objs, st.put_calls,
		st.put_objs, st.cache_hits, st.cache_misses, st.refused_puts,
		(uint64_t)atomic_load(&p->overflows));
	for (unsigned i = 0; i < p->n_chunks; i++)
		fprintf(f, "  chunk %u: %p, %zu bytes, IOVA %#" PRIx64 ", objects %u-%u%s\n", i,
			(void *)p->chunks[i].addr, p->chunks[i].len, p->chunks[i].iova,
			p->chunks[i].first, p->chunks[i].first + p->chunks[i].count - 1,
			p->chunks[i].owned ? "" : " (the caller's memory)");
}
