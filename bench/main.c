/* SPDX-License-Identifier: MIT */
/*
 * main.c - hugemem-bench: options, the suite table, and the loop over
 * suites, cases, implementations and repetitions, with the statistics.
 *
 * Method: every implementation of a case runs one warm-up repetition, which
 * is discarded (none under --smoke), then R repetitions (--reps, default 7);
 * each repetition gives one value per metric. Where every implementation runs
 * in a child of its own, they take turns repetition by repetition. We report the median and the
 * minimum of the R values, and for every row the ratio of its median to
 * hugemem's median for the same case and metric, so every figure comes from
 * the same run on the same machine. The thread is pinned to CPU 0 (children
 * inherit it) where the kernel lets us. Where each repetition runs is
 * rep.c's business; what is printed, report.c's.
 *
 * Exit status: 0, or 1 if a hugemem case failed (peers may fail or be
 * missing without failing the run), or 2 for a usage error.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "driver.h"

#define BENCH_SUITE_ENTRY(name) &bench_suite_##name,
static const struct bench_suite *const suites[] = {BENCH_SUITES(BENCH_SUITE_ENTRY)};

static struct {
	struct bench_opts opts;
	int pinned_cpu;  /* 0, or -1 if pinning failed */
	bool any_failed; /* a hugemem (non-peer) implementation failed */
} g = {.pinned_cpu = -1};

static void pin_cpu0(void)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(0, &set);
	if (sched_setaffinity(0, sizeof(set), &set) == 0)
		g.pinned_cpu = 0;
}

/* ---- statistics ---- */

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* Median and minimum of v[0..n); v is left unchanged. */
static void stats(const double *v, unsigned n, double *median, double *min)
{
	double sorted[BENCH_REPS_MAX];

	if (n == 0) {
		*median = *min = NAN;
		return;
	}
	memcpy(sorted, v, n * sizeof(*v));
	qsort(sorted, n, sizeof(*sorted), cmp_double);
	*min = sorted[0];
	*median = n % 2 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
}

/* ---- running one case ---- */

static unsigned n_metrics(const struct bench_case *c)
{
	unsigned m = 0;

	while (m < BENCH_METRICS_MAX && c->metrics[m])
		m++;
	return m ? m : 1;
}

static void set_status(struct impl_result *r, int rc, const struct bench_ctx *ctx)
{
	r->status = rc == BENCH_SKIP ? ST_SKIPPED : ST_FAILED;
	if (ctx->msg[0])
		snprintf(r->msg, sizeof(r->msg), "%s", ctx->msg);
	else
		snprintf(r->msg, sizeof(r->msg), "%s", rc < 0 ? strerror(-rc) : "no reason given");
}

/* One implementation's way through a case: its context, its child, its results. */
struct runner {
	struct bench_ctx ctx;
	struct bench_child ch;
	uint64_t iters;
	struct impl_result *r;
	bool started; /* bench_rep_start() succeeded: bench_rep_stop() is owed */
	bool ok;      /* no repetition has failed */
};

/*
 * Set the implementation up and, outside --smoke, run one warm-up
 * repetition, which is discarded (first faults of the heap, of the
 * hypervisor's backing memory, of the code).
 */
static void runner_begin(struct runner *u)
{
	const struct bench_impl *impl = u->ctx.impl;
	double out[BENCH_METRICS_MAX];
	int rc;

	u->ch.pid = -1;
	u->iters = 0;
	u->started = u->ok = false;
	u->r->status = ST_OK;
	u->r->n_reps = 0;
	u->r->msg[0] = '\0';
	u->ctx.state = NULL;
	u->ctx.rep = 0;
	u->ctx.msg[0] = '\0';
	if (!impl->measure && !impl->run) {
		u->r->status = ST_MISSING;
		return;
	}
	rc = bench_rep_start(&u->ctx, &u->ch);
	if (rc != 0) {
		set_status(u->r, rc, &u->ctx);
		return;
	}
	u->started = u->ok = true;
	if (!g.opts.smoke) {
		rc = bench_rep_run(&u->ctx, &u->ch, &u->iters, out);
		if (rc != 0) {
			set_status(u->r, rc, &u->ctx);
			u->ok = false;
		}
	}
}

/* Repetition rep, unless an earlier one failed. */
static void runner_step(struct runner *u, unsigned rep)
{
	unsigned nm = n_metrics(u->ctx.c), m;
	double out[BENCH_METRICS_MAX];
	int rc;

	if (!u->ok)
		return;
	u->ctx.rep = rep;
	rc = bench_rep_run(&u->ctx, &u->ch, &u->iters, out);
	if (rc != 0) {
		set_status(u->r, rc, &u->ctx);
		u->ok = false;
		return;
	}
	for (m = 0; m < nm; m++)
		u->r->v[m][u->r->n_reps] = out[m];
	u->r->n_reps++;
	/* A note from the last repetition (a limit, a caveat) is shown in the row. */
	if (u->ctx.msg[0])
		snprintf(u->r->msg, sizeof(u->r->msg), "%s", u->ctx.msg);
}

