/*
 * options.c - command-line parsing.  Options stop at the first non-option
 * word (PROGRAM), so options after PROGRAM belong to PROGRAM.
 */
#include "cluster.h"
#include "base/addr.h"
#include "base/batch_spec.h"
#include "base/envfile.h"
#include "base/log.h"
#include "base/logring.h"
#include "base/options.h"
#include "policy/policy.h"
#include "surface/config.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <unistd.h>

#ifndef CLUSTER_RUN_VERSION
#define CLUSTER_RUN_VERSION "unknown"
#endif

/* --help is these texts with generated entries between them: whatever
 * names policies (-p, --weights, --hang-timeout, Policies) comes from the
 * policies' table (policy.c), so a new policy shows up on its own. */
static const char usage_head[] =
"usage: cluster-run [OPTIONS] [--] PROGRAM [ARG...]\n"
"Run N copies of an unmodified server PROGRAM sharing its listening sockets.\n"
"\n"
"  -n, --workers N        number of workers (default: online CPUs)\n";
/* -p, --weights */
static const char usage_middle[] =
"  -g, --grace SECONDS    stop signal to SIGKILL, and drain limit (default 10)\n"
"      --stop-signal SIG  signal that stops a worker gracefully (default TERM)\n"
"      --max-restarts N   give up after N consecutive failures of a worker\n"
"                         before it listens (default 5; 0 = never)\n"
"      --backoff MIN:MAX  restart delay bounds in seconds (default 0.1:10)\n"
"      --min-uptime S     a worker up S seconds resets its backoff (default 10)\n"
"      --ready-timeout S  reload: wait S seconds for a new worker to listen\n"
"                         (default 30)\n"
"      --reload-batch N|P%  reload: replace N slots (or P% of them, rounded\n"
"                         up) at once, never fewer listening than slots\n"
"                         (default 1)\n"
"      --log-prefix       prefix each line a worker writes with [slot pid]\n"
"      --listen-timeout S warn when no worker listens after S seconds\n"
"                         (default 10)\n"
"      --backlog N        listen backlog of TCP listeners (default: the\n"
"                         program's own, as without cluster-run)\n"
"      --control PATH     control socket for cluster-ctl (default: in a\n"
"                         private runtime directory; 'none': no socket)\n"
"      --metrics ADDR:PORT  serve Prometheus metrics over HTTP there\n"
"      --user USER[:GROUP]  run workers as USER (cluster-run started as root\n"
"                         binds for them, ports below 1024 included)\n"
"      --allow-bind       with --user: a worker may have cluster-run bind a\n"
"                         new address after its start-up (default: bound\n"
"                         with USER's rights then; unix sockets always are)\n"
"      --via M            how binds reach the master: shim (LD_PRELOAD),\n"
"                         seccomp (static and Go binaries) or auto (default)\n"
"      --steer S          where rr, leastconn, sticky, random, p2c and jiq\n"
"                         run: hop (the master accepts and hands out) or\n"
"                         kernel (a BPF program on per-slot SO_REUSEPORT\n"
"                         sockets; the master off the data path); default\n"
"                         hop via the shim, kernel via seccomp\n"
"      --log-time         ISO-8601 UTC time (ms) on every line, master's\n"
"                         and workers'\n"
"      --log-format F     text (default) | json: one object per line\n"
"      --log-dir DIR      workers' output in DIR/worker-SLOT.log, the\n"
"                         master's in DIR/cluster-run.log too; USR1 reopens\n"
"      --log-lines N      lines of each slot's output kept for cluster-ctl\n"
"                         logs (default 1000, at most 256 KiB; 0: none, and\n"
"                         workers write straight to our stdout/stderr)\n"
"      --config FILE      options and command from FILE, one 'name = value'\n"
"                         a line (the command line wins; reload rereads it)\n"
"      --forward-usr1     USR1 also goes to every worker (default: it only\n"
"                         reopens cluster-run's logs; Node opens a debugger)\n"
"  -e, --env KEY=VALUE    set a variable in the workers' environment\n"
"      --env-file FILE    variables from FILE (systemd EnvironmentFile= syntax)\n"
"      --max-memory SIZE  replace a worker whose RSS stays above SIZE\n"
"                         (K, M, G suffixes)\n"
"      --max-requests N   replace a worker after N connections\n"
"      --max-requests-jitter J  ... plus a random 0..J per worker\n";
/* --hang-timeout */
static const char usage_tail[] =
"      --force            run PROGRAM even if it cannot be clustered\n"
"                         (setuid; static or Go with --via shim)\n"
"  -v, --verbose          say more about what happens\n"
"  -h, --help             this text\n"
"  -V, --version          the version\n"
"\n";
/* Policies */
static const char usage_signals[] =
"\n"
"Signals (README, \"Signals\"): TERM/INT/QUIT stop (twice: at once), HUP\n"
"rolling restart, TTIN/TTOU one worker more/less, USR1 reopens --log-dir\n"
"files (not forwarded unless --forward-usr1), WINCH forwarded to every\n"
"worker.  `cluster-ctl signal SIG` signals the workers.\n"
"  USR2  in-place upgrade: run the cluster-run binary on disk with the same\n"
"        pid, keeping workers, sockets and connections (cluster-ctl upgrade)\n";

