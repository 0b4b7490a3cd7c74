/* SPDX-License-Identifier: MIT */
/*
 * test_heap_core.c - the TLSF heap core (heap/heap.h) on 4 KiB pages:
 * argument errors, a randomised run against a model (sizes 1 B to 1 MiB,
 * random alignments and bounds, fill patterns, no overlaps, audits), misuse
 * of free, the largest-block query, growth and release, the statistics, and
 * the runs of blocks that thread caches take and give back.
 */
#include "harness.h"
#include "internal.h"
#include "mem/mem.h"
#include "heap/heap.h"
#include <hugemem.h>

#include <stdlib.h>

#define MIB ((size_t)1 << 20)

static struct hm_heap *start(size_t limit)
{
	struct hm_config c;

	hm_config_defaults(&c);
	c.no_huge = true;
	c.memory_limit = limit;
	REQUIRE_EQ(hm_init(&c), 0);
	REQUIRE_GE(hm__heap_count(), 1);
	REQUIRE_NOT_NULL(hm__heap_get(0));
	CHECK_NULL(hm__heap_get(hm__heap_count()));
	return hm__heap_get(0);
}

static void test_bad_args(void)
{
	struct hm_heap *h = start(64 * MIB);
	struct hm_heap_stats st;

	CHECK_NULL_ERRNO(hm__heap_alloc(h, 0, 0, 0, 0), EINVAL);
	CHECK_NULL_ERRNO(hm__heap_alloc(h, HM_HEAP_MAX_SIZE + 1, 0, 0, 0), EINVAL);
	CHECK_NULL_ERRNO(hm__heap_alloc(h, SIZE_MAX, 0, 0, 0), EINVAL);
	CHECK_NULL_ERRNO(hm__heap_alloc(h, 64, 3, 0, 0), EINVAL);
	CHECK_NULL_ERRNO(hm__heap_alloc(h, 64, 192, 0, 0), EINVAL);
	CHECK_NULL_ERRNO(hm__heap_alloc(h, 64, (size_t)1 << 45, 0, 0), EINVAL);
	CHECK_NULL_ERRNO(hm__heap_alloc(h, 64, 0, 100, 0), EINVAL);
	CHECK_NULL_ERRNO(hm__heap_alloc(h, 64, 0, (size_t)1 << 45, 0), EINVAL);
	/* More than the limit. */
	CHECK_NULL_ERRNO(hm__heap_alloc(h, 65 * MIB, 0, 0, 0), ENOMEM);
	CHECK_NULL_ERRNO(hm__heap_alloc(h, 64, (size_t)1 << 40, 0, 0), ENOMEM);
	hm__heap_get_stats(h, &st);
	CHECK_EQ(st.n_used_blocks, 0);
	CHECK_EQ(st.heap_size, 0);
	CHECK_EQ(hm__heap_audit(h), 0);
	hm_cleanup();
}

static void test_basic(void)
{
	struct hm_heap *h = start(64 * MIB);
	struct hm_heap_stats st;
	struct hm_heap_block *b;
	char *p, *q;

	p = hm__heap_alloc(h, 1, 0, 0, 0);
	REQUIRE_NOT_NULL(p);
	CHECK_UEQ((uintptr_t)p % HM_HEAP_UNIT, 0);
	b = hm__heap_block_of(p);
	REQUIRE_NOT_NULL(b);
	CHECK_GE(hm__heap_usable(b), 1);
	CHECK_EQ(HM_HEAP_TAG_HEAP(atomic_load(&b->tag)), 0);
	q = hm__heap_alloc(h, 1000, 4096, 0, 0);
	REQUIRE_NOT_NULL(q);
	CHECK_UEQ((uintptr_t)q % 4096, 0);
	CHECK_GE(hm__heap_usable(hm__heap_block_of(q)), 1000);
	p[0] = 0x11; /* fresh blocks are uninitialised (Valgrind builds say so) */
	memset(q, 0xee, 1000);
	CHECK_EQ(p[0], 0x11);
	hm__heap_get_stats(h, &st);
	CHECK_EQ(st.n_used_blocks, 2);
	CHECK_EQ(st.n_chunks, 1);
	CHECK_EQ(st.grows, 1);
	CHECK_GE(st.heap_size, 2 * MIB);
	CHECK_EQ(hm__heap_audit(h), 0);
	CHECK_EQ(hm__heap_free(p, HM_BLOCK_ANY, NULL, NULL), 0);
	CHECK_EQ(hm__heap_free(q, HM_BLOCK_ANY, NULL, NULL), 0);
	hm__heap_get_stats(h, &st);
	CHECK_EQ(st.n_used_blocks, 0);
	CHECK_EQ(st.allocs, 2);
	CHECK_EQ(st.frees, 2);
	/* One wholly free chunk is kept: a single free block spanning it. */
	CHECK_EQ(st.n_free_blocks, st.n_chunks);
	CHECK_EQ(st.free_size, st.heap_size - st.n_chunks * 2 * HM_HEAP_HDR);
	CHECK_EQ(hm__heap_audit(h), 0);
	hm_cleanup();
}

