/*
 * upgrade.h - upgrading cluster-run in place (upgrade.c): the master
 * executes the cluster-run binary on disk with the same pid, and the new
 * image adopts the old one's state, workers and sockets.
 *
 * The sequence, and the contract every module's save/restore keeps:
 *
 *   old image                            new image (same pid)
 *   ---------                            --------------------
 *   probe: fork+exec PATH                options parsed from the same argv,
 *     --upgrade-probe, which prints       program, mechanism, --user, shim,
 *     its version and state format        fd limit, loop_new() as at a start
 *   save: every module writes records    read the state; refuse (and exec
 *     (base/state.h) naming its fds        the old binary back with it) when
 *   execve(PATH, same argv), the state     it cannot be taken
 *     fd in CLUSTER_RUN_UPGRADE_STATE    restore: every module, in the order
 *                                          below, rebuilds its objects, puts
 *                                          its fds back in the loop, re-arms
 *                                          its timers at their deadlines
 *                                        loop_run() as if nothing happened
 *
 * Save runs inside one handler of the loop: nothing moves meanwhile, so
 * the state is one instant of the master.  Every fd a module wants kept is
 * named with state_fd(); every other fd is closed by the exec.  Timers are
 * saved as deadlines (loop_timer_due) and re-armed with loop_timer_at:
 * CLOCK_MONOTONIC is the same clock on both sides.  Workers are named by
 * their serial (w->serial), releases by their id.
 *
 * Order (each module's X_save/X_restore, declared in its own header):
 *   upgrade.c     the cluster's own fields and counters, the program
 *   reread.c      the options as the old image last read them
 *   release.c     releases (what workers run)
 *   listener.c    listeners: fds, per-slot sockets, pending connections
 *   worker.c      workers: fields, routes' values, boards, doorbells and
 *                 peers (shim_peer.c), seccomp notify fds, output pipes
 *   policy_state.c  channel routes back in the loop (balancer.c);
 *                 policies' own data, reuseport groups and steering,
 *                 weights, fd_short
 *   seccomp_reuseport.c  a seccomp reload's replacement sockets
 *   slots_state.c, rollout.c, lifecycle.c, health.c, accept_rate.c,
 *   follow.c, guard.c, supervisor.c (signals, subreaper, before-sleep: its
 *   start without spawning anything)
 *   logring.c, control.c (and logs.c's followers)
 */
#ifndef LAUNCHER_SURFACE_UPGRADE_H
#define LAUNCHER_SURFACE_UPGRADE_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "surface/upgrade_probe.h"

#include "surface/upgrade_api.h"

struct cluster;

#include "surface/upgrade_env.h"

/* main(), before anything else runs: remember argv and the binary we run
 * (the fallback of a failed upgrade); an upgrade's new image also takes
 * the state and the way back out of the environment. */
void upgrade_remember(int argc, char **argv);

/* The new image: the workers' program as the old image checked it (the
 * command line's PROGRAM may be gone, or the mechanism chosen otherwise
 * now): 0 when the state had it, else -1. */
struct program;
int upgrade_program(struct program *prog);

/* Is this image an upgrade's new one (UPGRADE_STATE_ENV was set)? */
int upgrade_adopting(void);
/* The new image: read the state and restore every module in place of
 * guard_start/control_open/supervisor_start.  On failure it does not
 * return: it executes the old binary back with the same state (and a
 * reason, which the old image logs and answers with). */
void upgrade_adopt(struct cluster *c);

/* The new image: give the state back to the old binary, with why (a
 * start check failed, the state cannot be taken).  Does not return. */
void upgrade_give_back(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
/* The new image: a start check failed (main.c) with the status it would
 * exit with: give the state back, with the check's last line.  Does not
 * return. */
void upgrade_start_failed(int status) __attribute__((noreturn));
/* Is this image the old binary taking its state back? */
int upgrade_adopt_fallback(void);
/* Set c->hooks.upgrade_requested (SIGUSR2). */
void upgrade_hooks(struct cluster *c);

/* Test hook: CLUSTER_RUN_TEST_ADOPT_FAIL=1 in the master's environment
 * makes every new image refuse the state after the exec (not the old
 * binary taking it back), so the fallback is exercised for real. */
#define UPGRADE_TEST_FAIL_ENV "CLUSTER_RUN_TEST_ADOPT_FAIL"
/* Test hook: CLUSTER_RUN_TEST_ADOPT_CRASH=1 makes every new image raise
 * SIGSEGV halfway through its restore (after the workers), so that the
 * crash's way back (upgrade_crash.c) is exercised for real. */
#define UPGRADE_TEST_CRASH_ENV "CLUSTER_RUN_TEST_ADOPT_CRASH"
/* Test hook: CLUSTER_RUN_TEST_STATE_PROTOCOL=N makes the old image write
 * shim protocol N into the state, as if its workers' shims spoke N: an
 * older N exercises the roll onto the new shim, a newer one the refusal
 * (there has been one protocol since upgrades exist). */
#define UPGRADE_TEST_PROTOCOL_ENV "CLUSTER_RUN_TEST_STATE_PROTOCOL"

#endif
