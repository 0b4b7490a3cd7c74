/* SPDX-License-Identifier: MIT */
/*
 * driver.h - the inside of hugemem-bench's driver, shared by main.c (the
 * options, the suite table, the loop over cases), rep.c (one repetition,
 * in process or in a forked child) and report.c (text and JSON output).
 * Suites never need it: they include bench.h only.
 */
#ifndef HM_BENCH_DRIVER_H
#define HM_BENCH_DRIVER_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "bench.h"

#define BENCH_TARGET_NS             (30u * 1000 * 1000) /* one repetition, normal run */
#define BENCH_SMOKE_TARGET_NS       (2u * 1000 * 1000)  /* one repetition, --smoke */
#define BENCH_SMOKE_REPS            2                   /* under --smoke, unless the suite says 1 */
#define BENCH_CHILD_TIMEOUT_S       300                 /* SIGALRM kills a hung child */
#define BENCH_SMOKE_CHILD_TIMEOUT_S 30

/* What one implementation of one case produced. */
enum impl_status {
	ST_OK = 0,
	ST_SKIPPED,
	ST_FAILED,
	ST_MISSING, /* peer not installed */
};

struct impl_result {
	enum impl_status status;
	unsigned n_reps;              /* repetitions measured */
	double *v[BENCH_METRICS_MAX]; /* v[metric][rep] */
	double median[BENCH_METRICS_MAX];
	double min[BENCH_METRICS_MAX];
	char msg[BENCH_MSG_MAX]; /* skip or failure reason, or the last repetition's note */
};

/* A BENCH_F_FORK child being driven (rep.c); pid -1 when there is none. */
struct bench_child {
	pid_t pid;
	int cmd_fd; /* we write requests */
	int res_fd; /* the child writes replies */
};

/*
 * rep.c. bench_rep_start() runs the implementation's setup() where its
 * flags say (here, in a BENCH_F_FORK child it starts, or nowhere yet for
 * BENCH_F_FORK_REP); bench_rep_run() measures one repetition (out[] gets
 * one value per metric); bench_rep_stop() tears down. Each returns 0,
 * BENCH_SKIP or -errno with ctx->msg set.
 */
int bench_rep_start(struct bench_ctx *ctx, struct bench_child *ch);
int bench_rep_run(struct bench_ctx *ctx, struct bench_child *ch, uint64_t *iters, double *out);
void bench_rep_stop(struct bench_ctx *ctx, struct bench_child *ch);

/* report.c: everything printed on stdout, as text or as one JSON document. */
void bench_report_header(const struct bench_opts *opts, int pinned_cpu);
void bench_report_suite_start(const struct bench_suite *s, unsigned reps);
void bench_report_suite_end(void);
void bench_report_row(const struct bench_suite *s, const struct bench_case *c, const char *label,
		      const char *op, const struct bench_impl *impl, const struct impl_result *r,
		      unsigned m, double ratio);
void bench_report_end(bool failed);

#endif /* HM_BENCH_DRIVER_H */
