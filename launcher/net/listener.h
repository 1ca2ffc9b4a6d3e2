/*
 * listener.h - the registry of addresses the master has bound (listener.c).
 * It binds and finds; which policy a listener gets is decided above it
 * (mechanism/attach.c), and the listener only carries the answer.
 */
#ifndef LAUNCHER_NET_LISTENER_H
#define LAUNCHER_NET_LISTENER_H

#include <stddef.h>

struct cluster;
struct worker;
struct listener;
struct msg_bind;
struct creds;
struct policy_ops;
struct state_out;
struct state_in;

/* The listener w's bind of req names: an existing one, or NULL.  NULL
 * with *err 0: none yet (listener_create makes it); with *err set: the
 * errno w's bind() fails with (an invalid request, a second bind of the
 * same address by one worker). */
struct listener *listener_find(struct cluster *c, struct worker *w,
			       const struct msg_bind *req, int *err);
/* Bind req for the cluster (or take systemd's socket for it): per_slot
 * asks for SO_REUSEPORT (one socket per slot follows); as, when not NULL,
 * binds with those credentials (--user: sockets.c); *plain says the
 * inherited socket has none.  The listener, without its policy (l->ops
 * is the caller's to set), or NULL with *err (the caller says so: with
 * EADDRINUSE the address is held outside the cluster). */
struct listener *listener_create(struct cluster *c, const struct msg_bind *req,
				 int per_slot, const struct creds *as, int *plain, int *err);
/* Whether socket inode ino is one of the cluster's listening sockets. */
int listener_owns_socket(const struct cluster *c, unsigned long ino);
/* req's address as lines name it: "127.0.0.1:8000", "/run/x.sock". */
void listener_req_name(const struct msg_bind *req, char *name, size_t cap);
/* "tcp", "udp" or "unix", for the announcement. */
const char *listener_kind(const struct listener *l);
void listener_close_all(struct cluster *c);
/* A stop: every TCP listener's sockets drop new SYNs from now on and keep
 * what is queued for the workers to accept (syns_stopped); a unix
 * listener cannot be told so and keeps taking connections. */
void listener_stop_syns(struct cluster *c);
void listener_set_backlog(struct cluster *c, struct listener *l, int backlog);
int listener_serves_path(struct cluster *c, const struct msg_bind *req);

/* An in-place upgrade (surface/upgrade.h): every listener, its per-slot
 * sockets and its pending connections, the socket files (socket_file.c)
 * and the census's number; not systemd's sockets (lifecycle.c's).
 * restore rebuilds c->listeners[] with their fds but puts nothing in the
 * loop: policy_state_restore does, once the workers are back.  0, or -1
 * (logged). */
int listener_save(struct cluster *c, struct state_out *o);
int listener_restore(struct cluster *c, const struct state_in *in);
/* A listener names its policy by name (and whether it is the variant
 * steered in the kernel: the two share a name); the table is a layer up
 * (policy/policy.c), which registers how a name is looked up.  The lookup
 * returns NULL for a name this build does not know. */
typedef const struct policy_ops *listener_policy_lookup(const char *name, int in_kernel);
void listener_set_policy_lookup(listener_policy_lookup *fn);

#endif
