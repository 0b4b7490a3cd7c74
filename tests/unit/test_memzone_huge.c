/* SPDX-License-Identifier: MIT */
/*
 * test_memzone_huge.c - zones on 2 MiB hugepages (skips without free ones):
 * alignments up to a hugepage, bounds, IOVA contiguity, len 0, a randomised
 * run against a model, and every hugepage back at cleanup.
 */
#include "harness.h"
#include "internal.h"
#include "mem/mem.h"
#include "heap/heap.h"
#include <hugemem.h>

#include <stdlib.h>

#define MIB  ((size_t)1 << 20)
#define HP   HM_PAGE_SIZE_2M
#define NEED 16

static void start(size_t page_size, size_t limit)
{
	struct hm_config c;

	hm_config_defaults(&c);
	c.page_size = page_size;
	c.memory_limit = limit;
	REQUIRE_EQ(hm_init(&c), 0);
}

static void audit_all(void)
{
	for (unsigned i = 0; i < hm__heap_count(); i++)
		CHECK_EQ(hm__heap_audit(hm__heap_get(i)), 0);
}

static bool iova_contig(const struct hm_memzone *mz)
{
	for (size_t k = 0; k < mz->len; k += 4096)
		if (hm_virt2iova((char *)mz->addr + k) != mz->iova + k)
			return false;
	return hm_virt2iova((char *)mz->addr + mz->len - 1) == mz->iova + mz->len - 1;
}

static void test_align_bound(void)
{
	unsigned free0 = t_hugepages_free();
	const struct hm_memzone *mz;

	start(HP, 16 * HP);
	/* First, in a heap with nothing mapped: a contiguous zone that one hugepage holds. */
	mz = hm_memzone_reserve("in-one-page", MIB, -1, HM_MEMZONE_IOVA_CONTIG, 0, HP);
	CHECK(mz != NULL);
	if (mz)
		CHECK(iova_contig(mz));
	for (size_t a = 64; a <= HP; a *= 2) {
		char name[32];
		size_t len = 1 + t_rand_below(a < 4096 ? 4096 : a);

		snprintf(name, sizeof(name), "al%zu", a);
		mz = hm_memzone_reserve(name, len, -1, 0, a, 0);
		REQUIRE_NOT_NULL(mz);
		CHECK_UEQ((uintptr_t)mz->addr % a, 0);
		CHECK_EQ(mz->page_size, HP);
		memset(mz->addr, 0x44, len);
	}
	for (unsigned i = 0; i < 100; i++) {
		char name[32];
		size_t bound = (size_t)4096 << t_rand_below(10); /* 4 KiB .. 2 MiB */
		size_t len = 1 + t_rand_below(bound);
		uintptr_t a;

		snprintf(name, sizeof(name), "b%u", i);
		mz = hm_memzone_reserve(name, len, -1, 0, 0, bound);
		REQUIRE_NOT_NULL(mz);
		a = (uintptr_t)mz->addr;
		CHECK_EQ(a / bound, (a + len - 1) / bound);
		/* Within a bound of at most a hugepage, a zone is in one page: IOVA-contiguous. */
		CHECK(iova_contig(mz));
		CHECK_EQ(hm_memzone_free(mz), 0);
	}
	/* A contiguous zone of a whole hugepage: its header needs the page before, and the
	 * heap may insist that both are contiguous; either way, no lie. */
	errno = 0;
	mz = hm_memzone_reserve("page", HP, -1, HM_MEMZONE_IOVA_CONTIG, HP, 0);
	if (mz) {
		CHECK(iova_contig(mz));
		CHECK_UEQ(mz->iova % HP, (uintptr_t)mz->addr % HP);
	} else {
		CHECK_EQ(errno, ENOMEM);
	}
	audit_all();
	hm_cleanup();
	CHECK_EQ(t_hugepages_free_settled(free0), free0);
}

