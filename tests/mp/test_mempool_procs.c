/* SPDX-License-Identifier: MIT */
/*
 * test_mempool_procs.c - object pools across processes (real fork; the child
 * attaches as a secondary):
 *
 *   - a pool shared by a primary and a secondary: the secondary finds the
 *     primary's pool by name at the same address (also one created after it
 *     attached), gets objects, writes them and passes the pointers to the
 *     primary over a pipe; the primary reads them and puts them back, and the
 *     other way round; both see the same counts; a pool the secondary creates
 *     is found by the primary; when the secondary exits normally its thread
 *     cache goes back to the pool;
 *   - objects flowing both ways at once through two shared rings, stamped and
 *     checked on arrival;
 *   - a secondary killed with SIGKILL while its thread cache holds objects:
 *     they are stranded (counted as free, in the dead thread's cache) until a
 *     get that finds too few reclaims the dead process's slot, whose exit
 *     hook flushes the cache, and the get is served; objects it held out stay
 *     in use, so destroy is refused and destroy_force frees the pool.
 */
#include "harness.h"
#include "internal.h"
#include "mem/mem.h"
#include "mempool/pool.h"
#include <hugemem.h>
#include <hugemem/ring.h>

#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static int cmp_ptr(const void *a, const void *b)
{
	void *const *pa = a, *const *pb = b;
	uintptr_t x = (uintptr_t)pa[0], y = (uintptr_t)pb[0];

	return x < y ? -1 : x > y;
}

/* Every object of mp is free: take them all (each once) and give them back. */
static void all_back(struct hm_mempool *mp, unsigned n)
{
	void **objs = calloc(n + 1, sizeof(void *));
	unsigned dup = 0;

	REQUIRE_NOT_NULL(objs);
	CHECK_EQ(hm_mempool_avail_count(mp), n);
	CHECK_EQ(hm_mempool_audit(mp), 0);
	REQUIRE_EQ(hm_mempool_get_bulk(mp, objs, n), 0);
	CHECK_EQ(hm_mempool_get(mp, &objs[n]), -ENOENT);
	qsort(objs, n, sizeof(void *), cmp_ptr);
	for (unsigned i = 1; i < n; i++)
		dup += objs[i] == objs[i - 1];
	CHECK_EQ(dup, 0);
	hm_mempool_put_bulk(mp, objs, n);
	CHECK_EQ(hm_mempool_avail_count(mp), n);
	free(objs);
}

/* An object's contents: words of tag mixed with their index. */
static void stamp(void *obj, size_t len, uint64_t tag)
{
	uint64_t *w = obj;

	for (size_t i = 0; i < len / 8; i++)
		w[i] = tag * 0x9e3779b97f4a7c15ull + i;
}

static bool stamped(const void *obj, size_t len, uint64_t tag)
{
	const uint64_t *w = obj;

	for (size_t i = 0; i < len / 8; i++)
		if (w[i] != tag * 0x9e3779b97f4a7c15ull + i)
			return false;
	return true;
}

/* The calling thread's cache of mp: how many objects it holds (0 if it has none). */
static unsigned my_cache_len(struct hm_mempool *mp)
{
	int slot = hm_thread_id();
	struct hm_mempool_cache *c;

	REQUIRE_GE(slot, 0);
	c = hm__load_acquire(&mp->local[slot]);
	return c ? hm__load_relaxed(&c->len) : 0;
}

/* --- a pool shared by the primary and a secondary --- */

#define SH_N        256
#define SH_ELT      128
#define SH_CACHE    16
#define FROM_CHILD  40
#define FROM_PARENT 30

