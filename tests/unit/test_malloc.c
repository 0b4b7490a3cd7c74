/* SPDX-License-Identifier: MIT */
/*
 * test_malloc.c - the heap API (hugemem/malloc.h) on 4 KiB pages: every
 * errno of every function (ENXIO before hm_init, EINVAL, ENODEV, ENOMEM,
 * ENOSPC, ENOENT), alignments, zeroed memory over reused dirty blocks,
 * validate on every kind of pointer, misuse of free (zones, double frees,
 * foreign pointers: refused, logged, counted, the heap intact), realloc in
 * place and by moving, types and their counters, limits, a full type table,
 * the statistics and their dump. Sizes so large that a request cannot be
 * met run in a child each, so that a crash is one failed check.
 */
#include "harness.h"
#include "internal.h"
#include "mem/mem.h"
#include "heap/heap.h"
#include <hugemem.h>

#include <limits.h>
#include <stdlib.h>

#define MIB   ((size_t)1 << 20)
#define LIMIT (256 * MIB)

static void start(void)
{
	struct hm_config c;

	hm_config_defaults(&c);
	c.no_huge = true;
	c.memory_limit = LIMIT;
	REQUIRE_EQ(hm_init(&c), 0);
}

static void audit_all(void)
{
	for (unsigned i = 0; i < hm__heap_count(); i++)
		CHECK_EQ(hm__heap_audit(hm__heap_get(i)), 0);
}

static struct hm_malloc_stats stats(int socket)
{
	struct hm_malloc_stats st;

	memset(&st, 0xee, sizeof(st));
	REQUIRE_EQ(hm_malloc_get_stats(socket, &st), 0);
	CHECK_EQ(st.size, sizeof(st));
	CHECK_EQ(st.version, 1);
	return st;
}

static struct hm_malloc_type_stats tstats(const char *type)
{
	struct hm_malloc_type_stats ts;

	memset(&ts, 0xee, sizeof(ts));
	REQUIRE_EQ(hm_malloc_get_type_stats(type, &ts), 0);
	return ts;
}

/* Bytes usable at live block p (fatal if it is none). */
static size_t usable(const void *p)
{
	size_t n = 0;

	REQUIRE_EQ(hm_malloc_validate(p, &n), 0);
	return n;
}

/* Log lines go to the counter from here until loud(). */
static void quiet(void)
{
	t_log_lines_reset();
	hm_log_set_sink(t_count_sink, NULL);
}

static void loud(void)
{
	hm_log_set_sink(NULL, NULL);
}

static bool all_bytes(const void *p, size_t len, uint8_t v)
{
	for (size_t i = 0; i < len; i++)
		if (((const uint8_t *)p)[i] != v)
			return false;
	return true;
}

static uint8_t pat(size_t seed, size_t k)
{
	return (uint8_t)(seed * 31 + k * 7 + (k >> 8));
}

static void fill(void *p, size_t len, size_t seed)
{
	for (size_t k = 0; k < len; k++)
		((uint8_t *)p)[k] = pat(seed, k);
}

static bool intact(const void *p, size_t len, size_t seed)
{
	for (size_t k = 0; k < len; k++)
		if (((const uint8_t *)p)[k] != pat(seed, k))
			return false;
	return true;
}

/* The payload right after live block p (its next block's payload). */
static char *next_payload(void *p)
{
	struct hm_heap_block *b = hm__heap_block_of(p);

	REQUIRE_NOT_NULL(b);
	return (char *)p + hm__heap_usable(b) + HM_HEAP_HDR;
}

/* Dump to a string (free it). */
static char *dump(const char *type)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	REQUIRE_NOT_NULL(f);
	hm_malloc_dump_stats(f, type);
	REQUIRE_EQ(fclose(f), 0);
	REQUIRE_NOT_NULL(buf);
	return buf;
}

/* A NUMA node that is not one of the instance's (the smallest). */
static int bad_socket(void)
{
	int s = 0;

	while (hm_socket_valid(s))
		s++;
	return s;
}

/* --- before hm_init, and after hm_cleanup --- */

static void check_no_instance(void *hm_block)
{
	struct hm_malloc_stats st;
	struct hm_malloc_type_stats ts;
	char *libc = malloc(256);
	int on_stack = 0;
	char *text;

	REQUIRE_NOT_NULL(libc);
	REQUIRE(!hm_initialized());
	CHECK_NULL_ERRNO(hm_malloc(NULL, 64, 0), ENXIO);
	CHECK_NULL_ERRNO(hm_malloc("t", 64, 64), ENXIO);
	CHECK_NULL_ERRNO(hm_zmalloc(NULL, 64, 0), ENXIO);
	CHECK_NULL_ERRNO(hm_zmalloc("t", 1, 4096), ENXIO);
	CHECK_NULL_ERRNO(hm_calloc(NULL, 2, 64, 0), ENXIO);
	CHECK_NULL_ERRNO(hm_calloc("t", 1, 1, 0), ENXIO);
	CHECK_NULL_ERRNO(hm_malloc_socket(NULL, 64, 0, HM_SOCKET_ANY), ENXIO);
	CHECK_NULL_ERRNO(hm_malloc_socket(NULL, 64, 0, 0), ENXIO);
	CHECK_NULL_ERRNO(hm_zmalloc_socket(NULL, 64, 0, HM_SOCKET_ANY), ENXIO);
	CHECK_NULL_ERRNO(hm_zmalloc_socket("t", 64, 0, 0), ENXIO);
	CHECK_NULL_ERRNO(hm_calloc_socket(NULL, 4, 16, 0, HM_SOCKET_ANY), ENXIO);
	CHECK_NULL_ERRNO(hm_calloc_socket("t", 4, 16, 0, 0), ENXIO);
	CHECK_NULL_ERRNO(hm_realloc(NULL, 64, 0), ENXIO);
	CHECK_NULL_ERRNO(hm_realloc(libc, 64, 0), ENXIO);
	CHECK_EQ(hm_malloc_validate(NULL, NULL), -ENXIO);
	CHECK_EQ(hm_malloc_validate(libc, NULL), -ENXIO);
	CHECK_EQ(hm_malloc_validate(&on_stack, NULL), -ENXIO);
	CHECK_EQ(hm_malloc_set_limit("t", MIB), -ENXIO);
	CHECK_EQ(hm_malloc_set_limit("t", 0), -ENXIO);
	CHECK_EQ(hm_malloc_get_stats(HM_SOCKET_ANY, &st), -ENXIO);
	CHECK_EQ(hm_malloc_get_stats(0, &st), -ENXIO);
	CHECK_EQ(hm_malloc_get_type_stats(NULL, &ts), -ENXIO);
	CHECK_EQ(hm_malloc_get_type_stats("", &ts), -ENXIO);
	CHECK_EQ(hm_malloc_get_type_stats("t", &ts), -ENXIO);
	if (hm_block) {
		/* A block of the instance that is gone: no instance to ask. */
		CHECK_EQ(hm_malloc_validate(hm_block, NULL), -ENXIO);
		CHECK_NULL_ERRNO(hm_realloc(hm_block, 64, 0), ENXIO);
	}
	quiet();
	hm_free(NULL);
	CHECK_EQ(t_log_lines(), 0);
	/* A pointer freed without an instance is refused with a log line, and left alone. */
	hm_free(libc);
	CHECK_EQ(t_log_lines(), 1);
	loud();
	memset(libc, 0x5a, 256);
	free(libc);
	text = dump(NULL);
	CHECK_GT(strlen(text), 0);
	free(text);
	text = dump("t");
	CHECK_GT(strlen(text), 0);
	free(text);
}

static void test_before_init(void)
{
	void *p;

	check_no_instance(NULL);
	/* The same once an instance has come and gone. */
	start();
	p = hm_malloc("t", 1000, 0);
	REQUIRE_NOT_NULL(p);
	hm_cleanup();
	check_no_instance(p);
}

/* --- argument errors: EINVAL, ENODEV, ENOMEM; nothing changes --- */

