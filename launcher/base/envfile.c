/*
 * envfile.c - --env-file and -e: variables for every worker's environment.
 *
 * An env file is read as systemd reads EnvironmentFile= (its
 * parse_env_file state machine, src/basic/env-file.c), so a file written
 * for a unit works here unchanged:
 *   - blank lines and lines whose first non-blank is '#' or ';' are
 *     comments (a comment ending in a backslash goes on to the next line);
 *   - KEY=VALUE, blanks around KEY and before VALUE are dropped; KEY is
 *     [A-Za-z_][A-Za-z0-9_]*;
 *   - unquoted: a backslash takes the next character as it is, backslash-
 *     newline continues the line, trailing blanks are dropped;
 *   - '...': taken as it is, newlines included;
 *   - "...": backslash escapes only " \ ` $ and newline (continuation);
 *     before any other character it stays;
 *   - quoted and unquoted parts join: A="x"'y'z is xyz.
 * systemd skips a bad line with a warning; cluster-run refuses the file
 * (one line naming FILE:LINE, exit status 2): a typo in a deployment's env
 * file should stop the deployment, not start it half-configured.
 *
 * Files are read once, at start; a reload (HUP) does not read them again.
 */
#include "base/envfile.h"
#include "base/log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ENV_FILE_MAX (1 << 20)