static int shared_child(void *arg)
{
	struct hm_mempool *mp, *late, *mine;
	void *objs[FROM_CHILD];
	unsigned bad = 0, cached;

	(void)arg;
	if (!t_mp_child_attach(NULL))
		return T_SKIP_CODE;
	/* The primary's pool, by name, at the primary's address. */
	mp = hm_mempool_lookup("shared");
	REQUIRE_NOT_NULL(mp);
	CHECK_PTR_EQ(mp, (void *)(uintptr_t)t_mp_recv(t_to_child[0]));
	CHECK_EQ(mp->size, SH_N);
	CHECK_EQ(hm_mempool_avail_count(mp), SH_N);
	CHECK_EQ(hm_mempool_audit(mp), 0);
	/* Ours, written and handed to the primary. */
	REQUIRE_EQ(hm_mempool_get_bulk(mp, objs, 25), 0);
	REQUIRE_EQ(hm_mempool_get_bulk(mp, objs + 25, FROM_CHILD - 25), 0);
	for (unsigned i = 0; i < FROM_CHILD; i++) {
		if (hm_mempool_from_obj(objs[i]) != mp)
			bad++;
		stamp(objs[i], SH_ELT, 1000 + i);
		t_mp_send(t_to_parent[1], (uintptr_t)objs[i]);
	}
	CHECK_EQ(bad, 0);
	CHECK_EQ(t_mp_recv(t_to_child[0]), 1); /* the primary put them back */
	CHECK_EQ(hm_mempool_in_use_count(mp), 0);
	CHECK_EQ(hm_mempool_avail_count(mp), SH_N);
	t_mp_send(t_to_parent[1], 1);
	/* The primary's, read here and put back into our cache. */
	for (unsigned i = 0; i < FROM_PARENT; i++) {
		void *obj = (void *)(uintptr_t)t_mp_recv(t_to_child[0]);

		if (hm_mempool_from_obj(obj) != mp || !stamped(obj, SH_ELT, 2000 + i))
			bad++;
		hm_mempool_put(mp, obj);
	}
	CHECK_EQ(bad, 0);
	CHECK_EQ(hm_mempool_avail_count(mp), SH_N);
	CHECK_EQ(hm_mempool_audit(mp), 0);
	/* Leave some in our cache for the exit to give back. */
	REQUIRE_EQ(hm_mempool_get_bulk(mp, objs, 10), 0);
	hm_mempool_put_bulk(mp, objs, 10);
	cached = my_cache_len(mp);
	CHECK_GT(cached, 0);
	t_mp_send(t_to_parent[1], cached);
	t_mp_send(t_to_parent[1], (uint64_t)hm_thread_id());
	/* A pool created by the primary after we attached. */
	CHECK_EQ(t_mp_recv(t_to_child[0]), 2);
	late = hm_mempool_lookup("late");
	REQUIRE_NOT_NULL(late);
	CHECK_PTR_EQ(late, (void *)(uintptr_t)t_mp_recv(t_to_child[0]));
	REQUIRE_EQ(hm_mempool_get_bulk(late, objs, 5), 0);
	for (unsigned i = 0; i < 5; i++)
		stamp(objs[i], 64, 3000 + i);
	hm_mempool_put_bulk(late, objs, 5);
	CHECK_EQ(hm_mempool_avail_count(late), 50);
	/* A pool of ours, for the primary to find. */
	mine = hm_mempool_create("by-child", 20, 64, 4, 0, NULL, NULL, HM_SOCKET_ANY, 0);
	REQUIRE_NOT_NULL(mine);
	CHECK_NULL_ERRNO(hm_mempool_create("shared", 20, 64, 4, 0, NULL, NULL, HM_SOCKET_ANY, 0),
			 EEXIST);
	t_mp_send(t_to_parent[1], (uintptr_t)mine);
	CHECK_EQ(t_mp_recv(t_to_child[0]), 3);
	hm_cleanup(); /* gives our caches back */
	return 0;
}

