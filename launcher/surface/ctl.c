/*
 * ctl.c - cluster-ctl: talk to a running cluster-run through its control
 * socket (control.c).
 *
 *   cluster-ctl [-s SOCKET | -p MASTER_PID] [-t SECONDS] COMMAND
 *   COMMAND: status [--json] | reload [--wait] [RELOAD OPTIONS] [-- PROGRAM ARGS] |
 *            rollout continue|abort [--wait] | scale N [--wait] |
 *            signal SIG | stop | top [--once | --json] [--interval S] |
 *            logs [SLOT|master] [-n N] [-f] | upgrade [PATH]
 *
 * Without -s or -p it uses the only control socket in the runtime
 * directory, and says so when there are none or several (listing them).
 * The command is checked here before anything is sent.  With --wait the
 * master answers when the reload or scaling has finished; -t bounds the
 * wait (the reload goes on regardless).  Exit status: 0 when the master
 * answered ok, 1 when it answered an error (an aborted reload) or cannot
 * be reached, 2 for a bad command line, 3 when the time ran out first.
 *
 * upgrade [PATH] always waits: cluster-run executes PATH (default: the
 * binary it was started from) with the same pid, and answers once the new
 * image runs ("upgraded: ..."), or once it has fallen back to the old one
 * (printed as "cluster-ctl: upgrade failed: WHY", one line, whether it
 * was refused at once or failed later), over the same connection: the
 * master carries it across the exec.  Its exit status is that of a
 * --wait command: 0 upgraded, 1 refused or failed, 3 timed out (-t).
 *
 * Nothing waits for ever (a master stopped with SIGSTOP, or stuck, still
 * accepts connections: the kernel queues them).  Without -t a command
 * that answers at once gets DEFAULT_TIMEOUT_S.  A --wait command may
 * rightly take longer than any default (a reload of many slow workers),
 * so without -t it waits as long as the master runs, and gives up only
 * once the master has been stopped (state T in /proc) for
 * DEFAULT_TIMEOUT_S in a row.  logs -f follows until interrupted or the
 * master stops (it closes the connection: status 0); -t bounds it too.
 *
 * A reload's words go over the one-line protocol with blanks, '%' and
 * control characters as %XX (reload_cmd.c decodes them), so a new
 * command line keeps its arguments as given.  While a reload is waited
 * for, the master's "progress: " lines are printed as they come.
 */
#include "base/batch_spec.h"
#include "base/runtime_dir.h"
#include "surface/top.h"

#include <limits.h>

#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#ifndef CLUSTER_RUN_VERSION
#define CLUSTER_RUN_VERSION "unknown"
#endif
#define MAX_WORKERS 1024        /* as options.h */

static const char usage[] =
	"usage: cluster-ctl [-s SOCKET | -p MASTER_PID] [-t SECONDS] COMMAND\n"
	"  status [--json]     workers, listeners, last reload\n"
	"  reload [--wait]     rolling restart; --wait: until it completes or is aborted\n"
"    [--batch N|P%]    slots replaced at once (default: cluster-run --reload-batch)\n"
"    [--canary]        pause after the first batch (rollout continue | abort)\n"
"    [--env K=V] [--env-file FILE] [-- PROGRAM [ARG...]]\n"
"                      the new release: another command line, more variables\n"
"  rollout continue|abort [--wait]\n"
"                      a paused canary: go on, or go back to the previous release\n"
	"  scale N [--wait]    N workers; --wait: until they all listen\n"
	"  signal SIG          send SIG to every worker (not HUP: that is reload)\n"
	"  stop                graceful stop\n"
	"  top [--once|--json] [--interval S]  live view (keys: r reload, + - scale, q quit)\n"
	"  logs [SLOT|master] [-n N] [-f]\n"
	"                      the last N lines (default 50) of each slot's output,\n"
	"                      or of one; -f: then follow new lines\n"
	"  upgrade [PATH]      run the cluster-run binary at PATH (default: the one it\n"
	"                      was started from) in place: same pid, workers and\n"
	"                      connections kept; waits until it is done\n"
	"  -t SECONDS          give up waiting after SECONDS (exit status 3); default:\n"
	"                      10 s, and for --wait as long as cluster-run runs\n"
	"       cluster-ctl -h | --help | -V | --version\n";