static const char usage_exit[] =
"\n"
"Exit status: 0 stopped on request; 1 cluster-run failed, or an address\n"
"is held outside the cluster at start-up; 2 bad command line; 126/127\n"
"PROGRAM cannot be run / not found; else a crash-looping worker's status\n"
"(see the README).\n";

#define HELP_WIDTH 79           /* the last column a line of --help uses */
#define HELP_OPTION_COL 25      /* where an option's text starts */
#define HELP_POLICY_COL 13      /* ... and a policy's */

/* One entry of --help: head, then text from column col, its words
 * wrapped onto lines that start at col. */
static void help_entry(FILE *out, const char *head, int col, const char *text)
{
	int at = fprintf(out, "%s", head);

	if (at >= col - 1) {
		fputc('\n', out);
		at = 0;
	}
	at += fprintf(out, "%*s", col - at, "");
	while (*text) {
		int len = (int)strcspn(text, " ");

		if (at > col && at + 1 + len > HELP_WIDTH)
			at = fprintf(out, "\n%*s", col, "") - 1;
		else if (at > col)
			at += fprintf(out, " ");
		at += fprintf(out, "%.*s", len, text);
		text += len;
		text += strspn(text, " ");
	}
	fputc('\n', out);
}

static int takes_weights(const struct policy_ops *ops)
{
	return ops->takes_weights;
}

static int one_queue_for_all(const struct policy_ops *ops)
{
	return !policy_queue_per_worker(ops);
}

static void usage(FILE *out)
{
	const struct policy_ops *const *p;
	char names[256], text[512];

	fputs(usage_head, out);
	snprintf(text, sizeof(text), "how connections reach the workers, one of the "
		 "Policies below (default %s; %s through seccomp)", policy_default(0)->name,
		 policy_default(1)->name);
	help_entry(out, "  -p, --policy P", HELP_OPTION_COL, text);
	snprintf(text, sizeof(text), "%s: slot i weighs the i-th W (a positive integer); "
		 "slots beyond the list weigh 1",
		 policy_list(names, sizeof(names), takes_weights, NULL));
	help_entry(out, "      --weights W,W,...", HELP_OPTION_COL, text);
	fputs(usage_middle, out);
	policy_list(names, sizeof(names), one_queue_for_all, "and");
	snprintf(text, sizeof(text), "replace a worker that takes none of its queued "
		 "connections for S seconds%s%s%s", *names ? " (every policy but " : "",
		 names, *names ? ")" : "");
	help_entry(out, "      --hang-timeout S", HELP_OPTION_COL, text);
	fputs(usage_tail, out);
	fputs("Policies (-p P):\n", out);
	for (p = policy_table; *p; p++) {
		char head[32];
		const char *note = *p == policy_default(0) ? " (default)" :
				   *p == policy_default(1) ? " (the default through seccomp)" :
				   !(*p)->channel ? " (also through seccomp)" : "";

		snprintf(head, sizeof(head), "  %s", (*p)->name);
		snprintf(text, sizeof(text), "%s%s", (*p)->help, note);
		help_entry(out, head, HELP_POLICY_COL, text);
	}
	fputs(usage_signals, out);
	fputs(usage_exit, out);
}

