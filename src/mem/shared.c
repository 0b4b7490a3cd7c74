/* SPDX-License-Identifier: MIT */
/*
 * shared.c - creating, attaching to and tearing down an instance: the
 * runtime directory and its lock, the reserved virtual range, the config
 * region and the segment-list files.
 *
 * A primary of a prefixed instance holds a POSIX record lock on
 * <runtime_dir>/<prefix>/lock for its whole life. Such locks belong to the
 * process: a forked child does not inherit it, and the kernel drops it when
 * the primary dies, even by kill -9. So "the lock is free" means "no live
 * primary": a secondary refuses to attach, and the next primary knows the
 * files it finds are stale and replaces them.
 *
 * Secondaries open the primary's segment-list memfds through
 * /proc/<primary>/fd/<n>, which needs the same user (or root), and map
 * everything at the primary's addresses or fail with -EADDRINUSE.
 */
#include "mem/mem.h"
#include "mem/os.h"
#include "util/bitmap.h"

#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

struct hm_process hm__proc = {.config_fd = -1, .lock_fd = -1};
uint64_t hm__instance_generation; /* hm__proc.generation, for the inline fast paths */

/* What a forked child inherited: dropped by its next hm_init or hm_cleanup. */
static struct hm_process inherited;
static bool inherited_valid;

struct hm_shared *hm__shared(void)
{
	return hm__proc.sh;
}

/* In the child of a fork: the instance is the parent's, not ours. */
static void on_fork_child(void)
{
	if (!hm__proc.sh)
		return;
	inherited = hm__proc;
	inherited_valid = true;
	hm__proc.sh = NULL;
	/* The thread slot this thread held is the parent's: a new generation makes
	 * the inline fast paths (mempool, slab, bufpool, kmalloc) see none and take
	 * their slow paths, which find no instance (ENXIO), instead of using the
	 * parent's per-thread caches in the shared memory. */
	hm__proc.generation++;
	hm__store_relaxed(&hm__instance_generation, hm__proc.generation);
}

static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;
static void install_atfork(void)
{
	pthread_atfork(NULL, NULL, on_fork_child);
}

uint64_t hm__shared_alloc(struct hm_shared *sh, uint64_t size, uint64_t align)
{
	uint64_t off = hm__align_up(sh->alloc_off, align ? align : HM_CACHE_LINE);

	if (off == 0 || off + size > sh->config_len || off + size < off)
		return 0;
	sh->alloc_off = off + size;
	/* The region is a fresh file: it reads as zeroes already. */
	return off;
}

/* Close the descriptors and unmap the range of a process view; touches no shared state. */
static void drop_view(struct hm_process *p)
{
	if (p->sh)
		hm__os_unmap(p->sh, (size_t)p->sh->va_len);
	for (unsigned i = 0; i < HM_SEGLISTS_MAX; i++) {
		if (p->memfd[i] > 0)
			close(p->memfd[i]);
		p->memfd[i] = -1;
	}
	if (p->config_fd >= 0)
		close(p->config_fd);
	if (p->lock_fd >= 0)
		close(p->lock_fd);
	p->sh = NULL;
	p->config_fd = p->lock_fd = -1;
}

void hm__mem_forget(void)
{
	if (inherited_valid) {
		drop_view(&inherited);
		inherited_valid = false;
	}
}

/* --- the runtime directory --- */

static int make_dir(const char *path)
{
	struct stat st;

	if (mkdir(path, 0700) && errno != EEXIST)
		return -errno;
	if (stat(path, &st))
		return -errno;
	if (!S_ISDIR(st.st_mode))
		return -ENOTDIR;
	if (st.st_uid != geteuid())
		return -EACCES;
	return 0;
}

