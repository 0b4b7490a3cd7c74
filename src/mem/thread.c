/* SPDX-License-Identifier: MIT */
/*
 * thread.c - thread slots: one table in the shared config, so that no two
 * live threads of any attached processes share a slot (and so never share a
 * per-thread cache of the layers above).
 *
 * A thread takes a slot on its first hm_thread_id() with one compare-and-swap
 * and keeps it in a thread-local variable; a pthread key destructor gives it
 * back when the thread exits, after the exit hooks of the layers above have
 * flushed what the thread held. Slots of processes that died without
 * cleaning up are reclaimed when the table runs out.
 */
#include "mem/mem.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/syscall.h>
#include <unistd.h>

#define EXIT_HOOKS_MAX 8

__thread struct hm__thread_tls hm__thread_tls
	__attribute__((tls_model("initial-exec"))) = {.slot = -1};

static pthread_key_t exit_key;
static pthread_once_t key_once = PTHREAD_ONCE_INIT;
static hm__thread_exit_fn *exit_hooks[EXIT_HOOKS_MAX];
static _Atomic unsigned n_exit_hooks;

static inline struct hm_thread_slot *slots(const struct hm_shared *sh)
{
	return hm__ptr(sh, sh->threads_off);
}

int hm__thread_on_exit(hm__thread_exit_fn *fn)
{
	unsigned n = atomic_load(&n_exit_hooks);

	for (unsigned i = 0; i < n; i++)
		if (exit_hooks[i] == fn)
			return 0;
	if (n >= EXIT_HOOKS_MAX)
		return -ENOSPC;
	exit_hooks[n] = fn;
	atomic_store(&n_exit_hooks, n + 1);
	return 0;
}

void hm__threads_setup(struct hm_shared *sh)
{
	(void)sh; /* the table is zero in a fresh config region: every slot free */
}

static void release_slot(struct hm_shared *sh, int slot)
{
	unsigned n = atomic_load(&n_exit_hooks);

	for (unsigned i = 0; i < n; i++)
		exit_hooks[i](slot);
	struct hm_thread_slot *s = &slots(sh)[slot];
	atomic_store_explicit(&s->tid, 0, memory_order_relaxed);
	/* Release pairs with the acquire CAS in claim(): the next owner sees the
	 * slot's per-thread state as this thread left it. */
	atomic_store_explicit(&s->owner, 0, memory_order_release);
	atomic_fetch_sub(&sh->n_threads, 1);
}

/* The key destructor: the thread is exiting. */
static void on_thread_exit(void *value)
{
	struct hm_shared *sh = hm__shared();

	(void)value;
	if (sh && hm__thread_tls.slot >= 0 && hm__thread_tls.generation == hm__proc.generation)
		release_slot(sh, hm__thread_tls.slot);
	hm__thread_tls.slot = -1;
}

static void make_key(void)
{
	pthread_key_create(&exit_key, on_thread_exit);
}

static int claim(struct hm_shared *sh, unsigned i, int32_t pid)
{
	struct hm_thread_slot *s = &slots(sh)[i];
	int32_t expect = 0;

	if (atomic_load_explicit(&s->owner, memory_order_relaxed) != 0 ||
	    !atomic_compare_exchange_strong_explicit(&s->owner, &expect, pid, memory_order_acquire,
						     memory_order_relaxed))
		return -1;
	atomic_store_explicit(&s->tid, (int32_t)syscall(SYS_gettid), memory_order_relaxed);
	atomic_fetch_add(&sh->n_threads, 1);
	return (int)i;
}

/* owner of a slot whose dead process's state the exit hooks are giving back. */
#define OWNER_RECLAIMING (-1)

/*
 * Free the slots of processes that are gone; returns how many. The CAS from
 * the dead pid to OWNER_RECLAIMING fails if someone else reclaimed the slot
 * meanwhile (and a live thread took it), so a live thread's slot is never
 * freed here, and only one process runs the exit hooks of a dead slot: they
 * give back what its thread held (a thread cache's blocks) before the slot
 * is free again.
 */