#define EXIT_TIMED_OUT 3
#define DEFAULT_TIMEOUT_S 10    /* README, "Control"; -t overrides it */

static long long deadline_ms = -1;      /* when to give up reading */
static int watch_stopped;               /* --wait without -t: see the file comment */
static pid_t master_pid;                /* SO_PEERCRED, 0 when unknown */
static int master_was_stopped;          /* why the time ran out */
static double timeout_s;                /* -t */

static long long mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Whether pid is stopped (SIGSTOP, or a debugger's trace stop). */
static int stopped(pid_t pid)
{
	char path[64], buf[512], *r;
	FILE *f;
	int st = 0;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if (pid <= 0 || !(f = fopen(path, "re")))
		return 0;
	if (fgets(buf, sizeof(buf), f) && (r = strrchr(buf, ')')))
		st = r[1] == ' ' && (r[2] == 'T' || r[2] == 't');
	fclose(f);
	return st;
}

/* Wait until fd is readable: 0, -1 with errno, -2 when the time ran out. */
static int wait_readable(int fd)
{
	long long stopped_since = -1;

	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		long long now = mono_ms(), left = deadline_ms >= 0 ? deadline_ms - now : 60000;
		int r;

		if (left <= 0)
			return -2;
		if (watch_stopped) {
			if (!stopped(master_pid))
				stopped_since = -1;
			else if (stopped_since < 0)
				stopped_since = now;
			else if (now - stopped_since >= DEFAULT_TIMEOUT_S * 1000LL) {
				master_was_stopped = 1;
				return -2;
			}
			if (left > 1000)
				left = 1000;    /* look again in a second */
		}
		r = poll(&p, 1, left > 60000 ? 60000 : (int)left);
		if (r > 0)
			return 0;
		if (r < 0 && errno != EINTR)
			return -1;
	}
}

/* read(), bounded as the file comment says: -2 when the time ran out. */
static ssize_t read_until_deadline(int fd, char *buf, size_t len)
{
	int r = wait_readable(fd);

	if (r < 0)
		return r;
	return read(fd, buf, len);
}

/* connect(), bounded too: a stopped master's listen queue fills up, and
 * then connect() waits for room, for the socket's send timeout. */
static int connect_bounded(int fd, const struct sockaddr_un *un)
{
	long long left = deadline_ms >= 0 ? deadline_ms - mono_ms() : DEFAULT_TIMEOUT_S * 1000LL;
	struct timeval tv;

	if (left < 1)
		left = 1;
	tv.tv_sec = (time_t)(left / 1000);
	tv.tv_usec = (suseconds_t)(left % 1000) * 1000;
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, (const struct sockaddr *)un, sizeof(*un)) < 0)
		return errno == EAGAIN || errno == EINPROGRESS ? -2 : -1;
	tv.tv_sec = tv.tv_usec = 0;
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	return 0;
}

static void peer_pid(int fd)
{
	struct ucred cr;
	socklen_t len = sizeof(cr);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) == 0)
		master_pid = cr.pid;
}

/* The one line for a time that ran out; exit status 3. */
static int timed_out(const char *cmd, int wait, int given)
{
	char who[48] = "cluster-run";

	if (master_pid > 0)
		snprintf(who, sizeof(who), "cluster-run (pid %d)", (int)master_pid);
	if (master_was_stopped)
		fprintf(stderr, "cluster-ctl: %s has been stopped for %ds (kill -CONT %d); "
			"the %s goes on once it runs\n", who, DEFAULT_TIMEOUT_S, (int)master_pid, cmd);
	else if (wait)
		fprintf(stderr, "cluster-ctl: timed out waiting for %s; it goes on\n", who);
	else
		fprintf(stderr, "cluster-ctl: no answer from %s within %gs (is it stopped, or "
			"stuck?)%s%s\n", who, given ? timeout_s : DEFAULT_TIMEOUT_S,
			strcmp(cmd, "status") ? "; the command may still be carried out" : "",
			given ? "" : "; -t sets how long to wait");
	return EXIT_TIMED_OUT;
}

