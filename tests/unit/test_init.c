/* SPDX-License-Identifier: MIT */
/*
 * test_init.c - hm_init() and hm_cleanup(): defaults, double init, every
 * call before init and after cleanup, repeated init/cleanup, and that
 * cleanup (also after an out-of-memory failure or a failed init) leaves the
 * process's mappings and descriptors exactly as they were.
 */
#include "harness.h"
#include "internal.h"
#include "mem/mem.h"
#include "heap/heap.h"
#include <hugemem.h>

#include <dirent.h>
#include <stdlib.h>
#include <unistd.h>

#define MIB ((size_t)1 << 20)

/* The text of /proc/self/maps (malloc'd). */
static char *maps_text(void)
{
	FILE *f = fopen("/proc/self/maps", "r");
	char *buf = NULL;
	size_t len = 0, cap = 0;
	int c;

	REQUIRE_NOT_NULL(f);
	while ((c = getc(f)) != EOF) {
		if (len + 2 > cap) {
			cap = cap ? cap * 2 : 8192;
			buf = realloc(buf, cap);
			REQUIRE_NOT_NULL(buf);
		}
		buf[len++] = (char)c;
	}
	fclose(f);
	if (!buf)
		buf = calloc(1, 1);
	else
		buf[len] = '\0';
	REQUIRE_NOT_NULL(buf);
	return buf;
}

/* Every range an instance of this process ever had: [lo, hi). */
static uintptr_t range_lo = UINTPTR_MAX, range_hi;

static void start(const struct hm_config *c)
{
	struct hm_mem_info mi;

	REQUIRE_EQ(hm_init(c), 0);
	REQUIRE_EQ(hm_mem_get_info(&mi), 0);
	range_lo = HM_MIN(range_lo, (uintptr_t)mi.va_base);
	range_hi = HM_MAX(range_hi, (uintptr_t)mi.va_base + mi.va_len);
}

/* A snapshot of what the process holds, and a check that it came back. */
struct snap {
	unsigned maps, fds;
	char *text;
};

static void snap_take(struct snap *s)
{
	s->maps = t_count_mappings();
	s->fds = t_count_fds();
	s->text = maps_text();
}

static void snap_check(struct snap *s, const char *what)
{
	char *now = maps_text();

	/* Whatever the build: nothing of an instance is mapped any more. */
	for (char *line = now; *line;) {
		char *nl = strchr(line, '\n');
		unsigned long lo, hi;

		if (nl)
			*nl = '\0';
		if ((sscanf(line, "%lx-%lx", &lo, &hi) == 2 && lo < range_hi && hi > range_lo) ||
		    strstr(line, "hugemem") || strstr(line, t_runtime_dir()))
			t_fail(__FILE__, __LINE__, false, "%s: still mapped: %s", what, line);
		if (!nl)
			break;
		*nl = '\n';
		line = nl + 1;
	}
	CHECK_EQ(t_count_fds(), s->fds);
	if (t_exact_maps()) {
		CHECK_EQ(t_count_mappings(), s->maps);
		if (strcmp(now, s->text) != 0)
			t_fail(__FILE__, __LINE__, false,
			       "%s: /proc/self/maps differs:\nbefore:\n%s\nafter:\n%s", what,
			       s->text, now);
	}
	free(now);
	free(s->text);
	s->text = NULL;
}

static struct hm_config small_config(size_t limit)
{
	struct hm_config c;

	hm_config_defaults(&c);
	c.no_huge = true;
	c.memory_limit = limit;
	return c;
}

static int count_cb(const struct hm_seglist_info *sl, void *arg)
{
	(void)sl;
	(*(unsigned *)arg)++;
	return 0;
}

static void zone_cb(const struct hm_memzone *mz, void *arg)
{
	(void)mz;
	(*(unsigned *)arg)++;
}

