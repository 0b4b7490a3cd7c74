/* SPDX-License-Identifier: MIT */
/*
 * hugepage.c - what hugepages the system offers: every size under
 * /sys/kernel/mm/hugepages with its total, free, reserved and surplus counts,
 * the same per NUMA node, and the hugetlbfs mounts (none is needed: hugemem
 * maps hugepages through memfd).
 */
#include "mem/mem.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SYS_HUGEPAGES "/sys/kernel/mm/hugepages"
#define SYS_NODES     "/sys/devices/system/node"

/* Read one unsigned number from a sysfs file; 0 if it cannot be read. */
static unsigned read_count(const char *dir, const char *file)
{
	char path[640];
	unsigned v = 0;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	f = fopen(path, "re");
	if (!f)
		return 0;
	if (fscanf(f, "%u", &v) != 1)
		v = 0;
	fclose(f);
	return v;
}

static size_t default_hugepage_size(void)
{
	char line[128];
	size_t kb = 0;
	FILE *f = fopen("/proc/meminfo", "re");

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "Hugepagesize: %zu kB", &kb) == 1)
			break;
	}
	fclose(f);
	return kb * 1024;
}

/* Nodes with memory, from sysfs; node 0 alone when the machine shows none. */
static void find_nodes(struct hm_hugepage_info *info)
{
	DIR *d = opendir(SYS_NODES);
	struct dirent *e;

	info->n_nodes = 0;
	while (d && (e = readdir(d)) != NULL) {
		int node;
		char extra;

		if (sscanf(e->d_name, "node%d%c", &node, &extra) != 1 || node < 0 ||
		    node >= HM_NUMA_NODES_MAX || info->n_nodes >= HM_NUMA_NODES_MAX)
			continue;
		info->nodes[info->n_nodes++] = node;
	}
	if (d)
		closedir(d);
	if (info->n_nodes == 0)
		info->nodes[info->n_nodes++] = 0;
	/* Sort: readdir order is arbitrary. */
	for (unsigned i = 1; i < info->n_nodes; i++) {
		for (unsigned j = i; j > 0 && info->nodes[j - 1] > info->nodes[j]; j--) {
			int t = info->nodes[j];
			info->nodes[j] = info->nodes[j - 1];
			info->nodes[j - 1] = t;
		}
	}
}

static void find_mounts(struct hm_hugepage_info *info)
{
	char dev[128], dir[128], type[64], opts[512];
	FILE *f = fopen("/proc/mounts", "re");

	if (!f)
		return;
	while (fscanf(f, "%127s %127s %63s %511s %*d %*d", dev, dir, type, opts) == 4) {
		size_t size = info->default_size;
		const char *ps = strstr(opts, "pagesize=");
		uint64_t v;

		if (strcmp(type, "hugetlbfs") != 0)
			continue;
		if (ps) {
			char num[32];
			sscanf(ps + 9, "%31[^,]", num);
			if (hm__parse_size(num, &v) == 0)
				size = (size_t)v;
		}
		for (unsigned i = 0; i < info->n_sizes; i++) {
			if (info->sizes[i].page_size == size && !info->sizes[i].mount[0])
				snprintf(info->sizes[i].mount, sizeof(info->sizes[i].mount), "%s",
					 dir);
		}
	}
	fclose(f);
}

int hm_hugepage_discover(struct hm_hugepage_info *info)
{
	DIR *d;
	struct dirent *e;

	memset(info, 0, sizeof(*info));
	info->default_size = default_hugepage_size();
	find_nodes(info);
	d = opendir(SYS_HUGEPAGES);
	if (!d)
		return -EIO;
	while ((e = readdir(d)) != NULL && info->n_sizes < HM_HUGEPAGE_SIZES_MAX) {
		struct hm_hugepage_size *hs = &info->sizes[info->n_sizes];
		char dir[512];
		size_t kb;

		if (sscanf(e->d_name, "hugepages-%zukB", &kb) != 1)
			continue;
		hs->page_size = kb * 1024;
		snprintf(dir, sizeof(dir), "%s/%s", SYS_HUGEPAGES, e->d_name);
		hs->total = read_count(dir, "nr_hugepages");
		hs->free = read_count(dir, "free_hugepages");
		hs->reserved = read_count(dir, "resv_hugepages");
		hs->surplus = read_count(dir, "surplus_hugepages");
		for (unsigned n = 0; n < info->n_nodes; n++) {
			int node = info->nodes[n];
			snprintf(dir, sizeof(dir), "%s/node%d/hugepages/%s", SYS_NODES, node,
				 e->d_name);
			hs->node_total[node] = read_count(dir, "nr_hugepages");
			hs->node_free[node] = read_count(dir, "free_hugepages");
		}
		info->n_sizes++;
	}
	closedir(d);
	/* Smallest first. */
	for (unsigned i = 1; i < info->n_sizes; i++) {
		for (unsigned j = i;
		     j > 0 && info->sizes[j - 1].page_size > info->sizes[j].page_size; j--) {
			struct hm_hugepage_size t = info->sizes[j];
			info->sizes[j] = info->sizes[j - 1];
			info->sizes[j - 1] = t;
		}
	}
	find_mounts(info);
	return 0;
}
