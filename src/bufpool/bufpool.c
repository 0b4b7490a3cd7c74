/* SPDX-License-Identifier: MIT */
/*
 * bufpool.c - buffer pools: the cluster shape, creating (with the graceful
 * shrink), finding, describing and destroying pools (see bufpool.h for the
 * layout; ops.c has the alloc and free paths).
 *
 * Memory: the pool's tables are one zone; its buffers lie in chunks, heap
 * blocks of kind pool (so hm_free refuses them) aligned to 4 KiB, each a
 * whole number of clusters. Creation asks for all the clusters at once and,
 * when the heap cannot give a chunk that large, for halves, down to one
 * cluster; when even that fails, the pool keeps what it has if that is at
 * least min_count buffers. With HM_BUFPOOL_F_IOVA_CONTIG on an instance
 * whose IOVAs are physical, every chunk is IOVA-contiguous; otherwise a
 * buffer that crosses a page boundary between pages that are not
 * physically adjacent has no IOVA (HM_BAD_IOVA).
 */
#include "bufpool/bufpool.h"
#include <hugemem/malloc.h>
#include <hugemem/mem.h>
#include <hugemem/memzone.h>

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#define ZONE_PREFIX     "BP_"
#define ZONE_PREFIX_LEN 3
#define KNOWN_FLAGS     (HM_BUFPOOL_F_NO_CACHE | HM_BUFPOOL_F_IOVA_CONTIG | HM_BUFPOOL_F_CHECKED)

_Static_assert(HM_BUFPOOL_NAME_MAX + ZONE_PREFIX_LEN == HM_NAME_MAX, "a pool's zone name fits");

static uint64_t gcd(uint64_t a, uint64_t b)
{
	while (b) {
		uint64_t t = a % b;
		a = b;
		b = t;
	}
	return a;
}

int hm_bufpool_cluster_shape(size_t buf_size, unsigned *per_cluster, size_t *cluster_size)
{
	uint64_t n, best_n = 0, best_waste = UINT64_MAX;

	if (buf_size == 0 || buf_size % HM_CACHE_LINE || buf_size > HM_BUFPOOL_BUF_MAX ||
	    !per_cluster || !cluster_size)
		return -EINVAL;
	/* The smallest count whose total is whole pages: BP_PAGE / gcd(size, BP_PAGE). */
	n = BP_PAGE / gcd(buf_size, BP_PAGE);
	if (n * buf_size <= HM_BUFPOOL_CLUSTER_MAX) {
		best_n = n;
	} else {
		/* None fits: the count that leaves least of the last page unused. */
		for (n = 1; n * buf_size <= HM_BUFPOOL_CLUSTER_MAX; n++) {
			uint64_t waste = hm__align_up(n * buf_size, BP_PAGE) - n * buf_size;
			if (waste < best_waste) {
				best_waste = waste;
				best_n = n;
			}
		}
	}
	*per_cluster = (unsigned)best_n;
	*cluster_size = (size_t)hm__align_up(best_n * buf_size, BP_PAGE);
	return 0;
}

static int zone_name(char *buf, const char *name)
{
	size_t len;

	if (!name || !name[0])
		return -EINVAL;
	len = strnlen(name, HM_BUFPOOL_NAME_MAX);
	if (len >= HM_BUFPOOL_NAME_MAX)
		return -ENAMETOOLONG;
	memcpy(buf, ZONE_PREFIX, ZONE_PREFIX_LEN);
	memcpy(buf + ZONE_PREFIX_LEN, name, len + 1);
	return 0;
}

bool hm__bufpool_valid(const struct hm_bufpool *bp)
{
	const struct hm_shared *sh = hm__shared();
	const char *end = (const char *)bp + sizeof(struct bufpool) - 1;
	int i = sh && bp ? hm__seglist_of(sh, bp) : -1;

	if (i < 0 || hm__seglist_of(sh, end) != i || !hm__seglist_committed(sh, (unsigned)i, bp) ||
	    !hm__seglist_committed(sh, (unsigned)i, end))
		return false;
	return hm__load_acquire(&bp->magic) == HM__BUFPOOL_MAGIC;
}

