/*
 * test_census.c - the kernel census of connections (launcher/net/census.c),
 * in process, linked from the launcher's core library:
 *
 *   - the port filter the dump request carries: run through a copy of the
 *     kernel's bytecode interpreter and audit for every port, and sent to
 *     the running kernel, which must accept it and answer only with
 *     sockets of the listeners' ports;
 *   - the parsing of canned netlink answers: what is kept, what is
 *     skipped (other ports, short or malformed messages), errors;
 *   - what a worker holds (this process, as the worker) and the snapshot
 *     shared by one turn of the loop.
 *
 * A fake cluster holds only what the census reads of a listener: family,
 * type, the bound address (its port) and, for unix, the asked-for name.
 */
#include "harness.h"
#include "cluster.h"
#include "base/loop.h"
#include "net/census.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <linux/unix_diag.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

TestSuite(census, .timeout = 30);

static struct listener *fake_listener(struct cluster *c, int family, int type, int port)
{
	struct listener *l = calloc(1, sizeof(*l));

	cr_assert(l);
	l->c = c;
	l->id = (uint32_t)c->nlisteners;
	l->family = family;
	l->type = type;
	l->fd = -1;
	if (family == AF_INET) {
		struct sockaddr_in *a = (struct sockaddr_in *)&l->addr;
		a->sin_family = AF_INET;
		a->sin_port = htons((uint16_t)port);
		l->addrlen = sizeof(*a);
	} else if (family == AF_INET6) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&l->addr;
		a->sin6_family = AF_INET6;
		a->sin6_port = htons((uint16_t)port);
		l->addrlen = sizeof(*a);
	}
	c->listeners[c->nlisteners++] = l;
	return l;
}

/* A unix listener asked for name (len bytes: a leading NUL is abstract). */
static void fake_unix(struct cluster *c, const char *name, size_t len)
{
	struct listener *l = fake_listener(c, AF_UNIX, SOCK_STREAM, 0);
	struct sockaddr_un *a = (struct sockaddr_un *)&l->req;

	a->sun_family = AF_UNIX;
	memcpy(a->sun_path, name, len);
	l->reqlen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len);
}

static void free_cluster(struct cluster *c)
{
	int i;

	census_close(c);
	for (i = 0; i < c->nlisteners; i++)
		free(c->listeners[i]);
	c->nlisteners = 0;
	if (c->loop)
		loop_free(c->loop);
}

/* --- the filter, as the kernel runs and audits it ---------------------- */

/* net/ipv4/inet_diag.c, inet_diag_bc_run, for the ops a census uses. */
static int bc_run(const unsigned char *bc, int len, unsigned sport)
{
	while (len > 0) {
		const struct inet_diag_bc_op *op = (const void *)bc;
		int yes = 1;

		switch (op->code) {
		case INET_DIAG_BC_NOP: break;
		case INET_DIAG_BC_JMP: yes = 0; break;
		case INET_DIAG_BC_S_GE: yes = sport >= op[1].no; break;
		case INET_DIAG_BC_S_LE: yes = sport <= op[1].no; break;
		case INET_DIAG_BC_S_EQ: yes = sport == op[1].no; break;
		default: cr_assert_fail("op %d in a census filter", op->code);
		}
		if (yes) {
			len -= op->yes;
			bc += op->yes;
		} else {
			len -= op->no;
			bc += op->no;
		}
	}
	return len == 0;
}

/* inet_diag.c's valid_cc: a jump's target must be on the "yes" chain. */
static int valid_cc(const unsigned char *bc, int len, int cc)
{
	while (len >= 0) {
		const struct inet_diag_bc_op *op = (const void *)bc;

		if (cc > len)
			return 0;
		if (cc == len)
			return 1;
		if (op->yes < 4 || op->yes & 3)
			return 0;
		len -= op->yes;
		bc += op->yes;
	}
	return 0;
}