static int fail(const char *fmt, const char *arg, int status)
{
	fprintf(stderr, "cluster-ctl: ");
	fprintf(stderr, fmt, arg);
	fputc('\n', stderr);
	return status;
}

static int live(const char *path)
{
	struct sockaddr_un un = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0), ok;

	snprintf(un.sun_path, sizeof(un.sun_path), "%s", path);
	ok = fd >= 0 && connect(fd, (struct sockaddr *)&un, sizeof(un)) == 0;
	if (fd >= 0)
		close(fd);
	return ok;
}

/* Every live master in dir, one line each: its socket and pid. */
static void list_sockets(const char *dir)
{
	struct dirent *e;
	DIR *d = opendir(dir);

	if (!d)
		return;
	while ((e = readdir(d))) {
		char cand[sizeof(((struct sockaddr_un *)0)->sun_path)];
		size_t n = strlen(e->d_name);

		if (n <= 5 || strcmp(e->d_name + n - 5, ".sock") ||
		    snprintf(cand, sizeof(cand), "%s/%s", dir, e->d_name) >= (int)sizeof(cand) ||
		    !live(cand))
			continue;
		fprintf(stderr, "cluster-ctl:   %s (pid %ld)\n", cand, strtol(e->d_name, NULL, 10));
	}
	closedir(d);
}

/* The only live *.sock in the runtime directory (a master killed with
 * SIGKILL leaves its file behind: those do not count). */
static int only_socket(char *path, size_t len)
{
	char dir[sizeof(((struct sockaddr_un *)0)->sun_path) - 16];
	struct dirent *e;
	int found = 0;
	DIR *d;

	if (runtime_dir(dir, sizeof(dir), 0) < 0 || !(d = opendir(dir)))
		return fail("no cluster-run is running (no %s); use -s or -p",
			    "runtime directory", 1);
	while ((e = readdir(d))) {
		size_t n = strlen(e->d_name);
		char cand[sizeof(((struct sockaddr_un *)0)->sun_path)];

		if (n <= 5 || strcmp(e->d_name + n - 5, ".sock") || strlen(dir) + 1 + n >= len ||
		    strlen(dir) + 1 + n >= sizeof(cand))
			continue;
		memcpy(cand, dir, strlen(dir));
		cand[strlen(dir)] = '/';
		memcpy(cand + strlen(dir) + 1, e->d_name, n + 1);
		if (!live(cand))
			continue;
		found++;
		memcpy(path, cand, strlen(cand) + 1);
	}
	closedir(d);
	if (found == 1)
		return -1;
	if (found)
		list_sockets(dir);
	return fail(found ? "several cluster-run masters are running (above); use -p PID or -s SOCKET%s"
			  : "no cluster-run is running%s (use -s or -p)", "", 1);
}

