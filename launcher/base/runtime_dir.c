/*
 * runtime_dir.c - see runtime_dir.h.  A directory others can write to
 * would let them put a socket of their own where cluster-ctl looks, so a
 * directory that is not ours and private is refused, not used.  Since
 * another local user can create /tmp/cluster-run-UID (or a symlink there)
 * before us, refusing it must not stop us: the next candidate, a directory
 * in our home, is one nobody else can make.  cluster-ctl walks the same
 * list, so it finds the socket wherever cluster-run put it.
 *
 * The socket's name is PID.sock in the initial PID namespace.  In any other
 * one (a container) it is PID.nsINODE.sock, the inode of the PID namespace:
 * two masters that are each PID 1 of their own container but share /run
 * would otherwise both want /run/cluster-run/1.sock.
 */
#include "base/runtime_dir.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

/* PROC_PID_INIT_INO in the kernel: the initial PID namespace's inode. */
#define INIT_PID_NS_INO 0xEFFFFFFCUL

static int fmt(char *buf, size_t len, const char *f, const char *a, unsigned u)
{
	int n = a ? snprintf(buf, len, f, a) : snprintf(buf, len, f, u);

	if (n < 0 || (size_t)n >= len) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return 0;
}

/* Candidate i (0, 1, ...) for this user; -1 with errno when there is no
 * such candidate (ENOENT) or it does not fit. */
static int candidate(int i, char *buf, size_t len)
{
	const char *xdg = getenv("XDG_RUNTIME_DIR"), *home = getenv("HOME");
	struct stat st;

	if (geteuid() == 0) {
		if (i == 0)
			return fmt(buf, len, "/run/cluster-run", NULL, 0);
		i--;
	} else if (xdg && xdg[0] == '/' && stat(xdg, &st) == 0 && S_ISDIR(st.st_mode)) {
		if (i == 0)
			return fmt(buf, len, "%s/cluster-run", xdg, 0);
		i--;
	} else {
		if (i == 0)
			return fmt(buf, len, "/tmp/cluster-run-%u", NULL, (unsigned)geteuid());
		i--;
	}
	if (i == 0 && home && home[0] == '/')
		return fmt(buf, len, "%s/.cluster-run", home, 0);
	errno = ENOENT;
	return -1;
}

static int private_dir(const char *path, int create)
{
	struct stat st;

	if (create && mkdir(path, 0700) < 0 && errno != EEXIST)
		return -1;
	if (lstat(path, &st) < 0)
		return -1;
	if (!S_ISDIR(st.st_mode) || st.st_uid != geteuid() || (st.st_mode & 077)) {
		errno = EPERM;
		return -1;
	}
	return 0;
}

int runtime_dir(char *buf, size_t len, int create)
{
	int i, first_err = 0;

	for (i = 0;; i++) {
		if (candidate(i, buf, len) < 0) {
			if (errno == ENOENT)
				break;
		} else if (private_dir(buf, create) == 0) {
			return 0;
		}
		if (!first_err)
			first_err = errno;
	}
	errno = first_err ? first_err : ENOENT;
	return -1;
}

int runtime_dir_refused(char *buf, size_t len)
{
	if (candidate(0, buf, len) < 0 || private_dir(buf, 0) == 0 || errno == ENOENT)
		return 0;
	return 1;
}

unsigned long runtime_pid_ns(void)
{
	struct stat st;

	if (stat("/proc/self/ns/pid", &st) < 0)
		return INIT_PID_NS_INO;
	return (unsigned long)st.st_ino;
}

int runtime_socket_name(char *buf, size_t len, pid_t pid)
{
	unsigned long ns = runtime_pid_ns();
	int n = ns == INIT_PID_NS_INO ? snprintf(buf, len, "%d.sock", (int)pid)
				      : snprintf(buf, len, "%d.ns%lu.sock", (int)pid, ns);

	if (n < 0 || (size_t)n >= len) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return 0;
}

int runtime_socket(char *buf, size_t len, pid_t pid, int create)
{
	char dir[sizeof(((struct sockaddr_un *)0)->sun_path)], name[64];
	int n;

	if (runtime_dir(dir, sizeof(dir), create) < 0 ||
	    runtime_socket_name(name, sizeof(name), pid) < 0)
		return -1;
	n = snprintf(buf, len, "%s/%s", dir, name);
	if (n < 0 || (size_t)n >= len) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return 0;
}
