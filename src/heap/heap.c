/* SPDX-License-Identifier: MIT */
/*
 * heap.c - the TLSF heap core (see heap.h for the layout).
 *
 * Size classes: a block of u units (u = size / 64) with u < 16 is in class
 * (0, u); otherwise, with t = floor(log2(u)), in first-level class t - 3 and
 * second-level class (u >> (t - 4)) - 16. An allocation rounds its size up to
 * the start of the next class, so that any block of the class found fits:
 * malloc and free take the same few steps whatever the number of blocks
 * (Masmano et al., "TLSF: a new dynamic memory allocator for real-time
 * systems", 2004).
 *
 * Invariants, checked by hm__heap_audit(): no two neighbouring blocks are
 * both free; each block's prev is the offset of the block before it; every
 * free block is on the list of its class and only there; a block merged into
 * its neighbour has its cookie wiped, so a second free of it is caught.
 */
#include "heap/heap.h"

#include <hugemem/memzone.h>

#include <inttypes.h>
#include <string.h>

#define FREE_BIT UINT64_C(1)

/* The links of a free block, in its payload. */
struct free_links {
	uint64_t next, prev;
};

_Static_assert(sizeof(struct hm_heap_block) == HM_HEAP_HDR, "block header size");
_Static_assert(sizeof(struct hm_heap_chunk) == HM_HEAP_HDR, "chunk header size");

static inline struct hm_shared *SH(void)
{
	return hm__proc.sh;
}

static inline struct hm_heap *heaps(const struct hm_shared *sh)
{
	return hm__ptr(sh, sh->area_off[HM_AREA_HEAP]);
}

struct hm_heap *hm__heap_get(unsigned index)
{
	struct hm_shared *sh = SH();

	return sh && index < sh->n_seglists ? &heaps(sh)[index] : NULL;
}

unsigned hm__heap_count(void)
{
	struct hm_shared *sh = SH();

	return sh ? sh->n_seglists : 0;
}

static inline struct hm_heap_block *blk(uint64_t off)
{
	return hm__ptr(SH(), off);
}

static inline uint64_t off_of(const void *p)
{
	return hm__off(SH(), p);
}

static inline uint64_t bsize(const struct hm_heap_block *b)
{
	return b->size & ~FREE_BIT;
}

static inline bool is_free(const struct hm_heap_block *b)
{
	return b->size & FREE_BIT;
}

static inline uint32_t cookie_for(const void *b)
{
	return hm__heap_cookie(SH(), b);
}

/* Relaxed: the tag is written under the heap lock or claimed by a CAS (tcache.c). */
static inline uint64_t tag_of(const struct hm_heap_block *b)
{
	return atomic_load_explicit(&((struct hm_heap_block *)b)->tag, memory_order_relaxed);
}

/*
 * Release: pairs with the acquire of the claiming CAS in hm_free's fast path
 * (malloc.c), so a thread that claims the block sees its header (size, user)
 * as written before the tag.
 */
static inline void set_tag(struct hm_heap_block *b, unsigned heap, unsigned kind)
{
	atomic_store_explicit(&b->tag, HM_HEAP_TAG(cookie_for(b), heap, kind),
			      memory_order_release);
}

/* A header merged into its neighbour: a later free of it is refused. */
static inline void wipe(struct hm_heap_block *b)
{
	atomic_store_explicit(&b->tag, 0, memory_order_relaxed);
}

static inline struct free_links *links(struct hm_heap_block *b)
{
	return (struct free_links *)(b + 1);
}

static inline struct hm_heap_block *next_block(struct hm_heap_block *b)
{
	return (struct hm_heap_block *)((char *)b + bsize(b));
}

static inline char *payload(struct hm_heap_block *b)
{
	return (char *)b + HM_HEAP_HDR;
}

static inline struct hm_heap_chunk *chunk_of_first(struct hm_heap_block *b)
{
	return (struct hm_heap_chunk *)((char *)b - HM_HEAP_HDR);
}

/* Whether free block b is all of its chunk (b first, the sentinel after it). */
static inline bool spans_chunk(struct hm_heap_block *b)
{
	return b->prev == 0 && bsize(next_block(b)) == 0;
}

static inline void mapping(uint64_t size, unsigned *fl, unsigned *sl)
{
	hm__heap_mapping(size, fl, sl);
}

static inline uint64_t search_size(uint64_t size)
{
	return hm__heap_round(size);
}

/* The first free block in class (fl, sl) or above, or NULL. */
static struct hm_heap_block *find_suitable(struct hm_heap *h, unsigned fl, unsigned sl)
{
	uint32_t sl_map;

	if (fl >= HM_HEAP_FL)
		return NULL;
	sl_map = sl < 32 ? h->sl_bitmap[fl] & (~UINT32_C(0) << sl) : 0;
	if (!sl_map) {
		uint64_t fl_map = fl + 1 < 64 ? h->fl_bitmap & (~UINT64_C(0) << (fl + 1)) : 0;
		if (!fl_map)
			return NULL;
		fl = (unsigned)__builtin_ctzll(fl_map);
		sl_map = h->sl_bitmap[fl];
	}
	sl = (unsigned)__builtin_ctz(sl_map);
	return blk(h->head[fl][sl]);
}

