/* SPDX-License-Identifier: MIT */
/*
 * internal.h - what every source file of hugemem includes first.
 *
 * Glossary (each word in exactly one sense, in code and comments):
 *   size    bytes.
 *   count/n number of objects.
 *   idx     a 32-bit buffer or slot index.
 *   off     byte offset from the instance base (struct hm_shared), the form
 *           every link inside shared memory takes.
 *   socket  a NUMA node.
 *   iova    a device-visible address (physical in PA mode, virtual in VA mode).
 *   page    always "hugepage" or "4 KiB page" in prose; a seglist page is one
 *           page of that segment list's size.
 *   segment a run of pages committed together.
 *   zone    a named reservation (memzone).
 *   slot    a thread's registration in the shared thread table.
 *
 * Layer rule: src/util includes nothing of hugemem but public headers; src/mem
 * includes util; src/heap includes mem and util. tests/meta checks it.
 */
#ifndef HM_INTERNAL_H
#define HM_INTERNAL_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include <hugemem/common.h>

#define HM_LIKELY(x)   __builtin_expect(!!(x), 1)
#define HM_UNLIKELY(x) __builtin_expect(!!(x), 0)

/* HM_DEBUG: 0 release, 1 cheap checks, 2 internal asserts, 3 full audits. */
#ifndef HM_DEBUG
#define HM_DEBUG 0
#endif

void hm__assert_fail(const char *expr, const char *file, int line) __attribute__((noreturn));

#if HM_DEBUG >= 2
#define HM_ASSERT(x) ((x) ? (void)0 : hm__assert_fail(#x, __FILE__, __LINE__))
#else
#define HM_ASSERT(x) ((void)0)
#endif

#define HM_MIN(a, b) ((a) < (b) ? (a) : (b))
#define HM_MAX(a, b) ((a) > (b) ? (a) : (b))

static inline bool hm__is_pow2(uint64_t x)
{
	return x != 0 && (x & (x - 1)) == 0;
}

/* Round x up to a multiple of a, a power of two; 0 if that overflows. */
static inline uint64_t hm__align_up(uint64_t x, uint64_t a)
{
	uint64_t r = (x + a - 1) & ~(a - 1);
	return r < x ? 0 : r;
}

static inline uint64_t hm__align_down(uint64_t x, uint64_t a)
{
	return x & ~(a - 1);
}

/*
 * Memory checkers. A pool hands out memory the checker cannot see being
 * freed, so the library tells it: hm_track_noaccess(p, n) when memory is
 * given back (a later access is reported as a use after free),
 * hm_track_undefined(p, n) before the library or a user writes it again;
 * hm_track_defined(&v, sizeof(v)) for a value read on purpose from memory
 * that may never have been written (a stale pointer's "header").
 * HM_TRACK=asan (the asan preset) maps these to AddressSanitizer's manual
 * poisoning, HM_TRACK=valgrind to memcheck's client requests; otherwise they
 * cost nothing. HM_NO_TRACK marks a function that reads memory which may be
 * poisoned on purpose (checking whether a pointer is a live block), and
 * hm_track_quiet_begin/end hide such reads from Valgrind.
 */
#if defined(HM_TRACK_ASAN) && defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#define hm_track_noaccess(p, n)  ASAN_POISON_MEMORY_REGION((p), (n))
#define hm_track_undefined(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#define hm_track_defined(p, n)   ((void)(p), (void)(n))
#define HM_NO_TRACK              __attribute__((no_sanitize_address))
#define hm_track_quiet_begin()   ((void)0)
#define hm_track_quiet_end()     ((void)0)
#elif defined(HM_TRACK_VALGRIND) && defined(HM_HAVE_VALGRIND_H)
#include <valgrind/memcheck.h>
#define hm_track_noaccess(p, n)  ((void)VALGRIND_MAKE_MEM_NOACCESS((p), (n)))
#define hm_track_undefined(p, n) ((void)VALGRIND_MAKE_MEM_UNDEFINED((p), (n)))
#define hm_track_defined(p, n)   ((void)VALGRIND_MAKE_MEM_DEFINED((p), (n)))
#define HM_NO_TRACK
#define hm_track_quiet_begin() VALGRIND_DISABLE_ERROR_REPORTING
#define hm_track_quiet_end()   VALGRIND_ENABLE_ERROR_REPORTING
#else
#define hm_track_noaccess(p, n)  ((void)(p), (void)(n))
#define hm_track_undefined(p, n) ((void)(p), (void)(n))
#define hm_track_defined(p, n)   ((void)(p), (void)(n))
#define HM_NO_TRACK
#define hm_track_quiet_begin() ((void)0)
#define hm_track_quiet_end()   ((void)0)
#endif

/* Log through hm_log with a "hugemem: " prefix added by the logger. */
#define hm__err(...)    hm_log(HM_LOG_ERROR, __VA_ARGS__)
#define hm__warn(...)   hm_log(HM_LOG_WARNING, __VA_ARGS__)
#define hm__notice(...) hm_log(HM_LOG_NOTICE, __VA_ARGS__)
#define hm__info(...)   hm_log(HM_LOG_INFO, __VA_ARGS__)
#define hm__debug(...)  hm_log(HM_LOG_DEBUG, __VA_ARGS__)

/* Copy a user-given name into dst[HM_NAME_MAX]; 0, -EINVAL (NULL, empty) or -ENAMETOOLONG. */
int hm__name_copy(char *dst, const char *name);

/* Set errno to err (positive) and return NULL: the pointer-function error rule. */
static inline void *hm__null_errno(int err)
{
	errno = err < 0 ? -err : err;
	return NULL;
}

#endif /* HM_INTERNAL_H */
