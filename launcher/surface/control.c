/*
 * control.c - the master's control socket and its metrics endpoint.
 *
 * Control: a unix stream socket in a private runtime directory (see
 * runtime_dir.c), mode 0600, path printed at start; --control PATH moves
 * it, --control none turns it off.  Only our own user or root may talk to
 * it: SO_PEERCRED is checked on every connection, on top of the file mode.
 * The protocol is one line in, text out, then close:
 *
 *   status | status --json | reload [--wait] [--batch N|P%] [--canary]
 *   [--env K=V] [--env-file PATH] [-- PROGRAM ARGS] (reload_cmd.c) |
 *   rollout continue|abort [--wait] | scale N [--wait] | stop | signal SIG |
 *   logs [SLOT|master] [-n N] [-f] | upgrade [PATH]
 *   -> "ok\n" + body, or "error: why\n"
 *
 * The words and what they do are control_cmd.c's; this file reads the
 * line and sends what they answer.
 *
 * logs -f hands the client over to surface/logs.c, which streams it each
 * new line until it leaves or we stop.
 *
 * --wait keeps the client until the reload or the scaling has finished
 * (control_wait.c, which hears of it through c->hooks and streams a
 * reload's progress lines): a waiting client has no timeout here, it has
 * its own (cluster-ctl --timeout), and it leaves by closing.
 *
 * upgrade [PATH] (surface/upgrade.c) keeps the client too, until
 * c->hooks.upgrade_finished (control_wait.c): "ok\nTEXT\n", or "error: TEXT\n" (TEXT
 * says what failed: "upgrade to PATH refused: ..."; cluster-ctl prints
 * it as "upgrade failed: TEXT").  That hook runs in whichever image ends the upgrade, so the
 * client crosses the exec (control_save/control_restore), as every other
 * client, follower (logs.c) and the listening sockets do: the socket file
 * is neither unlinked nor bound again, its fd is the same.
 *
 * The protocol has no version: a command word an older master does not
 * know is answered "error: unknown command", which is all a newer
 * cluster-ctl needs to say so.  New words only, never a changed meaning.
 *
 * Metrics (--metrics ADDR:PORT): a minimal HTTP/1.0 endpoint: /ready and
 * /live for probes, the Prometheus text format (report.c) for any other
 * path (probes.c).
 *
 * Clients cannot starve the data path of fds: each kind (control, metrics)
 * has at most client_cap() connections at once, a fraction of the fd limit
 * (the rest is the data path's reserve); one more arriving closes the
 * oldest of its kind that has not sent its request yet (idle ones are what
 * a flood is made of), or is refused when all are busy answering.  If the
 * process is out of fds anyway (the data path took them), the listeners
 * pause for a moment and the backlog keeps the clients.
 *
 * A client has a few seconds (CLIENT_TIMEOUT_MS, from accept) to send its
 * line and read the answer.  The answer is written without blocking
 * (control_client.c): what the socket takes now, the rest on EPOLLOUT,
 * so a client that does not read costs the loop nothing but its timer.
 *
 * Not here: the command words (control_cmd.c), the clients that wait and
 * the hooks they hear through (control_wait.c), the client's struct, its
 * sending and its close (control_client.c), logs' followers (logs.c).
 */
#include "surface/control.h"
#include "cluster.h"
#include "base/addr.h"
#include "base/buf.h"
#include "base/log.h"
#include "base/loop.h"
#include "base/logline.h"
#include "base/runtime_dir.h"
#include "base/state.h"
#include "surface/control_client.h"
#include "surface/control_cmd.h"
#include "surface/control_wait.h"
#include "surface/logs.h"
#include "surface/probes.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define CLIENT_TIMEOUT_MS 5000

/* The kinds' names in the upgrade's state: a word, not a number, so that
 * a build that orders the enum otherwise still reads them. */
static const char *const wait_names[] = { "none", "reload", "scale", "logs", "upgrade" };
#define CLIENTS_MAX 64          /* per kind, whatever the fd limit */