static void test_bad_args(void)
{
	static const size_t bad_align[] = {
		3,       5,    6,    7,       12,   48,   96,           100,
		192,     4095, 4097, 3 * MIB, 1000, 6144, SIZE_MAX / 2, SIZE_MAX - 63,
		SIZE_MAX};
	struct hm_malloc_stats st0, st1;
	struct hm_malloc_type_stats ts;
	char name[HM_NAME_MAX + 8];
	int socket;
	void *p, *q;

	start();
	socket = bad_socket();
	p = hm_malloc("keep", 100, 0);
	REQUIRE_NOT_NULL(p);
	fill(p, 100, 1);
	st0 = stats(HM_SOCKET_ANY);
	quiet();

	/* size 0 */
	CHECK_NULL_ERRNO(hm_malloc(NULL, 0, 0), EINVAL);
	CHECK_NULL_ERRNO(hm_malloc("t", 0, 64), EINVAL);
	CHECK_NULL_ERRNO(hm_zmalloc(NULL, 0, 0), EINVAL);
	CHECK_NULL_ERRNO(hm_zmalloc("t", 0, 4096), EINVAL);
	CHECK_NULL_ERRNO(hm_calloc(NULL, 0, 64, 0), EINVAL);
	CHECK_NULL_ERRNO(hm_calloc(NULL, 64, 0, 0), EINVAL);
	CHECK_NULL_ERRNO(hm_calloc("t", 0, 0, 0), EINVAL);
	CHECK_NULL_ERRNO(hm_malloc_socket(NULL, 0, 0, HM_SOCKET_ANY), EINVAL);
	CHECK_NULL_ERRNO(hm_zmalloc_socket(NULL, 0, 0, HM_SOCKET_ANY), EINVAL);
	CHECK_NULL_ERRNO(hm_calloc_socket(NULL, 0, 8, 0, HM_SOCKET_ANY), EINVAL);
	CHECK_NULL_ERRNO(hm_realloc(NULL, 0, 0), EINVAL);

	/* align not a power of two */
	for (size_t i = 0; i < sizeof(bad_align) / sizeof(bad_align[0]); i++) {
		size_t a = bad_align[i];

		CHECK_NULL_ERRNO(hm_malloc(NULL, 64, a), EINVAL);
		CHECK_NULL_ERRNO(hm_malloc("t", 5000, a), EINVAL);
		CHECK_NULL_ERRNO(hm_zmalloc(NULL, 64, a), EINVAL);
		CHECK_NULL_ERRNO(hm_calloc(NULL, 8, 8, a), EINVAL);
		CHECK_NULL_ERRNO(hm_malloc_socket(NULL, 64, a, HM_SOCKET_ANY), EINVAL);
		CHECK_NULL_ERRNO(hm_zmalloc_socket(NULL, 64, a, HM_SOCKET_ANY), EINVAL);
		CHECK_NULL_ERRNO(hm_calloc_socket(NULL, 8, 8, a, HM_SOCKET_ANY), EINVAL);
		CHECK_NULL_ERRNO(hm_realloc(NULL, 64, a), EINVAL);
		CHECK_NULL_ERRNO(hm_realloc(p, 64, a), EINVAL);
		CHECK_NULL_ERRNO(hm_realloc(p, 5000, a), EINVAL);
	}

	/* n * size overflows */
	CHECK_NULL_ERRNO(hm_calloc(NULL, SIZE_MAX / 2 + 1, 2, 0), EINVAL);
	CHECK_NULL_ERRNO(hm_calloc(NULL, 2, SIZE_MAX / 2 + 1, 0), EINVAL);
	CHECK_NULL_ERRNO(hm_calloc(NULL, SIZE_MAX, SIZE_MAX, 0), EINVAL);
	CHECK_NULL_ERRNO(hm_calloc(NULL, (size_t)1 << 32, (size_t)1 << 32, 0), EINVAL);
	CHECK_NULL_ERRNO(hm_calloc("t", SIZE_MAX, 2, 64), EINVAL);
	CHECK_NULL_ERRNO(hm_calloc_socket(NULL, SIZE_MAX / 2 + 1, 2, 0, HM_SOCKET_ANY), EINVAL);

	/* type names of HM_NAME_MAX bytes or more */
	memset(name, 'n', sizeof(name));
	name[HM_NAME_MAX] = '\0'; /* HM_NAME_MAX characters: one too many */
	CHECK_NULL_ERRNO(hm_malloc(name, 64, 0), EINVAL);
	CHECK_NULL_ERRNO(hm_zmalloc(name, 64, 0), EINVAL);
	CHECK_NULL_ERRNO(hm_calloc(name, 2, 32, 0), EINVAL);
	CHECK_NULL_ERRNO(hm_malloc_socket(name, 64, 0, HM_SOCKET_ANY), EINVAL);
	CHECK_NULL_ERRNO(hm_zmalloc_socket(name, 64, 0, HM_SOCKET_ANY), EINVAL);
	CHECK_NULL_ERRNO(hm_calloc_socket(name, 2, 32, 0, HM_SOCKET_ANY), EINVAL);
	CHECK_EQ(hm_malloc_set_limit(name, MIB), -EINVAL);
	CHECK_EQ(hm_malloc_get_type_stats(name, &ts), -EINVAL);
	name[HM_NAME_MAX + 7] = '\0'; /* longer still */
	CHECK_NULL_ERRNO(hm_malloc(name, 64, 0), EINVAL);
	CHECK_EQ(hm_malloc_set_limit(name, MIB), -EINVAL);
	CHECK_EQ(hm_malloc_get_type_stats(name, &ts), -EINVAL);
	/* A name of HM_NAME_MAX - 1 characters is fine; one more is not, used or not. */
	name[HM_NAME_MAX - 1] = '\0';
	q = hm_malloc(name, 64, 0);
	REQUIRE_NOT_NULL(q);
	ts = tstats(name);
	CHECK_STR_EQ(ts.name, name);
	CHECK_EQ(ts.live_blocks, 1);
	name[HM_NAME_MAX - 1] = 'n';
	CHECK_NULL_ERRNO(hm_malloc(name, 64, 0), EINVAL);
	CHECK_EQ(hm_malloc_get_type_stats(name, &ts), -EINVAL);
	hm_free(q);

	/* sockets that are no node of the instance */
	static const int bad_sockets[] = {12345, -2, INT_MAX, INT_MIN, 0};
	for (size_t i = 0; i < sizeof(bad_sockets) / sizeof(bad_sockets[0]); i++) {
		int s = i == 4 ? socket : bad_sockets[i];

		CHECK_NULL_ERRNO(hm_malloc_socket(NULL, 64, 0, s), ENODEV);
		CHECK_NULL_ERRNO(hm_malloc_socket("t", 4096, 4096, s), ENODEV);
		CHECK_NULL_ERRNO(hm_zmalloc_socket(NULL, 64, 0, s), ENODEV);
		CHECK_NULL_ERRNO(hm_calloc_socket(NULL, 8, 8, 0, s), ENODEV);
		CHECK_EQ(hm_malloc_get_stats(s, &st1), -ENODEV);
	}

	/* NULL records */
	CHECK_EQ(hm_malloc_get_stats(HM_SOCKET_ANY, NULL), -EINVAL);
	CHECK_EQ(hm_malloc_get_stats(hm_socket_of(p), NULL), -EINVAL);
	CHECK_EQ(hm_malloc_get_type_stats(NULL, NULL), -EINVAL);
	CHECK_EQ(hm_malloc_get_type_stats("keep", NULL), -EINVAL);
	CHECK_EQ(hm_malloc_get_type_stats("never", NULL), -EINVAL);
	CHECK_EQ(hm_malloc_get_type_stats("never", &ts), -ENOENT);
	CHECK_EQ(hm_malloc_get_type_stats("Keep", &ts), -ENOENT);

	/* More than the memory limit: ENOMEM */
	CHECK_NULL_ERRNO(hm_malloc(NULL, LIMIT + 1, 0), ENOMEM);
	CHECK_NULL_ERRNO(hm_malloc(NULL, 2 * LIMIT, 0), ENOMEM);
	CHECK_NULL_ERRNO(hm_malloc("t", 4 * LIMIT, 4096), ENOMEM);
	CHECK_NULL_ERRNO(hm_zmalloc(NULL, LIMIT + MIB, 0), ENOMEM);
	CHECK_NULL_ERRNO(hm_calloc(NULL, 2, LIMIT / 2 + MIB, 0), ENOMEM);
	CHECK_NULL_ERRNO(hm_malloc_socket(NULL, 2 * LIMIT, 0, hm_socket_of(p)), ENOMEM);
	CHECK_NULL_ERRNO(hm_zmalloc_socket(NULL, 2 * LIMIT, 0, HM_SOCKET_ANY), ENOMEM);
	CHECK_NULL_ERRNO(hm_calloc_socket(NULL, 1, 2 * LIMIT, 0, HM_SOCKET_ANY), ENOMEM);
	CHECK_NULL_ERRNO(hm_realloc(NULL, 2 * LIMIT, 0), ENOMEM);
	CHECK_NULL_ERRNO(hm_realloc(p, 2 * LIMIT, 0), ENOMEM);
	/* An alignment no memory of the instance can meet */
	CHECK_NULL_ERRNO(hm_malloc(NULL, 64, (size_t)1 << 40), ENOMEM);
	loud();

	/* Nothing was allocated, counted as an error, or lost; p is intact. */
	st1 = stats(HM_SOCKET_ANY);
	CHECK_EQ(st1.live_blocks, st0.live_blocks);
	CHECK_EQ(st1.allocs, st0.allocs + 1); /* the name of HM_NAME_MAX - 1 */
	CHECK_EQ(st1.frees, st0.frees + 1);
	CHECK_EQ(st1.errors, st0.errors);
	CHECK_GE(usable(p), 100);
	CHECK(intact(p, 100, 1));
	ts = tstats("keep");
	CHECK_EQ(ts.live_blocks, 1);
	CHECK_EQ(ts.allocs, 1);
	CHECK_EQ(ts.frees, 0);
	CHECK_EQ(ts.refused, 0);
	/* Nothing of the refused requests reached type "t" either. */
	if (hm_malloc_get_type_stats("t", &ts) == 0) {
		CHECK_EQ(ts.live_bytes, 0);
		CHECK_EQ(ts.live_blocks, 0);
		CHECK_EQ(ts.allocs, 0);
	}
	audit_all();
	hm_free(p);
	hm_cleanup();
}

/*
 * Requests that can never be met, each in a child of its own (a size that
 * wraps could hand out a tiny block and memset it with SIZE_MAX bytes).
 * test_huge_refused: NULL, nothing allocated, the block given to realloc
 * untouched. test_huge_enomem: and errno ENOMEM, as malloc.h lists no other
 * errno for a size or a power-of-two alignment that no memory can meet.
 */
enum huge_op { H_MALLOC, H_ZMALLOC, H_CALLOC, H_REALLOC };

struct huge_case {
	const char *what;
	enum huge_op op;
	size_t a, b, align;
};