/* --- the randomised run --- */

#define N_SLOTS 3000

struct slot {
	unsigned char *p;
	size_t size, align, bound;
	uint8_t fill;
};

static struct slot slots[N_SLOTS];

static bool intact(const struct slot *s)
{
	/* First and last 64 bytes and a sample between: full checks cost too much at 1 MiB. */
	size_t step = s->size > 4096 ? 61 : 1;

	for (size_t k = 0; k < s->size; k += (k < 64 || k + 64 >= s->size) ? 1 : step)
		if (s->p[k] != s->fill)
			return false;
	return true;
}

static int by_ptr(const void *a, const void *b)
{
	const struct slot *x = *(const struct slot *const *)a;
	const struct slot *y = *(const struct slot *const *)b;

	return x->p < y->p ? -1 : x->p > y->p;
}

static void checkpoint(struct hm_heap *h, const char *when)
{
	static const struct slot *live[N_SLOTS];
	struct hm_heap_stats st;
	unsigned n = 0, bad = 0;

	for (unsigned i = 0; i < N_SLOTS; i++) {
		if (!slots[i].p)
			continue;
		live[n++] = &slots[i];
		if (!intact(&slots[i]) || !hm__heap_block_of(slots[i].p))
			bad++;
	}
	if (bad)
		t_fail(__FILE__, __LINE__, false, "%s: %u blocks changed or lost", when, bad);
	qsort(live, n, sizeof(live[0]), by_ptr);
	for (unsigned i = 1; i < n; i++) {
		/* Payload plus the next block's header: nothing may overlap either. */
		if (live[i - 1]->p + live[i - 1]->size + HM_HEAP_HDR > live[i]->p) {
			t_fail(__FILE__, __LINE__, false, "%s: blocks %p (+%zu) and %p overlap",
			       when, (void *)live[i - 1]->p, live[i - 1]->size, (void *)live[i]->p);
			break;
		}
	}
	hm__heap_get_stats(h, &st);
	CHECK_EQ(st.n_used_blocks, n);
	CHECK_EQ(hm__heap_audit(h), 0);
}

static size_t random_size(void)
{
	/* Log-uniform from 1 B to 1 MiB. */
	unsigned bits = (unsigned)t_rand_below(21);
	return 1 + (size_t)t_rand_below((size_t)1 << bits);
}

