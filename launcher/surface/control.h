/*
 * control.h - see control.c.
 */
#ifndef LAUNCHER_SURFACE_CONTROL_H
#define LAUNCHER_SURFACE_CONTROL_H

#include <sys/types.h>

struct cluster;

/* control.c */
int control_open(struct cluster *c);
void control_close(struct cluster *c);

/* An in-place upgrade (surface/upgrade.c), last of the modules: the
 * listening sockets (control, metrics), every client with what it sent
 * so far, what it was not sent yet and what it waits for (reload, scale,
 * upgrade), the logs -f followers (logs.c) and the count of dropped log
 * lines (base/logline.c).  Restore runs in place of control_open and sets
 * the same hooks.  0, or -1 (logged). */
struct state_out;
struct state_in;
int control_save(struct cluster *c, struct state_out *o);
int control_restore(struct cluster *c, const struct state_in *in);
/* Tests: drop the control's memory without closing its sockets, as the
 * exec does, so control_restore can take them back in the same process. */
void control_forget(struct cluster *c);

#endif
