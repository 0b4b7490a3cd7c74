/* SPDX-License-Identifier: MIT */
/*
 * test_mem_huge.c - the memory layer on 2 MiB hugepages (needs free ones;
 * skips otherwise): page sizes and IOVAs of zones, the system's free count
 * going down as memory is committed and back at cleanup, the prealloc,
 * running out of hugepages with an explicit size (ENOMEM) and with AUTO
 * (4 KiB pages take over), and mappings restored.
 */
#include "harness.h"

#include <pthread.h>
#include "internal.h"
#include "mem/mem.h"
#include "mem/os.h"
#include "heap/heap.h"
#include <hugemem.h>

#include <stdlib.h>

#define MIB ((size_t)1 << 20)

#define HP   HM_PAGE_SIZE_2M
#define NEED 16 /* hugepages this test needs free */

static int start(size_t page_size, size_t limit, size_t prealloc)
{
	struct hm_config c;

	hm_config_defaults(&c);
	c.page_size = page_size;
	c.memory_limit = limit;
	c.prealloc = prealloc;
	return hm_init(&c);
}

static struct hm_mem_info info(void)
{
	struct hm_mem_info mi;

	REQUIRE_EQ(hm_mem_get_info(&mi), 0);
	return mi;
}

static void audit_all(void)
{
	for (unsigned i = 0; i < hm__heap_count(); i++)
		CHECK_EQ(hm__heap_audit(hm__heap_get(i)), 0);
}

/* The IOVAs of one hugepage are consecutive, whatever the mode. */
static void check_page_iova(const struct hm_memzone *mz)
{
	const char *a = mz->addr;
	const char *page_end = (const char *)(((uintptr_t)a / HP + 1) * HP);
	const char *end = a + mz->len < page_end ? a + mz->len : page_end;

	CHECK_UEQ(hm_virt2iova(a), mz->iova);
	CHECK_UEQ(mz->iova % HP, (uintptr_t)a % HP);
	for (const char *p = a; p < end; p += 4093) {
		if (hm_virt2iova(p) != mz->iova + (uint64_t)(p - a)) {
			CHECK_UEQ(hm_virt2iova(p), mz->iova + (uint64_t)(p - a));
			break;
		}
	}
	CHECK_UEQ(hm_virt2iova(end - 1), mz->iova + (uint64_t)(end - 1 - a));
}

static void test_explicit_2m(void)
{
	unsigned free0 = t_hugepages_free(), maps0 = t_mappings();
	const struct hm_memzone *mz;
	struct hm_mem_info mi;

	REQUIRE_EQ(start(HP, 64 * MIB, 0), 0);
	mi = info();
	CHECK_UEQ(mi.page_size, HP);
	CHECK(mi.hugepages);
	CHECK_EQ(mi.iova_pa, hm__os_pagemap_has_pfn());
	CHECK_EQ(mi.committed, 0);
	/* Mapping the range reserves no hugepage. */
	CHECK_EQ(t_hugepages_free_settled(free0), free0);
	mz = hm_memzone_reserve("huge", 3 * MIB, -1, 0, 0, 0);
	REQUIRE_NOT_NULL(mz);
	CHECK_EQ(mz->page_size, HP);
	CHECK_EQ(hm_page_size_of(mz->addr), HP);
	CHECK_EQ(hm_page_size_of((char *)mz->addr + mz->len - 1), HP);
	CHECK(hm_socket_valid(hm_socket_of(mz->addr)));
	memset(mz->addr, 0x3c, mz->len);
	check_page_iova(mz);
	mi = info();
	CHECK_GE(mi.committed, 3 * MIB);
	CHECK_EQ(mi.committed % HP, 0);
	/* The system's free count went down by what was committed. */
	CHECK_EQ(free0 - t_hugepages_free(), mi.committed / HP);
	/* A zone exactly on a hugepage. */
	mz = hm_memzone_reserve("aligned", HP, -1, HM_MEMZONE_2MB, HP, 0);
	REQUIRE_NOT_NULL(mz);
	CHECK_UEQ((uintptr_t)mz->addr % HP, 0);
	if (info().iova_pa)
		CHECK_UEQ(mz->iova % HP, 0);
	check_page_iova(mz);
	memset(mz->addr, 1, HP);
	audit_all();
	hm_cleanup();
	CHECK_EQ(t_hugepages_free_settled(free0), free0);
	CHECK_EQ(t_mappings(), maps0);
}

static void test_prealloc_2m(void)
{
	unsigned free0 = t_hugepages_free();
	struct hm_mem_info mi;

	REQUIRE_EQ(start(HP, 64 * MIB, 8 * MIB), 0);
	mi = info();
	CHECK_UEQ(mi.prealloc, 8 * MIB);
	CHECK_UEQ(mi.committed, 8 * MIB);
	CHECK_EQ(free0 - t_hugepages_free(), 4);
	/* A zone from the preallocated pages takes no more. */
	REQUIRE_NOT_NULL(hm_memzone_reserve("pre", MIB, -1, 0, 0, 0));
	CHECK_EQ(free0 - t_hugepages_free(), 4);
	hm_cleanup();
	CHECK_EQ(t_hugepages_free_settled(free0), free0);
}