static void insert(struct hm_heap *h, struct hm_heap_block *b)
{
	unsigned fl, sl;
	struct free_links *l = links(b);

	mapping(bsize(b), &fl, &sl);
	b->size |= FREE_BIT;
	/* Kind 0: no claim of a live block (tcache.c) can succeed on a free one. */
	set_tag(b, h->index, 0);
	hm_track_undefined(l, sizeof(*l)); /* the links may lie in poisoned memory */
	l->prev = 0;
	l->next = h->head[fl][sl];
	if (l->next)
		links(blk(l->next))->prev = off_of(b);
	h->head[fl][sl] = off_of(b);
	h->fl_bitmap |= UINT64_C(1) << fl;
	h->sl_bitmap[fl] |= UINT32_C(1) << sl;
	h->st.free_size += bsize(b);
	h->st.n_free_blocks++;
}

static void remove_free(struct hm_heap *h, struct hm_heap_block *b)
{
	unsigned fl, sl;
	struct free_links *l = links(b);

	mapping(bsize(b), &fl, &sl);
	if (l->prev)
		links(blk(l->prev))->next = l->next;
	else
		h->head[fl][sl] = l->next;
	if (l->next)
		links(blk(l->next))->prev = l->prev;
	if (!h->head[fl][sl]) {
		h->sl_bitmap[fl] &= ~(UINT32_C(1) << sl);
		if (!h->sl_bitmap[fl])
			h->fl_bitmap &= ~(UINT64_C(1) << fl);
	}
	b->size &= ~FREE_BIT;
	h->st.free_size -= bsize(b);
	h->st.n_free_blocks--;
}

/* A wholly free chunk that is not pinned counts as empty, for the release hysteresis. */
static void note_empty(struct hm_heap *h, struct hm_heap_block *b, int delta)
{
	if (spans_chunk(b) && !chunk_of_first(b)->pinned)
		h->n_empty += (uint64_t)(int64_t)delta;
}

/* Take free block b off its list for use. */
static void take(struct hm_heap *h, struct hm_heap_block *b)
{
	remove_free(h, b);
	note_empty(h, b, -1);
}

static void init_block(struct hm_heap *h, struct hm_heap_block *b, uint64_t size, uint64_t prev)
{
	hm_track_undefined(b, sizeof(*b)); /* a new header may lie in a freed, poisoned block */
	b->prev = prev;
	b->size = size;
	set_tag(b, h->index, 0);
	b->user = 0;
	b->pad = 0;
}

/* Cut b (in use, not on a list) to size bytes, freeing the tail if it can be a block. */
static void split(struct hm_heap *h, struct hm_heap_block *b, uint64_t size)
{
	uint64_t rest = bsize(b) - size;

	if (rest < HM_HEAP_UNIT)
		return;
	struct hm_heap_block *r = (struct hm_heap_block *)((char *)b + size);
	init_block(h, r, rest, off_of(b));
	b->size = size;
	next_block(r)->prev = off_of(r);
	/* b's old right neighbour is in use (no two free blocks touch), so r needs no merge. */
	insert(h, r);
}

/* Where a payload of size bytes with align and bound can start in free block b, or NULL. */
static char *place(struct hm_heap_block *b, uint64_t size, uint64_t need, uint64_t align,
		   uint64_t bound, bool contig)
{
	uintptr_t p = (uintptr_t)hm__align_up((uintptr_t)payload(b), align);
	uintptr_t end = (uintptr_t)b + bsize(b);

	if (bound && p / bound != (p + size - 1) / bound)
		p = (uintptr_t)hm__align_up(p, bound);
	if (p - HM_HEAP_HDR + need > end)
		return NULL;
	if (contig && !hm__mem_iova_contig((void *)p, size))
		return NULL;
	return (char *)p;
}

/* Use free block b (already taken) for a payload at p of need block bytes. */
static struct hm_heap_block *carve(struct hm_heap *h, struct hm_heap_block *b, char *p,
				   uint64_t need, unsigned flags)
{
	struct hm_heap_block *nb = (struct hm_heap_block *)(p - HM_HEAP_HDR);
	uint64_t gap = (uint64_t)((char *)nb - (char *)b);

	if (gap) {
		/* The gap is a multiple of 64 (both are payload-aligned), so it is a block. */
		init_block(h, nb, bsize(b) - gap, off_of(b));
		b->size = gap;
		next_block(nb)->prev = off_of(nb);
		insert(h, b);
	}
	split(h, nb, need);
	nb->size = bsize(nb);
	/* Set under the lock: a racing free of the same address (misuse) sees them whole. */
	nb->user = flags >> 16;
	set_tag(nb, h->index, (flags >> 8) & 0xff);
	h->st.n_used_blocks++;
	h->st.allocs++;
	return nb;
}

