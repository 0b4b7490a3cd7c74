/* SPDX-License-Identifier: MIT */
/*
 * test_memzone_threads.c - zones reserved, looked up and freed from several
 * threads at once: distinct names (all succeed, contents intact), colliding
 * names (exactly one winner per name, the others EEXIST), and concurrent
 * frees of the same zone (exactly one succeeds).
 */
#include "harness.h"
#include "internal.h"
#include "mem/mem.h"
#include "heap/heap.h"
#include <hugemem.h>

#include <pthread.h>
#include <stdatomic.h>

#define MIB       ((size_t)1 << 20)
#define N_THREADS 4
#define N_NAMES   1000

static void start(void)
{
	struct hm_config c;

	hm_config_defaults(&c);
	c.no_huge = true;
	c.memory_limit = 512 * MIB;
	REQUIRE_EQ(hm_init(&c), 0);
}

static void audit_all(void)
{
	for (unsigned i = 0; i < hm__heap_count(); i++)
		CHECK_EQ(hm__heap_audit(hm__heap_get(i)), 0);
}

static pthread_barrier_t barrier;
static atomic_uint errors;

static void bad(void)
{
	atomic_fetch_add(&errors, 1);
}

/* --- distinct names: each thread its own zones --- */

static void *distinct_thread(void *arg)
{
	unsigned me = (unsigned)(uintptr_t)arg;
	const struct hm_memzone *mine[64] = {0};

	pthread_barrier_wait(&barrier);
	for (unsigned k = 0; k < 3000; k++) {
		unsigned i = (unsigned)t_rand_below(64);
		char name[HM_NAME_MAX];

		snprintf(name, sizeof(name), "t%u-z%u", me, i);
		if (mine[i]) {
			const unsigned char *p = mine[i]->addr;
			if (hm_memzone_lookup(name) != mine[i] || p[0] != (uint8_t)(me * 64 + i) ||
			    p[mine[i]->len - 1] != (uint8_t)(me * 64 + i))
				bad();
			if (hm_memzone_free(mine[i]) != 0)
				bad();
			mine[i] = NULL;
		} else {
			size_t len = 1 + t_rand_below(20000);
			mine[i] = hm_memzone_reserve(name, len, -1, 0, 0, 0);
			if (!mine[i]) {
				bad();
				continue;
			}
			memset(mine[i]->addr, (int)(me * 64 + i), len);
		}
	}
	for (unsigned i = 0; i < 64; i++)
		if (mine[i] && hm_memzone_free(mine[i]) != 0)
			bad();
	return NULL;
}

static void run(void *(*fn)(void *))
{
	pthread_t t[N_THREADS];

	REQUIRE_EQ(pthread_barrier_init(&barrier, NULL, N_THREADS), 0);
	for (unsigned i = 0; i < N_THREADS; i++)
		REQUIRE_EQ(pthread_create(&t[i], NULL, fn, (void *)(uintptr_t)i), 0);
	for (unsigned i = 0; i < N_THREADS; i++)
		pthread_join(t[i], NULL);
	pthread_barrier_destroy(&barrier);
}

static void test_distinct(void)
{
	start();
	atomic_store(&errors, 0);
	run(distinct_thread);
	CHECK_EQ(atomic_load(&errors), 0);
	CHECK_EQ(hm_memzone_count(), 0);
	audit_all();
	hm_cleanup();
}

/* --- colliding names: one winner each --- */

static atomic_uint wins[N_NAMES], losses[N_NAMES];
static const struct hm_memzone *_Atomic winner[N_NAMES];

static void *collide_thread(void *arg)
{
	(void)arg;
	pthread_barrier_wait(&barrier);
	for (unsigned i = 0; i < N_NAMES; i++) {
		char name[HM_NAME_MAX];
		const struct hm_memzone *mz;

		snprintf(name, sizeof(name), "shared-%u", i);
		errno = 0;
		mz = hm_memzone_reserve(name, 64 + i, -1, 0, 0, 0);
		if (mz) {
			atomic_fetch_add(&wins[i], 1);
			atomic_store(&winner[i], mz);
			memset(mz->addr, (int)i, mz->len);
		} else if (errno == EEXIST) {
			atomic_fetch_add(&losses[i], 1);
		} else {
			bad();
		}
	}
	pthread_barrier_wait(&barrier);
	/* Everyone sees the winner's zone. */
	for (unsigned i = 0; i < N_NAMES; i++) {
		char name[HM_NAME_MAX];
		const struct hm_memzone *mz;

		snprintf(name, sizeof(name), "shared-%u", i);
		mz = hm_memzone_lookup(name);
		if (!mz || mz != atomic_load(&winner[i]) || ((uint8_t *)mz->addr)[0] != (uint8_t)i)
			bad();
	}
	pthread_barrier_wait(&barrier);
	/* Every thread frees every zone: one free each succeeds. */
	for (unsigned i = 0; i < N_NAMES; i++) {
		int rc = hm_memzone_free(atomic_load(&winner[i]));
		if (rc == 0)
			atomic_fetch_add(&wins[i], 1);
		else if (rc != -EINVAL)
			bad();
	}
	return NULL;
}