static void test_shared(void)
{
	struct hm_mempool_stats st;
	struct hm_mempool *mp, *late, *mine;
	void *objs[FROM_CHILD];
	unsigned bad = 0, cached, child_slot;
	pid_t pid;

	t_mp_pipes_open();
	REQUIRE_EQ(t_mp_init_as(HM_PROC_PRIMARY), 0);
	mp = hm_mempool_create("shared", SH_N, SH_ELT, SH_CACHE, 0, NULL, NULL, HM_SOCKET_ANY, 0);
	REQUIRE_NOT_NULL(mp);
	pid = t_fork(shared_child, NULL);
	if (!t_mp_child_attached(pid))
		goto out;
	t_mp_send(t_to_child[1], (uintptr_t)mp);
	/* The secondary's objects: at the same addresses here, as it wrote them. */
	for (unsigned i = 0; i < FROM_CHILD; i++) {
		objs[i] = (void *)(uintptr_t)t_mp_recv(t_to_parent[0]);
		if (hm_mempool_from_obj(objs[i]) != mp || !stamped(objs[i], SH_ELT, 1000 + i))
			bad++;
	}
	CHECK_EQ(bad, 0);
	CHECK_EQ(hm_mempool_in_use_count(mp), FROM_CHILD);
	CHECK_EQ(hm_mempool_avail_count(mp), SH_N - FROM_CHILD);
	hm_mempool_put_bulk(mp, objs, FROM_CHILD / 2);
	for (unsigned i = FROM_CHILD / 2; i < FROM_CHILD; i++)
		hm_mempool_put(mp, objs[i]);
	CHECK_EQ(hm_mempool_avail_count(mp), SH_N);
	REQUIRE_EQ(hm_mempool_get_stats(mp, &st), 0);
	CHECK_EQ(st.refused_puts, 0);
	CHECK_GE(st.get_objs, FROM_CHILD); /* the secondary's gets, counted in its cache */
	t_mp_send(t_to_child[1], 1);
	CHECK_EQ(t_mp_recv(t_to_parent[0]), 1); /* it saw them back */
	/* Ours, for the secondary to read and put back. */
	REQUIRE_EQ(hm_mempool_get_bulk(mp, objs, FROM_PARENT), 0);
	for (unsigned i = 0; i < FROM_PARENT; i++) {
		stamp(objs[i], SH_ELT, 2000 + i);
		t_mp_send(t_to_child[1], (uintptr_t)objs[i]);
	}
	cached = (unsigned)t_mp_recv(t_to_parent[0]);
	child_slot = (unsigned)t_mp_recv(t_to_parent[0]);
	REQUIRE(child_slot < mp->n_slots);
	/* Its cache, seen from here, holds what it said, counted as free. */
	CHECK_EQ(hm__load_relaxed(&mp->local[child_slot]->len), cached);
	CHECK_EQ(hm_mempool_avail_count(mp), SH_N);
	/* A pool created now, after the secondary attached. */
	late = hm_mempool_create("late", 50, 64, 8, 0, NULL, NULL, HM_SOCKET_ANY,
				 HM_MEMPOOL_F_STACK);
	REQUIRE_NOT_NULL(late);
	t_mp_send(t_to_child[1], 2);
	t_mp_send(t_to_child[1], (uintptr_t)late);
	/* The secondary's pool, found here by name. */
	mine = (struct hm_mempool *)(uintptr_t)t_mp_recv(t_to_parent[0]);
	CHECK_PTR_EQ(hm_mempool_lookup("by-child"), mine);
	t_mp_send(t_to_child[1], 3);
	CHECK_EQ(t_wait_exit(pid), 0);
	/* The secondary is gone: its cache was given back at its hm_cleanup. */
	CHECK_EQ(hm__load_relaxed(&mp->local[child_slot]->len), 0);
	CHECK_EQ(hm__pool_backend_count(pool_of(mp)) + my_cache_len(mp), SH_N);
	all_back(mp, SH_N);
	all_back(late, 50);
	REQUIRE_NOT_NULL(mine);
	all_back(mine, 20);
	CHECK_EQ(hm_mempool_destroy(mine), 0);
	CHECK_EQ(hm_mempool_destroy(late), 0);
	CHECK_EQ(hm_mempool_destroy(mp), 0);
out:
	hm_cleanup();
	t_mp_pipes_close();
}

/* --- objects both ways through shared rings --- */

#define RB_N       512
#define RB_ELT     64
#define RB_RING    128
#define PARENT_TAG UINT64_C(0x7a7e000000000000)
#define CHILD_TAG  UINT64_C(0xc41d000000000000)

static unsigned rb_count(void)
{
	return (unsigned)(20000 * t_scale(0.2, 0.2)) + 100;
}

/*
 * Send count objects of mp over out (stamped with tag and a sequence), and
 * take count objects from in (stamped with other_tag, in sequence), checking
 * and putting back each. Returns the failures seen.
 */