static const struct huge_case huge_cases[] = {
	{"malloc(SIZE_MAX)", H_MALLOC, SIZE_MAX, 0, 0},
	{"malloc(SIZE_MAX - 7)", H_MALLOC, SIZE_MAX - 7, 0, 0},
	{"malloc(SIZE_MAX / 2)", H_MALLOC, SIZE_MAX / 2, 0, 0},
	{"malloc(2^44 + 1)", H_MALLOC, ((size_t)1 << 44) + 1, 0, 0},
	{"malloc(64, align 2^63)", H_MALLOC, 64, 0, (size_t)1 << 63},
	{"zmalloc(SIZE_MAX)", H_ZMALLOC, SIZE_MAX, 0, 0},
	{"calloc(1, SIZE_MAX)", H_CALLOC, 1, SIZE_MAX, 0},
	{"calloc(SIZE_MAX, 1)", H_CALLOC, SIZE_MAX, 1, 0},
	{"calloc(3, SIZE_MAX / 4)", H_CALLOC, 3, SIZE_MAX / 4, 0},
	{"realloc(p, SIZE_MAX)", H_REALLOC, SIZE_MAX, 0, 0},
	{"realloc(p, SIZE_MAX - 7)", H_REALLOC, SIZE_MAX - 7, 0, 0},
	{"realloc(p, 2^50)", H_REALLOC, (size_t)1 << 50, 0, 0},
	{"realloc(p, 64, align 2^63)", H_REALLOC, 64, 0, (size_t)1 << 63},
};

#define N_HUGE (sizeof(huge_cases) / sizeof(huge_cases[0]))

/* A child's exit code: the request refused with ENOMEM, or with EINVAL; anything else fails. */
#define HUGE_ENOMEM 0
#define HUGE_EINVAL 3

static int huge_child(void *arg)
{
	const struct huge_case *c = arg;
	struct hm_malloc_stats st0, st1;
	size_t u0 = 0, u1 = 0;
	void *p = NULL, *old = NULL;
	bool ok = true;
	int e;

	start();
	old = hm_malloc("huge", 1000, 0);
	REQUIRE_NOT_NULL(old);
	fill(old, 1000, 7);
	u0 = usable(old);
	st0 = stats(HM_SOCKET_ANY);
	quiet();
	errno = 0;
	switch (c->op) {
	case H_MALLOC:
		p = hm_malloc("huge", c->a, c->align);
		break;
	case H_ZMALLOC:
		p = hm_zmalloc("huge", c->a, c->align);
		break;
	case H_CALLOC:
		p = hm_calloc("huge", c->a, c->b, c->align);
		break;
	case H_REALLOC:
		p = hm_realloc(old, c->a, c->align);
		break;
	}
	e = errno;
	loud();
	if (p) {
		t_fail(__FILE__, __LINE__, false, "%s: want NULL, got %p (errno %s)", c->what, p,
		       strerror(e));
		ok = false;
	} else if (e != ENOMEM && e != EINVAL) {
		t_fail(__FILE__, __LINE__, false, "%s: want errno ENOMEM, got %s", c->what,
		       strerror(e));
		ok = false;
	}
	/* The block given to realloc (and every other) is untouched. */
	if (hm_malloc_validate(old, &u1) != 0 || u1 != u0 || !intact(old, 1000, 7)) {
		t_fail(__FILE__, __LINE__, false, "%s: the block at %p (%zu bytes) changed (%zu)",
		       c->what, old, u0, u1);
		ok = false;
	}
	st1 = stats(HM_SOCKET_ANY);
	if (st1.live_blocks != st0.live_blocks) {
		t_fail(__FILE__, __LINE__, false, "%s: %llu blocks live, were %llu", c->what,
		       (unsigned long long)st1.live_blocks, (unsigned long long)st0.live_blocks);
		ok = false;
	}
	for (unsigned i = 0; i < hm__heap_count(); i++)
		ok &= hm__heap_audit(hm__heap_get(i)) == 0;
	hm_cleanup();
	return !ok ? 1 : e == ENOMEM ? HUGE_ENOMEM : HUGE_EINVAL;
}

static int huge_rc[N_HUGE];
static bool huge_ran;

/* NULL, nothing allocated or changed, and no crash (ENOMEM or EINVAL). */
static void test_huge_refused(void)
{
	for (size_t i = 0; i < N_HUGE; i++) {
		huge_rc[i] = t_wait_exit(t_fork(huge_child, (void *)&huge_cases[i]));
		if (huge_rc[i] != HUGE_ENOMEM && huge_rc[i] != HUGE_EINVAL)
			t_fail(__FILE__, __LINE__, false, "%s: the child ended with %d",
			       huge_cases[i].what, huge_rc[i]);
	}
	huge_ran = true;
}

/* And errno ENOMEM, as malloc.h lists no other errno for them. */
static void test_huge_enomem(void)
{
	REQUIRE(huge_ran);
	for (size_t i = 0; i < N_HUGE; i++)
		if (huge_rc[i] != HUGE_ENOMEM)
			t_fail(__FILE__, __LINE__, false, "%s: %s", huge_cases[i].what,
			       huge_rc[i] == HUGE_EINVAL
				       ? "errno EINVAL, want ENOMEM"
				       : "not refused cleanly (see test_huge_refused)");
}

/* --- alignment --- */

#define N_KEEP 512

static void test_align(void)
{
	static struct {
		void *p;
		size_t len;
	} keep[N_KEEP];
	unsigned n = 0;
	void *p;

	start();
	/* align 0: a cache line, whatever the size */
	for (unsigned i = 0; i < 200; i++) {
		size_t len = i < 100 ? 1 + i : 1 + t_rand_below(20000);

		p = i % 3 == 0   ? hm_zmalloc(NULL, len, 0)
		    : i % 3 == 1 ? hm_calloc(NULL, 1, len, 0)
				 : hm_malloc("align", len, 0);
		REQUIRE_NOT_NULL(p);
		CHECK_UEQ((uintptr_t)p % HM_CACHE_LINE, 0);
		CHECK_GE(usable(p), len);
		keep[n].p = p;
		keep[n].len = len;
		fill(p, len, n);
		n++;
	}
	/* Powers of two below a cache line */
	for (size_t a = 1; a < HM_CACHE_LINE; a *= 2) {
		p = hm_malloc("align", 33, a);
		REQUIRE_NOT_NULL(p);
		CHECK_UEQ((uintptr_t)p % a, 0);
		keep[n].p = p;
		keep[n].len = 33;
		fill(p, 33, n);
		n++;
	}
	/* Every power of two from a cache line to 1 MiB, several sizes each */
	for (size_t a = HM_CACHE_LINE; a <= MIB; a *= 2) {
		for (unsigned k = 0; k < 6; k++) {
			size_t len = k == 0 ? 1 : k == 1 ? a : 1 + t_rand_below(2 * a);
			int socket = k == 5 ? hm_socket_of(keep[0].p) : HM_SOCKET_ANY;

			p = k == 2   ? hm_zmalloc_socket("align", len, a, socket)
			    : k == 3 ? hm_calloc_socket("align", 1, len, a, socket)
				     : hm_malloc_socket("align", len, a, socket);
			REQUIRE_NOT_NULL(p);
			if ((uintptr_t)p % a)
				t_fail(__FILE__, __LINE__, false, "block %p not aligned to %zu", p,
				       a);
			if (k == 2 || k == 3)
				CHECK(all_bytes(p, len, 0));
			if (k == 5)
				CHECK_EQ(hm_socket_of(p), socket);
			CHECK_GE(usable(p), len);
			REQUIRE(n < N_KEEP);
			keep[n].p = p;
			keep[n].len = len;
			fill(p, len, n);
			n++;
		}
	}
	audit_all();
	for (unsigned i = 0; i < n; i++) {
		if (!intact(keep[i].p, keep[i].len, i))
			t_fail(__FILE__, __LINE__, false, "block %u (%p, %zu bytes) changed", i,
			       keep[i].p, keep[i].len);
		hm_free(keep[i].p);
	}
	audit_all();
	hm_cleanup();
}

/* --- zeroed memory, also where a freed block was dirty --- */

static void test_zeroed_reuse(void)
{
	static const size_t sizes[] = {1,    7,    63,    64,     65,      100, 1000,    4000,
				       4096, 5000, 65536, 100000, MIB - 1, MIB, MIB + 1, 3 * MIB};
	unsigned reused = 0;
	void *guard;

	start();
	guard = hm_malloc(NULL, 64, 0); /* the heap does not start empty each time */
	REQUIRE_NOT_NULL(guard);
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		size_t len = sizes[i];

		for (unsigned how = 0; how < 6; how++) {
			size_t align = how == 4 ? 4096 : 0;
			unsigned char *p = hm_malloc(NULL, len, align), *q;

			REQUIRE_NOT_NULL(p);
			memset(p, 0xff, usable(p));
			hm_free(p);
			switch (how) {
			case 0:
			case 4:
				q = hm_zmalloc(NULL, len, align);
				break;
			case 1:
				q = hm_calloc(NULL, len, 1, 0);
				break;
			case 2:
				/* n * size == len when len is even, else one element more */
				q = hm_calloc("z", len % 2 ? len : len / 2, len % 2 ? 1 : 2, 0);
				break;
			case 3:
				q = hm_zmalloc_socket("z", len, 0, hm_socket_of(guard));
				break;
			default:
				q = hm_calloc_socket(NULL, 1, len, 0, HM_SOCKET_ANY);
				break;
			}
			REQUIRE_NOT_NULL(q);
			reused += q == p;
			if (!all_bytes(q, len, 0))
				t_fail(__FILE__, __LINE__, false,
				       "zeroed block of %zu bytes (way %u) is not zero", len, how);
			hm_free(q);
		}
	}
	/* The point: at least some of them had the dirty block back. */
	CHECK_GT(reused, 10);
	hm_free(guard);
	audit_all();
	hm_cleanup();
}

/* --- hm_free(NULL) --- */

