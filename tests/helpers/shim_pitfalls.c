/*
 * shim_pitfalls - a blocking server that does one thing real programs do
 * to their fds, from threads, children or signal handlers (--pitfall NAME),
 * writes what came of it to --result FILE as lines "NAME: ok ..." or
 * "NAME: bad: <why>", then serves its listener like blocking_server.
 *
 *   spawn          children started with vfork() (as Python's subprocess
 *                  does) and posix_spawn() that dup2 over the listener's
 *                  number, poke it and close every fd before exec: the
 *                  exec'd probe (this program, --probe) must run without
 *                  the shim and get EADDRINUSE on the port, and the parent
 *                  must still see its listener as before.
 *   close_range    of two listeners (the port given, then port 0), the
 *                  first, registered in an epoll set, is closed with
 *                  close_range(a, 199, 0), which spans the shim's channel
 *                  too; the second (moved to fd 200) is served through
 *                  epoll, after a third is bound.  An event for the closed
 *                  registration is bad.
 *   fork_bind      on SIGUSR2 (sent once the test stopped the master), a
 *                  thread binds a second address and, while it waits for
 *                  the master, the main thread forks: fork must not wait.
 *                  "fork_bind: forked" tells the test to continue the
 *                  master; the child and the thread then both bind.
 *   handler_close  a 5 kHz timer's handler closes dups of the listener
 *                  while the main thread keeps calling hooked functions on
 *                  it (dup, close, getsockopt, fcntl).
 *   handler_dup2   the same with dup2() onto listener dups and onto a
 *                  plain fd, from the handler; and from the main thread,
 *                  dup2() over a dup (no longer a listener) and of the
 *                  listener onto a plain fd (now one).
 *   doorbell_dup2  a wrapper that never binds dup2()s /dev/null onto the
 *                  doorbell's number (CLUSTER_RUN_FD) from a signal
 *                  handler, over and over, while it allocates and sets its
 *                  environment, then execs this program as the server
 *                  (--pitfall none), which must be clustered.
 *
 * Where the failure is a deadlock, a watchdog child (alarm()) writes the
 * bad line when the step has not ended in time, so the test reads a
 * verdict instead of waiting on a stuck worker.  Runs without cluster-run
 * too: then every step just works.
 */
#include "helper_common.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <pthread.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static const char *result_path;
static const char *pitfall = "none";
static struct helper_opts opts;

/* One line appended to the result file: a single write(), so lines from
 * several processes never interleave.  Async-signal-safe. */
static void result(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void result(const char *fmt, ...)
{
	char line[512];
	va_list ap;
	int fd, n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line) - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if (n > (int)sizeof(line) - 2)
		n = (int)sizeof(line) - 2;
	line[n++] = '\n';
	fd = result_path ? open(result_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644) : 2;
	if (fd < 0)
		return;
	if (write(fd, line, (size_t)n) < 0) {
		/* the test sees no verdict and says so */
	}
	if (fd != 2)
		close(fd);
}

/* The watchdog: a child that writes "NAME: bad: <what> did not end in
 * time" unless the parent kills it first (watchdog_done). */
struct watchdog {
	pid_t pid;
};
static char watch_what[128];

static void watchdog_fired(int sig)
{
	(void)sig;
	result("%s: bad: %s did not end in time (deadlock?)", pitfall, watch_what);
	_exit(0);
}

static struct watchdog watchdog_start(const char *what, int seconds)
{
	struct watchdog w;

	snprintf(watch_what, sizeof(watch_what), "%s", what);
	w.pid = fork();
	if (w.pid == 0) {
		struct sigaction sa = { .sa_handler = watchdog_fired };

		sigemptyset(&sa.sa_mask);
		sigaction(SIGALRM, &sa, NULL);
		sigprocmask(SIG_SETMASK, &sa.sa_mask, NULL);
		alarm((unsigned)seconds);
		for (;;)
			pause();
	}
	return w;
}

static void watchdog_done(struct watchdog w)
{
	if (w.pid <= 0)
		return;
	kill(w.pid, SIGKILL);
	while (waitpid(w.pid, NULL, 0) < 0 && errno == EINTR)
		;
}

/* The listener as its program sees it: listening, and blocking (the shim
 * keeps a shared socket non-blocking and shows the program its own flag).
 * NULL when it is, else why not. */
static const char *listener_intact(int fd)
{
	int on = 0;
	socklen_t len = sizeof(on);
	int fl = fcntl(fd, F_GETFL);

	if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &on, &len) < 0 || !on)
		return "SO_ACCEPTCONN is off: the shim lost the listener";
	if (fl < 0 || (fl & O_NONBLOCK))
		return "O_NONBLOCK shows through: the shim lost the listener";
	return NULL;
}