/* Look at every free block big enough, in class order: for requests with placement rules. */
static struct hm_heap_block *scan(struct hm_heap *h, uint64_t size, uint64_t need, uint64_t align,
				  uint64_t bound, bool contig, char **p)
{
	unsigned fl0, sl0;

	mapping(need, &fl0, &sl0);
	for (unsigned fl = fl0; fl < HM_HEAP_FL; fl++) {
		if (!(h->fl_bitmap & (UINT64_C(1) << fl)))
			continue;
		for (unsigned sl = fl == fl0 ? sl0 : 0; sl < HM_HEAP_SL; sl++) {
			for (uint64_t o = h->head[fl][sl]; o; o = links(blk(o))->next) {
				struct hm_heap_block *b = blk(o);
				if ((*p = place(b, size, need, align, bound, contig)) != NULL)
					return b;
			}
		}
	}
	return NULL;
}

static void add_chunk(struct hm_heap *h, void *va, uint64_t len, bool pinned)
{
	struct hm_heap_chunk *c = va;
	struct hm_heap_block *b = (struct hm_heap_block *)((char *)va + HM_HEAP_HDR);
	struct hm_heap_block *end = (struct hm_heap_block *)((char *)va + len - HM_HEAP_HDR);

	/* Pages committed again where a released chunk was may still be poisoned. */
	hm_track_undefined(va, len);
	c->len = len;
	c->pinned = pinned;
	c->prev = 0;
	c->next = h->chunks;
	if (c->next)
		((struct hm_heap_chunk *)hm__ptr(SH(), c->next))->prev = off_of(c);
	h->chunks = off_of(c);
	init_block(h, b, len - 2 * HM_HEAP_HDR, 0);
	init_block(h, end, 0, off_of(b));
	h->st.heap_size += len;
	h->st.n_chunks++;
	insert(h, b);
	note_empty(h, b, +1);
}

/* Give chunk c (wholly free, taken off the lists) back to the memory layer. */
static void release_chunk(struct hm_heap *h, struct hm_heap_chunk *c)
{
	struct hm_shared *sh = SH();

	if (c->prev)
		((struct hm_heap_chunk *)hm__ptr(sh, c->prev))->next = c->next;
	else
		h->chunks = c->next;
	if (c->next)
		((struct hm_heap_chunk *)hm__ptr(sh, c->next))->prev = c->prev;
	h->st.heap_size -= c->len;
	h->st.n_chunks--;
	h->st.releases++;
	/* Wipe the header so that a stale pointer into the chunk is not taken for a block. */
	wipe((struct hm_heap_block *)((char *)c + HM_HEAP_HDR));
	int rc = hm__mem_release(c, c->len / h->page_size);
	if (rc)
		hm__err("heap %u: releasing %" PRIu64 " bytes at %p: %s", h->index, c->len,
			(void *)c, hm_strerror(rc));
}

/*
 * Commit pages for a block of need bytes (plus the chunk overhead). 4 KiB
 * heaps grow by at least 2 MiB, unless the memory limit leaves less; an
 * IOVA-contiguous run is exactly as long as needed.
 */
static int grow(struct hm_heap *h, uint64_t need, bool contig)
{
	uint64_t ps = h->page_size;
	uint64_t pages = (need + 2 * HM_HEAP_HDR + ps - 1) / ps;
	uint64_t min_pages = (HM_PAGE_SIZE_2M + ps - 1) / ps;
	void *va;
	int rc;

	rc = hm__mem_commit(h->index, (size_t)(contig ? pages : HM_MAX(pages, min_pages)), contig,
			    &va);
	if (rc == -ENOMEM && !contig && pages < min_pages)
		rc = hm__mem_commit(h->index, (size_t)pages, false, &va);
	else if (rc == 0)
		pages = contig ? pages : HM_MAX(pages, min_pages);
	if (rc) {
		hm__debug("heap %u: cannot grow by %" PRIu64 " pages: %s", h->index, pages,
			  hm_strerror(rc));
		return rc;
	}
	add_chunk(h, va, pages * ps, false);
	h->st.grows++;
	return 0;
}

/*
 * After a failed request: give back the wholly free chunks that its growth
 * left, keeping one (the hysteresis of hm__heap_free). O(chunks); a slow path.
 */
static void trim(struct hm_heap *h)
{
	uint64_t next;

	for (uint64_t co = h->chunks; co && h->n_empty > 1; co = next) {
		struct hm_heap_chunk *c = (struct hm_heap_chunk *)blk(co);
		struct hm_heap_block *b = (struct hm_heap_block *)((char *)c + HM_HEAP_HDR);

		next = c->next;
		if (is_free(b) && spans_chunk(b) && !c->pinned) {
			take(h, b);
			release_chunk(h, c);
		}
	}
}

/* Requests that only a look at every free block may place. */
#define FIRST_FIT_MAX 8 /* blocks of the exact class looked at for a plain request */

/*
 * Find a free block for the request and where its payload goes (*p): the
 * O(1) good fit first; then, for requests with placement rules or
 * HM_HEAP_FIT, every free block large enough; for plain requests, the first
 * few blocks of the request's own class (so a request for exactly the
 * largest free block does not grow the heap).
 */
