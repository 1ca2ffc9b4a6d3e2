/*
 * output.h - --log-prefix, --log-time, --log-format json, --log-dir: a
 * worker's stdout and stderr go through pipes to the master, which writes
 * them out a whole line at a time (logline.c formats them).  Without any of
 * these options workers inherit the master's stdout and stderr and none of
 * this runs.
 */
#ifndef LAUNCHER_OUTPUT_H
#define LAUNCHER_OUTPUT_H

#include <sys/types.h>

struct loop;
struct output;

/* Pipes for a new worker: *out_w and *err_w are the ends the child gets. */
struct output *output_new(struct loop *loop, int slot, int *out_w, int *err_w);
void output_set_pid(struct output *o, pid_t pid);
/* An in-place upgrade (surface/upgrade.h): the pipes' read ends and the
 * partial lines not written yet go in the current record (keys out_fd,
 * out_part, err_fd, err_part); restore takes them from rec and watches
 * the pipes again.  NULL when the record has none (or out of memory,
 * logged: the pipes are left as they are, for the old image should the
 * upgrade fall back). */
struct state_out;
struct state_rec;
void output_save(const struct output *o, struct state_out *so);
struct output *output_restore(struct loop *loop, int slot, pid_t pid, const struct state_rec *rec);
/* Write what is left (a last partial line too) and let go. */
void output_free(struct output *o);

#endif
