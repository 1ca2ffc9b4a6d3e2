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
#include "base/log.h"
#include "base/state.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Serials name releases across an upgrade; the next one to give. */
static uint64_t next_serial = 1;

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
	r->serial = next_serial++;
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

/* --- an in-place upgrade --- */

/* Every live release, once: a small set (current, previous, and what the
 * slots and workers of an unfinished rollout run), so a linear look. */
struct rel_set {
	struct release **r;
	size_t n, cap;
};

static int set_add(struct rel_set *s, struct release *r)
{
	size_t i;

	if (!r)
		return 0;
	for (i = 0; i < s->n; i++)
		if (s->r[i] == r)
			return 0;
	if (s->n == s->cap) {
		size_t cap = s->cap ? 2 * s->cap : 8;
		struct release **grown = realloc(s->r, cap * sizeof(*grown));

		if (!grown)
			return -1;
		s->r = grown;
		s->cap = cap;
	}
	s->r[s->n++] = r;
	return 0;
}

static void save_one(struct state_out *o, const struct release *r)
{
	char key[32];
	size_t i;

	state_rec(o, "release");
	state_u64(o, "serial", r->serial);
	state_u64(o, "id", r->id);
	state_str(o, "path", r->path);
	for (i = 0; r->argv[i]; i++) {
		snprintf(key, sizeof(key), "arg%zu", i);
		state_str(o, key, r->argv[i]);
	}
	state_u64(o, "argc", i);
	for (i = 0; i < r->env.n; i++) {
		snprintf(key, sizeof(key), "env%zu", i);
		state_str(o, key, r->env.vars[i]);
	}
	state_u64(o, "envc", r->env.n);
}

int release_save(struct cluster *c, struct state_out *o)
{
	struct rel_set s = { 0 };
	int i, bad = 0;
	size_t k;

	bad |= set_add(&s, c->release) | set_add(&s, c->previous);
	for (i = 0; i < MAX_WORKERS; i++)
		bad |= set_add(&s, c->slots[i].rel) | set_add(&s, c->slots[i].next_rel);
	for (i = 0; i < c->nworkers; i++)
		bad |= set_add(&s, c->workers[i]->rel);
	if (bad) {
		free(s.r);
		log_warnx("upgrade: releases: out of memory");
		return -1;
	}
	for (k = 0; k < s.n; k++)
		save_one(o, s.r[k]);
	state_rec(o, "releases");
	state_u64(o, "current", c->release ? c->release->serial : 0);
	state_u64(o, "previous", c->previous ? c->previous->serial : 0);
	state_u64(o, "next_serial", next_serial);
	free(s.r);
	return 0;
}

/* The releases restored, each held once by this table until
 * release_restore_end. */
static struct rel_set restored;

struct release *release_by_serial(uint64_t serial)
{
	size_t i;

	for (i = 0; serial && i < restored.n; i++)
		if (restored.r[i]->serial == serial)
			return restored.r[i];
	return NULL;
}

void release_restore_end(void)
{
	size_t i;

	for (i = 0; i < restored.n; i++)
		release_drop(restored.r[i]);
	free(restored.r);
	restored = (struct rel_set){ 0 };
}

static struct release *restore_one(const struct state_rec *rec)
{
	uint64_t argc = rec_u64(rec, "argc", 0), envc = rec_u64(rec, "envc", 0), i;
	struct release *r = calloc(1, sizeof(*r));
	char key[32];

	if (!r || argc == 0 || argc > 1u << 20 || envc > 1u << 20 ||
	    !(r->argv = calloc(argc + 1, sizeof(*r->argv))))
		goto fail;
	r->serial = rec_u64(rec, "serial", 0);
	r->id = (unsigned)rec_u64(rec, "id", 0);
	snprintf(r->path, sizeof(r->path), "%s", rec_str(rec, "path", ""));
	for (i = 0; i < argc; i++) {
		snprintf(key, sizeof(key), "arg%" PRIu64, i);
		if (!(r->argv[i] = strdup(rec_str(rec, key, ""))))
			goto fail;
	}
	for (i = 0; i < envc; i++) {
		snprintf(key, sizeof(key), "env%" PRIu64, i);
		if (env_list_add(&r->env, rec_str(rec, key, "")) < 0)
			goto fail;
	}
	if (!r->serial || !r->path[0])
		goto fail;
	return r;
fail:
	if (r)
		release_free(r);
	return NULL;
}

int release_restore(struct cluster *c, const struct state_in *in)
{
	const struct state_rec *rec;
	uint64_t most = 0;

	release_restore_end();
	for (rec = state_first(in, "release"); rec; rec = state_next(rec)) {
		struct release *r = restore_one(rec);

		if (!r || set_add(&restored, r) < 0) {
			if (r)
				release_free(r);
			log_warnx("upgrade: a release could not be restored (out of memory, "
				  "or a record without its command)");
			release_restore_end();
			return -1;
		}
		release_hold(r);
		if (r->serial > most)
			most = r->serial;
	}
	rec = state_first(in, "releases");
	if (rec) {
		release_set(&c->release, release_by_serial(rec_u64(rec, "current", 0)));
		release_set(&c->previous, release_by_serial(rec_u64(rec, "previous", 0)));
		next_serial = rec_u64(rec, "next_serial", 0);
	}
	if (next_serial <= most)
		next_serial = most + 1;
	return 0;
}
