/*
 * hooks_io.c - the data path: read, readv, recv, recvfrom, recvmsg (and
 * their _FORTIFY_SOURCE forms __read_chk, __recv_chk, __recvfrom_chk),
 * write, writev, send, sendto, sendmsg, sendfile, sendfile64.  They exist for one
 * job: while the worker retires (the board's `retiring`, protocol.h), end
 * each keep-alive HTTP/1.x connection right behind a complete response,
 * so that the client sees the close with the response and takes its next
 * request to another worker, instead of the worker waiting out --grace
 * for clients that never go.
 *
 * Until then every hook is the libc call plus one load of the flag and a
 * branch (through a pointer that points at a zero until the board is
 * mapped): this is every program's hot path.  While retiring, an accepted
 * connection (conn_peek: this process accepted it) gets a tracker
 * (http_boundary.c) that reads what the app reads and writes.  When a
 * write is about to complete a response on a TCP connection (only TCP:
 * see cork()), the shim corks the socket
 * (TCP_CORK, when the app had not), writes, asks the kernel whether the
 * client already sent more (SIOCINQ), and if not calls shutdown(SHUT_WR)
 * before uncorking: the kernel then sends the response's last segment
 * and the FIN together (tcp_send_fin tacks the FIN onto an unsent
 * segment and pushes it past the cork), so a client can never read the
 * whole response and then find the connection open.  A client that sends
 * its next request after that reads the FIN first.  With a request
 * queued, the shim lets it be served and closes after that response.
 * After the shim's shutdown, the app's writes on that fd fail with EPIPE
 * and no SIGPIPE (the app did not shut it down: a signal it never asked
 * for could kill it); its reads go on, and see the client's close.
 *
 * The trackers live in one array indexed by fd, mapped (anonymous, never
 * freed) the first time a retiring process needs one: no malloc, and no
 * cost to a worker that never retires.  Each has a one-byte lock taken by
 * trying only: a thread or a signal handler that finds it taken does not
 * wait, it marks the connection lost and the holder stops tracking it
 * (a wrong boundary would cut a response short; a lost one only waits
 * for the grace).  Per process: a forked child tracks what it accepts.
 *
 * Owns the trackers.  Must not change what any call does to an fd that
 * is not an accepted connection, or to any fd before the worker retires;
 * must not close a connection anywhere but at a response's end.  Not
 * here: connections idle at retire (no call comes) and non-HTTP streams,
 * left to the master's idle closer and the grace.
 */
#include "shim.h"
#include "real.h"
#include "http_boundary.h"

#include <errno.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdatomic.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/uio.h>

#define IO_FDS 65536            /* as conn_track's bound (fdtable.c) */

ssize_t shim_read(int fd, void *buf, size_t n) SHIM_EXPORT(read);
ssize_t shim_readv(int fd, const struct iovec *iov, int cnt) SHIM_EXPORT(readv);
ssize_t shim_recv(int fd, void *buf, size_t n, int flags) SHIM_EXPORT(recv);
ssize_t shim_recvfrom(int fd, void *buf, size_t n, int flags, struct sockaddr *addr,
		      socklen_t *len) SHIM_EXPORT(recvfrom);
ssize_t shim_recvmsg(int fd, struct msghdr *msg, int flags) SHIM_EXPORT(recvmsg);
ssize_t shim_write(int fd, const void *buf, size_t n) SHIM_EXPORT(write);
ssize_t shim_writev(int fd, const struct iovec *iov, int cnt) SHIM_EXPORT(writev);
ssize_t shim_send(int fd, const void *buf, size_t n, int flags) SHIM_EXPORT(send);
ssize_t shim_sendto(int fd, const void *buf, size_t n, int flags,
		    const struct sockaddr *addr, socklen_t len) SHIM_EXPORT(sendto);
ssize_t shim_sendmsg(int fd, const struct msghdr *msg, int flags) SHIM_EXPORT(sendmsg);
ssize_t shim_sendfile(int out, int in, off_t *off, size_t n) SHIM_EXPORT(sendfile);
ssize_t shim_sendfile64(int out, int in, off_t *off, size_t n) SHIM_EXPORT(sendfile64);
/* what _FORTIFY_SOURCE turns read and recv into when it knows the size */
ssize_t shim_read_chk(int fd, void *buf, size_t n, size_t cap) SHIM_EXPORT(__read_chk);
ssize_t shim_recv_chk(int fd, void *buf, size_t n, size_t cap, int flags)
	SHIM_EXPORT(__recv_chk);
ssize_t shim_recvfrom_chk(int fd, void *buf, size_t n, size_t cap, int flags,
			  struct sockaddr *addr, socklen_t *len) SHIM_EXPORT(__recvfrom_chk);
void __chk_fail(void) __attribute__((noreturn));

enum { LOCK_HELD = 1, LOCK_LOST = 2 };