/* One allocation request, as find() and grow() see it. */
struct request {
	uint64_t size;  /* payload bytes asked */
	uint64_t need;  /* block bytes: header + size, rounded to the unit */
	uint64_t want;  /* block bytes that hold the payload wherever its rules put it */
	uint64_t align; /* at least HM_HEAP_UNIT */
	uint64_t bound; /* 0: none */
	bool contig;    /* IOVA-contiguous */
	bool rules;     /* alignment above the unit, a bound or contiguity */
	bool fit;       /* HM_HEAP_FIT: every free block before growing */
};

static struct hm_heap_block *find(struct hm_heap *h, const struct request *r, char **p)
{
	struct hm_heap_block *b;
	unsigned fl, sl;

	mapping(search_size(r->want), &fl, &sl);
	b = find_suitable(h, fl, sl);
	if (b) {
		*p = r->rules ? place(b, r->size, r->need, r->align, r->bound, r->contig)
			      : payload(b);
		if (*p)
			return b;
	}
	if (r->rules || r->fit)
		return scan(h, r->size, r->need, r->align, r->bound, r->contig, p);
	mapping(r->need, &fl, &sl);
	unsigned looked = 0;
	for (uint64_t o = h->head[fl][sl]; o && looked < FIRST_FIT_MAX; o = links(blk(o))->next) {
		b = blk(o);
		if (bsize(b) >= r->need) {
			*p = payload(b);
			return b;
		}
		looked++;
	}
	return NULL;
}

void *hm__heap_alloc(struct hm_heap *h, size_t size, size_t align, size_t bound, unsigned flags)
{
	size_t usable;

	return hm__heap_alloc_sized(h, size, align, bound, flags, &usable);
}

void *hm__heap_alloc_sized(struct hm_heap *h, size_t size, size_t align, size_t bound,
			   unsigned flags, size_t *usable)
{
	struct request r;
	struct hm_heap_block *b;
	char *p = NULL;

	if (size == 0 || size > HM_HEAP_MAX_SIZE || !hm__is_pow2(HM_MAX(align, 1)) ||
	    (bound && !hm__is_pow2(bound)) || align > HM_HEAP_MAX_SIZE || bound > HM_HEAP_MAX_SIZE)
		return hm__null_errno(EINVAL);
	r.size = size;
	r.align = HM_MAX(align, HM_HEAP_UNIT);
	r.bound = bound;
	r.contig = flags & HM_HEAP_CONTIG;
	r.fit = flags & HM_HEAP_FIT;
	r.rules = r.align > HM_HEAP_UNIT || bound || r.contig;
	r.need = hm__align_up(size + HM_HEAP_HDR, HM_HEAP_UNIT);
	r.want = r.need + (r.rules ? r.align - HM_HEAP_UNIT + bound : 0);

	hm__mutex_lock(&h->lock);
	b = find(h, &r, &p);
	/* Grow by a block of the searched class, so the next search finds it. An
	 * IOVA-contiguous request tries ordinary pages when it may fit within one
	 * page or IOVA is VA, then a contiguous run of its own. */
	bool multi_page_pa = r.contig && SH()->iova_pa && size + HM_HEAP_UNIT > h->page_size;
	if (!b && !multi_page_pa && grow(h, search_size(r.want), false) == 0)
		b = find(h, &r, &p);
	if (!b && r.contig && grow(h, search_size(r.want), true) == 0)
		b = find(h, &r, &p);
	if (!b) {
		trim(h);
		hm__mutex_unlock(&h->lock);
		return hm__null_errno(ENOMEM);
	}
	take(h, b);
	b = carve(h, b, p, r.need, flags);
	*usable = hm__heap_usable(b);
	/* The block may have been freed and poisoned before: it is the caller's now.
	 * Under the lock, so that a racing free of the same address (misuse) never
	 * reads it while it is still poisoned. */
	hm_track_undefined(payload(b), *usable);
	hm__mutex_unlock(&h->lock);
	HM_ASSERT((uintptr_t)payload(b) % r.align == 0);
	return payload(b);
}

unsigned hm__heap_alloc_run(struct hm_heap *h, uint64_t bsize_, unsigned n, void **out)
{
	struct request r = {.align = HM_HEAP_UNIT};
	struct hm_heap_block *b = NULL, *c = NULL;
	unsigned want = n;
	char *p;

	hm__mutex_lock(&h->lock);
	/* The whole run if a free block holds it, else the longest run that fits. */
	for (;;) {
		r.need = r.want = want * bsize_;
		r.size = r.need - HM_HEAP_HDR;
		b = find(h, &r, &p);
		if (b || want == 1)
			break;
		want /= 2;
	}
	if (!b && grow(h, search_size((uint64_t)n * bsize_), false) == 0) {
		want = n;
		r.need = r.want = want * bsize_;
		r.size = r.need - HM_HEAP_HDR;
		b = find(h, &r, &p);
	}
	if (!b) {
		trim(h);
		hm__mutex_unlock(&h->lock);
		return 0;
	}
	take(h, b);
	split(h, b, r.need);
	/* Cut the run into want blocks; the last keeps what split left over. */
	uint64_t total = bsize(b), prev = b->prev;
	for (unsigned i = 0; i < want; i++) {
		c = (struct hm_heap_block *)((char *)b + i * bsize_);
		init_block(h, c, i + 1 < want ? bsize_ : total - i * bsize_, prev);
		set_tag(c, h->index, HM_BLOCK_CACHED);

		prev = off_of(c);
		out[i] = payload(c);
	}
	next_block(c)->prev = off_of(c);
	h->st.n_used_blocks += want;
	h->st.run_allocs += want;
	hm__mutex_unlock(&h->lock);
	return want;
}

