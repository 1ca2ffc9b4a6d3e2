/*
 * health.h - recycling (--max-memory, --max-requests), hung workers
 * (--hang-timeout), and the reasons for the last restarts (status,
 * metrics).  See health.c.
 */
#ifndef LAUNCHER_HEALTH_H
#define LAUNCHER_HEALTH_H

struct cluster;
struct worker;
struct buf;

enum health_reason {
	HEALTH_CRASH,           /* exited (or was killed) unasked */
	HEALTH_MEMORY,
	HEALTH_REQUESTS,
	HEALTH_HANG,
	HEALTH_NREASONS,
};

/* How health asks for a worker to be replaced (slots_recycle.c's
 * supervisor_replace, handed in by supervisor.c): 0 when it will be, -1
 * when it cannot be now (then health asks again later).  now: stop it at
 * once (hung) rather than start its replacement first. */
typedef int health_replace_fn(struct cluster *c, struct worker *w, const char *reason,
			      const char *detail, int now);

/* Once at start, after the loop exists.  -1 when out of memory. */
int health_start(struct cluster *c, health_replace_fn *replace);
/* An in-place upgrade (surface/upgrade.h): each slot's watch, the last
 * restarts and their counts, the tick and the pending check at their
 * deadlines.  Restore builds c->health without its replace function:
 * health_start (supervisor_restore) hands that in and keeps the rest. */
struct state_out;
struct state_in;
int health_save(struct cluster *c, struct state_out *o);
int health_restore(struct cluster *c, const struct state_in *in);
void health_free(struct cluster *c);
/* A worker exited unasked: remember it (how: "exited with status 1"). */
void health_note_exit(struct cluster *c, const struct worker *w, const char *how);
/* balancer.c handed w a connection (--max-requests); reached through
 * c->hooks.conn_handed, which health_start sets. */
void health_conn_handed(struct cluster *c, struct worker *w);
/* Why slot's worker was last restarted, short ("exit 1", "signal 9",
 * "hang", "memory", "requests"), or NULL when it never was. */
const char *health_last_exit(const struct cluster *c, int slot);
/* The last restarts and their reasons, for report.c. */
void health_report_text(struct cluster *c, struct buf *b);
void health_report_json(struct cluster *c, struct buf *b);
void health_report_metrics(struct cluster *c, struct buf *b);

#endif