static void alloc_slot(struct hm_heap *h, struct slot *s)
{
	s->size = random_size();
	s->align = t_rand_below(3) == 0 ? (size_t)1 << t_rand_below(17) : 0;
	s->bound = 0;
	if (t_rand_below(5) == 0) {
		/* A bound that the size fits in. */
		size_t b = 64;
		while (b < s->size)
			b *= 2;
		s->bound = b << t_rand_below(3);
	}
	s->p = hm__heap_alloc(h, s->size, s->align, s->bound, t_rand_below(4) ? 0 : HM_HEAP_FIT);
	if (!s->p) {
		t_fail(__FILE__, __LINE__, false, "alloc size %zu align %zu bound %zu: %s", s->size,
		       s->align, s->bound, strerror(errno));
		return;
	}
	if ((uintptr_t)s->p % HM_MAX(s->align, HM_HEAP_UNIT))
		t_fail(__FILE__, __LINE__, false, "%p not aligned to %zu", (void *)s->p, s->align);
	if (s->bound && (uintptr_t)s->p / s->bound != ((uintptr_t)s->p + s->size - 1) / s->bound)
		t_fail(__FILE__, __LINE__, false, "%p + %zu crosses bound %zu", (void *)s->p,
		       s->size, s->bound);
	struct hm_heap_block *b = hm__heap_block_of(s->p);
	if (!b || hm__heap_usable(b) < s->size)
		t_fail(__FILE__, __LINE__, false, "%p: block %p, usable %zu < %zu", (void *)s->p,
		       (void *)b, b ? hm__heap_usable(b) : 0, s->size);
	s->fill = (uint8_t)t_rand();
	memset(s->p, s->fill, s->size);
}

static void free_slot(struct slot *s)
{
	if (!intact(s))
		t_fail(__FILE__, __LINE__, false, "block %p (%zu B) changed before its free",
		       (void *)s->p, s->size);
	CHECK_EQ(hm__heap_free(s->p, HM_BLOCK_ANY, NULL, NULL), 0);
	s->p = NULL;
}

static void test_random_model(void)
{
	struct hm_heap *h = start(1024 * MIB);
	struct hm_heap_stats st;

	printf("seed %llu (HUGEMEM_TEST_SEED)\n", (unsigned long long)t_seed());
	memset(slots, 0, sizeof(slots));
	for (unsigned step = 0; step < 30000; step++) {
		struct slot *s = &slots[t_rand_below(N_SLOTS)];
		if (s->p)
			free_slot(s);
		else
			alloc_slot(h, s);
		if (step % 5000 == 4999)
			checkpoint(h, "mixed");
	}
	checkpoint(h, "before freeing");
	for (unsigned i = 0; i < N_SLOTS; i++)
		if (slots[i].p)
			free_slot(&slots[i]);
	checkpoint(h, "all freed");
	hm__heap_get_stats(h, &st);
	CHECK_EQ(st.n_used_blocks, 0);
	CHECK_EQ(st.allocs, st.frees);
	CHECK_EQ(st.n_free_blocks, st.n_chunks);
	CHECK_LE(st.n_chunks, 1);
	CHECK_GT(st.releases, 0);
	hm_cleanup();
}

