/* SPDX-License-Identifier: MIT */
/*
 * bitmap.c - range updates and searches over arrays of uint64_t words.
 *
 * Every function works a word at a time: a range update touches each word it
 * covers once, with a mask at either end, and a search reads each word once,
 * skipping whole words that cannot hold an answer in one step. The run
 * searches carry the length of the clear run that reaches the top of one word
 * into the next, so runs that span any number of words cost no more than the
 * words they cover. Inside a word, "is there a run of n clear bits" is
 * answered in O(log n) steps by the shift-and trick of runs_of() below.
 *
 * Bits at or past nbits may hold anything in memory (the last word's tail is
 * not the caller's to keep clean); the searches mask them off, so they never
 * count as set or clear. No locks: the caller holds the lock of the structure
 * the bitmap belongs to.
 */
#include "util/bitmap.h"

#define ALL_ONES (~(uint64_t)0)

/* Bits [b, 64) of a word, for b in [0, 64). */
static inline uint64_t mask_from(size_t b)
{
	return ALL_ONES << (b % 64);
}

/* Bits [0, end % 64) of the word holding bit end - 1, or all 64 if end % 64 is 0. */
static inline uint64_t mask_to(size_t end)
{
	return ALL_ONES >> (-end % 64);
}

/*
 * Bit i of the result is set iff bits [i, i + n) of x are all set, for
 * 1 <= n <= 64. Runs that would cross bit 63 do not count: zeros shift in
 * from the top. Each step doubles the length checked, so it takes about
 * log2(n) steps.
 */
static inline uint64_t runs_of(uint64_t x, size_t n)
{
	size_t have = 1; /* x now marks the starts of runs of this length */

	while (have < n && x) {
		size_t s = HM_MIN(have, n - have);

		x &= x >> s;
		have += s;
	}
	return x;
}

/* Word w of bm, inverted by flip (0 or ALL_ONES), with the bits at or past nbits cleared. */
static inline uint64_t word_at(const uint64_t *bm, size_t nbits, size_t w, uint64_t flip)
{
	uint64_t x = bm[w] ^ flip;

	if (w == (nbits - 1) / 64)
		x &= mask_to(nbits);
	return x;
}

/* Set (set true) or clear bits [start, start + n). */
static void update_range(uint64_t *bm, size_t start, size_t n, bool set)
{
	uint64_t *p = bm + start / 64;
	uint64_t mask = mask_from(start);
	size_t end = start + n;
	size_t left = 64 - start % 64; /* bits from start to the end of its word */

	HM_ASSERT(end >= start);
	if (n == 0)
		return;
	while (n >= left) {
		if (set)
			*p |= mask;
		else
			*p &= ~mask;
		p++;
		n -= left;
		left = 64;
		mask = ALL_ONES;
	}
	if (n) {
		mask &= mask_to(end);
		if (set)
			*p |= mask;
		else
			*p &= ~mask;
	}
}

void hm__bitmap_set_range(uint64_t *bm, size_t start, size_t n)
{
	update_range(bm, start, n, true);
}

void hm__bitmap_clear_range(uint64_t *bm, size_t start, size_t n)
{
	update_range(bm, start, n, false);
}

/* Whether every bit of [start, start + n), inverted by flip, is set. */
static bool range_all(const uint64_t *bm, size_t start, size_t n, uint64_t flip)
{
	const uint64_t *p = bm + start / 64;
	uint64_t mask = mask_from(start);
	size_t end = start + n;
	size_t left = 64 - start % 64;

	HM_ASSERT(end >= start);
	if (n == 0)
		return true;
	while (n >= left) {
		if (((*p ^ flip) & mask) != mask)
			return false;
		p++;
		n -= left;
		left = 64;
		mask = ALL_ONES;
	}
	if (n) {
		mask &= mask_to(end);
		if (((*p ^ flip) & mask) != mask)
			return false;
	}
	return true;
}

bool hm__bitmap_range_clear(const uint64_t *bm, size_t start, size_t n)
{
	return range_all(bm, start, n, ALL_ONES);
}

bool hm__bitmap_range_set(const uint64_t *bm, size_t start, size_t n)
{
	return range_all(bm, start, n, 0);
}

