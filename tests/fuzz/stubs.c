/*
 * stubs.c - what the fuzz target links instead of the supervisor, the
 * spawner, the output pipes and the network (see fuzz_master.c).
 */
#include "cluster.h"
#include "base/output.h"
#include "base/spawn.h"
#include "mechanism/mechanism.h"
#include "mechanism/seccomp_notify.h"
#include "supervise/retire.h"

#include <errno.h>
#include <sys/socket.h>

extern int fuzz_misbehaved;


struct output *output_new(struct loop *loop, int slot, int *out_w, int *err_w)
{
	(void)loop; (void)slot; (void)out_w; (void)err_w;
	return NULL;
}
void output_set_pid(struct output *o, pid_t pid) { (void)o; (void)pid; }
void output_free(struct output *o) { (void)o; }

void spawn_signal(pid_t pid, int sig) { (void)pid; (void)sig; }

/* mechanism.c is not linked: every fuzzed worker is a shim worker */
const char *via_name(enum via v) { (void)v; return "shim"; }

pid_t spawn_process(const struct spawn_args *a)
{
	(void)a;
	errno = ENOSYS;
	return -1;
}

/* Interposed for the whole fuzz binary: fuzzed addresses never reach the
 * kernel, and no file appears for a fuzzed unix path.  Every bind
 * "succeeds" except for port 1, which fails as a taken port would. */
int bind(int fd, const struct sockaddr *addr, socklen_t len)
{
	(void)fd;
	if (len >= 4 && (addr->sa_family == AF_INET || addr->sa_family == AF_INET6) &&
	    ((const unsigned char *)addr)[2] == 0 && ((const unsigned char *)addr)[3] == 1) {
		errno = EADDRINUSE;
		return -1;
	}
	return 0;
}

int listen(int fd, int backlog)
{
	(void)fd;
	(void)backlog;
	return 0;
}

/* seccomp_notify.c: the fuzz target's workers are never seccomp ones. */
int seccomp_spawn_prepare(struct cluster *c, struct spawn_args *a, int *sock)
{
	(void)c; (void)a; (void)sock;
	errno = ENOSYS;
	return -1;
}
int seccomp_spawn_done(struct cluster *c, struct worker *w, int sock)
{
	(void)c; (void)w; (void)sock;
	return -1;
}
void seccomp_worker_free(struct cluster *c, struct worker *w) { (void)c; (void)w; }
/* worker.c's upgrade save/restore (never run by the fuzz target) */
int seccomp_worker_adopt(struct cluster *c, struct worker *w, int fd)
{
	(void)c; (void)w; (void)fd;
	return -1;
}
void output_save(const struct output *o, struct state_out *so) { (void)o; (void)so; }
struct output *output_restore(struct loop *loop, int slot, pid_t pid, const struct state_rec *rec)
{
	(void)loop; (void)slot; (void)pid; (void)rec;
	return NULL;
}