static void test_colliding(void)
{
	start();
	hm_log_set_sink(t_count_sink, NULL);
	atomic_store(&errors, 0);
	for (unsigned i = 0; i < N_NAMES; i++) {
		atomic_store(&wins[i], 0);
		atomic_store(&losses[i], 0);
		atomic_store(&winner[i], NULL);
	}
	run(collide_thread);
	hm_log_set_sink(NULL, NULL);
	CHECK_EQ(atomic_load(&errors), 0);
	for (unsigned i = 0; i < N_NAMES; i++) {
		/* One reserve and one free won, every other reserve saw EEXIST. */
		if (atomic_load(&wins[i]) != 2 || atomic_load(&losses[i]) != N_THREADS - 1) {
			t_fail(__FILE__, __LINE__, false, "name %u: %u wins, %u EEXIST", i,
			       atomic_load(&wins[i]), atomic_load(&losses[i]));
			break;
		}
	}
	/* Each failed free logged a line. */
	CHECK_EQ(t_log_lines(), N_NAMES * (N_THREADS - 1));
	CHECK_EQ(hm_memzone_count(), 0);
	audit_all();
	hm_cleanup();
}

/* --- reserve and free of one name from all threads at once --- */

static void *pingpong_thread(void *arg)
{
	(void)arg;
	pthread_barrier_wait(&barrier);
	for (unsigned k = 0; k < 5000; k++) {
		const struct hm_memzone *mz = hm_memzone_reserve("pingpong", 4096, -1, 0, 0, 0);

		if (mz) {
			/* Ours alone until we free it. */
			memset(mz->addr, 0x5a, 4096);
			if (hm_memzone_lookup("pingpong") != mz ||
			    ((uint8_t *)mz->addr)[4095] != 0x5a)
				bad();
			if (hm_memzone_free(mz) != 0)
				bad();
		} else if (errno != EEXIST) {
			bad();
		}
	}
	return NULL;
}

static void test_pingpong(void)
{
	start();
	atomic_store(&errors, 0);
	run(pingpong_thread);
	CHECK_EQ(atomic_load(&errors), 0);
	CHECK_EQ(hm_memzone_count(), 0);
	audit_all();
	hm_cleanup();
}

/* --- lock-free lookups while other threads commit and release pages --- */

static const struct hm_memzone *stable;
static atomic_bool stop;

static void walk_cb(const struct hm_memzone *mz, void *arg)
{
	(void)mz;
	(*(unsigned *)arg)++;
}

static void *reader_thread(void *arg)
{
	const char *a = stable->addr;
	unsigned rounds = 0;

	(void)arg;
	while (!atomic_load(&stop) || rounds < 100) {
		unsigned n = 0;

		for (size_t k = 0; k < stable->len; k += 4096) {
			if (hm_virt2iova(a + k) != stable->iova + k ||
			    hm_page_size_of(a + k) != 4096 || hm_socket_of(a + k) != stable->socket)
				bad();
		}
		if (hm_memzone_lookup("stable") != stable)
			bad();
		hm_memzone_walk(walk_cb, &n);
		if (n < 1)
			bad();
		rounds++;
	}
	return NULL;
}

static void *churn_thread(void *arg)
{
	unsigned me = (unsigned)(uintptr_t)arg;

	for (unsigned k = 0; k < 300; k++) {
		char name[HM_NAME_MAX];
		const struct hm_memzone *mz;

		snprintf(name, sizeof(name), "churn-%u", me);
		/* Big enough to grow the heap, so pages are committed and given back. */
		mz = hm_memzone_reserve(name, (1 + t_rand_below(4)) * MIB, -1, 0, 0, 0);
		if (!mz) {
			bad();
			continue;
		}
		memset(mz->addr, (int)k, 4096);
		if (hm_memzone_free(mz) != 0)
			bad();
	}
	return NULL;
}

static void test_lockfree_readers(void)
{
	pthread_t readers[2], churners[3];

	start();
	atomic_store(&errors, 0);
	atomic_store(&stop, false);
	stable = hm_memzone_reserve("stable", 256 * 1024, -1, 0, 0, 0);
	REQUIRE_NOT_NULL(stable);
	for (unsigned i = 0; i < 2; i++)
		REQUIRE_EQ(pthread_create(&readers[i], NULL, reader_thread, NULL), 0);
	for (unsigned i = 0; i < 3; i++)
		REQUIRE_EQ(pthread_create(&churners[i], NULL, churn_thread, (void *)(uintptr_t)i),
			   0);
	for (unsigned i = 0; i < 3; i++)
		pthread_join(churners[i], NULL);
	atomic_store(&stop, true);
	for (unsigned i = 0; i < 2; i++)
		pthread_join(readers[i], NULL);
	CHECK_EQ(atomic_load(&errors), 0);
	CHECK_EQ(hm_memzone_count(), 1);
	audit_all();
	hm_cleanup();
}

int main(int argc, char **argv)
{
	t_init(argc, argv);
	T_RUN(test_distinct);
	T_RUN(test_colliding);
	T_RUN(test_pingpong);
	T_RUN(test_lockfree_readers);
	return t_done();
}
