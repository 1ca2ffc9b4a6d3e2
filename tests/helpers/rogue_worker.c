/*
 * rogue_worker MODE: a worker that breaks the wire contract (shim/wire/protocol.h)
 * on purpose, for test_hardening.  It takes the slot's doorbell from
 * CLUSTER_RUN_FD, as the shim would, does one bad thing, then sleeps until
 * it is killed (or stopped: TERM ends it).  It never calls bind (but in
 * scribble-board mode), so the shim that cluster-run preloads into it stays
 * out of the way; fds it closes are closed with the raw system call, which
 * the shim does not see.
 *
 * Doorbell modes (only MSG_ATTACH with a private channel end belongs there):
 *   garbage        37 bytes that are no message
 *   truncated      the first 6 bytes of a valid MSG_ATTACH, with its fd
 *   wronglen       a MSG_ATTACH whose header length disagrees with its size
 *   oversized      600 bytes, more than any message (the master's buffer)
 *   nofd           a valid MSG_ATTACH without the private channel end
 *   close-doorbell close the doorbell at once (not misbehaving: a process
 *                  that will never talk to the master)
 * Private channel modes (a valid MSG_ATTACH first, then on the channel):
 *   private-garbage    37 bytes of garbage
 *   private-truncated  a MSG_BIND cut after its header
 *   private-fd         a valid MSG_LISTEN carrying an fd
 *   private-listener   a MSG_LISTEN for a listener it was never given
 *   private-close      close the doorbell and the channel mid-way, after
 *                      the attach (not misbehaving either)
 * Resource modes:
 *   attach-flood   valid MSG_ATTACHes, each with a new private channel
 *                  whose end it keeps, until it runs out of fds or the
 *                  master stops reading for a second: each costs the
 *                  master an fd as long as the worker lives
 * Board mode (a server through the shim, lying on the board it shares):
 *   scribble-board binds 127.0.0.1:0 and listens as blocking_server does
 *                  (so it joins their listener), then writes 2^64-1 as
 *                  every listener's closed count on its board, and again
 *                  after each connection it accepts; it answers none and
 *                  closes none.  Believed, it is forever idle: leastconn
 *                  would give it every connection it has room for.
 *   scribble-accepts the same, but the board says 2^64-1 connections
 *                  accepted (and none closed): believed under shared,
 *                  --max-requests would recycle it at once.
 * Prints "rogue: MODE done" on stderr once the bad thing is sent.
 */
#include "wire/protocol.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <unistd.h>

static int raw_close(int fd)
{
	return (int)syscall(SYS_close, fd);
}

/* One datagram of len bytes, with fd attached when fd >= 0. */
/* The shim's own sender (fdpass.c): it sends whatever bytes it is given,
 * which is all a rogue needs. */
static int send_raw(int sock, const void *data, size_t len, int fd)
{
	if (msg_send(sock, data, len, fd, 0) < 0) {
		perror("rogue: sendmsg");
		return -1;
	}
	return 0;
}

static void fill_garbage(unsigned char *buf, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		buf[i] = (unsigned char)(0xA5 ^ (i * 37));
}

static void attach_msg(struct msg_attach *m)
{
	memset(m, 0, sizeof(*m));
	msg_init(m, MSG_ATTACH, 0);
	m->version = CLUSTER_PROTO_VERSION;
	m->pid = (int32_t)getpid();
}

/* A valid attach: the master keeps sv[1]; ours is returned. */
static int attach(int doorbell)
{
	struct msg_attach m;
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
		perror("rogue: socketpair");
		return -1;
	}
	attach_msg(&m);
	if (send_raw(doorbell, &m, sizeof(m), sv[1]) < 0)
		return -1;
	raw_close(sv[1]);
	return sv[0];
}

static int doorbell_mode(const char *mode, int db)
{
	unsigned char junk[600];
	struct msg_attach m;
	int sv[2], r;

	fill_garbage(junk, sizeof(junk));
	attach_msg(&m);
	if (!strcmp(mode, "garbage"))
		return send_raw(db, junk, 37, -1);
	if (!strcmp(mode, "oversized"))
		return send_raw(db, junk, sizeof(junk), -1);
	if (!strcmp(mode, "nofd"))
		return send_raw(db, &m, sizeof(m), -1);
	if (!strcmp(mode, "close-doorbell"))
		return raw_close(db);
	if (!strcmp(mode, "attach-flood")) {
		struct timeval tv = { 1, 0 };   /* a master that stops reading ends it */
		long n = 0;

		setsockopt(db, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));

		while (attach(db) >= 0)         /* keep our ends: the master's stay */
			n++;
		fprintf(stderr, "rogue: %ld attaches sent\n", n);
		return 0;
	}
	if (strcmp(mode, "truncated") && strcmp(mode, "wronglen"))
		return 1;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return -1;
	if (!strcmp(mode, "truncated")) {
		r = send_raw(db, &m, 6, sv[1]);
	} else {
		m.hdr.len = (uint16_t)(sizeof(m) + 8);
		r = send_raw(db, &m, sizeof(m), sv[1]);
	}
	raw_close(sv[1]);
	return r;
}