static void test_free_misuse(void)
{
	struct hm_heap *h = start(64 * MIB);
	struct hm_heap_stats st;
	int on_stack[32];
	char *a, *b, *c;
	void *m = malloc(256);

	REQUIRE_NOT_NULL(m);
	a = hm__heap_alloc(h, 300, 0, 0, 0);
	b = hm__heap_alloc(h, 300, 0, 0, 0);
	c = hm__heap_alloc(h, 300, 0, 0, 0);
	REQUIRE_NOT_NULL(a);
	REQUIRE_NOT_NULL(b);
	REQUIRE_NOT_NULL(c);
	memset(a, 1, 300);
	memset(b, 2, 300);
	memset(c, 3, 300);
	hm_log_set_sink(t_count_sink, NULL);
	t_log_lines_reset();
	CHECK_EQ(hm__heap_free(NULL, HM_BLOCK_ANY, NULL, NULL), -EINVAL);
	CHECK_EQ(hm__heap_free(on_stack, HM_BLOCK_ANY, NULL, NULL), -EINVAL);
	CHECK_EQ(hm__heap_free(m, HM_BLOCK_ANY, NULL, NULL), -EINVAL);
	CHECK_EQ(hm__heap_free(b + 64, HM_BLOCK_ANY, NULL, NULL),
		 -EINVAL); /* interior, cache-line aligned */
	CHECK_EQ(hm__heap_free(b + 1, HM_BLOCK_ANY, NULL, NULL),
		 -EINVAL); /* interior, misaligned */
	CHECK_EQ(hm__heap_free(b - 64, HM_BLOCK_ANY, NULL, NULL), -EINVAL); /* before the block */
	CHECK_EQ(hm__heap_free(b + 4096 * 100, HM_BLOCK_ANY, NULL, NULL),
		 -EINVAL); /* free space of the chunk */
	CHECK_EQ(t_log_lines(), 7);
	CHECK_NULL(hm__heap_block_of(b + 64));
	CHECK_NULL(hm__heap_block_of(on_stack));
	/* Double frees: of a block whose neighbours are live (it stays a free block), and
	 * of one merged into a free neighbour (its header is gone). */
	CHECK_EQ(hm__heap_free(b, HM_BLOCK_ANY, NULL, NULL), 0);
	CHECK_EQ(hm__heap_free(b, HM_BLOCK_ANY, NULL, NULL), -EINVAL);
	CHECK_EQ(hm__heap_free(c, HM_BLOCK_ANY, NULL, NULL), 0);
	CHECK_EQ(hm__heap_free(c, HM_BLOCK_ANY, NULL, NULL), -EINVAL);
	CHECK_EQ(hm__heap_free(b, HM_BLOCK_ANY, NULL, NULL), -EINVAL);
	CHECK_EQ(t_log_lines(), 10);
	hm_log_set_sink(NULL, NULL);
	CHECK_EQ(hm__heap_audit(h), 0);
	hm__heap_get_stats(h, &st);
	CHECK_EQ(st.n_used_blocks, 1);
	for (unsigned i = 0; i < 300; i++) {
		if (a[i] != 1) {
			CHECK_EQ(a[i], 1);
			break;
		}
	}
	/* Everything still works. */
	b = hm__heap_alloc(h, 300, 0, 0, 0);
	REQUIRE_NOT_NULL(b);
	CHECK_EQ(hm__heap_free(b, HM_BLOCK_ANY, NULL, NULL), 0);
	CHECK_EQ(hm__heap_free(a, HM_BLOCK_ANY, NULL, NULL), 0);
	hm__heap_get_stats(h, &st);
	CHECK_EQ(st.n_used_blocks, 0);
	CHECK_EQ(hm__heap_audit(h), 0);
	/* A pointer into a chunk given back (pages no longer committed) is refused too. */
	a = hm__heap_alloc(h, 8 * MIB, 0, 0, 0);
	b = hm__heap_alloc(h, 8 * MIB, 0, 0, 0);
	REQUIRE_NOT_NULL(a);
	REQUIRE_NOT_NULL(b);
	CHECK_EQ(hm__heap_free(a, HM_BLOCK_ANY, NULL, NULL), 0);
	CHECK_EQ(hm__heap_free(b, HM_BLOCK_ANY, NULL, NULL), 0);
	hm_log_set_sink(t_count_sink, NULL);
	CHECK_EQ(hm__heap_free(a, HM_BLOCK_ANY, NULL, NULL), -EINVAL);
	CHECK_EQ(hm__heap_free(b, HM_BLOCK_ANY, NULL, NULL), -EINVAL);
	hm_log_set_sink(NULL, NULL);
	CHECK_EQ(hm__heap_audit(h), 0);
	free(m);
	hm_cleanup();
}

