/* SPDX-License-Identifier: MIT */
/*
 * log.c - the one logging function: levels, a per-process level and a
 * user-settable sink. Lines are formatted into a stack buffer and handed to
 * the sink whole, so lines from different threads never interleave.
 */
#include "internal.h"

#include <stdatomic.h>
#include <stdio.h>

static _Atomic int log_level = HM_LOG_WARNING;

/* The sink and its argument change together, under this lock. */
static struct {
	_Atomic(hm_log_sink *) sink;
	_Atomic(void *) arg;
} log_out;

static const char *const level_names[] = {"", "error", "warning", "notice", "info", "debug"};

int hm_log_set_level(int level)
{
	if (level < HM_LOG_ERROR)
		level = HM_LOG_ERROR;
	if (level > HM_LOG_DEBUG)
		level = HM_LOG_DEBUG;
	return atomic_exchange_explicit(&log_level, level, memory_order_relaxed);
}

int hm_log_get_level(void)
{
	return atomic_load_explicit(&log_level, memory_order_relaxed);
}

void hm_log_set_sink(hm_log_sink *sink, void *arg)
{
	/* arg first: a racing logger may pair the new sink with the old arg for one
	 * line at most, which the documentation of hm_log_set_sink allows. */
	atomic_store_explicit(&log_out.arg, arg, memory_order_relaxed);
	atomic_store_explicit(&log_out.sink, sink, memory_order_release);
}

void hm_vlog(enum hm_log_level level, const char *fmt, va_list ap)
{
	char line[512];
	int n;

	if ((int)level > atomic_load_explicit(&log_level, memory_order_relaxed))
		return;
	if (level < HM_LOG_ERROR || level > HM_LOG_DEBUG)
		level = HM_LOG_ERROR;
	n = snprintf(line, sizeof(line), "hugemem: %s: ", level_names[level]);
	vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);

	/* Pairs with the release store in hm_log_set_sink. */
	hm_log_sink *sink = atomic_load_explicit(&log_out.sink, memory_order_acquire);
	if (sink) {
		sink(level, line, atomic_load_explicit(&log_out.arg, memory_order_relaxed));
		return;
	}
	fprintf(stderr, "%s\n", line);
}

void hm_log(enum hm_log_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	hm_vlog(level, fmt, ap);
	va_end(ap);
}
