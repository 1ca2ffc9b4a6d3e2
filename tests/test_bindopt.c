/*
 * test_bindopt.c - the bind options (shim/wire/bindopt.c compiled into
 * this suite, as the launcher builds it: plain getsockopt/setsockopt), in
 * process: options set on a socket read back as BIND_OPT_* bits, only those
 * that exist for the socket's family and type; applying bits sets them,
 * off ones included; each bit has its one (level, name).
 */
#include "wire/protocol.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <unistd.h>

#define ALL_OPTS (BIND_OPT_REUSEADDR | BIND_OPT_REUSEPORT | BIND_OPT_V6ONLY | \
		  BIND_OPT_NODELAY | BIND_OPT_KEEPALIVE)

TestSuite(bindopt, .timeout = 30);

static int tcp6(void)
{
	int fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0 && errno == EAFNOSUPPORT)
		cr_skip_test("no IPv6 on this machine");
	cr_assert(fd >= 0);
	return fd;
}

static void set_int(int fd, int level, int name, int v)
{
	cr_assert_eq(setsockopt(fd, level, name, &v, sizeof(v)), 0,
		     "setsockopt(%d, %d): %s", level, name, strerror(errno));
}

static int get_int(int fd, int level, int name)
{
	int v = -1;
	socklen_t len = sizeof(v);

	cr_assert_eq(getsockopt(fd, level, name, &v, &len), 0,
		     "getsockopt(%d, %d): %s", level, name, strerror(errno));
	return v;
}

Test(bindopt, read_what_the_program_set)
{
	int fd = tcp6();

	set_int(fd, SOL_SOCKET, SO_REUSEADDR, 1);
	set_int(fd, SOL_SOCKET, SO_REUSEPORT, 1);
	set_int(fd, IPPROTO_IPV6, IPV6_V6ONLY, 1);
	cr_assert_eq(bindopt_read(fd, AF_INET6, SOCK_STREAM),
		     BIND_OPT_REUSEADDR | BIND_OPT_REUSEPORT | BIND_OPT_V6ONLY);
	set_int(fd, IPPROTO_TCP, TCP_NODELAY, 1);
	set_int(fd, SOL_SOCKET, SO_KEEPALIVE, 1);
	set_int(fd, IPPROTO_IPV6, IPV6_V6ONLY, 0);
	cr_assert_eq(bindopt_read(fd, AF_INET6, SOCK_STREAM),
		     BIND_OPT_REUSEADDR | BIND_OPT_REUSEPORT | BIND_OPT_NODELAY |
		     BIND_OPT_KEEPALIVE);
	close(fd);
}

Test(bindopt, read_only_what_the_kind_has)
{
	int tcp = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int udp = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	int un = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	cr_assert(tcp >= 0 && udp >= 0 && un >= 0);
	cr_assert_eq(bindopt_read(tcp, AF_INET, SOCK_STREAM), 0, "a fresh socket has none");
	set_int(udp, SOL_SOCKET, SO_REUSEADDR, 1);
	cr_assert_eq(bindopt_read(udp, AF_INET, SOCK_DGRAM), BIND_OPT_REUSEADDR);
	/* a unix socket takes SO_REUSEADDR, but it means nothing there */
	set_int(un, SOL_SOCKET, SO_REUSEADDR, 1);
	cr_assert_eq(bindopt_read(un, AF_UNIX, SOCK_STREAM), 0);
	cr_assert_eq(bindopt_read(-1, AF_INET, SOCK_STREAM), 0, "unreadable counts as off");
	close(tcp);
	close(udp);
	close(un);
}

Test(bindopt, apply_sets_them)
{
	int fd = tcp6();

	cr_assert_eq(bindopt_apply(fd, AF_INET6, SOCK_STREAM, ALL_OPTS), 0);
	cr_assert_eq(get_int(fd, SOL_SOCKET, SO_REUSEADDR), 1);
	cr_assert_eq(get_int(fd, SOL_SOCKET, SO_REUSEPORT), 1);
	cr_assert_eq(get_int(fd, IPPROTO_IPV6, IPV6_V6ONLY), 1);
	cr_assert_neq(get_int(fd, IPPROTO_TCP, TCP_NODELAY), 0);
	cr_assert_neq(get_int(fd, SOL_SOCKET, SO_KEEPALIVE), 0);
	cr_assert_eq(bindopt_read(fd, AF_INET6, SOCK_STREAM), ALL_OPTS);
	close(fd);
}

/* IPV6_V6ONLY's default is a sysctl's: an off bit must be set off. */
Test(bindopt, apply_clears_the_off_ones)
{
	int fd = tcp6();

	set_int(fd, IPPROTO_IPV6, IPV6_V6ONLY, 1);
	set_int(fd, SOL_SOCKET, SO_REUSEADDR, 1);
	cr_assert_eq(bindopt_apply(fd, AF_INET6, SOCK_STREAM, BIND_OPT_REUSEPORT), 0);
	cr_assert_eq(get_int(fd, IPPROTO_IPV6, IPV6_V6ONLY), 0);
	cr_assert_eq(get_int(fd, SOL_SOCKET, SO_REUSEADDR), 0);
	cr_assert_eq(bindopt_read(fd, AF_INET6, SOCK_STREAM), BIND_OPT_REUSEPORT);
	close(fd);
}

/* Bits for options the kind does not have are skipped, not failed: the
 * master gets them from an untrusted worker. */
Test(bindopt, apply_skips_what_the_kind_lacks)
{
	int udp = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	cr_assert(udp >= 0);
	cr_assert_eq(bindopt_apply(udp, AF_INET, SOCK_DGRAM, ALL_OPTS), 0,
		     "%s", strerror(errno));
	cr_assert_eq(get_int(udp, SOL_SOCKET, SO_REUSEADDR), 1);
	cr_assert_eq(bindopt_read(udp, AF_INET, SOCK_DGRAM),
		     BIND_OPT_REUSEADDR | BIND_OPT_REUSEPORT | BIND_OPT_KEEPALIVE);
	close(udp);
}

Test(bindopt, apply_fails_like_setsockopt)
{
	int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);

	cr_assert(fd >= 0);
	errno = 0;
	cr_assert_eq(bindopt_apply(fd, AF_INET, SOCK_STREAM, BIND_OPT_REUSEADDR), -1);
	cr_assert_eq(errno, ENOTSOCK);
	cr_assert_eq(bindopt_apply(fd, AF_UNIX, SOCK_STREAM, ALL_OPTS), 0, "nothing to set");
	close(fd);
}

Test(bindopt, one_option_per_bit)
{
	cr_assert_eq(bindopt_bit(SOL_SOCKET, SO_REUSEADDR), BIND_OPT_REUSEADDR);
	cr_assert_eq(bindopt_bit(SOL_SOCKET, SO_REUSEPORT), BIND_OPT_REUSEPORT);
	cr_assert_eq(bindopt_bit(IPPROTO_IPV6, IPV6_V6ONLY), BIND_OPT_V6ONLY);
	cr_assert_eq(bindopt_bit(IPPROTO_TCP, TCP_NODELAY), BIND_OPT_NODELAY);
	cr_assert_eq(bindopt_bit(SOL_SOCKET, SO_KEEPALIVE), BIND_OPT_KEEPALIVE);
	cr_assert_eq(bindopt_bit(SOL_SOCKET, SO_TYPE), 0);
	cr_assert_eq(bindopt_bit(IPPROTO_TCP, SO_REUSEADDR), 0, "the level counts too");
}
