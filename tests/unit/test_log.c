/* SPDX-License-Identifier: MIT */
/* test_log.c - log levels and sinks, hm_strerror, hm_version, name rules. */
#include "harness.h"
#include "internal.h"
#include <hugemem.h>

#include <pthread.h>
#include <stdlib.h>

static struct {
	unsigned lines;
	enum hm_log_level last_level;
	char last[512];
	void *arg;
} got;

static void sink(enum hm_log_level level, const char *line, void *arg)
{
	got.lines++;
	got.last_level = level;
	got.arg = arg;
	snprintf(got.last, sizeof(got.last), "%s", line);
}

static void test_levels_filter(void)
{
	int old = hm_log_set_level(HM_LOG_WARNING);

	hm_log_set_sink(sink, &got);
	memset(&got, 0, sizeof(got));
	hm_log(HM_LOG_INFO, "not shown %d", 1);
	CHECK_EQ(got.lines, 0);
	hm_log(HM_LOG_WARNING, "shown %d", 2);
	CHECK_EQ(got.lines, 1);
	CHECK_EQ(got.last_level, HM_LOG_WARNING);
	CHECK(strstr(got.last, "shown 2") != NULL);
	CHECK(strstr(got.last, "warning") != NULL);
	CHECK_PTR_EQ(got.arg, &got);
	hm_log(HM_LOG_ERROR, "error");
	CHECK_EQ(got.lines, 2);
	CHECK_EQ(hm_log_set_level(HM_LOG_DEBUG), HM_LOG_WARNING);
	hm_log(HM_LOG_DEBUG, "debug now");
	CHECK_EQ(got.lines, 3);
	/* Out-of-range levels are clamped, not stored. */
	hm_log_set_level(99);
	CHECK_EQ(hm_log_get_level(), HM_LOG_DEBUG);
	hm_log_set_level(-5);
	CHECK_EQ(hm_log_get_level(), HM_LOG_ERROR);
	hm_log_set_level(old);
	hm_log_set_sink(NULL, NULL);
}

static void test_long_line_truncated(void)
{
	char big[2000];

	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	hm_log_set_sink(sink, NULL);
	memset(&got, 0, sizeof(got));
	hm_log(HM_LOG_ERROR, "%s", big);
	CHECK_EQ(got.lines, 1);
	CHECK_LT(strlen(got.last), 512);
	hm_log_set_sink(NULL, NULL);
}

static void test_library_errors_reach_sink(void)
{
	/* A call the caller can see fail and one it cannot: both log through the sink. */
	hm_log_set_sink(sink, NULL);
	memset(&got, 0, sizeof(got));
	setenv("HUGEMEM_MEMORY", "lots", 1);
	CHECK_EQ(hm_init(NULL), -EINVAL);
	unsetenv("HUGEMEM_MEMORY");
	CHECK_GE(got.lines, 1);
	CHECK(strstr(got.last, "HUGEMEM_MEMORY") != NULL);
	hm_log_set_sink(NULL, NULL);
}

static void *log_many(void *arg)
{
	for (int i = 0; i < 1000; i++)
		hm_log(HM_LOG_ERROR, "thread %p line %d", arg, i);
	return NULL;
}

static _Atomic unsigned mt_lines;
static void counting_sink(enum hm_log_level level, const char *line, void *arg)
{
	(void)level;
	(void)arg;
	/* Each line arrives whole. */
	if (strncmp(line, "hugemem: error: thread", 22) == 0)
		mt_lines++;
}

static void test_threads_log_whole_lines(void)
{
	pthread_t t[4];

	hm_log_set_sink(counting_sink, NULL);
	for (int i = 0; i < 4; i++)
		REQUIRE_EQ(pthread_create(&t[i], NULL, log_many, (void *)(uintptr_t)i), 0);
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	CHECK_EQ(mt_lines, 4000);
	hm_log_set_sink(NULL, NULL);
}

static void test_strerror_and_version(void)
{
	CHECK_STR_EQ(hm_strerror(ENOMEM), hm_strerror(-ENOMEM));
	CHECK(strstr(hm_strerror(-ENOMEM), "memory") != NULL);
	CHECK_STR_EQ(hm_strerror(0), "Success");
	CHECK(hm_strerror(100000) != NULL);
	CHECK_EQ(hm_version(), HM_VERSION);
}

static void test_name_copy(void)
{
	char dst[HM_NAME_MAX];
	char name[HM_NAME_MAX + 1];

	CHECK_EQ(hm__name_copy(dst, NULL), -EINVAL);
	CHECK_EQ(hm__name_copy(dst, ""), -EINVAL);
	memset(name, 'a', HM_NAME_MAX - 1);
	name[HM_NAME_MAX - 1] = '\0';
	CHECK_EQ(hm__name_copy(dst, name), 0);
	CHECK_STR_EQ(dst, name);
	name[HM_NAME_MAX - 1] = 'a';
	name[HM_NAME_MAX] = '\0';
	CHECK_EQ(hm__name_copy(dst, name), -ENAMETOOLONG);
}

int main(int argc, char **argv)
{
	t_init(argc, argv);
	T_RUN(test_levels_filter);
	T_RUN(test_long_line_truncated);
	T_RUN(test_library_errors_reach_sink);
	T_RUN(test_threads_log_whole_lines);
	T_RUN(test_strerror_and_version);
	T_RUN(test_name_copy);
	return t_done();
}