static unsigned both_ways(struct hm_mempool *mp, struct hm_ring *out, struct hm_ring *in,
			  uint64_t tag, uint64_t other_tag, unsigned count)
{
	unsigned sent = 0, received = 0, bad = 0, idle = 0;
	uint64_t next = 0;
	time_t progress = time(NULL);

	while (sent < count || received < count) {
		void *objs[32];
		unsigned k;

		if (sent < count) {
			k = 1 + (unsigned)t_rand_below(16);
			if (k > count - sent)
				k = count - sent;
			if (hm_mempool_get_bulk(mp, objs, k) == 0) {
				for (unsigned i = 0; i < k; i++) {
					uint64_t *w = objs[i];

					w[0] = tag | (sent + i);
					stamp(w + 1, RB_ELT - 8, w[0]);
				}
				if (hm_ring_enqueue_bulk(out, objs, k, NULL) == k)
					sent += k;
				else
					hm_mempool_put_bulk(mp, objs, k); /* full: later */
			}
		}
		k = hm_ring_dequeue_burst(in, objs, 32, NULL);
		for (unsigned i = 0; i < k; i++) {
			uint64_t *w = objs[i];

			if (hm_mempool_from_obj(w) != mp || w[0] != (other_tag | next) ||
			    !stamped(w + 1, RB_ELT - 8, w[0]))
				bad++;
			next++;
			w[0] = 0;
		}
		if (k)
			hm_mempool_put_bulk(mp, objs, k);
		received += k;
		if (k) {
			progress = time(NULL);
		} else if (++idle % 64 == 0) {
			sched_yield();
			if (time(NULL) > progress + 20) {
				printf("note: nothing received for 20 s (%u of %u)\n", received,
				       count);
				bad++;
				break;
			}
		}
	}
	return bad;
}

static int rings_child(void *arg)
{
	struct hm_mempool *mp;
	struct hm_ring *p2c, *c2p;

	(void)arg;
	if (!t_mp_child_attach(NULL))
		return T_SKIP_CODE;
	mp = hm_mempool_lookup("rb");
	p2c = hm_ring_lookup("p2c");
	c2p = hm_ring_lookup("c2p");
	REQUIRE_NOT_NULL(mp);
	REQUIRE_NOT_NULL(p2c);
	REQUIRE_NOT_NULL(c2p);
	CHECK_EQ(t_mp_recv(t_to_child[0]), 1); /* go */
	CHECK_EQ(both_ways(mp, c2p, p2c, CHILD_TAG, PARENT_TAG, rb_count()), 0);
	/* No audit here: the primary may still be getting and putting. */
	hm_cleanup();
	return 0;
}

static void test_rings(void)
{
	struct hm_mempool *mp;
	struct hm_ring *p2c, *c2p;
	struct hm_mempool_stats st;
	pid_t pid;

	t_mp_pipes_open();
	REQUIRE_EQ(t_mp_init_as(HM_PROC_PRIMARY), 0);
	mp = hm_mempool_create("rb", RB_N, RB_ELT, 32, 0, NULL, NULL, HM_SOCKET_ANY, 0);
	p2c = hm_ring_create("p2c", RB_RING, HM_SOCKET_ANY, HM_RING_SP_ENQ | HM_RING_SC_DEQ);
	c2p = hm_ring_create("c2p", RB_RING, HM_SOCKET_ANY, 0);
	REQUIRE_NOT_NULL(mp);
	REQUIRE_NOT_NULL(p2c);
	REQUIRE_NOT_NULL(c2p);
	pid = t_fork(rings_child, NULL);
	if (!t_mp_child_attached(pid))
		goto out;
	t_mp_send(t_to_child[1], 1);
	CHECK_EQ(both_ways(mp, p2c, c2p, PARENT_TAG, CHILD_TAG, rb_count()), 0);
	CHECK_EQ(t_wait_exit(pid), 0);
	CHECK_EQ(hm_ring_count(p2c), 0);
	CHECK_EQ(hm_ring_count(c2p), 0);
	/* Both processes' gets and puts are in the pool's statistics. */
	REQUIRE_EQ(hm_mempool_get_stats(mp, &st), 0);
	CHECK_EQ(st.get_objs, st.put_objs);
	CHECK_GE(st.put_objs, 2 * (uint64_t)rb_count());
	CHECK_EQ(st.refused_puts, 0);
	all_back(mp, RB_N);
	CHECK_EQ(hm_ring_destroy(p2c), 0);
	CHECK_EQ(hm_ring_destroy(c2p), 0);
	CHECK_EQ(hm_mempool_destroy(mp), 0);
out:
	hm_cleanup();
	t_mp_pipes_close();
}

/* --- a secondary killed while its cache holds objects --- */

#define KL_N      128
#define KL_CACHE  32
#define KL_CACHED 20 /* objects left in the dead thread's cache */
#define KL_HELD   5  /* objects the dead process held out */

