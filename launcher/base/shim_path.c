/*
 * shim_path.c - find libcluster-shim.so without the user's help.
 *
 * In order: $CLUSTER_RUN_SHIM (an explicit override); next to the binary as
 * the build tree lays it out (build/launcher/cluster-run and
 * build/shim/libcluster-shim.so); the installed layout relative to the
 * binary (PREFIX/bin and PREFIX/LIBDIR/cluster-run, so a relocated install
 * works); the install directory compiled in.  The path must be absolute
 * (every worker has its own cwd) and free of ':' and ' ', which the dynamic
 * loader takes as list separators in LD_PRELOAD.
 */
#include "base/shim_path.h"
#include "base/log.h"
#include "wire/protocol.h"

#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef SHIM_INSTALL_DIR
#define SHIM_INSTALL_DIR "/usr/local/lib/cluster-run"
#endif
#ifndef SHIM_RELATIVE_DIR
#define SHIM_RELATIVE_DIR "../lib/cluster-run"
#endif

static int usable(const char *path)
{
	return path[0] == '/' && access(path, R_OK) == 0;
}

int shim_path_find(char *buf, size_t len)
{
	const char *env = getenv("CLUSTER_RUN_SHIM");
	char exe[PATH_MAX], dir[PATH_MAX], resolved[PATH_MAX];
	const char *const rel[] = { "../shim", SHIM_RELATIVE_DIR };
	ssize_t n;
	size_t i;

	if (env && *env) {
		if (!realpath(env, resolved) || !usable(resolved)) {
			log_warnx("CLUSTER_RUN_SHIM=%s: no such readable file", env);
			return -1;
		}
		snprintf(buf, len, "%s", resolved);
		goto check;
	}
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n > 0) {
		exe[n] = '\0';
		snprintf(dir, sizeof(dir), "%s", dirname(exe));
		for (i = 0; i < sizeof(rel) / sizeof(rel[0]); i++) {
			char cand[PATH_MAX + 64];
			snprintf(cand, sizeof(cand), "%s/%s/%s", dir, rel[i], CLUSTER_SHIM_NAME);
			if (realpath(cand, resolved) && usable(resolved)) {
				snprintf(buf, len, "%s", resolved);
				goto check;
			}
		}
	}
	snprintf(buf, len, "%s/%s", SHIM_INSTALL_DIR, CLUSTER_SHIM_NAME);
	if (!usable(buf)) {
		log_warnx("cannot find %s (looked next to cluster-run and in %s); "
			  "set CLUSTER_RUN_SHIM to its path", CLUSTER_SHIM_NAME, SHIM_INSTALL_DIR);
		return -1;
	}
check:
	if (strpbrk(buf, ": ")) {
		log_warnx("the shim's path '%s' has a ':' or a space, which LD_PRELOAD "
			  "cannot carry; install cluster-run elsewhere", buf);
		return -1;
	}
	return 0;
}
