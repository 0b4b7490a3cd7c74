/* SPDX-License-Identifier: MIT */
/*
 * report.c - everything hugemem-bench prints on stdout: the header (CPU,
 * kernel, hugepages, build, seed, peers), one block per suite with one row
 * per case, operation and implementation, in fixed-width text or, with
 * --json, as one JSON document streamed row by row:
 *   {"header":{...},"suites":[{"name":..,"note":..,"reps":..,"rows":[{...}]}],"failed":false}
 * Rows carry the median, the minimum, the ratio to hugemem and the samples;
 * a row that was not measured carries its status and message instead.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/utsname.h>

#include <hugemem.h>
#include "driver.h"

static struct {
	const struct bench_opts *opts;
	int pinned_cpu;
	bool first_suite; /* JSON commas */
	bool first_row;
} rp = {.first_suite = true};

/* ---- the machine, for the header ---- */

static void cpu_model(char *buf, size_t len)
{
	char line[256];
	FILE *f = fopen("/proc/cpuinfo", "r");

	snprintf(buf, len, "unknown");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		char *colon = strchr(line, ':');

		if (strncmp(line, "model name", 10) != 0 || !colon)
			continue;
		colon++;
		colon += strspn(colon, " \t");
		colon[strcspn(colon, "\n")] = '\0';
		snprintf(buf, len, "%s", colon);
		break;
	}
	fclose(f);
}

/* HugePages_Total, HugePages_Free and Hugepagesize (kB) from /proc/meminfo. */
static void meminfo_hugepages(unsigned long *total, unsigned long *nfree, unsigned long *size_kb)
{
	char line[128];
	FILE *f = fopen("/proc/meminfo", "r");

	*total = *nfree = *size_kb = 0;
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		sscanf(line, "HugePages_Total: %lu", total);
		sscanf(line, "HugePages_Free: %lu", nfree);
		sscanf(line, "Hugepagesize: %lu", size_kb);
	}
	fclose(f);
}

/* The build type (HM_BENCH_BUILD_TYPE from the build, else __OPTIMIZE__) and HM_DEBUG. */
static const char *build_type(char *buf, size_t len)
{
#if defined(HM_BENCH_BUILD_TYPE)
	const char *type = HM_BENCH_BUILD_TYPE;
#elif defined(__OPTIMIZE__)
	const char *type = "optimized (__OPTIMIZE__; no build type given)";
#else
	const char *type = "UNOPTIMIZED (no __OPTIMIZE__): figures are not representative";
#endif
#if defined(HM_DEBUG)
	snprintf(buf, len, "%s, HM_DEBUG=%d", type, (int)HM_DEBUG);
#else
	snprintf(buf, len, "%s", type);
#endif
	return buf;
}

static void json_str(const char *s)
{
	putchar('"');
	for (; s && *s; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch == '"' || ch == '\\')
			printf("\\%c", ch);
		else if (ch < 0x20)
			printf("\\u%04x", ch);
		else
			putchar(ch);
	}
	putchar('"');
}

/* A JSON number, or null for NaN (JSON has no NaN). */
static void json_num(double v)
{
	if (isnan(v))
		printf("null");
	else
		printf("%.6g", v);
}

/* Each peer the build may have found, and its version if it did. */
struct peer_info {
	const char *name;
	const char *version; /* NULL: not installed */
};

static unsigned peers(struct peer_info *p)
{
	unsigned n = 0;

	p[n].name = "dpdk";
#ifdef HM_BENCH_HAVE_DPDK
	p[n++].version = bench_dpdk_version();
#else
	p[n++].version = NULL;
#endif
	p[n].name = "jemalloc";
#ifdef HM_BENCH_HAVE_JEMALLOC
	p[n++].version = "installed";
#else
	p[n++].version = NULL;
#endif
	p[n].name = "mimalloc";
#ifdef HM_BENCH_HAVE_MIMALLOC
	p[n++].version = "installed";
#else
	p[n++].version = NULL;
#endif
	p[n].name = "tcmalloc";
#ifdef HM_BENCH_HAVE_TCMALLOC
	p[n++].version = "installed";
#else
	p[n++].version = NULL;
#endif
	return n;
}