static int parse_via(const char *s, enum via *v)
{
	if (!strcmp(s, "auto"))
		*v = VIA_AUTO;
	else if (!strcmp(s, "shim"))
		*v = VIA_SHIM;
	else if (!strcmp(s, "seccomp"))
		*v = VIA_SECCOMP;
	else
		return -1;
	return 0;
}


static int parse_count(const char *s, long min, long max, int *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < min || v > max)
		return -1;
	*out = (int)v;
	return 0;
}

static int parse_seconds(const char *s, double *out)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end || !isfinite(v) || v < 0 || v > 86400)
		return -1;
	*out = v;
	return 0;
}

static int parse_signal(const char *s, int *out)
{
	static const struct { const char *name; int sig; } names[] = {
		{ "TERM", SIGTERM }, { "INT", SIGINT }, { "QUIT", SIGQUIT },
		{ "HUP", SIGHUP }, { "USR1", SIGUSR1 }, { "USR2", SIGUSR2 },
		{ "KILL", SIGKILL }, { "WINCH", SIGWINCH },
	};
	size_t i;

	if (!strncmp(s, "SIG", 3))
		s += 3;
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (!strcmp(s, names[i].name)) {
			*out = names[i].sig;
			return 0;
		}
	return parse_count(s, 1, SIGRTMAX, out);
}

static int parse_backoff(const char *s, struct options *opt)
{
	char buf[64], *colon;

	if (strlen(s) >= sizeof(buf))
		return -1;
	strcpy(buf, s);
	colon = strchr(buf, ':');
	if (!colon)
		return -1;
	*colon = '\0';
	if (parse_seconds(buf, &opt->backoff_min) < 0 ||
	    parse_seconds(colon + 1, &opt->backoff_max) < 0 ||
	    opt->backoff_min > opt->backoff_max)
		return -1;
	return 0;
}

/* "64M", "1.5G", "512k", "1048576": bytes, powers of 1024. */
static int parse_size(const char *s, unsigned long long *out)
{
	char *end;
	double v, mult = 1;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || !isfinite(v) || v <= 0)
		return -1;
	switch (*end) {
	case 'k': case 'K': mult = 1024.0; end++; break;
	case 'm': case 'M': mult = 1024.0 * 1024; end++; break;
	case 'g': case 'G': mult = 1024.0 * 1024 * 1024; end++; break;
	}
	if (mult > 1 && *end == 'i')
		end++;
	if (*end == 'b' || *end == 'B')
		end++;
	if (*end || v * mult > 1e18 || v * mult < 4096)
		return -1;
	*out = (unsigned long long)(v * mult);
	return 0;
}

static long parse_long(const char *s, long min, long max, int *ok)
{
	int v;

	*ok = parse_count(s, min, max, &v) == 0;
	return v;
}

/* Options that only mean something under some policies. */
static int check_combinations(const struct options *opt)
{
	if (opt->hang_timeout > 0 && !policy_queue_per_worker(opt->policy)) {
		char names[256];

		log_warnx("--hang-timeout needs policy %s (under %s every worker waits on "
			  "one queue: the master cannot see which one stopped accepting)",
			  policy_list(names, sizeof(names), policy_queue_per_worker, "or"),
			  opt->policy->name);
		return EXIT_USAGE;
	}
	if (opt->max_requests_jitter && !opt->max_requests) {
		log_warnx("--max-requests-jitter needs --max-requests");
		return EXIT_USAGE;
	}
	return -1;
}

