/* SPDX-License-Identifier: MIT */
/*
 * test_mem.c - the memory layer on 4 KiB pages: IOVA and NUMA lookups,
 * page sizes, segment lists, the dump, hugepage discovery, the memory limit
 * and giving memory back; IOVA-contiguous zones (VA and PA mode) and the
 * page-size flags of zones.
 */
#include "harness.h"
#include "internal.h"
#include "mem/mem.h"
#include "heap/heap.h"
#include <hugemem.h>

#include <stdlib.h>
#include <sys/stat.h>

#define MIB ((size_t)1 << 20)

static void start(size_t limit, enum hm_iova_mode iova)
{
	struct hm_config c;

	hm_config_defaults(&c);
	c.no_huge = true;
	c.memory_limit = limit;
	c.iova_mode = iova;
	REQUIRE_EQ(hm_init(&c), 0);
}

static void audit_all(void)
{
	for (unsigned i = 0; i < hm__heap_count(); i++)
		CHECK_EQ(hm__heap_audit(hm__heap_get(i)), 0);
}

/* Bytes the segment list files hold, from the kernel: must match what the library counts. */
static uint64_t file_bytes(void)
{
	struct hm_mem_info mi;
	uint64_t sum = 0;
	struct stat st;

	REQUIRE_EQ(hm_mem_get_info(&mi), 0);
	for (unsigned i = 0; i < mi.n_seglists; i++) {
		REQUIRE_EQ(fstat(hm__proc.memfd[i], &st), 0);
		sum += (uint64_t)st.st_blocks * 512;
	}
	return sum;
}

static size_t committed(void)
{
	struct hm_mem_info mi;

	REQUIRE_EQ(hm_mem_get_info(&mi), 0);
	return mi.committed;
}

static void check_iova_of_zone(const struct hm_memzone *mz)
{
	const char *a = mz->addr;
	size_t ps = hm_page_size_of(a);

	CHECK_EQ(ps, HM_PAGE_SIZE_4K);
	CHECK_UEQ(hm_virt2iova(a), mz->iova);
	CHECK(mz->iova != HM_BAD_IOVA);
	/* Consecutive addresses inside one page have consecutive IOVAs. */
	for (size_t k = 1; k < mz->len; k += 97) {
		if ((uintptr_t)(a + k) / ps != (uintptr_t)a / ps)
			break;
		if (hm_virt2iova(a + k) != mz->iova + k) {
			CHECK_UEQ(hm_virt2iova(a + k), mz->iova + k);
			break;
		}
	}
	/* Every page of the zone has an IOVA with the same offset in the page. */
	for (size_t k = 0; k < mz->len; k += 4096) {
		uint64_t iova = hm_virt2iova(a + k);
		CHECK(iova != HM_BAD_IOVA);
		CHECK_UEQ(iova % 4096, (uintptr_t)(a + k) % 4096);
	}
}

static void check_foreign_addresses(void)
{
	struct hm_mem_info mi;
	int on_stack = 1;
	void *heap = malloc(64);
	static int in_data;

	REQUIRE_EQ(hm_mem_get_info(&mi), 0);
	REQUIRE_NOT_NULL(heap);
	CHECK_UEQ(hm_virt2iova(&on_stack), HM_BAD_IOVA);
	CHECK_UEQ(hm_virt2iova(heap), HM_BAD_IOVA);
	CHECK_UEQ(hm_virt2iova(&in_data), HM_BAD_IOVA);
	CHECK_UEQ(hm_virt2iova(NULL), HM_BAD_IOVA);
	CHECK_UEQ(hm_virt2iova((void *)(uintptr_t)-1), HM_BAD_IOVA);
	/* Inside the instance but not in a segment list (the config region). */
	CHECK_UEQ(hm_virt2iova(mi.va_base), HM_BAD_IOVA);
	/* In a segment list, but not committed: the last page of the range. */
	CHECK_UEQ(hm_virt2iova((char *)mi.va_base + mi.va_len - 1), HM_BAD_IOVA);
	CHECK_UEQ(hm_virt2iova((char *)mi.va_base + mi.va_len), HM_BAD_IOVA);
	CHECK_EQ(hm_socket_of(&on_stack), -EFAULT);
	CHECK_EQ(hm_socket_of(heap), -EFAULT);
	CHECK_EQ(hm_socket_of(NULL), -EFAULT);
	CHECK_EQ(hm_socket_of((char *)mi.va_base + mi.va_len - 1), -EFAULT);
	CHECK_EQ(hm_page_size_of(&on_stack), 0);
	CHECK_EQ(hm_page_size_of(NULL), 0);
	CHECK_EQ(hm_page_size_of((char *)mi.va_base + mi.va_len - 1), 0);
	free(heap);
}

