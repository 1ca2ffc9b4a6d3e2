/*
 * test_handshakes.c - the handshakes half done at a cut
 * (launcher/net/handshakes.c), against the running kernel, in process.
 *
 * A late final ACK is made on purpose: a socket filter on listener B drops
 * every segment with ACK and without SYN, so a client's connect() returns
 * (its side is established) while the server's side stays a request socket
 * on B.  That is the state a reuseport scale-down or a stop met when a
 * client's ACK came late (drain::reuseport's one reset in ~46,000 under
 * two busy loops): B's accept queue is empty, and the connection
 * completes there later.
 *
 *   - the kernel itself: steered away and closed before the ACK, B resets
 *     the client, which had connected and sent its request;
 *   - handshakes_cut lists it, handshakes_pending counts it until the
 *     ACK gets through (the filter removed: the client's retransmission),
 *     then one poll more, then 0; by then B's queue holds the connection,
 *     which the drain's queue check sees;
 *   - what the cut did not list (a later handshake) is not waited for.
 */
#include "harness.h"
#include "cluster.h"
#include "net/handshakes.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <linux/filter.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

TestSuite(handshakes, .timeout = 60);

static unsigned queue_of(int fd)
{
	struct tcp_info ti;
	socklen_t len = sizeof(ti);

	cr_assert_eq(getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len), 0);
	return ti.tcpi_unacked;
}

static int rp_listener(int port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;

	cr_assert(fd >= 0);
	cr_assert_eq(setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)), 0);
	cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0, "bind: %s", strerror(errno));
	cr_assert_eq(listen(fd, 16), 0);
	return fd;
}

/* Every new SYN of the group to the socket at index idx. */
static void steer_to(int fd, int idx)
{
	struct sock_filter code[] = { BPF_STMT(BPF_RET | BPF_K, (uint32_t)idx) };
	struct sock_fprog p = { .len = 1, .filter = code };

	cr_assert_eq(setsockopt(fd, SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, &p, sizeof(p)), 0);
}

static void drop_final_acks(int fd)
{
	struct sock_filter code[] = {
		BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 13),                  /* TCP flags */
		BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, 0x02, 1, 0),        /* SYN: keep */
		BPF_STMT(BPF_RET | BPF_K, 0),
		BPF_STMT(BPF_RET | BPF_K, 0xffffffff),
	};
	struct sock_fprog p = { .len = 4, .filter = code };

	cr_assert_eq(setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &p, sizeof(p)), 0);
}

static int client_to(int port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	cr_assert(fd >= 0);
	cr_assert_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0, "connect: %s",
		     strerror(errno));
	cr_assert_eq(write(fd, "GET / HTTP/1.0\r\n\r\n", 18), 18);
	return fd;
}

static struct listener *listener_on(int port)
{
	struct listener *l = calloc(1, sizeof(*l));
	struct sockaddr_in *a = (struct sockaddr_in *)&l->addr;

	cr_assert(l);
	l->family = AF_INET;
	l->type = SOCK_STREAM;
	l->fd = -1;
	a->sin_family = AF_INET;
	a->sin_port = htons((uint16_t)port);
	l->addrlen = sizeof(*a);
	snprintf(l->name, sizeof(l->name), "127.0.0.1:%d", port);
	return l;
}

/* A: index 0, B: index 1, and a client half connected to B. */
static int half_connected(int port, int *a, int *b)
{
	*a = rp_listener(port);
	*b = rp_listener(port);
	steer_to(*a, 1);
	drop_final_acks(*b);
	return client_to(port);
}

Test(handshakes, a_late_ack_on_a_closed_listener_is_reset)
{
	int port = free_port(), a, b, c = half_connected(port, &a, &b);
	struct pollfd p = { .fd = c, .events = POLLIN };
	char buf[64];

	steer_to(a, 0);
	cr_assert_eq(queue_of(b), 0, "the handshake is not in B's queue yet");
	close(b);
	cr_assert_gt(poll(&p, 1, 5000), 0);
	cr_assert_lt(read(c, buf, sizeof(buf)), 0);
	cr_assert_eq(errno, ECONNRESET, "the client read %s", strerror(errno));
	close(c);
	close(a);
}

Test(handshakes, the_cut_waits_until_a_late_ack_is_in_the_queue)
{
	int port = free_port(), a, b, c = half_connected(port, &a, &b), one = 1, i;
	struct listener *l = listener_on(port);
	unsigned n = 0;

	steer_to(a, 0);                 /* the cut: new SYNs go to A */
	handshakes_cut(l);
	cr_assert_eq(l->ncut, 1, "listed %d half-open handshakes", l->ncut);
	cr_assert_eq(handshakes_pending(l), 1);
	cr_assert_eq(queue_of(b), 0);
	/* a handshake after the cut, completed on A: not waited for */
	int later = client_to(port);
	cr_assert_eq(handshakes_pending(l), 1);
	/* the ACK gets through at the client's next retransmission */
	cr_assert_eq(setsockopt(b, SOL_SOCKET, SO_DETACH_FILTER, &one, sizeof(one)), 0);
	for (i = 0; i < 300 && (n = handshakes_pending(l)) > 0; i++)
		usleep(10000);
	cr_assert_eq(n, 0, "still waited for after 3 s");
	cr_assert_eq(queue_of(b), 1, "the late connection is in B's queue: the drain sees it");
	close(later);
	close(c);
	close(a);
	close(b);
	handshakes_free(l);
	free(l);
}

Test(handshakes, nothing_half_done_nothing_waited_for)
{
	int port = free_port(), a = rp_listener(port);
	struct listener *l = listener_on(port);

	handshakes_cut(l);
	cr_assert_eq(l->ncut, 0);
	cr_assert_eq(handshakes_pending(l), 0);
	close(a);
	handshakes_free(l);
	free(l);
}
