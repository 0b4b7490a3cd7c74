/* SPDX-License-Identifier: MIT */
/*
 * test_slab_model.c - slab caches and the general caches against a model,
 * in one thread: about a million random operations (HUGEMEM_TEST_SCALE
 * scales them; sanitizer and valgrind runs do fewer), from the seed that
 * t_init() prints (HUGEMEM_TEST_SEED replays a run).
 *
 *   - caches of several shapes: tiny, odd-sized with a small alignment, with
 *     and without constructors, magazines, cache-line or page alignment,
 *     debug checks; and hm_kmalloc of sizes from 1 to 200000 (slab classes
 *     and heap blocks), hm_krealloc moving them around;
 *   - operations: alloc, free, bulk alloc and free, krealloc, with the number
 *     of live objects swinging between a few and many thousands (so slabs
 *     empty and get reaped);
 *   - every live object holds a pattern derived from its address, checked
 *     before it is freed (and a krealloc keeps the old pattern in the part
 *     that moved); an object of a cache with a constructor comes out either
 *     as constructed or as the test last left it;
 *   - at checkpoints: each cache's active_objs equals the model's count of
 *     its live objects, each general class's too, the heap blocks of type
 *     "kmalloc" equal the model's large blocks; constructor minus destructor
 *     calls equal the objects in slabs; no errors; hm_slab_audit passes;
 *     sometimes a cache is shrunk (the bytes returned match the slabs that
 *     went) or the thread gives its magazines back;
 *   - at the end everything is freed, every cache shrinks to nothing and is
 *     destroyed, and the destructor has run once for each construction.
 */
#include "harness.h"
#include "internal.h"
#include <hugemem.h>
#include <hugemem/slab.h>

#include <stdlib.h>

#define MIB ((size_t)1 << 20)

#define MAX_LIVE    20000
#define BYTES_MAX   ((size_t)96 << 20) /* live bytes the model allows */
#define CHECK_EVERY 25000

static double scale(void)
{
	return t_scale(0.3, 0.3);
}

/* --- the kinds of objects --- */

struct kind {
	const char *name;
	size_t size, align;
	unsigned flags;
	bool ctor;
	unsigned weight;
	/* state */
	struct hm_slab_cache *c;
	uint64_t live; /* the model's count */
	uint64_t ctors, dtors;
	unsigned bad_ctor;
};

#define NO_MAG HM_SLAB_F_NO_MAGAZINES
#define DEBUG  HM_SLAB_F_DEBUG
#define KIND(n, s, a, f, c, w)                                                       \
	{                                                                            \
		.name = n, .size = s, .align = a, .flags = f, .ctor = c, .weight = w \
	}

static struct kind kinds[] = {
	KIND("m-tiny", 8, 0, 0, false, 10),
	KIND("m-odd", 13, 4, NO_MAG, false, 6),
	KIND("m-obj", 96, 0, 0, true, 10),
	KIND("m-line", 200, 0, HM_SLAB_F_HWCACHE_ALIGN, false, 6),
	KIND("m-dbg", 100, 16, DEBUG, false, 6),
	KIND("m-dbgc", 300, 0, DEBUG | NO_MAG, true, 4),
	KIND("m-page", 4096, 4096, 0, false, 2),
	KIND("m-big", 40000, 0, NO_MAG, true, 1),
};
#define N_KINDS        (sizeof(kinds) / sizeof(kinds[0]))
#define KMALLOC        ((int)N_KINDS) /* the kind of hm_kmalloc blocks */
#define KMALLOC_WEIGHT 20

static uint8_t virgin_byte(const struct kind *k)
{
	return (uint8_t)(0xc0 + (k - kinds));
}

static int model_ctor(void *obj, void *arg)
{
	struct kind *k = arg;

	if (((uintptr_t)obj % (k->align ? k->align : 8)) != 0)
		k->bad_ctor++;
	memset(obj, virgin_byte(k), k->size);
	k->ctors++;
	return 0;
}

static void model_dtor(void *obj, void *arg)
{
	struct kind *k = arg;

	if (!obj)
		k->bad_ctor++;
	k->dtors++;
}