/* A chunk of len bytes on the pool's node, 4 KiB-aligned; NULL if the heaps have none. */
static void *chunk_alloc(const struct bufpool *p, size_t len, bool contig)
{
	unsigned order[HM_SEGLISTS_MAX];
	unsigned n = hm__heap_order(p->socket, 0, order);
	unsigned flags = HM_HEAP_KIND(HM_BLOCK_POOL) | (contig ? HM_HEAP_CONTIG : 0);

	for (unsigned k = 0; k < n; k++) {
		void *b = hm__heap_alloc(hm__heap_get(order[k]), len, BP_PAGE, 0, flags);
		if (b)
			return b;
	}
	return NULL;
}

static void free_chunks(struct bufpool *p)
{
	struct bp_chunk *ch = bp_chunks(p);

	for (uint32_t i = 0; i < p->n_chunks; i++)
		hm__heap_free((char *)p + ch[i].off, HM_BLOCK_POOL, NULL, NULL);
	p->n_chunks = 0;
}

/* Take clusters from the heap, up to want; returns how many it got. */
static uint32_t place_clusters(struct bufpool *p, uint32_t want, bool contig)
{
	struct bp_chunk *ch = bp_chunks(p);
	uint32_t got = 0, ask = want;

	while (got < want && p->n_chunks < BP_CHUNKS_MAX) {
		char *b;

		ask = HM_MIN(ask, want - got);
		b = chunk_alloc(p, (size_t)ask * p->cluster_size, contig);
		if (!b) {
			if (ask == 1)
				break;
			ask = (ask + 1) / 2;
			continue;
		}
		ch[p->n_chunks].off = (int64_t)((uintptr_t)b - (uintptr_t)p);
		ch[p->n_chunks].len = (uint64_t)ask * p->cluster_size;
		ch[p->n_chunks].first = got * p->per_cluster;
		ch[p->n_chunks].n = ask * p->per_cluster;
		p->n_chunks++;
		got += ask;
	}
	return got;
}

static int by_off(const void *a, const void *b)
{
	int64_t x = ((const struct bp_chunk *)a)->off, y = ((const struct bp_chunk *)b)->off;

	return (x > y) - (x < y);
}

/* The IOVA of the buffer at addr, or HM_BAD_IOVA if it spans a physical break. */
static uint64_t buffer_iova(const void *addr, size_t size, bool pa)
{
	uint64_t iova = hm_virt2iova(addr);

	if (pa && iova != HM_BAD_IOVA && !hm__mem_iova_contig(addr, size))
		return HM_BAD_IOVA;
	return iova;
}

/* Fill the lookup table, the bitmap (every buffer but 0 and 1 free) and the states. */
static void fill_tables(struct bufpool *p, bool pa)
{
	struct hm__bufpool_lut *lut = (struct hm__bufpool_lut *)((char *)p + p->pub.lut_off);
	_Atomic uint64_t *bm = bp_bitmap(p);
	struct bp_chunk *ch = bp_chunks(p);
	uint32_t count = p->pub.count;

	for (uint32_t i = 0; i < p->n_chunks; i++) {
		char *base = (char *)p + ch[i].off;

		for (uint32_t j = 0; j < ch[i].n; j++) {
			uint32_t c = j / p->per_cluster, k = j % p->per_cluster;
			char *buf = base + (uint64_t)c * p->cluster_size +
				    (uint64_t)k * p->pub.buf_size;
			uint32_t idx = ch[i].first + j;

			lut[idx].off = (int64_t)((uintptr_t)buf - (uintptr_t)p);
			lut[idx].iova = buffer_iova(buf, p->pub.buf_size, pa);
		}
	}
	memset(hm__bufpool_state(&p->pub), 0, count);
	for (uint32_t w = 0; w < p->n_words; w++) {
		uint64_t lo = (uint64_t)w * 64, bits = ~UINT64_C(0);
		if (lo + 64 > count)
			bits = count > lo ? (UINT64_C(1) << (count - lo)) - 1 : 0;
		if (w == 0)
			bits &= ~UINT64_C(3); /* the reserved indices */
		atomic_init(&bm[w], bits);
	}
	qsort(ch, p->n_chunks, sizeof(*ch), by_off);
}

