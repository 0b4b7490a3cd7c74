/* SPDX-License-Identifier: MIT */
/*
 * test_ring_procs.c - rings shared by a primary and a secondary process
 * (real fork; the child attaches as a secondary with the same prefix):
 *
 *   - the secondary looks the primary's rings up by name and gets them at
 *     the same address, with the same capacity and element size; then each
 *     process produces on one ring and consumes the other at the same time
 *     (a multi-producer/consumer ring of pointers one way, a single
 *     producer/consumer ring of 16-byte elements the other), every value
 *     arriving once and in order;
 *   - a ring created in the secondary is found by the primary, holds what
 *     the secondary put in it, and outlives the secondary;
 *   - a ring destroyed in the secondary is gone for the primary (lookup
 *     ENOENT, the stale pointer refused, the name free again);
 *   - a consumer process killed with SIGKILL in the middle of draining a
 *     ring (multi- and single-consumer), after reporting through a pipe what
 *     it took, leaves the ring usable: a new consumer process gets exactly
 *     the values the killed one had not taken, in order. The kill lands
 *     between two of its calls: one killed inside a call, between claiming
 *     slots and publishing them, holds up its side for good (ring.h).
 *
 * Under ThreadSanitizer a child may find the primary's addresses taken
 * (-EADDRINUSE); then that part is skipped.
 */
#include "harness.h"
#include <hugemem.h>

#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

/* ---- plumbing: two pipes between parent and child ---- */

static unsigned scaled(unsigned n)
{
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
	return n / 5;
#else
	return n;
#endif
}

/* ---- values ---- */

/* Value seq of a stream: never 0, so a NULL in the pointer ring shows. */
static void *ptr_of(uint64_t seq)
{
	return (void *)(uintptr_t)(seq * 2654435761u + 1);
}

struct elem16 {
	uint64_t seq;
	uint64_t check;
};

static uint64_t check_of(uint64_t seq)
{
	return ~seq * 0x9e3779b97f4a7c15ull;
}

/* ---- looked up at the same address; a stream each way at once ---- */

#define P2C "mp-p2c" /* primary to child: MP/MC, pointers */
#define C2P "mp-c2p" /* child to primary: SP/SC, 16-byte elements */

struct stream {
	struct hm_ring *out, *in;
	bool out_wide, in_wide; /* 16-byte elements, else pointers */
	uint64_t n;             /* values each way */
};

/*
 * Send n values on out and take n from in, with bursts of random sizes, never
 * blocking on one ring while the other could move. Returns the failures.
 */
static unsigned pump(const struct stream *s)
{
	uint64_t sent = 0, taken = 0;
	unsigned bad = 0, idle = 0;

	while ((sent < s->n || taken < s->n) && bad == 0) {
		unsigned n = 1 + (unsigned)t_rand_below(48), moved = 0;

		if (sent < s->n) {
			struct elem16 w[48];
			void *p[48];

			if (n > s->n - sent)
				n = (unsigned)(s->n - sent);
			for (unsigned i = 0; i < n; i++) {
				w[i].seq = sent + i;
				w[i].check = check_of(sent + i);
				p[i] = ptr_of(sent + i);
			}
			moved = s->out_wide ? hm_ring_enqueue_burst_elem(s->out, w, 16, n, NULL)
					    : hm_ring_enqueue_burst(s->out, p, n, NULL);
			sent += moved;
		}
		if (taken < s->n) {
			struct elem16 w[48];
			void *p[48];
			unsigned got;

			n = 1 + (unsigned)t_rand_below(48);
			got = s->in_wide ? hm_ring_dequeue_burst_elem(s->in, w, 16, n, NULL)
					 : hm_ring_dequeue_burst(s->in, p, n, NULL);
			for (unsigned i = 0; i < got; i++) {
				uint64_t seq = taken + i;

				if (s->in_wide ? w[i].seq != seq || w[i].check != check_of(seq)
					       : p[i] != ptr_of(seq)) {
					t_fail(__FILE__, __LINE__, false,
					       "value %llu of %s is not the one sent",
					       (unsigned long long)seq, hm_ring_name(s->in));
					bad++;
					break;
				}
			}
			taken += got;
			moved += got;
		}
		/* Nothing moved for a long while: the other process is gone or stuck. */
		idle = moved ? 0 : idle + 1;
		if (idle > 2000000) {
			t_fail(__FILE__, __LINE__, false,
			       "pump: stuck with %llu of %llu sent, %llu taken",
			       (unsigned long long)sent, (unsigned long long)s->n,
			       (unsigned long long)taken);
			bad++;
		}
		if (!moved)
			sched_yield();
	}
	return bad;
}

