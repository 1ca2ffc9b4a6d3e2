/*
 * upgrade_stubs.c - TEMPORARY, while the modules' save/restore are being
 * written on their branches: weak definitions that refuse, so every
 * branch links.  A module's real (strong) definition replaces its stub.
 * Deleted once every module has its own.
 */
#include "cluster.h"
#include "base/log.h"
#include "base/state.h"
#include "surface/upgrade_stubs.h"

#define STUB(x)                                                                         \
	__attribute__((weak)) int x##_save(struct cluster *c, struct state_out *o)      \
	{                                                                               \
		(void)c;                                                                \
		(void)o;                                                                \
		log_warnx("upgrade: " #x "_save is not written yet");                   \
		return -1;                                                              \
	}                                                                               \
	__attribute__((weak)) int x##_restore(struct cluster *c, const struct state_in *in) \
	{                                                                               \
		(void)c;                                                                \
		(void)in;                                                               \
		return -1;                                                              \
	}

STUB(release)
STUB(listener)
STUB(worker)
STUB(balancer)
STUB(seccomp_reuseport)
STUB(slots)
STUB(rollout)
STUB(lifecycle)
STUB(health)
STUB(accept_rate)
STUB(follow)
STUB(guard)
STUB(supervisor)
STUB(logring)
STUB(control)

__attribute__((weak)) void lifecycle_upgrade_started(struct cluster *c)
{
	(void)c;
}

__attribute__((weak)) void lifecycle_upgrade_done(struct cluster *c, int ok)
{
	(void)c;
	(void)ok;
}