/* "2,1,1": one positive integer per slot, at most MAX_WORKERS of them. */
static int parse_weights(const char *s, struct options *opt)
{
	char buf[16];
	const char *p = s;
	int n = 0;

	for (;;) {
		size_t len = strcspn(p, ",");

		if (len == 0 || len >= sizeof(buf) || n >= MAX_WORKERS)
			return -1;
		memcpy(buf, p, len);
		buf[len] = '\0';
		if (parse_count(buf, 1, 1000000, &opt->weights[n]) < 0)
			return -1;
		n++;
		if (p[len] == '\0')
			break;
		p += len + 1;
	}
	opt->nweights = n;
	return 0;
}

static int bad(const char *what, const char *value)
{
	log_warnx("invalid %s: '%s' (see cluster-run --help)", what, value);
	return EXIT_USAGE;
}

static int bad_policy(const char *value)
{
	char what[300], names[256];

	snprintf(what, sizeof(what), "policy (%s)", policy_list(names, sizeof(names), NULL, NULL));
	return bad(what, value);
}

static void set_defaults(struct options *opt)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);

	memset(opt, 0, sizeof(*opt));
	opt->workers = cpus > 0 ? (int)(cpus > MAX_WORKERS ? MAX_WORKERS : cpus) : 1;
	opt->policy = policy_default(0);        /* mechanism_choose: seccomp's */
	opt->grace = 10;
	opt->stop_signal = SIGTERM;
	opt->max_restarts = 5;
	opt->backoff_min = 0.1;
	opt->backoff_max = 10;
	opt->min_uptime = 10;
	opt->ready_timeout = 30;
	opt->reload_batch = 1;
	opt->listen_timeout = 10;
	opt->log_lines = LOGRING_DEFAULT_LINES;
}

enum { O_STOP = 256, O_MAXR, O_BACKOFF, O_UPTIME, O_READY, O_PREFIX, O_STATIC,
       O_CONTROL, O_METRICS, O_USER, O_ALLOW_BIND, O_LISTEN_TIMEOUT, O_VIA,
       O_LOG_TIME, O_LOG_FORMAT, O_LOG_DIR, O_ENV_FILE, O_MAX_MEMORY,
       O_MAX_REQUESTS, O_JITTER, O_HANG, O_BACKLOG, O_WEIGHTS, O_STEER, O_FORWARD_USR1,
       O_CONFIG, O_LOG_LINES, O_RELOAD_BATCH };
/* Every long option: also what a --config file may set (config.c) and
 * what test_config walks, so a new option is in both at once.  A new
 * option must also be sorted in surface/reread.c: applied by a reload, or
 * named there as taking a restart. */
