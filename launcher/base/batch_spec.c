/*
 * batch_spec.c - parse a reload's batch size (batch_spec.h).  Nothing else:
 * what a percentage comes to depends on the slots at the time, which
 * rollout.c knows.
 */
#include "base/batch_spec.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int batch_spec_parse(const char *s, int max, int *n, int *pct)
{
	char *end;
	long v;

	if (!s || *s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s)
		return -1;
	if (!strcmp(end, "%")) {
		if (v < 1 || v > 100)
			return -1;
		*n = 0;
		*pct = (int)v;
		return 0;
	}
	if (*end || v < 1 || v > max)
		return -1;
	*n = (int)v;
	*pct = 0;
	return 0;
}
