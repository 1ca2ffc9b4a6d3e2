/*
 * options.h - the command line, parsed and checked (options.c); the
 * result is struct options (base/options.h), which every layer reads.
 */
#ifndef LAUNCHER_SURFACE_OPTIONS_H
#define LAUNCHER_SURFACE_OPTIONS_H

#include "base/options.h"

/* Returns -1 to go on, or the status to exit with now (usage error: 2;
 * --help, --version: 0). */
int options_parse(struct options *opt, int argc, char **argv);
/* getopt's table of every long option (tests walk it). */
struct option;
const struct option *options_table(void);


#endif
