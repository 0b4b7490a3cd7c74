/* SPDX-License-Identifier: MIT */
/*
 * os.c - every system call that maps, commits, binds or inspects memory, and
 * the fault-injection hook that makes the Nth of them fail (see os.h).
 */
#include "mem/os.h"

#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef MFD_HUGE_SHIFT
#define MFD_HUGE_SHIFT 26
#endif
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif
#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif
#define HM_MPOL_BIND   2
#define HM_MPOL_F_NODE (1 << 0)
#define HM_MPOL_F_ADDR (1 << 1)

/* Fault injection: which operations, which call (counted down), which errno. */
static struct {
	_Atomic unsigned ops;
	_Atomic unsigned countdown;
	_Atomic int err;
	_Atomic unsigned calls[8];
} inject;

void hm__os_fail_nth(unsigned ops, unsigned n, int err)
{
	atomic_store(&inject.ops, 0);
	if (n == UINT_MAX)
		return;
	atomic_store(&inject.countdown, n);
	atomic_store(&inject.err, err < 0 ? -err : err);
	atomic_store(&inject.ops, ops);
}

unsigned hm__os_calls(unsigned ops)
{
	unsigned sum = 0;

	for (unsigned i = 0; i < 8; i++)
		if (ops & (1u << i))
			sum += atomic_load(&inject.calls[i]);
	return sum;
}

/* Count the call of op; return the injected -errno if this call must fail, else 0. */
static int injected(unsigned op)
{
	atomic_fetch_add_explicit(&inject.calls[__builtin_ctz(op)], 1, memory_order_relaxed);
	if (HM_LIKELY(!(atomic_load_explicit(&inject.ops, memory_order_relaxed) & op)))
		return 0;
	if (atomic_fetch_sub(&inject.countdown, 1) != 0)
		return 0;
	atomic_store(&inject.ops, 0);
	return -atomic_load(&inject.err);
}

size_t hm__os_page_size(void)
{
	static size_t ps;

	if (!ps)
		ps = (size_t)sysconf(_SC_PAGESIZE);
	return ps;
}

unsigned hm__os_cpus(void)
{
	cpu_set_t set;
	int n;

	/* The CPUs this thread may run on: a process pinned to one CPU gets no helpers. */
	if (sched_getaffinity(0, sizeof(set), &set) != 0)
		return 1;
	n = CPU_COUNT(&set);
	return n > 0 ? (unsigned)n : 1;
}

/* Physical frame numbers show in the pagemap only with CAP_SYS_ADMIN; else they read 0. */
bool hm__os_pagemap_has_pfn(void)
{
	static int probe = -1;
	volatile char page[1];
	uint64_t pa;

	if (probe < 0) {
		page[0] = 1;
		probe = hm__os_phys((const void *)page, hm__os_page_size(), 1, &pa) == 0 && pa != 0;
	}
	return probe == 1;
}

int hm__os_reserve(void **addr, void *hint, size_t len)
{
	int flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE;
	int rc = injected(HM_OS_MMAP);
	void *p;

	if (rc)
		return rc;
	if (hint)
		flags |= MAP_FIXED_NOREPLACE;
	p = mmap(hint, len, PROT_NONE, flags, -1, 0);
	if (p == MAP_FAILED)
		return errno == EEXIST ? -EADDRINUSE : -errno;
	if (hint && p != hint) {
		/* A kernel older than 4.17 ignores MAP_FIXED_NOREPLACE and treats it as a hint. */
		munmap(p, len);
		return -EADDRINUSE;
	}
	*addr = p;
	return 0;
}

int hm__os_unmap(void *addr, size_t len)
{
	return munmap(addr, len) ? -errno : 0;
}

int hm__os_memfd(const char *name, size_t page_size)
{
	unsigned flags = MFD_CLOEXEC;
	int rc = injected(HM_OS_MEMFD);
	int fd;

	if (rc)
		return rc;
	if (page_size > hm__os_page_size())
		flags |= MFD_HUGETLB | ((unsigned)__builtin_ctzll(page_size) << MFD_HUGE_SHIFT);
	fd = memfd_create(name, flags);
	return fd < 0 ? -errno : fd;
}

int hm__os_truncate(int fd, uint64_t len)
{
	int rc = injected(HM_OS_FTRUNCATE);

	if (rc)
		return rc;
	return ftruncate(fd, (off_t)len) ? -errno : 0;
}