static int local_port(int fd)
{
	return helper_local_port(fd);
}

/* ---- spawn ---------------------------------------------------------- */

/* The exec'd child: no shim mapped, and the port is the master's. */
static int probe_main(const char *via, int port)
{
	char maps[1 << 16];
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((unsigned short)port) };
	int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC), s;
	ssize_t n = fd >= 0 ? read(fd, maps, sizeof(maps) - 1) : -1;

	if (fd >= 0)
		close(fd);
	maps[n > 0 ? n : 0] = '\0';
	if (strstr(maps, "libcluster-shim")) {
		result("spawn: bad: the %s child has the shim loaded", via);
		return 1;
	}
	if (getenv("CLUSTER_RUN_FD")) {
		result("spawn: bad: the %s child has CLUSTER_RUN_FD", via);
		return 1;
	}
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof(a)) == 0 || errno != EADDRINUSE) {
		result("spawn: bad: the %s child's bind of port %d: %s", via, port,
		       s < 0 ? "no socket" : errno ? strerror(errno) : "succeeded");
		return 1;
	}
	result("spawn: probe %s ok", via);
	return 0;
}

static int wait_child(pid_t pid)
{
	int st;

	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static void spawn_children(int lfd)
{
	char self[4096], port[16];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	int devnull = open("/dev/null", O_RDWR | O_CLOEXEC), st, bad = 0;
	posix_spawn_file_actions_t fa;
	const char *why;
	pid_t pid;

	if (n <= 0 || devnull < 0) {
		result("spawn: bad: setup: %s", strerror(errno));
		return;
	}
	self[n] = '\0';
	snprintf(port, sizeof(port), "%d", local_port(lfd));
	{
		char *const vargv[] = { self, "--probe", "vfork", port, "--result",
					(char *)result_path, NULL };

		/* As Python's _posixsubprocess: in the child, dup2 over fds,
		 * look at them, close everything from 3, exec. */
		pid = vfork();
		if (pid == 0) {
			dup2(devnull, lfd);
			(void)fcntl(lfd, F_GETFL);
			(void)dup(lfd);
			close_range(3, ~0U, 0);
			execve(self, vargv, environ);
			_exit(127);
		}
		st = pid > 0 ? wait_child(pid) : -1;
		bad |= st != 0;
		if (st != 0)
			result("spawn: bad: the vfork child ended with %d", st);
	}
	{
		char *const sargv[] = { self, "--probe", "posix_spawn", port, "--result",
					(char *)result_path, NULL };

		posix_spawn_file_actions_init(&fa);
		posix_spawn_file_actions_adddup2(&fa, devnull, lfd);
		if (posix_spawn(&pid, self, &fa, NULL, sargv, environ) != 0)
			pid = -1;
		posix_spawn_file_actions_destroy(&fa);
		st = pid > 0 ? wait_child(pid) : -1;
		bad |= st != 0;
		if (st != 0)
			result("spawn: bad: the posix_spawn child ended with %d", st);
	}
	close(devnull);
	if ((why = listener_intact(lfd))) {
		result("spawn: bad: after the children, %s", why);
		return;
	}
	if (!bad)
		result("spawn: ok");
}

/* ---- close_range ---------------------------------------------------- */

/* Serve b through epoll; any event for the closed listener's
 * registration (data 1) is bad. */
static int serve_epoll(int ep, int b)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = 2 };
	int stale = 0;

	if (epoll_ctl(ep, EPOLL_CTL_ADD, b, &ev) < 0) {
		result("close_range: bad: epoll_ctl: %s", strerror(errno));
		return 1;
	}
	while (!helper_stopping) {
		struct sockaddr_storage peer;
		socklen_t len = sizeof(peer);
		int n = epoll_wait(ep, &ev, 1, -1), conn;

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return 1;
		if (ev.data.u64 == 1) {
			if (!stale++)
				result("close_range: bad: an event for the closed listener's "
				       "registration");
			helper_sleep_ms(10);    /* level-triggered: do not spin */
			continue;
		}
		conn = accept(b, (struct sockaddr *)&peer, &len);
		if (conn < 0) {
			if (helper_accept_error(&opts, errno) < 0)
				return 1;
			continue;
		}
		helper_serve(&opts, conn, b, "b", &peer, len, NULL);
	}
	return 0;
}

/* Listener a (registered in an epoll set), the shim's channel above it,
 * listener b moved out of the way at 200: close_range(a, 199, 0) closes a
 * (and would close the shim's channel).  Then a third listener is bound
 * (the shim's channel still works) and b is served. */
