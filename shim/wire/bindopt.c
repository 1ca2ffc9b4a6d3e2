/*
 * bindopt.c - the socket options a program sets before bind() that the
 * master's socket must have too (BIND_OPT_* in protocol.h): read from the
 * program's socket, set on the master's, and the one table saying which
 * (level, name) each bit stands for.
 *
 * Linked into both the shim and the launcher.  The shim reads the app's
 * socket before asking for a bind and sets the options again on the socket
 * it gives back to a client (hooks_socket.c); the master sets them on the
 * sockets it opens (the launcher's net/sockets.c) and reads them from a
 * seccomp worker's socket (mechanism/seccomp_notify.c).
 *
 * Owns the table of those options and which family and type each exists
 * for.  Must not log or call a shim hook (getsockopt and setsockopt are
 * the shim's: the real ones instead).  Not here: what the options mean for
 * matching listeners (the master's net/listener.c), and options set after
 * bind (the shim's setsockopt hook remembers the boolean ones with
 * bindopt_bit).
 */
#include "wire/protocol.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

/* In the shim, getsockopt() and setsockopt() are our own hooks (they
 * answer for channels): read and set the socket itself. */
#ifdef SHIM_BUILD
#include "real.h"
#define get_opt real_getsockopt
#define set_opt real_setsockopt
#else
#define get_opt getsockopt
#define set_opt setsockopt
#endif

static const struct {
	int level, name;
	uint32_t bit;
} options[] = {
	{ SOL_SOCKET,   SO_REUSEADDR, BIND_OPT_REUSEADDR },
	{ SOL_SOCKET,   SO_REUSEPORT, BIND_OPT_REUSEPORT },
	{ IPPROTO_IPV6, IPV6_V6ONLY,  BIND_OPT_V6ONLY },
	{ IPPROTO_TCP,  TCP_NODELAY,  BIND_OPT_NODELAY },
	{ SOL_SOCKET,   SO_KEEPALIVE, BIND_OPT_KEEPALIVE },
};
#define NOPTIONS (sizeof(options) / sizeof(options[0]))

/* Whether option i exists on a socket of this family and type: the kernel
 * refuses IPV6_V6ONLY on IPv4 and TCP_NODELAY on UDP, and a unix socket
 * has none of them that would matter. */
static int applies(size_t i, int family, int type)
{
	if (family != AF_INET && family != AF_INET6)
		return 0;
	if (options[i].bit == BIND_OPT_V6ONLY)
		return family == AF_INET6;
	if (options[i].bit == BIND_OPT_NODELAY)
		return type == SOCK_STREAM;
	return 1;
}

uint32_t bindopt_bit(int level, int name)
{
	size_t i;

	for (i = 0; i < NOPTIONS; i++)
		if (options[i].level == level && options[i].name == name)
			return options[i].bit;
	return 0;
}

uint32_t bindopt_read(int fd, int family, int type)
{
	uint32_t opts = 0;
	size_t i;

	for (i = 0; i < NOPTIONS; i++) {
		int v = 0;
		socklen_t len = sizeof(v);

		if (applies(i, family, type) &&
		    get_opt(fd, options[i].level, options[i].name, &v, &len) == 0 && v > 0)
			opts |= options[i].bit;
	}
	return opts;
}

/* Every option that applies is set, the off ones to 0: IPV6_V6ONLY's
 * default is the net.ipv6.bindv6only sysctl, not 0, and so the socket ends
 * with exactly opts whatever it had before (a few system calls more, once
 * per socket). */
int bindopt_apply(int fd, int family, int type, uint32_t opts)
{
	int err = 0;
	size_t i;

	for (i = 0; i < NOPTIONS; i++) {
		int on = !!(opts & options[i].bit);

		if (applies(i, family, type) &&
		    set_opt(fd, options[i].level, options[i].name, &on, sizeof(on)) < 0 && !err)
			err = errno;
	}
	if (err) {
		errno = err;
		return -1;
	}
	return 0;
}
