/*
 * reload_cmd.h - parse the arguments of a control request's reload
 * (reload_cmd.c).
 */
#ifndef LAUNCHER_SURFACE_RELOAD_CMD_H
#define LAUNCHER_SURFACE_RELOAD_CMD_H

#include "supervise/rollout.h"

#include <stddef.h>

/* args: what follows "reload" (cut in place).  0 with rq filled (free it
 * with reload_request_free) and *wait; -1 with one line in why. */
int reload_cmd_parse(char *args, struct reload_request *rq, int *wait, char *why, size_t len);
/* One word's %XX escapes decoded in place (cluster-ctl encodes the path
 * of `upgrade PATH` as it does reload's words): 0, or -1 on a broken
 * escape or an encoded NUL. */
int reload_cmd_decode(char *word);

#endif