/* Whether b looks like a live block's header. It may be any memory of the
 * heap, freed and poisoned included: the checkers must not see this read. */
static HM_NO_TRACK bool header_live(const struct hm_shared *sh, const struct hm_heap_block *b)
{
	uint64_t t, size;

	/* Read here, not through the helpers, which the checkers do see. */
	hm_track_quiet_begin();
	t = atomic_load_explicit(&((struct hm_heap_block *)b)->tag, memory_order_relaxed);
	size = b->size;
	hm_track_quiet_end();
	hm_track_defined(&t, sizeof(t));
	hm_track_defined(&size, sizeof(size));
	return HM_HEAP_TAG_COOKIE(t) == hm__heap_cookie(sh, b) && !(size & FREE_BIT) &&
	       HM_HEAP_TAG_HEAP(t) < sh->n_seglists && size >= HM_HEAP_UNIT &&
	       size % HM_HEAP_UNIT == 0;
}

/* The header of payload p if p could be one (aligned, in committed pages), else NULL. */
static struct hm_heap_block *candidate(const struct hm_shared *sh, const void *p)
{
	struct hm_heap_block *b;

	if (!sh || !p || (uintptr_t)p % HM_HEAP_UNIT)
		return NULL;
	b = (struct hm_heap_block *)((uintptr_t)p - HM_HEAP_HDR);
	/* The header must be in a committed page before we read it (the payload's
	 * first line shares its page: p is a cache line past a 32-byte header). */
	int i = hm__seglist_of(sh, b);
	if (i < 0 || !hm__seglist_committed(sh, (unsigned)i, b))
		return NULL;
	return b;
}

struct hm_heap_block *hm__heap_block_of(const void *p)
{
	struct hm_shared *sh = SH();
	struct hm_heap_block *b = candidate(sh, p);

	return b && header_live(sh, b) ? b : NULL;
}

struct hm_heap *hm__heap_at(const void *p)
{
	struct hm_shared *sh = SH();
	int i = sh && p ? hm__seglist_of(sh, p) : -1;

	return i < 0 ? NULL : &heaps(sh)[i];
}

/*
 * With h locked: the live block of h at payload p, or NULL. Pages of h are
 * committed and released only under its lock, so what is checked here stays
 * true until the caller unlocks: a block freed by another thread meanwhile
 * is seen as freed, and its memory is never read after it was unmapped.
 */
static struct hm_heap_block *live_block(struct hm_heap *h, const void *p)
{
	struct hm_shared *sh = SH();
	struct hm_heap_block *b = candidate(sh, p);

	return b && header_live(sh, b) && HM_HEAP_TAG_HEAP(tag_of(b)) == h->index ? b : NULL;
}

/*
 * With h locked: give back claimed block b (its tag's kind already 0),
 * merged with both neighbours at once; a chunk that becomes wholly free is
 * released unless it is the one empty chunk kept for the next allocation.
 */
static void release_block(struct hm_heap *h, struct hm_heap_block *b)
{
	struct hm_heap_block *n = next_block(b);

	h->st.n_used_blocks--;
	if (is_free(n)) {
		remove_free(h, n);
		b->size += bsize(n);
		wipe(n);
	}
	if (b->prev) {
		struct hm_heap_block *pb = blk(b->prev);
		if (is_free(pb)) {
			remove_free(h, pb);
			pb->size += bsize(b);
			wipe(b);
			b = pb;
		}
	}
	next_block(b)->prev = off_of(b);
	if (spans_chunk(b) && !chunk_of_first(b)->pinned && h->n_empty >= 1) {
		/* Keep one empty chunk for the next allocation; give back the rest. */
		release_chunk(h, chunk_of_first(b));
	} else {
		insert(h, b);
		note_empty(h, b, +1);
	}
}

int hm__heap_inspect(const void *p, hm__heap_block_fn *fn, void *arg)
{
	struct hm_heap *h = hm__heap_at(p);
	struct hm_heap_block *b;
	int rc;

	if (!h)
		return -ENOENT;
	hm__mutex_lock(&h->lock);
	b = live_block(h, p);
	rc = b ? fn(b, arg) : -EINVAL;
	hm__mutex_unlock(&h->lock);
	return rc;
}