static int exchange_child(void *arg)
{
	struct hm_ring *p2c, *c2p;
	struct stream s;

	(void)arg;
	if (!t_mp_child_attach(NULL))
		return T_SKIP_CODE;
	p2c = hm_ring_lookup(P2C);
	c2p = hm_ring_lookup(C2P);
	REQUIRE_NOT_NULL(p2c);
	REQUIRE_NOT_NULL(c2p);
	/* The very rings the primary made, at the addresses it has them. */
	CHECK_PTR_EQ(p2c, t_mp_recv(t_to_child[0]));
	CHECK_PTR_EQ(c2p, t_mp_recv(t_to_child[0]));
	CHECK_STR_EQ(hm_ring_name(p2c), P2C);
	CHECK_EQ(hm_ring_capacity(p2c), 255);
	CHECK_EQ(hm_ring_esize(p2c), sizeof(void *));
	CHECK_EQ(hm_ring_capacity(c2p), 100);
	CHECK_EQ(hm_ring_esize(c2p), 16);
	/* What the primary left in p2c before we came. */
	{
		void *p[3] = {0};

		CHECK_EQ(hm_ring_count(p2c), 3);
		CHECK_EQ(hm_ring_dequeue_bulk(p2c, p, 3, NULL), 3);
		for (unsigned i = 0; i < 3; i++)
			CHECK_PTR_EQ(p[i], 0x100 + i);
	}
	CHECK_NULL_ERRNO(hm_ring_lookup("mp-none"), ENOENT);
	t_mp_send(t_to_parent[1], 1);
	s = (struct stream){.out = c2p, .in = p2c, .out_wide = true, .in_wide = false};
	s.n = t_mp_recv(t_to_child[0]);
	CHECK_EQ(pump(&s), 0);
	hm_cleanup();
	return 0;
}

static void test_exchange(void)
{
	struct hm_ring *p2c, *c2p;
	struct stream s;
	pid_t pid;
	void *p[3] = {(void *)0x100, (void *)0x101, (void *)0x102};

	t_mp_pipes_open();
	REQUIRE_EQ(t_mp_init_as(HM_PROC_PRIMARY), 0);
	p2c = hm_ring_create(P2C, 256, HM_SOCKET_ANY, 0);
	c2p = hm_ring_create_elem(C2P, 16, 100, HM_SOCKET_ANY,
				  HM_RING_SP_ENQ | HM_RING_SC_DEQ | HM_RING_EXACT_SZ);
	REQUIRE_NOT_NULL(p2c);
	REQUIRE_NOT_NULL(c2p);
	REQUIRE_EQ(hm_ring_enqueue_bulk(p2c, p, 3, NULL), 3);
	pid = t_fork(exchange_child, NULL);
	if (!t_mp_child_attached(pid))
		goto out;
	t_mp_send(t_to_child[1], (uintptr_t)p2c);
	t_mp_send(t_to_child[1], (uintptr_t)c2p);
	CHECK_EQ(t_mp_recv(t_to_parent[0]), 1);
	CHECK_EQ(hm_ring_count(p2c), 0); /* the child took them */
	s = (struct stream){.out = p2c, .in = c2p, .out_wide = false, .in_wide = true};
	s.n = scaled(2000000);
	t_mp_send(t_to_child[1], s.n);
	CHECK_EQ(pump(&s), 0);
	CHECK_EQ(t_wait_exit(pid), 0);
	CHECK(hm_ring_empty(p2c));
	CHECK(hm_ring_empty(c2p));
out:
	CHECK_EQ(hm_ring_destroy(p2c), 0);
	CHECK_EQ(hm_ring_destroy(c2p), 0);
	hm_cleanup();
	t_mp_pipes_close();
}

