/*
 * control_client.h - the control's struct and one client of it, a
 * connection to the control socket or the metrics endpoint, as the master
 * keeps it (control_client.c).  cluster-ctl, the program at the other
 * end, is ctl.c.
 *
 * Apart from control.c because control.c (accept, read, answer),
 * control_cmd.c (the command words) and control_wait.c (the clients
 * that wait) all hold these structs, and control.c calls the other two:
 * with the structs in control.c they would call each other in a cycle
 * (tests/layers).  This header includes nothing of the control's.
 */
#ifndef LAUNCHER_SURFACE_CONTROL_CLIENT_H
#define LAUNCHER_SURFACE_CONTROL_CLIENT_H

#include "base/buf.h"
#include "surface/logs.h"

#include <stdint.h>
#include <stddef.h>
#include <sys/un.h>

#define REQUEST_MAX 8192        /* a reload may carry a command line */

/* What a client waits for once its command ran (control_wait.c); the
 * names in an upgrade's state are control.c's wait_names, in this order. */
enum wait_kind { WAIT_NONE, WAIT_RELOAD, WAIT_SCALE, WAIT_LOGS, WAIT_UPGRADE };

struct cluster;
struct client;

struct control {
	struct cluster *c;
	int fd;
	int metrics_fd;
	int paused;             /* out of fds: not watching for a moment */
	int nclients[2];        /* connected now, control [0] and metrics [1] */
	struct client *clients; /* connected now, newest first: control_close ends them */
	uint64_t wait_timer;    /* checks scale --wait clients */
	struct client *asking;  /* running its command now: control_cmd.c, upgrade_command */
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
};

struct client {
	struct control *ctl;
	struct client *prev, *next;
	int fd;
	int metrics;
	enum wait_kind waiting; /* no answer yet: --wait */
	int64_t wait_started;
	uint64_t timer;
	size_t len;
	char buf[REQUEST_MAX];
	struct buf reply;       /* the answer, once the request is in */
	size_t sent;            /* ... how much of it the socket took */
	struct logs_request logs;       /* WAIT_LOGS: what it will follow */
};

/* Out of the list, its timer and its fd closed (fd -1: handed over to
 * logs.c, not closed), freed. */
void control_client_close(struct client *cl);
/* Write what the socket takes of the answer.  1 when the client is done
 * with (all sent, or it went away), 0 when the rest waits for EPOLLOUT. */
int control_client_send(struct client *cl);
/* The answer goes out: what the socket takes now, the rest on EPOLLOUT
 * (control.c's client_event); the client is closed once done with, or
 * when its fd cannot be watched. */
void control_client_reply(struct client *cl);

#endif