/* Every call must behave as "no instance". */
static void check_no_instance(void)
{
	struct hm_mem_info mi;
	unsigned n = 0;
	char buf[256] = "";
	FILE *f;
	int x = 0;

	CHECK(!hm_initialized());
	CHECK_EQ(hm_proc_type(), -ENXIO);
	CHECK_NULL_ERRNO(hm_memzone_reserve("z", 64, HM_SOCKET_ANY, 0, 0, 0), ENXIO);
	CHECK_NULL_ERRNO(hm_memzone_reserve(NULL, 0, 12345, 0xffff, 3, 3), ENXIO);
	CHECK_NULL_ERRNO(hm_memzone_lookup("z"), ENXIO);
	CHECK_NULL_ERRNO(hm_memzone_lookup(NULL), ENXIO);
	CHECK_EQ(hm_memzone_free(NULL), -ENXIO);
	CHECK_EQ(hm_memzone_count(), 0);
	hm_memzone_walk(zone_cb, &n);
	CHECK_EQ(n, 0);
	CHECK_EQ(hm_thread_id(), -ENXIO);
	CHECK_EQ(hm_thread_register(), -ENXIO);
	CHECK_EQ(hm_thread_unregister(), -ENXIO);
	CHECK_EQ(hm_thread_count(), 0);
	CHECK_UEQ(hm_virt2iova(&x), HM_BAD_IOVA);
	CHECK_UEQ(hm_virt2iova(NULL), HM_BAD_IOVA);
	CHECK_EQ(hm_socket_of(&x), -ENXIO);
	CHECK_EQ(hm_page_size_of(&x), 0);
	CHECK(!hm_socket_valid(0));
	CHECK(!hm_socket_valid(HM_SOCKET_ANY));
	CHECK_EQ(hm_mem_get_info(&mi), -ENXIO);
	CHECK_EQ(hm_seglist_walk(count_cb, &n), -ENXIO);
	CHECK_EQ(n, 0);
	CHECK_NULL(hm__heap_get(0));
	CHECK_EQ(hm__heap_count(), 0);
	f = fmemopen(buf, sizeof(buf), "w");
	REQUIRE_NOT_NULL(f);
	hm_mem_dump(f);
	hm_memzone_dump(f);
	fclose(f);
	CHECK(strstr(buf, "no instance") != NULL);
	CHECK(strstr(buf, "zones: 0") != NULL);
	/* Cleanup without an instance is harmless, twice. */
	hm_cleanup();
	hm_cleanup();
}

static void test_before_init(void)
{
	check_no_instance();
}

static void test_null_config(void)
{
	struct hm_mem_info mi;
	const struct hm_memzone *mz;

	start(NULL);
	CHECK(hm_initialized());
	CHECK_EQ(hm_proc_type(), HM_PROC_PRIMARY);
	REQUIRE_EQ(hm_mem_get_info(&mi), 0);
	CHECK(!mi.shared);
	CHECK_EQ(mi.proc_type, HM_PROC_PRIMARY);
	CHECK_GT(mi.memory_limit, 0);
	CHECK_EQ(mi.committed, 0);
	CHECK_EQ(mi.prealloc, 0);
	CHECK_GE(mi.n_seglists, 1);
	CHECK_GE(mi.n_sockets, 1);
	CHECK(mi.page_size == HM_PAGE_SIZE_4K || mi.hugepages);
	CHECK_GE(hm_thread_id(), 0);
	CHECK_EQ(hm_thread_count(), 1);
	/* A small zone, from 4 KiB pages so that no hugepage is taken from other tests. */
	mz = hm_memzone_reserve("null-config", 100, HM_SOCKET_ANY,
				HM_MEMZONE_4KB | HM_MEMZONE_SIZE_HINT_ONLY, 0, 0);
	REQUIRE_NOT_NULL(mz);
	memset(mz->addr, 0x5a, 100);
	CHECK_EQ(hm_memzone_free(mz), 0);
	hm_cleanup();
	check_no_instance();
}

static void test_init_twice(void)
{
	struct hm_config c = small_config(64 * MIB);
	const struct hm_memzone *mz;
	struct hm_mem_info mi;

	start(&c);
	CHECK_EQ(hm_init(&c), -EALREADY);
	CHECK_EQ(hm_init(NULL), -EALREADY);
	/* The running instance is untouched by the refused calls. */
	CHECK(hm_initialized());
	REQUIRE_EQ(hm_mem_get_info(&mi), 0);
	CHECK_UEQ(mi.memory_limit, 64 * MIB);
	mz = hm_memzone_reserve("after-ealready", 64, -1, 0, 0, 0);
	CHECK(mz != NULL);
	CHECK_EQ(hm_memzone_free(mz), 0);
	hm_cleanup();
	CHECK(!hm_initialized());
}