static void runner_end(struct runner *u)
{
	unsigned nm = n_metrics(u->ctx.c), m;

	if (u->started)
		bench_rep_stop(&u->ctx, &u->ch);
	for (m = 0; m < nm; m++)
		stats(u->r->v[m], u->r->n_reps, &u->r->median[m], &u->r->min[m]);
}

/*
 * Whether the implementations of c take turns repetition by repetition: when
 * each runs in a child of its own (BENCH_F_FORK), they can all be set up at
 * once, so that a noisy moment on a shared machine falls on all of them
 * rather than on whichever happened to be running.
 */
static bool interleaved(const struct bench_case *c)
{
	for (unsigned i = 0; i < c->n_impls; i++) {
		const struct bench_impl *impl = &c->impls[i];

		if ((impl->measure || impl->run) && !(impl->flags & BENCH_F_FORK))
			return false;
	}
	return true;
}

static void case_label(const struct bench_case *c, const struct bench_ctx *ctx, char *buf,
		       size_t len)
{
	char size[32];
	size_t off;

	off = (size_t)snprintf(buf, len, "%s", c->name ? c->name : "");
	if (c->n && off < len)
		off += (size_t)snprintf(buf + off, len - off, "%sN=%zu", off ? " " : "", ctx->n);
	if (c->size && off < len)
		snprintf(buf + off, len - off, "%s%s", off ? " " : "",
			 bench_size_str(size, sizeof(size), ctx->size));
}

static void run_case(const struct bench_suite *s, const struct bench_case *c, unsigned reps)
{
	struct impl_result *res;
	struct bench_ctx ctx;
	char label[64], check_msg[BENCH_MSG_MAX];
	unsigned nm = n_metrics(c), i, m;
	int rc = 0;

	res = calloc(c->n_impls, sizeof(*res));
	if (!res) {
		fprintf(stderr, "hugemem-bench: out of memory\n");
		exit(1);
	}
	for (i = 0; i < c->n_impls; i++)
		for (m = 0; m < nm; m++) {
			res[i].v[m] = calloc(reps, sizeof(double));
			if (!res[i].v[m]) {
				fprintf(stderr, "hugemem-bench: out of memory\n");
				exit(1);
			}
		}

	memset(&ctx, 0, sizeof(ctx));
	ctx.opts = &g.opts;
	ctx.c = c;
	ctx.n = c->n;
	ctx.size = g.opts.smoke && c->smoke_size ? c->smoke_size : c->size;
	ctx.page_size = c->page_size;
	ctx.seed = g.opts.seed;
	ctx.target_ns = g.opts.smoke ? BENCH_SMOKE_TARGET_NS : BENCH_TARGET_NS;
	case_label(c, &ctx, label, sizeof(label));
	if (c->check)
		rc = c->check(&ctx);
	snprintf(check_msg, sizeof(check_msg), "%s", ctx.msg);

	struct runner *run = calloc(c->n_impls, sizeof(*run));
	if (!run) {
		fprintf(stderr, "hugemem-bench: out of memory\n");
		exit(1);
	}
	for (i = 0; i < c->n_impls; i++) {
		run[i].ctx = ctx;
		run[i].ctx.impl = &c->impls[i];
		run[i].r = &res[i];
		if (rc != 0 && (c->impls[i].measure || c->impls[i].run)) {
			snprintf(run[i].ctx.msg, sizeof(run[i].ctx.msg), "%s", check_msg);
			set_status(&res[i], rc, &run[i].ctx);
			run[i].r = NULL; /* settled */
		}
	}
	if (interleaved(c)) {
		/* Everyone set up, then repetition by repetition, each starting with
		 * the next implementation in turn. */
		for (i = 0; i < c->n_impls; i++)
			if (run[i].r)
				runner_begin(&run[i]);
		for (unsigned rep = 0; rep < reps; rep++)
			for (unsigned k = 0; k < c->n_impls; k++) {
				unsigned j = (rep + k) % c->n_impls;

				if (run[j].r)
					runner_step(&run[j], rep);
			}
		for (i = 0; i < c->n_impls; i++)
			if (run[i].r)
				runner_end(&run[i]);
	} else {
		for (i = 0; i < c->n_impls; i++) {
			if (!run[i].r)
				continue;
			runner_begin(&run[i]);
			for (unsigned rep = 0; rep < reps; rep++)
				runner_step(&run[i], rep);
			runner_end(&run[i]);
		}
	}
	for (i = 0; i < c->n_impls; i++)
		if (res[i].status == ST_FAILED && !(c->impls[i].flags & BENCH_F_PEER))
			g.any_failed = true;
	free(run);

	for (m = 0; m < nm; m++) {
		const char *op = c->metrics[m] ? c->metrics[m] : "op";
		double base = res[0].status == ST_OK ? res[0].median[m] : NAN;

		for (i = 0; i < c->n_impls; i++) {
			double ratio = NAN;

			if (res[i].status == ST_OK && !isnan(base) && base > 0)
				ratio = res[i].median[m] / base;
			bench_report_row(s, c, label, op, &c->impls[i], &res[i], m, ratio);
		}
	}
	fflush(stdout);

	for (i = 0; i < c->n_impls; i++)
		for (m = 0; m < nm; m++)
			free(res[i].v[m]);
	free(res);
}

