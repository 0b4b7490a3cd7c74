/* SPDX-License-Identifier: MIT */
/*
 * seglist.c - committing and releasing pages in segment lists, and the
 * per-page tables behind hm_virt2iova() and hm_socket_of().
 *
 * Each list has a bitmap of committed pages (under mem_lock) and a table of
 * IOVAs, one word per page holding iova | 1 while the page is committed and
 * 0 otherwise. Lookups read only that word, with a relaxed atomic load, so
 * they take no lock and make no system call; a lookup racing with the commit
 * or release of the same page may see either state, which is the caller's
 * race, not ours.
 */
#include "mem/mem.h"
#include "mem/os.h"
#include "util/bitmap.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>

static inline uint64_t *bitmap_of(const struct hm_shared *sh, const struct hm_seglist *sl)
{
	return hm__ptr(sh, sl->bitmap_off);
}

static inline _Atomic uint64_t *iova_of(const struct hm_shared *sh, const struct hm_seglist *sl)
{
	return hm__ptr(sh, sl->iova_off);
}

/* The IOVA word of the page holding addr (0: not committed), or NULL outside every list. */
static uint64_t page_word(const struct hm_shared *sh, const void *addr,
			  const struct hm_seglist **slp)
{
	int i = hm__seglist_of(sh, addr);

	if (i < 0)
		return 0;
	if (slp)
		*slp = &sh->seglists[i];
	return hm__seglist_page_word(sh, (unsigned)i, addr);
}

uint64_t hm_virt2iova(const void *addr)
{
	const struct hm_shared *sh = hm__shared();
	const struct hm_seglist *sl;
	uint64_t w;

	if (!sh)
		return HM_BAD_IOVA;
	w = page_word(sh, addr, &sl);
	if (!w)
		return HM_BAD_IOVA;
	return (w & ~UINT64_C(1)) +
	       (((uintptr_t)addr - sh->base - sl->base_off) & (sl->page_size - 1));
}

int hm_socket_of(const void *addr)
{
	const struct hm_shared *sh = hm__shared();
	const struct hm_seglist *sl;

	if (!sh)
		return -ENXIO;
	return page_word(sh, addr, &sl) ? sl->socket : -EFAULT;
}

size_t hm_page_size_of(const void *addr)
{
	const struct hm_shared *sh = hm__shared();
	const struct hm_seglist *sl;

	if (!sh || !page_word(sh, addr, &sl))
		return 0;
	return sl->page_size;
}

int hm_socket_id(void)
{
	return hm__os_current_node();
}

bool hm_socket_valid(int socket)
{
	const struct hm_shared *sh = hm__shared();

	if (!sh)
		return false;
	for (unsigned k = 0; k < sh->n_sockets; k++)
		if (sh->sockets[k] == socket)
			return true;
	return false;
}

/* Record the IOVA of pages [first, first + n) committed at va; -EIO if the pagemap fails us. */
static int record_iova(struct hm_shared *sh, struct hm_seglist *sl, size_t first, size_t n,
		       void *va, bool contig)
{
	_Atomic uint64_t *tab = iova_of(sh, sl);
	uint64_t pa[64], prev = 0;

	for (size_t i = 0; i < n; i += 64) {
		size_t k = HM_MIN(n - i, 64);
		char *at = (char *)va + i * sl->page_size;

		if (sh->iova_pa) {
			int rc = hm__os_phys(at, sl->page_size, k, pa);
			if (rc)
				return rc;
		} else {
			for (size_t j = 0; j < k; j++)
				pa[j] = (uintptr_t)at + j * sl->page_size;
		}
		for (size_t j = 0; j < k; j++) {
			if (pa[j] == 0)
				return -EIO;
			if (contig && (i + j) > 0 && pa[j] != prev + sl->page_size)
				return -ENOMEM;
			prev = pa[j];
			atomic_store_explicit(&tab[first + i + j], pa[j] | 1, memory_order_relaxed);
		}
	}
	return 0;
}

