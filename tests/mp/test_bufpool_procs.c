/* SPDX-License-Identifier: MIT */
/*
 * test_bufpool_procs.c - buffer pools across processes (real fork; the child
 * attaches as a secondary):
 *
 *   - a pool made by the primary, found by name in the secondary, with the
 *     same shape; the secondary takes indices (one by one and in bulks),
 *     writes a pattern of the index into every word of each buffer and
 *     passes the indices back over a hm_ring of 4-byte elements; the primary
 *     reads the patterns through hm_bufpool_addr and frees the indices; the
 *     other way round, the secondary checks and frees buffers the primary
 *     wrote; a pool the secondary makes is found and used by the primary; the
 *     secondary leaves indices in its thread's cache and exits normally: the
 *     cache goes back, free_count == count - 2, and the primary's drain gets
 *     every index once; the counters hold both processes' allocs and frees;
 *   - a secondary killed with SIGKILL while its thread's cache holds indices
 *     and it holds others out: the cached ones are counted free but stranded
 *     until the primary reclaims the dead process's thread slot
 *     (hm__threads_reclaim_dead, whose exit hook flushes the cache); then
 *     free_count == count - 2 - what it held out, the drain gets exactly
 *     those, destroy is refused while the held ones are out, and once the
 *     primary frees them everything is back.
 */
#include "harness.h"
#include "internal.h"
#include "mem/mem.h"
#include <hugemem.h>
#include <hugemem/bufpool.h>
#include <hugemem/ring.h>

#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

static uint64_t word_of(uint64_t tag, uint32_t idx, size_t w)
{
	return (tag << 48 ^ (uint64_t)idx << 16 ^ w) * 0x9e3779b97f4a7c15ull;
}

/* Buffer idx of bp: every word a pattern of tag, idx and its place. */
static void stamp(struct hm_bufpool *bp, uint32_t idx, uint64_t tag)
{
	uint64_t *b = hm_bufpool_addr(bp, idx);

	for (size_t w = 0; w < bp->buf_size / 8; w++)
		b[w] = word_of(tag, idx, w);
}

static bool stamped(struct hm_bufpool *bp, uint32_t idx, uint64_t tag)
{
	const uint64_t *b = hm_bufpool_addr(bp, idx);

	for (size_t w = 0; w < bp->buf_size / 8; w++)
		if (b[w] != word_of(tag, idx, w))
			return false;
	return true;
}

/*
 * Every index of bp but the reserved ones and the n in held[] is free: the
 * calling thread's alloc hands each of the others out once, then 0; all of
 * them given back.
 */
static void all_but(struct hm_bufpool *bp, const uint32_t *held, unsigned n, int line)
{
	unsigned count = hm_bufpool_count(bp), got = 0, bad = 0;
	unsigned want = count - HM_BUFPOOL_RESERVED - n;
	uint32_t *idx = calloc(count + 1, sizeof(uint32_t)), i;
	uint8_t *seen = calloc(count, 1);

	REQUIRE_NOT_NULL(idx);
	REQUIRE_NOT_NULL(seen);
	for (unsigned k = 0; k < n; k++)
		seen[held[k]] = 1;
	if (hm_bufpool_free_count(bp) != want)
		t_fail(__FILE__, line, false, "free_count %u, want %u", hm_bufpool_free_count(bp),
		       want);
	while (got <= count && (i = hm_bufpool_alloc(bp)) != 0) {
		if (i < HM_BUFPOOL_RESERVED || i >= count || seen[i]++)
			bad++;
		idx[got++] = i;
	}
	if (got != want || bad)
		t_fail(__FILE__, line, false,
		       "drain: %u indices (want %u), %u reserved, out of range, held or twice", got,
		       want, bad);
	for (unsigned k = 0; k < got;) {
		unsigned m = HM_MIN(got - k, 64u);

		hm_bufpool_free_bulk(bp, idx + k, m);
		k += m;
	}
	free(idx);
	free(seen);
}
#define ALL_BUT(bp, held, n) all_but(bp, held, n, __LINE__)

