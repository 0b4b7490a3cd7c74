/* SPDX-License-Identifier: MIT */
/*
 * test_ring.c - the ring on 4 KiB pages, one thread: DPDK's ring_autotest
 * checklist in our own words.
 *
 *   - every errno of create, create_elem, lookup and destroy that ring.h
 *     lists (before hm_init too), a name free again after destroy, the zone
 *     "RG_" + name behind a ring, walk (rings only), dump;
 *   - capacity: count - 1 for a power of two, count itself with EXACT_SZ;
 *   - fill and drain step by step: bulk all or nothing, burst what fits,
 *     free_space and available after every call, count, free_count, empty
 *     and full at every step, FIFO order, the caller's buffers untouched
 *     beyond what moved;
 *   - every mode (SP/SC, SP/MC, MP/SC, MP/MC) x bulk and burst x element
 *     sizes 4, 8, 16, 20, 64 and a pointer ring, byte for byte, from buffers
 *     only 4-byte aligned; the _elem calls with a wrong esize move nothing;
 *   - wrap-around: of the slot array (millions of odd-sized moves on a ring
 *     of 4 slots) and of the 32-bit head and tail counters (started just
 *     below 2^32); hm_ring_reset;
 *   - hm_ring_enqueue/dequeue: -ENOBUFS when full, -ENOENT when empty;
 *   - a randomised run against a model (an array queue), seed printed.
 *
 * Threads are in tests/mt/test_ring_threads.c, processes in
 * tests/mp/test_ring_procs.c.
 */
#include "harness.h"
#include <hugemem.h>

#include <limits.h>
#include <stdlib.h>

#define MIB       ((size_t)1 << 20)
#define SENTINEL  0xee
#define MAX_ELEMS 2048 /* the most elements one call of these tests moves */
#define MAX_ESIZE 64

static void start(void)
{
	struct hm_config c;

	hm_config_defaults(&c);
	c.no_huge = true;
	c.memory_limit = 256 * MIB;
	REQUIRE_EQ(hm_init(&c), 0);
}

/* Sanitizer and valgrind runs do fewer iterations of the long loops. */
static unsigned scaled(unsigned n)
{
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
	return n / 5;
#else
	return t_exact_maps() ? n : n / 20; /* valgrind */
#endif
}

/* The slots a ring of count has: count, or with EXACT_SZ the power of two above it. */
static unsigned slots_of(unsigned count, unsigned flags)
{
	unsigned s = 1;

	if (!(flags & HM_RING_EXACT_SZ))
		return count;
	while (s <= count)
		s <<= 1;
	return s;
}

/* Element seq of esize bytes: seq's low 32 bits, then bytes that depend on seq and place. */
static void element(uint8_t *e, unsigned esize, uint64_t seq)
{
	uint32_t lo = (uint32_t)seq;

	memcpy(e, &lo, 4);
	for (unsigned j = 4; j < esize; j++)
		e[j] = (uint8_t)(seq * 131 + j * 7 + (seq >> 8));
}

/* ---- a ring checked against a model: an array queue of sequence numbers ---- */

struct model {
	struct hm_ring *r;
	unsigned esize;  /* bytes per element */
	bool ptrs;       /* moved with the pointer calls (else the _elem ones) */
	unsigned cap;    /* the ring's capacity */
	uint64_t *q;     /* cap sequence numbers, circular */
	unsigned head;   /* the oldest in q */
	unsigned n;      /* how many q holds */
	uint64_t next;   /* the sequence number of the next element enqueued */
	unsigned offset; /* of the caller's buffers from 8-byte alignment: 0 or 4 */
};

/* The caller's buffers, 8-byte aligned; element arrays start at m->offset. */
static uint64_t in_words[(MAX_ELEMS * MAX_ESIZE + 64) / 8];
static uint64_t copy_words[(MAX_ELEMS * MAX_ESIZE + 64) / 8];
static uint64_t out_words[(MAX_ELEMS * MAX_ESIZE + 64) / 8];

/* What the test is doing, for the failure messages of the model. */
static char ctx[128] = "ring";

static void model_open(struct model *m, struct hm_ring *r, bool ptrs, unsigned offset)
{
	memset(m, 0, sizeof(*m));
	m->r = r;
	m->esize = hm_ring_esize(r);
	m->ptrs = ptrs;
	m->cap = hm_ring_capacity(r);
	m->offset = ptrs ? 0 : offset;
	m->q = calloc(m->cap ? m->cap : 1, sizeof(*m->q));
	REQUIRE_NOT_NULL(m->q);
}

static void model_close(struct model *m)
{
	free(m->q);
	m->q = NULL;
}

/* The queries agree with the model. */
static bool model_state(const struct model *m)
{
	unsigned count = hm_ring_count(m->r), free_count = hm_ring_free_count(m->r);
	bool empty = hm_ring_empty(m->r), full = hm_ring_full(m->r);

	if (count == m->n && free_count == m->cap - m->n && empty == (m->n == 0) &&
	    full == (m->n == m->cap) && hm_ring_capacity(m->r) == m->cap)
		return true;
	t_fail(__FILE__, __LINE__, false,
	       "%s: count %u, free_count %u, empty %d, full %d; want %u, %u, %d, %d", ctx, count,
	       free_count, empty, full, m->n, m->cap - m->n, m->n == 0, m->n == m->cap);
	return false;
}

static unsigned call_enqueue(struct model *m, bool bulk, const void *buf, unsigned esize,
			     unsigned n, unsigned *free_space)
{
	if (m->ptrs)
		return bulk ? hm_ring_enqueue_bulk(m->r, (void *const *)buf, n, free_space)
			    : hm_ring_enqueue_burst(m->r, (void *const *)buf, n, free_space);
	return bulk ? hm_ring_enqueue_bulk_elem(m->r, buf, esize, n, free_space)
		    : hm_ring_enqueue_burst_elem(m->r, buf, esize, n, free_space);
}

static unsigned call_dequeue(struct model *m, bool bulk, void *buf, unsigned esize, unsigned n,
			     unsigned *available)
{
	if (m->ptrs)
		return bulk ? hm_ring_dequeue_bulk(m->r, (void **)buf, n, available)
			    : hm_ring_dequeue_burst(m->r, (void **)buf, n, available);
	return bulk ? hm_ring_dequeue_bulk_elem(m->r, buf, esize, n, available)
		    : hm_ring_dequeue_burst_elem(m->r, buf, esize, n, available);
}

/*
 * Enqueue n new elements, bulk or burst, and check what moved, what free_space
 * says, that the caller's array is untouched and the queries after. Returns
 * how many moved, or UINT_MAX if anything disagreed with the model.
 */
static unsigned model_enqueue(struct model *m, bool bulk, unsigned n)
{
	uint8_t *in = (uint8_t *)in_words + m->offset, *copy = (uint8_t *)copy_words;
	unsigned room = m->cap - m->n, want = bulk ? (n <= room ? n : 0) : (n < room ? n : room);
	unsigned got, free_space = UINT_MAX;
	bool ok = true;

	REQUIRE(n <= MAX_ELEMS);
	for (unsigned i = 0; i < n; i++)
		element(in + (size_t)i * m->esize, m->esize, m->next + i);
	memcpy(copy, in, (size_t)n * m->esize);
	got = call_enqueue(m, bulk, in, m->esize, n, &free_space);
	if (got != want || free_space != room - want) {
		t_fail(__FILE__, __LINE__, false,
		       "%s: %s enqueue of %u with %u of %u free: moved %u (want %u), free_space %u "
		       "(want %u)",
		       ctx, bulk ? "bulk" : "burst", n, room, m->cap, got, want, free_space,
		       room - want);
		ok = false;
	}
	if (memcmp(copy, in, (size_t)n * m->esize) != 0) {
		t_fail(__FILE__, __LINE__, false, "%s: enqueue changed the caller's array", ctx);
		ok = false;
	}
	for (unsigned i = 0; i < want; i++)
		m->q[(m->head + m->n + i) % m->cap] = m->next + i;
	m->n += want;
	m->next += want;
	ok = model_state(m) && ok;
	return ok ? got : UINT_MAX;
}

