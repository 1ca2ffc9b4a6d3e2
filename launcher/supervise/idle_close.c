/*
 * idle_close.c - ending the idle keep-alive connections of a draining
 * worker that nothing else would end.
 *
 * A worker that drains is stopped once its processes hold none of the
 * cluster's connections (retire.c).  A keep-alive client keeps its
 * connection open between requests, and most servers close it only when
 * they are stopped, so a worker with an idle keep-alive connection waits
 * the whole --grace.  The shim ends HTTP/1.x connections behind a complete
 * response (shim side), but it never sees a connection no call of the app
 * touches while it drains: one idle since before the retire, a protocol
 * other than HTTP, or any connection of a program without the shim
 * (static and Go programs clustered through seccomp).  This module ends
 * those from the master:
 *
 *   1. census.c finds the cluster's connections among the fds of the
 *      worker's processes;
 *   2. each is duplicated from its process with pidfd_getfd (the master
 *      is their ancestor: ptrace access, as seccomp_notify.c takes
 *      sockets), and kept only if the duplicate is that very socket;
 *   3. one is idle when nothing waits to be read or to be acknowledged
 *      (SIOCINQ, SIOCOUTQ), nobody shut it yet (no POLLRDHUP), and no
 *      data went either way for IDLE_CLOSE_MS (TCP_INFO);
 *   4. shutdown(SHUT_RD) on the duplicate: it acts on the socket itself,
 *      so the app's next read returns EOF, as if the client had closed
 *      its side, and the app closes the connection the way it closes any
 *      finished one; the client sees a FIN, not a reset.
 *
 * Why SHUT_RD and not SHUT_WR: SHUT_WR would send the FIN at once, but a
 * connection that looks idle may carry a request the app is still working
 * on (it read the request more than IDLE_CLOSE_MS ago, and has not
 * answered yet): after SHUT_WR its answer could not be sent and the
 * request would be lost.  After SHUT_RD the answer still goes out, and the
 * app meets the EOF when it reads for the next request.  SHUT_RD leaves
 * the socket ESTABLISHED; what says it was shut already is POLLRDHUP,
 * which the kernel reports for a shut read side as for a client's FIN.
 * It also narrows the race with a client that sends its next request
 * just then: bytes that arrive after SHUT_RD are still queued and read
 * before the EOF (checked on this machine's kernel: recv gave the
 * request, then 0; the answer reached the client, then a FIN), so the
 * request is lost only if it arrives after the app read EOF and closed.
 *
 * Why IDLE_CLOSE_MS is 1 s: it is how long a request may take without
 * the app seeing EOF while it works on it (Go cancels a request's context
 * when its connection reads EOF), and what a retire may wait longer than
 * needed for a connection that just went idle.  A client that sends its
 * next request just as the connection is shut meets the race every
 * closing keep-alive server has (nginx closes idle keep-alive connections
 * at once on a graceful stop); careful clients check a reused connection
 * before sending (bench/loadgen --careful) and retry idempotent requests.
 *
 * Only TCP connections (TCP_INFO says when a unix stream connection was
 * last used: it does not).  Nothing here decides when a worker stops.
 */
#include "supervise/idle_close.h"
#include "cluster.h"
#include "base/log.h"
#include "base/loop.h"
#include "net/census.h"

#include <errno.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#define IDLE_CLOSE_MS 1000      /* no data either way for this long: idle */
#define SWEEP_EVERY_MS 100      /* a drain check is every 25 ms; a sweep walks
				 * the fd tables again and takes each socket */

struct sweep {
	pid_t pid;              /* whose pidfd is open */
	int pidfd;
	int closed;             /* connections shut in this sweep */
	int unreachable;        /* pidfd_getfd failed (reported once) */
	int err;
};

/* Whether the socket sock (a duplicate) is an idle TCP connection that
 * nobody shut yet. */
static int is_idle(int sock)
{
	struct tcp_info ti;
	socklen_t len = sizeof(ti);
	struct pollfd p = { .fd = sock, .events = POLLIN | POLLRDHUP };
	int inq = 0, outq = 0;

	if (getsockopt(sock, IPPROTO_TCP, TCP_INFO, &ti, &len) < 0 ||
	    ti.tcpi_state != TCP_ESTABLISHED)
		return 0;
	if (poll(&p, 1, 0) != 0)        /* data, a FIN, our own SHUT_RD, an error */
		return 0;
	if (ioctl(sock, SIOCINQ, &inq) < 0 || ioctl(sock, SIOCOUTQ, &outq) < 0 ||
	    inq || outq)
		return 0;
	return ti.tcpi_last_data_recv >= IDLE_CLOSE_MS &&
	       ti.tcpi_last_data_sent >= IDLE_CLOSE_MS;
}

static int pidfd_for(struct sweep *s, pid_t pid)
{
	if (s->pid == pid)
		return s->pidfd;
	if (s->pidfd >= 0)
		close(s->pidfd);
	s->pid = pid;
	s->pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	return s->pidfd;
}

static void close_if_idle(pid_t pid, int fd, unsigned long ino, void *arg)
{
	struct sweep *s = arg;
	struct stat st;
	int pidfd = pidfd_for(s, pid), sock;

	if (pidfd < 0)
		return;                 /* gone since the walk */
	if ((sock = (int)syscall(SYS_pidfd_getfd, pidfd, fd, 0)) < 0) {
		if (errno != EBADF && errno != ESRCH && !s->unreachable++)
			s->err = errno;
		return;
	}
	/* the fd may have been closed and its number reused since the walk */
	if (fstat(sock, &st) == 0 && st.st_ino == ino && is_idle(sock) &&
	    shutdown(sock, SHUT_RD) == 0)
		s->closed++;
	close(sock);
}

int idle_close_sweep(struct cluster *c, struct worker *w, struct census *cs)
{
	struct sweep s = { .pid = 0, .pidfd = -1 };

	if (!cs || loop_now_ms() - w->idle_swept_ms < SWEEP_EVERY_MS)
		return 0;
	w->idle_swept_ms = loop_now_ms();
	census_each_held(cs, w, close_if_idle, &s);
	if (s.pidfd >= 0)
		close(s.pidfd);
	if (s.unreachable && !w->idle_close_warned) {
		w->idle_close_warned = 1;
		errno = s.err;
		log_warn("worker %d (pid %d): cannot reach its connections to close "
			 "idle ones", w->slot, (int)w->pid);
	}
	if (s.closed) {
		c->idle_closed += (uint64_t)s.closed;
		log_event("worker %d (pid %d): closed %d idle connection%s", w->slot,
			  (int)w->pid, s.closed, s.closed == 1 ? "" : "s");
	}
	return s.closed;
}
