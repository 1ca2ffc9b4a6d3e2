/*
 * fdops_checks.c - the checks behind fdops_checks.h.
 *
 * Every check keeps the first thing that went wrong as its detail, so a
 * bad result names the failing call ("F_SETFL:Bad file descriptor") or the
 * wrong value ("got=2").  The checks only use the listener the way a
 * runtime would; they never accept on it.
 */
#include "fdops_checks.h"

#include "helper_common.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

typedef int flag_setter(int fd, int on);
typedef int flag_getter(int fd);

void fdops_record(struct fdops_results *r, const char *key, const char *why)
{
	int n = snprintf(r->text + r->len, sizeof(r->text) - r->len, "%s=%s%s\n",
			 key, why[0] != '\0' ? "bad:" : "ok", why);

	if (n > 0 && (size_t)n < sizeof(r->text) - r->len)
		r->len += (size_t)n;
}

static void why_errno(char *why, const char *what)
{
	if (why[0] == '\0')
		snprintf(why, FDOPS_WHY_MAX, "%s:%s", what, strerror(errno));
}

static void why_text(char *why, const char *what, long value)
{
	if (why[0] == '\0')
		snprintf(why, FDOPS_WHY_MAX, "%s=%ld", what, value);
}

static void check_sockopt(struct fdops_results *r, int fd, const char *key,
			  int opt, int want)
{
	char why[FDOPS_WHY_MAX] = "";
	int value = -1;
	socklen_t len = sizeof(value);

	if (getsockopt(fd, SOL_SOCKET, opt, &value, &len) < 0)
		why_errno(why, "getsockopt");
	else if (value != want)
		why_text(why, "got", value);
	fdops_record(r, key, why);
}

static int get_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	return fl < 0 ? -1 : (fl & O_NONBLOCK) != 0;
}

static int set_nonblock_fcntl(int fd, int on)
{
	int fl = fcntl(fd, F_GETFL);

	return fl < 0 ? -1 : fcntl(fd, F_SETFL, on ? fl | O_NONBLOCK : fl & ~O_NONBLOCK);
}

static int set_nonblock_ioctl(int fd, int on)
{
	return ioctl(fd, FIONBIO, &on);
}

static int get_cloexec(int fd)
{
	int fl = fcntl(fd, F_GETFD);

	return fl < 0 ? -1 : (fl & FD_CLOEXEC) != 0;
}

static int set_cloexec(int fd, int on)
{
	return fcntl(fd, F_SETFD, on ? FD_CLOEXEC : 0);
}

/* Expect the flag clear, set it and see it, clear it and see that. */
static void check_toggle(struct fdops_results *r, int fd, const char *key,
			 flag_setter *set, flag_getter *get)
{
	char why[FDOPS_WHY_MAX] = "";
	int value = get(fd);

	if (value < 0)
		why_errno(why, "get");
	else if (value != 0)
		why_text(why, "initially", value);
	for (int on = 1; on >= 0; on--) {
		if (set(fd, on) < 0)
			why_errno(why, on ? "set" : "clear");
		else if ((value = get(fd)) < 0)
			why_errno(why, "get");
		else if (value != on)
			why_text(why, on ? "after_set" : "after_clear", value);
	}
	fdops_record(r, key, why);
}

void fdops_check_listener(struct fdops_results *r, int fd, int family, int port_before)
{
	char why[FDOPS_WHY_MAX] = "";
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	int port = helper_local_port(fd);

	check_sockopt(r, fd, "so_type", SO_TYPE, SOCK_STREAM);
	check_sockopt(r, fd, "so_domain", SO_DOMAIN, family);
	check_sockopt(r, fd, "so_protocol", SO_PROTOCOL, IPPROTO_TCP);
	check_sockopt(r, fd, "so_acceptconn", SO_ACCEPTCONN, 1);
	if (port != port_before || port <= 0)
		snprintf(why, sizeof(why), "before_listen=%d,after=%d", port_before, port);
	fdops_record(r, "sockname", why);
	why[0] = '\0';
	if (getpeername(fd, (struct sockaddr *)&ss, &len) == 0)
		snprintf(why, sizeof(why), "succeeded");
	else if (errno != ENOTCONN)
		why_errno(why, "errno");
	fdops_record(r, "getpeername", why);
	check_toggle(r, fd, "fcntl_nonblock", set_nonblock_fcntl, get_nonblock);
	check_toggle(r, fd, "ioctl_fionbio", set_nonblock_ioctl, get_nonblock);
	check_toggle(r, fd, "cloexec", set_cloexec, get_cloexec);
}

