/* SPDX-License-Identifier: MIT */
/*
 * cache.c - creating, finding, walking and destroying slab caches, their
 * shape (stride, order, colours, magazine size), and the slab area of the
 * config region with its page map (see slab.h).
 */
#include "slab/slab.h"
#include <hugemem/memzone.h>
#include <hugemem/malloc.h>

#include <inttypes.h>

#include <string.h>

#define KNOWN_FLAGS (HM_SLAB_F_HWCACHE_ALIGN | HM_SLAB_F_DEBUG | HM_SLAB_F_NO_MAGAZINES)
#define NODE_SHIFT  24

_Static_assert(HM_SLAB_NAME_MAX + SLAB_ZONE_PREFIX_N == HM_NAME_MAX, "a cache's zone name fits");

/* Debug layout: a state word and a red zone before each object, a red zone after. */
#define DEBUG_FRONT 16u
#define DEBUG_REAR  8u

/* ---- the slab area ---- */

struct slab_area *hm__slab_area(void)
{
	struct hm_shared *sh = hm__shared();

	return sh ? hm__ptr(sh, sh->area_off[HM_AREA_SLAB]) : NULL;
}

int hm__slab_setup(struct hm_shared *sh)
{
	uint64_t lo = sh->seglists[0].base_off;
	uint64_t n = (sh->va_len - lo) >> HM__SLAB_PAGE_SHIFT;
	uint64_t off = hm__shared_alloc(sh, sizeof(struct slab_area), 64);
	struct slab_area *a;

	for (unsigned i = 1; i < sh->n_seglists; i++)
		if (sh->seglists[i].base_off < lo)
			return -EINVAL; /* the lists come in address order */
	if (!off)
		return -ENOMEM;
	sh->area_off[HM_AREA_SLAB] = off;
	a = hm__ptr(sh, off);
	a->map_off = hm__shared_alloc(sh, n * sizeof(uint16_t), SLAB_PAGE);
	a->by_id_off = hm__shared_alloc(sh, (HM_SLAB_CACHES_MAX + 1) * sizeof(void *), SLAB_PAGE);
	if (!a->map_off || !a->by_id_off) {
		hm__err("slab: no room for the page map (%" PRIu64 " bytes) in the config region",
			n * 2);
		return -ENOMEM;
	}
	a->id_hint = 1;
	a->map_lo_off = lo;
	a->map_n = n;
	if (hm__mutex_init(&a->id_lock) != 0)
		return -ENOMEM;
	return hm__mutex_init(&a->lock);
}

struct hm_slab_cache **hm__slab_by_id(void)
{
	return hm__ptr(hm__shared(), hm__slab_area()->by_id_off);
}

void hm__slab_map_of(const uint16_t **map, uintptr_t *lo, uint64_t *n)
{
	struct hm_shared *sh = hm__shared();
	struct slab_area *a = hm__slab_area();

	*map = hm__ptr(sh, a->map_off);
	*lo = (uintptr_t)hm__ptr(sh, a->map_lo_off);
	*n = a->map_n;
}

unsigned hm__slab_map_get(const void *addr)
{
	const uint16_t *map;
	uintptr_t lo;
	uint64_t n, g;

	if (!hm__shared())
		return 0;
	hm__slab_map_of(&map, &lo, &n);
	g = ((uintptr_t)addr - lo) >> HM__SLAB_PAGE_SHIFT;
	return g < n ? hm__load_relaxed(&map[g]) : 0;
}

struct hm_slab_cache *hm__slab_cache_at(const void *addr)
{
	unsigned id = hm__slab_map_get(addr);

	/* Acquire pairs with the release in take_id(): who sees the entry sees the cache. */
	return id ? hm__load_acquire(&hm__slab_by_id()[id]) : NULL;
}

