/*
 * seccomp_reuseport.h - rolling restart and scale-down of seccomp workers
 * under reuseport (seccomp_reuseport.c).
 */
#ifndef LAUNCHER_MECHANISM_SECCOMP_REUSEPORT_H
#define LAUNCHER_MECHANISM_SECCOMP_REUSEPORT_H

struct cluster;
struct worker;
struct listener;

/* seccomp_reuseport.c: rolling restart and scale-down under reuseport */
/* The socket to put into w for l, given what the policy gave (fd): a
 * replacement gets one of its own. */
int seccomp_reuseport_give(struct worker *w, struct listener *l, int fd);
/* w listens on l: steer its slot to w's own socket, if it has one. */
void seccomp_reuseport_listening(struct worker *w, struct listener *l);
/* Whether st is a socket of l that this module made. */
struct stat;
int seccomp_reuseport_owns(const struct listener *l, const struct stat *st);
/* The socket of its own a replacement w was given for l (step 1), or -1. */
int seccomp_reuseport_socket(const struct worker *w, const struct listener *l);
/* The replacements' own sockets of l (step 1), which are in no slot of
 * l->slot_fds until their old worker is gone: up to max into fds; how
 * many there are.  For whatever must reach every socket of l (a stop's
 * SYN filter: a replacement's socket left out keeps taking connections
 * while its worker drains). */
int seccomp_reuseport_sockets(const struct listener *l, int *fds, int max);
/* w is gone: close or promote the sockets it leaves. */
void seccomp_reuseport_worker_gone(struct cluster *c, struct worker *w);
/* Connections queued on the sockets w accepts on, which a retiring
 * seccomp worker must accept before its stop signal (retire.c asks); 0
 * for a worker of the shim. */
unsigned seccomp_reuseport_queued(struct cluster *c, struct worker *w);
/* An in-place upgrade, right after policy_state_restore: the replacements'
 * own sockets (a rolling restart under way), by listener id and worker
 * serial.  0, or -1 (logged). */
struct state_out;
struct state_in;
int seccomp_reuseport_save(struct cluster *c, struct state_out *o);
int seccomp_reuseport_restore(struct cluster *c, const struct state_in *in);

#endif