/* inet_diag.c's inet_diag_bc_audit, for the ops a census uses. */
static int bc_audit(const unsigned char *bytecode, int bytecode_len)
{
	const unsigned char *bc = bytecode;
	int len = bytecode_len;

	while (len > 0) {
		const struct inet_diag_bc_op *op = (const void *)bc;
		int min_len = sizeof(*op);

		switch (op->code) {
		case INET_DIAG_BC_S_GE:
		case INET_DIAG_BC_S_LE:
		case INET_DIAG_BC_S_EQ:
			if (len < (int)(2 * sizeof(*op)))
				return 0;
			min_len += sizeof(*op);
			break;
		case INET_DIAG_BC_JMP:
		case INET_DIAG_BC_NOP:
			break;
		default:
			return 0;
		}
		if (op->code != INET_DIAG_BC_NOP) {
			if (op->no < min_len || op->no > len + 4 || op->no & 3)
				return 0;
			if (op->no < len && !valid_cc(bytecode, bytecode_len, len - op->no))
				return 0;
		}
		if (op->yes < min_len || op->yes > len + 4 || op->yes & 3)
			return 0;
		bc += op->yes;
		len -= op->yes;
	}
	return len == 0;
}

/* The filter in request req (len bytes), checked: the request's shape. */
static const unsigned char *filter_of(const char *req, size_t len, int *bclen)
{
	const struct nlmsghdr *h = (const void *)req;
	const struct inet_diag_req_v2 *r = NLMSG_DATA(h);
	const struct rtattr *a = (const void *)(req + NLMSG_LENGTH(sizeof(*r)));

	cr_assert_eq(h->nlmsg_len, len);
	cr_assert_eq(h->nlmsg_type, SOCK_DIAG_BY_FAMILY);
	cr_assert_eq(h->nlmsg_flags, NLM_F_REQUEST | NLM_F_DUMP);
	cr_assert_eq(r->sdiag_protocol, IPPROTO_TCP);
	cr_assert_eq(r->idiag_states & (1u << 10), 0, "no LISTEN sockets");
	cr_assert_eq(a->rta_type, INET_DIAG_REQ_BYTECODE);
	cr_assert_eq(NLMSG_LENGTH(sizeof(*r)) + RTA_ALIGN(a->rta_len), len);
	*bclen = (int)RTA_PAYLOAD(a);
	return RTA_DATA(a);
}

Test(census, filter_accepts_the_listeners_ports_only)
{
	struct cluster c = { 0 };
	char req[CENSUS_REQUEST_MAX];
	const unsigned char *bc;
	unsigned port;
	size_t len;
	int bclen;

	fake_listener(&c, AF_INET, SOCK_STREAM, 8080);
	fake_listener(&c, AF_INET, SOCK_STREAM, 8081);
	fake_listener(&c, AF_INET, SOCK_STREAM, 8080);  /* same port: once */
	fake_listener(&c, AF_INET, SOCK_DGRAM, 5353);   /* UDP: not in a TCP dump */
	fake_listener(&c, AF_INET6, SOCK_STREAM, 9000);
	len = census_inet_request(&c, AF_INET, req, sizeof(req));
	cr_assert_gt(len, 0);
	bc = filter_of(req, len, &bclen);
	cr_assert(bc_audit(bc, bclen), "the kernel's audit would refuse it");
	cr_assert_eq(bclen, 2 * 20 - 4, "two distinct ports");
	for (port = 0; port < 65536; port++)
		cr_assert_eq(bc_run(bc, bclen, port), port == 8080 || port == 8081, "port %u", port);

	len = census_inet_request(&c, AF_INET6, req, sizeof(req));
	bc = filter_of(req, len, &bclen);
	cr_assert(bc_audit(bc, bclen));
	for (port = 0; port < 65536; port++)
		cr_assert_eq(bc_run(bc, bclen, port), port == 9000, "port %u", port);
	cr_assert_eq(census_inet_request(&c, AF_INET, req,
					 NLMSG_LENGTH(sizeof(struct inet_diag_req_v2))), 0,
		     "room for the request but not its filter");
	free_cluster(&c);
}

