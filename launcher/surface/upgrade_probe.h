/*
 * upgrade_probe.h - can a binary take over this master?  Both sides of
 * the question (upgrade_probe.c): the master runs `PATH --upgrade-probe
 * ARGS` on the side and judges its answer; a cluster-run started so runs
 * the checks of a start with ARGS and answers.
 */
#ifndef LAUNCHER_SURFACE_UPGRADE_PROBE_H
#define LAUNCHER_SURFACE_UPGRADE_PROBE_H

struct loop;

#define UPGRADE_PROBE_ARG "--upgrade-probe"

/* --- asking (the master) --- */

/* The verdict, once: ok with the new binary's version, or why not (one
 * phrase naming path: "PATH is not a cluster-run that can take over
 * (...)", "PATH would not start with this cluster's options (...)"). */
typedef void upgrade_probe_done(void *data, int ok, const char *version, const char *why);
/* Run path with argv (argv[0] path, argv[1] UPGRADE_PROBE_ARG, then the
 * master's arguments) under the loop; done is called when it answered,
 * exited or ran out of time.  0, or -1 with errno (done is not called). */
int upgrade_probe_run(struct loop *loop, const char *path, char *const *argv,
		      upgrade_probe_done *done, void *data);

/* --- answering (main.c) --- */

/* argv[1] is UPGRADE_PROBE_ARG: drop it from argv and return 1; this run
 * is a probe.  `PATH --upgrade-probe` alone answers at once; `PATH
 * --upgrade-probe ARGS...` answers only once every start check passed
 * with ARGS, and fails as a start would (its line on stderr, its exit
 * status) otherwise. */
int upgrade_probe_args(int *argc, char ***argv);
int upgrade_probing(void);
/* The answer on stdout: the state format, version, protocol. */
void upgrade_probe_answer(void);

#endif
