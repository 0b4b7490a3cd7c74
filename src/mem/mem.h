/* SPDX-License-Identifier: MIT */
/*
 * mem.h - the memory layer's shared state and its interface to the layers
 * above. Layer: mem; includes util only.
 *
 * An instance is one reserved virtual range:
 *
 *   base                                     base + va_len
 *   | config region | seglist 0 range | seglist 1 range | ... |
 *
 * The config region (struct hm_shared, then the per-page tables and the areas
 * of upper layers) is a file in the runtime directory for a shared instance, a
 * memfd for a private one. Each segment list is a memfd (hugepages of one size,
 * or 4 KiB pages) mapped whole over its range with MAP_NORESERVE, so every
 * attached process sees every page as soon as it is committed: committing is
 * faulting the pages in (MADV_POPULATE_WRITE), which allocates them in the
 * file; releasing is punching a hole in the file. No memory is used
 * until a page is committed, and no message has to tell secondaries about it.
 *
 * Every link inside the region is an offset from base (off), so the inspector
 * can read it at any address.
 *
 * Lock order: hm_shared.mem_lock is the innermost lock; heap and zone locks
 * may be held while taking it, never the reverse.
 */
#ifndef HM_MEM_MEM_H
#define HM_MEM_MEM_H

#include "internal.h"
#include "util/lock.h"
#include <stdatomic.h>
#include <hugemem/core.h>
#include <hugemem/mem.h>

#define HM_SHARED_MAGIC   UINT64_C(0x4d454d4547554824) /* "$HUGEMEM", little-endian */
#define HM_LAYOUT_VERSION 2u
#define HM_SEGLISTS_MAX   8
#define HM_CONFIG_FILE    "config"
#define HM_LOCK_FILE      "lock"
#define HM_PATH_MAX       256

/* Areas of upper layers inside the config region, each found by its offset here. */
enum hm_area {
	HM_AREA_HEAP = 0,
	HM_AREA_MEMZONE,
	HM_AREA_MALLOC,
	HM_AREA_CACHE,
	HM_AREA_SLAB,
	HM_AREA_RESERVED_5,
	HM_AREA_RESERVED_6,
	HM_AREA_RESERVED_7,
	HM_AREA_MAX,
};

/* One segment list: a virtual range for pages of one size on one node. */
struct hm_seglist {
	uint64_t page_size;
	int32_t socket;
	int32_t memfd;        /* its memory file, as numbered in the primary */
	uint64_t base_off;    /* start of its range */
	uint64_t n_pages;     /* pages the range holds */
	uint64_t n_committed; /* pages committed now (under mem_lock) */
	uint64_t n_pinned;    /* pages committed and locked at init, never released */
	uint64_t bitmap_off;  /* uint64_t words: bit set = page committed */
	uint64_t iova_off;    /* _Atomic uint64_t per page: its IOVA | 1 while committed, else 0 */
	uint64_t live_off;    /* _Atomic uint64_t words: bit set = page committed, read lock-free */
	uint64_t hint;        /* where the next search for free pages starts */
};

/*
 * A thread slot: owner is the pid of the process whose thread holds it, 0
 * when free. One word, so that reclaiming a dead process's slot can check in
 * the same compare-and-swap that the slot still belongs to that process.
 */
struct hm_thread_slot {
	_Atomic int32_t owner;
	_Atomic int32_t tid;
	uint32_t pad[2];
};

/*
 * The start of the config region. The first four fields never move: a
 * secondary and the inspector read them before trusting anything else.
 */
struct hm_shared {
	uint64_t magic;          /* written last by the primary: the instance is ready */
	uint32_t layout_version; /* HM_LAYOUT_VERSION */
	uint32_t header_size;    /* sizeof(struct hm_shared) */
	uint64_t base;           /* the address of this struct in every process */
	uint64_t va_len;         /* the whole reservation */
	uint64_t config_len;     /* the config region (its file's size) */
	int32_t primary_pid;
	uint32_t shared;    /* 1: a prefixed instance */
	uint64_t page_size; /* main page size */
	uint64_t memory_limit;
	uint64_t prealloc;
	_Atomic uint64_t committed; /* bytes committed in all segment lists */
	uint32_t iova_pa;
	uint32_t n_sockets;
	int32_t sockets[HM_NUMA_NODES_MAX];
	struct hm_mutex mem_lock; /* guards the segment lists */
	uint32_t n_seglists;
	uint32_t max_threads;
	struct hm_seglist seglists[HM_SEGLISTS_MAX];
	uint64_t threads_off; /* struct hm_thread_slot[max_threads] */
	_Atomic uint32_t n_threads;
	uint32_t max_zones;
	uint64_t area_off[HM_AREA_MAX];
	uint64_t alloc_off; /* bump pointer of hm__shared_alloc (primary init only) */
};

/* The process's view of the running instance. NULL-free only while initialised. */
struct hm_process {
	struct hm_shared *sh;       /* == base */
	int proc_type;              /* HM_PROC_PRIMARY / HM_PROC_SECONDARY */
	int config_fd;              /* the config file or memfd */
	int lock_fd;                /* primary of a shared instance: holds the lock */
	int memfd[HM_SEGLISTS_MAX]; /* this process's descriptors of the seglist files */
	uint64_t generation;        /* bumps at every hm_init, so stale thread-locals are seen */
	pid_t pid;                  /* the process that called hm_init; a forked child differs */
	char dir[HM_PATH_MAX];      /* the instance directory ("" for a private instance) */
};

extern struct hm_process hm__proc;