void bench_report_header(const struct bench_opts *opts, int pinned_cpu)
{
	struct utsname u;
	char cpu[128], kernel[3 * sizeof(u.release) + 3], build[128];
	unsigned long hp_total, hp_free, hp_kb;
	struct peer_info peer[8];
	unsigned n_peers = peers(peer), i;

	rp.opts = opts;
	rp.pinned_cpu = pinned_cpu;
	cpu_model(cpu, sizeof(cpu));
	meminfo_hugepages(&hp_total, &hp_free, &hp_kb);
	if (uname(&u) != 0)
		memset(&u, 0, sizeof(u));

	if (rp.opts->json) {
		printf("{\"header\":{\"program\":\"hugemem-bench\",\"version\":%d,\"cpu\":",
		       hm_version());
		json_str(cpu);
		printf(",\"cpus_online\":%ld,\"kernel\":", sysconf(_SC_NPROCESSORS_ONLN));
		snprintf(kernel, sizeof(kernel), "%s %s %s", u.sysname, u.release, u.machine);
		json_str(kernel);
		printf(",\"hugepage_kb\":%lu,\"hugepages_free\":%lu,\"hugepages_total\":%lu", hp_kb,
		       hp_free, hp_total);
		printf(",\"build\":");
		json_str(build_type(build, sizeof(build)));
		printf(",\"compiler\":");
		json_str(__VERSION__);
		printf(",\"seed\":%" PRIu64 ",\"reps\":%u,\"warmup_reps\":%d,\"smoke\":%s",
		       rp.opts->seed, rp.opts->reps, rp.opts->smoke ? 0 : 1,
		       rp.opts->smoke ? "true" : "false");
		printf(",\"pinned_cpu\":%d,\"peers\":{", rp.pinned_cpu);
		for (i = 0; i < n_peers; i++) {
			printf("%s", i ? "," : "");
			json_str(peer[i].name);
			printf(":");
			if (peer[i].version)
				json_str(peer[i].version);
			else
				printf("null");
		}
		printf("}},\n\"suites\":[");
		return;
	}
	printf("hugemem-bench %d.%d.%d (library %d.%d.%d)\n", HM_VERSION_MAJOR, HM_VERSION_MINOR,
	       HM_VERSION_PATCH, hm_version() / 10000, hm_version() / 100 % 100,
	       hm_version() % 100);
	printf("cpu: %s (%ld online) | kernel: %s %s %s\n", cpu, sysconf(_SC_NPROCESSORS_ONLN),
	       u.sysname, u.release, u.machine);
	printf("hugepages: %lu free / %lu total of %lu kB | build: %s | cc: %s\n", hp_free,
	       hp_total, hp_kb, build_type(build, sizeof(build)), __VERSION__);
	printf("seed: %" PRIu64 " | reps: %u%s | pinned: %s\n", rp.opts->seed, rp.opts->reps,
	       rp.opts->smoke ? " (smoke)" : "",
	       rp.pinned_cpu == 0 ? "cpu 0" : "no (sched_setaffinity failed)");
	printf("peers:");
	for (i = 0; i < n_peers; i++)
		printf("%s %s %s", i ? "," : "", peer[i].name,
		       peer[i].version ? peer[i].version : "not installed");
	printf("\n");
	printf("method: median and min of the reps after 1 discarded warm-up (none under "
	       "--smoke);\n"
	       "ratio = peer median / hugemem median: above 1.00 means hugemem is faster\n");
}

void bench_report_suite_start(const struct bench_suite *s, unsigned reps)
{
	if (rp.opts->json) {
		printf("%s\n{\"name\":", rp.first_suite ? "" : ",");
		json_str(s->name);
		printf(",\"note\":");
		json_str(s->note);
		printf(",\"reps\":%u,\"rows\":[", reps);
		rp.first_suite = false;
		rp.first_row = true;
		return;
	}
	printf("\n== %s (%u rep%s): %s\n", s->name, reps, reps == 1 ? "" : "s", s->note);
	printf("%-8s %-22s %-8s %-13s %10s %10s %-6s %6s\n", "suite", "case", "op", "impl",
	       "median", "min", "unit", "ratio");
}

void bench_report_suite_end(void)
{
	if (rp.opts->json)
		printf("]}");
	fflush(stdout);
}

static void fmt_value(char *buf, size_t len, double v)
{
	if (v >= 1000)
		snprintf(buf, len, "%.0f", v);
	else if (v >= 100)
		snprintf(buf, len, "%.1f", v);
	else
		snprintf(buf, len, "%.2f", v);
}

static const char *status_name(enum impl_status st)
{
	switch (st) {
	case ST_OK:
		return "ok";
	case ST_SKIPPED:
		return "skipped";
	case ST_FAILED:
		return "failed";
	case ST_MISSING:
		return "not installed";
	}
	return "?";
}

void bench_report_row(const struct bench_suite *s, const struct bench_case *c, const char *label,
		      const char *op, const struct bench_impl *impl, const struct impl_result *r,
		      unsigned m, double ratio)
{
	char med[32], min[32], rat[32];
	unsigned i;

	if (rp.opts->json) {
		printf("%s\n {\"case\":", rp.first_row ? "" : ",");
		json_str(label);
		printf(",\"op\":");
		json_str(op);
		printf(",\"impl\":");
		json_str(impl->name);
		printf(",\"unit\":");
		json_str(c->unit);
		printf(",\"status\":");
		json_str(status_name(r->status));
		if (r->status == ST_OK) {
			printf(",\"median\":");
			json_num(r->median[m]);
			printf(",\"min\":");
			json_num(r->min[m]);
			printf(",\"ratio\":");
			json_num(ratio);
			printf(",\"samples\":[");
			for (i = 0; i < r->n_reps; i++) {
				printf("%s", i ? "," : "");
				json_num(r->v[m][i]);
			}
			printf("]");
		}
		if (r->msg[0]) {
			printf(",\"message\":");
			json_str(r->msg);
		}
		printf("}");
		rp.first_row = false;
		return;
	}
	printf("%-8s %-22s %-8s %-13s ", s->name, label, op, impl->name);
	switch (r->status) {
	case ST_OK:
		fmt_value(med, sizeof(med), r->median[m]);
		fmt_value(min, sizeof(min), r->min[m]);
		if (isnan(ratio))
			snprintf(rat, sizeof(rat), "-");
		else
			snprintf(rat, sizeof(rat), "%.2f", ratio);
		printf("%10s %10s %-6s %6s%s%s\n", med, min, c->unit, rat, r->msg[0] ? "  " : "",
		       r->msg);
		break;
	case ST_MISSING:
		printf("peer not installed\n");
		break;
	case ST_SKIPPED:
		printf("skipped: %s\n", r->msg);
		break;
	case ST_FAILED:
		printf("FAILED: %s\n", r->msg);
		break;
	}
}

void bench_report_end(bool failed)
{
	if (rp.opts->json)
		printf("\n],\"failed\":%s}\n", failed ? "true" : "false");
	else
		printf("\n%s\n",
		       failed ? "hugemem-bench: some hugemem cases FAILED" : "hugemem-bench: done");
	fflush(stdout);
}
