/*
 * sockets.h - see sockets.c.
 */
#ifndef LAUNCHER_NET_SOCKETS_H
#define LAUNCHER_NET_SOCKETS_H

#include <sys/socket.h>
#include <sys/types.h>

struct msg_bind;

/* sockets.c: bind (and listen) as the program would have, at addr.  The
 * fd, or -1 with *err set to the errno the worker's bind() must fail with. */
int socket_open_listener(const struct msg_bind *req, const struct sockaddr_storage *addr,
			 socklen_t addrlen, int reuseport, int *err);
/* Connections waiting in listening TCP socket fd's accept queue; 0 when
 * it has none or cannot be asked. */
unsigned socket_accept_queue(int fd);

#endif