/* An explicit 2 MiB instance has no 4 KiB pages behind it: running out is ENOMEM. */
static void test_exhaust_explicit(void)
{
	unsigned free0 = t_hugepages_free(), maps0 = t_mappings(), n;
	const struct hm_memzone *mz;

	REQUIRE_EQ(start(HP, (size_t)(free0 + 8) * HP, 0), 0);
	hm_log_set_sink(t_count_sink, NULL);
	for (n = 0; n < free0 + 8; n++) {
		char name[16];

		snprintf(name, sizeof(name), "x%u", n);
		errno = 0;
		/* One hugepage per zone: a payload that fills it, header and sentinel aside. */
		mz = hm_memzone_reserve(name, HP - 256, -1, 0, 0, 0);
		if (!mz) {
			CHECK_EQ(errno, ENOMEM);
			break;
		}
		CHECK_EQ(mz->page_size, HP);
		memset(mz->addr, (int)n, mz->len);
	}
	hm_log_set_sink(NULL, NULL);
	CHECK_LE(n, free0);
	CHECK_GE(n + 1, free0 / 2);
	CHECK_LE(t_hugepages_free(), 1);
	/* Nothing is left committed by the failures: the count matches the zones' pages. */
	CHECK_EQ(free0 - t_hugepages_free(), info().committed / HP);
	audit_all();
	/* Free one zone: its page comes back, and the next zone gets it. */
	mz = hm_memzone_lookup("x0");
	REQUIRE_NOT_NULL(mz);
	CHECK_EQ(hm_memzone_free(mz), 0);
	CHECK(hm_memzone_reserve("again", HP / 2, -1, 0, 0, 0) != NULL);
	hm_cleanup();
	CHECK_EQ(t_hugepages_free_settled(free0), free0);
	CHECK_EQ(t_mappings(), maps0);
}

/* An explicit 2 MiB prealloc larger than the free hugepages: init fails cleanly. */
static void *idle_thread(void *arg)
{
	return arg;
}

/*
 * A large commit runs on up to 4 threads, and glibc keeps the stacks of
 * exited threads cached (mapped) for reuse. Start and join as many threads
 * first, so that those cached stacks are there before the mapping count is
 * taken and are not counted as ours.
 */
static void prime_thread_stacks(void)
{
	pthread_t t[4];

	for (int i = 0; i < 4; i++)
		REQUIRE_EQ(pthread_create(&t[i], NULL, idle_thread, NULL), 0);
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
}

static void test_prealloc_too_big(void)
{
	unsigned free0, maps0;

	prime_thread_stacks();
	free0 = t_hugepages_free();
	maps0 = t_mappings();

	hm_log_set_sink(t_count_sink, NULL);
	CHECK_EQ(start(HP, (size_t)(free0 + 4) * HP, (size_t)(free0 + 2) * HP), -ENOMEM);
	hm_log_set_sink(NULL, NULL);
	CHECK(!hm_initialized());
	CHECK_EQ(t_hugepages_free_settled(free0), free0);
	CHECK_EQ(t_mappings(), maps0);
}

/* AUTO with a prealloc the free hugepages cannot hold: 4 KiB pages, none taken. */
static void test_auto_fallback(void)
{
	unsigned free0 = t_hugepages_free();
	size_t prealloc = (size_t)(free0 + 1) * HP;
	struct hm_mem_info mi;

	if (prealloc > 512 * MIB) {
		printf("note: %u free hugepages, too many to test the fallback cheaply\n", free0);
		return;
	}
	t_log_lines_reset();
	hm_log_set_sink(t_count_sink, NULL);
	REQUIRE_EQ(start(HM_PAGE_SIZE_AUTO, prealloc + 64 * MIB, prealloc), 0);
	hm_log_set_sink(NULL, NULL);
	CHECK_EQ(t_log_lines(), 1); /* the warning saying why */
	mi = info();
	CHECK_UEQ(mi.page_size, HM_PAGE_SIZE_4K);
	CHECK(!mi.hugepages);
	CHECK_GE(mi.committed, prealloc);
	CHECK_EQ(t_hugepages_free_settled(free0), free0);
	hm_cleanup();
	CHECK_EQ(t_hugepages_free_settled(free0), free0);
}