/* dir = <runtime_dir>/<prefix>, making the default runtime directory if needed. */
static int instance_dir(const struct hm_config *cfg, bool create, char *dir)
{
	char base[HM_PATH_MAX];
	const char *xdg = getenv("XDG_RUNTIME_DIR");
	struct stat st;
	int rc;

	if (cfg->runtime_dir) {
		if (stat(cfg->runtime_dir, &st)) {
			rc = -errno; /* before the log, whose sink may change errno */
			return hm__err("runtime directory %s: %s", cfg->runtime_dir,
				       hm_strerror(rc)),
			       rc;
		}
		if (!S_ISDIR(st.st_mode))
			return hm__err("runtime directory %s is not a directory", cfg->runtime_dir),
			       -ENOTDIR;
		snprintf(base, sizeof(base), "%s", cfg->runtime_dir);
	} else {
		if (xdg && *xdg && strlen(xdg) < HM_PATH_MAX - 64)
			snprintf(base, sizeof(base), "%s/hugemem", xdg);
		else if (geteuid() == 0)
			snprintf(base, sizeof(base), "/var/run/hugemem");
		else
			snprintf(base, sizeof(base), "/tmp/hugemem-%u", (unsigned)geteuid());
		if (create && (rc = make_dir(base)) != 0)
			return hm__err("runtime directory %s: %s", base, hm_strerror(rc)), rc;
	}
	if (snprintf(dir, HM_PATH_MAX, "%s/%s", base, cfg->prefix) >= HM_PATH_MAX)
		return hm__err("runtime directory path too long"), -ENAMETOOLONG;
	return 0;
}

static void file_path(char *out, const char *dir, const char *file)
{
	snprintf(out, HM_PATH_MAX + 16, "%s/%s", dir, file);
}

/* The pid holding a write lock on the lock file, 0 if none, or -errno. */
static int lock_holder(int fd)
{
	struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET};

	if (fcntl(fd, F_GETLK, &fl))
		return -errno;
	return fl.l_type == F_UNLCK ? 0 : (int)fl.l_pid;
}

/* Primary of a prefixed instance: take the lock, clear stale files. */
static int claim_prefix(const struct hm_config *cfg, struct hm_process *p)
{
	char path[HM_PATH_MAX + 16];
	struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
	int rc, fd;

	if ((rc = instance_dir(cfg, true, p->dir)) != 0)
		return rc;
	if ((rc = make_dir(p->dir)) != 0)
		return hm__err("instance directory %s: %s", p->dir, hm_strerror(rc)), rc;
	file_path(path, p->dir, HM_LOCK_FILE);
	fd = hm__os_open(path, O_RDWR | O_CREAT, 0600);
	if (fd < 0) {
		rmdir(p->dir); /* only if we just made it: a live instance's is not empty */
		return hm__err("%s: %s", path, hm_strerror(fd)), fd;
	}
	if (fcntl(fd, F_SETLK, &fl)) {
		rc = errno == EACCES || errno == EAGAIN ? -EEXIST : -errno;
		if (rc == -EEXIST)
			hm__err("prefix \"%s\" already has a live primary (pid %d)", cfg->prefix,
				lock_holder(fd));
		close(fd);
		return rc;
	}
	p->lock_fd = fd;
	file_path(path, p->dir, HM_CONFIG_FILE);
	if (unlink(path) == 0)
		hm__notice("removed the stale instance files of prefix \"%s\"", cfg->prefix);
	return 0;
}

/* --- the address range --- */

/* Where primaries put their instances: high, away from the heap and the
 * libraries, so that secondaries rarely find the range taken. */
#define VA_HINT      UINT64_C(0x200000000000)
#define VA_HINT_STEP UINT64_C(0x10000000000)

