/* SPDX-License-Identifier: MIT */
/*
 * peers/glibc.c - glibc's malloc as a peer of hugemem-bench. Always
 * compiled (HM_BENCH_HAVE_GLIBC).
 *
 * Linking jemalloc, mimalloc or tcmalloc replaces malloc and free for the
 * whole process, so plain malloc() here is not glibc's. Nor is
 * __libc_malloc: Debian's libmimalloc and libtcmalloc_minimal export
 * __libc_malloc and __libc_free too (to catch callers that bypass malloc),
 * and with them linked a call to __libc_malloc lands in mimalloc. So this
 * peer asks the dynamic linker for libc.so.6's own malloc and free
 * (dlsym() on libc's handle searches libc first), and checks with dladdr()
 * that they are libc's before measuring anything.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include "../bench.h"

#ifdef HM_BENCH_HAVE_GLIBC

#include <dlfcn.h>
#include <errno.h>
#include <string.h>

#define LIBC_SONAME "libc.so.6"

typedef void *malloc_fn(size_t size);
typedef void free_fn(void *p);

static malloc_fn *libc_malloc;
static free_fn *libc_free;

static void *glibc_alloc(size_t size)
{
	return libc_malloc(size);
}

static void glibc_free(void *p)
{
	libc_free(p);
}

static const struct bench_malloc_ops glibc_ops = {
	.name = "glibc",
	.alloc = glibc_alloc,
	.free = glibc_free,
};

/* Whether fn is defined in libc.so.6 itself. */
static bool in_libc(void *fn)
{
	Dl_info info;
	const char *base;

	if (!fn || !dladdr(fn, &info) || !info.dli_fname)
		return false;
	base = strrchr(info.dli_fname, '/');
	return strcmp(base ? base + 1 : info.dli_fname, LIBC_SONAME) == 0;
}

/* libc's own malloc and free, whatever replaces them in this process. */
static int find_libc_malloc(struct bench_ctx *ctx)
{
	void *libc = dlopen(LIBC_SONAME, RTLD_NOW | RTLD_NOLOAD);
	void *m, *f;

	if (!libc)
		return bench_msg(ctx, BENCH_SKIP, "dlopen(%s): %s", LIBC_SONAME, dlerror());
	m = dlsym(libc, "malloc");
	f = dlsym(libc, "free");
	dlclose(libc);
	if (!in_libc(m) || !in_libc(f))
		return bench_msg(ctx, BENCH_SKIP, "malloc and free of %s not found in it",
				 LIBC_SONAME);
	/* POSIX lets a data pointer from dlsym() be converted to a function pointer. */
	memcpy(&libc_malloc, &m, sizeof(m));
	memcpy(&libc_free, &f, sizeof(f));
	return 0;
}

int bench_glibc_malloc_setup(struct bench_ctx *ctx)
{
	int rc = find_libc_malloc(ctx);

	if (rc != 0)
		return rc;
	return bench_malloc_prepare(ctx, &glibc_ops);
}

int bench_glibc_objs_setup(struct bench_ctx *ctx)
{
	int rc = find_libc_malloc(ctx);

	if (rc != 0)
		return rc;
	return bench_objs_malloc_prepare(ctx, &glibc_ops);
}

#endif /* HM_BENCH_HAVE_GLIBC */
