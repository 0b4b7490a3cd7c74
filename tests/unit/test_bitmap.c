/* SPDX-License-Identifier: MIT */
/*
 * test_bitmap.c - src/util/bitmap.c against a model: one bool per bit.
 *
 * The randomised tests apply random set_range/clear_range calls to a bitmap
 * and to the model together, then compare every query with the model's
 * answer, computed the slow, obvious way. The model covers all the bits of
 * the words in memory, past nbits too: range updates must not touch any bit
 * outside their range, and searches must ignore the bits at or past nbits
 * whatever they hold (the tail is filled at random). Bitmaps are malloc'ed
 * at their exact size, so ASan and Valgrind see any read past the last word.
 * The first mismatch of a case ends the test with its context; the seed on
 * the first line replays it.
 */
#include "harness.h"
#include "util/bitmap.h"

#include <stdarg.h>
#include <stdlib.h>

#define NONE HM_BITMAP_NONE

struct model {
	size_t nbits; /* bits the searches look at */
	size_t words; /* hm__bitmap_words(nbits) */
	size_t mbits; /* words * 64: every bit in memory */
	uint64_t *bm; /* the bitmap under test, exactly words long */
	bool *bit;    /* the model, mbits long */
	/* Model answers for the current contents, from model_answers(). */
	size_t *next_set;   /* [i]: first set bit >= i below nbits, or NONE; nbits + 1 entries */
	size_t *next_clear; /* [i]: the same for clear bits */
	size_t *run;        /* [i]: clear bits from i up to the next set bit or nbits */
	size_t *ones;       /* [i]: set bits below i, over all mbits; mbits + 1 entries */
	size_t *first;      /* [i]: from model_runs(), for one run length */
};

static struct model *model_new(size_t nbits)
{
	struct model *m = calloc(1, sizeof(*m));

	REQUIRE_NOT_NULL(m);
	m->nbits = nbits;
	m->words = hm__bitmap_words(nbits);
	m->mbits = m->words * 64;
	m->bm = malloc(m->words * sizeof(uint64_t));
	m->bit = calloc(m->mbits, sizeof(bool));
	m->next_set = malloc((nbits + 1) * sizeof(size_t));
	m->next_clear = malloc((nbits + 1) * sizeof(size_t));
	m->run = malloc((nbits + 1) * sizeof(size_t));
	m->ones = malloc((m->mbits + 1) * sizeof(size_t));
	m->first = malloc((nbits + 1) * sizeof(size_t));
	REQUIRE(m->bm && m->bit && m->next_set && m->next_clear && m->run && m->ones && m->first);
	return m;
}

static void model_free(struct model *m)
{
	free(m->bm);
	free(m->bit);
	free(m->next_set);
	free(m->next_clear);
	free(m->run);
	free(m->ones);
	free(m->first);
	free(m);
}

/* Fill bitmap and model alike: 0 all clear, 1 all set, 2 random; the tail past nbits is random. */
static void model_fill(struct model *m, int how)
{
	for (size_t w = 0; w < m->words; w++) {
		uint64_t tail = t_rand();

		m->bm[w] = how == 0 ? 0 : how == 1 ? ~(uint64_t)0 : t_rand();
		for (size_t b = 0; b < 64; b++) {
			size_t i = w * 64 + b;

			if (i >= m->nbits)
				m->bm[w] = (m->bm[w] & ~((uint64_t)1 << b)) |
					   (tail & ((uint64_t)1 << b));
			m->bit[i] = (m->bm[w] >> b) & 1;
		}
	}
}

static void model_update(struct model *m, size_t start, size_t n, bool set)
{
	if (set)
		hm__bitmap_set_range(m->bm, start, n);
	else
		hm__bitmap_clear_range(m->bm, start, n);
	for (size_t i = start; i < start + n; i++)
		m->bit[i] = set;
}

