/* SPDX-License-Identifier: MIT */
/*
 * test_slab_procs.c - slab caches and kmalloc across processes (real fork;
 * the child attaches as a secondary):
 *
 *   - a cache shared by a primary and a secondary: the secondary finds the
 *     primary's cache by name at the same address (also one created after it
 *     attached), sees its statistics, allocates objects (one by one and in a
 *     bulk), stamps them and passes the pointers over an hm_ring; the primary
 *     checks and frees them, and the other way round; hm_kmalloc in the
 *     secondary (slab classes it is the first to use, and heap blocks),
 *     hm_kfree in the primary; a cache the secondary creates is found and
 *     used by the primary; when the secondary exits normally its magazines
 *     go back, so nothing is out and every object can be allocated again;
 *   - objects flowing both ways at once through two rings, each freed by the
 *     process that did not allocate it, stamped and checked on arrival;
 *   - a secondary killed with SIGKILL while its magazines hold objects and it
 *     holds others out: once the primary reclaims the dead process's thread
 *     slot, the magazines are back (active_objs is what the dead process
 *     really held, every other object is allocatable without a new slab),
 *     and destroy is refused while the dead process's objects are out;
 *   - a forked child that has not called hm_init (so has no instance): lookup,
 *     create, kmalloc and alloc fail, and neither its allocs nor its frees
 *     reach the parent's thread magazines, which it inherited a view of.
 */
#include "harness.h"
#include "internal.h"
#include "mem/mem.h"
#include <hugemem.h>
#include <hugemem/ring.h>
#include <hugemem/slab.h>

#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_INTERVAL 1000u
#define LONG_INTERVAL    600000u

/* t_mp_init_as, with a reap interval too long to reap during a test. */
static int init_as(enum hm_proc_type type)
{
	int rc = t_mp_init_as(type);

	if (rc == 0)
		hm_slab_set_reap_interval(LONG_INTERVAL);
	return rc;
}

static void stop(void)
{
	hm_slab_set_reap_interval(DEFAULT_INTERVAL);
	hm_cleanup();
}

static struct hm_slab_stats stats(const struct hm_slab_cache *c)
{
	struct hm_slab_stats st;

	memset(&st, 0xee, sizeof(st));
	REQUIRE_EQ(hm_slab_get_stats(c, &st), 0);
	return st;
}

static int cmp_ptr(const void *a, const void *b)
{
	void *const *pa = a, *const *pb = b;
	uintptr_t x = (uintptr_t)pa[0], y = (uintptr_t)pb[0];

	return x < y ? -1 : x > y;
}

/*
 * Every object of c's slabs but held (which some process holds) can be
 * allocated here, each once, without a new slab; then they go back.
 */
