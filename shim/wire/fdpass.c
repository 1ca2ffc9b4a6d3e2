/*
 * fdpass.c - send and receive one message with an optional fd
 * (SCM_RIGHTS): the only code in the project that builds or parses that
 * control message.
 *
 * Linked into both the shim and the launcher; it calls sendmsg/recvmsg,
 * which the shim does not hook, so it is safe inside hooks (no malloc, no
 * stdio).  msg_send is async-signal-safe (sendmsg, memset, memcpy): the
 * launcher's child sends its seccomp notify fd with it between fork and
 * exec (the launcher's mechanism/seccomp_filter.c).  It knows nothing
 * about message contents: callers validate with msg_valid() from
 * protocol.h.
 *
 * Owns the SCM_RIGHTS control message, built and parsed nowhere else.
 * Must not allocate, log, look inside a message, or call a shim hook
 * (close() is the shim's: real_close instead).
 */
#include "wire/protocol.h"

#include <errno.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

/* In the shim, close() is our own hook: the helpers must not re-enter it
 * (it may take locks its caller holds). */
#ifdef SHIM_BUILD
#include "real.h"
#define close real_close
#endif

int msg_send(int sock, const void *msg, size_t len, int fd, int flags)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int))];
	} ctl;
	struct iovec iov = { .iov_base = (void *)msg, .iov_len = len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	ssize_t n;

	if (fd >= 0) {
		struct cmsghdr *c;

		memset(&ctl, 0, sizeof(ctl));
		mh.msg_control = ctl.buf;
		mh.msg_controllen = sizeof(ctl.buf);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &fd, sizeof(int));
	}
	do
		n = sendmsg(sock, &mh, flags | MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR && !(flags & MSG_DONTWAIT));
	if (n < 0)
		return -1;
	if ((size_t)n != len) {   /* cannot happen on SEQPACKET; be explicit */
		errno = EMSGSIZE;
		return -1;
	}
	return 0;
}

/* Close every fd a control message carried except the first, which goes to
 * *fd.  A peer that sends several fds is misbehaving; never leak them. */
static void take_fds(struct msghdr *mh, int *fd)
{
	struct cmsghdr *c;

	for (c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c)) {
		size_t nfds, i;
		int got;

		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		nfds = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (i = 0; i < nfds; i++) {
			memcpy(&got, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
			if (*fd < 0)
				*fd = got;
			else
				close(got);
		}
	}
}

ssize_t msg_recv(int sock, void *buf, size_t cap, int *fd, int flags)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(4 * sizeof(int))];
	} ctl;
	struct iovec iov = { .iov_base = buf, .iov_len = cap };
	struct msghdr mh = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = ctl.buf, .msg_controllen = sizeof(ctl.buf),
	};
	ssize_t n;

	*fd = -1;
	n = recvmsg(sock, &mh, flags);
	if (n < 0)
		return -1;
	take_fds(&mh, fd);
	if (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) {
		/* Control data cut with no fd at all: the kernel could not
		 * install one (we are out of fds); anything else is an
		 * oversized message (or too many fds), dropped as garbage. */
		int out_of_fds = (mh.msg_flags & MSG_CTRUNC) && !(mh.msg_flags & MSG_TRUNC) &&
				 *fd < 0;
		if (*fd >= 0)
			close(*fd);
		*fd = -1;
		errno = out_of_fds ? EMFILE : EBADMSG;
		return -1;
	}
	return n;
}