struct hm_bufpool *hm_bufpool_create_min(const char *name, unsigned count, unsigned min_count,
					 size_t buf_size, int socket, unsigned flags)
{
	struct hm_shared *sh = hm__shared();
	char zname[HM_NAME_MAX];
	const struct hm_memzone *mz;
	struct hm_mem_info mi;
	struct bufpool *p;
	unsigned per;
	size_t csize, size;
	uint64_t clusters, min_clusters, real, caches_off, chunks_off, lut_off, bitmap_off,
		state_off, total;
	uint32_t got;
	bool pa, contig;
	int rc;

	if (!sh)
		return hm__null_errno(ENXIO);
	if ((rc = zone_name(zname, name)) != 0)
		return hm__null_errno(rc);
	size = (size_t)hm__align_up(buf_size, HM_CACHE_LINE);
	if (count < HM_BUFPOOL_RESERVED + 1 || count > HM_BUFPOOL_COUNT_MAX ||
	    min_count < HM_BUFPOOL_RESERVED + 1 || min_count > count || buf_size == 0 ||
	    buf_size > HM_BUFPOOL_BUF_MAX || (flags & ~KNOWN_FLAGS)) {
		hm__debug("bufpool %s: bad count %u, min_count %u, buf_size %zu or flags %#x", name,
			  count, min_count, buf_size, flags);
		return hm__null_errno(EINVAL);
	}
	if (socket != HM_SOCKET_ANY && !hm_socket_valid(socket))
		return hm__null_errno(ENODEV);
	hm_bufpool_cluster_shape(size, &per, &csize);
	clusters = (count + per - 1) / per;
	min_clusters = (min_count + per - 1) / per;
	real = clusters * per;
	if (real > HM_BUFPOOL_COUNT_MAX) {
		clusters--;
		real = clusters * per;
		if (real < count)
			return hm__null_errno(EINVAL);
	}

	caches_off = hm__align_up(sizeof(struct bufpool), HM_CACHE_LINE);
	chunks_off = hm__align_up(caches_off + (uint64_t)sh->max_threads * sizeof(void *),
				  HM_CACHE_LINE);
	lut_off = hm__align_up(chunks_off + BP_CHUNKS_MAX * sizeof(struct bp_chunk), HM_CACHE_LINE);
	bitmap_off = hm__align_up(lut_off + real * sizeof(struct hm__bufpool_lut), HM_CACHE_LINE);
	state_off = hm__align_up(bitmap_off + (real + 63) / 64 * 8, HM_CACHE_LINE);
	total = state_off + real;
	mz = hm_memzone_reserve(zname, total, socket, 0, HM_CACHE_LINE, 0);
	if (!mz)
		return NULL; /* EEXIST, ENOMEM */
	p = mz->addr;
	memset(p, 0, lut_off);
	memcpy(p->pub.name, name, strlen(name) + 1);
	p->pub.flags =
		flags | ((flags & HM_BUFPOOL_F_CHECKED) || HM_DEBUG >= 1 ? HM__BUFPOOL_CHECKED : 0);
	p->pub.buf_size = (uint32_t)size;
	p->pub.lut_off = lut_off;
	p->pub.state_off = state_off;
	p->pub.n_slots = flags & HM_BUFPOOL_F_NO_CACHE ? 0 : sh->max_threads;
	p->pub.caches_off = caches_off;
	p->count_asked = count;
	p->per_cluster = per;
	p->cluster_size = csize;
	p->socket = socket;
	p->chunks_off = chunks_off;
	p->bitmap_off = bitmap_off;
	pa = hm_mem_get_info(&mi) == 0 && mi.iova_pa;
	contig = (flags & HM_BUFPOOL_F_IOVA_CONTIG) && pa;

	got = place_clusters(p, (uint32_t)clusters, contig);
	if (got < min_clusters) {
		hm__debug("bufpool %s: memory for %" PRIu64 " of %" PRIu64
			  " clusters only, below the minimum",
			  name, (uint64_t)got, clusters);
		free_chunks(p);
		hm_memzone_free(mz);
		return hm__null_errno(ENOMEM);
	}
	if (got < clusters)
		hm__notice("bufpool %s: memory ran short: %u buffers instead of %u", name,
			   got * per, count);
	p->n_clusters = got;
	p->pub.count = got * per;
	p->n_words = (p->pub.count + 63) / 64;
	fill_tables(p, pa);
	p->set.kind = HM_CACHE_KIND_BUFPOOL;
	p->set.n_slots = p->pub.n_slots;
	p->set.owner = p;
	p->set.caches = (void *_Atomic *)bp_caches(p);
	if (p->pub.n_slots)
		hm__cache_set_add(&p->set);
	/* Release: pairs with the acquire in hm__bufpool_valid(): who sees the magic sees the pool. */
	hm__store_release(&p->pub.magic, HM__BUFPOOL_MAGIC);
	return &p->pub;
}

