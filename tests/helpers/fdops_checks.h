/*
 * fdops_checks.h - the start-up checks of fdops_server: what language
 * runtimes and servers do to a listening socket besides accept() (socket
 * options, fcntl/ioctl flags, dup and friends), and whether ordinary
 * non-listening sockets still behave.
 *
 * Each check adds one "key=ok" or "key=bad:<detail>" line to the results;
 * fdops_server puts those lines in every reply.
 */
#ifndef FDOPS_CHECKS_H
#define FDOPS_CHECKS_H

#include <stddef.h>

#define FDOPS_WHY_MAX 128

struct fdops_results {
	char text[2048];
	size_t len;
};

/* Add "key=ok" (why is "") or "key=bad:<why>". */
void fdops_record(struct fdops_results *r, const char *key, const char *why);

/* so_type, so_domain, so_protocol, so_acceptconn, sockname (port_before
 * is what getsockname said between bind and listen), getpeername,
 * fcntl_nonblock, ioctl_fionbio, cloexec.  The listener's flags end as
 * they started: blocking, no FD_CLOEXEC. */
void fdops_check_listener(struct fdops_results *r, int fd, int family, int port_before);

/* dup, dup2, dup3, dupfd_cloexec, close_original: makes the copies, closes
 * all but the dup() one *and the original*, and returns the copy that is
 * left to serve on (fd itself if dup() failed). */
int fdops_check_dups(struct fdops_results *r, int fd);

/* udp (a datagram to itself on 127.0.0.1) and socketpair (AF_UNIX). */
void fdops_check_other_sockets(struct fdops_results *r);

#endif
