/* SPDX-License-Identifier: MIT */
/*
 * os.h - the one boundary to the operating system. Every mmap, munmap,
 * memfd_create, ftruncate, fallocate, madvise, mbind, mlock and pagemap read
 * of hugemem goes through here, so fault injection and auditing happen in
 * one place (mimalloc's prim rule).
 *
 * Each call returns 0 (or a value) on success and a negative errno on
 * failure; none of them logs. Layer: mem; includes util only.
 */
#ifndef HM_MEM_OS_H
#define HM_MEM_OS_H

#include "internal.h"
#include <sys/types.h>

/* Operations that fault injection can make fail. */
enum hm__os_op {
	HM_OS_MMAP = 1u << 0,      /* hm__os_reserve, hm__os_map_fd */
	HM_OS_MEMFD = 1u << 1,     /* hm__os_memfd */
	HM_OS_FTRUNCATE = 1u << 2, /* hm__os_truncate */
	HM_OS_FALLOCATE = 1u << 3, /* hm__os_commit, on kernels without MADV_POPULATE_WRITE */
	HM_OS_MBIND = 1u << 4,     /* hm__os_bind */
	HM_OS_POPULATE = 1u << 5,  /* hm__os_commit */
	HM_OS_OPEN = 1u << 6,      /* hm__os_open (runtime files) */
	HM_OS_ALL = 0x7fu,
};

/*
 * Fault injection, for tests: from now on, the call number n (0 = the next
 * one) among the operations in ops fails with -err; the calls after it
 * succeed again. n = UINT_MAX turns injection off. Process-wide.
 */
void hm__os_fail_nth(unsigned ops, unsigned n, int err);
/* How many calls of the operations in ops were made since the process began. */
unsigned hm__os_calls(unsigned ops);

/* The system's base page size and the pagemap's readability (PFNs visible). */
size_t hm__os_page_size(void);
/* CPUs the calling thread may run on (at least 1). */
unsigned hm__os_cpus(void);
bool hm__os_pagemap_has_pfn(void);

/* Reserve len bytes of address space, inaccessible, at hint exactly or anywhere (hint NULL). */
int hm__os_reserve(void **addr, void *hint, size_t len);
/* Give back an address range (a reservation or a mapping). */
int hm__os_unmap(void *addr, size_t len);

/* An anonymous memory file; page_size 0 or 4 KiB: normal pages, else hugepages of that size. */
int hm__os_memfd(const char *name, size_t page_size);
int hm__os_truncate(int fd, uint64_t len);
/* Map fd[off, off + len) shared, read-write, over an existing reservation at addr (MAP_FIXED). */
int hm__os_map_fd(void *addr, size_t len, int fd, uint64_t off);
/*
 * Commit the pages of fd[off, off + len), mapped at addr: allocate them and
 * fault them into this process's page tables, writable. A shortage (no free
 * hugepages) is -ENOMEM, never a SIGBUS. Pages committed before a failure
 * stay in the file: the caller releases the range.
 */
int hm__os_commit(int fd, uint64_t off, void *addr, size_t len);
/* Release (punch out) the file pages of fd[off, off + len); this unmaps them everywhere. */
int hm__os_release(int fd, uint64_t off, uint64_t len);
/* Bind the pages of [addr, addr + len) to NUMA node socket (before they are committed). */
int hm__os_bind(void *addr, size_t len, int socket);
int hm__os_lock(void *addr, size_t len);
/* Physical addresses of n pages of size page_size starting at addr, from the pagemap; 0 where unknown. */
int hm__os_phys(const void *addr, size_t page_size, size_t n, uint64_t *pa);
/* The node the calling thread runs on. */
int hm__os_current_node(void);
/* open(2) with O_CLOEXEC added; returns the fd or -errno. */
int hm__os_open(const char *path, int flags, unsigned mode);

#endif /* HM_MEM_OS_H */
