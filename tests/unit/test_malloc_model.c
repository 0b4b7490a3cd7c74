/* SPDX-License-Identifier: MIT */
/*
 * test_malloc_model.c - the heap API against a model, randomised (the seed
 * is printed; HUGEMEM_TEST_SEED replays a run): malloc, zmalloc, calloc,
 * realloc and free over up to 10,000 live blocks, sizes log-uniform from
 * 1 B to 1 MiB, alignments 0 or powers of two up to 64 KiB, five types.
 * Every block carries a pattern made from its id, checked at free and at
 * realloc (the prefix kept); validate is asked about live blocks, interior
 * pointers and freed ones (-EINVAL unless the address is live again); bad
 * frees are refused and counted. At checkpoints: no two live blocks
 * overlap, every pattern is intact, the counters match the model, the
 * heaps pass their audit. At the end, all freed, every counter is back.
 *
 * Two million operations; HUGEMEM_TEST_SCALE (a factor) changes that, and
 * sanitizer and valgrind runs do fewer.
 */
#include "harness.h"
#include "internal.h"
#include "heap/heap.h"
#include <hugemem.h>

#include <stdlib.h>

#define MIB      ((size_t)1 << 20)
#define MAX_LIVE 10000
#define BUDGET   (64 * MIB) /* requested bytes live at most */
#define N_OPS    2000000

/* Model types: 0 is untyped (asked as NULL or ""), 1..4 named. */
#define N_TYPES 5
static const char *const type_name[N_TYPES] = {"", "model-a", "model-b", "model-c", "model-d"};

struct blk {
	uint8_t *p;
	size_t size;   /* requested */
	size_t usable; /* what validate said */
	uint32_t id;
	uint8_t type;
};

static struct blk live[MAX_LIVE];
static unsigned n_live;
static size_t live_req; /* requested bytes of the live blocks */
static uint32_t next_id = 1;
static uint64_t type_bytes[N_TYPES], type_blocks[N_TYPES];
static uint64_t bad_frees; /* refused frees we did on purpose */

static struct hm_malloc_stats base;
static struct hm_malloc_type_stats type_base[N_TYPES];

static unsigned long failures;
static unsigned long n_allocs, n_frees, n_moved, n_in_place, n_validates;
static size_t most_bytes;

/* Report a failure; after 20 only count them, so that a broken heap does not flood the log. */
#define FAIL(...)                                                              \
	do {                                                                   \
		if (++failures <= 20)                                          \
			t_fail(__FILE__, __LINE__, false, __VA_ARGS__);        \
		else if (failures == 21)                                       \
			t_fail(__FILE__, __LINE__, false, "more failures..."); \
	} while (0)

static double scale(void)
{
	return t_scale(0.25, 0.1);
}

/* --- live blocks by address: open addressing, linear probing --- */

#define HASH_LOG 15
#define HASH     (1u << HASH_LOG)

static uintptr_t hkey[HASH];
static unsigned hval[HASH];

static unsigned hslot(uintptr_t k)
{
	return (unsigned)(((uint64_t)k * UINT64_C(0x9e3779b97f4a7c15)) >> (64 - HASH_LOG));
}

static int hfind(const void *p)
{
	uintptr_t k = (uintptr_t)p;

	for (unsigned i = hslot(k);; i = (i + 1) & (HASH - 1)) {
		if (hkey[i] == k)
			return (int)i;
		if (!hkey[i])
			return -1;
	}
}

static void hput(const void *p, unsigned v)
{
	uintptr_t k = (uintptr_t)p;
	unsigned i = hslot(k);

	while (hkey[i] && hkey[i] != k)
		i = (i + 1) & (HASH - 1);
	hkey[i] = k;
	hval[i] = v;
}

static void hdel(const void *p)
{
	int f = hfind(p);
	unsigned i, j;

	if (f < 0)
		return;
	i = (unsigned)f;
	/* Backward shift: move up every later entry whose probe passes the hole. */
	for (j = (i + 1) & (HASH - 1); hkey[j]; j = (j + 1) & (HASH - 1)) {
		unsigned home = hslot(hkey[j]);
		bool passes = i <= j ? (home <= i || home > j) : (home <= i && home > j);

		if (passes) {
			hkey[i] = hkey[j];
			hval[i] = hval[j];
			i = j;
		}
	}
	hkey[i] = 0;
}

