/* SPDX-License-Identifier: MIT */
/*
 * test_threads.c - thread slots: unique among concurrent threads, released
 * at thread exit, explicit register/unregister, a full table (-ENOSPC and a
 * log line, then room once a thread exits), and slots across re-init.
 */
#include "harness.h"
#include "internal.h"
#include <hugemem.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#define MIB       ((size_t)1 << 20)
#define N_THREADS 64

static struct {
	pthread_mutex_t lock;
	char text[4096];
	unsigned lines;
} logged = {.lock = PTHREAD_MUTEX_INITIALIZER};

static void sink(enum hm_log_level level, const char *line, void *arg)
{
	(void)level;
	(void)arg;
	pthread_mutex_lock(&logged.lock);
	snprintf(logged.text, sizeof(logged.text), "%s", line);
	logged.lines++;
	pthread_mutex_unlock(&logged.lock);
}

static void start(unsigned max_threads)
{
	struct hm_config c;

	hm_config_defaults(&c);
	c.no_huge = true;
	c.memory_limit = 64 * MIB;
	c.max_threads = max_threads;
	REQUIRE_EQ(hm_init(&c), 0);
}

static pthread_t spawn(void *(*fn)(void *), void *arg)
{
	pthread_t t;

	REQUIRE_EQ(pthread_create(&t, NULL, fn, arg), 0);
	return t;
}

/* --- unique ids among many threads alive at once --- */

static pthread_barrier_t barrier;
static int ids[N_THREADS];
static unsigned counts[N_THREADS];

static void *unique_thread(void *arg)
{
	unsigned i = (unsigned)(uintptr_t)arg;

	ids[i] = hm_thread_id();
	/* Stable: the same slot every time. */
	for (unsigned k = 0; k < 1000; k++)
		if (hm_thread_id() != ids[i])
			ids[i] = -1000;
	pthread_barrier_wait(&barrier); /* all have slots */
	counts[i] = hm_thread_count();
	pthread_barrier_wait(&barrier); /* all have counted */
	return NULL;
}

static void test_unique(void)
{
	pthread_t t[N_THREADS];
	unsigned base;
	int main_id;

	start(0);
	main_id = hm_thread_id();
	CHECK_GE(main_id, 0);
	base = hm_thread_count();
	CHECK_EQ(base, 1);
	for (unsigned round = 0; round < 3; round++) {
		REQUIRE_EQ(pthread_barrier_init(&barrier, NULL, N_THREADS), 0);
		for (unsigned i = 0; i < N_THREADS; i++)
			t[i] = spawn(unique_thread, (void *)(uintptr_t)i);
		for (unsigned i = 0; i < N_THREADS; i++)
			pthread_join(t[i], NULL);
		pthread_barrier_destroy(&barrier);
		for (unsigned i = 0; i < N_THREADS; i++) {
			CHECK_GE(ids[i], 0);
			CHECK_LT(ids[i], (int)HM_THREADS_MAX_DEFAULT);
			CHECK_NE(ids[i], main_id);
			CHECK_EQ(counts[i], base + N_THREADS);
			for (unsigned j = 0; j < i; j++)
				if (ids[i] == ids[j])
					t_fail(__FILE__, __LINE__, false,
					       "threads %u and %u share slot %d", i, j, ids[i]);
		}
		/* Every slot went back when its thread exited. */
		CHECK_EQ(hm_thread_count(), base);
	}
	CHECK_EQ(hm_thread_id(), main_id);
	hm_cleanup();
	CHECK_EQ(hm_thread_count(), 0);
}

/* --- explicit registration --- */

static void *register_thread(void *arg)
{
	int *out = arg;
	int id;

	CHECK_EQ(hm_thread_unregister(), -ENOENT);
	id = hm_thread_register();
	CHECK_GE(id, 0);
	CHECK_EQ(hm_thread_register(), id);
	CHECK_EQ(hm_thread_id(), id);
	CHECK_EQ(hm_thread_count(), 2);
	CHECK_EQ(hm_thread_unregister(), 0);
	CHECK_EQ(hm_thread_count(), 1);
	CHECK_EQ(hm_thread_unregister(), -ENOENT);
	/* hm_thread_id registers again. */
	*out = hm_thread_id();
	CHECK_GE(*out, 0);
	CHECK_EQ(hm_thread_count(), 2);
	return NULL;
}

static void test_register(void)
{
	int id = -1;

	start(0);
	CHECK_EQ(hm_thread_unregister(), -ENOENT);
	CHECK_GE(hm_thread_register(), 0);
	CHECK_EQ(hm_thread_count(), 1);
	pthread_join(spawn(register_thread, &id), NULL);
	CHECK_GE(id, 0);
	CHECK_EQ(hm_thread_count(), 1);
	CHECK_EQ(hm_thread_unregister(), 0);
	CHECK_EQ(hm_thread_count(), 0);
	hm_cleanup();
}

/* --- a full table --- */

static pthread_mutex_t hold_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t hold_cond = PTHREAD_COND_INITIALIZER;
static unsigned holding, release_upto;

static void *holder(void *arg)
{
	unsigned i = (unsigned)(uintptr_t)arg;
	int id = hm_thread_id();

	CHECK_GE(id, 0);
	CHECK_LT(id, 4);
	pthread_mutex_lock(&hold_lock);
	holding++;
	pthread_cond_broadcast(&hold_cond);
	while (release_upto <= i)
		pthread_cond_wait(&hold_cond, &hold_lock);
	pthread_mutex_unlock(&hold_lock);
	return NULL;
}

