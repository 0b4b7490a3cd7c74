/* SPDX-License-Identifier: MIT */
/*
 * test_memzone.c - named zones on 4 KiB pages: reserve, lookup, free, every
 * argument error, alignment, bounds, len 0, misuse of free, walk, count,
 * dump, a full table, and randomised runs against a model (20,000 zones; a
 * small table kept full). IOVA-contiguous zones and page-size flags are in
 * test_mem.c.
 */
#include "harness.h"
#include "internal.h"
#include "mem/mem.h"
#include "heap/heap.h"
#include <hugemem.h>

#include <stdlib.h>

#define MIB ((size_t)1 << 20)

static void start_with(size_t limit, unsigned max_zones, enum hm_iova_mode iova)
{
	struct hm_config c;

	hm_config_defaults(&c);
	c.no_huge = true;
	c.memory_limit = limit;
	c.max_zones = max_zones;
	c.iova_mode = iova;
	REQUIRE_EQ(hm_init(&c), 0);
}

static void start(void)
{
	start_with(512 * MIB, 0, HM_IOVA_AUTO);
}

static void audit_all(void)
{
	for (unsigned i = 0; i < hm__heap_count(); i++)
		CHECK_EQ(hm__heap_audit(hm__heap_get(i)), 0);
}

static size_t committed(void)
{
	struct hm_mem_info mi;

	REQUIRE_EQ(hm_mem_get_info(&mi), 0);
	return mi.committed;
}

static void test_basic(void)
{
	const struct hm_memzone *mz;

	start();
	mz = hm_memzone_reserve("basic", 1000, HM_SOCKET_ANY, 0, 0, 0);
	REQUIRE_NOT_NULL(mz);
	CHECK_STR_EQ(mz->name, "basic");
	CHECK_EQ(mz->len, 1000);
	CHECK_UEQ((uintptr_t)mz->addr % HM_CACHE_LINE, 0);
	CHECK_EQ(mz->page_size, HM_PAGE_SIZE_4K);
	CHECK(hm_socket_valid(mz->socket));
	CHECK_EQ(mz->flags, 0);
	CHECK_UEQ(mz->iova, hm_virt2iova(mz->addr));
	CHECK(mz->iova != HM_BAD_IOVA);
	memset(mz->addr, 0xab, mz->len);
	CHECK_PTR_EQ(hm_memzone_lookup("basic"), mz);
	CHECK_EQ(hm_memzone_count(), 1);
	CHECK_EQ(hm_memzone_free(mz), 0);
	CHECK_EQ(hm_memzone_count(), 0);
	CHECK_NULL_ERRNO(hm_memzone_lookup("basic"), ENOENT);
	CHECK_NULL_ERRNO(hm_memzone_lookup("never"), ENOENT);
	CHECK_NULL_ERRNO(hm_memzone_lookup(""), ENOENT);
	CHECK_NULL_ERRNO(hm_memzone_lookup(NULL), EINVAL);
	CHECK_NULL_ERRNO(hm_memzone_lookup("a-name-much-longer-than-the-limit-of-32"), ENOENT);
	audit_all();
	hm_cleanup();
}

