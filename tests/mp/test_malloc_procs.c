/* SPDX-License-Identifier: MIT */
/*
 * test_malloc_procs.c - the heap across processes (real fork; the child
 * attaches as a secondary): a block allocated in one process is read and
 * freed in the other at the same address, both ways; a block outlives the
 * secondary that allocated it; type counters and limits are shared (a
 * limit set in the primary refuses an allocation in the secondary, and
 * the other way round); processes allocating and freeing at once leave
 * the heap consistent, with every type back to zero; and the thread cache of
 * a secondary killed with SIGKILL goes back to the heap when its slot is
 * reclaimed, its counts kept.
 */
#include "harness.h"
#include "internal.h"
#include "heap/heap.h"
#include "mem/mem.h"
#include <hugemem.h>

#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#define MIB ((size_t)1 << 20)

static void audit_all(void)
{
	for (unsigned i = 0; i < hm__heap_count(); i++)
		CHECK_EQ(hm__heap_audit(hm__heap_get(i)), 0);
}

static struct hm_malloc_type_stats tstats(const char *type)
{
	struct hm_malloc_type_stats ts;

	REQUIRE_EQ(hm_malloc_get_type_stats(type, &ts), 0);
	return ts;
}

static size_t usable(const void *p)
{
	size_t n = 0;

	REQUIRE_EQ(hm_malloc_validate(p, &n), 0);
	return n;
}

static void fill(void *p, size_t len, uint64_t tag)
{
	for (size_t i = 0; i < len; i++)
		((uint8_t *)p)[i] = (uint8_t)(tag * 7 + i + (i >> 8));
}

static bool intact(const void *p, size_t len, uint64_t tag)
{
	for (size_t i = 0; i < len; i++)
		if (((const uint8_t *)p)[i] != (uint8_t)(tag * 7 + i + (i >> 8)))
			return false;
	return true;
}

/* --- blocks passed between the processes --- */

static int exchange_child(void *arg)
{
	struct hm_malloc_type_stats ts;
	uint8_t *p, *q, *r;

	(void)arg;
	if (!t_mp_child_attach(NULL))
		return T_SKIP_CODE;
	/* the primary's block, read and freed here */
	r = (uint8_t *)(uintptr_t)t_mp_recv(t_to_child[0]);
	CHECK_GE(usable(r), 3000);
	CHECK(intact(r, 3000, 3));
	hm_free(r);
	CHECK_EQ(hm_malloc_validate(r, NULL), -EINVAL);
	/* ours, freed by the primary */
	p = hm_malloc("mp-x", 10000, 0);
	q = hm_malloc("mp-x", 5000, 4096);
	REQUIRE_NOT_NULL(p);
	REQUIRE_NOT_NULL(q);
	CHECK_UEQ((uintptr_t)q % 4096, 0);
	fill(p, 10000, 1);
	fill(q, 5000, 2);
	t_mp_send(t_to_parent[1], (uintptr_t)p);
	t_mp_send(t_to_parent[1], usable(p));
	t_mp_send(t_to_parent[1], (uintptr_t)q);
	CHECK_EQ(t_mp_recv(t_to_child[0]), 1); /* the primary freed p */
	CHECK_EQ(hm_malloc_validate(p, NULL), -EINVAL);
	ts = tstats("mp-x");
	CHECK_EQ(ts.live_blocks, 1);
	CHECK_EQ(ts.live_bytes, usable(q));
	CHECK_EQ(ts.allocs, 2);
	CHECK_EQ(ts.frees, 1);
	/* q outlives us */
	audit_all();
	hm_cleanup();
	return 0;
}

