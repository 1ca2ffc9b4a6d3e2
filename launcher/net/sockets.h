/*
 * sockets.h - see sockets.c.
 */
#ifndef LAUNCHER_NET_SOCKETS_H
#define LAUNCHER_NET_SOCKETS_H

#include <sys/socket.h>
#include <sys/types.h>

struct msg_bind;
struct creds;

/* Which socket of an address socket_open_listener opens (see sockets.c,
 * "Ownership"). */
enum socket_role {
	SOCKET_FIRST,           /* the address's only one: it holds the address
				 * alone; SO_REUSEPORT only if the program asked */
	SOCKET_FIRST_OF_GROUP,  /* the first, and slot sockets will join it */
	SOCKET_JOIN,            /* another one of ours: joins the first's group */
};

/* sockets.c: bind (and listen) as the program would have, at addr; with
 * as (--user), bound with those credentials instead of ours.  The fd, or
 * -1 with *err set to the errno the worker's bind() must fail with. */
int socket_open_listener(const struct msg_bind *req, const struct sockaddr_storage *addr,
			 socklen_t addrlen, enum socket_role role, const struct creds *as,
			 int *err);
/* Connections waiting in listening TCP socket fd's accept queue; 0 when
 * it has none or cannot be asked. */
unsigned socket_accept_queue(int fd);

#endif
