/*
 * sd_listen.h - systemd socket activation: the listening sockets cluster-run
 * inherited through LISTEN_FDS, used in place of binding (see sd_listen.c).
 */
#ifndef LAUNCHER_SD_LISTEN_H
#define LAUNCHER_SD_LISTEN_H

#include <sys/socket.h>

struct cluster;
struct msg_bind;

struct inherited_socket {
	int fd;
	int used;                       /* a listener took it */
	int family, type;
	int reuseport;                  /* SO_REUSEPORT was set on it */
	socklen_t addrlen;
	struct sockaddr_storage addr;
	char name[64];                  /* from LISTEN_FDNAMES, or "" */
};

struct sd_listen {
	struct inherited_socket *socks;
	int n;
};

/* Take the sockets named by LISTEN_FDS/LISTEN_PID (fd 3 on), mark them
 * close-on-exec and remove the variables from the environment.  0, or -1
 * (logged) when the variables are there but wrong. */
int sd_listen_collect(struct sd_listen *s);
/* An inherited socket for this bind request: its fd, or -1 when none
 * matches.  *plain is set when it has no SO_REUSEPORT (the caller's
 * per-slot policy then falls back to one shared socket). */
int sd_listen_take(struct cluster *c, const struct msg_bind *req, int *plain);
/* Whether an inherited unix socket has this path: a worker's unlink()
 * before its bind must not remove systemd's socket file. */
int sd_listen_serves_path(struct cluster *c, const struct msg_bind *req);
/* Say which inherited sockets no worker bound (once the workers listen). */
void sd_listen_report_unused(struct sd_listen *s);
void sd_listen_close(struct sd_listen *s);

#endif
