/*
 * harness.c - see harness.h.  No sleeps as synchronisation: readiness is a
 * line on cluster-run's stderr or a port that answers, polled with short
 * waits and a deadline.
 */
#include "harness.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <grp.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_STARTED 16

int harness_run_as_uid = -1;
static struct cr *started[MAX_STARTED];
static int nstarted;

long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

const char *cluster_run_path(void)
{
	const char *p = getenv("CLUSTER_RUN");

	cr_assert(p, "CLUSTER_RUN is not set (run the tests with meson test)");
	return p;
}

const char *cluster_ctl_path(void)
{
	static char path[512];
	const char *env = getenv("CLUSTER_CTL");
	char dir[512];

	if (env && *env)
		return env;
	snprintf(dir, sizeof(dir), "%s", cluster_run_path());
	snprintf(path, sizeof(path), "%s/cluster-ctl", dirname(dir));
	return path;
}

const char *helper(const char *name)
{
	static char buf[8][512];
	static int next;
	const char *dir = getenv("HELPERS_DIR");
	char *out = buf[next++ % 8];

	cr_assert(dir, "HELPERS_DIR is not set (run the tests with meson test)");
	snprintf(out, 512, "%s/%s", dir, name);
	return out;
}

static int wrapper_words(const char **args, int *n, int max)
{
	static char buf[512];
	const char *w = getenv("CLUSTER_RUN_WRAPPER");
	char *save, *tok;

	if (!w || !*w)
		return 0;
	snprintf(buf, sizeof(buf), "%s", w);
	for (tok = strtok_r(buf, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
		if (*n >= max)
			return -1;
		args[(*n)++] = tok;
	}
	return 0;
}

struct cr *cr_startv(const char *out_path, const char *const *argv)
{
	return cr_start_under(NULL, out_path, argv);
}

struct cr *cr_start_under(const char *const *before, const char *out_path,
			  const char *const *argv)
{
	struct cr *cr = calloc(1, sizeof(*cr));
	const char *args[64];
	int p[2], n = 0;
	pid_t parent = getpid();

	cr_assert(cr && nstarted < MAX_STARTED);
	while (before && *before && n < 16)
		args[n++] = *before++;
	/* CLUSTER_RUN_WRAPPER (the valgrind test setup): words put in front */
	if (wrapper_words(args, &n, n + 8) < 0)
		cr_assert_fail("CLUSTER_RUN_WRAPPER has too many words");
	args[n++] = cluster_run_path();
	while (*argv && n < 63)
		args[n++] = *argv++;
	args[n] = NULL;
	cr_assert(pipe2(p, O_CLOEXEC) == 0);
	cr->status = -1;
	cr->pid = fork();
	cr_assert(cr->pid >= 0);
	if (cr->pid == 0) {
		int out = open(out_path ? out_path : "/dev/null",
			       O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (harness_run_as_uid >= 0 &&
		    (setgroups(0, NULL) < 0 || setgid((gid_t)harness_run_as_uid) < 0 ||
		     setuid((uid_t)harness_run_as_uid) < 0))
			_exit(126);
		/* after setuid: a credential change clears the death signal */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(127);
		dup2(out, 1);
		dup2(p[1], 2);
		execvp(args[0], (char *const *)args);
		_exit(127);
	}
	close(p[1]);
	cr->err_fd = p[0];
	fcntl(cr->err_fd, F_SETFL, O_NONBLOCK);
	started[nstarted++] = cr;
	return cr;
}

struct cr *cr_start(const char *out_path, const char *arg, ...)
{
	const char *argv[64];
	va_list ap;
	int n = 0;

	va_start(ap, arg);
	for (; arg && n < 63; arg = va_arg(ap, const char *))
		argv[n++] = arg;
	va_end(ap);
	argv[n] = NULL;
	return cr_startv(out_path, argv);
}

/* Read what is there; 0 at EOF, 1 otherwise. */
static int read_log(struct cr *cr, int wait_ms)
{
	struct pollfd pfd = { .fd = cr->err_fd, .events = POLLIN };
	ssize_t n;

	if (cr->err_fd < 0)
		return 0;
	if (poll(&pfd, 1, wait_ms) <= 0)
		return 1;
	n = read(cr->err_fd, cr->log + cr->loglen, LOG_CAP - 1 - cr->loglen);
	if (n > 0) {
		cr->loglen += (size_t)n;
		cr->log[cr->loglen] = '\0';
		if (getenv("HARNESS_ECHO"))
			fwrite(cr->log + cr->loglen - n, 1, (size_t)n, stderr);
		return 1;
	}
	if (n == 0 || cr->loglen >= LOG_CAP - 1) {
		close(cr->err_fd);
		cr->err_fd = -1;
		return 0;
	}
	return 1;
}

const char *cr_wait_line(struct cr *cr, const char *needle, int timeout_ms)
{
	long deadline = now_ms() + timeout_ms;

	for (;;) {
		const char *hit = strstr(cr->log, needle);
		long left = deadline - now_ms();

		if (hit)
			return hit;
		if (left <= 0 || !read_log(cr, left > 50 ? 50 : (int)left))
			return strstr(cr->log, needle);
	}
}

int cr_wait_count(struct cr *cr, const char *needle, int n, int timeout_ms)
{
	long deadline = now_ms() + timeout_ms;

	while (count_of(cr->log, needle) < n) {
		long left = deadline - now_ms();
		if (left <= 0 || cr_wait_exit(cr, 0) >= 0)
			return count_of(cr->log, needle) >= n;
		cr_wait_line(cr, "\001never printed\001", left < 50 ? (int)left : 50);
	}
	return 1;
}

int cr_have_workers(void *arg)
{
	struct cr_workers *w = arg;
	pid_t now[32];
	int n = cr_children(w->cr, now, 32), i, seen = 0;

	if (n != w->want)
		return 0;
	memset(w->slot_pid, 0, sizeof(w->slot_pid));
	for (i = 0; i < n; i++) {
		int id = proc_worker_id(now[i]);
		if (!pid_alive(now[i]) || id < 0 || id >= w->want || id >= 16 ||
		    (seen & (1 << id)) || (w->old && pid_in(w->old, w->nold, now[i])))
			return 0;
		seen |= 1 << id;
		w->slot_pid[id] = now[i];
	}
	return 1;
}

int cr_port(struct cr *cr, int n, int timeout_ms)
{
	long deadline = now_ms() + timeout_ms;

	for (;;) {
		const char *p = cr->log;
		int i = 0;

		while ((p = strstr(p, " (tcp) shared by "))) {
			if (i++ == n) {
				const char *colon = p;
				while (colon > cr->log && *colon != ':')
					colon--;
				return atoi(colon + 1);
			}
			p++;
		}
		if (now_ms() >= deadline || !read_log(cr, 50))
			if (now_ms() >= deadline || cr->err_fd < 0)
				return -1;
	}
}

int cr_ready_port(struct cr *cr, int n, int timeout_ms)
{
	int port = cr_port(cr, n, timeout_ms);

	if (port < 0 || !cr_wait_line(cr, " listening\n", timeout_ms))
		return -1;
	return port;
}

/* What it wrote before it exited: whatever can be read now.  Processes it
 * forked may hold the pipe open for ever (nginx's workers, socat's
 * children), so EOF cannot be waited for. */
static void drain_log(struct cr *cr)
{
	for (;;) {
		struct pollfd pfd = { .fd = cr->err_fd, .events = POLLIN };

		if (cr->err_fd < 0 || poll(&pfd, 1, 0) <= 0 || !read_log(cr, 0))
			return;
	}
}

int cr_wait_exit(struct cr *cr, int timeout_ms)
{
	long deadline = now_ms() + timeout_ms;
	int st;

	if (cr->status >= 0)
		return cr->status;
	for (;;) {
		pid_t r = waitpid(cr->pid, &st, WNOHANG);
		if (r == cr->pid) {
			cr->status = st;
			drain_log(cr);
			return st;
		}
		if (now_ms() >= deadline)
			return -1;
		read_log(cr, 20);
	}
}

int cr_stop(struct cr *cr, int sig, int timeout_ms)
{
	int st;

	if (cr->status >= 0)
		return cr->status;
	kill(cr->pid, sig);
	st = cr_wait_exit(cr, timeout_ms);
	if (st < 0) {
		kill(cr->pid, SIGKILL);
		cr_wait_exit(cr, 5000);
	}
	return st;
}

int cr_children(struct cr *cr, pid_t *pids, int max)
{
	char path[64];
	FILE *f;
	int n = 0;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/children", (int)cr->pid, (int)cr->pid);
	f = fopen(path, "r");
	if (!f)
		return 0;
	while (n < max && fscanf(f, "%d", &pids[n]) == 1)
		n++;
	fclose(f);
	return n;
}

void harness_cleanup(void)
{
	int i;

	for (i = 0; i < nstarted; i++) {
		struct cr *cr = started[i];
		if (cr->status < 0) {
			kill(cr->pid, SIGKILL);
			cr_wait_exit(cr, 5000);
		}
		if (cr->err_fd >= 0)
			close(cr->err_fd);
		free(cr);
	}
	nstarted = 0;
}

char proc_state(pid_t pid)
{
	char path[64], state = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return 0;
	/* "pid (comm) S ..." */
	if (fscanf(f, "%*d (%*[^)]) %c", &state) != 1)
		state = 0;
	fclose(f);
	return state;
}

int pid_alive(pid_t pid)
{
	char state = proc_state(pid);

	return state && state != 'Z' && state != 'X';     /* a zombie is not */
}

/* Read what is there into buf (NUL-terminated); close *fd at EOF/full. */
static void drain_into(int *fd, char *buf, size_t cap)
{
	size_t len = strlen(buf);
	ssize_t n = read(*fd, buf + len, cap - 1 - len);

	if (n > 0) {
		buf[len + (size_t)n] = '\0';
		if (len + (size_t)n < cap - 1)
			return;
	} else if (n < 0 && errno == EINTR) {
		return;
	}
	close(*fd);
	*fd = -1;
}

void ctl_run(struct run *r, const char *sock, ...)
{
	const char *argv[16] = { cluster_ctl_path(), "-s", sock };
	int n = 3;
	va_list ap;

	va_start(ap, sock);
	while (n < 15 && (argv[n] = va_arg(ap, const char *)))
		n++;
	va_end(ap);
	argv[n] = NULL;
	run_capture(r, argv, 60000, NULL, NULL);
}

int run_code(const struct run *r)
{
	return r->status >= 0 && WIFEXITED(r->status) ? WEXITSTATUS(r->status) : -1;
}

long json_num(const char *json, const char *key)
{
	char k[64];
	const char *p;

	snprintf(k, sizeof(k), "\"%s\":", key);
	p = strstr(json, k);
	return p ? strtol(p + strlen(k), NULL, 10) : -1;
}

void run_capture(struct run *r, const char *const *argv, int timeout_ms,
		 int (*setup)(void *), void *arg)
{
	int out[2], err[2];
	long deadline;
	pid_t pid;

	memset(r, 0, sizeof(*r));
	cr_assert(pipe2(out, O_CLOEXEC) == 0 && pipe2(err, O_CLOEXEC) == 0);
	r->ms = now_ms();
	pid = fork();
	cr_assert(pid >= 0);
	if (pid == 0) {
		if (setup && setup(arg) < 0)
			_exit(98);
		signal(SIGPIPE, SIG_DFL);      /* as from a shell */
		dup2(out[1], 1);
		dup2(err[1], 2);
		execv(argv[0], (char *const *)argv);
		_exit(99);
	}
	close(out[1]);
	close(err[1]);
	deadline = r->ms + timeout_ms;
	while (out[0] >= 0 || err[0] >= 0) {
		struct pollfd p[2] = { { .fd = out[0], .events = POLLIN },
				       { .fd = err[0], .events = POLLIN } };
		long left = deadline - now_ms();

		if (left <= 0 || poll(p, 2, (int)left) < 0)
			break;
		if (out[0] >= 0 && p[0].revents)
			drain_into(&out[0], r->out, sizeof(r->out));
		if (err[0] >= 0 && p[1].revents)
			drain_into(&err[0], r->err, sizeof(r->err));
	}
	if (out[0] >= 0)
		close(out[0]);
	if (err[0] >= 0)
		close(err[0]);
	r->status = -1;
	while (now_ms() < deadline && waitpid(pid, &r->status, WNOHANG) == 0)
		sleep_ms(10);
	if (r->status == -1) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
	}
	r->ms = now_ms() - r->ms;
}

int have_program(const char *name)
{
	const char *path = getenv("PATH");
	char cand[1024];

	for (; path && *path; path += strcspn(path, ":") + (path[strcspn(path, ":")] ? 1 : 0)) {
		snprintf(cand, sizeof(cand), "%.*s/%s", (int)strcspn(path, ":"), path, name);
		if (access(cand, X_OK) == 0)
			return 1;
	}
	return 0;
}

int wait_until(int (*f)(void *), void *arg, int timeout_ms)
{
	long deadline = now_ms() + timeout_ms;

	for (;;) {
		if (f(arg))
			return 1;
		if (now_ms() >= deadline)
			return 0;
		sleep_ms(20);
	}
}

int count_of(const char *hay, const char *needle)
{
	int n = 0;

	while ((hay = strstr(hay, needle))) {
		n++;
		hay++;
	}
	return n;
}

int pid_in(const pid_t *pids, int n, pid_t pid)
{
	int i;

	for (i = 0; i < n; i++)
		if (pids[i] == pid)
			return 1;
	return 0;
}

long read_file(const char *path, char *buf, size_t cap)
{
	FILE *f = fopen(path, "re");
	size_t n;

	buf[0] = '\0';
	if (!f)
		return -1;
	n = fread(buf, 1, cap - 1, f);
	buf[n] = '\0';
	fclose(f);
	return (long)n;
}

int proc_env(pid_t pid, const char *name, char *buf, size_t cap, const char **value)
{
	char path[64];
	size_t len = strlen(name);
	long n, i;

	snprintf(path, sizeof(path), "/proc/%d/environ", (int)pid);
	if ((n = read_file(path, buf, cap)) < 0)
		return -1;
	for (i = 0; i < n; i += (long)strlen(buf + i) + 1)
		if (!strncmp(buf + i, name, len) && buf[i + (long)len] == '=') {
			if (value)
				*value = buf + i + len + 1;
			return 1;
		}
	return 0;
}

int proc_fds(pid_t pid, int below, int *highest)
{
	char path[64];
	struct dirent *e;
	int n = 0, top = -1;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	if (!(d = opendir(path)))
		return -1;
	while ((e = readdir(d))) {
		int fd = atoi(e->d_name);

		if (e->d_name[0] == '.' || (below > 0 && fd >= below))
			continue;
		n++;
		if (fd > top)
			top = fd;
	}
	closedir(d);
	if (highest)
		*highest = top;
	return n;
}

int proc_worker_id(pid_t pid)
{
	char env[65536];
	const char *v;

	return proc_env(pid, "CLUSTER_WORKER_ID", env, sizeof(env), &v) == 1 ? atoi(v) : -1;
}