static void forget_iova(struct hm_shared *sh, struct hm_seglist *sl, size_t first, size_t n)
{
	_Atomic uint64_t *tab = iova_of(sh, sl);

	for (size_t i = 0; i < n; i++)
		atomic_store_explicit(&tab[first + i], 0, memory_order_relaxed);
}

/*
 * Set or clear the bits of pages [first, first + n) in the lock-free
 * committed bitmap (live_off). Under mem_lock, so no two writers race; the
 * atomic read-modify-writes keep the lock-free readers' loads race-free.
 * Relaxed: a reader racing with this very page's commit or release may see
 * either state (see hm__seglist_committed).
 */
static void mark_live(struct hm_shared *sh, struct hm_seglist *sl, size_t first, size_t n, bool on)
{
	_Atomic uint64_t *live = hm__ptr(sh, sl->live_off);

	for (size_t i = first; i < first + n;) {
		size_t bit = i % 64, k = HM_MIN(64 - bit, first + n - i);
		uint64_t mask = (k == 64 ? ~UINT64_C(0) : ((UINT64_C(1) << k) - 1)) << bit;

		if (on)
			atomic_fetch_or_explicit(&live[i / 64], mask, memory_order_relaxed);
		else
			atomic_fetch_and_explicit(&live[i / 64], ~mask, memory_order_relaxed);
		i += k;
	}
}

/* One part of a commit split over threads. */
struct commit_part {
	int fd;
	uint64_t off;
	char *at;
	uint64_t len;
	int rc;
	pthread_t thread;
	bool started;
};

static void *commit_part_run(void *arg)
{
	struct commit_part *cp = arg;

	cp->rc = hm__os_commit(cp->fd, cp->off, cp->at, cp->len);
	return NULL;
}

#define COMMIT_PARALLEL_MIN (UINT64_C(64) << 20) /* below this, one thread commits */
#define COMMIT_PARTS_MAX    4

/*
 * Commit fd[off, off + len) at `at`. The kernel zeroes every new page, which
 * is most of the cost; a large commit (the prealloc, a big zone) is split over
 * up to 4 threads, one per CPU, since faults on different pages run in
 * parallel: 512 MiB of 2 MiB pages takes 30-37 ms on 2 threads here against
 * 45-55 ms on one.
 */
static int commit_range(int fd, uint64_t off, char *at, uint64_t len, uint64_t ps)
{
	struct commit_part part[COMMIT_PARTS_MAX];
	unsigned n = len < COMMIT_PARALLEL_MIN ? 1 : HM_MIN(hm__os_cpus(), COMMIT_PARTS_MAX);
	uint64_t chunk = hm__align_up(len / n, ps), done = 0;
	int rc = 0;

	if (n <= 1)
		return hm__os_commit(fd, off, at, len);
	for (unsigned i = 0; i < n; i++) {
		uint64_t l = HM_MIN(chunk, len - done);
		part[i] = (struct commit_part){
			.fd = fd, .off = off + done, .at = at + done, .len = l};
		done += l;
		/* Part 0 runs here; if a thread cannot start, its part runs here too. */
		if (i > 0 && l > 0)
			part[i].started = pthread_create(&part[i].thread, NULL, commit_part_run,
							 &part[i]) == 0;
	}
	for (unsigned i = 0; i < n; i++) {
		if (i == 0 || (!part[i].started && part[i].len))
			commit_part_run(&part[i]);
	}
	for (unsigned i = 0; i < n; i++) {
		if (part[i].started)
			pthread_join(part[i].thread, NULL);
		if (!rc)
			rc = part[i].rc;
	}
	return rc;
}