static void test_free_null(void)
{
	struct hm_malloc_stats st0, st1;
	struct hm_malloc_type_stats t0, t1;

	start();
	st0 = stats(HM_SOCKET_ANY);
	t0 = tstats(NULL);
	quiet();
	for (int i = 0; i < 10; i++)
		hm_free(NULL);
	CHECK_EQ(t_log_lines(), 0);
	loud();
	st1 = stats(HM_SOCKET_ANY);
	t1 = tstats(NULL);
	CHECK_EQ(st1.frees, st0.frees);
	CHECK_EQ(st1.errors, st0.errors);
	CHECK_EQ(st1.live_blocks, st0.live_blocks);
	CHECK_EQ(t1.frees, t0.frees);
	audit_all();
	hm_cleanup();
}

/* --- hm_malloc_validate --- */

static void test_validate(void)
{
	const struct hm_memzone *mz;
	struct hm_mem_info mi;
	char *libc = malloc(4096);
	int on_stack = 0;
	char *p, *big, *freed;
	size_t n = 0;

	REQUIRE_NOT_NULL(libc);
	start();
	quiet();
	p = hm_malloc("v", 1000, 0);
	big = hm_malloc("v", 100000, 0);
	freed = hm_malloc("v", 3000, 0);
	REQUIRE_NOT_NULL(p);
	REQUIRE_NOT_NULL(big);
	REQUIRE_NOT_NULL(freed);
	CHECK_EQ(hm_malloc_validate(p, &n), 0);
	CHECK_GE(n, 1000);
	CHECK_EQ(hm_malloc_validate(p, NULL), 0);
	memset(p, 0, n); /* all of it is ours */
	CHECK_EQ(hm_malloc_validate(p, &n), 0);
	CHECK_GE(n, 1000);
	CHECK_EQ(hm_malloc_validate(big, &n), 0);
	CHECK_GE(n, 100000);
	memset(big, 0, n);
	hm_free(freed);

	/* interior pointers */
	CHECK_EQ(hm_malloc_validate(p + 1, NULL), -EINVAL);
	CHECK_EQ(hm_malloc_validate(p + 8, NULL), -EINVAL);
	CHECK_EQ(hm_malloc_validate(p + 32, NULL), -EINVAL);
	CHECK_EQ(hm_malloc_validate(p + 64, NULL), -EINVAL);
	CHECK_EQ(hm_malloc_validate(p + 512, &n), -EINVAL);
	for (size_t off = 64; off < 100000; off += 4096 + 64)
		CHECK_EQ(hm_malloc_validate(big + off, NULL), -EINVAL);
	CHECK_EQ(hm_malloc_validate(big + 99968, NULL), -EINVAL);
	/* the header and before */
	CHECK_EQ(hm_malloc_validate(p - HM_HEAP_HDR, NULL), -EINVAL);
	CHECK_EQ(hm_malloc_validate(p - 64, NULL), -EINVAL);
	CHECK_EQ(hm_malloc_validate(p - 1, NULL), -EINVAL);
	/* freed */
	CHECK_EQ(hm_malloc_validate(freed, &n), -EINVAL);
	/* not the heap's at all */
	CHECK_EQ(hm_malloc_validate(NULL, NULL), -EINVAL);
	CHECK_EQ(hm_malloc_validate(NULL, &n), -EINVAL);
	CHECK_EQ(hm_malloc_validate(&on_stack, NULL), -EINVAL);
	CHECK_EQ(hm_malloc_validate(libc, NULL), -EINVAL);
	CHECK_EQ(hm_malloc_validate(libc + 64, NULL), -EINVAL);
	CHECK_EQ(hm_malloc_validate((void *)(uintptr_t)64, NULL), -EINVAL);
	CHECK_EQ(hm_malloc_validate((void *)(UINTPTR_MAX & ~(uintptr_t)63), NULL), -EINVAL);
	CHECK_EQ(hm_malloc_validate((const void *)test_validate, NULL), -EINVAL);
	/* the instance's range, where nothing is committed */
	REQUIRE_EQ(hm_mem_get_info(&mi), 0);
	CHECK_EQ(hm_malloc_validate((char *)mi.va_base + mi.va_len - 64, NULL), -EINVAL);
	CHECK_EQ(hm_malloc_validate((char *)mi.va_base + mi.va_len / 2, NULL), -EINVAL);
	CHECK_EQ(hm_malloc_validate(mi.va_base, NULL), -EINVAL);
	/* a zone's memory */
	mz = hm_memzone_reserve("vz", 10000, HM_SOCKET_ANY, 0, 0, 0);
	REQUIRE_NOT_NULL(mz);
	CHECK_EQ(hm_malloc_validate(mz->addr, &n), -EINVAL);
	CHECK_EQ(hm_malloc_validate((char *)mz->addr + 64, NULL), -EINVAL);
	mz = hm_memzone_reserve("vz-aligned", 64, HM_SOCKET_ANY, 0, 65536, 0);
	REQUIRE_NOT_NULL(mz);
	CHECK_EQ(hm_malloc_validate(mz->addr, NULL), -EINVAL);
	/* A query: nothing logged, nothing counted, the blocks intact. */
	CHECK_EQ(t_log_lines(), 0);
	loud();
	CHECK_EQ(stats(HM_SOCKET_ANY).errors, 0);
	CHECK_EQ(hm_malloc_validate(p, &n), 0);
	CHECK_EQ(hm_malloc_validate(big, &n), 0);
	hm_free(p);
	CHECK_EQ(hm_malloc_validate(p, NULL), -EINVAL);
	hm_free(big);
	CHECK_EQ(hm_malloc_validate(big, NULL), -EINVAL);
	audit_all();
	hm_cleanup();
	free(libc);
}

/* --- misuse of hm_free: refused, logged, counted; the heap intact --- */

static void test_free_zone(void)
{
	const struct hm_memzone *mz;
	struct hm_malloc_stats st0, st1;
	struct hm_malloc_type_stats t0, t1;
	void *blocks[50];

	start();
	mz = hm_memzone_reserve("fz", 10000, HM_SOCKET_ANY, 0, 0, 0);
	REQUIRE_NOT_NULL(mz);
	memset(mz->addr, 0x3c, mz->len);
	st0 = stats(HM_SOCKET_ANY);
	t0 = tstats(NULL);
	quiet();
	hm_free(mz->addr);
	CHECK_EQ(t_log_lines(), 1);
	hm_free((char *)mz->addr + 64);
	CHECK_EQ(t_log_lines(), 2);
	loud();
	st1 = stats(HM_SOCKET_ANY);
	CHECK_EQ(st1.errors, st0.errors + 2);
	CHECK_EQ(st1.frees, st0.frees);
	CHECK_EQ(st1.live_blocks, st0.live_blocks);
	t1 = tstats(NULL);
	CHECK_EQ(t1.frees, t0.frees);
	CHECK_EQ(t1.live_bytes, t0.live_bytes);
	/* The zone is still there, intact and usable... */
	CHECK_PTR_EQ(hm_memzone_lookup("fz"), mz);
	CHECK(all_bytes(mz->addr, mz->len, 0x3c));
	memset(mz->addr, 0x4d, mz->len);
	audit_all();
	/* ...and malloc never hands its memory out. */
	for (unsigned i = 0; i < 50; i++) {
		uintptr_t a, z = (uintptr_t)mz->addr;

		blocks[i] = hm_malloc(NULL, 10000, 0);
		REQUIRE_NOT_NULL(blocks[i]);
		a = (uintptr_t)blocks[i];
		if (a < z + mz->len && z < a + 10000)
			t_fail(__FILE__, __LINE__, false, "block %p overlaps the zone at %p",
			       blocks[i], mz->addr);
		memset(blocks[i], 0x11, 10000);
	}
	CHECK(all_bytes(mz->addr, mz->len, 0x4d));
	for (unsigned i = 0; i < 50; i++)
		hm_free(blocks[i]);
	CHECK_EQ(hm_memzone_free(mz), 0);
	audit_all();
	hm_cleanup();
}

static void test_double_free(void)
{
	struct hm_malloc_stats st0, st1;
	struct hm_malloc_type_stats t0, t1;
	char *libc = malloc(128);
	int on_stack = 0;
	char *p, *keep, *a, *b;
	size_t u;

	REQUIRE_NOT_NULL(libc);
	start();
	p = hm_malloc("df", 3000, 0);
	keep = hm_malloc("df", 3000, 0);
	REQUIRE_NOT_NULL(p);
	REQUIRE_NOT_NULL(keep);
	u = usable(p);
	memset(keep, 0xa5, 3000);
	st0 = stats(HM_SOCKET_ANY);
	t0 = tstats("df");
	hm_free(p);
	quiet();
	hm_free(p);
	CHECK_EQ(t_log_lines(), 1);
	hm_free(p);
	CHECK_EQ(t_log_lines(), 2);
	loud();
	st1 = stats(HM_SOCKET_ANY);
	CHECK_EQ(st1.errors, st0.errors + 2);
	CHECK_EQ(st1.frees, st0.frees + 1);
	CHECK_EQ(st1.live_blocks, st0.live_blocks - 1);
	t1 = tstats("df");
	CHECK_EQ(t1.frees, t0.frees + 1);
	CHECK_EQ(t1.live_blocks, t0.live_blocks - 1);
	CHECK_EQ(t1.live_bytes, t0.live_bytes - u);
	audit_all();
	/* Nothing is handed out twice. */
	a = hm_malloc("df", 3000, 0);
	b = hm_malloc("df", 3000, 0);
	REQUIRE_NOT_NULL(a);
	REQUIRE_NOT_NULL(b);
	CHECK(a != b);
	CHECK(a != keep && b != keep);
	memset(a, 1, 3000);
	memset(b, 2, 3000);
	CHECK(all_bytes(a, 3000, 1));
	CHECK(all_bytes(keep, 3000, 0xa5));

	/* Other pointers that are no block: one line and one error each. */
	st0 = stats(HM_SOCKET_ANY);
	quiet();
	hm_free(keep + 1);
	hm_free(keep + 64);
	hm_free(keep + 1024);
	hm_free(keep - HM_HEAP_HDR);
	hm_free(libc);
	hm_free(&on_stack);
	hm_free((void *)(uintptr_t)4096);
	CHECK_EQ(t_log_lines(), 7);
	loud();
	st1 = stats(HM_SOCKET_ANY);
	CHECK_EQ(st1.errors, st0.errors + 7);
	CHECK_EQ(st1.frees, st0.frees);
	CHECK_EQ(st1.live_blocks, st0.live_blocks);
	CHECK(all_bytes(keep, 3000, 0xa5));
	CHECK_EQ(on_stack, 0);
	memset(libc, 0, 128);
	free(libc);
	CHECK_EQ(tstats("df").live_blocks, 3);
	audit_all();
	hm_free(a);
	hm_free(b);
	hm_free(keep);
	t1 = tstats("df");
	CHECK_EQ(t1.live_blocks, 0);
	CHECK_EQ(t1.live_bytes, 0);
	audit_all();
	hm_cleanup();
}