int hm__os_map_fd(void *addr, size_t len, int fd, uint64_t off)
{
	int rc = injected(HM_OS_MMAP);
	void *p;

	if (rc)
		return rc;
	/* MAP_NORESERVE: hugetlb pages are reserved by hm__os_commit, page by page,
	 * not for the whole range at mmap time. */
	p = mmap(addr, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED | MAP_NORESERVE, fd,
		 (off_t)off);
	return p == MAP_FAILED ? -errno : 0;
}

int hm__os_release(int fd, uint64_t off, uint64_t len)
{
	if (fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)off, (off_t)len))
		return -errno;
	return 0;
}

int hm__os_bind(void *addr, size_t len, int socket)
{
	unsigned long mask[HM_MAX(1, 1024 / (8 * sizeof(unsigned long)))] = {0};
	int rc = injected(HM_OS_MBIND);

	if (rc)
		return rc;
	if (socket < 0 || socket >= 1024)
		return -EINVAL;
	mask[socket / (8 * sizeof(unsigned long))] |= 1ul << (socket % (8 * sizeof(unsigned long)));
	if (syscall(SYS_mbind, addr, len, HM_MPOL_BIND, mask, 1024ul, 0u))
		return -errno;
	return 0;
}

int hm__os_commit(int fd, uint64_t off, void *addr, size_t len)
{
	int rc = injected(HM_OS_POPULATE);

	if (rc)
		return rc;
	/* One call allocates and maps every page; hugetlb faults of different
	 * pages run in parallel, so callers may split a large range over threads.
	 * A shortage of hugepages is EFAULT ("would SIGBUS"). */
	if (madvise(addr, len, MADV_POPULATE_WRITE) == 0)
		return 0;
	if (errno != EINVAL)
		return errno == EFAULT ? -ENOMEM : -errno;
	/* Before Linux 5.14: allocate with fallocate, which reports a shortage as
	 * ENOSPC instead of a SIGBUS at the first touch, then touch every page. */
	if ((rc = injected(HM_OS_FALLOCATE)) != 0)
		return rc;
	if (fallocate(fd, 0, (off_t)off, (off_t)len))
		return errno == ENOSPC ? -ENOMEM : -errno;
	for (size_t i = 0; i < len; i += hm__os_page_size()) {
		/* A volatile read and write of each page faults it in, writable. */
		/* cppcheck-suppress selfAssignment */
		((volatile char *)addr)[i] = ((volatile char *)addr)[i];
	}
	return 0;
}

int hm__os_lock(void *addr, size_t len)
{
	return mlock(addr, len) ? -errno : 0;
}

int hm__os_phys(const void *addr, size_t page_size, size_t n, uint64_t *pa)
{
	const size_t base = hm__os_page_size();
	const size_t step = page_size / base; /* pagemap entries per page */
	uint64_t buf[512];
	int fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	int rc = 0;

	if (fd < 0)
		return -errno;
	/* One pread per 512 pages for 4 KiB pages; one per page for hugepages,
	 * whose first entry is all that is needed. */
	for (size_t i = 0; i < n && rc == 0;) {
		uintptr_t va = (uintptr_t)addr + i * page_size;
		size_t k = step == 1 ? HM_MIN(n - i, 512) : 1;
		ssize_t want = (ssize_t)(k * sizeof(uint64_t));

		if (pread(fd, buf, (size_t)want, (off_t)(va / base * sizeof(uint64_t))) != want) {
			rc = -EIO;
			break;
		}
		for (size_t j = 0; j < k; j++, i++) {
			/* Bit 63: present; bits 0-54: the frame number (0 without CAP_SYS_ADMIN). */
			uint64_t pfn = buf[j] & ((UINT64_C(1) << 55) - 1);
			pa[i] = (buf[j] >> 63) && pfn ? pfn * base + (va % base) : 0;
		}
	}
	close(fd);
	return rc;
}

int hm__os_current_node(void)
{
	unsigned cpu, node;

	if (syscall(SYS_getcpu, &cpu, &node, NULL) != 0)
		return 0;
	return (int)node;
}

int hm__os_open(const char *path, int flags, unsigned mode)
{
	int rc = injected(HM_OS_OPEN);
	int fd;

	if (rc)
		return rc;
	fd = open(path, flags | O_CLOEXEC, (mode_t)mode);
	return fd < 0 ? -errno : fd;
}
