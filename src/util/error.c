/* SPDX-License-Identifier: MIT */
/* error.c - error texts, the version, name checks and the assertion handler. */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int hm_version(void)
{
	return HM_VERSION;
}

const char *hm_strerror(int err)
{
	if (err < 0)
		err = -err;
	if (err == 0)
		return "Success";
	/* strerror's buffer may be overwritten by another thread; strerrordesc_np
	 * (glibc 2.32) returns a constant string instead. */
	const char *s = strerrordesc_np(err);
	return s ? s : "Unknown error";
}

int hm__name_copy(char *dst, const char *name)
{
	size_t len;

	if (name == NULL || name[0] == '\0')
		return -EINVAL;
	len = strnlen(name, HM_NAME_MAX);
	if (len >= HM_NAME_MAX)
		return -ENAMETOOLONG;
	memcpy(dst, name, len + 1);
	return 0;
}

void hm__assert_fail(const char *expr, const char *file, int line)
{
	hm_log(HM_LOG_ERROR, "assertion failed: %s (%s:%d)", expr, file, line);
	abort();
}
