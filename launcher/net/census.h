/*
 * census.h - see census.c.
 */
#ifndef LAUNCHER_NET_CENSUS_H
#define LAUNCHER_NET_CENSUS_H

#include <stdint.h>
#include <sys/types.h>

struct cluster;
struct worker;

/* census.c: ask the kernel which accepted connections of the cluster's
 * listeners each worker's processes hold (however the program closes its
 * sockets, whichever of its processes holds them).  census_take is one
 * snapshot of the cluster's connections; census_held counts w's, or -1
 * when the kernel cannot tell us. */
struct census;
struct census *census_take(struct cluster *c);
long census_held(struct census *cs, const struct worker *w);
void census_free(struct census *cs);

#endif