static void test_names(void)
{
	char name[HM_NAME_MAX + 1];
	const struct hm_memzone *mz;

	start();
	CHECK_NULL_ERRNO(hm_memzone_reserve(NULL, 64, -1, 0, 0, 0), EINVAL);
	CHECK_NULL_ERRNO(hm_memzone_reserve("", 64, -1, 0, 0, 0), EINVAL);
	memset(name, 'n', sizeof(name));
	name[HM_NAME_MAX - 1] = '\0';
	mz = hm_memzone_reserve(name, 64, -1, 0, 0, 0);
	REQUIRE_NOT_NULL(mz);
	CHECK_STR_EQ(mz->name, name);
	CHECK_PTR_EQ(hm_memzone_lookup(name), mz);
	name[HM_NAME_MAX - 1] = 'n';
	name[HM_NAME_MAX] = '\0';
	CHECK_NULL_ERRNO(hm_memzone_reserve(name, 64, -1, 0, 0, 0), ENAMETOOLONG);
	/* Names differing only in case or in the last character are different. */
	REQUIRE_NOT_NULL(hm_memzone_reserve("Case", 64, -1, 0, 0, 0));
	REQUIRE_NOT_NULL(hm_memzone_reserve("case", 64, -1, 0, 0, 0));
	REQUIRE_NOT_NULL(hm_memzone_reserve("cas", 64, -1, 0, 0, 0));
	CHECK_EQ(hm_memzone_count(), 4);
	/* Duplicates: EEXIST whatever the other arguments; free again once freed. */
	CHECK_NULL_ERRNO(hm_memzone_reserve("case", 64, -1, 0, 0, 0), EEXIST);
	CHECK_NULL_ERRNO(hm_memzone_reserve("case", 5 * MIB, -1, 0, 4096, 0), EEXIST);
	CHECK_EQ(hm_memzone_count(), 4);
	mz = hm_memzone_lookup("case");
	REQUIRE_NOT_NULL(mz);
	CHECK_EQ(hm_memzone_free(mz), 0);
	mz = hm_memzone_reserve("case", 128, -1, 0, 0, 0);
	REQUIRE_NOT_NULL(mz);
	CHECK_EQ(mz->len, 128);
	CHECK(hm_memzone_lookup("Case") != NULL);
	CHECK(hm_memzone_lookup("cas") != NULL);
	audit_all();
	hm_cleanup();
}

static void test_align(void)
{
	const struct hm_memzone *mz;

	start();
	for (unsigned i = 0; i < 8; i++) {
		char name[16];
		snprintf(name, sizeof(name), "a0-%u", i);
		mz = hm_memzone_reserve(name, 1 + i * 100, -1, 0, 0, 0);
		REQUIRE_NOT_NULL(mz);
		CHECK_UEQ((uintptr_t)mz->addr % 64, 0);
	}
	/* Powers of two below a cache line still give a cache line. */
	for (size_t a = 1; a < 64; a *= 2) {
		char name[16];
		snprintf(name, sizeof(name), "small%zu", a);
		mz = hm_memzone_reserve(name, 33, -1, 0, a, 0);
		REQUIRE_NOT_NULL(mz);
		CHECK_UEQ((uintptr_t)mz->addr % 64, 0);
	}
	for (size_t a = 64; a <= MIB; a *= 2) {
		for (unsigned k = 0; k < 3; k++) {
			char name[32];
			size_t len = 1 + t_rand_below(3 * a);
			snprintf(name, sizeof(name), "al%zu-%u", a, k);
			mz = hm_memzone_reserve(name, len, -1, 0, a, 0);
			REQUIRE_NOT_NULL(mz);
			if ((uintptr_t)mz->addr % a)
				t_fail(__FILE__, __LINE__, false, "zone %p not aligned to %zu",
				       mz->addr, a);
			memset(mz->addr, 0x11, len);
		}
	}
	CHECK_NULL_ERRNO(hm_memzone_reserve("bad-align", 64, -1, 0, 3, 0), EINVAL);
	CHECK_NULL_ERRNO(hm_memzone_reserve("bad-align", 64, -1, 0, 96, 0), EINVAL);
	CHECK_NULL_ERRNO(hm_memzone_reserve("bad-align", 64, -1, 0, SIZE_MAX, 0), EINVAL);
	CHECK_NULL_ERRNO(hm_memzone_reserve("bad-align", 64, -1, 0, (size_t)1 << 50, 0), EINVAL);
	CHECK_NULL_ERRNO(hm_memzone_lookup("bad-align"), ENOENT);
	audit_all();
	hm_cleanup();
}

