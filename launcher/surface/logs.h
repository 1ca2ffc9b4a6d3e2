/*
 * logs.h - cluster-ctl logs [SLOT] [-n N] [-f]: the control command's
 * arguments and its lines, read from the rings of base/logring.c
 * (logs.c).  control.c keeps the client and streams -f.
 */
#ifndef LAUNCHER_SURFACE_LOGS_H
#define LAUNCHER_SURFACE_LOGS_H

#include "base/logring.h"

struct buf;
struct loop;

#define LOGS_DEFAULT_N 50
#define LOGS_MAX_N 10000
#define LOGS_FOLLOWERS_MAX 16           /* logs -f clients at once */
#define LOGS_FOLLOW_PENDING_MAX (1 << 20) /* bytes a follower has not taken */

struct logs_request {
	int slot;               /* LOGRING_ALL, LOGRING_MASTER or a slot */
	long n;                 /* the last n lines */
	int follow;             /* -f: then every new line */
};

/* "[SLOT|master] [-n N] [-f]" into rq: 0, or -1 with "error: ...\n" in b. */
int logs_parse(const char *arg, struct logs_request *rq, struct buf *b);
/* The last rq->n lines into b, one formatted line each. */
void logs_recent(const struct logs_request *rq, struct buf *b);
/* l into b when rq wants it: 1, else 0. */
int logs_format(const struct logs_request *rq, const struct logring_line *l, struct buf *b);
/* logs -f: fd (a connected control client, out of any loop) follows rq
 * from now on; it is sent *answer first, whose data this takes (answer
 * is left empty).  0, or -1 when it cannot (fd and answer stay the
 * caller's). */
int logs_follow(struct loop *loop, int fd, const struct logs_request *rq, struct buf *answer);
/* Close every follower: the cluster stops. */
void logs_follow_close_all(void);

/* An in-place upgrade (called by control.c's save and restore): every
 * follower's socket, what it follows and what it has not taken yet.
 * Restore puts them in loop and listens to the rings again.  0, or -1
 * (logged). */
struct state_out;
struct state_in;
int logs_save(struct state_out *o);
int logs_restore(struct loop *loop, const struct state_in *in);
/* Free every follower without closing its socket (tests: as the exec
 * does, in process). */
void logs_follow_forget(void);

#endif