static uint64_t info_refused(const struct hm_bufpool *bp)
{
	struct hm_bufpool_info in;

	REQUIRE_EQ(hm_bufpool_info(bp, &in), 0);
	return in.refused;
}

/* The cache of thread slot slot in bp, as any process sees it: its length (0 if none). */
static unsigned slot_cache_len(struct hm_bufpool *bp, unsigned slot)
{
	struct hm__bufpool_cache **t = (struct hm__bufpool_cache **)((char *)bp + bp->caches_off);
	struct hm__bufpool_cache *c;

	REQUIRE(slot < bp->n_slots);
	c = hm__load_acquire(&t[slot]);
	return c ? hm__load_relaxed(&c->len) : 0;
}

/* --- a pool shared by the primary and a secondary --- */

#define SH_COUNT    1024u
#define SH_SIZE     256u
#define FROM_CHILD  300u
#define FROM_PARENT 100u
#define CHILD_TAG   0xc41du
#define PARENT_TAG  0x7a7eu
#define MINE_TAG    0x3123u

static int shared_child(void *arg)
{
	struct hm_bufpool *bp, *mine;
	struct hm_ring *c2p, *p2c;
	struct hm_bufpool_info in;
	uint32_t idx[FROM_CHILD], back[FROM_PARENT], m[10];
	unsigned got = 0, bad = 0;

	(void)arg;
	if (!t_mp_child_attach(NULL))
		return T_SKIP_CODE;
	bp = hm_bufpool_lookup("shared");
	c2p = hm_ring_lookup("c2p");
	p2c = hm_ring_lookup("p2c");
	REQUIRE_NOT_NULL(bp);
	REQUIRE_NOT_NULL(c2p);
	REQUIRE_NOT_NULL(p2c);
	/* The primary's pool as the primary made it. */
	REQUIRE_EQ(hm_bufpool_info(bp, &in), 0);
	CHECK_STR_EQ(in.name, "shared");
	CHECK_EQ(in.count, SH_COUNT);
	CHECK_EQ(in.buf_size, SH_SIZE);
	CHECK_EQ(hm_bufpool_count(bp), SH_COUNT);
	CHECK_EQ(hm_bufpool_free_count(bp), SH_COUNT - HM_BUFPOOL_RESERVED - FROM_PARENT);
	CHECK_EQ(hm_bufpool_idx(bp, hm_bufpool_addr(bp, 77)), 77);
	/* The primary's buffers: read by index here, then freed. */
	CHECK_EQ(t_mp_recv(t_to_child[0]), 1);
	REQUIRE_EQ(hm_ring_dequeue_bulk_elem(p2c, back, sizeof(uint32_t), FROM_PARENT, NULL),
		   FROM_PARENT);
	for (unsigned i = 0; i < FROM_PARENT; i++)
		bad += !stamped(bp, back[i], PARENT_TAG);
	CHECK_EQ(bad, 0);
	hm_bufpool_free_bulk(bp, back, FROM_PARENT / 2);
	for (unsigned i = FROM_PARENT / 2; i < FROM_PARENT; i++)
		hm_bufpool_free(bp, back[i]);
	CHECK_EQ(hm_bufpool_free_count(bp), SH_COUNT - HM_BUFPOOL_RESERVED);
	/* Ours: taken one by one and in bulks, written, sent. */
	while (got < 20)
		idx[got++] = hm_bufpool_alloc(bp);
	while (got < FROM_CHILD) {
		unsigned k = 1 + (unsigned)t_rand_below(64);

		if (k > FROM_CHILD - got)
			k = FROM_CHILD - got;

		REQUIRE_EQ(hm_bufpool_alloc_bulk(bp, idx + got, k), k);
		got += k;
	}
	for (unsigned i = 0; i < FROM_CHILD; i++) {
		if (idx[i] < HM_BUFPOOL_RESERVED || idx[i] >= SH_COUNT)
			bad++;
		else
			stamp(bp, idx[i], CHILD_TAG);
	}
	CHECK_EQ(bad, 0);
	REQUIRE_EQ(hm_ring_enqueue_bulk_elem(c2p, idx, sizeof(uint32_t), FROM_CHILD, NULL),
		   FROM_CHILD);
	/* Leave some in this thread's cache, for the exit to give back. */
	REQUIRE_EQ(hm_bufpool_alloc_bulk(bp, m, 10), 10);
	hm_bufpool_free_bulk(bp, m, 10);
	t_mp_send(t_to_parent[1], (uint64_t)hm_thread_id());
	/* A pool of ours, for the primary to find and use. */
	mine = hm_bufpool_create("by-child", 200, 128, HM_SOCKET_ANY, 0);
	REQUIRE_NOT_NULL(mine);
	CHECK_NULL_ERRNO(hm_bufpool_create("shared", 20, 64, HM_SOCKET_ANY, 0), EEXIST);
	REQUIRE_EQ(hm_bufpool_alloc_bulk(mine, m, 10), 10);
	for (unsigned i = 0; i < 10; i++) {
		stamp(mine, m[i], MINE_TAG);
		t_mp_send(t_to_parent[1], m[i]);
	}
	CHECK_EQ(t_mp_recv(t_to_child[0]), 2);
	hm_cleanup(); /* gives this thread's caches back */
	return 0;
}

