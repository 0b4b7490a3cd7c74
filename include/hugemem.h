/* SPDX-License-Identifier: MIT */
/* hugemem.h - the umbrella header: includes every module header, nothing else. */
#ifndef HUGEMEM_H
#define HUGEMEM_H

#include <hugemem/common.h>
#include <hugemem/core.h>
#include <hugemem/mem.h>
#include <hugemem/memzone.h>
#include <hugemem/malloc.h>
#include <hugemem/ring.h>
#include <hugemem/mempool.h>
#include <hugemem/slab.h>
#include <hugemem/bufpool.h>

#endif /* HUGEMEM_H */
