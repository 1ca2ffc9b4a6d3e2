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

#endif