static void client_timeout(struct loop *loop, void *data)
{
	struct client *cl = data;

	(void)loop;
	cl->timer = 0;
	control_client_close(cl);
}


/* logs -f: the client becomes a follower of surface/logs.c, which sends
 * it the answer so far and every new line from then on. */
static void hand_over(struct loop *loop, struct client *cl)
{
	loop_del_fd(loop, cl->fd);
	if (logs_follow(loop, cl->fd, &cl->logs, &cl->reply) == 0)
		cl->fd = -1;            /* logs.c's now, and the answer too */
	control_client_close(cl);
}

/* The request is in: answer it.  No more reading from here on: the fd
 * waits for EPOLLOUT only, so a client that keeps sending cannot make us
 * spin, and the timer set at accept still ends a client that never reads. */
static void answer(struct loop *loop, struct client *cl, char *nl)
{
	struct buf *b = &cl->reply;

	if (cl->metrics) {
		probes_answer(cl->ctl->c, cl->buf, b);
	} else if (!nl) {
		buf_printf(b, "error: command too long\n");
	} else {
		*nl = '\0';
		if (nl > cl->buf && nl[-1] == '\r')
			nl[-1] = '\0';
		control_cmd_run(cl, cl->buf, b);
		if (cl->waiting == WAIT_LOGS) {
			hand_over(loop, cl);
			return;
		}
		if (cl->waiting) {      /* answered later: keep only HUP/ERR */
			loop_timer_cancel(loop, cl->timer);
			cl->timer = 0;
			if (loop_mod_fd(loop, cl->fd, 0) < 0)
				control_client_close(cl);
			return;
		}
	}
	control_client_reply(cl);
}

static void answer_error(struct client *cl, const char *why)
{
	buf_printf(&cl->reply, "%s", why);
	control_client_reply(cl);
}

static void client_event(struct loop *loop, int fd, uint32_t events, void *data)
{
	struct client *cl = data;
	ssize_t n;
	char *nl;

	(void)events;
	if (cl->waiting) {
		/* progress lines the socket did not take at once */
		if (events == EPOLLOUT) {
			if (!control_client_send(cl))
				return;
			if (cl->sent == cl->reply.len && loop_mod_fd(loop, fd, 0) == 0)
				return;
		}
		control_client_close(cl);       /* it went away, or says more: it is done */
		return;
	}
	if (cl->reply.data) {           /* EPOLLOUT (or HUP/ERR) while answering */
		if (control_client_send(cl))
			control_client_close(cl);
		return;
	}
	n = read(fd, cl->buf + cl->len, sizeof(cl->buf) - 1 - cl->len);
	if (n <= 0) {
		if (n < 0 && errno == EAGAIN)
			return;
		control_client_close(cl);
		return;
	}
	cl->len += (size_t)n;
	cl->buf[cl->len] = '\0';
	nl = memchr(cl->buf, '\n', cl->len);
	if (!cl->metrics && memchr(cl->buf, '\0', nl ? (size_t)(nl - cl->buf) : cl->len)) {
		answer_error(cl, "error: a NUL byte in the command\n");
		return;
	}
	if (cl->metrics && !probes_request_in(cl->buf, &cl->len, sizeof(cl->buf)))
		return;         /* the whole header block: see probes_request_in */
	if (!nl && cl->len < sizeof(cl->buf) - 1)
		return;         /* wait for the whole line */
	answer(loop, cl, nl);
}

/* Same user or root only: the socket's mode says so, the kernel's word on
 * who connected makes sure. */
static int peer_allowed(int fd)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
		return 0;
	return cred.uid == 0 || cred.uid == geteuid();
}

static void accept_event(struct loop *loop, int fd, uint32_t events, void *data);

/* Out of fds: the listener stays readable, so stop watching it for a while
 * instead of spinning (the backlog keeps the client). */