/* ---- created in the secondary ---- */

static void elem12(uint32_t *e, uint32_t seq)
{
	e[0] = seq;
	e[1] = ~seq;
	e[2] = seq * 7;
}

static int create_child(void *arg)
{
	struct hm_ring *r;
	uint32_t e[50][3];

	(void)arg;
	if (!t_mp_child_attach(NULL))
		return T_SKIP_CODE;
	r = hm_ring_create_elem("mp-from-child", 12, 100, HM_SOCKET_ANY, HM_RING_EXACT_SZ);
	REQUIRE_NOT_NULL(r);
	for (uint32_t i = 0; i < 50; i++)
		elem12(e[i], i);
	CHECK_EQ(hm_ring_enqueue_bulk_elem(r, e, 12, 50, NULL), 50);
	/* The primary's name space is ours: its ring's name is taken. */
	CHECK_NULL_ERRNO(hm_ring_create("mp-parents", 64, HM_SOCKET_ANY, 0), EEXIST);
	t_mp_send(t_to_parent[1], (uintptr_t)r);
	CHECK_EQ(t_mp_recv(t_to_child[0]), 1); /* the primary took 20 */
	CHECK_EQ(hm_ring_count(r), 30);
	hm_cleanup();
	return 0;
}

static void test_created_in_secondary(void)
{
	struct hm_ring *r, *mine;
	uint32_t e[50][3], want[3];
	pid_t pid;

	t_mp_pipes_open();
	REQUIRE_EQ(t_mp_init_as(HM_PROC_PRIMARY), 0);
	mine = hm_ring_create("mp-parents", 64, HM_SOCKET_ANY, 0);
	REQUIRE_NOT_NULL(mine);
	pid = t_fork(create_child, NULL);
	if (!t_mp_child_attached(pid))
		goto out;
	/* The secondary's ring, found here by name at the address it has there. */
	r = (struct hm_ring *)(uintptr_t)t_mp_recv(t_to_parent[0]);
	if (hm_ring_lookup("mp-from-child") != r) {
		t_fail(__FILE__, __LINE__, false, "the secondary's ring %p is not found here",
		       (void *)r);
		t_mp_send(t_to_child[1], 0);
		t_wait_exit(pid);
		goto out;
	}
	CHECK_STR_EQ(hm_ring_name(r), "mp-from-child");
	CHECK_EQ(hm_ring_capacity(r), 100);
	CHECK_EQ(hm_ring_esize(r), 12);
	CHECK_EQ(hm_ring_count(r), 50);
	CHECK_EQ(hm_ring_dequeue_bulk_elem(r, e, 12, 20, NULL), 20);
	for (uint32_t i = 0; i < 20; i++) {
		elem12(want, i);
		CHECK_EQ(memcmp(e[i], want, sizeof(want)), 0);
	}
	t_mp_send(t_to_child[1], 1);
	CHECK_EQ(t_wait_exit(pid), 0);
	/* The secondary is gone; its ring stays, with what it held. */
	CHECK_PTR_EQ(hm_ring_lookup("mp-from-child"), r);
	CHECK_EQ(hm_ring_count(r), 30);
	CHECK_EQ(hm_ring_dequeue_burst_elem(r, e, 12, 50, NULL), 30);
	for (uint32_t i = 0; i < 30; i++) {
		elem12(want, 20 + i);
		CHECK_EQ(memcmp(e[i], want, sizeof(want)), 0);
	}
	CHECK_EQ(hm_ring_enqueue_bulk_elem(r, e, 12, 30, NULL), 30);
	CHECK_EQ(hm_ring_destroy(r), 0);
	CHECK_NULL_ERRNO(hm_ring_lookup("mp-from-child"), ENOENT);
out:
	CHECK_EQ(hm_ring_destroy(mine), 0);
	hm_cleanup();
	t_mp_pipes_close();
}

/* ---- destroyed in the secondary ---- */

