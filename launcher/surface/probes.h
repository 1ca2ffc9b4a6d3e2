/*
 * probes.h - see probes.c.
 */
#ifndef LAUNCHER_SURFACE_PROBES_H
#define LAUNCHER_SURFACE_PROBES_H

#include <stddef.h>
#include <sys/types.h>

struct cluster;
struct buf;

/* Whether the request in buf[0..*len) is whole (its headers end with a
 * blank line), so answering and closing resets nothing.  A full buf
 * (cap - 1 bytes) keeps its first line and drops the headers read so far
 * (*len shrinks): a browser's headers may be longer than the buffer, and
 * only the request line matters. */
int probes_request_in(char *buf, size_t *len, size_t cap);
/* probes.c: the --metrics address's answer to one HTTP request */
void probes_answer(struct cluster *c, const char *request, struct buf *b);

#endif
