/*
 * protocol.h - the whole contract between the cluster-run master and the shim.
 *
 * Both sides include this header and nothing else of each other.  Every
 * message travels on an AF_UNIX SOCK_SEQPACKET socket, so one recvmsg() is
 * one message, carrying at most one file descriptor (SCM_RIGHTS).
 *
 * Owns the messages, their sizes and checks, the board's layout, the
 * environment's names and the BIND_OPT_* bits, and declares the code both
 * sides link from wire/ (fdpass.c, bindopt.c).  Must not include anything
 * of the shim or the launcher; a message or a board layout that changes
 * takes a new CLUSTER_PROTO_VERSION.
 *
 * Three kinds of socket carry messages:
 *
 *   doorbell  one per worker slot, inherited by the worker through the
 *             environment (CLUSTER_RUN_FD).  Only MSG_ATTACH goes over it.
 *             It is shared by every process of the slot (forked children,
 *             sh -c wrappers), so nothing is ever *read* from it by the shim:
 *             a reply could reach the wrong process.
 *   private   one per process that talks to the master.  The process creates
 *             a socketpair and sends one end with MSG_ATTACH.  Requests
 *             (MSG_BIND) and their replies, and one-way reports, use it.
 *   channel   one per (worker slot, listener) under a channel policy
 *             (rr, leastconn, sticky, random, p2c, jiq).  The master sends
 *             MSG_CONN with an accepted connection; the app's listening fd
 *             number *is* the worker end.  (The socket policies, shared
 *             and reuseport, give the app a real listening socket instead.)
 *
 * And one shared memory page per worker, the *board* (struct worker_board,
 * a memfd the shim asks for with MSG_BOARD and maps): counters the shim
 * bumps without a system call (connections accepted and closed, and how
 * long they lived) and the drain bits the master sets to stop the app
 * accepting.  The master reads it without trusting it: a worker can only
 * mislead the master about itself.
 *
 * The receiver checks every message with msg_valid() before it looks at any
 * field: a worker is untrusted input to the master.
 */
#ifndef CLUSTER_PROTOCOL_H
#define CLUSTER_PROTOCOL_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>

#ifdef __cplusplus
#error "protocol.h uses C11 atomics"
#endif
#include <stdatomic.h>

#define CLUSTER_PROTO_VERSION 5

/* Environment passed to workers.  CLUSTER_RUN_FD (and the shim's entry in
 * LD_PRELOAD) are removed by the process that becomes the worker; the two
 * informational variables stay for the program to read. */
#define CLUSTER_ENV_FD        "CLUSTER_RUN_FD"  /* "fd:inode" of the doorbell; the
						  * shim looks for the inode among its
						  * fds when a wrapper dup2()ed over fd */
#define CLUSTER_ENV_WORKER_ID "CLUSTER_WORKER_ID"
#define CLUSTER_ENV_WORKERS   "CLUSTER_WORKERS"
#define CLUSTER_ENV_DEBUG     "CLUSTER_RUN_DEBUG"
#define CLUSTER_SHIM_NAME     "libcluster-shim.so"

/* Bound on listeners per cluster; the master refuses more with EMFILE. */
/* (a "listener" is any clustered socket: a TCP or unix stream listener, or
 * a UDP socket) */
#define CLUSTER_MAX_LISTENERS 64

enum msg_type {
	MSG_ATTACH = 1,   /* shim -> master, doorbell, fd = private channel end */
	MSG_BIND,         /* shim -> master, private: please bind this address */
	MSG_BIND_REPLY,   /* master -> shim, private: errno or fd to use */
	MSG_LISTEN,       /* shim -> master, doorbell: ready to take connections */
	MSG_UNLISTEN,     /* shim -> master, doorbell: the app closed its listener */
	MSG_CONN_CLOSED,  /* shim -> master, doorbell: an accepted conn was closed */
	MSG_CONN,         /* master -> shim, channel, fd = accepted connection */
	MSG_UNLINK,       /* shim -> master, private: may I unlink this path?
			   * answered by MSG_BIND_REPLY: err 0 = it is a
			   * clustered socket, pretend; ENOENT = not ours */
	MSG_RELEASE,      /* shim -> master, private: this bound socket is a
			   * client's (it called connect): forget it; answered
			   * by MSG_BIND_REPLY */
	MSG_BOARD,        /* shim -> master, private (a struct msg_listener,
			   * listener unused): may I have the board?  answered
			   * by MSG_BIND_REPLY with the memfd attached */
	MSG_FDS_SHORT,    /* shim -> master, doorbell (a struct msg_listener,
			   * backlog = the pid of the process): an accept on
			   * this channel found the process's fd table full
			   * (EMFILE/ENFILE): give its queue to others */
	MSG_TYPE_MAX
};

struct msg_hdr {
	uint16_t type;
	uint16_t len;     /* whole message, header included */
	uint32_t seq;     /* request id, echoed in the reply */
};