static int destroy_child(void *arg)
{
	struct hm_ring *r;

	(void)arg;
	if (!t_mp_child_attach(NULL))
		return T_SKIP_CODE;
	hm_log_set_sink(t_count_sink, NULL);
	r = hm_ring_lookup("mp-doomed");
	REQUIRE_NOT_NULL(r);
	CHECK_PTR_EQ(r, t_mp_recv(t_to_child[0]));
	CHECK_EQ(hm_ring_count(r), 5);
	CHECK_EQ(hm_ring_destroy(r), 0);
	CHECK_NULL_ERRNO(hm_ring_lookup("mp-doomed"), ENOENT);
	t_log_lines_reset();
	CHECK_EQ(hm_ring_destroy(r), -EINVAL);
	CHECK_EQ(t_log_lines(), 1);
	t_mp_send(t_to_parent[1], 1);
	hm_log_set_sink(NULL, NULL);
	hm_cleanup();
	return 0;
}

static unsigned walk_calls;

static void walk_count(struct hm_ring *r, void *arg)
{
	(void)r;
	(void)arg;
	walk_calls++;
}

static void test_destroyed_in_secondary(void)
{
	struct hm_ring *r, *again;
	void *p[5] = {0};
	pid_t pid;

	t_mp_pipes_open();
	REQUIRE_EQ(t_mp_init_as(HM_PROC_PRIMARY), 0);
	r = hm_ring_create("mp-doomed", 64, HM_SOCKET_ANY, 0);
	REQUIRE_NOT_NULL(r);
	REQUIRE_EQ(hm_ring_enqueue_bulk(r, p, 5, NULL), 5);
	pid = t_fork(destroy_child, NULL);
	if (!t_mp_child_attached(pid)) {
		CHECK_EQ(hm_ring_destroy(r), 0);
		goto out;
	}
	t_mp_send(t_to_child[1], (uintptr_t)r);
	CHECK_EQ(t_mp_recv(t_to_parent[0]), 1);
	CHECK_EQ(t_wait_exit(pid), 0);
	/* Gone here too: no lookup, no walk, the stale pointer refused. */
	CHECK_NULL_ERRNO(hm_ring_lookup("mp-doomed"), ENOENT);
	CHECK_NULL_ERRNO(hm_memzone_lookup("RG_mp-doomed"), ENOENT);
	walk_calls = 0;
	hm_ring_walk(walk_count, NULL);
	CHECK_EQ(walk_calls, 0);
	hm_log_set_sink(t_count_sink, NULL);
	t_log_lines_reset();
	CHECK_EQ(hm_ring_destroy(r), -EINVAL);
	CHECK_EQ(t_log_lines(), 1);
	hm_log_set_sink(NULL, NULL);
	/* The name is free again. */
	again = hm_ring_create("mp-doomed", 64, HM_SOCKET_ANY, 0);
	REQUIRE_NOT_NULL(again);
	CHECK_EQ(hm_ring_count(again), 0);
	CHECK_EQ(hm_ring_destroy(again), 0);
out:
	hm_cleanup();
	t_mp_pipes_close();
}

/* ---- a consumer killed in the middle ---- */

#define KILL_N     4000 /* values in the ring to drain */
#define KILL_BATCH 64

/*
 * Take batches until at least stop values are out, reporting each batch
 * through the pipe (its size, then its values), then say so and wait for the
 * kill.
 */
static int killed_consumer(void *arg)
{
	uint64_t stop = (uint64_t)(uintptr_t)arg, taken = 0;
	struct hm_ring *r;

	if (!t_mp_child_attach(NULL))
		return T_SKIP_CODE;
	r = hm_ring_lookup("mp-drained");
	REQUIRE_NOT_NULL(r);
	while (taken < stop) {
		void *p[KILL_BATCH];
		unsigned n = 1 + (unsigned)t_rand_below(KILL_BATCH);
		unsigned got = t_rand_below(2) ? hm_ring_dequeue_burst(r, p, n, NULL)
					       : hm_ring_dequeue_bulk(r, p, n, NULL);

		if (got == 0)
			continue;
		t_mp_send(t_to_parent[1], got);
		for (unsigned i = 0; i < got; i++)
			t_mp_send(t_to_parent[1], (uintptr_t)p[i]);
		taken += got;
	}
	t_mp_send(t_to_parent[1], 0); /* done: kill me */
	for (;;)
		pause();
}

