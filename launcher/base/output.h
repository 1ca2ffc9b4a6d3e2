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
/* Write what is left (a last partial line too) and let go. */
void output_free(struct output *o);

#endif