/* Pointers into the instance's reserved range where no page is committed. */
static void test_free_uncommitted(void)
{
	struct hm_mem_info mi;
	char *far;

	start();
	REQUIRE_NOT_NULL(hm_malloc(NULL, 100, 0));
	REQUIRE_EQ(hm_mem_get_info(&mi), 0);
	far = (char *)mi.va_base + mi.va_len - 4096;
	quiet();
	hm_free(far);
	hm_free((char *)mi.va_base + mi.va_len / 2 + 64);
	CHECK_EQ(t_log_lines(), 2);
	CHECK_NULL_ERRNO(hm_realloc(far, 100, 0), EINVAL);
	loud();
	CHECK_EQ(stats(HM_SOCKET_ANY).errors, 2);
	audit_all();
	hm_cleanup();
}

/* --- realloc --- */

static void test_realloc_basic(void)
{
	struct hm_malloc_type_stats t0, t1;
	char *p, *q;
	size_t u, u2;

	start();
	/* p NULL: hm_malloc(NULL, size, align), untyped */
	t0 = tstats(NULL);
	p = hm_realloc(NULL, 1000, 0);
	REQUIRE_NOT_NULL(p);
	CHECK_UEQ((uintptr_t)p % HM_CACHE_LINE, 0);
	u = usable(p);
	CHECK_GE(u, 1000);
	t1 = tstats(NULL);
	CHECK_EQ(t1.allocs, t0.allocs + 1);
	CHECK_EQ(t1.live_bytes, t0.live_bytes + u);
	hm_free(p);
	p = hm_realloc(NULL, 100, 8192);
	REQUIRE_NOT_NULL(p);
	CHECK_UEQ((uintptr_t)p % 8192, 0);
	hm_free(p);

	/* size 0 and a bad align: EINVAL, p untouched */
	p = hm_malloc("r", 2000, 0);
	REQUIRE_NOT_NULL(p);
	fill(p, 2000, 3);
	u = usable(p);
	t0 = tstats("r");
	quiet();
	CHECK_NULL_ERRNO(hm_realloc(p, 0, 0), EINVAL);
	CHECK_NULL_ERRNO(hm_realloc(p, 0, 4096), EINVAL);
	CHECK_NULL_ERRNO(hm_realloc(p, 100, 3), EINVAL);
	CHECK_NULL_ERRNO(hm_realloc(p, 100000, 96), EINVAL);
	loud();
	CHECK_EQ(usable(p), u);
	CHECK(intact(p, 2000, 3));
	t1 = tstats("r");
	CHECK_EQ(t1.live_bytes, t0.live_bytes);
	CHECK_EQ(t1.allocs, t0.allocs);

	/* the same size: the same block */
	q = hm_realloc(p, 2000, 0);
	CHECK_PTR_EQ(q, p);
	CHECK_EQ(usable(p), u);
	CHECK(intact(p, 2000, 3));
	q = hm_realloc(p, u, 0);
	CHECK_PTR_EQ(q, p);
	CHECK(intact(p, 2000, 3));

	/* shrink in place: the same pointer, the contents kept, the tail given back */
	q = hm_realloc(p, 500, 0);
	CHECK_PTR_EQ(q, p);
	CHECK(intact(p, 500, 3));
	u2 = usable(p);
	CHECK_GE(u2, 500);
	CHECK_LT(u2, u);
	t1 = tstats("r");
	CHECK_EQ(t1.live_bytes, t0.live_bytes - (u - u2));
	CHECK_EQ(t1.live_blocks, t0.live_blocks);
	q = hm_realloc(p, 1, 0);
	CHECK_PTR_EQ(q, p);
	CHECK(intact(p, 1, 3));
	CHECK_GE(usable(p), 1);
	CHECK_EQ(tstats("r").live_bytes, usable(p));
	audit_all();
	hm_free(p);
	CHECK_EQ(tstats("r").live_bytes, 0);
	audit_all();
	hm_cleanup();
}

static void test_realloc_grow(void)
{
	struct hm_malloc_type_stats t0, t1;
	char *a, *b, *c, *q;
	size_t ua, ub;

	start();
	/* in place: a's next block is free and large enough. The blocks are larger
	 * than the thread caches take (128 KiB), so that b goes back to the heap
	 * when it is freed rather than to this thread's cache. */
	a = hm_malloc("g", 150000, 0);
	b = hm_malloc("g", 300000, 0);
	c = hm_malloc("g", 150000, 0); /* bounds the space after b */
	REQUIRE_NOT_NULL(a);
	REQUIRE_NOT_NULL(b);
	REQUIRE_NOT_NULL(c);
	REQUIRE(next_payload(a) == b);
	ua = usable(a);
	ub = usable(b);
	fill(a, ua, 11);
	fill(c, 150000, 12);
	hm_free(b);
	q = hm_realloc(a, ua + 4000, 0);
	CHECK_PTR_EQ(q, a);
	REQUIRE_NOT_NULL(q);
	CHECK(intact(a, ua, 11));
	CHECK_GE(usable(a), ua + 4000);
	CHECK_LE(usable(a), ua + ub + HM_HEAP_HDR);
	memset(a + ua, 0x77, 4000);
	CHECK(intact(c, 150000, 12));
	CHECK_EQ(tstats("g").live_bytes, usable(a) + usable(c));
	/* all the rest of the free neighbour, exactly: up to c's header */
	if (next_payload(a) != c) {
		size_t hidden = hm__heap_usable(hm__heap_block_of(a)) - usable(a); /* a trailer */
		size_t want = (size_t)(c - HM_HEAP_HDR - a) - hidden;

		q = hm_realloc(a, want, 0);
		CHECK_PTR_EQ(q, a);
		CHECK_GE(usable(a), want);
		CHECK_PTR_EQ(next_payload(a), c);
		CHECK_EQ(tstats("g").live_bytes, usable(a) + usable(c));
	}
	CHECK(intact(a, ua, 11));
	CHECK(intact(c, 150000, 12));
	audit_all();

	/* by moving: the next block is live */
	t0 = tstats("g");
	ua = usable(a);
	fill(a, ua, 13);
	q = hm_realloc(a, ua + 10000, 0);
	REQUIRE_NOT_NULL(q);
	CHECK(q != a);
	CHECK_UEQ((uintptr_t)q % HM_CACHE_LINE, 0);
	CHECK(intact(q, ua, 13));
	CHECK_GE(usable(q), ua + 10000);
	memset(q + ua, 0x66, 10000);
	CHECK_EQ(hm_malloc_validate(a, NULL), -EINVAL); /* the old block is gone */
	CHECK(intact(c, 150000, 12));
	t1 = tstats("g");
	CHECK_EQ(t1.live_blocks, t0.live_blocks);
	CHECK_EQ(t1.live_bytes, t0.live_bytes - ua + usable(q));
	/* The old pointer is no block: freeing it is refused. */
	quiet();
	hm_free(a);
	CHECK_EQ(t_log_lines(), 1);
	loud();
	CHECK_EQ(tstats("g").live_blocks, t0.live_blocks);
	audit_all();
	hm_free(q);
	hm_free(c);
	t1 = tstats("g");
	CHECK_EQ(t1.live_blocks, 0);
	CHECK_EQ(t1.live_bytes, 0);
	CHECK_EQ(t1.allocs, t1.frees);
	audit_all();
	hm_cleanup();
}