/* Recompute the model's answers, each in one backward or forward pass. */
static void model_answers(struct model *m)
{
	size_t n = m->nbits;

	m->next_set[n] = m->next_clear[n] = NONE;
	m->run[n] = 0;
	for (size_t i = n; i-- > 0;) {
		m->next_set[i] = m->bit[i] ? i : m->next_set[i + 1];
		m->next_clear[i] = m->bit[i] ? m->next_clear[i + 1] : i;
		m->run[i] = m->bit[i] ? 0 : m->run[i + 1] + 1;
	}
	m->ones[0] = 0;
	for (size_t i = 0; i < m->mbits; i++)
		m->ones[i + 1] = m->ones[i] + m->bit[i];
}

/* first[i] for every i in [0, nbits]: the first start at or after i of a run of n clear bits. */
static void model_runs(struct model *m, size_t n)
{
	m->first[m->nbits] = NONE;
	for (size_t i = m->nbits; i-- > 0;)
		m->first[i] = n != 0 && m->run[i] >= n ? i : m->first[i + 1];
}

/* The longest clear run below nbits, the earliest of equals; *start NONE if there is none. */
static size_t model_biggest(const struct model *m, size_t *start)
{
	size_t best = 0;

	*start = NONE;
	for (size_t i = 0; i < m->nbits; i++) {
		if (m->run[i] > best) {
			best = m->run[i];
			*start = i;
		}
	}
	return best;
}

/* Print the bits below nbits (bit 0 first) to help read a failure. */
static void model_dump(const struct model *m)
{
	if (m->nbits > 640)
		return;
	fprintf(stderr, "bitmap, nbits %zu, bit 0 first:\n", m->nbits);
	for (size_t i = 0; i < m->nbits; i++)
		fputc(hm__bitmap_test(m->bm, i) ? '1' : '0', stderr);
	fputc('\n', stderr);
}

/* "NONE" or the number, for messages; buf must hold 24 bytes. */
static const char *show(size_t v, char *buf)
{
	if (v == NONE)
		return "NONE";
	snprintf(buf, 24, "%zu", v);
	return buf;
}

