/* handshakes.h - the half-open handshakes of a listener at a cut, waited
 * for by a deferred drain (handshakes.c). */
#ifndef CLUSTER_HANDSHAKES_H
#define CLUSTER_HANDSHAKES_H

struct listener;

/* Lists the handshakes half done on l's port now, after new SYNs were
 * steered away from a socket of l or stopped. */
void handshakes_cut(struct listener *l);
/* How many of those may still complete on a socket of l (0: none, and
 * the accept queues are final). */
unsigned handshakes_pending(struct listener *l);
void handshakes_free(struct listener *l);

#endif