static void allocatable_but(struct hm_slab_cache *c, uint64_t held)
{
	struct hm_slab_stats st = stats(c);
	uint64_t n = st.total_objs - held, grown = st.slabs_grown;
	void **objs;
	unsigned dup = 0;

	CHECK_EQ(st.active_objs, held);
	CHECK_EQ(hm_slab_audit(c), 0);
	REQUIRE(st.total_objs >= held && n < (1u << 24));
	objs = calloc(n + 1, sizeof(void *));
	REQUIRE_NOT_NULL(objs);
	for (uint64_t i = 0; i < n; i++)
		REQUIRE_NOT_NULL(objs[i] = hm_slab_alloc(c));
	st = stats(c);
	CHECK_EQ(st.slabs_grown, grown);
	CHECK_EQ(st.active_objs, n + held);
	qsort(objs, n, sizeof(void *), cmp_ptr);
	for (uint64_t i = 1; i < n; i++)
		dup += objs[i] == objs[i - 1];
	CHECK_EQ(dup, 0);
	hm_slab_free_bulk(c, objs, (unsigned)n);
	CHECK_EQ(stats(c).active_objs, held);
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

/* Send n pointers over r (waiting for room); receive them, waiting up to 20 s. */
static void ring_send(struct hm_ring *r, void *const *objs, unsigned n)
{
	for (unsigned i = 0; i < n;) {
		unsigned k = hm_ring_enqueue_burst(r, objs + i, n - i, NULL);

		i += k;
		if (!k)
			sched_yield();
	}
}

static bool ring_recv(struct hm_ring *r, void **objs, unsigned n)
{
	time_t end = time(NULL) + 20;

	for (unsigned i = 0; i < n;) {
		unsigned k = hm_ring_dequeue_burst(r, objs + i, n - i, NULL);

		i += k;
		if (!k) {
			if (time(NULL) > end)
				return false;
			sched_yield();
		}
	}
	return true;
}

/* --- a cache shared by the primary and a secondary --- */

#define SH_SIZE     136
#define FROM_CHILD  300
#define FROM_PARENT 200
#define K_BLOCKS    40

static size_t k_size(unsigned i)
{
	/* Slab classes (some only the secondary uses) and, every eighth, a heap block. */
	return i % 8 == 7 ? 150000 + i * 1000 : 24 + (size_t)i * 97;
}

static int shared_child(void *arg)
{
	struct hm_slab_cache *c, *late, *mine;
	struct hm_ring *c2p, *p2c;
	struct hm_slab_stats st;
	void *objs[FROM_CHILD > K_BLOCKS ? FROM_CHILD : K_BLOCKS];
	unsigned bad = 0;

	(void)arg;
	if (!t_mp_child_attach(init_as))
		return T_SKIP_CODE;
	/* The primary's cache, by name, at the primary's address. */
	c = hm_slab_lookup("shared");
	REQUIRE_NOT_NULL(c);
	CHECK_PTR_EQ(c, (void *)(uintptr_t)t_mp_recv(t_to_child[0]));
	c2p = hm_ring_lookup("c2p");
	p2c = hm_ring_lookup("p2c");
	REQUIRE_NOT_NULL(c2p);
	REQUIRE_NOT_NULL(p2c);
	st = stats(c);
	CHECK_STR_EQ(st.name, "shared");
	CHECK_EQ(st.obj_size, SH_SIZE);
	CHECK_EQ(st.active_objs, 10); /* the primary holds ten */
	CHECK_EQ(hm_slab_audit(c), 0);
	/* Ours, stamped and handed to the primary. */
	for (unsigned i = 0; i < FROM_CHILD / 2; i++)
		REQUIRE_NOT_NULL(objs[i] = hm_slab_alloc(c));
	REQUIRE_EQ(hm_slab_alloc_bulk(c, objs + FROM_CHILD / 2, FROM_CHILD - FROM_CHILD / 2),
		   FROM_CHILD - FROM_CHILD / 2);
	for (unsigned i = 0; i < FROM_CHILD; i++) {
		if (!hm__slab_mine(c, objs[i]))
			bad++;
		stamp(objs[i], SH_SIZE, 1000 + i);
	}
	CHECK_EQ(bad, 0);
	CHECK_EQ(stats(c).active_objs, 10 + FROM_CHILD);
	ring_send(c2p, objs, FROM_CHILD);
	CHECK_EQ(t_mp_recv(t_to_child[0]), 1); /* the primary freed them */
	CHECK_EQ(stats(c).active_objs, 10);
	t_mp_send(t_to_parent[1], 1);
	/* The primary's, checked and freed here. */
	REQUIRE(ring_recv(p2c, objs, FROM_PARENT));
	for (unsigned i = 0; i < FROM_PARENT; i++) {
		if (!hm__slab_mine(c, objs[i]) || !stamped(objs[i], SH_SIZE, 2000 + i))
			bad++;
		if (i % 2)
			hm_slab_free(c, objs[i]);
	}
	for (unsigned i = 0; i < FROM_PARENT; i += 2)
		hm_slab_free_bulk(c, objs + i, 1);
	CHECK_EQ(bad, 0);
	CHECK_EQ(stats(c).active_objs, 10);
	CHECK_EQ(stats(c).errors, 0);
	/* kmalloc here, kfree there. */
	for (unsigned i = 0; i < K_BLOCKS; i++) {
		size_t n = k_size(i);

		REQUIRE_NOT_NULL(objs[i] = hm_kmalloc(n));
		CHECK_GE(hm_ksize(objs[i]), n);
		stamp(objs[i], n, 3000 + i);
	}
	ring_send(c2p, objs, K_BLOCKS);
	/* A cache created by the primary after we attached. */
	CHECK_EQ(t_mp_recv(t_to_child[0]), 2);
	late = hm_slab_lookup("late");
	REQUIRE_NOT_NULL(late);
	CHECK_PTR_EQ(late, (void *)(uintptr_t)t_mp_recv(t_to_child[0]));
	REQUIRE_EQ(hm_slab_alloc_bulk(late, objs, 5), 5);
	for (unsigned i = 0; i < 5; i++)
		stamp(objs[i], 64, 4000 + i);
	hm_slab_free_bulk(late, objs, 5);
	CHECK_EQ(stats(late).active_objs, 0);
	/* A cache of ours, for the primary to find. */
	mine = hm_slab_create("by-child", 72, 0, 0, NULL, NULL, NULL);
	REQUIRE_NOT_NULL(mine);
	CHECK_NULL_ERRNO(hm_slab_create("shared", 72, 0, 0, NULL, NULL, NULL), EEXIST);
	REQUIRE_NOT_NULL(objs[0] = hm_slab_alloc(mine));
	stamp(objs[0], 72, 5000);
	t_mp_send(t_to_parent[1], (uintptr_t)mine);
	t_mp_send(t_to_parent[1], (uintptr_t)objs[0]);
	/* Some in our magazines, for the exit to give back. */
	for (unsigned i = 0; i < 50; i++)
		REQUIRE_NOT_NULL(objs[i] = hm_slab_alloc(c));
	for (unsigned i = 0; i < 50; i++)
		hm_slab_free(c, objs[i]);
	CHECK_EQ(t_mp_recv(t_to_child[0]), 3);
	stop(); /* gives our magazines back */
	return 0;
}

static void test_shared(void)
{
	struct hm_slab_cache *c, *late, *mine;
	struct hm_ring *c2p, *p2c;
	void *objs[FROM_CHILD], *held[10], *theirs;
	unsigned bad = 0;
	pid_t pid;

	t_mp_pipes_open();
	REQUIRE_EQ(init_as(HM_PROC_PRIMARY), 0);
	c = hm_slab_create("shared", SH_SIZE, 0, 0, NULL, NULL, NULL);
	REQUIRE_NOT_NULL(c);
	c2p = hm_ring_create("c2p", 1024, HM_SOCKET_ANY, HM_RING_SP_ENQ | HM_RING_SC_DEQ);
	p2c = hm_ring_create("p2c", 1024, HM_SOCKET_ANY, HM_RING_SP_ENQ | HM_RING_SC_DEQ);
	REQUIRE_NOT_NULL(c2p);
	REQUIRE_NOT_NULL(p2c);
	for (unsigned i = 0; i < 10; i++)
		REQUIRE_NOT_NULL(held[i] = hm_slab_alloc(c));
	pid = t_fork(shared_child, NULL);
	if (!t_mp_child_attached(pid))
		goto out;
	t_mp_send(t_to_child[1], (uintptr_t)c);
	/* The secondary's objects: at the same addresses here, as it wrote them. */
	REQUIRE(ring_recv(c2p, objs, FROM_CHILD));
	for (unsigned i = 0; i < FROM_CHILD; i++)
		if (!hm__slab_mine(c, objs[i]) || !stamped(objs[i], SH_SIZE, 1000 + i))
			bad++;
	CHECK_EQ(bad, 0);
	CHECK_EQ(stats(c).active_objs, 10 + FROM_CHILD);
	hm_slab_free_bulk(c, objs, FROM_CHILD / 2);
	for (unsigned i = FROM_CHILD / 2; i < FROM_CHILD; i++)
		hm_slab_free(c, objs[i]);
	CHECK_EQ(stats(c).active_objs, 10);
	CHECK_EQ(stats(c).errors, 0);
	t_mp_send(t_to_child[1], 1);
	CHECK_EQ(t_mp_recv(t_to_parent[0]), 1); /* it saw them freed */
	/* Ours, for the secondary to check and free. */
	for (unsigned i = 0; i < FROM_PARENT; i++) {
		REQUIRE_NOT_NULL(objs[i] = hm_slab_alloc(c));
		stamp(objs[i], SH_SIZE, 2000 + i);
	}
	ring_send(p2c, objs, FROM_PARENT);
	/* The secondary's kmalloc blocks, freed here. */
	REQUIRE(ring_recv(c2p, objs, K_BLOCKS));
	for (unsigned i = 0; i < K_BLOCKS; i++) {
		if (hm_ksize(objs[i]) < k_size(i) || !stamped(objs[i], k_size(i), 3000 + i))
			bad++;
		hm_kfree(objs[i]);
	}
	CHECK_EQ(bad, 0);
	/* The classes it made are found here, and empty now. */
	for (unsigned i = 0; i < K_BLOCKS; i++) {
		char name[32];
		struct hm_slab_cache *k;
		size_t n = k_size(i);

		void *p;

		if (n > HM_KMALLOC_MAX)
			continue;
		REQUIRE_NOT_NULL(p = hm_kmalloc(n)); /* the class the secondary made */
		snprintf(name, sizeof(name), "kmalloc-%zu", hm_ksize(p));
		k = hm_slab_lookup(name);
		if (!k || !hm__slab_mine(k, p))
			bad++;
		hm_kfree(p);
		if (k) {
			CHECK_EQ(stats(k).active_objs, 0);
			CHECK_EQ(stats(k).errors, 0);
		}
	}
	CHECK_EQ(bad, 0);
	/* A cache created now, after the secondary attached. */
	late = hm_slab_create("late", 64, 0, HM_SLAB_F_NO_MAGAZINES, NULL, NULL, NULL);
	REQUIRE_NOT_NULL(late);
	t_mp_send(t_to_child[1], 2);
	t_mp_send(t_to_child[1], (uintptr_t)late);
	/* The secondary's cache, found here by name, with its object. */
	mine = (struct hm_slab_cache *)(uintptr_t)t_mp_recv(t_to_parent[0]);
	theirs = (void *)(uintptr_t)t_mp_recv(t_to_parent[0]);
	CHECK_PTR_EQ(hm_slab_lookup("by-child"), mine);
	CHECK(hm__slab_mine(mine, theirs));
	CHECK(stamped(theirs, 72, 5000));
	CHECK_EQ(stats(mine).active_objs, 1);
	t_mp_send(t_to_child[1], 3);
	CHECK_EQ(t_wait_exit(pid), 0);
	/* The secondary is gone, its magazines given back at its hm_cleanup. */
	CHECK_EQ(stats(c).active_objs, 10);
	CHECK_EQ(stats(c).allocs, 10 + FROM_CHILD + FROM_PARENT + 50);
	CHECK_EQ(stats(c).frees, FROM_CHILD + FROM_PARENT + 50);
	allocatable_but(c, 10);
	for (unsigned i = 0; i < 10; i++)
		hm_slab_free(c, held[i]);
	allocatable_but(c, 0);
	allocatable_but(late, 0);
	hm_slab_free(mine, theirs);
	allocatable_but(mine, 0);
	CHECK_EQ(hm_slab_destroy(mine), 0);
	CHECK_EQ(hm_slab_destroy(late), 0);
	CHECK_EQ(hm_slab_destroy(c), 0);
	{
		struct hm_malloc_type_stats ts;

		if (hm_malloc_get_type_stats("kmalloc", &ts) == 0)
			CHECK_EQ(ts.live_blocks, 0);
	}
out:
	stop();
	t_mp_pipes_close();
}

/* --- objects both ways through two rings --- */

#define RB_SIZE 64
#define P_TAG   UINT64_C(0x7a7e000000000000)
#define C_TAG   UINT64_C(0xc41d000000000000)

static unsigned rb_count(void)
{
	return (unsigned)(30000 * t_scale(0.2, 0.2)) + 100;
}

/*
 * Send count objects of c (or kmalloc blocks, every fourth) over out,
 * stamped with tag and a sequence; take count from in (stamped with
 * other_tag), checking and freeing each. Returns the failures seen.
 */
static unsigned both_ways(struct hm_slab_cache *c, struct hm_ring *out, struct hm_ring *in,
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
			if (hm_ring_free_count(out) >= k) {
				for (unsigned i = 0; i < k; i++) {
					uint64_t seq = sent + i;
					uint64_t *w = seq % 4 == 3 ? hm_kmalloc(RB_SIZE)
								   : hm_slab_alloc(c);

					if (!w) {
						bad++;
						k = i;
						break;
					}
					w[0] = tag | seq;
					stamp(w + 1, RB_SIZE - 8, w[0]);
					objs[i] = w;
				}
				if (hm_ring_enqueue_bulk(out, objs, k, NULL) != k)
					bad++; /* one producer: the room cannot shrink */
				sent += k;
			}
		}
		k = hm_ring_dequeue_burst(in, objs, 32, NULL);
		for (unsigned i = 0; i < k; i++) {
			uint64_t *w = objs[i];

			if (w[0] != (other_tag | next) || !stamped(w + 1, RB_SIZE - 8, w[0]))
				bad++;
			w[0] = 0;
			if (next % 4 == 3) {
				hm_kfree(w);
			} else if (!hm__slab_mine(c, w)) {
				bad++;
			} else {
				hm_slab_free(c, w);
			}
			next++;
		}
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
	struct hm_slab_cache *c;
	struct hm_ring *p2c, *c2p;

	(void)arg;
	if (!t_mp_child_attach(init_as))
		return T_SKIP_CODE;
	c = hm_slab_lookup("rb");
	p2c = hm_ring_lookup("p2c");
	c2p = hm_ring_lookup("c2p");
	REQUIRE_NOT_NULL(c);
	REQUIRE_NOT_NULL(p2c);
	REQUIRE_NOT_NULL(c2p);
	CHECK_EQ(t_mp_recv(t_to_child[0]), 1); /* go */
	CHECK_EQ(both_ways(c, c2p, p2c, C_TAG, P_TAG, rb_count()), 0);
	/* No audit here: the primary may still be allocating and freeing. */
	stop();
	return 0;
}