static void test_bound(void)
{
	const struct hm_memzone *mz;

	start();
	for (unsigned i = 0; i < 300; i++) {
		char name[16];
		size_t bound = (size_t)64 << t_rand_below(15); /* 64 B .. 1 MiB */
		size_t len = 1 + t_rand_below(bound);
		size_t align = t_rand_below(2) ? 0 : (size_t)64 << t_rand_below(7);
		uintptr_t a;

		snprintf(name, sizeof(name), "b%u", i);
		mz = hm_memzone_reserve(name, len, -1, 0, align, bound);
		REQUIRE_NOT_NULL(mz);
		a = (uintptr_t)mz->addr;
		if (a / bound != (a + len - 1) / bound)
			t_fail(__FILE__, __LINE__, false,
			       "zone %p len %zu crosses a multiple of bound %zu", mz->addr, len,
			       bound);
		if (align)
			CHECK_UEQ(a % align, 0);
		memset(mz->addr, (int)i, len);
		if (t_rand_below(3) == 0)
			CHECK_EQ(hm_memzone_free(mz), 0);
	}
	/* bound equal to len is fine: the zone is exactly one bound-aligned window. */
	mz = hm_memzone_reserve("exact", 4096, -1, 0, 0, 4096);
	REQUIRE_NOT_NULL(mz);
	CHECK_UEQ((uintptr_t)mz->addr % 4096, 0);
	CHECK_NULL_ERRNO(hm_memzone_reserve("bad-bound", 64, -1, 0, 0, 3), EINVAL);
	CHECK_NULL_ERRNO(hm_memzone_reserve("bad-bound", 64, -1, 0, 0, 96), EINVAL);
	CHECK_NULL_ERRNO(hm_memzone_reserve("bad-bound", 4097, -1, 0, 0, 4096), EINVAL);
	CHECK_NULL_ERRNO(hm_memzone_reserve("bad-bound", MIB, -1, 0, 0, 64), EINVAL);
	audit_all();
	hm_cleanup();
}

/* len 0: the largest free block already mapped, without committing more. */
static void test_len_zero(void)
{
	const struct hm_memzone *a, *z, *z2;
	size_t before, largest;
	struct hm_heap *h;

	start();
	/* Nothing mapped yet: no block at all. */
	CHECK_NULL_ERRNO(hm_memzone_reserve("z", 0, -1, 0, 0, 0), ENOMEM);
	/* Map 3 MiB of heap, keep a small zone in it so that it is not given back. */
	a = hm_memzone_reserve("a", 3 * MIB, -1, 0, 0, 0);
	REQUIRE_NOT_NULL(a);
	REQUIRE_NOT_NULL(hm_memzone_reserve("keep", 100, -1, 0, 0, 0));
	CHECK_EQ(hm_memzone_free(a), 0);
	h = hm__heap_get(0);
	largest = hm__heap_largest(h, 64, 0);
	CHECK_GE(largest, 3 * MIB);
	before = committed();
	z = hm_memzone_reserve("z", 0, -1, 0, 0, 0);
	REQUIRE_NOT_NULL(z);
	CHECK_EQ(z->len, largest);
	memset(z->addr, 0x77, z->len);
	CHECK_UEQ(committed(), before);
	audit_all();
	/* With a bound: no longer than the bound, never crossing it. */
	CHECK_EQ(hm_memzone_free(z), 0);
	z2 = hm_memzone_reserve("zb", 0, -1, 0, 0, 64 * 1024);
	REQUIRE_NOT_NULL(z2);
	CHECK_LE(z2->len, 64 * 1024);
	CHECK_GT(z2->len, 0);
	CHECK_EQ((uintptr_t)z2->addr / (64 * 1024),
		 ((uintptr_t)z2->addr + z2->len - 1) / (64 * 1024));
	/* With an alignment. */
	z = hm_memzone_reserve("za", 0, -1, 0, 4096, 0);
	REQUIRE_NOT_NULL(z);
	CHECK_UEQ((uintptr_t)z->addr % 4096, 0);
	CHECK_GT(z->len, 0);
	memset(z->addr, 0x78, z->len);
	audit_all();
	hm_cleanup();
}

