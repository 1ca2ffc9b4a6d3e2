/*
 * reread.h - what a reload reads again (reread.c): the command line,
 * parsed anew with its --config file and --env-file files.
 */
#ifndef LAUNCHER_SURFACE_REREAD_H
#define LAUNCHER_SURFACE_REREAD_H

struct cluster;
struct options;

/* Right after options_parse, before anything changes opt: the settings
 * as parsed, what a reread compares restart-only settings with. */
void reread_remember(const struct options *opt);
/* Sets c->hooks.reread. */
void reread_start(struct cluster *c);
/* Whether a reload knows what to do with this long option (applied, or
 * named as taking a restart): test_config asks for each option. */
int reread_knows(const char *option);
/* An in-place upgrade: the command, environment and reload-applied
 * settings as the old image last read them (surface/upgrade.c). */
struct state_out;
struct state_in;
int reread_save(struct cluster *c, struct state_out *o);
int reread_restore(struct cluster *c, const struct state_in *in);
/* Why the last reread refused its reload ("FILE:LINE: ..."). */
const char *reread_refusal(void);

#endif