/* Compare got with want; on a mismatch record a failure that says which call, and return false. */
static bool match(int line, size_t got, size_t want, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static bool match(int line, size_t got, size_t want, const char *fmt, ...)
{
	char call[256], g[24], w[24];
	va_list ap;

	if (got == want)
		return true;
	va_start(ap, fmt);
	vsnprintf(call, sizeof(call), fmt, ap);
	va_end(ap);
	t_fail(__FILE__, line, false, "%s = %s, model says %s", call, show(got, g), show(want, w));
	return false;
}

#define MATCH(got, want, ...)                                     \
	do {                                                      \
		if (!match(__LINE__, (got), (want), __VA_ARGS__)) \
			return false;                             \
	} while (0)

/* Every bit in memory, tail included, equals the model. */
static bool check_memory(const struct model *m)
{
	for (size_t i = 0; i < m->mbits; i++)
		MATCH(hm__bitmap_test(m->bm, i), m->bit[i], "bit %zu of %zu in memory", i,
		      m->mbits);
	return true;
}

static bool check_find_next(const struct model *m, size_t i)
{
	size_t nb = m->nbits;
	size_t want_set = i < nb ? m->next_set[i] : NONE;
	size_t want_clear = i < nb ? m->next_clear[i] : NONE;

	MATCH(hm__bitmap_find_next_set(m->bm, nb, i), want_set,
	      "find_next_set(nbits %zu, start %zu)", nb, i);
	MATCH(hm__bitmap_find_next_clear(m->bm, nb, i), want_clear,
	      "find_next_clear(nbits %zu, start %zu)", nb, i);
	return true;
}

/* find_clear_run(start, n), the model's answer being first[start] from model_runs(m, n). */
static bool check_run(const struct model *m, size_t start, size_t n)
{
	size_t want = start < m->nbits ? m->first[start] : NONE;

	MATCH(hm__bitmap_find_clear_run(m->bm, m->nbits, start, n), want,
	      "find_clear_run(nbits %zu, start %zu, n %zu)", m->nbits, start, n);
	return true;
}

/* find_clear_run for a run of n at each of starts[0..count). */
static bool check_runs(struct model *m, const size_t *starts, size_t count, size_t n)
{
	model_runs(m, n);
	for (size_t k = 0; k < count; k++) {
		if (!check_run(m, starts[k], n))
			return false;
	}
	return true;
}

/* range_clear, range_set over [start, start + n), which may reach past nbits up to mbits. */
static bool check_range(const struct model *m, size_t start, size_t n)
{
	size_t ones = m->ones[start + n] - m->ones[start];

	MATCH(hm__bitmap_range_clear(m->bm, start, n), ones == 0, "range_clear(start %zu, n %zu)",
	      start, n);
	MATCH(hm__bitmap_range_set(m->bm, start, n), ones == n, "range_set(start %zu, n %zu)",
	      start, n);
	return true;
}

static bool check_whole(const struct model *m)
{
	size_t want_start, got_start = 12345;
	size_t want = model_biggest(m, &want_start);

	MATCH(hm__bitmap_biggest_clear_run(m->bm, m->nbits, &got_start), want,
	      "biggest_clear_run(nbits %zu) length", m->nbits);
	MATCH(got_start, want_start, "biggest_clear_run(nbits %zu) start", m->nbits);
	MATCH(hm__bitmap_biggest_clear_run(m->bm, m->nbits, NULL), want,
	      "biggest_clear_run(nbits %zu, NULL) length", m->nbits);
	MATCH(hm__bitmap_count_set(m->bm, m->nbits), m->ones[m->nbits], "count_set(nbits %zu)",
	      m->nbits);
	return true;
}

/* Check every query at every start (n 1..130 and the edges for runs): for small bitmaps. */
static bool check_all(struct model *m)
{
	size_t nb = m->nbits;

	model_answers(m);
	if (!check_memory(m) || !check_whole(m))
		return false;
	for (size_t i = 0; i <= nb + 1; i++) {
		if (!check_find_next(m, i))
			return false;
	}
	for (size_t n = 0; n <= 130; n++) {
		model_runs(m, n);
		for (size_t i = 0; i <= nb; i++) {
			if (!check_run(m, i, n))
				return false;
		}
	}
	for (size_t i = 0; i <= nb; i++) {
		size_t too_long[] = {nb - i + 1, NONE};

		for (size_t k = 0; k < 2; k++) {
			model_runs(m, too_long[k]);
			if (!check_run(m, i, too_long[k]))
				return false;
		}
	}
	for (size_t k = 0; k < 4 * m->mbits; k++) {
		size_t start = t_rand_below(m->mbits + 1);
		size_t n = t_rand_below(m->mbits - start + 1);

		if (!check_range(m, start, n))
			return false;
	}
	for (size_t i = 0; i <= m->mbits; i++) {
		if (!check_range(m, i, 0) || !check_range(m, 0, i) ||
		    !check_range(m, i, m->mbits - i))
			return false;
	}
	return true;
}

/* Check a sample of each query: for big bitmaps, where every start would take too long. */
static bool check_sampled(struct model *m)
{
	static const size_t lens[] = {1, 2, 3, 31, 63, 64, 65, 127, 128, 129, 130, 191, 1000, 5000};
	size_t nb = m->nbits, big, big_start, starts[200];

	model_answers(m);
	if (!check_memory(m) || !check_whole(m))
		return false;
	big = model_biggest(m, &big_start);
	for (size_t k = 0; k < 2000; k++) {
		size_t i = k < 4 ? nb - k : t_rand_below(nb);

		if (!check_find_next(m, i))
			return false;
	}
	/* Random starts, half of them moved to the start of a clear run, and the edges. */
	for (size_t k = 0; k < 200; k++) {
		starts[k] = t_rand_below(nb);
		if (k % 2 && m->next_clear[starts[k]] != NONE)
			starts[k] = m->next_clear[starts[k]];
	}
	starts[0] = 0;
	starts[1] = nb - 1;
	starts[2] = nb;
	for (size_t j = 0; j < sizeof(lens) / sizeof(lens[0]); j++) {
		if (!check_runs(m, starts, 200, lens[j]))
			return false;
	}
	if (!check_runs(m, starts, 200, big) || !check_runs(m, starts, 200, big + 1))
		return false;
	for (size_t k = 0; k < 5000; k++) {
		size_t start = t_rand_below(m->mbits + 1);
		size_t n = k % 2 ? t_rand_below(m->mbits - start + 1) : t_rand_below(200);

		if (!check_range(m, start, HM_MIN(n, m->mbits - start)))
			return false;
	}
	return true;
}

/* A random range within [0, limit): lengths around 0, a few bits, a word, or anything. */
static void random_range(size_t limit, size_t *start, size_t *n)
{
	size_t len;

	switch (t_rand_below(5)) {
	case 0:
		len = t_rand_below(4);
		break;
	case 1:
		len = t_rand_below(12);
		break;
	case 2:
		len = 56 + t_rand_below(17);
		break;
	case 3:
		len = 120 + t_rand_below(20);
		break;
	default:
		len = t_rand_below(limit + 1);
		break;
	}
	len = HM_MIN(len, limit);
	*start = t_rand_below(limit - len + 1);
	*n = len;
}

/* Random update sequences on one bitmap of nbits, checked after each step. */
static bool random_case(size_t nbits, unsigned steps, bool sampled)
{
	struct model *m = model_new(nbits);
	int fill = (int)t_rand_below(3);
	unsigned set_pct = (unsigned[]){20, 50, 80}[t_rand_below(3)];
	unsigned step = 0;
	bool ok, set = false;
	size_t start = 0, n = 0;

	model_fill(m, fill);
	ok = sampled ? check_sampled(m) : check_all(m);
	for (; ok && step < steps; step++) {
		/* Now and then update the tail past nbits too: the searches must still ignore it. */
		size_t limit = t_rand_below(8) == 0 ? m->mbits : nbits;

		set = t_rand_below(100) < set_pct;
		random_range(limit, &start, &n);
		model_update(m, start, n, set);
		ok = sampled ? check_sampled(m) : check_all(m);
	}
	if (!ok) {
		if (step == 0)
			fprintf(stderr, "after fill %d (0 clear, 1 set, 2 random)\n", fill);
		else
			fprintf(stderr, "after step %u: %s_range(start %zu, n %zu)\n", step - 1,
				set ? "set" : "clear", start, n);
		model_dump(m);
	}
	model_free(m);
	return ok;
}

static void test_random_small(void)
{
	for (size_t nbits = 1; nbits <= 300; nbits++) {
		if (!random_case(nbits, 5, false))
			return;
	}
}

static void test_random_big(void)
{
	static const size_t sizes[] = {65536, 100000, 100003};

	for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		if (!random_case(sizes[k], 25, true))
			return;
	}
}