static void test_bad_args(void)
{
	start();
	CHECK_NULL_ERRNO(hm_memzone_reserve("huge", SIZE_MAX, -1, 0, 0, 0), EINVAL);
	CHECK_NULL_ERRNO(hm_memzone_reserve("huge", SIZE_MAX - 4096, -1, 0, 0, 0), EINVAL);
	CHECK_NULL_ERRNO(hm_memzone_reserve("huge", (size_t)1 << 50, -1, 0, 0, 0), EINVAL);
	/* Representable, but more than the limit. */
	CHECK_NULL_ERRNO(hm_memzone_reserve("huge", (size_t)1 << 43, -1, 0, 0, 0), ENOMEM);
	CHECK_NULL_ERRNO(hm_memzone_reserve("huge", 513 * MIB, -1, 0, 0, 0), ENOMEM);
	CHECK_NULL_ERRNO(hm_memzone_reserve("flags", 64, -1, 0x100, 0, 0), EINVAL);
	CHECK_NULL_ERRNO(hm_memzone_reserve("flags", 64, -1, 0x80000000u, 0, 0), EINVAL);
	CHECK_NULL_ERRNO(hm_memzone_reserve("sock", 64, 12345, 0, 0, 0), ENODEV);
	CHECK_NULL_ERRNO(hm_memzone_reserve("sock", 64, -2, 0, 0, 0), ENODEV);
	CHECK_NULL_ERRNO(hm_memzone_reserve("sock", 64, HM_NUMA_NODES_MAX, 0, 0, 0), ENODEV);
	CHECK_EQ(hm_memzone_count(), 0);
	CHECK_EQ(committed(), 0);
	/* Still usable. */
	CHECK(hm_memzone_reserve("huge", 64, -1, 0, 0, 0) != NULL);
	audit_all();
	hm_cleanup();
}

static void test_free_misuse(void)
{
	const struct hm_memzone *mz, *other;
	struct hm_memzone fake;
	unsigned before;

	start();
	hm_log_set_sink(t_count_sink, NULL);
	mz = hm_memzone_reserve("victim", 5000, -1, 0, 0, 0);
	other = hm_memzone_reserve("other", 5000, -1, 0, 0, 0);
	REQUIRE_NOT_NULL(mz);
	REQUIRE_NOT_NULL(other);
	memset(other->addr, 0x42, other->len);
	memcpy(&fake, mz, sizeof(fake));
	t_log_lines_reset();
	CHECK_EQ(hm_memzone_free(NULL), -EINVAL);
	CHECK_EQ(hm_memzone_free(&fake), -EINVAL);
	CHECK_EQ(hm_memzone_free((const struct hm_memzone *)((uintptr_t)mz + 1)), -EINVAL);
	CHECK_EQ(hm_memzone_free((const struct hm_memzone *)((uintptr_t)mz + 8)), -EINVAL);
	CHECK_EQ(hm_memzone_free((const struct hm_memzone *)mz->addr), -EINVAL);
	CHECK_EQ(hm_memzone_free((const struct hm_memzone *)(uintptr_t)-64), -EINVAL);
	/* Past the entries used so far. */
	CHECK_EQ(hm_memzone_free(other + 40), -EINVAL);
	CHECK_GE(t_log_lines(), 7);
	CHECK_EQ(hm_memzone_count(), 2);
	before = t_log_lines();
	CHECK_EQ(hm_memzone_free(mz), 0);
	CHECK_EQ(t_log_lines(), before);
	CHECK_EQ(hm_memzone_free(mz), -EINVAL);
	CHECK_EQ(hm_memzone_free(mz), -EINVAL);
	CHECK_GT(t_log_lines(), before);
	CHECK_EQ(hm_memzone_count(), 1);
	hm_log_set_sink(NULL, NULL);
	/* The table and the other zone are intact. */
	CHECK_PTR_EQ(hm_memzone_lookup("other"), other);
	CHECK_NULL_ERRNO(hm_memzone_lookup("victim"), ENOENT);
	for (size_t i = 0; i < other->len; i++) {
		if (((unsigned char *)other->addr)[i] != 0x42) {
			CHECK_EQ(((unsigned char *)other->addr)[i], 0x42);
			break;
		}
	}
	mz = hm_memzone_reserve("victim", 5000, -1, 0, 0, 0);
	REQUIRE_NOT_NULL(mz);
	CHECK_EQ(hm_memzone_free(mz), 0);
	CHECK_EQ(hm_memzone_free(other), 0);
	CHECK_EQ(hm_memzone_count(), 0);
	audit_all();
	hm_cleanup();
}