struct msg_attach {
	struct msg_hdr hdr;
	uint32_t version;
	int32_t pid;
};

/* Options the app set on its socket before bind(), forwarded so the
 * master's socket behaves as the app's would have (bindopt.c, below). */
#define BIND_OPT_REUSEADDR  0x01u
#define BIND_OPT_REUSEPORT  0x02u
#define BIND_OPT_V6ONLY     0x04u
#define BIND_OPT_NODELAY    0x08u
#define BIND_OPT_KEEPALIVE  0x10u

struct msg_bind {
	struct msg_hdr hdr;
	int32_t family;
	int32_t type;           /* SOCK_STREAM or SOCK_DGRAM, flags stripped */
	int32_t protocol;
	uint32_t opts;          /* BIND_OPT_* */
	uint32_t umask;         /* AF_UNIX: the file mode mask to bind with */
	uint32_t addrlen;
	struct sockaddr_storage addr;
};

/* How the shim must treat the fd that comes with a bind reply. */
enum bind_mode {
	BIND_MODE_SOCKET = 1,   /* a real listening socket: accept natively */
	BIND_MODE_CHANNEL,      /* a channel: accept = receive a MSG_CONN */
};

struct msg_bind_reply {
	struct msg_hdr hdr;
	int32_t err;            /* 0, or the errno bind() must fail with */
	uint32_t listener;      /* listener id, used in later reports */
	uint32_t mode;          /* enum bind_mode */
	int32_t type;           /* SOCK_STREAM or SOCK_DGRAM */
	int32_t protocol;       /* as SO_PROTOCOL reports it */
	uint32_t addrlen;
	struct sockaddr_storage addr;   /* the address actually bound */
};

/* MSG_LISTEN, MSG_UNLISTEN, MSG_CONN_CLOSED, MSG_BOARD, MSG_RELEASE,
 * MSG_FDS_SHORT (where backlog carries the reporting process's pid) */
struct msg_listener {
	struct msg_hdr hdr;
	uint32_t listener;
	int32_t backlog;
};

struct msg_conn {
	struct msg_hdr hdr;
	uint32_t addrlen;
	struct sockaddr_storage peer;
};

/*
 * The board: one page shared by the master and every process of one worker
 * (forked children inherit the mapping).  Per listener id:
 *
 *   accepted   connections the app accepted itself (shared, reuseport);
 *   closed     connections the app closed, any policy (no message per
 *              close: the master reads the counter when it needs it);
 *   received   connections the app took off its channel (a channel
 *              policy): the master's estimate of what is still queued
 *              there, without an ioctl per connection;
 *   in_accept  threads between their look at `drain` and the end of the
 *              accept system call.
 *
 * and for the whole worker, `retiring`: set (never cleared) by the master
 * when the worker starts to leave (reload, scale-down, stop, recycle).
 * While it is set the shim closes each keep-alive HTTP/1.x connection
 * (shutdown SHUT_WR) right behind the last byte of a complete response,
 * so that clients take their next request to another worker
 * (shim/hooks_io.c).  While it is clear the shim's data-path hooks cost
 * one load of it.
 *
 * Drain without a lost connection (Dekker's handshake, all seq_cst): the
 * shim increments in_accept, then reads the drain bit, and only accepts
 * when it is clear; the master sets the bit, then waits until in_accept is
 * 0.  After that no thread of the worker can take a new connection from
 * that listener, and every one it took is in a process's fd table, where
 * the master's census (launcher/net/census.c) finds it.
 */
#define BOARD_MAGIC 0x43524232u         /* "CRB2": the layout below */

struct board_counts {
	_Atomic uint64_t accepted;
	_Atomic uint64_t closed;
	_Atomic uint64_t received;
	_Atomic uint32_t in_accept;
	uint32_t pad;
};

/*
 * Connection durations (version 5): how long each connection the app
 * accepted lived, from its accept (for a channel policy: the receive of
 * its MSG_CONN, the app's accept) to the close the shim saw, whichever
 * hook it went through.  Per worker, all listeners together.  dur_bucket[i]
 * counts the durations in (bound(i-1), bound(i)] (board_duration_bound_us;
 * NOT cumulative, so that a close is one atomic add), the last one those
 * above 60 s (+Inf); dur_sum_us is their sum in microseconds.  The
 * reader makes the count from the buckets (so that +Inf == count always
 * holds in what it shows), and the sum may lag them by a close or two.
 * Bounds are log-spaced (1-2.5-5 steps), from 1 ms to 60 s.
 */
#define BOARD_DURATION_BUCKETS 16

struct worker_board {
	uint32_t magic;
	uint32_t version;               /* CLUSTER_PROTO_VERSION */
	_Atomic uint64_t drain;         /* bit i: stop accepting on listener i */
	_Atomic uint32_t retiring;      /* 1: close keep-alive connections (v5) */
	uint32_t pad;
	struct board_counts l[CLUSTER_MAX_LISTENERS];
	_Atomic uint64_t dur_bucket[BOARD_DURATION_BUCKETS];
	_Atomic uint64_t dur_sum_us;
};