/* KEY=VALUE, KEY of letters, digits and _, not starting with a digit. */
static int valid_kv(const char *kv)
{
	const char *eq = strchr(kv, '='), *p;

	if (!eq || eq == kv || (*kv >= '0' && *kv <= '9'))
		return 0;
	for (p = kv; p < eq; p++)
		if (!(*p == '_' || (*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z') ||
		      (*p >= 'A' && *p <= 'Z')))
			return 0;
	return 1;
}

/* reload's words (argv[0] is "reload"); --env-file's FILE is made absolute
 * in argv (the master reads it from its own directory).  0 or 2. */
static int check_reload(int argc, char **argv, int *wait)
{
	int i, n, pct;

	for (i = 1; i < argc; i++) {
		const char *w = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!strcmp(w, "--wait")) {
			*wait = 1;
		} else if (!strcmp(w, "--canary")) {
			/* nothing to check */
		} else if (!strcmp(w, "--")) {
			if (i + 1 >= argc)
				return fail("reload: -- needs a PROGRAM after it%s", "", 2);
			return 0;
		} else if (!strcmp(w, "--batch") || !strcmp(w, "--env") || !strcmp(w, "--env-file")) {
			if (!v) {
				fprintf(stderr, "cluster-ctl: reload: %s needs a value\n", w);
				return 2;
			}
			if (!strcmp(w, "--batch") && batch_spec_parse(v, MAX_WORKERS, &n, &pct) < 0) {
				fprintf(stderr, "cluster-ctl: reload: --batch takes N from 1 to %d or P%% "
					"from 1%% to 100%%, not '%s'\n", MAX_WORKERS, v);
				return 2;
			}
			if (!strcmp(w, "--env") && !valid_kv(v))
				return fail("reload: --env takes KEY=VALUE (KEY of letters, digits and "
					    "_), not '%s'", v, 2);
			if (!strcmp(w, "--env-file")) {
				char *abs = realpath(v, NULL);

				if (!abs) {
					fprintf(stderr, "cluster-ctl: reload: --env-file %s: %s\n", v,
						strerror(errno));
					return 2;
				}
				argv[i + 1] = abs;      /* for the rest of the run */
			}
			i++;
		} else {
			fprintf(stderr, "cluster-ctl: reload: unknown argument '%s' (--wait, --batch "
				"N|P%%, --canary, --env K=V, --env-file FILE, -- PROGRAM ARGS)\n", w);
			return 2;
		}
	}
	return 0;
}

/* logs [SLOT|master] [-n N] [-f], in any order: 0, or 2 after a line. */
static int check_logs(int argc, char **argv, int *follow)
{
	int i, slot = 0;
	char *end;
	long v;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-f")) {
			*follow = 1;
		} else if (!strcmp(argv[i], "-n")) {
			if (++i >= argc || (v = strtol(argv[i], &end, 10), *end || end == argv[i]) ||
			    v < 0 || v > 10000) {
				fprintf(stderr, "cluster-ctl: logs -n takes a line count from 0 to 10000\n");
				return 2;
			}
		} else if (!slot && (!strcmp(argv[i], "master") ||
				     ((v = strtol(argv[i], &end, 10)), !*end && end != argv[i] &&
				      v >= 0 && v < MAX_WORKERS))) {
			slot = 1;
		} else {
			fprintf(stderr, "cluster-ctl: logs takes [SLOT|master] [-n N] [-f], not '%s'\n",
				argv[i]);
			return 2;
		}
	}
	return 0;
}

static int follow;      /* logs -f: no deadline unless -t */

/* argv[i], a file, made absolute in place (the master resolves paths
 * from its own directory): 0, or 2 after a line. */
static int absolute(char **argv, int i, const char *cmd)
{
	char *abs = realpath(argv[i], NULL);

	if (!abs) {
		fprintf(stderr, "cluster-ctl: %s: %s: %s\n", cmd, argv[i], strerror(errno));
		return 2;
	}
	argv[i] = abs;          /* for the rest of the run */
	return 0;
}

/* Usage errors in COMMAND, found before asking anyone: status 2.  *wait:
 * the command waits for a reload, a rollout or scaling. */
