/*
 * helper_options.c - the command line and the signal behaviour shared by
 * the test servers: common options plus a table of the program's own, and
 * what --ignore-term and --graceful do to SIGTERM.
 *
 * A graceful stop only sets helper_stopping; the handlers are installed
 * without SA_RESTART so a blocking accept() or poll() returns EINTR and the
 * program's loop sees the flag.
 */
#include "helper_common.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

volatile sig_atomic_t helper_stopping;

static int parse_int(const char *prog, const char *name, const char *s, int *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < 0 || v > 1000000000) {
		fprintf(stderr, "%s: %s: bad number '%s'\n", prog, name, s);
		return -1;
	}
	*out = (int)v;
	return 0;
}

/* Apply one option from table; returns 1 if it was not there, 0 if it was
 * applied, -1 on a bad value.  *i moves past a consumed argument. */
static int apply_option(const struct helper_option *table, const char *prog,
			int argc, char **argv, int *i)
{
	for (; table != NULL && table->name != NULL; table++) {
		if (strcmp(argv[*i], table->name) != 0)
			continue;
		if (table->kind == HELPER_FLAG) {
			*(int *)table->value = 1;
			return 0;
		}
		if (*i + 1 >= argc) {
			fprintf(stderr, "%s: %s needs a value\n", prog, table->name);
			return -1;
		}
		(*i)++;
		if (table->kind == HELPER_STR) {
			*(const char **)table->value = argv[*i];
			return 0;
		}
		return parse_int(prog, table->name, argv[*i], table->value);
	}
	return 1;
}

int helper_parse(struct helper_opts *o, int argc, char **argv,
		 const struct helper_option *extra)
{
	const char *slash = strrchr(argv[0], '/');
	const char *worker = getenv("CLUSTER_WORKER_ID");

	*o = (struct helper_opts){
		.prog = slash != NULL ? slash + 1 : argv[0],
		.worker = worker != NULL && *worker != '\0' ? worker : "-",
		.addr = "127.0.0.1", .v6only = -1, .backlog = 128,
		.exit_at_start = -1, .exit_after_bind = -1, .stall_worker = -1,
	};
	const struct helper_option common[] = {
		{ "--addr", HELPER_STR, &o->addr },
		{ "--port", HELPER_INT, &o->port },
		{ "--v6only", HELPER_INT, &o->v6only },
		{ "--reuseaddr", HELPER_FLAG, &o->reuseaddr },
		{ "--reuseport", HELPER_FLAG, &o->reuseport },
		{ "--backlog", HELPER_INT, &o->backlog },
		{ "--crash-after", HELPER_INT, &o->crash_after },
		{ "--exit-at-start", HELPER_INT, &o->exit_at_start },
		{ "--exit-after-bind", HELPER_INT, &o->exit_after_bind },
		{ "--listen-delay-ms", HELPER_INT, &o->listen_delay_ms },
		{ "--ignore-term", HELPER_FLAG, &o->ignore_term },
		{ "--graceful", HELPER_FLAG, &o->graceful },
		{ "--slow-ms", HELPER_INT, &o->slow_ms },
		{ "--hold", HELPER_FLAG, &o->hold },
		{ "--print-accepted", HELPER_FLAG, &o->print_accepted },
		{ "--nofile", HELPER_INT, &o->nofile },
		{ "--fill-fds-after", HELPER_INT, &o->fill_fds_after },
		{ "--stall-worker", HELPER_INT, &o->stall_worker },
		{ NULL, 0, NULL },
	};

	for (int i = 1; i < argc; i++) {
		int r = apply_option(common, o->prog, argc, argv, &i);

		if (r == 1)
			r = apply_option(extra, o->prog, argc, argv, &i);
		if (r == 1)
			fprintf(stderr, "%s: unknown option '%s'\n", o->prog, argv[i]);
		if (r != 0) {
			fprintf(stderr, "usage: %s [--addr A] [--port P] [--v6only 0|1] "
				"[--reuseaddr] [--reuseport] [--backlog N] [--crash-after K] "
				"[--exit-at-start CODE] [--exit-after-bind CODE] "
				"[--listen-delay-ms MS] [--ignore-term] [--graceful] "
				"[--slow-ms MS] [--hold] [--print-accepted] [--nofile N] "
				"[--fill-fds-after K] [--stall-worker ID]%s\n", o->prog,
				extra != NULL ? " [program options]" : "");
			return -1;
		}
	}
	if (o->exit_at_start >= 0)
		exit(o->exit_at_start);
	if (o->nofile > 0) {
		struct rlimit rl;

		if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
			rl.rlim_cur = (rlim_t)o->nofile;
			if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
				fprintf(stderr, "%s: --nofile: %s\n", o->prog, strerror(errno));
		}
	}
	return 0;
}

static void on_term(int sig)
{
	(void)sig;
	helper_stopping = 1;
	/* A SIGTERM landing between the loop's check and accept() would leave
	 * us blocked until the next client: a ticking alarm breaks that. */
	alarm(1);
}

static void on_alarm(int sig)
{
	(void)sig;
	if (helper_stopping)
		alarm(1);
}

int helper_setup_signals(const struct helper_opts *o)
{
	struct sigaction sa = { .sa_handler = SIG_IGN };

	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGPIPE, &sa, NULL) < 0)
		goto fail;
	if (o->ignore_term) {
		if (sigaction(SIGTERM, &sa, NULL) < 0)
			goto fail;
		return 0;
	}
	if (!o->graceful)
		return 0;
	sa.sa_flags = 0;         /* no SA_RESTART: interrupt accept() */
	sa.sa_handler = on_alarm;
	if (sigaction(SIGALRM, &sa, NULL) < 0)
		goto fail;
	sa.sa_handler = on_term;
	if (sigaction(SIGTERM, &sa, NULL) < 0)
		goto fail;
	return 0;
fail:
	fprintf(stderr, "%s: sigaction: %s\n", o->prog, strerror(errno));
	return -1;
}

void helper_sleep_ms(int ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L };

	while (ms > 0 && nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}