static void test_realloc_align(void)
{
	void *hold[8];
	char *p = NULL, *q;
	unsigned n = 0;

	start();
	/* a block that is a cache line aligned but not 4096 */
	while (!p || (uintptr_t)p % 4096 == 0) {
		REQUIRE(n < 8);
		p = hm_malloc("al", 1000, 0);
		REQUIRE_NOT_NULL(p);
		hold[n++] = p;
	}
	n--; /* p is in hold[n] */
	fill(p, 1000, 21);
	q = hm_realloc(p, 1000, 4096);
	REQUIRE_NOT_NULL(q);
	CHECK_UEQ((uintptr_t)q % 4096, 0);
	CHECK(q != p);
	CHECK(intact(q, 1000, 21));
	CHECK_EQ(hm_malloc_validate(p, NULL), -EINVAL);
	/* growing keeps the alignment asked */
	p = hm_realloc(q, 30000, 4096);
	REQUIRE_NOT_NULL(p);
	CHECK_UEQ((uintptr_t)p % 4096, 0);
	CHECK(intact(p, 1000, 21));
	fill(p, 30000, 22);
	/* shrinking, to an alignment the block may not have */
	q = hm_realloc(p, 100, 65536);
	REQUIRE_NOT_NULL(q);
	CHECK_UEQ((uintptr_t)q % 65536, 0);
	CHECK(intact(q, 100, 22));
	/* an alignment the block already has: in place */
	p = hm_realloc(q, 50, 4096);
	CHECK_PTR_EQ(p, q);
	CHECK(intact(p, 50, 22));
	p = hm_realloc(q, 60, 0);
	CHECK_PTR_EQ(p, q);
	CHECK(intact(p, 50, 22));
	/* random: every result aligned, the prefix kept */
	for (unsigned i = 0; i < 300; i++) {
		size_t len = 1 + t_rand_below(i % 10 == 0 ? 300000 : 5000);
		size_t a = t_rand_below(3) == 0 ? 0 : (size_t)1 << t_rand_below(17);
		size_t old = usable(p);

		fill(p, old, i);
		q = hm_realloc(p, len, a);
		REQUIRE_NOT_NULL(q);
		CHECK_UEQ((uintptr_t)q % (a ? a : HM_CACHE_LINE), 0);
		if (!intact(q, old < len ? old : len, i))
			t_fail(__FILE__, __LINE__, false,
			       "realloc %u of %zu to %zu (align %zu): contents lost", i, old, len,
			       a);
		CHECK_GE(usable(q), len);
		p = q;
	}
	hm_free(p);
	for (unsigned i = 0; i < n; i++)
		hm_free(hold[i]);
	CHECK_EQ(tstats("al").live_blocks, 0);
	CHECK_EQ(tstats("al").live_bytes, 0);
	audit_all();
	hm_cleanup();
}

static void test_realloc_foreign(void)
{
	const struct hm_memzone *mz;
	struct hm_malloc_stats st0, st1;
	char *libc = malloc(256);
	int on_stack = 0;
	char *p, *freed;

	REQUIRE_NOT_NULL(libc);
	memset(libc, 0x42, 256);
	start();
	p = hm_malloc("rf", 5000, 0);
	freed = hm_malloc("rf", 5000, 0);
	mz = hm_memzone_reserve("rfz", 4096, HM_SOCKET_ANY, 0, 0, 0);
	REQUIRE_NOT_NULL(p);
	REQUIRE_NOT_NULL(freed);
	REQUIRE_NOT_NULL(mz);
	hm_free(freed);
	fill(p, 5000, 31);
	memset(mz->addr, 0x24, mz->len);
	st0 = stats(HM_SOCKET_ANY);
	quiet();
	CHECK_NULL_ERRNO(hm_realloc(libc, 100, 0), EINVAL);
	CHECK_NULL_ERRNO(hm_realloc(libc, 1000, 0), EINVAL);
	CHECK_NULL_ERRNO(hm_realloc(&on_stack, 100, 0), EINVAL);
	CHECK_NULL_ERRNO(hm_realloc(freed, 100, 0), EINVAL);
	CHECK_NULL_ERRNO(hm_realloc(freed, 10000, 0), EINVAL);
	CHECK_NULL_ERRNO(hm_realloc(p + 64, 100, 0), EINVAL);
	CHECK_NULL_ERRNO(hm_realloc(p + 1, 100, 0), EINVAL);
	CHECK_NULL_ERRNO(hm_realloc(mz->addr, 100, 0), EINVAL);
	CHECK_NULL_ERRNO(hm_realloc(mz->addr, 100000, 0), EINVAL);
	loud();
	st1 = stats(HM_SOCKET_ANY);
	CHECK_EQ(st1.live_blocks, st0.live_blocks);
	CHECK_EQ(st1.allocs, st0.allocs);
	CHECK_EQ(st1.frees, st0.frees);
	CHECK(all_bytes(libc, 256, 0x42));
	CHECK(intact(p, 5000, 31));
	CHECK_GE(usable(p), 5000);
	CHECK(all_bytes(mz->addr, mz->len, 0x24));
	CHECK_PTR_EQ(hm_memzone_lookup("rfz"), mz);
	CHECK_EQ(hm_memzone_free(mz), 0);
	hm_free(p);
	audit_all();
	hm_cleanup();
	free(libc);
}

/* realloc keeps the block's type, and its limit holds */
static void test_realloc_type_limit(void)
{
	struct hm_malloc_type_stats ts;
	char *p, *q, *r;
	size_t u;

	start();
	p = hm_malloc("rl", 1000, 0);
	REQUIRE_NOT_NULL(p);
	fill(p, 1000, 41);
	u = usable(p);
	REQUIRE_EQ(hm_malloc_set_limit("rl", u), 0);
	/* shrink and grow back to where it was: within the limit */
	q = hm_realloc(p, 500, 0);
	CHECK_PTR_EQ(q, p);
	q = hm_realloc(p, 1000, 0);
	CHECK_PTR_EQ(q, p);
	CHECK(intact(p, 500, 41));
	CHECK_EQ(usable(p), u);
	CHECK_EQ(tstats("rl").live_bytes, u);
	/* past it: refused, p as it was */
	fill(p, 1000, 42);
	quiet();
	CHECK_NULL_ERRNO(hm_realloc(p, u + 1000, 0), ENOMEM);
	CHECK_NULL_ERRNO(hm_realloc(p, 100000, 0), ENOMEM);
	loud();
	CHECK_EQ(usable(p), u);
	CHECK(intact(p, 1000, 42));
	ts = tstats("rl");
	CHECK_EQ(ts.live_bytes, u);
	CHECK_EQ(ts.live_blocks, 1);
	CHECK_EQ(ts.refused, 2);
	CHECK_EQ(ts.high_water, u);
	/* no limit: it grows, and keeps its type (by moving, too) */
	REQUIRE_EQ(hm_malloc_set_limit("rl", 0), 0);
	r = hm_malloc(NULL, 64, 0); /* a live neighbour, so that the next one moves */
	REQUIRE_NOT_NULL(r);
	q = hm_realloc(p, 100000, 0);
	REQUIRE_NOT_NULL(q);
	CHECK(intact(q, 1000, 42));
	ts = tstats("rl");
	CHECK_EQ(ts.live_blocks, 1);
	CHECK_EQ(ts.live_bytes, usable(q));
	CHECK_GE(ts.high_water, usable(q));
	q = hm_realloc(q, 300000, 65536);
	REQUIRE_NOT_NULL(q);
	CHECK(intact(q, 1000, 42));
	ts = tstats("rl");
	CHECK_EQ(ts.live_blocks, 1);
	CHECK_EQ(ts.live_bytes, usable(q));
	hm_free(q);
	hm_free(r);
	ts = tstats("rl");
	CHECK_EQ(ts.live_blocks, 0);
	CHECK_EQ(ts.live_bytes, 0);
	CHECK_EQ(ts.limit, 0);
	audit_all();
	hm_cleanup();
}

/* --- types --- */

static void test_types(void)
{
	struct hm_malloc_type_stats a, b, u0, u1;
	char buf[HM_NAME_MAX];
	void *p[3], *q, *x, *y;
	size_t sum = 0;

	start();
	u0 = tstats(NULL);
	CHECK_STR_EQ(u0.name, "");
	CHECK_EQ(u0.live_bytes, 0);
	CHECK_EQ(u0.limit, 0);
	CHECK_EQ(hm_malloc_get_type_stats("tA", &a), -ENOENT);

	/* counts of one type */
	p[0] = hm_malloc("tA", 100, 0);
	p[1] = hm_zmalloc("tA", 1000, 0);
	p[2] = hm_calloc("tA", 10, 1000, 4096);
	for (int i = 0; i < 3; i++) {
		REQUIRE_NOT_NULL(p[i]);
		sum += usable(p[i]);
	}
	a = tstats("tA");
	CHECK_STR_EQ(a.name, "tA");
	CHECK_EQ(a.live_blocks, 3);
	CHECK_EQ(a.allocs, 3);
	CHECK_EQ(a.frees, 0);
	CHECK_EQ(a.live_bytes, sum);
	CHECK_EQ(a.high_water, sum);
	CHECK_EQ(a.limit, 0);
	CHECK_EQ(a.refused, 0);
	hm_free(p[2]);
	a = tstats("tA");
	CHECK_EQ(a.live_blocks, 2);
	CHECK_EQ(a.allocs, 3);
	CHECK_EQ(a.frees, 1);
	CHECK_EQ(a.live_bytes, usable(p[0]) + usable(p[1]));
	CHECK_EQ(a.high_water, sum); /* the most it has been */
	/* other types and the untyped are not touched */
	u1 = tstats(NULL);
	CHECK_EQ(u1.allocs, u0.allocs);
	CHECK_EQ(u1.live_bytes, u0.live_bytes);

	/* NULL and "" are the same type, "" */
	x = hm_malloc(NULL, 200, 0);
	y = hm_malloc("", 300, 0);
	REQUIRE_NOT_NULL(x);
	REQUIRE_NOT_NULL(y);
	u1 = tstats(NULL);
	CHECK_EQ(u1.allocs, u0.allocs + 2);
	CHECK_EQ(u1.live_blocks, u0.live_blocks + 2);
	CHECK_EQ(u1.live_bytes, u0.live_bytes + usable(x) + usable(y));
	b = tstats("");
	CHECK_STR_EQ(b.name, "");
	CHECK_EQ(b.allocs, u1.allocs);
	CHECK_EQ(b.live_bytes, u1.live_bytes);
	hm_free(x);
	hm_free(y);
	u1 = tstats("");
	CHECK_EQ(u1.live_bytes, u0.live_bytes);
	CHECK_EQ(u1.live_blocks, u0.live_blocks);
	CHECK_EQ(u1.frees, u0.frees + 2);

	/* names are compared whole and by case */
	q = hm_malloc("ta", 64, 0);
	REQUIRE_NOT_NULL(q);
	CHECK_EQ(tstats("ta").live_blocks, 1);
	CHECK_EQ(tstats("tA").live_blocks, 2);
	CHECK_EQ(hm_malloc_get_type_stats("t", &b), -ENOENT);
	CHECK_EQ(hm_malloc_get_type_stats("tA ", &b), -ENOENT);
	hm_free(q);
	CHECK_EQ(tstats("ta").live_blocks, 0);
	CHECK_EQ(tstats("ta").allocs, 1);

	/* the name counts, not the pointer: one buffer, two names, and a copy */
	snprintf(buf, sizeof(buf), "buf-one");
	x = hm_malloc(buf, 100, 0);
	snprintf(buf, sizeof(buf), "buf-two");
	y = hm_malloc(buf, 100, 0);
	REQUIRE_NOT_NULL(x);
	REQUIRE_NOT_NULL(y);
	CHECK_EQ(tstats("buf-one").live_blocks, 1);
	CHECK_EQ(tstats("buf-two").live_blocks, 1);
	snprintf(buf, sizeof(buf), "tA");
	q = hm_malloc(buf, 100, 0);
	REQUIRE_NOT_NULL(q);
	CHECK_EQ(tstats("tA").live_blocks, 3);
	snprintf(buf, sizeof(buf), "buf-one");
	CHECK_EQ(tstats(buf).live_blocks, 1);
	hm_free(x);
	hm_free(y);
	hm_free(q);
	CHECK_EQ(tstats("buf-one").live_blocks, 0);
	CHECK_EQ(tstats("buf-two").live_blocks, 0);

	/* the high water mark stays when the type empties */
	hm_free(p[0]);
	hm_free(p[1]);
	a = tstats("tA");
	CHECK_EQ(a.live_blocks, 0);
	CHECK_EQ(a.live_bytes, 0);
	CHECK_EQ(a.allocs, 4);
	CHECK_EQ(a.frees, 4);
	CHECK_GE(a.high_water, sum);
	audit_all();
	hm_cleanup();

	/* A new instance starts with no types. */
	start();
	CHECK_EQ(hm_malloc_get_type_stats("tA", &a), -ENOENT);
	CHECK_EQ(hm_malloc_get_type_stats("buf-one", &a), -ENOENT);
	u0 = tstats(NULL);
	CHECK_EQ(u0.allocs, 0);
	CHECK_EQ(u0.high_water, 0);
	hm_cleanup();
}