static void test_exchange(void)
{
	struct hm_malloc_type_stats ts;
	uint8_t *p, *q, *r;
	pid_t pid;
	size_t n = 0;

	t_mp_pipes_open();
	REQUIRE_EQ(t_mp_init_as(HM_PROC_PRIMARY), 0);
	pid = t_fork(exchange_child, NULL);
	if (!t_mp_child_attached(pid))
		goto out;
	r = hm_malloc("mp-y", 3000, 0);
	REQUIRE_NOT_NULL(r);
	fill(r, 3000, 3);
	t_mp_send(t_to_child[1], (uintptr_t)r);
	p = (uint8_t *)(uintptr_t)t_mp_recv(t_to_parent[0]);
	n = (size_t)t_mp_recv(t_to_parent[0]);
	q = (uint8_t *)(uintptr_t)t_mp_recv(t_to_parent[0]);
	/* the secondary freed ours (and its blocks may be where it was) */
	if (r != p && r != q)
		CHECK_EQ(hm_malloc_validate(r, NULL), -EINVAL);
	ts = tstats("mp-y");
	CHECK_EQ(ts.live_blocks, 0);
	CHECK_EQ(ts.live_bytes, 0);
	CHECK_EQ(ts.frees, 1);
	/* the secondary's block, at the same address here */
	CHECK_EQ(usable(p), n);
	CHECK(intact(p, 10000, 1));
	hm_free(p);
	CHECK_EQ(hm_malloc_validate(p, NULL), -EINVAL);
	t_mp_send(t_to_child[1], 1);
	CHECK_EQ(t_wait_exit(pid), 0);
	/* the block the secondary left is still there, and ours to free */
	CHECK_GE(usable(q), 5000);
	CHECK(intact(q, 5000, 2));
	ts = tstats("mp-x");
	CHECK_EQ(ts.live_blocks, 1);
	hm_free(q);
	ts = tstats("mp-x");
	CHECK_EQ(ts.live_blocks, 0);
	CHECK_EQ(ts.live_bytes, 0);
	CHECK_EQ(ts.allocs, 2);
	CHECK_EQ(ts.frees, 2);
	audit_all();
out:
	hm_cleanup();
	t_mp_pipes_close();
}

/* --- type counters and limits, shared --- */

static int limit_child(void *arg)
{
	struct hm_malloc_type_stats ts;
	size_t parent_bytes = (size_t)(uintptr_t)arg;
	void *b, *c;

	if (!t_mp_child_attach(NULL))
		return T_SKIP_CODE;
	/* the primary's type, limit and counters, seen from here */
	ts = tstats("mp-lim");
	CHECK_EQ(ts.limit, MIB);
	CHECK_EQ(ts.live_bytes, parent_bytes);
	CHECK_EQ(ts.live_blocks, 1);
	b = hm_malloc("mp-lim", 300000, 0);
	REQUIRE_NOT_NULL(b);
	memset(b, 0x77, 300000);
	/* past the limit the primary set: refused here */
	CHECK_NULL_ERRNO(hm_malloc("mp-lim", 300000, 0), ENOMEM);
	CHECK_NULL_ERRNO(hm_zmalloc("mp-lim", 300000, 0), ENOMEM);
	ts = tstats("mp-lim");
	CHECK_EQ(ts.refused, 2);
	CHECK_EQ(ts.live_blocks, 2);
	/* a type and a limit of ours, for the primary to see */
	CHECK_EQ(hm_malloc_set_limit("mp-child", 100000), 0);
	t_mp_send(t_to_parent[1], (uintptr_t)b);
	CHECK_EQ(t_mp_recv(t_to_child[0]), 1); /* the primary freed b and allocated of mp-child */
	c = hm_malloc("mp-lim", 300000, 0);
	REQUIRE_NOT_NULL(c);
	hm_free(c);
	/* the primary's mp-child block leaves no room */
	CHECK_NULL_ERRNO(hm_malloc("mp-child", 10000, 0), ENOMEM);
	CHECK_EQ(tstats("mp-child").refused, 1);
	audit_all();
	hm_cleanup();
	return 0;
}