int hm__heap_free(void *p, enum hm_block_kind kind, hm__heap_block_fn *before, void *arg)
{
	struct hm_heap *h = hm__heap_at(p);
	struct hm_heap_block *b;

	if (!h) {
		hm__err("free of %p: not hugemem memory", p);
		return -EINVAL;
	}
	/* Everything is checked under the lock: another thread may free the same
	 * pointer at the same time (one of the two frees is refused), and may
	 * release the pages it lies in. */
	hm__mutex_lock(&h->lock);
	b = live_block(h, p);
	/* Claim the block: the lock-free free of a thread cache claims it with the
	 * same compare-and-swap on its tag, so only one of two frees wins. */
	uint64_t t = b ? tag_of(b) : 0;
	if (b && (!kind || HM_HEAP_TAG_KIND(t) == kind) &&
	    !atomic_compare_exchange_strong_explicit(&b->tag, &t,
						     HM_HEAP_TAG(cookie_for(b), h->index, 0),
						     memory_order_acq_rel, memory_order_relaxed))
		b = NULL; /* claimed by a lock-free free meanwhile: this one is the double free */
	if (!b || (kind && HM_HEAP_TAG_KIND(t) != kind)) {
		unsigned found = b ? HM_HEAP_TAG_KIND(t) : 0;

		h->st.errors++;
		hm__mutex_unlock(&h->lock);
		hm__err("free of %p: %s", p,
			!b ? "not a live heap block (double free, interior pointer or smashed "
			     "header)"
			: found == HM_BLOCK_CACHED ? "double free (the block is free already, "
						     "held by a thread cache)"
			: found == HM_BLOCK_ZONE   ? "it is a zone's memory"
						   : "a block of another kind");
		return -EINVAL;
	}
	if (before)
		before(b, arg);
	h->st.frees++;
	release_block(h, b);
	hm__mutex_unlock(&h->lock);
	return 0;
}

void hm__heap_free_run(struct hm_heap *h, void *const *p, unsigned n)
{
	unsigned bad = 0;
	void *first_bad = NULL;

	hm__mutex_lock(&h->lock);
	for (unsigned i = 0; i < n; i++) {
		struct hm_heap_block *b = live_block(h, p[i]);
		uint64_t t = b ? tag_of(b) : 0;

		if (!b || HM_HEAP_TAG_KIND(t) != HM_BLOCK_CACHED ||
		    !atomic_compare_exchange_strong_explicit(
			    &b->tag, &t, HM_HEAP_TAG(cookie_for(b), h->index, 0),
			    memory_order_acq_rel, memory_order_relaxed)) {
			if (!bad++)
				first_bad = p[i];
			h->st.errors++;
			continue;
		}
		h->st.run_frees++;
		release_block(h, b);
	}
	hm__mutex_unlock(&h->lock);
	if (bad)
		hm__err("heap %u: %u blocks of a thread cache were not cached blocks (the first "
			"at %p): left alone",
			h->index, bad, first_bad);
}

int hm__heap_resize(void *p, size_t size, size_t *usable)
{
	struct hm_heap *h = hm__heap_at(p);
	struct hm_heap_block *b, *n;
	uint64_t need;
	int rc = 0;

	if (!h || size == 0 || size > HM_HEAP_MAX_SIZE)
		return -EINVAL;
	need = hm__align_up(size + HM_HEAP_HDR, HM_HEAP_UNIT);
	hm__mutex_lock(&h->lock);
	b = live_block(h, p);
	if (!b) {
		rc = -EINVAL;
		goto out;
	}
	n = next_block(b);
	uint64_t old = bsize(b);
	if (need > old) {
		/* Grow into the next block if it is free and large enough. */
		if (!is_free(n) || bsize(b) + bsize(n) < need) {
			rc = -ENOMEM;
			goto out;
		}
		remove_free(h, n);
		wipe(n);
		b->size += bsize(n);
		next_block(b)->prev = off_of(b);
		/* The block after n is in use (no two free blocks touch): a plain split. */
		split(h, b, need);
	} else if (bsize(b) - need >= HM_HEAP_UNIT) {
		/* Shrink: the tail becomes free, merged with a free next block. */
		uint64_t rest = bsize(b) - need;
		struct hm_heap_block *r = (struct hm_heap_block *)((char *)b + need);

		if (is_free(n)) {
			remove_free(h, n);
			wipe(n);
			rest += bsize(n);
		}
		b->size = need;
		init_block(h, r, rest, off_of(b));
		next_block(r)->prev = off_of(r);
		insert(h, r);
	}
	*usable = hm__heap_usable(b);
	/* Grown into a neighbour that was freed (and poisoned): open up the new
	 * part only, as the old one holds the caller's data. */
	if (bsize(b) > old)
		hm_track_undefined((char *)b + old, bsize(b) - old);
out:
	hm__mutex_unlock(&h->lock);
	return rc;
}

/* The longest payload with align and bound that free block b can hold. */
static uint64_t fit_in(struct hm_heap_block *b, uint64_t align, uint64_t bound)
{
	uintptr_t p = (uintptr_t)hm__align_up((uintptr_t)payload(b), align);
	uintptr_t end = (uintptr_t)b + bsize(b);
	uint64_t len, shifted;

	if (p >= end)
		return 0;
	len = end - p;
	if (!bound)
		return len;
	len = HM_MIN(len, bound - p % bound);
	p = (uintptr_t)hm__align_up(p, bound);
	shifted = p < end ? HM_MIN(end - p, bound) : 0;
	return HM_MAX(len, shifted);
}

