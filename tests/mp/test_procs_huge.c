/* SPDX-License-Identifier: MIT */
/*
 * test_procs_huge.c - a primary and a secondary sharing 2 MiB hugepages
 * (skips without free ones): the secondary sees the primary's zones at the
 * same address and IOVA, commits hugepages of its own that the primary sees,
 * and every hugepage comes back when both are done, or when a primary is
 * killed with kill -9.
 */
#include "harness.h"
#include "internal.h"
#include "mem/mem.h"
#include "heap/heap.h"
#include <hugemem.h>

#include <poll.h>
#include <signal.h>
#include <unistd.h>

#define MIB  ((size_t)1 << 20)
#define HP   HM_PAGE_SIZE_2M
#define NEED 16

static int to_parent[2];

static struct hm_config config(enum hm_proc_type type)
{
	struct hm_config c;

	hm_config_defaults(&c);
	c.page_size = HP;
	c.memory_limit = 16 * HP;
	c.prefix = t_prefix();
	c.proc_type = type;
	return c;
}

static bool all_bytes(const void *p, size_t len, uint8_t v)
{
	for (size_t i = 0; i < len; i++)
		if (((const uint8_t *)p)[i] != v)
			return false;
	return true;
}

static int secondary(void *arg)
{
	const struct hm_memzone *parents = arg;
	void *addr = parents->addr;
	uint64_t iova = parents->iova;
	struct hm_config c = config(HM_PROC_SECONDARY);
	const struct hm_memzone *mz, *mine;
	struct hm_mem_info mi;
	unsigned free0;

	/* A secondary takes the page size from its primary, whatever it asks. */
	c.page_size = HM_PAGE_SIZE_4K;
	REQUIRE_EQ(hm_init(&c), 0);
	REQUIRE_EQ(hm_mem_get_info(&mi), 0);
	CHECK_UEQ(mi.page_size, HP);
	CHECK(mi.hugepages);
	CHECK_EQ(mi.proc_type, HM_PROC_SECONDARY);
	mz = hm_memzone_lookup("parent");
	REQUIRE_NOT_NULL(mz);
	CHECK_PTR_EQ(mz->addr, addr);
	CHECK_UEQ(mz->iova, iova);
	CHECK_UEQ(hm_virt2iova(mz->addr), iova);
	CHECK_EQ(hm_page_size_of(mz->addr), HP);
	CHECK(all_bytes(mz->addr, mz->len, 0x17));
	memset(mz->addr, 0x71, mz->len);
	/* Hugepages committed by the secondary come from the same pool. */
	free0 = t_hugepages_free();
	mine = hm_memzone_reserve("child", 3 * MIB, -1, 0, 0, 0);
	REQUIRE_NOT_NULL(mine);
	CHECK_EQ(mine->page_size, HP);
	CHECK_LT(t_hugepages_free(), free0);
	memset(mine->addr, 0x29, mine->len);
	for (unsigned i = 0; i < hm__heap_count(); i++)
		CHECK_EQ(hm__heap_audit(hm__heap_get(i)), 0);
	hm_cleanup();
	return 0;
}

static void test_share_hugepages(void)
{
	unsigned free0 = t_hugepages_free();
	struct hm_config c = config(HM_PROC_PRIMARY);
	const struct hm_memzone *mz, *theirs;
	uint64_t iova;

	REQUIRE_EQ(hm_init(&c), 0);
	mz = hm_memzone_reserve("parent", MIB, -1, 0, 0, 0);
	REQUIRE_NOT_NULL(mz);
	CHECK_EQ(mz->page_size, HP);
	memset(mz->addr, 0x17, mz->len);
	iova = mz->iova;
	CHECK_EQ(t_wait_exit(t_fork(secondary, (void *)mz)), 0);
	CHECK(all_bytes(mz->addr, mz->len, 0x71));
	CHECK_UEQ(hm_virt2iova(mz->addr), iova);
	theirs = hm_memzone_lookup("child");
	REQUIRE_NOT_NULL(theirs);
	CHECK(all_bytes(theirs->addr, theirs->len, 0x29));
	CHECK_UEQ(hm_virt2iova(theirs->addr), theirs->iova);
	CHECK_EQ(hm_page_size_of(theirs->addr), HP);
	CHECK_EQ(hm_memzone_free(theirs), 0);
	for (unsigned i = 0; i < hm__heap_count(); i++)
		CHECK_EQ(hm__heap_audit(hm__heap_get(i)), 0);
	hm_cleanup();
	CHECK_EQ(t_hugepages_free_settled(free0), free0);
}

static int doomed_primary(void *arg)
{
	struct hm_config c = config(HM_PROC_PRIMARY);
	uint64_t one = 1;

	(void)arg;
	c.prealloc = 4 * HP;
	REQUIRE_EQ(hm_init(&c), 0);
	REQUIRE_NOT_NULL(hm_memzone_reserve("doomed", 3 * MIB, -1, 0, 0, 0));
	REQUIRE_EQ(write(to_parent[1], &one, sizeof(one)), (ssize_t)sizeof(one));
	for (;;)
		pause();
	return 0;
}

static void test_kill9_returns_hugepages(void)
{
	unsigned free0 = t_hugepages_free();
	struct hm_config c = config(HM_PROC_PRIMARY);
	struct pollfd p;
	uint64_t v = 0;
	pid_t pid;

	REQUIRE_EQ(pipe(to_parent), 0);
	pid = t_fork(doomed_primary, NULL);
	p.fd = to_parent[0];
	p.events = POLLIN;
	REQUIRE_EQ(poll(&p, 1, 10000), 1);
	REQUIRE_EQ(read(to_parent[0], &v, sizeof(v)), (ssize_t)sizeof(v));
	CHECK_GE(free0 - t_hugepages_free(), 4);
	kill(pid, SIGKILL);
	CHECK(t_wait_signal(pid, SIGKILL));
	/* The kernel frees the dead primary's hugepages with its last reference. */
	CHECK_EQ(t_hugepages_free_settled(free0), free0);
	/* A new primary takes the prefix over and preallocates again. */
	c.prealloc = 4 * HP;
	REQUIRE_EQ(hm_init(&c), 0);
	CHECK_EQ(free0 - t_hugepages_free(), 4);
	CHECK_NULL_ERRNO(hm_memzone_lookup("doomed"), ENOENT);
	hm_cleanup();
	CHECK_EQ(t_hugepages_free_settled(free0), free0);
	close(to_parent[0]);
	close(to_parent[1]);
}

int main(int argc, char **argv)
{
	t_init(argc, argv);
	t_need_hugepages(NEED);
	T_RUN(test_share_hugepages);
	T_RUN(test_kill9_returns_hugepages);
	return t_done();
}
