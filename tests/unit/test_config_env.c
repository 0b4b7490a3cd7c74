/* SPDX-License-Identifier: MIT */
/*
 * test_config_env.c - struct hm_config fields and the HUGEMEM_* variables:
 * good values take effect, malformed ones make hm_init() fail with -EINVAL
 * and a log line naming the variable; hm__parse_size() on its own.
 */
#include "harness.h"
#include "internal.h"
#include "mem/mem.h"
#include <hugemem.h>

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#define MIB ((size_t)1 << 20)

static const char *const all_vars[] = {
	"HUGEMEM_PAGE_SIZE", "HUGEMEM_NO_HUGE",   "HUGEMEM_MEMORY",    "HUGEMEM_PREALLOC",
	"HUGEMEM_PREFIX",    "HUGEMEM_PROC_TYPE", "HUGEMEM_LOG_LEVEL", "HUGEMEM_IOVA_MODE",
};

/* Every log line since the last reset, one per line. */
static struct {
	char text[8192];
	size_t len;
	unsigned lines;
} logged;

static void sink(enum hm_log_level level, const char *line, void *arg)
{
	(void)level;
	(void)arg;
	int n = snprintf(logged.text + logged.len, sizeof(logged.text) - logged.len, "%s\n", line);
	if (n > 0)
		logged.len = HM_MIN(logged.len + (size_t)n, sizeof(logged.text) - 1);
	logged.lines++;
}

/* A clean slate: no HUGEMEM_* but the harness's runtime directory, the log captured. */
static void reset(void)
{
	for (unsigned i = 0; i < sizeof(all_vars) / sizeof(all_vars[0]); i++)
		unsetenv(all_vars[i]);
	setenv("HUGEMEM_RUNTIME_DIR", t_runtime_dir(), 1);
	/* Tests that do not care about page sizes must not take other tests' hugepages. */
	setenv("HUGEMEM_NO_HUGE", "1", 1);
	setenv("HUGEMEM_MEMORY", "64M", 1);
	hm_log_set_level(HM_LOG_WARNING);
	hm_log_set_sink(sink, NULL);
	memset(&logged, 0, sizeof(logged));
}

/* hm_init with var=val must fail with -EINVAL and a log line naming var. */
static void check_bad(const char *var, const char *val)
{
	int rc;

	reset();
	setenv(var, val, 1);
	rc = hm_init(NULL);
	if (rc != -EINVAL)
		t_fail(__FILE__, __LINE__, false, "%s=\"%s\": hm_init gave %d (%s), want -EINVAL",
		       var, val, rc, hm_strerror(rc));
	if (!strstr(logged.text, var))
		t_fail(__FILE__, __LINE__, false, "%s=\"%s\": the log does not name it: \"%s\"",
		       var, val, logged.text);
	if (rc == 0)
		hm_cleanup();
	CHECK(!hm_initialized());
	reset();
}

/* hm_init with var=val must succeed; the info is returned for checks, then cleaned up. */
static bool init_with(const char *var, const char *val, struct hm_mem_info *mi)
{
	int rc;

	reset();
	if (var)
		setenv(var, val, 1);
	rc = hm_init(NULL);
	if (rc != 0) {
		t_fail(__FILE__, __LINE__, false, "%s=\"%s\": hm_init gave %d (%s); log: %s", var,
		       val, rc, hm_strerror(rc), logged.text);
		return false;
	}
	REQUIRE_EQ(hm_mem_get_info(mi), 0);
	return true;
}

static void done(void)
{
	hm_cleanup();
	reset();
}

static bool size_offered(size_t size)
{
	struct hm_hugepage_info hp;

	if (hm_hugepage_discover(&hp) != 0)
		return false;
	for (unsigned i = 0; i < hp.n_sizes; i++)
		if (hp.sizes[i].page_size == size)
			return true;
	return false;
}