static void test_after_cleanup(void)
{
	struct hm_config c = small_config(64 * MIB);

	start(&c);
	REQUIRE_NOT_NULL(hm_memzone_reserve("left-behind", 4096, -1, 0, 0, 0));
	CHECK_GE(hm_thread_id(), 0);
	hm_cleanup();
	check_no_instance();
	/* A zone left at cleanup is gone in the next instance. */
	start(&c);
	CHECK_NULL_ERRNO(hm_memzone_lookup("left-behind"), ENOENT);
	CHECK_EQ(hm_memzone_count(), 0);
	/* The thread's slot of the old instance is stale: it registers afresh. */
	CHECK_EQ(hm_thread_count(), 0);
	CHECK_GE(hm_thread_id(), 0);
	CHECK_EQ(hm_thread_count(), 1);
	hm_cleanup();
}

static void test_repeated(void)
{
	struct hm_config c = small_config(32 * MIB);
	struct snap s;

	/* Warm up stdio and libc, whose first use maps memory of their own. */
	start(&c);
	hm_cleanup();
	snap_take(&s);
	for (unsigned i = 0; i < 200; i++) {
		char name[HM_NAME_MAX];
		const struct hm_memzone *mz;

		c.prealloc = i % 3 == 0 ? 2 * MIB : 0;
		start(&c);
		snprintf(name, sizeof(name), "round-%u", i);
		mz = hm_memzone_reserve(name, 1000 + i * 4096, -1, 0, 0, 0);
		REQUIRE_NOT_NULL(mz);
		memset(mz->addr, (int)i, mz->len);
		CHECK_PTR_EQ(hm_memzone_lookup(name), mz);
		CHECK_EQ(hm_memzone_count(), 1);
		CHECK_GE(hm_thread_id(), 0);
		if (i % 2)
			CHECK_EQ(hm_memzone_free(mz), 0);
		hm_cleanup();
		if (t_exact_maps() && t_count_mappings() != s.maps) {
			CHECK_EQ(t_count_mappings(), s.maps);
			break;
		}
	}
	snap_check(&s, "200 rounds");
}

static void test_maps_restored(void)
{
	struct hm_config c = small_config(256 * MIB);
	struct snap s;

	start(&c);
	hm_cleanup();
	snap_take(&s);
	c.prealloc = 4 * MIB;
	start(&c);
	if (t_exact_maps())
		CHECK_GT(t_count_mappings(), s.maps);
	for (unsigned i = 0; i < 64; i++) {
		char name[HM_NAME_MAX];
		snprintf(name, sizeof(name), "m%u", i);
		REQUIRE_NOT_NULL(hm_memzone_reserve(name, (i + 1) * 10000, -1, 0, 0, 0));
	}
	hm_cleanup();
	snap_check(&s, "after 64 zones");
}

static void test_maps_after_oom(void)
{
	struct hm_config c = small_config(64 * MIB);
	struct hm_mem_info mi;
	struct snap s;
	unsigned n = 0;

	start(&c);
	hm_cleanup();
	snap_take(&s);
	start(&c);
	for (;; n++) {
		char name[HM_NAME_MAX];
		const struct hm_memzone *mz;

		snprintf(name, sizeof(name), "oom%u", n);
		errno = 0;
		mz = hm_memzone_reserve(name, 3 * MIB, -1, 0, 0, 0);
		if (!mz) {
			CHECK_EQ(errno, ENOMEM);
			break;
		}
		REQUIRE(n < 64);
	}
	CHECK_GT(n, 0);
	REQUIRE_EQ(hm_mem_get_info(&mi), 0);
	CHECK_LE(mi.committed, 64 * MIB);
	hm_cleanup();
	snap_check(&s, "after ENOMEM");
}