static void *fifth(void *arg)
{
	int *rc = arg;

	*rc = hm_thread_id();
	return NULL;
}

static void release_holders(unsigned upto)
{
	pthread_mutex_lock(&hold_lock);
	release_upto = upto;
	pthread_cond_broadcast(&hold_cond);
	pthread_mutex_unlock(&hold_lock);
}

static void test_full_table(void)
{
	pthread_t t[4];
	int rc = 0;

	start(4);
	holding = release_upto = 0;
	for (unsigned i = 0; i < 4; i++)
		t[i] = spawn(holder, (void *)(uintptr_t)i);
	pthread_mutex_lock(&hold_lock);
	while (holding < 4)
		pthread_cond_wait(&hold_cond, &hold_lock);
	pthread_mutex_unlock(&hold_lock);
	CHECK_EQ(hm_thread_count(), 4);

	hm_log_set_sink(sink, NULL);
	logged.lines = 0;
	pthread_join(spawn(fifth, &rc), NULL);
	CHECK_EQ(rc, -ENOSPC);
	CHECK_EQ(logged.lines, 1);
	CHECK(strstr(logged.text, "thread slots") != NULL);
	CHECK(strstr(logged.text, "4") != NULL);
	/* The main thread is a fifth thread too. */
	CHECK_EQ(hm_thread_id(), -ENOSPC);
	CHECK_EQ(hm_thread_register(), -ENOSPC);
	CHECK_EQ(hm_thread_count(), 4);
	hm_log_set_sink(NULL, NULL);

	/* One holder exits: its slot is free for the next thread. */
	release_holders(1);
	pthread_join(t[0], NULL);
	CHECK_EQ(hm_thread_count(), 3);
	pthread_join(spawn(fifth, &rc), NULL);
	CHECK_GE(rc, 0);
	CHECK_LT(rc, 4);
	CHECK_EQ(hm_thread_count(), 3);
	CHECK_GE(hm_thread_id(), 0);
	CHECK_EQ(hm_thread_count(), 4);
	release_holders(4);
	for (unsigned i = 1; i < 4; i++)
		pthread_join(t[i], NULL);
	CHECK_EQ(hm_thread_count(), 1);
	hm_cleanup();
}

/* --- a thread living across cleanup and a new init --- */

static pthread_barrier_t step;
static int across[3];

static void *across_thread(void *arg)
{
	(void)arg;
	across[0] = hm_thread_id();
	pthread_barrier_wait(&step); /* main: cleanup and init again */
	pthread_barrier_wait(&step);
	across[1] = hm_thread_id();
	across[2] = (int)hm_thread_count();
	pthread_barrier_wait(&step); /* main: cleanup */
	pthread_barrier_wait(&step);
	return NULL;
}

static void test_across_init(void)
{
	pthread_t t;

	REQUIRE_EQ(pthread_barrier_init(&step, NULL, 2), 0);
	start(8);
	t = spawn(across_thread, NULL);
	pthread_barrier_wait(&step);
	CHECK_GE(across[0], 0);
	CHECK_EQ(hm_thread_count(), 1);
	hm_cleanup();
	start(8);
	/* The thread's old slot is not counted in the new instance. */
	CHECK_EQ(hm_thread_count(), 0);
	pthread_barrier_wait(&step);
	pthread_barrier_wait(&step);
	CHECK_GE(across[1], 0);
	CHECK_LT(across[1], 8);
	CHECK_EQ(across[2], 1);
	/* Cleanup while the thread still runs: its slot goes, and its exit is harmless. */
	hm_cleanup();
	pthread_barrier_wait(&step);
	pthread_join(t, NULL);
	pthread_barrier_destroy(&step);
	start(8);
	CHECK_EQ(hm_thread_count(), 0);
	hm_cleanup();
}

/* --- churn: threads come and go while others hold slots --- */

static void *churn_thread(void *arg)
{
	atomic_int *bad = arg;

	for (unsigned k = 0; k < 200; k++) {
		int id = hm_thread_register();
		if (id < 0 || id >= 16 || hm_thread_id() != id)
			atomic_fetch_add(bad, 1);
		if (hm_thread_unregister() != 0)
			atomic_fetch_add(bad, 1);
	}
	return NULL;
}

static void test_churn(void)
{
	pthread_t t[8];
	atomic_int bad = 0;

	start(16);
	for (unsigned i = 0; i < 8; i++)
		t[i] = spawn(churn_thread, &bad);
	for (unsigned i = 0; i < 8; i++)
		pthread_join(t[i], NULL);
	CHECK_EQ(atomic_load(&bad), 0);
	CHECK_EQ(hm_thread_count(), 0);
	hm_cleanup();
}

static void *before_init_thread(void *arg)
{
	int *rc = arg;

	*rc = hm_thread_id();
	return NULL;
}

static void test_before_init(void)
{
	int rc = 0;

	pthread_join(spawn(before_init_thread, &rc), NULL);
	CHECK_EQ(rc, -ENXIO);
}

int main(int argc, char **argv)
{
	t_init(argc, argv);
	T_RUN(test_before_init);
	T_RUN(test_unique);
	T_RUN(test_register);
	T_RUN(test_full_table);
	T_RUN(test_across_init);
	T_RUN(test_churn);
	return t_done();
}