/* The upper bound of duration bucket i in microseconds, inclusive;
 * UINT64_MAX for the last one (+Inf). */
static inline uint64_t board_duration_bound_us(int i)
{
	static const uint32_t bound[BOARD_DURATION_BUCKETS - 1] = {
		1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000,
		1000000, 2500000, 5000000, 10000000, 30000000, 60000000,
	};

	return i >= 0 && i < BOARD_DURATION_BUCKETS - 1 ? bound[i] : UINT64_MAX;
}

/* The bucket a duration of us microseconds falls in. */
static inline int board_duration_bucket(uint64_t us)
{
	int i;

	for (i = 0; i < BOARD_DURATION_BUCKETS - 1; i++)
		if (us <= board_duration_bound_us(i))
			break;
	return i;
}

/* Size each message type must have; 0 for an unknown type. */
static inline size_t msg_size(uint16_t type)
{
	switch (type) {
	case MSG_ATTACH:      return sizeof(struct msg_attach);
	case MSG_BIND:
	case MSG_UNLINK:      return sizeof(struct msg_bind);
	case MSG_BIND_REPLY:  return sizeof(struct msg_bind_reply);
	case MSG_LISTEN:
	case MSG_UNLISTEN:
	case MSG_RELEASE:
	case MSG_BOARD:
	case MSG_CONN_CLOSED:
	case MSG_FDS_SHORT:   return sizeof(struct msg_listener);
	case MSG_CONN:        return sizeof(struct msg_conn);
	default:              return 0;
	}
}

/* The address length field at offset off fits its sockaddr_storage. */
static inline int msg_addrlen_ok(const void *buf, size_t off)
{
	uint32_t len;

	memcpy(&len, (const char *)buf + off, sizeof(len));
	return len <= sizeof(struct sockaddr_storage);
}

/* True when the n bytes received form a well-formed message: known type,
 * exact length, and address lengths inside their buffers. */
static inline int msg_valid(const void *buf, size_t n)
{
	const struct msg_hdr *h = buf;

	if (n < sizeof(*h) || h->len != n || msg_size(h->type) != n)
		return 0;
	switch (h->type) {
	case MSG_BIND:
	case MSG_UNLINK:
		return msg_addrlen_ok(buf, offsetof(struct msg_bind, addrlen));
	case MSG_BIND_REPLY:
		return msg_addrlen_ok(buf, offsetof(struct msg_bind_reply, addrlen));
	case MSG_CONN:
		return msg_addrlen_ok(buf, offsetof(struct msg_conn, addrlen));
	default:
		return 1;
	}
}

static inline void msg_init(void *msg, uint16_t type, uint32_t seq)
{
	struct msg_hdr *h = msg;

	h->type = type;
	h->len = (uint16_t)msg_size(type);
	h->seq = seq;
}

/* fdpass.c: the fd-passing helpers both sides link (no hooks inside), for
 * any message (the launcher's seccomp hand-over sends one byte with them).
 * msg_send: one message, with fd attached when fd >= 0.  Returns 0 or -1
 * with errno (EAGAIN/EWOULDBLOCK with MSG_DONTWAIT when the peer is full).
 * Async-signal-safe: fine between fork and exec.
 * msg_recv: one message into buf (cap bytes); *fd gets the attached fd or
 * -1 (extra fds are closed).  Returns the byte count, 0 at EOF, -1 with
 * errno: EBADMSG for an oversized message or too many fds (dropped),
 * EMFILE when the fd that came with it could not be installed (the
 * message is consumed and its fd lost).  flags are recvmsg flags
 * (MSG_DONTWAIT, MSG_CMSG_CLOEXEC, MSG_PEEK). */
int msg_send(int sock, const void *msg, size_t len, int fd, int flags);
ssize_t msg_recv(int sock, void *buf, size_t cap, int *fd, int flags);

/* bindopt.c: BIND_OPT_* and the socket options they stand for, for a
 * socket of family and type (SO_DOMAIN, SO_TYPE): none for AF_UNIX,
 * IPV6_V6ONLY only for AF_INET6, TCP_NODELAY only for SOCK_STREAM.
 * bindopt_read: the bits of the options set on fd (one that cannot be read
 * counts as off).  bindopt_apply: set fd's options to what opts says, off
 * ones included; 0, or -1 with the errno of the first that failed (the
 * others are set all the same).  bindopt_bit: the bit for (level, name),
 * 0 when that option is not one of them.  In the shim they reach the
 * socket itself, not the getsockopt/setsockopt hooks. */
uint32_t bindopt_read(int fd, int family, int type);
int bindopt_apply(int fd, int family, int type, uint32_t opts);
uint32_t bindopt_bit(int level, int name);

#endif