static void test_rings(void)
{
	struct hm_slab_cache *c;
	struct hm_ring *p2c, *c2p;
	struct hm_slab_stats st;
	pid_t pid;

	t_mp_pipes_open();
	REQUIRE_EQ(init_as(HM_PROC_PRIMARY), 0);
	c = hm_slab_create("rb", RB_SIZE, 0, 0, NULL, NULL, NULL);
	p2c = hm_ring_create("p2c", 256, HM_SOCKET_ANY, HM_RING_SP_ENQ | HM_RING_SC_DEQ);
	c2p = hm_ring_create("c2p", 256, HM_SOCKET_ANY, HM_RING_SP_ENQ | HM_RING_SC_DEQ);
	REQUIRE_NOT_NULL(c);
	REQUIRE_NOT_NULL(p2c);
	REQUIRE_NOT_NULL(c2p);
	pid = t_fork(rings_child, NULL);
	if (!t_mp_child_attached(pid))
		goto out;
	t_mp_send(t_to_child[1], 1);
	CHECK_EQ(both_ways(c, p2c, c2p, P_TAG, C_TAG, rb_count()), 0);
	CHECK_EQ(t_wait_exit(pid), 0);
	CHECK_EQ(hm_ring_count(p2c), 0);
	CHECK_EQ(hm_ring_count(c2p), 0);
	/* Both processes' calls are in the cache's statistics. */
	st = stats(c);
	CHECK_EQ(st.allocs, st.frees);
	CHECK_GE(st.allocs, 2 * (uint64_t)(rb_count() * 3 / 4));
	CHECK_EQ(st.errors, 0);
	allocatable_but(c, 0);
	{
		struct hm_slab_cache *k = hm_slab_lookup("kmalloc-64");

		REQUIRE_NOT_NULL(k);
		CHECK_EQ(stats(k).active_objs, 0);
		CHECK_EQ(stats(k).allocs, stats(k).frees);
		CHECK_EQ(stats(k).errors, 0);
		CHECK_EQ(hm_slab_audit(k), 0);
	}
	CHECK_EQ(hm_ring_destroy(p2c), 0);
	CHECK_EQ(hm_ring_destroy(c2p), 0);
	CHECK_EQ(hm_slab_destroy(c), 0);
out:
	stop();
	t_mp_pipes_close();
}

