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

/* Built with ThreadSanitizer: gcc says so, clang answers __has_feature. */
#if defined(__SANITIZE_THREAD__)
#define GLIBC_UNDER_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define GLIBC_UNDER_TSAN 1
#endif
#endif

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

/* The slab suite's loops call these inline: one indirect call to libc's malloc or free each. */
BENCH_SLAB_INLINE void *glibc_slab_alloc(void *pool, size_t size)
{
	(void)pool;
	return libc_malloc(size);
}

BENCH_SLAB_INLINE void glibc_slab_free(void *pool, void *p)
{
	(void)pool;
	libc_free(p);
}

BENCH_SLAB_OPS(glibc_slab_ops, "glibc", glibc_slab_alloc, glibc_slab_free);

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

int bench_glibc_slab_setup(struct bench_ctx *ctx)
{
	int rc;

#ifdef GLIBC_UNDER_TSAN
	/* libc's own malloc and free are not ThreadSanitizer's interceptors: it
	 * cannot see that a block freed on one thread and handed out again on
	 * the other was ordered by glibc's locks, and reports a race. */
	if (bench_slab_two_threads(ctx))
		return bench_msg(ctx, BENCH_SKIP,
				 "ThreadSanitizer cannot see libc's own malloc order its blocks");
#endif
	rc = find_libc_malloc(ctx);

	if (rc != 0)
		return rc;
	return bench_slab_prepare(ctx, &glibc_slab_ops, NULL);
}

#endif /* HM_BENCH_HAVE_GLIBC */
