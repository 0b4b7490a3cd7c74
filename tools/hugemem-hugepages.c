/* SPDX-License-Identifier: MIT */
/*
 * hugemem-hugepages - show, reserve and release the system's hugepages
 * (what DPDK's dpdk-hugepages.py does), using hugemem's own discovery.
 *
 *   hugemem-hugepages                   show every size, per NUMA node
 *   hugemem-hugepages --reserve 2G      reserve 2 GiB of default-size pages
 *   hugemem-hugepages --reserve 512 --size 2M --node 0
 *   hugemem-hugepages --release         release every page of every size
 *
 * Reserving and releasing write /sys/kernel/mm/hugepages and need root.
 */
#include <hugemem.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f)
{
	fprintf(f,
		"usage: hugemem-hugepages [--show] [--reserve N|SIZE] [--release] [--size 2M|1G] "
		"[--node N]\n"
		"  N is a number of pages; SIZE ends in K, M or G (e.g. 1G: that much memory).\n");
}

static int parse_size(const char *s, unsigned long long *v, bool *is_bytes)
{
	char *end;

	errno = 0;
	*v = strtoull(s, &end, 10);
	if (errno || end == s || *s == '-')
		return -1;
	*is_bytes = true;
	switch (*end) {
	case 'K':
	case 'k':
		*v <<= 10;
		break;
	case 'M':
	case 'm':
		*v <<= 20;
		break;
	case 'G':
	case 'g':
		*v <<= 30;
		break;
	case '\0':
		*is_bytes = false;
		return 0;
	default:
		return -1;
	}
	return end[1] == '\0' ? 0 : -1;
}

static void show(const struct hm_hugepage_info *hp)
{
	printf("default hugepage size: %zu KiB\n", hp->default_size >> 10);
	if (hp->n_sizes == 0)
		printf("this kernel offers no hugepages\n");
	for (unsigned i = 0; i < hp->n_sizes; i++) {
		const struct hm_hugepage_size *hs = &hp->sizes[i];
		printf("%8zu KiB: total %u, free %u, reserved %u, surplus %u%s%s\n",
		       hs->page_size >> 10, hs->total, hs->free, hs->reserved, hs->surplus,
		       hs->mount[0] ? ", mounted at " : "", hs->mount);
		for (unsigned n = 0; n < hp->n_nodes && hp->n_nodes > 1; n++) {
			int node = hp->nodes[n];
			printf("          node %d: total %u, free %u\n", node, hs->node_total[node],
			       hs->node_free[node]);
		}
	}
}

static int write_count(size_t page_size, int node, unsigned long long count)
{
	char path[256];
	FILE *f;

	if (node < 0)
		snprintf(path, sizeof(path),
			 "/sys/kernel/mm/hugepages/hugepages-%zukB/nr_hugepages", page_size >> 10);
	else
		snprintf(path, sizeof(path),
			 "/sys/devices/system/node/node%d/hugepages/hugepages-%zukB/nr_hugepages",
			 node, page_size >> 10);
	f = fopen(path, "w");
	if (!f || fprintf(f, "%llu\n", count) < 0 || fclose(f) != 0) {
		fprintf(stderr, "hugemem-hugepages: %s: %s\n", path, strerror(errno));
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct hm_hugepage_info hp;
	unsigned long long amount = 0, size = 0;
	bool reserve = false, release = false, bytes = false, size_bytes;
	int node = -1, rc = 0;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "--show")) {
			continue;
		} else if (!strcmp(a, "--release")) {
			release = true;
		} else if (!strcmp(a, "--reserve") && i + 1 < argc) {
			reserve = true;
			if (parse_size(argv[++i], &amount, &bytes))
				return usage(stderr), 2;
		} else if (!strcmp(a, "--size") && i + 1 < argc) {
			if (parse_size(argv[++i], &size, &size_bytes) || !size_bytes)
				return usage(stderr), 2;
		} else if (!strcmp(a, "--node") && i + 1 < argc) {
			node = atoi(argv[++i]);
		} else if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			return usage(stdout), 0;
		} else {
			return usage(stderr), 2;
		}
	}
	if (hm_hugepage_discover(&hp) != 0) {
		fprintf(stderr, "hugemem-hugepages: cannot read /sys/kernel/mm/hugepages\n");
		return 1;
	}
	if (release) {
		for (unsigned i = 0; i < hp.n_sizes; i++)
			if (!size || hp.sizes[i].page_size == size)
				rc |= write_count(hp.sizes[i].page_size, node, 0);
	}
	if (reserve) {
		size_t ps = size ? size : hp.default_size;
		if (!ps) {
			fprintf(stderr, "hugemem-hugepages: no hugepage size to reserve\n");
			return 1;
		}
		rc |= write_count(ps, node, bytes ? (amount + ps - 1) / ps : amount);
	}
	if (release || reserve)
		hm_hugepage_discover(&hp);
	show(&hp);
	return rc ? 1 : 0;
}
