/*
 * upgrade_api.h - what the control socket and the reports ask of an
 * in-place upgrade: start one, and its numbers for status.  Implemented
 * by upgrade.c; the rest of its contract is upgrade.h.
 *
 * Apart from upgrade.h because upgrade.c calls control_save and
 * control_restore (surface/control.h), and control_cmd.c (which
 * control.c includes) and report.c (which probes.c, included by
 * control.c, uses) call these: with one header the modules would include
 * each other in a cycle (tests/layers).  This header includes nothing of
 * ours, so it closes no cycle.
 */
#ifndef LAUNCHER_SURFACE_UPGRADE_API_H
#define LAUNCHER_SURFACE_UPGRADE_API_H

#include <stddef.h>
#include <time.h>

struct cluster;

/* Start an upgrade to path (NULL: the binary cluster-run was started
 * from, as it is on disk now).  0 when it started: its end is told through
 * c->hooks.upgrade_finished, in the old image (the probe refused, the exec
 * failed, the new image gave the state back) or in the new one (adopted).
 * -1 with why filled when refused at once (stopping, one under way). */
int upgrade_start(struct cluster *c, const char *path, char *why, size_t len);

/* For status: this image's version, how many upgrades this master went
 * through, when the last finished (0: never) and from what version. */
struct upgrade_info {
	const char *version;
	unsigned upgrades;
	unsigned failed;
	time_t last;
	char from[64];
	double last_ms;         /* the last one's pause: exec to adopted */
	int running;            /* one is under way (probe) */
};
const struct upgrade_info *upgrade_info(void);

#endif
