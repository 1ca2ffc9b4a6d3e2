/*
 * release.c - a release: the command line and environment a worker is
 * started with.  cluster-run starts with one (its own command line); each
 * reload makes a new one, the same command unless `cluster-ctl reload --
 * COMMAND` or --env brought another, so that a rollout can tell the slots
 * it has replaced from those it has not, and a canary can go back to the
 * release before it (rollout.c).
 *
 * Releases are shared and counted: the cluster's current and previous
 * ones, each slot's (what its restarts run) and each worker's (what it
 * runs) hold a reference; the last one frees it.
 *
 * Not here: checking that a new PROGRAM can run (program.c), when workers
 * move from one release to another (rollout.c, slots.c).
 */
#include "supervise/release.h"
#include "cluster.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void free_argv(char **argv)
{
	size_t i;

	for (i = 0; argv && argv[i]; i++)
		free(argv[i]);
	free(argv);
}

static char **copy_argv(char *const *argv)
{
	size_t n = 0, i;
	char **out;

	while (argv[n])
		n++;
	out = calloc(n + 1, sizeof(*out));
	if (!out)
		return NULL;
	for (i = 0; i < n; i++)
		if (!(out[i] = strdup(argv[i]))) {
			free_argv(out);
			return NULL;
		}
	return out;
}

static int copy_env(struct env_list *to, const struct env_list *from)
{
	size_t i;

	for (i = 0; from && i < from->n; i++)
		if (env_list_add(to, from->vars[i]) < 0)
			return -1;
	return 0;
}

static void release_free(struct release *r)
{
	size_t i;

	free_argv(r->argv);
	for (i = 0; i < r->env.n; i++)
		free(r->env.vars[i]);
	free(r->env.vars);
	free(r);
}

static struct release *make(unsigned id, const char *path, char *const *argv,
			    const struct env_list *env, const struct env_list *over)
{
	struct release *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	r->id = id;
	r->refs = 0;
	snprintf(r->path, sizeof(r->path), "%s", path);
	if (!(r->argv = copy_argv(argv)) || copy_env(&r->env, env) < 0 ||
	    copy_env(&r->env, over) < 0) {
		release_free(r);
		return NULL;
	}
	return r;
}

struct release *release_initial(const struct cluster *c)
{
	return make(c->generation, c->prog->path, c->opt->argv, &c->opt->env, NULL);
}

struct release *release_derive(const struct release *base, unsigned id, const char *path,
			       char *const *argv, const struct env_list *env)
{
	if (!argv)
		return make(id, base->path, base->argv, &base->env, env);
	return make(id, path, argv, &base->env, env);
}

struct release *release_hold(struct release *r)
{
	if (r)
		r->refs++;
	return r;
}

void release_drop(struct release *r)
{
	if (r && --r->refs == 0)
		release_free(r);
}

void release_set(struct release **p, struct release *r)
{
	release_hold(r);
	release_drop(*p);
	*p = r;
}
