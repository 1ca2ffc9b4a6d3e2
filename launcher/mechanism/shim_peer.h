/*
 * shim_peer.h - the master's side of the shim's wire: doorbells, attached
 * processes, their messages (shim_peer.c).
 */
#ifndef LAUNCHER_MECHANISM_SHIM_PEER_H
#define LAUNCHER_MECHANISM_SHIM_PEER_H

#include "wire/protocol.h"

#include <sys/types.h>

struct worker;
struct peer;

/* Any message a worker may send, and room for an oversized one. */
union any_msg {
	struct msg_hdr hdr;
	struct msg_attach attach;
	struct msg_bind bind;
	struct msg_listener listener;
	char raw[512];
};

/* Listen on w's doorbell (the master's end; w owns it from now on). */
int shim_peer_watch(struct worker *w, int doorbell);
/* An in-place upgrade: one process's private socket (fd, carried across
 * the exec) heard again as it was before (shim_peer_watch does the
 * doorbell).  0, or -1 (fd closed). */
int shim_peer_adopt_peer(struct worker *w, int fd, pid_t pid);
/* w is going: its processes' sockets and its doorbell are closed. */
void shim_peer_forget(struct worker *w);
/* It broke the protocol: hear no more of it, and kill it. */
void worker_misbehaved(struct worker *w, const char *why);
/* One message from one of the worker's processes.  0, or -1: misbehaved.
 * buf holds n bytes in a buffer of at least sizeof(union any_msg); fd is
 * what came with it (closed here).  The fuzz target calls this directly. */
int worker_handle_message(struct peer *p, void *buf, ssize_t n, int fd);

#endif
