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
 * sockets, whichever of its processes holds them).
 *
 * A census is one dump of the cluster's connections, kept in c->census
 * and shared: every caller gets the last one when it is good enough for
 * it, and a new one replaces it otherwise (never freed by the caller).
 *   census_fresh  one taken in this turn of the loop (status, metrics)
 *   census_since  one numbered `mark` or later, whatever its age: marks
 *                 come from census_next_mark, taken at the moment after
 *                 which the caller needs its census (retire.c)
 * Both return NULL when the kernel would not tell (a failure is shared by
 * its turn too, and retried the next).  census_held counts w's
 * connections in cs, or -1 for a NULL cs or unreadable fd tables. */
struct census;
struct census *census_fresh(struct cluster *c);
struct census *census_since(struct cluster *c, unsigned long mark);
unsigned long census_next_mark(const struct cluster *c);
long census_held(const struct census *cs, const struct worker *w);
/* At exit. */
void census_close(struct cluster *c);

#endif
