/* SPDX-License-Identifier: MIT */
/*
 * lock.h - locks that work across processes, for structures in shared
 * memory: a spinlock for short critical sections, and a robust
 * process-shared mutex for sections whose holder may die (kill -9): the next
 * locker then gets the lock back, with a log line, instead of hanging.
 * Layer: util.
 */
#ifndef HM_UTIL_LOCK_H
#define HM_UTIL_LOCK_H

#include "internal.h"

#include <pthread.h>
#include <stdatomic.h>

/* Tell the CPU we are spinning (frees resources for the sibling hyperthread). */
static inline void hm__cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ volatile("yield" ::: "memory");
#endif
}

struct hm_spinlock {
	atomic_uint locked;
};

static inline void hm__spin_init(struct hm_spinlock *l)
{
	atomic_init(&l->locked, 0);
}

static inline void hm__spin_lock(struct hm_spinlock *l)
{
	for (;;) {
		/* Acquire pairs with the release in hm__spin_unlock: the previous
		 * holder's writes are visible once we own the lock. */
		if (!atomic_exchange_explicit(&l->locked, 1, memory_order_acquire))
			return;
		while (atomic_load_explicit(&l->locked, memory_order_relaxed))
			hm__cpu_relax();
	}
}

static inline void hm__spin_unlock(struct hm_spinlock *l)
{
	atomic_store_explicit(&l->locked, 0, memory_order_release);
}

struct hm_mutex {
	pthread_mutex_t m;
};

/* Initialise a robust, process-shared mutex; 0 or -errno. */
int hm__mutex_init(struct hm_mutex *mx);
/* Lock; if the previous holder died, log it and take the lock over. */
void hm__mutex_lock(struct hm_mutex *mx);
void hm__mutex_unlock(struct hm_mutex *mx);

/*
 * hm__mutex_lock for sections of a few dozen instructions taken by threads
 * on other CPUs at once (a slab cache's depot): try the lock a while, with a
 * pause between tries, before sleeping in the kernel. Measured: a producer
 * and a consumer thread trading magazines of one cache made 675 futex calls
 * per 4 Mi objects with the plain lock (a sleep and a wake-up of tens of
 * microseconds each, on the data path), 3 with this one; their throughput
 * was the same within this machine's noise.
 */
#define HM_MUTEX_SPINS 64u
void hm__mutex_lock_spin(struct hm_mutex *mx);

#endif /* HM_UTIL_LOCK_H */
