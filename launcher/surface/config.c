/*
 * config.c - cluster-run --config FILE (see config.h).
 *
 * The format, for shell users and systemd admins to read at a glance:
 *
 *   # comment (a line whose first non-blank is '#'; not after a value)
 *   workers = 8
 *   policy = leastconn
 *   env = GREETING="hello world"      (repeatable, as -e)
 *   env-file = /etc/myapp/env         (repeatable, as --env-file)
 *   log-prefix = yes                  (a flag: yes/no, true/false, on/off, 1/0)
 *   command = /usr/bin/python3 -m http.server 8000
 *
 * NAME is a long option without its dashes (an '_' may stand for a '-');
 * every long option but help, version and config itself may be set.
 * VALUE is split into words as a shell would, without any expansion:
 * blanks separate words, '...' keeps everything as it is, "..." keeps
 * everything but \" \\ \$ \` (a backslash before them is dropped), a
 * backslash outside quotes keeps the next character, and parts join
 * ("a"'b'c is abc).  `command` takes any number of words (PROGRAM and
 * its arguments); every other option takes exactly one, so a value with
 * blanks must be quoted (`user = "a b"`).  A later line wins over an
 * earlier one, as on the command line; `env` and `env-file` add up.
 *
 * The words become "--NAME=VALUE" in front of the real command line, so
 * an option given on the command line wins, and a PROGRAM given there
 * replaces `command`.  A flag set to yes in the file cannot be turned
 * off from the command line (getopt has no --no-FLAG): leave it out of
 * the file instead.
 *
 * Errors: one line "FILE:LINE: why" (options.c also names FILE:LINE when
 * a value is wrong), exit status 2.
 */
#include "surface/config.h"
#include "base/log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CONFIG_MAX (1 << 20)

static const char *const not_in_files[] = { "help", "version", "config", NULL };

/* Append one character to a growing word. */
static int put(char **w, size_t *len, size_t *cap, char ch)
{
	if (*len + 2 > *cap) {
		size_t ncap = *cap ? *cap * 2 : 32;
		char *grown = realloc(*w, ncap);

		if (!grown)
			return -1;
		*w = grown;
		*cap = ncap;
	}
	(*w)[(*len)++] = ch;
	(*w)[*len] = '\0';
	return 0;
}

static void free_words(char **v)
{
	int i;

	for (i = 0; v && v[i]; i++)
		free(v[i]);
	free(v);
}

char **config_split(const char *s, int *n, const char **err)
{
	char **v = calloc(1, sizeof(*v)), *w = NULL;
	size_t len = 0, cap = 0;
	int nw = 0, in_word = 0;

	*err = "out of memory";
	if (!v)
		return NULL;
	for (;;) {
		char ch = *s;

		if (ch == '\0' || ch == ' ' || ch == '\t') {
			if (in_word) {
				char **grown = realloc(v, (size_t)(nw + 2) * sizeof(*v));

				if (!grown || (!w && !(w = calloc(1, 1))))
					goto fail;
				v = grown;
				v[nw++] = w;
				v[nw] = NULL;
				w = NULL;
				len = cap = 0;
				in_word = 0;
			}
			if (ch == '\0')
				break;
			s++;
			continue;
		}
		in_word = 1;
		if (ch == '\'') {
			const char *end = strchr(s + 1, '\'');

			if (!end) {
				*err = "a ' without its closing '";
				goto fail;
			}
			for (s++; s < end; s++)
				if (put(&w, &len, &cap, *s) < 0)
					goto fail;
			s++;
		} else if (ch == '"') {
			for (s++; *s && *s != '"'; s++) {
				if (*s == '\\' && s[1] && strchr("\"\\$`", s[1]))
					s++;
				if (put(&w, &len, &cap, *s) < 0)
					goto fail;
			}
			if (!*s) {
				*err = "a \" without its closing \"";
				goto fail;
			}
			s++;
		} else if (ch == '\\') {
			if (!s[1]) {
				*err = "a backslash at the end of the line";
				goto fail;
			}
			if (put(&w, &len, &cap, s[1]) < 0)
				goto fail;
			s += 2;
		} else {
			if (put(&w, &len, &cap, ch) < 0)
				goto fail;
			s++;
		}
	}
	*n = nw;
	*err = NULL;
	return v;
fail:
	free(w);
	free_words(v);
	return NULL;
}

/* The table's entry for name ('_' as '-'), or NULL. */
static const struct option *lookup(const struct option *table, const char *name)
{
	char canon[64];
	size_t i;

	if (strlen(name) >= sizeof(canon))
		return NULL;
	for (i = 0; name[i]; i++)
		canon[i] = name[i] == '_' ? '-' : name[i];
	canon[i] = '\0';
	for (; table->name; table++)
		if (!strcmp(table->name, canon))
			return table;
	return NULL;
}

