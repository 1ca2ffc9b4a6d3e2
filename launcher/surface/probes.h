/*
 * probes.h - see probes.c.
 */
#ifndef LAUNCHER_SURFACE_PROBES_H
#define LAUNCHER_SURFACE_PROBES_H

#include <sys/types.h>

struct cluster;
struct buf;

/* probes.c: the --metrics address's answer to one HTTP request */
void probes_answer(struct cluster *c, const char *request, struct buf *b);

#endif