static void test_shared(void)
{
	struct hm_bufpool *bp, *mine;
	struct hm_ring *c2p, *p2c;
	struct hm_bufpool_info in;
	uint32_t idx[FROM_CHILD], out[FROM_PARENT], m[10];
	unsigned bad = 0, child_slot, cached, mine_count;
	pid_t pid;

	t_mp_pipes_open();
	REQUIRE_EQ(t_mp_init_as(HM_PROC_PRIMARY), 0);
	bp = hm_bufpool_create("shared", SH_COUNT, SH_SIZE, HM_SOCKET_ANY, 0);
	c2p = hm_ring_create_elem("c2p", sizeof(uint32_t), 512, HM_SOCKET_ANY,
				  HM_RING_SP_ENQ | HM_RING_SC_DEQ);
	p2c = hm_ring_create_elem("p2c", sizeof(uint32_t), 512, HM_SOCKET_ANY,
				  HM_RING_SP_ENQ | HM_RING_SC_DEQ);
	REQUIRE_NOT_NULL(bp);
	REQUIRE_NOT_NULL(c2p);
	REQUIRE_NOT_NULL(p2c);
	/* Ours for the secondary, written before it starts. */
	REQUIRE_EQ(hm_bufpool_alloc_bulk(bp, out, FROM_PARENT), FROM_PARENT);
	for (unsigned i = 0; i < FROM_PARENT; i++)
		stamp(bp, out[i], PARENT_TAG);
	REQUIRE_EQ(hm_ring_enqueue_bulk_elem(p2c, out, sizeof(uint32_t), FROM_PARENT, NULL),
		   FROM_PARENT);
	pid = t_fork(shared_child, NULL);
	if (!t_mp_child_attached(pid))
		goto out;
	t_mp_send(t_to_child[1], 1);
	child_slot = (unsigned)t_mp_recv(t_to_parent[0]);
	/* Its cache, seen from here, holds what it gave back last, counted free. */
	cached = slot_cache_len(bp, child_slot);
	CHECK_GE(cached, 10);
	CHECK_EQ(hm_bufpool_free_count(bp), SH_COUNT - HM_BUFPOOL_RESERVED - FROM_CHILD);
	/* The secondary's buffers, read here by index as it wrote them. */
	REQUIRE_EQ(hm_ring_dequeue_bulk_elem(c2p, idx, sizeof(uint32_t), FROM_CHILD, NULL),
		   FROM_CHILD);
	for (unsigned i = 0; i < FROM_CHILD; i++)
		bad += idx[i] < HM_BUFPOOL_RESERVED || idx[i] >= SH_COUNT ||
		       !stamped(bp, idx[i], CHILD_TAG);
	CHECK_EQ(bad, 0);
	/* Its pool (made before it sent these), found here, its buffers read here. */
	for (unsigned i = 0; i < 10; i++)
		m[i] = (uint32_t)t_mp_recv(t_to_parent[0]);
	mine = hm_bufpool_lookup("by-child");
	REQUIRE_NOT_NULL(mine);
	mine_count = hm_bufpool_count(mine);
	CHECK_GE(mine_count, 200);
	for (unsigned i = 0; i < 10; i++)
		bad += m[i] < HM_BUFPOOL_RESERVED || m[i] >= mine_count ||
		       !stamped(mine, m[i], MINE_TAG);
	CHECK_EQ(bad, 0);
	t_mp_send(t_to_child[1], 2);
	CHECK_EQ(t_wait_exit(pid), 0);
	/* The secondary is gone: its cache went back at its hm_cleanup. */
	CHECK_EQ(slot_cache_len(bp, child_slot), 0);
	CHECK_EQ(hm_bufpool_free_count(bp), SH_COUNT - HM_BUFPOOL_RESERVED - FROM_CHILD);
	hm_bufpool_free_bulk(bp, idx, FROM_CHILD / 3);
	for (unsigned i = FROM_CHILD / 3; i < FROM_CHILD; i++)
		hm_bufpool_free(bp, idx[i]);
	CHECK_EQ(hm_bufpool_free_count(bp), SH_COUNT - HM_BUFPOOL_RESERVED);
	/* Both processes' calls are counted: ours, and the secondary's (in its cache). */
	REQUIRE_EQ(hm_bufpool_info(bp, &in), 0);
	CHECK_EQ(in.allocs, FROM_PARENT + FROM_CHILD + 10);
	CHECK_EQ(in.frees, FROM_PARENT + FROM_CHILD + 10);
	CHECK_EQ(in.refused, 0);
	ALL_BUT(bp, NULL, 0);
	CHECK_EQ(hm_bufpool_destroy(bp), 0);
	/* The secondary's pool: its ten out, freed here. */
	CHECK_EQ(hm_bufpool_free_count(mine), mine_count - HM_BUFPOOL_RESERVED - 10);
	ALL_BUT(mine, m, 10);
	hm_bufpool_free_bulk(mine, m, 10);
	ALL_BUT(mine, NULL, 0);
	CHECK_EQ(hm_bufpool_destroy(mine), 0);
	CHECK_EQ(hm_ring_destroy(c2p), 0);
	CHECK_EQ(hm_ring_destroy(p2c), 0);
out:
	hm_cleanup();
	t_mp_pipes_close();
}