/* AUTO without a prealloc: hugepages first, 4 KiB pages once they run out. */
static void test_auto_spill(void)
{
	unsigned free0 = t_hugepages_free(), n, huge = 0, small = 0;
	const struct hm_memzone *mz;

	REQUIRE_EQ(start(HM_PAGE_SIZE_AUTO, (size_t)(free0 + 8) * HP, 0), 0);
	CHECK_UEQ(info().page_size, HP);
	CHECK_EQ(info().n_seglists, 2 * info().n_sockets);
	hm_log_set_sink(t_count_sink, NULL);
	t_log_lines_reset();
	for (n = 0; n < free0 + 4; n++) {
		char name[16];

		snprintf(name, sizeof(name), "s%u", n);
		mz = hm_memzone_reserve(name, HP - 256, -1, 0, 0, 0);
		REQUIRE_NOT_NULL(mz);
		memset(mz->addr, (int)n, mz->len);
		if (mz->page_size == HP)
			huge++;
		else if (mz->page_size == HM_PAGE_SIZE_4K)
			small++;
	}
	hm_log_set_sink(NULL, NULL);
	CHECK_GE(huge, 1);
	CHECK_GE(small, 4);
	CHECK_EQ(huge + small, n);
	CHECK_LE(t_log_lines(), 1); /* one warning when 4 KiB pages take over */
	CHECK_LE(t_hugepages_free(), 1);
	/* 4 KiB zones by flag; 2 MiB ones by flag fail now. */
	mz = hm_memzone_reserve("small", 100, -1, HM_MEMZONE_4KB, 0, 0);
	REQUIRE_NOT_NULL(mz);
	CHECK_EQ(mz->page_size, HM_PAGE_SIZE_4K);
	CHECK_NULL_ERRNO(hm_memzone_reserve("big", HP, -1, HM_MEMZONE_2MB, 0, 0), ENOMEM);
	mz = hm_memzone_reserve("hint", HP, -1, HM_MEMZONE_2MB | HM_MEMZONE_SIZE_HINT_ONLY, 0, 0);
	REQUIRE_NOT_NULL(mz);
	CHECK_EQ(mz->page_size, HM_PAGE_SIZE_4K);
	audit_all();
	hm_cleanup();
	CHECK_EQ(t_hugepages_free_settled(free0), free0);
}

static void test_largest_and_flags(void)
{
	unsigned free0 = t_hugepages_free();
	const struct hm_memzone *mz;

	REQUIRE_EQ(start(HM_PAGE_SIZE_LARGEST, 64 * MIB, 0), 0);
	/* The largest size with free pages: 2 MiB unless 1 GiB pages are free. */
	CHECK(info().page_size == HP || info().page_size == HM_PAGE_SIZE_1G);
	hm_cleanup();
	REQUIRE_EQ(start(HM_PAGE_SIZE_AUTO, 64 * MIB, 0), 0);
	mz = hm_memzone_reserve("2m", 1000, -1, HM_MEMZONE_2MB, 0, 0);
	REQUIRE_NOT_NULL(mz);
	CHECK_EQ(mz->page_size, HP);
	mz = hm_memzone_reserve("4k", 1000, -1, HM_MEMZONE_4KB, 0, 0);
	REQUIRE_NOT_NULL(mz);
	CHECK_EQ(mz->page_size, HM_PAGE_SIZE_4K);
	CHECK_EQ(hm_page_size_of(mz->addr), HM_PAGE_SIZE_4K);
	/* No flag: the hugepages first. */
	mz = hm_memzone_reserve("any", 1000, -1, 0, 0, 0);
	REQUIRE_NOT_NULL(mz);
	CHECK_EQ(mz->page_size, HP);
	/* Contiguous in IOVA: within one hugepage always, across two when the pages allow. */
	mz = hm_memzone_reserve("contig1", MIB, -1, HM_MEMZONE_IOVA_CONTIG | HM_MEMZONE_2MB, 0, HP);
	REQUIRE_NOT_NULL(mz);
	check_page_iova(mz);
	errno = 0;
	mz = hm_memzone_reserve("contig3", 3 * MIB, -1, HM_MEMZONE_IOVA_CONTIG | HM_MEMZONE_2MB, 0,
				0);
	if (mz) {
		for (size_t k = 0; k < mz->len; k += 4096)
			if (hm_virt2iova((char *)mz->addr + k) != mz->iova + k) {
				CHECK_UEQ(hm_virt2iova((char *)mz->addr + k), mz->iova + k);
				break;
			}
	} else {
		CHECK_EQ(errno, ENOMEM);
	}
	audit_all();
	hm_cleanup();
	CHECK_EQ(t_hugepages_free_settled(free0), free0);
}

int main(int argc, char **argv)
{
	t_init(argc, argv);
	t_need_hugepages(NEED);
	T_RUN(test_explicit_2m);
	T_RUN(test_prealloc_2m);
	T_RUN(test_exhaust_explicit);
	T_RUN(test_prealloc_too_big);
	T_RUN(test_auto_fallback);
	T_RUN(test_auto_spill);
	T_RUN(test_largest_and_flags);
	return t_done();
}