static void test_iova_va(void)
{
	const struct hm_memzone *mz[4];
	struct hm_mem_info mi;

	start(64 * MIB, HM_IOVA_VA);
	REQUIRE_EQ(hm_mem_get_info(&mi), 0);
	CHECK(!mi.iova_pa);
	for (unsigned i = 0; i < 4; i++) {
		char name[16];
		snprintf(name, sizeof(name), "va%u", i);
		mz[i] = hm_memzone_reserve(name, 1 + i * 30000, -1, 0, 0, 0);
		REQUIRE_NOT_NULL(mz[i]);
		check_iova_of_zone(mz[i]);
		CHECK_UEQ(mz[i]->iova, (uintptr_t)mz[i]->addr);
		CHECK((char *)mz[i]->addr >= (char *)mi.va_base &&
		      (char *)mz[i]->addr + mz[i]->len <= (char *)mi.va_base + mi.va_len);
	}
	check_foreign_addresses();
	hm_cleanup();
}

static void test_iova_pa(void)
{
	struct hm_config c;
	const struct hm_memzone *mz;
	struct hm_mem_info mi;

	hm_config_defaults(&c);
	c.no_huge = true;
	c.memory_limit = 64 * MIB;
	c.iova_mode = HM_IOVA_PA;
	if (hm_init(&c) != 0) {
		printf("note: no physical addresses in the pagemap; PA mode not tested\n");
		return;
	}
	REQUIRE_EQ(hm_mem_get_info(&mi), 0);
	CHECK(mi.iova_pa);
	mz = hm_memzone_reserve("pa", 100000, -1, 0, 0, 0);
	REQUIRE_NOT_NULL(mz);
	check_iova_of_zone(mz);
	/* Physical addresses are not the virtual ones. */
	CHECK(mz->iova != (uintptr_t)mz->addr);
	check_foreign_addresses();
	hm_cleanup();
}

static void test_socket(void)
{
	struct hm_hugepage_info hp;
	struct hm_mem_info mi;
	const struct hm_memzone *mz;
	int s;

	start(64 * MIB, HM_IOVA_AUTO);
	REQUIRE_EQ(hm_mem_get_info(&mi), 0);
	REQUIRE_EQ(hm_hugepage_discover(&hp), 0);
	CHECK_GE(hm_socket_id(), 0);
	CHECK(!hm_socket_valid(HM_SOCKET_ANY));
	CHECK(!hm_socket_valid(-2));
	CHECK(!hm_socket_valid(12345));
	CHECK(!hm_socket_valid(HM_NUMA_NODES_MAX));
	/* The instance uses the first n_sockets nodes with memory. */
	CHECK_LE(mi.n_sockets, hp.n_nodes);
	for (unsigned k = 0; k < mi.n_sockets; k++)
		CHECK(hm_socket_valid(hp.nodes[k]));
	mz = hm_memzone_reserve("sock", 10000, HM_SOCKET_ANY, 0, 0, 0);
	REQUIRE_NOT_NULL(mz);
	s = hm_socket_of(mz->addr);
	CHECK(hm_socket_valid(s));
	CHECK_EQ(s, mz->socket);
	CHECK_EQ(hm_socket_of((char *)mz->addr + mz->len - 1), s);
	mz = hm_memzone_reserve("sock0", 10000, hp.nodes[0], 0, 0, 0);
	REQUIRE_NOT_NULL(mz);
	CHECK_EQ(mz->socket, hp.nodes[0]);
	CHECK_EQ(hm_socket_of(mz->addr), hp.nodes[0]);
	hm_cleanup();
}

struct walk {
	unsigned n, seen[HM_SEGLISTS_MAX];
	size_t committed_pages;
	int stop_at;
};

