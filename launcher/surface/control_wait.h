/*
 * control_wait.h - the control's clients that wait for an answer:
 * reload, rollout and scale --wait, upgrade (control_wait.c).
 */
#ifndef LAUNCHER_SURFACE_CONTROL_WAIT_H
#define LAUNCHER_SURFACE_CONTROL_WAIT_H

#include "surface/control_client.h"

struct cluster;

/* Set the hooks through which the waiters hear their news
 * (c->hooks.reload_finished, reload_progress, reload_paused,
 * upgrade_finished): control_open and control_restore. */
void control_wait_hooks(struct cluster *c);
/* cl waits for kind from now on (its command was accepted). */
void control_wait_start(struct client *cl, enum wait_kind kind);
/* The answer a waiting client gets, into its reply; not sent here. */
void control_wait_reply(struct client *cl, int ok, const char *text);
/* Check the scale --wait clients at once, then every WAIT_CHECK_MS while
 * one is left; nothing when that check runs already. */
void control_wait_scale(struct control *ctl);

#endif
