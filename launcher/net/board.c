/*
 * board.c - the master's side of each worker's board: one page of shared
 * memory (a memfd) the worker's shim maps on its first bind (MSG_BOARD).
 * Layout and the drain handshake: shim/wire/protocol.h.
 *
 * The shim counts accepts and closes there without a system call, and the
 * master reads the counters only when it needs them (leastconn's choice,
 * status).  Everything read here is the worker's word: a worker that
 * scribbles on its board can only mislead the master about itself, and
 * every value is bounded before use.
 */
#include "net/board.h"
#include "cluster.h"
#include "base/log.h"

#include <fcntl.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <unistd.h>

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
	return 0;
fail:
	close(w->board_fd);
	w->board_fd = -1;
	return -1;
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