int hm__mem_commit(unsigned index, size_t n, bool contig, void **va)
{
	struct hm_shared *sh = hm__shared();
	struct hm_seglist *sl;
	uint64_t *bm;
	uint64_t len, off;
	size_t start;
	void *at;
	int rc;

	if (!sh || index >= sh->n_seglists || n == 0)
		return -EINVAL;
	sl = &sh->seglists[index];
	bm = bitmap_of(sh, sl);
	if (n > sl->n_pages)
		return -ENOMEM;
	len = n * sl->page_size;

	hm__mutex_lock(&sh->mem_lock);
	if (atomic_load(&sh->committed) + len > sh->memory_limit) {
		rc = -ENOMEM;
		hm__debug("memory limit of %" PRIu64 " MiB reached", sh->memory_limit >> 20);
		goto out;
	}
	start = hm__bitmap_find_clear_run(bm, sl->n_pages, sl->hint, n);
	if (start == HM_BITMAP_NONE && sl->hint)
		start = hm__bitmap_find_clear_run(bm, sl->n_pages, 0, n);
	if (start == HM_BITMAP_NONE) {
		rc = -ENOMEM;
		goto out;
	}
	off = start * sl->page_size;
	at = hm__ptr(sh, sl->base_off + off);
	if (sh->n_sockets > 1 && (rc = hm__os_bind(at, len, sl->socket)) != 0)
		goto out;
	rc = commit_range(hm__proc.memfd[index], off, at, len, sl->page_size);
	if (rc == 0)
		rc = record_iova(sh, sl, start, n, at, contig);
	if (rc) {
		forget_iova(sh, sl, start, n);
		hm__os_release(hm__proc.memfd[index], off, len);
		goto out;
	}
	hm__bitmap_set_range(bm, start, n);
	mark_live(sh, sl, start, n, true);
	sl->n_committed += n;
	sl->hint = start + n < sl->n_pages ? start + n : 0;
	atomic_fetch_add(&sh->committed, len);
	*va = at;
out:
	hm__mutex_unlock(&sh->mem_lock);
	return rc;
}

int hm__mem_release(void *va, size_t n)
{
	struct hm_shared *sh = hm__shared();
	struct hm_seglist *sl;
	uint64_t off;
	size_t first;
	int i, rc = 0;

	if (!sh || n == 0 || (i = hm__seglist_of(sh, va)) < 0)
		return -EINVAL;
	sl = &sh->seglists[i];
	off = (uintptr_t)va - sh->base - sl->base_off;
	first = off / sl->page_size;
	if (off % sl->page_size || n > sl->n_pages - first)
		return -EINVAL;

	hm__mutex_lock(&sh->mem_lock);
	if (!hm__bitmap_range_set(bitmap_of(sh, sl), first, n)) {
		hm__err("releasing pages that are not committed at %p", va);
		rc = -EINVAL;
	} else if (first < sl->n_pinned) {
		rc = -EBUSY;
	} else {
		mark_live(sh, sl, first, n, false);
		forget_iova(sh, sl, first, n);
		/* A hole punched in the file unmaps the pages from every process. */
		rc = hm__os_release(hm__proc.memfd[i], off, n * sl->page_size);
		hm__bitmap_clear_range(bitmap_of(sh, sl), first, n);
		sl->n_committed -= n;
		if (first < sl->hint)
			sl->hint = first;
		atomic_fetch_sub(&sh->committed, n * sl->page_size);
	}
	hm__mutex_unlock(&sh->mem_lock);
	return rc;
}

bool hm__mem_iova_contig(const void *va, size_t len)
{
	const struct hm_shared *sh = hm__shared();
	const struct hm_seglist *sl;
	uint64_t first, last;

	if (!sh || len == 0 || !page_word(sh, va, &sl))
		return false;
	first = ((uintptr_t)va - sh->base - sl->base_off) / sl->page_size;
	last = ((uintptr_t)va + len - 1 - sh->base - sl->base_off) / sl->page_size;
	if (last >= sl->n_pages)
		return false;
	const _Atomic uint64_t *tab = iova_of(sh, sl);
	uint64_t prev = atomic_load_explicit(&tab[first], memory_order_relaxed);
	for (uint64_t i = first + 1; i <= last; i++) {
		uint64_t w = atomic_load_explicit(&tab[i], memory_order_relaxed);
		if (!w || w != prev + sl->page_size)
			return false;
		prev = w;
	}
	return prev != 0;
}

