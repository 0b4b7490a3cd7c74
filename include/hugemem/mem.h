/* SPDX-License-Identifier: MIT */
/*
 * hugemem/mem.h - the memory layer: hugepage discovery, segment lists,
 * IOVA and NUMA node of every hugemem address.
 *
 * An instance reserves one virtual range up front, holding one segment list
 * per (page size, NUMA node); pages are committed into it on demand and given
 * back when wholly free. hm_virt2iova() and hm_socket_of() are O(1) table
 * lookups, with no system call. All functions may be called from any thread
 * of any attached process.
 */
#ifndef HUGEMEM_MEM_H
#define HUGEMEM_MEM_H

#include <stdio.h>
#include <hugemem/common.h>

#ifdef __cplusplus
extern "C" {
#endif

#define HM_HUGEPAGE_SIZES_MAX 4  /* page sizes hm_hugepage_discover() reports */
#define HM_NUMA_NODES_MAX     64 /* NUMA nodes hugemem handles */

/* One hugepage size as the kernel offers it, in total and per NUMA node. */
struct hm_hugepage_size {
	size_t page_size;
	unsigned total, free, reserved, surplus; /* whole system, from /sys/kernel/mm/hugepages */
	unsigned node_total[HM_NUMA_NODES_MAX];  /* per node, where the kernel tells */
	unsigned node_free[HM_NUMA_NODES_MAX];
	char mount[128]; /* a hugetlbfs mount for this size, or "" (none is needed) */
};

struct hm_hugepage_info {
	size_t default_size; /* the kernel's default hugepage size, 0 if none */
	unsigned n_sizes;
	struct hm_hugepage_size sizes[HM_HUGEPAGE_SIZES_MAX]; /* smallest first */
	unsigned n_nodes; /* NUMA nodes with memory; 1 on a non-NUMA machine */
	int nodes[HM_NUMA_NODES_MAX];
};

/*
 * Read the system's hugepage state; needs no instance. Returns 0, or -EIO
 * if /sys cannot be read (the machine then counts as having no hugepages).
 */
HM_API int hm_hugepage_discover(struct hm_hugepage_info *info);

/* What the running instance got: hm_mem_get_info() fills it. */
struct hm_mem_info {
	size_t page_size;   /* the main page size (the first segment lists) */
	bool hugepages;     /* page_size is a hugepage size */
	bool iova_pa;       /* IOVA is the physical address (else the virtual one) */
	bool shared;        /* a prefixed instance other processes may attach to */
	int proc_type;      /* HM_PROC_PRIMARY or HM_PROC_SECONDARY */
	unsigned n_sockets; /* NUMA nodes in use */
	unsigned n_seglists;
	size_t memory_limit; /* bytes the instance may commit */
	size_t committed;    /* bytes committed now */
	size_t prealloc;     /* bytes committed and locked at init */
	void *va_base;       /* the instance's reserved range */
	size_t va_len;
};

/* Returns 0, or -ENXIO before hm_init(). */
HM_API int hm_mem_get_info(struct hm_mem_info *info);

/* One segment list as hm_seglist_walk() shows it. */
struct hm_seglist_info {
	unsigned index;
	size_t page_size;
	int socket;
	void *base;         /* start of its virtual range */
	size_t n_pages;     /* pages the range can hold */
	size_t n_committed; /* pages committed now */
};

typedef int hm_seglist_walk_cb(const struct hm_seglist_info *sl, void *arg);

/*
 * Call cb for every segment list until it returns non-zero, which is then
 * returned; 0 after the last. -ENXIO before hm_init().
 */
HM_API int hm_seglist_walk(hm_seglist_walk_cb *cb, void *arg);

/*
 * The IOVA of a hugemem address (physical in PA mode, the address itself in
 * VA mode); HM_BAD_IOVA for an address outside the instance or in a page
 * that is not committed. O(1), no system call. Any thread.
 */
HM_API uint64_t hm_virt2iova(const void *addr);

/* The NUMA node of a committed hugemem address; -EFAULT if it is none, -ENXIO before init. */
HM_API int hm_socket_of(const void *addr);

/* The page size backing a committed hugemem address, or 0. */
HM_API size_t hm_page_size_of(const void *addr);

/* The NUMA node the calling thread runs on (0 on a non-NUMA machine). */
HM_API int hm_socket_id(void);

/* Whether node is a NUMA node this instance can allocate on. */
HM_API bool hm_socket_valid(int socket);

/* Print the instance's memory: segment lists, committed pages, IOVA mode. */
HM_API void hm_mem_dump(FILE *f);

#ifdef __cplusplus
}
#endif

#endif /* HUGEMEM_MEM_H */