static int reserve_range(size_t len, size_t align, void **base)
{
	void *p;
	int rc = -ENOMEM;

#if !defined(__SANITIZE_THREAD__)
	/* ThreadSanitizer owns the high address space for its shadow; let the kernel choose there. */
	for (unsigned i = 0; i < 16; i++) {
		rc = hm__os_reserve(&p, (void *)(uintptr_t)(VA_HINT + i * VA_HINT_STEP), len);
		if (rc == 0) {
			*base = p;
			return 0;
		}
		if (rc != -EADDRINUSE && rc != -ENOMEM && rc != -EINVAL)
			return rc;
	}
#endif
	/* Anywhere, aligned by reserving more and trimming. */
	rc = hm__os_reserve(&p, NULL, len + align);
	if (rc)
		return rc;
	uintptr_t start = (uintptr_t)hm__align_up((uintptr_t)p, align);
	if (start > (uintptr_t)p)
		hm__os_unmap(p, start - (uintptr_t)p);
	if ((uintptr_t)p + align > start)
		hm__os_unmap((void *)(start + len), (uintptr_t)p + align - start);
	*base = (void *)start;
	return 0;
}

/* --- choosing pages --- */

struct layout {
	size_t sizes[HM_HUGEPAGE_SIZES_MAX + 1]; /* page sizes, preferred first */
	unsigned n_sizes;
	struct hm_hugepage_info hp;
};

static unsigned free_pages_of(const struct hm_hugepage_info *hp, size_t size)
{
	for (unsigned i = 0; i < hp->n_sizes; i++)
		if (hp->sizes[i].page_size == size)
			return hp->sizes[i].free;
	return 0;
}

static bool offered(const struct hm_hugepage_info *hp, size_t size)
{
	for (unsigned i = 0; i < hp->n_sizes; i++)
		if (hp->sizes[i].page_size == size)
			return true;
	return false;
}

/*
 * The page sizes of a primary, preferred first:
 *   an explicit size: that size alone;
 *   AUTO: the default hugepage size if enough pages are free for the
 *         prealloc (at least one), then 4 KiB pages for when they run out;
 *   LARGEST: every hugepage size with free pages, largest first (the first
 *         one with room for the prealloc), then 4 KiB pages.
 * Without any usable hugepages: 4 KiB pages, with one warning saying why.
 */
static int choose_pages(const struct hm_config *cfg, struct layout *lo)
{
	const size_t small = hm__os_page_size();
	size_t want = cfg->page_size;

	hm_hugepage_discover(&lo->hp);
	lo->n_sizes = 0;
	if (cfg->no_huge || want == small || want == HM_PAGE_SIZE_4K) {
		lo->sizes[lo->n_sizes++] = small;
		return 0;
	}
	if (want != HM_PAGE_SIZE_AUTO && want != HM_PAGE_SIZE_LARGEST) {
		if (!offered(&lo->hp, want)) {
			hm__err("page size %zu KiB is not offered by this system", want >> 10);
			return -EINVAL;
		}
		lo->sizes[lo->n_sizes++] = want;
		return 0;
	}
	for (unsigned i = lo->hp.n_sizes; i-- > 0;) {
		const struct hm_hugepage_size *hs = &lo->hp.sizes[i];
		uint64_t need =
			HM_MAX(hm__align_up(cfg->prealloc, hs->page_size) / hs->page_size, 1);
		bool usable = want == HM_PAGE_SIZE_LARGEST ? hs->free > 0
							   : hs->page_size == lo->hp.default_size;

		if (!usable || (lo->n_sizes == 0 && hs->free < need))
			continue;
		lo->sizes[lo->n_sizes++] = hs->page_size;
	}
	if (lo->n_sizes == 0) {
		size_t dsz = lo->hp.default_size ? lo->hp.default_size : HM_PAGE_SIZE_2M;
		hm__warn("using 4 KiB pages: %u free %zu KiB hugepages%s (reserve some with: echo "
			 "N > /proc/sys/vm/nr_hugepages)",
			 free_pages_of(&lo->hp, dsz), dsz >> 10,
			 cfg->prealloc ? ", too few for the prealloc" : "");
	}
	lo->sizes[lo->n_sizes++] = small;
	return 0;
}

static uint64_t physical_memory(void)
{
	long pages = sysconf(_SC_PHYS_PAGES);

	return pages > 0 ? (uint64_t)pages * hm__os_page_size() : UINT64_C(1) << 32;
}