static const struct option longopts[] = {
	{ "workers", required_argument, NULL, 'n' },
	{ "policy", required_argument, NULL, 'p' },
	{ "grace", required_argument, NULL, 'g' },
	{ "stop-signal", required_argument, NULL, O_STOP },
	{ "max-restarts", required_argument, NULL, O_MAXR },
	{ "backoff", required_argument, NULL, O_BACKOFF },
	{ "min-uptime", required_argument, NULL, O_UPTIME },
	{ "ready-timeout", required_argument, NULL, O_READY },
	{ "reload-batch", required_argument, NULL, O_RELOAD_BATCH },
	{ "log-prefix", no_argument, NULL, O_PREFIX },
	{ "force", no_argument, NULL, O_STATIC },
	{ "via", required_argument, NULL, O_VIA },
	{ "control", required_argument, NULL, O_CONTROL },
	{ "metrics", required_argument, NULL, O_METRICS },
	{ "user", required_argument, NULL, O_USER },
	{ "allow-bind", no_argument, NULL, O_ALLOW_BIND },
	{ "listen-timeout", required_argument, NULL, O_LISTEN_TIMEOUT },
	{ "log-time", no_argument, NULL, O_LOG_TIME },
	{ "log-format", required_argument, NULL, O_LOG_FORMAT },
	{ "log-dir", required_argument, NULL, O_LOG_DIR },
	{ "forward-usr1", no_argument, NULL, O_FORWARD_USR1 },
	{ "env", required_argument, NULL, 'e' },
	{ "env-file", required_argument, NULL, O_ENV_FILE },
	{ "max-memory", required_argument, NULL, O_MAX_MEMORY },
	{ "max-requests", required_argument, NULL, O_MAX_REQUESTS },
	{ "max-requests-jitter", required_argument, NULL, O_JITTER },
	{ "hang-timeout", required_argument, NULL, O_HANG },
	{ "backlog", required_argument, NULL, O_BACKLOG },
	{ "weights", required_argument, NULL, O_WEIGHTS },
	{ "steer", required_argument, NULL, O_STEER },
	{ "log-lines", required_argument, NULL, O_LOG_LINES },
	{ "config", required_argument, NULL, O_CONFIG },
	{ "verbose", no_argument, NULL, 'v' },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{ NULL, 0, NULL, 0 },
};
#define SHORTOPTS "+:n:p:g:e:vhV"   /* '+': stop at PROGRAM; ':' first: report
				 * missing arguments ourselves */

const struct option *options_table(void)
{
	return longopts;
}

/* The merged words (the --config file's, then the command line); where[i]
 * names the file line word i came from, or is NULL. */