static int killed_child(void *arg)
{
	struct hm_mempool *mp, *lost;
	void *objs[KL_CACHED + KL_HELD];

	(void)arg;
	if (!t_mp_child_attach(NULL))
		return T_SKIP_CODE;
	mp = hm_mempool_lookup("killed");
	lost = hm_mempool_lookup("lost");
	REQUIRE_NOT_NULL(mp);
	REQUIRE_NOT_NULL(lost);
	/* Got one by one (through the cache) and put back: the cache holds them. */
	for (unsigned i = 0; i < KL_CACHED; i++)
		REQUIRE_EQ(hm_mempool_get(mp, &objs[i]), 0);
	hm_mempool_put_bulk(mp, objs, KL_CACHED);
	CHECK_GE(my_cache_len(mp), KL_CACHED);
	/* And some of the other pool's, held. */
	REQUIRE_EQ(hm_mempool_get_bulk(lost, objs, KL_HELD), 0);
	t_mp_send(t_to_parent[1], my_cache_len(mp));
	t_mp_send(t_to_parent[1], (uint64_t)hm_thread_id());
	for (;;)
		pause(); /* until the kill */
}

static void test_killed(void)
{
	struct hm_mempool *mp, *lost;
	void **objs = calloc(KL_N + 1, sizeof(void *));
	unsigned cached, slot, threads;
	pid_t pid;

	REQUIRE_NOT_NULL(objs);
	t_mp_pipes_open();
	REQUIRE_EQ(t_mp_init_as(HM_PROC_PRIMARY), 0);
	mp = hm_mempool_create("killed", KL_N, 64, KL_CACHE, 0, NULL, NULL, HM_SOCKET_ANY, 0);
	lost = hm_mempool_create("lost", 16, 64, 0, 0, NULL, NULL, HM_SOCKET_ANY, 0);
	REQUIRE_NOT_NULL(mp);
	REQUIRE_NOT_NULL(lost);
	REQUIRE_GE(hm_thread_id(), 0);
	threads = hm_thread_count();
	pid = t_fork(killed_child, NULL);
	if (!t_mp_child_attached(pid))
		goto out;
	cached = (unsigned)t_mp_recv(t_to_parent[0]);
	slot = (unsigned)t_mp_recv(t_to_parent[0]);
	CHECK_GE(cached, KL_CACHED);
	REQUIRE(slot < mp->n_slots);
	kill(pid, SIGKILL);
	CHECK(t_wait_signal(pid, SIGKILL));
	CHECK_EQ(hm_thread_count(), threads + 1); /* its slot is still taken */
	/* Stranded for now: counted as free, but in the dead thread's cache. */
	CHECK_EQ(hm_mempool_avail_count(mp), KL_N);
	CHECK_EQ(hm__load_relaxed(&mp->local[slot]->len), cached);
	CHECK_EQ(hm__pool_backend_count(pool_of(mp)), KL_N - cached);
	REQUIRE_EQ(hm_mempool_get_bulk(mp, objs, KL_N - cached), 0);
	hm_mempool_put_bulk(mp, objs, KL_N - cached);
	/* A get that finds too few reclaims the dead process's slot (its exit hook
	 * gives the cache back) and is then served: all KL_N objects. It looks at
	 * most every 100 ms, and the gets above may just have looked. */
	t_sleep_ms(150);
	hm_log_set_sink(t_count_sink, NULL);
	REQUIRE_EQ(hm_mempool_get_bulk(mp, objs, KL_N), 0);
	hm_log_set_sink(NULL, NULL);
	hm_mempool_put_bulk(mp, objs, KL_N);
	CHECK_EQ(hm_thread_count(), threads);
	CHECK_EQ(hm__load_relaxed(&mp->local[slot]->len), 0);
	CHECK_EQ(hm_mempool_avail_count(mp), KL_N);
	CHECK_EQ(hm_mempool_audit(mp), 0);
	all_back(mp, KL_N);
	CHECK_EQ(hm__threads_reclaim_dead(), 0);
	/* What it held out is lost with it: still in use, so only destroy_force frees it. */
	CHECK_EQ(hm_mempool_in_use_count(lost), KL_HELD);
	CHECK_EQ(hm_mempool_audit(lost), 0);
	hm_log_set_sink(t_count_sink, NULL);
	CHECK_EQ(hm_mempool_destroy(lost), -EBUSY);
	hm_log_set_sink(NULL, NULL);
	CHECK_EQ(hm_mempool_destroy_force(lost), 0);
	CHECK_EQ(hm_mempool_destroy(mp), 0);
out:
	hm_cleanup();
	t_mp_pipes_close();
	free(objs);
}

int main(int argc, char **argv)
{
	t_init(argc, argv);
	T_RUN(test_shared);
	T_RUN(test_rings);
	T_RUN(test_killed);
	return t_done();
}
