/*
 * census.h - see census.c.
 */
#ifndef LAUNCHER_NET_CENSUS_H
#define LAUNCHER_NET_CENSUS_H

#include <stddef.h>
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
 * its turn too, and retried the next).  What they return is good until
 * the next call of either, which may refill it.  census_held counts w's
 * connections in cs, or -1 for a NULL cs or unreadable fd tables. */
struct census;
struct census *census_fresh(struct cluster *c);
struct census *census_since(struct cluster *c, unsigned long mark);
unsigned long census_next_mark(const struct cluster *c);
long census_held(const struct census *cs, const struct worker *w);
/* census_held, calling fn for each connection of cs found among the fds
 * of w's processes: the process, the fd number there and the socket's
 * inode (supervise/idle_close.c reaches the socket so). */
typedef void census_held_fn(pid_t pid, int fd, unsigned long ino, void *arg);
long census_each_held(const struct census *cs, const struct worker *w,
		      census_held_fn *fn, void *arg);
/* The inodes of the sockets among pid's fds (/proc/PID/fd), the first
 * cap of them into inodes: how many it holds, or -1 with errno when its
 * fds cannot be read (ENOENT: gone).  Who holds a listener or a channel
 * end of a worker that daemonized (supervise/follow.c). */
long census_proc_sockets(pid_t pid, unsigned long *inodes, size_t cap);
/* At exit. */
void census_close(struct cluster *c);
/* An in-place upgrade: the snapshot itself is not carried (it is one
 * turn's, and the new image's first census is newer than any), only its
 * number, so that a mark taken before the exec (a draining worker's
 * drain_quiet_seq, retire.c) still means "a census after this one". */
struct state_out;
struct state_in;
void census_save(const struct cluster *c, struct state_out *o);
int census_restore(struct cluster *c, const struct state_in *in);

/* The pieces of a census, in process (tests/test_census.c). */
struct census *census_new(void);
void census_free(struct census *cs);
int census_has(const struct census *cs, unsigned long inode);
/* The sock_diag request for family's (AF_INET, AF_INET6) connected TCP
 * sockets whose local port is one of c's TCP listeners': the kernel
 * filters by port (INET_DIAG_REQ_BYTECODE).  Its length, or 0 when cap
 * is too small; CENSUS_REQUEST_MAX always fits. */
#define CENSUS_REQUEST_MAX 2048
size_t census_inet_request(const struct cluster *c, int family, void *buf, size_t cap);
/* One recv's worth of a dump's answer (netlink messages of family: AF_INET,
 * AF_INET6 or AF_UNIX) into cs, keeping the connections of c's listeners:
 * 1 at the dump's end (cs then sorted for census_has and census_held), 0
 * when more is to come, -1 for an error message or out of memory. */
int census_parse(struct census *cs, const struct cluster *c, int family,
		 const void *buf, size_t len);

#endif