static void resume_accepting(struct loop *loop, void *data)
{
	struct control *ctl = data;

	if (ctl->fd >= 0)
		loop_mod_fd(loop, ctl->fd, EPOLLIN);
	if (ctl->metrics_fd >= 0)
		loop_mod_fd(loop, ctl->metrics_fd, EPOLLIN);
	ctl->paused = 0;
}

/* How many clients of one kind at once: an eighth of the fd limit (at
 * least 4), so that both kinds together never take more than a quarter of
 * what the listeners, channels and connections in flight need. */
static int client_cap(const struct cluster *c)
{
	rlim_t lim;
	struct rlimit now;

	lim = getrlimit(RLIMIT_NOFILE, &now) == 0 ? now.rlim_cur : c->nofile.rlim_cur;
	if (lim == RLIM_INFINITY || lim / 8 >= CLIENTS_MAX)
		return CLIENTS_MAX;
	return lim / 8 > 4 ? (int)(lim / 8) : 4;
}

/* Make room for a new client of this kind: end the oldest one still
 * waiting for its request.  0 when there is room now. */
static int make_room(struct control *ctl, int metrics)
{
	struct client *cl, *oldest = NULL;

	if (ctl->nclients[metrics] < client_cap(ctl->c))
		return 0;
	for (cl = ctl->clients; cl; cl = cl->next)
		if (cl->metrics == metrics && !cl->reply.data && cl->waiting == WAIT_NONE)
			oldest = cl;
	if (!oldest)
		return -1;
	control_client_close(oldest);
	return 0;
}

static void refuse(int cfd, const char *why)
{
	/* a fresh socket's empty buffer takes these few bytes at once; if
	 * not, the refusal is the close alone */
	if (send(cfd, why, strlen(why), MSG_NOSIGNAL | MSG_DONTWAIT) < 0) {
		/* nothing more to tell it */
	}
	close(cfd);
}

static void accept_event(struct loop *loop, int fd, uint32_t events, void *data)
{
	struct control *ctl = data;
	int metrics = fd == ctl->metrics_fd;

	(void)events;
	for (;;) {
		int cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct client *cl;

		if (cfd < 0) {
			if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED &&
			    !ctl->paused) {
				loop_mod_fd(loop, fd, 0);
				ctl->paused = 1;
				loop_timer(loop, 200, resume_accepting, ctl);
			}
			return;
		}
		if (!metrics && !peer_allowed(cfd)) {
			refuse(cfd, "error: permission denied\n");
			continue;
		}
		if (make_room(ctl, metrics) < 0) {
			refuse(cfd, metrics ? "HTTP/1.0 503 Service Unavailable\r\n\r\n"
					    : "error: too many clients\n");
			continue;
		}
		cl = calloc(1, sizeof(*cl));
		if (!cl || loop_add_fd(loop, cfd, EPOLLIN, client_event, cl) < 0) {
			free(cl);
			close(cfd);
			continue;
		}
		cl->ctl = ctl;
		cl->fd = cfd;
		cl->metrics = metrics;
		ctl->nclients[metrics]++;
		cl->next = ctl->clients;
		if (cl->next)
			cl->next->prev = cl;
		ctl->clients = cl;
		cl->timer = loop_timer(loop, CLIENT_TIMEOUT_MS, client_timeout, cl);
	}
}

/* A socket file at path: refuse when a live master answers there, remove it
 * when it is a stale one. */