size_t hm__heap_largest(struct hm_heap *h, size_t align, size_t bound)
{
	uint64_t best = 0;

	if (align < HM_HEAP_UNIT)
		align = HM_HEAP_UNIT;
	hm__mutex_lock(&h->lock);
	/* The largest blocks are in the highest non-empty class; look at all of them. */
	if (h->fl_bitmap) {
		unsigned fl = 63u - (unsigned)__builtin_clzll(h->fl_bitmap);
		unsigned sl = 31u - (unsigned)__builtin_clz(h->sl_bitmap[fl]);
		for (uint64_t o = h->head[fl][sl]; o; o = links(blk(o))->next)
			best = HM_MAX(best, fit_in(blk(o), align, bound));
	}
	hm__mutex_unlock(&h->lock);
	return (size_t)best;
}

void hm__heap_get_stats(struct hm_heap *h, struct hm_heap_stats *st)
{
	hm__mutex_lock(&h->lock);
	*st = h->st;
	st->largest_free = 0;
	if (h->fl_bitmap) {
		unsigned fl = 63u - (unsigned)__builtin_clzll(h->fl_bitmap);
		unsigned sl = 31u - (unsigned)__builtin_clz(h->sl_bitmap[fl]);
		for (uint64_t o = h->head[fl][sl]; o; o = links(blk(o))->next)
			st->largest_free = HM_MAX(st->largest_free, bsize(blk(o)) - HM_HEAP_HDR);
	}
	hm__mutex_unlock(&h->lock);
}

void hm__heap_dump(struct hm_heap *h, FILE *f)
{
	hm__mutex_lock(&h->lock);
	fprintf(f,
		"heap %u: %" PRIu64 " KiB pages, node %d: %" PRIu64 " bytes in %" PRIu64
		" chunks, %" PRIu64 " free; %" PRIu64 " blocks in use (%" PRIu64
		" of them by thread caches), %" PRIu64 " free; %" PRIu64 " allocs, %" PRIu64
		" frees, %" PRIu64 " grows, %" PRIu64 " releases, %" PRIu64 " errors\n",
		h->index, h->page_size >> 10, h->socket, h->st.heap_size, h->st.n_chunks,
		h->st.free_size, h->st.n_used_blocks, h->st.run_allocs - h->st.run_frees,
		h->st.n_free_blocks, h->st.allocs, h->st.frees, h->st.grows, h->st.releases,
		h->st.errors);
	for (uint64_t co = h->chunks; co; co = ((struct hm_heap_chunk *)blk(co))->next) {
		struct hm_heap_chunk *c = (struct hm_heap_chunk *)blk(co);
		struct hm_heap_block *b = (struct hm_heap_block *)((char *)c + HM_HEAP_HDR);
		uint64_t used = 0, free = 0, largest = 0;

		for (; bsize(b) != 0; b = next_block(b)) {
			if (is_free(b)) {
				free++;
				largest = HM_MAX(largest, bsize(b) - HM_HEAP_HDR);
			} else {
				used++;
			}
		}
		fprintf(f,
			"  chunk %p: %" PRIu64 " bytes%s, %" PRIu64 " blocks in use, %" PRIu64
			" free (largest %" PRIu64 ")\n",
			(void *)c, c->len, c->pinned ? " (preallocated)" : "", used, free, largest);
	}
	hm__mutex_unlock(&h->lock);
}

void hm__heap_add_counts(struct hm_heap *h, uint64_t allocs, uint64_t frees)
{
	hm__mutex_lock(&h->lock);
	h->st.allocs += allocs;
	h->st.frees += frees;
	hm__mutex_unlock(&h->lock);
}

#define AUDIT_FAIL(...)               \
	do {                          \
		hm__err(__VA_ARGS__); \
		rc = -EFAULT;         \
		goto out;             \
	} while (0)