struct walk_state {
	unsigned calls;
	unsigned char seen[200];
};

static void walk_cb(const struct hm_memzone *mz, void *arg)
{
	struct walk_state *w = arg;
	unsigned i;

	w->calls++;
	if (sscanf(mz->name, "w%u", &i) == 1 && i < 200)
		w->seen[i]++;
	else
		t_fail(__FILE__, __LINE__, false, "walk: unexpected zone \"%s\"", mz->name);
}

static void test_walk_count_dump(void)
{
	const struct hm_memzone *mz[200];
	struct walk_state w;
	char *buf = NULL;
	size_t len = 0;
	FILE *f;

	start();
	memset(&w, 0, sizeof(w));
	hm_memzone_walk(walk_cb, &w);
	hm_memzone_walk(NULL, &w);
	CHECK_EQ(w.calls, 0);
	for (unsigned i = 0; i < 200; i++) {
		char name[16];
		snprintf(name, sizeof(name), "w%u", i);
		mz[i] = hm_memzone_reserve(name, 64 + i, -1, 0, 0, 0);
		REQUIRE_NOT_NULL(mz[i]);
	}
	/* Free every third, so the walk skips holes in the table. */
	for (unsigned i = 0; i < 200; i += 3)
		CHECK_EQ(hm_memzone_free(mz[i]), 0);
	CHECK_EQ(hm_memzone_count(), 200 - 67);
	hm_memzone_walk(walk_cb, &w);
	CHECK_EQ(w.calls, 200 - 67);
	for (unsigned i = 0; i < 200; i++)
		CHECK_EQ(w.seen[i], i % 3 ? 1 : 0);
	f = open_memstream(&buf, &len);
	REQUIRE_NOT_NULL(f);
	hm_memzone_dump(f);
	fclose(f);
	REQUIRE_NOT_NULL(buf);
	CHECK(strstr(buf, "zones: 133") != NULL);
	CHECK(strstr(buf, "w1 ") != NULL);
	CHECK(strstr(buf, "w199 ") != NULL);
	CHECK(strstr(buf, "w0 ") == NULL);
	free(buf);
	hm_cleanup();
}

static void test_table_full(void)
{
	const struct hm_memzone *mz[100];

	start_with(64 * MIB, 100, HM_IOVA_AUTO);
	hm_log_set_sink(t_count_sink, NULL);
	for (unsigned i = 0; i < 100; i++) {
		char name[16];
		snprintf(name, sizeof(name), "t%u", i);
		mz[i] = hm_memzone_reserve(name, 64, -1, 0, 0, 0);
		REQUIRE_NOT_NULL(mz[i]);
	}
	t_log_lines_reset();
	CHECK_NULL_ERRNO(hm_memzone_reserve("t100", 64, -1, 0, 0, 0), ENOSPC);
	CHECK_EQ(t_log_lines(), 1);
	/* A duplicate name still says EEXIST, a full table or not. */
	CHECK_NULL_ERRNO(hm_memzone_reserve("t5", 64, -1, 0, 0, 0), EEXIST);
	CHECK_EQ(hm_memzone_count(), 100);
	CHECK_EQ(hm_memzone_free(mz[50]), 0);
	mz[50] = hm_memzone_reserve("t100", 64, -1, 0, 0, 0);
	CHECK(mz[50] != NULL);
	CHECK_NULL_ERRNO(hm_memzone_reserve("t101", 64, -1, 0, 0, 0), ENOSPC);
	for (unsigned i = 0; i < 100; i++)
		CHECK_EQ(hm_memzone_free(mz[i]), 0);
	CHECK_EQ(hm_memzone_count(), 0);
	hm_log_set_sink(NULL, NULL);
	audit_all();
	hm_cleanup();
}