/* The instance if this process has one, else NULL (also in a forked child). */
struct hm_shared *hm__shared(void);

/*
 * Pointer from an offset in the instance, and back. Offsets count from the
 * config region's start, which is where sh points, in the primary at base and
 * in a reader that maps the region elsewhere (the inspector) at its mapping,
 * so these read no field of sh. Offset 0 is NULL.
 */
static inline void *hm__ptr(const struct hm_shared *sh, uint64_t off)
{
	return off ? (char *)(uintptr_t)sh + off : NULL;
}

static inline uint64_t hm__off(const struct hm_shared *sh, const void *p)
{
	return p ? (uint64_t)((uintptr_t)p - (uintptr_t)sh) : 0;
}

/* The same for an offset or pointer known not to be 0 or NULL (fast paths). */
static inline void *hm__at(const struct hm_shared *sh, uint64_t off)
{
	return (char *)(uintptr_t)sh + off;
}

static inline uint64_t hm__off_of(const struct hm_shared *sh, const void *p)
{
	return (uint64_t)((uintptr_t)p - (uintptr_t)sh);
}

/* Carve size bytes, zeroed, from the config region (primary, during init); 0 if it is full. */
uint64_t hm__shared_alloc(struct hm_shared *sh, uint64_t size, uint64_t align);

/* --- segment lists (seglist.c) --- */

/* The segment list holding addr, or -1. O(number of lists); no lock, no system call. */
static inline int hm__seglist_of(const struct hm_shared *sh, const void *addr)
{
	uint64_t off = hm__off_of(sh, addr);

	for (unsigned i = 0; i < sh->n_seglists; i++) {
		const struct hm_seglist *sl = &sh->seglists[i];
		if (off - sl->base_off < sl->n_pages * sl->page_size)
			return (int)i;
	}
	return -1;
}

/*
 * Whether the page holding addr in segment list i (which holds it) is
 * committed: one bit of a bitmap 64 times smaller than the IOVA table, so
 * the heap's free path finds it in the cache. One relaxed load: a lookup
 * racing with the commit or release of that very page may see either state.
 */
static inline bool hm__seglist_committed(const struct hm_shared *sh, unsigned i, const void *addr)
{
	const struct hm_seglist *sl = &sh->seglists[i];
	const _Atomic uint64_t *live = hm__at(sh, sl->live_off);
	uint64_t idx = (hm__off_of(sh, addr) - sl->base_off) >> __builtin_ctzll(sl->page_size);

	return (atomic_load_explicit(&live[idx / 64], memory_order_relaxed) >> (idx % 64)) & 1;
}

/*
 * The IOVA word of the page holding addr in segment list i (which holds
 * it): the page's IOVA | 1 while it is committed, 0 otherwise. One relaxed
 * load, with the same race as above.
 */
static inline uint64_t hm__seglist_page_word(const struct hm_shared *sh, unsigned i,
					     const void *addr)
{
	const struct hm_seglist *sl = &sh->seglists[i];
	const _Atomic uint64_t *iova = hm__at(sh, sl->iova_off);
	uint64_t idx = (hm__off_of(sh, addr) - sl->base_off) >> __builtin_ctzll(sl->page_size);

	return atomic_load_explicit(&iova[idx], memory_order_relaxed);
}

/*
 * Commit n pages of segment list sl: find a run of free pages, allocate them
 * in the file, bind them to the list's node, fault them in, record their IOVA.
 * When contig is true the run must be IOVA-contiguous. Returns 0 and the
 * address in *va, or -ENOMEM (limit reached, no run free, no hugepages left),
 * -EIO (pagemap), or another -errno of the OS layer. Nothing stays committed
 * on failure. Takes mem_lock.
 */
int hm__mem_commit(unsigned sl, size_t n, bool contig, void **va);

/* Release n pages at va (which hm__mem_commit returned, or a part of it). Takes mem_lock. */
int hm__mem_release(void *va, size_t n);

/* Whether [va, va + len) lies in committed pages of one list with contiguous IOVA. */
bool hm__mem_iova_contig(const void *va, size_t len);

/* --- threads (thread.c) --- */

typedef void hm__thread_exit_fn(int slot);
/* Run fn(slot) whenever a registered thread of this process exits or unregisters, before its slot is freed. */
int hm__thread_on_exit(hm__thread_exit_fn *fn);
void hm__threads_setup(struct hm_shared *sh); /* primary: zero the table */
void hm__threads_release_process(void);       /* hm_cleanup: free this process's slots */
/*
 * Free the slots of dead processes, running the exit hooks on each first (in
 * this process), so that what their threads held goes back. Returns how many.
 */
unsigned hm__threads_reclaim_dead(void);

/* Bytes of the config region set aside per thread slot for the layers' per-thread state. */
#define HM_THREAD_AREA_SIZE 8192u

/* --- init pieces (config.c, hugepage.c, shared.c) --- */

/* The effective configuration: cfg (or defaults) with HUGEMEM_* applied. 0 or -EINVAL. */
int hm__config_resolve(const struct hm_config *cfg, struct hm_config *out, char *prefix_buf,
		       char *dir_buf);
/* Parse a size with K/M/G suffixes ("512M"); 0 or -EINVAL. */
int hm__parse_size(const char *s, uint64_t *out);

int hm__mem_init(const struct hm_config *cfg);
/* Primary: mark the instance ready for secondaries, once every layer is set up. */
void hm__mem_publish(void);
void hm__mem_cleanup(void);
/* After fork in the child: forget the inherited instance without touching it. */
void hm__mem_forget(void);

#endif /* HM_MEM_MEM_H */