/*
 * Dequeue up to n, bulk or burst, and check what moved, what available says,
 * every byte of what came out, that the rest of the caller's array is
 * untouched, and the queries after. Returns how many moved, or UINT_MAX.
 */
static unsigned model_dequeue(struct model *m, bool bulk, unsigned n)
{
	uint8_t *out = (uint8_t *)out_words + m->offset;
	uint8_t want_elem[MAX_ESIZE];
	unsigned have = m->n, want = bulk ? (n <= have ? n : 0) : (n < have ? n : have);
	unsigned got, available = UINT_MAX;
	bool ok = true;

	REQUIRE(n <= MAX_ELEMS);
	memset(out, SENTINEL, (size_t)(n + 1) * m->esize);
	got = call_dequeue(m, bulk, out, m->esize, n, &available);
	if (got != want || available != have - want) {
		t_fail(__FILE__, __LINE__, false,
		       "%s: %s dequeue of %u with %u of %u in it: moved %u (want %u), available %u "
		       "(want %u)",
		       ctx, bulk ? "bulk" : "burst", n, have, m->cap, got, want, available,
		       have - want);
		ok = false;
	}
	for (unsigned i = 0; i < want && i < got; i++) {
		uint64_t seq = m->q[(m->head + i) % m->cap];

		element(want_elem, m->esize, seq);
		if (memcmp(out + (size_t)i * m->esize, want_elem, m->esize) != 0) {
			t_fail(__FILE__, __LINE__, false,
			       "%s: dequeued element %u of %u is not element %llu (FIFO, contents)",
			       ctx, i, got, (unsigned long long)seq);
			ok = false;
			break;
		}
	}
	for (size_t b = (size_t)want * m->esize; b < (size_t)(n + 1) * m->esize; b++) {
		if (out[b] != SENTINEL) {
			t_fail(__FILE__, __LINE__, false,
			       "%s: dequeue of %u (moved %u) wrote byte %zu of the caller's array",
			       ctx, n, want, b);
			ok = false;
			break;
		}
	}
	m->head = m->cap ? (m->head + want) % m->cap : 0;
	m->n -= want;
	ok = model_state(m) && ok;
	return ok ? got : UINT_MAX;
}

/* ---- errors ---- */

static unsigned calls;

static void count_cb(struct hm_ring *r, void *arg)
{
	(void)r;
	(void)arg;
	calls++;
}

static void test_before_init(void)
{
	struct hm_ring fake;
	char *buf = NULL;
	size_t len = 0;
	FILE *f;

	REQUIRE(!hm_initialized());
	CHECK_NULL_ERRNO(hm_ring_create("early", 1024, HM_SOCKET_ANY, 0), ENXIO);
	CHECK_NULL_ERRNO(hm_ring_create_elem("early", 16, 1024, HM_SOCKET_ANY, 0), ENXIO);
	CHECK_NULL_ERRNO(hm_ring_lookup("early"), ENXIO);
	CHECK_EQ(hm_ring_destroy(NULL), -ENXIO);
	memset(&fake, 0, sizeof(fake));
	CHECK_EQ(hm_ring_destroy(&fake), -ENXIO);
	calls = 0;
	hm_ring_walk(count_cb, NULL);
	CHECK_EQ(calls, 0);
	hm_ring_reset(&fake); /* not a ring: nothing happens */
	f = open_memstream(&buf, &len);
	REQUIRE_NOT_NULL(f);
	hm_ring_dump(f, &fake);
	fclose(f);
	REQUIRE_NOT_NULL(buf);
	CHECK(strstr(buf, "not a ring") != NULL);
	free(buf);
	/* And after a cleanup, the same again. */
	start();
	REQUIRE_NOT_NULL(hm_ring_create("gone", 64, HM_SOCKET_ANY, 0));
	hm_cleanup();
	CHECK_NULL_ERRNO(hm_ring_lookup("gone"), ENXIO);
	CHECK_NULL_ERRNO(hm_ring_create("gone", 64, HM_SOCKET_ANY, 0), ENXIO);
}

static void test_create_errors(void)
{
	static const unsigned bad_counts[] = {0,
					      3,
					      5,
					      6,
					      7,
					      12,
					      100,
					      1000,
					      1023,
					      1025,
					      65535,
					      HM_RING_COUNT_MAX - 1,
					      HM_RING_COUNT_MAX + 1,
					      HM_RING_COUNT_MAX * 2u,
					      UINT_MAX};
	static const unsigned bad_esizes[] = {
		0, 1, 2, 3, 5, 6, 7, 9, 10, 63, 65537, 65540, 131072, UINT_MAX - 3, UINT_MAX};
	static const unsigned bad_flags[] = {
		0x8, 0x10, 0x100, 0x8000, 0x80000000u, ~0u, HM_RING_SP_ENQ | 0x40};
	struct hm_ring *r;

	start();
	for (size_t i = 0; i < sizeof(bad_counts) / sizeof(bad_counts[0]); i++) {
		CHECK_NULL_ERRNO(hm_ring_create("bad", bad_counts[i], HM_SOCKET_ANY, 0), EINVAL);
		CHECK_NULL_ERRNO(hm_ring_create_elem("bad", 4, bad_counts[i], HM_SOCKET_ANY,
						     HM_RING_SP_ENQ | HM_RING_SC_DEQ),
				 EINVAL);
	}
	/* With EXACT_SZ any count from 1 to HM_RING_COUNT_MAX is fine, 0 and above are not. */
	CHECK_NULL_ERRNO(hm_ring_create("bad", 0, HM_SOCKET_ANY, HM_RING_EXACT_SZ), EINVAL);
	CHECK_NULL_ERRNO(
		hm_ring_create("bad", HM_RING_COUNT_MAX + 1, HM_SOCKET_ANY, HM_RING_EXACT_SZ),
		EINVAL);
	CHECK_NULL_ERRNO(hm_ring_create("bad", UINT_MAX, HM_SOCKET_ANY, HM_RING_EXACT_SZ), EINVAL);
	/* The largest counts are valid, only too big for a 256 MiB instance: ENOMEM. */
	CHECK_NULL_ERRNO(hm_ring_create("big", HM_RING_COUNT_MAX, HM_SOCKET_ANY, 0), ENOMEM);
	CHECK_NULL_ERRNO(
		hm_ring_create_elem("big", 4, HM_RING_COUNT_MAX, HM_SOCKET_ANY, HM_RING_EXACT_SZ),
		ENOMEM);
	CHECK_NULL_ERRNO(hm_ring_create_elem("big", 65536, 1u << 16, HM_SOCKET_ANY, 0), ENOMEM);
	for (size_t i = 0; i < sizeof(bad_esizes) / sizeof(bad_esizes[0]); i++)
		CHECK_NULL_ERRNO(hm_ring_create_elem("bad", bad_esizes[i], 64, HM_SOCKET_ANY, 0),
				 EINVAL);
	for (size_t i = 0; i < sizeof(bad_flags) / sizeof(bad_flags[0]); i++) {
		CHECK_NULL_ERRNO(hm_ring_create("bad", 64, HM_SOCKET_ANY, bad_flags[i]), EINVAL);
		CHECK_NULL_ERRNO(hm_ring_create_elem("bad", 8, 64, HM_SOCKET_ANY, bad_flags[i]),
				 EINVAL);
	}
	/* Nothing was left behind by the refusals: no ring, no zone. */
	CHECK_NULL_ERRNO(hm_ring_lookup("bad"), ENOENT);
	CHECK_NULL_ERRNO(hm_ring_lookup("big"), ENOENT);
	CHECK_EQ(hm_memzone_count(), 0);
	/* The limits themselves are fine: esize 4 and 65536, count 1 and 2. */
	r = hm_ring_create_elem("e4", 4, 2, HM_SOCKET_ANY, 0);
	REQUIRE_NOT_NULL(r);
	CHECK_EQ(hm_ring_esize(r), 4);
	CHECK_EQ(hm_ring_capacity(r), 1);
	CHECK_EQ(hm_ring_destroy(r), 0);
	r = hm_ring_create_elem("e65536", 65536, 4, HM_SOCKET_ANY, HM_RING_EXACT_SZ);
	REQUIRE_NOT_NULL(r);
	CHECK_EQ(hm_ring_esize(r), 65536);
	CHECK_EQ(hm_ring_capacity(r), 4);
	CHECK_EQ(hm_ring_destroy(r), 0);
	/* The name "big" refused for ENOMEM is free. */
	r = hm_ring_create("big", 1024, HM_SOCKET_ANY, 0);
	REQUIRE_NOT_NULL(r);
	CHECK_EQ(hm_ring_destroy(r), 0);
	CHECK_EQ(hm_memzone_count(), 0);
	hm_cleanup();
}

