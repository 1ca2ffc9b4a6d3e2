/*
 * test_udp.c - UDP sockets are clustered too: shared (every worker reads
 * one socket) and reuseport (a socket per slot); rr and leastconn fall back
 * to shared and say so once.
 */
#include "harness.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

TestSuite(udp, .fini = harness_cleanup, .timeout = 60);

/* cr_port() looks for "(tcp)": find the "(udp)" announcement ourselves. */
static int udp_port(struct cr *cr)
{
	const char *p = cr_wait_line(cr, " (udp) shared by ", 10000), *colon;

	cr_assert(p, "no udp announcement:\n%s", cr->log);
	for (colon = p; colon > cr->log && *colon != ':'; colon--)
		;
	cr_assert(cr_wait_line(cr, " listening\n", 10000), "%s", cr->log);
	return atoi(colon + 1);
}

/* One datagram from a fresh socket (a fresh source port); the worker id. */
static int ask(const char *host, int port)
{
	struct sockaddr_storage ss;
	socklen_t len = sockaddr_of(host, port, &ss);
	struct pollfd p;
	char buf[256], val[32];
	ssize_t n;
	int fd;

	fd = socket(ss.ss_family, SOCK_DGRAM, 0);
	cr_assert(sendto(fd, "ping", 4, 0, (struct sockaddr *)&ss, len) == 4);
	p.fd = fd;
	p.events = POLLIN;
	cr_assert(poll(&p, 1, 3000) == 1, "no answer from %s:%d", host, port);
	n = recv(fd, buf, sizeof(buf) - 1, 0);
	close(fd);
	cr_assert(n > 0);
	buf[n] = '\0';
	cr_assert(sscanf(buf, "worker=%31s", val) == 1, "%s", buf);
	snprintf(val, sizeof(val), "port=%d", port);
	cr_assert(strstr(buf, val), "the worker's getsockname disagrees: %s", buf);
	return atoi(buf + 7);
}

/* A UDP port free now.  UDP servers are clustered on a port they choose:
 * a datagram socket bound to port 0 is a client's and is left alone. */
static const char *udp_port_arg(const char *host)
{
	static char buf[16];
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	int fd = socket(strchr(host, ':') ? AF_INET6 : AF_INET, SOCK_DGRAM, 0);

	memset(&ss, 0, sizeof(ss));
	ss.ss_family = strchr(host, ':') ? AF_INET6 : AF_INET;
	cr_assert(bind(fd, (struct sockaddr *)&ss,
		       ss.ss_family == AF_INET ? sizeof(struct sockaddr_in)
					       : sizeof(struct sockaddr_in6)) == 0);
	getsockname(fd, (struct sockaddr *)&ss, &len);
	snprintf(buf, sizeof(buf), "%d", ss.ss_family == AF_INET
		 ? ntohs(((struct sockaddr_in *)&ss)->sin_port)
		 : ntohs(((struct sockaddr_in6 *)&ss)->sin6_port));
	close(fd);
	return buf;
}

static int answering_workers(const char *policy, const char *host, int n)
{
	struct cr *cr = cr_start(NULL, "-n", "2", "-p", policy, "--", helper("udp_server"),
				 "--addr", host, "--port", udp_port_arg(host), NULL);
	int port = udp_port(cr), i, seen[2] = { 0, 0 };

	for (i = 0; i < n; i++) {
		int w = ask(host, port);
		cr_assert(w == 0 || w == 1);
		seen[w] = 1;
	}
	cr_assert_eq(WEXITSTATUS(cr_stop(cr, SIGTERM, 15000)), 0, "%s", cr->log);
	return seen[0] + seen[1];
}

Test(udp, shared_ipv4) { cr_assert_geq(answering_workers("shared", "127.0.0.1", 40), 1); }
Test(udp, shared_ipv6) { cr_assert_geq(answering_workers("shared", "::1", 40), 1); }

/* 40 source ports hash over two sockets: both slots answer (the chance
 * that one gets none is 2^-39). */
Test(udp, reuseport_spreads) { cr_assert_eq(answering_workers("reuseport", "127.0.0.1", 40), 2); }

Test(udp, rr_falls_back_to_shared)
{
	struct cr *cr = cr_start(NULL, "-n", "2", "-p", "rr", "--", helper("udp_server"),
				 "--port", udp_port_arg("127.0.0.1"), NULL);
	int port = udp_port(cr);

	cr_assert(strstr(cr->log, "policy shared instead of rr"), "%s", cr->log);
	cr_assert(ask("127.0.0.1", port) >= 0);
}

/* A datagram socket bound to port 0 is a client waiting for replies: it is
 * not clustered, so each worker has its own port (nothing is announced). */
Test(udp, port_zero_is_a_client)
{
	struct cr *cr = cr_start(NULL, "-n", "2", "--listen-timeout", "1", "--",
				 helper("udp_server"), NULL);

	cr_assert(cr_wait_line(cr, "no worker has bound an address", 5000), "%s", cr->log);
	cr_assert(!strstr(cr->log, "(udp) shared by"), "%s", cr->log);
}