/* --- recently freed addresses --- */

#define N_FREED 512
static uint8_t *freed[N_FREED];
static unsigned n_freed_total;

static void remember_freed(uint8_t *p)
{
	freed[n_freed_total++ % N_FREED] = p;
}

/* --- patterns: the first and last 128 bytes and every 1024th --- */

#define HEAD   128u
#define STRIDE 1024u

static size_t next_pos(size_t k, size_t size)
{
	size_t n = k + 1, j;

	if (n < HEAD || n + HEAD >= size)
		return n;
	j = (n + STRIDE - 1) & ~(size_t)(STRIDE - 1);
	return j < size - HEAD ? j : size - HEAD;
}

static uint8_t pat(uint32_t id, size_t k)
{
	return (uint8_t)(id * 0x9du + (uint32_t)(k >> 3) * 0x35u + (uint32_t)k);
}

static void fill(const struct blk *b)
{
	for (size_t k = 0; k < b->size; k = next_pos(k, b->size))
		b->p[k] = pat(b->id, k);
}

/* The first position below lim (of those of a block of size bytes) that is wrong, or SIZE_MAX. */
static size_t bad_pos(const uint8_t *p, uint32_t id, size_t size, size_t lim)
{
	for (size_t k = 0; k < size && k < lim; k = next_pos(k, size))
		if (p[k] != pat(id, k))
			return k;
	return SIZE_MAX;
}

static bool zeroed(const uint8_t *p, size_t size)
{
	if (size <= 4096) {
		for (size_t k = 0; k < size; k++)
			if (p[k])
				return false;
		return true;
	}
	for (size_t k = 0; k < size; k = next_pos(k, size))
		if (p[k])
			return false;
	return true;
}

/* --- random requests --- */

static unsigned max_log = 20; /* sizes below 2^(max_log) bytes */

static size_t rand_size(void)
{
	unsigned bits = (unsigned)t_rand_below(max_log);

	if (max_log == 20 && t_rand_below(1000) == 0)
		return MIB;
	return ((size_t)1 << bits) + (size_t)t_rand_below((uint64_t)1 << bits);
}

static size_t rand_align(void)
{
	return t_rand_below(2) ? 0 : (size_t)1 << t_rand_below(17);
}

static bool aligned(const void *p, size_t align)
{
	return (uintptr_t)p % (align ? align : HM_CACHE_LINE) == 0;
}

static size_t validated(const void *p, const char *what)
{
	size_t n = 0;
	int rc = hm_malloc_validate(p, &n);

	if (rc != 0) {
		FAIL("%s: validate(%p) = %d", what, p, rc);
		return 0;
	}
	return n;
}

/* --- operations --- */

static void add_live(uint8_t *p, size_t size, size_t usable, uint32_t id, uint8_t type)
{
	struct blk *b = &live[n_live];

	if (hfind(p) >= 0)
		FAIL("%p handed out while live", (void *)p);
	b->p = p;
	b->size = size;
	b->usable = usable;
	b->id = id;
	b->type = type;
	hput(p, n_live);
	n_live++;
	live_req += size;
	type_bytes[type] += usable;
	type_blocks[type]++;
}

static void drop_live(unsigned i)
{
	struct blk *b = &live[i];

	hdel(b->p);
	live_req -= b->size;
	type_bytes[b->type] -= b->usable;
	type_blocks[b->type]--;
	if (i != --n_live) {
		*b = live[n_live];
		hput(b->p, i);
	}
}