/* --- limits --- */

static void test_limit(void)
{
	struct hm_malloc_type_stats x;
	void *blocks[16], *other[4], *p, *q;
	size_t live = 0;
	unsigned n = 0;

	start();
	REQUIRE_EQ(hm_malloc_set_limit("x", MIB), 0);
	x = tstats("x"); /* created by the limit */
	CHECK_STR_EQ(x.name, "x");
	CHECK_EQ(x.limit, MIB);
	CHECK_EQ(x.allocs, 0);
	CHECK_EQ(x.live_bytes, 0);
	/* 100,000 bytes at a time: ten fit in 1 MiB, the eleventh would pass it */
	for (;;) {
		REQUIRE(n < 16);
		errno = 0;
		blocks[n] = hm_malloc("x", 100000, 0);
		if (!blocks[n])
			break;
		live += usable(blocks[n]);
		CHECK_LE(live, MIB);
		memset(blocks[n], (int)n, 100000);
		n++;
	}
	CHECK_EQ(errno, ENOMEM);
	CHECK_EQ(n, 10);
	CHECK_GT(live + 100000, MIB);
	x = tstats("x");
	CHECK_EQ(x.live_bytes, live);
	CHECK_EQ(x.live_blocks, n);
	CHECK_EQ(x.refused, 1);
	CHECK_EQ(x.allocs, n);
	CHECK_EQ(x.high_water, live);
	/* every way in is refused */
	CHECK_NULL_ERRNO(hm_zmalloc("x", 100000, 0), ENOMEM);
	CHECK_NULL_ERRNO(hm_calloc("x", 1000, 100, 0), ENOMEM);
	CHECK_NULL_ERRNO(hm_malloc_socket("x", 100000, 0, hm_socket_of(blocks[0])), ENOMEM);
	CHECK_NULL_ERRNO(hm_malloc("x", MIB - live + 1, 0), ENOMEM);
	CHECK_EQ(tstats("x").refused, 5);
	/* other types are not limited */
	other[0] = hm_malloc(NULL, 2 * MIB, 0);
	other[1] = hm_malloc("y", 2 * MIB, 0);
	other[2] = hm_zmalloc("x2", 2 * MIB, 0);
	other[3] = hm_malloc("X", 2 * MIB, 0);
	for (int i = 0; i < 4; i++) {
		REQUIRE_NOT_NULL(other[i]);
		hm_free(other[i]);
	}
	CHECK_EQ(tstats("y").refused, 0);
	CHECK_EQ(tstats(NULL).refused, 0);
	/* freeing makes room again */
	hm_free(blocks[--n]);
	blocks[n] = hm_malloc("x", 100000, 0);
	REQUIRE_NOT_NULL(blocks[n]);
	n++;
	CHECK_LE(tstats("x").live_bytes, MIB);
	/* a limit below the live bytes refuses new ones, even small, until enough are freed */
	REQUIRE_EQ(hm_malloc_set_limit("x", 500000), 0);
	CHECK_EQ(tstats("x").limit, 500000);
	CHECK_NULL_ERRNO(hm_malloc("x", 1, 0), ENOMEM);
	CHECK_EQ(tstats("x").live_blocks, n); /* the blocks above it stay */
	while (tstats("x").live_bytes + 1000 > 500000) {
		REQUIRE(n > 0);
		hm_free(blocks[--n]);
	}
	p = hm_malloc("x", 1, 0);
	REQUIRE_NOT_NULL(p);
	hm_free(p);
	/* exactly at the limit is fine, one byte more is not */
	REQUIRE_EQ(hm_malloc_set_limit("exact", 0), 0);
	p = hm_malloc("exact", 1000, 0);
	REQUIRE_NOT_NULL(p);
	REQUIRE_EQ(hm_malloc_set_limit("exact", usable(p)), 0);
	CHECK_NULL_ERRNO(hm_malloc("exact", 1, 0), ENOMEM);
	hm_free(p);
	q = hm_malloc("exact", 1000, 0);
	REQUIRE_NOT_NULL(q);
	CHECK_EQ(tstats("exact").live_bytes, tstats("exact").limit);
	CHECK_NULL_ERRNO(hm_malloc("exact", 1, 0), ENOMEM);
	hm_free(q);
	/* limit 0: none */
	REQUIRE_EQ(hm_malloc_set_limit("x", 0), 0);
	CHECK_EQ(tstats("x").limit, 0);
	p = hm_malloc("x", 4 * MIB, 0);
	REQUIRE_NOT_NULL(p);
	hm_free(p);
	while (n > 0)
		hm_free(blocks[--n]);
	x = tstats("x");
	CHECK_EQ(x.live_bytes, 0);
	CHECK_EQ(x.live_blocks, 0);
	CHECK_GE(x.high_water, 4 * MIB);
	/* errors */
	CHECK_EQ(hm_malloc_set_limit(NULL, MIB), -EINVAL);
	CHECK_EQ(hm_malloc_set_limit("", MIB), -EINVAL);
	CHECK_EQ(hm_malloc_set_limit(NULL, 0), -EINVAL);
	CHECK_EQ(tstats(NULL).limit, 0);
	audit_all();
	hm_cleanup();
}

/* HM_MALLOC_TYPES_MAX types (the untyped "" among them): then -ENOSPC. */
static void test_type_table_full(void)
{
	struct hm_malloc_type_stats ts, u0, u1;
	char name[HM_NAME_MAX];
	unsigned made = 0;
	void *p, *q, *r;
	int rc;

	start();
	for (unsigned i = 0; i < 2 * HM_MALLOC_TYPES_MAX; i++) {
		snprintf(name, sizeof(name), "type-%u", i);
		rc = i % 2 ? hm_malloc_set_limit(name, 0) : hm_malloc_set_limit(name, MIB);
		if (rc != 0) {
			CHECK_EQ(rc, -ENOSPC);
			break;
		}
		made++;
	}
	CHECK_EQ(made, HM_MALLOC_TYPES_MAX - 1);
	snprintf(name, sizeof(name), "type-%u", made);
	CHECK_EQ(hm_malloc_set_limit(name, MIB), -ENOSPC);
	CHECK_EQ(hm_malloc_set_limit("another", 0), -ENOSPC);
	CHECK_EQ(hm_malloc_get_type_stats(name, &ts), -ENOENT);
	/* the existing ones still work */
	CHECK_EQ(hm_malloc_set_limit("type-0", 2 * MIB), 0);
	CHECK_EQ(tstats("type-0").limit, 2 * MIB);
	p = hm_malloc("type-1", 100, 0);
	REQUIRE_NOT_NULL(p);
	CHECK_EQ(tstats("type-1").live_blocks, 1);
	hm_free(p);
	/* Allocations with new names still succeed (counted as untyped) */
	u0 = tstats(NULL);
	quiet();
	p = hm_malloc("brand-new", 100, 0);
	q = hm_zmalloc("newer", 200, 0);
	r = hm_calloc("newest", 3, 100, 0);
	loud();
	CHECK_LE(t_log_lines(), 1); /* one warning, at most */
	REQUIRE_NOT_NULL(p);
	REQUIRE_NOT_NULL(q);
	REQUIRE_NOT_NULL(r);
	CHECK(all_bytes(q, 200, 0));
	CHECK(all_bytes(r, 300, 0));
	CHECK_EQ(hm_malloc_get_type_stats("brand-new", &ts), -ENOENT);
	u1 = tstats(NULL);
	CHECK_EQ(u1.live_blocks, u0.live_blocks + 3);
	CHECK_EQ(u1.live_bytes, u0.live_bytes + usable(p) + usable(q) + usable(r));
	/* and realloc of them works */
	p = hm_realloc(p, 100000, 0);
	REQUIRE_NOT_NULL(p);
	hm_free(p);
	hm_free(q);
	hm_free(r);
	u1 = tstats(NULL);
	CHECK_EQ(u1.live_blocks, u0.live_blocks);
	CHECK_EQ(u1.live_bytes, u0.live_bytes);
	audit_all();
	hm_cleanup();
}

