/*
 * test_units.c - the launcher's pure logic, in process, linked from its
 * core library: option parsing (statuses and values), the --metrics
 * address parser, the control socket's name per PID namespace, and the
 * message validation every receiver runs first (shim/wire/protocol.h), and
 * leastconn's choice driven the way the balancer drives it.
 */
#include "harness.h"
#include "base/addr.h"
#include "cluster.h"
#include "policy/policy.h"
#include "base/options.h"
#include "surface/options.h"
#include "base/runtime_dir.h"
#include "wire/protocol.h"

#include <criterion/criterion.h>
#include <getopt.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

TestSuite(units, .timeout = 30);

/* options_parse on a NULL-terminated word list (argv[0] added). */
static int parse(struct options *o, const char *const *words)
{
	static char *argv[32];      /* o->argv points into it */
	int argc = 0;

	argv[argc++] = "cluster-run";
	while (*words && argc < 31)
		argv[argc++] = (char *)*words++;
	argv[argc] = NULL;
	optind = 0;     /* glibc: start over */
	memset(o, 0, sizeof(*o));
	return options_parse(o, argc, argv);
}

Test(units, options_statuses)
{
	struct options o;

	cr_assert_eq(parse(&o, (const char *[]){ "-n", "3", "--backlog", "64", "true", NULL }), -1);
	cr_assert_eq(o.workers, 3);
	cr_assert_eq(o.backlog, 64);
	cr_assert_str_eq(o.argv[0], "true");
	cr_assert_eq(parse(&o, (const char *[]){ "true", NULL }), -1);
	cr_assert_eq(o.backlog, 0, "the program's backlog by default");
	cr_assert_eq(parse(&o, (const char *[]){ "--metrics", "[::1]:9100", "true", NULL }), -1);
	cr_assert_eq(parse(&o, (const char *[]){ "--metrics", ":9100", "true", NULL }), EXIT_USAGE);
	cr_assert_eq(parse(&o, (const char *[]){ "--backlog", "0", "true", NULL }), EXIT_USAGE);
	cr_assert_eq(parse(&o, (const char *[]){ "-n", "0", "true", NULL }), EXIT_USAGE);
	cr_assert_eq(parse(&o, (const char *[]){ "--bogus", "true", NULL }), EXIT_USAGE);
	cr_assert_eq(parse(&o, (const char *[]){ NULL }), EXIT_USAGE);
	cr_assert_eq(parse(&o, (const char *[]){ "--", "-n", NULL }), -1);
	cr_assert_str_eq(o.argv[0], "-n");
}

Test(units, metrics_addresses)
{
	static const char *const good[] = { "127.0.0.1:9100", "0.0.0.0:0", "[::1]:9100",
					    "[::]:65535" };
	static const char *const bad[] = { "999.1.1.1:80", ":9100", "[]:9100", "[::1:9100",
					   "127.0.0.1:", "127.0.0.1:65536", "127.0.0.1:-1",
					   "127.0.0.1:80x", "localhost:80", "9100", "" };
	struct sockaddr_storage ss;
	socklen_t len;
	size_t i;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		cr_assert_eq(addr_parse(good[i], &ss, &len), 0, "%s", good[i]);
	cr_assert_eq(addr_parse("[::1]:9100", &ss, &len), 0);
	cr_assert_eq(ss.ss_family, AF_INET6);
	cr_assert_eq(len, sizeof(struct sockaddr_in6));
	cr_assert_eq(ntohs(((struct sockaddr_in6 *)&ss)->sin6_port), 9100);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_assert_eq(addr_parse(bad[i], &ss, &len), -1, "'%s' accepted", bad[i]);
}

