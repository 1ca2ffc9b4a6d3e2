/*
 * control_cmd.h - the control socket's command words (control_cmd.c).
 */
#ifndef LAUNCHER_SURFACE_CONTROL_CMD_H
#define LAUNCHER_SURFACE_CONTROL_CMD_H

#include "surface/control_client.h"

/* One command line of cl (cut in place); the answer goes into b (cl's
 * reply), or later when cl->waiting is set (--wait, upgrade; WAIT_LOGS:
 * logs -f, cl->logs says what to follow). */
void control_cmd_run(struct client *cl, char *line, struct buf *b);

#endif
