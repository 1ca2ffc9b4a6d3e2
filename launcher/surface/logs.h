/*
 * logs.h - cluster-ctl logs [SLOT] [-n N] [-f]: the control command's
 * arguments and its lines, read from the rings of base/logring.c
 * (logs.c).  control.c keeps the client and streams -f.
 */
#ifndef LAUNCHER_SURFACE_LOGS_H
#define LAUNCHER_SURFACE_LOGS_H

#include "base/logring.h"

struct buf;

#define LOGS_DEFAULT_N 50
#define LOGS_MAX_N 10000

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

#endif
