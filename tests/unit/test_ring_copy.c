/* SPDX-License-Identifier: MIT */
/*
 * test_ring_copy.c - the copy paths of the inline ring calls (hugemem/ring.h):
 * pointers moved one at a time, in fours and in the remainder, across the
 * end of the slot array at every position, with the single, bulk and burst
 * calls on SP/SC and MP/MC rings; elements of 4, 8, 12 and 16 bytes the same
 * way; and the pointer calls on a ring of elements that are not
 * pointer-sized, which move nothing. One thread: what two threads do is the
 * business of the mt tests.
 */
#include "harness.h"
#include <hugemem.h>

#define MIB   ((size_t)1 << 20)
#define SLOTS 16u /* capacity 15: every wrap position of small bulks */
#define N_MAX 40u /* above the capacity, for bursts */

static void start(void)
{
	struct hm_config c;

	hm_config_defaults(&c);
	c.no_huge = true;
	c.memory_limit = 64 * MIB;
	REQUIRE_EQ(hm_init(&c), 0);
}

/* Put the ring's heads and tails at slot off, empty, with the single calls. */
static void move_to(struct hm_ring *r, unsigned off)
{
	void *obj = NULL;

	hm_ring_reset(r);
	for (unsigned i = 0; i < off; i++) {
		CHECK_EQ(hm_ring_enqueue(r, (void *)(uintptr_t)(i + 1)), 0);
		CHECK_EQ(hm_ring_dequeue(r, &obj), 0);
		CHECK_PTR_EQ(obj, i + 1);
	}
	CHECK_EQ(hm_ring_count(r), 0);
}

static void ptrs_at_every_wrap(unsigned flags)
{
	struct hm_ring *r = hm_ring_create("copy", SLOTS, HM_SOCKET_ANY, flags);
	void *in[N_MAX], *out[N_MAX], *obj = NULL;
	uintptr_t next = 1000;
	unsigned left = 0, off, n, i;

	REQUIRE_NOT_NULL(r);
	for (off = 0; off < SLOTS; off++) {
		/* Bulk: every n that fits, in and out. */
		for (n = 1; n < SLOTS; n++) {
			move_to(r, off);
			for (i = 0; i < n; i++)
				in[i] = (void *)next++;
			memset(out, 0, sizeof(out));
			CHECK_EQ(hm_ring_enqueue_bulk(r, in, n, &left), n);
			CHECK_EQ(left, SLOTS - 1 - n);
			CHECK_EQ(hm_ring_dequeue_bulk(r, out, n, &left), n);
			CHECK_EQ(left, 0);
			CHECK(memcmp(in, out, n * sizeof(void *)) == 0);
			CHECK_PTR_EQ(out[n], NULL);
		}
		/* Burst: more than fits goes in as far as it fits, and comes out in order. */
		move_to(r, off);
		for (i = 0; i < N_MAX; i++)
			in[i] = (void *)next++;
		memset(out, 0, sizeof(out));
		CHECK_EQ(hm_ring_enqueue_bulk(r, in, SLOTS, NULL), 0);
		CHECK_EQ(hm_ring_enqueue_burst(r, in, N_MAX, &left), SLOTS - 1);
		CHECK_EQ(left, 0);
		CHECK_EQ(hm_ring_enqueue(r, in[0]), -ENOBUFS);
		CHECK_EQ(hm_ring_dequeue_burst(r, out, N_MAX, &left), SLOTS - 1);
		CHECK_EQ(left, 0);
		CHECK(memcmp(in, out, (SLOTS - 1) * sizeof(void *)) == 0);
		CHECK_PTR_EQ(out[SLOTS - 1], NULL);
		CHECK_EQ(hm_ring_dequeue(r, &obj), -ENOENT);
		CHECK_EQ(hm_ring_dequeue_bulk(r, out, 1, NULL), 0);
		/* Single objects mixed with a bulk that wraps. */
		move_to(r, off);
		CHECK_EQ(hm_ring_enqueue(r, (void *)(uintptr_t)7), 0);
		for (i = 0; i < 9; i++)
			in[i] = (void *)next++;
		CHECK_EQ(hm_ring_enqueue_bulk(r, in, 9, NULL), 9);
		CHECK_EQ(hm_ring_dequeue(r, &obj), 0);
		CHECK_PTR_EQ(obj, 7);
		CHECK_EQ(hm_ring_dequeue_bulk(r, out, 9, NULL), 9);
		CHECK(memcmp(in, out, 9 * sizeof(void *)) == 0);
	}
	CHECK_EQ(hm_ring_destroy(r), 0);
}

static void test_ptrs_spsc(void)
{
	ptrs_at_every_wrap(HM_RING_SP_ENQ | HM_RING_SC_DEQ);
}

static void test_ptrs_mpmc(void)
{
	ptrs_at_every_wrap(0);
}