Test(census, filter_of_every_listener_fits)
{
	struct cluster c = { 0 };
	char req[CENSUS_REQUEST_MAX];
	const unsigned char *bc;
	unsigned port;
	size_t len;
	int bclen, i;

	for (i = 0; i < CLUSTER_MAX_LISTENERS; i++)
		fake_listener(&c, AF_INET, SOCK_STREAM, 1000 + 3 * i);
	len = census_inet_request(&c, AF_INET, req, sizeof(req));
	cr_assert_gt(len, 0);
	bc = filter_of(req, len, &bclen);
	cr_assert(bc_audit(bc, bclen));
	for (port = 900; port < 1300; port++)
		cr_assert_eq(bc_run(bc, bclen, port),
			     port >= 1000 && port < 1000 + 3 * CLUSTER_MAX_LISTENERS &&
			     (port - 1000) % 3 == 0, "port %u", port);
	free_cluster(&c);
}

/* --- canned answers ---------------------------------------------------- */

struct canned {
	char buf[8192] __attribute__((aligned(NLMSG_ALIGNTO)));
	size_t len;
};

static void *put(struct canned *k, uint16_t type, size_t payload)
{
	struct nlmsghdr *h = (void *)(k->buf + k->len);

	cr_assert_leq(k->len + NLMSG_SPACE(payload), sizeof(k->buf));
	memset(h, 0, NLMSG_SPACE(payload));
	h->nlmsg_len = (uint32_t)NLMSG_LENGTH(payload);
	h->nlmsg_type = type;
	h->nlmsg_flags = NLM_F_MULTI;
	k->len += NLMSG_SPACE(payload);
	return NLMSG_DATA(h);
}

static void put_inet(struct canned *k, int family, int sport, unsigned inode)
{
	struct inet_diag_msg *m = put(k, SOCK_DIAG_BY_FAMILY, sizeof(*m));

	m->idiag_family = (uint8_t)family;
	m->idiag_state = 1;     /* ESTABLISHED */
	m->id.idiag_sport = htons((uint16_t)sport);
	m->id.idiag_dport = htons(40000);
	m->idiag_inode = inode;
}

static void put_done(struct canned *k, int err)
{
	*(int *)put(k, NLMSG_DONE, sizeof(int)) = err;
}

static void put_unix(struct canned *k, const char *name, size_t len, unsigned inode)
{
	size_t payload = NLMSG_ALIGN(sizeof(struct unix_diag_msg)) + RTA_SPACE(len);
	struct unix_diag_msg *m = put(k, SOCK_DIAG_BY_FAMILY, payload);
	struct rtattr *a = (struct rtattr *)(m + 1);

	m->udiag_family = AF_UNIX;
	m->udiag_type = SOCK_STREAM;
	m->udiag_state = 1;
	m->udiag_ino = inode;
	a->rta_type = UNIX_DIAG_NAME;
	a->rta_len = (unsigned short)RTA_LENGTH(len);
	memcpy(RTA_DATA(a), name, len);
}

Test(census, parse_keeps_the_listeners_connections)
{
	struct cluster c = { 0 };
	struct canned k = { .len = 0 };
	struct census *cs = census_new();

	cr_assert(cs);
	fake_listener(&c, AF_INET, SOCK_STREAM, 8080);
	fake_listener(&c, AF_INET, SOCK_STREAM, 8081);
	fake_listener(&c, AF_INET6, SOCK_STREAM, 8082);
	put_inet(&k, AF_INET, 8080, 300);
	put_inet(&k, AF_INET, 8081, 100);
	put_inet(&k, AF_INET, 9999, 400);       /* another port: not ours */
	put_inet(&k, AF_INET, 8082, 500);       /* the IPv6 listener's port, IPv4 */
	put_inet(&k, AF_INET6, 8080, 600);      /* an IPv6 socket in an IPv4 dump */
	put_inet(&k, AF_INET, 8080, 0);         /* no inode: nothing to find */
	cr_assert_eq(census_parse(cs, &c, AF_INET, k.buf, k.len), 0, "no end yet");
	k.len = 0;
	put_inet(&k, AF_INET, 8080, 200);
	put_done(&k, 0);
	put_inet(&k, AF_INET, 8080, 700);       /* after the end: not read */
	cr_assert_eq(census_parse(cs, &c, AF_INET, k.buf, k.len), 1);
	cr_assert(census_has(cs, 100) && census_has(cs, 200) && census_has(cs, 300),
		  "found in any order, sorted at the end");
	cr_assert(!census_has(cs, 400) && !census_has(cs, 500) && !census_has(cs, 600) &&
		  !census_has(cs, 700) && !census_has(cs, 0));

	k.len = 0;      /* the IPv6 dump adds to the same census */
	put_inet(&k, AF_INET6, 8082, 50);
	put_done(&k, 0);
	cr_assert_eq(census_parse(cs, &c, AF_INET6, k.buf, k.len), 1);
	cr_assert(census_has(cs, 50) && census_has(cs, 300));
	census_free(cs);
	free_cluster(&c);
}

