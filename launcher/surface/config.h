/*
 * config.h - cluster-run --config FILE: the long options and the command
 * in a file (config.c), turned into command-line words that options.c
 * parses before the real command line, so the command line wins.
 */
#ifndef LAUNCHER_SURFACE_CONFIG_H
#define LAUNCHER_SURFACE_CONFIG_H

#include <getopt.h>

struct config_words {
	char **words;           /* "--name=value" or "--flag", in file order */
	char **where;           /* ... and the "FILE:LINE" each came from */
	int n;
	char **command;         /* `command =` split into words, NULL-ended; NULL: none */
	char *command_where;
};

/* Read path, checking every name against table (getopt's, options.c).
 * 0, or -1 after one line on stderr: "FILE:LINE: why" (or "FILE: why"
 * when it cannot be read at all). */
int config_read(const char *path, const struct option *table, struct config_words *cw);

/* Everything config_read allocated in cw (config_read frees it itself
 * when it fails). */
void config_words_free(struct config_words *cw);

/* Shell-like words of s (quotes, backslashes, no expansion): a new
 * NULL-ended array, *n words.  NULL with *err set on a bad quote (or
 * out of memory). */
char **config_split(const char *s, int *n, const char **err);

#endif