static void run_suite(const struct bench_suite *s)
{
	unsigned reps = g.opts.reps, i;

	if (g.opts.smoke) {
		unsigned smoke = s->smoke_reps ? s->smoke_reps : BENCH_SMOKE_REPS;

		if (reps > smoke)
			reps = smoke;
	}
	bench_report_suite_start(s, reps);
	for (i = 0; i < s->n_cases; i++)
		run_case(s, &s->cases[i], reps);
	bench_report_suite_end();
}

/* ---- command line ---- */

static void list_suites(void)
{
	unsigned i, j, k;

	for (i = 0; i < BENCH_ARRAY_SIZE(suites); i++) {
		const struct bench_suite *s = suites[i];

		printf("%s: %s\n", s->name, s->note);
		for (j = 0; j < s->n_cases; j++) {
			const struct bench_case *c = &s->cases[j];
			struct bench_ctx ctx = {.n = c->n, .size = c->size};
			char label[64];

			case_label(c, &ctx, label, sizeof(label));
			printf("  %-22s", label);
			for (k = 0; k < c->n_impls; k++)
				printf(" %s%s", c->impls[k].name,
				       c->impls[k].measure || c->impls[k].run ? ""
									      : "(not installed)");
			printf("\n");
		}
	}
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: hugemem-bench [--smoke] [--json] [--reps N] [--seed N] [--suite NAME] "
		"[--list]\n"
		"  --smoke       about 10 ms a case, 1-2 repetitions (CTest runs this)\n"
		"  --json        one JSON document on stdout\n"
		"  --reps N      repetitions per case (default %u)\n"
		"  --seed N      seed of the random orders (default: from the clock)\n"
		"  --suite NAME  run one suite (see --list)\n"
		"  --list        list suites, cases and implementations\n",
		BENCH_REPS_DEFAULT);
}

static bool parse_u64(const char *s, uint64_t *v)
{
	char *end;

	errno = 0;
	*v = strtoull(s, &end, 0);
	return errno == 0 && end != s && *end == '\0' && s[0] != '-';
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"smoke", no_argument, NULL, 's'},       {"json", no_argument, NULL, 'j'},
		{"reps", required_argument, NULL, 'r'},  {"seed", required_argument, NULL, 'S'},
		{"suite", required_argument, NULL, 'u'}, {"list", no_argument, NULL, 'l'},
		{"help", no_argument, NULL, 'h'},        {NULL, 0, NULL, 0},
	};
	bool list = false, reps_given = false, found = false;
	uint64_t v;
	unsigned i;
	int opt;

	g.opts.reps = BENCH_REPS_DEFAULT;
	g.opts.seed = bench_now_ns() ^ ((uint64_t)getpid() << 32);
	while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (opt) {
		case 's':
			g.opts.smoke = true;
			break;
		case 'j':
			g.opts.json = true;
			break;
		case 'r':
			if (!parse_u64(optarg, &v) || v < 1 || v > BENCH_REPS_MAX) {
				fprintf(stderr, "hugemem-bench: --reps wants 1 to %u\n",
					BENCH_REPS_MAX);
				return 2;
			}
			g.opts.reps = (unsigned)v;
			reps_given = true;
			break;
		case 'S':
			if (!parse_u64(optarg, &g.opts.seed)) {
				fprintf(stderr, "hugemem-bench: bad --seed %s\n", optarg);
				return 2;
			}
			break;
		case 'u':
			g.opts.suite = optarg;
			break;
		case 'l':
			list = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	if (list) {
		list_suites();
		return 0;
	}
	for (i = 0; i < BENCH_ARRAY_SIZE(suites); i++)
		found |= !g.opts.suite || strcmp(g.opts.suite, suites[i]->name) == 0;
	if (!found) {
		fprintf(stderr, "hugemem-bench: no suite named %s (see --list)\n", g.opts.suite);
		return 2;
	}
	if (g.opts.smoke && !reps_given)
		g.opts.reps = BENCH_SMOKE_REPS;

	signal(SIGPIPE, SIG_IGN);
	pin_cpu0();
	bench_report_header(&g.opts, g.pinned_cpu);
	for (i = 0; i < BENCH_ARRAY_SIZE(suites); i++)
		if (!g.opts.suite || strcmp(g.opts.suite, suites[i]->name) == 0)
			run_suite(suites[i]);
	bench_report_end(g.any_failed);
	return g.any_failed ? 1 : 0;
}