static void test_names(void)
{
	char name[HM_RING_NAME_MAX + 8];
	struct hm_ring *r, *r2;
	const struct hm_memzone *mz;

	start();
	CHECK_NULL_ERRNO(hm_ring_create(NULL, 64, HM_SOCKET_ANY, 0), EINVAL);
	CHECK_NULL_ERRNO(hm_ring_create("", 64, HM_SOCKET_ANY, 0), EINVAL);
	CHECK_NULL_ERRNO(hm_ring_create_elem(NULL, 16, 64, HM_SOCKET_ANY, 0), EINVAL);
	CHECK_NULL_ERRNO(hm_ring_create_elem("", 16, 64, HM_SOCKET_ANY, 0), EINVAL);
	CHECK_NULL_ERRNO(hm_ring_lookup(NULL), EINVAL);
	CHECK_NULL_ERRNO(hm_ring_lookup(""), EINVAL);
	CHECK_NULL_ERRNO(hm_ring_lookup("unknown"), ENOENT);

	/* A name of HM_RING_NAME_MAX bytes (its NUL after them) is too long ... */
	memset(name, 'r', sizeof(name));
	name[HM_RING_NAME_MAX] = '\0';
	CHECK_NULL_ERRNO(hm_ring_create(name, 64, HM_SOCKET_ANY, 0), ENAMETOOLONG);
	CHECK_NULL_ERRNO(hm_ring_create_elem(name, 4, 64, HM_SOCKET_ANY, 0), ENAMETOOLONG);
	/* ... which no ring can have: lookup says there is none. */
	CHECK_NULL_ERRNO(hm_ring_lookup(name), ENOENT);
	name[HM_RING_NAME_MAX] = 'r';
	name[HM_RING_NAME_MAX + 7] = '\0';
	CHECK_NULL_ERRNO(hm_ring_create(name, 64, HM_SOCKET_ANY, 0), ENAMETOOLONG);
	CHECK_NULL_ERRNO(hm_ring_lookup(name), ENOENT);
	/* ... and one byte shorter is the longest name: HM_RING_NAME_MAX with its NUL. */
	name[HM_RING_NAME_MAX - 1] = '\0';
	r = hm_ring_create(name, 64, HM_SOCKET_ANY, 0);
	REQUIRE_NOT_NULL(r);
	CHECK_STR_EQ(hm_ring_name(r), name);
	CHECK_PTR_EQ(hm_ring_lookup(name), r);
	CHECK_EQ(strlen(hm_ring_name(r)), HM_RING_NAME_MAX - 1);
	CHECK_NULL_ERRNO(hm_ring_create_elem(name, 4, 64, HM_SOCKET_ANY, 0), EEXIST);
	/* Its zone's name, "RG_" + it, is the longest zone name. */
	{
		char zname[HM_RING_NAME_MAX + 16];

		snprintf(zname, sizeof(zname), "RG_%s", name);
		mz = hm_memzone_lookup(zname);
		REQUIRE_NOT_NULL(mz);
		CHECK_PTR_EQ(mz->addr, r);
		CHECK_EQ(strlen(mz->name), HM_NAME_MAX - 1);
	}
	/* A name differing in the last byte is another ring. */
	name[HM_RING_NAME_MAX - 2] = 's';
	r2 = hm_ring_create(name, 64, HM_SOCKET_ANY, 0);
	REQUIRE_NOT_NULL(r2);
	CHECK(r2 != r);
	CHECK_EQ(hm_ring_destroy(r2), 0);
	CHECK_EQ(hm_ring_destroy(r), 0);

	/* Duplicates: EEXIST whatever the other arguments, pointer or elements. */
	r = hm_ring_create("dup", 64, HM_SOCKET_ANY, 0);
	REQUIRE_NOT_NULL(r);
	CHECK_NULL_ERRNO(hm_ring_create("dup", 64, HM_SOCKET_ANY, 0), EEXIST);
	CHECK_NULL_ERRNO(hm_ring_create("dup", 8, HM_SOCKET_ANY, HM_RING_SP_ENQ), EEXIST);
	CHECK_NULL_ERRNO(hm_ring_create_elem("dup", 20, 100, HM_SOCKET_ANY, HM_RING_EXACT_SZ),
			 EEXIST);
	CHECK_PTR_EQ(hm_ring_lookup("dup"), r);
	CHECK_PTR_EQ(hm_ring_lookup("dup"), r);
	/* Names differ by case and length. */
	r2 = hm_ring_create("Dup", 64, HM_SOCKET_ANY, 0);
	REQUIRE_NOT_NULL(r2);
	CHECK_PTR_EQ(hm_ring_lookup("Dup"), r2);
	CHECK_NULL_ERRNO(hm_ring_lookup("du"), ENOENT);
	CHECK_NULL_ERRNO(hm_ring_lookup("dupe"), ENOENT);
	CHECK_EQ(hm_ring_destroy(r2), 0);
	/* The ring is zone "RG_dup", whose name is taken; the zone "dup" is not. */
	mz = hm_memzone_lookup("RG_dup");
	REQUIRE_NOT_NULL(mz);
	CHECK_PTR_EQ(mz->addr, r);
	CHECK_GE(mz->len, sizeof(struct hm_ring) + 64 * sizeof(void *));
	CHECK_UEQ((uintptr_t)r % HM_CACHE_LINE, 0);
	CHECK_NULL_ERRNO(hm_memzone_lookup("dup"), ENOENT);
	CHECK_NULL_ERRNO(hm_memzone_reserve("RG_dup", 64, HM_SOCKET_ANY, 0, 0, 0), EEXIST);
	/* After destroy: the name and its zone are gone and free again. */
	CHECK_EQ(hm_ring_destroy(r), 0);
	CHECK_NULL_ERRNO(hm_ring_lookup("dup"), ENOENT);
	CHECK_NULL_ERRNO(hm_memzone_lookup("RG_dup"), ENOENT);
	r = hm_ring_create_elem("dup", 12, 32, HM_SOCKET_ANY, HM_RING_EXACT_SZ);
	REQUIRE_NOT_NULL(r);
	CHECK_EQ(hm_ring_esize(r), 12);
	CHECK_EQ(hm_ring_capacity(r), 32);
	CHECK_PTR_EQ(hm_ring_lookup("dup"), r);
	CHECK_EQ(hm_ring_destroy(r), 0);

	/* A plain zone whose name looks like a ring's is no ring. */
	mz = hm_memzone_reserve("RG_plain", 4096, HM_SOCKET_ANY, 0, 0, 0);
	REQUIRE_NOT_NULL(mz);
	memset(mz->addr, 0, mz->len);
	CHECK_NULL_ERRNO(hm_ring_lookup("plain"), ENOENT);
	CHECK_NULL_ERRNO(hm_ring_create("plain", 64, HM_SOCKET_ANY, 0), EEXIST);
	CHECK_EQ(hm_memzone_free(mz), 0);
	CHECK_EQ(hm_memzone_count(), 0);
	hm_cleanup();
}