/* --- creating (primary) --- */

/*
 * The config region's size: the header, each list's bitmap and IOVA table
 * and its share of the slab page map, the thread table and the areas of the layers above (about 200 bytes per
 * zone, a few KiB per heap), with slack. The file is sparse: only the parts
 * written take memory.
 */
static uint64_t config_size(const struct layout *lo, uint64_t limit, unsigned n_sockets,
			    const struct hm_config *cfg)
{
	uint64_t size = sizeof(struct hm_shared) + (uint64_t)cfg->max_threads * 64 +
			(uint64_t)cfg->max_threads * HM_THREAD_AREA_SIZE;

	for (unsigned s = 0; s < lo->n_sizes; s++) {
		uint64_t pages = hm__align_up(limit, lo->sizes[s]) / lo->sizes[s];
		size += n_sockets * (2 * hm__bitmap_words(pages) * 8 + pages * 8 + 256);
		/* The slab layer's page map: two bytes per 4 KiB of the list's range. */
		size += n_sockets * ((pages + 1) * lo->sizes[s] / 2048 + 4096);
	}
	/* Zones; the slab layer's table of caches by id (64 Ki pointers); slack. */
	size += (uint64_t)cfg->max_zones * 256 + (UINT64_C(512) << 10) + (UINT64_C(4) << 20);
	return hm__align_up(size, HM_PAGE_SIZE_2M);
}

/* The whole range: the config region, then every list, each aligned to its page size. */
static uint64_t range_size(const struct layout *lo, uint64_t config_len, uint64_t limit,
			   unsigned n_sockets)
{
	uint64_t off = config_len;

	for (unsigned s = 0; s < lo->n_sizes; s++)
		for (unsigned k = 0; k < n_sockets; k++)
			off = hm__align_up(off, lo->sizes[s]) + hm__align_up(limit, lo->sizes[s]);
	return off;
}

static int make_seglists(struct hm_shared *sh, struct hm_process *p, const struct layout *lo)
{
	uint64_t off = sh->config_len;
	unsigned n = 0;

	for (unsigned s = 0; s < lo->n_sizes; s++) {
		for (unsigned k = 0; k < sh->n_sockets && n < HM_SEGLISTS_MAX; k++, n++) {
			struct hm_seglist *sl = &sh->seglists[n];
			uint64_t ps = lo->sizes[s];
			char name[32];
			int fd, rc;

			sl->page_size = ps;
			sl->socket = sh->sockets[k];
			sl->n_pages = hm__align_up(sh->memory_limit, ps) / ps;
			off = hm__align_up(off, ps);
			sl->base_off = off;
			off += sl->n_pages * ps;
			sl->bitmap_off =
				hm__shared_alloc(sh, hm__bitmap_words(sl->n_pages) * 8, 64);
			sl->iova_off = hm__shared_alloc(sh, sl->n_pages * sizeof(uint64_t), 64);
			sl->live_off = hm__shared_alloc(sh, hm__bitmap_words(sl->n_pages) * 8, 64);
			if (!sl->bitmap_off || !sl->iova_off || !sl->live_off)
				return -ENOMEM;
			snprintf(name, sizeof(name), "hugemem-%u", n);
			fd = hm__os_memfd(name, ps);
			if (fd < 0)
				return hm__err("memfd for %" PRIu64 " KiB pages: %s", ps >> 10,
					       hm_strerror(fd)),
				       fd;
			p->memfd[n] = fd;
			sl->memfd = fd;
			rc = hm__os_truncate(fd, sl->n_pages * ps);
			if (!rc)
				rc = hm__os_map_fd(hm__ptr(sh, sl->base_off), sl->n_pages * ps, fd,
						   0);
			if (rc)
				return hm__err("segment list %u: %s", n, hm_strerror(rc)), rc;
			sh->n_seglists = n + 1;
		}
	}
	return 0;
}