static void test_parse_size(void)
{
	static const struct {
		const char *s;
		uint64_t v;
	} good[] = {
		{"0", 0},
		{"1", 1},
		{"4096", 4096},
		{"4K", 4096},
		{"4k", 4096},
		{"4KB", 4096},
		{"4kb", 4096},
		{"2M", 2 * MIB},
		{"2m", 2 * MIB},
		{"2MB", 2 * MIB},
		{"1G", UINT64_C(1) << 30},
		{"3g", UINT64_C(3) << 30},
		{"1T", UINT64_C(1) << 40},
		{"16777215T", (UINT64_C(16777215)) << 40},
		{"18446744073709551615", UINT64_MAX},
		{"007", 7},
	};
	static const char *const bad[] = {
		"",          "-1",           "+1",  " 1",   "1 ", "K",   "1KK",
		"1.5G",      "0x10",         "1B",  "1KiB", "1P", "abc", "18446744073709551616",
		"16777216T", "17179869184G", "1M1", "-0",
	};
	uint64_t v;

	for (unsigned i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		v = 12345;
		if (hm__parse_size(good[i].s, &v) != 0 || v != good[i].v)
			t_fail(__FILE__, __LINE__, false, "parse_size(\"%s\") = %llu, want %llu",
			       good[i].s, (unsigned long long)v, (unsigned long long)good[i].v);
	}
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		v = 12345;
		if (hm__parse_size(bad[i], &v) != -EINVAL || v != 12345)
			t_fail(__FILE__, __LINE__, false, "parse_size(\"%s\") accepted (%llu)",
			       bad[i], (unsigned long long)v);
	}
	CHECK_EQ(hm__parse_size(NULL, &v), -EINVAL);
}

static void test_defaults(void)
{
	struct hm_config c;

	memset(&c, 0xa5, sizeof(c));
	hm_config_defaults(&c);
	CHECK_EQ(c.page_size, HM_PAGE_SIZE_AUTO);
	CHECK(!c.no_huge);
	CHECK_EQ(c.memory_limit, 0);
	CHECK_EQ(c.prealloc, 0);
	CHECK_NULL(c.prefix);
	CHECK_EQ(c.proc_type, HM_PROC_AUTO);
	CHECK_NULL(c.runtime_dir);
	CHECK_EQ(c.log_level, 0);
	CHECK_EQ(c.iova_mode, HM_IOVA_AUTO);
	CHECK_EQ(c.max_threads, HM_THREADS_MAX_DEFAULT);
	CHECK_EQ(c.max_zones, HM_ZONES_MAX_DEFAULT);
}