static void test_socket(void)
{
	struct hm_ring *r;
	int bad = 0, good = -1;

	start();
	while (hm_socket_valid(bad))
		bad++;
	for (int s = 0; s < bad && good < 0; s++)
		if (hm_socket_valid(s))
			good = s;
	REQUIRE_GE(good, 0);
	CHECK_NULL_ERRNO(hm_ring_create("sock", 64, bad, 0), ENODEV);
	CHECK_NULL_ERRNO(hm_ring_create_elem("sock", 16, 64, bad, 0), ENODEV);
	CHECK_NULL_ERRNO(hm_ring_create("sock", 64, 4096, 0), ENODEV);
	CHECK_NULL_ERRNO(hm_ring_create("sock", 64, INT_MAX, 0), ENODEV);
	CHECK_NULL_ERRNO(hm_ring_create("sock", 64, -2, 0), ENODEV);
	CHECK_NULL_ERRNO(hm_ring_create("sock", 64, INT_MIN, 0), ENODEV);
	CHECK_NULL_ERRNO(hm_ring_lookup("sock"), ENOENT);
	r = hm_ring_create("sock", 64, good, 0);
	REQUIRE_NOT_NULL(r);
	CHECK_EQ(hm_socket_of(r), good);
	CHECK_EQ(hm_ring_destroy(r), 0);
	r = hm_ring_create_elem("sock", 16, 64, HM_SOCKET_ANY, 0);
	REQUIRE_NOT_NULL(r);
	CHECK(hm_socket_valid(hm_socket_of(r)));
	CHECK_EQ(hm_ring_destroy(r), 0);
	hm_cleanup();
}

static void test_destroy_misuse(void)
{
	struct hm_ring fake, *r, *r2, *copy;
	const struct hm_memzone *mz;
	void *heap_block, *libc_block;
	void *p = (void *)0x1234;

	start();
	hm_log_set_sink(t_count_sink, NULL);
	r = hm_ring_create("victim", 64, HM_SOCKET_ANY, 0);
	REQUIRE_NOT_NULL(r);
	REQUIRE_EQ(hm_ring_enqueue(r, p), 0);

	t_log_lines_reset();
	CHECK_EQ(hm_ring_destroy(NULL), -EINVAL);
	CHECK_EQ(t_log_lines(), 1);
	/* On the stack, even with a ring's header and magic copied in. */
	memset(&fake, 0, sizeof(fake));
	CHECK_EQ(hm_ring_destroy(&fake), -EINVAL);
	memcpy(&fake, r, sizeof(fake));
	CHECK_EQ(hm_ring_destroy(&fake), -EINVAL);
	CHECK_EQ(t_log_lines(), 3);
	/* libc's heap. */
	libc_block = calloc(1, 4096);
	REQUIRE_NOT_NULL(libc_block);
	CHECK_EQ(hm_ring_destroy(libc_block), -EINVAL);
	memcpy(libc_block, r, sizeof(*r));
	CHECK_EQ(hm_ring_destroy(libc_block), -EINVAL);
	free(libc_block);
	/* hugemem memory that is no ring: a heap block, a plain zone, inside the ring. */
	heap_block = hm_zmalloc("ring-test", 4096, 0);
	REQUIRE_NOT_NULL(heap_block);
	CHECK_EQ(hm_ring_destroy(heap_block), -EINVAL);
	mz = hm_memzone_reserve("not-a-ring", 4096, HM_SOCKET_ANY, 0, 0, 0);
	REQUIRE_NOT_NULL(mz);
	memset(mz->addr, 0, mz->len);
	CHECK_EQ(hm_ring_destroy(mz->addr), -EINVAL);
	CHECK_EQ(hm_ring_destroy((struct hm_ring *)((char *)r + HM_CACHE_LINE)), -EINVAL);
	CHECK_EQ(t_log_lines(), 8);
	/* A copy of the ring's header elsewhere in hugemem memory: not the zone's ring. */
	memcpy(mz->addr, r, sizeof(*r));
	copy = mz->addr;
	CHECK_EQ(hm_ring_destroy(copy), -EINVAL);
	CHECK_EQ(t_log_lines(), 9);
	memset(mz->addr, 0, mz->len);
	CHECK_EQ(hm_memzone_free(mz), 0);
	hm_free(heap_block);

	/* Every refusal left the ring whole and usable. */
	CHECK_PTR_EQ(hm_ring_lookup("victim"), r);
	CHECK_EQ(hm_ring_count(r), 1);
	{
		void *q = NULL;

		CHECK_EQ(hm_ring_dequeue(r, &q), 0);
		CHECK_PTR_EQ(q, p);
	}
	/* Destroyed: a second destroy of the stale pointer is refused and logged. */
	CHECK_EQ(hm_ring_destroy(r), 0);
	t_log_lines_reset();
	CHECK_EQ(hm_ring_destroy(r), -EINVAL);
	CHECK_EQ(t_log_lines(), 1);
	CHECK_NULL_ERRNO(hm_ring_lookup("victim"), ENOENT);
	/* The name is free again; the stale pointer is refused until it is a ring again. */
	r2 = hm_ring_create_elem("victim2", 4, 64, HM_SOCKET_ANY, 0);
	REQUIRE_NOT_NULL(r2);
	if (r2 != r)
		CHECK_EQ(hm_ring_destroy(r), -EINVAL);
	CHECK_EQ(hm_ring_destroy(r2), 0);
	r = hm_ring_create("victim", 64, HM_SOCKET_ANY, 0);
	REQUIRE_NOT_NULL(r);
	CHECK_EQ(hm_ring_count(r), 0);
	CHECK_EQ(hm_ring_destroy(r), 0);
	CHECK_EQ(hm_memzone_count(), 0);
	hm_log_set_sink(NULL, NULL);
	hm_cleanup();
}

/* ---- walk and dump ---- */

#define N_WALK 40

struct walk_state {
	struct hm_ring *r[N_WALK];
	unsigned seen[N_WALK];
	unsigned calls;
	unsigned strangers; /* calls with a ring not in r[] */
};

static void walk_cb(struct hm_ring *r, void *arg)
{
	struct walk_state *w = arg;

	w->calls++;
	for (unsigned i = 0; i < N_WALK; i++) {
		if (w->r[i] == r) {
			w->seen[i]++;
			return;
		}
	}
	w->strangers++;
}

static void walk_check(struct walk_state *w, unsigned want_calls)
{
	memset(w->seen, 0, sizeof(w->seen));
	w->calls = w->strangers = 0;
	hm_ring_walk(walk_cb, w);
	CHECK_EQ(w->calls, want_calls);
	CHECK_EQ(w->strangers, 0);
	for (unsigned i = 0; i < N_WALK; i++)
		CHECK_EQ(w->seen[i], w->r[i] ? 1 : 0);
}

static void test_walk(void)
{
	struct walk_state w;
	const struct hm_memzone *plain, *lookalike;
	void *block;

	start();
	memset(&w, 0, sizeof(w));
	walk_check(&w, 0);
	/* Things that are not rings: zones, one named like a ring's, a heap block. */
	plain = hm_memzone_reserve("plain", 1000, HM_SOCKET_ANY, 0, 0, 0);
	lookalike = hm_memzone_reserve("RG_lookalike", 4096, HM_SOCKET_ANY, 0, 0, 0);
	block = hm_malloc("ring-walk", 5000, 0);
	REQUIRE_NOT_NULL(plain);
	REQUIRE_NOT_NULL(lookalike);
	REQUIRE_NOT_NULL(block);
	memset(lookalike->addr, 0, lookalike->len);
	walk_check(&w, 0);
	for (unsigned i = 0; i < N_WALK; i++) {
		char name[HM_RING_NAME_MAX];

		snprintf(name, sizeof(name), "walk-%u", i);
		w.r[i] = i % 2 ? hm_ring_create(name, 64u << (i % 4), HM_SOCKET_ANY, 0)
			       : hm_ring_create_elem(name, 4 * (1 + i % 5), 100 + i, HM_SOCKET_ANY,
						     HM_RING_EXACT_SZ | HM_RING_SP_ENQ);
		REQUIRE_NOT_NULL(w.r[i]);
	}
	walk_check(&w, N_WALK);
	CHECK_EQ(hm_memzone_count(), N_WALK + 2);
	/* Destroy every third: the walk lists the others only. */
	for (unsigned i = 0; i < N_WALK; i += 3) {
		CHECK_EQ(hm_ring_destroy(w.r[i]), 0);
		w.r[i] = NULL;
	}
	walk_check(&w, N_WALK - (N_WALK + 2) / 3);
	hm_ring_walk(NULL, &w); /* no callback: nothing */
	for (unsigned i = 0; i < N_WALK; i++) {
		if (w.r[i])
			CHECK_EQ(hm_ring_destroy(w.r[i]), 0);
		w.r[i] = NULL;
	}
	walk_check(&w, 0);
	CHECK_EQ(hm_memzone_free(plain), 0);
	CHECK_EQ(hm_memzone_free(lookalike), 0);
	hm_free(block);
	hm_cleanup();
}