int hm_mem_get_info(struct hm_mem_info *info)
{
	const struct hm_shared *sh = hm__shared();

	if (!sh)
		return -ENXIO;
	info->page_size = sh->page_size;
	info->hugepages = sh->page_size > hm__os_page_size();
	info->iova_pa = sh->iova_pa;
	info->shared = sh->shared;
	info->proc_type = hm__proc.proc_type;
	info->n_sockets = sh->n_sockets;
	info->n_seglists = sh->n_seglists;
	info->memory_limit = sh->memory_limit;
	info->committed = atomic_load(&((struct hm_shared *)sh)->committed);
	info->prealloc = sh->prealloc;
	info->va_base = (void *)(uintptr_t)sh->base;
	info->va_len = sh->va_len;
	return 0;
}

int hm_seglist_walk(hm_seglist_walk_cb *cb, void *arg)
{
	const struct hm_shared *sh = hm__shared();

	if (!sh)
		return -ENXIO;
	for (unsigned i = 0; i < sh->n_seglists; i++) {
		const struct hm_seglist *sl = &sh->seglists[i];
		struct hm_seglist_info si = {
			.index = i,
			.page_size = sl->page_size,
			.socket = sl->socket,
			.base = hm__ptr(sh, sl->base_off),
			.n_pages = sl->n_pages,
			.n_committed = sl->n_committed,
		};
		int rc = cb(&si, arg);
		if (rc)
			return rc;
	}
	return 0;
}

/* "512 MiB", "23.5 GiB": exact when it can be, one decimal otherwise. */
static const char *size_text(uint64_t size, char *buf, size_t len)
{
	static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
	unsigned u = 0;

	while (u < 4 && size >= (UINT64_C(1024) << (10 * u)))
		u++;
	if (u == 0 || size % (UINT64_C(1) << (10 * u)) == 0)
		snprintf(buf, len, "%" PRIu64 " %s", size >> (10 * u), units[u]);
	else
		snprintf(buf, len, "%.1f %s", (double)size / (double)(UINT64_C(1) << (10 * u)),
			 units[u]);
	return buf;
}

void hm_mem_dump(FILE *f)
{
	const struct hm_shared *sh = hm__shared();
	char a[32], b[32], c[32];

	if (!sh) {
		fprintf(f, "hugemem: no instance\n");
		return;
	}
	fprintf(f, "instance at %p, %s of address space, %s (%s), IOVA %s\n",
		(void *)(uintptr_t)sh->base, size_text(sh->va_len, a, sizeof(a)),
		sh->shared ? "shared" : "private",
		hm__proc.proc_type == HM_PROC_PRIMARY ? "primary" : "secondary",
		sh->iova_pa ? "PA" : "VA");
	fprintf(f, "memory: %s committed of a %s limit, %s preallocated\n",
		size_text(atomic_load(&((struct hm_shared *)sh)->committed), a, sizeof(a)),
		size_text(sh->memory_limit, b, sizeof(b)), size_text(sh->prealloc, c, sizeof(c)));
	for (unsigned i = 0; i < sh->n_seglists; i++) {
		const struct hm_seglist *sl = &sh->seglists[i];
		fprintf(f,
			"  seglist %u: %s pages, socket %d, %p, %" PRIu64 " of %" PRIu64
			" pages committed\n",
			i, size_text(sl->page_size, a, sizeof(a)), sl->socket,
			hm__ptr(sh, sl->base_off), sl->n_committed, sl->n_pages);
	}
}
