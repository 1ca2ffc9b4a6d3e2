/*
 * envfile.h - the variables --env-file and -e add to every worker's
 * environment, in command-line order (a later one wins).
 */
#ifndef LAUNCHER_ENVFILE_H
#define LAUNCHER_ENVFILE_H

#include <stddef.h>

struct env_list {
	char **vars;            /* "KEY=VALUE", owned */
	size_t n;
};

/* -e KEY=VALUE.  0, or -1 after one line on stderr. */
int env_list_add(struct env_list *l, const char *kv);
/* --env-file FILE, systemd EnvironmentFile= syntax.  0, or -1 after one
 * line on stderr naming FILE:LINE. */
int env_list_load(struct env_list *l, const char *path);
/* base (NULL-terminated) with l's variables set over it: a new array of
 * borrowed pointers, NULL-terminated, or NULL when out of memory. */
char **env_list_overlay(const struct env_list *l, char **base);

#endif