static void test_maps_after_failed_init(void)
{
	struct hm_config c = small_config(64 * MIB);
	struct snap s;

	start(&c);
	hm_cleanup();
	snap_take(&s);

	/* prealloc beyond the limit: refused after the hugepage discovery. */
	c.prealloc = 128 * MIB;
	CHECK_EQ(hm_init(&c), -EINVAL);
	c.prealloc = 0;
	/* A limit beyond 16 TiB. */
	c.memory_limit = (size_t)1 << 45;
	CHECK_EQ(hm_init(&c), -EINVAL);
	c.memory_limit = 64 * MIB;
	/* A secondary without a primary: the runtime directory is looked at. */
	c.prefix = t_prefix();
	c.proc_type = HM_PROC_SECONDARY;
	CHECK_EQ(hm_init(&c), -ENOENT);
	/* A primary whose runtime directory is a file. */
	{
		char path[256];
		FILE *f;

		snprintf(path, sizeof(path), "%s/not-a-dir", t_runtime_dir());
		f = fopen(path, "w");
		REQUIRE_NOT_NULL(f);
		fclose(f);
		unsetenv("HUGEMEM_RUNTIME_DIR");
		c.runtime_dir = path;
		c.proc_type = HM_PROC_PRIMARY;
		CHECK_EQ(hm_init(&c), -ENOTDIR);
		setenv("HUGEMEM_RUNTIME_DIR", t_runtime_dir(), 1);
		unlink(path);
	}
	CHECK(!hm_initialized());
	snap_check(&s, "after failed inits");

	/* And a normal init works after all of them. */
	c = small_config(64 * MIB);
	start(&c);
	CHECK(hm_memzone_reserve("works", 1, -1, 0, 0, 0) != NULL);
	hm_cleanup();
}

static void test_prealloc(void)
{
	struct hm_config c = small_config(64 * MIB);
	struct hm_mem_info mi;
	const struct hm_memzone *mz;
	size_t committed;

	c.prealloc = 8 * MIB;
	start(&c);
	REQUIRE_EQ(hm_mem_get_info(&mi), 0);
	CHECK_UEQ(mi.prealloc, 8 * MIB);
	CHECK_GE(mi.committed, 8 * MIB);
	committed = mi.committed;
	/* Small zones come from the preallocated memory: nothing more is committed. */
	mz = hm_memzone_reserve("from-prealloc", MIB, -1, 0, 0, 0);
	REQUIRE_NOT_NULL(mz);
	CHECK_EQ(hm_page_size_of(mz->addr), HM_PAGE_SIZE_4K);
	REQUIRE_EQ(hm_mem_get_info(&mi), 0);
	CHECK_UEQ(mi.committed, committed);
	CHECK_EQ(hm_memzone_free(mz), 0);
	/* The prealloc is never given back. */
	REQUIRE_EQ(hm_mem_get_info(&mi), 0);
	CHECK_GE(mi.committed, 8 * MIB);
	CHECK_EQ(hm__heap_audit(hm__heap_get(0)), 0);
	hm_cleanup();

	/* A prealloc that is not a multiple of the page size is rounded up. */
	c.prealloc = 5000;
	start(&c);
	REQUIRE_EQ(hm_mem_get_info(&mi), 0);
	CHECK_UEQ(mi.prealloc, 8192);
	CHECK_GE(mi.committed, 8192);
	hm_cleanup();

	/* The whole limit preallocated. */
	c.prealloc = 64 * MIB;
	start(&c);
	REQUIRE_EQ(hm_mem_get_info(&mi), 0);
	CHECK_UEQ(mi.committed, 64 * MIB);
	mz = hm_memzone_reserve("all", 32 * MIB, -1, 0, 0, 0);
	CHECK(mz != NULL);
	hm_cleanup();
}

int main(int argc, char **argv)
{
	t_init(argc, argv);
	T_RUN(test_before_init);
	T_RUN(test_null_config);
	T_RUN(test_init_twice);
	T_RUN(test_after_cleanup);
	T_RUN(test_repeated);
	T_RUN(test_maps_restored);
	T_RUN(test_maps_after_oom);
	T_RUN(test_maps_after_failed_init);
	T_RUN(test_prealloc);
	return t_done();
}