static int claim_path(const char *path)
{
	struct sockaddr_un un = { .sun_family = AF_UNIX };
	struct stat st;
	int fd, r;

	if (lstat(path, &st) < 0)
		return 0;
	if (!S_ISSOCK(st.st_mode)) {
		log_warnx("control socket %s: a file that is not a socket is in the way", path);
		return -1;
	}
	snprintf(un.sun_path, sizeof(un.sun_path), "%s", path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	r = connect(fd, (struct sockaddr *)&un, sizeof(un));
	close(fd);
	if (r == 0) {
		log_warnx("control socket %s is in use by another cluster-run "
			  "(use --control PATH or --control none)", path);
		return -1;
	}
	unlink(path);
	return 0;
}

/* Masters killed outright leave their PID.sock behind in the private
 * runtime directory: remove those whose pid is gone (the directory is ours
 * and private, so nobody else's files are there). */
static void clear_dead_sockets(const char *path)
{
	char dir[sizeof(((struct sockaddr_un *)0)->sun_path)], *slash;
	struct dirent *e;
	DIR *d;

	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (!slash)
		return;
	*slash = '\0';
	d = opendir(dir);
	if (!d)
		return;
	/* Only names of our own PID namespace: a pid means nothing across
	 * namespaces, and containers may share the directory. */
	while ((e = readdir(d))) {
		char *end, mine[64];
		long pid = strtol(e->d_name, &end, 10);

		if (pid > 0 && runtime_socket_name(mine, sizeof(mine), (pid_t)pid) == 0 &&
		    !strcmp(e->d_name, mine) && kill((pid_t)pid, 0) < 0 && errno == ESRCH)
			unlinkat(dirfd(d), e->d_name, 0);
	}
	closedir(d);
}

static int open_control(struct control *ctl, const char *want)
{
	struct sockaddr_un un = { .sun_family = AF_UNIX };
	char refused[sizeof(un.sun_path)];
	mode_t old;
	int r;

	if (want)
		r = snprintf(ctl->path, sizeof(ctl->path), "%s", want) < (int)sizeof(ctl->path) ? 0 : -1;
	else
		r = runtime_socket(ctl->path, sizeof(ctl->path), getpid(), 1);
	if (r < 0) {
		log_warn("control socket directory%s", errno == EPERM ? " (not private to us)" : "");
		return -1;
	}
	if (!want && runtime_dir_refused(refused, sizeof(refused)))
		log_warnx("%s is not a private directory of ours (another user made it?): "
			  "not used", refused);
	if (!want)
		clear_dead_sockets(ctl->path);
	if (claim_path(ctl->path) < 0)
		return -1;
	snprintf(un.sun_path, sizeof(un.sun_path), "%s", ctl->path);
	ctl->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	old = umask(077);
	r = ctl->fd < 0 ? -1 : bind(ctl->fd, (struct sockaddr *)&un, sizeof(un));
	umask(old);
	if (r < 0 || listen(ctl->fd, 16) < 0) {
		log_warn("control socket %s", ctl->path);
		return -1;
	}
	log_warnx("control socket %s", ctl->path);
	return 0;
}

static int open_metrics(struct control *ctl, const char *where)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int one = 1;

	if (addr_parse(where, &ss, &len) < 0) {
		log_warnx("--metrics %s: want ADDR:PORT (127.0.0.1:9100, [::1]:9100)", where);
		return -1;
	}
	ctl->metrics_fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (ctl->metrics_fd < 0 ||
	    setsockopt(ctl->metrics_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(ctl->metrics_fd, (struct sockaddr *)&ss, len) < 0 ||
	    listen(ctl->metrics_fd, 16) < 0) {
		log_warn("--metrics %s", where);
		return -1;
	}
	log_warnx("metrics on http://%s/metrics", where);
	return 0;
}

/* The control's struct, and the hooks it answers (control_open and an
 * upgrade's control_restore). */
static struct control *control_new(struct cluster *c)
{
	struct control *ctl = calloc(1, sizeof(*ctl));

	if (!ctl)
		return NULL;
	ctl->c = c;
	ctl->fd = ctl->metrics_fd = -1;
	c->control = ctl;
	control_wait_hooks(c);
	return ctl;
}

int control_open(struct cluster *c)
{
	struct control *ctl = control_new(c);
	const char *want = c->opt->control_path;

	if (!ctl)
		return -1;
	if (!(want && !strcmp(want, "none")) &&
	    (open_control(ctl, want) < 0 ||
	     loop_add_fd(c->loop, ctl->fd, EPOLLIN, accept_event, ctl) < 0))
		return -1;
	if (c->opt->metrics &&
	    (open_metrics(ctl, c->opt->metrics) < 0 ||
	     loop_add_fd(c->loop, ctl->metrics_fd, EPOLLIN, accept_event, ctl) < 0))
		return -1;
	return 0;
}

void control_close(struct cluster *c)
{
	struct control *ctl = c->control;

	if (!ctl)
		return;
	logs_follow_close_all();
	/* "stop" ends the loop: an answer still being written is cut short */
	while (ctl->clients)
		control_client_close(ctl->clients);
	loop_timer_cancel(c->loop, ctl->wait_timer);
	if (ctl->fd >= 0) {
		loop_del_fd(c->loop, ctl->fd);
		close(ctl->fd);
		unlink(ctl->path);
	}
	if (ctl->metrics_fd >= 0) {
		loop_del_fd(c->loop, ctl->metrics_fd);
		close(ctl->metrics_fd);
	}
	free(ctl);
	c->control = NULL;
}

/* --- an in-place upgrade (surface/upgrade.c) --- */

/* One client as a record.  What it is in the middle of decides what is
 * kept: a request not whole yet (its bytes so far, and its deadline), an
 * answer being written (the part the socket has not taken, and its
 * deadline), or a wait (what for, since when, and the progress lines not
 * sent yet; no deadline: a waiter has none here). */
static void save_client(struct state_out *o, const struct client *cl)
{
	state_rec(o, "control_client");
	state_fd(o, "fd", cl->fd);
	state_i64(o, "metrics", cl->metrics);
	state_str(o, "wait", wait_names[cl->waiting]);
	if (cl->waiting)
		state_i64(o, "wait_started", cl->wait_started);
	else
		state_i64(o, "due", loop_timer_due(cl->ctl->c->loop, cl->timer));
	if (cl->reply.data)
		state_bytes(o, "out", cl->reply.data + cl->sent, cl->reply.len - cl->sent);
	else if (cl->waiting)
		state_bytes(o, "out", "", 0);
	else
		state_bytes(o, "in", cl->buf, cl->len);
}

int control_save(struct cluster *c, struct state_out *o)
{
	struct control *ctl = c->control;
	const struct client *cl;

	logline_save(o);
	if (!ctl)
		return 0;
	state_rec(o, "control");
	state_str(o, "path", ctl->fd >= 0 ? ctl->path : NULL);
	state_fd(o, "fd", ctl->fd);
	state_fd(o, "metrics_fd", ctl->metrics_fd);
	/* oldest first: restore pushes each at the front, as accept did */
	for (cl = ctl->clients; cl && cl->next; cl = cl->next)
		;
	for (; cl; cl = cl->prev)
		if (cl->fd >= 0)
			save_client(o, cl);
	return logs_save(o);
}

static enum wait_kind wait_kind_of(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(wait_names) / sizeof(wait_names[0]); i++)
		if (!strcmp(name, wait_names[i]))
			return (enum wait_kind)i;
	return WAIT_LOGS;       /* never kept by a client: "unknown" below */
}