/* --- statistics --- */

static void test_stats(void)
{
	struct hm_malloc_stats b, st, sum;
	const struct hm_memzone *mz;
	void *blocks[100];
	int socket;

	start();
	b = stats(HM_SOCKET_ANY);
	CHECK_EQ(b.live_blocks, 0);
	CHECK_LE(b.free_size, b.heap_size);
	for (int i = 0; i < 100; i++) {
		blocks[i] = hm_malloc(i % 2 ? "s" : NULL, 100 + (size_t)i * 1000, 0);
		REQUIRE_NOT_NULL(blocks[i]);
	}
	st = stats(HM_SOCKET_ANY);
	CHECK_EQ(st.live_blocks, b.live_blocks + 100);
	CHECK_EQ(st.allocs, b.allocs + 100);
	CHECK_EQ(st.frees, b.frees);
	CHECK_EQ(st.errors, b.errors);
	CHECK_GT(st.heap_size, 0);
	CHECK_LE(st.free_size, st.heap_size);
	CHECK_LE(st.largest_free, st.free_size);
	CHECK_GE(st.heap_size - st.free_size, 100 * 100 + 1000 * 99 * 50);
	/* zones are blocks in use too */
	mz = hm_memzone_reserve("sz", 5000, HM_SOCKET_ANY, 0, 0, 0);
	REQUIRE_NOT_NULL(mz);
	CHECK_EQ(stats(HM_SOCKET_ANY).live_blocks, b.live_blocks + 101);
	CHECK_EQ(hm_memzone_free(mz), 0);
	CHECK_EQ(stats(HM_SOCKET_ANY).live_blocks, b.live_blocks + 100);

	/* HM_SOCKET_ANY sums the nodes */
	memset(&sum, 0, sizeof(sum));
	socket = hm_socket_of(blocks[0]);
	CHECK(hm_socket_valid(socket));
	for (int s = 0; s < 1024; s++) {
		if (!hm_socket_valid(s))
			continue;
		st = stats(s);
		CHECK_LE(st.free_size, st.heap_size);
		CHECK_LE(st.largest_free, st.free_size);
		sum.heap_size += st.heap_size;
		sum.free_size += st.free_size;
		sum.largest_free =
			st.largest_free > sum.largest_free ? st.largest_free : sum.largest_free;
		sum.live_blocks += st.live_blocks;
		sum.free_blocks += st.free_blocks;
		sum.allocs += st.allocs;
		sum.frees += st.frees;
	}
	st = stats(HM_SOCKET_ANY);
	CHECK_EQ(sum.heap_size, st.heap_size);
	CHECK_EQ(sum.free_size, st.free_size);
	CHECK_EQ(sum.largest_free, st.largest_free);
	CHECK_EQ(sum.live_blocks, st.live_blocks);
	CHECK_EQ(sum.free_blocks, st.free_blocks);
	CHECK_EQ(sum.allocs, st.allocs);
	CHECK_EQ(sum.frees, st.frees);
	CHECK_GE(stats(socket).live_blocks, 1);

	/* all freed: back to the baseline (the heap may keep a chunk) */
	for (int i = 0; i < 100; i++)
		hm_free(blocks[i]);
	st = stats(HM_SOCKET_ANY);
	CHECK_EQ(st.live_blocks, b.live_blocks);
	CHECK_EQ(st.allocs, b.allocs + 101);
	CHECK_EQ(st.frees, b.frees + 101);
	CHECK_EQ(st.errors, b.errors);
	CHECK_LE(st.free_size, st.heap_size);
	CHECK_LE(st.largest_free, st.free_size);
	if (st.heap_size > 0)
		CHECK_GT(st.free_blocks, 0);
	/* a refused free counts as an error */
	quiet();
	hm_free(blocks[0]);
	loud();
	CHECK_EQ(stats(HM_SOCKET_ANY).errors, b.errors + 1);
	CHECK_EQ(stats(HM_SOCKET_ANY).frees, b.frees + 101);
	audit_all();
	hm_cleanup();
}

static void test_dump(void)
{
	void *p, *q;
	char *text;

	start();
	p = hm_malloc("dump-me", 1000, 0);
	q = hm_malloc("other-type", 1000, 0);
	REQUIRE_NOT_NULL(p);
	REQUIRE_NOT_NULL(q);
	REQUIRE_EQ(hm_malloc_set_limit("limited", 12345), 0);
	text = dump(NULL);
	CHECK(strstr(text, "dump-me") != NULL);
	CHECK(strstr(text, "other-type") != NULL);
	CHECK(strstr(text, "limited") != NULL);
	CHECK(strstr(text, "12345") != NULL);
	free(text);
	/* one type only */
	text = dump("dump-me");
	CHECK(strstr(text, "dump-me") != NULL);
	CHECK(strstr(text, "other-type") == NULL);
	CHECK(strstr(text, "limited") == NULL);
	free(text);
	text = dump("no-such-type");
	CHECK(strstr(text, "dump-me") == NULL);
	CHECK(strstr(text, "other-type") == NULL);
	free(text);
	hm_free(p);
	hm_free(q);
	hm_cleanup();
}

/*
 * A header smashed by an underrun from the block before: the free is refused
 * (logged, counted, nothing freed), the audit reports it, and once the bytes
 * are mended the block frees as any other.
 */
static void test_smashed_header(void)
{
	struct hm_malloc_stats st0, st1;
	struct hm_heap_block saved, *b;
	char *p, *q;

	start();
	p = hm_malloc("sh", 1000, 0);
	q = hm_malloc("sh", 1000, 0);
	REQUIRE_NOT_NULL(p);
	REQUIRE_NOT_NULL(q);
	memset(q, 0x3c, 1000);
	b = (struct hm_heap_block *)(p - HM_HEAP_HDR);
	memcpy(&saved, b, sizeof(saved));
	st0 = stats(HM_SOCKET_ANY);
	memset(b, 0x55, sizeof(*b));
	quiet();
	hm_free(p);
	CHECK_EQ(t_log_lines(), 1);
	CHECK_EQ(hm_malloc_validate(p, NULL), -EINVAL);
	CHECK_EQ(hm__heap_audit(hm__heap_get(0)), -EFAULT);
	CHECK_EQ(t_log_lines(), 2);
	loud();
	st1 = stats(HM_SOCKET_ANY);
	CHECK_EQ(st1.errors, st0.errors + 1);
	CHECK_EQ(st1.frees, st0.frees);
	CHECK_EQ(st1.live_blocks, st0.live_blocks);
	CHECK_EQ(tstats("sh").live_blocks, 2);
	CHECK(all_bytes(q, 1000, 0x3c));
	memcpy(b, &saved, sizeof(saved));
	audit_all();
	CHECK_EQ(hm_malloc_validate(p, NULL), 0);
	hm_free(p);
	hm_free(q);
	CHECK_EQ(tstats("sh").live_blocks, 0);
	audit_all();
	hm_cleanup();
}

/* hm_malloc_dump_heaps: every heap and every chunk, with what the caches hold. */
static void test_dump_heaps(void)
{
	char *buf = NULL, line[64], *big;
	size_t len = 0;
	FILE *f;

	start();
	big = hm_malloc(NULL, 3 * MIB, 0); /* a chunk of its own */
	REQUIRE_NOT_NULL(big);
	hm_free(hm_malloc(NULL, 100, 0)); /* one block held by this thread's cache */
	f = open_memstream(&buf, &len);
	REQUIRE_NOT_NULL(f);
	hm_malloc_dump_heaps(f);
	REQUIRE_EQ(fclose(f), 0);
	REQUIRE_NOT_NULL(buf);
	CHECK(strstr(buf, "heap 0: 4 KiB pages") != NULL);
	snprintf(line, sizeof(line), "chunk %p", (void *)(big - 2 * HM_HEAP_HDR));
	CHECK(strstr(buf, line) != NULL);
	CHECK(strstr(buf, "thread caches: ") != NULL);
	CHECK(strstr(buf, "thread caches: 0 blocks") == NULL);
	free(buf);
	hm_free(big);
	hm_cleanup();
	/* Without an instance: says so. */
	f = open_memstream(&buf, &len);
	REQUIRE_NOT_NULL(f);
	hm_malloc_dump_heaps(f);
	REQUIRE_EQ(fclose(f), 0);
	CHECK(strstr(buf, "no instance") != NULL);
	free(buf);
}

int main(int argc, char **argv)
{
	t_init(argc, argv);
	T_RUN(test_before_init);
	T_RUN(test_bad_args);
	T_RUN(test_huge_refused);
	T_RUN(test_huge_enomem);
	T_RUN(test_align);
	T_RUN(test_zeroed_reuse);
	T_RUN(test_free_null);
	T_RUN(test_validate);
	T_RUN(test_free_zone);
	T_RUN(test_double_free);
	T_RUN(test_free_uncommitted);
	T_RUN(test_realloc_basic);
	T_RUN(test_realloc_grow);
	T_RUN(test_realloc_align);
	T_RUN(test_realloc_foreign);
	T_RUN(test_realloc_type_limit);
	T_RUN(test_types);
	T_RUN(test_limit);
	T_RUN(test_type_table_full);
	T_RUN(test_stats);
	T_RUN(test_dump);
	T_RUN(test_smashed_header);
	T_RUN(test_dump_heaps);
	return t_done();
}