/* Set or clear ranges of n 0, and at the very end of the memory: no bit changes, no access. */
static void test_empty_ranges(void)
{
	uint64_t bm[2] = {0x0123456789abcdefull, 0xfedcba9876543210ull};

	hm__bitmap_set_range(bm, 0, 0);
	hm__bitmap_clear_range(bm, 5, 0);
	hm__bitmap_set_range(bm, 64, 0);
	hm__bitmap_clear_range(bm, 128, 0);
	CHECK_UEQ(bm[0], 0x0123456789abcdefull);
	CHECK_UEQ(bm[1], 0xfedcba9876543210ull);
	CHECK(hm__bitmap_range_clear(bm, 3, 0));
	CHECK(hm__bitmap_range_set(bm, 128, 0));
}

/* Ranges ending exactly on a word boundary, and covering whole words. */
static void test_ranges_word_edges(void)
{
	uint64_t bm[3] = {0, 0, 0};

	hm__bitmap_set_range(bm, 60, 4);
	CHECK_UEQ(bm[0], 0xf000000000000000ull);
	CHECK_UEQ(bm[1], 0);
	hm__bitmap_set_range(bm, 64, 128);
	CHECK_UEQ(bm[1], ~0ull);
	CHECK_UEQ(bm[2], ~0ull);
	hm__bitmap_clear_range(bm, 63, 66);
	CHECK_UEQ(bm[0], 0x7000000000000000ull);
	CHECK_UEQ(bm[1], 0);
	CHECK_UEQ(bm[2], ~0ull << 1);
	CHECK(hm__bitmap_range_set(bm, 129, 63));
	CHECK(!hm__bitmap_range_set(bm, 128, 64));
	CHECK(hm__bitmap_range_clear(bm, 63, 66));
	CHECK(!hm__bitmap_range_clear(bm, 62, 66));
	CHECK(!hm__bitmap_range_clear(bm, 63, 67));
}

