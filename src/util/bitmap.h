/* SPDX-License-Identifier: MIT */
/*
 * bitmap.h - arrays of bits in uint64_t words: set, clear, and the searches
 * that segment lists (a set bit is a used page) and buffer pools need.
 * Bit i lives in word i / 64 at position i % 64. Not thread-safe: callers
 * hold the lock of the structure the bitmap belongs to.
 * Layer: util; includes only public headers and internal.h.
 */
#ifndef HM_UTIL_BITMAP_H
#define HM_UTIL_BITMAP_H

#include "internal.h"

#define HM_BITMAP_NONE ((size_t)-1) /* "not found" from the searches */

/* Words needed for nbits bits. */
static inline size_t hm__bitmap_words(size_t nbits)
{
	return (nbits + 63) / 64;
}

static inline bool hm__bitmap_test(const uint64_t *bm, size_t i)
{
	return (bm[i / 64] >> (i % 64)) & 1;
}

static inline void hm__bitmap_set(uint64_t *bm, size_t i)
{
	bm[i / 64] |= (uint64_t)1 << (i % 64);
}

static inline void hm__bitmap_clear(uint64_t *bm, size_t i)
{
	bm[i / 64] &= ~((uint64_t)1 << (i % 64));
}

/*
 * Set or clear bits [start, start + n), word at a time; n 0 touches nothing.
 * No nbits here: the range must lie within the words of the bitmap.
 */
void hm__bitmap_set_range(uint64_t *bm, size_t start, size_t n);
void hm__bitmap_clear_range(uint64_t *bm, size_t start, size_t n);

/* Whether every bit of [start, start + n) is clear (resp. set). n 0: true. */
bool hm__bitmap_range_clear(const uint64_t *bm, size_t start, size_t n);
bool hm__bitmap_range_set(const uint64_t *bm, size_t start, size_t n);

/*
 * The first set (resp. clear) bit at or after start and below nbits, or
 * HM_BITMAP_NONE (also for start >= nbits). Bits at or past nbits in the last
 * word are never found, whatever they hold.
 */
size_t hm__bitmap_find_next_set(const uint64_t *bm, size_t nbits, size_t start);
size_t hm__bitmap_find_next_clear(const uint64_t *bm, size_t nbits, size_t start);

/*
 * The start of the first run of n clear bits at or after start that ends at
 * or below nbits, or HM_BITMAP_NONE (also for n 0 and start >= nbits). Word-wide
 * scans: cost is proportional to the words looked at (O(log n) each), not to
 * the bits; all-set words are passed in one step.
 */
size_t hm__bitmap_find_clear_run(const uint64_t *bm, size_t nbits, size_t start, size_t n);

/*
 * The longest run of clear bits below nbits: its length (0: none) and, if start
 * is not NULL, its start (the earliest of equally long runs; HM_BITMAP_NONE if
 * there is no clear bit). Word-wide scans, like hm__bitmap_find_clear_run().
 */
size_t hm__bitmap_biggest_clear_run(const uint64_t *bm, size_t nbits, size_t *start);

/* Number of set bits below nbits. */
size_t hm__bitmap_count_set(const uint64_t *bm, size_t nbits);

#endif /* HM_UTIL_BITMAP_H */
