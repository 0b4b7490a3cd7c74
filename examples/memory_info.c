/* SPDX-License-Identifier: MIT */
/*
 * memory_info.c - start hugemem with defaults, show what memory the
 * process got, and reserve, look up, use and free a few named zones.
 * Exits 0 only if every step did what it should.
 */
#include <hugemem.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static int seglist_line(const struct hm_seglist_info *sl, void *arg)
{
	(void)arg;
	printf("  segment list %u: %zu KiB pages on node %d, %zu of %zu pages committed\n",
	       sl->index, sl->page_size >> 10, sl->socket, sl->n_committed, sl->n_pages);
	return 0;
}

static void show_memory(const char *when)
{
	struct hm_mem_info mi;

	hm_mem_get_info(&mi);
	printf("%s: %zu KiB pages (%s), IOVA %s, %u NUMA node%s, %zu KiB committed of a %zu MiB "
	       "limit\n",
	       when, mi.page_size >> 10,
	       mi.hugepages ? "hugepages" : "no hugepages: 4 KiB fallback",
	       mi.iova_pa ? "= physical address" : "= virtual address", mi.n_sockets,
	       mi.n_sockets == 1 ? "" : "s", mi.committed >> 10, mi.memory_limit >> 20);
	hm_seglist_walk(seglist_line, NULL);
}

int main(void)
{
	static const struct {
		const char *name;
		size_t len, align, bound;
		unsigned flags;
	} want[] = {
		{"rx_descriptors", 64 << 10, 4096, 0, HM_MEMZONE_IOVA_CONTIG},
		{"flow_table", 3 << 20, 0, 0, 0},
		{"stats", 4096, 64, 0, 0},
		{"dma_window", 100000, 4096, 128 << 10, 0},
	};
	const unsigned n = sizeof(want) / sizeof(want[0]);
	const struct hm_memzone *mz[sizeof(want) / sizeof(want[0])];
	struct hm_hugepage_info hp;
	int rc, failures = 0;

	hm_hugepage_discover(&hp);
	printf("hugepages on this system:");
	for (unsigned i = 0; i < hp.n_sizes; i++)
		printf(" %zu KiB: %u free of %u;", hp.sizes[i].page_size >> 10, hp.sizes[i].free,
		       hp.sizes[i].total);
	printf(hp.n_sizes ? "\n" : " none\n");

	rc = hm_init(NULL);
	if (rc) {
		fprintf(stderr, "hm_init: %s\n", hm_strerror(rc));
		return 1;
	}
	show_memory("started");

	for (unsigned i = 0; i < n; i++) {
		mz[i] = hm_memzone_reserve(want[i].name, want[i].len, HM_SOCKET_ANY, want[i].flags,
					   want[i].align, want[i].bound);
		if (!mz[i]) {
			printf("reserve %s: %s\n", want[i].name, hm_strerror(errno));
			failures++;
			continue;
		}
		memset(mz[i]->addr, (int)i + 1, mz[i]->len);
		printf("zone %-15s %8zu bytes at %p, IOVA %#" PRIx64 ", %zu KiB pages, node %d\n",
		       mz[i]->name, mz[i]->len, mz[i]->addr, mz[i]->iova, mz[i]->page_size >> 10,
		       mz[i]->socket);
	}
	/* Lookup by name finds the same zones with the contents written. */
	for (unsigned i = 0; i < n; i++) {
		const struct hm_memzone *z = hm_memzone_lookup(want[i].name);
		if (!mz[i])
			continue;
		if (z != mz[i] || ((unsigned char *)z->addr)[z->len - 1] != i + 1) {
			printf("lookup %s: wrong zone or contents\n", want[i].name);
			failures++;
		}
	}
	if (hm_memzone_reserve("stats", 64, HM_SOCKET_ANY, 0, 0, 0) != NULL || errno != EEXIST) {
		printf("a duplicate name was not refused\n");
		failures++;
	}
	printf("%u zones; a duplicate name is refused: %s\n", hm_memzone_count(),
	       hm_strerror(EEXIST));
	show_memory("with zones");
	for (unsigned i = 0; i < n; i++) {
		if (mz[i] && hm_memzone_free(mz[i]) != 0)
			failures++;
	}
	printf("zones freed: %u left\n", hm_memzone_count());
	hm_cleanup();
	printf("%s\n", failures ? "demo FAILED" : "demo OK");
	return failures ? 1 : 0;
}