static int check_command(int argc, char **argv, int *wait)
{
	const char *cmd = argv[0];
	char *end;
	long n;

	*wait = 0;
	if (!strcmp(cmd, "logs"))
		return check_logs(argc, argv, &follow);
	*wait = argc >= 2 && !strcmp(argv[argc - 1], "--wait");
	if (!strcmp(cmd, "status") && (argc == 1 || (argc == 2 && !strcmp(argv[1], "--json"))))
		return 0;
	if (!strcmp(cmd, "reload")) {
		*wait = 0;
		return check_reload(argc, argv, wait);
	}
	if (!strcmp(cmd, "rollout") && argc == 2 + *wait &&
	    (!strcmp(argv[1], "continue") || !strcmp(argv[1], "abort")))
		return 0;
	if (!strcmp(cmd, "stop") && argc == 1)
		return 0;
	if (!strcmp(cmd, "top"))        /* top.c: a client of its own */
		return top_check_args(argc, argv);
	if (!strcmp(cmd, "signal") && argc == 2)
		return 0;
	if (!strcmp(cmd, "upgrade") && argc <= 2) {
		*wait = 1;      /* always: the answer comes once it is done */
		return argc == 2 ? absolute(argv, 1, "upgrade") : 0;
	}
	if (!strcmp(cmd, "scale") && argc == 2 + *wait) {
		n = strtol(argv[1], &end, 10);
		if (*end || end == argv[1] || n < 1 || n > MAX_WORKERS) {
			fprintf(stderr, "cluster-ctl: scale takes a worker count from 1 to %d, not '%s'\n",
				MAX_WORKERS, argv[1]);
			return 2;
		}
		return 0;
	}
	if (!strcmp(cmd, "rollout"))
		fprintf(stderr, "cluster-ctl: rollout takes continue or abort [--wait]\n");
	else if (!strcmp(cmd, "upgrade"))
		fprintf(stderr, "cluster-ctl: upgrade takes one PATH or nothing\n");
	else if (!strcmp(cmd, "status") || !strcmp(cmd, "stop") ||
		 !strcmp(cmd, "scale") || !strcmp(cmd, "signal"))
		fprintf(stderr, "cluster-ctl: bad arguments to '%s'\n", cmd);
	else
		fprintf(stderr, "cluster-ctl: unknown command '%s'\n", cmd);
	fputs(usage, stderr);
	return 2;
}

/* word onto line, blanks, '%' and control characters as %XX: -1 when it
 * does not fit. */
static int append_word(char *line, size_t cap, const char *w, int encode)
{
	size_t used = strlen(line);

	if (used && used + 1 < cap)
		line[used++] = ' ';
	for (; *w; w++) {
		unsigned char ch = (unsigned char)*w;

		if (used + 4 >= cap)
			return -1;
		if (encode && (ch <= ' ' || ch == '%' || ch == 0x7f))
			used += (size_t)snprintf(line + used, cap - used, "%%%02X", ch);
		else
			line[used++] = (char)ch;
	}
	line[used] = '\0';
	return 0;
}

/* The master's "progress: TEXT" lines at the front of buf (len bytes):
 * printed as TEXT and taken out.  Returns the bytes left. */
static size_t print_progress(char *buf, size_t len)
{
	static const char tag[] = "progress: ";
	char *nl;

	while (len >= sizeof(tag) - 1 && !strncmp(buf, tag, sizeof(tag) - 1) &&
	       (nl = memchr(buf, '\n', len))) {
		size_t line = (size_t)(nl - buf) + 1;

		fwrite(buf + sizeof(tag) - 1, 1, line - (sizeof(tag) - 1), stdout);
		fflush(stdout);
		memmove(buf, buf + line, len - line);
		len -= line;
		buf[len] = '\0';
	}
	return len;
}

