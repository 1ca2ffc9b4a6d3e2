/*
 * options.h - the command line, parsed and checked.  Every bad value gets
 * one line on stderr and exit status 2 (EXIT_USAGE), before anything runs.
 */
#ifndef LAUNCHER_OPTIONS_H
#define LAUNCHER_OPTIONS_H

#include "base/envfile.h"

struct policy_ops;              /* cluster.h; the table is policy/policy.c */

/* Exit statuses: see README "Exit status". */
enum {
	EXIT_STOPPED = 0,       /* stopped on request */
	EXIT_FAILURE_ = 1,      /* cluster-run itself failed */
	EXIT_USAGE = 2,         /* bad command line */
	EXIT_GAVE_UP_CLEAN = 3, /* gave up: workers kept exiting with status 0 */
	EXIT_CANNOT_EXEC = 126, /* PROGRAM found but cannot be run */
	EXIT_NOT_FOUND = 127,   /* PROGRAM not found */
};

/* How workers' binds reach the master (--via): mechanism.c decides. */
enum via {
	VIA_AUTO,               /* the shim where it reaches PROGRAM, else seccomp */
	VIA_SHIM,               /* LD_PRELOAD */
	VIA_SECCOMP,            /* seccomp user notification (seccomp_notify.c) */
};

/* Where a channel policy runs (--steer): mechanism.c decides. */
enum steer {
	STEER_AUTO,             /* the hop under the shim, the kernel under seccomp */
	STEER_HOP,              /* the master accepts and hands out */
	STEER_KERNEL,           /* the reuseport group's BPF program (policy_steer.c) */
};

#define MAX_WORKERS 1024

struct options {
	int workers;
	const struct policy_ops *policy;        /* as asked (-p) or the default */
	double grace;           /* seconds from stop signal to SIGKILL */
	int stop_signal;
	int max_restarts;       /* consecutive failures before ready; 0 = never give up */
	double backoff_min;     /* first restart delay, seconds */
	double backoff_max;
	double min_uptime;      /* a worker up this long resets its backoff */
	double ready_timeout;   /* rolling restart: wait this long for a listener */
	int reload_batch;       /* --reload-batch N: slots replaced at once */
	int reload_batch_pct;   /* --reload-batch P%: percent of the slots (or 0) */
	int log_prefix;
	const char *control_path;       /* NULL: the default; "none": off */
	const char *metrics;            /* ADDR:PORT or NULL */
	const char *user;               /* USER[:GROUP] to run workers as */
	int allow_bind;                 /* --user: workers may bind new addresses later */
	double listen_timeout;          /* warn when nothing listens after this */
	int backlog;                    /* --backlog; 0: the program's own */
	int force;              /* run PROGRAM even if the shim cannot reach it */
	enum via via;           /* --via */
	enum steer steer;       /* --steer */
	int policy_set;         /* -p given: seccomp keeps it or refuses it */
	int log_time;           /* --log-time: ISO-8601 UTC time on every line */
	int log_json;           /* --log-format json */
	const char *log_dir;    /* --log-dir: one file per slot */
	int forward_usr1;       /* --forward-usr1: USR1 reaches the workers too */
	struct env_list env;    /* --env-file and -e, in order */
	unsigned long long max_memory;  /* bytes; 0: no limit */
	long max_requests;      /* connections handed; 0: no limit */
	long max_requests_jitter;
	double hang_timeout;    /* seconds; 0: off */
	int verbose;
	int weights[MAX_WORKERS];       /* --weights: per slot, >= 1 */
	int nweights;                   /* 0: unweighted */
	char **argv;            /* PROGRAM and its arguments */
	int log_lines;          /* --log-lines: kept per slot for cluster-ctl logs */
	const char *config;     /* --config FILE, or NULL */
	int cmd_argc;           /* the command line as given, parsed again by */
	char **cmd_argv;        /* ... a reload (surface/reread.c) */
};

#endif