/* --- the general classes --- */

static size_t classes[64];
static unsigned n_classes;
static uint64_t class_live[64];
static struct hm_slab_cache *class_cache[64];
static uint64_t big_live; /* kmalloc blocks above HM_KMALLOC_MAX */

static void make_classes(void)
{
	n_classes = 0;
	for (size_t s = 8; s <= 64; s += 8)
		classes[n_classes++] = s;
	for (size_t p = 64; p < HM_KMALLOC_MAX; p *= 2) {
		classes[n_classes++] = p + p / 4;
		classes[n_classes++] = p + p / 2;
		classes[n_classes++] = p + 3 * p / 4;
		classes[n_classes++] = 2 * p;
	}
}

/* The index of the class holding n bytes, or -1 above HM_KMALLOC_MAX. */
static int class_idx(size_t n)
{
	unsigned lo = 0, hi = n_classes;

	if (n > HM_KMALLOC_MAX)
		return -1;
	while (lo < hi) {
		unsigned mid = (lo + hi) / 2;

		if (classes[mid] >= n)
			hi = mid;
		else
			lo = mid + 1;
	}
	return (int)lo;
}

static struct hm_slab_cache *general(int ci)
{
	if (!class_cache[ci]) {
		char name[32];

		snprintf(name, sizeof(name), "kmalloc-%zu", classes[ci]);
		class_cache[ci] = hm_slab_lookup(name);
	}
	return class_cache[ci];
}

/* --- patterns --- */

static uint8_t pat(uintptr_t a, size_t i)
{
	uint32_t x = (uint32_t)(a >> 3) * 2654435761u + (uint32_t)i * 97u + 1u;

	return (uint8_t)((x >> 24) ^ x);
}

/* The bytes of an n-byte block that carry the pattern: all of a small one. */
static bool stamp_at(size_t n, size_t i)
{
	return n <= 1024 || i < 256 || i >= n - 256 || i % 1024 < 4;
}

static void stamp(void *p, size_t n)
{
	uint8_t *b = p;

	if (n <= 1024) {
		for (size_t i = 0; i < n; i++)
			b[i] = pat((uintptr_t)p, i);
		return;
	}
	for (size_t i = 0; i < 256; i++)
		b[i] = pat((uintptr_t)p, i);
	for (size_t i = 1024; i < n - 256; i += 1024)
		for (size_t j = i; j < i + 4; j++)
			b[j] = pat((uintptr_t)p, j);
	for (size_t i = n - 256; i < n; i++)
		b[i] = pat((uintptr_t)p, i);
}

/*
 * Whether the stamped bytes of an n-byte block (stamp_at) below len carry, at
 * p, the pattern of address a.
 */
static bool stamped_as(const void *p, size_t n, size_t len, uintptr_t a)
{
	const uint8_t *b = p;

	if (len > n)
		len = n;
	if (n <= 1024) {
		for (size_t i = 0; i < len; i++)
			if (b[i] != pat(a, i))
				return false;
		return true;
	}
	for (size_t i = 0; i < 256 && i < len; i++)
		if (b[i] != pat(a, i))
			return false;
	for (size_t s = 1024; s < n - 256 && s < len; s += 1024)
		for (size_t j = s; j < s + 4 && j < len; j++)
			if (b[j] != pat(a, j))
				return false;
	for (size_t i = n - 256; i < len; i++)
		if (b[i] != pat(a, i))
			return false;
	return true;
}

static bool stamped(const void *p, size_t n)
{
	return stamped_as(p, n, n, (uintptr_t)p);
}

/* Whether an object of k is as its constructor made it (the pattern's bytes only). */
static bool constructed(const struct kind *k, const void *p)
{
	const uint8_t *b = p;
	uint8_t v = virgin_byte(k);

	for (size_t i = 0; i < k->size; i++)
		if (stamp_at(k->size, i) && b[i] != v)
			return false;
	return true;
}

/* --- the model --- */

struct ent {
	void *p;
	uint32_t size;
	int32_t kind;
};