int main(int argc, char **argv)
{
	struct sockaddr_un un = { .sun_family = AF_UNIX };
	char path[sizeof(un.sun_path)] = "", line[8192], buf[8192];
	const char *status_line_end;
	size_t len = 0;
	ssize_t n;
	int c, fd, i, r, wait, timeout_given;

	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};

	opterr = 0;
	while ((c = getopt_long(argc, argv, "+:s:p:t:hV", longopts, NULL)) != -1) {
		switch (c) {
		case 't': {
			char *end;
			double s = strtod(optarg, &end);
			if (*end || end == optarg || !(s > 0) || s > 86400 * 7)
				return fail("-t takes seconds, more than 0: '%s'", optarg, 2);
			deadline_ms = (long long)(s * 1000.0);
			timeout_s = s;
			break;
		}
		case 's':
			if (snprintf(path, sizeof(path), "%s", optarg) >= (int)sizeof(path))
				return fail("socket path too long: %s", optarg, 2);
			break;
		case 'p': {
			char *end;
			long pid = strtol(optarg, &end, 10);
			if (*end || pid <= 0)
				return fail("not a pid: '%s'", optarg, 2);
			if (runtime_socket(path, sizeof(path), (pid_t)pid, 0) < 0)
				return fail("no runtime directory for cluster-run (%s)", strerror(errno), 1);
			break;
		}
		case 'h':
			fputs(usage, stdout);
			return 0;
		case 'V':
			printf("cluster-ctl %s\n", CLUSTER_RUN_VERSION);
			return 0;
		case ':':
			fprintf(stderr, "cluster-ctl: option '%s' needs a value\n", argv[optind - 1]);
			fputs(usage, stderr);
			return 2;
		default:
			fprintf(stderr, "cluster-ctl: unknown option '%s'\n", argv[optind - 1]);
			fputs(usage, stderr);
			return 2;
		}
	}
	if (optind >= argc) {
		fputs(usage, stderr);
		return 2;
	}
	if ((r = check_command(argc - optind, argv + optind, &wait)) != 0)
		return r;
	timeout_given = deadline_ms >= 0;
	if (deadline_ms >= 0)
		deadline_ms += mono_ms();
	else if (follow)
		deadline_ms = -1;       /* until it stops, or we are interrupted */
	else if (!wait)
		deadline_ms = mono_ms() + DEFAULT_TIMEOUT_S * 1000LL;
	else
		watch_stopped = 1;
	if (!path[0] && (r = only_socket(path, sizeof(path))) >= 0)
		return r;
	if (!strcmp(argv[optind], "top"))
		return top_main(path, argc - optind, argv + optind);
	line[0] = '\0';
	for (i = optind; i < argc; i++)
		if (append_word(line, sizeof(line) - 1, argv[i],
				(!strcmp(argv[optind], "reload") || !strcmp(argv[optind], "upgrade")) &&
				i > optind) < 0)
			return fail("command too long%s", "", 2);
	strcat(line, "\n");
	snprintf(un.sun_path, sizeof(un.sun_path), "%s", path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || (r = connect_bounded(fd, &un)) == -1) {
		fprintf(stderr, "cluster-ctl: cannot reach cluster-run at %s: %s\n", path,
			strerror(errno));
		return 1;
	}
	if (r == -2)
		return timed_out(argv[optind], wait, timeout_given);
	peer_pid(fd);
	/* A master that refuses us answers and closes at once: the send may
	 * fail (no SIGPIPE, please), the answer is still there to read. */
	if (send(fd, line, strlen(line), MSG_NOSIGNAL) < 0 && errno != EPIPE &&
	    errno != ECONNRESET)
		return fail("sending: %s", strerror(errno), 1);
	/* "ok\n" or "error: ...\n", then the body */
	while ((n = read_until_deadline(fd, buf + len, sizeof(buf) - 1 - len)) > 0) {
		len += (size_t)n;
		buf[len] = '\0';
		len = print_progress(buf, len);
		if (!strncmp(buf, "progress: ", len < 10 ? len : 10))
			continue;       /* a progress line not whole yet */
		if (!(status_line_end = strchr(buf, '\n')) && len < sizeof(buf) - 1)
			continue;
		break;
	}
	buf[len] = '\0';
	if (n == -2)
		return timed_out(argv[optind], wait, timeout_given);
	if (!strncmp(buf, "ok\n", 3)) {
		fwrite(buf + 3, 1, len - 3, stdout);
		fflush(stdout);         /* logs -f: each line as it comes */
		while ((n = read_until_deadline(fd, buf, sizeof(buf))) > 0) {
			fwrite(buf, 1, (size_t)n, stdout);
			fflush(stdout);
		}
		if (n == -2)
			return timed_out(argv[optind], wait, timeout_given);
		return 0;
	}
	if (!strcmp(argv[optind], "upgrade") && !strncmp(buf, "error: ", 7))
		fprintf(stderr, "cluster-ctl: upgrade failed: %s", buf + 7);
	else
		fprintf(stderr, "cluster-ctl: %s", len ? buf : "no answer\n");
	return 1;
}
