/*
 * board.c - the master's side of each worker's board: one page of shared
 * memory (a memfd) the worker's shim maps on its first bind (MSG_BOARD).
 * Layout and the drain handshake: shim/wire/protocol.h.
 *
 * The shim counts accepts and closes there without a system call, and the
 * master reads the counters only when it needs them (leastconn's choice,
 * status).  Everything read here is the worker's word: a worker that
 * scribbles on its board can only mislead the master about itself, and
 * every value is bounded before use, here or by its reader (balancer.c,
 * against what the master handed).
 *
 * Accepts under shared and reuseport are the worker's own: the master
 * hands nothing to count.  What the kernel can say instead is how many
 * TCP connections were established in our network namespace
 * (TcpPassiveOpens, /proc/net/snmp): a worker cannot have accepted more
 * since its start than that count grew, plus what was already waiting in
 * the listeners' queues then (board_accept_ceiling).  A bound, not a
 * count: every TCP server of the namespace, ours included, raises it.
 */
#include "net/board.h"
#include "cluster.h"
#include "base/log.h"
#include "base/loop.h"
#include "net/sockets.h"

#include <fcntl.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

const char *board_snmp_path = "/proc/net/snmp";

/* The value under `name` in the "Tcp:" lines of /proc/net/snmp (a line
 * of names, then one of values), or UINT64_MAX. */
static uint64_t tcp_counter(const char *text, const char *name)
{
	const char *names = strstr(text, "Tcp: "), *values, *p;
	size_t len = strlen(name);
	int col = 0;

	if (!names || !(values = strstr(names + 5, "Tcp: ")))
		return UINT64_MAX;
	for (p = names + 5; p < values; col++) {
		if (!strncmp(p, name, len) && (p[len] == ' ' || p[len] == '\n'))
			break;
		if (!(p = strchr(p, ' ')) || p >= values)
			return UINT64_MAX;
		p++;
	}
	for (p = values + 5; col > 0; col--)
		if (!(p = strchr(p, ' ')))
			return UINT64_MAX;
		else
			p++;
	if (*p < '0' || *p > '9')
		return UINT64_MAX;
	return strtoull(p, NULL, 10);
}

/* TcpPassiveOpens: TCP connections ever established to a listener of our
 * network namespace (each child socket a listener made, syncookies and
 * Fast Open included), or UINT64_MAX when the kernel would not say.  Read
 * once per millisecond at most: the health checks ask for every worker. */
