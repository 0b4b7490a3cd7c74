/* SPDX-License-Identifier: MIT */
/*
 * test_bufpool_big.c - a buffer pool of more than 4 GiB (netmap had 32-bit
 * overflows there): 4,160 buffers of 1 MiB, 4.06 GiB on 4 KiB pages. Every
 * buffer's address, index round trip and IOVA; the first and last byte of
 * every buffer written and read back, so each offset past 4 GiB is real
 * memory of the pool; the info's byte counts in 64 bits. Skipped when the
 * machine has not 6 GiB of memory available.
 */
#include "harness.h"
#include <hugemem.h>

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define GIB   ((uint64_t)1 << 30)
#define COUNT 4160u
#define BUF   ((size_t)1 << 20)

static uint64_t available_memory(void)
{
	FILE *f = fopen("/proc/meminfo", "r");
	char line[128];
	unsigned long long kib = 0;

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "MemAvailable: %llu kB", &kib) == 1)
			break;
	fclose(f);
	return (uint64_t)kib << 10;
}

static void test_pool_past_4gib(void)
{
	struct hm_config c;
	struct hm_bufpool *bp;
	struct hm_bufpool_info in;
	uint32_t *idx;
	char *lo = NULL, *hi = NULL;

	if (available_memory() < 6 * GIB)
		SKIP("needs 6 GiB of available memory");
	hm_config_defaults(&c);
	c.no_huge = true;
	c.memory_limit = (size_t)(9 * GIB / 2);
	REQUIRE_EQ(hm_init(&c), 0);
	bp = hm_bufpool_create("big", COUNT, BUF, HM_SOCKET_ANY, 0);
	REQUIRE_NOT_NULL(bp);
	REQUIRE_EQ(hm_bufpool_info(bp, &in), 0);
	CHECK_UEQ(in.count, COUNT);
	CHECK_UEQ(in.buf_size, BUF);
	CHECK_UEQ(in.memory, (uint64_t)COUNT * BUF);
	CHECK(in.memory > 4 * GIB);
	CHECK_UEQ(in.waste, 0);

	for (uint32_t i = 0; i < COUNT; i++) {
		char *a = hm_bufpool_addr(bp, i);

		if (!lo || a < lo)
			lo = a;
		if (!hi || a > hi)
			hi = a;
		CHECK_UEQ(hm_bufpool_idx(bp, a), i);
		CHECK_UEQ(hm_bufpool_idx(bp, a + BUF - 1), i);
		CHECK_UEQ(hm_bufpool_iova(bp, i), hm_virt2iova(a));
		a[0] = (char)i;
		a[BUF - 1] = (char)~i;
	}
	/* The buffers span more than 4 GiB of addresses. */
	CHECK((uint64_t)(hi - lo) + BUF > 4 * GIB);
	for (uint32_t i = 0; i < COUNT; i++) {
		const char *a = hm_bufpool_addr(bp, i);
		if (a[0] != (char)i || a[BUF - 1] != (char)~i) {
			CHECK(!"a buffer's first or last byte changed");
			break;
		}
	}

	/* Every allocatable index once, then all back. */
	idx = calloc(COUNT, sizeof(*idx));
	REQUIRE_NOT_NULL(idx);
	unsigned n = 0;
	for (uint32_t x; (x = hm_bufpool_alloc(bp)) != 0; n++) {
		REQUIRE(n < COUNT);
		idx[n] = x;
	}
	CHECK_UEQ(n, COUNT - HM_BUFPOOL_RESERVED);
	hm_bufpool_free_bulk(bp, idx, n);
	CHECK_UEQ(hm_bufpool_free_count(bp), COUNT - HM_BUFPOOL_RESERVED);
	free(idx);
	CHECK_EQ(hm_bufpool_destroy(bp), 0);
	hm_cleanup();
}

int main(int argc, char **argv)
{
	t_init(argc, argv);
	T_RUN(test_pool_past_4gib);
	return t_done();
}
