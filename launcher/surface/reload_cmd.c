/*
 * reload_cmd.c - the words of a control request's `reload` into a
 * struct reload_request (rollout.h):
 *
 *   reload [--wait] [--batch N|P%] [--canary] [--env K=V]...
 *          [--env-file PATH]... [-- PROGRAM [ARG...]]
 *
 * Words are separated by blanks; a word may carry any byte as %XX
 * (cluster-ctl encodes blanks, '%' and control characters so, which is how
 * an argument with a space survives a one-line protocol).  A human typing
 * into the socket never needs to.
 *
 * Not here: whether PROGRAM can run (rollout_check_program), the reload
 * itself (rollout.c), the answer (control_cmd.c).
 */
#include "surface/reload_cmd.h"
#include "base/batch_spec.h"
#include "base/envfile.h"
#include "base/options.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int hex(int ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

/* %XX in place; -1 on a broken escape or an encoded NUL. */
static int decode(char *w)
{
	char *out = w;

	for (; *w; w++) {
		if (*w != '%') {
			*out++ = *w;
			continue;
		}
		if (hex(w[1]) < 0 || hex(w[2]) < 0 || (hex(w[1]) | hex(w[2])) == 0)
			return -1;
		*out++ = (char)(hex(w[1]) * 16 + hex(w[2]));
		w += 2;
	}
	*out = '\0';
	return 0;
}

/* KEY=VALUE with KEY of letters, digits and _, not starting with a digit. */
int reload_cmd_decode(char *word)
{
	return decode(word);
}

static int valid_kv(const char *kv)
{
	const char *eq = strchr(kv, '=');
	const char *p;

	if (!eq || eq == kv || (*kv >= '0' && *kv <= '9'))
		return 0;
	for (p = kv; p < eq; p++)
		if (!(*p == '_' || (*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z') ||
		      (*p >= 'A' && *p <= 'Z')))
			return 0;
	return 1;
}

/* The next blank-separated word of *p, decoded, or NULL at the end. */
static char *next_word(char **p, int *bad)
{
	char *w = *p + strspn(*p, " \t"), *end;

	if (!*w)
		return NULL;
	end = w + strcspn(w, " \t");
	*p = *end ? end + 1 : end;
	*end = '\0';
	if (decode(w) < 0)
		*bad = 1;
	return w;
}

static int rest_as_argv(char **p, struct reload_request *rq, int *bad)
{
	char *w, **grown;
	size_t n = 0;

	while ((w = next_word(p, bad))) {
		grown = realloc(rq->argv, (n + 2) * sizeof(char *));
		if (!grown)
			return -1;
		rq->argv = grown;
		rq->argv[n + 1] = NULL;
		if (!(rq->argv[n] = strdup(w)))
			return -1;
		n++;
	}
	return n ? 0 : -1;
}

int reload_cmd_parse(char *args, struct reload_request *rq, int *wait, char *why, size_t len)
{
	char *p = args, *w;
	int bad = 0;

	memset(rq, 0, sizeof(*rq));
	*wait = 0;
	while ((w = next_word(&p, &bad))) {
		if (bad) {
			snprintf(why, len, "reload: a broken %%XX escape in '%s'", w);
			return -1;
		}
		if (!strcmp(w, "--wait")) {
			*wait = 1;
		} else if (!strcmp(w, "--canary")) {
			rq->canary = 1;
		} else if (!strcmp(w, "--batch") || !strcmp(w, "--env") ||
			   !strcmp(w, "--env-file")) {
			char *v = next_word(&p, &bad);

			if (!v || bad) {
				snprintf(why, len, "reload: %s needs a value", w);
				return -1;
			}
			if (!strcmp(w, "--batch") &&
			    batch_spec_parse(v, MAX_WORKERS, &rq->batch, &rq->batch_pct) < 0) {
				snprintf(why, len, "reload: --batch takes N from 1 to %d or P%% from "
					 "1%% to 100%%, not '%.64s'", MAX_WORKERS, v);
				return -1;
			}
			if (!strcmp(w, "--env") && (!valid_kv(v) || env_list_add(&rq->env, v) < 0)) {
				snprintf(why, len, "reload: --env takes KEY=VALUE (KEY of letters, "
					 "digits and _), not '%.64s'", v);
				return -1;
			}
			if (!strcmp(w, "--env-file") && env_list_load(&rq->env, v) < 0) {
				snprintf(why, len, "reload: --env-file %.200s cannot be read "
					 "(cluster-run's log says why)", v);
				return -1;
			}
		} else if (!strcmp(w, "--")) {
			if (rest_as_argv(&p, rq, &bad) < 0 || bad) {
				snprintf(why, len, "reload: -- needs a PROGRAM after it");
				return -1;
			}
			break;
		} else {
			snprintf(why, len, "reload: unknown argument '%.64s' (--wait, --batch N|P%%, "
				 "--canary, --env K=V, --env-file PATH, -- PROGRAM ARGS)", w);
			return -1;
		}
	}
	return 0;
}
