/* SPDX-License-Identifier: MIT */
/*
 * hugemem/common.h - version, attributes, constants, errors and logging
 * shared by every hugemem module.
 *
 * Every function here may be called from any thread, before or after
 * hm_init(). The log level and sink are per process.
 */
#ifndef HUGEMEM_COMMON_H
#define HUGEMEM_COMMON_H

#include <errno.h> /* pointer-returning calls report through errno */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(HM_BUILDING_LIBRARY)
#define HM_API __attribute__((visibility("default")))
#else
#define HM_API
#endif

/* Version as one integer: major * 10000 + minor * 100 + patch. */
#define HM_VERSION_MAJOR 0
#define HM_VERSION_MINOR 1
#define HM_VERSION_PATCH 0
#define HM_VERSION       (HM_VERSION_MAJOR * 10000 + HM_VERSION_MINOR * 100 + HM_VERSION_PATCH)

#define HM_CACHE_LINE 64             /* bytes; the default alignment everywhere */
#define HM_NAME_MAX   32             /* bytes of a name, the terminating NUL included */
#define HM_SOCKET_ANY (-1)           /* any NUMA node */
#define HM_BAD_IOVA   ((uint64_t)-1) /* what hm_virt2iova() returns for a foreign address */

#define HM_PAGE_SIZE_4K ((size_t)4096)
#define HM_PAGE_SIZE_2M ((size_t)2 << 20)
#define HM_PAGE_SIZE_1G ((size_t)1 << 30)

/* The version of the library actually linked, HM_VERSION of its build. */
HM_API int hm_version(void);

/*
 * A human-readable text for an errno value; accepts either sign, so the
 * negative values returned by hugemem's int functions can be passed as is.
 * Never returns NULL. Thread safety: any thread.
 */
HM_API const char *hm_strerror(int err);

/* Log levels, most severe first. The default is HM_LOG_WARNING. */
enum hm_log_level {
	HM_LOG_ERROR = 1,
	HM_LOG_WARNING = 2,
	HM_LOG_NOTICE = 3,
	HM_LOG_INFO = 4,
	HM_LOG_DEBUG = 5,
};

/*
 * A log sink receives one complete line (no trailing newline) of a message
 * at or above the current level. It may be called from any thread, with
 * library locks held: it must not call back into hugemem.
 */
typedef void hm_log_sink(enum hm_log_level level, const char *line, void *arg);

/* Messages less severe than level are dropped. Returns the previous level. */
HM_API int hm_log_set_level(int level);
HM_API int hm_log_get_level(void);

/* Route log lines to sink (NULL restores the default: stderr). */
HM_API void hm_log_set_sink(hm_log_sink *sink, void *arg);

/* Log a line through the current sink, printf-style. */
HM_API void hm_log(enum hm_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
HM_API void hm_vlog(enum hm_log_level level, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));

/* ---- Fast path: implementation, not API. ---- */

/*
 * A pointer-sized word as hm__copy_ptrs reads and writes it: may_alias, since
 * the ring's _elem calls move 8-byte elements of any type through it (an
 * access as this type makes no type-based aliasing assumption, as a char's
 * would not).
 */
typedef void *hm__word __attribute__((may_alias));

/*
 * Copy n pointers from src to dst (which do not overlap), four at a time
 * (DPDK unrolls the same way: a quarter of the loop's branches), each four
 * read before any is written, so that the compiler may move them as two
 * 16-byte loads and stores. The inline paths of rings and mempools copy
 * with it: a call to memcpy costs more than copying a few pointers.
 */
static inline __attribute__((always_inline)) void hm__copy_ptrs(void *dst, const void *src,
								unsigned n)
{
	hm__word *d = (hm__word *)dst;
	const hm__word *s = (const hm__word *)src;
	unsigned i = 0;

	/* One pointer (a single get or put), without the loops' set-up. */
	if (n == 1) {
		d[0] = s[0];
		return;
	}
	for (; i + 4 <= n; i += 4) {
		void *a = s[i], *b = s[i + 1], *c = s[i + 2], *e = s[i + 3];

		d[i] = a;
		d[i + 1] = b;
		d[i + 2] = c;
		d[i + 3] = e;
	}
	/* The rest, at most three, spelled out: as a loop, gcc vectorises it with
	 * run-time checks that cost a single-pointer copy ten instructions. */
	if (i < n)
		d[i] = s[i];
	if (i + 1 < n)
		d[i + 1] = s[i + 1];
	if (i + 2 < n)
		d[i + 2] = s[i + 2];
}

/*
 * The same for n 32-bit indices (buffer pools): a memcpy of a run-time
 * length is a call, which cost a bulk of one index twice a mempool's put.
 */
static inline __attribute__((always_inline)) void hm__copy_u32(uint32_t *dst, const uint32_t *src,
							       unsigned n)
{
	unsigned i = 0;

	if (n == 1) {
		dst[0] = src[0];
		return;
	}
	for (; i + 4 <= n; i += 4) {
		uint32_t a = src[i], b = src[i + 1], c = src[i + 2], e = src[i + 3];

		dst[i] = a;
		dst[i + 1] = b;
		dst[i + 2] = c;
		dst[i + 3] = e;
	}
	if (i < n)
		dst[i] = src[i];
	if (i + 1 < n)
		dst[i + 1] = src[i + 1];
	if (i + 2 < n)
		dst[i + 2] = src[i + 2];
}

#ifdef __cplusplus
}
#endif

#endif /* HUGEMEM_COMMON_H */