/* Is copy the same listener: listening, same port, FD_CLOEXEC as wanted? */
static void check_copy(char *why, int copy, int port, int want_cloexec)
{
	int listening = 0, cloexec = get_cloexec(copy);
	socklen_t len = sizeof(listening);

	if (getsockopt(copy, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) < 0)
		why_errno(why, "SO_ACCEPTCONN");
	else if (listening != 1)
		why_text(why, "SO_ACCEPTCONN", listening);
	if (helper_local_port(copy) != port)
		why_text(why, "port", helper_local_port(copy));
	if (cloexec < 0)
		why_errno(why, "F_GETFD");
	else if (cloexec != want_cloexec)
		why_text(why, "cloexec", cloexec);
}

static int unused_fd(int from)
{
	while (fcntl(from, F_GETFD) >= 0)
		from++;
	return from;
}

static void close_copy(char *why, int fd)
{
	if (fd >= 0 && close(fd) < 0)
		why_errno(why, "close");
}

int fdops_check_dups(struct fdops_results *r, int fd)
{
	char why[FDOPS_WHY_MAX] = "";
	int port = helper_local_port(fd), want = unused_fd(100);
	int copy = dup(fd), copy2, copy3, copy4;

	if (copy < 0)
		why_errno(why, "dup");
	else
		check_copy(why, copy, port, 0);
	fdops_record(r, "dup", why);

	why[0] = '\0';            /* dup2 must not carry FD_CLOEXEC over */
	if (set_cloexec(fd, 1) < 0)
		why_errno(why, "F_SETFD");
	copy2 = dup2(fd, want);
	if (copy2 != want)
		why_errno(why, "dup2");
	else
		check_copy(why, copy2, port, 0);
	if (set_cloexec(fd, 0) < 0)
		why_errno(why, "F_SETFD");
	fdops_record(r, "dup2", why);

	why[0] = '\0';
	want = unused_fd(want + 1);
	copy3 = dup3(fd, want, O_CLOEXEC);
	if (copy3 != want)
		why_errno(why, "dup3");
	else
		check_copy(why, copy3, port, 1);
	fdops_record(r, "dup3", why);

	why[0] = '\0';
	copy4 = fcntl(fd, F_DUPFD_CLOEXEC, 200);
	if (copy4 < 200)
		why_errno(why, "F_DUPFD_CLOEXEC");
	else
		check_copy(why, copy4, port, 1);
	fdops_record(r, "dupfd_cloexec", why);

	why[0] = '\0';            /* closing copies must leave the listener */
	close_copy(why, copy2);
	close_copy(why, copy3);
	close_copy(why, copy4);
	if (copy < 0) {
		fdops_record(r, "close_original", "no_dup");
		return fd;
	}
	close_copy(why, fd);
	check_copy(why, copy, port, 0);
	fdops_record(r, "close_original", why);
	return copy;
}

static void check_udp(struct fdops_results *r)
{
	char why[FDOPS_WHY_MAX] = "", buf[16];
	struct sockaddr_in sin = { .sin_family = AF_INET,
				   .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sin);
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	ssize_t n;

	if (fd < 0) {
		why_errno(why, "socket");
	} else if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0) {
		why_errno(why, "bind");
	} else if (getsockname(fd, (struct sockaddr *)&sin, &len) < 0) {
		why_errno(why, "getsockname");
	} else if (sendto(fd, "fdops", 5, 0, (struct sockaddr *)&sin, len) != 5) {
		why_errno(why, "sendto");
	} else if (poll(&pfd, 1, 2000) != 1) {
		snprintf(why, sizeof(why), "no_datagram_in_2s");
	} else if ((n = recv(fd, buf, sizeof(buf), 0)) != 5 || memcmp(buf, "fdops", 5) != 0) {
		why_text(why, "recv", (long)n);
	}
	if (fd >= 0)
		close(fd);
	fdops_record(r, "udp", why);
}

static void check_socketpair(struct fdops_results *r)
{
	char why[FDOPS_WHY_MAX] = "", buf[4];
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0) {
		why_errno(why, "socketpair");
		fdops_record(r, "socketpair", why);
		return;
	}
	if (write(sv[0], "ping", 4) != 4)
		why_errno(why, "write");
	else if (read(sv[1], buf, 4) != 4 || memcmp(buf, "ping", 4) != 0)
		why_errno(why, "read");
	close(sv[0]);
	close(sv[1]);
	fdops_record(r, "socketpair", why);
}

void fdops_check_other_sockets(struct fdops_results *r)
{
	check_udp(r);
	check_socketpair(r);
}
