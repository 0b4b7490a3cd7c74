/* SPDX-License-Identifier: MIT */
/*
 * hugemem/core.h - starting and stopping an instance, processes and threads.
 *
 * A process runs at most one instance at a time: hm_init() starts it (as a
 * private instance, or as the primary or a secondary of a shared one named by
 * a prefix) and hm_cleanup() stops it. hm_init() and hm_cleanup() must not
 * race with each other or with any other hugemem call; everything else may be
 * called from any thread once hm_init() has returned 0.
 *
 * A forked child does not inherit a usable instance. It may exec, or call
 * hm_init() itself to attach as a secondary of a shared instance.
 */
#ifndef HUGEMEM_CORE_H
#define HUGEMEM_CORE_H

#include <hugemem/common.h>
#include <hugemem/atomic.h>

#ifdef __cplusplus
extern "C" {
#endif

/* hm_config.page_size: pick automatically, or the largest the system has free. */
#define HM_PAGE_SIZE_AUTO    ((size_t)0)
#define HM_PAGE_SIZE_LARGEST ((size_t)-1)

enum hm_proc_type {
	HM_PROC_AUTO = 0,      /* secondary if a live primary holds the prefix, else primary */
	HM_PROC_PRIMARY = 1,   /* creates the instance (and its files, with a prefix) */
	HM_PROC_SECONDARY = 2, /* attaches to the live primary of the prefix */
};

enum hm_iova_mode {
	HM_IOVA_AUTO = 0, /* PA when the pagemap shows physical addresses, else VA */
	HM_IOVA_PA = 1,   /* IOVA is the physical address; hm_init fails if unreadable */
	HM_IOVA_VA = 2,   /* IOVA is the virtual address */
};

#define HM_THREADS_MAX_DEFAULT 256u   /* thread slots in an instance */
#define HM_ZONES_MAX_DEFAULT   65536u /* named zones in an instance */

/*
 * Configuration of hm_init(). Fill it with hm_config_defaults() and change
 * what you need; every HUGEMEM_* environment variable then overrides the
 * field it names (see README.md), so an operator can tune a program without
 * rebuilding it. A secondary takes page size, limits and modes from its
 * primary and uses only prefix, runtime_dir, proc_type and log_level.
 */
struct hm_config {
	size_t page_size; /* HM_PAGE_SIZE_AUTO, _LARGEST, _4K, _2M or _1G. HUGEMEM_PAGE_SIZE */
	bool no_huge;     /* force 4 KiB pages. HUGEMEM_NO_HUGE */
	size_t memory_limit; /* bytes the instance may map in all; 0: physical memory. HUGEMEM_MEMORY */
	size_t prealloc;     /* bytes mapped, touched and locked at init. HUGEMEM_PREALLOC */
	const char *prefix;          /* NULL or "": a private instance. HUGEMEM_PREFIX */
	enum hm_proc_type proc_type; /* HUGEMEM_PROC_TYPE */
	const char
		*runtime_dir; /* existing directory for the instance files. HUGEMEM_RUNTIME_DIR */
	int log_level;        /* 0: leave as is. HUGEMEM_LOG_LEVEL */
	enum hm_iova_mode iova_mode; /* HUGEMEM_IOVA_MODE */
	unsigned max_threads;        /* thread slots; 0: HM_THREADS_MAX_DEFAULT */
	unsigned max_zones;          /* zone table size; 0: HM_ZONES_MAX_DEFAULT */
};

/* Fill cfg with the defaults that hm_init(NULL) uses, before the environment. */
HM_API void hm_config_defaults(struct hm_config *cfg);

/*
 * Start the instance. cfg NULL means defaults; HUGEMEM_* variables override.
 * Returns 0, or:
 *   -EALREADY  an instance is already running in this process
 *   -EINVAL    a bad field, or a malformed HUGEMEM_* value (the log names it)
 *   -ENOMEM    the prealloc or the address-space reservation could not be had
 *   -ENOENT    secondary: no live primary for the prefix
 *   -EEXIST    primary: a live primary already holds the prefix
 *   -EPROTO    secondary: the primary's layout version differs from ours
 *   -EADDRINUSE secondary: the primary's addresses are taken in this process
 *   -ENOTDIR, -EACCES, -ENAMETOOLONG  the runtime directory is unusable
 *   another -errno  a system call refused (mmap, memfd_create, open...; the log says which)
 * On failure nothing stays mapped or open, and hm_init() may be called again.
 */
HM_API int hm_init(const struct hm_config *cfg);

/*
 * Stop the instance: unmap everything, release hugepages and thread slots,
 * and in a primary remove the instance files. Zones and other objects that a
 * primary leaves die with it. Safe to call when no instance runs.
 */
HM_API void hm_cleanup(void);

/* True between a successful hm_init() and hm_cleanup() in this process. */
HM_API bool hm_initialized(void);

/* HM_PROC_PRIMARY or HM_PROC_SECONDARY (also for a private instance: primary); -ENXIO before init. */
HM_API int hm_proc_type(void);

/*
 * The calling thread's slot in the instance, from 0 to max_threads - 1,
 * registering the thread on first use; its slot is released when the thread
 * exits. No two live threads of any attached processes share a slot.
 * Returns the slot, or -ENXIO before hm_init(), or -ENOSPC when all slots
 * are taken (the log says how many there are).
 */
HM_API int hm_thread_id(void);

/* Register the calling thread explicitly; returns its slot as hm_thread_id(). */
HM_API int hm_thread_register(void);

/* Release the calling thread's slot now; 0, or -ENOENT if it had none. */
HM_API int hm_thread_unregister(void);

/* Number of thread slots taken in the whole instance. */
HM_API unsigned hm_thread_count(void);

/* ---- Fast path: implementation, not API. Fields may change. ---- */

/* The calling thread's slot, and the instance (hm__instance_generation) it was taken in. */
struct hm__thread_tls {
	int slot; /* -1: none */
	uint64_t generation;
};
extern HM_API __thread struct hm__thread_tls hm__thread_tls
	__attribute__((tls_model("initial-exec")));
/* Bumps at every hm_init of this process: a slot of an earlier instance is stale. */
extern HM_API uint64_t hm__instance_generation;

/* hm_thread_id() for the inline fast paths: a thread-local read when the slot is known. */
static inline int hm__thread_slot(void)
{
	/* Relaxed: only this thread's hm_init or a thread that raced with it
	 * (misuse) writes the generation. */
	if (__builtin_expect(
		    hm__thread_tls.generation == hm__load_relaxed(&hm__instance_generation), 1) &&
	    hm__thread_tls.slot >= 0)
		return hm__thread_tls.slot;
	return hm_thread_id();
}

#ifdef __cplusplus
}
#endif

#endif /* HUGEMEM_CORE_H */