static int close_range_main(void)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = 1 };
	int ep = epoll_create1(EPOLL_CLOEXEC), a, b, nb, c;
	const char *why;

	a = helper_listen(&opts, opts.port);
	b = helper_listen(&opts, 0);
	if (ep < 0 || a < 0 || b < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, a, &ev) < 0)
		return 1;
	nb = fcntl(b, F_DUPFD, 200);
	if (nb < 0 || close(b) < 0) {
		result("close_range: bad: moving b: %s", strerror(errno));
		return 1;
	}
	if (close_range((unsigned)a, 199, 0) < 0) {
		result("close_range: bad: close_range: %s", strerror(errno));
		return 1;
	}
	if (fcntl(a, F_GETFD) >= 0 || errno != EBADF) {
		result("close_range: bad: fd %d still open after close_range", a);
		return 1;
	}
	if ((why = listener_intact(nb))) {
		result("close_range: bad: the listener above the range: %s", why);
		return 1;
	}
	c = helper_listen(&opts, 0);
	if (c < 0 || (why = listener_intact(c))) {
		result("close_range: bad: a listener bound afterwards: %s",
		       c < 0 ? strerror(errno) : why);
		return 1;
	}
	result("close_range: ok");
	helper_announce(&opts, nb);
	return serve_epoll(ep, nb);
}

/* ---- fork_bind ------------------------------------------------------ */

static _Atomic pid_t binder_tid;

static int bind_loopback(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0)
		return -1;
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(fd, 16) < 0) {
		int saved = errno;
		close(fd);
		errno = saved;
		return -1;
	}
	return fd;
}

static void *binder(void *arg)
{
	int fd;

	(void)arg;
	atomic_store(&binder_tid, (pid_t)syscall(SYS_gettid));
	fd = bind_loopback();
	if (fd < 0)
		result("fork_bind: bad: the thread's bind: %s", strerror(errno));
	else
		result("fork_bind: thread bound port %d", local_port(fd));
	return NULL;
}

/* Whether thread tid sleeps in a system call (waiting for the master). */
static int thread_waits(pid_t tid)
{
	char path[64], buf[256];
	const char *p;
	int fd;
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/self/task/%d/stat", (int)tid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	p = strrchr(buf, ')');
	return p && p[1] == ' ' && p[2] == 'S';
}

static void fork_bind(int lfd)
{
	struct watchdog w;
	pthread_t t;
	pid_t pid;
	int i, st;

	/* Started first: the watchdog is a fork() too. */
	w = watchdog_start("fork() while a thread waits for the master", 10);
	if (pthread_create(&t, NULL, binder, NULL) != 0) {
		result("fork_bind: bad: pthread_create");
		watchdog_done(w);
		return;
	}
	/* The thread is inside bind() once it sleeps there for a while:
	 * 20 looks 10 ms apart (a busy machine may park it briefly
	 * elsewhere first), for 3 s at most. */
	for (i = 0; i < 150; i++) {
		pid_t tid = atomic_load(&binder_tid);
		int k;

		for (k = 0; tid && k < 20 && thread_waits(tid); k++)
			helper_sleep_ms(10);
		if (k == 20)
			break;
		helper_sleep_ms(10);
	}
	pid = fork();
	if (pid == 0) {
		const char *why;
		int d, fd;

		/* The child: hooked calls on the inherited listener, then a
		 * bind of its own once the master is back. */
		d = dup(lfd);
		if (d < 0 || (why = listener_intact(d))) {
			result("fork_bind: bad: in the child, %s",
			       d < 0 ? strerror(errno) : why);
			_exit(1);
		}
		close(d);
		fd = bind_loopback();
		if (fd < 0) {
			result("fork_bind: bad: the child's bind: %s", strerror(errno));
			_exit(1);
		}
		result("fork_bind: child bound port %d", local_port(fd));
		_exit(0);
	}
	watchdog_done(w);
	if (pid < 0) {
		result("fork_bind: bad: fork: %s", strerror(errno));
		return;
	}
	result("fork_bind: forked");
	st = wait_child(pid);
	pthread_join(t, NULL);
	if (st == 0)
		result("fork_bind: ok");
	else
		result("fork_bind: bad: the child ended with %d", st);
}

static void *fork_bind_on_signal(void *arg)
{
	sigset_t set;
	int sig;

	sigemptyset(&set);
	sigaddset(&set, SIGUSR2);
	if (sigwait(&set, &sig) == 0)
		fork_bind(*(int *)arg);
	return NULL;
}

/* ---- handler_close, handler_dup2 ------------------------------------ */

