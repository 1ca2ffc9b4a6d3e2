/*
 * top.h - cluster-ctl top (top.c).
 */
#ifndef LAUNCHER_SURFACE_TOP_H
#define LAUNCHER_SURFACE_TOP_H

/* "top [--once | --json] [--interval SECONDS]" (argv[0] is "top"): 0 when
 * the arguments are good, else 2 after one line on stderr. */
int top_check_args(int argc, char **argv);
/* Run top against the control socket at path; cluster-ctl's exit status. */
int top_main(const char *path, int argc, char **argv);

#endif