static struct ent live[MAX_LIVE];
static unsigned n_live;
static size_t live_bytes;

static struct {
	uint64_t allocs, frees, bulks, reallocs, shrinks, flushes, checkpoints;
	unsigned bad_pattern, bad_ctor_state, bad_ksize, bad_align, bad_null;
} m;

static void add(void *p, size_t size, int kind)
{
	live[n_live].p = p;
	live[n_live].size = (uint32_t)size;
	live[n_live].kind = kind;
	n_live++;
	live_bytes += size;
	if (kind == KMALLOC) {
		int ci = class_idx(size);

		if (ci < 0)
			big_live++;
		else
			class_live[ci]++;
	} else {
		kinds[kind].live++;
	}
}

static void drop(unsigned i)
{
	struct ent *e = &live[i];

	live_bytes -= e->size;
	if (e->kind == KMALLOC) {
		int ci = class_idx(e->size);

		if (ci < 0)
			big_live--;
		else
			class_live[ci]--;
	} else {
		kinds[e->kind].live--;
	}
	live[i] = live[--n_live];
}

/* A new object of kind k at p: checked as it comes out, then stamped. */
static void took(void *p, int k)
{
	struct kind *kd = &kinds[k];

	if ((uintptr_t)p % (kd->align ? kd->align : kd->flags & HM_SLAB_F_HWCACHE_ALIGN ? 64 : 8))
		m.bad_align++;
	if (!hm__slab_mine(kd->c, p))
		m.bad_align++;
	if (kd->ctor && !constructed(kd, p) && !stamped(p, kd->size))
		m.bad_ctor_state++;
	stamp(p, kd->size);
	add(p, kd->size, k);
}

static size_t random_ksize(void)
{
	unsigned r = (unsigned)t_rand_below(100);

	return 1 + (size_t)t_rand_below(r < 70 ? 512 : r < 95 ? 16384 : r < 99 ? 131072 : 200000);
}

static int random_kind(void)
{
	unsigned total = KMALLOC_WEIGHT, r;

	for (unsigned i = 0; i < N_KINDS; i++)
		total += kinds[i].weight; /* 0 for a kind whose cache could not be made */
	r = (unsigned)t_rand_below(total);
	for (unsigned i = 0; i < N_KINDS; i++) {
		if (r < kinds[i].weight)
			return (int)i;
		r -= kinds[i].weight;
	}
	return KMALLOC;
}

/* An allocation that should have worked did not: counted, the first reported. */
static void failed_alloc(const char *what, size_t size)
{
	if (m.bad_null++ == 0)
		t_fail(__FILE__, __LINE__, false, "%s of %zu bytes failed: %s", what, size,
		       strerror(errno));
}

static void check_ksize(const void *p, size_t n)
{
	int ci = class_idx(n);
	size_t ks = hm_ksize(p);

	if (ci >= 0 ? ks != classes[ci] : ks < n)
		m.bad_ksize++;
	if ((uintptr_t)p % 8)
		m.bad_align++;
}

static void op_alloc(void)
{
	int k = random_kind();

	if (n_live >= MAX_LIVE)
		return;
	if (k == KMALLOC) {
		size_t n = random_ksize();
		void *p;

		if (live_bytes + n > BYTES_MAX)
			return;
		p = hm_kmalloc(n);
		if (!p) {
			failed_alloc("kmalloc", n);
			return;
		}
		check_ksize(p, n);
		stamp(p, n);
		add(p, n, KMALLOC);
	} else {
		void *p;

		if (live_bytes + kinds[k].size > BYTES_MAX)
			return;
		p = hm_slab_alloc(kinds[k].c);
		if (!p) {
			failed_alloc(kinds[k].name, kinds[k].size);
			return;
		}
		took(p, k);
	}
	m.allocs++;
}

static void free_ent(unsigned i)
{
	struct ent *e = &live[i];

	if (!stamped(e->p, e->size))
		m.bad_pattern++;
	if (e->kind == KMALLOC)
		hm_kfree(e->p);
	else
		hm_slab_free(kinds[e->kind].c, e->p);
	drop(i);
	m.frees++;
}

