/*
 * holder.h - see holder.c.
 */
#ifndef LAUNCHER_NET_HOLDER_H
#define LAUNCHER_NET_HOLDER_H

#include <stddef.h>

struct msg_bind;

/* holder.c: who holds req's address, which the master could not bind
 * (EADDRINUSE), in words to follow "Address already in use, ": "held by
 * nginx (pid 812, uid 0)", "held by a process of uid 33", or a hint ("by
 * connections in TIME_WAIT (...)"); "" when the kernel does not say.
 * Returns the inode of the socket that holds it, 0 when none was found. */
unsigned long holder_describe(const struct msg_bind *req, char *out, size_t cap);

#endif