Test(census, parse_errors_and_malformed_messages)
{
	struct cluster c = { 0 };
	struct canned k = { .len = 0 };
	struct census *cs = census_new();
	struct nlmsghdr *h;

	fake_listener(&c, AF_INET, SOCK_STREAM, 8080);
	put(&k, NLMSG_ERROR, sizeof(struct nlmsgerr));
	cr_assert_eq(census_parse(cs, &c, AF_INET, k.buf, k.len), -1, "an error message");

	k.len = 0;
	put_done(&k, -EINTR);
	cr_assert_eq(census_parse(cs, &c, AF_INET, k.buf, k.len), -1, "a dump ended by an errno");

	k.len = 0;      /* a message too short for its type: skipped */
	put(&k, SOCK_DIAG_BY_FAMILY, sizeof(struct inet_diag_msg) - 8);
	put_done(&k, 0);
	cr_assert_eq(census_parse(cs, &c, AF_INET, k.buf, k.len), 1);

	k.len = 0;      /* a length past the buffer: not read */
	put_inet(&k, AF_INET, 8080, 42);
	h = (struct nlmsghdr *)k.buf;
	h->nlmsg_len = (uint32_t)k.len + 64;
	cr_assert_eq(census_parse(cs, &c, AF_INET, k.buf, k.len), 0);
	cr_assert(!census_has(cs, 42));
	cr_assert_eq(census_parse(cs, &c, AF_INET, k.buf, 3), 0, "less than a header");
	census_free(cs);
	free_cluster(&c);
}

Test(census, parse_unix_names)
{
	struct cluster c = { 0 };
	struct canned k = { .len = 0 };
	struct census *cs = census_new();
	struct nlmsghdr *h;
	struct rtattr *a;

	fake_unix(&c, "/run/app.sock", sizeof("/run/app.sock"));   /* bound with its NUL */
	fake_unix(&c, "\0abstract", 9);
	fake_listener(&c, AF_INET, SOCK_STREAM, 8080);
	put_unix(&k, "/run/app.sock", 14, 10);         /* Linux 6: with its NUL */
	put_unix(&k, "/run/app.sock", 13, 11);         /* older: as bound */
	put_unix(&k, "\0abstract", 9, 20);
	put_unix(&k, "/run/other.sock", 15, 30);
	put_unix(&k, "\0abstract2", 10, 40);
	put_unix(&k, "/run/app.sock", 13, 50);
	/* the last one's name attribute claims more than its message holds */
	h = (struct nlmsghdr *)(k.buf + k.len - NLMSG_SPACE(NLMSG_ALIGN(sizeof(struct unix_diag_msg)) +
							   RTA_SPACE(13)));
	a = (struct rtattr *)((struct unix_diag_msg *)NLMSG_DATA(h) + 1);
	a->rta_len = 200;
	put_done(&k, 0);
	cr_assert_eq(census_parse(cs, &c, AF_UNIX, k.buf, k.len), 1);
	cr_assert(census_has(cs, 10) && census_has(cs, 11) && census_has(cs, 20));
	cr_assert(!census_has(cs, 30) && !census_has(cs, 40) && !census_has(cs, 50));
	census_free(cs);
	free_cluster(&c);
}

/* --- the running kernel ------------------------------------------------ */

struct pair {
	int listener, client, accepted;
	int port;
	unsigned long inode, client_inode;
};

static unsigned long inode_of(int fd)
{
	struct stat st;

	cr_assert_eq(fstat(fd, &st), 0);
	return (unsigned long)st.st_ino;
}