static void op_free(void)
{
	if (n_live)
		free_ent((unsigned)t_rand_below(n_live));
}

/* A kind with a cache, at random. */
static int random_cache_kind(void)
{
	int k;

	do
		k = random_kind();
	while (k == KMALLOC);
	return k;
}

static void op_alloc_bulk(void)
{
	int k = random_cache_kind();
	unsigned n = 1 + (unsigned)t_rand_below(t_rand_below(4) ? 16 : 200);
	void *objs[200];

	if (n_live + n > MAX_LIVE || live_bytes + n * kinds[k].size > BYTES_MAX)
		return;
	if (hm_slab_alloc_bulk(kinds[k].c, objs, n) != n) {
		failed_alloc(kinds[k].name, (size_t)n * kinds[k].size);
		return;
	}
	for (unsigned i = 0; i < n; i++)
		took(objs[i], k);
	m.bulks++;
	m.allocs += n;
}

static void op_free_bulk(void)
{
	int k = random_cache_kind();
	unsigned want = 1 + (unsigned)t_rand_below(64), n = 0;
	unsigned idx[64];
	void *objs[64];

	/* Live objects of kind k, from random places (distinct indices). */
	for (unsigned tries = 0; tries < 4 * want && n < want && n_live; tries++) {
		unsigned i = (unsigned)t_rand_below(n_live);
		bool dup = false;

		if (live[i].kind != k)
			continue;
		for (unsigned j = 0; j < n && !dup; j++)
			dup = idx[j] == i;
		if (!dup)
			idx[n++] = i;
	}
	if (!n)
		return;
	/* Drop from the highest index down, so the swaps do not move the others. */
	for (unsigned a = 1; a < n; a++)
		for (unsigned b = a; b > 0 && idx[b - 1] < idx[b]; b--) {
			unsigned t = idx[b];

			idx[b] = idx[b - 1];
			idx[b - 1] = t;
		}
	for (unsigned j = 0; j < n; j++) {
		objs[j] = live[idx[j]].p;
		if (!stamped(objs[j], kinds[k].size))
			m.bad_pattern++;
	}
	hm_slab_free_bulk(kinds[k].c, objs, n);
	for (unsigned j = 0; j < n; j++)
		drop(idx[j]);
	m.bulks++;
	m.frees += n;
}

static void op_realloc(void)
{
	unsigned i;
	struct ent *e;
	size_t n, keep;
	uintptr_t old;
	void *q;

	if (!n_live)
		return;
	i = (unsigned)t_rand_below(n_live);
	e = &live[i];
	if (e->kind != KMALLOC)
		return;
	n = random_ksize();
	if (live_bytes - e->size + n > BYTES_MAX)
		return;
	old = (uintptr_t)e->p;
	keep = n < e->size ? n : e->size;
	if (!stamped(e->p, e->size))
		m.bad_pattern++;
	q = hm_krealloc(e->p, n);
	if (!q) {
		failed_alloc("krealloc", n);
		return;
	}
	/* What moved is the old block's, at the old address's pattern. */
	if (!stamped_as(q, e->size, keep, old))
		m.bad_pattern++;
	check_ksize(q, n);
	stamp(q, n);
	drop(i);
	add(q, n, KMALLOC);
	m.reallocs++;
}

/* --- checkpoints --- */

static struct hm_slab_stats stats(const struct hm_slab_cache *c)
{
	struct hm_slab_stats st;

	memset(&st, 0xee, sizeof(st));
	REQUIRE_EQ(hm_slab_get_stats(c, &st), 0);
	return st;
}