/* --- a secondary killed while its magazines hold objects --- */

#define KL_CACHED 100 /* objects left in the dead thread's magazines */
#define KL_HELD   7   /* objects the dead process held out, of each cache */
#define KL_KSIZE  200

static int killed_child(void *arg)
{
	struct hm_slab_cache *c, *lost, *k;
	void *objs[KL_CACHED], *kheld[KL_HELD];

	(void)arg;
	if (!t_mp_child_attach(init_as))
		return T_SKIP_CODE;
	c = hm_slab_lookup("killed");
	lost = hm_slab_lookup("lost");
	REQUIRE_NOT_NULL(c);
	REQUIRE_NOT_NULL(lost);
	/* Allocated one by one and freed: the magazines hold them. */
	for (unsigned i = 0; i < KL_CACHED; i++)
		REQUIRE_NOT_NULL(objs[i] = hm_slab_alloc(c));
	for (unsigned i = 0; i < KL_CACHED; i++)
		hm_slab_free(c, objs[i]);
	/* And some held out, of both caches and of kmalloc (the same for a class). */
	for (unsigned i = 0; i < KL_HELD; i++) {
		REQUIRE_NOT_NULL(hm_slab_alloc(c));
		REQUIRE_NOT_NULL(hm_slab_alloc(lost));
		REQUIRE_NOT_NULL(kheld[i] = hm_kmalloc(KL_KSIZE));
	}
	/* The general class's magazines hold some too. */
	for (unsigned i = 0; i < KL_CACHED; i++)
		REQUIRE_NOT_NULL(objs[i] = hm_kmalloc(KL_KSIZE));
	for (unsigned i = 0; i < KL_CACHED; i++)
		hm_kfree(objs[i]);
	k = hm_slab_lookup("kmalloc-224");
	REQUIRE_NOT_NULL(k);
	CHECK_EQ(stats(c).active_objs, KL_HELD);
	CHECK_EQ(stats(k).active_objs, KL_HELD);
	t_mp_send(t_to_parent[1], (uint64_t)hm_thread_id());
	for (;;)
		pause(); /* until the kill */
}