/* A listener on 127.0.0.1:0 with one connection accepted from it. */
static void open_pair(struct pair *p)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t len = sizeof(a);

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	p->listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	cr_assert_geq(p->listener, 0);
	cr_assert_eq(bind(p->listener, (struct sockaddr *)&a, sizeof(a)), 0);
	cr_assert_eq(listen(p->listener, 8), 0);
	cr_assert_eq(getsockname(p->listener, (struct sockaddr *)&a, &len), 0);
	p->port = ntohs(a.sin_port);
	p->client = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	cr_assert_eq(connect(p->client, (struct sockaddr *)&a, sizeof(a)), 0);
	p->accepted = accept4(p->listener, NULL, NULL, SOCK_CLOEXEC);
	cr_assert_geq(p->accepted, 0);
	p->inode = inode_of(p->accepted);
	p->client_inode = inode_of(p->client);
}

static void close_pair(struct pair *p)
{
	close(p->client);
	if (p->accepted >= 0)
		close(p->accepted);
	close(p->listener);
}

Test(census, kernel_answers_only_the_listeners_ports)
{
	struct cluster c = { 0 };
	struct pair ours[2], theirs;
	struct sockaddr_nl nl = { .nl_family = AF_NETLINK };
	char req[CENSUS_REQUEST_MAX];
	static char buf[32768] __attribute__((aligned(NLMSG_ALIGNTO)));
	struct census *cs = census_new();
	int fd, done = 0, seen_ours = 0, i;
	size_t len;

	open_pair(&ours[0]);
	open_pair(&ours[1]);
	open_pair(&theirs);
	fake_listener(&c, AF_INET, SOCK_STREAM, ours[0].port);
	fake_listener(&c, AF_INET, SOCK_STREAM, ours[1].port);
	len = census_inet_request(&c, AF_INET, req, sizeof(req));
	fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
	if (fd < 0)
		cr_skip_test("no sock_diag here: %s", strerror(errno));
	cr_assert_eq(sendto(fd, req, len, 0, (struct sockaddr *)&nl, sizeof(nl)), (ssize_t)len);
	while (!done) {
		ssize_t n = recv(fd, buf, sizeof(buf), 0);
		const struct nlmsghdr *h;
		long rem = (long)n;

		cr_assert_gt(n, 0, "recv: %s", strerror(errno));
		for (h = (const void *)buf; NLMSG_OK(h, rem); h = NLMSG_NEXT(h, rem)) {
			const struct inet_diag_msg *m = NLMSG_DATA(h);
			int sport;

			cr_assert_neq(h->nlmsg_type, NLMSG_ERROR, "the kernel refused the filter: %d",
				      -((const struct nlmsgerr *)NLMSG_DATA(h))->error);
			if (h->nlmsg_type == NLMSG_DONE) {
				done = 1;
				break;
			}
			sport = ntohs(m->id.idiag_sport);
			cr_assert(sport == ours[0].port || sport == ours[1].port,
				  "port %d came back (ours are %d and %d)", sport, ours[0].port,
				  ours[1].port);
			seen_ours += m->idiag_inode == ours[0].inode || m->idiag_inode == ours[1].inode;
		}
		cr_assert_geq(census_parse(cs, &c, AF_INET, buf, (size_t)n), 0);
	}
	close(fd);
	cr_assert_eq(seen_ours, 2, "both accepted connections are in the answer");
	for (i = 0; i < 2; i++)
		cr_assert(census_has(cs, ours[i].inode) && !census_has(cs, ours[i].client_inode));
	cr_assert(!census_has(cs, theirs.inode) && !census_has(cs, theirs.client_inode));
	census_free(cs);
	close_pair(&ours[0]);
	close_pair(&ours[1]);
	close_pair(&theirs);
	free_cluster(&c);
}

