/*
 * sd_notify.h - systemd's readiness and watchdog notifications, spoken
 * directly on $NOTIFY_SOCKET (see sd_notify.c).
 */
#ifndef LAUNCHER_SD_NOTIFY_H
#define LAUNCHER_SD_NOTIFY_H

#include <stdint.h>
#include <sys/socket.h>
#include <sys/un.h>

struct loop;

struct sd_notify {
	int fd;                         /* -1: not run by systemd */
	struct sockaddr_un addr;
	socklen_t addrlen;
	int failed;                     /* a send failed: said once */
	int64_t watchdog_ms;            /* WATCHDOG=1 period, 0 for none */
	uint64_t watchdog_timer;
};

/* Read and remove NOTIFY_SOCKET, WATCHDOG_USEC, WATCHDOG_PID from the
 * environment.  0 (also when not under systemd), -1 logged. */
int sd_notify_open(struct sd_notify *n);
int sd_notify_enabled(const struct sd_notify *n);
void sd_notify_send(struct sd_notify *n, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void sd_notify_watchdog_start(struct sd_notify *n, struct loop *loop);
void sd_notify_close(struct sd_notify *n, struct loop *loop);
/* An in-place upgrade: sd_notify_open took NOTIFY_SOCKET out of the
 * environment, so the new image cannot read it again: the socket, the
 * address and the watchdog (its next WATCHDOG=1 at its deadline) go in
 * the current record (keys notify_*), and come back from rec. */
struct state_out;
struct state_rec;
void sd_notify_save(const struct sd_notify *n, const struct loop *loop, struct state_out *o);
void sd_notify_restore(struct sd_notify *n, struct loop *loop, const struct state_rec *rec);

#endif