static void checkpoint(uint64_t op)
{
	struct hm_malloc_type_stats ts;
	unsigned wrong = 0;

	m.checkpoints++;
	/* Sometimes the thread gives its magazines back first. */
	if (m.checkpoints % 7 == 0) {
		CHECK_EQ(hm_thread_unregister(), 0);
		m.flushes++;
	}
	for (unsigned i = 0; i < N_KINDS; i++) {
		struct kind *k = &kinds[i];
		struct hm_slab_stats st;

		if (!k->c)
			continue;
		st = stats(k->c);

		if (st.active_objs != k->live || st.errors != 0 ||
		    st.total_objs != st.total_slabs * st.objs_per_slab ||
		    (k->ctor && k->ctors - k->dtors != st.total_objs) ||
		    st.allocs - st.frees != st.active_objs) {
			if (wrong++ < 5)
				t_fail(__FILE__, __LINE__, false,
				       "op %llu, %s: active %llu (model %llu), errors %llu, %llu "
				       "objs in %llu slabs of %u, ctors-dtors %llu, allocs %llu "
				       "frees %llu",
				       (unsigned long long)op, k->name,
				       (unsigned long long)st.active_objs,
				       (unsigned long long)k->live, (unsigned long long)st.errors,
				       (unsigned long long)st.total_objs,
				       (unsigned long long)st.total_slabs, st.objs_per_slab,
				       (unsigned long long)(k->ctors - k->dtors),
				       (unsigned long long)st.allocs, (unsigned long long)st.frees);
		}
		if (st.high_mark < st.active_objs)
			wrong++;
		if (hm_slab_audit(k->c) != 0) {
			if (wrong++ < 5)
				t_fail(__FILE__, __LINE__, false, "op %llu, %s: audit failed",
				       (unsigned long long)op, k->name);
		}
	}
	for (unsigned ci = 0; ci < n_classes; ci++) {
		struct hm_slab_cache *c = general((int)ci);

		if (!c) {
			if (class_live[ci] && wrong++ < 5)
				t_fail(__FILE__, __LINE__, false,
				       "op %llu: %llu live in class %zu and no cache",
				       (unsigned long long)op, (unsigned long long)class_live[ci],
				       classes[ci]);
			continue;
		}
		{
			struct hm_slab_stats st = stats(c);

			if ((st.active_objs != class_live[ci] || st.errors != 0 ||
			     st.obj_size != classes[ci]) &&
			    wrong++ < 5)
				t_fail(__FILE__, __LINE__, false,
				       "op %llu, kmalloc-%zu: active %llu (model %llu), errors "
				       "%llu",
				       (unsigned long long)op, classes[ci],
				       (unsigned long long)st.active_objs,
				       (unsigned long long)class_live[ci],
				       (unsigned long long)st.errors);
			if (hm_slab_audit(c) != 0 && wrong++ < 5)
				t_fail(__FILE__, __LINE__, false,
				       "op %llu, kmalloc-%zu: audit failed", (unsigned long long)op,
				       classes[ci]);
		}
	}
	if (hm_malloc_get_type_stats("kmalloc", &ts) == 0) {
		if (ts.live_blocks != big_live && wrong++ < 5)
			t_fail(__FILE__, __LINE__, false,
			       "op %llu: %llu kmalloc heap blocks, model %llu",
			       (unsigned long long)op, (unsigned long long)ts.live_blocks,
			       (unsigned long long)big_live);
	} else if (big_live) {
		wrong++;
	}
	/* Sometimes a cache is shrunk: the bytes are the slabs that went. */
	if (m.checkpoints % 3 == 0) {
		struct kind *k = &kinds[random_cache_kind()];
		struct hm_slab_stats a = stats(k->c), b;
		size_t got = hm_slab_shrink(k->c);

		b = stats(k->c);
		if (got != (a.total_slabs - b.total_slabs) * b.pages_per_slab * 4096ull ||
		    b.active_objs != k->live || b.depot_full != 0 || b.depot_empty != 0)
			if (wrong++ < 5)
				t_fail(__FILE__, __LINE__, false,
				       "op %llu, shrink %s: %zu bytes, slabs %llu -> %llu, depot "
				       "%llu",
				       (unsigned long long)op, k->name, got,
				       (unsigned long long)a.total_slabs,
				       (unsigned long long)b.total_slabs,
				       (unsigned long long)b.depot_full);
		m.shrinks++;
	}
	if (wrong)
		t_fail(__FILE__, __LINE__, true, "op %llu: %u discrepancies; stopping",
		       (unsigned long long)op, wrong);
}