static uint64_t passive_opens(void)
{
	static int64_t read_at = -1;
	static uint64_t value = UINT64_MAX;
	char text[4096];
	ssize_t n;
	int fd;

	if (loop_now_ms() == read_at)
		return value;
	read_at = loop_now_ms();
	value = UINT64_MAX;
	fd = open(board_snmp_path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return value;
	n = read(fd, text, sizeof(text) - 1);
	close(fd);
	if (n <= 0)
		return value;
	text[n] = '\0';
	value = tcp_counter(text, "PassiveOpens");
	return value;
}

/* What bounds w's accepts from now on: the count first, then the queues,
 * so that a connection established in between is in both (high, never
 * low).  A worker started later than a connection can still accept it
 * from the queue; one established later raises the count.  Every TCP
 * listener's sockets, whatever its policy: the master's own accepts only
 * loosen the bound. */
static void note_accept_base(struct worker *w)
{
	struct cluster *c = w->c;
	uint64_t queued = 0;
	int i, k;

	w->accept_queued = UINT64_MAX;
	w->accept_opens = passive_opens();
	if (w->accept_opens == UINT64_MAX || !c)
		return;
	for (i = 0; i < c->nlisteners; i++) {
		const struct listener *l = c->listeners[i];

		if (l->type != SOCK_STREAM || l->family == AF_UNIX)
			continue;
		queued += socket_accept_queue(l->fd);
		for (k = 0; k < l->nslot_fds; k++)
			if (l->slot_fds[k] != l->fd)
				queued += socket_accept_queue(l->slot_fds[k]);
	}
	w->accept_queued = queued;
}

uint64_t board_accept_ceiling(const struct worker *w)
{
	uint64_t now, grown;

	if (!w->board)
		return 0;               /* nothing to claim anything on */
	if (w->accept_opens == UINT64_MAX || w->accept_queued == UINT64_MAX)
		return UINT64_MAX;
	now = passive_opens();
	if (now == UINT64_MAX || now < w->accept_opens)
		return UINT64_MAX;      /* unreadable since, or not the same count */
	grown = now - w->accept_opens;
	return grown > UINT64_MAX - w->accept_queued ? UINT64_MAX : grown + w->accept_queued;
}

int board_create(struct worker *w)
{
	void *p;

	w->board = NULL;
	w->board_fd = memfd_create("cluster-run-board", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (w->board_fd < 0)
		return -1;
	/* Sealed at its size: a worker that truncated the file it is given
	 * would make the master's next read of the mapping a SIGBUS. */
	if (ftruncate(w->board_fd, sizeof(struct worker_board)) < 0 ||
	    fcntl(w->board_fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0)
		goto fail;
	p = mmap(NULL, sizeof(struct worker_board), PROT_READ | PROT_WRITE, MAP_SHARED,
		 w->board_fd, 0);
	if (p == MAP_FAILED)
		goto fail;
	w->board = p;
	w->board->magic = BOARD_MAGIC;
	w->board->version = CLUSTER_PROTO_VERSION;
	note_accept_base(w);
	return 0;
fail:
	close(w->board_fd);
	w->board_fd = -1;
	return -1;
}

int board_adopt(struct worker *w, int fd)
{
	struct stat st;
	void *p;

	w->board = NULL;
	w->board_fd = -1;
	if (fd < 0)
		return 0;
	/* sealed at its size when made: a shorter one would be a SIGBUS */
	if (fstat(fd, &st) < 0 || st.st_size < (off_t)sizeof(struct worker_board) ||
	    (p = mmap(NULL, sizeof(struct worker_board), PROT_READ | PROT_WRITE, MAP_SHARED,
		      fd, 0)) == MAP_FAILED)
		return -1;      /* fd left open: a fallback's old image takes it */
	w->board = p;
	w->board_fd = fd;
	return 0;
}

void board_free(struct worker *w)
{
	if (w->board)
		munmap(w->board, sizeof(struct worker_board));
	if (w->board_fd >= 0)
		close(w->board_fd);
	w->board = NULL;
	w->board_fd = -1;
}

void board_set_drain(struct worker *w, uint32_t lid)
{
	if (w->board && lid < CLUSTER_MAX_LISTENERS)
		atomic_fetch_or(&w->board->drain, 1ull << lid);
}

void board_set_retiring(struct worker *w)
{
	if (w->board)
		atomic_store(&w->board->retiring, 1);
}

unsigned board_in_accept(const struct worker *w, uint32_t lid)
{
	uint32_t n;

	if (!w->board || lid >= CLUSTER_MAX_LISTENERS)
		return 0;
	n = atomic_load(&w->board->l[lid].in_accept);
	return n > 1u << 20 ? 1u << 20 : n;     /* garbage: "busy", not forever */
}

uint64_t board_accepted(const struct worker *w, uint32_t lid)
{
	if (!w->board || lid >= CLUSTER_MAX_LISTENERS)
		return 0;
	return atomic_load(&w->board->l[lid].accepted);
}

uint64_t board_received(const struct worker *w, uint32_t lid)
{
	if (!w->board || lid >= CLUSTER_MAX_LISTENERS)
		return 0;
	return atomic_load(&w->board->l[lid].received);
}

uint64_t board_closed(const struct worker *w, uint32_t lid)
{
	if (!w->board || lid >= CLUSTER_MAX_LISTENERS)
		return 0;
	return atomic_load(&w->board->l[lid].closed);
}

/* Every worker gets a board at its spawn, before anyone knows whether a
 * shim will map it: through seccomp none does, and its zeros mean
 * nothing. */
int board_kept(const struct worker *w)
{
	const struct cluster *c = w->c;

	return w->board && !(c && c->prog && c->prog->via == VIA_SECCOMP);
}

/* Each bucket is read once; the sum after them, so that it lags (a close
 * adds its duration to the sum before its bucket: see the shim's drain.c)
 * rather than leads them by much.  A worker's word like the rest: only
 * what it says of itself. */
int board_durations(const struct worker *w, uint64_t counts[BOARD_DURATION_BUCKETS],
		    uint64_t *sum_us)
{
	int i;

	if (!board_kept(w))
		return -1;
	for (i = 0; i < BOARD_DURATION_BUCKETS; i++)
		counts[i] = atomic_load(&w->board->dur_bucket[i]);
	*sum_us = atomic_load(&w->board->dur_sum_us);
	return 0;
}