/* Bulks of 128 (thirty-two fours) across the end of a ring of 4096. */
static void test_ptrs_large(void)
{
	static void *in[128], *out[128];
	struct hm_ring *r = hm_ring_create("large", 4096, HM_SOCKET_ANY, 0);
	uintptr_t next = 1;
	unsigned k, i;

	REQUIRE_NOT_NULL(r);
	for (k = 0; k < 3 * 4096 / 128 + 5; k++) {
		unsigned n = k % 2 ? 128 : 127; /* 127: the remainder loop too */

		for (i = 0; i < n; i++)
			in[i] = (void *)next++;
		CHECK_EQ(hm_ring_enqueue_bulk(r, in, n, NULL), n);
		CHECK_EQ(hm_ring_dequeue_bulk(r, out, n, NULL), n);
		CHECK(memcmp(in, out, n * sizeof(void *)) == 0);
	}
	CHECK_EQ(hm_ring_destroy(r), 0);
}

/* Elements of esize bytes, byte patterns, at every wrap position. */
static void elems_at_every_wrap(unsigned esize)
{
	unsigned char in[N_MAX * 16], out[N_MAX * 16 + 16];
	struct hm_ring *r = hm_ring_create_elem("elems", esize, SLOTS, HM_SOCKET_ANY, 0);
	unsigned char next = 1;
	unsigned off, n, i, k;

	REQUIRE_NOT_NULL(r);
	for (off = 0; off < SLOTS; off++)
		for (n = 1; n < SLOTS; n++) {
			hm_ring_reset(r);
			for (k = 0; k < off; k++) {
				CHECK_EQ(hm_ring_enqueue_bulk_elem(r, in, esize, 1, NULL), 1);
				CHECK_EQ(hm_ring_dequeue_bulk_elem(r, out, esize, 1, NULL), 1);
			}
			for (i = 0; i < n * esize; i++)
				in[i] = next++;
			memset(out, 0, sizeof(out));
			CHECK_EQ(hm_ring_enqueue_burst_elem(r, in, esize, n, NULL), n);
			CHECK_EQ(hm_ring_dequeue_bulk_elem(r, out, esize, n, NULL), n);
			CHECK(memcmp(in, out, n * esize) == 0);
			CHECK_EQ(out[n * esize], 0);
		}
	/* The wrong size moves nothing. */
	CHECK_EQ(hm_ring_enqueue_bulk_elem(r, in, esize + 4, 1, NULL), 0);
	CHECK_EQ(hm_ring_count(r), 0);
	CHECK_EQ(hm_ring_destroy(r), 0);
}

static void test_elems(void)
{
	elems_at_every_wrap(4);
	elems_at_every_wrap(8);
	elems_at_every_wrap(12);
	elems_at_every_wrap(16);
}

/*
 * The pointer calls move nothing on a ring of 16-byte elements (they used to
 * copy 16 bytes per object, past the end of a single object), and work on a
 * ring of 8-byte elements.
 */
static void test_ptr_calls_on_elem_rings(void)
{
	struct hm_ring *r16 = hm_ring_create_elem("e16", 16, SLOTS, HM_SOCKET_ANY, 0);
	struct hm_ring *r8 = hm_ring_create_elem("e8", 8, SLOTS, HM_SOCKET_ANY, 0);
	void *objs[4] = {(void *)1, (void *)2, (void *)3, (void *)4}, *obj = NULL;
	unsigned left = 99;

	REQUIRE_NOT_NULL(r16);
	REQUIRE_NOT_NULL(r8);
	CHECK_EQ(hm_ring_enqueue_bulk(r16, objs, 2, &left), 0);
	CHECK_EQ(left, 99);
	CHECK_EQ(hm_ring_enqueue_burst(r16, objs, 2, NULL), 0);
	CHECK_EQ(hm_ring_enqueue(r16, objs[0]), -ENOBUFS);
	CHECK_EQ(hm_ring_count(r16), 0);
	CHECK_EQ(hm_ring_enqueue_bulk_elem(r16, objs, 16, 2, NULL), 2);
	CHECK_EQ(hm_ring_dequeue_bulk(r16, objs, 1, NULL), 0);
	CHECK_EQ(hm_ring_dequeue_burst(r16, objs, 1, NULL), 0);
	CHECK_EQ(hm_ring_dequeue(r16, &obj), -ENOENT);
	CHECK_PTR_EQ(obj, NULL);
	CHECK_EQ(hm_ring_count(r16), 2);

	CHECK_EQ(hm_ring_enqueue_bulk(r8, objs, 4, NULL), 4);
	CHECK_EQ(hm_ring_dequeue(r8, &obj), 0);
	CHECK_PTR_EQ(obj, 1);
	CHECK_EQ(hm_ring_count(r8), 3);
	CHECK_EQ(hm_ring_destroy(r16), 0);
	CHECK_EQ(hm_ring_destroy(r8), 0);
}

int main(int argc, char **argv)
{
	t_init(argc, argv);
	start();
	T_RUN(test_ptrs_spsc);
	T_RUN(test_ptrs_mpmc);
	T_RUN(test_ptrs_large);
	T_RUN(test_elems);
	T_RUN(test_ptr_calls_on_elem_rings);
	hm_cleanup();
	return t_done();
}
