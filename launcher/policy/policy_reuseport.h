/*
 * policy_reuseport.h - see policy_reuseport.c.
 */
#ifndef LAUNCHER_POLICY_POLICY_REUSEPORT_H
#define LAUNCHER_POLICY_POLICY_REUSEPORT_H

#include <sys/types.h>

struct cluster;
struct listener;

/* policy_reuseport.c */
unsigned reuseport_slot_queued(struct cluster *c, int slot);
void reuseport_close_slots(struct cluster *c, int slot);

#endif