Test(census, unix_connections_of_a_path_listener)
{
	struct cluster c = { 0 };
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	struct worker w = { .c = &c, .pid = getpid() };
	int l, cl, acc;

	snprintf(a.sun_path, sizeof(a.sun_path), "/tmp/census-test-%d.sock", (int)getpid());
	unlink(a.sun_path);
	l = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	cr_assert_eq(bind(l, (struct sockaddr *)&a, sizeof(a)), 0);
	cr_assert_eq(listen(l, 4), 0);
	cl = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	cr_assert_eq(connect(cl, (struct sockaddr *)&a, sizeof(a)), 0);
	acc = accept4(l, NULL, NULL, SOCK_CLOEXEC);
	cr_assert_geq(acc, 0);
	/* as the registry keeps it: the name as the program asked for it */
	fake_unix(&c, a.sun_path, strlen(a.sun_path) + 1);
	c.loop = loop_new();
	cr_assert_eq(census_held(census_fresh(&c), &w), 1,
		     "the accepted end, not the client's nor the listener");
	close(acc);
	close(cl);
	close(l);
	unlink(a.sun_path);
	free_cluster(&c);
}

Test(census, held_by_this_process)
{
	struct cluster c = { 0 };
	struct pair p[2];
	struct worker w = { .c = &c, .pid = getpid() };
	struct worker gone = { .c = &c, .pid = 0x3ffffff0 };
	struct census *cs;

	open_pair(&p[0]);
	open_pair(&p[1]);
	fake_listener(&c, AF_INET, SOCK_STREAM, p[0].port);
	fake_listener(&c, AF_INET, SOCK_STREAM, p[1].port);
	c.loop = loop_new();
	cs = census_fresh(&c);
	cr_assert(cs, "sock_diag answered");
	cr_assert_eq(census_held(cs, &w), 2, "the accepted ends, not the clients'");
	cr_assert_eq(census_held(cs, &gone), 0, "a process that is gone holds nothing");
	close(p[0].accepted);
	p[0].accepted = -1;
	cr_assert_eq(census_held(cs, &w), 1, "the same census, the fd tables walked again");
	cr_assert_eq(census_held(NULL, &w), -1, "no census: the caller's fallback");
	close_pair(&p[0]);
	close_pair(&p[1]);
	free_cluster(&c);
}

/* --- one snapshot per turn --------------------------------------------- */

struct turns {
	struct cluster *c;
	int turn;
	unsigned long mark;     /* census_next_mark after the first turn's */
	struct census *first;
};

static void turn_timer(struct loop *loop, void *data)
{
	struct turns *t = data;
	struct cluster *c = t->c;
	struct census *cs;

	if (t->turn++ == 0) {
		t->first = census_fresh(c);
		t->mark = census_next_mark(c);
		cr_assert_eq(census_fresh(c), t->first, "the same turn: no new dump");
		cr_assert_eq(census_next_mark(c), t->mark);
		loop_timer(loop, 0, turn_timer, t);     /* runs in the next turn */
		return;
	}
	cr_assert_eq(census_since(c, t->mark - 1), t->first,
		     "a drain's census of any age, numbered at its mark or later");
	cr_assert_eq(census_next_mark(c), t->mark, "no new dump for it");
	cs = census_fresh(c);
	cr_assert_eq(census_next_mark(c), t->mark + 1, "a new turn: a new dump");
	cr_assert_eq(census_fresh(c), cs);
	cr_assert_eq(census_since(c, t->mark), cs, "this turn's serves a drain too");
	cr_assert_eq(census_next_mark(c), t->mark + 1);
	loop_stop(loop);
}

Test(census, one_snapshot_per_turn)
{
	struct cluster c = { 0 };
	struct pair p;
	struct turns t = { .c = &c };
	unsigned long mark;
	struct census *cs;

	open_pair(&p);
	fake_listener(&c, AF_INET, SOCK_STREAM, p.port);
	c.loop = loop_new();
	cr_assert_eq(census_next_mark(&c), 1);
	cs = census_fresh(&c);
	cr_assert(cs);
	mark = census_next_mark(&c);
	cr_assert_eq(mark, 2);
	cr_assert_eq(census_since(&c, mark - 1), cs);
	cr_assert_eq(census_next_mark(&c), mark, "numbered at the mark: shared");
	cr_assert(census_since(&c, mark));
	cr_assert_eq(census_next_mark(&c), mark + 1,
		     "a mark after it, even in the same turn: a new dump");
	loop_timer(c.loop, 0, turn_timer, &t);
	loop_run(c.loop);
	cr_assert_eq(t.turn, 2);
	close_pair(&p);
	free_cluster(&c);
}