/* r's dump, in a string to free. */
static char *dump_of(const struct hm_ring *r)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	REQUIRE_NOT_NULL(f);
	hm_ring_dump(f, r);
	fclose(f);
	REQUIRE_NOT_NULL(buf);
	return buf;
}

static void test_dump(void)
{
	struct hm_ring *r, *s, fake;
	void *objs[5] = {0};
	char *text;

	start();
	r = hm_ring_create("dumped", 1024, HM_SOCKET_ANY, 0);
	s = hm_ring_create_elem("dumped-sp", 20, 100, HM_SOCKET_ANY,
				HM_RING_SP_ENQ | HM_RING_SC_DEQ | HM_RING_EXACT_SZ);
	REQUIRE_NOT_NULL(r);
	REQUIRE_NOT_NULL(s);
	CHECK_EQ(hm_ring_enqueue_bulk(r, objs, 5, NULL), 5);
	text = dump_of(r);
	CHECK(strstr(text, "dumped") != NULL);
	CHECK(strstr(text, "dumped-sp") == NULL);
	CHECK(strstr(text, "1024 slots") != NULL);
	CHECK(strstr(text, "capacity 1023") != NULL);
	CHECK(strstr(text, "multi producers") != NULL);
	CHECK(strstr(text, "multi consumers") != NULL);
	CHECK(strstr(text, "5 in it, 1018 free") != NULL);
	CHECK(strchr(text, '\n') != NULL);
	free(text);
	text = dump_of(s);
	CHECK(strstr(text, "dumped-sp") != NULL);
	CHECK(strstr(text, "128 slots of 20 bytes") != NULL);
	CHECK(strstr(text, "capacity 100") != NULL);
	CHECK(strstr(text, "single producer,") != NULL);
	CHECK(strstr(text, "single consumer;") != NULL);
	CHECK(strstr(text, "0 in it, 100 free") != NULL);
	free(text);
	/* Not a ring: said so, nothing read from it. */
	memset(&fake, 0, sizeof(fake));
	text = dump_of(&fake);
	CHECK(strstr(text, "not a ring") != NULL);
	free(text);
	text = dump_of(NULL);
	CHECK(strstr(text, "not a ring") != NULL);
	free(text);
	CHECK_EQ(hm_ring_destroy(r), 0);
	text = dump_of(r);
	CHECK(strstr(text, "not a ring") != NULL);
	free(text);
	CHECK_EQ(hm_ring_destroy(s), 0);
	hm_cleanup();
}

/* ---- capacity ---- */

/* Fill r (of capacity cap) to the brim with one burst, then drain it, in order. */
static void fill_drain_once(struct hm_ring *r, unsigned cap)
{
	struct model m;
	unsigned got;

	snprintf(ctx, sizeof(ctx), "ring %s of capacity %u", hm_ring_name(r), cap);
	model_open(&m, r, true, 0);
	CHECK_EQ(hm_ring_capacity(r), cap);
	got = model_enqueue(&m, false, cap < MAX_ELEMS - 5 ? cap + 5 : MAX_ELEMS);
	CHECK_EQ(got, cap < MAX_ELEMS ? cap : MAX_ELEMS);
	if (cap < MAX_ELEMS) {
		CHECK(hm_ring_full(r));
		CHECK_EQ(model_enqueue(&m, true, 1), 0);
		CHECK_EQ(hm_ring_enqueue(r, NULL), -ENOBUFS);
	}
	while (m.n)
		if (model_dequeue(&m, false, MAX_ELEMS) == UINT_MAX)
			break;
	CHECK(hm_ring_empty(r));
	model_close(&m);
}

static void test_capacity(void)
{
	static const unsigned exact[] = {1, 2, 3, 7, 8, 100, 1000, 1023, 1024, 1025, 2047, 4096};
	struct hm_ring *r;
	const struct hm_memzone *mz;

	start();
	/* A power of two: one slot is left free. count 1 holds nothing at all. */
	for (unsigned count = 1; count <= (1u << 20); count <<= 1) {
		r = hm_ring_create("pow2", count, HM_SOCKET_ANY, 0);
		REQUIRE_NOT_NULL(r);
		CHECK_EQ(hm_ring_capacity(r), count - 1);
		CHECK_EQ(hm_ring_free_count(r), count - 1);
		CHECK_EQ(hm_ring_count(r), 0);
		CHECK(hm_ring_empty(r));
		CHECK_EQ(hm_ring_full(r), count == 1);
		CHECK_EQ(hm_ring_esize(r), sizeof(void *));
		CHECK_STR_EQ(hm_ring_name(r), "pow2");
		mz = hm_memzone_lookup("RG_pow2");
		REQUIRE_NOT_NULL(mz);
		CHECK_GE(mz->len, sizeof(struct hm_ring) + (size_t)count * sizeof(void *));
		if (count <= 4096)
			fill_drain_once(r, count - 1);
		if (count == 1) {
			void *p = (void *)1;

			CHECK_EQ(hm_ring_enqueue(r, p), -ENOBUFS);
			CHECK_EQ(hm_ring_enqueue_burst(r, &p, 1, NULL), 0);
			CHECK_EQ(hm_ring_dequeue(r, &p), -ENOENT);
		}
		CHECK_EQ(hm_ring_destroy(r), 0);
	}
	/* EXACT_SZ: the capacity is count, powers of two included. */
	for (size_t i = 0; i < sizeof(exact) / sizeof(exact[0]); i++) {
		for (unsigned esize = 4; esize <= 16; esize += 12) {
			r = hm_ring_create_elem("exact", esize, exact[i], HM_SOCKET_ANY,
						HM_RING_EXACT_SZ);
			REQUIRE_NOT_NULL(r);
			CHECK_EQ(hm_ring_capacity(r), exact[i]);
			CHECK_EQ(hm_ring_free_count(r), exact[i]);
			CHECK(hm_ring_empty(r));
			CHECK(!hm_ring_full(r));
			mz = hm_memzone_lookup("RG_exact");
			REQUIRE_NOT_NULL(mz);
			CHECK_GE(mz->len,
				 sizeof(struct hm_ring) +
					 (size_t)slots_of(exact[i], HM_RING_EXACT_SZ) * esize);
			CHECK_EQ(hm_ring_destroy(r), 0);
		}
		r = hm_ring_create("exact", exact[i], HM_SOCKET_ANY,
				   HM_RING_EXACT_SZ | HM_RING_SP_ENQ | HM_RING_SC_DEQ);
		REQUIRE_NOT_NULL(r);
		fill_drain_once(r, exact[i]);
		/* And again, from where the first round left the indices. */
		fill_drain_once(r, exact[i]);
		CHECK_EQ(hm_ring_destroy(r), 0);
	}
	hm_cleanup();
}

/* ---- fill and drain, step by step ---- */

