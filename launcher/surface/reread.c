/*
 * reread.c - a reload (HUP, cluster-ctl reload) reads its files again.
 *
 * The command line cluster-run was started with is parsed anew, which
 * reads the --config file and every --env-file again (the command line
 * still wins over the file).  What a new worker is started with, and how
 * workers are stopped and restarted, changes for the workers the reload
 * starts:
 *   command (PROGRAM and its arguments), env and env-file, grace,
 *   stop-signal, max-restarts, backoff, min-uptime, ready-timeout, reload-batch,
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
#include "base/state.h"
#include "policy/policy.h"
#include "surface/options.h"

#include <ctype.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct options first;    /* as parsed at start */
static char refusal[600];
/* an upgrade's words (reread_restore), kept reachable; volatile: a store
 * to a static nobody reads is optimised away, and LeakSanitizer then
 * sees no pointer to them */
static char **volatile restored_argv;

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

/* What a reload does with each long option (by its name in options.c's
 * table; test_config checks that every option is here). */
enum how {
	APPLY,          /* copied into the running options */
	KEEP,           /* set up once: a change is named and not applied */
	KEEP_STR,       /* ... a string (compared by content) */
	BY_HAND,        /* env, env-file: reread() swaps the list */
};

#define SETTING(name, field, how) \
	{ name, offsetof(struct options, field), sizeof(((struct options *)0)->field), how }

static const struct setting {
	const char *name;
	size_t off, size;
	enum how how;
} settings[] = {
	SETTING("grace", grace, APPLY),
	SETTING("stop-signal", stop_signal, APPLY),
	SETTING("max-restarts", max_restarts, APPLY),
	SETTING("backoff", backoff_min, APPLY),
	SETTING("backoff", backoff_max, APPLY),
	SETTING("min-uptime", min_uptime, APPLY),
	SETTING("ready-timeout", ready_timeout, APPLY),
	SETTING("reload-batch", reload_batch, APPLY),
	SETTING("reload-batch", reload_batch_pct, APPLY),
	SETTING("listen-timeout", listen_timeout, APPLY),
	SETTING("env", env, BY_HAND),
	SETTING("env-file", env, BY_HAND),
	SETTING("workers", workers, KEEP),
	SETTING("policy", policy, KEEP),
	SETTING("policy", policy_set, KEEP),
	SETTING("steer", steer, KEEP),
	SETTING("via", via, KEEP),
	SETTING("weights", nweights, KEEP),
	SETTING("weights", weights, KEEP),
	SETTING("control", control_path, KEEP_STR),
	SETTING("metrics", metrics, KEEP_STR),
	SETTING("user", user, KEEP_STR),
	SETTING("allow-bind", allow_bind, KEEP),
	SETTING("backlog", backlog, KEEP),
	SETTING("force", force, KEEP),
	SETTING("log-prefix", log_prefix, KEEP),
	SETTING("log-time", log_time, KEEP),
	SETTING("log-format", log_json, KEEP),
	SETTING("log-dir", log_dir, KEEP_STR),
	SETTING("log-lines", log_lines, KEEP),
	SETTING("forward-usr1", forward_usr1, KEEP),
	SETTING("verbose", verbose, KEEP),
	SETTING("max-memory", max_memory, KEEP),
	SETTING("max-requests", max_requests, KEEP),
	SETTING("max-requests-jitter", max_requests_jitter, KEEP),
	SETTING("hang-timeout", hang_timeout, KEEP),
};
#define NSETTINGS (sizeof(settings) / sizeof(settings[0]))

int reread_knows(const char *option)
{
	size_t i;

	for (i = 0; i < NSETTINGS; i++)
		if (!strcmp(settings[i].name, option))
			return 1;
	return 0;
}

/* Apply what a reload applies; name once each restart-only setting that
 * differs from the start's. */