static int walk_cb(const struct hm_seglist_info *sl, void *arg)
{
	struct walk *w = arg;

	CHECK_LT(sl->index, HM_SEGLISTS_MAX);
	if (sl->index < HM_SEGLISTS_MAX)
		w->seen[sl->index]++;
	CHECK_EQ(sl->page_size, HM_PAGE_SIZE_4K);
	CHECK(hm_socket_valid(sl->socket));
	CHECK_LE(sl->n_committed, sl->n_pages);
	CHECK_UEQ((uintptr_t)sl->base % sl->page_size, 0);
	w->committed_pages += sl->n_committed;
	w->n++;
	return w->stop_at >= 0 && (int)sl->index == w->stop_at ? 42 : 0;
}

static void test_seglist_walk(void)
{
	struct hm_mem_info mi;
	struct walk w = {.stop_at = -1};
	size_t before;

	start(64 * MIB, HM_IOVA_AUTO);
	REQUIRE_EQ(hm_mem_get_info(&mi), 0);
	CHECK_EQ(hm_seglist_walk(walk_cb, &w), 0);
	CHECK_EQ(w.n, mi.n_seglists);
	for (unsigned i = 0; i < mi.n_seglists; i++)
		CHECK_EQ(w.seen[i], 1);
	CHECK_EQ(w.committed_pages, 0);
	before = w.committed_pages;
	REQUIRE_NOT_NULL(hm_memzone_reserve("grow", 5 * MIB, -1, 0, 0, 0));
	memset(&w, 0, sizeof(w));
	w.stop_at = -1;
	CHECK_EQ(hm_seglist_walk(walk_cb, &w), 0);
	CHECK_GE(w.committed_pages, before + 5 * MIB / 4096);
	CHECK_UEQ(w.committed_pages * 4096, committed());
	CHECK_UEQ(file_bytes(), committed());
	/* A non-zero return stops the walk and is returned. */
	memset(&w, 0, sizeof(w));
	w.stop_at = 0;
	CHECK_EQ(hm_seglist_walk(walk_cb, &w), 42);
	CHECK_EQ(w.n, 1);
	hm_cleanup();
}

static void test_dump(void)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f;

	start(64 * MIB, HM_IOVA_AUTO);
	REQUIRE_NOT_NULL(hm_memzone_reserve("dumped", 3 * MIB, -1, 0, 0, 0));
	f = open_memstream(&buf, &len);
	REQUIRE_NOT_NULL(f);
	hm_mem_dump(f);
	fclose(f);
	REQUIRE_NOT_NULL(buf);
	CHECK(strstr(buf, "private") != NULL);
	CHECK(strstr(buf, "primary") != NULL);
	CHECK(strstr(buf, "seglist 0: 4 KiB pages") != NULL);
	CHECK(strstr(buf, "of a 64 MiB limit") != NULL);
	CHECK(strstr(buf, "IOVA VA") != NULL);
	free(buf);
	hm_cleanup();
}

static void test_hugepage_discover(void)
{
	struct hm_hugepage_info hp;
	bool any = false;

	memset(&hp, 0xa5, sizeof(hp));
	REQUIRE_EQ(hm_hugepage_discover(&hp), 0);
	CHECK_LE(hp.n_sizes, HM_HUGEPAGE_SIZES_MAX);
	CHECK_GE(hp.n_nodes, 1);
	CHECK_LE(hp.n_nodes, HM_NUMA_NODES_MAX);
	for (unsigned n = 1; n < hp.n_nodes; n++)
		CHECK_LT(hp.nodes[n - 1], hp.nodes[n]);
	for (unsigned i = 0; i < hp.n_sizes; i++) {
		const struct hm_hugepage_size *s = &hp.sizes[i];

		CHECK(hm__is_pow2(s->page_size));
		CHECK_GT(s->page_size, HM_PAGE_SIZE_4K);
		CHECK_LE(s->free, s->total);
		CHECK_LE(s->reserved, s->total);
		if (i > 0)
			CHECK_LT(hp.sizes[i - 1].page_size, s->page_size);
		for (unsigned n = 0; n < hp.n_nodes; n++) {
			int node = hp.nodes[n];
			CHECK_LE(s->node_free[node], s->node_total[node]);
		}
		CHECK_LT(strnlen(s->mount, sizeof(s->mount)), sizeof(s->mount));
		any |= s->page_size == hp.default_size;
	}
	/* The kernel's default size is one of the sizes it offers. */
	if (hp.n_sizes > 0 && hp.default_size)
		CHECK(any);
	CHECK_EQ(hp.default_size == 0 || hm__is_pow2(hp.default_size), 1);
	/* It needs no instance, and gives the same answer with one. */
	start(64 * MIB, HM_IOVA_AUTO);
	struct hm_hugepage_info hp2;
	REQUIRE_EQ(hm_hugepage_discover(&hp2), 0);
	CHECK_EQ(hp2.n_sizes, hp.n_sizes);
	CHECK_EQ(hp2.default_size, hp.default_size);
	hm_cleanup();
}