/* start at or past nbits, and n 0 or too large, find nothing. */
static void test_out_of_range(void)
{
	uint64_t bm[2] = {0, 0}; /* all clear, the tail too */

	CHECK_UEQ(hm__bitmap_find_next_clear(bm, 70, 70), NONE);
	CHECK_UEQ(hm__bitmap_find_next_clear(bm, 70, 71), NONE);
	CHECK_UEQ(hm__bitmap_find_next_clear(bm, 70, NONE), NONE);
	CHECK_UEQ(hm__bitmap_find_next_clear(bm, 70, 69), 69);
	CHECK_UEQ(hm__bitmap_find_next_set(bm, 70, 0), NONE);
	CHECK_UEQ(hm__bitmap_find_clear_run(bm, 70, 70, 1), NONE);
	CHECK_UEQ(hm__bitmap_find_clear_run(bm, 70, NONE, 1), NONE);
	CHECK_UEQ(hm__bitmap_find_clear_run(bm, 70, 0, 0), NONE);
	CHECK_UEQ(hm__bitmap_find_clear_run(bm, 70, 0, 70), 0);
	CHECK_UEQ(hm__bitmap_find_clear_run(bm, 70, 0, 71), NONE);
	CHECK_UEQ(hm__bitmap_find_clear_run(bm, 70, 1, 70), NONE);
	CHECK_UEQ(hm__bitmap_find_clear_run(bm, 70, 69, 1), 69);
	CHECK_UEQ(hm__bitmap_find_clear_run(bm, 70, 69, 2), NONE);
	CHECK_UEQ(hm__bitmap_find_clear_run(bm, 70, 5, NONE), NONE);
	CHECK_UEQ(hm__bitmap_find_clear_run(bm, 70, 5, NONE - 4), NONE);
	CHECK_UEQ(hm__bitmap_find_next_set(bm, 0, 0), NONE);
	CHECK_UEQ(hm__bitmap_find_next_clear(bm, 0, 0), NONE);
	CHECK_UEQ(hm__bitmap_find_clear_run(bm, 0, 0, 1), NONE);
	CHECK_UEQ(hm__bitmap_biggest_clear_run(bm, 0, NULL), 0);
	CHECK_UEQ(hm__bitmap_count_set(bm, 0), 0);
}