static void test_fill_drain(void)
{
	struct hm_ring *r;
	struct model m;
	void *objs[32], *out[32];
	unsigned left;

	start();
	r = hm_ring_create("steps", 16, HM_SOCKET_ANY, 0);
	REQUIRE_NOT_NULL(r);
	snprintf(ctx, sizeof(ctx), "fill and drain");
	model_open(&m, r, true, 0);
	REQUIRE(model_state(&m));
	/* n 0 moves nothing, bulk or burst, and still reports. */
	CHECK_EQ(model_enqueue(&m, true, 0), 0);
	CHECK_EQ(model_enqueue(&m, false, 0), 0);
	CHECK_EQ(model_dequeue(&m, true, 0), 0);
	CHECK_EQ(model_dequeue(&m, false, 0), 0);
	/* Empty: nothing comes out. */
	CHECK_EQ(model_dequeue(&m, true, 1), 0);
	CHECK_EQ(model_dequeue(&m, false, 5), 0);
	/* One at a time to full: free_space 14, 13, ... 0. */
	for (unsigned i = 0; i < 15; i++)
		CHECK_EQ(model_enqueue(&m, true, 1), 1);
	CHECK(hm_ring_full(r));
	CHECK_EQ(model_enqueue(&m, true, 1), 0);
	CHECK_EQ(model_enqueue(&m, false, 1), 0);
	CHECK_EQ(model_enqueue(&m, true, 16), 0);
	/* Out one at a time: available 14, 13, ... 0. */
	for (unsigned i = 0; i < 15; i++)
		CHECK_EQ(model_dequeue(&m, true, 1), 1);
	CHECK(hm_ring_empty(r));
	/* Partly full: bulk refuses what does not fit wholly, burst takes what fits. */
	CHECK_EQ(model_enqueue(&m, true, 10), 10);
	CHECK_EQ(model_enqueue(&m, true, 6), 0); /* 5 free */
	CHECK_EQ(model_enqueue(&m, true, 16), 0);
	CHECK_EQ(model_enqueue(&m, false, 6), 5);
	CHECK_EQ(model_enqueue(&m, false, 6), 0);
	CHECK_EQ(model_dequeue(&m, true, 16), 0); /* 15 there */
	CHECK_EQ(model_dequeue(&m, true, 4), 4);
	CHECK_EQ(model_enqueue(&m, true, 4), 4); /* exactly the room */
	CHECK_EQ(model_dequeue(&m, false, 20), 15);
	CHECK_EQ(model_dequeue(&m, false, 20), 0);
	/* The whole capacity in one bulk call and out in one; one more is too many. */
	CHECK_EQ(model_enqueue(&m, true, 16), 0);
	CHECK_EQ(model_enqueue(&m, true, 15), 15);
	CHECK_EQ(model_dequeue(&m, true, 16), 0);
	CHECK_EQ(model_dequeue(&m, true, 15), 15);
	model_close(&m);

	/* free_space and available may be NULL; they are written when they are not. */
	for (unsigned i = 0; i < 32; i++)
		objs[i] = (void *)(uintptr_t)(0x1000 + i);
	CHECK_EQ(hm_ring_enqueue_bulk(r, objs, 3, NULL), 3);
	CHECK_EQ(hm_ring_enqueue_burst(r, objs + 3, 3, NULL), 3);
	left = 77;
	CHECK_EQ(hm_ring_enqueue_bulk(r, objs + 6, 20, &left), 0);
	CHECK_EQ(left, 9);
	CHECK_EQ(hm_ring_dequeue_bulk(r, out, 2, NULL), 2);
	CHECK_EQ(hm_ring_dequeue_burst(r, out + 2, 2, NULL), 2);
	left = 77;
	CHECK_EQ(hm_ring_dequeue_burst(r, out + 4, 20, &left), 2);
	CHECK_EQ(left, 0);
	for (unsigned i = 0; i < 6; i++)
		CHECK_PTR_EQ(out[i], objs[i]);
	/* NULL pointers are objects like any other. */
	memset(objs, 0, sizeof(objs));
	CHECK_EQ(hm_ring_enqueue_bulk(r, objs, 7, &left), 7);
	CHECK_EQ(left, 8);
	CHECK_EQ(hm_ring_count(r), 7);
	memset(out, 0xa5, sizeof(out));
	CHECK_EQ(hm_ring_dequeue_bulk(r, out, 7, &left), 7);
	CHECK_EQ(left, 0);
	for (unsigned i = 0; i < 7; i++)
		CHECK_NULL(out[i]);
	CHECK_EQ(hm_ring_destroy(r), 0);
	hm_cleanup();
}

/* ---- every mode x bulk/burst x element size ---- */

static const unsigned modes[] = {
	HM_RING_SP_ENQ | HM_RING_SC_DEQ, /* SP/SC */
	HM_RING_SP_ENQ,                  /* SP/MC */
	HM_RING_SC_DEQ,                  /* MP/SC */
	0,                               /* MP/MC */
};

/* Chunks of odd sizes in and out until full and empty, a few times round the ring. */
static void rounds(struct model *m, bool bulk_in, bool bulk_out, unsigned n_rounds)
{
	static const unsigned sizes[] = {1, 2, 3, 5, 7, 11, 13, 17, 31, 63, 64, 100};

	for (unsigned round = 0; round < n_rounds; round++) {
		unsigned k = round;

		/* In until a chunk does not go in wholly (bulk) or at all (burst). */
		for (;; k++) {
			unsigned n = sizes[k % (sizeof(sizes) / sizeof(sizes[0]))];
			unsigned got = model_enqueue(m, bulk_in, n);

			REQUIRE(got != UINT_MAX);
			if (bulk_in ? got == 0 : m->n == m->cap)
				break;
		}
		if (bulk_in && m->n < m->cap) {
			unsigned room = m->cap - m->n;

			REQUIRE_EQ(model_enqueue(m, false, m->cap), room);
		}
		REQUIRE(hm_ring_full(m->r));
		/* Out until empty. */
		for (;; k++) {
			unsigned n = sizes[k % (sizeof(sizes) / sizeof(sizes[0]))];
			unsigned got = model_dequeue(m, bulk_out, n);

			REQUIRE(got != UINT_MAX);
			if (m->n == 0)
				break;
			if (bulk_out && got == 0) {
				unsigned want = m->n < n ? m->n : n;

				REQUIRE_EQ(model_dequeue(m, false, n), want);
			}
			if (m->n == 0)
				break;
		}
		REQUIRE(hm_ring_empty(m->r));
		/* Half full, then half out: the next round starts elsewhere in the slots. */
		REQUIRE_EQ(model_enqueue(m, true, m->cap / 2 + round % 3), m->cap / 2 + round % 3);
		REQUIRE_EQ(model_dequeue(m, bulk_out, m->cap / 2 + round % 3),
			   m->cap / 2 + round % 3);
	}
}

/* The _elem calls with any other element size move nothing, whatever n. */
static void wrong_esize(struct hm_ring *r)
{
	static const unsigned others[] = {0, 4, 8, 12, 16, 20, 24, 32, 64, 65536, 3};
	uint8_t buf[64 * 4] = {0};
	unsigned before = hm_ring_count(r);

	for (size_t i = 0; i < sizeof(others) / sizeof(others[0]); i++) {
		unsigned es = others[i];

		if (es == hm_ring_esize(r))
			continue;
		CHECK_EQ(hm_ring_enqueue_bulk_elem(r, buf, es, 1, NULL), 0);
		CHECK_EQ(hm_ring_enqueue_burst_elem(r, buf, es, 4, NULL), 0);
		CHECK_EQ(hm_ring_dequeue_bulk_elem(r, buf, es, 1, NULL), 0);
		CHECK_EQ(hm_ring_dequeue_burst_elem(r, buf, es, 4, NULL), 0);
		CHECK_EQ(hm_ring_count(r), before);
	}
}