static void test_shared_limit(void)
{
	struct hm_malloc_type_stats ts;
	void *a, *b, *d;
	pid_t pid;

	t_mp_pipes_open();
	REQUIRE_EQ(t_mp_init_as(HM_PROC_PRIMARY), 0);
	REQUIRE_EQ(hm_malloc_set_limit("mp-lim", MIB), 0);
	a = hm_malloc("mp-lim", 600000, 0);
	REQUIRE_NOT_NULL(a);
	pid = t_fork(limit_child, (void *)(uintptr_t)usable(a));
	if (!t_mp_child_attached(pid))
		goto out;
	b = (void *)(uintptr_t)t_mp_recv(t_to_parent[0]);
	ts = tstats("mp-lim");
	CHECK_EQ(ts.live_blocks, 2);
	CHECK_EQ(ts.live_bytes, usable(a) + usable(b));
	CHECK_EQ(ts.refused, 2);
	CHECK_EQ(tstats("mp-child").limit, 100000);
	CHECK_NULL_ERRNO(hm_malloc("mp-lim", 300000, 0), ENOMEM);
	hm_free(b);
	d = hm_malloc("mp-child", 95000, 0);
	REQUIRE_NOT_NULL(d);
	t_mp_send(t_to_child[1], 1);
	CHECK_EQ(t_wait_exit(pid), 0);
	ts = tstats("mp-lim");
	CHECK_EQ(ts.live_blocks, 1);
	CHECK_EQ(ts.live_bytes, usable(a));
	CHECK_EQ(ts.refused, 3);
	CHECK_EQ(ts.allocs, 3);
	CHECK_EQ(ts.frees, 2);
	CHECK_LE(ts.high_water, MIB);
	CHECK_EQ(tstats("mp-child").refused, 1);
	hm_free(a);
	hm_free(d);
	CHECK_EQ(tstats("mp-lim").live_bytes, 0);
	CHECK_EQ(tstats("mp-child").live_bytes, 0);
	audit_all();
out:
	hm_cleanup();
	t_mp_pipes_close();
}

/* --- processes allocating and freeing at once --- */

#define N_CHILDREN 2
#define N_SLOTS    128

static unsigned iterations(void)
{
	return (unsigned)(30000 * t_scale(0.2, 0.2)) + 100;
}

/* Allocate and free in a loop, each block with our pattern; returns the failures seen. */
static unsigned churn(unsigned me)
{
	struct {
		uint8_t *p;
		size_t len;
	} slot[N_SLOTS] = {{0}};
	unsigned bad = 0, n = iterations();

	for (unsigned k = 0; k < n; k++) {
		unsigned i = (unsigned)t_rand_below(N_SLOTS);

		if (slot[i].p) {
			if (!intact(slot[i].p, slot[i].len, me * 1000 + i))
				bad++;
			hm_free(slot[i].p);
			slot[i].p = NULL;
		} else {
			size_t len = 1 + t_rand_below(k % 50 ? 4096 : 300000);

			slot[i].p = hm_malloc(me % 2 ? "mp-odd" : "mp-even", len, 0);
			if (!slot[i].p) {
				bad++;
				continue;
			}
			slot[i].len = len;
			fill(slot[i].p, len, me * 1000 + i);
		}
	}
	for (unsigned i = 0; i < N_SLOTS; i++) {
		if (slot[i].p && !intact(slot[i].p, slot[i].len, me * 1000 + i))
			bad++;
		hm_free(slot[i].p);
	}
	return bad;
}

static int churn_child(void *arg)
{
	unsigned me = (unsigned)(uintptr_t)arg;

	if (!t_mp_child_attach(NULL))
		return T_SKIP_CODE;
	CHECK_EQ(t_mp_recv(t_to_child[0]), 1); /* go */
	CHECK_EQ(churn(me), 0);
	audit_all();
	hm_cleanup();
	return 0;
}