struct hm_bufpool *hm_bufpool_create(const char *name, unsigned count, size_t buf_size, int socket,
				     unsigned flags)
{
	return hm_bufpool_create_min(name, count, count, buf_size, socket, flags);
}

struct hm_bufpool *hm_bufpool_lookup(const char *name)
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
	if (!hm__bufpool_valid(mz->addr))
		return hm__null_errno(ENOENT);
	return mz->addr;
}

unsigned hm_bufpool_count(const struct hm_bufpool *bp)
{
	return hm__bufpool_valid(bp) ? bp->count : 0;
}

unsigned hm_bufpool_free_count(const struct hm_bufpool *bp)
{
	const struct bufpool *p = (const struct bufpool *)bp;

	if (!hm__bufpool_valid(bp))
		return 0;
	return (unsigned)(hm__bp_bitmap_count(p) + hm__bp_cached(p));
}

int hm_bufpool_destroy(struct hm_bufpool *bp)
{
	struct bufpool *p = bp_of(bp);
	char zname[HM_NAME_MAX];
	const struct hm_memzone *mz;
	struct hm__bufpool_cache **caches;
	uint64_t free_now, out;

	if (!hm__shared())
		return -ENXIO;
	if (!hm__bufpool_valid(bp))
		return -EINVAL;
	caches = bp_caches(p);
	for (uint32_t s = 0; s < bp->n_slots; s++) {
		struct hm__bufpool_cache *c = hm__load_acquire(&caches[s]);
		if (c)
			hm__bp_flush_cache(p, c);
	}
	free_now = hm__bp_bitmap_count(p);
	out = bp->count - HM_BUFPOOL_RESERVED - free_now;
	if (out) {
		hm__warn("bufpool %s: not destroyed: %" PRIu64 " buffers are out", bp->name, out);
		return -EBUSY;
	}
	if (bp->n_slots)
		hm__cache_set_remove(&p->set);
	for (uint32_t s = 0; s < bp->n_slots; s++) {
		struct hm__bufpool_cache *c = hm__load_relaxed(&caches[s]);
		if (c)
			hm_free(c);
	}
	hm__store_release(&bp->magic, 0);
	free_chunks(p);
	zone_name(zname, bp->name);
	mz = hm_memzone_lookup(zname);
	if (mz)
		hm_memzone_free(mz);
	return 0;
}

uint32_t hm_bufpool_idx(const struct hm_bufpool *bp, const void *addr)
{
	const struct bufpool *p = (const struct bufpool *)bp;
	const struct bp_chunk *ch;
	int64_t off;
	uint32_t lo = 0, hi;

	if (!hm__bufpool_valid(bp))
		return 0;
	ch = bp_chunks(p);
	off = (int64_t)((uintptr_t)addr - (uintptr_t)bp);
	hi = p->n_chunks;
	/* The last chunk starting at or before addr. */
	while (lo < hi) {
		uint32_t mid = (lo + hi) / 2;
		if (ch[mid].off <= off)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == 0)
		return 0;
	ch += lo - 1;
	uint64_t in = (uint64_t)(off - ch->off);
	uint64_t cl = in / p->cluster_size, k = in % p->cluster_size / bp->buf_size;
	if (in >= ch->len || k >= p->per_cluster)
		return 0; /* past the chunk, or in a cluster's unused end */
	return ch->first + (uint32_t)(cl * p->per_cluster + k);
}

