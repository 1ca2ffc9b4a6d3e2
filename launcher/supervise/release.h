/*
 * release.h - what a worker runs: PROGRAM's path, its arguments and the
 * variables added to its environment (see release.c).
 */
#ifndef LAUNCHER_SUPERVISE_RELEASE_H
#define LAUNCHER_SUPERVISE_RELEASE_H

#include "base/envfile.h"

#include <limits.h>
#include <stdint.h>

struct cluster;
struct state_out;
struct state_in;

struct release {
	unsigned id;            /* the generation that brought it in */
	uint64_t serial;        /* names it for the whole run, across an
				 * upgrade too (ids may repeat: a rollout
				 * back, a reread) */
	unsigned refs;          /* c->release, c->previous, slots, workers */
	char path[PATH_MAX];    /* what execve() gets */
	char **argv;            /* owned, NULL-terminated */
	struct env_list env;    /* --env-file and -e, then the reload's own */
};

/* The one cluster-run started with (c->prog->path, the command line's
 * PROGRAM and -e/--env-file), or NULL when out of memory. */
struct release *release_initial(const struct cluster *c);
/* A copy of base for generation id: argv NULL keeps base's command (and
 * path), else argv[0] resolved as execvp would (path).  The variables of
 * env go over base's.  NULL when out of memory. */
struct release *release_derive(const struct release *base, unsigned id, const char *path,
			       char *const *argv, const struct env_list *env);
/* A counted reference: hold one for each place that keeps the pointer.
 * release_set(&p, r) drops what *p held and holds r there. */
struct release *release_hold(struct release *r);
void release_drop(struct release *r);
void release_set(struct release **p, struct release *r);

/* An in-place upgrade (surface/upgrade.h): every live release (the
 * cluster's current and previous ones, the slots', the workers'), one
 * "release" record each, named by its serial.  Restore rebuilds them
 * and sets c->release and c->previous; the other modules find theirs by
 * serial with release_by_serial (0: NULL) until supervisor_restore calls
 * release_restore_end, which lets go of the ones nobody took. */
int release_save(struct cluster *c, struct state_out *o);
int release_restore(struct cluster *c, const struct state_in *in);
struct release *release_by_serial(uint64_t serial);
void release_restore_end(void);

#endif