static void test_largest(void)
{
	struct hm_heap *h = start(256 * MIB);
	struct hm_heap_stats st, st2;
	void *keep, *big, *p;
	size_t l;

	CHECK_EQ(hm__heap_largest(h, 0, 0), 0);
	big = hm__heap_alloc(h, 5 * MIB, 0, 0, 0);
	keep = hm__heap_alloc(h, 100, 0, 0, 0);
	REQUIRE_NOT_NULL(big);
	REQUIRE_NOT_NULL(keep);
	CHECK_EQ(hm__heap_free(big, HM_BLOCK_ANY, NULL, NULL), 0);
	l = hm__heap_largest(h, 0, 0);
	CHECK_GE(l, 5 * MIB);
	hm__heap_get_stats(h, &st);
	CHECK_EQ(st.largest_free + 0, l);
	/* What largest promises can be had without growing the heap. */
	p = hm__heap_alloc(h, l, 0, 0, 0);
	REQUIRE_NOT_NULL(p);
	hm__heap_get_stats(h, &st2);
	CHECK_EQ(st2.grows, st.grows);
	CHECK_EQ(st2.heap_size, st.heap_size);
	CHECK_EQ(hm__heap_free(p, HM_BLOCK_ANY, NULL, NULL), 0);
	/* With an alignment and a bound, no more than they allow. */
	hm__heap_get_stats(h, &st);
	l = hm__heap_largest(h, 1 << 20, 1 << 20);
	CHECK_LE(l, 1 << 20);
	CHECK_GT(l, 0);
	p = hm__heap_alloc(h, l, 1 << 20, 1 << 20, 0);
	REQUIRE_NOT_NULL(p);
	hm__heap_get_stats(h, &st2);
	CHECK_EQ(st2.grows, st.grows);
	CHECK_EQ(hm__heap_free(p, HM_BLOCK_ANY, NULL, NULL), 0);
	CHECK_EQ(hm__heap_free(keep, HM_BLOCK_ANY, NULL, NULL), 0);
	CHECK_EQ(hm__heap_audit(h), 0);
	hm_cleanup();
}

static void test_grow_release(void)
{
	struct hm_heap *h = start(256 * MIB);
	struct hm_heap_stats st;
	struct hm_mem_info mi;
	void *p[20];

	for (unsigned i = 0; i < 20; i++) {
		p[i] = hm__heap_alloc(h, 3 * MIB, 0, 0, 0);
		REQUIRE_NOT_NULL(p[i]);
	}
	hm__heap_get_stats(h, &st);
	CHECK_GE(st.grows, 10);
	CHECK_GE(st.heap_size, 60 * MIB);
	REQUIRE_EQ(hm_mem_get_info(&mi), 0);
	CHECK_UEQ(mi.committed, st.heap_size);
	for (unsigned i = 0; i < 20; i++)
		CHECK_EQ(hm__heap_free(p[i], HM_BLOCK_ANY, NULL, NULL), 0);
	hm__heap_get_stats(h, &st);
	CHECK_LE(st.n_chunks, 1);
	CHECK_GT(st.releases, 0);
	REQUIRE_EQ(hm_mem_get_info(&mi), 0);
	CHECK_UEQ(mi.committed, st.heap_size);
	CHECK_EQ(hm__heap_audit(h), 0);
	/* Contiguous allocations in VA mode, on 4 KiB pages: all of them contiguous. */
	p[0] = hm__heap_alloc(h, 3 * MIB, 0, 0, HM_HEAP_CONTIG);
	REQUIRE_NOT_NULL(p[0]);
	CHECK(hm__mem_iova_contig(p[0], 3 * MIB));
	CHECK_EQ(hm__heap_free(p[0], HM_BLOCK_ANY, NULL, NULL), 0);
	CHECK_EQ(hm__heap_audit(h), 0);
	hm_cleanup();
}