static volatile sig_atomic_t pending = -1;      /* a listener dup for the handler */
static volatile sig_atomic_t spent = -1;        /* what the handler dup2'd over */
static volatile sig_atomic_t handled;
static int handler_lfd, handler_plain, devnull_fd;

static void close_in_handler(int sig)
{
	int saved = errno;

	(void)sig;
	if (pending >= 0) {
		close(pending);
		pending = -1;
		handled++;
	}
	errno = saved;
}

static void dup2_in_handler(int sig)
{
	int saved = errno;

	(void)sig;
	if (pending >= 0 && spent < 0) {
		dup2(devnull_fd, pending);              /* over a listener */
		spent = pending;
		pending = -1;
		dup2(handler_lfd, handler_plain);       /* a plain fd becomes one */
		dup2(devnull_fd, handler_plain);        /* and is plain again */
		handled++;
	}
	errno = saved;
}

/* dup2 from the main thread, where the program can look at the result. */
static const char *dup2_plainly(int lfd)
{
	int d = dup(lfd), x = open("/dev/null", O_RDONLY | O_CLOEXEC), type = 0;
	socklen_t len = sizeof(type);
	const char *why = NULL;

	if (d < 0 || x < 0)
		return "dup/open failed";
	if (dup2(devnull_fd, d) < 0)
		why = "dup2 over a listener dup failed";
	else if (getsockopt(d, SOL_SOCKET, SO_TYPE, &type, &len) == 0 || errno != ENOTSOCK)
		why = "a dup2'd-over listener fd still answers as a socket";
	else if (dup2(lfd, x) < 0)
		why = "dup2 of the listener failed";
	else
		why = listener_intact(x);
	close(d);
	close(x);
	return why;
}

static void hammer(int lfd, int dup2_mode)
{
	struct sigaction sa = { .sa_handler = dup2_mode ? dup2_in_handler : close_in_handler,
				.sa_flags = SA_RESTART };
	struct itimerval every = { { 0, 200 }, { 0, 200 } }, off = { { 0, 0 }, { 0, 0 } };
	const char *name = dup2_mode ? "handler_dup2" : "handler_close", *why;
	struct watchdog w;
	long until;
	int type;
	socklen_t len;

	handler_lfd = lfd;
	devnull_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	handler_plain = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (devnull_fd < 0 || handler_plain < 0) {
		result("%s: bad: open: %s", name, strerror(errno));
		return;
	}
	if (dup2_mode && (why = dup2_plainly(lfd))) {
		result("%s: bad: %s", name, why);
		return;
	}
	sigemptyset(&sa.sa_mask);
	sigaction(SIGALRM, &sa, NULL);
	w = watchdog_start("hooked calls with a signal handler closing listeners", 20);
	setitimer(ITIMER_REAL, &every, NULL);
	until = time(NULL) + 3;
	while (handled < 3000 && time(NULL) < until) {
		int d;

		if (spent >= 0) {
			close(spent);
			spent = -1;
		}
		if (pending < 0)
			pending = dup(lfd);
		type = 0;
		len = sizeof(type);
		(void)getsockopt(lfd, SOL_SOCKET, SO_TYPE, &type, &len);
		(void)fcntl(lfd, F_GETFL);
		d = dup(lfd);
		if (d >= 0)
			close(d);
	}
	setitimer(ITIMER_REAL, &off, NULL);
	watchdog_done(w);
	if (pending >= 0)
		close(pending);
	if (spent >= 0)
		close(spent);
	close(handler_plain);
	close(devnull_fd);
	if ((why = listener_intact(lfd)))
		result("%s: bad: afterwards, %s", name, why);
	else
		result("%s: ok handled=%d", name, (int)handled);
}

/* ---- doorbell_dup2 -------------------------------------------------- */

static unsigned long long doorbell_ino;
static volatile sig_atomic_t doorbell_at = -1;
static volatile sig_atomic_t moves;

static int find_doorbell(void)
{
	struct stat st;
	int fd;

	for (fd = 0; fd < 1024; fd++)
		if (fstat(fd, &st) == 0 && st.st_ino == doorbell_ino && S_ISSOCK(st.st_mode))
			return fd;
	return -1;
}

static void dup2_over_doorbell(int sig)
{
	int saved = errno;

	(void)sig;
	if (doorbell_at >= 0) {
		dup2(devnull_fd, doorbell_at);
		doorbell_at = -1;
		moves++;
	}
	errno = saved;
}

/* Never binds: it stays a wrapper, whose doorbell the shim must keep
 * findable by the program it execs. */