static void test_modes_sizes(void)
{
	static const unsigned esizes[] = {4, 8, 16, 20, 64, 0 /* a pointer ring */};
	static const char *const mode_names[] = {"SP/SC", "SP/MC", "MP/SC", "MP/MC"};

	start();
	for (size_t mi = 0; mi < sizeof(modes) / sizeof(modes[0]); mi++) {
		for (size_t ei = 0; ei < sizeof(esizes) / sizeof(esizes[0]); ei++) {
			for (unsigned variant = 0; variant < 4; variant++) {
				bool bulk_in = variant & 1, bulk_out = variant & 2;
				bool exact = ei % 2;
				unsigned flags = modes[mi] | (exact ? HM_RING_EXACT_SZ : 0);
				struct hm_ring *r;
				struct model m;
				char *text;

				r = esizes[ei] ? hm_ring_create_elem("modes", esizes[ei],
								     exact ? 100 : 128,
								     HM_SOCKET_ANY, flags)
					       : hm_ring_create("modes", exact ? 100 : 128,
								HM_SOCKET_ANY, flags);
				REQUIRE_NOT_NULL(r);
				text = dump_of(r);
				CHECK(strstr(text, modes[mi] & HM_RING_SP_ENQ
							   ? "single producer,"
							   : "multi producers,") != NULL);
				CHECK(strstr(text, modes[mi] & HM_RING_SC_DEQ
							   ? "single consumer;"
							   : "multi consumers;") != NULL);
				free(text);
				snprintf(ctx, sizeof(ctx), "%s, esize %u, %s in, %s out",
					 mode_names[mi], hm_ring_esize(r),
					 bulk_in ? "bulk" : "burst", bulk_out ? "bulk" : "burst");
				/* Elements from buffers that are only 4-byte aligned. */
				model_open(&m, r, esizes[ei] == 0, 4);
				CHECK_EQ(m.cap, exact ? 100 : 127);
				rounds(&m, bulk_in, bulk_out, 6);
				/* A few in it, then the wrong sizes. */
				REQUIRE_EQ(model_enqueue(&m, true, 3), 3);
				wrong_esize(r);
				REQUIRE_EQ(model_dequeue(&m, false, 10), 3);
				/* The pointer ring's elements are pointers for the _elem calls too. */
				if (esizes[ei] == 0) {
					m.ptrs = false;
					m.offset = 4;
					rounds(&m, bulk_in, bulk_out, 2);
				}
				model_close(&m);
				CHECK_EQ(hm_ring_destroy(r), 0);
			}
		}
	}
	hm_cleanup();
}

/* ---- wrap-around ---- */

static void test_wrap_slots(void)
{
	/*
	 * The 32-bit head and tail counters only wrap after 2^32 elements, too many
	 * for a unit test (test_wrap_counters starts them next to the wrap instead).
	 * Here a ring of 4 slots (3 usable) takes a few million moves of 1 to 3
	 * elements, so the slot index goes round the array about a million times
	 * and every split of a copy at the array's end is taken.
	 */
	unsigned n_ops = scaled(3000000);
	struct hm_ring *r[2];
	uint64_t next_in = 0, next_out = 0;

	start();
	r[0] = hm_ring_create("wrap4", 4, HM_SOCKET_ANY, 0);
	r[1] = hm_ring_create_elem("wrap4e", 12, 3, HM_SOCKET_ANY,
				   HM_RING_EXACT_SZ | HM_RING_SP_ENQ | HM_RING_SC_DEQ);
	REQUIRE_NOT_NULL(r[0]);
	REQUIRE_NOT_NULL(r[1]);
	CHECK_EQ(hm_ring_capacity(r[0]), 3);
	CHECK_EQ(hm_ring_capacity(r[1]), 3);
	for (unsigned ri = 0; ri < 2; ri++) {
		uint32_t buf[3 * 3], out[3 * 3];
		unsigned es = hm_ring_esize(r[ri]) / 4; /* words per element */
		unsigned bad = 0, held = 0;

		next_in = next_out = 0;
		for (unsigned op = 0; op < n_ops && bad == 0; op++) {
			unsigned n = 1 + (op * 7 + op / 5) % 3, got, left = UINT_MAX;

			if ((op & 1) == 0) {
				for (unsigned i = 0; i < n; i++)
					for (unsigned w = 0; w < es; w++)
						buf[i * es + w] = (uint32_t)(next_in + i) * 3 + w;
				got = hm_ring_enqueue_burst_elem(r[ri], buf, es * 4, n, &left);
				bad += got != (n < 3 - held ? n : 3 - held);
				bad += left != 3 - held - got;
				held += got;
				next_in += got;
			} else {
				got = hm_ring_dequeue_burst_elem(r[ri], out, es * 4, n, &left);
				bad += got != (n < held ? n : held);
				bad += left != held - got;
				for (unsigned i = 0; i < got; i++)
					for (unsigned w = 0; w < es; w++)
						bad += out[i * es + w] !=
						       (uint32_t)(next_out + i) * 3 + w;
				held -= got;
				next_out += got;
			}
			bad += hm_ring_count(r[ri]) != held;
			if (bad)
				t_fail(__FILE__, __LINE__, false, "ring %s: op %u disagrees",
				       hm_ring_name(r[ri]), op);
		}
		CHECK_EQ(bad, 0);
		CHECK_EQ(hm_ring_count(r[ri]), next_in - next_out);
		/* The counters went round the 4 slots about next_in / 4 times. */
		CHECK_GT(next_in, n_ops / 4);
		/* A reset empties it, wherever the indices stood. */
		hm_ring_reset(r[ri]);
		CHECK_EQ(hm_ring_count(r[ri]), 0);
		CHECK(hm_ring_empty(r[ri]));
		CHECK_EQ(hm_ring_free_count(r[ri]), 3);
		CHECK_EQ(hm_ring_dequeue_burst_elem(r[ri], out, es * 4, 3, NULL), 0);
		CHECK_EQ(hm_ring_enqueue_bulk_elem(r[ri], buf, es * 4, 3, NULL), 3);
		CHECK(hm_ring_full(r[ri]));
		CHECK_EQ(hm_ring_dequeue_bulk_elem(r[ri], out, es * 4, 3, NULL), 3);
		CHECK_EQ(memcmp(out, buf, (size_t)es * 4 * 3), 0);
		CHECK_EQ(hm_ring_destroy(r[ri]), 0);
	}
	hm_cleanup();
}

/* White box: set an empty ring's head and tail counters to start, as if that many had passed. */
static void counters_at(struct hm_ring *r, uint32_t start_at)
{
	REQUIRE(hm_ring_empty(r));
	r->prod.head = r->prod.tail = start_at;
	r->cons.head = r->cons.tail = start_at;
}

static void test_wrap_counters(void)
{
	static const uint32_t starts[] = {UINT32_MAX - 200, UINT32_MAX, UINT32_MAX - 2,
					  (uint32_t)INT32_MAX - 50};
	struct hm_ring *r;

	start();
	for (size_t si = 0; si < sizeof(starts) / sizeof(starts[0]); si++) {
		for (unsigned mi = 0; mi < 4; mi++) {
			struct model m;

			r = mi % 2 ? hm_ring_create("wrap32", 64, HM_SOCKET_ANY, modes[mi])
				   : hm_ring_create_elem("wrap32", 20, 50, HM_SOCKET_ANY,
							 modes[mi] | HM_RING_EXACT_SZ);
			REQUIRE_NOT_NULL(r);
			counters_at(r, starts[si]);
			snprintf(ctx, sizeof(ctx), "counters from %u, mode %u, esize %u",
				 starts[si], mi, hm_ring_esize(r));
			model_open(&m, r, mi % 2, 4);
			REQUIRE(model_state(&m));
			/* Across the wrap while full, while empty, and in between. */
			rounds(&m, mi & 1, mi & 2, 8);
			REQUIRE_EQ(model_enqueue(&m, false, 40), 40);
			CHECK_EQ(hm_ring_count(r), 40);
			CHECK_EQ(hm_ring_free_count(r), m.cap - 40);
			/* The counters did cross 2^32 (or 2^31 for the last start). */
			CHECK(r->prod.tail < starts[si] || si == 3);
			hm_ring_reset(r);
			m.head = m.n = 0;
			REQUIRE(model_state(&m));
			CHECK_EQ(r->prod.head, 0);
			CHECK_EQ(r->cons.tail, 0);
			rounds(&m, true, false, 2);
			model_close(&m);
			CHECK_EQ(hm_ring_destroy(r), 0);
		}
	}
	hm_cleanup();
}

/* ---- single enqueue and dequeue ---- */

