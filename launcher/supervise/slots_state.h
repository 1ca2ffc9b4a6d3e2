/*
 * slots_state.h - see slots_state.c.
 */
#ifndef LAUNCHER_SUPERVISE_SLOTS_STATE_H
#define LAUNCHER_SUPERVISE_SLOTS_STATE_H

struct cluster;
struct state_out;
struct state_in;

/* An in-place upgrade (surface/upgrade.h): every slot in use, one "slot"
 * record each (workers by serial, releases by serial), and the target.
 * Restore runs after worker_restore: the slots' timers (restart,
 * retried replacement, --ready-timeout) again at their deadlines, and
 * each worker's drain check and kill timer (retire.c's, "retire"
 * records). */
int slots_save(struct cluster *c, struct state_out *o);
int slots_restore(struct cluster *c, const struct state_in *in);

#endif