static int flag_value(const char *v)
{
	static const char *const yes[] = { "yes", "true", "on", "1", NULL };
	static const char *const no[] = { "no", "false", "off", "0", NULL };
	int i;

	for (i = 0; yes[i]; i++)
		if (!strcasecmp(v, yes[i]))
			return 1;
	for (i = 0; no[i]; i++)
		if (!strcasecmp(v, no[i]))
			return 0;
	return -1;
}

static int add_word(struct config_words *cw, char *word, const char *where)
{
	char **w = realloc(cw->words, (size_t)(cw->n + 1) * sizeof(*w));
	char **at;

	if (!w)
		return -1;
	cw->words = w;
	at = realloc(cw->where, (size_t)(cw->n + 1) * sizeof(*at));
	if (!at)
		return -1;
	cw->where = at;
	if (!(cw->where[cw->n] = strdup(where)))
		return -1;
	cw->words[cw->n++] = word;
	return 0;
}

/* One "NAME = VALUE" line (blanks trimmed, not a comment). */
static int one_line(struct config_words *cw, const struct option *table, char *line,
		    const char *where)
{
	char *eq = strchr(line, '='), *name = line, *end, *word;
	const struct option *o;
	const char *err;
	char **v;
	int n, i, f;

	if (!eq) {
		log_warnx("expected NAME = VALUE, not '%.80s'", line);
		return -1;
	}
	for (end = eq; end > name && (end[-1] == ' ' || end[-1] == '\t'); end--)
		;
	*end = '\0';
	if (!*name) {
		log_warnx("a value without a name ('= ...')");
		return -1;
	}
	if (!(v = config_split(eq + 1, &n, &err))) {
		log_warnx("%s: %s", name, err);
		return -1;
	}
	if (!strcmp(name, "command")) {
		if (n == 0) {
			log_warnx("command: no PROGRAM given");
			free_words(v);
			return -1;
		}
		free_words(cw->command);
		free(cw->command_where);
		cw->command = v;
		cw->command_where = strdup(where);
		return 0;
	}
	o = lookup(table, name);
	for (i = 0; o && not_in_files[i]; i++)
		if (!strcmp(o->name, not_in_files[i])) {
			log_warnx("'%s' cannot be set in a config file", name);
			free_words(v);
			return -1;
		}
	if (!o) {
		log_warnx("unknown option '%s' (the long options of cluster-run --help, "
			  "and command)", name);
		free_words(v);
		return -1;
	}
	if (n != 1) {
		log_warnx("%s takes one value, not %d (quote a value with blanks)", name, n);
		free_words(v);
		return -1;
	}
	if (o->has_arg == no_argument) {
		if ((f = flag_value(v[0])) < 0) {
			log_warnx("%s is yes or no, not '%s'", name, v[0]);
			free_words(v);
			return -1;
		}
		word = NULL;    /* no: as if the line were not there */
		if (f && asprintf(&word, "--%s", o->name) < 0)
			goto oom;
	} else if (asprintf(&word, "--%s=%s", o->name, v[0]) < 0) {
		goto oom;
	}
	free_words(v);
	if (word && add_word(cw, word, where) < 0) {
		free(word);
		log_warnx("out of memory");
		return -1;
	}
	return 0;
oom:
	free_words(v);
	log_warnx("out of memory");
	return -1;
}

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "re");
	char *text = NULL;
	size_t len = 0;

	if (!f)
		return NULL;
	text = malloc(CONFIG_MAX + 1);
	if (text)
		len = fread(text, 1, CONFIG_MAX + 1, f);
	if (text && (ferror(f) || len > CONFIG_MAX)) {
		errno = ferror(f) ? EIO : EFBIG;
		free(text);
		text = NULL;
	}
	fclose(f);
	if (text)
		text[len] = '\0';
	return text;
}

int config_read(const char *path, const struct option *table, struct config_words *cw)
{
	char *text = slurp(path), *line, *next, where[4200];
	int lineno = 0, r = 0;

	memset(cw, 0, sizeof(*cw));
	if (!text) {
		log_warn("%s", path);
		return -1;
	}
	for (line = text; line && r == 0; line = next) {
		char *end;

		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		lineno++;
		line += strspn(line, " \t");
		end = line + strlen(line);
		while (end > line && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r'))
			*--end = '\0';
		if (!*line || *line == '#')
			continue;
		snprintf(where, sizeof(where), "%s:%d", path, lineno);
		log_set_context(where);
		r = one_line(cw, table, line, where);
		log_set_context(NULL);
	}
	free(text);
	if (r < 0)
		config_words_free(cw);
	return r;
}

void config_words_free(struct config_words *cw)
{
	int i;

	for (i = 0; i < cw->n; i++) {
		free(cw->words[i]);
		free(cw->where[i]);
	}
	free(cw->words);
	free(cw->where);
	free_words(cw->command);
	free(cw->command_where);
	memset(cw, 0, sizeof(*cw));
}