static void op_alloc(void)
{
	size_t size = rand_size(), align = rand_align(), n = 1, usable;
	uint8_t type = (uint8_t)t_rand_below(N_TYPES);
	const char *name = type == 0 && t_rand_below(2) ? NULL : type_name[type];
	unsigned how = (unsigned)t_rand_below(10);
	bool zero = false;
	uint8_t *p;

	if (live_req + size > BUDGET || n_live == MAX_LIVE)
		return;
	switch (how) {
	case 0:
	case 1:
		p = hm_zmalloc(name, size, align);
		zero = true;
		break;
	case 2:
		/* n * each >= 1; the block is n * each bytes */
		n = 1 + (size_t)t_rand_below(16);
		size = size / n ? size / n : 1;
		p = hm_calloc(name, n, size, align);
		size *= n;
		zero = true;
		break;
	case 3:
		p = hm_realloc(NULL, size, align);
		type = 0;
		break;
	case 4:
		p = hm_malloc_socket(name, size, align, HM_SOCKET_ANY);
		break;
	case 5:
		p = hm_zmalloc_socket(name, size, align, HM_SOCKET_ANY);
		zero = true;
		break;
	default:
		p = hm_malloc(name, size, align);
		break;
	}
	if (!p) {
		FAIL("allocation %u of %zu bytes, align %zu: %s (%u live, %zu bytes)", how, size,
		     align, strerror(errno), n_live, live_req);
		return;
	}
	if (!aligned(p, align))
		FAIL("block %p of %zu bytes not aligned to %zu", (void *)p, size, align);
	usable = validated(p, "new block");
	if (usable < size)
		FAIL("block %p: %zu usable, %zu asked", (void *)p, usable, size);
	if (zero && !zeroed(p, size))
		FAIL("zeroed block %p of %zu bytes is not zero", (void *)p, size);
	add_live(p, size, usable, next_id++, type);
	fill(&live[n_live - 1]);
	n_allocs++;
	most_bytes = live_req > most_bytes ? live_req : most_bytes;
}

static void op_free(unsigned i)
{
	struct blk *b = &live[i];
	size_t k = bad_pos(b->p, b->id, b->size, SIZE_MAX), n = validated(b->p, "free");
	uint8_t *p = b->p;

	if (k != SIZE_MAX)
		FAIL("block %p (%zu bytes, id %u) changed at %zu before its free", (void *)p,
		     b->size, b->id, k);
	if (n != b->usable)
		FAIL("block %p: usable %zu, was %zu", (void *)p, n, b->usable);
	hm_free(p);
	drop_live(i);
	remember_freed(p);
	n_frees++;
}

static void op_realloc(unsigned i)
{
	struct blk *b = &live[i];
	size_t size = rand_size(), align = rand_align(), old = b->size, k, n;
	uint8_t *p = b->p, *q;

	if (t_rand_below(50) == 0) {
		/* refused: the block stays as it was */
		errno = 0;
		q = t_rand_below(2) ? hm_realloc(p, 0, align) : hm_realloc(p, size, 48);
		if (q || errno != EINVAL)
			FAIL("bad realloc of %p: %p/%s", (void *)p, (void *)q, strerror(errno));
		if (validated(p, "refused realloc") != b->usable)
			FAIL("refused realloc changed %p", (void *)p);
		return;
	}
	if (live_req - old + size > BUDGET)
		size = old;
	q = hm_realloc(p, size, align);
	if (!q) {
		FAIL("realloc of %p from %zu to %zu, align %zu: %s", (void *)p, old, size, align,
		     strerror(errno));
		return;
	}
	if (!aligned(q, align))
		FAIL("realloc %p: not aligned to %zu", (void *)q, align);
	n = validated(q, "realloc");
	if (n < size)
		FAIL("realloc %p: %zu usable, %zu asked", (void *)q, n, size);
	k = bad_pos(q, b->id, old, size);
	if (k != SIZE_MAX)
		FAIL("realloc of %p (%zu bytes, id %u) to %p (%zu): contents lost at %zu",
		     (void *)p, old, b->id, (void *)q, size, k);
	if (q != p) {
		if (hm_malloc_validate(p, NULL) != -EINVAL)
			FAIL("the old block %p is still valid after a moving realloc", (void *)p);
		remember_freed(p);
		n_moved++;
	} else {
		n_in_place++;
	}
	hdel(p);
	hput(q, i);
	live_req += size - old;
	type_bytes[b->type] += n - b->usable;
	b->p = q;
	b->size = size;
	b->usable = n;
	fill(b);
}

