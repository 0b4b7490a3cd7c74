/* SPDX-License-Identifier: MIT */
/*
 * test_misuse_uaf.c - in a checker build (HM_TRACK=asan, the asan preset),
 * a use of a heap block after hm_free is reported by AddressSanitizer: the
 * child that does it dies, the parent checks that it did. Memory handed out
 * again (by malloc or as a zone) is usable without a report. Skipped in
 * other builds.
 */
#include "harness.h"
#include <hugemem.h>

#define MIB ((size_t)1 << 20)

static void start(void)
{
	struct hm_config c;

	hm_config_defaults(&c);
	c.no_huge = true;
	c.memory_limit = 64 * MIB;
	REQUIRE_EQ(hm_init(&c), 0);
}

static volatile char sink;

static int use_after_free(void *arg)
{
	char *p;

	(void)arg;
	start();
	p = hm_malloc(NULL, 1000, 0);
	if (!p)
		return 2;
	hm_free(p);
	sink = p[500]; /* the checker stops the process here */
	return 0;
}

static void test_use_after_free_reported(void)
{
	pid_t pid = t_fork(use_after_free, NULL);
	int rc = t_wait_exit(pid);

	CHECK_NE(rc, 0);
	CHECK_NE(rc, 2);
}

/* Memory freed and handed out again, by malloc or as a zone, is open again. */
static void test_reuse_is_open(void)
{
	char *p, *q;
	const struct hm_memzone *mz;

	start();
	p = hm_malloc(NULL, 4000, 0);
	REQUIRE_NOT_NULL(p);
	hm_free(p);
	q = hm_malloc(NULL, 3000, 0);
	REQUIRE_NOT_NULL(q);
	memset(q, 1, 3000);
	hm_free(q);
	mz = hm_memzone_reserve("reuse", 3500, -1, 0, 0, 0);
	REQUIRE_NOT_NULL(mz);
	memset(mz->addr, 2, mz->len);
	CHECK_EQ(hm_memzone_free(mz), 0);
	/* Grown in place over a freed neighbour. */
	p = hm_malloc(NULL, 100, 0);
	q = hm_malloc(NULL, 4000, 0);
	REQUIRE_NOT_NULL(p);
	REQUIRE_NOT_NULL(q);
	hm_free(q);
	char *r = hm_realloc(p, 3000, 0);
	REQUIRE_NOT_NULL(r);
	memset(r, 3, 3000);
	hm_free(r);
	hm_cleanup();
}

int main(int argc, char **argv)
{
	t_init(argc, argv);
#if !defined(HM_TRACK_ASAN)
	SKIP("use-after-free reports need the asan preset (HM_TRACK=asan)");
#endif
	T_RUN(test_use_after_free_reported);
	T_RUN(test_reuse_is_open);
	return t_done();
}