int hm_bufpool_info(const struct hm_bufpool *bp, struct hm_bufpool_info *info)
{
	const struct bufpool *p = (const struct bufpool *)bp;
	uint64_t alloc_n = 0, free_n = 0;
	struct hm__bufpool_cache **caches;

	if (!info || !hm__bufpool_valid(bp))
		return -EINVAL;
	memset(info, 0, sizeof(*info));
	info->size = sizeof(*info);
	info->version = 1;
	memcpy(info->name, bp->name, sizeof(info->name));
	info->count = bp->count;
	info->count_asked = p->count_asked;
	info->free = hm__bp_bitmap_count(p) + hm__bp_cached(p);
	info->buf_size = bp->buf_size;
	info->cluster_size = p->cluster_size;
	info->bufs_per_cluster = p->per_cluster;
	info->clusters = p->n_clusters;
	info->memory = (uint64_t)p->n_clusters * p->cluster_size;
	info->waste = info->memory - (uint64_t)bp->count * bp->buf_size;
	info->chunks = p->n_chunks;
	caches = bp_caches(p);
	for (uint32_t s = 0; s < bp->n_slots; s++) {
		const struct hm__bufpool_cache *c = hm__load_acquire(&caches[s]);
		if (c) {
			alloc_n += hm__load_relaxed(&c->allocs);
			free_n += hm__load_relaxed(&c->frees);
		}
	}
	info->allocs = alloc_n + atomic_load_explicit(&p->allocs, memory_order_relaxed);
	info->frees = free_n + atomic_load_explicit(&p->frees, memory_order_relaxed);
	info->refused = atomic_load_explicit(&p->refused, memory_order_relaxed);
	return 0;
}

void hm_bufpool_dump(FILE *f, const struct hm_bufpool *bp)
{
	const struct bufpool *p = (const struct bufpool *)bp;
	struct hm_bufpool_info in;

	if (!f)
		return;
	if (hm_bufpool_info(bp, &in) != 0) {
		fprintf(f, "bufpool %p: not a pool\n", (const void *)bp);
		return;
	}
	fprintf(f,
		"bufpool %s: %" PRIu64 " buffers of %" PRIu64 " bytes (%" PRIu64 " asked), %" PRIu64
		" free\n"
		"  clusters: %" PRIu64 " of %" PRIu64 " bytes, %" PRIu64
		" buffers each; memory %" PRIu64 " bytes, waste %" PRIu64 "\n"
		"  allocs %" PRIu64 ", frees %" PRIu64 ", refused %" PRIu64 "\n",
		in.name, in.count, in.buf_size, in.count_asked, in.free, in.clusters,
		in.cluster_size, in.bufs_per_cluster, in.memory, in.waste, in.allocs, in.frees,
		in.refused);
	for (uint32_t i = 0; i < p->n_chunks; i++) {
		const struct bp_chunk *c = &bp_chunks(p)[i];
		fprintf(f, "  chunk %u: %p, %" PRIu64 " bytes, buffers %u..%u\n", i,
			(void *)((char *)(uintptr_t)bp + c->off), c->len, c->first,
			c->first + c->n - 1);
	}
}

struct walk_arg {
	hm_bufpool_walk_cb *cb;
	void *arg;
};

static void walk_zone(const struct hm_memzone *mz, void *arg)
{
	struct walk_arg *w = arg;

	if (strncmp(mz->name, ZONE_PREFIX, ZONE_PREFIX_LEN) == 0 && hm__bufpool_valid(mz->addr))
		w->cb(mz->addr, w->arg);
}

void hm_bufpool_walk(hm_bufpool_walk_cb *cb, void *arg)
{
	struct walk_arg w = {cb, arg};

	if (cb && hm__shared())
		hm_memzone_walk(walk_zone, &w);
}

int hm__bufpool_attach(void)
{
	return hm__cache_register_kind(HM_CACHE_KIND_BUFPOOL, hm__bp_flush_cache);
}