/* Create the instance: range, config region, segment lists, thread table. */
static int create(const struct hm_config *cfg, struct hm_process *p)
{
	struct layout lo;
	struct hm_shared *sh;
	char path[HM_PATH_MAX + 16];
	uint64_t limit, config_len, va_len;
	unsigned n_sockets;
	void *base;
	int rc;

	if ((rc = choose_pages(cfg, &lo)) != 0)
		return rc;
	n_sockets = HM_MIN(lo.hp.n_nodes, HM_SEGLISTS_MAX / lo.n_sizes);
	if (n_sockets < lo.hp.n_nodes)
		hm__warn("using %u of %u NUMA nodes (at most %d segment lists)", n_sockets,
			 lo.hp.n_nodes, HM_SEGLISTS_MAX);
	limit = cfg->memory_limit ? cfg->memory_limit : physical_memory();
	limit = hm__align_up(limit, lo.sizes[0]);
	if (limit == 0 || limit > (UINT64_C(1) << 44)) {
		hm__err("memory limit %zu is out of range (at most 16 TiB)", cfg->memory_limit);
		return -EINVAL;
	}
	if (cfg->prealloc > limit) {
		hm__err("prealloc (%zu) exceeds the memory limit (%" PRIu64 ")", cfg->prealloc,
			limit);
		return -EINVAL;
	}
	config_len = config_size(&lo, limit, n_sockets, cfg);
	va_len = range_size(&lo, config_len, limit, n_sockets);
	if ((rc = reserve_range((size_t)va_len, lo.sizes[0], &base)) != 0)
		return hm__err("reserving %" PRIu64 " MiB of address space: %s", va_len >> 20,
			       hm_strerror(rc)),
		       rc;
	/* From here on drop_view() undoes everything. */
	sh = base;
	if (p->dir[0]) {
		file_path(path, p->dir, HM_CONFIG_FILE);
		rc = hm__os_open(path, O_RDWR | O_CREAT | O_EXCL, 0600);
	} else {
		rc = hm__os_memfd("hugemem-config", 0);
	}
	if (rc < 0) {
		hm__os_unmap(base, (size_t)va_len);
		return hm__err("config region: %s", hm_strerror(rc)), rc;
	}
	p->config_fd = rc;
	rc = hm__os_truncate(p->config_fd, config_len);
	if (!rc)
		rc = hm__os_map_fd(base, (size_t)config_len, p->config_fd, 0);
	if (rc) {
		hm__os_unmap(base, (size_t)va_len);
		return hm__err("config region: %s", hm_strerror(rc)), rc;
	}
	p->sh = sh;
	sh->layout_version = HM_LAYOUT_VERSION;
	sh->header_size = sizeof(*sh);
	sh->base = (uintptr_t)base;
	sh->va_len = va_len;
	sh->config_len = config_len;
	sh->primary_pid = getpid();
	sh->shared = p->dir[0] != 0;
	sh->page_size = lo.sizes[0];
	sh->memory_limit = limit;
	sh->prealloc = hm__align_up(cfg->prealloc, lo.sizes[0]);
	sh->alloc_off = sizeof(*sh);
	sh->n_sockets = n_sockets;
	for (unsigned k = 0; k < n_sockets; k++)
		sh->sockets[k] = lo.hp.nodes[k];
	sh->max_threads = cfg->max_threads;
	sh->max_zones = cfg->max_zones;
	if (cfg->iova_mode == HM_IOVA_PA && !hm__os_pagemap_has_pfn()) {
		hm__err("IOVA mode PA asked, but the pagemap shows no physical addresses "
			"(needs CAP_SYS_ADMIN)");
		return -EINVAL;
	}
	/* AUTO: physical addresses on hugepages; with 4 KiB pages alone, no run of
	 * two pages is physically contiguous anyway, so IOVA = VA (as DPDK does
	 * without hugepages). */
	sh->iova_pa = cfg->iova_mode == HM_IOVA_PA ||
		      (cfg->iova_mode == HM_IOVA_AUTO && hm__os_pagemap_has_pfn() &&
		       lo.sizes[0] > hm__os_page_size());
	if ((rc = hm__mutex_init(&sh->mem_lock)) != 0)
		return rc;
	sh->threads_off = hm__shared_alloc(
		sh, (uint64_t)cfg->max_threads * sizeof(struct hm_thread_slot), 64);
	if (!sh->threads_off)
		return -ENOMEM;
	return make_seglists(sh, p, &lo);
}