static int private_mode(const char *mode, int db)
{
	unsigned char junk[64];
	struct msg_listener lm;
	struct msg_bind bm;
	int priv, r;

	if (strncmp(mode, "private-", 8))
		return 1;
	priv = attach(db);
	if (priv < 0)
		return -1;
	fill_garbage(junk, sizeof(junk));
	memset(&lm, 0, sizeof(lm));
	msg_init(&lm, MSG_LISTEN, 1);
	lm.backlog = 16;
	mode += 8;
	if (!strcmp(mode, "garbage")) {
		r = send_raw(priv, junk, 37, -1);
	} else if (!strcmp(mode, "truncated")) {
		memset(&bm, 0, sizeof(bm));
		msg_init(&bm, MSG_BIND, 1);
		r = send_raw(priv, &bm, sizeof(bm.hdr), -1);
	} else if (!strcmp(mode, "fd")) {
		r = send_raw(priv, &lm, sizeof(lm), STDIN_FILENO);
	} else if (!strcmp(mode, "listener")) {
		lm.listener = CLUSTER_MAX_LISTENERS - 1;
		r = send_raw(priv, &lm, sizeof(lm), -1);
	} else if (!strcmp(mode, "close")) {
		r = raw_close(db) < 0 || raw_close(priv) < 0 ? -1 : 0;
	} else {
		return 1;
	}
	return r;
}

/* The board the shim mapped at its first bind (a memfd named
 * "cluster-run-board", see launcher/net/board.c), or NULL. */
static struct worker_board *find_board(void)
{
	FILE *f = fopen("/proc/self/maps", "re");
	char line[512];
	unsigned long start;
	struct worker_board *b = NULL;

	if (!f)
		return NULL;
	while (!b && fgets(line, sizeof(line), f))
		if (strstr(line, "cluster-run-board") && sscanf(line, "%lx-", &start) == 1)
			b = (struct worker_board *)start;
	fclose(f);
	return b && b->magic == BOARD_MAGIC ? b : NULL;
}

static void scribble(struct worker_board *b, int accepts)
{
	int i;

	for (i = 0; i < CLUSTER_MAX_LISTENERS; i++)
		if (accepts) {
			b->l[i].accepted = UINT64_MAX;
			b->l[i].closed = 0;
		} else {
			b->l[i].closed = UINT64_MAX;
		}
}

static int board_mode(const char *mode)
{
	struct sockaddr_in a;
	struct worker_board *b;
	int s, accepts = !strcmp(mode, "scribble-accepts");

	if (strcmp(mode, "scribble-board") && !accepts)
		return 1;
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	s = socket(AF_INET, SOCK_STREAM, 0);
	if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(s, 128) < 0) {
		perror("rogue: listen");
		return -1;
	}
	if (!(b = find_board())) {
		fprintf(stderr, "rogue: no board mapped after bind\n");
		return -1;
	}
	scribble(b, accepts);
	fprintf(stderr, "rogue: %s done\n", mode);
	for (;;) {              /* take, keep, never answer nor close */
		int conn = accept(s, NULL, NULL);

		if (conn < 0 && errno != EINTR && errno != ECONNABORTED) {
			perror("rogue: accept");
			return -1;
		}
		scribble(b, accepts);
	}
}

int main(int argc, char **argv)
{
	const char *v = getenv(CLUSTER_ENV_FD);
	char *end;
	long db;
	int r;

	if (argc != 2) {
		fprintf(stderr, "usage: rogue_worker MODE (see rogue_worker.c)\n");
		return 2;
	}
	if (!v || (db = strtol(v, &end, 10), (*end && *end != ':') || end == v || db < 0)) {
		fprintf(stderr, "rogue: no %s in the environment\n", CLUSTER_ENV_FD);
		return 2;
	}
	r = doorbell_mode(argv[1], (int)db);
	if (r == 1)
		r = private_mode(argv[1], (int)db);
	if (r == 1)
		r = board_mode(argv[1]);
	if (r == 1) {
		fprintf(stderr, "rogue: unknown mode '%s'\n", argv[1]);
		return 2;
	}
	if (r < 0)
		return 1;
	fprintf(stderr, "rogue: %s done\n", argv[1]);
	for (;;)
		pause();
}