static void test_page_size(void)
{
	struct hm_mem_info mi;
	struct hm_hugepage_info hp;

	if (init_with("HUGEMEM_PAGE_SIZE", "4K", &mi)) {
		CHECK_UEQ(mi.page_size, HM_PAGE_SIZE_4K);
		CHECK(!mi.hugepages);
		done();
	}
	/* Explicit hugepage sizes without HUGEMEM_NO_HUGE: taken if offered, else -EINVAL.
	 * Nothing is committed here, so no hugepage is used. */
	static const struct {
		const char *s;
		size_t size;
	} sizes[] = {{"2M", HM_PAGE_SIZE_2M}, {"2048k", HM_PAGE_SIZE_2M}, {"1G", HM_PAGE_SIZE_1G}};
	for (unsigned i = 0; i < 3; i++) {
		reset();
		unsetenv("HUGEMEM_NO_HUGE");
		setenv("HUGEMEM_PAGE_SIZE", sizes[i].s, 1);
		int rc = hm_init(NULL);
		if (size_offered(sizes[i].size)) {
			CHECK_EQ(rc, 0);
			REQUIRE_EQ(hm_mem_get_info(&mi), 0);
			CHECK_UEQ(mi.page_size, sizes[i].size);
			CHECK(mi.hugepages);
			CHECK_EQ(mi.committed, 0);
		} else {
			CHECK_EQ(rc, -EINVAL);
		}
		done();
	}
	/* A size this machine does not offer (x86 has no 16 MiB pages; 8 KiB never is one). */
	reset();
	unsetenv("HUGEMEM_NO_HUGE");
	setenv("HUGEMEM_PAGE_SIZE", "8K", 1);
	CHECK_EQ(hm_init(NULL), -EINVAL);
	CHECK(strstr(logged.text, "not offered") != NULL);
	if (!size_offered(16 * MIB)) {
		setenv("HUGEMEM_PAGE_SIZE", "16M", 1);
		CHECK_EQ(hm_init(NULL), -EINVAL);
	}
	CHECK(!hm_initialized());
	/* auto and largest: some page size the system has. */
	REQUIRE_EQ(hm_hugepage_discover(&hp), 0);
	for (unsigned k = 0; k < 2; k++) {
		reset();
		unsetenv("HUGEMEM_NO_HUGE");
		setenv("HUGEMEM_PAGE_SIZE", k ? "LARGEST" : "auto", 1);
		REQUIRE_EQ(hm_init(NULL), 0);
		REQUIRE_EQ(hm_mem_get_info(&mi), 0);
		bool known = mi.page_size == HM_PAGE_SIZE_4K;
		for (unsigned i = 0; i < hp.n_sizes; i++)
			known |= mi.page_size == hp.sizes[i].page_size;
		CHECK(known);
		if (!k)
			CHECK(mi.page_size == HM_PAGE_SIZE_4K || mi.page_size == hp.default_size);
		done();
	}
	/* HUGEMEM_NO_HUGE wins over an auto page size. */
	if (init_with("HUGEMEM_PAGE_SIZE", "auto", &mi)) {
		CHECK_UEQ(mi.page_size, HM_PAGE_SIZE_4K);
		done();
	}
	check_bad("HUGEMEM_PAGE_SIZE", "");
	check_bad("HUGEMEM_PAGE_SIZE", "huge");
	check_bad("HUGEMEM_PAGE_SIZE", "3K");
	check_bad("HUGEMEM_PAGE_SIZE", "1K");
	check_bad("HUGEMEM_PAGE_SIZE", "0");
	check_bad("HUGEMEM_PAGE_SIZE", "-2M");
	check_bad("HUGEMEM_PAGE_SIZE", "2X");
	/* The field too. */
	struct hm_config c;
	reset();
	hm_config_defaults(&c);
	c.page_size = 12345;
	CHECK_EQ(hm_init(&c), -EINVAL);
	c.page_size = 2048;
	CHECK_EQ(hm_init(&c), -EINVAL);
	CHECK(!hm_initialized());
}

static void test_no_huge(void)
{
	static const char *const yes[] = {"1", "yes", "TRUE", "on"};
	static const char *const no[] = {"0", "no", "false", "OFF"};
	struct hm_mem_info mi;
	struct hm_config c;

	for (unsigned i = 0; i < 4; i++) {
		if (init_with("HUGEMEM_NO_HUGE", yes[i], &mi)) {
			CHECK_UEQ(mi.page_size, HM_PAGE_SIZE_4K);
			CHECK(!mi.hugepages);
			done();
		}
		if (init_with("HUGEMEM_NO_HUGE", no[i], &mi))
			done();
	}
	/* The variable overrides the field: 4 KiB pages although the field asks 2 MiB. */
	reset();
	hm_config_defaults(&c);
	c.page_size = HM_PAGE_SIZE_2M;
	REQUIRE_EQ(hm_init(&c), 0);
	REQUIRE_EQ(hm_mem_get_info(&mi), 0);
	CHECK_UEQ(mi.page_size, HM_PAGE_SIZE_4K);
	done();
	check_bad("HUGEMEM_NO_HUGE", "maybe");
	check_bad("HUGEMEM_NO_HUGE", "");
	check_bad("HUGEMEM_NO_HUGE", "2");
}