/* --- a secondary killed while its cache holds indices --- */

#define KL_COUNT  1024u
#define KL_CACHED 100u /* taken and freed one by one: its cache holds them and more */
#define KL_HELD   7u   /* held out when it dies */

static int killed_child(void *arg)
{
	struct hm_bufpool *bp;
	uint32_t idx[KL_CACHED];

	(void)arg;
	if (!t_mp_child_attach(NULL))
		return T_SKIP_CODE;
	bp = hm_bufpool_lookup("killed");
	REQUIRE_NOT_NULL(bp);
	for (unsigned i = 0; i < KL_HELD; i++) {
		uint32_t x = hm_bufpool_alloc(bp);

		REQUIRE_NE(x, 0);
		stamp(bp, x, CHILD_TAG);
		t_mp_send(t_to_parent[1], x);
	}
	for (unsigned i = 0; i < KL_CACHED; i++) {
		idx[i] = hm_bufpool_alloc(bp);
		REQUIRE_NE(idx[i], 0);
	}
	for (unsigned i = 0; i < KL_CACHED; i++)
		hm_bufpool_free(bp, idx[i]);
	t_mp_send(t_to_parent[1], (uint64_t)hm_thread_id());
	for (;;)
		pause(); /* until the kill */
}

static void test_killed(void)
{
	struct hm_bufpool *bp;
	uint32_t held[KL_HELD];
	unsigned slot, cached, threads, reclaimed;
	pid_t pid;

	t_mp_pipes_open();
	REQUIRE_EQ(t_mp_init_as(HM_PROC_PRIMARY), 0);
	bp = hm_bufpool_create("killed", KL_COUNT, 64, HM_SOCKET_ANY, 0);
	REQUIRE_NOT_NULL(bp);
	REQUIRE_GE(hm_thread_id(), 0);
	threads = hm_thread_count();
	pid = t_fork(killed_child, NULL);
	if (!t_mp_child_attached(pid))
		goto out;
	for (unsigned i = 0; i < KL_HELD; i++)
		held[i] = (uint32_t)t_mp_recv(t_to_parent[0]);
	slot = (unsigned)t_mp_recv(t_to_parent[0]);
	kill(pid, SIGKILL);
	CHECK(t_wait_signal(pid, SIGKILL));
	CHECK_EQ(hm_thread_count(), threads + 1); /* its slot is still taken */
	cached = slot_cache_len(bp, slot);
	CHECK_GE(cached, KL_CACHED);
	/* Counted free, but stranded in the dead thread's cache: not handed out here. */
	CHECK_EQ(hm_bufpool_free_count(bp), KL_COUNT - HM_BUFPOOL_RESERVED - KL_HELD);
	{
		uint32_t *idx = calloc(KL_COUNT, sizeof(uint32_t)), x;
		unsigned got = 0;

		REQUIRE_NOT_NULL(idx);
		while (got < KL_COUNT && (x = hm_bufpool_alloc(bp)) != 0)
			idx[got++] = x;
		CHECK_EQ(got, KL_COUNT - HM_BUFPOOL_RESERVED - KL_HELD - cached);
		hm_bufpool_free_bulk(bp, idx, got);
		free(idx);
	}
	/* The primary reclaims the dead process's slot: its exit hook flushes the cache. */
	hm_log_set_sink(t_count_sink, NULL);
	reclaimed = hm__threads_reclaim_dead();
	hm_log_set_sink(NULL, NULL);
	CHECK_GE(reclaimed, 1);
	CHECK_EQ(hm_thread_count(), threads);
	CHECK_EQ(slot_cache_len(bp, slot), 0);
	CHECK_EQ(hm_bufpool_free_count(bp), KL_COUNT - HM_BUFPOOL_RESERVED - KL_HELD);
	/* Every index but what it held out, once. */
	ALL_BUT(bp, held, KL_HELD);
	CHECK_EQ(hm__threads_reclaim_dead(), 0);
	CHECK_EQ(info_refused(bp), 0);
	/* What it held out is still out (and as it wrote it): destroy is refused. */
	for (unsigned i = 0; i < KL_HELD; i++)
		CHECK(stamped(bp, held[i], CHILD_TAG));
	hm_log_set_sink(t_count_sink, NULL);
	CHECK_EQ(hm_bufpool_destroy(bp), -EBUSY);
	hm_log_set_sink(NULL, NULL);
	/* The primary knows them: freed here, everything is back. */
	hm_bufpool_free_bulk(bp, held, KL_HELD);
	CHECK_EQ(hm_bufpool_free_count(bp), KL_COUNT - HM_BUFPOOL_RESERVED);
	ALL_BUT(bp, NULL, 0);
	CHECK_EQ(hm_bufpool_destroy(bp), 0);
out:
	hm_cleanup();
	t_mp_pipes_close();
}

int main(int argc, char **argv)
{
	t_init(argc, argv);
	T_RUN(test_shared);
	T_RUN(test_killed);
	return t_done();
}
