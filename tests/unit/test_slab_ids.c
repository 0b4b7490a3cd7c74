/* SPDX-License-Identifier: MIT */
/*
 * test_slab_ids.c - the page map names caches by a 16-bit id: an instance
 * holds HM_SLAB_CACHES_MAX caches at once, the next create fails with
 * ENOSPC (nothing kept: the name is free), a destroyed cache's id is taken
 * again, and a free to the cache that reuses an id of a pointer into the
 * old cache's released slabs is refused.
 */
#include "harness.h"
#include <hugemem.h>

#include <stdio.h>
#include <stdlib.h>

static void test_ids_run_out_and_come_back(void)
{
	struct hm_config cfg;
	struct hm_slab_cache **c;
	struct hm_slab_cache *extra, *again;
	struct hm_slab_stats st;
	char name[32];
	unsigned n = 0;
	void *obj;

	hm_config_defaults(&cfg);
	cfg.no_huge = true;
	cfg.memory_limit = (size_t)1 << 30;
	cfg.max_threads = 4;
	REQUIRE_EQ(hm_init(&cfg), 0);
	c = calloc(HM_SLAB_CACHES_MAX, sizeof(*c));
	REQUIRE_NOT_NULL(c);
	for (; n < HM_SLAB_CACHES_MAX; n++) {
		snprintf(name, sizeof(name), "c%u", n);
		c[n] = hm_slab_create(name, 64, 0, 0, NULL, NULL, NULL);
		if (!c[n])
			break;
	}
	CHECK_UEQ(n, HM_SLAB_CACHES_MAX);

	CHECK_NULL_ERRNO(hm_slab_create("one-too-many", 64, 0, 0, NULL, NULL, NULL), ENOSPC);
	CHECK_NULL(hm_slab_lookup("one-too-many"));

	/* An object of the first cache, then the cache gone: its id is free. */
	REQUIRE_NOT_NULL(obj = hm_slab_alloc(c[0]));
	hm_slab_free(c[0], obj);
	CHECK_EQ(hm_slab_destroy(c[0]), 0);
	REQUIRE_NOT_NULL(extra = hm_slab_create("one-too-many", 128, 0, 0, NULL, NULL, NULL));
	CHECK_NULL_ERRNO(hm_slab_create("still-too-many", 64, 0, 0, NULL, NULL, NULL), ENOSPC);

	/* A stale pointer of the old cache is not the new one's (the old slabs
	 * are out of the page map), and the new cache works. */
	t_log_lines_reset();
	hm_log_set_sink(t_count_sink, NULL);
	hm_slab_free(extra, obj);
	hm_log_set_sink(NULL, NULL);
	CHECK_EQ(t_log_lines(), 1);
	REQUIRE_NOT_NULL(again = hm_slab_alloc(extra));
	REQUIRE_EQ(hm_slab_get_stats(extra, &st), 0);
	CHECK_EQ(st.errors, 1);
	CHECK_EQ(st.active_objs, 1);
	hm_slab_free(extra, again);
	CHECK_EQ(hm_slab_audit(extra), 0);
	CHECK_EQ(hm_slab_destroy(extra), 0);

	for (unsigned i = 1; i < n; i++)
		CHECK_EQ(hm_slab_destroy(c[i]), 0);
	free(c);
	hm_cleanup();
}

int main(int argc, char **argv)
{
	t_init(argc, argv);
	T_RUN(test_ids_run_out_and_come_back);
	return t_done();
}
