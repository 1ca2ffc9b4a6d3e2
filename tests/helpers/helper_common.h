/*
 * helper_common.h - what the test servers under tests/helpers/ share.
 *
 * The helpers play "unmodified servers": plain programs that use the
 * ordinary socket API and know nothing about cluster-run.  This module holds
 * the parts they have in common: the command line (--addr, --port, ... and
 * the lifecycle switches the tests use to make a worker crash, exit, stall or
 * stop gracefully), opening a listener, and the one-request protocol:
 *
 *   client:  anything up to "\r\n\r\n" (or EOF, or 4 KiB)
 *   server:  "HTTP/1.0 200 OK" headers, then key=value lines (worker, pid,
 *            port, listener, peer, then whatever the program adds), close.
 *
 * It is not a library for the tests themselves, and it never calls into the
 * shim: everything goes through libc exactly as a real server's calls would.
 * helper_options.c holds the command line and signals, helper_common.c the
 * sockets and the reply.
 */
#ifndef HELPER_COMMON_H
#define HELPER_COMMON_H

#include <signal.h>
#include <stddef.h>
#include <sys/socket.h>

#define HELPER_REQUEST_MAX 4096
#define HELPER_REPLY_MAX   8192

struct helper_opts {
	const char *prog;        /* argv[0] without its directory */
	const char *worker;      /* CLUSTER_WORKER_ID read at start, or "-" */
	const char *addr;        /* numeric IPv4 or IPv6 address */
	int port;
	int v6only;              /* -1: leave the system default */
	int reuseaddr;
	int reuseport;           /* SO_REUSEPORT before bind */
	int backlog;
	int crash_after;         /* abort() after this many replies; 0: never */
	int exit_at_start;       /* -1: do not */
	int exit_after_bind;     /* -1: do not */
	int listen_delay_ms;
	int ignore_term;
	int graceful;
	int slow_ms;
	int hold;
	int print_accepted;      /* "accepted <peer>" on stdout per connection */
	int nofile;              /* --nofile: soft RLIMIT_NOFILE at start; 0: as is */
	int fill_fds_after;      /* --fill-fds-after K: after K replies, open
				  * /dev/null until the fd table is full and
				  * keep it so (a leak); 0: never */
	int stall_worker;        /* -1, or the CLUSTER_WORKER_ID that binds but
				  * never listens (waits for a signal) */
};

/* Program-specific options, given to helper_parse() as a table ending with
 * a zeroed entry.  HELPER_INT and HELPER_STR take the next argument and
 * store it in *(int *)value or *(const char **)value; HELPER_FLAG sets
 * *(int *)value to 1. */
enum helper_kind { HELPER_FLAG = 1, HELPER_INT, HELPER_STR };
struct helper_option {
	const char *name;
	enum helper_kind kind;
	void *value;
};

/* Set by SIGTERM under --graceful: stop accepting, finish, exit 0. */
extern volatile sig_atomic_t helper_stopping;

/* Fill *o from argv (common options plus extra, which may be NULL).
 * Returns 0, or -1 after printing usage.  Honours --exit-at-start. */
int helper_parse(struct helper_opts *o, int argc, char **argv,
		 const struct helper_option *extra);

/* --ignore-term and --graceful.  Without either, SIGTERM kills as usual. */
int helper_setup_signals(const struct helper_opts *o);

/* helper_bind() then helper_start_listening(): the listening fd, or -1
 * after printing why. */
int helper_listen(const struct helper_opts *o, int port);

/* socket(), --reuseaddr, --reuseport, --v6only, bind().  Returns the bound fd, or -1
 * after printing why (a bind failure as "<prog>: bind <addr>:<port>:
 * <strerror>", which the tests compare with an unclustered run). */
int helper_bind(const struct helper_opts *o, int port);

/* --exit-after-bind, --stall-worker, --listen-delay-ms, listen().  0, or -1 after printing
 * why (fd is left open). */
int helper_start_listening(const struct helper_opts *o, int fd);

/* Print "listening <addr> <port>" on stdout and flush it. */
void helper_announce(const struct helper_opts *o, int fd);

/* The port getsockname() reports for fd, or -1. */
int helper_local_port(int fd);

/* "ip:port", "[ip6]:port", or "unknown(family=F,len=L)" when accept()
 * returned something that is not an IP address. */
void helper_format_peer(const struct sockaddr_storage *ss, socklen_t len,
			char *buf, size_t size);

/* Nonzero once buf holds a whole request (blank line seen, or full). */
int helper_request_complete(const char *buf, size_t len);

/* Format the reply for a connection accepted on listen_fd.  extra is more
 * "key=value\n" lines, or NULL.  Returns its length, or -1 if it does not
 * fit. */
int helper_format_reply(const struct helper_opts *o, char *out, size_t size,
			int listen_fd, const char *listener,
			const struct sockaddr_storage *peer, socklen_t peer_len,
			const char *extra);

/* Serve one connection with blocking I/O: --print-accepted, read the
 * request, --slow-ms, reply, --hold, close, count (see helper_count_served).  EINTR is retried,
 * so a graceful stop finishes the connection in progress. */
void helper_serve(const struct helper_opts *o, int conn, int listen_fd,
		  const char *listener, const struct sockaddr_storage *peer,
		  socklen_t peer_len, const char *extra);

/* Count one served connection; abort() when --crash-after is reached.
 * Thread-safe. */
void helper_count_served(const struct helper_opts *o);

/* What to do after accept() failed with err: 0 to try again (EINTR,
 * EAGAIN, aborted connections, fd exhaustion after a pause), -1 when the
 * listener itself is broken (message printed). */
int helper_accept_error(const struct helper_opts *o, int err);

/* Sleep ms milliseconds, resuming after signals. */
void helper_sleep_ms(int ms);

#endif
