/* SPDX-License-Identifier: MIT */
/*
 * config.c - the defaults of struct hm_config and the HUGEMEM_* environment
 * variables that override them. A malformed value is an error naming the
 * variable, never a silent default.
 */
#include "mem/mem.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

void hm_config_defaults(struct hm_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->page_size = HM_PAGE_SIZE_AUTO;
	cfg->proc_type = HM_PROC_AUTO;
	cfg->iova_mode = HM_IOVA_AUTO;
	cfg->max_threads = HM_THREADS_MAX_DEFAULT;
	cfg->max_zones = HM_ZONES_MAX_DEFAULT;
}

int hm__parse_size(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;
	unsigned shift = 0;

	if (!s || !*s || *s == '-' || *s == '+' || *s == ' ')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s)
		return -EINVAL;
	switch (*end) {
	case 'k':
	case 'K':
		shift = 10;
		end++;
		break;
	case 'm':
	case 'M':
		shift = 20;
		end++;
		break;
	case 'g':
	case 'G':
		shift = 30;
		end++;
		break;
	case 't':
	case 'T':
		shift = 40;
		end++;
		break;
	default:
		break;
	}
	if (shift && (*end == 'B' || *end == 'b'))
		end++;
	if (*end != '\0' || (shift && v > (UINT64_MAX >> shift)))
		return -EINVAL;
	*out = (uint64_t)v << shift;
	return 0;
}

static int parse_bool(const char *s, bool *out)
{
	static const char *const yes[] = {"1", "yes", "true", "on"};
	static const char *const no[] = {"0", "no", "false", "off"};

	for (unsigned i = 0; i < 4; i++) {
		if (!strcasecmp(s, yes[i]))
			return *out = true, 0;
		if (!strcasecmp(s, no[i]))
			return *out = false, 0;
	}
	return -EINVAL;
}

static int parse_page_size(const char *s, size_t *out)
{
	uint64_t v;

	if (!strcasecmp(s, "auto"))
		return *out = HM_PAGE_SIZE_AUTO, 0;
	if (!strcasecmp(s, "largest"))
		return *out = HM_PAGE_SIZE_LARGEST, 0;
	if (hm__parse_size(s, &v) || !hm__is_pow2(v) || v < HM_PAGE_SIZE_4K)
		return -EINVAL;
	*out = (size_t)v;
	return 0;
}

static int parse_choice(const char *s, const char *const *names, unsigned n, int *out)
{
	for (unsigned i = 0; i < n; i++) {
		if (!strcasecmp(s, names[i]))
			return *out = (int)i, 0;
	}
	return -EINVAL;
}

static int parse_log_level(const char *s, int *out)
{
	static const char *const names[] = {"", "error", "warning", "notice", "info", "debug"};
	char *end;
	long v;

	if (parse_choice(s, names, 6, out) == 0 && *out > 0)
		return 0;
	if (!strcasecmp(s, "warn"))
		return *out = HM_LOG_WARNING, 0;
	v = strtol(s, &end, 10);
	if (end == s || *end || v < HM_LOG_ERROR || v > HM_LOG_DEBUG)
		return -EINVAL;
	*out = (int)v;
	return 0;
}

/* A prefix becomes a directory name: letters, digits, '-', '_' and '.', not "." or "..". */
static bool prefix_ok(const char *p)
{
	size_t len = strlen(p);

	if (len == 0 || len >= HM_NAME_MAX || !strcmp(p, ".") || !strcmp(p, ".."))
		return false;
	for (const char *c = p; *c; c++) {
		if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
		      (*c >= '0' && *c <= '9') || *c == '-' || *c == '_' || *c == '.'))
			return false;
	}
	return true;
}

/* Report a bad variable and return -EINVAL. */
static int bad_env(const char *var, const char *val, const char *want)
{
	hm__err("%s=\"%s\" is not valid: expected %s", var, val, want);
	return -EINVAL;
}