/* A client back in the loop, watched for what it was doing.  A waiter
 * of a kind this build does not know (a later one's) cannot be answered:
 * it is closed, and its cluster-ctl says there was no answer. */
static int restore_client(struct control *ctl, const struct state_rec *r)
{
	struct loop *loop = ctl->c->loop;
	struct client *cl;
	uint32_t events;
	int fd = rec_fd(r, "fd");
	int64_t due;

	if (fd < 0)
		return 0;
	cl = calloc(1, sizeof(*cl));
	if (!cl) {
		close(fd);
		return -1;
	}
	cl->ctl = ctl;
	cl->fd = fd;
	cl->metrics = rec_i64(r, "metrics", 0) != 0;
	cl->waiting = wait_kind_of(rec_str(r, "wait", "none"));
	cl->wait_started = rec_i64(r, "wait_started", loop_now_ms());
	if (rec_has(r, "out"))
		rec_buf(r, "out", &cl->reply, (size_t)16 << 20);
	else if (rec_has(r, "in")) {
		long n = rec_bytes(r, "in", cl->buf, sizeof(cl->buf) - 1);

		cl->len = n > 0 ? (size_t)n : 0;
		cl->buf[cl->len] = '\0';
	}
	if (cl->waiting == WAIT_LOGS) {
		free(cl->reply.data);
		free(cl);
		close(fd);
		return 0;
	}
	/* a waiter: only HUP/ERR, or EPOLLOUT for progress lines not sent;
	 * an answer under way: EPOLLOUT; a request: EPOLLIN (what came
	 * meanwhile is in the socket, level-triggered) */
	if (cl->waiting)
		events = cl->reply.len ? EPOLLOUT : 0;
	else
		events = cl->reply.data ? EPOLLOUT : EPOLLIN;
	if (loop_add_fd(loop, fd, events, client_event, cl) < 0) {
		free(cl->reply.data);
		free(cl);
		close(fd);
		return -1;
	}
	ctl->nclients[cl->metrics]++;
	cl->next = ctl->clients;
	if (cl->next)
		cl->next->prev = cl;
	ctl->clients = cl;
	if (!cl->waiting) {
		due = rec_i64(r, "due", -1);
		cl->timer = due >= 0 ? loop_timer_at(loop, due, client_timeout, cl)
				     : loop_timer(loop, CLIENT_TIMEOUT_MS, client_timeout, cl);
	} else if (cl->waiting == WAIT_SCALE) {
		control_wait_scale(ctl);
	}
	return 0;
}