static int doorbell_dup2_main(char **argv)
{
	struct sigaction sa = { .sa_handler = dup2_over_doorbell, .sa_flags = SA_RESTART };
	struct itimerval every = { { 0, 500 }, { 0, 500 } }, off = { { 0, 0 }, { 0, 0 } };
	const char *v = getenv("CLUSTER_RUN_FD");
	char self[4096], noise[64];
	struct watchdog w;
	ssize_t n;
	long until, i = 0;

	if (!v || !strchr(v, ':')) {
		result("doorbell_dup2: bad: no CLUSTER_RUN_FD");
		return 1;
	}
	doorbell_ino = strtoull(strchr(v, ':') + 1, NULL, 10);
	devnull_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (devnull_fd < 0 || n <= 0) {
		result("doorbell_dup2: bad: setup: %s", strerror(errno));
		return 1;
	}
	self[n] = '\0';
	sigemptyset(&sa.sa_mask);
	sigaction(SIGALRM, &sa, NULL);
	w = watchdog_start("dup2 over the doorbell from a signal handler", 20);
	setitimer(ITIMER_REAL, &every, NULL);
	until = time(NULL) + 2;
	while (moves < 300 && time(NULL) < until) {
		void *big;

		if (doorbell_at < 0)
			doorbell_at = find_doorbell();
		/* what the interrupted code holds: malloc's arena lock (past
		 * the per-thread cache) and the environment's lock */
		big = malloc(64 * 1024 + (size_t)(i % 4096));
		if (big)
			memset(big, 1, 64);
		free(big);
		snprintf(noise, sizeof(noise), "%ld", i++);
		setenv("SHIM_PITFALLS_NOISE", noise, 1);
	}
	setitimer(ITIMER_REAL, &off, NULL);
	watchdog_done(w);
	if (find_doorbell() < 0) {
		result("doorbell_dup2: bad: the doorbell is gone after %d moves", (int)moves);
		return 1;
	}
	result("doorbell_dup2: ok moves=%d", (int)moves);
	/* the server: argv with "--pitfall doorbell_dup2" made "none" */
	for (i = 1; argv[i]; i++)
		if (!strcmp(argv[i - 1], "--pitfall"))
			argv[i] = "none";
	argv[0] = self;
	execv(self, argv);
	result("doorbell_dup2: bad: exec: %s", strerror(errno));
	return 1;
}

/* ---- main ----------------------------------------------------------- */

int main(int argc, char **argv)
{
	const struct helper_option extra[] = {
		{ "--pitfall", HELPER_STR, &pitfall },
		{ "--result", HELPER_STR, &result_path },
		{ NULL, 0, NULL },
	};
	pthread_t waiter;
	int lfd, lfd_arg;

	if (argc >= 4 && !strcmp(argv[1], "--probe")) {
		if (argc >= 6 && !strcmp(argv[4], "--result"))
			result_path = argv[5];
		return probe_main(argv[2], atoi(argv[3]));
	}
	if (helper_parse(&opts, argc, argv, extra) < 0 || helper_setup_signals(&opts) < 0)
		return 2;
	if (!strcmp(pitfall, "doorbell_dup2"))
		return doorbell_dup2_main(argv);
	if (!strcmp(pitfall, "close_range"))
		return close_range_main();
	if (!strcmp(pitfall, "fork_bind")) {
		sigset_t set;

		sigemptyset(&set);
		sigaddset(&set, SIGUSR2);
		pthread_sigmask(SIG_BLOCK, &set, NULL);
	}
	lfd = helper_listen(&opts, opts.port);
	if (lfd < 0)
		return 1;
	if (!strcmp(pitfall, "spawn"))
		spawn_children(lfd);
	else if (!strcmp(pitfall, "handler_close"))
		hammer(lfd, 0);
	else if (!strcmp(pitfall, "handler_dup2"))
		hammer(lfd, 1);
	else if (!strcmp(pitfall, "fork_bind")) {
		lfd_arg = lfd;
		if (pthread_create(&waiter, NULL, fork_bind_on_signal, &lfd_arg) != 0)
			return 1;
	} else if (strcmp(pitfall, "none")) {
		fprintf(stderr, "%s: no pitfall '%s'\n", opts.prog, pitfall);
		return 2;
	}
	helper_announce(&opts, lfd);
	while (!helper_stopping) {
		struct sockaddr_storage peer;
		socklen_t len = sizeof(peer);
		int conn = accept(lfd, (struct sockaddr *)&peer, &len);

		if (conn < 0) {
			if (helper_accept_error(&opts, errno) < 0)
				return 1;
			continue;
		}
		helper_serve(&opts, conn, lfd, "main", &peer, len, NULL);
	}
	return 0;
}