static int parse_argv(struct options *opt, int argc, char **argv, char *const *where)
{
	const char *weights_arg = NULL;
	int c, ok;

	set_defaults(opt);
	opterr = 0;
	optind = 0;             /* from the start, again (a reload parses anew) */
	while ((c = getopt_long(argc, argv, SHORTOPTS, longopts, NULL)) != -1) {
		/* a bad value from the file is named by its FILE:LINE */
		log_set_context(where && optind > 0 ? where[optind - 1] : NULL);
		switch (c) {
		case 'n':
			if (parse_count(optarg, 1, MAX_WORKERS, &opt->workers) < 0)
				return bad("worker count (1..1024)", optarg);
			break;
		case 'p':
			if (!(opt->policy = policy_by_name(optarg)))
				return bad_policy(optarg);
			opt->policy_set = 1;
			break;
		case O_VIA:
			if (parse_via(optarg, &opt->via) < 0)
				return bad("mechanism (shim, seccomp, auto)", optarg);
			break;
		case O_STEER:
			if (!strcmp(optarg, "hop"))
				opt->steer = STEER_HOP;
			else if (!strcmp(optarg, "kernel"))
				opt->steer = STEER_KERNEL;
			else
				return bad("steering (hop, kernel)", optarg);
			break;
		case 'g':
			if (parse_seconds(optarg, &opt->grace) < 0)
				return bad("grace period", optarg);
			break;
		case O_STOP:
			if (parse_signal(optarg, &opt->stop_signal) < 0)
				return bad("stop signal", optarg);
			break;
		case O_MAXR:
			if (parse_count(optarg, 0, 1000000, &opt->max_restarts) < 0)
				return bad("restart limit", optarg);
			break;
		case O_BACKOFF:
			if (parse_backoff(optarg, opt) < 0)
				return bad("backoff (MIN:MAX seconds)", optarg);
			break;
		case O_UPTIME:
			if (parse_seconds(optarg, &opt->min_uptime) < 0)
				return bad("minimum uptime", optarg);
			break;
		case O_READY:
			if (parse_seconds(optarg, &opt->ready_timeout) < 0)
				return bad("ready timeout", optarg);
			break;
		case O_RELOAD_BATCH:
			if (batch_spec_parse(optarg, MAX_WORKERS, &opt->reload_batch,
					     &opt->reload_batch_pct) < 0)
				return bad("reload batch (N from 1 to 1024, or P% from 1% to 100%)",
					   optarg);
			break;
		case O_PREFIX:
			opt->log_prefix = 1;
			break;
		case O_STATIC:
			opt->force = 1;
			break;
		case O_CONTROL:
			if (!*optarg)
				return bad("control socket path", optarg);
			if (strlen(optarg) >= sizeof(((struct sockaddr_un *)0)->sun_path))
				return bad("control socket path (107 bytes at most)", optarg);
			opt->control_path = optarg;
			break;
		case O_METRICS: {
			struct sockaddr_storage ss;
			socklen_t len;

			if (addr_parse(optarg, &ss, &len) < 0)
				return bad("metrics address (IPv4:PORT or [IPv6]:PORT)", optarg);
			opt->metrics = optarg;
			break;
		}
		case O_BACKLOG:
			if (parse_count(optarg, 1, 1 << 20, &opt->backlog) < 0)
				return bad("backlog (1..1048576)", optarg);
			break;
		case O_USER:
			if (!*optarg)
				return bad("user", optarg);
			opt->user = optarg;
			break;
		case O_ALLOW_BIND:
			opt->allow_bind = 1;
			break;
		case O_LISTEN_TIMEOUT:
			if (parse_seconds(optarg, &opt->listen_timeout) < 0)
				return bad("listen timeout", optarg);
			break;
		case O_LOG_TIME:
			opt->log_time = 1;
			break;
		case O_LOG_FORMAT:
			if (strcmp(optarg, "text") && strcmp(optarg, "json"))
				return bad("log format (text, json)", optarg);
			opt->log_json = !strcmp(optarg, "json");
			break;
		case O_LOG_DIR:
			if (!*optarg)
				return bad("log directory", optarg);
			opt->log_dir = optarg;
			break;
		case O_FORWARD_USR1:
			opt->forward_usr1 = 1;
			break;
		case O_LOG_LINES:
			if (parse_count(optarg, 0, LOGRING_MAX_LINES, &opt->log_lines) < 0)
				return bad("line count (0..100000)", optarg);
			break;
		case O_CONFIG:          /* read before anything else: options_parse */
			break;
		case 'e':
			if (env_list_add(&opt->env, optarg) < 0)
				return EXIT_USAGE;
			break;
		case O_ENV_FILE:
			if (env_list_load(&opt->env, optarg) < 0)
				return EXIT_USAGE;
			break;
		case O_MAX_MEMORY:
			if (parse_size(optarg, &opt->max_memory) < 0)
				return bad("memory size (at least 4K; K, M, G suffixes)", optarg);
			break;
		case O_MAX_REQUESTS:
			opt->max_requests = parse_long(optarg, 1, 1000000000, &ok);
			if (!ok)
				return bad("request count", optarg);
			break;
		case O_JITTER:
			opt->max_requests_jitter = parse_long(optarg, 0, 1000000000, &ok);
			if (!ok)
				return bad("request jitter", optarg);
			break;
		case O_HANG:
			if (parse_seconds(optarg, &opt->hang_timeout) < 0 || opt->hang_timeout < 0.1)
				return bad("hang timeout (seconds, at least 0.1)", optarg);
			break;
		case O_WEIGHTS:
			if (parse_weights(optarg, opt) < 0)
				return bad("weights (positive integers 1..1000000, comma-separated, "
					   "at most 1024)", optarg);
			weights_arg = optarg;
			break;
		case 'v':
			opt->verbose = 1;
			break;
		case 'h':
			usage(stdout);
			return EXIT_STOPPED;
		case 'V':
			printf("cluster-run %s\n", CLUSTER_RUN_VERSION);
			return EXIT_STOPPED;
		case ':':
			log_warnx("option '%s' needs a value (see cluster-run --help)",
				  argv[optind - 1]);
			return EXIT_USAGE;
		default:
			log_warnx("unknown option '%s' (see cluster-run --help)",
				  argv[optind - 1]);
			return EXIT_USAGE;
		}
	}
	if (weights_arg && !opt->policy->takes_weights) {
		char names[256];

		log_warnx("--weights applies to %s, not %s (see cluster-run --help)",
			  policy_list(names, sizeof(names), takes_weights, "and"), opt->policy->name);
		return EXIT_USAGE;
	}
	if (optind >= argc) {
		log_warnx("no PROGRAM given (usage: cluster-run [OPTIONS] [--] PROGRAM [ARG...])");
		return EXIT_USAGE;
	}
	opt->argv = argv + optind;
	return check_combinations(opt);
}

