/* SPDX-License-Identifier: MIT */
/*
 * test_heap_trailer.c - debug builds (HM_DEBUG >= 1) put a cookie after
 * every malloc block and poison freed blocks: an overrun is reported by
 * hm_malloc_validate (-EFAULT) and by hm_free (a log line, the error
 * counter), and the heap stays consistent. Skipped in release builds.
 */
#include "harness.h"
#include "internal.h"
#include "heap/heap.h"
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

static void audit_all(void)
{
	for (unsigned i = 0; i < hm__heap_count(); i++)
		CHECK_EQ(hm__heap_audit(hm__heap_get(i)), 0);
}

static uint64_t errors(void)
{
	struct hm_malloc_stats st;

	REQUIRE_EQ(hm_malloc_get_stats(HM_SOCKET_ANY, &st), 0);
	return st.errors;
}

static void test_overrun_reported(void)
{
	size_t usable;
	char *p, *q;
	uint64_t e0;

	start();
	p = hm_malloc("t", 100, 0);
	q = hm_malloc("t", 100, 0); /* a neighbour that must survive */
	REQUIRE_NOT_NULL(p);
	REQUIRE_NOT_NULL(q);
	memset(q, 0x11, 100);
	REQUIRE_EQ(hm_malloc_validate(p, &usable), 0);
	CHECK_GE(usable, 100);
	memset(p, 0x22, usable); /* all of it: fine */
	CHECK_EQ(hm_malloc_validate(p, NULL), 0);
	e0 = errors();

	p[usable] = 0x33; /* one byte too far */
	t_log_lines_reset();
	hm_log_set_sink(t_count_sink, NULL);
	CHECK_EQ(hm_malloc_validate(p, NULL), -EFAULT);
	CHECK_EQ(t_log_lines(), 1);
	hm_free(p);
	CHECK_EQ(t_log_lines(), 2);
	hm_log_set_sink(NULL, NULL);
	CHECK_EQ(errors(), e0 + 2);
	/* The block was freed all the same, the neighbour is intact, the heap consistent. */
	CHECK_EQ(hm_malloc_validate(p, NULL), -EINVAL);
	for (int i = 0; i < 100; i++)
		CHECK_EQ((unsigned char)q[i], 0x11);
	audit_all();
	hm_free(q);
	audit_all();
	hm_cleanup();
}

static void test_freed_memory_poisoned(void)
{
	size_t usable;
	unsigned char *p, *keep;

	start();
	keep = hm_malloc(NULL, 64, 0); /* before p: p's free cannot merge backwards */
	p = hm_malloc(NULL, 4000, 0);
	REQUIRE_NOT_NULL(keep);
	REQUIRE_NOT_NULL(p);
	REQUIRE_EQ(hm_malloc_validate(p, &usable), 0);
	memset(p, 0, usable);
	hm_free(p);
#if defined(HM_TRACK_ASAN) || defined(HM_TRACK_VALGRIND)
	/* Reading freed memory is what the checker now reports (test_misuse_uaf). */
	hm_free(keep);
	hm_cleanup();
	return;
#endif
	/* The first 16 bytes hold the free list's links; the rest is poison. */
	for (size_t i = 16; i < usable; i++) {
		if (p[i] != 0x6b) {
			CHECK_EQ(p[i], 0x6b);
			break;
		}
	}
	hm_free(keep);
	audit_all();
	hm_cleanup();
}

static void test_realloc_keeps_trailer(void)
{
	size_t usable;
	char *p;

	start();
	p = hm_malloc(NULL, 100, 0);
	REQUIRE_NOT_NULL(p);
	p = hm_realloc(p, 1000, 0);
	REQUIRE_NOT_NULL(p);
	REQUIRE_EQ(hm_malloc_validate(p, &usable), 0);
	CHECK_GE(usable, 1000);
	p = hm_realloc(p, 10, 0);
	REQUIRE_NOT_NULL(p);
	CHECK_EQ(hm_malloc_validate(p, &usable), 0);
	memset(p, 1, usable);
	CHECK_EQ(hm_malloc_validate(p, NULL), 0);
	hm_free(p);
	CHECK_EQ(errors(), 0);
	audit_all();
	hm_cleanup();
}

int main(int argc, char **argv)
{
	t_init(argc, argv);
	if (HM_DEBUG < 1)
		SKIP("trailers and poisoning are in debug builds (HM_DEBUG >= 1) only");
	T_RUN(test_overrun_reported);
	T_RUN(test_freed_memory_poisoned);
	T_RUN(test_realloc_keeps_trailer);
	return t_done();
}