static void test_killed(void)
{
	struct hm_slab_cache *c, *lost, *k;
	struct hm_slab_stats before;
	unsigned threads, reclaimed;
	pid_t pid;

	t_mp_pipes_open();
	REQUIRE_EQ(init_as(HM_PROC_PRIMARY), 0);
	c = hm_slab_create("killed", 64, 0, 0, NULL, NULL, NULL);
	lost = hm_slab_create("lost", 64, 0, HM_SLAB_F_NO_MAGAZINES, NULL, NULL, NULL);
	REQUIRE_NOT_NULL(c);
	REQUIRE_NOT_NULL(lost);
	REQUIRE_GE(hm_thread_id(), 0);
	threads = hm_thread_count();
	pid = t_fork(killed_child, NULL);
	if (!t_mp_child_attached(pid))
		goto out;
	(void)t_mp_recv(t_to_parent[0]); /* its slot: it is ready */
	kill(pid, SIGKILL);
	CHECK(t_wait_signal(pid, SIGKILL));
	CHECK_EQ(hm_thread_count(), threads + 1); /* its slot is still taken */
	before = stats(c);
	CHECK_EQ(before.total_objs, before.total_slabs * before.objs_per_slab);
	k = hm_slab_lookup("kmalloc-224");
	REQUIRE_NOT_NULL(k);
	/* The primary reclaims the dead process's slot: its magazines come back. */
	hm_log_set_sink(t_count_sink, NULL);
	reclaimed = hm__threads_reclaim_dead();
	hm_log_set_sink(NULL, NULL);
	CHECK_LE(reclaimed, 1);
	CHECK_EQ(hm_thread_count(), threads);
	CHECK_EQ(hm__threads_reclaim_dead(), 0);
	/* Nothing stranded: out is what the dead process held, the rest allocatable. */
	allocatable_but(c, KL_HELD);
	allocatable_but(lost, KL_HELD);
	allocatable_but(k, KL_HELD);
	CHECK_EQ(stats(c).errors, 0);
	CHECK_EQ(stats(k).errors, 0);
	/* What it held out is lost with it: still out, so destroy is refused. */
	hm_log_set_sink(t_count_sink, NULL);
	t_log_lines_reset();
	CHECK_EQ(hm_slab_destroy(lost), -EBUSY);
	CHECK_EQ(t_log_lines(), 1);
	hm_log_set_sink(NULL, NULL);
	CHECK_EQ(hm_slab_audit(lost), 0);
	CHECK_EQ(hm_slab_audit(c), 0);
out:
	stop();
	t_mp_pipes_close();
}