/* A free id for cache c, entered in the table; 0 if every id is taken. */
static uint32_t take_id(struct hm_slab_cache *c)
{
	struct slab_area *a = hm__slab_area();
	struct hm_slab_cache **tab = hm__slab_by_id();
	uint32_t id = 0;

	hm__mutex_lock(&a->id_lock);
	for (uint32_t i = 0; i < HM_SLAB_CACHES_MAX; i++) {
		uint32_t k = (a->id_hint - 1 + i) % HM_SLAB_CACHES_MAX + 1;
		if (!hm__load_relaxed(&tab[k])) {
			id = k;
			a->id_hint = k % HM_SLAB_CACHES_MAX + 1;
			/* Release: pairs with the acquires of hm__slab_cache_at() and hm_kfree(). */
			hm__store_release(&tab[k], c);
			break;
		}
	}
	hm__mutex_unlock(&a->id_lock);
	return id;
}

static void put_id(uint32_t id)
{
	struct slab_area *a = hm__slab_area();

	hm__mutex_lock(&a->id_lock);
	hm__store_release(&hm__slab_by_id()[id], NULL);
	hm__mutex_unlock(&a->id_lock);
}

bool hm__slab_valid(const struct hm_slab_cache *c)
{
	const struct hm_shared *sh = hm__shared();
	const char *end = (const char *)c + sizeof(struct cache) - 1;
	int i = sh && c ? hm__seglist_of(sh, c) : -1;

	if (i < 0 || hm__seglist_of(sh, end) != i || !hm__seglist_committed(sh, (unsigned)i, c) ||
	    !hm__seglist_committed(sh, (unsigned)i, end))
		return false;
	return hm__load_acquire(&c->magic) == HM__SLAB_MAGIC;
}

bool hm__slab_code_here(const struct cache *k)
{
	return k->code == (const void *)&hm_slab_create;
}

/* ---- the shape ---- */

/*
 * The objects a slab of order holds, and the bytes before the objects area;
 * 0 objects if none fits.
 */
static unsigned fit(const struct cache *k, unsigned order, bool offslab, uint32_t *objs_off)
{
	uint64_t room = ((uint64_t)SLAB_PAGE << order) - SLAB_TAIL;
	uint64_t n = room / k->stride;

	for (;; n--) {
		uint64_t hdr = SLAB_HDR + (offslab ? 0 : n * sizeof(uint16_t));
		uint64_t start = hm__align_up(hdr, k->align);

		if (n == 0 || start + n * k->stride <= room) {
			*objs_off = (uint32_t)start;
			return (unsigned)HM_MIN(n, SLAB_OBJS_MAX);
		}
	}
}

/*
 * The order, objects per slab and colours: the smallest order whose left-over
 * (the bytes that are neither objects nor the slab's header and free-index
 * array: the colour slack) is under an eighth of the slab, as Linux's
 * calculate_slab_order() counts it.
 */
static int shape(struct cache *k)
{
	k->offslab = k->stride >= SLAB_OFFSLAB_MIN;
	for (unsigned order = 0; order <= SLAB_ORDER_MAX; order++) {
		uint64_t bytes = (uint64_t)SLAB_PAGE << order;
		uint32_t objs_off;
		unsigned n = fit(k, order, k->offslab, &objs_off);
		uint64_t left = bytes - SLAB_TAIL - objs_off - (uint64_t)n * k->stride;

		if (n == 0 || left * 8 >= bytes)
			continue;
		k->pub.order = order;
		k->slab_bytes = (uint32_t)bytes;
		k->pub.slab_mask = ~(uintptr_t)(bytes - 1);
		k->per_slab = n;
		k->objs_off = objs_off;
		k->colour_step = HM_MAX(SLAB_COLOUR_STEP, k->align);
		k->colours = (uint32_t)((bytes - SLAB_TAIL - objs_off - (uint64_t)n * k->stride) /
					k->colour_step) +
			     1;
		return 0;
	}
	return -EINVAL;
}

/*
 * Rounds per magazine: 512 pointers (4 KiB) for small objects, fewer for
 * large ones. Measured: with 128 rounds a thread freeing what another
 * allocates paid a depot exchange (a contended lock) every 128 objects and
 * ran at 0.6x a mempool with a 512-object cache; and a batch of 1,000 fits in
 * a thread's two magazines of 512 without touching the depot.
 */
static uint32_t magazine_size(uint32_t stride)
{
	if (stride <= 512)
		return 512;
	if (stride <= 2048)
		return 256;
	if (stride <= 8192)
		return 64;
	if (stride <= 32768)
		return 16;
	return 8;
}

/* ---- create, lookup, destroy ---- */

