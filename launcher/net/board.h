/*
 * board.h - see board.c.
 */
#ifndef LAUNCHER_NET_BOARD_H
#define LAUNCHER_NET_BOARD_H

#include "wire/protocol.h"

#include <stdint.h>
#include <sys/types.h>

struct worker;

/* board.c: the page a worker shares with the master (protocol.h).  Values
 * read from it are the worker's word, bounded before use. */
int board_create(struct worker *w);
void board_free(struct worker *w);
/* An in-place upgrade: w's board from its memfd, carried across the exec
 * (its counters go on where they were).  0, or -1 (w has no board:
 * closes are reported one by one, as without one; fd is left open, for
 * the old image should the upgrade fall back). */
int board_adopt(struct worker *w, int fd);
void board_set_drain(struct worker *w, uint32_t lid);
/* The worker is leaving: its shim closes keep-alive connections at the
 * end of a response from now on (protocol.h, `retiring`). */
void board_set_retiring(struct worker *w);
unsigned board_in_accept(const struct worker *w, uint32_t lid);
uint64_t board_accepted(const struct worker *w, uint32_t lid);
uint64_t board_closed(const struct worker *w, uint32_t lid);
uint64_t board_received(const struct worker *w, uint32_t lid);
/* Whether a shim keeps w's board (not through seccomp, where nobody
 * maps it). */
int board_kept(const struct worker *w);
/* How long w's connections lived, as its shim counted them at their
 * closes (protocol.h, "Connection durations"): counts[i] per bucket, not
 * cumulative, and the sum in µs.  0, or -1 when no shim keeps its board
 * (board_kept). */
int board_durations(const struct worker *w, uint64_t counts[BOARD_DURATION_BUCKETS],
		    uint64_t *sum_us);
/* The most TCP connections w can have accepted itself since its board
 * was made (from every TCP listener together): the kernel's count of
 * connections established since, plus those queued then.  UINT64_MAX
 * when the kernel would not say; 0 without a board. */
uint64_t board_accept_ceiling(const struct worker *w);
/* Tests only: the file TcpPassiveOpens is read from (/proc/net/snmp). */
extern const char *board_snmp_path;

#endif