static void test_memory_limit(void)
{
	const struct hm_memzone *mz[128];
	struct hm_mem_info mi;
	unsigned n, again;

	start(64 * MIB, HM_IOVA_AUTO);
	for (n = 0; n < 128; n++) {
		char name[16];
		snprintf(name, sizeof(name), "lim%u", n);
		errno = 0;
		mz[n] = hm_memzone_reserve(name, MIB, -1, 0, 0, 0);
		if (!mz[n]) {
			CHECK_EQ(errno, ENOMEM);
			break;
		}
		memset(mz[n]->addr, (int)n, MIB);
	}
	REQUIRE(n < 128);
	CHECK_GE(n, 16);
	REQUIRE_EQ(hm_mem_get_info(&mi), 0);
	CHECK_LE(mi.committed, 64 * MIB);
	/* It failed only because the limit leaves no room for one more growth. */
	CHECK_GT(mi.committed + 2 * MIB, 64 * MIB);
	CHECK_UEQ(file_bytes(), mi.committed);
	/* A zone larger than the limit, and retries: ENOMEM, nothing breaks. */
	CHECK_NULL_ERRNO(hm_memzone_reserve("too-big", 128 * MIB, -1, 0, 0, 0), ENOMEM);
	CHECK_NULL_ERRNO(hm_memzone_reserve("one-more", MIB, -1, 0, 0, 0), ENOMEM);
	audit_all();
	for (unsigned i = 0; i < n; i++) {
		const unsigned char *p = mz[i]->addr;
		CHECK(p[0] == (unsigned char)i && p[MIB - 1] == (unsigned char)i);
		CHECK_EQ(hm_memzone_free(mz[i]), 0);
	}
	audit_all();
	/* Memory went back: at most one empty chunk is kept. */
	REQUIRE_EQ(hm_mem_get_info(&mi), 0);
	CHECK_LE(mi.committed, 4 * MIB);
	CHECK_UEQ(file_bytes(), mi.committed);
	/* The heap is usable again, as much as before. */
	for (again = 0; again < n; again++) {
		char name[16];
		snprintf(name, sizeof(name), "again%u", again);
		mz[again] = hm_memzone_reserve(name, MIB, -1, 0, 0, 0);
		if (!mz[again])
			break;
	}
	CHECK_EQ(again, n);
	/* A big zone after freeing the small ones. */
	for (unsigned i = 0; i < again; i++)
		CHECK_EQ(hm_memzone_free(mz[i]), 0);
	mz[0] = hm_memzone_reserve("big", 48 * MIB, -1, 0, 0, 0);
	CHECK(mz[0] != NULL);
	audit_all();
	hm_cleanup();
}

/* A limit under the heap's 2 MiB growth step still gives small zones. */
static void test_small_limit(void)
{
	const struct hm_memzone *mz;

	start(MIB, HM_IOVA_AUTO);
	mz = hm_memzone_reserve("tiny", 1000, -1, 0, 0, 0);
	CHECK(mz != NULL);
	if (!mz)
		printf("note: memory_limit 1 MiB: no zone at all (errno %d)\n", errno);
	CHECK_LE(committed(), MIB);
	hm_cleanup();
}

