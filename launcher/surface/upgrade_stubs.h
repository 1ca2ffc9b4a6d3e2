/*
 * upgrade_stubs.h - TEMPORARY (upgrade_stubs.c): the modules' save/restore
 * declarations until each module's own header has them.
 */
#ifndef LAUNCHER_SURFACE_UPGRADE_STUBS_H
#define LAUNCHER_SURFACE_UPGRADE_STUBS_H
struct cluster; struct state_out; struct state_in;
#define D(x) int x##_save(struct cluster *c, struct state_out *o); int x##_restore(struct cluster *c, const struct state_in *in);
D(release) D(listener) D(worker) D(balancer) D(seccomp_reuseport) D(slots) D(rollout) D(lifecycle) D(health) D(accept_rate) D(follow) D(guard) D(supervisor) D(logring) D(control)
void lifecycle_upgrade_started(struct cluster *c); void lifecycle_upgrade_done(struct cluster *c, int ok);
#endif