static void op_validate(void)
{
	struct blk *b = &live[t_rand_below(n_live)];
	size_t n = 0, off;
	int rc;

	n_validates++;
	if (validated(b->p, "validate") != b->usable)
		FAIL("validate(%p) changed its size", (void *)b->p);
	/* interior */
	off = b->usable > HM_CACHE_LINE ? HM_CACHE_LINE * (1 + t_rand_below(b->usable / 64))
					: 1 + t_rand_below(HM_CACHE_LINE - 1);
	if (off < b->usable && hm_malloc_validate(b->p + off, NULL) != -EINVAL)
		FAIL("validate(%p + %zu), interior, did not fail", (void *)b->p, off);
	/* freed: invalid unless it is a live block again */
	if (n_freed_total) {
		unsigned j =
			(unsigned)t_rand_below(n_freed_total < N_FREED ? n_freed_total : N_FREED);
		uint8_t *f = freed[j];
		int h = hfind(f);

		rc = hm_malloc_validate(f, &n);
		if (h >= 0 && (rc != 0 || n != live[hval[h]].usable))
			FAIL("validate(%p), live again, = %d", (void *)f, rc);
		if (h < 0 && rc != -EINVAL)
			FAIL("validate(%p), freed, = %d", (void *)f, rc);
	}
}

static void op_bad_free(void)
{
	uint8_t *f;

	if (n_freed_total == 0)
		return;
	f = freed[t_rand_below(n_freed_total < N_FREED ? n_freed_total : N_FREED)];
	if (t_rand_below(2) && n_live) {
		/* interior pointer of a live block */
		struct blk *b = &live[t_rand_below(n_live)];

		if (b->usable <= 2 * HM_CACHE_LINE)
			return;
		f = b->p + HM_CACHE_LINE;
	} else if (hfind(f) >= 0) {
		return; /* live again: its free would be a real one */
	}
	hm_free(f);
	bad_frees++;
}

/* --- checkpoints --- */

static int by_addr(const void *a, const void *b)
{
	const struct blk *x = *(const struct blk *const *)a, *y = *(const struct blk *const *)b;

	return x->p < y->p ? -1 : x->p > y->p;
}

static void checkpoint(const char *when)
{
	static const struct blk *sorted[MAX_LIVE];
	struct hm_malloc_stats st;
	struct hm_malloc_type_stats ts;

	for (unsigned i = 0; i < n_live; i++) {
		const struct blk *b = &live[i];
		size_t k = bad_pos(b->p, b->id, b->size, SIZE_MAX);

		if (k != SIZE_MAX)
			FAIL("%s: block %p (%zu bytes, id %u) changed at %zu", when, (void *)b->p,
			     b->size, b->id, k);
		if (validated(b->p, when) != b->usable)
			FAIL("%s: block %p changed size", when, (void *)b->p);
		sorted[i] = b;
	}
	qsort(sorted, n_live, sizeof(sorted[0]), by_addr);
	for (unsigned i = 1; i < n_live; i++) {
		const struct blk *a = sorted[i - 1];
		const struct hm_heap_block *h = hm__heap_block_of(a->p);

		/* The payload, and the next block's header after it: nothing may overlap. */
		if (!h || a->p + hm__heap_usable(h) + HM_HEAP_HDR > sorted[i]->p) {
			FAIL("%s: blocks %p (+%zu) and %p overlap", when, (void *)a->p, a->usable,
			     (void *)sorted[i]->p);
			break;
		}
	}
	REQUIRE_EQ(hm_malloc_get_stats(HM_SOCKET_ANY, &st), 0);
	if (st.live_blocks != base.live_blocks + n_live)
		FAIL("%s: %llu live blocks, the model has %u", when,
		     (unsigned long long)(st.live_blocks - base.live_blocks), n_live);
	if (st.errors != base.errors + bad_frees)
		FAIL("%s: %llu errors counted, %llu bad frees done", when,
		     (unsigned long long)(st.errors - base.errors), (unsigned long long)bad_frees);
	CHECK_LE(st.free_size, st.heap_size);
	CHECK_LE(st.largest_free, st.free_size);
	if (t_log_lines() != bad_frees)
		FAIL("%s: %u log lines, %llu bad frees", when, t_log_lines(),
		     (unsigned long long)bad_frees);
	for (unsigned t = 0; t < N_TYPES; t++) {
		REQUIRE_EQ(hm_malloc_get_type_stats(type_name[t], &ts), 0);
		if (ts.live_bytes != type_base[t].live_bytes + type_bytes[t] ||
		    ts.live_blocks != type_base[t].live_blocks + type_blocks[t])
			FAIL("%s: type \"%s\": %llu bytes in %llu blocks, the model has %llu in "
			     "%llu",
			     when, type_name[t], (unsigned long long)ts.live_bytes,
			     (unsigned long long)ts.live_blocks, (unsigned long long)type_bytes[t],
			     (unsigned long long)type_blocks[t]);
		if (ts.high_water < ts.live_bytes)
			FAIL("%s: type \"%s\": high water below live bytes", when, type_name[t]);
	}
	for (unsigned i = 0; i < hm__heap_count(); i++)
		CHECK_EQ(hm__heap_audit(hm__heap_get(i)), 0);
}