static void test_memory(void)
{
	static const struct {
		const char *s;
		size_t v;
	} good[] = {{"64M", 64 * MIB},    {"1G", (size_t)1 << 30}, {"65536K", 64 * MIB},
		    {"100k", 100 * 1024}, {"1048576", MIB},        {"1T", (size_t)1 << 40}};
	struct hm_mem_info mi;
	struct hm_config c;

	for (unsigned i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
#if defined(__SANITIZE_THREAD__)
		/* ThreadSanitizer owns most of the address space, and a terabyte's
		 * reservation (two, with a 4 KiB list behind the hugepages) fits
		 * only at times; the suffix is checked by test_parse_size. */
		if (good[i].v >= (size_t)1 << 40)
			continue;
#endif
		if (init_with("HUGEMEM_MEMORY", good[i].s, &mi)) {
			CHECK_UEQ(mi.memory_limit, good[i].v);
			done();
		}
	}
	/* Not a multiple of the page size: rounded up. */
	if (init_with("HUGEMEM_MEMORY", "5000", &mi)) {
		CHECK_UEQ(mi.memory_limit, 8192);
		done();
	}
	/* The variable overrides the field. */
	reset();
	hm_config_defaults(&c);
	c.memory_limit = (size_t)1 << 30;
	setenv("HUGEMEM_MEMORY", "32M", 1);
	REQUIRE_EQ(hm_init(&c), 0);
	REQUIRE_EQ(hm_mem_get_info(&mi), 0);
	CHECK_UEQ(mi.memory_limit, 32 * MIB);
	done();
	check_bad("HUGEMEM_MEMORY", "0");
	check_bad("HUGEMEM_MEMORY", "");
	check_bad("HUGEMEM_MEMORY", "12Q");
	check_bad("HUGEMEM_MEMORY", "M");
	check_bad("HUGEMEM_MEMORY", "-1M");
	check_bad("HUGEMEM_MEMORY", "99999999999999999999G");
	/* Well-formed but beyond 16 TiB. */
	reset();
	setenv("HUGEMEM_MEMORY", "32T", 1);
	CHECK_EQ(hm_init(NULL), -EINVAL);
	CHECK(!hm_initialized());
}

static void test_prealloc(void)
{
	struct hm_mem_info mi;

	if (init_with("HUGEMEM_PREALLOC", "4M", &mi)) {
		CHECK_UEQ(mi.prealloc, 4 * MIB);
		CHECK_GE(mi.committed, 4 * MIB);
		done();
	}
	if (init_with("HUGEMEM_PREALLOC", "0", &mi)) {
		CHECK_EQ(mi.prealloc, 0);
		CHECK_EQ(mi.committed, 0);
		done();
	}
	check_bad("HUGEMEM_PREALLOC", "x");
	check_bad("HUGEMEM_PREALLOC", "");
	check_bad("HUGEMEM_PREALLOC", "4 M");
	/* More than the memory limit. */
	reset();
	setenv("HUGEMEM_PREALLOC", "128M", 1);
	CHECK_EQ(hm_init(NULL), -EINVAL);
	CHECK(!hm_initialized());
}