static void test_single(void)
{
	struct hm_ring *r;
	void *p;

	start();
	for (unsigned mi = 0; mi < 4; mi++) {
		r = hm_ring_create("single", 8, HM_SOCKET_ANY, modes[mi]);
		REQUIRE_NOT_NULL(r);
		p = (void *)0x77;
		CHECK_EQ(hm_ring_dequeue(r, &p), -ENOENT);
		CHECK_PTR_EQ(p, 0x77); /* untouched */
		for (uintptr_t i = 1; i <= 7; i++) {
			CHECK_EQ(hm_ring_enqueue(r, (void *)(i * 16)), 0);
			CHECK_EQ(hm_ring_count(r), i);
		}
		CHECK(hm_ring_full(r));
		CHECK_EQ(hm_ring_enqueue(r, (void *)0x999), -ENOBUFS);
		CHECK_EQ(hm_ring_count(r), 7);
		for (uintptr_t i = 1; i <= 7; i++) {
			CHECK_EQ(hm_ring_dequeue(r, &p), 0);
			CHECK_PTR_EQ(p, i * 16);
		}
		p = (void *)0x55;
		CHECK_EQ(hm_ring_dequeue(r, &p), -ENOENT);
		CHECK_PTR_EQ(p, 0x55);
		/* Mixed with the bulk calls: one FIFO. */
		{
			void *objs[3] = {(void *)1, (void *)2, (void *)3}, *out[4] = {0};

			CHECK_EQ(hm_ring_enqueue(r, (void *)0), 0);
			CHECK_EQ(hm_ring_enqueue_bulk(r, objs, 3, NULL), 3);
			CHECK_EQ(hm_ring_dequeue_bulk(r, out, 2, NULL), 2);
			CHECK_NULL(out[0]);
			CHECK_PTR_EQ(out[1], 1);
			CHECK_EQ(hm_ring_dequeue(r, &p), 0);
			CHECK_PTR_EQ(p, 2);
			CHECK_EQ(hm_ring_dequeue_burst(r, out, 4, NULL), 1);
			CHECK_PTR_EQ(out[0], 3);
		}
		CHECK(hm_ring_empty(r));
		CHECK_EQ(hm_ring_destroy(r), 0);
	}
	hm_cleanup();
}

/* ---- reset ---- */

static void test_reset(void)
{
	struct hm_ring *r;
	struct model m;
	struct hm_ring fake;

	start();
	r = hm_ring_create_elem("reset", 16, 32, HM_SOCKET_ANY, 0);
	REQUIRE_NOT_NULL(r);
	snprintf(ctx, sizeof(ctx), "reset");
	model_open(&m, r, false, 0);
	REQUIRE_EQ(model_enqueue(&m, true, 20), 20);
	REQUIRE_EQ(model_dequeue(&m, true, 7), 7);
	hm_ring_reset(r);
	m.head = m.n = 0;
	REQUIRE(model_state(&m));
	CHECK_EQ(model_dequeue(&m, false, 5), 0);
	/* Full capacity again, in order, from the fresh start. */
	CHECK_EQ(model_enqueue(&m, true, 31), 31);
	CHECK_EQ(model_dequeue(&m, true, 31), 31);
	/* Reset of a full ring. */
	CHECK_EQ(model_enqueue(&m, false, 40), 31);
	hm_ring_reset(r);
	m.head = m.n = 0;
	REQUIRE(model_state(&m));
	CHECK_EQ(model_enqueue(&m, false, 40), 31);
	model_close(&m);
	/* Not a ring: nothing happens. */
	hm_ring_reset(NULL);
	memset(&fake, 0, sizeof(fake));
	fake.prod.tail = 5;
	hm_ring_reset(&fake);
	CHECK_EQ(fake.prod.tail, 5);
	CHECK_EQ(hm_ring_count(r), 31);
	CHECK_EQ(hm_ring_destroy(r), 0);
	hm_cleanup();
}

/* ---- randomised, against the model ---- */

static void test_random_model(void)
{
	static const unsigned esizes[] = {4, 8, 12, 20, 32, 0};
	unsigned n_ops = scaled(200000);
	uint64_t ops = 0;

	printf("random model: seed %llu\n", (unsigned long long)t_seed());
	start();
	for (unsigned trial = 0; trial < 12; trial++) {
		unsigned es = esizes[t_rand_below(sizeof(esizes) / sizeof(esizes[0]))];
		unsigned flags = modes[t_rand_below(4)] | (t_rand_below(2) ? HM_RING_EXACT_SZ : 0);
		unsigned count = flags & HM_RING_EXACT_SZ ? 1 + (unsigned)t_rand_below(300)
							  : 2u << t_rand_below(9);
		struct hm_ring *r =
			es ? hm_ring_create_elem("model", es, count, HM_SOCKET_ANY, flags)
			   : hm_ring_create("model", count, HM_SOCKET_ANY, flags);
		struct model m;

		REQUIRE_NOT_NULL(r);
		snprintf(ctx, sizeof(ctx), "random trial %u (esize %u, count %u, flags %#x)", trial,
			 hm_ring_esize(r), count, flags);
		model_open(&m, r, es == 0, (unsigned)t_rand_below(2) * 4);
		if (trial % 3 == 2)
			counters_at(r, UINT32_MAX - (uint32_t)t_rand_below(2000));
		for (unsigned op = 0; op < n_ops / 12; op++, ops++) {
			unsigned kind = (unsigned)t_rand_below(100);
			unsigned n = (unsigned)t_rand_below(t_rand_below(4) ? 8 : m.cap + 3);
			unsigned got = 0;

			if (n > MAX_ELEMS)
				n = MAX_ELEMS;
			if (kind < 22) {
				got = model_enqueue(&m, true, n);
			} else if (kind < 44) {
				got = model_enqueue(&m, false, n);
			} else if (kind < 66) {
				got = model_dequeue(&m, true, n);
			} else if (kind < 88) {
				got = model_dequeue(&m, false, n);
			} else if (kind < 93 && m.ptrs) {
				void *p;
				int want = m.n < m.cap ? 0 : -ENOBUFS;

				element((uint8_t *)&p, 8, m.next);
				if (hm_ring_enqueue(r, p) != want)
					got = UINT_MAX;
				if (want == 0) {
					m.q[(m.head + m.n) % m.cap] = m.next++;
					m.n++;
				}
			} else if (kind < 98 && m.ptrs) {
				void *p = (void *)0x1, *w;
				int want = m.n ? 0 : -ENOENT;

				if (hm_ring_dequeue(r, &p) != want)
					got = UINT_MAX;
				if (want == 0) {
					element((uint8_t *)&w, 8, m.q[m.head]);
					if (p != w)
						got = UINT_MAX;
					m.head = (m.head + 1) % m.cap;
					m.n--;
				} else if (p != (void *)0x1) {
					got = UINT_MAX;
				}
			} else if (kind == 99) {
				hm_ring_reset(r);
				m.head = m.n = 0;
			} else if (t_rand_below(2)) {
				wrong_esize(r);
			}
			if (got == UINT_MAX || !model_state(&m))
				t_fail(__FILE__, __LINE__, true,
				       "random model: trial %u (esize %u, count %u, flags %#x), op "
				       "%u "
				       "(kind %u, n %u) disagrees; replay with "
				       "HUGEMEM_TEST_SEED=%llu",
				       trial, m.esize, count, flags, op, kind, n,
				       (unsigned long long)t_seed());
		}
		model_close(&m);
		CHECK_EQ(hm_ring_destroy(r), 0);
	}
	CHECK_GT(ops, 0);
	hm_cleanup();
}

int main(int argc, char **argv)
{
	t_init(argc, argv);
	T_RUN(test_before_init);
	T_RUN(test_create_errors);
	T_RUN(test_names);
	T_RUN(test_socket);
	T_RUN(test_destroy_misuse);
	T_RUN(test_walk);
	T_RUN(test_dump);
	T_RUN(test_capacity);
	T_RUN(test_fill_drain);
	T_RUN(test_modes_sizes);
	T_RUN(test_wrap_slots);
	T_RUN(test_wrap_counters);
	T_RUN(test_single);
	T_RUN(test_reset);
	T_RUN(test_random_model);
	return t_done();
}