/* --- a forked child that has not called hm_init --- */

struct forked {
	struct hm_slab_cache *c;
	void *obj, *kobj; /* the parent's */
};

static int uninit_child(void *arg)
{
	struct forked *f = arg;
	void *objs[4] = {NULL};
	int e;

	/* Nothing of the parent's instance is usable before our own init. */
	CHECK(!hm_initialized());
	CHECK_NULL_ERRNO(hm_slab_lookup("forked"), ENXIO);
	CHECK_NULL_ERRNO(hm_slab_create("forked2", 64, 0, 0, NULL, NULL, NULL), ENXIO);
	CHECK_NULL_ERRNO(hm_kmalloc(64), ENXIO);
	CHECK_NULL_ERRNO(hm_kzalloc(64), ENXIO);
	errno = 0;
	CHECK_NULL(hm_slab_alloc(f->c));
	e = errno;
	CHECK(e == ENXIO || e == EINVAL);
	CHECK_EQ(hm_slab_alloc_bulk(f->c, objs, 4), 0);
	CHECK_NULL(objs[0]);
	/* Frees must not reach the parent's magazines either. */
	hm_log_set_sink(t_count_sink, NULL);
	hm_slab_free(f->c, f->obj);
	hm_kfree(f->kobj);
	hm_log_set_sink(NULL, NULL);
	CHECK_EQ(hm_ksize(f->kobj), 0);
	return 0;
}