static void test_concurrent(void)
{
	struct hm_malloc_type_stats ts;
	struct hm_malloc_stats st;
	pid_t pid[N_CHILDREN];
	bool in[N_CHILDREN];
	unsigned attached = 0;

	t_mp_pipes_open();
	REQUIRE_EQ(t_mp_init_as(HM_PROC_PRIMARY), 0);
	for (unsigned i = 0; i < N_CHILDREN; i++) {
		pid[i] = t_fork(churn_child, (void *)(uintptr_t)(i + 1));
		in[i] = t_mp_child_attached(pid[i]); /* if not, it has been waited for */
		attached += in[i];
	}
	for (unsigned i = 0; i < attached; i++)
		t_mp_send(t_to_child[1], 1);
	CHECK_EQ(churn(0), 0);
	for (unsigned i = 0; i < N_CHILDREN; i++)
		if (in[i])
			CHECK_EQ(t_wait_exit(pid[i]), 0);
	REQUIRE_EQ(hm_malloc_get_stats(HM_SOCKET_ANY, &st), 0);
	CHECK_EQ(st.live_blocks, 0);
	CHECK_EQ(st.errors, 0);
	CHECK_EQ(st.allocs, st.frees);
	ts = tstats("mp-even");
	CHECK_EQ(ts.live_bytes, 0);
	CHECK_EQ(ts.live_blocks, 0);
	if (attached) {
		ts = tstats("mp-odd");
		CHECK_EQ(ts.live_bytes, 0);
		CHECK_EQ(ts.live_blocks, 0);
		CHECK_GT(ts.allocs, 0);
	}
	audit_all();
	hm_cleanup();
	t_mp_pipes_close();
}

/* --- a secondary killed while its thread cache holds blocks --- */

#define KILLED_BLOCKS 40

static int killed_child(void *arg)
{
	void *p[KILLED_BLOCKS];

	(void)arg;
	if (!t_mp_child_attach(NULL))
		return T_SKIP_CODE;
	/* Blocks of small sizes, freed: the cache of this thread holds them. */
	for (unsigned i = 0; i < KILLED_BLOCKS; i++) {
		p[i] = hm_malloc("mp-killed", 100 + 50 * i, 0);
		REQUIRE_NOT_NULL(p[i]);
	}
	for (unsigned i = 0; i < KILLED_BLOCKS / 2; i++)
		hm_free(p[i]);
	/* The other half stays live, its bytes counted by this thread alone. */
	t_mp_send(t_to_parent[1], 1);
	for (;;)
		pause(); /* until the kill */
}

static void test_killed_cache(void)
{
	struct hm_malloc_stats st;
	struct hm_malloc_type_stats ts;
	pid_t pid;

	t_mp_pipes_open();
	REQUIRE_EQ(t_mp_init_as(HM_PROC_PRIMARY), 0);
	pid = t_fork(killed_child, NULL);
	if (!t_mp_child_attached(pid))
		goto out;
	CHECK_EQ(t_mp_recv(t_to_parent[0]), 1);
	kill(pid, SIGKILL);
	CHECK(t_wait_signal(pid, SIGKILL));
	REQUIRE_EQ(hm_malloc_get_stats(HM_SOCKET_ANY, &st), 0);
	CHECK_GT(st.cached_blocks, 0);
	CHECK_EQ(st.live_blocks, KILLED_BLOCKS / 2);
	ts = tstats("mp-killed");
	CHECK_EQ(ts.live_blocks, KILLED_BLOCKS / 2);
	/* Its slot is reclaimed: the cache goes back to the heap, its counts are kept. */
	CHECK_GE(hm__threads_reclaim_dead(), 1);
	REQUIRE_EQ(hm_malloc_get_stats(HM_SOCKET_ANY, &st), 0);
	CHECK_EQ(st.cached_blocks, 0);
	CHECK_EQ(st.cached_bytes, 0);
	CHECK_EQ(st.live_blocks, KILLED_BLOCKS / 2);
	ts = tstats("mp-killed");
	CHECK_EQ(ts.live_blocks, KILLED_BLOCKS / 2);
	CHECK_EQ(ts.allocs, KILLED_BLOCKS);
	CHECK_EQ(ts.frees, KILLED_BLOCKS / 2);
	CHECK_GT(ts.live_bytes, 0);
	CHECK_EQ(hm__threads_reclaim_dead(), 0);
	audit_all();
out:
	hm_cleanup();
	t_mp_pipes_close();
}

int main(int argc, char **argv)
{
	t_init(argc, argv);
	T_RUN(test_exchange);
	T_RUN(test_shared_limit);
	T_RUN(test_concurrent);
	T_RUN(test_killed_cache);
	return t_done();
}