/* The first bit at or after start and below nbits that is set once inverted by flip. */
static size_t find_next(const uint64_t *bm, size_t nbits, size_t start, uint64_t flip)
{
	size_t w, last;
	uint64_t x;

	if (start >= nbits)
		return HM_BITMAP_NONE;
	w = start / 64;
	last = (nbits - 1) / 64;
	x = word_at(bm, nbits, w, flip) & mask_from(start);
	while (x == 0) {
		if (++w > last)
			return HM_BITMAP_NONE;
		x = word_at(bm, nbits, w, flip);
	}
	return w * 64 + (size_t)__builtin_ctzll(x);
}

size_t hm__bitmap_find_next_set(const uint64_t *bm, size_t nbits, size_t start)
{
	return find_next(bm, nbits, start, 0);
}

size_t hm__bitmap_find_next_clear(const uint64_t *bm, size_t nbits, size_t start)
{
	return find_next(bm, nbits, start, ALL_ONES);
}

/*
 * Walk the words from the one holding start; clr is a word's clear bits, with
 * those below start and at or past nbits masked off. The run_len clear bits
 * from run_start end at the top of the previous word. Each word is tried in
 * order of start position: the carried run grown by the word's low clear
 * bits, then a run inside the word, then its high clear bits become the carry.
 */
size_t hm__bitmap_find_clear_run(const uint64_t *bm, size_t nbits, size_t start, size_t n)
{
	size_t w, last;
	size_t run_start = 0, run_len = 0;

	if (n == 0 || start >= nbits || n > nbits - start)
		return HM_BITMAP_NONE;
	last = (nbits - 1) / 64;
	for (w = start / 64; w <= last; w++) {
		uint64_t clr = word_at(bm, nbits, w, ALL_ONES);
		size_t low, high;
		uint64_t in;

		/* The carried run plus everything left cannot reach n. */
		if (run_len + (nbits - w * 64) < n)
			break;
		if (w == start / 64)
			clr &= mask_from(start);
		if (clr == 0) {
			run_len = 0;
			continue;
		}
		if (clr == ALL_ONES) {
			if (run_len == 0)
				run_start = w * 64;
			run_len += 64;
			if (run_len >= n)
				return run_start;
			continue;
		}
		low = (size_t)__builtin_ctzll(~clr);
		if (run_len + low >= n)
			return run_len ? run_start : w * 64;
		if (n < 64) {
			in = runs_of(clr, n);
			if (in)
				return w * 64 + (size_t)__builtin_ctzll(in);
		}
		high = (size_t)__builtin_clzll(~clr);
		run_len = high;
		run_start = w * 64 + 64 - high;
	}
	return HM_BITMAP_NONE;
}

/*
 * The same walk as hm__bitmap_find_clear_run(), keeping the longest run closed
 * so far. A run inside a word is looked for only if it would beat that
 * longest run, and is then grown one bit at a time; since the longest run only
 * grows, those one-bit steps add up to at most 64 over the whole scan. Ties go
 * to the earliest run.
 */
size_t hm__bitmap_biggest_clear_run(const uint64_t *bm, size_t nbits, size_t *start)
{
	size_t best_start = HM_BITMAP_NONE, best_len = 0;
	size_t run_start = 0, run_len = 0;
	size_t w, words = hm__bitmap_words(nbits);

	for (w = 0; w < words; w++) {
		uint64_t clr = word_at(bm, nbits, w, ALL_ONES);
		size_t low, high;
		uint64_t in;

		if (clr == ALL_ONES) {
			if (run_len == 0)
				run_start = w * 64;
			run_len += 64;
			continue;
		}
		low = (size_t)__builtin_ctzll(~clr);
		if (run_len == 0)
			run_start = w * 64;
		run_len += low;
		if (run_len > best_len) {
			best_len = run_len;
			best_start = run_start;
		}
		high = (size_t)__builtin_clzll(~clr);
		/* The clear bits strictly inside the word; low + high < 64 here. */
		in = clr & mask_from(low) & (ALL_ONES >> high);
		if (in && best_len < 64) {
			in = runs_of(in, best_len + 1);
			while (in) {
				best_len++;
				best_start = w * 64 + (size_t)__builtin_ctzll(in);
				in &= in >> 1;
			}
		}
		run_len = high;
		run_start = w * 64 + 64 - high;
	}
	if (run_len > best_len) {
		best_len = run_len;
		best_start = run_start;
	}
	if (start)
		*start = best_start;
	return best_len;
}

size_t hm__bitmap_count_set(const uint64_t *bm, size_t nbits)
{
	size_t w, words = hm__bitmap_words(nbits);
	size_t count = 0;

	for (w = 0; w < words; w++)
		count += (size_t)__builtin_popcountll(word_at(bm, nbits, w, 0));
	return count;
}