static int zone_name(char *buf, const char *name)
{
	size_t len;

	if (!name || !name[0])
		return -EINVAL;
	len = strnlen(name, HM_SLAB_NAME_MAX);
	if (len >= HM_SLAB_NAME_MAX)
		return -ENAMETOOLONG;
	memcpy(buf, SLAB_ZONE_PREFIX, SLAB_ZONE_PREFIX_N);
	memcpy(buf + SLAB_ZONE_PREFIX_N, name, len + 1);
	return 0;
}

/* hm_slab_create, and the general caches' (general: refused by destroy). */
struct hm_slab_cache *hm__slab_create(const char *name, size_t size, size_t align, unsigned flags,
				      hm_slab_ctor *ctor, hm_slab_dtor *dtor, void *arg,
				      bool general)
{
	struct hm_shared *sh = hm__shared();
	char zname[HM_NAME_MAX];
	unsigned node_bits = flags >> NODE_SHIFT;
	int socket = node_bits ? (int)node_bits - 1 : HM_SOCKET_ANY;
	const struct hm_memzone *mz;
	struct cache *k;
	size_t local_off, zone_len;
	int rc;

	if (!sh)
		return hm__null_errno(ENXIO);
	if ((rc = zone_name(zname, name)) != 0)
		return hm__null_errno(rc);
	flags &= ~(0xffu << NODE_SHIFT);
	if (align == 0)
		align = flags & HM_SLAB_F_HWCACHE_ALIGN ? HM_CACHE_LINE : 8;
	if (size == 0 || size > HM_SLAB_SIZE_MAX || !hm__is_pow2(align) ||
	    align > HM_SLAB_ALIGN_MAX || (flags & ~KNOWN_FLAGS)) {
		hm__debug("slab %s: bad size %zu, align %zu or flags %#x", name, size, align,
			  flags);
		return hm__null_errno(EINVAL);
	}
	if (socket != HM_SOCKET_ANY && !hm_socket_valid(socket))
		return hm__null_errno(ENODEV);
	if (flags & HM_SLAB_F_HWCACHE_ALIGN)
		align = HM_MAX(align, HM_CACHE_LINE);
	align = HM_MAX(align, 8);

	local_off = hm__align_up(sizeof(struct cache), HM_CACHE_LINE);
	zone_len = local_off + sh->max_threads * sizeof(void *);
	mz = hm_memzone_reserve(zname, zone_len, socket, 0, HM_CACHE_LINE, 0);
	if (!mz)
		return NULL; /* EEXIST, ENOMEM */
	memset(mz->addr, 0, zone_len);
	k = mz->addr;
	memcpy(k->pub.name, name, strlen(name) + 1);
	k->size = (uint32_t)size;
	k->align = (uint32_t)align;
	k->debug = (flags & HM_SLAB_F_DEBUG) || HM_DEBUG >= 1;
	k->poison = k->debug && !ctor;
	if (k->debug) {
		k->obj_off = (uint32_t)hm__align_up(DEBUG_FRONT, align);
		k->stride = (uint32_t)hm__align_up(k->obj_off + size + DEBUG_REAR, align);
	} else {
		k->stride = (uint32_t)hm__align_up(size, align);
	}
	if (shape(k) != 0) {
		hm_memzone_free(mz);
		return hm__null_errno(EINVAL);
	}
	k->general = general;
	k->socket = socket;
	k->ctor = ctor;
	k->dtor = dtor;
	k->arg = arg;
	k->code = (const void *)&hm_slab_create;
	k->zone = mz;
	k->mag_size = flags & HM_SLAB_F_NO_MAGAZINES ? 0 : magazine_size(k->stride);
	k->pub.flags = flags | (k->debug || !k->mag_size ? HM__SLAB_SLOW : 0);
	k->pub.obj_size = (uint32_t)size;
	hm__slab_map_of(&k->pub.map, &k->pub.map_lo, &k->pub.map_n);
	k->pub.n_slots = sh->max_threads;
	k->pub.local = (struct hm__slab_local **)((char *)k + local_off);
	if (hm__mutex_init(&k->lock) != 0 || hm__mutex_init(&k->depot.lock) != 0) {
		hm_memzone_free(mz);
		return hm__null_errno(ENOMEM);
	}
	k->pub.id = take_id(&k->pub);
	if (!k->pub.id) {
		hm__warn("slab %s: not created: %u caches exist", name, HM_SLAB_CACHES_MAX);
		hm_memzone_free(mz);
		return hm__null_errno(ENOSPC);
	}
	k->set.kind = HM_CACHE_KIND_SLAB;
	k->set.n_slots = sh->max_threads;
	k->set.owner = k;
	k->set.caches = (void *_Atomic *)k->pub.local;
	if (k->mag_size)
		hm__cache_set_add(&k->set);
	/* Release: pairs with the acquire in hm__slab_valid(): who sees the magic sees the cache. */
	hm__store_release(&k->pub.magic, HM__SLAB_MAGIC);
	return &k->pub;
}