static void test_model(void)
{
	struct hm_config c;
	unsigned long ops = (unsigned long)(N_OPS * scale());
	unsigned long phase = ops / 10 > 1000 ? ops / 10 : 1000, every = ops / 30 + 1;
	unsigned target = MAX_LIVE, most = 0;
	char when[64];

	if (ops < 1000)
		ops = 1000;
	hm_config_defaults(&c);
	c.no_huge = true;
	c.memory_limit = 512 * MIB;
	REQUIRE_EQ(hm_init(&c), 0);
	REQUIRE_EQ(hm_malloc_get_stats(HM_SOCKET_ANY, &base), 0);
	for (unsigned t = 0; t < N_TYPES; t++) {
		/* Types that exist already count from where they are. */
		if (hm_malloc_get_type_stats(type_name[t], &type_base[t]) != 0)
			memset(&type_base[t], 0, sizeof(type_base[t]));
		/* Register the named ones, so that the checkpoints can ask them. */
		if (t)
			REQUIRE_EQ(hm_malloc_set_limit(type_name[t], 0), 0);
	}
	t_log_lines_reset();
	hm_log_set_sink(t_count_sink, NULL);
	printf("%lu operations\n", ops);
	/* The first phase fills up with small blocks; later ones pick a size range and a target. */
	max_log = 12;
	for (unsigned long op = 0; op < ops; op++) {
		unsigned r = (unsigned)t_rand_below(100);
		unsigned grow = n_live < target ? 70 : 30;

		if (op && op % phase == 0) {
			static const unsigned logs[] = {20, 20, 16, 12, 8};

			target = (unsigned)t_rand_below(MAX_LIVE + 1);
			max_log = logs[t_rand_below(5)];
		}
		if (n_live == 0 || r < grow)
			op_alloc();
		else if (r < grow + 10)
			op_realloc((unsigned)t_rand_below(n_live));
		else
			op_free((unsigned)t_rand_below(n_live));
		if (n_live && t_rand_below(4) == 0)
			op_validate();
		if (t_rand_below(200) == 0)
			op_bad_free();
		most = n_live > most ? n_live : most;
		if (op % every == every - 1) {
			snprintf(when, sizeof(when), "after %lu operations", op + 1);
			checkpoint(when);
			if (failures > 20)
				break;
		}
	}
	checkpoint("at the end");
	printf("%lu allocs, %lu frees, %lu reallocs (%lu moved), %lu validates, %llu bad frees; "
	       "at most %u blocks and %zu bytes live\n",
	       n_allocs, n_frees, n_moved + n_in_place, n_moved, n_validates,
	       (unsigned long long)bad_frees, most, most_bytes);
	while (n_live)
		op_free(n_live - 1);
	checkpoint("all freed");
	hm_log_set_sink(NULL, NULL);
	for (unsigned t = 0; t < N_TYPES; t++) {
		struct hm_malloc_type_stats ts;

		REQUIRE_EQ(hm_malloc_get_type_stats(type_name[t], &ts), 0);
		CHECK_EQ(ts.live_bytes, 0);
		CHECK_EQ(ts.live_blocks, 0);
		CHECK_EQ(ts.allocs, ts.frees);
		CHECK_EQ(ts.refused, 0);
	}
	CHECK_EQ(failures, 0);
	hm_cleanup();
}

int main(int argc, char **argv)
{
	t_init(argc, argv);
	T_RUN(test_model);
	return t_done();
}