/* The bits past nbits count neither as set nor as clear, whatever memory holds. */
static void test_tail_ignored(void)
{
	uint64_t bm[2] = {~0ull, 0x3f}; /* bits 0..69 set, 70..127 clear */
	size_t start = 1;

	CHECK_UEQ(hm__bitmap_find_next_clear(bm, 70, 0), NONE);
	CHECK_UEQ(hm__bitmap_find_clear_run(bm, 70, 0, 1), NONE);
	CHECK_UEQ(hm__bitmap_biggest_clear_run(bm, 70, &start), 0);
	CHECK_UEQ(start, NONE);
	CHECK_UEQ(hm__bitmap_count_set(bm, 70), 70);
	CHECK_UEQ(hm__bitmap_find_next_clear(bm, 71, 0), 70);

	bm[0] = 0;
	bm[1] = ~0ull << 6; /* bits 0..69 clear, 70..127 set */
	CHECK_UEQ(hm__bitmap_find_next_set(bm, 70, 0), NONE);
	CHECK_UEQ(hm__bitmap_count_set(bm, 70), 0);
	CHECK_UEQ(hm__bitmap_biggest_clear_run(bm, 70, &start), 70);
	CHECK_UEQ(start, 0);
	CHECK_UEQ(hm__bitmap_find_clear_run(bm, 70, 6, 64), 6);
	CHECK_UEQ(hm__bitmap_find_clear_run(bm, 70, 6, 65), NONE);
}

/* nbits a multiple of 64: the last bit is a full member, and start nbits - 1 works. */
static void test_last_bit(void)
{
	uint64_t bm[2] = {~0ull, ~0ull >> 1}; /* only bit 127 clear */

	CHECK_UEQ(hm__bitmap_find_next_clear(bm, 128, 127), 127);
	CHECK_UEQ(hm__bitmap_find_next_clear(bm, 128, 0), 127);
	CHECK_UEQ(hm__bitmap_find_clear_run(bm, 128, 127, 1), 127);
	CHECK_UEQ(hm__bitmap_find_clear_run(bm, 128, 0, 1), 127);
	CHECK_UEQ(hm__bitmap_find_clear_run(bm, 128, 127, 2), NONE);
	CHECK_UEQ(hm__bitmap_find_next_set(bm, 128, 127), NONE);
	CHECK_UEQ(hm__bitmap_find_next_set(bm, 128, 126), 126);
	CHECK_UEQ(hm__bitmap_count_set(bm, 128), 127);
	CHECK_UEQ(hm__bitmap_biggest_clear_run(bm, 128, NULL), 1);
	CHECK_UEQ(hm__bitmap_find_next_clear(bm, 127, 0), NONE);
	CHECK_UEQ(hm__bitmap_find_next_clear(bm, 64, 63), NONE);
}

/* A clear run across 4 words, in a bitmap otherwise set. */
static void test_run_across_words(void)
{
	uint64_t bm[5];
	size_t start;

	for (int i = 0; i < 5; i++)
		bm[i] = ~0ull;
	hm__bitmap_clear_range(bm, 60, 141); /* [60, 201) */
	CHECK_UEQ(hm__bitmap_find_clear_run(bm, 320, 0, 141), 60);
	CHECK_UEQ(hm__bitmap_find_clear_run(bm, 320, 0, 142), NONE);
	CHECK_UEQ(hm__bitmap_find_clear_run(bm, 320, 61, 140), 61);
	CHECK_UEQ(hm__bitmap_find_clear_run(bm, 320, 61, 141), NONE);
	CHECK_UEQ(hm__bitmap_find_clear_run(bm, 320, 100, 101), 100);
	CHECK_UEQ(hm__bitmap_find_clear_run(bm, 320, 0, 5), 60);
	CHECK_UEQ(hm__bitmap_find_clear_run(bm, 201, 0, 141), 60);
	CHECK_UEQ(hm__bitmap_find_clear_run(bm, 200, 0, 141), NONE);
	CHECK_UEQ(hm__bitmap_biggest_clear_run(bm, 320, &start), 141);
	CHECK_UEQ(start, 60);
	CHECK_UEQ(hm__bitmap_find_next_set(bm, 320, 60), 201);
	CHECK(hm__bitmap_range_clear(bm, 60, 141));
	CHECK(!hm__bitmap_range_clear(bm, 59, 142));
}