Test(units, socket_name_per_pid_namespace)
{
	char name[64], want[64];
	struct stat st;

	cr_assert_eq(stat("/proc/self/ns/pid", &st), 0);
	cr_assert_eq(runtime_socket_name(name, sizeof(name), 1), 0);
	if (st.st_ino == 0xEFFFFFFCUL)
		snprintf(want, sizeof(want), "1.sock");
	else
		snprintf(want, sizeof(want), "1.ns%lu.sock", (unsigned long)st.st_ino);
	cr_assert_str_eq(name, want);
	cr_assert_eq(runtime_socket_name(name, 4, 12345), -1, "a short buffer is an error");
}

Test(units, message_validation)
{
	struct msg_listener m;
	struct msg_bind b;
	char raw[sizeof(struct msg_bind) + 8];

	memset(&m, 0, sizeof(m));
	msg_init(&m, MSG_LISTEN, 0);
	cr_assert(msg_valid(&m, sizeof(m)));
	cr_assert(!msg_valid(&m, sizeof(m) - 1), "short");
	m.hdr.type = 999;
	cr_assert(!msg_valid(&m, sizeof(m)), "unknown type");
	memset(&b, 0, sizeof(b));
	msg_init(&b, MSG_BIND, 0);
	b.addrlen = sizeof(struct sockaddr_storage);
	cr_assert(msg_valid(&b, sizeof(b)));
	b.addrlen = sizeof(struct sockaddr_storage) + 1;
	cr_assert(!msg_valid(&b, sizeof(b)), "address longer than its buffer");
	b.addrlen = 0;
	memcpy(raw, &b, sizeof(b));
	cr_assert(!msg_valid(raw, sizeof(raw)), "longer than its type");
}

/*
 * leastconn with 32 workers, driven as balancer.c's dispatch drives a
 * policy: ask for a worker, hand it a connection (cursor, handed count,
 * ops->handed), and ask once more before accept says EAGAIN, a pick with
 * no connection to give, as happens once per wake-up.  Each connection
 * closes before the next, so every worker has nothing open and the tie
 * goes to the next in rotation after the cursor: that one, every time,
 * and 10 of 320 each.  The heap used to count the unanswered pick as a
 * connection, so the worker after each handed one lost its turn until
 * the heap was rebuilt (even over a long run, but not least-connections).
 */
Test(units, leastconn_pick_without_a_connection_skips_nobody)
{
	enum { N = 32, CONNS = 320 };
	static struct worker workers[N];
	struct worker *list[N];
	struct options opt;
	struct cluster c;
	struct listener l;
	long per[N] = { 0 };
	int i;

	memset(&opt, 0, sizeof(opt));
	memset(&c, 0, sizeof(c));
	memset(&l, 0, sizeof(l));
	c.opt = &opt;
	c.workers = list;
	c.nworkers = N;
	l.c = &c;
	l.ops = policy_by_name("leastconn");
	for (i = 0; i < N; i++) {
		struct route *r = &workers[i].routes[0];

		list[i] = &workers[i];
		workers[i].c = &c;
		workers[i].slot = i;
		workers[i].state = W_READY;
		r->w = &workers[i];
		r->listening = 1;
		r->chan = r->chan_peer = 1000 + i;      /* never used: no board, hint 0 */
	}
	for (i = 0; i < CONNS; i++) {
		unsigned at = 0, expect = (l.cursor + 1) % N;
		struct worker *w = l.ops->pick(&c, &l, NULL, &at);
		struct route *r;

		cr_assert_not_null(w);
		cr_assert_eq(at, expect, "connection %d went to worker %u, not %u", i, at,
			     expect);
		r = &w->routes[0];
		l.cursor = at;
		r->handed++;
		if (l.ops->handed)
			l.ops->handed(&c, &l, w);
		per[w->slot]++;
		r->closed++;                            /* done before the next */
		cr_assert_not_null(l.ops->pick(&c, &l, NULL, &at));  /* then EAGAIN */
	}
	for (i = 0; i < N; i++)
		cr_expect_eq(per[i], CONNS / N, "worker %d got %ld of %d", i, per[i], CONNS);
	free(l.policy_data);
}
