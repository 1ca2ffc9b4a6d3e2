/*
 * logring.h - the recent output of each slot and of the master, kept in
 * memory for `cluster-ctl logs` (logring.c).  logline.c feeds it every
 * line it writes; surface/logs.c reads it.
 */
#ifndef LAUNCHER_LOGRING_H
#define LAUNCHER_LOGRING_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define LOGRING_DEFAULT_LINES 1000      /* --log-lines */
#define LOGRING_MAX_LINES 100000
#define LOGRING_SLOT_BYTES (256 * 1024) /* text kept per slot, whatever the lines */
#define LOGRING_MASTER (-1)             /* the slot of cluster-run's own lines */
#define LOGRING_ALL (-2)                /* logring_last(): every slot and the master */

struct logring_line {
	uint64_t seq;           /* order of arrival, over every slot */
	int64_t time_ms;        /* CLOCK_REALTIME, milliseconds */
	int slot;               /* LOGRING_MASTER for cluster-run's own */
	pid_t pid;
	int stream;             /* 1 stdout, 2 stderr, 0 the master */
	size_t len;
	char *text;             /* len bytes, no newline, not NUL-ended */
};

/* Lines kept per slot (0: none, nothing is kept).  Once, at start. */
void logring_configure(unsigned lines);
unsigned logring_lines(void);
/* One whole line, without its newline.  Old lines of the slot go to make
 * room; a line that cannot be stored is left out (out of memory). */
void logring_add(int slot, pid_t pid, int stream, const char *text, size_t len);
/* The last n lines of slot (LOGRING_ALL: of all, interleaved by arrival),
 * oldest first, each to fn.  How many. */
size_t logring_last(int slot, size_t n, void (*fn)(const struct logring_line *, void *),
		    void *data);
/* fn sees every line as it is added (cluster-ctl logs -f); one listener. */
void logring_on_line(void (*fn)(const struct logring_line *, void *), void *data);

/* An in-place upgrade (surface/upgrade.c): every ring's lines and the
 * order counter into o; restore puts them back in front of what the new
 * image has kept since it started (renumbered after them), without
 * telling the listener: its followers had them.  0, or -1 (logged). */
struct cluster;
struct state_out;
struct state_in;
int logring_save(struct cluster *c, struct state_out *o);
int logring_restore(struct cluster *c, const struct state_in *in);
/* Free every ring (tests: a fresh start in the same process). */
void logring_clear(void);
/* The number of the last line kept (lines are numbered from 1 in their
 * order of arrival, across slots; an upgrade carries the count on). */
uint64_t logring_seq(void);

#endif