static bool dir_exists(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static void test_prefix(void)
{
	char long_ok[HM_NAME_MAX], too_long[HM_NAME_MAX + 1], dir[512];
	struct hm_mem_info mi;

	if (init_with("HUGEMEM_PREFIX", t_prefix(), &mi)) {
		CHECK(mi.shared);
		CHECK_EQ(mi.proc_type, HM_PROC_PRIMARY);
		snprintf(dir, sizeof(dir), "%s/%s", t_runtime_dir(), t_prefix());
		CHECK(dir_exists(dir));
		done();
		CHECK(!dir_exists(dir));
	}
	/* An empty prefix is a private instance. */
	if (init_with("HUGEMEM_PREFIX", "", &mi)) {
		CHECK(!mi.shared);
		done();
	}
	memset(long_ok, 'p', sizeof(long_ok) - 1);
	long_ok[sizeof(long_ok) - 1] = '\0';
	if (init_with("HUGEMEM_PREFIX", long_ok, &mi)) {
		CHECK(mi.shared);
		done();
	}
	memset(too_long, 'p', sizeof(too_long) - 1);
	too_long[sizeof(too_long) - 1] = '\0';
	check_bad("HUGEMEM_PREFIX", too_long);
	check_bad("HUGEMEM_PREFIX", "a/b");
	check_bad("HUGEMEM_PREFIX", "..");
	check_bad("HUGEMEM_PREFIX", ".");
	check_bad("HUGEMEM_PREFIX", "sp ace");
	check_bad("HUGEMEM_PREFIX", "new\nline");
	/* The field, with the same rules. */
	struct hm_config c;
	reset();
	hm_config_defaults(&c);
	c.prefix = "../escape";
	CHECK_EQ(hm_init(&c), -EINVAL);
	c.prefix = too_long;
	CHECK_EQ(hm_init(&c), -EINVAL);
	CHECK(!hm_initialized());
}

static void test_proc_type(void)
{
	struct hm_mem_info mi;
	struct hm_config c;

	reset();
	setenv("HUGEMEM_PREFIX", t_prefix(), 1);
	setenv("HUGEMEM_PROC_TYPE", "primary", 1);
	REQUIRE_EQ(hm_init(NULL), 0);
	REQUIRE_EQ(hm_mem_get_info(&mi), 0);
	CHECK_EQ(mi.proc_type, HM_PROC_PRIMARY);
	CHECK_EQ(hm_proc_type(), HM_PROC_PRIMARY);
	done();
	/* auto with no primary alive: becomes the primary. */
	reset();
	setenv("HUGEMEM_PREFIX", t_prefix(), 1);
	setenv("HUGEMEM_PROC_TYPE", "AUTO", 1);
	REQUIRE_EQ(hm_init(NULL), 0);
	CHECK_EQ(hm_proc_type(), HM_PROC_PRIMARY);
	done();
	/* secondary with no primary: -ENOENT. */
	reset();
	setenv("HUGEMEM_PREFIX", t_prefix(), 1);
	setenv("HUGEMEM_PROC_TYPE", "secondary", 1);
	CHECK_EQ(hm_init(NULL), -ENOENT);
	CHECK(strstr(logged.text, t_prefix()) != NULL);
	/* secondary without a prefix: -EINVAL, the log says what is missing. */
	reset();
	setenv("HUGEMEM_PROC_TYPE", "secondary", 1);
	CHECK_EQ(hm_init(NULL), -EINVAL);
	CHECK(strstr(logged.text, "HUGEMEM_PREFIX") != NULL);
	reset();
	hm_config_defaults(&c);
	c.proc_type = HM_PROC_SECONDARY;
	CHECK_EQ(hm_init(&c), -EINVAL);
	CHECK(strstr(logged.text, "HUGEMEM_PREFIX") != NULL);
	c.proc_type = (enum hm_proc_type)7;
	CHECK_EQ(hm_init(&c), -EINVAL);
	check_bad("HUGEMEM_PROC_TYPE", "master");
	check_bad("HUGEMEM_PROC_TYPE", "");
	check_bad("HUGEMEM_PROC_TYPE", "1");
	CHECK(!hm_initialized());
}

static void test_runtime_dir(void)
{
	char other[256], path[512], file[256];
	struct hm_config c;
	FILE *f;

	snprintf(other, sizeof(other), "%s/other", t_runtime_dir());
	REQUIRE_EQ(mkdir(other, 0700), 0);
	reset();
	setenv("HUGEMEM_RUNTIME_DIR", other, 1);
	setenv("HUGEMEM_PREFIX", t_prefix(), 1);
	REQUIRE_EQ(hm_init(NULL), 0);
	snprintf(path, sizeof(path), "%s/%s/config", other, t_prefix());
	CHECK_EQ(access(path, F_OK), 0);
	done();
	CHECK_NE(access(path, F_OK), 0);
	CHECK_EQ(rmdir(other), 0);

	check_bad("HUGEMEM_RUNTIME_DIR", "");
	/* A directory that does not exist, for a primary and for a secondary. */
	for (int k = 0; k < 2; k++) {
		reset();
		setenv("HUGEMEM_RUNTIME_DIR", other, 1);
		setenv("HUGEMEM_PREFIX", t_prefix(), 1);
		setenv("HUGEMEM_PROC_TYPE", k ? "secondary" : "primary", 1);
		CHECK_EQ(hm_init(NULL), -ENOENT);
		CHECK(strstr(logged.text, other) != NULL);
	}
	/* A file, not a directory. */
	snprintf(file, sizeof(file), "%s/file", t_runtime_dir());
	f = fopen(file, "w");
	REQUIRE_NOT_NULL(f);
	fclose(f);
	reset();
	setenv("HUGEMEM_RUNTIME_DIR", file, 1);
	setenv("HUGEMEM_PREFIX", t_prefix(), 1);
	CHECK_EQ(hm_init(NULL), -ENOTDIR);
	unlink(file);
	/* The field, when no variable overrides it; a path too long. */
	reset();
	unsetenv("HUGEMEM_RUNTIME_DIR");
	hm_config_defaults(&c);
	c.no_huge = true;
	c.memory_limit = 64 * MIB;
	c.prefix = t_prefix();
	c.runtime_dir = t_runtime_dir();
	REQUIRE_EQ(hm_init(&c), 0);
	snprintf(path, sizeof(path), "%s/%s/lock", t_runtime_dir(), t_prefix());
	CHECK_EQ(access(path, F_OK), 0);
	done();
	char long_dir[300];
	memset(long_dir, 'd', sizeof(long_dir) - 1);
	long_dir[0] = '/';
	long_dir[sizeof(long_dir) - 1] = '\0';
	unsetenv("HUGEMEM_RUNTIME_DIR");
	c.runtime_dir = long_dir;
	CHECK_EQ(hm_init(&c), -ENAMETOOLONG);
	CHECK(!hm_initialized());
	reset();
}

/* A log sink that does I/O may change errno; the error code must not depend on it. */
static void errno_sink(enum hm_log_level level, const char *line, void *arg)
{
	sink(level, line, arg);
	errno = EAGAIN;
}

static void test_error_code_independent_of_sink(void)
{
	char missing[256];

	snprintf(missing, sizeof(missing), "%s/missing", t_runtime_dir());
	reset();
	hm_log_set_sink(errno_sink, NULL);
	setenv("HUGEMEM_RUNTIME_DIR", missing, 1);
	setenv("HUGEMEM_PREFIX", t_prefix(), 1);
	CHECK_EQ(hm_init(NULL), -ENOENT);
	setenv("HUGEMEM_PROC_TYPE", "secondary", 1);
	CHECK_EQ(hm_init(NULL), -ENOENT);
	CHECK(!hm_initialized());
	reset();
}

static void test_log_level(void)
{
	static const struct {
		const char *s;
		int level;
	} good[] = {{"error", 1}, {"warning", 2}, {"WARN", 2}, {"notice", 3},
		    {"info", 4},  {"Debug", 5},   {"1", 1},    {"5", 5}};
	struct hm_mem_info mi;
	struct hm_config c;

	for (unsigned i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		if (init_with("HUGEMEM_LOG_LEVEL", good[i].s, &mi)) {
			CHECK_EQ(hm_log_get_level(), good[i].level);
			done();
		}
	}
	/* info shows the "started" line; error hides warnings. */
	if (init_with("HUGEMEM_LOG_LEVEL", "info", &mi)) {
		CHECK(strstr(logged.text, "started") != NULL);
		done();
	}
	check_bad("HUGEMEM_LOG_LEVEL", "0");
	check_bad("HUGEMEM_LOG_LEVEL", "6");
	check_bad("HUGEMEM_LOG_LEVEL", "loud");
	check_bad("HUGEMEM_LOG_LEVEL", "");
	check_bad("HUGEMEM_LOG_LEVEL", "2x");
	reset();
	hm_config_defaults(&c);
	c.log_level = 9;
	CHECK_EQ(hm_init(&c), -EINVAL);
	c.log_level = -1;
	CHECK_EQ(hm_init(&c), -EINVAL);
	CHECK(!hm_initialized());
	reset();
}

static void test_iova_mode(void)
{
	struct hm_mem_info mi;
	const struct hm_memzone *mz;

	if (init_with("HUGEMEM_IOVA_MODE", "va", &mi)) {
		CHECK(!mi.iova_pa);
		mz = hm_memzone_reserve("va", 5000, -1, 0, 0, 0);
		REQUIRE_NOT_NULL(mz);
		CHECK_UEQ(mz->iova, (uintptr_t)mz->addr);
		CHECK_UEQ(hm_virt2iova((char *)mz->addr + 4999), (uintptr_t)mz->addr + 4999);
		done();
	}
	if (init_with("HUGEMEM_IOVA_MODE", "auto", &mi)) {
		/* Without hugepages, auto means VA. */
		CHECK(!mi.iova_pa);
		done();
	}
	reset();
	setenv("HUGEMEM_IOVA_MODE", "PA", 1);
	int rc = hm_init(NULL);
	if (rc == 0) {
		/* The pagemap shows physical addresses here (CAP_SYS_ADMIN). */
		REQUIRE_EQ(hm_mem_get_info(&mi), 0);
		CHECK(mi.iova_pa);
		mz = hm_memzone_reserve("pa", 100, -1, 0, 0, 0);
		REQUIRE_NOT_NULL(mz);
		CHECK_UEQ(mz->iova, hm_virt2iova(mz->addr));
		CHECK(mz->iova != HM_BAD_IOVA);
		CHECK_UEQ(mz->iova % 4096, (uintptr_t)mz->addr % 4096);
		done();
	} else {
		CHECK_EQ(rc, -EINVAL);
		CHECK(strstr(logged.text, "PA") != NULL);
	}
	check_bad("HUGEMEM_IOVA_MODE", "phys");
	check_bad("HUGEMEM_IOVA_MODE", "");
	struct hm_config c;
	reset();
	hm_config_defaults(&c);
	c.iova_mode = (enum hm_iova_mode)9;
	CHECK_EQ(hm_init(&c), -EINVAL);
	CHECK(!hm_initialized());
}

static void test_limits_fields(void)
{
	struct hm_config c;

	reset();
	hm_config_defaults(&c);
	c.max_threads = 65537;
	CHECK_EQ(hm_init(&c), -EINVAL);
	c.max_threads = 0; /* 0 means the default */
	c.max_zones = (1u << 24) + 1;
	CHECK_EQ(hm_init(&c), -EINVAL);
	c.max_zones = 0;
	REQUIRE_EQ(hm_init(&c), 0);
	done();
	CHECK(!hm_initialized());
}

int main(int argc, char **argv)
{
	t_init(argc, argv);
	T_RUN(test_parse_size);
	T_RUN(test_defaults);
	T_RUN(test_page_size);
	T_RUN(test_no_huge);
	T_RUN(test_memory);
	T_RUN(test_prealloc);
	T_RUN(test_prefix);
	T_RUN(test_proc_type);
	T_RUN(test_runtime_dir);
	T_RUN(test_error_code_independent_of_sink);
	T_RUN(test_log_level);
	T_RUN(test_iova_mode);
	T_RUN(test_limits_fields);
	hm_log_set_sink(NULL, NULL);
	return t_done();
}
