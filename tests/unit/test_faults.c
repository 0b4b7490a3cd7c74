/* SPDX-License-Identifier: MIT */
/*
 * test_faults.c - fault injection at the OS boundary (mem/os.h): the Nth
 * system call of hm_init() (private and prefixed, with a prealloc) and of a
 * heap growth (for a zone, a malloc block, a thread cache's refill) fails,
 * for every N until none is left to fail. Each failure
 * must give an error, leave no mapping, descriptor or file behind, keep the
 * heap consistent, and let the next attempt succeed.
 */
#include "harness.h"
#include "internal.h"
#include "mem/mem.h"
#include "mem/os.h"
#include "heap/heap.h"
#include <hugemem.h>

#include <dirent.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>

#define MIB ((size_t)1 << 20)

static unsigned count_dir(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *e;
	unsigned n = 0;

	if (!d)
		return 0;
	while ((e = readdir(d)) != NULL)
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

/* Whether a memory file of hugemem or a file of the runtime directory is mapped. */
static bool hugemem_mapped(void)
{
	FILE *f = fopen("/proc/self/maps", "r");
	char line[512];
	bool found = false;

	REQUIRE_NOT_NULL(f);
	while (fgets(line, sizeof(line), f))
		found |= strstr(line, "hugemem") || strstr(line, t_runtime_dir());
	fclose(f);
	return found;
}

static void no_injection(void)
{
	hm__os_fail_nth(0, UINT_MAX, 0);
}

static struct hm_config config(bool prefixed)
{
	struct hm_config c;

	hm_config_defaults(&c);
	c.no_huge = true;
	c.memory_limit = 64 * MIB;
	c.prealloc = 4 * MIB;
	c.prefix = prefixed ? t_prefix() : NULL;
	c.proc_type = prefixed ? HM_PROC_PRIMARY : HM_PROC_AUTO;
	return c;
}

/* One normal init, a zone, cleanup: the instance works. */
static void check_normal_init(const struct hm_config *c)
{
	const struct hm_memzone *mz;

	REQUIRE_EQ(hm_init(c), 0);
	mz = hm_memzone_reserve("after-fault", 3 * MIB, -1, 0, 0, 0);
	CHECK(mz != NULL);
	if (mz)
		memset(mz->addr, 1, mz->len);
	CHECK_EQ(hm__heap_audit(hm__heap_get(0)), 0);
	hm_cleanup();
}

/* Fail the nth call of hm_init with err, for n = 0, 1, ... until init makes fewer calls. */
static void walk_init(bool prefixed, int err)
{
	struct hm_config c = config(prefixed);
	unsigned maps, fds, n, failures = 0;

	/* Warm up libc's own mappings. */
	check_normal_init(&c);
	maps = t_mappings();
	fds = t_count_fds();
	hm_log_set_sink(t_count_sink, NULL);
	for (n = 0; n < 200; n++) {
		unsigned before = hm__os_calls(HM_OS_ALL), made;
		int rc;

		hm__os_fail_nth(HM_OS_ALL, n, err);
		rc = hm_init(&c);
		made = hm__os_calls(HM_OS_ALL) - before;
		no_injection();
		if (made <= n) {
			/* Nothing left to fail: init made n calls or fewer and succeeded. */
			CHECK_EQ(rc, 0);
			hm_cleanup();
			break;
		}
		if (rc == 0) {
			/* The library may retry some calls (another address for the range). */
			CHECK_NE(err, EIO);
			CHECK(hm_memzone_reserve("absorbed", 100, -1, 0, 0, 0) != NULL);
			hm_cleanup();
		} else {
			failures++;
			if (rc != -err)
				t_fail(__FILE__, __LINE__, false,
				       "%s, call %u fails with %s: hm_init gave %s",
				       prefixed ? "prefixed" : "private", n, strerror(err),
				       hm_strerror(rc));
			CHECK(!hm_initialized());
		}
		if (t_mappings() != maps || t_count_fds() != fds ||
		    count_dir(t_runtime_dir()) != 0 || hugemem_mapped()) {
			t_fail(__FILE__, __LINE__, false,
			       "%s, call %u fails (%s): %u mappings (want %u), %u fds (want %u), "
			       "%u entries in the runtime dir",
			       prefixed ? "prefixed" : "private", n, strerror(err), t_mappings(),
			       maps, t_count_fds(), fds, count_dir(t_runtime_dir()));
			/* Do not report the same leak for every later n. */
			maps = t_mappings();
			fds = t_count_fds();
		}
		hm_log_set_sink(NULL, NULL);
		check_normal_init(&c);
		hm_log_set_sink(t_count_sink, NULL);
	}
	hm_log_set_sink(NULL, NULL);
	CHECK_LT(n, 200);
	CHECK_GE(failures, 5);
	printf("%s init, %s: %u calls, %u failures\n", prefixed ? "prefixed" : "private",
	       strerror(err), n, failures);
}

static void test_init_private_eio(void)
{
	walk_init(false, EIO);
}

static void test_init_private_enomem(void)
{
	walk_init(false, ENOMEM);
}

static void test_init_prefixed_eio(void)
{
	walk_init(true, EIO);
}

static void test_init_prefixed_enomem(void)
{
	walk_init(true, ENOMEM);
}

static size_t committed(void)
{
	struct hm_mem_info mi;

	REQUIRE_EQ(hm_mem_get_info(&mi), 0);
	return mi.committed;
}

static uint64_t file_bytes(void)
{
	struct stat st;

	REQUIRE_EQ(fstat(hm__proc.memfd[0], &st), 0);
	return (uint64_t)st.st_blocks * 512;
}

/* Fail the nth call of a heap growth (a zone of len) with err. */
static void walk_grow(int err, size_t len, unsigned flags)
{
	const unsigned ops = HM_OS_MMAP | HM_OS_FALLOCATE | HM_OS_POPULATE | HM_OS_MBIND;
	struct hm_config c = config(false);
	struct hm_heap_stats st;
	unsigned n, failures = 0, absorbed = 0;

	c.prealloc = 0;
	REQUIRE_EQ(hm_init(&c), 0);
	/* Something live already, so the heap is not empty. */
	REQUIRE_NOT_NULL(hm_memzone_reserve("live", 1000, -1, 0, 0, 0));
	hm_log_set_sink(t_count_sink, NULL);
	for (n = 0; n < 50; n++) {
		unsigned before = hm__os_calls(ops), made;
		size_t c0 = committed();
		const struct hm_memzone *mz;
		char name[16];
		int e;

		snprintf(name, sizeof(name), "g%u", n);
		hm__os_fail_nth(ops, n, err);
		errno = 0;
		mz = hm_memzone_reserve(name, len, -1, flags, 0, 0);
		e = errno;
		made = hm__os_calls(ops) - before;
		no_injection();
		if (made <= n) {
			REQUIRE_NOT_NULL(mz);
			break;
		}
		if (mz) {
			/* Absorbed: the library grew another way (a contiguous run of its own). */
			absorbed++;
			CHECK_PTR_EQ(hm_memzone_lookup(name), mz);
			memset(mz->addr, 1, mz->len);
			CHECK_EQ(hm_memzone_free(mz), 0);
		} else {
			failures++;
			if (e != ENOMEM && e != err)
				t_fail(__FILE__, __LINE__, false,
				       "growth call %u fails (%s): errno %s", n, strerror(err),
				       strerror(e));
			CHECK_NULL_ERRNO(hm_memzone_lookup(name), ENOENT);
			CHECK_UEQ(committed(), c0);
		}
		CHECK_UEQ(file_bytes(), committed());
		CHECK_EQ(hm__heap_audit(hm__heap_get(0)), 0);
		CHECK_EQ(hm_memzone_count(), 1);
		/* The next reserve works. */
		mz = hm_memzone_reserve(name, len, -1, flags, 0, 0);
		REQUIRE_NOT_NULL(mz);
		memset(mz->addr, 2, mz->len);
		CHECK_EQ(hm_memzone_free(mz), 0);
		/* Give the growth back so that the next round grows again. */
		hm_cleanup();
		REQUIRE_EQ(hm_init(&c), 0);
		REQUIRE_NOT_NULL(hm_memzone_reserve("live", 1000, -1, 0, 0, 0));
	}
	hm_log_set_sink(NULL, NULL);
	CHECK_LT(n, 50);
	/* Growth makes one failable OS call per page run (populate), more on NUMA machines. */
	CHECK_GE(failures + absorbed, 1);
	if (!(flags & HM_MEMZONE_IOVA_CONTIG))
		CHECK_GE(failures, 1);
	hm__heap_get_stats(hm__heap_get(0), &st);
	CHECK_EQ(st.n_used_blocks, 2);
	CHECK_EQ(hm__heap_audit(hm__heap_get(0)), 0);
	hm_cleanup();
}

static void test_grow_enomem(void)
{
	walk_grow(ENOMEM, 5 * MIB, 0);
}

static void test_grow_eio(void)
{
	walk_grow(EIO, 5 * MIB, 0);
}

static void test_grow_contig(void)
{
	walk_grow(ENOMEM, 3 * MIB, HM_MEMZONE_IOVA_CONTIG);
}

/*
 * The same for hm_malloc of len bytes: a thread cache's refill for a small
 * len, the heap itself for a large one. A failed growth makes malloc give
 * back what caches hold and try once more, so a single failing call is
 * usually absorbed; either way nothing is committed for nothing, the heap
 * stays consistent and the next malloc works.
 */
static void walk_malloc(int err, size_t len)
{
	const unsigned ops = HM_OS_MMAP | HM_OS_FALLOCATE | HM_OS_POPULATE | HM_OS_MBIND;
	struct hm_config c = config(false);
	struct hm_malloc_type_stats ts;
	struct hm_malloc_stats st;
	unsigned n, failures = 0, absorbed = 0;
	/* Something live already, for a large len; none for a small one, so that
	 * the first refill must grow the empty heap. */
	bool with_live = len >= MIB;
	void *live = NULL, *p;

	c.prealloc = 0;
	REQUIRE_EQ(hm_init(&c), 0);
	if (with_live)
		REQUIRE_NOT_NULL(live = hm_malloc("live", 1000, 0));
	hm_log_set_sink(t_count_sink, NULL);
	for (n = 0; n < 50; n++) {
		unsigned before = hm__os_calls(ops), made;
		size_t c0 = committed();
		int e;

		hm__os_fail_nth(ops, n, err);
		errno = 0;
		p = hm_malloc("g", len, 0);
		e = errno;
		made = hm__os_calls(ops) - before;
		no_injection();
		if (made <= n) {
			REQUIRE_NOT_NULL(p);
			hm_free(p);
			break;
		}
		if (p) {
			absorbed++;
			memset(p, 1, len);
			hm_free(p);
		} else {
			failures++;
			if (e != ENOMEM)
				t_fail(__FILE__, __LINE__, false,
				       "growth call %u fails (%s): errno %s", n, strerror(err),
				       strerror(e));
			CHECK_UEQ(committed(), c0);
		}
		CHECK_UEQ(file_bytes(), committed());
		CHECK_EQ(hm__heap_audit(hm__heap_get(0)), 0);
		REQUIRE_EQ(hm_malloc_get_type_stats("g", &ts), 0);
		CHECK_EQ(ts.live_blocks, 0);
		CHECK_EQ(ts.live_bytes, 0);
		/* The next malloc works. */
		p = hm_malloc("g", len, 0);
		REQUIRE_NOT_NULL(p);
		memset(p, 2, len);
		hm_free(p);
		/* Give the growth back so that the next round grows again. */
		hm_cleanup();
		REQUIRE_EQ(hm_init(&c), 0);
		if (with_live)
			REQUIRE_NOT_NULL(live = hm_malloc("live", 1000, 0));
	}
	hm_log_set_sink(NULL, NULL);
	printf("malloc(%zu): %u growth calls failed in turn: %u refused, %u absorbed\n", len, n,
	       failures, absorbed);
	CHECK_LT(n, 50);
	CHECK_GE(failures + absorbed, 1);
	REQUIRE_EQ(hm_malloc_get_stats(HM_SOCKET_ANY, &st), 0);
	CHECK_EQ(st.live_blocks, with_live ? 1 : 0);
	hm_free(live);
	CHECK_EQ(hm__heap_audit(hm__heap_get(0)), 0);
	hm_cleanup();
}

static void test_malloc_grow_small(void)
{
	walk_malloc(ENOMEM, 100);
}

static void test_malloc_grow_large(void)
{
	walk_malloc(EIO, 5 * MIB);
}

/* Injection is off after the failing call, and counts are per operation. */
static void test_injection_itself(void)
{
	struct hm_config c = config(false);
	unsigned m0 = hm__os_calls(HM_OS_MEMFD), a0 = hm__os_calls(HM_OS_ALL);

	hm_log_set_sink(t_count_sink, NULL);
	hm__os_fail_nth(HM_OS_MEMFD, 0, EMFILE);
	CHECK_EQ(hm_init(&c), -EMFILE);
	CHECK_EQ(hm__os_calls(HM_OS_MEMFD), m0 + 1);
	CHECK_GE(hm__os_calls(HM_OS_ALL), a0 + 1);
	/* Fired once: the next init succeeds without turning it off. */
	CHECK_EQ(hm_init(&c), 0);
	hm_cleanup();
	/* n = UINT_MAX turns it off. */
	hm__os_fail_nth(HM_OS_ALL, 0, EIO);
	hm__os_fail_nth(HM_OS_ALL, UINT_MAX, EIO);
	CHECK_EQ(hm_init(&c), 0);
	hm_cleanup();
	/* A negative errno is taken as positive. */
	hm__os_fail_nth(HM_OS_MEMFD, 0, -ENFILE);
	CHECK_EQ(hm_init(&c), -ENFILE);
	no_injection();
	hm_log_set_sink(NULL, NULL);
}

int main(int argc, char **argv)
{
	t_init(argc, argv);
	T_RUN(test_injection_itself);
	T_RUN(test_init_private_eio);
	T_RUN(test_init_private_enomem);
	T_RUN(test_init_prefixed_eio);
	T_RUN(test_init_prefixed_enomem);
	T_RUN(test_grow_enomem);
	T_RUN(test_grow_eio);
	T_RUN(test_grow_contig);
	T_RUN(test_malloc_grow_small);
	T_RUN(test_malloc_grow_large);
	return t_done();
}