/* Runs for the thread caches: contiguous blocks marked cached, refused by a plain free, given back whole. */
static void test_runs(void)
{
	struct hm_heap *h = start(64 * MIB);
	struct hm_heap_stats st;
	void *run[16], *bad[3];
	char *m, on_stack[64];
	unsigned n;

	n = hm__heap_alloc_run(h, 1024, 16, run);
	REQUIRE_EQ(n, 16);
	for (unsigned i = 0; i < n; i++) {
		struct hm_heap_block *b = hm__heap_block_of(run[i]);

		REQUIRE_NOT_NULL(b);
		CHECK_EQ(HM_HEAP_TAG_KIND(atomic_load(&b->tag)), HM_BLOCK_CACHED);
		CHECK_EQ(b->size, 1024);
		if (i)
			CHECK_PTR_EQ(run[i], (char *)run[i - 1] + 1024);
	}
	hm__heap_get_stats(h, &st);
	CHECK_EQ(st.n_used_blocks, 16);
	CHECK_EQ(st.run_allocs, 16);
	CHECK_EQ(st.allocs, 0); /* handed to a cache, not to a caller */
	CHECK_EQ(hm__heap_audit(h), 0);
	/* A cached block is no live block to a plain free. */
	hm_log_set_sink(t_count_sink, NULL);
	t_log_lines_reset();
	CHECK_EQ(hm__heap_free(run[3], HM_BLOCK_MALLOC, NULL, NULL), -EINVAL);
	CHECK_EQ(t_log_lines(), 1);
	/* Given back: what is not a cached block of h is refused and left alone. */
	m = hm__heap_alloc(h, 100, 0, 0, HM_HEAP_KIND(HM_BLOCK_MALLOC));
	REQUIRE_NOT_NULL(m);
	bad[0] = m;
	bad[1] = on_stack;
	bad[2] = (char *)run[0] + 64; /* interior */
	hm__heap_free_run(h, bad, 3);
	CHECK_EQ(t_log_lines(), 2); /* one line for the lot */
	hm__heap_get_stats(h, &st);
	CHECK_EQ(st.errors, 4);
	CHECK_EQ(st.n_used_blocks, 17);
	hm__heap_free_run(h, run, n);
	hm__heap_free_run(h, run, 1); /* twice: refused */
	CHECK_EQ(t_log_lines(), 3);
	hm_log_set_sink(NULL, NULL);
	hm__heap_get_stats(h, &st);
	CHECK_EQ(st.n_used_blocks, 1);
	CHECK_EQ(st.run_frees, 16);
	CHECK_EQ(hm__heap_audit(h), 0);
	/* The run merged back: the whole chunk is one free block again once m goes. */
	CHECK_EQ(hm__heap_free(m, HM_BLOCK_MALLOC, NULL, NULL), 0);
	hm__heap_get_stats(h, &st);
	CHECK_EQ(st.n_free_blocks, 1);
	CHECK_EQ(st.n_used_blocks, 0);
	/* More than any free block holds: the longest run that fits, or a grown heap. */
	n = hm__heap_alloc_run(h, 64, 16, run);
	CHECK_EQ(n, 16);
	hm__heap_free_run(h, run, n);
	CHECK_EQ(hm__heap_audit(h), 0);
	hm_cleanup();
}

/* Runs when memory runs out: as many as fit, then none, and nothing lost. */
static void test_runs_enomem(void)
{
	struct hm_heap *h = start(2 * MIB);
	struct hm_heap_stats st;
	void *big, *run[64];
	unsigned n;

	/* Leave about 100 KiB free in the one chunk the limit allows. */
	big = hm__heap_alloc(h, 2 * MIB - 100 * 1024, 0, 0, 0);
	REQUIRE_NOT_NULL(big);
	n = hm__heap_alloc_run(h, 32 * 1024, 64, run);
	CHECK_GE(n, 1);
	CHECK_LE(n, 3);
	CHECK_EQ(hm__heap_alloc_run(h, 512 * 1024, 1, run + n), 0);
	hm__heap_free_run(h, run, n);
	CHECK_EQ(hm__heap_free(big, HM_BLOCK_ANY, NULL, NULL), 0);
	hm__heap_get_stats(h, &st);
	CHECK_EQ(st.n_used_blocks, 0);
	CHECK_EQ(hm__heap_audit(h), 0);
	hm_cleanup();
}

int main(int argc, char **argv)
{
	t_init(argc, argv);
	T_RUN(test_bad_args);
	T_RUN(test_basic);
	T_RUN(test_random_model);
	T_RUN(test_free_misuse);
	T_RUN(test_largest);
	T_RUN(test_grow_release);
	T_RUN(test_runs);
	T_RUN(test_runs_enomem);
	return t_done();
}