static void apply(struct options *now, const struct options *fresh, const char *file)
{
	const char *said = NULL;
	size_t i;

	for (i = 0; i < NSETTINGS; i++) {
		const struct setting *st = &settings[i];
		const char *f = (const char *)fresh + st->off, *was = (const char *)&first + st->off;
		int changed;

		if (st->how == APPLY)
			memcpy((char *)now + st->off, f, st->size);
		if (st->how != KEEP && st->how != KEEP_STR)
			continue;
		changed = st->how == KEEP ? memcmp(f, was, st->size) != 0 :
			  !same(*(const char *const *)f, *(const char *const *)was);
		if (changed && !(said && !strcmp(said, st->name)))
			log_warnx("reload: %s changed%s%s: it takes a restart of cluster-run%s; "
				  "kept as it runs", st->name, file ? " in " : "", file ? file : "",
				  !strcmp(st->name, "workers") ? " (or cluster-ctl scale N)" : "");
		if (changed)
			said = st->name;
	}
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

static int same_words(char *const *a, char *const *b)
{
	size_t i;

	for (i = 0; a[i] && b[i]; i++)
		if (strcmp(a[i], b[i]))
			return 0;
	return !a[i] && !b[i];
}

static int same_env(const struct env_list *a, const struct env_list *b)
{
	size_t i;

	if (a->n != b->n)
		return 0;
	for (i = 0; i < a->n; i++)
		if (strcmp(a->vars[i], b->vars[i]))
			return 0;
	return 1;
}

static int reread(struct cluster *c, char *why, size_t len)
{
	struct options *now = c->opt, *fresh = calloc(1, sizeof(*fresh));
	struct program *prog = calloc(1, sizeof(*prog));
	struct env_list old;
	int changed;

	if (!fresh || !prog) {
		free(fresh);
		free(prog);
		snprintf(refusal, sizeof(refusal), "out of memory");
		log_warnx("reload refused: %s", refusal);
		snprintf(why, len, "reload refused: %s", refusal);
		return -1;
	}
	if (parse_again(c, fresh, prog) < 0) {
		if (!refusal[0])
			snprintf(refusal, sizeof(refusal), "the files do not parse");
		log_warnx("reload refused: %s", refusal);
		snprintf(why, len, "reload refused: %s", refusal);
		free_env(&fresh->env);
		free(fresh);
		free(prog);
		return -1;
	}
	/* what the files say against what they said at the last read (not
	 * against the running release, which cluster-ctl reload -- PROGRAM
	 * may have changed: an untouched file does not undo that) */
	changed = strcmp(c->prog->path, prog->path) || !same_words(now->argv, fresh->argv) ||
		  !same_env(&now->env, &fresh->env);
	apply(now, fresh, now->config);
	now->argv = fresh->argv;        /* into words options_parse keeps */
	snprintf(c->prog->path, sizeof(c->prog->path), "%s", prog->path);
	c->prog->shim_blind = prog->shim_blind;
	old = now->env;
	now->env = fresh->env;
	free_env(&old);
	if (now->config)
		log_warnx("reload: read %s again%s", now->config,
			  changed ? ": the command or environment changed" : "");
	free(fresh);
	free(prog);
	return changed;
}

void reread_start(struct cluster *c)
{
	c->hooks.reread = reread;
}

/* An in-place upgrade (surface/upgrade.c): the new image parsed the
 * files as they are now, but what the running workers and the next
 * reread compare with is what the old image read last.  Without this, a
 * command edited in the file before an upgrade would be taken as "no
 * change" by the next reload, and the settings a reload applies would
 * jump to the file's at the upgrade.  The restart-only settings follow
 * the files as at a start (README, "Upgrading in place"). */
static void setting_key(char *key, size_t len, size_t i)
{
	size_t k, nth = 0;

	for (k = 0; k < i; k++)
		nth += !strcmp(settings[k].name, settings[i].name);
	snprintf(key, len, "%s.%zu", settings[i].name, nth);
}

/* The restart-only settings an upgrade keeps as they run (and as they were
 * at the start, for the next reread's comparison): not the ones main.c
 * applied before the state was taken (logs, --user, --via, --force,
 * -v), which follow the files as at a start, nor the pointers (--policy
 * crosses by name, below). */
static int kept_across(const struct setting *st)
{
	static const char *const at_start[] = { "log-prefix", "log-time", "log-format",
						"log-lines", "verbose", "via", "force", "policy" };
	size_t i;

	for (i = 0; i < sizeof(at_start) / sizeof(at_start[0]); i++)
		if (!strcmp(st->name, at_start[i]))
			return 0;
	return 1;
}

static void restore_kept(struct cluster *c, const struct state_rec *r)
{
	const struct policy_ops *ops;
	char key[64], buf[sizeof(((struct options *)0)->weights)];
	size_t i;

	for (i = 0; i < NSETTINGS; i++) {
		if (settings[i].how != KEEP || !kept_across(&settings[i]) ||
		    settings[i].size > sizeof(buf))
			continue;
		setting_key(key, sizeof(key), i);
		if (rec_bytes(r, key, buf, sizeof(buf)) == (long)settings[i].size)
			memcpy((char *)c->opt + settings[i].off, buf, settings[i].size);
		key[0] = toupper((unsigned char)key[0]);
		if (rec_bytes(r, key, buf, sizeof(buf)) == (long)settings[i].size)
			memcpy((char *)&first + settings[i].off, buf, settings[i].size);
	}
	ops = policy_by_saved_name(rec_str(r, "policy", ""), (int)rec_i64(r, "policy_k", 0));
	if (ops)
		c->opt->policy = ops;
	ops = policy_by_saved_name(rec_str(r, "first_policy", ""),
				   (int)rec_i64(r, "first_policy_k", 0));
	if (ops)
		first.policy = ops;
}

int reread_save(struct cluster *c, struct state_out *o)
{
	char key[64];
	size_t i;

	state_rec(o, "reread");
	state_str(o, "path", c->prog->path);
	for (i = 0; c->opt->argv && c->opt->argv[i]; i++) {
		snprintf(key, sizeof(key), "a%zu", i);
		state_str(o, key, c->opt->argv[i]);
	}
	state_u64(o, "argc", i);
	state_u64(o, "envn", c->opt->env.n);
	for (i = 0; i < c->opt->env.n; i++) {
		snprintf(key, sizeof(key), "e%zu", i);
		state_str(o, key, c->opt->env.vars[i]);
	}
	for (i = 0; i < NSETTINGS; i++) {
		if (settings[i].how != APPLY)
			continue;
		setting_key(key, sizeof(key), i);
		state_bytes(o, key, (const char *)c->opt + settings[i].off, settings[i].size);
	}
	/* the restart-only ones, as they run and as they were at the start
	 * (what a reread names a change against) */
	for (i = 0; i < NSETTINGS; i++) {
		if (settings[i].how != KEEP || !kept_across(&settings[i]))
			continue;
		setting_key(key, sizeof(key), i);
		state_bytes(o, key, (const char *)c->opt + settings[i].off, settings[i].size);
		key[0] = toupper((unsigned char)key[0]);        /* first's */
		state_bytes(o, key, (const char *)&first + settings[i].off, settings[i].size);
	}
	state_str(o, "policy", c->opt->policy ? c->opt->policy->name : NULL);
	state_i64(o, "policy_k", c->opt->policy ? c->opt->policy->in_kernel : 0);
	state_str(o, "first_policy", first.policy ? first.policy->name : NULL);
	state_i64(o, "first_policy_k", first.policy ? first.policy->in_kernel : 0);
	return 0;
}

int reread_restore(struct cluster *c, const struct state_in *in)
{
	const struct state_rec *r = state_first(in, "reread");
	uint64_t argc, envn, i;
	char key[64], **argv, **vars, buf[64];
	const char *v;

	if (!r)
		return 0;               /* an older writer: the files as read now */
	argc = rec_u64(r, "argc", 0);
	envn = rec_u64(r, "envn", 0);
	if (argc == 0 || argc > 1u << 16 || envn > 1u << 20)
		return 0;
	argv = calloc(argc + 1, sizeof(*argv));
	vars = calloc(envn + 1, sizeof(*vars));
	if (!argv || !vars)
		goto nomem;
	for (i = 0; i < argc; i++) {
		snprintf(key, sizeof(key), "a%llu", (unsigned long long)i);
		v = rec_str(r, key, NULL);
		if (!v || !(argv[i] = strdup(v)))
			goto nomem;
	}
	for (i = 0; i < envn; i++) {
		snprintf(key, sizeof(key), "e%llu", (unsigned long long)i);
		v = rec_str(r, key, NULL);
		if (!v || !(vars[i] = strdup(v)))
			goto nomem;
	}
	/* the words stay for the process's life, as options_parse's do
	 * (kept reachable: a reload points c->opt->argv elsewhere) */
	restored_argv = argv;
	c->opt->argv = argv;
	free_env(&c->opt->env);
	c->opt->env.vars = vars;
	c->opt->env.n = (size_t)envn;
	snprintf(c->prog->path, sizeof(c->prog->path), "%s", rec_str(r, "path", c->prog->path));
	for (i = 0; i < NSETTINGS; i++) {
		if (settings[i].how != APPLY || settings[i].size > sizeof(buf))
			continue;
		setting_key(key, sizeof(key), (size_t)i);
		if (rec_bytes(r, key, buf, sizeof(buf)) == (long)settings[i].size)
			memcpy((char *)c->opt + settings[i].off, buf, settings[i].size);
	}
	restore_kept(c, r);
	return 0;
nomem:
	for (i = 0; argv && i < argc; i++)
		free(argv[i]);
	for (i = 0; vars && i < envn; i++)
		free(vars[i]);
	free(argv);
	free(vars);
	log_warnx("upgrade: the options: out of memory");
	return -1;
}