static int valid_key(const char *k, size_t len)
{
	size_t i;

	if (len == 0 || (k[0] >= '0' && k[0] <= '9'))
		return 0;
	for (i = 0; i < len; i++) {
		char ch = k[i];
		if (!(ch == '_' || (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
		      (ch >= '0' && ch <= '9')))
			return 0;
	}
	return 1;
}

static int push(struct env_list *l, char *kv)
{
	char **grown = realloc(l->vars, (l->n + 1) * sizeof(*grown));

	if (!grown) {
		free(kv);
		log_warnx("out of memory for the environment");
		return -1;
	}
	l->vars = grown;
	l->vars[l->n++] = kv;
	return 0;
}

int env_list_add(struct env_list *l, const char *kv)
{
	const char *eq = strchr(kv, '=');
	char *copy;

	if (!eq || !valid_key(kv, (size_t)(eq - kv))) {
		log_warnx("invalid -e value: '%s' (KEY=VALUE, KEY of letters, digits and _)", kv);
		return -1;
	}
	copy = strdup(kv);
	return copy ? push(l, copy) : -1;
}

static int is_blank(char ch)
{
	return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\f' || ch == '\v';
}

/* The parser: one pass over the text.  Each KEY=VALUE is pushed when its
 * line (or its continuation) ends.  line counts newlines; key_line is where
 * the current assignment started, for the message. */
struct parse {
	const char *path;
	const char *p, *end;
	int line;
	char *val;
	size_t vlen, vcap;
	size_t trim;            /* vlen up to the last char that is not a trailing blank */
};

static int add_char(struct parse *ps, char ch, int keeps_blanks)
{
	if (ps->vlen + 2 > ps->vcap) {
		size_t cap = ps->vcap ? ps->vcap * 2 : 64;
		char *grown = realloc(ps->val, cap);
		if (!grown) {
			log_warnx("%s:%d: out of memory", ps->path, ps->line);
			return -1;
		}
		ps->val = grown;
		ps->vcap = cap;
	}
	ps->val[ps->vlen++] = ch;
	if (keeps_blanks || !is_blank(ch))
		ps->trim = ps->vlen;
	return 0;
}

static int fail(struct parse *ps, int line, const char *why)
{
	log_warnx("%s:%d: %s", ps->path, line, why);
	return -1;
}

/* After "KEY=": the value up to the end of its (continued) line. */
static int parse_value(struct parse *ps, int key_line)
{
	ps->vlen = ps->trim = 0;
	if (add_char(ps, '\0', 1) < 0)  /* room for the terminator */
		return -1;
	ps->vlen = ps->trim = 0;
	while (ps->p < ps->end && is_blank(*ps->p))
		ps->p++;
	while (ps->p < ps->end && *ps->p != '\n') {
		char ch = *ps->p++;

		if (ch == '\\') {
			if (ps->p == ps->end)
				break;
			ch = *ps->p++;
			if (ch == '\n') {
				ps->line++;
				continue;
			}
			if (add_char(ps, ch, 1) < 0)
				return -1;
		} else if (ch == '\'' || ch == '"') {
			char q = ch;

			for (;;) {
				if (ps->p == ps->end)
					return fail(ps, key_line, q == '"' ? "unterminated \" quote"
								       : "unterminated ' quote");
				ch = *ps->p++;
				if (ch == q)
					break;
				if (ch == '\n')
					ps->line++;
				if (q == '"' && ch == '\\' && ps->p < ps->end) {
					char e = *ps->p++;
					if (e == '\n') {
						ps->line++;
						continue;
					}
					if (!strchr("\"\\`$", e) && add_char(ps, '\\', 1) < 0)
						return -1;
					ch = e;
				}
				if (add_char(ps, ch, 1) < 0)
					return -1;
			}
		} else if (add_char(ps, ch, 0) < 0) {
			return -1;
		}
	}
	ps->vlen = ps->trim;
	ps->val[ps->vlen] = '\0';
	return 0;
}

static void skip_comment(struct parse *ps)
{
	while (ps->p < ps->end && *ps->p != '\n') {
		if (*ps->p == '\\' && ps->p + 1 < ps->end && ps->p[1] == '\n') {
			ps->p += 2;
			ps->line++;
			continue;
		}
		ps->p++;
	}
}

static int parse_text(struct env_list *l, struct parse *ps)
{
	while (ps->p < ps->end) {
		const char *key, *key_end;
		int key_line = ps->line;
		char *kv;

		while (ps->p < ps->end && is_blank(*ps->p))
			ps->p++;
		if (ps->p == ps->end)
			break;
		if (*ps->p == '\n') {
			ps->p++;
			ps->line++;
			continue;
		}
		if (*ps->p == '#' || *ps->p == ';') {
			skip_comment(ps);
			continue;
		}
		key = ps->p;
		while (ps->p < ps->end && *ps->p != '=' && *ps->p != '\n')
			ps->p++;
		if (ps->p == ps->end || *ps->p != '=')
			return fail(ps, key_line, "not KEY=VALUE (no '=')");
		key_end = ps->p++;
		while (key_end > key && is_blank(key_end[-1]))
			key_end--;
		if (!valid_key(key, (size_t)(key_end - key)))
			return fail(ps, key_line, "invalid variable name (letters, digits and _)");
		if (parse_value(ps, key_line) < 0)
			return -1;
		if (asprintf(&kv, "%.*s=%s", (int)(key_end - key), key, ps->val) < 0)
			return fail(ps, key_line, "out of memory");
		if (push(l, kv) < 0)
			return -1;
	}
	return 0;
}

int env_list_load(struct env_list *l, const char *path)
{
	struct parse ps = { .path = path, .line = 1 };
	FILE *f = fopen(path, "re");
	char *text;
	size_t n;
	int rc;

	if (!f) {
		log_warn("--env-file %s", path);
		return -1;
	}
	text = malloc(ENV_FILE_MAX + 1);
	if (!text) {
		fclose(f);
		log_warnx("--env-file %s: out of memory", path);
		return -1;
	}
	n = fread(text, 1, ENV_FILE_MAX + 1, f);
	rc = ferror(f) ? -1 : 0;
	fclose(f);
	if (rc < 0 || n > ENV_FILE_MAX) {
		log_warnx("--env-file %s: %s", path, rc < 0 ? "read error" : "larger than 1 MiB");
		free(text);
		return -1;
	}
	ps.p = text;
	ps.end = text + n;
	rc = parse_text(l, &ps);
	free(ps.val);
	free(text);
	return rc;
}

static int same_key(const char *a, const char *b)
{
	size_t k = strcspn(a, "=");

	return !strncmp(a, b, k) && b[k] == '=';
}

char **env_list_overlay(const struct env_list *l, char **base)
{
	size_t nb = 0, i, j, k = 0;
	char **env;

	while (base[nb])
		nb++;
	env = calloc(nb + l->n + 1, sizeof(*env));
	if (!env)
		return NULL;
	for (i = 0; i < nb; i++) {
		for (j = 0; j < l->n && !same_key(l->vars[j], base[i]); j++)
			;
		if (j == l->n)
			env[k++] = base[i];
	}
	for (j = 0; j < l->n; j++) {
		size_t later;
		for (later = j + 1; later < l->n && !same_key(l->vars[j], l->vars[later]); later++)
			;
		if (later == l->n)      /* the last one of a key wins */
			env[k++] = l->vars[j];
	}
	return env;
}