static void test_release(void)
{
	const struct hm_memzone *a, *b;
	void *b_addr;
	size_t before;

	start(128 * MIB, HM_IOVA_AUTO);
	a = hm_memzone_reserve("a", 16 * MIB, -1, 0, 0, 0);
	b = hm_memzone_reserve("b", 16 * MIB, -1, 0, 0, 0);
	REQUIRE_NOT_NULL(a);
	REQUIRE_NOT_NULL(b);
	memset(a->addr, 1, a->len);
	memset(b->addr, 2, b->len);
	before = committed();
	CHECK_GE(before, 32 * MIB);
	CHECK_UEQ(file_bytes(), before);
	b_addr = b->addr;
	/* The first empty chunk is kept, the second given back. */
	CHECK_EQ(hm_memzone_free(a), 0);
	CHECK_EQ(hm_memzone_free(b), 0);
	CHECK_LE(committed(), before - 16 * MIB);
	CHECK_UEQ(file_bytes(), committed());
	audit_all();
	if (committed() <= before - 32 * MIB + 2 * MIB) {
		/* Both went back: b's pages are no longer committed. */
		CHECK_UEQ(hm_virt2iova(b_addr), HM_BAD_IOVA);
	}
	/* The address range is reused. */
	a = hm_memzone_reserve("a2", 16 * MIB, -1, 0, 0, 0);
	REQUIRE_NOT_NULL(a);
	CHECK_EQ(hm_page_size_of(a->addr), HM_PAGE_SIZE_4K);
	memset(a->addr, 3, a->len);
	hm_cleanup();
}

static void check_contig(const struct hm_memzone *mz)
{
	const char *a = mz->addr;

	for (size_t k = 0; k < mz->len; k += 4096) {
		size_t off = k ? k - (uintptr_t)a % 4096 : 0; /* each page start after the first */
		if (hm_virt2iova(a + off) != mz->iova + off) {
			t_fail(__FILE__, __LINE__, false,
			       "zone %s: IOVA of +%zu is %#llx, want %#llx", mz->name, off,
			       (unsigned long long)hm_virt2iova(a + off),
			       (unsigned long long)(mz->iova + off));
			return;
		}
	}
	CHECK_UEQ(hm_virt2iova(a + mz->len - 1), mz->iova + mz->len - 1);
}

static void test_iova_contig(void)
{
	const struct hm_memzone *mz;
	struct hm_config c;

	/* VA mode: every zone is IOVA-contiguous. */
	start(512 * MIB, HM_IOVA_AUTO);
	mz = hm_memzone_reserve("contig", 4 * MIB, -1, HM_MEMZONE_IOVA_CONTIG, 0, 0);
	REQUIRE_NOT_NULL(mz);
	CHECK_EQ(mz->flags, HM_MEMZONE_IOVA_CONTIG);
	check_contig(mz);
	mz = hm_memzone_reserve("small", 100, -1, HM_MEMZONE_IOVA_CONTIG, 0, 0);
	REQUIRE_NOT_NULL(mz);
	check_contig(mz);
	audit_all();
	hm_cleanup();

	/* PA mode on 4 KiB pages, where the pagemap shows physical addresses. */
	hm_config_defaults(&c);
	c.no_huge = true;
	c.memory_limit = 64 * MIB;
	c.iova_mode = HM_IOVA_PA;
	if (hm_init(&c) != 0) {
		printf("note: no PA mode here\n");
		return;
	}
	/* Within one page: always possible, also when the heap has nothing mapped yet. */
	mz = hm_memzone_reserve("pa-bounded", 3000, -1, HM_MEMZONE_IOVA_CONTIG, 0, 4096);
	CHECK(mz != NULL);
	if (mz)
		check_contig(mz);
	mz = hm_memzone_reserve("pa-small", 1000, -1, HM_MEMZONE_IOVA_CONTIG, 0, 0);
	REQUIRE_NOT_NULL(mz);
	check_contig(mz);
	mz = hm_memzone_reserve("pa-aligned", 3000, -1, HM_MEMZONE_IOVA_CONTIG, 4096, 0);
	CHECK(mz != NULL);
	if (mz)
		check_contig(mz);
	/* Across pages: physically contiguous 4 KiB pages are luck; either way, no lie. */
	for (unsigned i = 0; i < 4; i++) {
		char name[16];
		size_t len = (size_t)16384 << (i * 3);
		snprintf(name, sizeof(name), "pa%u", i);
		errno = 0;
		mz = hm_memzone_reserve(name, len, -1, HM_MEMZONE_IOVA_CONTIG, 0, 0);
		if (mz) {
			CHECK_EQ(mz->len, len);
			check_contig(mz);
		} else {
			CHECK_EQ(errno, ENOMEM);
		}
	}
	audit_all();
	/* A failed contiguous reservation leaves nothing committed behind. */
	size_t before = committed();
	CHECK_NULL_ERRNO(hm_memzone_reserve("pa-big", 32 * MIB, -1, HM_MEMZONE_IOVA_CONTIG, 0, 0),
			 ENOMEM);
	CHECK_LE(committed(), before);
	CHECK(hm_memzone_reserve("pa-normal", 32 * MIB, -1, 0, 0, 0) != NULL);
	audit_all();
	hm_cleanup();
}