static unsigned reclaim_dead(struct hm_shared *sh)
{
	unsigned n = 0;

	for (unsigned i = 0; i < sh->max_threads; i++) {
		struct hm_thread_slot *s = &slots(sh)[i];
		int32_t pid = atomic_load(&s->owner);

		if (pid > 0 && kill(pid, 0) && errno == ESRCH &&
		    atomic_compare_exchange_strong(&s->owner, &pid, OWNER_RECLAIMING)) {
			hm__notice("reclaiming thread slot %u of dead process %d", i, (int)pid);
			release_slot(sh, (int)i);
			n++;
		}
	}
	return n;
}

unsigned hm__threads_reclaim_dead(void)
{
	struct hm_shared *sh = hm__shared();

	return sh ? reclaim_dead(sh) : 0;
}

int hm_thread_register(void)
{
	struct hm_shared *sh = hm__shared();
	int slot = -1;

	if (!sh)
		return -ENXIO;
	if (hm__thread_tls.slot >= 0 && hm__thread_tls.generation == hm__proc.generation)
		return hm__thread_tls.slot;
	pthread_once(&key_once, make_key);
	/* Start the search at a spot that differs per thread, so threads that start
	 * together do not all fight over slot 0. */
	unsigned start = (unsigned)syscall(SYS_gettid) % sh->max_threads;
	int32_t pid = (int32_t)getpid();
	for (int round = 0; round < 4 && slot < 0; round++) {
		for (unsigned k = 0; k < sh->max_threads && slot < 0; k++)
			slot = claim(sh, (start + k) % sh->max_threads, pid);
		/* Full: free the slots of dead processes and look again, also when
		 * another thread did the reclaiming a moment before us. */
		if (slot < 0 && reclaim_dead(sh) == 0 &&
		    atomic_load(&sh->n_threads) >= sh->max_threads)
			break;
	}
	if (slot < 0) {
		hm__err("all %u thread slots are taken (hm_config.max_threads)", sh->max_threads);
		return -ENOSPC;
	}
	hm__thread_tls.slot = slot;
	hm__thread_tls.generation = hm__proc.generation;
	pthread_setspecific(exit_key, (void *)1);
	return slot;
}

int hm_thread_id(void)
{
	if (HM_LIKELY(hm__thread_tls.slot >= 0 &&
		      hm__thread_tls.generation == hm__proc.generation && hm__proc.sh))
		return hm__thread_tls.slot;
	return hm_thread_register();
}

int hm_thread_unregister(void)
{
	struct hm_shared *sh = hm__shared();

	if (!sh)
		return -ENXIO;
	if (hm__thread_tls.slot < 0 || hm__thread_tls.generation != hm__proc.generation)
		return -ENOENT;
	release_slot(sh, hm__thread_tls.slot);
	hm__thread_tls.slot = -1;
	pthread_setspecific(exit_key, NULL);
	return 0;
}

unsigned hm_thread_count(void)
{
	struct hm_shared *sh = hm__shared();

	return sh ? atomic_load(&sh->n_threads) : 0;
}

void hm__threads_release_process(void)
{
	struct hm_shared *sh = hm__shared();
	pid_t me = getpid();

	if (!sh)
		return;
	if (hm__thread_tls.slot >= 0 && hm__thread_tls.generation == hm__proc.generation) {
		release_slot(sh, hm__thread_tls.slot);
		pthread_setspecific(exit_key, NULL);
	}
	hm__thread_tls.slot = -1;
	/* Threads still running past hm_cleanup lose their slots too; their
	 * thread-locals are stale by generation and re-register at the next init. */
	for (unsigned i = 0; i < sh->max_threads; i++) {
		struct hm_thread_slot *s = &slots(sh)[i];
		if (atomic_load(&s->owner) == me)
			release_slot(sh, (int)i);
	}
}
