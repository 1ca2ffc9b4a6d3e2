/*
 * shim.h - what the shim's modules share with each other.  Nothing here is
 * exported from the library: the build hides every symbol but the hooks.
 * Calls go one way, down this list:
 *
 *   hooks_*.c   the exported libc symbols (hooks_socket.c, hooks_fd.c,
 *               hooks_path.c, hooks_io.c; hooks_fd.c's syscall() passes
 *               accept on to hooks_socket.c; hooks_socket.c, drain.c and
 *               hooks_fd.c tell hooks_io.c a connection began or ended)
 *   http_boundary.c  pure: where an HTTP/1.x response ends (hooks_io.c)
 *   drain.c     the shim's half of a drain under shared and reuseport,
 *               and the board's counters
 *   master.c    talking to the master: activation, claiming the worker
 *               role, the private channel, bind requests, reports
 *   fdtable.c   which fds of this process are clustered listeners, the
 *               listener each one stands for, and accepted connections that
 *               must be reported when closed
 *   log.c       one-line messages on stderr without stdio or malloc
 *   real.c      libc's own functions behind the hooks (real.h)
 *
 * and wire/ (protocol.h, fdpass.c, bindopt.c), shared with the launcher,
 * uses only real.c.  Owns nothing itself; must not be included by the
 * launcher, which sees only wire/.
 */
#ifndef SHIM_H
#define SHIM_H

#include "wire/protocol.h"

#include <stdatomic.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

/* What this process knows of a listener the master gave it.  Published
 * once by its mode (fdtable_set_listener); the hooks then change the
 * second group from any thread, or a signal handler, hence atomics. */
struct shim_listener {
	_Atomic int mode;       /* enum bind_mode, 0 = unused */
	/* fixed once published: */
	int family;
	int type;               /* SOCK_STREAM, SOCK_DGRAM */
	int protocol;           /* as SO_PROTOCOL reports it */
	int emulate_nonblock;   /* socket mode, stream: O_NONBLOCK is a view */
	socklen_t addrlen;
	struct sockaddr_storage addr;   /* the address actually bound */
	socklen_t reqlen;
	struct sockaddr_storage req;    /* as the app asked (to give it back) */
	/* the app's doing, any time: */
	_Atomic int listening;  /* the app called listen() */
	_Atomic int shut;       /* the app called shutdown() */
	_Atomic int drained;    /* the master drained it: never readable again */
	_Atomic int app_nonblock;       /* O_NONBLOCK as the app sees it (socket mode) */
	_Atomic uint32_t opts;  /* BIND_OPT_* as the app set them */
};

/* fdtable.c */
void fdtable_set_listener(uint32_t lid, const struct shim_listener *l);
struct shim_listener *fdtable_listener(uint32_t lid);
int fdtable_add(int fd, uint32_t lid);
int fdtable_find(int fd);               /* lid or -1; no syscall: hot path */
int fdtable_find_checked(int fd);       /* lid or -1; verifies (dev, ino) */
int fdtable_remove(int fd, int *last);  /* lid or -1; *last: no fd left */
int fdtable_max_fd(void);
int fdtable_fds_of(uint32_t lid, int *out, int max);   /* this process's fds for lid */
void fdtable_retarget(int fd);          /* fd now refers to another file: re-stat it */
struct epoll_reg {                      /* an app's epoll registration of a listener fd */
	int epfd;
	uint32_t events;
	uint64_t data;
	pid_t pid;                      /* the process that registered it */
};
void fdtable_note_epoll(int fd, int epfd, int op, const struct epoll_reg *reg);
int fdtable_epolls(int fd, struct epoll_reg *out, int max);
void conn_track(int fd, uint32_t lid);
int conn_untrack(int fd);               /* lid or -1 */
/* conn_untrack, and *since_us = when it was accepted (conn_now_us), or 0 */
int conn_untrack_since(int fd, uint64_t *since_us);
uint64_t conn_now_us(void);             /* CLOCK_MONOTONIC in µs; 0: unknown */
int conn_tracked_max(void);
int conn_peek(int fd);                  /* 0 when tracked, else -1 */
void conn_note_epoll(int fd, int epfd); /* -1: removed */
int conn_epoll_of(int fd);              /* epfd or -1 */
int fdtable_owned(void);                /* not a vfork child of the owner */
void fdtable_after_fork(void);          /* and at activation: this process's */

/* master.c */
int shim_enabled(void);
int shim_is_owner(void);
/* A vfork() child (posix_spawn, Python's subprocess) running in this
 * process's memory: it must not talk to the master (its answers and its
 * claim would land in our memory); binds go straight to libc. */
int shim_vforked(void);
int shim_private_fd(int fd);            /* fd is the shim's own: protect it */
/* The app wants this number (dup2 onto it): 0 once the shim's fd is
 * elsewhere, or -1 when it could not be moved (it is given up). */
int shim_move_private_fd(int fd);
int shim_private_fds(int out[2]);       /* ascending; returns the count */
void shim_keep_doorbell_inheritable(void);
int master_bind(const struct msg_bind *req, struct msg_bind_reply *rep, int *fd);
/* MSG_UNLINK: 1 when path is a socket the master serves, 0 when not, -1 on failure. */
int master_serves_path(const struct msg_bind *req);
/* MSG_RELEASE: 0 once the master forgot this worker's bind of lid. */
int master_release(uint32_t lid);
void master_report(uint16_t type, uint32_t lid, int backlog);
/* The worker's shared board, or NULL before the first bind (or without). */
struct worker_board *shim_board(void);

/* drain.c: the master's drain bits (protocol.h, "the board").
 * drain_enter: before an accept on a socket-mode listener; -1 when the
 * listener is drained (this process's fds for it now point at a socket
 * that is never readable: see drain.c), else a token (0, or 1 when the
 * accept is counted on the board) to go on and accept, then to hand to
 * drain_leave with the accepted fd or -1.  drain_note_epoll records the
 * app's epoll registrations of listener fds, to carry them over. */
int drain_enter(uint32_t lid);          /* -1 drained, 0 go on, 1 go on (counted) */
void drain_leave(uint32_t lid, int cfd, int token);
void drain_note_epoll(int epfd, int op, int fd, const void *ev);
/* Count a close on the board (and the connection's duration, from
 * since_us: 0 = unknown, not counted), or report it when there is none. */
void conn_closed(uint32_t lid, uint64_t since_us);
void conn_received(uint32_t lid);       /* one taken off a channel (the board) */

/* hooks_io.c: keep-alive connections closed behind a response while the
 * worker retires.  io_watch_board: the board is mapped, watch its
 * `retiring`; io_conn_opened/closed: an accepted connection begins (at a
 * request boundary) or ends. */
void io_watch_board(struct worker_board *b);
void io_conn_opened(int fd);
void io_conn_closed(int fd);

/* log.c */
void shim_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* shim_warn the first time *said is clear (then it is set): the failures
 * that recur say so once. */
void shim_warn_once(_Atomic int *said, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void shim_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int shim_debugging(void);

/* Exported hook: the C name is shim_NAME, the symbol is NAME. */
#define SHIM_EXPORT(name) __asm__(#name) __attribute__((visibility("default")))

/* Hooks one module calls in another (the syscall() hook). */
int shim_accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags) SHIM_EXPORT(accept4);

#endif