int hm__config_resolve(const struct hm_config *cfg, struct hm_config *out, char *prefix_buf,
		       char *dir_buf)
{
	static const char *const proc_names[] = {"auto", "primary", "secondary"};
	static const char *const iova_names[] = {"auto", "pa", "va"};
	const char *v;
	uint64_t size;
	int choice;

	if (cfg)
		*out = *cfg;
	else
		hm_config_defaults(out);

	if ((v = getenv("HUGEMEM_PAGE_SIZE")) && parse_page_size(v, &out->page_size))
		return bad_env("HUGEMEM_PAGE_SIZE", v, "4K, 2M, 1G, auto or largest");
	if ((v = getenv("HUGEMEM_NO_HUGE")) && parse_bool(v, &out->no_huge))
		return bad_env("HUGEMEM_NO_HUGE", v, "0 or 1");
	if ((v = getenv("HUGEMEM_MEMORY"))) {
		if (hm__parse_size(v, &size) || size == 0)
			return bad_env("HUGEMEM_MEMORY", v, "a size such as 512M or 4G");
		out->memory_limit = (size_t)size;
	}
	if ((v = getenv("HUGEMEM_PREALLOC"))) {
		if (hm__parse_size(v, &size))
			return bad_env("HUGEMEM_PREALLOC", v, "a size such as 64M");
		out->prealloc = (size_t)size;
	}
	if ((v = getenv("HUGEMEM_PREFIX")))
		out->prefix = v;
	if ((v = getenv("HUGEMEM_PROC_TYPE"))) {
		if (parse_choice(v, proc_names, 3, &choice))
			return bad_env("HUGEMEM_PROC_TYPE", v, "primary, secondary or auto");
		out->proc_type = (enum hm_proc_type)choice;
	}
	if ((v = getenv("HUGEMEM_RUNTIME_DIR"))) {
		if (!*v)
			return bad_env("HUGEMEM_RUNTIME_DIR", v, "an existing directory");
		out->runtime_dir = v;
	}
	if ((v = getenv("HUGEMEM_LOG_LEVEL"))) {
		if (parse_log_level(v, &out->log_level))
			return bad_env("HUGEMEM_LOG_LEVEL", v,
				       "error, warning, notice, info, debug or 1 to 5");
	}
	if ((v = getenv("HUGEMEM_IOVA_MODE"))) {
		if (parse_choice(v, iova_names, 3, &choice))
			return bad_env("HUGEMEM_IOVA_MODE", v, "pa, va or auto");
		out->iova_mode = (enum hm_iova_mode)choice;
	}

	/* The fields themselves, whatever set them. */
	if (out->page_size != HM_PAGE_SIZE_AUTO && out->page_size != HM_PAGE_SIZE_LARGEST &&
	    (!hm__is_pow2(out->page_size) || out->page_size < HM_PAGE_SIZE_4K)) {
		hm__err("page size %zu is not a page size", out->page_size);
		return -EINVAL;
	}
	if ((unsigned)out->proc_type > HM_PROC_SECONDARY || (unsigned)out->iova_mode > HM_IOVA_VA) {
		hm__err("proc_type or iova_mode out of range");
		return -EINVAL;
	}
	if (out->log_level < 0 || out->log_level > HM_LOG_DEBUG) {
		hm__err("log level %d out of range", out->log_level);
		return -EINVAL;
	}
	if (out->max_threads == 0)
		out->max_threads = HM_THREADS_MAX_DEFAULT;
	if (out->max_zones == 0)
		out->max_zones = HM_ZONES_MAX_DEFAULT;
	if (out->max_threads > 65536 || out->max_zones > (1u << 24)) {
		hm__err("max_threads (%u) or max_zones (%u) too large", out->max_threads,
			out->max_zones);
		return -EINVAL;
	}
	if (out->prefix && *out->prefix) {
		if (!prefix_ok(out->prefix)) {
			hm__err("%s \"%s\" is not valid: 1 to %d letters, digits, '-', '_' or '.'",
				out->prefix == getenv("HUGEMEM_PREFIX") ? "HUGEMEM_PREFIX"
									: "prefix",
				out->prefix, HM_NAME_MAX - 1);
			return -EINVAL;
		}
		strcpy(prefix_buf, out->prefix);
		out->prefix = prefix_buf;
	} else {
		out->prefix = NULL;
		if (out->proc_type == HM_PROC_SECONDARY) {
			hm__err("a secondary process needs a prefix (HUGEMEM_PREFIX)");
			return -EINVAL;
		}
	}
	if (out->runtime_dir) {
		if (strlen(out->runtime_dir) >= HM_PATH_MAX - HM_NAME_MAX - 16) {
			hm__err("runtime directory path too long");
			return -ENAMETOOLONG;
		}
		strcpy(dir_buf, out->runtime_dir);
		out->runtime_dir = dir_buf;
	}
	return 0;
}
