/* SPDX-License-Identifier: MIT */
/*
 * init.c - hm_init() and hm_cleanup(): bring the layers up in order (memory,
 * threads, heap, zones) and down in reverse. This file sits above every
 * layer, which is why it lives at the top of src/.
 */
#include "internal.h"
#include "mem/mem.h"
#include "heap/heap.h"
#include "cache/cache.h"
#include "mempool/pool.h"
#include "slab/slab.h"
#include "bufpool/bufpool.h"

#include <limits.h>

int hm_init(const struct hm_config *cfg)
{
	struct hm_config c;
	char prefix[HM_NAME_MAX];
	char dir[HM_PATH_MAX];
	int rc;

	if (hm__shared())
		return -EALREADY;
	rc = hm__config_resolve(cfg, &c, prefix, dir);
	if (rc)
		return rc;
	if (c.log_level)
		hm_log_set_level(c.log_level);
	rc = hm__mem_init(&c);
	if (rc)
		return rc;
	if (hm__proc.proc_type == HM_PROC_PRIMARY)
		rc = hm__heap_setup(hm__shared());
	if (rc == 0 && hm__proc.proc_type == HM_PROC_PRIMARY)
		rc = hm__memzone_setup(hm__shared());
	if (rc == 0 && hm__proc.proc_type == HM_PROC_PRIMARY)
		rc = hm__malloc_setup(hm__shared());
	if (rc == 0 && hm__proc.proc_type == HM_PROC_PRIMARY)
		rc = hm__cache_setup(hm__shared());
	if (rc == 0 && hm__proc.proc_type == HM_PROC_PRIMARY)
		rc = hm__slab_setup(hm__shared());
	if (rc == 0)
		rc = hm__malloc_attach();
	if (rc == 0)
		rc = hm__cache_attach();
	if (rc == 0)
		rc = hm__mempool_attach();
	if (rc == 0)
		rc = hm__slab_attach();
	if (rc == 0)
		rc = hm__bufpool_attach();
	if (rc) {
		hm__mem_cleanup();
		return rc;
	}
	hm__mem_publish();
	hm__info("started: %s", hm__proc.proc_type == HM_PROC_PRIMARY ? "primary" : "secondary");
	return 0;
}

void hm_cleanup(void)
{
	if (!hm__shared()) {
		/* Perhaps a forked child dropping what it inherited. */
		hm__slab_detach();
		hm__mem_forget();
		return;
	}
	hm__threads_release_process();
	hm__slab_detach();
	hm__mem_cleanup();
}

bool hm_initialized(void)
{
	return hm__shared() != NULL;
}

int hm_proc_type(void)
{
	return hm__shared() ? hm__proc.proc_type : -ENXIO;
}