/* Commit, touch and lock the prealloc on the first list of each page size's first node. */
static int preallocate(struct hm_shared *sh)
{
	struct hm_seglist *sl = &sh->seglists[0];
	size_t n = sh->prealloc / sl->page_size;
	void *va;
	int rc;

	if (n == 0)
		return 0;
	rc = hm__mem_commit(0, n, false, &va);
	if (rc)
		return hm__err("preallocating %" PRIu64 " MiB: %s", sh->prealloc >> 20,
			       hm_strerror(rc)),
		       rc;
	sl->n_pinned = n;
	rc = hm__os_lock(va, n * sl->page_size);
	if (rc)
		hm__warn("prealloc committed but not locked (%s): raise RLIMIT_MEMLOCK",
			 hm_strerror(rc));
	return 0;
}

/* --- attaching (secondary) --- */

static int attach(const struct hm_config *cfg, struct hm_process *p)
{
	char path[HM_PATH_MAX + 16];
	struct hm_shared hdr;
	struct timespec pause = {0, 10 * 1000 * 1000};
	int fd, rc, holder;

	if ((rc = instance_dir(cfg, false, p->dir)) != 0)
		return rc;
	file_path(path, p->dir, HM_LOCK_FILE);
	fd = hm__os_open(path, O_RDWR, 0);
	if (fd < 0) {
		hm__err("no primary for prefix \"%s\" (%s: %s)", cfg->prefix, path,
			hm_strerror(fd));
		return fd == -ENOENT ? -ENOENT : fd;
	}
	holder = lock_holder(fd);
	close(fd);
	if (holder <= 0) {
		hm__err("no live primary for prefix \"%s\" (its files in %s are stale)",
			cfg->prefix, p->dir);
		return -ENOENT;
	}
	file_path(path, p->dir, HM_CONFIG_FILE);
	/* The primary writes the magic last; give a starting primary two seconds. */
	for (unsigned tries = 0;; tries++) {
		memset(&hdr, 0, sizeof(hdr));
		fd = hm__os_open(path, O_RDWR, 0);
		if (fd >= 0 && pread(fd, &hdr, sizeof(hdr), 0) >= 24 &&
		    hdr.magic == HM_SHARED_MAGIC)
			break;
		if (fd >= 0)
			close(fd);
		if (tries >= 200) {
			hm__err("the primary of prefix \"%s\" did not become ready", cfg->prefix);
			return -ENOENT;
		}
		nanosleep(&pause, NULL);
	}
	p->config_fd = fd;
	if (hdr.layout_version != HM_LAYOUT_VERSION ||
	    hdr.header_size != sizeof(struct hm_shared)) {
		hm__err("the primary of prefix \"%s\" has layout version %u (size %u); this "
			"library "
			"has %u (size %zu)",
			cfg->prefix, hdr.layout_version, hdr.header_size, HM_LAYOUT_VERSION,
			sizeof(struct hm_shared));
		return -EPROTO;
	}
	void *base;
	rc = hm__os_reserve(&base, (void *)(uintptr_t)hdr.base, (size_t)hdr.va_len);
	if (rc) {
		hm__err("cannot map the instance at the primary's address %#" PRIx64 " (%s)",
			hdr.base, hm_strerror(rc));
		return rc == -EADDRINUSE || rc == -ENOMEM ? -EADDRINUSE : rc;
	}
	rc = hm__os_map_fd(base, (size_t)hdr.config_len, p->config_fd, 0);
	if (rc) {
		hm__os_unmap(base, (size_t)hdr.va_len);
		return rc;
	}
	p->sh = base;
	if (p->sh->n_seglists > HM_SEGLISTS_MAX || p->sh->base != (uintptr_t)base) {
		hm__err("the config of prefix \"%s\" is corrupt (%u segment lists)", cfg->prefix,
			p->sh->n_seglists);
		return -EPROTO;
	}
	for (unsigned i = 0; i < p->sh->n_seglists; i++) {
		struct hm_seglist *sl = &p->sh->seglists[i];
		char fdpath[64];

		snprintf(fdpath, sizeof(fdpath), "/proc/%d/fd/%d", p->sh->primary_pid, sl->memfd);
		fd = hm__os_open(fdpath, O_RDWR, 0);
		if (fd < 0)
			return hm__err("opening the primary's memory %s: %s", fdpath,
				       hm_strerror(fd)),
			       fd;
		p->memfd[i] = fd;
		rc = hm__os_map_fd(hm__ptr(p->sh, sl->base_off), sl->n_pages * sl->page_size, fd,
				   0);
		if (rc)
			return rc;
	}
	return 0;
}

