/*
 * reread.c - a reload (HUP, cluster-ctl reload) reads its files again.
 *
 * The command line cluster-run was started with is parsed anew, which
 * reads the --config file and every --env-file again (the command line
 * still wins over the file).  What a new worker is started with, and how
 * workers are stopped and restarted, changes for the workers the reload
 * starts:
 *   command (PROGRAM and its arguments), env and env-file, grace,
 *   stop-signal, max-restarts, backoff, min-uptime, ready-timeout,
 *   listen-timeout.
 * Everything else takes a restart of cluster-run (listeners, policies,
 * the control socket, logs, --user and the health checks are set up
 * once): a change to one of those is named in one line and the running
 * value kept, and the reload goes on.  A file that no longer parses (or
 * a command that cannot run, or that the running mechanism cannot reach)
 * refuses the reload: nothing changes, the workers keep serving, and the
 * FILE:LINE line goes to the log and to the cluster-ctl caller.
 *
 * The restart-only settings are compared with the start's (remembered
 * before mechanism_choose() adjusts policy and steering), so a file
 * that differs from what runs says so at every reload.
 */
#include "surface/reread.h"
#include "cluster.h"
#include "base/log.h"
#include "base/options.h"
#include "base/program.h"
#include "surface/options.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct options first;    /* as parsed at start */
static char refusal[600];

void reread_remember(const struct options *opt)
{
	first = *opt;
}

const char *reread_refusal(void)
{
	return refusal;
}

static int same(const char *a, const char *b)
{
	return a == b || (a && b && !strcmp(a, b));
}

/* One line per restart-only setting that differs from the start's. */
static void name_kept(const struct options *o, const char *file)
{
	static const char *const fmt = "reload: %s changed%s%s: it takes a restart of "
				       "cluster-run; kept as it runs";
	const char *in = file ? " in " : "", *f = file ? file : "";
	const struct {
		int changed;
		const char *name;
	} kept[] = {
		{ o->workers != first.workers, "workers (cluster-ctl scale N changes the count)" },
		{ o->policy != first.policy || o->policy_set != first.policy_set, "policy" },
		{ o->steer != first.steer, "steer" },
		{ o->via != first.via, "via" },
		{ o->nweights != first.nweights ||
		  memcmp(o->weights, first.weights, sizeof(o->weights[0]) * (size_t)o->nweights),
		  "weights" },
		{ !same(o->control_path, first.control_path), "control" },
		{ !same(o->metrics, first.metrics), "metrics" },
		{ !same(o->user, first.user), "user" },
		{ o->allow_bind != first.allow_bind, "allow-bind" },
		{ o->backlog != first.backlog, "backlog" },
		{ o->force != first.force, "force" },
		{ o->log_prefix != first.log_prefix, "log-prefix" },
		{ o->log_time != first.log_time, "log-time" },
		{ o->log_json != first.log_json, "log-format" },
		{ !same(o->log_dir, first.log_dir), "log-dir" },
		{ o->log_lines != first.log_lines, "log-lines" },
		{ o->forward_usr1 != first.forward_usr1, "forward-usr1" },
		{ o->verbose != first.verbose, "verbose" },
		{ o->max_memory != first.max_memory, "max-memory" },
		{ o->max_requests != first.max_requests, "max-requests" },
		{ o->max_requests_jitter != first.max_requests_jitter, "max-requests-jitter" },
		{ o->hang_timeout != first.hang_timeout, "hang-timeout" },
	};
	size_t i;

	for (i = 0; i < sizeof(kept) / sizeof(kept[0]); i++)
		if (kept[i].changed)
			log_warnx(fmt, kept[i].name, in, f);
}

static void free_env(struct env_list *l)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		free(l->vars[i]);
	free(l->vars);
	l->vars = NULL;
	l->n = 0;
}

/* Parse again and check the command: 0, or -1 with refusal[] set. */
static int parse_again(struct cluster *c, struct options *fresh, struct program *prog)
{
	struct options *now = c->opt;
	int status;

	log_capture(refusal, sizeof(refusal));
	status = options_parse(fresh, now->cmd_argc, now->cmd_argv);
	if (status < 0)
		status = program_check(prog, fresh->argv[0], now->force);
	log_capture(NULL, 0);
	if (status >= 0)
		return -1;
	if (c->prog->via == VIA_SHIM && prog->shim_blind && !now->force) {
		snprintf(refusal, sizeof(refusal), "the command %.300s cannot take the shim (%.200s); "
			 "running it takes a restart of cluster-run", prog->path, prog->shim_blind);
		return -1;
	}
	return 0;
}

static int reread(struct cluster *c)
{
	struct options *now = c->opt, *fresh = calloc(1, sizeof(*fresh));
	struct program *prog = calloc(1, sizeof(*prog));
	struct env_list old;

	if (!fresh || !prog) {
		free(fresh);
		free(prog);
		snprintf(refusal, sizeof(refusal), "out of memory");
		log_warnx("reload refused: %s", refusal);
		return -1;
	}
	if (parse_again(c, fresh, prog) < 0) {
		log_warnx("reload refused: %s", refusal[0] ? refusal : "the files do not parse");
		free_env(&fresh->env);
		free(fresh);
		free(prog);
		return -1;
	}
	name_kept(fresh, now->config);
	now->argv = fresh->argv;        /* into words options_parse keeps */
	snprintf(c->prog->path, sizeof(c->prog->path), "%s", prog->path);
	c->prog->shim_blind = prog->shim_blind;
	old = now->env;
	now->env = fresh->env;
	free_env(&old);
	now->grace = fresh->grace;
	now->stop_signal = fresh->stop_signal;
	now->max_restarts = fresh->max_restarts;
	now->backoff_min = fresh->backoff_min;
	now->backoff_max = fresh->backoff_max;
	now->min_uptime = fresh->min_uptime;
	now->ready_timeout = fresh->ready_timeout;
	now->listen_timeout = fresh->listen_timeout;
	if (now->config)
		log_warnx("reload: read %s again", now->config);
	free(fresh);
	free(prog);
	return 0;
}

void reread_start(struct cluster *c)
{
	c->hooks.reread = reread;
}
