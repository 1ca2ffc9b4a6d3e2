/*
 * real_programs.h - how the integration suites set up the unmodified
 * servers they run under cluster-run (nginx, lighttpd, busybox httpd,
 * socat fork, memcached): the config files each needs, written into a
 * directory the test made, and the command line that starts it on a given
 * port; plus the one request per program that says it answered (http_ask,
 * memcached_ask).  It is not a harness of its own: it starts nothing, does
 * not pick ports (free_port() does) and does not make or remove the
 * directory (tmpdir.h does, so the suite's .fini removes it).  Failures
 * end the test with a Criterion assertion.
 */
#ifndef TESTS_REAL_PROGRAMS_H
#define TESTS_REAL_PROGRAMS_H

#include <stddef.h>
#include <sys/types.h>

/* A program's argv (NULL-terminated) and the strings it points into; it
 * must outlive the cr_startv() that reads it. */
struct real_command {
	const char *argv[16];
	char arg[3][512];
};

/* With REAL_X_WORKER the server names its worker in an X-Worker header
 * (CLUSTER_WORKER_ID from the environment); with REAL_PLAIN it just says
 * ok. */
enum real_answer { REAL_PLAIN, REAL_X_WORKER };

/* Write dir/name (printf-style content) with the given mode; its path,
 * valid until four more calls. */
const char *real_write_file(const char *dir, const char *name, mode_t mode,
			    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* mkdir dir/name, 0755; one already there is kept (a suite that runs a
 * program again in the same directory). */
void real_make_subdir(const char *dir, const char *name);

/* nginx with its own master and two workers, every path it writes in dir
 * and a pid file per cluster-run worker (two nginx masters removing one
 * file is an alert), through an `sh -c ... exec` wrapper.  It answers
 * "pid=PID" with the pid of the nginx worker, whose process group is the
 * cluster-run worker. */
const char *const *real_nginx_command(struct real_command *c, const char *dir, int port);
/* lighttpd in the foreground (-D): one process, one event loop, serving
 * dir/www/index.html.  Its config reads the environment (env.NAME), which
 * is how it names the worker. */
const char *const *real_lighttpd_command(struct real_command *c, const char *dir, int port,
					 enum real_answer answer);
/* A busybox to run: linked statically (want_static: it goes through
 * seccomp) or dynamically (through the shim), or NULL when there is none
 * of that kind.  The static one may also come from $STATIC_BUSYBOX (CI
 * extracts Debian's busybox-static there, beside the dynamic busybox the
 * other tests want). */
const char *real_busybox(int want_static);
/* busybox httpd, a child per connection: "/" has no index.html, so the
 * child runs dir/cgi-bin/index.cgi.  The busybox in PATH, unless
 * real_busybox_set() named another. */
void real_busybox_set(const char *path);
const char *const *real_busybox_httpd_command(struct real_command *c, const char *dir,
					      int port, enum real_answer answer);
/* socat TCP-LISTEN with fork: its child runs dir/reply.sh, which reads the
 * request head before answering (closing with unread data would reset the
 * connection under the reply). */
const char *const *real_socat_fork_command(struct real_command *c, const char *dir, int port,
					   enum real_answer answer);
/* memcached: threads (-t 2) behind one listener, text protocol, UDP off;
 * -u root when run as root, which it insists on. */
const char *const *real_memcached_command(struct real_command *c, int port);

/* One GET on a fresh connection to 127.0.0.1:port, answered 200.  Its
 * length, or -1 with errno (EPROTO: another status). */
int http_ask(int port, char *buf, size_t cap, int timeout_ms);
/* "version" and "stats" on a fresh connection to memcached, read until
 * the END of the stats.  Its length, or -1 with errno. */
int memcached_ask(int port, char *buf, size_t cap, int timeout_ms);

#endif