int hm__mem_init(const struct hm_config *cfg)
{
	struct hm_process p = {.config_fd = -1, .lock_fd = -1};
	bool primary = true;
	int rc = 0;

	pthread_once(&atfork_once, install_atfork);
	hm__mem_forget();
	for (unsigned i = 0; i < HM_SEGLISTS_MAX; i++)
		p.memfd[i] = -1;
	if (cfg->prefix) {
		if (cfg->proc_type == HM_PROC_SECONDARY) {
			primary = false;
		} else {
			rc = claim_prefix(cfg, &p);
			if (rc == -EEXIST && cfg->proc_type == HM_PROC_AUTO) {
				primary = false;
				rc = 0;
			}
		}
	}
	if (rc == 0)
		rc = primary ? create(cfg, &p) : attach(cfg, &p);
	p.proc_type = primary ? HM_PROC_PRIMARY : HM_PROC_SECONDARY;
	p.pid = getpid();
	p.generation = hm__proc.generation + 1;
	if (rc == 0) {
		hm__proc = p;
		/* Relaxed: threads read it in hm__thread_slot(), and hm_init is not
		 * called while other threads use the library. */
		hm__store_relaxed(&hm__instance_generation, p.generation);
		if (primary)
			rc = preallocate(p.sh);
		if (rc == 0)
			return 0;
	}
	hm__proc.sh = NULL;
	if (primary && p.dir[0]) {
		char path[HM_PATH_MAX + 16];
		file_path(path, p.dir, HM_CONFIG_FILE);
		if (p.config_fd >= 0)
			unlink(path);
		if (p.lock_fd >= 0) {
			file_path(path, p.dir, HM_LOCK_FILE);
			unlink(path);
			rmdir(p.dir);
		}
	}
	drop_view(&p);
	return rc;
}

void hm__mem_publish(void)
{
	struct hm_shared *sh = hm__shared();

	if (sh && hm__proc.proc_type == HM_PROC_PRIMARY) {
		/* Release: everything the primary wrote is visible before a secondary
		 * sees the magic (pairs with the secondary's read of the header). */
		atomic_thread_fence(memory_order_release);
		sh->magic = HM_SHARED_MAGIC;
	}
}

void hm__mem_cleanup(void)
{
	struct hm_process p = hm__proc;
	char path[HM_PATH_MAX + 16];

	hm__mem_forget();
	if (!p.sh)
		return;
	hm__proc.sh = NULL;
	if (p.proc_type == HM_PROC_PRIMARY && p.dir[0]) {
		/* Unlink before unlocking: a primary starting next finds no stale files. */
		file_path(path, p.dir, HM_CONFIG_FILE);
		unlink(path);
		file_path(path, p.dir, HM_LOCK_FILE);
		unlink(path);
		rmdir(p.dir);
	}
	drop_view(&p);
}