static void test_page_flags(void)
{
	const struct hm_memzone *mz;

	start(512 * MIB, HM_IOVA_AUTO);
	CHECK_NULL_ERRNO(hm_memzone_reserve("2m", 64, -1, HM_MEMZONE_2MB, 0, 0), ENOMEM);
	CHECK_NULL_ERRNO(hm_memzone_reserve("1g", 64, -1, HM_MEMZONE_1GB, 0, 0), ENOMEM);
	CHECK_NULL_ERRNO(hm_memzone_reserve("2m1g", 64, -1, HM_MEMZONE_2MB | HM_MEMZONE_1GB, 0, 0),
			 ENOMEM);
	mz = hm_memzone_reserve("2m", 64, -1, HM_MEMZONE_2MB | HM_MEMZONE_SIZE_HINT_ONLY, 0, 0);
	REQUIRE_NOT_NULL(mz);
	CHECK_EQ(mz->page_size, HM_PAGE_SIZE_4K);
	CHECK_EQ(mz->flags, HM_MEMZONE_2MB | HM_MEMZONE_SIZE_HINT_ONLY);
	mz = hm_memzone_reserve("4k", 64, -1, HM_MEMZONE_4KB, 0, 0);
	REQUIRE_NOT_NULL(mz);
	CHECK_EQ(mz->page_size, HM_PAGE_SIZE_4K);
	mz = hm_memzone_reserve("4k1g", 64, -1, HM_MEMZONE_4KB | HM_MEMZONE_1GB, 0, 0);
	REQUIRE_NOT_NULL(mz);
	CHECK_EQ(mz->page_size, HM_PAGE_SIZE_4K);
	/* The hint alone is allowed and changes nothing. */
	REQUIRE_NOT_NULL(hm_memzone_reserve("hint", 64, -1, HM_MEMZONE_SIZE_HINT_ONLY, 0, 0));
	audit_all();
	hm_cleanup();
}

static void test_get_info(void)
{
	struct hm_mem_info mi;

	start(256 * MIB, HM_IOVA_AUTO);
	REQUIRE_EQ(hm_mem_get_info(&mi), 0);
	CHECK_UEQ(mi.page_size, HM_PAGE_SIZE_4K);
	CHECK(!mi.hugepages);
	CHECK(!mi.iova_pa);
	CHECK(!mi.shared);
	CHECK_EQ(mi.proc_type, HM_PROC_PRIMARY);
	CHECK_GE(mi.n_sockets, 1);
	CHECK_EQ(mi.n_seglists, mi.n_sockets);
	CHECK_UEQ(mi.memory_limit, 256 * MIB);
	CHECK_EQ(mi.committed, 0);
	CHECK_NE((uintptr_t)mi.va_base, 0);
	CHECK_GE(mi.va_len, (size_t)mi.n_seglists * 256 * MIB);
	hm_cleanup();
}

int main(int argc, char **argv)
{
	t_init(argc, argv);
	T_RUN(test_get_info);
	T_RUN(test_iova_va);
	T_RUN(test_iova_pa);
	T_RUN(test_socket);
	T_RUN(test_seglist_walk);
	T_RUN(test_dump);
	T_RUN(test_hugepage_discover);
	T_RUN(test_memory_limit);
	T_RUN(test_small_limit);
	T_RUN(test_release);
	T_RUN(test_iova_contig);
	T_RUN(test_page_flags);
	return t_done();
}