/* In place of control_open: the same sockets, nothing bound or removed.
 * A listener paused for lack of fds is watched again at once (its timer
 * was the old image's; at worst it pauses again).  A client lost here
 * (out of memory) is logged, not a reason to give the upgrade up. */
int control_restore(struct cluster *c, const struct state_in *in)
{
	struct control *ctl;
	const struct state_rec *r = state_first(in, "control");
	int lost = 0;

	logline_restore(in);
	ctl = control_new(c);
	if (!ctl) {
		log_warnx("upgrade: the control socket: out of memory");
		return -1;
	}
	if (r) {
		snprintf(ctl->path, sizeof(ctl->path), "%s", rec_str(r, "path", ""));
		ctl->fd = rec_fd(r, "fd");
		ctl->metrics_fd = rec_fd(r, "metrics_fd");
	}
	if ((ctl->fd >= 0 && loop_add_fd(c->loop, ctl->fd, EPOLLIN, accept_event, ctl) < 0) ||
	    (ctl->metrics_fd >= 0 &&
	     loop_add_fd(c->loop, ctl->metrics_fd, EPOLLIN, accept_event, ctl) < 0)) {
		log_warn("upgrade: the control socket");
		return -1;
	}
	for (r = state_first(in, "control_client"); r; r = state_next(r))
		if (restore_client(ctl, r) < 0)
			lost++;
	if (lost)
		log_warnx("upgrade: %d control client%s lost (out of memory)", lost,
			  lost == 1 ? "" : "s");
	if (logs_restore(c->loop, in) < 0)
		return -1;
	return 0;
}

/* Tests: free the control's memory as the exec would, its sockets left
 * open and unlinked from nothing, so that control_restore can take them
 * in the same process. */
void control_forget(struct cluster *c)
{
	struct control *ctl = c->control;

	logs_follow_forget();
	if (!ctl)
		return;
	while (ctl->clients) {
		struct client *cl = ctl->clients;

		ctl->clients = cl->next;
		loop_timer_cancel(c->loop, cl->timer);
		loop_del_fd(c->loop, cl->fd);
		free(cl->reply.data);
		free(cl);
	}
	loop_timer_cancel(c->loop, ctl->wait_timer);
	if (ctl->fd >= 0)
		loop_del_fd(c->loop, ctl->fd);
	if (ctl->metrics_fd >= 0)
		loop_del_fd(c->loop, ctl->metrics_fd);
	free(ctl);
	c->control = NULL;
}