/* --- the randomised run --- */

#define N_ZONES 20000

struct model {
	const struct hm_memzone *mz; /* NULL: free */
	size_t len;
	uint8_t fill;
};

static struct model model[N_ZONES];
static unsigned n_names = N_ZONES; /* names in use: zone-00000 .. */
static unsigned table_max;         /* the table's size, when the run fills it */

static void name_of(unsigned i, char *buf)
{
	snprintf(buf, HM_NAME_MAX, "zone-%05u", i);
}

static void fill(unsigned i)
{
	memset(model[i].mz->addr, model[i].fill, model[i].len);
}

static bool check_fill(unsigned i)
{
	const unsigned char *p = model[i].mz->addr;

	for (size_t k = 0; k < model[i].len; k++)
		if (p[k] != model[i].fill)
			return false;
	return true;
}

static int by_addr(const void *a, const void *b)
{
	const struct hm_memzone *x = *(const struct hm_memzone *const *)a;
	const struct hm_memzone *y = *(const struct hm_memzone *const *)b;

	return (uintptr_t)x->addr < (uintptr_t)y->addr ? -1
						       : (uintptr_t)x->addr > (uintptr_t)y->addr;
}

static void checkpoint(const char *when)
{
	static const struct hm_memzone *live[N_ZONES];
	unsigned n = 0, bad = 0;

	for (unsigned i = 0; i < n_names; i++) {
		char name[HM_NAME_MAX];

		name_of(i, name);
		if (model[i].mz) {
			live[n++] = model[i].mz;
			if (hm_memzone_lookup(name) != model[i].mz || !check_fill(i))
				bad++;
		} else if (hm_memzone_lookup(name) != NULL || errno != ENOENT) {
			bad++;
		}
	}
	if (bad)
		t_fail(__FILE__, __LINE__, false, "%s: %u zones disagree with the model", when,
		       bad);
	CHECK_EQ(hm_memzone_count(), n);
	qsort(live, n, sizeof(live[0]), by_addr);
	for (unsigned i = 1; i < n; i++) {
		if ((char *)live[i - 1]->addr + live[i - 1]->len > (char *)live[i]->addr) {
			t_fail(__FILE__, __LINE__, false, "%s: zones %s and %s overlap", when,
			       live[i - 1]->name, live[i]->name);
			break;
		}
	}
	audit_all();
}

static void reserve_one(unsigned i)
{
	char name[HM_NAME_MAX];
	size_t len = t_rand_below(10) == 0 ? 1 + t_rand_below(256 * 1024) : 1 + t_rand_below(4096);
	size_t align = t_rand_below(4) == 0 ? (size_t)64 << t_rand_below(7) : 0;
	const struct hm_memzone *mz;

	name_of(i, name);
	mz = hm_memzone_reserve(name, len, -1, 0, align, 0);
	if (!mz && errno == ENOSPC && table_max && hm_memzone_count() == table_max)
		return;
	if (!mz) {
		t_fail(__FILE__, __LINE__, false, "reserve %s len %zu align %zu: %s", name, len,
		       align, strerror(errno));
		return;
	}
	if (align && (uintptr_t)mz->addr % align)
		t_fail(__FILE__, __LINE__, false, "%s not aligned to %zu", name, align);
	model[i].mz = mz;
	model[i].len = len;
	model[i].fill = (uint8_t)t_rand();
	fill(i);
	/* A second reserve of a live name always fails. */
	if (t_rand_below(50) == 0)
		CHECK_NULL_ERRNO(hm_memzone_reserve(name, 64, -1, 0, 0, 0), EEXIST);
}