struct conn_io {
	_Atomic uint8_t lock;   /* LOCK_HELD, | LOCK_LOST: a caller gave up */
	uint8_t shut;           /* the shim shut it down: writes fail */
	struct http_boundary hb;
};

static _Atomic uint32_t never;
static _Atomic uint32_t *_Atomic retiring_word = &never;
static struct conn_io *_Atomic conns;

void io_watch_board(struct worker_board *b)
{
	atomic_store(&retiring_word, &b->retiring);
}

static inline int retiring(void)
{
	_Atomic uint32_t *w = atomic_load_explicit(&retiring_word, memory_order_relaxed);

	return __builtin_expect(atomic_load_explicit(w, memory_order_relaxed) != 0, 0);
}

/* The array, mapped on first use; NULL when it cannot be.  Two threads
 * racing both map, one keeps its copy. */
static struct conn_io *conn_table(int create)
{
	struct conn_io *t = atomic_load(&conns), *expect = NULL;
	void *p;

	if (t || !create)
		return t;
	p = mmap(NULL, IO_FDS * sizeof(struct conn_io), PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	if (!atomic_compare_exchange_strong(&conns, &expect, p)) {
		munmap(p, IO_FDS * sizeof(struct conn_io));
		return expect;
	}
	return p;
}

void io_conn_opened(int fd)
{
	struct conn_io *t = conn_table(0);

	if (t && fd >= 0 && fd < IO_FDS) {
		hb_init_idle(&t[fd].hb);        /* at a boundary: nothing read yet */
		t[fd].shut = 0;
		atomic_store(&t[fd].lock, 0);
	}
}

void io_conn_closed(int fd)
{
	struct conn_io *t = conn_table(0);

	if (t && fd >= 0 && fd < IO_FDS) {
		t[fd].hb.state = HB_UNKNOWN;
		t[fd].shut = 0;
	}
}

/* fd's tracker, locked; NULL for an fd that is not an accepted
 * connection, or when another holder has it (see the file comment). */
static struct conn_io *conn_lock(int fd)
{
	struct conn_io *c, *t;
	uint8_t cur;

