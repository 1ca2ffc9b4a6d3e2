/*
 * runtime_dir.c - see runtime_dir.h.  A directory others can write to
 * would let them put a socket of their own where cluster-ctl looks, so a
 * directory that is not ours and private is refused, not used.
 */
#include "runtime_dir.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

int runtime_dir(char *buf, size_t len, int create)
{
	const char *xdg = getenv("XDG_RUNTIME_DIR");
	struct stat st;
	int n;

	if (geteuid() == 0)
		n = snprintf(buf, len, "/run/cluster-run");
	else if (xdg && xdg[0] == '/' && stat(xdg, &st) == 0 && S_ISDIR(st.st_mode))
		n = snprintf(buf, len, "%s/cluster-run", xdg);
	else
		n = snprintf(buf, len, "/tmp/cluster-run-%u", (unsigned)geteuid());
	if (n < 0 || (size_t)n >= len) {
		errno = ENAMETOOLONG;
		return -1;
	}
	if (create && mkdir(buf, 0700) < 0 && errno != EEXIST)
		return -1;
	if (lstat(buf, &st) < 0)
		return -1;
	if (!S_ISDIR(st.st_mode) || st.st_uid != geteuid() || (st.st_mode & 077)) {
		errno = EPERM;
		return -1;
	}
	return 0;
}

int runtime_socket(char *buf, size_t len, pid_t pid, int create)
{
	char dir[sizeof(((struct sockaddr_un *)0)->sun_path)];
	int n;

	if (runtime_dir(dir, sizeof(dir), create) < 0)
		return -1;
	n = snprintf(buf, len, "%s/%d.sock", dir, (int)pid);
	if (n < 0 || (size_t)n >= len) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return 0;
}