static void test_fork_before_init(void)
{
	struct forked f;
	struct hm_slab_cache *k;
	struct hm__slab_local *l, *kl;
	struct hm_slab_stats st, kst;
	uint32_t rounds, krounds;

	REQUIRE_EQ(init_as(HM_PROC_PRIMARY), 0);
	f.c = hm_slab_create("forked", 64, 0, 0, NULL, NULL, NULL);
	REQUIRE_NOT_NULL(f.c);
	/* This thread's magazines are loaded: a slot, a cached kmalloc class. */
	REQUIRE_NOT_NULL(f.obj = hm_slab_alloc(f.c));
	REQUIRE_NOT_NULL(f.kobj = hm_kmalloc(64));
	k = hm_slab_lookup("kmalloc-64");
	REQUIRE_NOT_NULL(k);
	l = hm__slab_local_of(f.c);
	kl = hm__slab_local_of(k);
	rounds = l ? l->rounds : 0;
	krounds = kl ? kl->rounds : 0;
	st = stats(f.c);
	kst = stats(k);
	CHECK_EQ(t_wait_exit(t_fork(uninit_child, &f)), 0);
	/* The child took nothing from, and gave nothing to, this thread's magazines. */
	CHECK_EQ(l ? l->rounds : 0, rounds);
	CHECK_EQ(kl ? kl->rounds : 0, krounds);
	CHECK_EQ(stats(f.c).allocs, st.allocs);
	CHECK_EQ(stats(f.c).frees, st.frees);
	CHECK_EQ(stats(f.c).active_objs, 1);
	CHECK_EQ(stats(k).allocs, kst.allocs);
	CHECK_EQ(stats(k).active_objs, kst.active_objs);
	CHECK_EQ(hm_ksize(f.kobj), 64);
	/* Ours are still ours: every other object comes out, and not these. */
	allocatable_but(f.c, 1);
	hm_slab_free(f.c, f.obj);
	hm_kfree(f.kobj);
	allocatable_but(f.c, 0);
	CHECK_EQ(hm_slab_destroy(f.c), 0);
	stop();
}

int main(int argc, char **argv)
{
	t_init(argc, argv);
	T_RUN(test_shared);
	T_RUN(test_rings);
	T_RUN(test_killed);
	T_RUN(test_fork_before_init);
	return t_done();
}