int hm__heap_audit(struct hm_heap *h)
{
	uint64_t n_free = 0, free_size = 0, n_used = 0, heap_size = 0, n_chunks = 0, listed = 0;
	int rc = 0;

	hm__mutex_lock(&h->lock);
	for (uint64_t co = h->chunks; co; co = ((struct hm_heap_chunk *)blk(co))->next) {
		struct hm_heap_chunk *c = (struct hm_heap_chunk *)blk(co);
		struct hm_heap_block *b = (struct hm_heap_block *)((char *)c + HM_HEAP_HDR);
		uint64_t prev = 0, sum = 0;
		bool prev_free = false;

		n_chunks++;
		heap_size += c->len;
		while (bsize(b) != 0) {
			if (b->prev != prev)
				AUDIT_FAIL("heap %u: block %p: prev link %#" PRIx64
					   ", expected %#" PRIx64,
					   h->index, (void *)b, b->prev, prev);
			if (HM_HEAP_TAG_COOKIE(tag_of(b)) != cookie_for(b))
				AUDIT_FAIL("heap %u: block %p: bad cookie", h->index, (void *)b);
			if (bsize(b) % HM_HEAP_UNIT || bsize(b) < HM_HEAP_UNIT)
				AUDIT_FAIL("heap %u: block %p: bad size %" PRIu64, h->index,
					   (void *)b, bsize(b));
			if (is_free(b) && prev_free)
				AUDIT_FAIL("heap %u: blocks before %p are both free", h->index,
					   (void *)b);
			prev_free = is_free(b);
			if (is_free(b)) {
				n_free++;
				free_size += bsize(b);
			} else {
				n_used++;
			}
			sum += bsize(b);
			if (sum > c->len)
				AUDIT_FAIL("heap %u: chunk %p overruns", h->index, (void *)c);
			prev = off_of(b);
			b = next_block(b);
		}
		if (b->prev != prev || sum != c->len - 2 * HM_HEAP_HDR)
			AUDIT_FAIL("heap %u: chunk %p: blocks add up to %" PRIu64 " of %" PRIu64,
				   h->index, (void *)c, sum, c->len - 2 * HM_HEAP_HDR);
	}
	for (unsigned fl = 0; fl < HM_HEAP_FL; fl++) {
		for (unsigned sl = 0; sl < HM_HEAP_SL; sl++) {
			uint64_t prev = 0;
			bool bit = (h->sl_bitmap[fl] >> sl) & 1;

			if (bit != (h->head[fl][sl] != 0) || (bit && !((h->fl_bitmap >> fl) & 1)))
				AUDIT_FAIL(
					"heap %u: class (%u, %u): bitmaps disagree with the list",
					h->index, fl, sl);
			for (uint64_t o = h->head[fl][sl]; o; o = links(blk(o))->next) {
				struct hm_heap_block *b = blk(o);
				unsigned f, s;

				mapping(bsize(b), &f, &s);
				if (!is_free(b) || f != fl || s != sl || links(b)->prev != prev)
					AUDIT_FAIL("heap %u: free list (%u, %u): bad block %p",
						   h->index, fl, sl, (void *)b);
				prev = o;
				if (++listed > n_free)
					AUDIT_FAIL("heap %u: free lists hold more blocks than the "
						   "chunks",
						   h->index);
			}
		}
	}
	if (listed != n_free || n_free != h->st.n_free_blocks || free_size != h->st.free_size ||
	    n_used != h->st.n_used_blocks || heap_size != h->st.heap_size ||
	    n_chunks != h->st.n_chunks)
		AUDIT_FAIL("heap %u: counters disagree with the blocks (free %" PRIu64 "/%" PRIu64
			   ", used %" PRIu64 "/%" PRIu64 ")",
			   h->index, n_free, h->st.n_free_blocks, n_used, h->st.n_used_blocks);
out:
	hm__mutex_unlock(&h->lock);
	return rc;
}

int hm__heap_setup(struct hm_shared *sh)
{
	uint64_t off = hm__shared_alloc(sh, sizeof(struct hm_heap) * sh->n_seglists, 64);
	int rc;

	if (!off)
		return -ENOMEM;
	sh->area_off[HM_AREA_HEAP] = off;
	for (unsigned i = 0; i < sh->n_seglists; i++) {
		struct hm_heap *h = &heaps(sh)[i];
		struct hm_seglist *sl = &sh->seglists[i];

		memset(h, 0, sizeof(*h));
		if ((rc = hm__mutex_init(&h->lock)) != 0)
			return rc;
		h->index = i;
		h->socket = sl->socket;
		h->page_size = sl->page_size;
		/* The prealloc is the first pages of the list: one pinned chunk. */
		if (sl->n_pinned) {
			hm__mutex_lock(&h->lock);
			add_chunk(h, hm__ptr(sh, sl->base_off), sl->n_pinned * sl->page_size, true);
			hm__mutex_unlock(&h->lock);
		}
	}
	return 0;
}

static bool size_matches(uint64_t page_size, unsigned flags)
{
	return ((flags & HM_MEMZONE_4KB) && page_size == HM_PAGE_SIZE_4K) ||
	       ((flags & HM_MEMZONE_2MB) && page_size == HM_PAGE_SIZE_2M) ||
	       ((flags & HM_MEMZONE_1GB) && page_size == HM_PAGE_SIZE_1G);
}

unsigned hm__heap_order(int socket, unsigned flags, unsigned *order)
{
	const unsigned page_flags = HM_MEMZONE_4KB | HM_MEMZONE_2MB | HM_MEMZONE_1GB;
	const struct hm_shared *sh = SH();
	/* One node: no need to ask the kernel where we run. */
	int near = socket != HM_SOCKET_ANY ? socket
		   : sh->n_sockets == 1    ? sh->sockets[0]
					   : hm_socket_id();
	bool sized = flags & page_flags;
	unsigned n = 0;

	for (unsigned rank = 0; rank < 4; rank++) {
		bool want_other_size = rank >= 2, want_far = rank % 2;

		for (unsigned i = 0; i < sh->n_seglists; i++) {
			const struct hm_seglist *sl = &sh->seglists[i];
			bool other_size = sized && !size_matches(sl->page_size, flags);
			bool far = sl->socket != near;

			if (other_size != want_other_size || far != want_far)
				continue;
			if (other_size && !(flags & HM_MEMZONE_SIZE_HINT_ONLY))
				continue;
			if (far && socket != HM_SOCKET_ANY)
				continue;
			order[n++] = i;
		}
	}
	return n;
}