struct hm_slab_cache *hm_slab_create(const char *name, size_t size, size_t align, unsigned flags,
				     hm_slab_ctor *ctor, hm_slab_dtor *dtor, void *arg)
{
	return hm__slab_create(name, size, align, flags, ctor, dtor, arg, false);
}

struct hm_slab_cache *hm_slab_lookup(const char *name)
{
	char zname[HM_NAME_MAX];
	const struct hm_memzone *mz;
	int rc;

	if (!hm__shared())
		return hm__null_errno(ENXIO);
	if ((rc = zone_name(zname, name)) != 0)
		return hm__null_errno(rc == -ENAMETOOLONG ? ENOENT : EINVAL);
	mz = hm_memzone_lookup(zname);
	if (!mz)
		return NULL;
	if (!hm__slab_valid(mz->addr))
		return hm__null_errno(ENOENT);
	return mz->addr;
}

/* Every thread's magazines back to the cache, then every magazine of the depot. */
static void drain_all(struct cache *k)
{
	for (unsigned s = 0; s < k->pub.n_slots; s++) {
		struct hm__slab_local *l = hm__load_acquire(&k->pub.local[s]);
		if (l)
			hm__slab_flush_local(k, l);
	}
	hm__slab_depot_drain(k);
}

int hm_slab_destroy(struct hm_slab_cache *c)
{
	struct cache *k = cache_of(c);
	uint64_t out;

	if (!hm__shared())
		return -ENXIO;
	if (!hm__slab_valid(c) || k->general)
		return -EINVAL;
	drain_all(k);
	hm__mutex_lock(&k->lock);
	out = k->out;
	hm__mutex_unlock(&k->lock);
	if (out) {
		hm__warn("slab %s: not destroyed: %" PRIu64 " objects are allocated", c->name, out);
		return -EBUSY;
	}
	if (k->n_slabs && !hm__slab_code_here(k) && k->dtor) {
		hm__err("slab %s: not destroyed here: its destructor belongs to another process",
			c->name);
		return -EBUSY;
	}
	hm__slabs_release_empty(k);
	if (k->mag_size)
		hm__cache_set_remove(&k->set);
	for (unsigned s = 0; s < k->pub.n_slots; s++) {
		struct hm__slab_local *l = hm__load_relaxed(&k->pub.local[s]);
		if (l)
			hm_free(l);
	}
	hm__store_release(&k->pub.magic, 0);
	put_id(k->pub.id);
	hm_memzone_free(k->zone);
	return 0;
}

/* ---- walk ---- */

struct walk_arg {
	hm_slab_walk_cb *cb;
	void *arg;
};

static void walk_zone(const struct hm_memzone *mz, void *arg)
{
	struct walk_arg *w = arg;

	if (strncmp(mz->name, SLAB_ZONE_PREFIX, SLAB_ZONE_PREFIX_N) == 0 &&
	    hm__slab_valid(mz->addr))
		w->cb(mz->addr, w->arg);
}

void hm_slab_walk(hm_slab_walk_cb *cb, void *arg)
{
	struct walk_arg w = {cb, arg};

	if (cb && hm__shared())
		hm_memzone_walk(walk_zone, &w);
}

int hm__slab_attach(void)
{
	hm__kmalloc_attach();
	return hm__cache_register_kind(HM_CACHE_KIND_SLAB, hm__slab_flush_local);
}

void hm__slab_detach(void)
{
	hm__kmalloc_detach();
}
