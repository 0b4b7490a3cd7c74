/* SPDX-License-Identifier: MIT */
/*
 * hugemem/memzone.h - named zones: aligned, optionally boundary-limited or
 * IOVA-contiguous reservations of hugemem memory, found by name from every
 * attached process.
 *
 * A zone is a block of the heap of one (page size, NUMA node) with placement
 * rules. The zone table lives in shared memory and holds up to
 * hm_config.max_zones zones (65,536 by default); lookup is a hash probe.
 * Every function may be called from any thread of any attached process.
 */
#ifndef HUGEMEM_MEMZONE_H
#define HUGEMEM_MEMZONE_H

#include <stdio.h>
#include <hugemem/common.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Flags of hm_memzone_reserve(). The page-size flags may be combined: any of them will do. */
#define HM_MEMZONE_4KB            0x0001u /* on 4 KiB pages */
#define HM_MEMZONE_2MB            0x0002u /* on 2 MiB pages */
#define HM_MEMZONE_1GB            0x0004u /* on 1 GiB pages */
#define HM_MEMZONE_SIZE_HINT_ONLY 0x0008u /* the page-size flags are a preference, not a rule */
#define HM_MEMZONE_IOVA_CONTIG    0x0010u /* the zone is contiguous in IOVA space too */

/* A zone, read-only to users. The pointer stays valid until hm_memzone_free(). */
struct hm_memzone {
	char name[HM_NAME_MAX];
	void *addr;
	uint64_t iova; /* IOVA of addr; HM_BAD_IOVA never appears here */
	size_t len;
	size_t page_size; /* of the pages backing the zone */
	int socket;
	unsigned flags; /* as given to hm_memzone_reserve() */
};

/*
 * Reserve len bytes named name on socket (HM_SOCKET_ANY: the caller's node
 * first, then any), aligned to align (0: a cache line; else a power of two)
 * and, when bound is not 0, never crossing a multiple of bound (a power of two,
 * at least len). len 0 reserves the largest free block already mapped.
 * Returns the zone, or NULL with errno:
 *   EINVAL  name NULL or empty, align or bound not a power of two, bound < len,
 *           unknown flags, len too large to represent
 *   ENAMETOOLONG  name of HM_NAME_MAX bytes or more
 *   EEXIST  a zone of that name exists
 *   ENODEV  socket is not a NUMA node of the instance
 *   ENOMEM  no memory satisfies the request (nor can be mapped)
 *   ENOSPC  the zone table is full
 *   ENXIO   hm_init() has not been called
 */
HM_API const struct hm_memzone *hm_memzone_reserve(const char *name, size_t len, int socket,
						   unsigned flags, size_t align, size_t bound);

/* Find a zone by name; NULL with errno ENOENT (none), EINVAL (NULL name) or ENXIO. */
HM_API const struct hm_memzone *hm_memzone_lookup(const char *name);

/*
 * Free a zone: its memory returns to the heap and its name is free again.
 * Returns 0, or -EINVAL for NULL or a pointer that is not a live zone (which
 * is logged and changes nothing), or -ENXIO.
 */
HM_API int hm_memzone_free(const struct hm_memzone *mz);

typedef void hm_memzone_walk_cb(const struct hm_memzone *mz, void *arg);

/* Call cb for every zone, in table order, with the zone table locked (cb must not reserve or free). */
HM_API void hm_memzone_walk(hm_memzone_walk_cb *cb, void *arg);

/* Number of live zones. */
HM_API unsigned hm_memzone_count(void);

/* Print every zone: name, address, IOVA, length, page size, socket, flags. */
HM_API void hm_memzone_dump(FILE *f);

#ifdef __cplusplus
}
#endif

#endif /* HUGEMEM_MEMZONE_H */