static void test_len_zero_huge(void)
{
	const struct hm_memzone *big, *z;
	unsigned free0 = t_hugepages_free(), used;

	start(HP, 16 * HP);
	big = hm_memzone_reserve("big", 3 * HP, -1, 0, 0, 0);
	REQUIRE_NOT_NULL(big);
	REQUIRE_NOT_NULL(hm_memzone_reserve("keep", 64, -1, 0, 0, 0));
	CHECK_EQ(hm_memzone_free(big), 0);
	used = free0 - t_hugepages_free();
	z = hm_memzone_reserve("z", 0, -1, 0, 0, 0);
	REQUIRE_NOT_NULL(z);
	CHECK_GE(z->len, 3 * HP);
	memset(z->addr, 0x99, z->len);
	/* The largest block already mapped: no hugepage more. */
	CHECK_EQ(free0 - t_hugepages_free(), used);
	audit_all();
	hm_cleanup();
	CHECK_EQ(t_hugepages_free_settled(free0), free0);
}

/* --- randomised run --- */

#define N_ZONES 2000

static struct {
	const struct hm_memzone *mz;
	size_t len;
	uint8_t fill;
} model[N_ZONES];

static bool intact(unsigned i)
{
	const uint8_t *p = model[i].mz->addr;

	for (size_t k = 0; k < model[i].len; k++)
		if (p[k] != model[i].fill)
			return false;
	return true;
}

static void check_all(void)
{
	unsigned bad = 0, live = 0;

	for (unsigned i = 0; i < N_ZONES; i++) {
		char name[HM_NAME_MAX];

		snprintf(name, sizeof(name), "r%u", i);
		if (model[i].mz) {
			live++;
			if (hm_memzone_lookup(name) != model[i].mz || !intact(i))
				bad++;
		} else if (hm_memzone_lookup(name)) {
			bad++;
		}
	}
	CHECK_EQ(bad, 0);
	CHECK_EQ(hm_memzone_count(), live);
	audit_all();
}

static void test_random(void)
{
	unsigned free0 = t_hugepages_free();
	size_t limit = (size_t)(free0 < 32 ? free0 : 32) * HP;

	printf("seed %llu (HUGEMEM_TEST_SEED)\n", (unsigned long long)t_seed());
	start(HP, limit);
	memset(model, 0, sizeof(model));
	for (unsigned step = 0; step < 10 * N_ZONES; step++) {
		unsigned i = (unsigned)t_rand_below(N_ZONES);
		char name[HM_NAME_MAX];

		snprintf(name, sizeof(name), "r%u", i);
		if (model[i].mz) {
			if (!intact(i))
				t_fail(__FILE__, __LINE__, false, "zone %s changed", name);
			CHECK_EQ(hm_memzone_free(model[i].mz), 0);
			model[i].mz = NULL;
			continue;
		}
		size_t len = 1 + t_rand_below(t_rand_below(20) ? 8192 : HP);
		size_t align = t_rand_below(4) ? 0 : (size_t)64 << t_rand_below(16);
		const struct hm_memzone *mz = hm_memzone_reserve(name, len, -1, 0, align, 0);
		if (!mz) {
			/* Full: fine, as long as it says so. */
			CHECK_EQ(errno, ENOMEM);
			continue;
		}
		CHECK_EQ(mz->page_size, HP);
		if (align)
			CHECK_UEQ((uintptr_t)mz->addr % align, 0);
		model[i].mz = mz;
		model[i].len = len;
		model[i].fill = (uint8_t)t_rand();
		memset(mz->addr, model[i].fill, len);
		if (step % 4000 == 3999)
			check_all();
	}
	check_all();
	for (unsigned i = 0; i < N_ZONES; i++) {
		if (model[i].mz) {
			CHECK(intact(i));
			CHECK_EQ(hm_memzone_free(model[i].mz), 0);
			model[i].mz = NULL;
		}
	}
	check_all();
	/* All freed: at most one chunk of hugepages is kept. */
	struct hm_heap_stats st;
	hm__heap_get_stats(hm__heap_get(0), &st);
	CHECK_EQ(st.n_used_blocks, 0);
	CHECK_LE(st.n_chunks, 1);
	hm_cleanup();
	CHECK_EQ(t_hugepages_free_settled(free0), free0);
}

int main(int argc, char **argv)
{
	t_init(argc, argv);
	t_need_hugepages(NEED);
	T_RUN(test_align_bound);
	T_RUN(test_len_zero_huge);
	T_RUN(test_random);
	return t_done();
}