/* The merged words and the file's words the options point into, kept for
 * the life of the process (a reload parses again and keeps the old ones
 * too: settings it does not apply still point into them; a few hundred
 * bytes a reload).  Held here so that they stay reachable: a leak checker
 * sees them as kept, not lost. */
static struct kept_words {
	char **merged;
	struct config_words cw;
} *kept;
static size_t nkept;

static int keep_words(char **merged, const struct config_words *cw)
{
	struct kept_words *k = realloc(kept, (nkept + 1) * sizeof(*k));

	if (!k)
		return -1;
	kept = k;
	kept[nkept].merged = merged;
	kept[nkept].cw = *cw;
	nkept++;
	return 0;
}

/* --config FILE: its words go in front of the command line (which wins),
 * and its command after it when the command line has no PROGRAM. */
int options_parse(struct options *opt, int argc, char **argv)
{
	struct config_words cw;
	const char *config = NULL;
	char **merged, **where;
	int c, n, i, k, has_program, ended, status;

	/* a first pass only to find --config; errors are the second's */
	opterr = 0;
	optind = 0;
	while ((c = getopt_long(argc, argv, SHORTOPTS, longopts, NULL)) != -1)
		if (c == O_CONFIG)
			config = optarg;
	has_program = optind < argc;
	ended = optind > 1 && !strcmp(argv[optind - 1], "--");
	if (!config) {
		status = parse_argv(opt, argc, argv, NULL);
		opt->cmd_argc = argc;
		opt->cmd_argv = argv;
		return status;
	}
	if (config_read(config, longopts, &cw) < 0)
		return EXIT_USAGE;
	n = 1 + cw.n + (argc - 1);
	for (i = 0; !has_program && cw.command && cw.command[i]; i++)
		n++;
	n += !has_program && cw.command && !ended;
	/* kept for the life of the options, which point into them (a reload
	 * makes new ones and keeps these: a few bytes a reload) */
	merged = calloc((size_t)n + 1, sizeof(*merged));
	where = calloc((size_t)n + 1, sizeof(*where));
	if (!merged || !where || keep_words(merged, &cw) < 0) {
		free(merged);
		free(where);
		config_words_free(&cw);
		log_warnx("out of memory");
		return EXIT_FAILURE_;
	}
	k = 0;
	merged[k++] = argv[0];
	for (i = 0; i < cw.n; i++) {
		where[k] = cw.where[i];
		merged[k++] = cw.words[i];
	}
	for (i = 1; i < argc; i++)
		merged[k++] = argv[i];
	if (!has_program && cw.command) {
		if (!ended)
			merged[k++] = "--";
		for (i = 0; cw.command[i]; i++)
			merged[k++] = cw.command[i];
	}
	status = parse_argv(opt, k, merged, where);
	free(where);            /* only for parse_argv's error lines */
	log_set_context(NULL);
	opt->config = config;
	opt->cmd_argc = argc;
	opt->cmd_argv = argv;
	return status;
}