/* The second consumer: drain the ring, report how many and whether they were want.. in order. */
static int new_consumer(void *arg)
{
	uint64_t next = (uint64_t)(uintptr_t)arg, got_all = 0;
	struct hm_ring *r;
	void *p[KILL_BATCH];
	unsigned got, bad = 0;

	if (!t_mp_child_attach(NULL))
		return T_SKIP_CODE;
	r = hm_ring_lookup("mp-drained");
	REQUIRE_NOT_NULL(r);
	while ((got = hm_ring_dequeue_burst(r, p, KILL_BATCH, NULL)) != 0) {
		for (unsigned i = 0; i < got; i++)
			bad += p[i] != ptr_of(next + i);
		next += got;
		got_all += got;
	}
	CHECK_EQ(bad, 0);
	CHECK(hm_ring_empty(r));
	t_mp_send(t_to_parent[1], got_all);
	hm_cleanup();
	return 0;
}

static void test_killed_consumer(void)
{
	static const unsigned flags[] = {0, HM_RING_SC_DEQ};

	for (unsigned f = 0; f < 2; f++) {
		uint64_t stop = 100 + t_rand_below(KILL_N - 200), taken = 0;
		struct hm_ring *r;
		void *p[KILL_BATCH];
		pid_t pid;

		t_mp_pipes_open();
		REQUIRE_EQ(t_mp_init_as(HM_PROC_PRIMARY), 0);
		r = hm_ring_create("mp-drained", 4096, HM_SOCKET_ANY, flags[f]);
		REQUIRE_NOT_NULL(r);
		for (uint64_t i = 0; i < KILL_N; i++)
			REQUIRE_EQ(hm_ring_enqueue(r, ptr_of(i)), 0);
		pid = t_fork(killed_consumer, (void *)(uintptr_t)stop);
		if (!t_mp_child_attached(pid))
			goto next;
		/* What it took, batch by batch: the first values, in order. */
		for (uint64_t got; (got = t_mp_recv(t_to_parent[0])) != 0;) {
			REQUIRE(got <= KILL_BATCH);
			for (uint64_t i = 0; i < got; i++)
				CHECK_PTR_EQ(t_mp_recv(t_to_parent[0]), ptr_of(taken + i));
			taken += got;
		}
		CHECK_GE(taken, stop);
		kill(pid, SIGKILL);
		CHECK(t_wait_signal(pid, SIGKILL));
		/* The rest is there, for us and for a new consumer process. */
		CHECK_EQ(hm_ring_count(r), KILL_N - taken);
		CHECK_EQ(hm_ring_free_count(r), hm_ring_capacity(r) - (KILL_N - taken));
		pid = t_fork(new_consumer, (void *)(uintptr_t)taken);
		if (!t_mp_child_attached(pid))
			goto next;
		CHECK_EQ(t_mp_recv(t_to_parent[0]), KILL_N - taken);
		CHECK_EQ(t_wait_exit(pid), 0);
		CHECK(hm_ring_empty(r));
		/* And whole: it fills and drains again from here. */
		for (unsigned i = 0; i < KILL_BATCH; i++)
			p[i] = ptr_of(i);
		CHECK_EQ(hm_ring_enqueue_bulk(r, p, KILL_BATCH, NULL), KILL_BATCH);
		CHECK_EQ(hm_ring_dequeue_bulk(r, p, KILL_BATCH, NULL), KILL_BATCH);
		for (unsigned i = 0; i < KILL_BATCH; i++)
			CHECK_PTR_EQ(p[i], ptr_of(i));
	next:
		CHECK_EQ(hm_ring_destroy(r), 0);
		hm_cleanup();
		t_mp_pipes_close();
	}
}

int main(int argc, char **argv)
{
	t_init(argc, argv);
	T_RUN(test_exchange);
	T_RUN(test_created_in_secondary);
	T_RUN(test_destroyed_in_secondary);
	T_RUN(test_killed_consumer);
	return t_done();
}