	if (fd < 0 || fd >= IO_FDS || conn_peek(fd) < 0 || !(t = conn_table(1)))
		return NULL;
	c = &t[fd];
	for (;;) {
		cur = 0;
		if (atomic_compare_exchange_strong(&c->lock, &cur, LOCK_HELD))
			return c;
		if (cur == LOCK_LOST) {         /* free, but a caller gave up */
			if (atomic_compare_exchange_strong(&c->lock, &cur, LOCK_HELD)) {
				c->hb.state = HB_UNTRACKED;
				return c;
			}
		} else if (atomic_compare_exchange_strong(&c->lock, &cur, cur | LOCK_LOST)) {
			return NULL;
		}
	}
}

static void conn_unlock(struct conn_io *c)
{
	uint8_t cur = LOCK_HELD;

	if (!atomic_compare_exchange_strong(&c->lock, &cur, 0)) {
		c->hb.state = HB_UNTRACKED;     /* someone's bytes went unseen */
		atomic_store(&c->lock, 0);
	}
}

static int tracking(const struct conn_io *c)
{
	return c->hb.state != HB_UNKNOWN && c->hb.state != HB_UNTRACKED;
}

/* ---- reads ---- */

static void feed_in(int fd, const struct iovec *iov, int cnt, size_t got)
{
	struct conn_io *c = conn_lock(fd);
	int i;

	if (!c)
		return;
	for (i = 0; i < cnt && got > 0; i++) {
		size_t n = iov[i].iov_len < got ? iov[i].iov_len : got;
		hb_read(&c->hb, iov[i].iov_base, n);
		got -= n;
	}
	conn_unlock(c);
}

/* The read slow path: only after bytes came, while retiring. */
__attribute__((noinline)) static void saw_read(int fd, const struct iovec *iov, int cnt,
					       ssize_t got)
{
	int saved = errno;

	feed_in(fd, iov, cnt, (size_t)got);
	errno = saved;
}

ssize_t shim_read(int fd, void *buf, size_t n)
{
	ssize_t r = real_read(fd, buf, n);

	if (r > 0 && retiring())
		saw_read(fd, &(struct iovec){ buf, (size_t)r }, 1, r);
	return r;
}

ssize_t shim_readv(int fd, const struct iovec *iov, int cnt)
{
	ssize_t r = real_readv(fd, iov, cnt);

	if (r > 0 && retiring())
		saw_read(fd, iov, cnt, r);
	return r;
}

ssize_t shim_recv(int fd, void *buf, size_t n, int flags)
{
	ssize_t r = real_recv(fd, buf, n, flags);

	if (r > 0 && retiring() && !(flags & MSG_PEEK))
		saw_read(fd, &(struct iovec){ buf, (size_t)r }, 1, r);
	return r;
}

ssize_t shim_recvfrom(int fd, void *buf, size_t n, int flags, struct sockaddr *addr,
		      socklen_t *len)
{
	ssize_t r = real_recvfrom(fd, buf, n, flags, addr, len);

	if (r > 0 && retiring() && !(flags & MSG_PEEK))
		saw_read(fd, &(struct iovec){ buf, (size_t)r }, 1, r);
	return r;
}

ssize_t shim_recvmsg(int fd, struct msghdr *msg, int flags)
{
	ssize_t r = real_recvmsg(fd, msg, flags);

	if (r > 0 && retiring() && !(flags & MSG_PEEK) && msg->msg_iov)
		saw_read(fd, msg->msg_iov, (int)msg->msg_iovlen, r);
	return r;
}

/* The checks libc's own make (buffer overflow: abort), then the hooks. */
ssize_t shim_read_chk(int fd, void *buf, size_t n, size_t cap)
{
	if (n > cap)
		__chk_fail();
	return shim_read(fd, buf, n);
}

ssize_t shim_recv_chk(int fd, void *buf, size_t n, size_t cap, int flags)
{
	if (n > cap)
		__chk_fail();
	return shim_recv(fd, buf, n, flags);
}

ssize_t shim_recvfrom_chk(int fd, void *buf, size_t n, size_t cap, int flags,
			  struct sockaddr *addr, socklen_t *len)
{
	if (n > cap)
		__chk_fail();
	return shim_recvfrom(fd, buf, n, flags, addr, len);
}

/* ---- writes ---- */

/* One write-family call, described for the slow path: its bytes (iov, or
 * opaque for sendfile) and how to make it. */
struct out_call {
	const struct iovec *iov;
	int cnt;
	uint64_t opaque;        /* sendfile: bytes not shown */
	/* the arguments the real call needs */
	int flags;
	const struct msghdr *msg;
	const struct sockaddr *addr;
	socklen_t addrlen;
	int in;
	off_t *off;
	int kind;               /* which call */
};

enum { OUT_WRITE, OUT_WRITEV, OUT_SEND, OUT_SENDTO, OUT_SENDMSG, OUT_SENDFILE };

static ssize_t make_call(int fd, const struct out_call *o)
{
	switch (o->kind) {
	case OUT_WRITE:
		return real_write(fd, o->iov[0].iov_base, o->iov[0].iov_len);
	case OUT_WRITEV:
		return real_writev(fd, o->iov, o->cnt);
	case OUT_SEND:
		return real_send(fd, o->iov[0].iov_base, o->iov[0].iov_len, o->flags);
	case OUT_SENDTO:
		return real_sendto(fd, o->iov[0].iov_base, o->iov[0].iov_len, o->flags,
				   o->addr, o->addrlen);
	case OUT_SENDMSG:
		return real_sendmsg(fd, o->msg, o->flags);
	default:
		return real_sendfile(fd, o->in, o->off, (size_t)o->opaque);
	}
}

/* Feed the first `upto` bytes of the call to hb: 1 when they end a
 * response at rest (hb_write). */
static int feed_out(struct http_boundary *hb, const struct out_call *o, uint64_t upto)
{
	int i, ended = 0;

	if (o->kind == OUT_SENDFILE)
		return hb_write_opaque(hb, upto);
	for (i = 0; i < o->cnt && upto > 0; i++) {
		size_t n = o->iov[i].iov_len < upto ? o->iov[i].iov_len : (size_t)upto;
		if (n == 0)
			continue;
		ended = hb_write(hb, o->iov[i].iov_base, n);
		upto -= n;
	}
	return ended;
}

static uint64_t out_total(const struct out_call *o)
{
	uint64_t t = o->opaque;
	int i;

	for (i = 0; i < o->cnt; i++)
		t += o->iov[i].iov_len;
	return t;
}

/* The bytes are read before the call (to cork in time): a call whose
 * buffers are missing is left to libc, which fails it with EFAULT. */
static int readable(const struct out_call *o)
{
	int i;

	if (o->cnt > 0 && !o->iov)
		return 0;
	for (i = 0; i < o->cnt; i++)
		if (!o->iov[i].iov_base && o->iov[i].iov_len)
			return 0;
	return 1;
}

/* TCP_CORK on, unless the app had it on: 1 when the shim set it, 0 when
 * the app's cork holds the data, -1 when fd is not TCP.  Only TCP is
 * closed behind a response: elsewhere (a unix stream) nothing makes the
 * end of the data and the close arrive together, and a client could
 * send its next request between them. */
static int cork(int fd)
{
	int on = 0, one = 1;
	socklen_t len = sizeof(on);

	if (real_getsockopt(fd, IPPROTO_TCP, TCP_CORK, &on, &len) < 0)
		return -1;
	if (on)
		return 0;
	return real_setsockopt(fd, IPPROTO_TCP, TCP_CORK, &one, sizeof(one)) == 0 ? 1 : -1;
}

static void uncork(int fd)
{
	int off = 0;

	real_setsockopt(fd, IPPROTO_TCP, TCP_CORK, &off, sizeof(off));
}

/* The client has sent nothing more: closing now loses no request. */
static int nothing_queued(int fd)
{
	int n = -1;

	return real_ioctl(fd, SIOCINQ, &n) == 0 && n == 0;
}

/* The write slow path, while retiring (see the file comment). */
__attribute__((noinline)) static ssize_t tracked_out(int fd, const struct out_call *o)
{
	struct conn_io *c = conn_lock(fd);
	struct http_boundary after;
	uint64_t total;
	int ends, corked = 0, saved;
	ssize_t r;

	if (!c)
		return make_call(fd, o);
	if (c->shut) {
		conn_unlock(c);
		errno = EPIPE;  /* as after the app's own shutdown, minus SIGPIPE */
		return -1;
	}
	if (!tracking(c) || !readable(o)) {
		conn_unlock(c);
		return make_call(fd, o);
	}
	total = out_total(o);
	after = c->hb;
	ends = feed_out(&after, o, total);
	if (ends && (corked = cork(fd)) < 0)
		ends = 0;               /* not TCP: left alone */
	r = make_call(fd, o);
	saved = errno;
	if (r > 0) {
		if ((uint64_t)r != total)       /* short: only what went */
			feed_out(&c->hb, o, (uint64_t)r);
		else
			c->hb = after;
		/* all of the call written, and it ended a response: the
		 * app has nothing more to say on it */
		if ((uint64_t)r == total && ends && nothing_queued(fd) &&
		    real_shutdown(fd, SHUT_WR) == 0) {
			c->shut = 1;
			shim_debug("fd %d: closed behind a response (retiring)", fd);
		}
	}
	if (corked > 0)
		uncork(fd);
	conn_unlock(c);
	errno = saved;
	return r;
}

ssize_t shim_write(int fd, const void *buf, size_t n)
{
	struct iovec v;
	struct out_call o;

	if (!retiring())
		return real_write(fd, buf, n);
	v = (struct iovec){ (void *)buf, n };
	o = (struct out_call){ .iov = &v, .cnt = 1, .kind = OUT_WRITE };
	return tracked_out(fd, &o);
}

ssize_t shim_writev(int fd, const struct iovec *iov, int cnt)
{
	struct out_call o;

	if (!retiring())
		return real_writev(fd, iov, cnt);
	if (cnt < 0) {
		errno = EINVAL;
		return -1;
	}
	o = (struct out_call){ .iov = iov, .cnt = cnt, .kind = OUT_WRITEV };
	return tracked_out(fd, &o);
}

ssize_t shim_send(int fd, const void *buf, size_t n, int flags)
{
	struct iovec v;
	struct out_call o;

	if (!retiring())
		return real_send(fd, buf, n, flags);
	v = (struct iovec){ (void *)buf, n };
	o = (struct out_call){ .iov = &v, .cnt = 1, .flags = flags, .kind = OUT_SEND };
	return tracked_out(fd, &o);
}

ssize_t shim_sendto(int fd, const void *buf, size_t n, int flags,
		    const struct sockaddr *addr, socklen_t len)
{
	struct iovec v;
	struct out_call o;

	if (!retiring())
		return real_sendto(fd, buf, n, flags, addr, len);
	v = (struct iovec){ (void *)buf, n };
	o = (struct out_call){ .iov = &v, .cnt = 1, .flags = flags, .addr = addr,
			       .addrlen = len, .kind = OUT_SENDTO };
	return tracked_out(fd, &o);
}

ssize_t shim_sendmsg(int fd, const struct msghdr *msg, int flags)
{
	struct out_call o;

	if (!retiring() || !msg)
		return real_sendmsg(fd, msg, flags);
	o = (struct out_call){ .iov = msg->msg_iov, .cnt = (int)msg->msg_iovlen,
			       .flags = flags, .msg = msg, .kind = OUT_SENDMSG };
	return tracked_out(fd, &o);
}

ssize_t shim_sendfile(int out, int in, off_t *off, size_t n)
{
	struct out_call o;

	if (!retiring())
		return real_sendfile(out, in, off, n);
	o = (struct out_call){ .opaque = n, .in = in, .off = off, .kind = OUT_SENDFILE };
	return tracked_out(out, &o);
}

/* off_t is 64 bits here (x86_64, _FILE_OFFSET_BITS=64): the same call. */
ssize_t shim_sendfile64(int out, int in, off_t *off, size_t n)
{
	return shim_sendfile(out, in, off, n);
}