static void test_model(void)
{
	struct hm_config cfg;
	uint64_t ops = (uint64_t)(1000000 * scale()), target = 100;

	if (ops < 20000)
		ops = 20000;
	make_classes();
	hm_config_defaults(&cfg);
	cfg.no_huge = true;
	cfg.memory_limit = 512 * MIB;
	REQUIRE_EQ(hm_init(&cfg), 0);
	for (unsigned i = 0; i < N_KINDS; i++) {
		struct kind *k = &kinds[i];

		k->c = hm_slab_create(k->name, k->size, k->align, k->flags,
				      k->ctor ? model_ctor : NULL, k->ctor ? model_dtor : NULL, k);
		if (!k->c) {
			/* Reported; the run goes on without this kind. */
			t_fail(__FILE__, __LINE__, false, "create %s: %s", k->name,
			       strerror(errno));
			k->weight = 0;
		}
	}
	printf("%llu operations\n", (unsigned long long)ops);
	for (uint64_t op = 1; op <= ops; op++) {
		unsigned r = (unsigned)t_rand_below(100);

		/* The live count swings: toward a target that changes now and then. */
		if (op % 20000 == 0)
			target = t_rand_below(3) ? 50 + t_rand_below(MAX_LIVE) : 20;
		if (r < 4)
			op_alloc_bulk();
		else if (r < 8)
			op_free_bulk();
		else if (r < 11)
			op_realloc();
		else if (n_live < target ? r < 70 : r < 35)
			op_alloc();
		else
			op_free();
		if (op % CHECK_EVERY == 0)
			checkpoint(op);
	}
	checkpoint(ops);
	CHECK_EQ(m.bad_pattern, 0);
	CHECK_EQ(m.bad_ctor_state, 0);
	CHECK_EQ(m.bad_ksize, 0);
	CHECK_EQ(m.bad_align, 0);
	CHECK_EQ(m.bad_null, 0);
	printf("%llu allocs, %llu frees, %llu bulks, %llu reallocs, %llu shrinks, %llu flushes, "
	       "%llu checkpoints\n",
	       (unsigned long long)m.allocs, (unsigned long long)m.frees,
	       (unsigned long long)m.bulks, (unsigned long long)m.reallocs,
	       (unsigned long long)m.shrinks, (unsigned long long)m.flushes,
	       (unsigned long long)m.checkpoints);
	/* Everything back; every cache shrinks to nothing. */
	while (n_live)
		free_ent(n_live - 1);
	CHECK_EQ(m.bad_pattern, 0);
	checkpoint(ops + 1);
	{
		int rc = hm_thread_unregister(); /* -ENOENT: the checkpoint just did */

		CHECK(rc == 0 || rc == -ENOENT);
	}
	for (unsigned i = 0; i < N_KINDS; i++) {
		struct kind *k = &kinds[i];
		struct hm_slab_stats st;

		if (!k->c)
			continue;
		hm_slab_shrink(k->c);
		st = stats(k->c);
		CHECK_EQ(st.total_slabs, 0);
		CHECK_EQ(st.active_objs, 0);
		CHECK_EQ(st.allocs, st.frees);
		CHECK_GE(st.slabs_grown, 1);
		CHECK_EQ(st.slabs_reaped, st.slabs_grown);
		CHECK_EQ(hm_slab_destroy(k->c), 0);
		CHECK_EQ(k->ctors, k->dtors);
		CHECK_EQ(k->bad_ctor, 0);
	}
	for (unsigned ci = 0; ci < n_classes; ci++) {
		struct hm_slab_cache *c = general((int)ci);

		if (c) {
			struct hm_slab_stats st = stats(c);

			CHECK_EQ(st.active_objs, 0);
			CHECK_EQ(st.allocs, st.frees);
			hm_slab_shrink(c);
			CHECK_EQ(stats(c).total_slabs, 0);
		}
	}
	hm_cleanup();
}

int main(int argc, char **argv)
{
	t_init(argc, argv);
	T_RUN(test_model);
	return t_done();
}
