/*
 * test_sockopt.c - what runtimes inspect on a listener answers as on a
 * plain listening socket: getsockopt (SO_TYPE, SO_DOMAIN, SO_PROTOCOL,
 * SO_ACCEPTCONN), getsockname, getpeername, O_NONBLOCK through fcntl and
 * FIONBIO, FD_CLOEXEC, dup/dup2/dup3/F_DUPFD_CLOEXEC, closing one copy;
 * and what the shim must not touch (a client TCP socket, UDP, a unix
 * socketpair) works normally.  fdops_server runs each check once and
 * reports ok or bad:<why> for each.
 */
#include "harness.h"

#include <criterion/criterion.h>
#include <string.h>
#include <sys/wait.h>

TestSuite(sockopt, .fini = harness_cleanup, .timeout = 60);

static const char *const checks[] = {
	"so_type", "so_domain", "so_protocol", "so_acceptconn", "sockname",
	"getpeername", "fcntl_nonblock", "ioctl_fionbio", "cloexec", "dup",
	"dup2", "dup3", "dupfd_cloexec", "close_original", "udp", "socketpair",
	"client_tcp",
};

static void all_checks_ok(const char *policy, const char *addr)
{
	struct cr *cr = cr_start(NULL, "-n", "2", "-p", policy, "--",
				 helper("fdops_server"), "--addr", addr, NULL);
	int port = cr_ready_port(cr, 0, 15000), round;
	char buf[8192], val[128];
	size_t i;

	cr_assert(port > 0, "%s", cr->log);
	for (round = 0; round < 4; round++) {
		int tries = 0;
		/* a worker answers "pending" until its own self-checks end */
		do
			cr_assert(http_get(addr, port, buf, sizeof(buf), 10000) > 0);
		while (strstr(buf, "=pending") && ++tries < 100 && (sleep_ms(50), 1));
		for (i = 0; i < sizeof(checks) / sizeof(checks[0]); i++) {
			cr_assert(body_value(buf, checks[i], val, sizeof(val)),
				  "no %s in:\n%s", checks[i], buf);
			cr_expect_str_eq(val, "ok", "%s under %s: %s", checks[i], policy, val);
		}
	}
	cr_assert_eq(WEXITSTATUS(cr_stop(cr, SIGTERM, 15000)), 0, "%s", cr->log);
}

Test(sockopt, rr_ipv4) { all_checks_ok("rr", "127.0.0.1"); }
Test(sockopt, shared_ipv4) { all_checks_ok("shared", "127.0.0.1"); }
Test(sockopt, rr_ipv6) { all_checks_ok("rr", "::1"); }
Test(sockopt, shared_ipv6) { all_checks_ok("shared", "::1"); }
