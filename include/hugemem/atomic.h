/* SPDX-License-Identifier: MIT */
/*
 * hugemem/atomic.h - the atomic operations of the inline fast paths in the
 * public headers (ring, mempool). Implementation, not API.
 *
 * The public headers compile as C11 and as C++11, where _Atomic and
 * <stdatomic.h> are not available; so the shared fields the fast paths touch
 * are plain integers, and every access to them goes through these macros,
 * which are the compiler's __atomic builtins (understood by gcc and clang, in
 * C and in C++, and by ThreadSanitizer). This is the one public file that may
 * name the builtins (tests/meta/atomics.sh). Inside the library, code uses
 * C11 <stdatomic.h> directly.
 */
#ifndef HUGEMEM_ATOMIC_H
#define HUGEMEM_ATOMIC_H

#include <hugemem/common.h>

#define hm__load_relaxed(p)         __atomic_load_n((p), __ATOMIC_RELAXED)
#define hm__load_acquire(p)         __atomic_load_n((p), __ATOMIC_ACQUIRE)
#define hm__store_relaxed(p, v)     __atomic_store_n((p), (v), __ATOMIC_RELAXED)
#define hm__store_release(p, v)     __atomic_store_n((p), (v), __ATOMIC_RELEASE)
#define hm__fetch_add_relaxed(p, v) __atomic_fetch_add((p), (v), __ATOMIC_RELAXED)

/* Add v to a counter that only the calling thread writes (others may read it). */
#define hm__bump(p, v) hm__store_relaxed((p), hm__load_relaxed(p) + (v))

/* Compare-and-swap: on failure *expect is updated with what was there. */
#define hm__cas_relaxed(p, expect, desired) \
	__atomic_compare_exchange_n((p), (expect), (desired), 0, __ATOMIC_RELAXED, __ATOMIC_RELAXED)
#define hm__cas_acquire(p, expect, desired) \
	__atomic_compare_exchange_n((p), (expect), (desired), 0, __ATOMIC_ACQUIRE, __ATOMIC_ACQUIRE)
#define hm__cas_acq_rel(p, expect, desired) \
	__atomic_compare_exchange_n((p), (expect), (desired), 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)

#define hm__fence_acquire() __atomic_thread_fence(__ATOMIC_ACQUIRE)

/* A hint to the CPU inside a spin loop. */
#if defined(__x86_64__) || defined(__i386__)
#define hm__pause() __builtin_ia32_pause()
#elif defined(__aarch64__)
#define hm__pause() __asm__ __volatile__("yield" ::: "memory")
#else
#define hm__pause() ((void)0)
#endif

#endif /* HUGEMEM_ATOMIC_H */