static void free_one(unsigned i)
{
	if (!check_fill(i))
		t_fail(__FILE__, __LINE__, false, "zone %s: contents changed", model[i].mz->name);
	CHECK_EQ(hm_memzone_free(model[i].mz), 0);
	model[i].mz = NULL;
}

static void test_random_model(void)
{
	static unsigned order[N_ZONES];

	printf("seed %llu (HUGEMEM_TEST_SEED)\n", (unsigned long long)t_seed());
	start_with(1024 * MIB, 0, HM_IOVA_AUTO);
	memset(model, 0, sizeof(model));
	for (unsigned i = 0; i < N_ZONES; i++)
		reserve_one(i);
	checkpoint("all reserved");
	/* Free half in random order, reserve a quarter back, many times mixed. */
	for (unsigned i = 0; i < N_ZONES; i++)
		order[i] = i;
	for (unsigned i = N_ZONES - 1; i > 0; i--) {
		unsigned j = (unsigned)t_rand_below(i + 1), t = order[i];
		order[i] = order[j];
		order[j] = t;
	}
	for (unsigned i = 0; i < N_ZONES / 2; i++)
		free_one(order[i]);
	checkpoint("half freed");
	for (unsigned step = 0; step < 3 * N_ZONES; step++) {
		unsigned i = (unsigned)t_rand_below(N_ZONES);
		if (model[i].mz)
			free_one(i);
		else
			reserve_one(i);
		if (step % 20000 == 19999)
			checkpoint("mixed");
	}
	checkpoint("mixed done");
	for (unsigned i = N_ZONES - 1; i > 0; i--) {
		unsigned j = (unsigned)t_rand_below(i + 1), t = order[i];
		order[i] = order[j];
		order[j] = t;
	}
	for (unsigned i = 0; i < N_ZONES; i++)
		if (model[order[i]].mz)
			free_one(order[i]);
	checkpoint("all freed");
	CHECK_EQ(hm_memzone_count(), 0);
	for (unsigned i = 0; i < hm__heap_count(); i++) {
		struct hm_heap_stats st;
		hm__heap_get_stats(hm__heap_get(i), &st);
		CHECK_EQ(st.n_used_blocks, 0);
		CHECK_EQ(st.allocs, st.frees);
	}
	hm_cleanup();
}

/* A small table kept nearly full: names come and go in the same hash runs. */
static void test_random_small_table(void)
{
	start_with(256 * MIB, 257, HM_IOVA_AUTO);
	hm_log_set_sink(t_count_sink, NULL);
	memset(model, 0, sizeof(model));
	n_names = 600;
	table_max = 257;
	for (unsigned step = 0; step < 30000; step++) {
		unsigned i = (unsigned)t_rand_below(n_names), j = (unsigned)t_rand_below(n_names);
		char name[HM_NAME_MAX];

		if (model[i].mz && t_rand_below(3) == 0)
			free_one(i);
		else if (!model[i].mz)
			reserve_one(i);
		/* Any name, any time: found exactly when the model has it. */
		name_of(j, name);
		if (hm_memzone_lookup(name) != model[j].mz) {
			t_fail(__FILE__, __LINE__, false, "step %u: lookup of %s disagrees", step,
			       name);
			break;
		}
		if (step % 10000 == 9999)
			checkpoint("small table");
	}
	checkpoint("small table done");
	for (unsigned i = 0; i < n_names; i++)
		if (model[i].mz)
			free_one(i);
	checkpoint("small table empty");
	hm_log_set_sink(NULL, NULL);
	n_names = N_ZONES;
	table_max = 0;
	hm_cleanup();
}

int main(int argc, char **argv)
{
	t_init(argc, argv);
	T_RUN(test_basic);
	T_RUN(test_names);
	T_RUN(test_align);
	T_RUN(test_bound);
	T_RUN(test_len_zero);
	T_RUN(test_bad_args);
	T_RUN(test_free_misuse);
	T_RUN(test_walk_count_dump);
	T_RUN(test_table_full);
	T_RUN(test_random_model);
	T_RUN(test_random_small_table);
	return t_done();
}