/* The earliest of equal runs wins, and a run inside a word can be the biggest. */
static void test_biggest_ties(void)
{
	uint64_t bm[3] = {~0ull, ~0ull, ~0ull};
	size_t start;

	hm__bitmap_clear_range(bm, 10, 5);  /* inside word 0 */
	hm__bitmap_clear_range(bm, 62, 5);  /* across words 0 and 1 */
	hm__bitmap_clear_range(bm, 150, 5); /* inside word 2 */
	CHECK_UEQ(hm__bitmap_biggest_clear_run(bm, 192, &start), 5);
	CHECK_UEQ(start, 10);
	hm__bitmap_clear_range(bm, 151, 6);
	CHECK_UEQ(hm__bitmap_biggest_clear_run(bm, 192, &start), 7);
	CHECK_UEQ(start, 150);
	hm__bitmap_clear_range(bm, 186, 6); /* to the end, with bit 185 still set */
	CHECK_UEQ(hm__bitmap_biggest_clear_run(bm, 192, &start), 7);
	CHECK_UEQ(start, 150);
	hm__bitmap_clear_range(bm, 185, 1);
	CHECK_UEQ(hm__bitmap_biggest_clear_run(bm, 192, &start), 7);
	CHECK_UEQ(start, 150);
	hm__bitmap_clear_range(bm, 184, 1);
	CHECK_UEQ(hm__bitmap_biggest_clear_run(bm, 192, &start), 8);
	CHECK_UEQ(start, 184);
	hm__bitmap_clear_range(bm, 0, 192);
	CHECK_UEQ(hm__bitmap_biggest_clear_run(bm, 192, &start), 192);
	CHECK_UEQ(start, 0);
	CHECK_UEQ(hm__bitmap_biggest_clear_run(bm, 130, &start), 130);
}

/* Alternating bits: every word has 32 runs of 1, none of 2. */
static void test_alternating(void)
{
	uint64_t bm[4];
	size_t start;

	for (int i = 0; i < 4; i++)
		bm[i] = 0x5555555555555555ull; /* even bits set */
	CHECK_UEQ(hm__bitmap_find_clear_run(bm, 256, 0, 1), 1);
	CHECK_UEQ(hm__bitmap_find_clear_run(bm, 256, 2, 1), 3);
	CHECK_UEQ(hm__bitmap_find_clear_run(bm, 256, 0, 2), NONE);
	CHECK_UEQ(hm__bitmap_biggest_clear_run(bm, 256, &start), 1);
	CHECK_UEQ(start, 1);
	CHECK_UEQ(hm__bitmap_count_set(bm, 256), 128);
	CHECK_UEQ(hm__bitmap_count_set(bm, 255), 128);
	CHECK_UEQ(hm__bitmap_count_set(bm, 254), 127);
	hm__bitmap_clear(bm, 130); /* bits 129..131 now clear */
	CHECK_UEQ(hm__bitmap_find_clear_run(bm, 256, 0, 2), 129);
	CHECK_UEQ(hm__bitmap_find_clear_run(bm, 256, 0, 3), 129);
	CHECK_UEQ(hm__bitmap_find_clear_run(bm, 256, 130, 2), 130);
	CHECK_UEQ(hm__bitmap_find_clear_run(bm, 256, 0, 4), NONE);
	CHECK_UEQ(hm__bitmap_biggest_clear_run(bm, 256, &start), 3);
	CHECK_UEQ(start, 129);
}

int main(int argc, char **argv)
{
	t_init(argc, argv);
	T_RUN(test_empty_ranges);
	T_RUN(test_ranges_word_edges);
	T_RUN(test_out_of_range);
	T_RUN(test_tail_ignored);
	T_RUN(test_last_bit);
	T_RUN(test_run_across_words);
	T_RUN(test_biggest_ties);
	T_RUN(test_alternating);
	T_RUN(test_random_small);
	T_RUN(test_random_big);
	return t_done();
}
